package metadata

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

type nopApplier struct{}

func (nopApplier) ApplyTopic(TopicState)            {}
func (nopApplier) RemoveTopic(string)               {}
func (nopApplier) ApplyBrokers([]BrokerInfo, int32) {}

// startLocal starts a local backend for broker 1 with topic t of two
// partitions.
func startLocal(t *testing.T) Backend {
	t.Helper()
	l := NewLocal(t.TempDir(), BrokerInfo{ID: 1})
	if err := l.Start(context.Background(), nopApplier{}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateTopic(context.Background(), TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	return l
}

// The local backend: a single broker leads every partition it has.
func TestLocalElectLeaders(t *testing.T) {
	l := startLocal(t)
	for _, typ := range []int8{ElectPreferred, ElectUnclean} {
		res, err := l.ElectLeaders(context.Background(), typ, map[string][]int32{"t": {0, 1, 2}, "x": {0}})
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(res["t"][0], kerr.ElectionNotNeeded) || !errors.Is(res["t"][1], kerr.ElectionNotNeeded) ||
			!errors.Is(res["t"][2], kerr.UnknownTopicOrPartition) || !errors.Is(res["x"][0], kerr.UnknownTopicOrPartition) {
			t.Fatalf("type %d: %v", typ, res)
		}
		all, err := l.ElectLeaders(context.Background(), typ, nil)
		if err != nil || len(all["t"]) != 2 || !errors.Is(all["t"][0], kerr.ElectionNotNeeded) {
			t.Fatalf("type %d, every partition: %v, %v", typ, all, err)
		}
	}
}

// The local backend's partitions are all on the one broker: moving them
// there is a no-op success, anything else is refused.
func TestLocalReassign(t *testing.T) {
	l := startLocal(t)
	res, err := l.AlterPartitionReassignments(context.Background(), map[string]map[int32][]int32{
		"t": {0: {1}, 1: {1, 2}, 2: {1}, 3: nil},
		"x": {0: {2}},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		topic string
		p     int32
		want  *kerr.Error // nil: success
	}{
		{"t", 0, nil},
		{"t", 1, kerr.InvalidReplicaAssignment}, // broker 2 is not alive
		{"t", 2, kerr.UnknownTopicOrPartition},
		{"t", 3, kerr.UnknownTopicOrPartition}, // a cancel: the partition is looked up first
		{"x", 0, kerr.UnknownTopicOrPartition},
	} {
		got := res[c.topic][c.p]
		if (c.want == nil) != (got == nil) || (c.want != nil && !errors.Is(got, c.want)) {
			t.Errorf("%s-%d: %v, want %v", c.topic, c.p, got, c.want)
		}
	}
}
