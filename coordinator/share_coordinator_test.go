package coordinator

// State-machine tests of the share coordinator, driven through the
// persister's methods (no sockets) on the in-memory host: what a share
// partition leader writes is what a new leader reads, after a reload of
// __share_group_state too, with fencing as Kafka's ShareCoordinatorShard.

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/records"
	"gregor/broker/share"
)

type shareEnv struct {
	t  *testing.T
	h  *txnTestHost
	co *Coordinator
	id [16]byte
}

func newShareEnv(t *testing.T, tweak func(*Config)) *shareEnv {
	t.Helper()
	cfg := Config{
		OffsetsTopicPartitions: 1, TxnTopicPartitions: 1, ShareStateTopicPartitions: 1,
		ShareSnapshotUpdatesPerSnapshot: 500, ShareWriteTimeout: 5 * time.Second,
		OffsetsRetention: time.Hour, OffsetsRetentionCheck: time.Hour,
		TxnMaxTimeout: time.Minute, TxnIDExpiration: time.Hour, TxnAbortCheckPeriod: time.Hour,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	e := &shareEnv{t: t, h: newTxnTestHost()}
	e.h.setTopic("t", 3)
	e.id, _, _ = e.h.TopicIDOf("t")
	e.co = New(cfg, e.h, zerolog.Nop())
	t.Cleanup(e.co.Close)
	e.load(1)
	return e
}

func (e *shareEnv) load(epoch int32) {
	e.t.Helper()
	e.co.LeadershipChanged(ShareStateTopic, 0, true, epoch)
	awaitLoaded(e.t, e.co.shares.rt.Current(0))
}

func (e *shareEnv) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

func kerrOfShare(err error) *kerr.Error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke
	}
	return nil
}

func (e *shareEnv) write(p, stateEpoch, leaderEpoch int32, start int64, bs ...share.Batch) error {
	return e.co.WriteShareState(e.ctx(), "g", e.id, p, stateEpoch, leaderEpoch, share.Write{Start: start, Batches: bs})
}

func (e *shareEnv) read(p, leaderEpoch int32) (ShareState, error) {
	return e.co.ReadShareState(e.ctx(), "g", e.id, p, leaderEpoch)
}

func b(first, last int64, st share.State, n int16) share.Batch {
	return share.Batch{First: first, Last: last, State: st, Count: n}
}

// A share partition is read and written only once the group coordinator
// initialized it; writes lay their batches over the state so far, and
// the start offset drops what lies below it.
func TestShareStateInitializeWriteRead(t *testing.T) {
	e := newShareEnv(t, nil)
	if _, err := e.read(0, 1); kerrOfShare(err) != kerr.InvalidRequest {
		t.Fatalf("read before initialize: %v", err)
	}
	if err := e.write(0, 0, 1, 0); kerrOfShare(err) != kerr.InvalidRequest {
		t.Fatalf("write before initialize: %v", err)
	}
	if s, err := e.co.shareStateSummary(e.ctx(), "g", e.id, 0); err != nil || s.Start != -1 {
		t.Fatalf("summary before initialize: %+v %v", s, err)
	}
	if err := e.co.initializeShareState(e.ctx(), "g", e.id, 0, 3, -1); err != nil {
		t.Fatal(err)
	}
	st, err := e.read(0, 1)
	if err != nil || st.Start != -1 || st.StateEpoch != 3 || len(st.Batches) != 0 {
		t.Fatalf("read after initialize: %+v %v", st, err)
	}
	must(t, e.write(0, 3, 1, 10, b(10, 19, share.Available, 1)))
	must(t, e.write(0, 3, 1, 12, b(10, 11, share.Acknowledged, 1), b(15, 15, share.Archived, 1)))
	st, err = e.read(0, 1)
	if err != nil || st.Start != 12 || fmt.Sprint(st.Batches) != "[{12 14 Available 1} {15 15 Archived 1} {16 19 Available 1}]" {
		t.Fatalf("state %+v %v", st, err)
	}
	if s, err := e.co.shareStateSummary(e.ctx(), "g", e.id, 0); err != nil || s.Start != 12 || s.DeliveryComplete != 1 {
		t.Fatalf("summary %+v %v", s, err)
	}
	// An unknown topic is refused.
	if err := e.co.initializeShareState(e.ctx(), "g", [16]byte{9}, 0, 3, 0); kerrOfShare(err) != kerr.UnknownTopicOrPartition {
		t.Fatalf("initializing an unknown topic: %v", err)
	}
}

// A new leader's read records its epoch: the old leader's writes are
// fenced from then on, and so are reads with an older epoch.
func TestShareStateFencesOldLeader(t *testing.T) {
	e := newShareEnv(t, nil)
	must(t, e.co.initializeShareState(e.ctx(), "g", e.id, 1, 0, 0))
	if _, err := e.read(1, 4); err != nil {
		t.Fatal(err)
	}
	must(t, e.write(1, 0, 4, 0, b(0, 0, share.Acknowledged, 1)))
	if _, err := e.read(1, 5); err != nil {
		t.Fatal(err)
	}
	if err := e.write(1, 0, 4, 1); kerrOfShare(err) != kerr.FencedLeaderEpoch {
		t.Fatalf("write of the deposed leader: %v", err)
	}
	if _, err := e.read(1, 4); kerrOfShare(err) != kerr.FencedLeaderEpoch {
		t.Fatalf("read of the deposed leader: %v", err)
	}
	// Re-initializing with a higher state epoch fences the leader's
	// state epoch; an older one is refused.
	must(t, e.co.initializeShareState(e.ctx(), "g", e.id, 1, 2, 7))
	if err := e.write(1, 0, 5, 8); kerrOfShare(err) != kerr.FencedStateEpoch {
		t.Fatalf("write with the old state epoch: %v", err)
	}
	if err := e.co.initializeShareState(e.ctx(), "g", e.id, 1, 1, 0); kerrOfShare(err) != kerr.FencedStateEpoch {
		t.Fatalf("initialize with an older state epoch: %v", err)
	}
	st, err := e.read(1, 5)
	if err != nil || st.Start != 7 || st.StateEpoch != 2 || len(st.Batches) != 0 {
		t.Fatalf("after re-initialize %+v %v", st, err)
	}
}

// What was written is what a coordinator that loads the partition (a
// failover, a restart) reads back, snapshots and updates alike, fences
// included; a deleted state is gone.
func TestShareStateSurvivesReload(t *testing.T) {
	e := newShareEnv(t, func(c *Config) { c.ShareSnapshotUpdatesPerSnapshot = 2 })
	must(t, e.co.initializeShareState(e.ctx(), "g", e.id, 0, 1, 0))
	must(t, e.co.initializeShareState(e.ctx(), "g", e.id, 2, 1, 0))
	if _, err := e.read(0, 2); err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 7; i++ {
		must(t, e.write(0, 1, 2, i, b(i, i, share.Acknowledged, 1), b(i+1, i+1, share.Available, int16(i+1))))
	}
	before, _ := e.read(0, 2)
	must(t, e.co.deleteShareState(e.ctx(), "g", e.id, 2))
	e.co.LeadershipChanged(ShareStateTopic, 0, false, 1)
	e.load(2)
	after, err := e.read(0, 2)
	if err != nil || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("after reload %+v %v, want %+v", after, err, before)
	}
	if err := e.write(0, 1, 1, 9); kerrOfShare(err) != kerr.FencedLeaderEpoch {
		t.Fatalf("the fence did not survive the reload: %v", err)
	}
	if _, err := e.read(2, 2); kerrOfShare(err) != kerr.InvalidRequest {
		t.Fatalf("a deleted state was reloaded: %v", err)
	}
	// Two updates per snapshot: the log holds snapshots along the way.
	snapshots := 0
	for _, rec := range e.records() {
		if rec.snapshot {
			snapshots++
		}
	}
	if snapshots < 3 {
		t.Fatalf("%d snapshots in the log", snapshots)
	}
}

// records decodes what the share coordinator wrote.
func (e *shareEnv) records() []*shareValue {
	data, _, _ := e.h.ReadCommitted(ShareStateTopic, 0, 0, 1<<20)
	var out []*shareValue
	replayRecords(data, func(k shareKey, v *shareValue) {
		if v != nil {
			out = append(out, v)
		}
	})
	return out
}

// Pruning deletes the records below the oldest snapshot still needed,
// and the state loads the same from what is left.
func TestShareStatePrune(t *testing.T) {
	e := newShareEnv(t, func(c *Config) { c.ShareSnapshotUpdatesPerSnapshot = 1; c.ShareColdSnapshotInterval = time.Hour })
	must(t, e.co.initializeShareState(e.ctx(), "g", e.id, 0, 1, 0))
	for i := int64(0); i < 6; i++ {
		must(t, e.write(0, 1, -1, i+1, b(i+1, i+1, share.Available, 1)))
	}
	before, _ := e.read(0, -1)
	e.co.shares.prune()
	if ls := e.h.LogStartOffsetOf(ShareStateTopic, 0); ls == 0 {
		t.Fatal("nothing pruned")
	}
	e.co.LeadershipChanged(ShareStateTopic, 0, false, 1)
	e.load(2)
	after, err := e.read(0, -1)
	if err != nil || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("after pruning and reload %+v %v, want %+v", after, err, before)
	}
}

// Kafka's combiner: later batches win, neighbours merge, the start drops
// what is below it.
func TestShareCombine(t *testing.T) {
	for _, tc := range []struct {
		old, newer []share.Batch
		start      int64
		want       string
	}{
		{nil, []share.Batch{b(0, 9, 0, 1)}, 0, "[{0 9 Available 1}]"},
		{[]share.Batch{b(0, 9, 0, 1)}, []share.Batch{b(3, 4, 2, 1)}, 0, "[{0 2 Available 1} {3 4 Acknowledged 1} {5 9 Available 1}]"},
		{[]share.Batch{b(0, 9, 0, 1)}, []share.Batch{b(3, 4, 2, 1)}, 4, "[{4 4 Acknowledged 1} {5 9 Available 1}]"},
		{[]share.Batch{b(0, 4, 2, 1)}, []share.Batch{b(5, 9, 2, 1)}, 0, "[{0 9 Acknowledged 1}]"},
		{[]share.Batch{b(0, 4, 2, 1), b(8, 9, 4, 2)}, []share.Batch{b(2, 8, 0, 3)}, 1, "[{1 1 Acknowledged 1} {2 8 Available 3} {9 9 Archived 2}]"},
		{[]share.Batch{b(0, 4, 2, 1)}, nil, 10, "[]"},
	} {
		if got := fmt.Sprint(shareCombine(tc.old, tc.newer, tc.start)); got != tc.want {
			t.Errorf("combine(%v, %v, %d) = %s, want %s", tc.old, tc.newer, tc.start, got, tc.want)
		}
	}
}

// Records round-trip in Kafka's layout.
func TestShareRecordsRoundTrip(t *testing.T) {
	k := shareKey{"group-1", [16]byte{1, 2, 3}, 7}
	for _, v := range []*shareValue{
		{snapshot: true, snapshotEpoch: 2, stateEpoch: 3, leaderEpoch: 4, startOffset: 5, createMs: 6, writeMs: 7, batches: []share.Batch{b(5, 9, 2, 1)}},
		{snapshotEpoch: 2, leaderEpoch: 4, startOffset: -1, batches: []share.Batch{b(10, 12, 4, 5)}},
		nil,
	} {
		rec := encodeShareRecord(k, v)
		gk, gv, ok, err := decodeShareRecord(rec.Key, rec.Value)
		if err != nil || !ok || gk != k {
			t.Fatalf("decoding %+v: %v %v %+v", v, ok, err, gk)
		}
		if v == nil {
			if gv != nil {
				t.Fatalf("tombstone decoded as %+v", gv)
			}
			continue
		}
		if !v.snapshot {
			v.stateEpoch = -1
		}
		if fmt.Sprintf("%+v", *gv) != fmt.Sprintf("%+v", *v) {
			t.Fatalf("round trip\n got %+v\nwant %+v", *gv, *v)
		}
	}
	if got := k.coordinatorKey(); got != "group-1:AQIDAAAAAAAAAAAAAAAAAA:7" {
		t.Fatalf("coordinator key %s", got)
	}
	if pk, err := shareKeyOf("a:b:AQIDAAAAAAAAAAAAAAAAAA:7"); err != nil || pk.group != "a:b" || pk.partition != 7 || pk.topic != k.topic {
		t.Fatalf("parsed %+v %v", pk, err)
	}
	for _, bad := range []string{"g", "g:x:1", "g:AQIDAAAAAAAAAAAAAAAAAA:-1", ":AQIDAAAAAAAAAAAAAAAAAA:1"} {
		if _, err := shareKeyOf(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// replayRecords decodes every share state record of a log.
func replayRecords(data []byte, fn func(shareKey, *shareValue)) {
	records.Split(data, func(batch []byte) error {
		return records.Each(batch, func(rec *records.Record) error {
			k, v, ok, err := decodeShareRecord(rec.Key, rec.Value)
			if err == nil && ok {
				fn(k, v)
			}
			return nil
		})
	})
}
