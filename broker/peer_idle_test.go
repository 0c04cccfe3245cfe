package broker

import (
	"net"
	"testing"
	"time"
)

// TestIdlePeerConnectionsClosed: kept connections to other brokers are
// closed once idle for connections.max.idle.ms, as Kafka's inter-broker
// NetworkClient (its Selector) closes idle connections; Gregor kept up to
// four per broker for ever, so connections to brokers that left the
// cluster (or that closed them as idle themselves) held their sockets.
func TestIdlePeerConnectionsClosed(t *testing.T) {
	var pp peerPool
	t0 := time.Unix(1000, 0)
	var far []net.Conn
	for id := int32(100); id < 150; id++ {
		a, b := net.Pipe()
		far = append(far, b)
		pp.putAt(&peerConn{id: id, conn: a}, t0)
	}
	idle := 10 * time.Minute
	pp.sweep(t0.Add(idle-time.Second), idle)
	if n := pp.count(); n != 50 {
		t.Fatalf("%d idle connections before connections.max.idle.ms, want 50", n)
	}
	a, b := net.Pipe()
	defer b.Close()
	pp.putAt(&peerConn{id: 100, conn: a}, t0.Add(idle-time.Second))
	pp.sweep(t0.Add(idle+time.Second), idle)
	pp.mu.Lock()
	ids := len(pp.idle)
	pp.mu.Unlock()
	if n := pp.count(); n != 1 || ids != 1 {
		t.Fatalf("%d idle connections for %d brokers after connections.max.idle.ms, want the one put later", n, ids)
	}
	for i, c := range far {
		if _, err := c.Write([]byte{0}); err == nil {
			t.Fatalf("connection %d still open", i)
		}
	}
	if c := pp.take(100); c == nil || c.conn != a {
		t.Fatal("the connection put later was not kept")
	}
	// No idle limit (connections.max.idle.ms -1): kept.
	pp.putAt(&peerConn{id: 7, conn: a}, t0)
	pp.sweep(t0.Add(1000*time.Hour), -1)
	if n := pp.count(); n != 1 {
		t.Fatalf("%d idle connections with no idle limit, want 1", n)
	}
}
