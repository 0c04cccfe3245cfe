package zkmeta_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/go-zookeeper/zk"

	"gregor/broker/metadata"
	"gregor/internal/zktest"
)

// A partition state written before a replica's registration is its
// previous run's: a leader that restarted (after a machine crash, its log
// may have lost its unflushed tail) does not lead at that state's epoch,
// and whichever broker is controller, even one that never saw the restart,
// takes the restarted replicas as gone and back (metadata.Rejoin): a
// follower that did not restart leads, and where none can, the restarted
// leader leads at the next epoch, so that no follower truncates to it at
// the old one.
func TestRestartedReplicasLoseTheirPreviousRunsLeadership(t *testing.T) {
	z := zktest.Start(t)
	c := rawConn(t, z.Addr)
	zkJSON := func(path string, v any, flags int32) {
		t.Helper()
		data, _ := json.Marshal(v)
		if _, err := c.Create(path, data, flags, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatalf("creating %s: %v", path, err)
		}
	}
	// No controller acts until the test says so: a stand-in holds the
	// controller znode.
	zkJSON("/controller", map[string]any{"version": 1, "brokerid": 99, "timestamp": "0"}, zk.FlagEphemeral)
	b2 := start(t, z.Addr, 2)

	// The previous run's states: broker 1 led x-0, its ISR with broker 2,
	// and solo-0 alone, at leader epoch 5; written after broker 2
	// registered and before broker 1 did (it restarted since). The topic
	// znode and its state are written at once, so that the brokers find the
	// state when they read the topic.
	previous := map[string][]int32{"x": {1, 2}, "solo": {1}}
	for _, topic := range []string{"x", "solo"} {
		prefix := "/brokers/topics/" + topic
		ops := []any{
			&zk.CreateRequest{Path: prefix, Data: []byte(mustJSON(t, map[string]any{"version": 3, "topic_id": metadata.NewUuid().String(),
				"partitions": map[string][]int32{"0": previous[topic]}, "adding_replicas": map[string][]int32{}, "removing_replicas": map[string][]int32{}})), Acl: zk.WorldACL(zk.PermAll)},
			&zk.CreateRequest{Path: prefix + "/partitions", Acl: zk.WorldACL(zk.PermAll)},
			&zk.CreateRequest{Path: prefix + "/partitions/0", Acl: zk.WorldACL(zk.PermAll)},
			&zk.CreateRequest{Path: prefix + "/partitions/0/state", Data: []byte(mustJSON(t, map[string]any{"controller_epoch": 1, "leader": 1, "version": 1,
				"leader_epoch": 5, "isr": previous[topic]})), Acl: zk.WorldACL(zk.PermAll)},
		}
		if _, err := c.Multi(ops...); err != nil {
			t.Fatalf("writing %s's previous state: %v", topic, err)
		}
	}
	await(t, "broker 2 to see x led by broker 1 at epoch 5", func() bool {
		ps, ok := stateOf(b2, "x", 0)
		return ok && ps.Leader == 1 && ps.LeaderEpoch == 5
	})

	b1 := start(t, z.Addr, 1)
	for _, topic := range []string{"x", "solo"} {
		await(t, "broker 1 to see "+topic, func() bool { _, ok := b1.apply.topic(topic); return ok })
		if ps, _ := stateOf(b1, topic, 0); ps.Leader != -1 || ps.LeaderEpoch != 5 {
			t.Fatalf("broker 1, restarted, takes %s-0 as led by %d at epoch %d; want no leader (-1) at epoch 5 until a controller writes a state newer than its registration", topic, ps.Leader, ps.LeaderEpoch)
		}
	}

	if err := c.Delete("/controller", -1); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{b1, b2} {
		await(t, fmt.Sprintf("broker %d to see x-0 led by broker 2 at epoch 6 with ISR [2]", n.id), func() bool {
			ps, _ := stateOf(n, "x", 0)
			return ps.Leader == 2 && ps.LeaderEpoch == 6 && slices.Equal(ps.ISR, []int32{2})
		})
		await(t, fmt.Sprintf("broker %d to see solo-0 led by broker 1 at epoch 6", n.id), func() bool {
			ps, _ := stateOf(n, "solo", 0)
			return ps.Leader == 1 && ps.LeaderEpoch == 6 && slices.Equal(ps.ISR, []int32{1})
		})
	}
	b1.apply.mu.Lock()
	defer b1.apply.mu.Unlock()
	for _, ts := range b1.apply.applied {
		for p, ps := range ts.Partitions {
			if ps.Leader == 1 && ps.LeaderEpoch <= 5 {
				t.Errorf("broker 1 was given %s-%d to lead at its previous run's epoch %d", ts.Name, p, ps.LeaderEpoch)
			}
		}
	}
}

// writePrevious writes a topic of one partition with its state, as a
// previous run left them, in one multi (so that brokers reading the
// topic find the state).
func writePrevious(t *testing.T, c *zk.Conn, topic string, replicas []int32, leader, epoch int32, isr []int32) {
	t.Helper()
	prefix := "/brokers/topics/" + topic
	acl := zk.WorldACL(zk.PermAll)
	if _, err := c.Multi(
		&zk.CreateRequest{Path: prefix, Data: []byte(mustJSON(t, map[string]any{"version": 3, "topic_id": metadata.NewUuid().String(),
			"partitions": map[string][]int32{"0": replicas}, "adding_replicas": map[string][]int32{}, "removing_replicas": map[string][]int32{}})), Acl: acl},
		&zk.CreateRequest{Path: prefix + "/partitions", Acl: acl},
		&zk.CreateRequest{Path: prefix + "/partitions/0", Acl: acl},
		&zk.CreateRequest{Path: prefix + "/partitions/0/state", Data: []byte(mustJSON(t, map[string]any{"controller_epoch": 1, "leader": leader, "version": 1,
			"leader_epoch": epoch, "isr": isr})), Acl: acl},
	); err != nil {
		t.Fatalf("writing %s's previous state: %v", topic, err)
	}
}

// The writers other than the controller's round (a leader's ISR change, a
// controlled shutdown's hand-over) do not carry a restarted replica's
// leadership or ISR membership into a state newer than its registration,
// where the controller would take it as current: a restarted ISR member
// is dropped, and is not handed the leadership.
func TestWritersDropRestartedReplicas(t *testing.T) {
	z := zktest.Start(t)
	c := rawConn(t, z.Addr)
	if _, err := c.Create("/controller", []byte(mustJSON(t, map[string]any{"version": 1, "brokerid": 99, "timestamp": "0"})), zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	b2, b3 := start(t, z.Addr, 2), start(t, z.Addr, 3)
	writePrevious(t, c, "isr", []int32{2, 1, 3}, 2, 5, []int32{2, 1, 3})
	writePrevious(t, c, "stop", []int32{2, 1, 3}, 2, 5, []int32{2, 1, 3})
	b1 := start(t, z.Addr, 1) // restarted since
	for _, n := range []*node{b1, b2, b3} {
		await(t, fmt.Sprintf("broker %d to see broker 1 and the topics", n.id), func() bool {
			ids, _ := n.apply.view()
			_, ok1 := n.apply.topic("isr")
			_, ok2 := n.apply.topic("stop")
			return slices.Contains(ids, 1) && ok1 && ok2
		})
	}
	ctx := context.Background()

	// The leader shrinks the ISR by broker 3: broker 1 goes too.
	cur, _ := stateOf(b2, "isr", 0)
	next := cur
	next.ISR = []int32{2, 1}
	got, err := b2.be.UpdatePartition(ctx, "isr", 0, next)
	if err != nil {
		t.Fatal(err)
	}
	var sz struct {
		Leader      int32
		LeaderEpoch int32 `json:"leader_epoch"`
		ISR         []int32
	}
	getJSON(t, c, "/brokers/topics/isr/partitions/0/state", &sz)
	if !slices.Equal(got.ISR, []int32{2}) || !slices.Equal(sz.ISR, []int32{2}) {
		t.Fatalf("ISR change kept broker 1, restarted since the state: returned %v, written %v; want [2]", got.ISR, sz.ISR)
	}

	// Broker 2 hands its leadership over: to broker 3, not broker 1.
	if err := b2.be.HandOver(ctx, map[string][]int32{"stop": {0}}); err != nil {
		t.Fatal(err)
	}
	getJSON(t, c, "/brokers/topics/stop/partitions/0/state", &sz)
	if sz.Leader != 3 || sz.LeaderEpoch != 6 || !slices.Equal(sz.ISR, []int32{3}) {
		t.Fatalf("hand-over wrote leader %d epoch %d ISR %v; want broker 3 at epoch 6 alone (broker 1 restarted since the state)", sz.Leader, sz.LeaderEpoch, sz.ISR)
	}
}
