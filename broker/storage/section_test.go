package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// sectionBytes reads a section whole without releasing it.
func sectionBytes(t *testing.T, s *Section) []byte {
	t.Helper()
	buf := make([]byte, s.Len())
	if _, err := s.ReadAt(buf, 0); err != nil {
		t.Fatalf("reading a section: %v", err)
	}
	return buf
}

func TestReadSectionMatchesRead(t *testing.T) {
	cfg := testConfig()
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	appendBatches(t, l, 20, 3, 1000, 100)
	for _, tc := range []struct {
		off, limit int64
		max        int32
		minOne     bool
	}{{0, 1 << 62, 1 << 20, true}, {4, 1 << 62, 500, true}, {4, 1 << 62, 10, true}, {4, 1 << 62, 10, false}, {7, 30, 1 << 20, true}, {59, 1 << 62, 1 << 20, true}, {60, 1 << 62, 1 << 20, true}} {
		want, err := l.Read(tc.off, tc.limit, tc.max, tc.minOne)
		if err != nil {
			t.Fatal(err)
		}
		sec, err := l.ReadSection(tc.off, tc.limit, tc.max, tc.minOne)
		if err != nil {
			t.Fatal(err)
		}
		if sec == nil {
			if len(want) != 0 {
				t.Fatalf("%+v: no section, Read has %d bytes", tc, len(want))
			}
			continue
		}
		if got := sectionBytes(t, sec); !bytes.Equal(got, want) {
			t.Fatalf("%+v: section of %d bytes, Read %d", tc, len(got), len(want))
		}
		sec.Release()
		sec.Release() // harmless
	}
}

// TestSectionSurvivesTruncation: a follower truncating its divergent
// tail while a response still sends from the segment: the section keeps
// the bytes it had, the log has its new ones.
func TestSectionSurvivesTruncation(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 0
	dir := t.TempDir()
	l := openTestLog(t, dir, cfg, OpenOptions{})
	all := appendBatches(t, l, 6, 2, 1000, 50)
	sec, err := l.ReadSection(4, 1<<62, 1<<20, true)
	if err != nil || sec == nil {
		t.Fatalf("section: %v", err)
	}
	want := bytes.Join(all[2:], nil)
	if err := l.TruncateTo(4); err != nil {
		t.Fatal(err)
	}
	// New, different batches where the old ones were.
	more := appendBatches(t, l, 4, 2, 5000, 80)
	if got := sectionBytes(t, sec); !bytes.Equal(got, want) {
		t.Fatal("the section's bytes changed under truncation and new appends")
	}
	sec.Release()
	sameBatches(t, readAll(t, l), append(all[:2:2], more...))
	if left := segmentFiles(t, dir, ".tmp"); len(left) != 0 {
		t.Fatalf("left %v behind", left)
	}
	// Unshared, truncation cuts in place again; the log reopens whole.
	if err := l.TruncateTo(6); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l2 := openTestLog(t, dir, cfg, OpenOptions{})
	sameBatches(t, readAll(t, l2), append(all[:2:2], more[:1]...))
}

// TestSectionSurvivesRetentionAndClose: segments deleted by retention
// and purged, or a log closed (topic deletion), leave a section readable
// until it is released; the file is closed then.
func TestSectionSurvivesRetentionAndClose(t *testing.T) {
	cfg := testConfig()
	one := int64(len(buildBatch(t, 0, 2, 1000, 10)))
	cfg.SegmentBytes = 2 * one
	cfg.RetentionMs = time.Hour.Milliseconds()
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	now := time.Now()
	old := appendBatches(t, l, 4, 2, now.Add(-2*time.Hour).UnixMilli(), 10)
	appendBatches(t, l, 2, 2, now.UnixMilli(), 10)
	waitFlusherIdle(t, l) // it holds the rolled segments' files meanwhile
	sec, err := l.ReadSection(0, 1<<62, 1<<20, true)
	if err != nil || sec == nil {
		t.Fatalf("section: %v", err)
	}
	f := sec.f
	if n, err := l.ApplyRetention(now, l.NextOffset()); err != nil || n != 2 {
		t.Fatalf("retention: %d segments, %v", n, err)
	}
	l.PurgeRetired(now.Add(cfg.FileDeleteDelay + time.Second))
	if got := sectionBytes(t, sec); !bytes.Equal(got, bytes.Join(old[:2], nil)) {
		t.Fatal("a purged segment's section reads other bytes")
	}
	sec.Release()
	if _, err := f.File.ReadAt(make([]byte, 1), 0); err == nil {
		t.Fatal("the purged segment's file is still open after its last section was released")
	}

	sec, err = l.ReadSection(8, 1<<62, 1<<20, true)
	if err != nil || sec == nil {
		t.Fatalf("section: %v", err)
	}
	l.Close()
	if got := sectionBytes(t, sec); len(got) != sec.Len() {
		t.Fatal("section unreadable after the log closed")
	}
	f = sec.f
	sec.Release()
	if _, err := f.File.ReadAt(make([]byte, 1), 0); err == nil {
		t.Fatal("a closed log's file is still open after its last section was released")
	}
	if _, err := l.ReadSection(8, 1<<62, 1<<20, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("a closed log's section: %v, want ErrClosed", err)
	}
}

// TestSectionReadAllocatesNothingPerBatch: finding the batches of a fetch
// walks headers with a pooled buffer.
func TestSectionReadAllocatesNothingPerBatch(t *testing.T) {
	cfg := testConfig()
	l := openTestLog(t, t.TempDir(), cfg, OpenOptions{})
	appendBatches(t, l, 200, 2, 1000, 100)
	read := func() {
		sec, err := l.ReadSection(10, 1<<62, 1<<20, true)
		if err != nil || sec == nil {
			t.Fatalf("section: %v", err)
		}
		sec.Release()
	}
	read()
	allocs := testing.AllocsPerRun(50, read)
	if allocs > 3 {
		t.Fatalf("%.1f allocations per 190-batch section read, want a few (none per batch)", allocs)
	}
}

// BenchmarkLogRead reads 1 MiB of 1 KiB-record batches from the log: into
// memory (Read), and as a section to send from the file (ReadSection).
func BenchmarkLogRead(b *testing.B) {
	cfg := testConfig()
	l, err := Open(OSFS{}, b.TempDir(), cfg, OpenOptions{}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for l.Size() < 8<<20 {
		next := l.NextOffset()
		mustAppend(b, l, buildBatch(b, next, 16, 1000, 1024))
	}
	b.Run("read", func(b *testing.B) {
		b.SetBytes(1 << 20)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := l.Read(int64(i*16)%l.NextOffset(), 1<<62, 1<<20, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("section", func(b *testing.B) {
		b.SetBytes(1 << 20)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sec, err := l.ReadSection(int64(i*16)%l.NextOffset(), 1<<62, 1<<20, true)
			if err != nil {
				b.Fatal(err)
			}
			sec.Release()
		}
	})
}

// openFiles counts this process's open descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestIdleLogHoldsOneDescriptor: a log that is only opened and read (not
// appended to) holds its segment's .log open, not its index files, so a
// broker of 10,000 idle partitions fits a 20,000-descriptor limit.
func TestIdleLogHoldsOneDescriptor(t *testing.T) {
	cfg := testConfig()
	root := t.TempDir()
	const n = 40
	for i := 0; i < n; i++ {
		l := openTestLog(t, filepath.Join(root, fmt.Sprint(i)), cfg, OpenOptions{})
		appendBatches(t, l, 3, 2, 1000, 10)
		l.Close()
	}
	before := openFiles(t)
	var logs []*Log
	for i := 0; i < n; i++ {
		l := openTestLog(t, filepath.Join(root, fmt.Sprint(i)), cfg, OpenOptions{Clean: true})
		if _, err := l.Read(0, 1<<62, 1<<20, true); err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	if held := openFiles(t) - before; held > n+2 {
		t.Fatalf("%d open logs hold %d descriptors, want about one each", n, held)
	}
	for _, l := range logs {
		l.Close()
	}
}
