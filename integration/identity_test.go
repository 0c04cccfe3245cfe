package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gregor/internal/wait"
)

// partitionDirs lists the directories of a topic's partitions in a
// broker's log dir (brokertest's default log.dirs).
func partitionDirs(t *testing.T, brokerDir, pattern string) []string {
	t.Helper()
	found, err := filepath.Glob(filepath.Join(brokerDir, "data", pattern))
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// A broker refuses log dirs of another cluster (zookeeper.connect with a
// wrong chroot) or of another broker (a wrong broker.id), as Kafka does
// with meta.properties, and exits before it changes anything in them: the
// next start with the right settings serves every record.
func TestBrokerRefusesAnotherClustersLogDirs(t *testing.T) {
	c := startCluster(t, 1, nil)
	c.createTopic("ident", 2, 1, nil)
	produce(t, c, "ident", 50)
	b := c.brokers[1]
	b.Stop()
	before := partitionDirs(t, b.Dir, "ident-*")
	if len(before) != 2 {
		t.Fatalf("partition directories before: %v", before)
	}

	code, logs := b.Refused(map[string]string{"zookeeper.connect": c.zk.Addr + "/another-cluster"}, 30*time.Second)
	if code == 0 || !strings.Contains(logs, "doesn't match stored cluster id") {
		t.Fatalf("with another chroot: exit code %d, log:\n%s", code, logs)
	}
	code, logs = b.Refused(map[string]string{"broker.id": "7"}, 30*time.Second)
	if code == 0 || !strings.Contains(logs, "configured broker.id 7 doesn't match stored broker.id 1") {
		t.Fatalf("with another broker.id: exit code %d, log:\n%s", code, logs)
	}
	if after := partitionDirs(t, b.Dir, "ident-*"); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("the refused starts changed the partition directories: %v, were %v", after, before)
	}

	b.Restart()
	c.awaitBrokers(1, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if n := countAll(ctx, t, c.seeds(), "ident", []int32{0, 1}); n != 50 {
		t.Fatalf("after the refused starts the topic holds %d records, want 50", n)
	}
}

// A broker down while a topic of its was deleted finds the topic's
// replica directories at start, moves them aside as stray and keeps them
// (as Kafka does with stray logs), and serves its other replicas.
func TestTopicDeletedWhileBrokerDownIsMovedAside(t *testing.T) {
	c := startCluster(t, 2, nil)
	c.createTopic("gone", 2, 2, nil)
	c.createTopic("stays", 1, 2, nil)
	produce(t, c, "gone", 20)
	produce(t, c, "stays", 20)
	b := c.brokers[2]
	b.Stop()
	adm, done := c.admin()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adm.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatalf("deleting the topic with broker 2 down: %v", err)
	}
	if dirs := partitionDirs(t, b.Dir, "gone-*"); len(dirs) != 2 {
		t.Fatalf("broker 2's directories of the topic while it is down: %v", dirs)
	}
	b.Restart()
	c.awaitBrokers(2, 30*time.Second)
	wait.For(t, "broker 2 to move aside its replicas of the deleted topic", 10*time.Second, func() bool {
		strays := partitionDirs(t, b.Dir, "gone-*.*-stray")
		in := partitionDirs(t, b.Dir, "gone-[0-9]")
		return len(strays) == 2 && len(in) == 0
	})
	for _, s := range partitionDirs(t, b.Dir, "gone-*.*-stray") {
		if _, err := os.Stat(filepath.Join(s, "00000000000000000000.log")); err != nil {
			t.Fatalf("the stray replica's records were not kept: %v", err)
		}
	}
	if dirs := partitionDirs(t, b.Dir, "stays-0"); len(dirs) != 1 {
		t.Fatalf("broker 2's replica of the other topic: %v", dirs)
	}
	c.awaitISR("stays", 2, 30*time.Second)
}
