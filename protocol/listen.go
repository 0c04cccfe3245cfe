package protocol

import (
	"context"
	"fmt"
	"net"
	"syscall"
)

// ListenTCP binds a listening socket. A receive buffer (> 0) is set on the
// listening socket itself, as Kafka's acceptor sets
// socket.receive.buffer.bytes before it binds: connections inherit it
// from their first segment, so the window scale a client is offered in
// the handshake fits the buffer (set only after accept, a buffer larger
// than the default could not be used in full). A backlog (> 0) replaces
// the one Go listens with (the kernel's maximum), as Kafka binds with
// socket.listen.backlog.size.
func ListenTCP(addr string, receiveBuffer, backlog int) (net.Listener, error) {
	lc := net.ListenConfig{Control: ReceiveBufferControl(receiveBuffer)}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil || backlog <= 0 {
		return ln, err
	}
	if tl, ok := ln.(*net.TCPListener); ok {
		rc, err := tl.SyscallConn()
		if err == nil {
			err = setBacklog(rc, backlog)
		}
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("setting the listen backlog to %d: %w", backlog, err)
		}
	}
	return ln, nil
}

// ReceiveBufferControl is a net.Dialer Control that sets SO_RCVBUF (> 0)
// before the connection's handshake, so the window scale offered fits it;
// nil for 0 or less.
func ReceiveBufferControl(n int) func(network, address string, c syscall.RawConn) error {
	if n <= 0 {
		return nil
	}
	return func(_, _ string, c syscall.RawConn) error { return setReceiveBuffer(c, n) }
}
