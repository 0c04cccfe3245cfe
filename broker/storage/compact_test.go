package storage

import (
	"fmt"
	"os"
	"testing"
	"time"

	"gregor/broker/records"
)

// kv is one record to write: key, value (nil = tombstone).
type kv struct {
	key, val string
	tomb     bool
}

// appendKV appends one batch of records and returns its base offset.
func appendKV(t *testing.T, l *Log, ts int64, pid int64, txn bool, recs ...kv) int64 {
	t.Helper()
	base := l.NextOffset()
	var rs []records.Record
	for i, r := range recs {
		rec := records.Record{OffsetDelta: int32(i), Key: []byte(r.key)}
		if !r.tomb {
			rec.Value = []byte(r.val)
		}
		rs = append(rs, rec)
	}
	b := &records.Batch{FirstTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, LeaderEpoch: 0, BaseOffset: base, Records: rs}
	if pid >= 0 {
		b.ProducerID, b.ProducerEpoch, b.BaseSequence = pid, 0, int32(base)
	}
	if txn {
		b.Attributes = records.AttrTransactional
	}
	batch, err := records.Build(b)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch)
	return base
}

// contents reads the log back as offset -> "key=value" (or "key=<nil>").
func contents(t *testing.T, l *Log) (map[int64]string, []records.Header) {
	t.Helper()
	out := make(map[int64]string)
	var hs []records.Header
	for _, b := range readAll(t, l) {
		h, err := records.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if !records.CRCValid(b) {
			t.Fatalf("batch at %d has a bad CRC after compaction", h.BaseOffset)
		}
		hs = append(hs, h)
		err = records.Each(b, func(r *records.Record) error {
			v := "<nil>"
			if r.Value != nil {
				v = string(r.Value)
			}
			out[h.BaseOffset+int64(r.OffsetDelta)] = string(r.Key) + "=" + v
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out, hs
}

func TestCompactKeepsLatestPerKey(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 200 // a few batches per segment
	l := openTestLog(t, dir, cfg, OpenOptions{})
	now := time.Now()
	old := now.Add(-48 * time.Hour).UnixMilli()
	fresh := now.UnixMilli()
	// Offsets 0..: a, b, c written several times; d deleted long ago (its
	// tombstone stays delete.retention.ms from this pass); e deleted
	// recently; an aborted transaction writes x; an idempotent
	// producer's batch that is wholly superseded.
	appendKV(t, l, old, -1, false, kv{key: "a", val: "a1"}, kv{key: "b", val: "b1"})
	appendKV(t, l, old, -1, false, kv{key: "d", val: "d1"})
	dTomb := appendKV(t, l, old, -1, false, kv{key: "d", tomb: true})
	idem := appendKV(t, l, fresh, 7, false, kv{key: "c", val: "c1"})
	appendKV(t, l, fresh, -1, false, kv{key: "a", val: "a2"}, kv{key: "e", val: "e1"})
	abortedAt := appendKV(t, l, fresh, 9, true, kv{key: "x", val: "x1"})
	appendKV(t, l, fresh, -1, false, kv{key: "e", tomb: true}, kv{key: "c", val: "c2"})
	appendKV(t, l, fresh, -1, false, kv{key: "b", val: "b2"})
	for range 5 { // fill segments so the interesting ones are sealed
		appendKV(t, l, fresh, -1, false, kv{key: "filler", val: "f"})
	}
	end := l.NextOffset()
	if len(l.segments) < 3 {
		t.Fatalf("test needs several segments, have %d", len(l.segments))
	}
	before, _ := contents(t, l)
	activeBase := l.segments[len(l.segments)-1].base

	res, err := l.Compact(CompactOptions{
		Now: now, Uncleanable: end, DeleteRetention: 24 * time.Hour, MinDirtyRatio: 0.5,
		Aborted: func(pid, off int64) bool { return pid == 9 && off == abortedAt },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Segments == 0 || res.RecordsGone == 0 {
		t.Fatalf("compaction did nothing: %+v", res)
	}
	after, hs := contents(t, l)
	if l.NextOffset() != end {
		t.Fatalf("log end moved from %d to %d", end, l.NextOffset())
	}
	// Every surviving record keeps its offset and content.
	for off, v := range after {
		if before[off] != v {
			t.Fatalf("offset %d holds %q after compaction, %q before", off, v, before[off])
		}
	}
	latest := func(key string) int64 {
		last := int64(-1)
		for off, v := range before {
			if len(v) > len(key) && v[:len(key)+1] == key+"=" && off > last {
				last = off
			}
		}
		return last
	}
	for off, v := range before {
		if off >= activeBase && after[off] != v {
			t.Fatalf("record %d in the active segment changed", off)
		}
	}
	for _, key := range []string{"a", "b", "c"} {
		off := latest(key)
		if _, ok := after[off]; !ok {
			t.Fatalf("latest record of %q (offset %d) was removed", key, off)
		}
		for o, v := range after {
			if o < activeBase && o != off && len(v) > len(key) && v[:len(key)+1] == key+"=" {
				t.Fatalf("superseded record of %q at %d survived: %q", key, o, v)
			}
		}
	}
	for o, v := range after {
		switch v {
		case "d=d1":
			t.Fatalf("old tombstoned key d survived at %d: %s", o, v)
		case "x=x1":
			t.Fatalf("aborted transactional record survived at %d", o)
		}
	}
	if after[dTomb] != "d=<nil>" {
		t.Fatalf("an old tombstone was removed by the first pass that kept it, before delete.retention.ms from it: %v", after)
	}
	if after[latest("e")] != "e=<nil>" {
		t.Fatalf("a recent tombstone was removed before delete.retention.ms: %v", after)
	}
	// The idempotent producer's emptied batch stays, covering its offsets.
	found := false
	for _, h := range hs {
		if h.BaseOffset == idem {
			found = true
			if h.ProducerID != 7 || h.NumRecords != 0 {
				t.Fatalf("idempotent batch kept as %+v", h)
			}
		}
	}
	if !found {
		t.Fatal("the emptied batch of an idempotent producer was dropped")
	}

	// A reopened log reads the same, with rebuilt indexes.
	l.Close()
	l2 := openTestLog(t, dir, cfg, OpenOptions{Clean: true, RecoveryPoint: end})
	again, _ := contents(t, l2)
	if fmt.Sprint(again) != fmt.Sprint(after) {
		t.Fatalf("after reopening: %v\nwant %v", again, after)
	}
	if l2.NextOffset() != end {
		t.Fatalf("reopened log ends at %d, want %d", l2.NextOffset(), end)
	}
	// A second pass with nothing new is not dirty enough to run.
	res, err = l2.Compact(CompactOptions{Now: now, Uncleanable: end, DeleteRetention: 24 * time.Hour, MinDirtyRatio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second pass: %+v", res)
}

func TestCompactStopsAtUncleanable(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 120
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	ts := time.Now().UnixMilli()
	for i := range 6 {
		appendKV(t, l, ts, -1, false, kv{key: "k", val: fmt.Sprint(i)})
	}
	before, _ := contents(t, l)
	res, err := l.Compact(CompactOptions{Now: time.Now(), Uncleanable: 0, MinDirtyRatio: 0.5})
	if err != nil || res.Segments != 0 {
		t.Fatalf("compacted below offset 0: %+v %v", res, err)
	}
	after, _ := contents(t, l)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatal("log changed with nothing cleanable")
	}
}

func TestCompactionSwapCompletesOnRecovery(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 120
	l := openTestLog(t, dir, cfg, OpenOptions{})
	ts := time.Now().UnixMilli()
	for i := range 6 {
		appendKV(t, l, ts, -1, false, kv{key: "k", val: fmt.Sprint(i)})
	}
	end := l.NextOffset()
	first := l.segments[0]
	// A cleaned copy of the first segment that keeps nothing but an
	// empty batch range, left as a .swap file by a crash mid-swap.
	var data []byte
	err := eachBatch(first, func(h *records.Header, batch []byte) error {
		nb, err := records.Rebuild(h, nil)
		if err != nil {
			return err
		}
		data = append(data, nb...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(segmentPath(dir, first.base, ".log.swap"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(segmentPath(dir, first.base, ".log.cleaned"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l2 := openTestLog(t, dir, cfg, OpenOptions{Clean: true, RecoveryPoint: end})
	if l2.NextOffset() != end {
		t.Fatalf("log ends at %d after the swap, want %d", l2.NextOffset(), end)
	}
	if n := len(segmentFiles(t, dir, ".swap")) + len(segmentFiles(t, dir, ".cleaned")); n != 0 {
		t.Fatalf("%d swap/cleaned files left", n)
	}
	got, _ := contents(t, l2)
	for off := first.base; off < first.next; off++ {
		if _, ok := got[off]; ok {
			t.Fatalf("offset %d of the swapped segment still has its record", off)
		}
	}
}

// TestReadPastEmptiedSegments: a fetch at an offset whose segment the
// cleaner emptied (or whose tail it removed) gets the next batch there is,
// in whichever later segment holds it, as Kafka's log reads on past
// segments with nothing at or after the offset. A read that stopped there
// left consumers of a compacted topic fetching nothing forever.
func TestReadPastEmptiedSegments(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 1 // every batch rolls a segment of its own
	l := openTestLog(t, dir, cfg, OpenOptions{})
	now := time.Now()
	ts := now.UnixMilli()
	for i := range 3 {
		appendKV(t, l, ts, -1, false, kv{key: "a", val: fmt.Sprint("a", i)}, kv{key: "b", val: fmt.Sprint("b", i)})
	}
	appendKV(t, l, ts, -1, false, kv{key: "c", val: "c0"})     // 6
	appendKV(t, l, ts, -1, false, kv{key: "filler", val: "f"}) // 7: the active segment
	end := l.NextOffset()
	if _, err := l.Compact(CompactOptions{Now: now, Uncleanable: end, DeleteRetention: time.Hour, MinDirtyRatio: 0}); err != nil {
		t.Fatal(err)
	}
	after, _ := contents(t, l)
	if _, ok := after[0]; ok {
		t.Fatalf("compaction kept the superseded records at offset 0: %v", after)
	}
	// Every offset from 0 reads the first batch at or after it.
	for off := int64(0); off < end; off++ {
		data, err := l.Read(off, end, 1<<20, true)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(data) == 0 {
			t.Fatalf("read at %d returned nothing; the log holds %v", off, after)
		}
		h, err := records.ParseHeader(data)
		if err != nil {
			t.Fatal(err)
		}
		want := end
		for o := range after {
			if o >= off && o < want {
				want = o
			}
		}
		if h.LastOffset() < off || h.BaseOffset > want {
			t.Fatalf("read at %d returned the batch %d-%d; the first record at or after it is %d", off, h.BaseOffset, h.LastOffset(), want)
		}
	}
	// A limit below the next batch still returns nothing.
	if data, err := l.Read(0, 4, 1<<20, true); err != nil || len(data) != 0 {
		t.Fatalf("read at 0 below a limit of 4 returned %d bytes, %v", len(data), err)
	}
	// The emptied segment after the first is dropped with its files; the
	// first stays, as the log's start.
	var bases []int64
	for _, s := range l.segments {
		bases = append(bases, s.base)
	}
	if fmt.Sprint(bases) != "[0 4 6 7]" {
		t.Fatalf("segments at %v after compaction, want [0 4 6 7]", bases)
	}
	if l.StartOffset() != 0 {
		t.Fatalf("the log starts at %d after compaction, want 0", l.StartOffset())
	}
	l.Close()
	l = openTestLog(t, dir, cfg, OpenOptions{})
	if got, _ := contents(t, l); fmt.Sprint(got) != fmt.Sprint(after) {
		t.Fatalf("reopened, the log holds %v, want %v", got, after)
	}
	if l.StartOffset() != 0 || l.NextOffset() != end {
		t.Fatalf("reopened, the log spans %d to %d, want 0 to %d", l.StartOffset(), l.NextOffset(), end)
	}
	if data, err := l.Read(2, end, 1<<20, true); err != nil || len(data) == 0 {
		t.Fatalf("reopened, a read in the dropped segment's offsets returned %d bytes, %v", len(data), err)
	}
}

// TestCompactPassesEmptiedSegments: a segment an earlier pass emptied
// does not end the cleanable range, so a later pass still removes what
// newer records superseded after it (a pass once stopped at the first
// empty segment, and a topic was never compacted again).
func TestCompactPassesEmptiedSegments(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 1 // every batch rolls a segment of its own
	l := openTestLog(t, dir, cfg, OpenOptions{})
	now := time.Now()
	ts := now.UnixMilli()
	compact := func() {
		t.Helper()
		if _, err := l.Compact(CompactOptions{Now: now, Uncleanable: l.NextOffset(), DeleteRetention: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	appendKV(t, l, ts, -1, false, kv{key: "a", val: "a0"}) // 0
	appendKV(t, l, ts, -1, false, kv{key: "b", val: "b0"}) // 1
	appendKV(t, l, ts, -1, false, kv{key: "a", val: "a1"}) // 2: empties segment 0
	appendKV(t, l, ts, -1, false, kv{key: "f", val: "f"})  // 3: active
	compact()
	if got, _ := contents(t, l); got[0] != "" || got[1] != "b=b0" || got[2] != "a=a1" {
		t.Fatalf("after the first pass the log holds %v", got)
	}
	appendKV(t, l, ts, -1, false, kv{key: "b", val: "b1"}) // 4: supersedes 1
	appendKV(t, l, ts, -1, false, kv{key: "f", val: "g"})  // 5: active
	compact()
	got, _ := contents(t, l)
	if _, ok := got[1]; ok {
		t.Fatalf("the second pass kept the superseded b at offset 1: %v", got)
	}
	if got[2] != "a=a1" || got[4] != "b=b1" {
		t.Fatalf("after the second pass the log holds %v", got)
	}
}

// TestRetentionPassesEmptyAndUntimedSegments: time retention measures a
// segment with no record timestamps (emptied by compaction, or of batches
// written with timestamp -1) by its file's modification time, as Kafka's
// LogSegment.largestTimestamp does, and such a segment no longer stops
// retention of the segments after it. On a compact,delete topic an
// emptied first segment once stopped retention for good.
func TestRetentionPassesEmptyAndUntimedSegments(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 1 // every batch rolls a segment of its own
	cfg.RetentionMs = time.Hour.Milliseconds()
	cfg.RetentionBytes = -1
	l := openTestLog(t, dir, cfg, OpenOptions{})
	now := time.Now()
	old := now.Add(-2 * time.Hour).UnixMilli()
	appendKV(t, l, old, -1, false, kv{key: "a", val: "a0"}) // 0: emptied below
	appendKV(t, l, old, -1, false, kv{key: "a", val: "a1"}) // 1
	appendKV(t, l, -1, -1, false, kv{key: "b", val: "b0"})  // 2: no timestamp
	later := now.Add(time.Hour).UnixMilli()                 // records timed after the files
	appendKV(t, l, later, -1, false, kv{key: "c", val: "c0"})
	appendKV(t, l, later, -1, false, kv{key: "f", val: "f"}) // active
	end := l.NextOffset()
	if _, err := l.Compact(CompactOptions{Now: now, Uncleanable: end, DeleteRetention: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if l.segments[0].size != 0 {
		t.Fatalf("compaction left the first segment with %d bytes, want it emptied", l.segments[0].size)
	}
	// 90 minutes on: the empty segment and the untimed one (by their
	// files' times) and the old one have expired, the later ones not.
	n, err := l.ApplyRetention(now.Add(90*time.Minute), end)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || l.StartOffset() != 3 {
		t.Fatalf("retention deleted %d segments and the log starts at %d; want 3 deleted, start 3", n, l.StartOffset())
	}
	// Not yet expired by the files' times: nothing more goes.
	if n, err := l.ApplyRetention(now, end); err != nil || n != 0 {
		t.Fatalf("a second pass deleted %d segments (%v)", n, err)
	}
}

// TestTimestampLookupsAsKafka: a lookup by timestamp finds a transaction
// marker as any other batch (Kafka's FileRecords.searchForTimestamp does
// not skip control batches, and ListOffsets -3 already returned the
// marker), and the largest timestamp, when two segments share it, is the
// first one's (Kafka takes the first segment with the maximum).
func TestTimestampLookupsAsKafka(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1 // every batch rolls a segment of its own
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	const t0 = 1_700_000_000_000
	appendKV(t, l, t0, 9, true, kv{key: "a", val: "a"}) // 0: transactional data
	marker := &records.Batch{Attributes: records.AttrTransactional | records.AttrControl, BaseOffset: l.NextOffset(),
		FirstTimestamp: t0 + 1000, MaxTimestamp: t0 + 1000, ProducerID: 9, ProducerEpoch: 0, BaseSequence: -1,
		Records: []records.Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}}}}
	mb, err := records.Build(marker)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, mb) // 1: the commit marker, a second later
	off, _, ok, err := l.OffsetForTimestamp(t0+500, l.NextOffset())
	if err != nil || !ok || off != 1 {
		t.Fatalf("lookup past the data's time: offset %d ok %v (%v), want the marker at 1", off, ok, err)
	}
	appendKV(t, l, t0+5000, -1, false, kv{key: "b", val: "b"}) // 2
	appendKV(t, l, t0+5000, -1, false, kv{key: "c", val: "c"}) // 3: the same time
	appendKV(t, l, t0, -1, false, kv{key: "f", val: "f"})      // active
	off, ts, ok, err := l.MaxTimestamp(l.NextOffset())
	if err != nil || !ok || off != 2 || ts != t0+5000 {
		t.Fatalf("largest timestamp at offset %d (%d, ok %v, %v), want the first of the two at 2", off, ts, ok, err)
	}
}

// TestCompactKeepsOnlyProducersLastEmptiedBatch: compaction keeps an
// emptied batch of a producer only if it is the producer's last (it
// holds the last sequence); its earlier emptied batches go, as Kafka's
// cleaner drops them. Kept, they left an empty batch for every batch an
// idempotent producer (any kgo or Java 3+ client) ever wrote.
func TestCompactKeepsOnlyProducersLastEmptiedBatch(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	now := time.Now()
	ts := now.UnixMilli()
	appendKV(t, l, ts, 7, false, kv{key: "a", val: "a0"})  // 0: emptied, not pid 7's last
	appendKV(t, l, ts, 7, false, kv{key: "a", val: "a1"})  // 1: emptied, not pid 7's last
	appendKV(t, l, ts, 7, false, kv{key: "a", val: "a2"})  // 2: pid 7's last, kept with its record
	appendKV(t, l, ts, 8, false, kv{key: "b", val: "b0"})  // 3: emptied, pid 8's last: kept empty
	appendKV(t, l, ts, -1, false, kv{key: "b", val: "b1"}) // 4
	l.mu.Lock()
	_, err := l.rollLocked(l.nextOffsetLocked()) // seal them
	l.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	appendKV(t, l, ts, -1, false, kv{key: "f", val: "f"}) // active
	last := map[int64]int64{7: 2, 8: 3}
	if _, err := l.Compact(CompactOptions{Now: now, Uncleanable: l.NextOffset(), DeleteRetention: time.Hour,
		LastBatch: func(pid int64) int64 { return last[pid] }}); err != nil {
		t.Fatal(err)
	}
	_, hs := contents(t, l)
	var got []string
	for _, h := range hs {
		got = append(got, fmt.Sprintf("%d:%d/%d", h.BaseOffset, h.ProducerID, h.NumRecords))
	}
	if want := "[2:7/1 3:8/0 4:-1/1 5:-1/1]"; fmt.Sprint(got) != want {
		t.Fatalf("after compaction the batches are %v, want %s", got, want)
	}
}

// TestSegmentJitterRollsEarlier: a segment rolls segment.jitter.ms (its
// own draw, below segment.ms) before segment.ms, as Kafka's do.
func TestSegmentJitterRollsEarlier(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentRoll = 10 * time.Second
	cfg.SegmentJitter = 10 * time.Second
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	const t0 = 1_700_000_000_000
	appendKV(t, l, t0, -1, false, kv{key: "a", val: "a"})
	l.segments[0].rollSeed = uint64(4 * time.Second)           // this segment's draw: 4 s early
	appendKV(t, l, t0+5000, -1, false, kv{key: "a", val: "b"}) // 5 s: not yet
	if len(l.segments) != 1 {
		t.Fatalf("rolled after 5 s with 4 s of jitter on 10 s")
	}
	appendKV(t, l, t0+7000, -1, false, kv{key: "a", val: "c"}) // 7 s > 10 - 4
	if len(l.segments) != 2 {
		t.Fatalf("did not roll after 7 s with 4 s of jitter on 10 s")
	}
}

// TestMaxCompactionLagForcesCompaction: a dirty segment whose first batch
// is older than max.compaction.lag.ms is compacted even below
// min.cleanable.dirty.ratio, as Kafka's cleaner does.
func TestMaxCompactionLagForcesCompaction(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	now := time.Now()
	old := now.Add(-time.Minute).UnixMilli()
	appendKV(t, l, old, -1, false, kv{key: "a", val: "a0"})
	appendKV(t, l, old, -1, false, kv{key: "a", val: "a1"})
	appendKV(t, l, now.UnixMilli(), -1, false, kv{key: "f", val: "f"}) // active
	opt := CompactOptions{Now: now, Uncleanable: l.NextOffset(), DeleteRetention: time.Hour, MinDirtyRatio: 1.1}
	if res, err := l.Compact(opt); err != nil || res.RecordsGone != 0 {
		t.Fatalf("compacted below the dirty ratio with no lag limit: %+v %v", res, err)
	}
	opt.MaxCompactionLag = 30 * time.Second
	if res, err := l.Compact(opt); err != nil || res.RecordsGone != 1 {
		t.Fatalf("a minute-old dirty segment with max.compaction.lag.ms of 30 s: %+v %v, want the superseded record gone", res, err)
	}
}

// TestSegmentRollsWhenIndexFull: a segment rolls once its offset or time
// index holds segment.index.bytes of entries, as Kafka's (isFull).
func TestSegmentRollsWhenIndexFull(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 1 // an entry for every batch
	cfg.IndexBytes = 120       // 15 offset entries, 10 time entries
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	const t0 = 1_700_000_000_000
	for i := range 40 {
		appendKV(t, l, t0+int64(i), -1, false, kv{key: "k", val: "v"})
	}
	if len(l.segments) < 4 {
		t.Fatalf("40 batches with room for 10 time index entries a segment made %d segments", len(l.segments))
	}
	for _, s := range l.segments {
		if s.index.n > 15 || s.times.n > 10 {
			t.Fatalf("segment %d has %d offset and %d time index entries, over 120 bytes", s.base, s.index.n, s.times.n)
		}
	}
}

// timeRolledLog is a log whose every batch rolled a segment of its own
// (segment.ms of 1 ms, timestamps 10 ms apart), one distinct key per
// batch, then k0 again and one for the active segment, so compaction
// keeps every record of the sealed segments but k0's first.
func timeRolledLog(t *testing.T, dir string, batches int) (*Log, Config) {
	t.Helper()
	cfg := testConfig()
	cfg.SegmentRoll = time.Millisecond
	cfg.SegmentBytes = 1000
	l := openTestLog(t, dir, cfg, OpenOptions{})
	ts := time.Now().Add(-time.Hour).UnixMilli()
	for i := range batches {
		appendKV(t, l, ts+int64(i)*10, -1, false, kv{key: fmt.Sprint("k", i), val: fmt.Sprint("value-", i)})
	}
	appendKV(t, l, ts+int64(batches)*10, -1, false, kv{key: "k0", val: "latest"})
	appendKV(t, l, ts+int64(batches+1)*10, -1, false, kv{key: "active", val: "x"})
	if len(l.segments) != batches+2 {
		t.Fatalf("%d segments for %d batches rolled by time", len(l.segments), batches+2)
	}
	return l, cfg
}

// TestCompactMergesSmallSegments: compaction writes consecutive small
// segments as one, up to segment.bytes, as Kafka's cleaner groups them; a
// compacted topic that rolls by time would otherwise keep every segment
// (and its three files) it ever rolled. Offsets, records and the last
// replaced segment's modification time stay.
func TestCompactMergesSmallSegments(t *testing.T) {
	dir := t.TempDir()
	l, cfg := timeRolledLog(t, dir, 40)
	// Distinct modification times, to see which one a merged segment keeps.
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	mtimes := map[int64]time.Time{}
	for i, s := range l.segments[:len(l.segments)-1] {
		mt := old.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(segmentPath(dir, s.base, ".log"), time.Time{}, mt); err != nil {
			t.Fatal(err)
		}
		mtimes[s.next] = mt
	}
	before, _ := contents(t, l)
	res, err := l.Compact(CompactOptions{Now: time.Now(), Uncleanable: l.NextOffset(), MinDirtyRatio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsGone != 1 || res.Segments != 41 {
		t.Fatalf("compaction result %+v, want 1 record gone from 41 segments", res)
	}
	sealed := l.segments[:len(l.segments)-1]
	if len(sealed) > 6 {
		t.Fatalf("%d sealed segments after compaction, want the 41 merged into a few of up to %d bytes", len(sealed), cfg.SegmentBytes)
	}
	prevNext := int64(0)
	for _, s := range sealed {
		if s.size > cfg.SegmentBytes {
			t.Fatalf("merged segment %d holds %d bytes, over segment.bytes %d", s.base, s.size, cfg.SegmentBytes)
		}
		if s.base != prevNext {
			t.Fatalf("segment at %d follows one ending at %d", s.base, prevNext)
		}
		prevNext = s.next
		st, err := os.Stat(segmentPath(dir, s.base, ".log"))
		if err != nil {
			t.Fatal(err)
		}
		if want := mtimes[s.next]; !st.ModTime().Equal(want) {
			t.Fatalf("merged segment %d modified at %v, want its last original's %v", s.base, st.ModTime(), want)
		}
	}
	after, _ := contents(t, l)
	delete(before, 0)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("records after merging:\n%v\nwant:\n%v", after, before)
	}
	for off := int64(1); off < l.NextOffset(); off++ {
		b, err := l.Read(off, l.NextOffset(), 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		h, err := records.ParseHeader(b)
		if err != nil || h.BaseOffset != off {
			t.Fatalf("read at %d starts at batch %d (%v)", off, h.BaseOffset, err)
		}
	}
	// Reopened from its files, the log is the same.
	l.Close()
	l2 := openTestLog(t, dir, cfg, OpenOptions{})
	if again, _ := contents(t, l2); fmt.Sprint(again) != fmt.Sprint(after) {
		t.Fatalf("records after reopening:\n%v\nwant:\n%v", again, after)
	}
}

// TestMergedSwapCompletesOnRecovery: a crash after a merged segment was
// renamed to .swap, but before the segments it replaces were retired,
// leaves them beside it; recovery completes the swap and deletes them,
// rather than loading their batches twice.
func TestMergedSwapCompletesOnRecovery(t *testing.T) {
	dir := t.TempDir()
	l, cfg := timeRolledLog(t, dir, 5)
	end := l.NextOffset()
	var merged []byte
	for _, s := range l.segments[:3] {
		err := eachBatch(s, func(h *records.Header, batch []byte) error {
			merged = append(merged, batch...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	first, fourth := l.segments[0].base, l.segments[3].base
	l.Close()
	if err := os.WriteFile(segmentPath(dir, first, ".log.swap"), merged, 0o644); err != nil {
		t.Fatal(err)
	}
	l2 := openTestLog(t, dir, cfg, OpenOptions{Clean: true, RecoveryPoint: end})
	if l2.NextOffset() != end {
		t.Fatalf("log ends at %d after the swap, want %d", l2.NextOffset(), end)
	}
	var bases []int64
	for _, s := range l2.segments {
		bases = append(bases, s.base)
	}
	if fmt.Sprint(bases) != fmt.Sprint([]int64{first, fourth, fourth + 1, fourth + 2, fourth + 3}) {
		t.Fatalf("segments at %v after recovery, want the merged one at %d, then %d on", bases, first, fourth)
	}
	next := int64(0)
	for _, b := range readAll(t, l2) {
		h, _ := records.ParseHeader(b)
		if h.BaseOffset != next {
			t.Fatalf("batch at %d after one ending at %d", h.BaseOffset, next)
		}
		next = h.NextOffset()
	}
	if next != end {
		t.Fatalf("read to %d, want %d", next, end)
	}
}

// appendMarker appends a transaction marker of producer pid.
func appendMarker(t *testing.T, l *Log, ts, pid int64, epoch int16, commit bool) int64 {
	t.Helper()
	typ := byte(0)
	if commit {
		typ = 1
	}
	base := l.NextOffset()
	batch, err := records.Build(&records.Batch{
		Attributes: records.AttrControl | records.AttrTransactional, FirstTimestamp: ts, MaxTimestamp: ts,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1, BaseOffset: base,
		Records: []records.Record{{Key: []byte{0, 0, 0, typ}, Value: []byte{0, 0, 0, 0, 0, 0}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch)
	return base
}

// TestCompactRemovesSpentMarkers: a transaction marker goes once no batch
// of its transaction is left, delete.retention.ms after the pass that
// found it so (its delete horizon), as Kafka's cleaner removes it; before, every marker stayed for the life of
// a compacted topic (__consumer_offsets gathers one per transactional
// offset commit). A marker stays while its transaction's batches do, while
// it is recent, and when it holds the epoch of an active producer with no
// batch left. The horizon counts from that pass, not from the marker's
// timestamp.
func TestCompactRemovesSpentMarkers(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	now := time.Now()
	old, recent := now.Add(-2*time.Hour).UnixMilli(), now.UnixMilli()
	appendKV(t, l, old, 1, true, kv{key: "a", val: "a1"})      // 0: superseded by 2
	appendMarker(t, l, old, 1, 0, true)                        // 1: goes once 0 is gone
	appendKV(t, l, old, 1, true, kv{key: "a", val: "a2"})      // 2
	appendMarker(t, l, old, 1, 0, true)                        // 3: stays with 2
	appendKV(t, l, old, 2, true, kv{key: "b", val: "aborted"}) // 4: aborted
	appendMarker(t, l, old, 2, 0, false)                       // 5: goes once 4 is gone
	appendKV(t, l, old, 2, true, kv{key: "c", val: "c1"})      // 6
	appendMarker(t, l, old, 2, 0, true)                        // 7: stays with 6
	appendMarker(t, l, old, 3, 4, false)                       // 8: pid 3's epoch 4, no batch: stays
	appendKV(t, l, recent, 5, true, kv{key: "d", val: "d1"})   // 9: superseded by 11
	appendMarker(t, l, recent, 5, 0, true)                     // 10: recent: stays
	appendKV(t, l, recent, -1, false, kv{key: "d", val: "d2"}) // 11
	last := map[int64]int64{1: 2, 2: 6}
	pass := func(at time.Time, key string) CompactResult {
		t.Helper()
		appendKV(t, l, at.UnixMilli(), -1, false, kv{key: key, val: "x"}) // makes the pass dirty
		l.mu.Lock()
		_, err := l.rollLocked(l.nextOffsetLocked())
		l.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		res, err := l.Compact(CompactOptions{Now: at, Uncleanable: l.NextOffset(), DeleteRetention: time.Hour,
			Aborted: func(pid, off int64) bool { return pid == 2 && off == 4 },
			LastBatch: func(pid int64) int64 {
				if o, ok := last[pid]; ok {
					return o
				}
				return -1
			},
			KeepMarker: func(pid int64, epoch int16) bool { return pid == 3 && epoch == 4 }})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	batches := func() string {
		_, hs := contents(t, l)
		var got []int64
		for _, h := range hs {
			got = append(got, h.BaseOffset)
		}
		return fmt.Sprint(got)
	}
	if res := pass(now, "p1"); res.MarkersGone != 0 {
		t.Fatalf("the first pass removed %d markers, want none (it read their transactions' batches)", res.MarkersGone)
	}
	if got, want := batches(), "[1 2 3 5 6 7 8 10 11 12]"; got != want {
		t.Fatalf("after the first pass the batches are at %v, want %s", got, want)
	}
	// The second pass finds markers 1, 5 and 10 alone: each gets a delete
	// horizon an hour (delete.retention.ms) from this pass, though 1 and
	// 5 are older than that.
	if res := pass(now, "p2"); res.MarkersGone != 0 {
		t.Fatalf("the second pass removed %d markers, want none before their delete horizon", res.MarkersGone)
	}
	if got, want := batches(), "[1 2 3 5 6 7 8 10 11 12 13]"; got != want {
		t.Fatalf("after the second pass the batches are at %v, want %s", got, want)
	}
	_, hs := contents(t, l)
	for _, h := range hs {
		hz, ok := h.DeleteHorizon()
		switch h.BaseOffset {
		case 1, 5, 10:
			if !ok || hz != now.Add(time.Hour).UnixMilli() {
				t.Fatalf("marker at %d has delete horizon %d (set %v), want %d", h.BaseOffset, hz, ok, now.Add(time.Hour).UnixMilli())
			}
		default:
			if ok {
				t.Fatalf("batch at %d got a delete horizon", h.BaseOffset)
			}
		}
	}
	if res := pass(now.Add(time.Hour-time.Millisecond), "p3"); res.MarkersGone != 0 {
		t.Fatalf("a pass before the delete horizon removed %d markers", res.MarkersGone)
	}
	res := pass(now.Add(time.Hour), "p4")
	if res.MarkersGone != 3 || fmt.Sprint(res.AbortsGone) != "[5]" {
		t.Fatalf("the pass at the delete horizon removed %d markers, aborts %v; want 3, and the abort at 5", res.MarkersGone, res.AbortsGone)
	}
	if got, want := batches(), "[2 3 6 7 8 11 12 13 14 15]"; got != want {
		t.Fatalf("past the markers' delete horizon the batches are at %v, want %s", got, want)
	}
}

// TestCompactTombstoneOutlivesDeleteRetentionFromFirstPass: a tombstone
// stays delete.retention.ms from the first pass that keeps it, whatever
// its timestamp, as Kafka's cleaner (KIP-534) stores that time in the
// batch as its delete horizon; before, a tombstone with a timestamp older
// than delete.retention.ms went in the first pass, and a consumer reading
// the topic then never saw the delete. Record timestamps stay as written.
func TestCompactTombstoneOutlivesDeleteRetentionFromFirstPass(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	now := time.Now()
	old := now.Add(-48 * time.Hour).UnixMilli()
	appendKV(t, l, old, -1, false, kv{key: "k", val: "v"})
	tomb := appendKV(t, l, old, -1, false, kv{key: "k", tomb: true}, kv{key: "j", val: "j1"})
	pass := func(at time.Time, key string) {
		t.Helper()
		appendKV(t, l, at.UnixMilli(), -1, false, kv{key: key, val: "x"}) // makes the pass dirty
		l.mu.Lock()
		_, err := l.rollLocked(l.nextOffsetLocked())
		l.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Compact(CompactOptions{Now: at, Uncleanable: l.NextOffset(), DeleteRetention: 24 * time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	pass(now, "p1")
	got, hs := contents(t, l)
	if got[tomb] != "k=<nil>" || got[0] != "" {
		t.Fatalf("after the first pass: %v; want the tombstone at %d kept, k=v gone", got, tomb)
	}
	want := now.Add(24 * time.Hour).UnixMilli()
	for _, h := range hs {
		if h.BaseOffset != tomb {
			continue
		}
		if hz, ok := h.DeleteHorizon(); !ok || hz != want {
			t.Fatalf("the tombstone's batch has delete horizon %d (set %v), want %d", hz, ok, want)
		}
		for _, b := range readAll(t, l) {
			if bh, _ := records.ParseHeader(b); bh.BaseOffset == tomb {
				records.Each(b, func(r *records.Record) error {
					if ts := bh.FirstTimestamp + r.TimestampDelta; ts != old {
						t.Fatalf("record %d has timestamp %d after compaction, %d before", tomb+int64(r.OffsetDelta), ts, old)
					}
					return nil
				})
			}
		}
	}
	pass(now.Add(24*time.Hour-time.Millisecond), "p2")
	if got, _ := contents(t, l); got[tomb] != "k=<nil>" {
		t.Fatalf("the tombstone went before its delete horizon: %v", got)
	}
	pass(now.Add(24*time.Hour), "p3")
	got, _ = contents(t, l)
	if _, ok := got[tomb]; ok || got[tomb+1] != "j=j1" {
		t.Fatalf("at its delete horizon: %v; want the tombstone gone, j=j1 kept", got)
	}
}

// TestCompactReadsBatchesItLeftGapsIn: a batch that lost a record before
// its last keeps its other records at their offset deltas (1, 2, ...,
// with gaps), as in Kafka. Every reader of the log takes it: before,
// records.Each wanted deltas 0, 1, 2, ..., so the next pass kept the batch
// whole as unreadable (never compacting it again), a timestamp lookup
// failed on it, and so did the coordinators' load of a compacted
// __consumer_offsets or __transaction_state.
func TestCompactReadsBatchesItLeftGapsIn(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	now := time.Now()
	ts := now.Add(-time.Minute).UnixMilli()
	appendKV(t, l, ts, -1, false, kv{key: "a", val: "a1"}, kv{key: "b", val: "b1"}, kv{key: "c", val: "c1"})
	appendKV(t, l, ts+1, -1, false, kv{key: "a", val: "a2"})
	pass := func(key string) CompactResult {
		t.Helper()
		appendKV(t, l, ts+2, -1, false, kv{key: key, val: "x"})
		l.mu.Lock()
		_, err := l.rollLocked(l.nextOffsetLocked())
		l.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		res, err := l.Compact(CompactOptions{Now: now, Uncleanable: l.NextOffset(), DeleteRetention: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	pass("b") // offset 0 goes; b1 (at 1) goes too, superseded by b=x
	got, _ := contents(t, l)
	if fmt.Sprint(got) != "map[2:c=c1 3:a=a2 4:b=x]" {
		t.Fatalf("after the first pass: %v", got)
	}
	if off, _, ok, err := l.OffsetForTimestamp(ts, l.NextOffset()); err != nil || !ok || off != 2 {
		t.Fatalf("offset for timestamp %d: %d, %v, %v; want 2", ts, off, ok, err)
	}
	res := pass("c")
	if res.Undecodable != 0 {
		t.Fatalf("the second pass found %d batches unreadable", res.Undecodable)
	}
	if got, _ := contents(t, l); fmt.Sprint(got) != "map[3:a=a2 4:b=x 5:c=x]" {
		t.Fatalf("after the second pass: %v", got)
	}
}

// TestCompactDropsKeylessRecords: records without a key (written before a
// topic was made compacted) go in the first pass over them, as Kafka's
// cleaner drops them as invalid; before, they stayed forever.
func TestCompactDropsKeylessRecords(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	ts := time.Now().UnixMilli()
	b, err := records.Build(&records.Batch{FirstTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		Records: []records.Record{{OffsetDelta: 0, Value: []byte("no key")}, {OffsetDelta: 1, Key: []byte("k"), Value: []byte("v")}, {OffsetDelta: 2, Value: []byte("no key either")}}})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, b)
	l.mu.Lock()
	_, err = l.rollLocked(l.nextOffsetLocked())
	l.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Compact(CompactOptions{Now: time.Now(), Uncleanable: l.NextOffset(), DeleteRetention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := contents(t, l); fmt.Sprint(got) != "map[1:k=v]" || res.Keyless != 2 {
		t.Fatalf("after compaction: %v, %d keyless removed; want only k=v at 1, 2 removed", got, res.Keyless)
	}
}

// TestCompactedBatchMaxTimestampIsItsRecords: a batch compaction rebuilds
// has the max timestamp of the records it keeps, as Kafka's
// MemoryRecordsBuilder computes it; the time index, retention by time and
// ListOffsets -3 go by it. Before, the batch kept the timestamp of a
// record it no longer held, and the log's largest timestamp was answered
// with an offset that no record has.
func TestCompactedBatchMaxTimestampIsItsRecords(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	ts := time.Now().Add(-time.Hour).UnixMilli()
	b, err := records.Build(&records.Batch{FirstTimestamp: ts, MaxTimestamp: ts + 300, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		Records: []records.Record{{OffsetDelta: 0, Key: []byte("a"), Value: []byte("a1")}, {OffsetDelta: 1, TimestampDelta: 300, Key: []byte("b"), Value: []byte("b1")}}})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, b)                                        // 0: a@ts, 1: b@ts+300
	appendKV(t, l, ts+200, -1, false, kv{key: "b", val: "b2"}) // 2: b@ts+200
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Compact(CompactOptions{Now: time.Now(), Uncleanable: l.NextOffset(), DeleteRetention: time.Hour}); err != nil {
		t.Fatal(err)
	}
	got, hs := contents(t, l)
	if fmt.Sprint(got) != "map[0:a=a1 2:b=b2]" {
		t.Fatalf("after compaction: %v", got)
	}
	if hs[0].MaxTimestamp != ts {
		t.Fatalf("the rebuilt batch has max timestamp %d, want %d (its one record's)", hs[0].MaxTimestamp, ts)
	}
	off, mts, ok, err := l.MaxTimestamp(l.NextOffset())
	if err != nil || !ok || off != 2 || mts != ts+200 {
		t.Fatalf("largest timestamp at offset %d, %d (%v, %v); want offset 2, %d", off, mts, ok, err, ts+200)
	}
}

// TestCompactMapsAtMostMaxKeys: a pass maps at most MaxKeys keys of the
// dirty records, as Kafka's cleaner fills its offset map
// (log.cleaner.dedupe.buffer.size), and compacts only as far as it mapped:
// the records past that stay, superseded or not, and the next pass goes on
// from there. Gregor mapped every key of the whole cleanable range, each
// as a copy of the key itself, so a compacted topic with many keys (a
// Kafka Streams changelog) took memory in proportion to its keys and their
// length on every pass.
func TestCompactMapsAtMostMaxKeys(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1 // a segment per batch
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	now := time.Now()
	ts := now.UnixMilli()
	// Offsets 0-3: a, b, c, d; 4-7: a, b, c, d again; 8: active.
	for _, k := range []string{"a", "b", "c", "d", "a", "b", "c", "d"} {
		appendKV(t, l, ts, -1, false, kv{key: k, val: k + "?"})
	}
	appendKV(t, l, ts, -1, false, kv{key: "z", val: "z"})
	opt := CompactOptions{Now: now, Uncleanable: l.NextOffset(), DeleteRetention: time.Hour, MaxKeys: 2}
	res, err := l.Compact(opt)
	if err != nil {
		t.Fatal(err)
	}
	// The map is full at c (offset 2), the third key: only offsets 0-1
	// are mapped, and they supersede nothing.
	got, _ := contents(t, l)
	if len(got) != 9 || res.CleanedUpTo != 2 {
		t.Fatalf("first pass with a map of 2 keys: %d records left, cleaned up to %d; want all 9 (a and b at 0-1 are each other's latest) and 2", len(got), res.CleanedUpTo)
	}
	for pass := 2; pass <= 5 && l.CleanedTo() < 8; pass++ {
		if _, err := l.Compact(opt); err != nil {
			t.Fatal(err)
		}
	}
	got, _ = contents(t, l)
	want := map[int64]string{4: "a=a?", 5: "b=b?", 6: "c=c?", 7: "d=d?", 8: "z=z"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after passes with a map of 2 keys the log holds %v, want %v", got, want)
	}
}

// TestMaxCompactionLagCountsUncleanableSegments: a dirty segment past
// the cleanable range (here past the last stable offset) whose first
// batch is older than max.compaction.lag.ms has the log compacted as far
// as it may be, whatever the dirty ratio, as Kafka's
// LogCleanerManager.maxCompactionDelay looks at every dirty sealed
// segment. Gregor looked only at the cleanable ones, so records written
// with older timestamps behind an open transaction left the rest waiting
// for the dirty ratio.
func TestMaxCompactionLagCountsUncleanableSegments(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	now := time.Now()
	recent, old := now.Add(-time.Second).UnixMilli(), now.Add(-time.Hour).UnixMilli()
	appendKV(t, l, recent, -1, false, kv{key: "a", val: "a0"})
	appendKV(t, l, recent, -1, false, kv{key: "a", val: "a1"})
	held := appendKV(t, l, old, -1, false, kv{key: "b", val: "b"})     // past the last stable offset
	appendKV(t, l, now.UnixMilli(), -1, false, kv{key: "z", val: "z"}) // active
	opt := CompactOptions{Now: now, Uncleanable: held, DeleteRetention: time.Hour, MinDirtyRatio: 1, MaxCompactionLag: time.Minute}
	res, err := l.Compact(opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsGone != 1 {
		t.Fatalf("a dirty segment an hour old past the last stable offset, max.compaction.lag.ms of a minute: %+v, want the superseded a0 gone", res)
	}
}

// TestMinCompactionLagAsKafka: min.compaction.lag.ms holds back the first
// dirty segment whose largest timestamp is within it, by its file's
// modification time when its batches carry none, and only dirty segments
// count, as Kafka's LogCleanerManager.cleanableOffsets. Gregor let a
// segment without timestamps (records of clients older than 0.10) be
// compacted at once, and stopped at an already compacted segment whose
// records are recent, so nothing written after it was compacted.
func TestMinCompactionLagAsKafka(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1
	now := time.Now()
	recent, old := now.Add(-time.Second).UnixMilli(), now.Add(-2*time.Hour).UnixMilli()
	lag := CompactOptions{Now: now, DeleteRetention: time.Hour, MinCompactionLag: time.Hour}

	untimed := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	appendKV(t, untimed, -1, -1, false, kv{key: "a", val: "a0"})
	appendKV(t, untimed, -1, -1, false, kv{key: "a", val: "a1"})
	appendKV(t, untimed, -1, -1, false, kv{key: "z", val: "z"}) // active
	opt := lag
	opt.Uncleanable = untimed.NextOffset()
	if res, err := untimed.Compact(opt); err != nil || res.RecordsGone != 0 {
		t.Fatalf("segments without timestamps written just now, min.compaction.lag.ms of an hour: %+v %v, want nothing compacted", res, err)
	}

	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	appendKV(t, l, recent, -1, false, kv{key: "a", val: "a0"})
	appendKV(t, l, recent, -1, false, kv{key: "a", val: "a1"})
	appendKV(t, l, old, -1, false, kv{key: "b", val: "b"})
	if res, err := l.Compact(CompactOptions{Now: now, Uncleanable: l.NextOffset(), DeleteRetention: time.Hour}); err != nil || res.RecordsGone != 1 {
		t.Fatalf("first pass without a lag: %+v %v, want a0 gone", res, err)
	}
	appendKV(t, l, old, -1, false, kv{key: "c", val: "c0"})
	appendKV(t, l, old, -1, false, kv{key: "c", val: "c1"})
	appendKV(t, l, now.UnixMilli(), -1, false, kv{key: "z", val: "z"}) // active
	opt = lag
	opt.Uncleanable = l.NextOffset()
	if res, err := l.Compact(opt); err != nil || res.RecordsGone != 1 {
		t.Fatalf("dirty segments two hours old after a compacted one of a second ago, min.compaction.lag.ms of an hour: %+v %v, want c0 gone", res, err)
	}
}

// TestMaxCompactionLagAfterCleanRestart: after a clean shutdown the
// sealed segments are not scanned, but max.compaction.lag.ms still goes
// by their first batch's timestamp, read from the file as Kafka's
// LogSegment.getFirstBatchTimestamp does. Gregor knew it only for
// segments written or scanned since start-up, so a restart left old dirty
// segments to min.cleanable.dirty.ratio alone.
func TestMaxCompactionLagAfterCleanRestart(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 150     // two batches a segment
	cfg.IndexIntervalBytes = 1 // indexed, so not scanned on a clean start
	dir := t.TempDir()
	l := openTestLog(t, dir, cfg, OpenOptions{})
	now := time.Now()
	old := now.Add(-time.Hour).UnixMilli()
	for _, k := range []string{"a", "b", "a", "c"} {
		appendKV(t, l, old, -1, false, kv{key: k, val: k})
	}
	appendKV(t, l, now.UnixMilli(), -1, false, kv{key: "z", val: "z"}) // active
	if n := len(l.segments); n != 3 {
		t.Fatalf("%d segments, want 3 (two batches each)", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, cfg, OpenOptions{Clean: true, RecoveryPoint: 5})
	opt := CompactOptions{Now: now, Uncleanable: l.NextOffset(), DeleteRetention: time.Hour, MinDirtyRatio: 1, MaxCompactionLag: time.Minute}
	if res, err := l.Compact(opt); err != nil || res.RecordsGone != 1 {
		t.Fatalf("dirty segments an hour old after a clean restart, max.compaction.lag.ms of a minute: %+v %v, want a0 gone", res, err)
	}
}
