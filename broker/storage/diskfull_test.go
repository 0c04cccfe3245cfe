package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/rs/zerolog"

	"gregor/broker/records"
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

// noCheckpointFS is the real filesystem that cannot create the leader
// epoch checkpoint's temporary file while refuse is set.
type noCheckpointFS struct {
	OSFS
	refuse *atomic.Bool
}

func (f noCheckpointFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if f.refuse.Load() && strings.Contains(filepath.Base(name), epochFile) {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.ENOSPC}
	}
	return f.OSFS.OpenFile(name, flag, perm)
}

// A new leader's first append writes its epoch to the checkpoint before
// the records: where that write fails (a full disk), the append fails
// with no record in the log, so the producer's retry finds no copy. The
// records were written first, and a failed append left them in the log.
func TestAppendWhoseEpochCannotBeWrittenLeavesNoRecords(t *testing.T) {
	dir := t.TempDir()
	refuse := &atomic.Bool{}
	l, err := Open(noCheckpointFS{refuse: refuse}, dir, testConfig(), OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	b := buildBatch(t, 0, 4, 1000, 64)
	records.SetLeaderEpoch(b, 0)
	mustAppend(t, l, b)
	l.AssignEpoch(1, l.NextOffset()) // a new leader
	refuse.Store(true)
	next := l.NextOffset()
	b = buildBatch(t, next, 4, 2000, 64)
	records.SetLeaderEpoch(b, 1)
	if err := l.Append(b, appendInfoFor(t, b)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append whose epoch cannot be written: %v, want ENOSPC", err)
	}
	if l.NextOffset() != next {
		t.Fatalf("log end moved to %d after a failed append (was %d)", l.NextOffset(), next)
	}
	refuse.Store(false)
	mustAppend(t, l, b) // the retry
	if got := len(readAll(t, l)); got != 2 {
		t.Fatalf("%d batches in the log after the retry, want 2", got)
	}
	if e, end := l.EndOffsetForEpoch(0); e != 0 || end != next {
		t.Fatalf("epoch 0 ends at (%d, %d), want (0, %d)", e, end, next)
	}
}
