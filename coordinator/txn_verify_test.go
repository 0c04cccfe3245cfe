package coordinator

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Verification (KIP-890 part 1) answers from the id's committed state, at
// every step of a transaction's life, as Kafka's
// handleVerifyPartitionsInTransaction does.
func TestTxnVerify(t *testing.T) {
	h := newTxnTestHost()
	c := newTxnTestCoordinator(t, h)
	ctx := context.Background()
	a, b := topicPartition{"a", 0}, topicPartition{"b", 0}
	verify := func(id string, pid int64, epoch int16, abortable bool) (map[topicPartition]error, error) {
		return c.verifyTxn(id, pid, epoch, []topicPartition{a, b}, abortable)
	}
	if _, err := verify("never-seen", 4242, 0, true); !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("unknown transactional id: %v, want INVALID_PRODUCER_ID_MAPPING", err)
	}
	if _, err := verify("", 4242, 0, true); !errors.Is(err, kerr.InvalidRequest) {
		t.Fatalf("empty transactional id: %v, want INVALID_REQUEST", err)
	}
	pid, epoch, _ := initTxn(t, c, "tx", -1, -1)
	// Initialised, no transaction: neither partition is in one.
	got, err := verify("tx", pid, epoch, true)
	if err != nil || !errors.Is(got[a], kerr.TransactionAbortable) || !errors.Is(got[b], kerr.TransactionAbortable) {
		t.Fatalf("no transaction (v5): %v %v", got, err)
	}
	if got, _ := verify("tx", pid, epoch, false); !errors.Is(got[a], kerr.InvalidTxnState) {
		t.Fatalf("no transaction (v4): %v, want INVALID_TXN_STATE", got)
	}
	if _, err := verify("tx", pid+1, epoch, true); !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("another producer id: %v", err)
	}
	if _, err := verify("tx", pid, epoch+1, true); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("another epoch: %v", err)
	}
	// Only the added partition is in the transaction.
	if err := c.addToTxn(ctx, "tx", pid, epoch, true, []topicPartition{a}); err != nil {
		t.Fatal(err)
	}
	got, err = verify("tx", pid, epoch, true)
	if err != nil || got[a] != nil || !errors.Is(got[b], kerr.TransactionAbortable) {
		t.Fatalf("a added: %v %v, want a in and b not", got, err)
	}
	// While the transaction is being committed (its prepared state
	// written, markers not yet), CONCURRENT_TRANSACTIONS.
	ts, _ := c.shardOf("tx")
	m := ts.lookup("tx")
	ongoing := state(t, c, "tx")
	prepared := ongoing.clone()
	prepared.state = txnPrepareCommit
	m.set(prepared)
	if _, err := verify("tx", pid, epoch, true); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("while committing: %v, want CONCURRENT_TRANSACTIONS", err)
	}
	m.set(ongoing)
	// Once committed, nothing is in it.
	if err := c.endTxnRequest(ctx, "tx", pid, epoch, true, true); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if got, err := verify("tx", pid, epoch, true); err != nil || got[a] == nil {
		t.Fatalf("after the commit: %v %v, want a no longer in a transaction", got, err)
	}
}

// The v4+ request path: verify-only transactions are answered per
// partition, unknown partitions fail the transaction, and a batch mixes
// transactions with their own results.
func TestAddPartitionsToTxnBatched(t *testing.T) {
	h := newTxnTestHost()
	c := newTxnTestCoordinator(t, h)
	pid, epoch, _ := initTxn(t, c, "tx", -1, -1)
	if err := c.addToTxn(context.Background(), "tx", pid, epoch, true, []topicPartition{{"a", 0}}); err != nil {
		t.Fatal(err)
	}
	txn := func(id string, pid int64, verify bool, topic string, ps ...int32) kmsg.AddPartitionsToTxnRequestTransaction {
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = id, pid, epoch, verify
		tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
		tt.Topic, tt.Partitions = topic, ps
		tx.Topics = append(tx.Topics, tt)
		return tx
	}
	r := kmsg.NewPtrAddPartitionsToTxnRequest()
	r.SetVersion(5)
	r.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{
		txn("tx", pid, true, "a", 0, 1),
		txn("ghost", 4242, true, "a", 0),
		txn("tx", pid, true, "missing", 0),
	}
	resp := c.answerBatched(context.Background(), r, 5)
	codes := func(i int) []int16 {
		var out []int16
		for _, st := range resp.Transactions[i].Topics {
			for _, sp := range st.Partitions {
				out = append(out, sp.ErrorCode)
			}
		}
		return out
	}
	if len(resp.Transactions) != 3 {
		t.Fatalf("%d results, want 3", len(resp.Transactions))
	}
	if got := codes(0); got[0] != 0 || got[1] != kerr.TransactionAbortable.Code {
		t.Fatalf("tx a-0,a-1: %v, want [0 %d]", got, kerr.TransactionAbortable.Code)
	}
	if got := codes(1); got[0] != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("ghost: %v, want INVALID_PRODUCER_ID_MAPPING", got)
	}
	if got := codes(2); got[0] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("missing topic: %v", got)
	}
	// Not verify-only: v4+ adds, as v3 does.
	r.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{txn("tx", pid, false, "b", 3)}
	if resp = c.answerBatched(context.Background(), r, 5); resp.Transactions[0].Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("batched add: %+v", resp.Transactions[0])
	}
	if got, err := c.verifyTxn("tx", pid, epoch, []topicPartition{{"b", 3}}, true); err != nil || got[topicPartition{"b", 3}] != nil {
		t.Fatalf("b-3 after the batched add: %v %v", got, err)
	}
}
