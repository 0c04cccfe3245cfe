//go:build linux || darwin || freebsd || netbsd || openbsd

package storage

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// lockFile takes an exclusive POSIX record lock (fcntl F_SETLK) of the
// whole file, the kind Java's FileChannel.tryLock takes, so a Kafka broker
// on the same dir is excluded too.
func lockFile(f *os.File) error {
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart}
	err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk)
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) {
		return ErrDirLocked
	}
	return err
}
