package protocol

import (
	"errors"
	"net"
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

// A connection over its IP's connection_creation_rate is held for the
// throttle time and then closed unanswered, as Kafka's acceptor does;
// other IPs are not affected unless the default entity's rate covers
// them.
func TestIPConnectionCreationRate(t *testing.T) {
	s, addr := startServerWith(t, heartbeatRegistry(), func(o *Options) { o.IPConnectionThrottleMax = 300 * time.Millisecond })
	s.SetIPConnectionRates(0, map[string]int{"127.0.0.7": 2})
	for i := range 2 {
		if _, ok := served(t, addr, "127.0.0.7"); !ok {
			t.Fatalf("connection %d from 127.0.0.7 at a rate of 2 was not served", i+1)
		}
	}
	over := sendAPIVersions(t, addr, "127.0.0.7")
	over.SetReadDeadline(time.Now().Add(ioTimeout))
	start := time.Now()
	n, err := over.Read(make([]byte, 4))
	if n > 0 || err == nil || isDeadline(err) {
		t.Fatalf("the third connection from 127.0.0.7 in a second: read %d bytes, %v; want it closed unanswered", n, err)
	}
	if held := time.Since(start); held > 3*time.Second {
		t.Fatalf("the throttled connection was closed after %v, beyond the 300ms bound", held)
	}
	waitFor(t, "ConnsThrottled to reach 1", func() bool { return s.Stats.ConnsThrottled.Load() == 1 })
	if _, ok := served(t, addr, "127.0.0.8"); !ok {
		t.Fatal("a connection from an IP without a rate was not served")
	}
	// The default entity's rate covers every IP without its own.
	s.SetIPConnectionRates(1, map[string]int{"127.0.0.7": 2})
	if _, ok := served(t, addr, "127.0.0.9"); !ok {
		t.Fatal("the first connection from 127.0.0.9 at the default rate of 1 was not served")
	}
	if _, ok := served(t, addr, "127.0.0.9"); ok {
		t.Fatal("a second connection from 127.0.0.9 in a second was served at the default rate of 1")
	}
	waitFor(t, "ConnsThrottled to reach 2", func() bool { return s.Stats.ConnsThrottled.Load() == 2 })
}

func isDeadline(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
