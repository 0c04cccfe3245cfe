package broker

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
)

// A client's transactional batch from a producer with no transaction open
// on the partition is written only once the coordinator verified it, and
// a marker between the verification and the append voids it (Kafka's
// VerificationGuard).
func TestTxnVerificationInProducerState(t *testing.T) {
	now := time.Now()
	ps := newProducerState()
	first := hdr(7, 0, 1, true)
	if _, err := ps.check(first); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("unverified transactional batch: %v, want INVALID_TXN_STATE", err)
	}
	v := ps.startVerification(7, 0, 0, now.UnixMilli())
	if v == nil {
		t.Fatal("no verification started for a producer with no transaction open")
	}
	if again := ps.startVerification(7, 0, 0, now.UnixMilli()); again != v {
		t.Fatal("a second request of the same producer and epoch got another verification")
	}
	if _, err := ps.check(first); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("batch while the coordinator is asked: %v, want INVALID_TXN_STATE", err)
	}
	ps.endVerification(7, v, true)
	if ps.startVerification(7, 0, 0, now.UnixMilli()) != nil {
		t.Fatal("a verified producer is asked about again")
	}
	if _, err := ps.check(hdr(7, 0, 1, true)); err != nil {
		t.Fatalf("verified batch: %v", err)
	}
	if _, err := ps.check(&records.Header{ProducerID: 7, ProducerEpoch: 1, BaseSequence: 0, Attributes: records.AttrTransactional}); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("batch of another epoch than verified: %v, want INVALID_TXN_STATE", err)
	}
	ps.record(first, 10, now)
	if len(ps.verifying) != 0 {
		t.Fatalf("verification kept after the batch was written: %v", ps.verifying)
	}
	// The open transaction stands for later batches.
	if ps.startVerification(7, 0, 0, now.UnixMilli()) != nil {
		t.Fatal("verification asked with a transaction open")
	}
	if _, err := ps.check(hdr(7, 1, 1, true)); err != nil {
		t.Fatalf("second batch of the open transaction: %v", err)
	}
	ps.endTxn(7, 0, true, 0, 11, now.UnixMilli(), now)
	// A retry of the first batch after the commit is still a duplicate.
	if dup, err := ps.check(hdr(7, 0, 1, true)); err != nil || dup == nil || dup.FirstOffset != 10 {
		t.Fatalf("retry after the commit: %+v %v, want the duplicate at 10", dup, err)
	}
	if _, err := ps.check(hdr(7, 1, 1, true)); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("new transaction's batch, unverified: %v", err)
	}

	// ABA: verified yes, but a marker was written before the answer
	// landed; the append is refused.
	v = ps.startVerification(7, 0, 0, now.UnixMilli())
	ps.endTxn(7, 0, false, 0, 12, now.UnixMilli(), now)
	ps.endVerification(7, v, true)
	if _, err := ps.check(hdr(7, 1, 1, true)); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("verification from before a marker: %v, want INVALID_TXN_STATE", err)
	}
	// A refused verification is asked again, by the same entry, as
	// Kafka keeps its VerificationStateEntry.
	v = ps.startVerification(8, 0, 0, now.UnixMilli())
	ps.endVerification(8, v, false)
	if again := ps.startVerification(8, 0, 0, now.UnixMilli()); again != v || again.verified {
		t.Fatalf("after a refused verification: %+v, want the same entry, unverified", again)
	}
	// Unanswered ones expire with the producers.
	ps.startVerification(9, 0, 0, now.UnixMilli())
	ps.expire(now.Add(time.Second))
	if len(ps.verifying) != 0 {
		t.Fatalf("verifications after expiry: %v", ps.verifying)
	}
	// Not verified: coordinator writes (no sequence), idempotent batches.
	if _, err := ps.check(&records.Header{ProducerID: 5, BaseSequence: -1, Attributes: records.AttrTransactional}); err != nil {
		t.Fatalf("coordinator's transactional batch: %v", err)
	}
	if _, err := ps.check(hdr(math.MaxInt64, 0, 1, false)); err != nil {
		t.Fatalf("idempotent batch of a never-allocated producer id: %v (Kafka accepts it)", err)
	}
}

// A transactional batch whose verification failed (retriably, the
// coordinator moving) is not overtaken by the producer's next one, verified
// meanwhile: above the lowest sequence asked about, a batch is
// OUT_OF_ORDER_SEQUENCE_NUMBER until a batch is written, as Kafka's
// VerificationStateEntry keeps it. Gregor dropped a refused verification,
// and a producer new to the partition had its second batch written first
// (any sequence starts a producer the partition does not know), then its
// first refused as out of order: records reordered and the transaction
// failed.
func TestTxnVerificationKeepsLowestSequence(t *testing.T) {
	now := time.Now()
	ps := newProducerState()
	v0 := ps.startVerification(7, 0, 0, now.UnixMilli())
	ps.endVerification(7, v0, false)
	v3 := ps.startVerification(7, 0, 3, now.UnixMilli())
	if v3 == nil {
		t.Fatal("no verification for the second request")
	}
	ps.endVerification(7, v3, true)
	if _, err := ps.check(hdr(7, 3, 2, true)); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
		t.Fatalf("sequence 3 while sequence 0 is not written: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", err)
	}
	// The retry of sequence 0 is written; 3 follows it.
	if v := ps.startVerification(7, 0, 0, now.UnixMilli()); v != nil {
		t.Fatal("the retry of sequence 0 is asked about again, though verified at its epoch")
	}
	if _, err := ps.check(hdr(7, 0, 3, true)); err != nil {
		t.Fatalf("sequence 0: %v", err)
	}
	ps.record(hdr(7, 0, 3, true), 0, now)
	if _, err := ps.check(hdr(7, 3, 2, true)); err != nil {
		t.Fatalf("sequence 3 after 0-2: %v", err)
	}
	// A new epoch starts the lowest sequence again.
	ps.endTxn(7, 0, true, 0, 5, now.UnixMilli(), now)
	ps.endVerification(7, ps.startVerification(7, 0, 9, now.UnixMilli()), true)
	ps.endVerification(7, ps.startVerification(7, 1, 0, now.UnixMilli()), true)
	if _, err := ps.check(&records.Header{ProducerID: 7, ProducerEpoch: 1, BaseSequence: 0, Attributes: records.AttrTransactional}); err != nil {
		t.Fatalf("sequence 0 at the next epoch: %v", err)
	}
}

// The whole-request checks, as Kafka's KafkaApis and ReplicaManager make
// them, and the per-partition translation of the coordinator's answers.
func TestProduceTxnChecks(t *testing.T) {
	part := func(pid int64, epoch int16, txn bool) producePart {
		h := records.Header{ProducerID: pid, ProducerEpoch: epoch}
		if txn {
			h.Attributes = records.AttrTransactional
		}
		return producePart{pb: &preparedBatches{headers: []records.Header{h}}}
	}
	id := "tx"
	req := &kmsg.ProduceRequest{TransactionID: &id}
	if _, ok, err := produceTxnCheck(req, []producePart{part(1, 0, false)}); ok || err != nil {
		t.Fatalf("idempotent only: %v %v", ok, err)
	}
	if tp, ok, err := produceTxnCheck(req, []producePart{part(1, 0, true), part(1, 0, true)}); !ok || err != nil || tp.id != 1 {
		t.Fatalf("one producer: %+v %v %v", tp, ok, err)
	}
	if _, _, err := produceTxnCheck(req, []producePart{part(1, 0, true), part(2, 0, true)}); !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("two producers: %v", err)
	}
	if _, _, err := produceTxnCheck(req, []producePart{part(1, 0, true), part(1, 1, true)}); !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("two epochs: %v", err)
	}
	if _, _, err := produceTxnCheck(&kmsg.ProduceRequest{}, []producePart{part(1, 0, true)}); !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		t.Fatalf("no transactional id: %v", err)
	}
	// A producer id below -1: transactional bit, but no producer, so
	// nothing to verify (RecordBatch.hasProducerId).
	if _, ok, err := produceTxnCheck(req, []producePart{part(-5, 0, true)}); ok || err != nil {
		t.Fatalf("producer id -5: %v %v", ok, err)
	}
	for _, c := range []struct {
		code    int16
		version int16
		want    *kerr.Error
	}{
		{kerr.TransactionAbortable.Code, 10, kerr.InvalidTxnState},
		{kerr.TransactionAbortable.Code, 11, kerr.TransactionAbortable},
		{kerr.InvalidTxnState.Code, 9, kerr.InvalidTxnState},
		{kerr.ProducerFenced.Code, 9, kerr.InvalidProducerEpoch},
		{kerr.InvalidProducerIDMapping.Code, 9, kerr.InvalidProducerIDMapping},
		{kerr.ConcurrentTransactions.Code, 9, kerr.NotEnoughReplicas},
		{kerr.NotCoordinator.Code, 9, kerr.NotEnoughReplicas},
		{kerr.CoordinatorLoadInProgress.Code, 9, kerr.NotEnoughReplicas},
		{kerr.CoordinatorNotAvailable.Code, 9, kerr.NotEnoughReplicas},
		{kerr.NetworkException.Code, 9, kerr.NotEnoughReplicas},
	} {
		if err := produceVerifyError(c.code, c.version); !errors.Is(err, c.want) {
			t.Errorf("coordinator code %d, produce v%d: %v, want %s", c.code, c.version, err, c.want.Message)
		}
	}
}
