//go:build !unix

package protocol

import "syscall"

// setReceiveBuffer leaves the receive buffer to the connections (set after
// accept) where sockets are not Unix's.
func setReceiveBuffer(syscall.RawConn, int) error { return nil }

// setBacklog leaves the backlog as Go set it where sockets are not Unix's.
func setBacklog(syscall.RawConn, int) error { return nil }
