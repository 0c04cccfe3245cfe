package broker

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/storage"
	"gregor/internal/wait"
)

// syncCountFS is the real filesystem, recording the files synced.
// syncedUnder lists the segment files (records and indexes) among them.
type syncCountFS struct {
	storage.OSFS
	mu     *sync.Mutex
	synced *[]string
}

func (f syncCountFS) OpenFile(name string, flag int, perm os.FileMode) (storage.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return syncCountFile{File: file, fs: f, name: name}, nil
}

func (f syncCountFS) syncedUnder(dir string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range *f.synced {
		seg := strings.HasSuffix(n, ".log") || strings.HasSuffix(n, ".index") || strings.HasSuffix(n, ".timeindex")
		if seg && strings.HasPrefix(n, dir) {
			out = append(out, n)
		}
	}
	return out
}

type syncCountFile struct {
	storage.File
	fs   syncCountFS
	name string
}

func (f syncCountFile) Sync() error {
	f.fs.mu.Lock()
	*f.fs.synced = append(*f.fs.synced, f.name)
	f.fs.mu.Unlock()
	return f.File.Sync()
}

// Deleting a topic deletes its logs without syncing them first, as Kafka's
// UnifiedLog.delete: a sync wrote every byte not yet flushed to disk (on a
// busy topic, gigabytes) only to delete it, and held up the disk, and the
// DeleteTopics answer, meanwhile.
func TestDeletedTopicIsNotSyncedBeforeItsFilesGo(t *testing.T) {
	fs := syncCountFS{mu: &sync.Mutex{}, synced: &[]string{}}
	dir := t.TempDir()
	tb := newTestBrokerFS(t, map[string]string{"log.dirs": dir}, fs)
	tb.createTopic("doomed", 2, nil)
	for i := 0; i < 20; i++ {
		tb.produce("doomed", int32(i%2), batch(t, 1000, strings.Repeat("x", 4096)))
	}
	partDir := filepath.Join(dir, "doomed-")
	if got := fs.syncedUnder(partDir); len(got) != 0 {
		t.Fatalf("the test means a topic with nothing flushed yet, but these were synced before the delete: %v", got)
	}
	tb.deleteTopic("doomed")
	gone := func() bool {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "doomed-") {
				return false
			}
		}
		return true
	}
	wait.For(t, "the deleted topic's directories to leave the log dir", 10*time.Second, gone)
	if got := fs.syncedUnder(partDir); len(got) != 0 {
		t.Fatalf("deleting the topic synced its files first: %v", got)
	}
}

// A replica moved to another log dir leaves its old log without syncing it
// first: every byte of it is in the copy, which is synced before the move
// completes.
func TestMovedReplicaOldLogIsNotSynced(t *testing.T) {
	fs := syncCountFS{mu: &sync.Mutex{}, synced: &[]string{}}
	d1, d2 := t.TempDir(), t.TempDir()
	tb := newTestBrokerFS(t, map[string]string{"log.dirs": d1 + "," + d2}, fs)
	tb.createTopic("mv", 1, nil)
	p := tb.Partition("mv", 0)
	from, to := p.dir.Path, d1
	if from == d1 {
		to = d2
	}
	for i := 0; i < 20; i++ {
		tb.produce("mv", 0, batch(t, 1000, strings.Repeat("x", 4096)))
	}
	oldDir := filepath.Join(from, "mv-0")
	if got := fs.syncedUnder(oldDir); len(got) != 0 {
		t.Fatalf("the test means a log with nothing flushed yet, but these were synced before the move: %v", got)
	}
	if codes := tb.alterLogDir(to, "mv", 0); codes[0] != 0 {
		t.Fatalf("AlterReplicaLogDirs: %v", kerr.ErrorForCode(codes[0]))
	}
	wait.For(t, "the move to "+to+" to finish and the old directory to go", 10*time.Second, func() bool {
		dirs := tb.logDirsOf("mv", 0)
		ents, _ := os.ReadDir(from)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "mv-0") {
				return false
			}
		}
		return len(dirs[to]) == 1 && !dirs[to][0].IsFuture && len(dirs[from]) == 0
	})
	if got := fs.syncedUnder(oldDir); len(got) != 0 {
		t.Fatalf("the moved replica's old log was synced before it was deleted: %v", got)
	}
	if got := fs.syncedUnder(to); len(got) == 0 {
		t.Fatal("the copy was never synced")
	}
	if end := p.LogEndOffset(); end != 20 {
		t.Fatalf("log end after the move %d, want 20", end)
	}
}
