package zkmeta_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/metadata"
	"gregor/internal/zktest"
)

// resultCode returns the Kafka error code of one per-partition result.
func resultCode(t *testing.T, res map[string]map[int32]error, topic string, p int32) int16 {
	t.Helper()
	err, ok := res[topic][p]
	if !ok {
		t.Fatalf("no result for %s-%d in %v", topic, p, res)
	}
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		t.Fatalf("%s-%d: %v is not a Kafka error", topic, p, err)
	}
	return ke.Code
}

type topicJSON struct {
	Version          int
	Partitions       map[string][]int32
	TopicID          string             `json:"topic_id"`
	AddingReplicas   map[string][]int32 `json:"adding_replicas"`
	RemovingReplicas map[string][]int32 `json:"removing_replicas"`
}

func TestReassignPartitions(t *testing.T) {
	z := zktest.Start(t)
	c := rawConn(t, z.Addr)
	nodes := map[int32]*node{}
	for id := int32(1); id <= 3; id++ {
		nodes[id] = start(t, z.Addr, id)
	}
	ctx := context.Background()
	a := nodes[1]
	if _, err := a.be.CreateTopic(ctx, metadata.TopicSpec{Name: "ra", Assignment: [][]int32{{1, 2}, {2, 1}}}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		await(t, fmt.Sprintf("broker %d to see ra online", n.id), func() bool {
			p0, _ := stateOf(n, "ra", 0)
			p1, _ := stateOf(n, "ra", 1)
			return p0.Leader == 1 && len(p0.ISR) == 2 && p1.Leader == 2 && len(p1.ISR) == 2
		})
	}
	before, _ := stateOf(a, "ra", 0)

	// Only the controller (broker 1, started first) reassigns: another
	// broker is told NOT_CONTROLLER, which its handler forwards.
	await(t, "broker 2 to see broker 1 as the controller", func() bool { _, c := nodes[2].apply.view(); return c == 1 })
	if _, err := nodes[2].be.AlterPartitionReassignments(ctx, map[string]map[int32][]int32{"ra": {0: {2, 3}}}, true); !errors.Is(err, kerr.NotController) {
		t.Fatalf("a reassignment asked of broker 2, not the controller: %v, want NOT_CONTROLLER", err)
	}

	// Invalid requests change nothing.
	res, err := a.be.AlterPartitionReassignments(ctx, map[string]map[int32][]int32{
		"ra":   {0: {}, 1: {2, 2}},
		"nope": {0: {1}, 1: nil},
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	res2, err := a.be.AlterPartitionReassignments(ctx, map[string]map[int32][]int32{"ra": {0: {2, 9}, 1: nil, 5: {1}}}, true)
	if err != nil {
		t.Fatal(err)
	}
	res3, err := a.be.AlterPartitionReassignments(ctx, map[string]map[int32][]int32{"ra": {0: {2, 3, 1}, 1: {-1}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		res   map[string]map[int32]error
		topic string
		p     int32
		want  *kerr.Error
	}{
		{res, "ra", 0, kerr.InvalidReplicaAssignment},
		{res, "ra", 1, kerr.InvalidReplicaAssignment},
		{res, "nope", 0, kerr.UnknownTopicOrPartition},
		{res, "nope", 1, kerr.UnknownTopicOrPartition}, // a cancel: the partition is looked up first
		{res2, "ra", 0, kerr.InvalidReplicaAssignment}, // broker 9 is not alive
		{res2, "ra", 1, kerr.NoReassignmentInProgress},
		{res2, "ra", 5, kerr.UnknownTopicOrPartition},
		{res3, "ra", 0, kerr.InvalidReplicationFactor},
		{res3, "ra", 1, kerr.InvalidReplicaAssignment},
	} {
		if got := resultCode(t, x.res, x.topic, x.p); got != x.want.Code {
			t.Fatalf("%s-%d: code %d, want %s", x.topic, x.p, got, x.want.Message)
		}
	}
	if l, err := a.be.ListPartitionReassignments(ctx, nil); err != nil || len(l) != 0 {
		t.Fatalf("reassignments after invalid requests: %v, %v", l, err)
	}

	// Move ra-0 from {1,2} to {2,3}: the replicas become the union with
	// adding [3] and removing [1]; the leader epoch stays, as Kafka 4
	// moves it only when a replica leaves or the leader changes.
	res, err = a.be.AlterPartitionReassignments(ctx, map[string]map[int32][]int32{"ra": {0: {2, 3}}}, false)
	if err != nil || resultCode(t, res, "ra", 0) != 0 {
		t.Fatalf("reassigning ra-0: %v, %v", res, err)
	}
	var tz topicJSON
	tz = topicJSON{}
	getJSON(t, c, "/brokers/topics/ra", &tz)
	if !slices.Equal(tz.Partitions["0"], []int32{2, 3, 1}) || !slices.Equal(tz.AddingReplicas["0"], []int32{3}) ||
		!slices.Equal(tz.RemovingReplicas["0"], []int32{1}) || !slices.Equal(tz.Partitions["1"], []int32{2, 1}) ||
		len(tz.AddingReplicas) != 1 || len(tz.RemovingReplicas) != 1 || tz.TopicID == "" {
		t.Fatalf("/brokers/topics/ra during the reassignment = %+v", tz)
	}
	for _, n := range nodes {
		await(t, fmt.Sprintf("broker %d to see ra-0 on [2 3 1] at the same epoch", n.id), func() bool {
			ps, _ := stateOf(n, "ra", 0)
			return slices.Equal(ps.Replicas, []int32{2, 3, 1}) && ps.LeaderEpoch == before.LeaderEpoch && ps.Leader == 1 && sameSet(ps.ISR, []int32{1, 2})
		})
	}
	l, err := nodes[2].be.ListPartitionReassignments(ctx, map[string][]int32{"ra": nil, "nope": {0}})
	if err != nil {
		t.Fatal(err)
	}
	if ra := l["ra"][0]; len(l) != 1 || len(l["ra"]) != 1 || !slices.Equal(ra.Replicas, []int32{2, 3, 1}) ||
		!slices.Equal(ra.Adding, []int32{3}) || !slices.Equal(ra.Removing, []int32{1}) {
		t.Fatalf("ongoing reassignments = %+v", l)
	}
	if l, _ := nodes[2].be.ListPartitionReassignments(ctx, map[string][]int32{"ra": {1}}); len(l) != 0 {
		t.Fatalf("ra-1 listed as being reassigned: %+v", l)
	}
	// Not complete while 3 is out of the ISR: nothing more happens.
	if l, _ := a.be.ListPartitionReassignments(ctx, nil); len(l["ra"]) != 1 {
		t.Fatalf("reassignment finished without broker 3 in the ISR: %+v", l)
	}

	// The leader adds 3 to the ISR: the controller completes it. Leader 1
	// is not in the target: 2 (first of the target in the ISR) leads.
	grown := change(t, a, "ra", 0, func(ps *metadata.PartitionState) { ps.ISR = []int32{1, 2, 3} })
	for _, n := range nodes {
		await(t, fmt.Sprintf("broker %d to see ra-0 moved to [2 3] led by 2", n.id), func() bool {
			ps, _ := stateOf(n, "ra", 0)
			return slices.Equal(ps.Replicas, []int32{2, 3}) && ps.Leader == 2 && ps.LeaderEpoch == grown.LeaderEpoch+1 &&
				sameSet(ps.ISR, []int32{2, 3})
		})
	}
	tz = topicJSON{}
	getJSON(t, c, "/brokers/topics/ra", &tz)
	if !slices.Equal(tz.Partitions["0"], []int32{2, 3}) || len(tz.AddingReplicas) != 0 || len(tz.RemovingReplicas) != 0 {
		t.Fatalf("/brokers/topics/ra after the reassignment = %+v", tz)
	}
	if l, err := a.be.ListPartitionReassignments(ctx, nil); err != nil || len(l) != 0 {
		t.Fatalf("reassignments after completion: %v, %v", l, err)
	}

	// A reassignment only shrinking the replicas completes at once (its
	// target is in the ISR); the leader stays, the epoch moves.
	cur, _ := stateOf(a, "ra", 1)
	if res, err := a.be.AlterPartitionReassignments(ctx, map[string]map[int32][]int32{"ra": {1: {2}}}, true); err != nil || resultCode(t, res, "ra", 1) != 0 {
		t.Fatalf("shrinking ra-1: %v, %v", res, err)
	}
	await(t, "ra-1 to end on [2] led by 2", func() bool {
		ps, _ := stateOf(a, "ra", 1)
		return slices.Equal(ps.Replicas, []int32{2}) && ps.Leader == 2 && slices.Equal(ps.ISR, []int32{2}) && ps.LeaderEpoch > cur.LeaderEpoch
	})

	// Cancel: ra-0 to {3,1}; 1 never catches up; cancelling goes back to
	// the original replicas at once, in the order the reassignment gave
	// them (target first, as Kafka's origin replicas are the replicas less
	// the adding ones): [3 2].
	if res, err := a.be.AlterPartitionReassignments(ctx, map[string]map[int32][]int32{"ra": {0: {3, 1}}}, true); err != nil || resultCode(t, res, "ra", 0) != 0 {
		t.Fatalf("reassigning ra-0 again: %v, %v", res, err)
	}
	tz = topicJSON{}
	getJSON(t, c, "/brokers/topics/ra", &tz)
	if !slices.Equal(tz.Partitions["0"], []int32{3, 1, 2}) || !slices.Equal(tz.AddingReplicas["0"], []int32{1}) || !slices.Equal(tz.RemovingReplicas["0"], []int32{2}) {
		t.Fatalf("/brokers/topics/ra during the second reassignment = %+v", tz)
	}
	if res, err := a.be.AlterPartitionReassignments(ctx, map[string]map[int32][]int32{"ra": {0: nil}}, true); err != nil || resultCode(t, res, "ra", 0) != 0 {
		t.Fatalf("cancelling ra-0: %v, %v", res, err)
	}
	tz = topicJSON{}
	getJSON(t, c, "/brokers/topics/ra", &tz)
	if !slices.Equal(tz.Partitions["0"], []int32{3, 2}) || len(tz.AddingReplicas) != 0 || len(tz.RemovingReplicas) != 0 {
		t.Fatalf("/brokers/topics/ra after cancelling = %+v", tz)
	}
	for _, n := range nodes {
		await(t, fmt.Sprintf("broker %d to see ra-0 back on [3 2]", n.id), func() bool {
			ps, _ := stateOf(n, "ra", 0)
			return slices.Equal(ps.Replicas, []int32{3, 2}) && ps.Leader == 2 && sameSet(ps.ISR, []int32{2, 3})
		})
	}
	if res, err := a.be.AlterPartitionReassignments(ctx, map[string]map[int32][]int32{"ra": {0: nil}}, true); err != nil || resultCode(t, res, "ra", 0) != kerr.NoReassignmentInProgress.Code {
		t.Fatalf("cancelling again: %v, %v", res, err)
	}
}

// A reassignment or a listing naming a topic no topic can be named ("",
// "..", "t/partitions") answers as for a topic that does not exist:
// UNKNOWN_TOPIC_OR_PARTITION for the partition, and a listing of the
// others. Such a name went into a ZooKeeper path: "zk: invalid path", or
// a znode below the topic's read as a topic, answered KAFKA_STORAGE_ERROR,
// and a listing failed whole.
func TestReassignmentOfImpossibleTopicNames(t *testing.T) {
	z := zktest.Start(t)
	n := start(t, z.Addr, 1)
	ctx := context.Background()
	if _, err := n.be.CreateTopic(ctx, metadata.TopicSpec{Name: "rn", Assignment: [][]int32{{1}}}); err != nil {
		t.Fatal(err)
	}
	await(t, "rn led", func() bool { p, _ := stateOf(n, "rn", 0); return p.Leader == 1 })
	bad := []string{"", ".", "..", "/", "x/", "rn/partitions", "rn/partitions/0"}
	targets := map[string]map[int32][]int32{}
	list := map[string][]int32{"rn": {0}}
	for _, name := range bad {
		targets[name] = map[int32][]int32{0: {1}}
		list[name] = []int32{0}
	}
	res, err := n.be.AlterPartitionReassignments(ctx, targets, true)
	if err != nil {
		t.Fatalf("reassigning impossible names: %v", err)
	}
	for _, name := range bad {
		if code := resultCode(t, res, name, 0); code != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("reassigning %q-0: code %d, want UNKNOWN_TOPIC_OR_PARTITION", name, code)
		}
	}
	got, err := n.be.ListPartitionReassignments(ctx, list)
	if err != nil || len(got) != 0 {
		t.Errorf("listing reassignments of rn beside impossible names: %v %v, want none and no error", got, err)
	}
}
