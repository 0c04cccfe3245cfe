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
// ReadAt, so old segments cost no memory.
type index struct {
	f         File
	entrySize int
	n         int    // entries in the file
	mem       []byte // entries, while the segment is active
	active    bool
}

func openIndex(fs FS, path string, entrySize int, active bool) (*index, error) {
	f, err := fs.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	ix := &index{f: f, entrySize: entrySize, n: int(st.Size()) / entrySize, active: active}
	if st.Size()%int64(entrySize) != 0 {
		// A torn entry: drop it. Callers validate the rest.
		if err := f.Truncate(int64(ix.n * entrySize)); err != nil {
			f.Close()
			return nil, err
		}
	}
	if active {
		if err := ix.loadMem(); err != nil {
			f.Close()
			return nil, err
		}
	}
	return ix, nil
}

func (ix *index) loadMem() error {
	ix.mem = make([]byte, ix.n*ix.entrySize)
	if len(ix.mem) == 0 {
		return nil
	}
	_, err := ix.f.ReadAt(ix.mem, 0)
	return err
}

// entry returns the raw bytes of entry i.
func (ix *index) entry(i int, buf []byte) ([]byte, error) {
	if ix.mem != nil {
		return ix.mem[i*ix.entrySize : (i+1)*ix.entrySize], nil
	}
	if _, err := ix.f.ReadAt(buf[:ix.entrySize], int64(i*ix.entrySize)); err != nil {
		return nil, err
	}
	return buf[:ix.entrySize], nil
}

func (ix *index) append(e []byte) error {
	if _, err := ix.f.WriteAt(e, int64(ix.n*ix.entrySize)); err != nil {
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
	if err := ix.f.Truncate(int64(n * ix.entrySize)); err != nil {
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

// lookupOffset returns the position of the last indexed batch whose indexed
// offset is at or below off (0 if none).
func (ix *index) lookupOffset(base, off int64) (int64, error) {
	i, err := ix.search(func(e []byte) bool {
		rel, _ := offsetEntry(e)
		return base+int64(rel) <= off
	})
	if err != nil || i < 0 {
		return 0, err
	}
	var buf [offsetEntrySize]byte
	e, err := ix.entry(i, buf[:])
	if err != nil {
		return 0, err
	}
	_, pos := offsetEntry(e)
	return int64(pos), nil
}

// lookupTime returns the offset of the last entry with a timestamp strictly
// below ts, or base if none: every record before it has a smaller timestamp.
func (ix *index) lookupTime(base, ts int64) (int64, error) {
	i, err := ix.search(func(e []byte) bool {
		t, _ := timeEntry(e)
		return t < ts
	})
	if err != nil || i < 0 {
		return base, err
	}
	var buf [timeEntrySize]byte
	e, err := ix.entry(i, buf[:])
	if err != nil {
		return base, err
	}
	_, rel := timeEntry(e)
	return base + int64(rel), nil
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
// A sealed index is checked at its last entry only, as Kafka does on a
// clean start; the active one (in memory) is checked entry by entry.
func (ix *index) validateOffsets(logSize int64) error {
	first := 0
	if ix.mem == nil {
		first = ix.n - 1
	}
	var buf [offsetEntrySize]byte
	var prevRel, prevPos int64 = -1, -1
	for i := max(first, 0); i < ix.n; i++ {
		e, err := ix.entry(i, buf[:])
		if err != nil {
			return err
		}
		rel, pos := offsetEntry(e)
		if int64(rel) <= prevRel || int64(pos) <= prevPos || int64(pos) >= logSize {
			return fmt.Errorf("offset index entry %d (%d, %d) out of order or past log size %d", i, rel, pos, logSize)
		}
		prevRel, prevPos = int64(rel), int64(pos)
	}
	return nil
}

func (ix *index) close() error { return ix.f.Close() }

func appendOffsetEntry(dst []byte, rel uint32, pos uint32) []byte {
	dst = binary.BigEndian.AppendUint32(dst, rel)
	return binary.BigEndian.AppendUint32(dst, pos)
}

func appendTimeEntry(dst []byte, ts int64, rel uint32) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	return binary.BigEndian.AppendUint32(dst, rel)
}
