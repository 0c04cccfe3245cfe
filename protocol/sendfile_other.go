//go:build !linux

package protocol

import (
	"errors"
	"os"
	"syscall"
)

const sendfileSupported = false

func sendFile(raw syscall.RawConn, f *os.File, pos int64, n int) error {
	return errors.New("sendfile is not supported here")
}
