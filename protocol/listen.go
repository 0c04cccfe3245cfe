package protocol

import (
	"context"
	"net"
	"syscall"
)

// ListenTCP binds a listening socket. A receive buffer (> 0) is set on the
// listening socket itself, as Kafka's acceptor sets
// socket.receive.buffer.bytes before it binds: connections inherit it
// from their first segment, so the window scale a client is offered in
// the handshake fits the buffer (set only after accept, a buffer larger
// than the default could not be used in full).
func ListenTCP(addr string, receiveBuffer int) (net.Listener, error) {
	lc := net.ListenConfig{}
	if receiveBuffer > 0 {
		lc.Control = func(_, _ string, c syscall.RawConn) error { return setReceiveBuffer(c, receiveBuffer) }
	}
	return lc.Listen(context.Background(), "tcp", addr)
}
