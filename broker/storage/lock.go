package storage

import (
	"errors"
	"os"
	"path/filepath"
)

// LockFile is the file through which a log dir is locked while a broker
// uses it: Kafka's LogManager.LockFileName.
const LockFile = ".lock"

// ErrDirLocked says another process holds a log dir's lock.
var ErrDirLocked = errors.New("log dir locked by another process")

// DirLock is a log dir's lock, held until Release.
type DirLock struct {
	f *os.File
}

// LockDir makes the log dir at path if it is missing and takes its lock:
// an exclusive lock of <path>/.lock, which Kafka's LogManager.lockLogDirs
// takes too, so that two brokers (Gregor or Kafka) never use one dir at
// once. ErrDirLocked if another process holds it. The lock belongs to the
// process: LockDir twice in one process does not see the first lock.
func LockDir(fs FS, path string) (*DirLock, error) {
	if err := fs.MkdirAll(path, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(path, LockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	return &DirLock{f: f}, nil
}

// Release gives the lock up.
func (l *DirLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
