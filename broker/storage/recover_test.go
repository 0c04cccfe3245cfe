package storage

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rs/zerolog"

	"gregor/broker/records"
)

// crashed is how a log dir without the clean-shutdown marker opens a log
// that was never fsynced past its start.
var crashed = OpenOptions{Clean: false, RecoveryPoint: 0}

// writeClosedLog appends count batches of n records (10-byte values) to a
// new log in dir, closes it and returns the batches.
func writeClosedLog(t *testing.T, dir string, cfg Config, count, n int) [][]byte {
	t.Helper()
	l, err := Open(OSFS{}, dir, cfg, OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	all := appendBatches(t, l, count, n, 1_700_000_000_000, 10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return all
}

func totalLen(bs [][]byte) int64 {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	return int64(n)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// corruptAt xors one byte of a file.
func corruptAt(t *testing.T, path string, pos int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[pos] ^= 0x5a
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkRecovered asserts the log holds exactly want, ends after it, and
// takes a further append.
func checkRecovered(t *testing.T, l *Log, want [][]byte, wantNext int64) {
	t.Helper()
	if l.NextOffset() != wantNext {
		t.Fatalf("recovered log ends at %d, want %d", l.NextOffset(), wantNext)
	}
	sameBatches(t, readAll(t, l), want)
	more := appendBatches(t, l, 1, 2, 1_700_000_000_000, 10)
	sameBatches(t, readAll(t, l), append(want[:len(want):len(want)], more...))
}

func TestRecoverTruncatesPartialBatch(t *testing.T) {
	for _, cut := range []struct {
		name string
		keep func(last []byte) int
	}{
		{"half a batch", func(last []byte) int { return len(last) / 2 }},
		{"less than a header", func(last []byte) int { return 10 }},
		{"all but one byte", func(last []byte) int { return len(last) - 1 }},
	} {
		t.Run(cut.name, func(t *testing.T) {
			dir := t.TempDir()
			all := writeClosedLog(t, dir, testConfig(), 5, 3)
			path := segmentPath(dir, 0, ".log")
			valid := totalLen(all[:4])
			if err := os.Truncate(path, valid+int64(cut.keep(all[4]))); err != nil {
				t.Fatal(err)
			}
			l := openTestLog(t, dir, testConfig(), crashed)
			if got := fileSize(t, path); got != valid {
				t.Fatalf("segment is %d bytes after recovery, want %d (the torn batch cut off)", got, valid)
			}
			checkRecovered(t, l, all[:4], 12)
		})
	}
}

func TestRecoverTruncatesBadCRCInLastBatch(t *testing.T) {
	dir := t.TempDir()
	all := writeClosedLog(t, dir, testConfig(), 5, 3)
	path := segmentPath(dir, 0, ".log")
	corruptAt(t, path, totalLen(all)-3) // inside the last record's value
	l := openTestLog(t, dir, testConfig(), crashed)
	if got := fileSize(t, path); got != totalLen(all[:4]) {
		t.Fatalf("segment is %d bytes after recovery, want %d", got, totalLen(all[:4]))
	}
	checkRecovered(t, l, all[:4], 12)
}

func TestRecoverTornTailOfActiveSegmentAfterCleanShutdown(t *testing.T) {
	// Even when the log dir says the last run ended cleanly, the active
	// segment's end is found by a checked scan, so garbage after the last
	// batch is dropped.
	dir := t.TempDir()
	cfg := testConfig()
	cfg.IndexIntervalBytes = 100
	all := writeClosedLog(t, dir, cfg, 6, 3)
	path := segmentPath(dir, 0, ".log")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(all[5][:40])
	f.Close()
	l := openTestLog(t, dir, cfg, OpenOptions{Clean: true, RecoveryPoint: 18})
	if got := fileSize(t, path); got != totalLen(all) {
		t.Fatalf("segment is %d bytes, want %d", got, totalLen(all))
	}
	checkRecovered(t, l, all, 18)
}

func TestRecoverBadBatchInSealedSegmentDropsLaterSegments(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	one := int64(len(buildBatch(t, 0, 2, 1, 10)))
	cfg.SegmentBytes = 2 * one
	all := writeClosedLog(t, dir, cfg, 8, 2) // segments 0, 4, 8, 12
	// Corrupt the second batch of segment 4 (offsets 6..7).
	corruptAt(t, segmentPath(dir, 4, ".log"), one+one-2)
	l := openTestLog(t, dir, cfg, crashed)
	if got := segmentFiles(t, dir, ".log"); len(got) != 2 || got[1] != "00000000000000000004.log" {
		t.Fatalf("segments after recovery %v, want 0 and 4 only", got)
	}
	for _, base := range []int64{8, 12} {
		for _, ext := range []string{".log", ".index", ".timeindex"} {
			if _, err := os.Stat(segmentPath(dir, base, ext)); !os.IsNotExist(err) {
				t.Fatalf("%s of segment %d after the torn one still exists", ext, base)
			}
		}
	}
	checkRecovered(t, l, all[:3], 6)
}

func TestRecoverScansSegmentsAboveRecoveryPoint(t *testing.T) {
	// Segments wholly below the recovery point were fsynced and are not
	// rescanned (as in Kafka); those above are.
	dir := t.TempDir()
	cfg := testConfig()
	one := int64(len(buildBatch(t, 0, 2, 1, 10)))
	cfg.SegmentBytes = 2 * one
	all := writeClosedLog(t, dir, cfg, 6, 2) // segments 0, 4, 8
	corruptAt(t, segmentPath(dir, 8, ".log"), one-2)
	l := openTestLog(t, dir, cfg, OpenOptions{RecoveryPoint: 8})
	checkRecovered(t, l, all[:4], 8)
}

func TestRecoverTruncatesWhereOffsetsGoBackwards(t *testing.T) {
	dir := t.TempDir()
	all := writeClosedLog(t, dir, testConfig(), 3, 2)
	path := segmentPath(dir, 0, ".log")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(buildBatch(t, 2, 2, 1, 10)) // a valid batch repeating offsets 2..3
	f.Close()
	l := openTestLog(t, dir, testConfig(), crashed)
	checkRecovered(t, l, all, 6)
}

func TestRecoverRebuildsDeletedIndexes(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  OpenOptions
	}{
		{"after a crash", crashed},
		{"after a clean shutdown", OpenOptions{Clean: true, RecoveryPoint: 60}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig()
			cfg.IndexIntervalBytes = 100
			cfg.SegmentBytes = 1000
			all := writeClosedLog(t, dir, cfg, 20, 3)
			bySeg := map[int64][][]byte{}
			var bases []int64
			for _, name := range segmentFiles(t, dir, ".log") {
				var base int64
				for _, c := range name[:20] {
					base = base*10 + int64(c-'0')
				}
				bases = append(bases, base)
			}
			if len(bases) < 3 {
				t.Fatalf("want at least 3 segments, have %d", len(bases))
			}
			for _, b := range all {
				h, _ := records.ParseHeader(b)
				i := len(bases) - 1
				for bases[i] > h.BaseOffset {
					i--
				}
				bySeg[bases[i]] = append(bySeg[bases[i]], b)
			}
			before := map[int64][]byte{}
			for _, base := range bases {
				idx, _ := os.ReadFile(segmentPath(dir, base, ".index"))
				before[base] = idx
				os.Remove(segmentPath(dir, base, ".index"))
				os.Remove(segmentPath(dir, base, ".timeindex"))
			}
			l := openTestLog(t, dir, cfg, tc.opt)
			if l.NextOffset() != 60 {
				t.Fatalf("log ends at %d, want 60", l.NextOffset())
			}
			sameBatches(t, readAll(t, l), all)
			for _, base := range bases {
				if n := checkOffsetIndex(t, dir, base, bySeg[base]); n == 0 {
					t.Fatalf("offset index of segment %d was not rebuilt", base)
				}
				got, _ := os.ReadFile(segmentPath(dir, base, ".index"))
				if !bytes.Equal(got, before[base]) {
					t.Fatalf("rebuilt offset index of segment %d differs from the one written by appends", base)
				}
				if ents := indexEntries(t, segmentPath(dir, base, ".timeindex"), timeEntrySize); len(ents) == 0 {
					t.Fatalf("time index of segment %d was not rebuilt", base)
				}
			}
			for off := int64(0); off < 60; off++ {
				b, err := l.Read(off, 1<<62, 1, true)
				if err != nil || !bytes.Equal(b, all[off/3]) {
					t.Fatalf("Read(%d) after index rebuild: %d bytes, %v", off, len(b), err)
				}
				ts := 1_700_000_000_000 + off // record timestamps of appendBatches
				got, _, ok, err := l.OffsetForTimestamp(ts, 1<<62)
				if err != nil || !ok || got != off {
					t.Fatalf("OffsetForTimestamp(%d) after index rebuild = %d, %v, %v; want %d", ts, got, ok, err, off)
				}
			}
		})
	}
}

func TestRecoverRebuildsCorruptIndex(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.IndexIntervalBytes = 100
	one := int64(len(buildBatch(t, 0, 3, 1, 10)))
	cfg.SegmentBytes = 10 * one
	all := writeClosedLog(t, dir, cfg, 15, 3) // segments 0 (sealed), 30
	// The sealed index's last entry points past its log.
	bad := appendOffsetEntry(nil, 1, 1)
	bad = appendOffsetEntry(bad, 2, uint32(10*one+100))
	if err := os.WriteFile(segmentPath(dir, 0, ".index"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	// The active index has a torn entry and one out of order.
	act := appendOffsetEntry(nil, 5, uint32(2*one))
	act = appendOffsetEntry(act, 2, uint32(one))
	act = append(act, 1, 2, 3)
	if err := os.WriteFile(segmentPath(dir, 30, ".index"), act, 0o644); err != nil {
		t.Fatal(err)
	}
	l := openTestLog(t, dir, cfg, OpenOptions{Clean: true, RecoveryPoint: 45})
	if l.NextOffset() != 45 {
		t.Fatalf("log ends at %d, want 45", l.NextOffset())
	}
	sameBatches(t, readAll(t, l), all)
	if checkOffsetIndex(t, dir, 0, all[:10]) == 0 {
		t.Fatal("sealed segment's corrupt index was not rebuilt")
	}
	checkOffsetIndex(t, dir, 30, all[10:])
	for off := int64(0); off < 45; off++ {
		b, err := l.Read(off, 1<<62, 1, true)
		if err != nil || !bytes.Equal(b, all[off/3]) {
			t.Fatalf("Read(%d) after index repair: %d bytes, %v", off, len(b), err)
		}
	}
}

func TestRecoverRemovesStrayFiles(t *testing.T) {
	dir := t.TempDir()
	all := writeClosedLog(t, dir, testConfig(), 2, 2)
	stray := []string{
		"00000000000000000099.log.deleted", "00000000000000000099.index.deleted",
		"leader-epoch-checkpoint.tmp", "00000000000000000000.log.cleaned", "00000000000000000000.log.swap",
	}
	for _, s := range stray {
		if err := os.WriteFile(filepath.Join(dir, s), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := openTestLog(t, dir, testConfig(), crashed)
	for _, s := range stray {
		if _, err := os.Stat(filepath.Join(dir, s)); !os.IsNotExist(err) {
			t.Fatalf("stray file %s survived opening the log", s)
		}
	}
	checkRecovered(t, l, all, 4)
}

func TestRecoverRebuildsLeaderEpochs(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(OSFS{}, dir, testConfig(), OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	for i, epoch := range []int32{1, 1, 4, 7} {
		b := buildBatch(t, int64(2*i), 2, 1000, 1)
		records.SetLeaderEpoch(b, epoch)
		mustAppend(t, l, b)
	}
	l.Close()
	os.Remove(filepath.Join(dir, epochFile))
	l2 := openTestLog(t, dir, testConfig(), crashed)
	got := l2.Epochs()
	want := []EpochEntry{{1, 0}, {4, 4}, {7, 6}}
	if len(got) != len(want) {
		t.Fatalf("rebuilt epochs %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("rebuilt epochs %v, want %v", got, want)
		}
	}
	// A torn tail also drops the epochs that started in it.
	l2.Close()
	if err := os.Truncate(segmentPath(dir, 0, ".log"), fileSize(t, segmentPath(dir, 0, ".log"))-5); err != nil {
		t.Fatal(err)
	}
	l3 := openTestLog(t, dir, testConfig(), crashed)
	if e := l3.LatestEpoch(); e != 4 || l3.NextOffset() != 6 {
		t.Fatalf("after losing the epoch-7 batch: latest epoch %d, next %d; want 4, 6", e, l3.NextOffset())
	}
}

func TestCleanReopenKeepsBatchAtLastIndexEntry(t *testing.T) {
	// The offset index maps a batch's last offset to its position. A
	// clean start scans the active segment from its last index entry; the
	// batch found there starts below the indexed offset and must not be
	// taken for offsets going backwards (which truncated it, and every
	// batch after it, on each clean restart).
	dir := t.TempDir()
	cfg := testConfig()
	cfg.IndexIntervalBytes = 100
	all := writeClosedLog(t, dir, cfg, 6, 3)
	if len(indexEntries(t, segmentPath(dir, 0, ".index"), offsetEntrySize)) == 0 {
		t.Fatal("test needs index entries in the active segment")
	}
	l := openTestLog(t, dir, cfg, OpenOptions{Clean: true, RecoveryPoint: 18})
	if got := fileSize(t, segmentPath(dir, 0, ".log")); got != totalLen(all) {
		t.Fatalf("clean reopen cut the segment from %d to %d bytes", totalLen(all), got)
	}
	checkRecovered(t, l, all, 18)
}

// breakLength gives the batch at pos of a segment a length field that
// runs past the file: a torn batch, as a disk error leaves one.
func breakLength(t *testing.T, path string, pos int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[pos+8] = 0x7f
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBadBatchBelowRecoveryPointKeepsLaterSegments(t *testing.T) {
	// A segment that needs no recovery (after a clean shutdown, or below
	// the recovery point) but whose index is rebuilt on open, because a
	// check found it wrong or it ends in bytes that are no batch, is cut
	// at the bad batch alone, as Kafka's LogLoader.loadSegmentFiles
	// recovers it: the later segments, fsynced, stay. Gregor dropped
	// every segment after it, or refused to open the log.
	one := int64(len(buildBatch(t, 0, 2, 1, 10)))
	for _, c := range []struct {
		name     string
		interval int64 // index.interval.bytes
		opt      OpenOptions
	}{
		// The last index entry names the torn batch: the check on open fails.
		{"clean, last index entry torn", 1, OpenOptions{Clean: true, RecoveryPoint: 16}},
		// The index ends before the torn batch: the tail scan meets it.
		{"clean, torn past the index", 2*one - 1, OpenOptions{Clean: true, RecoveryPoint: 16}},
		{"unclean, below the recovery point", 1, OpenOptions{RecoveryPoint: 8}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig()
			cfg.SegmentBytes = 4 * one
			cfg.IndexIntervalBytes = c.interval
			all := writeClosedLog(t, dir, cfg, 8, 2) // segments 0 (offsets 0-7) and 8 (8-15)
			if got := segmentFiles(t, dir, ".log"); len(got) != 2 {
				t.Fatalf("test needs 2 segments, has %v", got)
			}
			breakLength(t, segmentPath(dir, 0, ".log"), 3*one) // offsets 6-7
			l := openTestLog(t, dir, cfg, c.opt)
			if got := segmentFiles(t, dir, ".log"); len(got) != 2 {
				t.Fatalf("segments after opening %v, want both", got)
			}
			if got := fileSize(t, segmentPath(dir, 0, ".log")); got != 3*one {
				t.Fatalf("segment 0 holds %d bytes, want the %d before the torn batch", got, 3*one)
			}
			want := append(all[:3:3], all[4:]...)
			checkRecovered(t, l, want, 16)
		})
	}
}

func TestRecoveryPointNeverPastTheLogEnd(t *testing.T) {
	// As Kafka's LogLoader.recoverLog: after a crash the recovery point
	// is the checkpointed one but never past the log end (a point past it
	// would pass over the segments appended next if the broker crashed
	// again); after a clean shutdown it is the log end.
	dir := t.TempDir()
	writeClosedLog(t, dir, testConfig(), 3, 2) // offsets 0-5
	l := openTestLog(t, dir, testConfig(), OpenOptions{RecoveryPoint: 100})
	if got := l.RecoveryPoint(); got != 6 {
		t.Fatalf("recovery point after a crash with checkpoint 100 and log end 6: %d, want 6", got)
	}
	l.Close()
	l = openTestLog(t, dir, testConfig(), OpenOptions{RecoveryPoint: 4})
	if got := l.RecoveryPoint(); got != 4 {
		t.Fatalf("recovery point after a crash with checkpoint 4: %d, want 4", got)
	}
	l.CloseHandles()
	l = openTestLog(t, dir, testConfig(), OpenOptions{Clean: true, RecoveryPoint: 2})
	if got := l.RecoveryPoint(); got != 6 {
		t.Fatalf("recovery point after a clean shutdown with checkpoint 2: %d, want the log end 6", got)
	}
}

func TestLogEndingBelowItsStartStartsAgainThere(t *testing.T) {
	// As Kafka's LogLoader.deleteSegmentsIfLogStartGreaterThanLogEnd: a
	// log whose checkpointed start is past its end (segment files lost)
	// is emptied and starts at that start, with no leader epochs and no
	// producer snapshots, so that offsets below it are not handed out
	// again. Gregor moved the start back down to the first segment's.
	dir := t.TempDir()
	l, err := Open(OSFS{}, dir, testConfig(), OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	b := buildBatch(t, 0, 2, 1000, 1)
	records.SetLeaderEpoch(b, 3)
	mustAppend(t, l, b)
	if err := l.WriteSnapshot(2, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openTestLog(t, dir, testConfig(), OpenOptions{StartOffset: 50, RecoveryPoint: 2})
	if l.StartOffset() != 50 || l.NextOffset() != 50 {
		t.Fatalf("log start %d and end %d, want both 50", l.StartOffset(), l.NextOffset())
	}
	if got := segmentFiles(t, dir, ".log"); len(got) != 1 || got[0] != "00000000000000000050.log" {
		t.Fatalf("segments %v, want only 00000000000000000050.log", got)
	}
	if e := l.Epochs(); len(e) != 0 {
		t.Fatalf("leader epochs %v kept for a log emptied", e)
	}
	if _, _, ok := l.LatestSnapshot(); ok {
		t.Fatal("a producer snapshot of the lost log is still offered")
	}
	checkRecovered(t, l, nil, 50)
	l.Close()
	l = openTestLog(t, dir, testConfig(), OpenOptions{Clean: true, StartOffset: 50})
	if l.StartOffset() != 50 || l.NextOffset() != 52 {
		t.Fatalf("reopened: log start %d and end %d, want 50 and 52", l.StartOffset(), l.NextOffset())
	}
}

func TestOrphanIndexesAreDeletedOnOpen(t *testing.T) {
	// Index files whose segment has no .log (a crash between the unlinks
	// of a deleted segment's files) are deleted on open, as Kafka's
	// LogLoader.loadSegmentFiles does; kept, a segment made later at
	// that base took their entries for its own.
	dir := t.TempDir()
	all := writeClosedLog(t, dir, testConfig(), 3, 2) // offsets 0-5
	orphanIdx := appendOffsetEntry(appendOffsetEntry(nil, 3, 4000), 9, 9000)
	orphanTimes := appendTimeEntry(nil, 1_700_000_009_000, 9)
	if err := os.WriteFile(segmentPath(dir, 6, ".index"), orphanIdx, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(segmentPath(dir, 6, ".timeindex"), orphanTimes, 0o644); err != nil {
		t.Fatal(err)
	}
	l := openTestLog(t, dir, testConfig(), crashed)
	for _, ext := range []string{".index", ".timeindex"} {
		if _, err := os.Stat(segmentPath(dir, 6, ext)); !os.IsNotExist(err) {
			t.Fatalf("orphan %s of segment 6 survived opening the log", ext)
		}
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if n := len(indexEntries(t, segmentPath(dir, 6, ".index"), offsetEntrySize)); n != 0 {
		t.Fatalf("segment 6 rolled with %d offset index entries of an earlier one", n)
	}
	if n := len(indexEntries(t, segmentPath(dir, 6, ".timeindex"), timeEntrySize)); n != 0 {
		t.Fatalf("segment 6 rolled with %d time index entries of an earlier one", n)
	}
	checkRecovered(t, l, all, 6)
}

func TestOpenTruncatesLeaderEpochsFromTheLogStart(t *testing.T) {
	// A crash after the log start moved but before the leader epoch
	// cache's truncation was on disk leaves epochs starting below the
	// log start; the log's open truncates them from the start, as
	// Kafka's LogLoader.load does, so OffsetForLeaderEpoch answers from
	// the log start, not from offsets the log no longer has.
	dir := t.TempDir()
	l, err := Open(OSFS{}, dir, testConfig(), OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	for i, epoch := range []int32{1, 1, 3} {
		b := buildBatch(t, int64(2*i), 2, 1000, 1)
		records.SetLeaderEpoch(b, epoch)
		mustAppend(t, l, b)
	}
	l.Close()
	l = openTestLog(t, dir, testConfig(), OpenOptions{Clean: true, StartOffset: 3})
	got := l.Epochs()
	want := []EpochEntry{{1, 3}, {3, 4}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("leader epochs %v with the log starting at 3, want %v", got, want)
	}
	if e, end := l.EndOffsetForEpoch(0); e != 0 || end != 3 {
		t.Fatalf("end of epoch 0: epoch %d offset %d, want 0 and the log start 3", e, end)
	}
}

// setBaseOffset overwrites the base offset of the batch at pos, a field
// the CRC does not cover.
func setBaseOffset(t *testing.T, path string, pos, base int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint64(data[pos:], uint64(base))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRecoverCutsABatchWithOffsetsOutsideItsSegment(t *testing.T) {
	// The base offset is outside the CRC. Recovery takes a batch whose
	// offsets leave the segment's range, past what its relative offsets
	// hold (Kafka's LogSegment.ensureOffsetInRange) or at the next
	// segment's base, for a bad one. Gregor took a flipped bit there for
	// the log's end: the log ended near offset 2^62.
	one := int64(len(buildBatch(t, 0, 2, 1, 10)))
	for _, c := range []struct {
		name    string
		seg     int64 // segment whose third batch (offsets seg+4, seg+5) is hit
		base    int64
		opt     OpenOptions
		want    []int // batches kept
		next    int64
		segsAft []string
	}{
		{"sealed, after a crash", 0, 1<<62 + 4, crashed, []int{0, 1}, 4, []string{"00000000000000000000.log"}},
		{"sealed, clean, no index", 0, 1<<62 + 4, OpenOptions{Clean: true, RecoveryPoint: 16},
			[]int{0, 1, 4, 5, 6, 7}, 16, []string{"00000000000000000000.log", "00000000000000000008.log"}},
		{"sealed, past the next base", 0, 8, crashed, []int{0, 1}, 4, []string{"00000000000000000000.log"}},
		{"active, after a crash", 8, 1<<62 + 12, crashed, []int{0, 1, 2, 3, 4, 5}, 12, []string{"00000000000000000000.log", "00000000000000000008.log"}},
		{"active, clean", 8, 1<<62 + 12, OpenOptions{Clean: true, RecoveryPoint: 16}, []int{0, 1, 2, 3, 4, 5}, 12,
			[]string{"00000000000000000000.log", "00000000000000000008.log"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig()
			cfg.SegmentBytes = 4 * one
			all := writeClosedLog(t, dir, cfg, 8, 2) // segments 0 (offsets 0-7) and 8 (8-15)
			setBaseOffset(t, segmentPath(dir, c.seg, ".log"), 2*one, c.base)
			l := openTestLog(t, dir, cfg, c.opt)
			if got := segmentFiles(t, dir, ".log"); !slices.Equal(got, c.segsAft) {
				t.Fatalf("segments after opening %v, want %v", got, c.segsAft)
			}
			var want [][]byte
			for _, i := range c.want {
				want = append(want, all[i])
			}
			checkRecovered(t, l, want, c.next)
		})
	}
}
