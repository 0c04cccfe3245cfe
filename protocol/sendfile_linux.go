package protocol

import (
	"os"
	"syscall"
)

const sendfileSupported = true

// sendFile sends n bytes of f from pos to the socket behind raw with
// sendfile(2), passing the position explicitly (the file's own offset is
// neither used nor moved, so concurrent sends of one file do not race).
// It waits for the socket to be writable when it would block, honouring
// the connection's write deadline. A file that ends before pos+n is an
// error: nothing past what was advertised is ever sent, and a short frame
// must close the connection.
func sendFile(raw syscall.RawConn, f *os.File, pos int64, n int) error {
	fc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	written := 0
	cerr := fc.Control(func(infd uintptr) {
		werr := raw.Write(func(outfd uintptr) bool {
			for written < n {
				off := pos + int64(written)
				m, err := syscall.Sendfile(int(outfd), int(infd), &off, min(n-written, 1<<30))
				if m > 0 {
					written += m
				}
				switch {
				case err == syscall.EINTR:
					continue
				case err == syscall.EAGAIN:
					return false // wait until writable
				case err != nil:
					serr = os.NewSyscallError("sendfile", err)
					return true
				case m == 0:
					serr = errShortRange
					return true
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
	})
	if serr != nil {
		return serr
	}
	return cerr
}
