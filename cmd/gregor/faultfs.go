//go:build gregorfaults

package main

// Fault injection, built only into test binaries (go build -tags
// gregorfaults): every file operation under a directory d fails with EIO
// while a file named d + ".fail" exists beside it, as on a disk that
// died; while d + ".full" exists, every write under d writes half of what
// it was given and fails with ENOSPC, as on a full disk; while d + ".hang"
// exists, an fsync under d blocks, as on a disk that stops answering its
// cache flushes. Integration tests use them on one log dir of a running
// broker.

import (
	"os"
	"path/filepath"
	"syscall"
	"time"

	"gregor/broker/storage"
)

func init() { logFS = func() storage.FS { return faultFS{} } }

type faultFS struct{ storage.OSFS }

// failing reports whether path lies under a directory marked failed.
func failing(path string) bool { return marked(path, ".fail") }

// hang blocks while path lies under a directory marked hanging.
func hang(path string) {
	for marked(path, ".hang") {
		time.Sleep(10 * time.Millisecond)
	}
}

// full reports whether path lies under a directory marked full.
func full(path string) bool { return marked(path, ".full") }

func marked(path, suffix string) bool {
	for d := filepath.Clean(path); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d + suffix); err == nil {
			return true
		}
		if up := filepath.Dir(d); up == d {
			return false
		}
	}
}

func eio(op, path string) error { return &os.PathError{Op: op, Path: path, Err: syscall.EIO} }

func (f faultFS) OpenFile(name string, flag int, perm os.FileMode) (storage.File, error) {
	if failing(name) {
		return nil, eio("open", name)
	}
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return faultFile{File: file, path: name}, nil
}

func (f faultFS) Remove(name string) error {
	if failing(name) {
		return eio("remove", name)
	}
	return f.OSFS.Remove(name)
}

func (f faultFS) RemoveAll(name string) error {
	if failing(name) {
		return eio("remove", name)
	}
	return f.OSFS.RemoveAll(name)
}

func (f faultFS) Rename(o, n string) error {
	if failing(o) || failing(n) {
		return eio("rename", o)
	}
	return f.OSFS.Rename(o, n)
}

func (f faultFS) MkdirAll(p string, perm os.FileMode) error {
	if failing(p) {
		return eio("mkdir", p)
	}
	return f.OSFS.MkdirAll(p, perm)
}

func (f faultFS) ReadDir(name string) ([]os.DirEntry, error) {
	if failing(name) {
		return nil, eio("readdirent", name)
	}
	return f.OSFS.ReadDir(name)
}

func (f faultFS) Stat(name string) (os.FileInfo, error) {
	if failing(name) {
		return nil, eio("stat", name)
	}
	return f.OSFS.Stat(name)
}

func (f faultFS) Chtimes(name string, mtime time.Time) error {
	if failing(name) {
		return eio("chtimes", name)
	}
	return f.OSFS.Chtimes(name, mtime)
}

func (f faultFS) SyncDir(name string) error {
	hang(name)
	if failing(name) {
		return eio("sync", name)
	}
	return f.OSFS.SyncDir(name)
}

type faultFile struct {
	storage.File
	path string
}

func (f faultFile) ReadAt(p []byte, off int64) (int, error) {
	if failing(f.path) {
		return 0, eio("read", f.path)
	}
	return f.File.ReadAt(p, off)
}

func (f faultFile) WriteAt(p []byte, off int64) (int, error) {
	if failing(f.path) {
		return 0, eio("write", f.path)
	}
	if full(f.path) {
		n, _ := f.File.WriteAt(p[:len(p)/2], off)
		return n, &os.PathError{Op: "write", Path: f.path, Err: syscall.ENOSPC}
	}
	return f.File.WriteAt(p, off)
}

func (f faultFile) Sync() error {
	hang(f.path)
	if failing(f.path) {
		return eio("sync", f.path)
	}
	return f.File.Sync()
}

func (f faultFile) Truncate(n int64) error {
	if failing(f.path) {
		return eio("truncate", f.path)
	}
	return f.File.Truncate(n)
}

// OSFile keeps sendfile working: reads through it are not failed.
func (f faultFile) OSFile() (*os.File, bool) {
	of, ok := f.File.(*os.File)
	return of, ok
}
