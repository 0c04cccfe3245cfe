package storage

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCleanShutdownMarkerIsKafkas(t *testing.T) {
	// The clean-shutdown marker is Kafka's, CleanShutdownFileHandler's
	// .kafka_cleanshutdown holding {"version":0,"brokerEpoch":-1}, so
	// that an operator's check for it, and a log dir moved between Kafka
	// and Gregor, see a clean shutdown as one. Gregor wrote an empty
	// .gregor-clean-shutdown, still taken for one.
	dir := t.TempDir()
	d, err := OpenDir(OSFS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Clean() {
		t.Fatal("a new log dir is taken for cleanly shut down")
	}
	if err := d.MarkClean(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, ".kafka_cleanshutdown"))
	if err != nil {
		t.Fatalf("no Kafka clean-shutdown marker after MarkClean: %v", err)
	}
	if string(got) != `{"version":0,"brokerEpoch":-1}` {
		t.Fatalf("marker holds %q, want Kafka's JSON", got)
	}
	for _, c := range []struct{ name, content string }{
		{".kafka_cleanshutdown", `{"version":0,"brokerEpoch":4294967342}`}, // written by Kafka
		{".gregor-clean-shutdown", ""},                                     // by earlier Gregor
	} {
		os.Remove(filepath.Join(dir, ".kafka_cleanshutdown"))
		if err := os.WriteFile(filepath.Join(dir, c.name), []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := OpenDir(OSFS{}, dir)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Clean() {
			t.Fatalf("a log dir with %s is not taken for cleanly shut down", c.name)
		}
		if _, err := os.Stat(filepath.Join(dir, c.name)); !os.IsNotExist(err) {
			t.Fatalf("%s is still there once the dir is opened", c.name)
		}
		if d, err := OpenDir(OSFS{}, dir); err != nil || d.Clean() {
			t.Fatalf("opened again without a marker: clean %v, error %v; want an unclean dir", d != nil && d.Clean(), err)
		}
	}
}
