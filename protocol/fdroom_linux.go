//go:build linux

package protocol

import (
	"encoding/binary"
	"syscall"
)

// countFDs counts the process's open file descriptors (the entries of
// /proc/self/fd, read without allocating) and returns its RLIMIT_NOFILE.
func countFDs() (open, limit int, ok bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<31 {
		return 0, 0, false
	}
	fd, err := syscall.Open("/proc/self/fd", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err == syscall.EMFILE || err == syscall.ENFILE {
		// No descriptor left to count them with: full.
		return int(rl.Cur), int(rl.Cur), true
	}
	if err != nil {
		return 0, 0, false
	}
	defer syscall.Close(fd)
	var buf [16 << 10]byte
	for {
		n, err := syscall.Getdents(fd, buf[:])
		if err != nil {
			return 0, 0, false
		}
		if n <= 0 {
			break
		}
		for off := 0; off < n; {
			// linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			if reclen == 0 {
				return 0, 0, false
			}
			if name := buf[off+19]; name != '.' {
				open++
			}
			off += reclen
		}
	}
	// The directory read was open while counting.
	return open - 1, int(rl.Cur), true
}
