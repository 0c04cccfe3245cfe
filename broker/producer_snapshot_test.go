package broker

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"gregor/broker/records"
	"gregor/broker/storage"
	"gregor/internal/wait"
)

// With a segment that rolls at every append, snapshots do not pile up one
// background write per roll: while one is written, further rolls make a
// single snapshot after it, of the state then. The last one written is the
// state at the log's end, every producer in it.
func TestProducerSnapshotsCoalesceOnEveryRoll(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("tiny", 1, map[string]string{"internal.segment.bytes": "100"})
	const producers = 300
	now := time.Now().UnixMilli()
	for pid := int64(1); pid <= producers; pid++ {
		b := &records.Batch{FirstTimestamp: now, MaxTimestamp: now, ProducerID: pid, ProducerEpoch: 0, BaseSequence: 0,
			Records: []records.Record{{Value: []byte(fmt.Sprint(pid))}}}
		data, err := records.Build(b)
		if err != nil {
			t.Fatal(err)
		}
		tb.produce("tiny", 0, data)
	}
	p := tb.Partition("tiny", 0)
	wait.For(t, "the producer snapshots to be written", 10*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return !p.snapBusy
	})
	p.mu.Lock()
	lg := p.log
	p.mu.Unlock()
	off, data, ok := lg.LatestSnapshot()
	if !ok || off != producers {
		t.Fatalf("newest snapshot at %d (found %v), want at the log's end %d", off, ok, producers)
	}
	var s snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Producers) != producers {
		t.Fatalf("newest snapshot holds %d producers, want %d", len(s.Producers), producers)
	}
}

// appendBatchAt writes a batch at offset off of lg and applies it to ps,
// as a leader's append does.
func appendBatchAt(t *testing.T, lg *storage.Log, ps *producerState, b *records.Batch, off int64) {
	t.Helper()
	b.BaseOffset = off
	data, err := records.Build(b)
	if err != nil {
		t.Fatal(err)
	}
	h, err := records.ParseHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	ai := storage.AppendInfo{First: off, Last: h.LastOffset(), MaxTimestamp: h.MaxTimestamp, OffsetOfMaxTs: h.LastOffset(), Messages: int64(h.NumRecords), LeaderEpoch: -1, FirstBatchOffset: off}
	if err := lg.Append(data, ai); err != nil {
		t.Fatal(err)
	}
	ps.replay(&h, data, time.Now())
}

// A snapshot below the log start offset (DeleteRecords moved it inside
// the segment the snapshot was taken at) is not loaded, as Kafka's
// ProducerStateManager.truncateAndReload deletes it: the batches between
// it and the log start cannot be replayed, so a transaction the snapshot
// has open may have ended there. Loaded, it held the last stable offset
// below the log start for good after a crash, and read_committed
// consumers read nothing more.
func TestSnapshotBelowLogStartNotLoaded(t *testing.T) {
	lg, err := storage.Open(storage.OSFS{}, t.TempDir(), storage.DefaultConfig(), storage.OpenOptions{Clean: true}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	ps := newProducerState()
	now := time.Now().UnixMilli()
	rec := []records.Record{{Value: []byte("v")}}
	// Producer 7's transaction opens at 0; producer 8 writes at 1.
	appendBatchAt(t, lg, ps, &records.Batch{Attributes: records.AttrTransactional, FirstTimestamp: now, MaxTimestamp: now, ProducerID: 7, BaseSequence: 0, Records: rec}, 0)
	appendBatchAt(t, lg, ps, &records.Batch{FirstTimestamp: now, MaxTimestamp: now, ProducerID: 8, BaseSequence: 0, Records: rec}, 1)
	if err := ps.snapshotAt(lg, 2).write(lg); err != nil {
		t.Fatal(err)
	}
	// The transaction commits at 2; more of producer 8 at 3.
	marker, err := buildControl(7, 0, true, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	mh, _ := records.ParseHeader(marker)
	records.SetBaseOffset(marker, 2)
	if err := lg.Append(marker, storage.AppendInfo{First: 2, Last: 2, MaxTimestamp: now, OffsetOfMaxTs: 2, Messages: 1, LeaderEpoch: -1, FirstBatchOffset: 2}); err != nil {
		t.Fatal(err)
	}
	ps.replay(&mh, marker, time.Now())
	appendBatchAt(t, lg, ps, &records.Batch{FirstTimestamp: now, MaxTimestamp: now, ProducerID: 8, BaseSequence: 1, Records: rec}, 3)
	if got := ps.firstUnstable(); got != -1 {
		t.Fatalf("first unstable offset %d after the commit, want -1", got)
	}
	if err := lg.DeleteRecordsBefore(3); err != nil {
		t.Fatal(err)
	}

	// A restart rebuilds the state from the log.
	re := newProducerState()
	if err := re.rebuild(lg, time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	if got := re.firstUnstable(); got != -1 {
		t.Fatalf("after a rebuild with the log starting at 3 and the snapshot at 2: first unstable offset %d, want -1 (no transaction open)", got)
	}
	if e := re.producers[8]; e == nil || e.lastSeq() != 1 {
		t.Fatalf("producer 8 after the rebuild: %+v, want it known from the replay of offset 3, last sequence 1", e)
	}
}

// A transaction the loaded snapshot has open from below the log start
// counts as starting at the log start, as Kafka's UnifiedLog clamps the
// first unstable offset when it loads (maybeIncrementFirstUnstableOffset):
// the last stable offset is never below the log start, where a
// read_committed consumer told it by ListOffsets would be out of range.
func TestSnapshotTransactionBelowLogStartClamped(t *testing.T) {
	lg, err := storage.Open(storage.OSFS{}, t.TempDir(), storage.DefaultConfig(), storage.OpenOptions{Clean: true}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	ps := newProducerState()
	now := time.Now().UnixMilli()
	rec := []records.Record{{Value: []byte("v")}}
	appendBatchAt(t, lg, ps, &records.Batch{Attributes: records.AttrTransactional, FirstTimestamp: now, MaxTimestamp: now, ProducerID: 7, BaseSequence: 0, Records: rec}, 0)
	appendBatchAt(t, lg, ps, &records.Batch{FirstTimestamp: now, MaxTimestamp: now, ProducerID: 8, BaseSequence: 0, Records: rec}, 1)
	appendBatchAt(t, lg, ps, &records.Batch{FirstTimestamp: now, MaxTimestamp: now, ProducerID: 8, BaseSequence: 1, Records: rec}, 2)
	if err := ps.snapshotAt(lg, 3).write(lg); err != nil {
		t.Fatal(err)
	}
	if err := lg.DeleteRecordsBefore(1); err != nil {
		t.Fatal(err)
	}
	re := newProducerState()
	if err := re.rebuild(lg, time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	if got := re.firstUnstable(); got != 1 {
		t.Fatalf("after a rebuild from a snapshot with a transaction open from 0, the log starting at 1: first unstable offset %d, want the log start 1", got)
	}
}

// A clean shutdown snapshots the producer state only where the log moved
// since the last snapshot, as Kafka's ProducerStateManager.takeSnapshot:
// not an empty log, nor one with a snapshot at its end already (loaded at
// start-up). A broker stopping with thousands of idle partitions spent
// most of its close creating and fsyncing these files.
func TestShutdownSnapshotsOnlyLogsThatMoved(t *testing.T) {
	d := t.TempDir()
	snaps := func(part int) []string {
		t.Helper()
		m, err := filepath.Glob(filepath.Join(d, fmt.Sprintf("p-%d", part), "*.snapshot"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tb := newTestBroker(t, map[string]string{"log.dirs": d})
	tb.createTopic("p", 2, nil)
	now := time.Now().UnixMilli()
	produce := func(tb *testBroker, seq int32) {
		data, err := records.Build(&records.Batch{FirstTimestamp: now, MaxTimestamp: now, ProducerID: 7, ProducerEpoch: 0, BaseSequence: seq,
			Records: []records.Record{{Value: []byte("v")}}})
		if err != nil {
			t.Fatal(err)
		}
		tb.produce("p", 0, data)
	}
	produce(tb, 0)
	tb.Close()
	if s := snaps(1); len(s) != 0 {
		t.Fatalf("the empty partition p-1 was snapshotted at shutdown: %v", s)
	}
	first := snaps(0)
	if len(first) != 1 || filepath.Base(first[0]) != "00000000000000000001.snapshot" {
		t.Fatalf("p-0's snapshots after the first shutdown: %v, want one at its end, 1", first)
	}
	before, err := os.Stat(first[0])
	if err != nil {
		t.Fatal(err)
	}

	// Restarted and stopped with nothing written: the snapshot loaded
	// is the log end's, and stays as it is.
	tb = newTestBroker(t, map[string]string{"log.dirs": d})
	tb.Close()
	after, err := os.Stat(first[0])
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Fatalf("the second shutdown wrote p-0's snapshot at 1 again, with the log still ending there")
	}

	// Written to, it is snapshotted at its new end, and the producer's
	// state survives the restart.
	tb = newTestBroker(t, map[string]string{"log.dirs": d})
	produce(tb, 1)
	tb.Close()
	if s := snaps(0); len(s) != 2 || filepath.Base(s[1]) != "00000000000000000002.snapshot" {
		t.Fatalf("p-0's snapshots after a shutdown that followed a write: %v, want a second at 2", s)
	}
	tb = newTestBroker(t, map[string]string{"log.dirs": d})
	p := tb.Partition("p", 0)
	p.mu.Lock()
	e := p.producer.producers[7]
	p.mu.Unlock()
	if e == nil || e.lastSeq() != 1 {
		t.Fatalf("producer 7 after the restarts: %+v, want its last sequence 1", e)
	}
	tb.Close()

	// A snapshot at the log end that cannot be read is deleted at the
	// load, as Kafka deletes a corrupt one, so that the next shutdown
	// writes one again: kept, it stopped every later shutdown from
	// writing one, and every start replayed the whole log.
	last := filepath.Join(d, "p-0", "00000000000000000002.snapshot")
	if err := os.WriteFile(last, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	tb = newTestBroker(t, map[string]string{"log.dirs": d})
	p = tb.Partition("p", 0)
	p.mu.Lock()
	e = p.producer.producers[7]
	p.mu.Unlock()
	if e == nil || e.lastSeq() != 1 {
		t.Fatalf("producer 7 after a restart past an unreadable snapshot: %+v, want its last sequence 1", e)
	}
	tb.Close()
	data, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	var snap snapshot
	if err := json.Unmarshal(data, &snap); err != nil || len(snap.Producers) != 1 {
		t.Fatalf("the snapshot at the log end after the next shutdown: %q (%v); want one written again, holding producer 7", data, err)
	}
}
