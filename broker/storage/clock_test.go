package storage

import (
	"testing"
	"time"
)

// fakeClock is a Clock the test moves by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) advance(d time.Duration) { c.now = c.now.Add(d) }

// segment.ms rolls the active segment, as Kafka's LogSegment.shouldRoll
// does, once an append's timestamp is more than segment.ms past the first
// batch's, whatever the clock says; a segment whose first batch has no
// timestamp rolls by the log's clock since it was made.
func TestSegmentRollsByAgeOnTheLogsClock(t *testing.T) {
	clock := &fakeClock{now: time.UnixMilli(1_700_000_000_000)}
	cfg := DefaultConfig()
	cfg.SegmentRoll = time.Hour
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{Clock: clock.Now})
	ts := clock.now.UnixMilli()
	appendBatches(t, l, 1, 2, ts, 10)
	clock.advance(2 * time.Hour)
	appendBatches(t, l, 1, 2, ts, 10) // old records: no roll
	appendBatches(t, l, 1, 2, ts+59*time.Minute.Milliseconds(), 10)
	if n := len(l.segments); n != 1 {
		t.Fatalf("%d segments before the records' timestamps passed segment.ms, want 1", n)
	}
	appendBatches(t, l, 1, 2, ts+61*time.Minute.Milliseconds(), 10)
	if n := len(l.segments); n != 2 {
		t.Fatalf("%d segments after the records' timestamps passed segment.ms, want 2 (rolled)", n)
	}

	// No timestamp on the first batch: the clock decides.
	untimed := func() { mustAppend(t, l, buildBatch(t, l.NextOffset(), 1, -1, 10)) }
	l.Roll()
	untimed()
	clock.advance(59 * time.Minute)
	untimed()
	if n := len(l.segments); n != 3 {
		t.Fatalf("%d segments before segment.ms passed on the clock, want 3", n)
	}
	clock.advance(2 * time.Minute)
	untimed()
	if n := len(l.segments); n != 4 {
		t.Fatalf("%d segments after segment.ms passed on the clock, want 4 (rolled)", n)
	}
}

// log.flush.interval.ms fsyncs once the interval passes on the log's
// clock, and not before.
func TestFlushIntervalOnTheLogsClock(t *testing.T) {
	clock := &fakeClock{now: time.UnixMilli(1_700_000_000_000)}
	cfg := testConfig()
	cfg.FlushInterval = time.Second
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{Clock: clock.Now})
	appendBatches(t, l, 3, 2, clock.now.UnixMilli(), 10)
	if err := l.FlushIfDue(); err != nil {
		t.Fatal(err)
	}
	if rp := l.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d before the flush interval passed, want 0", rp)
	}
	clock.advance(time.Second)
	if err := l.FlushIfDue(); err != nil {
		t.Fatal(err)
	}
	if rp := l.RecoveryPoint(); rp != 6 {
		t.Fatalf("recovery point %d after the flush interval, want 6", rp)
	}
}

// After a restart the active segment still rolls by its first batch's
// timestamp (read back on open), not from when it was opened.
func TestSegmentRollAgeSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: time.UnixMilli(1_700_000_000_000)}
	cfg := DefaultConfig()
	cfg.SegmentRoll = time.Hour
	l := openTestLog(t, dir, cfg, OpenOptions{Clock: clock.Now})
	ts := clock.now.UnixMilli()
	appendBatches(t, l, 1, 2, ts, 10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openTestLog(t, dir, cfg, OpenOptions{Clean: true, RecoveryPoint: 2, Clock: clock.Now})
	appendBatches(t, l2, 1, 2, ts+61*time.Minute.Milliseconds(), 10)
	if n := len(l2.segments); n != 2 {
		t.Fatalf("%d segments after an append 61 minutes past the reopened segment's first batch, want 2 (rolled)", n)
	}
}
