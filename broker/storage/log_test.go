package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"gregor/broker/records"
)

// buildBatch encodes an uncompressed v2 batch of n records starting at
// base. Record i has timestamp firstTs+i and a value of valLen bytes.
func buildBatch(t testing.TB, base int64, n int, firstTs int64, valLen int) []byte {
	t.Helper()
	recs := make([]records.Record, n)
	for i := range recs {
		val := bytes.Repeat([]byte{byte('a' + (base+int64(i))%26)}, valLen)
		recs[i] = records.Record{
			OffsetDelta:    int32(i),
			TimestampDelta: int64(i),
			Key:            []byte(fmt.Sprintf("k%06d", base+int64(i))),
			Value:          val,
		}
	}
	b, err := records.Build(&records.Batch{
		FirstTimestamp: firstTs,
		MaxTimestamp:   firstTs + int64(n-1),
		ProducerID:     -1,
		ProducerEpoch:  -1,
		BaseSequence:   -1,
		LeaderEpoch:    -1,
		BaseOffset:     base,
		Records:        recs,
	})
	if err != nil {
		t.Fatalf("building batch at %d: %v", base, err)
	}
	return b
}

// appendInfo describes one stamped batch as the partition would.
func appendInfoFor(t testing.TB, b []byte) AppendInfo {
	t.Helper()
	h, err := records.ParseHeader(b)
	if err != nil {
		t.Fatalf("parsing built batch: %v", err)
	}
	return AppendInfo{
		First: h.BaseOffset, Last: h.LastOffset(),
		MaxTimestamp: h.MaxTimestamp, OffsetOfMaxTs: h.LastOffset(),
		Messages: int64(h.NumRecords), LeaderEpoch: h.LeaderEpoch, FirstBatchOffset: h.BaseOffset,
	}
}

func mustAppend(t testing.TB, l *Log, b []byte) {
	t.Helper()
	if err := l.Append(b, appendInfoFor(t, b)); err != nil {
		t.Fatalf("append at %d: %v", l.NextOffset(), err)
	}
}

// appendBatches appends count batches of n records each with timestamps
// from ts (one ms per record) and returns them.
func appendBatches(t testing.TB, l *Log, count, n int, ts int64, valLen int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := 0; i < count; i++ {
		next := l.NextOffset()
		b := buildBatch(t, next, n, ts+next, valLen)
		mustAppend(t, l, b)
		out = append(out, b)
	}
	return out
}

func openTestLog(t testing.TB, dir string, cfg Config, opt OpenOptions) *Log {
	t.Helper()
	l, err := Open(OSFS{}, dir, cfg, opt, zerolog.Nop())
	if err != nil {
		t.Fatalf("opening log in %s: %v", dir, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// readAll reads every batch from the log start to its end.
func readAll(t testing.TB, l *Log) [][]byte {
	t.Helper()
	var out [][]byte
	err := l.Batches(l.StartOffset(), l.NextOffset(), func(b []byte) bool {
		out = append(out, append([]byte(nil), b...))
		return true
	})
	if err != nil {
		t.Fatalf("reading log: %v", err)
	}
	return out
}

func sameBatches(t testing.TB, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d batches, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs from what was appended", i)
		}
	}
}

// segmentFiles lists the names in dir with the given extension, sorted.
func segmentFiles(t testing.TB, dir, ext string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ext) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentRoll = 0
	return cfg
}

func TestAppendAndReadBack(t *testing.T) {
	l := openTestLog(t, t.TempDir(), testConfig(), OpenOptions{})
	if l.NextOffset() != 0 || l.StartOffset() != 0 {
		t.Fatalf("new log: start %d next %d, want 0 0", l.StartOffset(), l.NextOffset())
	}
	want := appendBatches(t, l, 10, 3, time.Now().UnixMilli(), 20)
	if l.NextOffset() != 30 {
		t.Fatalf("NextOffset %d after 30 records", l.NextOffset())
	}
	sameBatches(t, readAll(t, l), want)

	all, err := l.Read(0, 1<<62, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(all, bytes.Join(want, nil)) {
		t.Fatalf("Read(0) returned %d bytes, not the appended %d", len(all), len(bytes.Join(want, nil)))
	}
	// An offset inside a batch returns that whole batch first.
	for off := int64(0); off < 30; off++ {
		b, err := l.Read(off, 1<<62, 1, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if !bytes.Equal(b, want[off/3]) {
			t.Fatalf("Read(%d) did not return batch %d whole", off, off/3)
		}
	}
	if b, err := l.Read(30, 1<<62, 1<<20, true); err != nil || b != nil {
		t.Fatalf("Read at the log end = %d bytes, %v; want nil, nil", len(b), err)
	}
	if _, err := l.Read(31, 1<<62, 1<<20, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read past the end: %v, want ErrOffsetOutOfRange", err)
	}
}

func TestAppendBelowTheEndFails(t *testing.T) {
	l := openTestLog(t, t.TempDir(), testConfig(), OpenOptions{})
	appendBatches(t, l, 1, 2, 1000, 1)
	b := buildBatch(t, 1, 1, 1000, 1)
	if err := l.Append(b, appendInfoFor(t, b)); err == nil {
		t.Fatal("append at offset 1 to a log ending at 2 succeeded")
	}
	if l.NextOffset() != 2 || l.Size() != int64(len(buildBatch(t, 0, 2, 1000, 1))) {
		t.Fatalf("failed append changed the log: next %d size %d", l.NextOffset(), l.Size())
	}
}

// A copy of a compacted log (a follower's, or a replica moved to another
// log dir) keeps the offset gaps of batches that lost every record; a
// crash recovery scan keeps them too.
func TestAppendPastTheEndKeepsTheGap(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testConfig(), OpenOptions{})
	appendBatches(t, l, 1, 2, 1000, 1)
	b := buildBatch(t, 5, 3, 1000, 1)
	if err := l.Append(b, appendInfoFor(t, b)); err != nil {
		t.Fatalf("append at offset 5 to a log ending at 2: %v", err)
	}
	check := func(l *Log, when string) {
		t.Helper()
		if l.NextOffset() != 8 {
			t.Fatalf("%s: log ends at %d, want 8", when, l.NextOffset())
		}
		data, err := l.Read(2, 1<<62, 1<<20, true)
		if err != nil {
			t.Fatalf("%s: reading the gap: %v", when, err)
		}
		h, err := records.ParseHeader(data)
		if err != nil || h.BaseOffset != 5 {
			t.Fatalf("%s: read from offset 2 gave the batch at %d (%v), want 5", when, h.BaseOffset, err)
		}
	}
	check(l, "appended")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openTestLog(t, dir, testConfig(), OpenOptions{})
	check(l2, "recovered")
}

func TestReadHonoursLimitAndMaxBytes(t *testing.T) {
	l := openTestLog(t, t.TempDir(), testConfig(), OpenOptions{})
	want := appendBatches(t, l, 5, 3, 1000, 50)
	// limit: no batch with an offset at or above it.
	b, err := l.Read(0, 9, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, bytes.Join(want[:3], nil)) {
		t.Fatalf("Read with limit 9 returned %d bytes, want the first 3 batches", len(b))
	}
	if b, _ := l.Read(0, 2, 1<<20, true); len(b) != 0 {
		t.Fatalf("Read with limit inside the first batch returned %d bytes", len(b))
	}
	// maxBytes smaller than the first batch: nothing unless minOne.
	if b, _ := l.Read(0, 1<<62, 10, false); len(b) != 0 {
		t.Fatalf("Read with maxBytes 10 and minOne false returned %d bytes", len(b))
	}
	if b, _ := l.Read(0, 1<<62, 10, true); !bytes.Equal(b, want[0]) {
		t.Fatalf("Read with maxBytes 10 and minOne returned %d bytes, want the first batch", len(b))
	}
	// maxBytes covering one and a half batches: only whole batches.
	n := int32(len(want[0]) + len(want[1])/2)
	if b, _ := l.Read(0, 1<<62, n, false); !bytes.Equal(b, want[0]) {
		t.Fatalf("Read with maxBytes %d returned %d bytes, want exactly one batch", n, len(b))
	}
}

func TestReopenAfterCleanClose(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(OSFS{}, dir, testConfig(), OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	want := appendBatches(t, l, 4, 2, 1000, 10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(buildBatch(t, 8, 1, 0, 1), AppendInfo{First: 8, Last: 8}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append to a closed log: %v, want ErrClosed", err)
	}
	l2 := openTestLog(t, dir, testConfig(), OpenOptions{Clean: true, RecoveryPoint: 8})
	if l2.NextOffset() != 8 {
		t.Fatalf("reopened log ends at %d, want 8", l2.NextOffset())
	}
	sameBatches(t, readAll(t, l2), want)
	more := appendBatches(t, l2, 1, 2, 1000, 10)
	sameBatches(t, readAll(t, l2), append(want, more...))
}

func TestRollBySize(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	one := int64(len(buildBatch(t, 0, 2, 1000, 100)))
	cfg.SegmentBytes = 2 * one // two batches per segment
	l := openTestLog(t, dir, cfg, OpenOptions{})
	want := appendBatches(t, l, 7, 2, 1000, 100)

	wantNames := []string{"00000000000000000000", "00000000000000000004", "00000000000000000008", "00000000000000000012"}
	for _, ext := range []string{".log", ".index", ".timeindex"} {
		got := segmentFiles(t, dir, ext)
		if len(got) != len(wantNames) {
			t.Fatalf("%s files %v, want bases %v", ext, got, wantNames)
		}
		for i := range got {
			if got[i] != wantNames[i]+ext {
				t.Fatalf("%s files %v, want bases %v", ext, got, wantNames)
			}
		}
	}
	for i, name := range wantNames[:3] {
		st, err := os.Stat(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != 2*one {
			t.Fatalf("segment %d holds %d bytes, want %d (two batches)", i, st.Size(), 2*one)
		}
	}
	sameBatches(t, readAll(t, l), want)
	for off := int64(0); off < 14; off++ {
		b, err := l.Read(off, 1<<62, 1, true)
		if err != nil || !bytes.Equal(b, want[off/2]) {
			t.Fatalf("Read(%d) across segments: %d bytes, %v", off, len(b), err)
		}
	}
	// A batch larger than a segment still goes in (alone).
	big := buildBatch(t, 14, 1, 1000, int(3*one))
	mustAppend(t, l, big)
	if got := segmentFiles(t, dir, ".log"); got[len(got)-1] != "00000000000000000014.log" {
		t.Fatalf("oversized batch did not start its own segment: %v", got)
	}
}

func TestRollByAge(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentRoll = time.Hour
	l := openTestLog(t, dir, cfg, OpenOptions{})
	now := time.Now().UnixMilli()
	// A fresh segment whose first batch is recent does not roll.
	mustAppend(t, l, buildBatch(t, 0, 1, now, 1))
	mustAppend(t, l, buildBatch(t, 1, 1, now, 1))
	if got := segmentFiles(t, dir, ".log"); len(got) != 1 {
		t.Fatalf("young segment rolled: %v", got)
	}
	// segment.ms counts from the first batch's timestamp, as in Kafka.
	l.Roll()
	mustAppend(t, l, buildBatch(t, 2, 1, now-2*time.Hour.Milliseconds(), 1))
	mustAppend(t, l, buildBatch(t, 3, 1, now, 1))
	got := segmentFiles(t, dir, ".log")
	want := []string{"00000000000000000000.log", "00000000000000000002.log", "00000000000000000003.log"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("segments %v, want %v (roll when the active segment is older than segment.ms)", got, want)
	}
}

// indexEntries reads an index file's raw entries.
func indexEntries(t testing.TB, path string, size int) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data)%size != 0 {
		t.Fatalf("%s is %d bytes, not a multiple of %d", path, len(data), size)
	}
	var out [][]byte
	for len(data) > 0 {
		out = append(out, data[:size])
		data = data[size:]
	}
	return out
}

// batchPositions maps each batch's file position to its header.
func batchPositions(t testing.TB, batches [][]byte) map[uint32]records.Header {
	t.Helper()
	m := map[uint32]records.Header{}
	pos := 0
	for _, b := range batches {
		h, _ := records.ParseHeader(b)
		m[uint32(pos)] = h
		pos += len(b)
	}
	return m
}

// checkOffsetIndex verifies the .index of the segment at base against the
// batches it holds: entries (relative last offset, position of the batch)
// strictly increasing, each naming a real batch start.
func checkOffsetIndex(t testing.TB, dir string, base int64, batches [][]byte) int {
	t.Helper()
	at := batchPositions(t, batches)
	prevRel, prevPos := int64(-1), int64(-1)
	ents := indexEntries(t, segmentPath(dir, base, ".index"), offsetEntrySize)
	for i, e := range ents {
		rel, pos := binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
		h, ok := at[pos]
		if !ok {
			t.Fatalf("index entry %d points at position %d, not a batch start", i, pos)
		}
		if base+int64(rel) != h.LastOffset() {
			t.Fatalf("index entry %d maps offset %d to the batch ending at %d", i, base+int64(rel), h.LastOffset())
		}
		if int64(rel) <= prevRel || int64(pos) <= prevPos {
			t.Fatalf("index entry %d (%d, %d) does not increase", i, rel, pos)
		}
		prevRel, prevPos = int64(rel), int64(pos)
	}
	return len(ents)
}

func TestOffsetIndex(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.IndexIntervalBytes = 200
	l := openTestLog(t, dir, cfg, OpenOptions{})
	want := appendBatches(t, l, 40, 3, 1000, 30) // ~140 bytes per batch
	n := checkOffsetIndex(t, dir, 0, want)
	if n < 10 || n > 25 {
		t.Fatalf("%d index entries for 40 batches of ~%d bytes at interval 200", n, len(want[0]))
	}
	for off := int64(0); off < 120; off++ {
		_, pos, _, err := l.segments[0].index.lookupOffset(0, off)
		if err != nil {
			t.Fatal(err)
		}
		// The hint must be at or before the batch holding off.
		at := batchPositions(t, want)
		if h, ok := at[uint32(pos)]; pos != 0 && (!ok || h.BaseOffset > off) {
			t.Fatalf("lookupOffset(%d) = position %d, past the batch holding it", off, pos)
		}
		b, err := l.Read(off, 1<<62, 1, true)
		if err != nil || !bytes.Equal(b, want[off/3]) {
			t.Fatalf("Read(%d) through the index: %d bytes, %v", off, len(b), err)
		}
	}
	// The sealed segment is searched from the file, not memory.
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if l.segments[0].index.mem != nil {
		t.Fatal("sealed segment kept its index in memory")
	}
	for off := int64(0); off < 120; off += 7 {
		b, err := l.Read(off, 1<<62, 1, true)
		if err != nil || !bytes.Equal(b, want[off/3]) {
			t.Fatalf("Read(%d) from a sealed segment: %d bytes, %v", off, len(b), err)
		}
	}
}

func TestTimeIndexAndOffsetForTimestamp(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.IndexIntervalBytes = 100
	cfg.SegmentBytes = 1500
	l := openTestLog(t, dir, cfg, OpenOptions{})
	// Record k (offset k) has timestamp 10000 + 10*k.
	var want [][]byte
	for i := 0; i < 30; i++ {
		base := int64(i * 4)
		recs := make([]records.Record, 4)
		for j := range recs {
			recs[j] = records.Record{OffsetDelta: int32(j), TimestampDelta: int64(10 * j), Value: []byte("value-value-value")}
		}
		b, err := records.Build(&records.Batch{FirstTimestamp: 10000 + 10*base, MaxTimestamp: 10000 + 10*(base+3),
			ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, LeaderEpoch: -1, BaseOffset: base, Records: recs})
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, l, b)
		want = append(want, b)
	}
	if len(l.segments) < 3 {
		t.Fatalf("want several segments, have %d", len(l.segments))
	}
	entries := 0
	for _, s := range l.segments {
		prevTs, prevRel := int64(-1), int64(-1)
		for i, e := range indexEntries(t, segmentPath(dir, s.base, ".timeindex"), timeEntrySize) {
			ts, rel := int64(binary.BigEndian.Uint64(e)), int64(binary.BigEndian.Uint32(e[8:]))
			if ts < prevTs || rel < prevRel {
				t.Fatalf("segment %d time index entry %d (%d, %d) decreases", s.base, i, ts, rel)
			}
			if ts != 10000+10*(s.base+rel) {
				t.Fatalf("segment %d time index entry %d: timestamp %d for offset %d", s.base, i, ts, s.base+rel)
			}
			prevTs, prevRel = ts, rel
			entries++
		}
	}
	if entries == 0 {
		t.Fatal("no time index entries were written")
	}
	for k := int64(0); k < 120; k++ {
		for _, ts := range []int64{10000 + 10*k, 10000 + 10*k - 5} {
			off, recTs, ok, err := l.OffsetForTimestamp(ts, 1<<62)
			if err != nil || !ok || off != k || recTs != 10000+10*k {
				t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v, %v; want offset %d", ts, off, recTs, ok, err, k)
			}
		}
	}
	if _, _, ok, _ := l.OffsetForTimestamp(10000+10*120, 1<<62); ok {
		t.Fatal("OffsetForTimestamp past every record found one")
	}
	if _, _, ok, _ := l.OffsetForTimestamp(10000+10*50, 50); ok {
		t.Fatal("OffsetForTimestamp found a record at or above the limit")
	}
	off, ts, ok, err := l.MaxTimestamp(1 << 62)
	if err != nil || !ok || off != 119 || ts != 10000+10*119 {
		t.Fatalf("MaxTimestamp = %d, %d, %v, %v; want 119, %d", off, ts, ok, err, 10000+10*119)
	}
	// The log's maximum is not yet fetchable below a limit of 119: no
	// offset, as Kafka answers, not the largest one below the limit.
	if off, _, ok, err := l.MaxTimestamp(119); err != nil || ok {
		t.Fatalf("MaxTimestamp below 119 = %d, %v, %v; want none (the maximum is at 119)", off, ok, err)
	}
}

func TestRetentionByTime(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	one := int64(len(buildBatch(t, 0, 2, 1000, 10)))
	cfg.SegmentBytes = 2 * one
	cfg.RetentionMs = time.Hour.Milliseconds()
	l := openTestLog(t, dir, cfg, OpenOptions{})
	now := time.Now()
	old := now.Add(-2 * time.Hour).UnixMilli()
	appendBatches(t, l, 4, 2, old, 10) // segments 0 and 4, expired
	recent := appendBatches(t, l, 3, 2, now.UnixMilli(), 10)
	if len(l.segments) != 4 {
		t.Fatalf("%d segments, want 4", len(l.segments))
	}
	n, err := l.ApplyRetention(now, l.NextOffset())
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("retention deleted %d segments, want the 2 expired ones", n)
	}
	if l.StartOffset() != 8 {
		t.Fatalf("start offset %d after retention, want 8", l.StartOffset())
	}
	if _, err := l.Read(7, 1<<62, 1<<20, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read below the new start: %v, want ErrOffsetOutOfRange", err)
	}
	sameBatches(t, readAll(t, l), recent)
	// Deleted segments are renamed first and removed after file.delete.delay.ms.
	if got := segmentFiles(t, dir, ".log.deleted"); len(got) != 2 {
		t.Fatalf("retired segment files %v, want 2 .log.deleted", got)
	}
	l.PurgeRetired(now)
	if got := segmentFiles(t, dir, ".deleted"); len(got) != 6 {
		t.Fatalf("files purged before file.delete.delay.ms: %v left", got)
	}
	l.PurgeRetired(now.Add(cfg.FileDeleteDelay + time.Second))
	if got := segmentFiles(t, dir, ".deleted"); len(got) != 0 {
		t.Fatalf("files %v left after file.delete.delay.ms", got)
	}
	if got := segmentFiles(t, dir, ".log"); strings.Join(got, ",") != "00000000000000000008.log,00000000000000000012.log" {
		t.Fatalf("segments left %v", got)
	}
}

func TestRetentionBySize(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	one := int64(len(buildBatch(t, 0, 2, 1000, 10)))
	cfg.SegmentBytes = 2 * one
	cfg.RetentionMs = -1
	cfg.RetentionBytes = 5 * one
	l := openTestLog(t, dir, cfg, OpenOptions{})
	all := appendBatches(t, l, 9, 2, time.Now().UnixMilli(), 10) // 5 segments, 9 batches
	n, err := l.ApplyRetention(time.Now(), l.NextOffset())
	if err != nil {
		t.Fatal(err)
	}
	// Delete oldest segments while what is left is still at least
	// retention.bytes: 9 -> 7 -> 5 batches.
	if n != 2 || l.Size() != 5*one {
		t.Fatalf("size retention deleted %d segments leaving %d bytes; want 2 and %d", n, l.Size(), 5*one)
	}
	sameBatches(t, readAll(t, l), all[4:])
	if n, _ := l.ApplyRetention(time.Now(), l.NextOffset()); n != 0 {
		t.Fatalf("second retention pass deleted %d more segments", n)
	}
}

func TestRetentionKeepsSegmentsAboveHighWatermark(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	one := int64(len(buildBatch(t, 0, 2, 1000, 10)))
	cfg.SegmentBytes = 2 * one
	cfg.RetentionMs = time.Hour.Milliseconds()
	l := openTestLog(t, dir, cfg, OpenOptions{})
	old := time.Now().Add(-2 * time.Hour).UnixMilli()
	all := appendBatches(t, l, 5, 2, old, 10) // segments 0, 4, 8(active)
	// Everything is expired, but only segments wholly below the high
	// watermark may go: the active one (8..9) is above hw 9.
	n, err := l.ApplyRetention(time.Now(), 9)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || l.StartOffset() != 8 {
		t.Fatalf("retention with hw 9 deleted %d segments, start %d; want 2, 8", n, l.StartOffset())
	}
	sameBatches(t, readAll(t, l), all[4:])
}

func TestRetentionOfEverythingLeavesAnActiveSegment(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	one := int64(len(buildBatch(t, 0, 2, 1000, 10)))
	cfg.SegmentBytes = 2 * one
	cfg.RetentionMs = time.Hour.Milliseconds()
	l := openTestLog(t, dir, cfg, OpenOptions{})
	appendBatches(t, l, 3, 2, time.Now().Add(-2*time.Hour).UnixMilli(), 10)
	n, err := l.ApplyRetention(time.Now(), l.NextOffset())
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || l.StartOffset() != 6 || l.NextOffset() != 6 || l.Size() != 0 {
		t.Fatalf("after expiring everything: deleted %d, start %d, next %d, size %d; want 2, 6, 6, 0", n, l.StartOffset(), l.NextOffset(), l.Size())
	}
	if got := segmentFiles(t, dir, ".log"); strings.Join(got, ",") != "00000000000000000006.log" {
		t.Fatalf("segments %v, want a new empty active segment at 6", got)
	}
	more := appendBatches(t, l, 1, 2, time.Now().UnixMilli(), 10)
	sameBatches(t, readAll(t, l), more)
}

func TestTruncateTo(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	one := int64(len(buildBatch(t, 0, 2, 1000, 10)))
	cfg.SegmentBytes = 2 * one
	cfg.IndexIntervalBytes = 0
	l := openTestLog(t, dir, cfg, OpenOptions{})
	all := appendBatches(t, l, 6, 2, 1000, 10)
	// Offset 5 is inside batch 2 (4..5): the log ends at 4.
	if err := l.TruncateTo(5); err != nil {
		t.Fatal(err)
	}
	if l.NextOffset() != 4 {
		t.Fatalf("log ends at %d after TruncateTo(5), want 4", l.NextOffset())
	}
	sameBatches(t, readAll(t, l), all[:2])
	more := appendBatches(t, l, 2, 2, 1000, 10)
	sameBatches(t, readAll(t, l), append(all[:2:2], more...))
	if checkOffsetIndex(t, dir, 4, more) != 1 {
		t.Fatal("segment 4 index not rebuilt to one entry after truncation and two appends")
	}
}

func TestLeaderEpochCheckpoint(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testConfig(), OpenOptions{})
	for i, epoch := range []int32{0, 0, 3, 3, 5} {
		b := buildBatch(t, int64(2*i), 2, 1000, 1)
		records.SetLeaderEpoch(b, epoch)
		mustAppend(t, l, b)
	}
	data, err := os.ReadFile(filepath.Join(dir, "leader-epoch-checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "0\n3\n0 0\n3 4\n5 8\n" {
		t.Fatalf("leader-epoch-checkpoint is %q", data)
	}
	for _, c := range []struct {
		epoch   int32
		wantE   int32
		wantOff int64
	}{{5, 5, 10}, {3, 3, 8}, {4, 3, 8}, {0, 0, 4}, {6, -1, -1}} {
		e, off := l.EndOffsetForEpoch(c.epoch)
		if e != c.wantE || off != c.wantOff {
			t.Fatalf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", c.epoch, e, off, c.wantE, c.wantOff)
		}
	}
}

// TestTruncateToLogEndDropsEmptyEpoch: a replica that led (recording its
// epoch at the log's end) but appended nothing drops that epoch when,
// following again, it is told to truncate at its log's end; the epoch is
// then no longer its latest, and a fetch names the one its batches carry.
func TestTruncateToLogEndDropsEmptyEpoch(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testConfig(), OpenOptions{})
	b := buildBatch(t, 0, 2, 1000, 1)
	records.SetLeaderEpoch(b, 0)
	mustAppend(t, l, b)
	l.AssignEpoch(1, 2)
	if e := l.LatestEpoch(); e != 1 {
		t.Fatalf("latest epoch %d after taking over at epoch 1, want 1", e)
	}
	if err := l.TruncateTo(2); err != nil {
		t.Fatal(err)
	}
	if e := l.LatestEpoch(); e != 0 || l.NextOffset() != 2 {
		t.Fatalf("after TruncateTo(log end): latest epoch %d, next offset %d; want 0, 2", e, l.NextOffset())
	}
	data, err := os.ReadFile(filepath.Join(dir, "leader-epoch-checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "0\n1\n0 0\n" {
		t.Fatalf("leader-epoch-checkpoint is %q, want only epoch 0", data)
	}
}

// An epoch recorded at the log's end with nothing appended under it (a
// leadership taken over, then a restart) is dropped by the next load, as
// Kafka's LogLoader drops it, without writing the checkpoint at the open:
// an idle partition's open writes no file. The next change to the log
// writes it, so that records appended under the older epoch are not
// taken for the dropped one's after another load.
func TestLoadDropsEpochAtTheEndAndWritesItWithTheNextAppend(t *testing.T) {
	dir, ckpt, l := logAtEpoch0(t)
	read := func() string { return readCheckpoint(t, ckpt) }
	var b []byte
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Epoch 3 assigned at the log end and written (by a broker that
	// writes at assign, as Kafka does).
	if err := os.WriteFile(ckpt, []byte("0\n2\n0 0\n3 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, testConfig(), OpenOptions{Clean: true, RecoveryPoint: 2})
	if e := l.LatestEpoch(); e != 0 {
		t.Fatalf("latest epoch %d after the load, want 0 (epoch 3 began at the log end)", e)
	}
	after, err := os.Stat(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "0\n2\n0 0\n3 2\n" || !os.SameFile(before, after) {
		t.Fatalf("the open wrote the checkpoint (%q, same file %v); want it left for the next change", got, os.SameFile(before, after))
	}
	// A follower appends the old leader's records, still at epoch 0.
	b = buildBatch(t, 2, 2, 1000, 1)
	records.SetLeaderEpoch(b, 0)
	mustAppend(t, l, b)
	if got := read(); got != "0\n1\n0 0\n" {
		t.Fatalf("after an append under epoch 0 the checkpoint is %q; want epoch 3 gone", got)
	}
}

// A leader's new epoch is written to the checkpoint with the first record
// appended under it, not when it is assigned: a broker taking over
// thousands of partitions created and fsynced as many files before it led
// them. The file never misses the epoch of a record in the log, and a
// close writes an epoch no record carries yet.
func TestAssignedEpochIsWrittenWithItsFirstAppend(t *testing.T) {
	dir, ckpt, l := logAtEpoch0(t)
	read := func() string { return readCheckpoint(t, ckpt) }
	var b []byte
	before, err := os.Stat(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	l.AssignEpoch(3, 2)
	after, err := os.Stat(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "0\n1\n0 0\n" || !os.SameFile(before, after) {
		t.Fatalf("assigning epoch 3 wrote the checkpoint (%q, same file %v); want it left for the epoch's first append", got, os.SameFile(before, after))
	}
	if e, end := l.EndOffsetForEpoch(0); e != 0 || end != 2 {
		t.Fatalf("epoch 0 ends at (%d, %d), want (0, 2): the assigned epoch 3 is in force unwritten", e, end)
	}
	b = buildBatch(t, 2, 2, 1000, 1)
	records.SetLeaderEpoch(b, 3)
	mustAppend(t, l, b)
	if got := read(); got != "0\n2\n0 0\n3 2\n" {
		t.Fatalf("after the first append under epoch 3 the checkpoint is %q; want epoch 3 in it", got)
	}
	// Nor does a close write an epoch without records: the next load
	// would drop it (it starts at the log end).
	l.AssignEpoch(5, 4)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "0\n2\n0 0\n3 2\n" {
		t.Fatalf("after the close the checkpoint is %q; want epoch 5, without records, left out", got)
	}
	l = openTestLog(t, dir, testConfig(), OpenOptions{Clean: true, RecoveryPoint: 4})
	if e, end := l.EndOffsetForEpoch(3); e != 3 || end != 4 {
		t.Fatalf("reopened, epoch 3 ends at (%d, %d), want (3, 4)", e, end)
	}
}

// A close writes what the next load needs of the cache: an entry the
// file lacks for records in the log.
func TestCloseWritesEpochsALoadNeeds(t *testing.T) {
	_, ckpt, l := logAtEpoch0(t)
	b := buildBatch(t, 2, 2, 1000, 1)
	records.SetLeaderEpoch(b, 2)
	mustAppend(t, l, b)
	// The file lost epoch 2 (written by hand; in the log's life, a
	// write that failed).
	if err := os.WriteFile(ckpt, []byte("0\n1\n0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	l.epochs.onDisk, l.epochs.dirty = []EpochEntry{{0, 0}}, true
	l.mu.Unlock()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readCheckpoint(t, ckpt); got != "0\n2\n0 0\n2 2\n" {
		t.Fatalf("after the close the checkpoint is %q; want epoch 2, under which records were appended", got)
	}
}

// logAtEpoch0 opens a log in a new directory and appends 2 records under
// leader epoch 0; it returns the directory, its checkpoint's path and the
// log.
func logAtEpoch0(t *testing.T) (string, string, *Log) {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(OSFS{}, dir, testConfig(), OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	b := buildBatch(t, 0, 2, 1000, 1)
	records.SetLeaderEpoch(b, 0)
	mustAppend(t, l, b)
	return dir, filepath.Join(dir, epochFile), l
}

// readCheckpoint is a checkpoint file's content.
func readCheckpoint(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// A producer snapshot written after the log was deleted (a background
// write that lost the race) does not land in the directory, which a topic
// recreated under the same name may own by then.
func TestSnapshotAfterDeleteRefused(t *testing.T) {
	dir := t.TempDir() + "/t-0"
	l, err := Open(OSFS{}, dir, Config{SegmentBytes: 1 << 20}, OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WriteSnapshot(0, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil { // the recreated topic's
		t.Fatal(err)
	}
	if err := l.WriteSnapshot(5, []byte("{}")); !errors.Is(err, ErrClosed) {
		t.Fatalf("snapshot after delete: %v, want ErrClosed", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("the deleted log wrote %v into the directory", ents)
	}
}
