//go:build unix

package protocol

import "syscall"

// setReceiveBuffer sets SO_RCVBUF on a socket.
func setReceiveBuffer(c syscall.RawConn, n int) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
	}); err != nil {
		return err
	}
	return serr
}

// setBacklog listens again with a new backlog: on a listening socket,
// listen(2) only changes the backlog.
func setBacklog(c syscall.RawConn, n int) error {
	var serr error
	if err := c.Control(func(fd uintptr) { serr = syscall.Listen(int(fd), n) }); err != nil {
		return err
	}
	return serr
}
