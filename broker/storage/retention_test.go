package storage

import (
	"testing"

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
