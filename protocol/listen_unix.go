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
