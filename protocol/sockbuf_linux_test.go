package protocol

import (
	"net"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
)

// capturing hands the server's accepted connections to the test.
type capturing struct {
	net.Listener
	conns chan net.Conn
}

func (l capturing) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err == nil {
		l.conns <- nc
	}
	return nc, err
}

// sockopt reads a SOL_SOCKET option of a connection or listener.
func sockopt(t *testing.T, sc any, opt int) int {
	t.Helper()
	raw, err := sc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	raw.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, opt) })
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// TestSocketBuffers: socket.send.buffer.bytes and
// socket.receive.buffer.bytes set SO_SNDBUF and SO_RCVBUF of accepted
// connections (Linux reports twice what was set).
func TestSocketBuffers(t *testing.T) {
	s := NewServer(NewRegistry(), zerolog.Nop())
	s.Options.SendBuffer, s.Options.ReceiveBuffer = 200_000, 300_000
	t.Cleanup(s.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := capturing{ln, make(chan net.Conn, 1)}
	if err := s.ServeSecure(cl, "PLAINTEXT", nil); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nc := <-cl.conns
	waitFor(t, "SO_SNDBUF and SO_RCVBUF set on the accepted connection", func() bool {
		return sockopt(t, nc, syscall.SO_SNDBUF) == 400_000 && sockopt(t, nc, syscall.SO_RCVBUF) == 600_000
	})
}

// TestListenTCPSetsReceiveBufferBeforeAccept: ListenTCP sets SO_RCVBUF on
// the listening socket, as Kafka's acceptor does, so a connection has it
// from its handshake (its window scale and first window fit it), before
// the server's own setting after accept.
func TestListenTCPSetsReceiveBufferBeforeAccept(t *testing.T) {
	ln, err := ListenTCP("127.0.0.1:0", 300_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := sockopt(t, ln, syscall.SO_RCVBUF); got != 600_000 {
		t.Fatalf("listening socket SO_RCVBUF %d, want 600000", got)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := sockopt(t, nc, syscall.SO_RCVBUF); got != 600_000 {
		t.Fatalf("accepted connection SO_RCVBUF %d, want 600000 inherited from the listener", got)
	}
	plain, err := ListenTCP("127.0.0.1:0", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if got := sockopt(t, plain, syscall.SO_RCVBUF); got == 600_000 {
		t.Fatal("ListenTCP with no receive buffer set SO_RCVBUF")
	}
}

// ReceiveBufferControl sets SO_RCVBUF on a dialled connection before its
// handshake (a follower's replica.socket.receive.buffer.bytes); 0 leaves
// the OS's.
func TestReceiveBufferControlOnDial(t *testing.T) {
	ln, err := ListenTCP("127.0.0.1:0", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Control: ReceiveBufferControl(300_000)}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := sockopt(t, c, syscall.SO_RCVBUF); got != 600_000 {
		t.Fatalf("dialled connection SO_RCVBUF %d, want 600000", got)
	}
	if ReceiveBufferControl(0) != nil || ReceiveBufferControl(-1) != nil {
		t.Fatal("a Control for no receive buffer")
	}
}
