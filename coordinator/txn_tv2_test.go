package coordinator

// Transaction version 2 (KIP-890 part 2) in the transaction coordinator:
// the epoch bump on every EndTxn v5, its retries, the move to a new
// producer id when the epochs run out, the implicit adds, and a reload.

import (
	"context"
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
)

func TestTxnV2EpochBumpEveryTransaction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTxnTestHost()
		c := newTxnTestCoordinator(t, h)
		ctx := context.Background()
		pid, epoch, _ := initTxn(t, c, "tx", -1, -1)
		parts := []topicPartition{{"a", 0}, {"b", 1}}
		// Produce v12+ adds the partitions (not VerifyOnly).
		if err := c.addToTxnAs(ctx, "tx", pid, epoch, true, parts, true); err != nil {
			t.Fatal(err)
		}
		if d := state(t, c, "tx"); !d.tv2 || d.state != txnOngoing {
			t.Fatalf("after the implicit add: %+v", d)
		}
		gotPid, gotEpoch, err := c.endTxnV(ctx, "tx", pid, epoch, true, true, true)
		if err != nil || gotPid != pid || gotEpoch != epoch+1 {
			t.Fatalf("EndTxn v5: %d/%d %v, want %d/%d", gotPid, gotEpoch, err, pid, epoch+1)
		}
		for _, m := range h.markerList() {
			if m.epoch != epoch+1 || !m.commit {
				t.Fatalf("marker %+v: markers carry the bumped epoch", m)
			}
		}
		// A retry (its answer was lost) comes with the old epoch.
		if p, e, err := c.endTxnV(ctx, "tx", pid, epoch, true, true, true); err != nil || p != pid || e != epoch+1 {
			t.Fatalf("retried EndTxn v5: %d/%d %v", p, e, err)
		}
		if _, _, err := c.endTxnV(ctx, "tx", pid, epoch, false, true, true); !errors.Is(err, kerr.InvalidTxnState) {
			t.Fatalf("abort retried after the commit: %v", err)
		}
		// With the current epoch it is not a retry: fenced, as in Kafka.
		if _, _, err := c.endTxnV(ctx, "tx", pid, epoch+1, true, true, true); !errors.Is(err, kerr.ProducerFenced) {
			t.Fatalf("EndTxn at the current epoch of a completed transaction: %v", err)
		}
		// The next transaction runs at the new epoch; the old one is fenced.
		if err := c.addToTxnAs(ctx, "tx", pid, epoch, true, parts[:1], true); !errors.Is(err, kerr.ProducerFenced) {
			t.Fatalf("add at the old epoch: %v", err)
		}
		if err := c.addToTxnAs(ctx, "tx", pid, epoch+1, true, parts[:1], true); err != nil {
			t.Fatal(err)
		}
		if _, e, err := c.endTxnV(ctx, "tx", pid, epoch+1, false, true, true); err != nil || e != epoch+2 {
			t.Fatalf("abort: epoch %d %v", e, err)
		}
		ms := h.markerList()
		if last := ms[len(ms)-1]; last.commit || last.epoch != epoch+2 {
			t.Fatalf("abort marker %+v", last)
		}
		// A version 1 client (EndTxn v4) keeps its epoch.
		pid1, e1, _ := initTxn(t, c, "tv1", -1, -1)
		c.addToTxn(ctx, "tv1", pid1, e1, true, parts)
		if p, e, err := c.endTxnV(ctx, "tv1", pid1, e1, true, true, false); err != nil || p != pid1 || e != e1 {
			t.Fatalf("EndTxn v4: %d/%d %v", p, e, err)
		}
		if d := state(t, c, "tv1"); d.tv2 {
			t.Fatal("a version 1 transaction marked as version 2")
		}
	})
}

// When the bump would use the last epoch, the producer moves to a new
// producer id at epoch 0; a retry with the old id and epoch is answered
// with the new ones.
func TestTxnV2EpochOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTxnTestHost()
		c := newTxnTestCoordinator(t, h)
		ctx := context.Background()
		pid, _, _ := initTxn(t, c, "tx", -1, -1)
		last := int16(math.MaxInt16 - 1)
		ts, m, err := c.claimTxn("tx", false)
		if err != nil {
			t.Fatal(err)
		}
		d := m.d.clone()
		d.epoch = last
		if err := c.persistTxn(ctx, ts, "tx", &d); err != nil {
			t.Fatal(err)
		}
		m.set(d)
		m.release()
		if err := c.addToTxnAs(ctx, "tx", pid, last, true, []topicPartition{{"a", 0}}, true); err != nil {
			t.Fatal(err)
		}
		newPid, newEpoch, err := c.endTxnV(ctx, "tx", pid, last, true, true, true)
		if err != nil || newPid == pid || newEpoch != 0 {
			t.Fatalf("EndTxn at the last epoch: %d/%d %v", newPid, newEpoch, err)
		}
		if ms := h.markerList(); len(ms) != 1 || ms[0].pid != pid || ms[0].epoch != math.MaxInt16 {
			t.Fatalf("markers %+v: the old id at the maximum epoch", ms)
		}
		if p, e, err := c.endTxnV(ctx, "tx", pid, last, true, true, true); err != nil || p != newPid || e != 0 {
			t.Fatalf("retry across the new id: %d/%d %v", p, e, err)
		}
		if err := c.addToTxnAs(ctx, "tx", newPid, 0, true, []topicPartition{{"a", 0}}, true); err != nil {
			t.Fatalf("the next transaction with the new id: %v", err)
		}
	})
}

// The version 2 state (the client's version, the next producer id) is in
// the log (TransactionLogValue v1) and comes back with a reload.
func TestTxnV2StateReplayed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTxnTestHost()
		c := newTxnTestCoordinator(t, h)
		ctx := context.Background()
		pid, epoch, _ := initTxn(t, c, "tx", -1, -1)
		c.addToTxnAs(ctx, "tx", pid, epoch, true, []topicPartition{{"a", 0}}, true)
		if _, _, err := c.endTxnV(ctx, "tx", pid, epoch, true, true, true); err != nil {
			t.Fatal(err)
		}
		co := New(Config{TxnTopicPartitions: 1, OffsetsTopicPartitions: 1, TxnMaxTimeout: time.Hour, TxnIDExpiration: time.Hour, TxnAbortCheckPeriod: time.Hour}, h, zerolog.Nop())
		t.Cleanup(co.Close)
		co.LeadershipChanged(TransactionTopic, 0, true, 4)
		awaitLoaded(t, co.txns.rt.Current(0))
		d := state(t, co.txns, "tx")
		if !d.tv2 || d.epoch != epoch+1 || d.nextPid != -1 || d.state != txnCompleteCommit {
			t.Fatalf("reloaded: %+v", d)
		}
		if p, e, err := co.txns.endTxnV(ctx, "tx", pid, epoch, true, true, true); err != nil || p != pid || e != epoch+1 {
			t.Fatalf("retry after the reload: %d/%d %v", p, e, err)
		}
		// The value is Kafka's TransactionLogValue v1 with its tags.
		var v1 bool
		h.mu.Lock()
		batches := h.logs[topicPartition{TransactionTopic, 0}]
		h.mu.Unlock()
		for _, b := range batches {
			records.Each(b, func(rec *records.Record) error {
				v := kmsg.NewTxnMetadataValue()
				if rec.Value != nil && v.ReadFrom(rec.Value) == nil && v.Version == 1 && v.ClientTransactionVersion == 2 {
					v1 = true
				}
				return nil
			})
		}
		if !v1 {
			t.Fatal("no TransactionLogValue v1 with ClientTransactionVersion 2 in the log")
		}
	})
}

// TxnOffsetCommit v5 adds the group's offsets partition to the
// transaction itself.
func TestTxnV2OffsetCommitAddsPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		e.co.LeadershipChanged(TransactionTopic, 0, true, 1)
		awaitLoaded(t, e.co.txns.rt.Current(0))
		ctx := context.Background()
		pid, epoch, err := initTxn(t, e.co.txns, "tx", -1, -1)
		if err != nil {
			t.Fatal(err)
		}
		r := txnCommitReq("g", pid, "t", 0, 9)
		r.TransactionalID, r.ProducerEpoch = "tx", epoch
		if code := e.c.txnOffsetCommit(ctx, r, 4)[topicPartition{"t", 0}]; code != 0 {
			t.Fatalf("v4 commit: %v", kerr.ErrorForCode(code))
		}
		if d := state(t, e.co.txns, "tx"); len(d.parts) != 0 {
			t.Fatalf("v4 added partitions: %+v", d.parts)
		}
		if code := e.c.txnOffsetCommit(ctx, r, 5)[topicPartition{"t", 0}]; code != 0 {
			t.Fatalf("v5 commit: %v", kerr.ErrorForCode(code))
		}
		d := state(t, e.co.txns, "tx")
		if _, ok := d.parts[topicPartition{OffsetsTopic, 0}]; !ok || !d.tv2 || d.state != txnOngoing {
			t.Fatalf("after v5: %+v", d)
		}
		r.ProducerEpoch = epoch + 1
		if code := e.c.txnOffsetCommit(ctx, r, 5)[topicPartition{"t", 0}]; code != kerr.InvalidProducerEpoch.Code {
			t.Fatalf("v5 commit at another epoch: %v", kerr.ErrorForCode(code))
		}
	})
}
