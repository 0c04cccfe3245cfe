package zkmeta

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"gregor/internal/wait"
	"gregor/internal/zktest"
)

// A topic marked for deletion has no watch for the creation of its
// missing states (watchCreation). When the mark goes and the topic stays
// (the controller drops the deletion, as with delete.topic.enable=false),
// what it had missing is read again and watched: its states, created
// afterwards, reach every broker. Before, a broker other than the
// controller never read them, and showed the partitions without a leader
// until it restarted.
func TestDroppedDeletionReadsTheTopicAgain(t *testing.T) {
	z := zktest.Start(t)
	const root = "/dropped"
	raw := rawZK(t, z.Addr)
	acl := zk.WorldACL(zk.PermAll)
	b := startBesideController(t, z, raw, root) // it makes /admin/delete_topics
	ctx := context.Background()
	round := func() {
		t.Helper()
		if err := b.sync(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Create(root+deleteTopicsPath+"/t", nil, 0, acl); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Create(root+"/brokers/topics/t", topicZNodeData(t, 4), 0, acl); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "broker 2 to read topic t", 30*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		tc := b.topics["t"]
		return tc != nil && len(tc.states) == 4
	})
	round()
	round()
	if err := raw.Delete(root+deleteTopicsPath+"/t", -1); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "broker 2 to see t's deletion mark gone", 30*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return !b.deleting["t"]
	})
	round()
	createPartitions(t, raw, root, "t", 4, encodeState(1, 1, 0, []int32{1}))
	wait.For(t, "broker 2 to read every state of t, created after its deletion was dropped", 15*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return !slices.Contains(b.topics["t"].states, nil)
	})
}
