package protocol

import (
	"errors"
	"net"
	"testing"
	"time"
)

// The rates are Kafka's sensors over 11 windows of a second: a fresh one
// lets ten seconds' worth through at once, then each connection waits
// what brings the measured rate back to the bound (at most a window); the
// windows roll; an unbounded rate still counts, so a rate set later sees
// the connections before it; the inter-broker listener counts against
// its own rate only.
func TestConnRates(t *testing.T) {
	var c connRates
	c.set(Options{MaxConnectionCreationRate: 10})
	const t0 = 1_000_000
	for i := range 100 {
		if d := c.wait("EXTERNAL", false, t0); d != 0 {
			t.Fatalf("connection %d of the first 100 at 10/s waits %v", i+1, d)
		}
	}
	// 101 over the minimum span of ten windows is 10.1/s: 1% over, so
	// 1% of the span.
	if d := c.wait("EXTERNAL", false, t0); d != 100*time.Millisecond {
		t.Fatalf("the 101st waits %v, want 100ms", d)
	}
	// 102 over 10.1s, 100ms later: 100ms again.
	if d := c.wait("EXTERNAL", false, t0+100); d != 100*time.Millisecond {
		t.Fatalf("the 102nd, 100ms later, waits %v, want 100ms", d)
	}
	for range 100 {
		c.wait("EXTERNAL", false, t0+200)
	}
	if d := c.wait("EXTERNAL", false, t0+200); d != time.Second {
		t.Fatalf("far over the rate, a connection waits %v, want the one-window cap", d)
	}
	// A window counts until its latest event is out of the windows'
	// span (Kafka 3.8+'s SampledStat): the one at t0 still does 10.8s
	// after its last connection, not 11s after.
	if d := c.wait("EXTERNAL", false, t0+11_000); d == 0 {
		t.Fatal("11s after the first window began, 10.8s after its last connection, a connection did not wait")
	}
	if d := c.wait("EXTERNAL", false, t0+11_200); d != 0 {
		t.Fatalf("after the windows rolled past the last connection, a connection waits %v", d)
	}

	// Unbounded: nothing waits, but everything counts.
	var u connRates
	u.set(Options{})
	for range 50 {
		if d := u.wait("EXTERNAL", false, t0); d != 0 {
			t.Fatalf("unbounded waits %v", d)
		}
	}
	u.set(Options{MaxConnectionCreationRate: 1})
	if d := u.wait("EXTERNAL", false, t0); d != time.Second {
		t.Fatalf("after 50 connections, a rate of 1/s set: the next waits %v, want the one-window cap", d)
	}

	// The inter-broker listener's own rate; the broker-wide one does not
	// count it.
	var p connRates
	p.set(Options{MaxConnectionCreationRate: 1, ListenerConnectionCreationRate: map[string]int{"INTERNAL": 2}})
	for i := range 20 {
		if d := p.wait("INTERNAL", true, t0); d != 0 {
			t.Fatalf("inter-broker connection %d of 20 at 2/s waits %v", i+1, d)
		}
	}
	if d := p.wait("INTERNAL", true, t0); d <= 0 {
		t.Fatal("the 21st inter-broker connection at 2/s did not wait")
	}
	for i := range 10 {
		if d := p.wait("EXTERNAL", false, t0); d != 0 {
			t.Fatalf("client connection %d of 10 at 1/s waits %v (inter-broker ones counted?)", i+1, d)
		}
	}
	if d := p.wait("EXTERNAL", false, t0); d <= 0 {
		t.Fatal("the 11th client connection at 1/s did not wait")
	}

	// An IP over its rate is uncounted everywhere.
	var q connRates
	q.set(Options{MaxConnectionCreationRate: 2})
	q.setIP(0, map[string]int{"10.0.0.1": 1})
	for i := range 10 {
		if d := q.ipThrottle("10.0.0.1", "EXTERNAL", false, t0); d != 0 {
			t.Fatalf("connection %d of 10 from an IP at 1/s throttled %v", i+1, d)
		}
		q.wait("EXTERNAL", false, t0)
	}
	for range 5 {
		q.wait("EXTERNAL", false, t0)
		if d := q.ipThrottle("10.0.0.1", "EXTERNAL", false, t0); d != time.Second {
			t.Fatalf("the 11th from the IP: throttled %v, want a second", d)
		}
	}
	// 10 counted of the broker's 20 at once.
	for i := range 10 {
		if d := q.wait("EXTERNAL", false, t0); d != 0 {
			t.Fatalf("broker-wide connection %d after the IP's refused ones waits %v (they were counted)", 11+i, d)
		}
	}
	if d := q.ipThrottle("10.0.0.2", "EXTERNAL", false, t0); d != 0 {
		t.Fatalf("an IP without a rate throttled %v", d)
	}
}

// A connection over its IP's connection_creation_rate is held for the
// throttle time and then closed unanswered, as Kafka's acceptor does;
// other IPs are not affected unless the default entity's rate covers
// them.
func TestIPConnectionCreationRate(t *testing.T) {
	// Two windows of a second: a second's worth passes at once.
	s, addr := startServerWith(t, heartbeatRegistry(), func(o *Options) { o.ConnectionRateSamples, o.ConnectionRateWindow = 2, time.Second })
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
		t.Fatalf("the throttled connection was closed after %v, beyond the one-window cap", held)
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
