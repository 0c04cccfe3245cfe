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
