package broker

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/broker/storage"
)

// tryBroker starts a broker on local metadata and returns what New or
// Start said; a broker that started is closed when the test ends.
func tryBroker(t *testing.T, props map[string]string) error {
	t.Helper()
	if props["broker.id"] == "" {
		props["broker.id"] = "1"
	}
	cfg, err := config.Load(props, nil)
	if err != nil {
		t.Fatal(err)
	}
	self := metadata.BrokerInfo{ID: cfg.BrokerID, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9092}}}
	b, err := New(Options{Config: cfg, Log: zerolog.Nop(), Backend: metadata.NewLocal(cfg.LogDirs[0], self)})
	if err != nil {
		return err
	}
	if err := b.Start(context.Background()); err != nil {
		b.Close()
		return err
	}
	t.Cleanup(func() { b.Close() })
	return nil
}

// dirFiles is every file of a log dir but the clean-shutdown marker, by
// path, with its bytes.
func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == storage.CleanShutdownFile {
			return err
		}
		data, err := os.ReadFile(path)
		out[strings.TrimPrefix(path, dir)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameFiles(t *testing.T, what string, before, after map[string][]byte) {
	t.Helper()
	for p, data := range before {
		if got, ok := after[p]; !ok || !bytes.Equal(got, data) {
			t.Errorf("%s: %s changed (present %v)", what, p, ok)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s: %s appeared", what, p)
		}
	}
}

// Each log dir records the broker and cluster it belongs to; a broker of
// another id refuses the dirs before it changes anything in them, as
// Kafka does.
func TestLogDirsOfAnotherBrokerAreRefused(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	tb := newTestBroker(t, map[string]string{"log.dirs": d1 + "," + d2})
	tb.createTopic("id", 4, nil)
	cluster := tb.ClusterID()
	tb.Close()
	for _, d := range []string{d1, d2} {
		m, ok, err := storage.ReadMeta(storage.OSFS{}, d)
		if err != nil || !ok || m.BrokerID != 1 || m.ClusterID != cluster {
			t.Fatalf("%s/meta.properties: %+v %v %v, want broker 1 of cluster %s", d, m, ok, err, cluster)
		}
	}
	before1, before2 := dirFiles(t, d1), dirFiles(t, d2)
	err := tryBroker(t, map[string]string{"broker.id": "2", "log.dirs": d1 + "," + d2})
	if err == nil || !strings.Contains(err.Error(), "configured broker.id 2 doesn't match stored broker.id 1") {
		t.Fatalf("starting broker 2 on broker 1's dirs: %v", err)
	}
	sameFiles(t, d1, before1, dirFiles(t, d1))
	sameFiles(t, d2, before2, dirFiles(t, d2))
	if _, err := os.Stat(filepath.Join(d1, storage.CleanShutdownFile)); err != nil {
		t.Errorf("the refused start took the clean-shutdown mark: %v", err)
	}

	// Dirs of two clusters are refused together.
	if err := storage.WriteMeta(storage.OSFS{}, d2, storage.Meta{BrokerID: 1, ClusterID: "another"}); err != nil {
		t.Fatal(err)
	}
	err = tryBroker(t, map[string]string{"broker.id": "1", "log.dirs": d1 + "," + d2})
	if err == nil || !strings.Contains(err.Error(), "belong to different clusters") {
		t.Fatalf("starting on dirs of two clusters: %v", err)
	}
}

// A broker whose metadata names another cluster than its log dirs (the
// local metadata lost, or for a cluster another ZooKeeper chroot) refuses
// to start, and the refused start changes no checkpoint and leaves the
// logs of an unclean stop to be recovered.
func TestLogDirsOfAnotherClusterAreRefused(t *testing.T) {
	d := t.TempDir()
	tb := newTestBroker(t, map[string]string{"log.dirs": d})
	tb.createTopic("id", 2, nil)
	tb.produce("id", 0, batch(t, 1, "v"))
	tb.Close()
	// As after a crash: the next start must recover the logs.
	if err := os.Remove(filepath.Join(d, storage.CleanShutdownFile)); err != nil {
		t.Fatal(err)
	}
	if err := storage.WriteMeta(storage.OSFS{}, d, storage.Meta{BrokerID: 1, ClusterID: "another"}); err != nil {
		t.Fatal(err)
	}
	before := dirFiles(t, d)
	err := tryBroker(t, map[string]string{"log.dirs": d})
	if err == nil || !strings.Contains(err.Error(), "doesn't match stored cluster id another") {
		t.Fatalf("starting on another cluster's dir: %v", err)
	}
	sameFiles(t, d, before, dirFiles(t, d))
	if _, err := os.Stat(filepath.Join(d, storage.CleanShutdownFile)); !os.IsNotExist(err) {
		t.Fatalf("the refused start marked the dir clean (%v): the next start would not recover its logs", err)
	}
}

// A replica directory found at start that is no replica of the broker's
// (its topic deleted while the broker was down) is moved aside and kept,
// as Kafka keeps stray logs; only in a dir whose meta.properties named the
// broker and cluster at start.
func TestReplicaOfADeletedTopicIsMovedAside(t *testing.T) {
	d := t.TempDir()
	tb := newTestBroker(t, map[string]string{"log.dirs": d})
	tb.createTopic("kept", 1, nil)
	tb.createTopic("gone", 1, nil)
	tb.produce("gone", 0, batch(t, 1, "v"))
	tb.Close()
	// What a broker down while the topic was deleted holds: the
	// replica, of a topic the metadata no longer has.
	gone, err := os.MkdirTemp("", "gone")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(gone)
	if err := os.Rename(filepath.Join(d, "gone-0"), filepath.Join(gone, "gone-0")); err != nil {
		t.Fatal(err)
	}
	tb = newTestBroker(t, map[string]string{"log.dirs": d})
	if err := tb.Backend().DeleteTopic(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	tb.Close()
	if err := os.Rename(filepath.Join(gone, "gone-0"), filepath.Join(d, "gone-0")); err != nil {
		t.Fatal(err)
	}

	// Without meta.properties (a dir of an earlier Gregor), or with one
	// naming no cluster, nothing is taken for stray at that start; the
	// start writes a whole one.
	metaFile := filepath.Join(d, "meta.properties")
	saved, ok, err := storage.ReadMeta(storage.OSFS{}, d)
	if err != nil || !ok {
		t.Fatalf("meta.properties: %v %v", ok, err)
	}
	for _, unchecked := range []func() error{
		func() error { return os.Remove(metaFile) },
		func() error { return os.WriteFile(metaFile, []byte("version=0\nbroker.id=1\n"), 0o644) },
	} {
		if err := unchecked(); err != nil {
			t.Fatal(err)
		}
		tb = newTestBroker(t, map[string]string{"log.dirs": d})
		if _, err := os.Stat(filepath.Join(d, "gone-0")); err != nil {
			t.Fatalf("a replica directory in an unchecked dir was touched: %v", err)
		}
		tb.Close()
		if m, ok, err := storage.ReadMeta(storage.OSFS{}, d); err != nil || !ok || m != saved {
			t.Fatalf("meta.properties after the start: %+v %v %v, want %+v", m, ok, err, saved)
		}
	}

	tb = newTestBroker(t, map[string]string{"log.dirs": d})
	if _, err := os.Stat(filepath.Join(d, "gone-0")); !os.IsNotExist(err) {
		t.Fatalf("the deleted topic's replica directory is still in place: %v", err)
	}
	strays, _ := filepath.Glob(filepath.Join(d, "gone-0.*-stray"))
	if len(strays) != 1 {
		t.Fatalf("stray directories %v, want the deleted topic's replica kept aside", strays)
	}
	if _, err := os.Stat(filepath.Join(strays[0], "00000000000000000000.log")); err != nil {
		t.Fatalf("the stray replica's records were not kept: %v", err)
	}
	if p := tb.Partition("kept", 0); p == nil || !p.IsLeader() {
		t.Fatal("the kept topic's replica does not serve")
	}
	if _, err := os.Stat(filepath.Join(d, "kept-0")); err != nil {
		t.Fatalf("a replica of the broker's was moved: %v", err)
	}
}

// A replica directory found at start that no partition opens (here one
// with no topic id, which is never taken for stray) keeps its checkpoint
// entries across starts: it is still in the dir, and may be opened later.
func TestUnopenedReplicaKeepsItsCheckpoints(t *testing.T) {
	d := t.TempDir()
	tb := newTestBroker(t, map[string]string{"log.dirs": d})
	tb.createTopic("x", 1, nil)
	for i := range 10 {
		tb.produce("x", 0, batch(t, int64(i), "v"))
	}
	tb.Close()
	aside := t.TempDir()
	if err := os.Rename(filepath.Join(d, "x-0"), filepath.Join(aside, "x-0")); err != nil {
		t.Fatal(err)
	}
	tb = newTestBroker(t, map[string]string{"log.dirs": d})
	if err := tb.Backend().DeleteTopic(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	tb.Close()
	if err := os.Rename(filepath.Join(aside, "x-0"), filepath.Join(d, "x-0")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(d, "x-0", "partition.metadata")); err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(d, "log-start-offset-checkpoint")
	if err := os.WriteFile(ck, []byte("0\n1\nx 0 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tb = newTestBroker(t, map[string]string{"log.dirs": d})
	tb.writeCheckpoints()
	tb.Close()
	if data, err := os.ReadFile(ck); err != nil || !bytes.Contains(data, []byte("\nx 0 5\n")) {
		t.Fatalf("the log start checkpoint after a start: %q (%v), want x-0's entry kept", data, err)
	}
	if _, err := os.Stat(filepath.Join(d, "x-0")); err != nil {
		t.Fatalf("the replica without a topic id was touched: %v", err)
	}
}

// renameFailFS refuses to rename a log dir move's copy.
type renameFailFS struct{ storage.OSFS }

func (f renameFailFS) Rename(o, n string) error {
	if strings.HasSuffix(o, "-future") {
		return &os.LinkError{Op: "rename", Old: o, New: n, Err: errors.New("refused by the test")}
	}
	return f.OSFS.Rename(o, n)
}

// A first start that fails after the broker named the cluster in its log
// dir (here the promotion of a log dir move's copy fails) has recorded
// that cluster in its local metadata file too, so the next start is not
// refused as another cluster's.
func TestFailedFirstStartLeavesTheClusterRecorded(t *testing.T) {
	d := t.TempDir()
	if err := os.MkdirAll(filepath.Join(d, "x-0.0123456789abcdef0123456789abcdef-future"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(map[string]string{"broker.id": "1", "log.dirs": d}, nil)
	if err != nil {
		t.Fatal(err)
	}
	self := metadata.BrokerInfo{ID: 1, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9092}}}
	b, err := New(Options{Config: cfg, Log: zerolog.Nop(), Backend: metadata.NewLocal(d, self), FS: renameFailFS{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "refused by the test") {
		t.Fatalf("the first start: %v, want the refused rename", err)
	}
	b.Close()
	if m, ok, err := storage.ReadMeta(storage.OSFS{}, d); err != nil || !ok || m.ClusterID == "" {
		t.Fatalf("meta.properties after the failed start: %+v %v %v", m, ok, err)
	}
	if err := tryBroker(t, map[string]string{"log.dirs": d}); err != nil {
		t.Fatalf("the next start: %v", err)
	}
}
