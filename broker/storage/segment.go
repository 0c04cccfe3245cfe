package storage

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"gregor/broker/records"
)

// segment is one .log file with its two indexes. The owning Log's lock
// guards every mutable field; reads of bytes below size need no lock.
type segment struct {
	fs    FS
	dir   string
	base  int64
	log   *sharedFile // shared with Sections being sent (section.go)
	index *index
	times *index

	size       int64  // bytes in .log
	next       int64  // offset after the last batch; base if empty
	maxTs      int64  // largest batch max timestamp, -1 if none
	maxTsOff   int64  // last offset of the batch carrying maxTs
	firstTs    int64  // max timestamp of the first batch, -1 if none
	rollSeed   uint64 // draws the segment's segment.jitter.ms
	created    time.Time
	sinceIndex int64 // bytes appended since the last index entry

	// indexSuspect is set, under the log's read lock, when a lookup found
	// an index entry that does not match the log (the lookup then scanned
	// the segment instead); the log rebuilds the indexes and clears it.
	indexSuspect atomic.Bool
}

func segmentPath(dir string, base int64, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, ext))
}

// openSegment opens (creating if need be) the segment at base.
func openSegment(fs FS, dir string, base int64, active bool, now time.Time) (*segment, error) {
	s := &segment{fs: fs, dir: dir, base: base, next: base, maxTs: -1, maxTsOff: -1, firstTs: -1, created: now, rollSeed: rand.Uint64()}
	f, err := fs.OpenFile(segmentPath(dir, base, ".log"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	s.log = newSharedFile(f)
	st, err := s.log.Stat()
	if err != nil {
		s.close()
		return nil, err
	}
	s.size = st.Size()
	if s.size > 0 {
		s.created = st.ModTime() // a segment made before: its last write
	}
	if s.index, err = openIndex(fs, segmentPath(dir, base, ".index"), offsetEntrySize, active); err != nil {
		s.close()
		return nil, err
	}
	if s.times, err = openIndex(fs, segmentPath(dir, base, ".timeindex"), timeEntrySize, active); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *segment) close() error {
	var errs []error
	var logCloser io.Closer
	if s.log != nil {
		logCloser = s.log
	}
	for _, c := range []io.Closer{logCloser, indexCloser(s.index), indexCloser(s.times)} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

func indexCloser(ix *index) io.Closer {
	if ix == nil {
		return nil
	}
	return ix
}

// appendInfo describes bytes about to be appended.
type appendInfo struct {
	first, last int64 // first and last offset
	maxTs       int64 // largest batch max timestamp
	maxTsOff    int64 // last offset of the batch carrying it
}

// append writes batches at the end of the segment and indexes them.
func (s *segment) append(b []byte, ai appendInfo, indexInterval int64) error {
	pos := s.size
	nOffsets, nTimes, since := s.index.n, s.times.n, s.sinceIndex
	if s.sinceIndex > indexInterval {
		if err := s.addIndexEntries(ai.last, pos); err != nil {
			return err
		}
	}
	if _, err := s.log.WriteAt(b, pos); err != nil {
		// Do not leave a partial write that later appends would follow,
		// nor index entries for batches that are not there.
		s.log.Truncate(pos)
		s.index.truncate(nOffsets)
		s.times.truncate(nTimes)
		s.sinceIndex = since
		return err
	}
	s.size += int64(len(b))
	s.sinceIndex += int64(len(b))
	s.next = ai.last + 1
	if s.firstTs < 0 && pos == 0 {
		s.firstTs = ai.maxTs
	}
	if ai.maxTs > s.maxTs {
		s.maxTs, s.maxTsOff = ai.maxTs, ai.maxTsOff
	}
	return nil
}

// addIndexEntries adds an offset index entry for (off, pos) and a time
// index entry if the largest timestamp grew since the last one.
func (s *segment) addIndexEntries(off, pos int64) error {
	var e [timeEntrySize]byte
	if err := s.index.append(appendOffsetEntry(e[:0], uint32(off-s.base), uint32(pos))); err != nil {
		return err
	}
	s.sinceIndex = 0
	if s.maxTs < 0 {
		return nil
	}
	if last, ok, err := s.times.last(); err != nil {
		return err
	} else if ok {
		if ts, _ := timeEntry(last); ts >= s.maxTs {
			return nil
		}
	}
	return s.times.append(appendTimeEntry(e[:0], s.maxTs, uint32(s.maxTsOff-s.base)))
}

// fits reports whether n more bytes ending at offset last may go into this
// segment without passing the size limit or the relative-offset range.
func (s *segment) fits(n int, last int64, maxBytes int64) bool {
	if s.size == 0 {
		return last-s.base <= math.MaxInt32
	}
	return s.size+int64(n) <= maxBytes && last-s.base <= math.MaxInt32 && s.size+int64(n) <= math.MaxInt32
}

// rollDue reports whether the segment is old enough to roll before an
// append whose largest timestamp is msgTs, as Kafka's
// LogSegment.shouldRoll has it: by the records' own time, the append's
// timestamp against the first batch's, where the first batch has one;
// by the clock since the segment was made otherwise. Records replayed
// with old timestamps therefore fill segments rather than roll one per
// append.
// jitter is how much before rollAfter the segment rolls, as Kafka's
// LogConfig.randomSegmentJitter: drawn once per segment, below
// min(jitter, rollAfter).
func (s *segment) jitter(jitter, rollAfter time.Duration) time.Duration {
	if limit := min(jitter, rollAfter); limit > 0 {
		return time.Duration(s.rollSeed % uint64(limit))
	}
	return 0
}

// indexesFull reports whether the segment's offset or time index holds
// as many entries as limit bytes allow, as Kafka's isFull (a segment that
// holds nothing is never full).
func (s *segment) indexesFull(limit int64) bool {
	if limit <= 0 || s.size == 0 {
		return false
	}
	return int64(s.index.n) >= limit/offsetEntrySize || int64(s.times.n) >= limit/timeEntrySize
}

// firstBatchTimestamp is the max timestamp of the segment's first batch
// (-1 if it has none), read from the file when not known (a sealed
// segment opened after a clean shutdown is not scanned), as Kafka's
// LogSegment.getFirstBatchTimestamp loads it.
func (s *segment) firstBatchTimestamp() int64 {
	if s.firstTs >= 0 || s.size == 0 {
		return s.firstTs
	}
	sc := newScanner(s, s.size)
	defer sc.free()
	b, err := sc.at(0)
	if err != nil {
		return -1
	}
	return b.hdr.MaxTimestamp
}

func (s *segment) rollDue(now time.Time, msgTs int64, rollAfter time.Duration) bool {
	if s.size == 0 || rollAfter <= 0 {
		return false
	}
	if s.firstTs >= 0 {
		return msgTs-s.firstTs > rollAfter.Milliseconds()
	}
	return now.Sub(s.created) > rollAfter
}

// batchAt is a batch header found by a scan.
type batchAt struct {
	pos  int64
	size int64
	base int64
	last int64
	hdr  records.Header
}

// scanner walks batch headers from a position, reading in chunks.
type scanner struct {
	s   *segment
	end int64 // stop at this position
	buf []byte
	bp  int64 // file position of buf[0]
	// pooled is buf's pool entry (newScanner); free returns it.
	pooled *[]byte
	// lastSize is the size of the batch found last.
	lastSize int64
}

const scanChunk = 16 << 10

// at returns the batch whose header starts at pos, or io.EOF at end.
func (sc *scanner) at(pos int64) (batchAt, error) {
	if pos >= sc.end {
		return batchAt{}, io.EOF
	}
	if pos < sc.bp || pos+records.HeaderSize > sc.bp+int64(len(sc.buf)) {
		// Small batches: read many headers at once. Large ones: read
		// just the header, not the records (a fetch walks headers only).
		chunk := int64(scanChunk)
		if sc.lastSize >= scanChunk/8 {
			chunk = records.HeaderSize
		}
		n := min(chunk, sc.end-pos)
		if n < records.HeaderSize {
			return batchAt{}, fmt.Errorf("%w: %d bytes at position %d", errTorn, n, pos)
		}
		if cap(sc.buf) < int(n) {
			sc.buf = make([]byte, n)
		}
		sc.buf = sc.buf[:n]
		if _, err := sc.s.log.ReadAt(sc.buf, pos); err != nil {
			return batchAt{}, err
		}
		sc.bp = pos
	}
	h, err := records.ParseHeader(sc.buf[pos-sc.bp:])
	if err != nil {
		return batchAt{}, fmt.Errorf("%w: %v at position %d", errTorn, err, pos)
	}
	size := int64(h.Size())
	if h.Length < records.HeaderSize-12 || pos+size > sc.end || h.LastOffsetDelta < 0 {
		return batchAt{}, fmt.Errorf("%w: batch of %d bytes at position %d", errTorn, size, pos)
	}
	sc.lastSize = size
	return batchAt{pos: pos, size: size, base: h.BaseOffset, last: h.LastOffset(), hdr: h}, nil
}

var errTorn = errors.New("torn or corrupt batch")

// errBadIndex: an index entry does not match the log.
var errBadIndex = errors.New("index entry does not match the log")

// find returns the first batch whose last offset is at least off, scanning
// from the offset index's entry for off; io.EOF if there is none. An entry
// that does not match the log (see scanFrom) is not trusted: the segment
// is scanned from its start instead and marked for an index rebuild, so a
// corrupt index costs time, never a wrong batch.
func (s *segment) find(off int64, end int64) (batchAt, error) {
	sc := newScanner(s, end)
	defer sc.free()
	return s.findWith(&sc, off)
}

// findWith is find with the caller's scanner (whose end bounds the scan),
// so a caller walking on from the batch found reuses what it read.
func (s *segment) findWith(sc *scanner, off int64) (batchAt, error) {
	entryOff, pos, ok, err := s.index.lookupOffset(s.base, off)
	if err == errBadIndex {
		s.indexSuspect.Store(true)
	} else if err != nil {
		return batchAt{}, err
	}
	if ok {
		b, err := s.scanWith(sc, pos, off, entryOff)
		if err != errBadIndex {
			return b, err
		}
		s.indexSuspect.Store(true)
	}
	return s.scanWith(sc, 0, off, -1)
}

// scanFrom returns the first batch from pos on whose last offset is at
// least off. Starting from an index entry (entryOff >= 0, mapping the last
// offset of an append to the append's first byte), it checks the entry
// against the log on the way, as Kafka checks an index on lookup: pos must
// hold a batch of this segment starting at or below entryOff, and the scan
// must meet a batch ending exactly at entryOff before passing it;
// otherwise it returns errBadIndex.
func (s *segment) scanFrom(pos, off, end, entryOff int64) (batchAt, error) {
	sc := newScanner(s, end)
	defer sc.free()
	return s.scanWith(&sc, pos, off, entryOff)
}

func (s *segment) scanWith(sc *scanner, pos, off, entryOff int64) (batchAt, error) {
	checking := entryOff >= 0
	for first := true; ; first = false {
		b, err := sc.at(pos)
		if checking {
			switch {
			case err != nil && (err == io.EOF || errors.Is(err, errTorn)):
				return b, errBadIndex
			case err != nil:
				return b, err
			case first && (b.base < s.base || b.base > entryOff), b.last > entryOff:
				return b, errBadIndex
			case b.last == entryOff:
				checking = false
			}
		}
		if err != nil {
			return b, err
		}
		if b.last >= off {
			return b, nil
		}
		pos += b.size
	}
}

// entryHolds reports whether the offset index entry (entryOff, pos)
// matches the log, as scanFrom checks it.
func (s *segment) entryHolds(entryOff, pos int64) bool {
	_, err := s.scanFrom(pos, entryOff, s.size, entryOff)
	return err == nil
}

// timeEntryHolds reports whether the time index entry (ts, off) matches
// the log: off is the last offset of a batch whose max timestamp is ts.
func (s *segment) timeEntryHolds(ts, off int64) bool {
	if off < s.base || off >= s.next {
		return false
	}
	b, err := s.find(off, s.size)
	return err == nil && b.last == off && b.hdr.MaxTimestamp == ts
}

// timeStart returns the offset to scan from for the first record with a
// timestamp at or after ts: the time index entry's, checked against the
// log (a mismatch marks the segment for an index rebuild), or the base.
func (s *segment) timeStart(ts int64) (int64, error) {
	entryTs, off, ok, err := s.times.lookupTime(s.base, ts)
	if err == errBadIndex {
		s.indexSuspect.Store(true)
		return s.base, nil
	}
	if err != nil || !ok {
		return s.base, err
	}
	if !s.timeEntryHolds(entryTs, off) {
		s.indexSuspect.Store(true)
		return s.base, nil
	}
	return off, nil
}

// buildIndexes returns the index entries that appending the segment's
// batches below size one by one makes (those a recovery scan rebuilds),
// reading them without any lock: sealed bytes do not change, and a caller
// rebuilding the active segment discards the result if the size changed.
func (s *segment) buildIndexes(size, interval int64) (offsets, times []byte, err error) {
	sc := scanner{s: s, end: size}
	var since int64
	maxTs, maxTsOff, lastTs := int64(-1), int64(-1), int64(-1)
	for pos := int64(0); ; {
		b, err := sc.at(pos)
		if err == io.EOF || errors.Is(err, errTorn) {
			return offsets, times, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if since > interval {
			offsets = appendOffsetEntry(offsets, uint32(b.last-s.base), uint32(pos))
			since = 0
			if maxTs >= 0 && maxTs > lastTs {
				times = appendTimeEntry(times, maxTs, uint32(maxTsOff-s.base))
				lastTs = maxTs
			}
		}
		since += b.size
		if b.hdr.MaxTimestamp > maxTs {
			maxTs, maxTsOff = b.hdr.MaxTimestamp, b.last
		}
		pos += b.size
	}
}

// syncHandles are a segment's open files, taken under the log's lock to
// be synced without it: the log file is held by a reference (a close
// meanwhile waits for its release), an index file closed meanwhile fails
// its sync with os.ErrClosed.
type syncHandles struct {
	log     *sharedFile
	indexes []File
}

func (s *segment) filesToSync() syncHandles {
	fs := syncHandles{log: s.log}
	s.log.acquire()
	for _, ix := range []*index{s.index, s.times} {
		if ix != nil && ix.f != nil {
			fs.indexes = append(fs.indexes, ix.f)
		}
	}
	return fs
}

func (fs syncHandles) sync() error {
	if err := fs.log.Sync(); err != nil {
		return err
	}
	for _, f := range fs.indexes {
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			return err
		}
	}
	return nil
}

func (fs syncHandles) release() { fs.log.release() }

// sync flushes the segment and its indexes.
func (s *segment) sync() error {
	return errors.Join(s.log.Sync(), s.index.sync(), s.times.sync())
}

// seal drops the in-memory index copies of a segment that is no longer
// active.
func (s *segment) seal() {
	s.index.seal()
	s.times.seal()
}

// remove closes and deletes the segment's files.
func (s *segment) remove() error {
	s.close()
	var errs []error
	for _, ext := range []string{".log", ".index", ".timeindex"} {
		if err := s.fs.Remove(segmentPath(s.dir, s.base, ext)); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
