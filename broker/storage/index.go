package storage

import (
	"encoding/binary"
	"fmt"
	"os"
	"sort"
)

const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

// index is an append-only file of fixed-size entries. The active segment's
// index keeps its entries in memory too; a sealed one is searched with
// ReadAt, so old segments cost no memory. The file is opened only when
// first needed (an append, a lookup in a sealed segment, a repair): an
// idle partition holds one descriptor, its .log, not three, so a broker
// of 10,000 partitions fits a 20,000-file limit.
type index struct {
	fs        FS
	path      string
	f         File // nil until needed (file)
	entrySize int
	n         int    // entries in the file
	mem       []byte // entries, while the segment is active
	active    bool
}

func openIndex(fs FS, path string, entrySize int, active bool) (*index, error) {
	var size int64
	switch st, err := fs.Stat(path); {
	case os.IsNotExist(err):
		f, err := fs.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		size = st.Size()
	}
	ix := &index{fs: fs, path: path, entrySize: entrySize, n: int(size) / entrySize, active: active}
	if size%int64(entrySize) != 0 {
		// A torn entry: drop it. Callers validate the rest.
		f, err := ix.file()
		if err != nil {
			return nil, err
		}
		if err := f.Truncate(int64(ix.n * entrySize)); err != nil {
			ix.close()
			return nil, err
		}
	}
	if active {
		if err := ix.loadMem(); err != nil {
			ix.close()
			return nil, err
		}
	}
	return ix, nil
}

// file returns the index's file, opening it if need be.
func (ix *index) file() (File, error) {
	if ix.f == nil {
		f, err := ix.fs.OpenFile(ix.path, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, err
		}
		ix.f = f
	}
	return ix.f, nil
}

func (ix *index) loadMem() error {
	ix.mem = make([]byte, ix.n*ix.entrySize)
	if len(ix.mem) == 0 {
		return nil
	}
	f, err := ix.file()
	if err != nil {
		return err
	}
	_, err = f.ReadAt(ix.mem, 0)
	return err
}

// entry returns the raw bytes of entry i.
func (ix *index) entry(i int, buf []byte) ([]byte, error) {
	if ix.mem != nil {
		return ix.mem[i*ix.entrySize : (i+1)*ix.entrySize], nil
	}
	f, err := ix.file()
	if err != nil {
		return nil, err
	}
	if _, err := f.ReadAt(buf[:ix.entrySize], int64(i*ix.entrySize)); err != nil {
		return nil, err
	}
	return buf[:ix.entrySize], nil
}

func (ix *index) append(e []byte) error {
	f, err := ix.file()
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(e, int64(ix.n*ix.entrySize)); err != nil {
		return err
	}
	ix.n++
	if ix.active {
		ix.mem = append(ix.mem, e...)
	}
	return nil
}

// truncate keeps the first n entries.
func (ix *index) truncate(n int) error {
	if n >= ix.n {
		return nil
	}
	f, err := ix.file()
	if err != nil {
		return err
	}
	if err := f.Truncate(int64(n * ix.entrySize)); err != nil {
		return err
	}
	ix.n = n
	if ix.mem != nil {
		ix.mem = ix.mem[:n*ix.entrySize]
	}
	return nil
}

func (ix *index) seal() { ix.active, ix.mem = false, nil }

// search returns the last entry index i for which below(i) holds, or -1.
// below must be true for a prefix of entries.
func (ix *index) search(below func(e []byte) bool) (int, error) {
	var buf [timeEntrySize]byte
	var err error
	i := sort.Search(ix.n, func(i int) bool {
		if err != nil {
			return true
		}
		e, rerr := ix.entry(i, buf[:])
		if rerr != nil {
			err = rerr
			return true
		}
		return !below(e)
	})
	return i - 1, err
}

// offsetEntry decodes an offset index entry.
func offsetEntry(e []byte) (rel uint32, pos uint32) {
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
}

// timeEntry decodes a time index entry.
func timeEntry(e []byte) (ts int64, rel uint32) {
	return int64(binary.BigEndian.Uint64(e)), binary.BigEndian.Uint32(e[8:])
}

// lookupOffset returns the last entry whose offset is at or below off:
// that offset and the position it maps to, or ok false if there is none.
// An entry out of order with its neighbours is errBadIndex; one in order
// is only a claim: callers check it against the log.
func (ix *index) lookupOffset(base, off int64) (entryOff, pos int64, ok bool, err error) {
	i, err := ix.search(func(e []byte) bool {
		rel, _ := offsetEntry(e)
		return base+int64(rel) <= off
	})
	if err != nil || i < 0 {
		return 0, 0, false, err
	}
	var buf [offsetEntrySize]byte
	e, err := ix.entry(i, buf[:])
	if err != nil {
		return 0, 0, false, err
	}
	rel, p := offsetEntry(e)
	if ordered, err := ix.inOrder(i, func(a, b []byte) bool {
		ar, ap := offsetEntry(a)
		br, bp := offsetEntry(b)
		return ar < br && ap < bp
	}); err != nil || !ordered {
		return 0, 0, false, errIfAny(err, errBadIndex)
	}
	return base + int64(rel), int64(p), true, nil
}

// inOrder reports whether entry i stands in order (less) with its
// neighbours: a binary search over entries out of order may pick any.
func (ix *index) inOrder(i int, less func(a, b []byte) bool) (bool, error) {
	var cur, other [timeEntrySize]byte
	e, err := ix.entry(i, cur[:])
	if err != nil {
		return false, err
	}
	if i > 0 {
		prev, err := ix.entry(i-1, other[:])
		if err != nil || !less(prev, e) {
			return false, err
		}
	}
	if i+1 < ix.n {
		next, err := ix.entry(i+1, other[:])
		if err != nil || !less(e, next) {
			return false, err
		}
	}
	return true, nil
}

func errIfAny(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// lookupTime returns the last entry with a timestamp strictly below ts:
// every record up to its offset has a smaller timestamp. ok is false if
// there is none. An entry out of order with its neighbours is errBadIndex;
// one in order is only a claim: callers check it against the log.
func (ix *index) lookupTime(base, ts int64) (entryTs, off int64, ok bool, err error) {
	i, err := ix.search(func(e []byte) bool {
		t, _ := timeEntry(e)
		return t < ts
	})
	if err != nil || i < 0 {
		return 0, 0, false, err
	}
	var buf [timeEntrySize]byte
	e, err := ix.entry(i, buf[:])
	if err != nil {
		return 0, 0, false, err
	}
	t, rel := timeEntry(e)
	if ordered, err := ix.inOrder(i, func(a, b []byte) bool {
		at, ar := timeEntry(a)
		bt, br := timeEntry(b)
		return at <= bt && ar <= br
	}); err != nil || !ordered {
		return 0, 0, false, errIfAny(err, errBadIndex)
	}
	return t, base + int64(rel), true, nil
}

// last returns the last entry, if any.
func (ix *index) last() ([]byte, bool, error) {
	if ix.n == 0 {
		return nil, false, nil
	}
	buf := make([]byte, ix.entrySize)
	e, err := ix.entry(ix.n-1, buf)
	return e, err == nil, err
}

// validateOffsets checks that entries increase and stay inside the log.
// A sealed index is checked at its first and last entries only, as Kafka
// does on a clean start (OffsetIndex.sanityCheck); each entry is checked
// against the log when a lookup uses it. The active one (in memory) is
// checked entry by entry.
func (ix *index) validateOffsets(logSize int64) error {
	return ix.validate(func(prev, e []byte) error {
		rel, pos := offsetEntry(e)
		if int64(pos) >= logSize {
			return fmt.Errorf("offset index entry (%d, %d) past the log's %d bytes", rel, pos, logSize)
		}
		if prev != nil {
			if prel, ppos := offsetEntry(prev); rel <= prel || pos <= ppos {
				return fmt.Errorf("offset index entries (%d, %d) then (%d, %d) do not increase", prel, ppos, rel, pos)
			}
		}
		return nil
	})
}

// validateTimes checks that time index entries do not decrease and name
// offsets inside the segment (below relNext), as validateOffsets does.
func (ix *index) validateTimes(relNext int64) error {
	return ix.validate(func(prev, e []byte) error {
		ts, rel := timeEntry(e)
		if int64(rel) >= relNext {
			return fmt.Errorf("time index entry (%d, %d) past the segment's %d offsets", ts, rel, relNext)
		}
		if prev != nil {
			if pts, prel := timeEntry(prev); ts < pts || rel < prel {
				return fmt.Errorf("time index entries (%d, %d) then (%d, %d) decrease", pts, prel, ts, rel)
			}
		}
		return nil
	})
}

// validate calls check on pairs of entries: every one in memory, or the
// first and the last of a sealed index.
func (ix *index) validate(check func(prev, e []byte) error) error {
	if ix.n == 0 {
		return nil
	}
	if ix.mem != nil {
		var prev []byte
		for i := 0; i < ix.n; i++ {
			e := ix.mem[i*ix.entrySize : (i+1)*ix.entrySize]
			if err := check(prev, e); err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
			prev = e
		}
		return nil
	}
	first := make([]byte, ix.entrySize)
	last := make([]byte, ix.entrySize)
	if _, err := ix.entry(0, first); err != nil {
		return err
	}
	if _, err := ix.entry(ix.n-1, last); err != nil {
		return err
	}
	if err := check(nil, first); err != nil {
		return fmt.Errorf("first entry: %w", err)
	}
	if ix.n > 1 {
		if err := check(first, last); err != nil {
			return fmt.Errorf("last entry: %w", err)
		}
	}
	return nil
}

// replace makes entries (whole entries, back to back) the index's content.
func (ix *index) replace(entries []byte) error {
	f, err := ix.file()
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	ix.n = 0
	if ix.mem != nil {
		ix.mem = ix.mem[:0]
	}
	if len(entries) > 0 {
		if _, err := f.WriteAt(entries, 0); err != nil {
			return err
		}
	}
	ix.n = len(entries) / ix.entrySize
	if ix.active {
		ix.mem = append(ix.mem[:0], entries...)
	}
	return f.Sync()
}

// sync flushes what was written (nothing if the file was never opened).
func (ix *index) sync() error {
	if ix.f == nil {
		return nil
	}
	return ix.f.Sync()
}

func (ix *index) close() error {
	if ix.f == nil {
		return nil
	}
	f := ix.f
	ix.f = nil
	return f.Close()
}

// Close is close, for io.Closer.
func (ix *index) Close() error { return ix.close() }

func appendOffsetEntry(dst []byte, rel uint32, pos uint32) []byte {
	dst = binary.BigEndian.AppendUint32(dst, rel)
	return binary.BigEndian.AppendUint32(dst, pos)
}

func appendTimeEntry(dst []byte, ts int64, rel uint32) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	return binary.BigEndian.AppendUint32(dst, rel)
}
