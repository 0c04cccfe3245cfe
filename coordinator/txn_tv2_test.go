package coordinator

// Transaction version 2 (KIP-890 part 2) in the transaction coordinator:
// the epoch bump on every EndTxn v5, its retries, the move to a new
// producer id when the epochs run out, the implicit adds, and a reload.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
	"gregor/protocol"
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
		// A commit at the current epoch is not a retry, and there is no
		// transaction to commit (Kafka's table: INVALID_TXN_STATE).
		if _, _, err := c.endTxnV(ctx, "tx", pid, epoch+1, true, true, true); !errors.Is(err, kerr.InvalidTxnState) {
			t.Fatalf("commit at the current epoch of a completed transaction: %v", err)
		}
		// Two epochs ahead is fenced.
		if _, _, err := c.endTxnV(ctx, "tx", pid, epoch+2, true, true, true); !errors.Is(err, kerr.ProducerFenced) {
			t.Fatalf("EndTxn past the current epoch: %v", err)
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

// After a version 2 commit moved the producer to a new producer id (the
// epochs ran out), an InitProducerId naming the old id and the last epoch
// the client saw (32766) is a retry, answered with the new id and epoch,
// as Kafka's prepareComplete keeps that epoch as the last one
// (lastProducerEpoch) for prepareIncrementProducerEpoch. Gregor kept the
// epoch the markers used (32767) and fenced the producer.
func TestTxnV2InitProducerIDAfterOverflowIsRetry(t *testing.T) {
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
		p, e, err := initTxn(t, c, "tx", pid, last)
		if err != nil || p != newPid || e != 0 {
			t.Fatalf("InitProducerId (old id, %d) after the move: %d/%d %v, want %d/0", last, p, e, err, newPid)
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

// Kafka's table for transaction version 2 with no transaction ongoing: an
// abort at the current epoch bumps the epoch through an abort with no
// partitions (a Java producer aborts so when its sends never reached a
// leader); its retry answers the same; a commit is INVALID_TXN_STATE (at
// the epoch before the abort's bump PRODUCER_FENCED); the epoch before the
// current one is fenced in Empty. Gregor answered the
// abort INVALID_TXN_STATE (Empty) or PRODUCER_FENCED (completed), both
// fatal to the producer.
func TestTxnV2AbortWithoutTransaction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTxnTestHost()
		c := newTxnTestCoordinator(t, h)
		ctx := context.Background()
		pid, epoch, _ := initTxn(t, c, "tx", -1, -1)
		if _, _, err := c.endTxnV(ctx, "tx", pid, epoch, true, true, true); !errors.Is(err, kerr.InvalidTxnState) {
			t.Fatalf("commit with no transaction: %v, want INVALID_TXN_STATE", err)
		}
		if epoch > 0 {
			if _, _, err := c.endTxnV(ctx, "tx", pid, epoch-1, false, true, true); !errors.Is(err, kerr.ProducerFenced) {
				t.Fatalf("abort at the epoch before in Empty: %v, want PRODUCER_FENCED", err)
			}
		}
		p, e, err := c.endTxnV(ctx, "tx", pid, epoch, false, true, true)
		if err != nil || p != pid || e != epoch+1 {
			t.Fatalf("abort with no transaction: %d/%d %v, want %d/%d", p, e, err, pid, epoch+1)
		}
		if d := state(t, c, "tx"); d.state != txnCompleteAbort || len(d.parts) != 0 || d.startMs < 0 {
			t.Fatalf("after the abort: %+v, want CompleteAbort with no partitions and a start time", d)
		}
		if n := len(h.markerList()); n != 0 {
			t.Fatalf("%d markers written for a transaction with no partitions", n)
		}
		if p, e, err := c.endTxnV(ctx, "tx", pid, epoch, false, true, true); err != nil || p != pid || e != epoch+1 {
			t.Fatalf("retried abort: %d/%d %v", p, e, err)
		}
		// A commit at the epoch before an abort's bump is taken for one
		// overtaken by the coordinator's own abort (KAFKA-20785).
		if _, _, err := c.endTxnV(ctx, "tx", pid, epoch, true, true, true); !errors.Is(err, kerr.ProducerFenced) {
			t.Fatalf("commit at the epoch before the abort: %v, want PRODUCER_FENCED", err)
		}
		// Completed by a commit, an abort at the current epoch bumps again.
		if err := c.addToTxnAs(ctx, "tx", pid, epoch+1, true, []topicPartition{{"a", 0}}, true); err != nil {
			t.Fatal(err)
		}
		if _, e, err := c.endTxnV(ctx, "tx", pid, epoch+1, true, true, true); err != nil || e != epoch+2 {
			t.Fatalf("commit: epoch %d %v", e, err)
		}
		if _, _, err := c.endTxnV(ctx, "tx", pid, epoch+1, false, true, true); !errors.Is(err, kerr.InvalidTxnState) {
			t.Fatalf("abort retried after a commit: %v, want INVALID_TXN_STATE", err)
		}
		if _, e, err := c.endTxnV(ctx, "tx", pid, epoch+2, false, true, true); err != nil || e != epoch+3 {
			t.Fatalf("abort after a commit at the current epoch: epoch %d %v, want %d", e, err, epoch+3)
		}
	})
}

// The rules come from the request's version: a version 1 client on an id
// a version 2 client used before retries its EndTxn at the same epoch and
// is answered as Kafka's endTransactionWithTV1 answers it. Gregor kept
// version 2's rules for the id and fenced the retry.
func TestTxnV1AfterV2UsesV1Rules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTxnTestHost()
		c := newTxnTestCoordinator(t, h)
		ctx := context.Background()
		pid, epoch, _ := initTxn(t, c, "tx", -1, -1)
		if err := c.addToTxnAs(ctx, "tx", pid, epoch, true, []topicPartition{{"a", 0}}, true); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.endTxnV(ctx, "tx", pid, epoch, true, true, true); err != nil {
			t.Fatal(err)
		}
		// A version 1 client takes the id over.
		pid1, e1, _ := initTxn(t, c, "tx", -1, -1)
		if err := c.addToTxn(ctx, "tx", pid1, e1, true, []topicPartition{{"a", 0}}); err != nil {
			t.Fatal(err)
		}
		if d := state(t, c, "tx"); d.tv2 {
			t.Fatal("a version 1 transaction recorded as version 2")
		}
		if err := c.endTxnRequest(ctx, "tx", pid1, e1, true, true); err != nil {
			t.Fatal(err)
		}
		if err := c.endTxnRequest(ctx, "tx", pid1, e1, true, true); err != nil {
			t.Fatalf("retried version 1 commit: %v, want success", err)
		}
		if err := c.endTxnRequest(ctx, "tx", pid1, e1, false, true); !errors.Is(err, kerr.InvalidTxnState) {
			t.Fatalf("version 1 abort after the commit: %v, want INVALID_TXN_STATE", err)
		}
	})
}

// TxnOffsetCommit before v2 answers COORDINATOR_NOT_AVAILABLE where later
// versions get COORDINATOR_LOAD_IN_PROGRESS, as Kafka's
// handleTxnOffsetCommitRequest replaces it for the 0.11-2.0 producers
// that could not handle it (KAFKA-7296). Here the producer's transaction
// is being completed, which the verification of a commit before v5
// answers so.
func TestTxnOffsetCommitOldVersionsLoadInProgressIsNotAvailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, func(c *Config) { c.TxnPartitionVerification = true })
		e.co.LeadershipChanged(TransactionTopic, 0, true, 1)
		awaitLoaded(t, e.co.txns.rt.Current(0))
		ctx := context.Background()
		pid, epoch, err := initTxn(t, e.co.txns, "tx", -1, -1)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.co.txns.addToTxn(ctx, "tx", pid, epoch, true, []topicPartition{{OffsetsTopic, 0}}); err != nil {
			t.Fatal(err)
		}
		_, m, err := e.co.txns.claimTxn("tx", false)
		if err != nil {
			t.Fatal(err)
		}
		d := m.d.clone()
		d.state = txnPrepareCommit // its markers being written
		m.set(d)
		m.release()
		for _, tc := range []struct {
			version int16
			want    *kerr.Error
		}{{0, kerr.CoordinatorNotAvailable}, {1, kerr.CoordinatorNotAvailable}, {2, kerr.CoordinatorLoadInProgress}, {3, kerr.CoordinatorLoadInProgress}} {
			body := txnCommitReq("g", pid, "t", 0, 9)
			body.TransactionalID, body.ProducerEpoch = "tx", epoch
			req := &protocol.Request{Key: body.Key(), Version: tc.version, Body: body}
			if resp, err := e.c.handleTxnOffsetCommit(ctx, req); resp != nil || err != nil {
				t.Fatalf("TxnOffsetCommit answered before its deferred work: %v %v", resp, err)
			}
			resp, err := req.Deferred()(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; got != tc.want.Code {
				t.Errorf("TxnOffsetCommit v%d while the transaction completes: %v, want %v", tc.version, kerr.ErrorForCode(got), tc.want)
			}
		}
	})
}

// A transaction that times out at the last epoch a producer id may use
// (32766) is aborted with the epoch bumped to 32767, as Kafka's
// prepareFenceProducerEpoch bumps it (refusing only 32767 itself), so the
// producer is fenced: Gregor wrote the abort at 32766 and kept it, and
// the timed-out producer's next AddPartitionsToTxn started a new
// transaction holding only what it sent after the abort, which its commit
// then made visible without the aborted start. A version 2 producer moves
// to a new producer id (KAFKA-20090): its abort, a retry across the move,
// is answered with the new id; its commit is fenced.
func TestTxnTimeoutAtLastEpochFences(t *testing.T) {
	for _, tv2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("tv2=%v", tv2), func(t *testing.T) {
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
				d.epoch, d.timeoutMs = last, 1
				if err := c.persistTxn(ctx, ts, "tx", &d); err != nil {
					t.Fatal(err)
				}
				m.set(d)
				m.release()
				if err := c.addToTxnAs(ctx, "tx", pid, last, true, []topicPartition{{"a", 0}}, tv2); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Millisecond)
				c.abortTimedOut()
				ms := h.markerList()
				if len(ms) != 1 || ms[0].commit || ms[0].pid != pid || ms[0].epoch != math.MaxInt16 {
					t.Fatalf("markers %+v, want one abort of producer %d at epoch %d", ms, pid, math.MaxInt16)
				}
				if err := c.addToTxnAs(ctx, "tx", pid, last, true, []topicPartition{{"b", 0}}, tv2); !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerIDMapping) {
					t.Fatalf("AddPartitionsToTxn of the timed-out producer at %d: %v, want it fenced", last, err)
				}
				if !tv2 {
					if err := c.endTxnRequest(ctx, "tx", pid, last, true, true); !errors.Is(err, kerr.ProducerFenced) {
						t.Fatalf("commit of the timed-out producer: %v, want PRODUCER_FENCED", err)
					}
					p, e, err := initTxn(t, c, "tx", -1, -1)
					if err != nil || p == pid || e != 0 {
						t.Fatalf("InitProducerId after the abort: %d/%d %v, want a new producer id at epoch 0", p, e, err)
					}
					return
				}
				d = state(t, c, "tx")
				if d.state != txnCompleteAbort || d.pid == pid || d.epoch != 0 {
					t.Fatalf("after the abort: %+v, want CompleteAbort with a new producer id at epoch 0", d)
				}
				if _, _, err := c.endTxnV(ctx, "tx", pid, last, true, true, true); !errors.Is(err, kerr.ProducerFenced) {
					t.Fatalf("EndTxn v5 commit of the timed-out producer: %v, want PRODUCER_FENCED", err)
				}
				if p, e, err := c.endTxnV(ctx, "tx", pid, last, false, true, true); err != nil || p != d.pid || e != 0 {
					t.Fatalf("EndTxn v5 abort of the timed-out producer: %d/%d %v, want %d/0", p, e, err, d.pid)
				}
			})
		})
	}
	// One epoch earlier, a version 2 producer keeps its id: the abort
	// takes the last epoch, which its own abort is answered with.
	synctest.Test(t, func(t *testing.T) {
		h := newTxnTestHost()
		c := newTxnTestCoordinator(t, h)
		ctx := context.Background()
		pid, _, _ := initTxn(t, c, "tx", -1, -1)
		before := int16(math.MaxInt16 - 2)
		ts, m, err := c.claimTxn("tx", false)
		if err != nil {
			t.Fatal(err)
		}
		d := m.d.clone()
		d.epoch, d.timeoutMs = before, 1
		if err := c.persistTxn(ctx, ts, "tx", &d); err != nil {
			t.Fatal(err)
		}
		m.set(d)
		m.release()
		if err := c.addToTxnAs(ctx, "tx", pid, before, true, []topicPartition{{"a", 0}}, true); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
		c.abortTimedOut()
		if p, e, err := c.endTxnV(ctx, "tx", pid, before, false, true, true); err != nil || p != pid || e != before+1 {
			t.Fatalf("EndTxn v5 abort at %d after the timeout abort: %d/%d %v, want %d/%d", before, p, e, err, pid, before+1)
		}
	})
}
