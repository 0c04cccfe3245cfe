package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/rs/zerolog"

	"gregor/broker/records"
)

// An index is a hint: bytes flipped in an older segment's .index or
// .timeindex (an unclean restart does not rescan segments below the
// recovery point) must never make a read return the wrong batch, which
// once made fetches into such a segment silently return the next
// segment's batch. A lookup checks the entry it uses against the log,
// scans the segment instead when it does not match, and the indexes are
// rebuilt, with a warning.

// corruptLog is a closed log of several segments with index entries in
// every one, and what it holds.
type corruptLog struct {
	dir     string
	cfg     Config
	all     [][]byte // batches of 3 records, offsets 3i..3i+2
	bases   []int64
	indexes map[string][]byte // original index files by path
}

const corruptRecTs = 1_700_000_000_000 // timestamp of offset 0; one ms per offset

func newCorruptLog(t *testing.T) *corruptLog {
	t.Helper()
	c := &corruptLog{dir: t.TempDir(), cfg: testConfig(), indexes: map[string][]byte{}}
	c.cfg.IndexIntervalBytes = 100
	c.cfg.SegmentBytes = 2000
	c.all = writeClosedLog(t, c.dir, c.cfg, 60, 3)
	for _, name := range segmentFiles(t, c.dir, ".log") {
		var base int64
		fmt.Sscanf(name, "%020d.log", &base)
		c.bases = append(c.bases, base)
	}
	if len(c.bases) < 4 {
		t.Fatalf("want at least 4 segments, have %d", len(c.bases))
	}
	for _, base := range c.bases {
		for _, ext := range []string{".index", ".timeindex"} {
			p := segmentPath(c.dir, base, ext)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(data) < 3*timeEntrySize && base != c.bases[len(c.bases)-1] {
				t.Fatalf("%s has %d bytes: want several entries", p, len(data))
			}
			c.indexes[p] = data
		}
	}
	return c
}

// restore puts the original index files back.
func (c *corruptLog) restore(t *testing.T) {
	t.Helper()
	for p, data := range c.indexes {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// edit rewrites the index file ext of the segment at base.
func (c *corruptLog) edit(t *testing.T, base int64, ext string, f func(b []byte)) {
	t.Helper()
	p := segmentPath(c.dir, base, ext)
	b := append([]byte(nil), c.indexes[p]...)
	f(b)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// open opens the log as after an unclean restart whose recovery point is
// past every sealed segment, so only the active one is scanned, and
// returns it with the log lines it writes.
func (c *corruptLog) open(t *testing.T) (*Log, *syncBuf) {
	t.Helper()
	logs := &syncBuf{}
	opt := OpenOptions{Clean: false, RecoveryPoint: c.bases[len(c.bases)-1]}
	l, err := Open(OSFS{}, c.dir, c.cfg, opt, zerolog.New(logs))
	if err != nil {
		t.Fatalf("opening: %v", err)
	}
	return l, logs
}

// checkReads asserts every offset reads back as the batch holding it and
// every record's timestamp finds its offset.
func (c *corruptLog) checkReads(t *testing.T, l *Log, what string) {
	t.Helper()
	for off := int64(0); off < int64(3*len(c.all)); off++ {
		b, err := l.Read(off, 1<<62, 1, true)
		if err != nil {
			t.Fatalf("%s: Read(%d): %v", what, off, err)
		}
		if !bytes.Equal(b, c.all[off/3]) {
			h, _ := records.ParseHeader(b)
			t.Fatalf("%s: Read(%d) returned the batch at %d (%d bytes), want the one at %d", what, off, h.BaseOffset, len(b), off/3*3)
		}
		got, ts, ok, err := l.OffsetForTimestamp(corruptRecTs+off, 1<<62)
		if err != nil || !ok || got != off || ts != corruptRecTs+off {
			t.Fatalf("%s: OffsetForTimestamp(%d) = %d (ts %d), %v, %v; want %d", what, corruptRecTs+off, got, ts, ok, err, off)
		}
	}
	if off, ts, ok, err := l.MaxTimestamp(1 << 62); err != nil || !ok || off != int64(3*len(c.all)-1) || ts != corruptRecTs+off {
		t.Fatalf("%s: MaxTimestamp = %d, %d, %v, %v", what, off, ts, ok, err)
	}
}

// checkRebuilt asserts the index files of the segment at base are again
// what appends wrote, and that a warning said so.
func (c *corruptLog) checkRebuilt(t *testing.T, base int64, logs *syncBuf, what string) {
	t.Helper()
	for _, ext := range []string{".index", ".timeindex"} {
		p := segmentPath(c.dir, base, ext)
		got, _ := os.ReadFile(p)
		if !bytes.Equal(got, c.indexes[p]) {
			t.Errorf("%s: %s was not rebuilt: %d bytes, want the %d appends wrote", what, p, len(got), len(c.indexes[p]))
		}
	}
	if !strings.Contains(logs.String(), "index") || !strings.Contains(logs.String(), `"level":"warn"`) {
		t.Errorf("%s: no warning about the rebuilt index; logs:\n%s", what, logs.String())
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func putOffsetEntry(b []byte, i int, rel, pos uint32) {
	binary.BigEndian.PutUint32(b[i*offsetEntrySize:], rel)
	binary.BigEndian.PutUint32(b[i*offsetEntrySize+4:], pos)
}

func TestCorruptOffsetIndexOfOlderSegment(t *testing.T) {
	c := newCorruptLog(t)
	seg := c.bases[1] // an older, sealed segment with a segment on each side
	segSize := fileSize(t, segmentPath(c.dir, seg, ".log"))
	orig := c.indexes[segmentPath(c.dir, seg, ".index")]
	n := len(orig) / offsetEntrySize
	mid := n / 2
	rel := func(i int) uint32 { return binary.BigEndian.Uint32(orig[i*offsetEntrySize:]) }
	pos := func(i int) uint32 { return binary.BigEndian.Uint32(orig[i*offsetEntrySize+4:]) }
	cases := []struct {
		name string
		edit func(b []byte)
	}{
		// The failure seen: a position past the segment's end made the
		// read fall through to the next segment.
		{"a position past the segment's end", func(b []byte) { putOffsetEntry(b, mid, rel(mid), uint32(segSize)+1000) }},
		{"a position inside a batch", func(b []byte) { putOffsetEntry(b, mid, rel(mid), pos(mid)+7) }},
		{"a position at a later batch", func(b []byte) { putOffsetEntry(b, mid, rel(mid), pos(mid+1)) }},
		{"an offset below the batch's, still in order", func(b []byte) { putOffsetEntry(b, mid, rel(mid-1)+1, pos(mid)) }},
		{"an offset inside the next batch", func(b []byte) { putOffsetEntry(b, mid, rel(mid)+2, pos(mid)) }},
		{"entries out of order", func(b []byte) {
			putOffsetEntry(b, mid, rel(mid+1), pos(mid+1))
			putOffsetEntry(b, mid+1, rel(mid), pos(mid))
		}},
		{"the last entry past the end", func(b []byte) { putOffsetEntry(b, n-1, rel(n-1), uint32(segSize)) }},
		{"the first entry's offset huge", func(b []byte) { putOffsetEntry(b, 0, 1<<30, pos(0)) }},
		{"zeros in the middle", func(b []byte) { clear(b[mid*offsetEntrySize : (mid+2)*offsetEntrySize]) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.restore(t)
			c.edit(t, seg, ".index", tc.edit)
			l, logs := c.open(t)
			defer l.Close()
			c.checkReads(t, l, tc.name)
			c.checkRebuilt(t, seg, logs, tc.name)
			c.checkReads(t, l, tc.name+", rebuilt")
		})
	}
}

func TestCorruptTimeIndexOfOlderSegment(t *testing.T) {
	c := newCorruptLog(t)
	seg := c.bases[1]
	orig := c.indexes[segmentPath(c.dir, seg, ".timeindex")]
	n := len(orig) / timeEntrySize
	mid := n / 2
	ts := func(i int) uint64 { return binary.BigEndian.Uint64(orig[i*timeEntrySize:]) }
	put := func(b []byte, i int, t uint64, rel uint32) {
		binary.BigEndian.PutUint64(b[i*timeEntrySize:], t)
		binary.BigEndian.PutUint32(b[i*timeEntrySize+8:], rel)
	}
	rel := func(i int) uint32 { return binary.BigEndian.Uint32(orig[i*timeEntrySize+8:]) }
	cases := []struct {
		name string
		edit func(b []byte)
	}{
		// A smaller timestamp makes a later entry look usable for earlier
		// times: records between would be skipped.
		{"a timestamp lowered, still in order", func(b []byte) { put(b, mid, ts(mid-1)+1, rel(mid)) }},
		{"an offset raised", func(b []byte) { put(b, mid, ts(mid), rel(mid+1)) }},
		{"an offset past the segment", func(b []byte) { put(b, mid, ts(mid), 1<<20) }},
		{"the last entry's timestamp in the future", func(b []byte) { put(b, n-1, 1<<62, rel(n-1)) }},
		{"zeros in the middle", func(b []byte) { clear(b[mid*timeEntrySize : (mid+1)*timeEntrySize]) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.restore(t)
			c.edit(t, seg, ".timeindex", tc.edit)
			l, logs := c.open(t)
			defer l.Close()
			c.checkReads(t, l, tc.name)
			c.checkRebuilt(t, seg, logs, tc.name)
		})
	}
}

// TestRandomIndexCorruptionNeverMisleads flips random bytes in the indexes
// of the older segments and reads every offset and timestamp back.
func TestRandomIndexCorruptionNeverMisleads(t *testing.T) {
	c := newCorruptLog(t)
	rng := rand.New(rand.NewSource(1))
	for trial := 0; trial < 40; trial++ {
		c.restore(t)
		seg := c.bases[rng.Intn(len(c.bases)-1)]
		ext := []string{".index", ".timeindex"}[rng.Intn(2)]
		flips := 1 + rng.Intn(6)
		c.edit(t, seg, ext, func(b []byte) {
			for i := 0; i < flips; i++ {
				b[rng.Intn(len(b))] ^= byte(1 + rng.Intn(255))
			}
		})
		l, _ := c.open(t)
		c.checkReads(t, l, fmt.Sprintf("trial %d: %d flips in %d%s", trial, flips, seg, ext))
		// What a read found wrong was rebuilt: reading again gives the
		// same, and the files hold what appends wrote unless the flips
		// were harmless enough to pass every check.
		c.checkReads(t, l, fmt.Sprintf("trial %d, again", trial))
		l.Close()
	}
}

// TestCorruptLastIndexEntryOfActiveSegmentLosesNothing: a clean start
// scans the active segment from its last offset index entry; an entry
// that does not name a batch made that scan see a torn batch and cut the
// segment there.
func TestCorruptLastIndexEntryOfActiveSegmentLosesNothing(t *testing.T) {
	c := newCorruptLog(t)
	active := c.bases[len(c.bases)-1]
	p := segmentPath(c.dir, active, ".index")
	if len(c.indexes[p]) < 2*offsetEntrySize {
		t.Skip("active segment has too few index entries")
	}
	c.edit(t, active, ".index", func(b []byte) {
		last := len(b)/offsetEntrySize - 1
		putOffsetEntry(b, last, binary.BigEndian.Uint32(b[last*offsetEntrySize:]), binary.BigEndian.Uint32(b[last*offsetEntrySize+4:])+9)
	})
	size := fileSize(t, segmentPath(c.dir, active, ".log"))
	l, err := Open(OSFS{}, c.dir, c.cfg, OpenOptions{Clean: true, RecoveryPoint: int64(3 * len(c.all))}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := fileSize(t, segmentPath(c.dir, active, ".log")); got != size {
		t.Fatalf("a bad index entry cut the active segment from %d to %d bytes", size, got)
	}
	c.checkReads(t, l, "clean start")
}

// logFullFS fails writes to .log files only (an index entry written, the
// batch it names not).
type logFullFS struct {
	OSFS
	full *atomic.Bool
}

func (f logFullFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, ".log") {
		return file, err
	}
	return fullFile{File: file, full: f.full}, nil
}

func TestFailedAppendLeavesNoIndexEntry(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.IndexIntervalBytes = 50
	full := &atomic.Bool{}
	l, err := Open(logFullFS{full: full}, dir, cfg, OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	before := appendBatches(t, l, 3, 4, 1000, 64)
	entries := l.segments[0].index.n
	full.Store(true)
	b := buildBatch(t, l.NextOffset(), 4, 2000, 64)
	if err := l.Append(b, appendInfoFor(t, b)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ENOSPC", err)
	}
	if n := l.segments[0].index.n; n != entries {
		t.Fatalf("a failed append left %d index entries, had %d", n, entries)
	}
	full.Store(false)
	// A different append at the same offsets (fewer records) follows.
	after := appendBatches(t, l, 2, 2, 3000, 64)
	want := append(before, after...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openTestLog(t, dir, cfg, OpenOptions{Clean: true, RecoveryPoint: l.NextOffset()})
	sameBatches(t, readAll(t, l2), want)
	if err := l2.segments[0].index.validateOffsets(l2.segments[0].size); err != nil {
		t.Fatal(err)
	}
	checkOffsetIndex(t, dir, 0, want)
}

// TestIndexRepairWhileReadingAndAppending: readers that find a bad entry
// repair the index while others read and a producer appends.
func TestIndexRepairWhileReadingAndAppending(t *testing.T) {
	c := newCorruptLog(t)
	for _, base := range c.bases[:len(c.bases)-1] {
		c.edit(t, base, ".index", func(b []byte) {
			for i := 0; i+offsetEntrySize <= len(b); i += 2 * offsetEntrySize {
				b[i+7] ^= 0x33 // every other position off
			}
		})
	}
	l, _ := c.open(t)
	defer l.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				off := int64((i*7 + r*13) % (3 * len(c.all)))
				b, err := l.Read(off, 1<<62, 1, true)
				if err != nil || !bytes.Equal(b, c.all[off/3]) {
					errs <- fmt.Errorf("Read(%d): %d bytes, %v", off, len(b), err)
					return
				}
			}
		}(r)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			b := buildBatch(t, l.NextOffset(), 2, corruptRecTs+1_000_000, 10)
			if err := l.Append(b, appendInfoFor(t, b)); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, base := range c.bases[:len(c.bases)-1] {
		p := segmentPath(c.dir, base, ".index")
		if got, _ := os.ReadFile(p); !bytes.Equal(got, c.indexes[p]) {
			t.Errorf("%s not rebuilt", p)
		}
	}
}

// FuzzIndexFlipsNeverMislead flips bytes of the indexes of a log's sealed
// segments and reopens it (after a crash or a clean shutdown): opening must
// not fail and every offset and timestamp must read back right.
func FuzzIndexFlipsNeverMislead(f *testing.F) {
	m := newMemFS()
	cfg := testConfig()
	cfg.IndexIntervalBytes = 64
	cfg.SegmentBytes = 700
	l, err := Open(m, fuzzDir, cfg, OpenOptions{}, zerolog.Nop())
	if err != nil {
		f.Fatal(err)
	}
	all := appendBatches(f, l, 24, 3, corruptRecTs, 10)
	next := l.NextOffset()
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	orig := map[string][]byte{}
	var indexes []string
	ents, _ := m.ReadDir(fuzzDir)
	for _, e := range ents {
		orig[e.Name()] = m.get(fuzzDir + "/" + e.Name())
		if strings.HasSuffix(e.Name(), "index") {
			indexes = append(indexes, e.Name())
		}
	}
	if len(indexes) < 6 {
		f.Fatalf("%d index files: want at least 3 segments", len(indexes))
	}
	f.Add(uint8(0), []byte{0, 9, 0x40}, false)
	f.Add(uint8(2), []byte{0, 4, 0xff, 0, 12, 1}, true)
	f.Add(uint8(1), []byte{0, 0, 0x80, 0, 11, 7, 0, 23, 9}, false)
	f.Fuzz(func(t *testing.T, which uint8, flips []byte, clean bool) {
		name := indexes[int(which)%len(indexes)]
		fs := newMemFS()
		for n, b := range orig {
			fs.put(fuzzDir+"/"+n, b)
		}
		b := append([]byte(nil), orig[name]...)
		if len(b) == 0 {
			return
		}
		for i := 0; i+3 <= len(flips) && i < 30; i += 3 {
			b[int(binary.BigEndian.Uint16(flips[i:]))%len(b)] ^= flips[i+2]
		}
		fs.put(fuzzDir+"/"+name, b)
		opt := OpenOptions{Clean: clean, RecoveryPoint: next} // nothing scanned but the active segment
		l, err := Open(fs, fuzzDir, cfg, opt, zerolog.Nop())
		if err != nil {
			t.Fatalf("opening with %s damaged: %v", name, err)
		}
		defer l.Close()
		for off := int64(0); off < next; off++ {
			got, err := l.Read(off, 1<<62, 1, true)
			if err != nil || !bytes.Equal(got, all[off/3]) {
				t.Fatalf("%s damaged: Read(%d): %d bytes, %v", name, off, len(got), err)
			}
			o, ts, ok, err := l.OffsetForTimestamp(corruptRecTs+off, 1<<62)
			if err != nil || !ok || o != off || ts != corruptRecTs+off {
				t.Fatalf("%s damaged: OffsetForTimestamp(%d) = %d, %v, %v", name, corruptRecTs+off, o, ok, err)
			}
		}
	})
}
