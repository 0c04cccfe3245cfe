package storage

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"gregor/broker/records"
)

// memFS is an in-memory FS, so the fuzzer does not fsync to a real disk
// thousands of times a second. Open handles share a file's bytes, as on
// POSIX, and keep them after a rename or removal.
type memFS struct {
	mu    sync.Mutex
	files map[string]*memData
	dirs  map[string]bool
}

type memData struct {
	mu  sync.Mutex
	b   []byte
	mod time.Time
}

func newMemFS() *memFS {
	return &memFS{files: map[string]*memData{}, dirs: map[string]bool{"/": true}}
}

func notExist(op, name string) error { return &os.PathError{Op: op, Path: name, Err: os.ErrNotExist} }

func (m *memFS) OpenFile(name string, flag int, _ os.FileMode) (File, error) {
	name = path.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.files[name]
	if !ok {
		if flag&os.O_CREATE == 0 {
			return nil, notExist("open", name)
		}
		d = &memData{mod: time.Now()}
		m.files[name] = d
	}
	if flag&os.O_TRUNC != 0 {
		d.mu.Lock()
		d.b = nil
		d.mu.Unlock()
	}
	return &memFile{name: name, d: d}, nil
}

func (m *memFS) Remove(name string) error {
	name = path.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; ok {
		delete(m.files, name)
		return nil
	}
	if m.dirs[name] {
		delete(m.dirs, name)
		return nil
	}
	return notExist("remove", name)
}

func (m *memFS) RemoveAll(name string) error {
	name = path.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	for f := range m.files {
		if f == name || strings.HasPrefix(f, name+"/") {
			delete(m.files, f)
		}
	}
	for d := range m.dirs {
		if d == name || strings.HasPrefix(d, name+"/") {
			delete(m.dirs, d)
		}
	}
	return nil
}

func (m *memFS) Rename(oldpath, newpath string) error {
	oldpath, newpath = path.Clean(oldpath), path.Clean(newpath)
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.files[oldpath]; ok {
		delete(m.files, oldpath)
		m.files[newpath] = d
		return nil
	}
	if !m.dirs[oldpath] {
		return notExist("rename", oldpath)
	}
	for f, d := range m.files {
		if strings.HasPrefix(f, oldpath+"/") {
			delete(m.files, f)
			m.files[newpath+strings.TrimPrefix(f, oldpath)] = d
		}
	}
	for d := range m.dirs {
		if d == oldpath || strings.HasPrefix(d, oldpath+"/") {
			delete(m.dirs, d)
			m.dirs[newpath+strings.TrimPrefix(d, oldpath)] = true
		}
	}
	return nil
}

func (m *memFS) MkdirAll(p string, _ os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p = path.Clean(p); p != "/" && p != "."; p = path.Dir(p) {
		m.dirs[p] = true
	}
	return nil
}

func (m *memFS) ReadDir(name string) ([]os.DirEntry, error) {
	name = path.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[name] {
		return nil, notExist("readdir", name)
	}
	var out []os.DirEntry
	for f, d := range m.files {
		if path.Dir(f) == name {
			out = append(out, fs.FileInfoToDirEntry(memInfo{name: path.Base(f), size: int64(d.size())}))
		}
	}
	for d := range m.dirs {
		if d != name && path.Dir(d) == name {
			out = append(out, fs.FileInfoToDirEntry(memInfo{name: path.Base(d), dir: true}))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (m *memFS) Stat(name string) (os.FileInfo, error) {
	name = path.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.files[name]; ok {
		return memInfo{name: path.Base(name), size: int64(d.size()), mod: d.mod}, nil
	}
	if m.dirs[name] {
		return memInfo{name: path.Base(name), dir: true}, nil
	}
	return nil, notExist("stat", name)
}

func (m *memFS) SyncDir(string) error { return nil }

func (m *memFS) Chtimes(name string, mtime time.Time) error {
	name = path.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.files[name]
	if !ok {
		return notExist("chtimes", name)
	}
	d.mod = mtime
	return nil
}

// put stores a file's bytes directly.
func (m *memFS) put(name string, b []byte) {
	m.MkdirAll(path.Dir(name), 0o755)
	m.mu.Lock()
	m.files[path.Clean(name)] = &memData{b: append([]byte(nil), b...), mod: time.Now()}
	m.mu.Unlock()
}

// get returns a copy of a file's bytes.
func (m *memFS) get(name string) []byte {
	m.mu.Lock()
	d := m.files[path.Clean(name)]
	m.mu.Unlock()
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]byte(nil), d.b...)
}

func (d *memData) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.b)
}

type memFile struct {
	name string
	d    *memData
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if off < 0 {
		return 0, os.ErrInvalid
	}
	if off >= int64(len(f.d.b)) {
		return 0, io.EOF
	}
	n := copy(p, f.d.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if off < 0 {
		return 0, os.ErrInvalid
	}
	if end := off + int64(len(p)); end > int64(len(f.d.b)) {
		f.d.b = append(f.d.b, make([]byte, end-int64(len(f.d.b)))...)
	}
	copy(f.d.b[off:], p)
	f.d.mod = time.Now()
	return len(p), nil
}

func (f *memFile) Truncate(size int64) error {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if size < int64(len(f.d.b)) {
		f.d.b = f.d.b[:size]
	} else {
		f.d.b = append(f.d.b, make([]byte, size-int64(len(f.d.b)))...)
	}
	return nil
}

func (f *memFile) Stat() (os.FileInfo, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	return memInfo{name: path.Base(f.name), size: int64(len(f.d.b)), mod: f.d.mod}, nil
}

func (f *memFile) Sync() error  { return nil }
func (f *memFile) Close() error { return nil }

type memInfo struct {
	name string
	size int64
	mod  time.Time
	dir  bool
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

// fuzzOriginal is a small log written through Log.Append: its segment and
// index bytes, and the batches it holds.
type fuzzOriginal struct {
	files   map[string][]byte
	batches [][]byte
	next    int64
}

const fuzzDir = "/data/t-0"

func fuzzLog(t testing.TB) fuzzOriginal {
	m := newMemFS()
	cfg := testConfig()
	cfg.IndexIntervalBytes = 64
	l, err := Open(m, fuzzDir, cfg, OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	var out fuzzOriginal
	for i, n := range []int{1, 3, 2, 5, 1, 4, 2} {
		next := l.NextOffset()
		b := buildBatch(t, next, n, 1_700_000_000_000+next, 5+7*i)
		if i == 3 { // one compressed batch
			if b, err = records.Recompress(b, records.CodecGzip, 0); err != nil {
				t.Fatal(err)
			}
		}
		records.SetLeaderEpoch(b, int32(i/2))
		if err := l.Append(b, appendInfoFor(t, b)); err != nil {
			t.Fatal(err)
		}
		out.batches = append(out.batches, b)
	}
	out.next = l.NextOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out.files = map[string][]byte{}
	for _, name := range []string{"00000000000000000000.log", "00000000000000000000.index", "00000000000000000000.timeindex", epochFile} {
		out.files[name] = m.get(fuzzDir + "/" + name)
	}
	return out
}

// sameOutsideUncheckedFields compares two batches except the base offset
// and partition leader epoch, which lie outside the CRC: recovery can only
// check that offsets increase.
func sameOutsideUncheckedFields(a, b []byte) bool {
	if len(a) != len(b) || len(a) < records.HeaderSize {
		return false
	}
	return bytes.Equal(a[8:12], b[8:12]) && bytes.Equal(a[16:], b[16:])
}

// FuzzRecover corrupts and truncates a segment written by the log, then
// reopens it. Recovery must not panic or fail, and after a crash the log
// must hold the valid batches before the damage (up to the fields outside
// the CRC), only batches with a valid CRC and increasing offsets, and take
// appends again.
func FuzzRecover(f *testing.F) {
	orig := fuzzLog(f)
	logLen := len(orig.files["00000000000000000000.log"])
	f.Add(uint16(logLen), uint16(0), byte(0), []byte(nil), false)
	f.Add(uint16(logLen-10), uint16(0), byte(0), []byte(nil), false)
	f.Add(uint16(logLen), uint16(100), byte(1), []byte(nil), false)
	f.Add(uint16(logLen), uint16(17), byte(0xff), []byte(nil), false)
	f.Add(uint16(logLen), uint16(5), byte(0x10), []byte(nil), false)
	f.Add(uint16(logLen), uint16(0), byte(0), orig.batches[2], false)
	f.Add(uint16(logLen), uint16(0), byte(0), []byte{0, 0, 0, 0, 0, 0, 0, 30, 0, 0, 0, 49, 0, 0, 0, 0, 2}, false)
	f.Add(uint16(70), uint16(0), byte(0), []byte(nil), true)
	f.Add(uint16(logLen), uint16(logLen-5), byte(3), []byte(nil), true)
	f.Fuzz(func(t *testing.T, cut uint16, flipAt uint16, flip byte, tail []byte, clean bool) {
		if len(tail) > 4096 {
			tail = tail[:4096]
		}
		data := append([]byte(nil), orig.files["00000000000000000000.log"]...)
		damage := len(data) // first position that differs from the original
		if flip != 0 {
			p := int(flipAt) % len(data)
			data[p] ^= flip
			damage = p
		}
		if int(cut) < len(data) {
			data = data[:cut]
			damage = min(damage, int(cut))
		}
		data = append(data, tail...)
		intact, end := 0, 0
		for _, b := range orig.batches {
			if end+len(b) > damage {
				break
			}
			end += len(b)
			intact++
		}

		m := newMemFS()
		for name, b := range orig.files {
			m.put(fuzzDir+"/"+name, b)
		}
		m.put(fuzzDir+"/00000000000000000000.log", data)
		opt := crashed
		if clean {
			opt = OpenOptions{Clean: true, RecoveryPoint: orig.next}
		}
		cfg := testConfig()
		cfg.IndexIntervalBytes = 64
		l, err := Open(m, fuzzDir, cfg, opt, zerolog.Nop())
		if err != nil {
			t.Fatalf("opening the damaged log: %v", err)
		}
		defer l.Close()
		if clean {
			// A clean shutdown vouches for the bytes below the last index
			// entry; damage there is not looked for. The log must still
			// open, answer reads without panicking and take an append.
			l.Batches(l.StartOffset(), l.NextOffset(), func([]byte) bool { return true })
			next := l.NextOffset()
			b := buildBatch(t, next, 2, 1, 3)
			if err := l.Append(b, appendInfoFor(t, b)); err != nil {
				t.Fatalf("append at %d after recovery: %v", next, err)
			}
			return
		}

		var got [][]byte
		prevLast := int64(-1)
		err = l.Batches(l.StartOffset(), l.NextOffset(), func(b []byte) bool {
			got = append(got, append([]byte(nil), b...))
			return true
		})
		if err != nil {
			t.Fatalf("reading the recovered log: %v", err)
		}
		size := 0
		for i, b := range got {
			h, err := records.ParseHeader(b)
			if err != nil || !records.CRCValid(b) {
				t.Fatalf("recovered batch %d: header %v, CRC valid %v", i, err, records.CRCValid(b))
			}
			if h.BaseOffset <= prevLast || h.LastOffsetDelta < 0 {
				t.Fatalf("recovered batch %d at %d..%d does not follow offset %d", i, h.BaseOffset, h.LastOffset(), prevLast)
			}
			prevLast = h.LastOffset()
			if i < len(orig.batches) && !sameOutsideUncheckedFields(b, orig.batches[i]) {
				t.Fatalf("recovered batch %d is not original batch %d", i, i)
			}
			size += len(b)
		}
		if len(got) < intact {
			t.Fatalf("recovered %d batches, but the first %d were undamaged", len(got), intact)
		}
		if int64(size) != l.Size() || int64(len(m.get(fuzzDir+"/00000000000000000000.log"))) != l.Size() {
			t.Fatalf("log size %d, batches %d bytes, file %d bytes", l.Size(), size, len(m.get(fuzzDir+"/00000000000000000000.log")))
		}
		if want := prevLast + 1; len(got) > 0 && l.NextOffset() != want {
			t.Fatalf("log ends at %d, its last batch at %d", l.NextOffset(), prevLast)
		}
		next := l.NextOffset()
		b := buildBatch(t, next, 2, 1, 3)
		if err := l.Append(b, appendInfoFor(t, b)); err != nil {
			t.Fatalf("append at %d after recovery: %v", next, err)
		}
		if r, err := l.Read(next, next+2, 1<<20, true); err != nil || !bytes.Equal(r, b) {
			t.Fatalf("reading the append after recovery: %d bytes, %v", len(r), err)
		}
	})
}
