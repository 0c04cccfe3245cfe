package metadata

import (
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Kafka's AdminUtils test case: five brokers, fixed start 0, ten
// partitions of three replicas.
func TestAssignReplicasLikeKafka(t *testing.T) {
	want := [][]int32{{0, 1, 2}, {1, 2, 3}, {2, 3, 4}, {3, 4, 0}, {4, 0, 1}, {0, 2, 3}, {1, 3, 4}, {2, 4, 0}, {3, 0, 1}, {4, 1, 2}}
	got := AssignReplicas([]int32{0, 1, 2, 3, 4}, 10, 3, 0, 0)
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("assignment %v, want %v", got, want)
	}
	// Adding partitions continues the pattern.
	add := AssignReplicas([]int32{0, 1, 2, 3, 4}, 5, 3, 0, 5)
	if !slices.EqualFunc(add, want[5:], slices.Equal) {
		t.Fatalf("added %v, want %v", add, want[5:])
	}
	// Random start: every partition has distinct replicas.
	for range 50 {
		for _, r := range AssignReplicas([]int32{1, 2, 3}, 7, 3, -1, 0) {
			s := slices.Clone(r)
			slices.Sort(s)
			if !slices.Equal(s, []int32{1, 2, 3}) {
				t.Fatalf("replicas %v", r)
			}
		}
	}
}

func TestPlaceTopic(t *testing.T) {
	live := []int32{1, 2, 3}
	for _, c := range []struct {
		name string
		spec TopicSpec
		err  *kerr.Error // nil: success
	}{
		{"placed", TopicSpec{Partitions: 4, ReplicationFactor: 3}, nil},
		{"explicit", TopicSpec{Assignment: [][]int32{{3, 1}, {2, 3}}}, nil},
		{"no partitions", TopicSpec{Partitions: 0, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{"no replicas", TopicSpec{Partitions: 1, ReplicationFactor: 0}, kerr.InvalidReplicationFactor},
		{"more replicas than brokers", TopicSpec{Partitions: 1, ReplicationFactor: 4}, kerr.InvalidReplicationFactor},
		{"explicit and empty", TopicSpec{Assignment: [][]int32{}}, kerr.InvalidReplicaAssignment},
		{"explicit with an empty partition", TopicSpec{Assignment: [][]int32{{1}, {}}}, kerr.InvalidReplicaAssignment},
		{"explicit with uneven partitions", TopicSpec{Assignment: [][]int32{{1}, {1, 2}}}, kerr.InvalidReplicaAssignment},
		{"explicit with a duplicate", TopicSpec{Assignment: [][]int32{{1, 1}}}, kerr.InvalidReplicaAssignment},
		{"explicit with an unknown broker", TopicSpec{Assignment: [][]int32{{1, 9}}}, kerr.InvalidReplicaAssignment},
	} {
		got, err := PlaceTopic(c.spec, live)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Fatalf("%s: %v, want %s", c.name, err, c.err.Message)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.spec.Assignment != nil {
			if !slices.EqualFunc(got, c.spec.Assignment, slices.Equal) {
				t.Fatalf("%s: %v, want the explicit %v", c.name, got, c.spec.Assignment)
			}
			continue
		}
		if len(got) != int(c.spec.Partitions) {
			t.Fatalf("%s: %d partitions, want %d", c.name, len(got), c.spec.Partitions)
		}
		if err := CheckAssignment(got, int(c.spec.ReplicationFactor), live); err != nil {
			t.Fatalf("%s: placed %v: %v", c.name, got, err)
		}
	}
}

func TestPlacePartitions(t *testing.T) {
	live := []int32{0, 1, 2, 3, 4}
	// Kafka's pattern from partition 0's first replica (see
	// TestAssignReplicasLikeKafka), continued.
	have := [][]int32{{0, 1, 2}, {1, 2, 3}}
	got, err := PlacePartitions(have, 5, nil, live)
	if want := [][]int32{{2, 3, 4}, {3, 4, 0}, {4, 0, 1}}; err != nil || !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("placed %v, %v; want %v", got, err, want)
	}
	for _, c := range []struct {
		name     string
		total    int32
		explicit [][]int32
		live     []int32
		err      *kerr.Error // nil: success
	}{
		{"explicit", 3, [][]int32{{4, 0, 1}}, live, nil},
		{"not an increase", 2, nil, live, kerr.InvalidPartitions},
		{"a decrease", 1, nil, live, kerr.InvalidPartitions},
		{"too few assignments", 4, [][]int32{{4, 0, 1}}, live, kerr.InvalidReplicaAssignment},
		{"another replication factor", 3, [][]int32{{4, 0}}, live, kerr.InvalidReplicaAssignment},
		{"an unknown broker", 3, [][]int32{{4, 0, 9}}, live, kerr.InvalidReplicaAssignment},
		{"more replicas than live brokers", 3, nil, []int32{0, 1}, kerr.InvalidReplicationFactor},
	} {
		_, err := PlacePartitions(have, c.total, c.explicit, c.live)
		if (c.err == nil) != (err == nil) || (c.err != nil && !errors.Is(err, c.err)) {
			t.Fatalf("%s: %v, want %v", c.name, err, c.err)
		}
	}
}
