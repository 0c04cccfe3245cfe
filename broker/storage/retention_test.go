package storage

import (
	"fmt"
	"testing"
	"time"

	"gregor/broker/records"
)

// appendWithEpochs appends one batch of two records per epoch given.
func appendWithEpochs(t *testing.T, l *Log, epochs ...int32) {
	t.Helper()
	for _, epoch := range epochs {
		b := buildBatch(t, l.NextOffset(), 2, 1000, 1)
		records.SetLeaderEpoch(b, epoch)
		mustAppend(t, l, b)
	}
}

func sameEpochs(t *testing.T, what string, got, want []EpochEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: epochs %v, want %v", what, got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: epochs %v, want %v", what, got, want)
		}
	}
}

// DeleteRecordsBefore inside the only segment deletes no segment, but the
// leader epoch cache must still start at the new log start offset.
func TestDeleteRecordsInsideSegmentTrimsEpochs(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testConfig(), OpenOptions{})
	// Epoch 1 holds 0-3, epoch 4 holds 4-5, epoch 7 holds 6-7.
	appendWithEpochs(t, l, 1, 1, 4, 7)
	sameEpochs(t, "after appends", l.Epochs(), []EpochEntry{{1, 0}, {4, 4}, {7, 6}})

	if err := l.DeleteRecordsBefore(2); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 2 {
		t.Fatalf("log start %d after DeleteRecordsBefore(2), want 2", l.StartOffset())
	}
	sameEpochs(t, "after DeleteRecordsBefore(2)", l.Epochs(), []EpochEntry{{1, 2}, {4, 4}, {7, 6}})

	// Past the start of epoch 4: epoch 1 goes entirely.
	if err := l.DeleteRecordsBefore(5); err != nil {
		t.Fatal(err)
	}
	sameEpochs(t, "after DeleteRecordsBefore(5)", l.Epochs(), []EpochEntry{{4, 5}, {7, 6}})

	// The trimmed cache is what a reopened log reads back.
	l.Close()
	l2 := openTestLog(t, dir, testConfig(), OpenOptions{Clean: true, RecoveryPoint: 8, StartOffset: 5})
	sameEpochs(t, "after reopening", l2.Epochs(), []EpochEntry{{4, 5}, {7, 6}})
}

// With several segments, deleting inside a later segment (some segments
// wholly below, the start inside the next) trims the cache to the new start,
// not to that segment's base.
func TestDeleteRecordsAcrossSegmentsTrimsEpochs(t *testing.T) {
	l := openTestLog(t, t.TempDir(), testConfig(), OpenOptions{})
	appendWithEpochs(t, l, 1, 2)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	appendWithEpochs(t, l, 3, 3, 5)
	if err := l.DeleteRecordsBefore(7); err != nil {
		t.Fatal(err)
	}
	sameEpochs(t, "after DeleteRecordsBefore(7)", l.Epochs(), []EpochEntry{{3, 7}, {5, 8}})
}

// DeleteRecords up to the log end deletes the segments below the active
// one and keeps the active one, as Kafka does: it goes once it has rolled
// and retention runs (or by time or size retention). Gregor removed it at
// once, so that kafka-log-dirs showed 0 bytes where Kafka shows its size.
func TestDeleteRecordsToTheEndKeepsTheActiveSegment(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.RetentionMs = -1 // the records' timestamps are from 1970
	l := openTestLog(t, dir, cfg, OpenOptions{})
	appendWithEpochs(t, l, 1, 1)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	appendWithEpochs(t, l, 2, 2)
	both := l.Size()
	if err := l.DeleteRecordsBefore(l.NextOffset()); err != nil {
		t.Fatal(err)
	}
	if got := segmentFiles(t, dir, ".log"); len(got) != 1 || l.StartOffset() != 8 {
		t.Fatalf("after DeleteRecords to the end (8): segments %v, log start %d; want the active one (base 4) kept, start 8", got, l.StartOffset())
	}
	if l.Size() == 0 || l.Size() >= both {
		t.Fatalf("after DeleteRecords to the end: %d bytes; want the active segment's (4 records), under %d", l.Size(), both)
	}
	if n, err := l.ApplyRetention(time.Now(), l.NextOffset()); err != nil || n != 0 {
		t.Fatalf("retention by the log start deleted %d segments (%v); want the active one kept", n, err)
	}
	// Rolled, it is wholly below the log start and goes.
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	appendWithEpochs(t, l, 3)
	if n, err := l.ApplyRetention(time.Now(), l.NextOffset()); err != nil || n != 1 {
		t.Fatalf("retention after the roll deleted %d segments (%v); want the old active one", n, err)
	}
}

// TestRetentionKeepsSegmentReachingPastHighWatermark: a segment goes only
// if everything up to the next segment's base is below the high watermark,
// as Kafka's deletableSegments bounds it, so the log start offset never
// passes the high watermark. A segment that compaction left ending short
// of the next one's base was measured by its own end: deleted, it moved
// the log start past the high watermark.
func TestRetentionKeepsSegmentReachingPastHighWatermark(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 200 // the cleaner merges no two of these segments
	cfg.RetentionMs = 1000
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	old := time.Now().Add(-time.Hour).UnixMilli()
	appendKV(t, l, old, -1, false, kv{key: "a", val: "a1"}) // 0
	appendKV(t, l, old, -1, false, kv{key: "b", val: "b1"}) // 1: superseded by 2, its batch goes
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	appendKV(t, l, old, -1, false, kv{key: "b", val: "b2"}) // 2
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Compact(CompactOptions{Now: time.Now(), Uncleanable: l.NextOffset(), DeleteRetention: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got, _ := contents(t, l); fmt.Sprint(got) != "map[0:a=a1 2:b=b2]" || len(l.segments) != 3 || l.segments[0].next != 1 {
		t.Fatalf("after compaction: %v in %d segments; want the first ending at 1, short of the second's base", got, len(l.segments))
	}
	n, err := l.ApplyRetention(time.Now(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || l.StartOffset() != 0 {
		t.Fatalf("retention with the high watermark at 1 deleted %d segments, log start %d; want none, 0", n, l.StartOffset())
	}
	if n, err := l.ApplyRetention(time.Now(), 2); err != nil || n != 1 || l.StartOffset() != 2 {
		t.Fatalf("retention with the high watermark at 2 deleted %d segments (%v), log start %d; want 1, 2", n, err, l.StartOffset())
	}
}
