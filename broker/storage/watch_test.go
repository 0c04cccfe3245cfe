package storage

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
)

// eioFS fails writes with EIO and opens of missing files as the OS does.
type eioFS struct{ OSFS }

func (f eioFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return eioFile{file}, nil
}

type eioFile struct{ File }

func (eioFile) WriteAt([]byte, int64) (int, error) {
	return 0, &os.PathError{Op: "write", Err: syscall.EIO}
}

// OSFile keeps the file under it reachable, as a wrapper should.
func (f eioFile) OSFile() (*os.File, bool) { return osFileOf(f.File) }

// TestWatchFSReportsDiskFailuresOnly: an I/O error is reported with its
// path and returned unchanged; a missing file and a full disk are not
// disk failures; the *os.File under two wrappers is still found (the
// sendfile path).
func TestWatchFSReportsDiskFailuresOnly(t *testing.T) {
	dir := t.TempDir()
	var got []string
	fs := WatchFS(eioFS{}, func(path string, err error) { got = append(got, path) })
	if _, err := fs.OpenFile(filepath.Join(dir, "missing"), os.O_RDONLY, 0); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open of a missing file: %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("a missing file was reported as a disk failure: %v", got)
	}
	path := filepath.Join(dir, "f")
	f, err := fs.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write: %v, want the EIO unchanged", err)
	}
	if len(got) != 1 || got[0] != path {
		t.Fatalf("reported %v, want [%s]", got, path)
	}
	if of, ok := osFileOf(f); !ok || of == nil {
		t.Fatal("the *os.File under the watch and the wrapper is not found")
	}
	for _, e := range []error{syscall.ENOSPC, syscall.ENOENT, syscall.EEXIST, nil} {
		if IsDiskFailure(e) {
			t.Fatalf("%v taken for a disk failure", e)
		}
	}
	for _, e := range []error{syscall.EIO, syscall.EROFS, &os.PathError{Op: "sync", Err: syscall.EIO}} {
		if !IsDiskFailure(e) {
			t.Fatalf("%v not taken for a disk failure", e)
		}
	}
}

// TestSectionFileFailedIsReported: a sendfile that could not read a
// section's file (the protocol layer tells the section) is reported as a
// disk failure under the segment's path; the section still finds its
// *os.File through the watch.
func TestSectionFileFailedIsReported(t *testing.T) {
	dir := t.TempDir()
	var got []string
	fs := WatchFS(OSFS{}, func(path string, err error) { got = append(got, path) })
	l, err := Open(fs, dir, testConfig(), OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendBatches(t, l, 2, 3, 1000, 100)
	sec, err := l.ReadSection(0, 1<<62, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sec.Release()
	if f, _, ok := sec.File(); !ok || f == nil {
		t.Fatal("no *os.File for sendfile behind the watch")
	}
	sec.FileFailed(&os.SyscallError{Syscall: "sendfile", Err: syscall.EIO})
	if len(got) != 1 || filepath.Dir(got[0]) != dir {
		t.Fatalf("reported %v, want one path in %s", got, dir)
	}
}
