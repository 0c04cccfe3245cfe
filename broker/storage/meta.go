package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// metaFile records whose a log dir is: the broker and the cluster it was
// written for, as Kafka's meta.properties. A broker refuses a log dir of
// another broker or cluster, so that a wrong broker.id, zookeeper.connect
// or chroot cannot have it serve (or set aside) another broker's data.
const metaFile = "meta.properties"

// Meta is a log dir's meta.properties.
type Meta struct {
	BrokerID int32
	// ClusterID is empty in a meta.properties written before the broker
	// knew its cluster (Kafka's first version 0 files had none).
	ClusterID string
}

// ReadMeta reads the meta.properties of the log dir at path; ok is false
// when it has none. Version 0 files (ZooKeeper-mode Kafka's: broker.id) and
// version 1 files (KRaft's: node.id) are read.
func ReadMeta(fs FS, path string) (m Meta, ok bool, err error) {
	name := filepath.Join(path, metaFile)
	data, err := readFile(fs, name)
	if os.IsNotExist(err) {
		return Meta{}, false, nil
	}
	if err != nil {
		return Meta{}, false, err
	}
	props := make(map[string]string)
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, found := strings.Cut(line, "=")
		if !found {
			k, v, found = strings.Cut(line, ":")
		}
		if found {
			props[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	idKey := "broker.id"
	switch props["version"] {
	case "0":
	case "1":
		idKey = "node.id"
	default:
		return Meta{}, false, fmt.Errorf("%s: unsupported version %q", name, props["version"])
	}
	id, err := strconv.ParseInt(props[idKey], 10, 32)
	if err != nil || id < 0 {
		return Meta{}, false, fmt.Errorf("%s: no valid %s (%q)", name, idKey, props[idKey])
	}
	return Meta{BrokerID: int32(id), ClusterID: props["cluster.id"]}, true, nil
}

// WriteMeta writes the meta.properties of the log dir at path, atomically
// and durably, in version 0's form.
func WriteMeta(fs FS, path string, m Meta) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "#\n#%s\n", time.Now().UTC().Format(time.UnixDate))
	fmt.Fprintf(&sb, "version=0\nbroker.id=%d\n", m.BrokerID)
	if m.ClusterID != "" {
		fmt.Fprintf(&sb, "cluster.id=%s\n", m.ClusterID)
	}
	if err := writeFileAtomic(fs, filepath.Join(path, metaFile), []byte(sb.String())); err != nil {
		return err
	}
	return fs.SyncDir(path)
}
