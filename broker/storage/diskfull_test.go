package storage

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
)

// fullFS is the real filesystem whose writes fail with ENOSPC while full
// is set, after writing half of what was asked (a short write, as a full
// disk gives).
type fullFS struct {
	OSFS
	full *atomic.Bool
}

func (f fullFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return fullFile{File: file, full: f.full}, nil
}

type fullFile struct {
	File
	full *atomic.Bool
}

func (f fullFile) WriteAt(b []byte, off int64) (int, error) {
	if f.full.Load() {
		n, _ := f.File.WriteAt(b[:len(b)/2], off)
		return n, syscall.ENOSPC
	}
	return f.File.WriteAt(b, off)
}

// TestAppendOnFullDiskLeavesTheLogIntact: a failed append (disk full) is
// reported, changes nothing readable, leaves no partial batch behind, and
// appends work again once there is space; a reopened log is whole.
func TestAppendOnFullDiskLeavesTheLogIntact(t *testing.T) {
	dir := t.TempDir()
	full := &atomic.Bool{}
	l, err := Open(fullFS{full: full}, dir, testConfig(), OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	before := appendBatches(t, l, 3, 4, 1000, 64)
	full.Store(true)
	next := l.NextOffset()
	b := buildBatch(t, next, 4, 2000, 64)
	if err := l.Append(b, appendInfoFor(t, b)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ENOSPC", err)
	}
	if l.NextOffset() != next {
		t.Fatalf("log end moved to %d after a failed append (was %d)", l.NextOffset(), next)
	}
	sameBatches(t, readAll(t, l), before)
	full.Store(false)
	after := appendBatches(t, l, 2, 4, 3000, 64)
	want := append(before, after...)
	sameBatches(t, readAll(t, l), want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openTestLog(t, dir, testConfig(), OpenOptions{})
	sameBatches(t, readAll(t, l2), want)
}
