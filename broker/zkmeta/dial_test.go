package zkmeta_test

import (
	"net"
	"testing"
	"time"

	"gregor/broker/zkmeta"
)

// TestDialerDropsSilentServer: a server that accepts the session request's
// connection and never answers (ZooKeeper while it starts) is given up in
// about one receive timeout, not go-zookeeper's ten, and the next attempt
// is made.
func TestDialerDropsSilentServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never answered
		}
	}()
	const session = 3 * time.Second // receive timeout 2 s; ten of them 20 s
	c, _, err := zkmeta.Connect([]string{l.Addr().String()}, session, nopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first := <-accepted
	defer first.Close()
	start := time.Now()
	select {
	case second := <-accepted:
		second.Close()
		if took := time.Since(start); took > 2*session {
			t.Fatalf("reconnected after %v, want about %v", took, session*2/3)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client still waits on a silent connection after 10 s (no second connection attempt)")
	}
}
