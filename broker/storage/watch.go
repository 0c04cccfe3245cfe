package storage

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// IsDiskFailure reports whether err says the storage under a path has
// failed, rather than that the log asked for something that cannot be
// done (a missing file, a full disk): an I/O error, a filesystem that
// turned read-only or was found corrupt, a device that went away. Kafka
// takes a log dir offline on such an error (its LogDirFailureChannel); a
// full disk is not one here, since writes resume once space is freed.
func IsDiskFailure(err error) bool {
	if err == nil {
		return false
	}
	for _, e := range []syscall.Errno{syscall.EIO, syscall.EROFS, syscall.ENODEV, syscall.ENXIO, syscall.EUCLEAN} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// WatchFS wraps fs so that every disk failure (IsDiskFailure) an
// operation meets is reported with the path it was met on, before the
// error is returned as it was. A file keeps the path it was opened with.
func WatchFS(fs FS, report func(path string, err error)) FS {
	return watchFS{fs: fs, report: report}
}

type watchFS struct {
	fs     FS
	report func(path string, err error)
}

func (w watchFS) seen(path string, err error) error {
	if IsDiskFailure(err) {
		w.report(path, err)
	}
	return err
}

func (w watchFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := w.fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, w.seen(name, err)
	}
	return &watchFile{File: f, w: w, path: name}, nil
}

func (w watchFS) Remove(name string) error    { return w.seen(name, w.fs.Remove(name)) }
func (w watchFS) RemoveAll(name string) error { return w.seen(name, w.fs.RemoveAll(name)) }
func (w watchFS) Rename(o, n string) error    { return w.seen(o, w.fs.Rename(o, n)) }
func (w watchFS) MkdirAll(p string, perm os.FileMode) error {
	return w.seen(p, w.fs.MkdirAll(p, perm))
}
func (w watchFS) SyncDir(name string) error { return w.seen(name, w.fs.SyncDir(name)) }
func (w watchFS) Chtimes(name string, mtime time.Time) error {
	return w.seen(name, w.fs.Chtimes(name, mtime))
}

func (w watchFS) ReadDir(name string) ([]os.DirEntry, error) {
	es, err := w.fs.ReadDir(name)
	return es, w.seen(name, err)
}

func (w watchFS) Stat(name string) (os.FileInfo, error) {
	fi, err := w.fs.Stat(name)
	return fi, w.seen(name, err)
}

type watchFile struct {
	File
	w    watchFS
	path string
}

func (f *watchFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	if err != nil {
		f.w.seen(f.path, err)
	}
	return n, err
}

func (f *watchFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	if err != nil {
		f.w.seen(f.path, err)
	}
	return n, err
}

func (f *watchFile) Sync() error            { return f.w.seen(f.path, f.File.Sync()) }
func (f *watchFile) Truncate(n int64) error { return f.w.seen(f.path, f.File.Truncate(n)) }
func (f *watchFile) Close() error           { return f.w.seen(f.path, f.File.Close()) }

func (f *watchFile) Stat() (os.FileInfo, error) {
	fi, err := f.File.Stat()
	return fi, f.w.seen(f.path, err)
}

// OSFile is the file under the watch, for sendfile.
func (f *watchFile) OSFile() (*os.File, bool) { return osFileOf(f.File) }

// osFileOf returns the *os.File a File is or wraps (a wrapper exposes it
// with an OSFile method).
func osFileOf(f File) (*os.File, bool) {
	switch f := f.(type) {
	case *os.File:
		return f, true
	case interface{ OSFile() (*os.File, bool) }:
		return f.OSFile()
	}
	return nil, false
}
