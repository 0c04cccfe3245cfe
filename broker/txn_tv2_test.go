package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeAdder is a coordinator that also adds partitions (TxnAdder),
// recording which of its two doors each question took.
type fakeAdder struct {
	fakeCoordinator
	adds []*kmsg.AddPartitionsToTxnRequest
}

func (f *fakeAdder) AddTxnPartitions(_ context.Context, r *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	f.mu.Lock()
	f.adds = append(f.adds, r)
	f.mu.Unlock()
	return f.VerifyTxn(r)
}

// Produce v12+ (transaction version 2) adds its partition to the
// transaction instead of having it verified, even with verification off;
// v11 still only verifies.
func TestProduceV12AddsPartitionToTransaction(t *testing.T) {
	for _, verify := range []bool{true, false} {
		f := &fakeAdder{}
		b := startVerifyBroker(t, &f.fakeCoordinator, verify)
		b.SetTxnVerifier(f)
		if code := produceTxnBatch(t, b, 12, 0); code != 0 {
			t.Fatalf("verification %v: produce v12: %v", verify, kerr.ErrorForCode(code))
		}
		if len(f.adds) != 1 || f.adds[0].Transactions[0].VerifyOnly || f.adds[0].Transactions[0].Topics[0].Topic != "t" {
			t.Fatalf("verification %v: produce v12 asked %d adds, %d verifications", verify, len(f.adds), f.ncalls()-len(f.adds))
		}
		if code := produceTxnBatch(t, b, 12, 1); code != 0 || len(f.adds) != 1 {
			t.Fatalf("verification %v: the next batch of the open transaction: %v, %d adds", verify, kerr.ErrorForCode(code), len(f.adds))
		}
		// The transaction ends (a marker at the bumped epoch); a v11
		// produce of another producer only verifies.
		if !verify {
			continue
		}
		f.set(kerr.TransactionAbortable.Code, nil)
		if code := produceTxnBatchOf(t, b, 11, 43, 0); code != kerr.TransactionAbortable.Code || len(f.adds) != 1 {
			t.Fatalf("produce v11 of another producer: %v, %d adds", kerr.ErrorForCode(code), len(f.adds))
		}
	}
}

// A produce v12 whose partition the coordinator will not add yet
// (CONCURRENT_TRANSACTIONS: the previous transaction's markers are still
// being written) is asked again every add.partitions.to.txn.retry.
// backoff.ms, as Kafka 4.0's leader does, and succeeds once the add goes
// through; past add.partitions.to.txn.retry.backoff.max.ms it is answered
// CONCURRENT_TRANSACTIONS, which transaction-version-2 clients retry. A
// v11 produce (verification only) is still answered NOT_ENOUGH_REPLICAS.
func TestProduceV12RetriesConcurrentAdds(t *testing.T) {
	f := &fakeAdder{}
	b := startVerifyBroker(t, &f.fakeCoordinator, true)
	b.SetTxnVerifier(f)
	f.set(kerr.ConcurrentTransactions.Code, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.adds) >= 2 {
			f.code = 0 // after the second refusal: the third add goes through
		}
	})
	if code := produceTxnBatch(t, b, 12, 0); code != 0 {
		t.Fatalf("produce v12 while the first two adds are refused: %v", kerr.ErrorForCode(code))
	}
	if len(f.adds) != 3 {
		t.Fatalf("produce v12 asked %d adds, want 3", len(f.adds))
	}

	f.set(kerr.ConcurrentTransactions.Code, nil)
	f.adds = nil
	if code := produceTxnBatchOf(t, b, 12, 43, 0); code != kerr.ConcurrentTransactions.Code {
		t.Fatalf("produce v12 while every add is refused: %v, want CONCURRENT_TRANSACTIONS", kerr.ErrorForCode(code))
	}
	// Every 20 ms for 100 ms.
	if n := len(f.adds); n < 2 || n > 6 {
		t.Fatalf("produce v12 asked %d adds in 100 ms, want about 5", n)
	}
	if code := produceTxnBatchOf(t, b, 11, 44, 0); code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("produce v11 while the coordinator answers CONCURRENT_TRANSACTIONS: %v, want NOT_ENOUGH_REPLICAS", kerr.ErrorForCode(code))
	}
}

// A marker written between two of the leader's adds (the previous
// transaction's marker, resent by a coordinator that took the
// transactional id over while the add was refused with
// CONCURRENT_TRANSACTIONS) does not void the add that then goes through:
// each attempt verifies afresh, as Kafka 4.0's ReplicaManager takes a new
// VerificationGuard for every retry. The batch used to be refused with
// INVALID_TXN_STATE, which franz-go's GroupTransactSession does not
// abort on: it committed the transaction without the batch's records.
func TestProduceV12RetryAfterMarkerIsAdded(t *testing.T) {
	f := &fakeAdder{}
	b := startVerifyBroker(t, &f.fakeCoordinator, true)
	b.SetTxnVerifier(f)
	f.set(kerr.ConcurrentTransactions.Code, func() {
		f.mu.Lock()
		first := len(f.adds) == 1
		if first {
			f.code = 0
		}
		f.mu.Unlock()
		if first {
			if err := b.WriteTxnMarker(context.Background(), "t", 0, 42, 0, true, 0); err != nil {
				t.Errorf("writing the previous transaction's marker: %v", err)
			}
		}
	})
	if code := produceTxnBatch(t, b, 12, 0); code != 0 {
		t.Fatalf("produce v12 added on the second attempt, after a marker: %v", kerr.ErrorForCode(code))
	}
	if len(f.adds) != 2 {
		t.Fatalf("produce v12 asked %d adds, want 2", len(f.adds))
	}
	if code := produceTxnBatch(t, b, 12, 1); code != 0 || len(f.adds) != 2 {
		t.Fatalf("the next batch of the open transaction: %v, %d adds", kerr.ErrorForCode(code), len(f.adds))
	}
}

// A batch at the epoch after the one of the transaction open on the
// partition (transaction version 2: the EndTxn bumped the epoch, and the
// marker is still on its way here) starts the next transaction: the
// coordinator is asked to add the partition, as Kafka's
// UnifiedLog.hasOngoingTransaction(producerId, producerEpoch) only counts
// a transaction open at the batch's own epoch. While the coordinator
// refuses (CONCURRENT_TRANSACTIONS: the previous transaction is being
// completed) the batch is refused; once the marker is written it goes in
// as a transaction of its own. Gregor used to append it to the open
// transaction unasked, and the marker then committed it with the previous
// transaction, whatever became of its own.
func TestProduceV12NextEpochIsNotPartOfOpenTransaction(t *testing.T) {
	f := &fakeAdder{}
	b := startVerifyBroker(t, &f.fakeCoordinator, true)
	b.SetTxnVerifier(f)
	if code := produceTxnBatchAt(t, b, 12, 42, 0, 0); code != 0 {
		t.Fatalf("the first transaction's batch: %v", kerr.ErrorForCode(code))
	}
	f.set(kerr.ConcurrentTransactions.Code, nil)
	if code := produceTxnBatchAt(t, b, 12, 42, 1, 0); code != kerr.ConcurrentTransactions.Code {
		t.Fatalf("a batch at the next epoch before the first transaction's marker: %v, want CONCURRENT_TRANSACTIONS", kerr.ErrorForCode(code))
	}
	if len(f.adds) < 2 {
		t.Fatalf("the coordinator was asked %d adds, want the next epoch's too", len(f.adds))
	}
	if err := b.WriteTxnMarker(context.Background(), "t", 0, 42, 1, true, 0); err != nil {
		t.Fatal(err)
	}
	f.set(0, nil)
	if code := produceTxnBatchAt(t, b, 12, 42, 1, 0); code != 0 {
		t.Fatalf("the batch at the next epoch after the marker: %v", kerr.ErrorForCode(code))
	}
	p := b.Partition("t", 0)
	p.mu.Lock()
	first := p.producer.producers[42].TxnFirstOffset
	p.mu.Unlock()
	if first != 2 {
		t.Fatalf("the open transaction starts at %d, want 2 (after the first transaction and its marker)", first)
	}
}
