package protocol

import (
	"testing"
	"time"
)

// A bucket lets a second's worth through at once, then one per 1/rate;
// unbounded lets everything through; a rate change keeps what is owed.
func TestConnRate(t *testing.T) {
	var r connRate
	r.set(10)
	now := time.Unix(1000, 0)
	for i := range 10 {
		if d := r.take(now); d != 0 {
			t.Fatalf("connection %d of the first second waits %v", i, d)
		}
	}
	if d := r.take(now); d != 100*time.Millisecond {
		t.Fatalf("the 11th connection at once waits %v, want 100ms", d)
	}
	if d := r.take(now.Add(100 * time.Millisecond)); d != 100*time.Millisecond {
		t.Fatalf("the 12th, 100ms later, waits %v, want 100ms", d)
	}
	if d := r.take(now.Add(2 * time.Second)); d != 0 {
		t.Fatalf("after the bucket refilled: waits %v", d)
	}
	r.set(0)
	for range 100 {
		if d := r.take(now); d != 0 {
			t.Fatalf("unbounded waits %v", d)
		}
	}
	var c connRates
	c.set(Options{MaxConnectionCreationRate: 1, ListenerConnectionCreationRate: map[string]int{"INTERNAL": 2}})
	c.wait("EXTERNAL", false)
	if d := c.wait("EXTERNAL", false); d <= 0 {
		t.Fatal("the second connection of a broker bounded at 1/s did not wait")
	}
	if d := c.wait("INTERNAL", true); d != 0 {
		t.Fatalf("the inter-broker listener's first connection waits %v (it is bound by its own rate only)", d)
	}
	c.wait("INTERNAL", true)
	if d := c.wait("INTERNAL", true); d <= 0 {
		t.Fatal("the inter-broker listener's third connection at 2/s did not wait")
	}
}
