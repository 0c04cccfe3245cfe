package storage

// Sections: fetches send record bytes straight from the segment files
// (sendfile where the connection allows it), so a fetch does not read the
// records into memory. A Section is a byte range of one segment's .log
// file that stays valid, with the bytes it had when it was taken, until it
// is released:
//
//   - The file is reference-counted (sharedFile): the segment holds one
//     reference and every Section one more. Retention, compaction,
//     truncation, topic deletion and Log.Close let go of the segment's
//     reference; the file is closed when the last Section lets go too.
//     Deleted or replaced files are unlinked (or renamed to .deleted) at
//     once as before; an open descriptor keeps the old bytes readable.
//     file.delete.delay.ms still delays the removal of .deleted files, but
//     it is no longer what keeps a reader safe.
//   - Bytes below a segment's size never change while the segment is in
//     the log, except by truncation (a follower cutting a divergent tail).
//     Truncating a segment that a Section references does not cut the
//     file in place: the kept prefix is copied to a new file that replaces
//     the old one, and the old file stays as the Sections saw it. So a
//     response never sends bytes other than those it advertised.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"gregor/broker/records"
)

// sharedFile is a segment's .log file, shared by the segment and the
// Sections taken from it. Close releases the segment's own reference
// (once); the file closes when no reference is left.
type sharedFile struct {
	File
	refs   atomic.Int64
	closed atomic.Bool // the segment's reference was released
}

func newSharedFile(f File) *sharedFile {
	sf := &sharedFile{File: f}
	sf.refs.Store(1)
	return sf
}

// Close releases the segment's reference.
func (f *sharedFile) Close() error {
	if !f.closed.CompareAndSwap(false, true) {
		return nil
	}
	return f.release()
}

func (f *sharedFile) acquire() { f.refs.Add(1) }

func (f *sharedFile) release() error {
	switch n := f.refs.Add(-1); {
	case n == 0:
		return f.File.Close()
	case n < 0:
		panic("storage: segment file released more often than acquired")
	}
	return nil
}

// shared reports whether a Section holds the file.
func (f *sharedFile) shared() bool { return f.refs.Load() > 1 }

// Section is a byte range of a segment file, readable until Release.
type Section struct {
	f       *sharedFile
	pos     int64
	n       int
	records int // records in its batches, as their headers count them
}

// Len is the section's length in bytes.
func (s *Section) Len() int { return s.n }

// Records is the number of records in the section's batches.
func (s *Section) Records() int { return s.records }

// ReadAt reads from the section at off (relative to its start); it never
// reads past the section.
func (s *Section) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(s.n) {
		return 0, fmt.Errorf("storage: read at %d of a %d-byte section", off, s.n)
	}
	short := false
	if rest := int64(s.n) - off; int64(len(p)) > rest {
		p, short = p[:rest], true
	}
	n, err := s.f.ReadAt(p, s.pos+off)
	if err == nil && short {
		err = io.EOF
	}
	return n, err
}

// File returns the open file and the section's position in it, for
// sendfile; ok is false when the log's filesystem is not the OS's.
func (s *Section) File() (f *os.File, pos int64, ok bool) {
	f, ok = osFileOf(s.f.File)
	return f, s.pos, ok
}

// FileFailed is told that sending the section with sendfile failed to
// read the file: a disk failure is reported as the log's own reads
// report one.
func (s *Section) FileFailed(err error) {
	if wf, ok := s.f.File.(*watchFile); ok {
		wf.w.seen(wf.path, err)
	}
}

// Release lets go of the file; the section must not be used after.
// Releasing twice is harmless.
func (s *Section) Release() {
	if s == nil || s.f == nil {
		return
	}
	f := s.f
	s.f = nil
	f.release()
}

// Bytes reads the whole section into a new buffer and releases it.
func (s *Section) Bytes() ([]byte, error) {
	defer s.Release()
	buf := make([]byte, s.n)
	if _, err := s.ReadAt(buf, 0); err != nil && !(err == io.EOF && s.n == 0) {
		return nil, err
	}
	return buf, nil
}

// section returns the position and length of whole batches starting with
// the one holding off, up to maxBytes, none with a last offset at or above
// limit; the first batch whole even past maxBytes when minOne is set
// (KIP-74). It reads batch headers only. It returns io.EOF when the
// segment holds no batch at or after off.
func (s *segment) section(off, limit int64, maxBytes int32, minOne bool, size int64) (pos int64, n, recs int, err error) {
	sc := newScanner(s, size)
	defer sc.free()
	first, err := s.findWith(&sc, off)
	if err != nil || first.last >= limit {
		return 0, 0, 0, err // io.EOF: the segment holds nothing at or after off
	}
	end := min(first.pos+int64(max(maxBytes, 0)), size)
	if end < first.pos+first.size {
		if !minOne {
			return 0, 0, 0, nil
		}
		end = first.pos + first.size
	}
	sc.end = end // the walk on reuses what the search read
	p := first.pos + first.size
	recs = recordCount(first.hdr)
	for p < end {
		b, err := sc.at(p)
		if err == io.EOF || errors.Is(err, errTorn) {
			break // the next batch does not fit
		}
		if err != nil {
			return 0, 0, 0, err
		}
		if b.last >= limit {
			break
		}
		p += b.size
		recs += recordCount(b.hdr)
	}
	return first.pos, int(p - first.pos), recs, nil
}

// recordCount is the records a batch header counts (one for a legacy
// message set entry).
func recordCount(h records.Header) int {
	if h.Magic < 2 {
		return 1
	}
	return int(h.NumRecords)
}

// ReadSection is Read without reading: it returns the Section holding the
// batches Read would return (nil at the end), which the caller must
// Release.
func (l *Log) ReadSection(off, limit int64, maxBytes int32, minOne bool) (*Section, error) {
	sec, suspect, err := l.readSection(off, limit, maxBytes, minOne)
	if suspect != nil {
		l.repairIndexes(suspect)
	}
	return sec, err
}

func (l *Log) readSection(off, limit int64, maxBytes int32, minOne bool) (sec *Section, suspect *segment, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, nil, ErrClosed
	}
	if off < l.startOffset || off > l.nextOffsetLocked() {
		return nil, nil, ErrOffsetOutOfRange
	}
	for i := l.segmentFor(off); i < len(l.segments); i++ {
		s := l.segments[i]
		if off >= s.next || off >= limit {
			continue
		}
		pos, n, recs, err := s.section(max(off, s.base), limit, maxBytes, minOne, s.size)
		if s.indexSuspect.Load() {
			suspect = s
		}
		if err == io.EOF {
			// Nothing at or after off here: the cleaner emptied the
			// segment or its tail. Read on in the next, as Kafka does.
			continue
		}
		if err != nil {
			return nil, suspect, err
		}
		if n > 0 {
			s.log.acquire()
			return &Section{f: s.log, pos: pos, n: n, records: recs}, suspect, nil
		}
		return nil, suspect, nil
	}
	return nil, suspect, nil
}

// scanBufs recycles scanners' header buffers: a fetch walks headers
// without allocating.
var scanBufs = sync.Pool{New: func() any { b := make([]byte, scanChunk); return &b }}

func newScanner(s *segment, end int64) scanner {
	bp := scanBufs.Get().(*[]byte)
	return scanner{s: s, end: end, buf: (*bp)[:0], pooled: bp}
}

// free returns the scanner's buffer to the pool.
func (sc *scanner) free() {
	if sc.pooled != nil {
		*sc.pooled = sc.buf[:0]
		scanBufs.Put(sc.pooled)
		sc.pooled, sc.buf = nil, nil
	}
}

// replaceTruncated makes s's file hold only its first keep bytes without
// changing the bytes of the file that Sections hold: the prefix is copied
// to a new file, which is renamed over the old one.
func (s *segment) replaceTruncated(keep int64) error {
	final := segmentPath(s.dir, s.base, ".log")
	tmp := final + ".tmp"
	nf, err := s.fs.OpenFile(tmp, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		nf.Close()
		s.fs.Remove(tmp)
		return err
	}
	buf := make([]byte, min(keep, 1<<20))
	for pos := int64(0); pos < keep; {
		n := min(int64(len(buf)), keep-pos)
		if _, err := s.log.ReadAt(buf[:n], pos); err != nil {
			return fail(err)
		}
		if _, err := nf.WriteAt(buf[:n], pos); err != nil {
			return fail(err)
		}
		pos += n
	}
	if err := nf.Sync(); err != nil {
		return fail(err)
	}
	if err := s.fs.Rename(tmp, final); err != nil {
		return fail(err)
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		nf.Close()
		return err
	}
	old := s.log
	s.log = newSharedFile(nf)
	old.Close()
	return nil
}
