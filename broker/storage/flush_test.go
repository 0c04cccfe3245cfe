package storage

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"gregor/internal/wait"
)

// gatedFS is the real filesystem whose segment (.log) fsyncs wait for
// open to be closed, or fail with EIO while fail is set.
type gatedFS struct {
	OSFS
	open    chan struct{}
	fail    *atomic.Bool
	waiting *atomic.Int32 // fsyncs waiting at the gate
}

func newGatedFS() gatedFS {
	return gatedFS{open: make(chan struct{}), fail: &atomic.Bool{}, waiting: &atomic.Int32{}}
}

func (g gatedFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := g.OSFS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return gatedFile{File: f, g: g}, nil
}

type gatedFile struct {
	File
	g gatedFS
}

func (f gatedFile) Sync() error {
	if f.g.fail.Load() {
		return syscall.EIO
	}
	f.g.waiting.Add(1)
	<-f.g.open
	f.g.waiting.Add(-1)
	return f.File.Sync()
}

func smallSegments() Config {
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 10
	return cfg
}

// TestRollDoesNotSyncOnTheAppendPath: rolling a segment queues its fsync
// for the background flusher (Kafka's flush-log task), so an append that
// rolls returns while the fsync of the full segment is still waiting, and
// the recovery point passes the segment only once it is synced.
func TestRollDoesNotSyncOnTheAppendPath(t *testing.T) {
	g := newGatedFS()
	l, err := Open(g, t.TempDir(), smallSegments(), OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() { once.Do(func() { close(g.open) }) }
	defer func() { release(); l.Close() }()

	done := make(chan struct{})
	go func() {
		defer close(done)
		appendBatches(t, l, 20, 4, 1000, 200) // ~17 KB: several rolls
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("appends that roll segments waited for the rolled segments' fsync")
	}
	if n := len(segmentFiles(t, l.dir, ".log")); n < 3 {
		t.Fatalf("%d segments after 17 KB in 4 KB segments, want several", n)
	}
	wait.For(t, "the flusher to reach the gated fsync", 10*time.Second, func() bool { return g.waiting.Load() > 0 })
	if rp := l.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d while no rolled segment is synced, want 0", rp)
	}
	release()
	last := l.segments[len(l.segments)-1].base
	wait.For(t, "the recovery point to pass the rolled segments", 10*time.Second, func() bool { return l.RecoveryPoint() == last })
}

// TestFailedRollFlushKeepsTheRecoveryPoint: a rolled segment whose fsync
// fails does not move the recovery point (a crash would have to recover
// it); a later explicit flush syncs it and moves the point to the log end.
func TestFailedRollFlushKeepsTheRecoveryPoint(t *testing.T) {
	g := newGatedFS()
	close(g.open)
	g.fail.Store(true)
	l, err := Open(g, t.TempDir(), smallSegments(), OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendBatches(t, l, 20, 4, 1000, 200)
	waitFlusherIdle(t, l)
	if rp := l.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d after every rolled segment's fsync failed, want 0", rp)
	}
	if err := l.Flush(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("flush with failing fsyncs: %v, want EIO", err)
	}
	g.fail.Store(false)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if rp, next := l.RecoveryPoint(), l.NextOffset(); rp != next {
		t.Fatalf("recovery point %d after a flush, want the log end %d", rp, next)
	}
}

// TestCloseSyncsRolledSegments: closing a log whose rolled segments are
// still queued syncs them, so the clean-shutdown recovery point (the log
// end) is true.
func TestCloseSyncsRolledSegments(t *testing.T) {
	g := newGatedFS()
	l, err := Open(g, t.TempDir(), smallSegments(), OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	appendBatches(t, l, 20, 4, 1000, 200)
	wait.For(t, "the flusher to reach the gated fsync", 10*time.Second, func() bool { return g.waiting.Load() > 0 })
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	// Close syncs the rolled segment itself: a second fsync waits.
	wait.For(t, "close to sync the rolled segments", 10*time.Second, func() bool { return g.waiting.Load() >= 2 })
	select {
	case err := <-closed:
		t.Fatalf("close returned (%v) before the rolled segments were synced", err)
	default:
	}
	close(g.open)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if rp, next := l.RecoveryPoint(), l.NextOffset(); rp != next {
		t.Fatalf("recovery point %d after close, want the log end %d", rp, next)
	}
}

// waitFlusherIdle waits for the background flusher to end (it holds a
// reference to the files it syncs).
func waitFlusherIdle(t *testing.T, l *Log) {
	t.Helper()
	wait.For(t, "the background flusher to end", 10*time.Second, func() bool {
		l.mu.RLock()
		defer l.mu.RUnlock()
		return !l.flushing
	})
}

// TestRolledFlushesAreBounded: many logs rolling together sync through a
// bounded number of flushes at once (each fsync holds an OS thread), and
// every recovery point still passes its rolled segment.
func TestRolledFlushesAreBounded(t *testing.T) {
	g := newGatedFS()
	var logs []*Log
	for i := 0; i < 3*cap(flushSlots); i++ {
		l, err := Open(g, t.TempDir(), smallSegments(), OpenOptions{}, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		appendBatches(t, l, 6, 4, 1000, 200) // one roll
		logs = append(logs, l)
	}
	wait.For(t, "every flush slot taken by a gated fsync", 10*time.Second, func() bool {
		return len(flushSlots) == cap(flushSlots) && int(g.waiting.Load()) == cap(flushSlots)
	})
	if n := g.waiting.Load(); int(n) != cap(flushSlots) {
		t.Fatalf("%d fsyncs at once for %d rolling logs, want at most %d", n, len(logs), cap(flushSlots))
	}
	close(g.open)
	for i, l := range logs {
		last := l.segments[len(l.segments)-1].base
		wait.For(t, fmt.Sprintf("log %d's recovery point to pass its rolled segment", i), 10*time.Second, func() bool { return l.RecoveryPoint() == last })
	}
}

// TestCloseHandlesWritesNothing: the log of a failed dir is closed without
// an fsync (its disk may stall every one), unlike Close.
func TestCloseHandlesWritesNothing(t *testing.T) {
	g := newGatedFS()
	l, err := Open(g, t.TempDir(), testConfig(), OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer close(g.open)
	appendBatches(t, l, 3, 4, 100, 200)
	done := make(chan error, 1)
	go func() { done <- l.CloseHandles() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("CloseHandles waited for an fsync")
	}
	if n := g.waiting.Load(); n != 0 {
		t.Fatalf("%d fsyncs started by CloseHandles, want none", n)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close after CloseHandles: %v", err)
	}
}
