package broker

import (
	"testing"
	"time"
)

// A followed partition that keeps failing with retriable errors is warned
// about once it has failed for longer than the ISR tolerates, then at most
// once per repeat interval, and its recovery is reported once.
func TestTroublesWarnAfterLagThenRepeat(t *testing.T) {
	ts := newTroubles(10*time.Second, time.Minute)
	p, q := &Partition{}, &Partition{}
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	for _, d := range []time.Duration{0, time.Second, 9 * time.Second} {
		if warn, _, _ := ts.failed(p, at(d)); warn {
			t.Fatalf("warned %v after the first failure, before replica.lag.time.max", d)
		}
	}
	warn, failing, n := ts.failed(p, at(10*time.Second))
	if !warn || failing != 10*time.Second || n != 4 {
		t.Fatalf("at 10s: warn=%v failing=%v count=%d, want a warning after 10s and 4 failures", warn, failing, n)
	}
	if warn, _, _ := ts.failed(p, at(30*time.Second)); warn {
		t.Fatal("warned again 20s after the first warning; want at most once a minute")
	}
	if warn, _, _ := ts.failed(p, at(70*time.Second)); !warn {
		t.Fatal("no second warning a minute after the first")
	}
	// Another partition's failures are its own.
	if warn, _, _ := ts.failed(q, at(70*time.Second)); warn {
		t.Fatal("a partition's first failure warned")
	}
	if rec, d := ts.succeeded(p, at(75*time.Second)); !rec || d != 75*time.Second {
		t.Fatalf("recovery: recovered=%v after %v, want true after 75s", rec, d)
	}
	if rec, _ := ts.succeeded(q, at(75*time.Second)); rec {
		t.Fatal("recovery reported for a partition never warned about")
	}
	// A success starts the count again.
	if warn, _, _ := ts.failed(p, at(76*time.Second)); warn {
		t.Fatal("warned on the first failure after a success")
	}
	ts.forget(map[*Partition]bool{})
	if len(ts.byPart) != 0 {
		t.Fatalf("forget kept %d partitions no longer followed", len(ts.byPart))
	}
}
