package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// meta.properties as Kafka writes it in either mode is read, and what
// Gregor writes reads back the same.
func TestReadMeta(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       Meta
		ok         bool
		err        string
	}{
		{"zookeeper mode", "#\n#Tue Jan 02 10:00:00 UTC 2024\ncluster.id=AbC\nversion=0\nbroker.id=3\n", Meta{3, "AbC"}, true, ""},
		{"kraft mode", "node.id=4\ndirectory.id=x\nversion=1\ncluster.id=Q\n", Meta{4, "Q"}, true, ""},
		{"no cluster yet", "version=0\nbroker.id=0\n", Meta{0, ""}, true, ""},
		{"spaces and colons", "  version : 0\nbroker.id = 9\r\n", Meta{9, ""}, true, ""},
		{"unknown version", "version=2\nbroker.id=1\n", Meta{}, false, "unsupported version"},
		{"no version", "broker.id=1\n", Meta{}, false, "unsupported version"},
		{"no broker id", "version=0\n", Meta{}, false, "no valid broker.id"},
		{"negative broker id", "version=0\nbroker.id=-1\n", Meta{}, false, "no valid broker.id"},
	} {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, "meta.properties"), []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		m, ok, err := ReadMeta(OSFS{}, d)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want an error saying %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || ok != c.ok || m != c.want {
			t.Errorf("%s: %+v %v %v, want %+v", c.name, m, ok, err, c.want)
		}
	}
	d := t.TempDir()
	if _, ok, err := ReadMeta(OSFS{}, d); ok || err != nil {
		t.Fatalf("a dir without meta.properties: %v %v", ok, err)
	}
	want := Meta{BrokerID: 1001, ClusterID: "zY-x_1"}
	if err := WriteMeta(OSFS{}, d, want); err != nil {
		t.Fatal(err)
	}
	if m, ok, err := ReadMeta(OSFS{}, d); !ok || err != nil || m != want {
		t.Fatalf("read back %+v %v %v, want %+v", m, ok, err, want)
	}
}

// No meta.properties makes ReadMeta panic, and what it accepts it reads
// back the same once written.
func FuzzReadMeta(f *testing.F) {
	f.Add([]byte("version=0\nbroker.id=1\ncluster.id=abc\n"))
	f.Add([]byte("version=1\nnode.id=2\n"))
	f.Add([]byte("#\n!\n=\n:\nversion\n"))
	d := f.TempDir()
	name := filepath.Join(d, "meta.properties")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, ok, err := ReadMeta(OSFS{}, d)
		if err != nil || !ok {
			return
		}
		if strings.ContainsAny(m.ClusterID, "\r\n") {
			t.Fatalf("cluster id %q spans lines", m.ClusterID)
		}
		out := t.TempDir()
		if err := WriteMeta(OSFS{}, out, m); err != nil {
			t.Fatal(err)
		}
		back, ok, err := ReadMeta(OSFS{}, out)
		if err != nil || !ok || back != m {
			t.Fatalf("%+v written and read back as %+v %v %v", m, back, ok, err)
		}
	})
}
