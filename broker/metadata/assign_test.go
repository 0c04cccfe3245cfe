package metadata

import (
	"errors"
	"math"
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

// Kafka's documented rack-aware example (AdminUtils): six brokers on
// three racks are arranged 0, 3, 1, 5, 4, 2, and six partitions of three
// replicas from start 0 go round that list; the seventh shifts the
// followers.
func TestAssignReplicasRackAwareLikeKafka(t *testing.T) {
	brokers := []int32{0, 1, 2, 3, 4, 5}
	racks := map[int32]string{0: "rack1", 1: "rack3", 2: "rack3", 3: "rack2", 4: "rack2", 5: "rack1"}
	want := [][]int32{{0, 3, 1}, {3, 1, 5}, {1, 5, 4}, {5, 4, 2}, {4, 2, 0}, {2, 0, 3}, {0, 4, 2}}
	if got := AssignReplicasRackAware(brokers, racks, 7, 3, 0, 0); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("assignment %v, want %v", got, want)
	}
	// From a random start, with uneven racks and brokers without one
	// (a rack of their own): each partition's replicas are distinct and
	// on as many racks as it has replicas, up to the number of racks.
	racks = map[int32]string{1: "a", 2: "a", 3: "a", 4: "b", 5: "c", 7: "b"}
	brokers = []int32{1, 2, 3, 4, 5, 6, 7}
	for range 50 {
		for rf := 1; rf <= len(brokers); rf++ {
			for p, r := range AssignReplicasRackAware(brokers, racks, 20, rf, -1, 0) {
				ids, rs := map[int32]bool{}, map[string]bool{}
				for _, id := range r {
					ids[id], rs[racks[id]] = true, true
				}
				if len(r) != rf || len(ids) != rf || len(rs) != min(rf, 4) {
					t.Fatalf("rf %d partition %d: replicas %v on racks %v", rf, p, r, rs)
				}
			}
		}
	}
	// PlaceTopic places across racks once any broker has one.
	got, err := PlaceTopic(TopicSpec{Partitions: 30, ReplicationFactor: 2}, []int32{1, 2, 3, 4}, nil, map[int32]string{1: "x", 2: "x", 3: "y", 4: "y"})
	if err != nil {
		t.Fatal(err)
	}
	for p, r := range got {
		if (r[0] <= 2) == (r[1] <= 2) {
			t.Fatalf("partition %d has both replicas %v on one rack", p, r)
		}
	}
	add, err := PlacePartitions(got, 40, nil, []int32{1, 2, 3, 4}, nil, map[int32]string{1: "x", 2: "x", 3: "y", 4: "y"})
	if err != nil || len(add) != 10 {
		t.Fatalf("added %v, %v", add, err)
	}
	for p, r := range add {
		if (r[0] <= 2) == (r[1] <= 2) {
			t.Fatalf("added partition %d has both replicas %v on one rack", 30+p, r)
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
		// Counts from the wire, refused before anything is allocated.
		{"2^31-1 partitions", TopicSpec{Partitions: math.MaxInt32, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{"one partition past the cap", TopicSpec{Partitions: MaxTopicPartitions + 1, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{"explicit with more partitions than the cap", TopicSpec{Assignment: make([][]int32, MaxTopicPartitions+1)}, kerr.InvalidPartitions},
		{"explicit with a million replicas", TopicSpec{Assignment: [][]int32{make([]int32, 1<<20)}}, kerr.InvalidReplicaAssignment},
	} {
		got, err := PlaceTopic(c.spec, live, nil, nil)
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
		isLive := func(id int32) bool { return slices.Contains(live, id) }
		for p, r := range got {
			if err := CheckManualReplicas(int32(p), r, int(c.spec.ReplicationFactor), isLive, isLive); err != nil {
				t.Fatalf("%s: placed %v: %v", c.name, got, err)
			}
		}
	}
}

func TestPlacePartitions(t *testing.T) {
	live := []int32{0, 1, 2, 3, 4}
	// Kafka's pattern from partition 0's first replica (see
	// TestAssignReplicasLikeKafka), continued.
	have := [][]int32{{0, 1, 2}, {1, 2, 3}}
	got, err := PlacePartitions(have, 5, nil, live, nil, nil)
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
		{"2^31-1 partitions", math.MaxInt32, nil, live, kerr.InvalidPartitions},
		{"one partition past the cap", MaxTopicPartitions + 1, nil, live, kerr.InvalidPartitions},
	} {
		_, err := PlacePartitions(have, c.total, c.explicit, c.live, nil, nil)
		if (c.err == nil) != (err == nil) || (c.err != nil && !errors.Is(err, c.err)) {
			t.Fatalf("%s: %v, want %v", c.name, err, c.err)
		}
	}
}

// The limits' arithmetic: what a creation or reassignment adds per broker
// and who goes over. A 2^31-1 partition request is counted, not placed.
func TestBrokerPartitionLimits(t *testing.T) {
	live := []int32{1, 2, 3}
	if got := SpreadReplicas(10, 3, live); got[1] != 10 || got[2] != 10 || got[3] != 10 {
		t.Fatalf("10 partitions x 3 replicas over 3 brokers: %v, want 10 each", got)
	}
	if got := SpreadReplicas(4, 1, live); got[1] != 2 || got[3] != 2 {
		t.Fatalf("4 partitions x 1 replica over 3 brokers: %v, want 2 each (rounded up)", got)
	}
	if got := SpreadReplicas(math.MaxInt32, 1, []int32{0}); got[0] != math.MaxInt32 {
		t.Fatalf("2^31-1 partitions on one broker: %v", got)
	}
	if got := AssignedReplicas([][]int32{{1, 2}, {2, 3}}); got[1] != 1 || got[2] != 2 || got[3] != 1 {
		t.Fatalf("assigned %v", got)
	}
	if got := ReassignedReplicas([]int32{1, 2}, []int32{2, 3, 4}); len(got) != 2 || got[3] != 1 || got[4] != 1 {
		t.Fatalf("reassigned %v, want one more on 3 and 4", got)
	}
	for _, c := range []struct {
		name          string
		existing, add map[int32]int64
		limit         int64
		id            int32
		total         int64
		over          bool
	}{
		{"fits exactly", map[int32]int64{1: 6}, map[int32]int64{1: 4}, 10, 0, 0, false},
		{"one over", map[int32]int64{1: 6}, map[int32]int64{1: 5}, 10, 1, 11, true},
		{"the fullest is named", map[int32]int64{1: 6, 2: 9}, map[int32]int64{1: 5, 2: 5}, 10, 2, 14, true},
		{"nothing added to the full one", map[int32]int64{1: 50}, map[int32]int64{2: 1}, 10, 0, 0, false},
		{"no overflow at 2^31", nil, map[int32]int64{0: math.MaxInt32}, 4000, 0, math.MaxInt32, true},
	} {
		id, total, over := OverLimit(c.existing, c.add, c.limit)
		if over != c.over || (over && (id != c.id || total != c.total)) {
			t.Fatalf("%s: broker %d total %d over %v, want %d %d %v", c.name, id, total, over, c.id, c.total, c.over)
		}
	}
	if err := CheckTopicPartitions(MaxTopicPartitions); err != nil {
		t.Fatalf("a topic of MaxTopicPartitions: %v", err)
	}
}

// A reassignment target longer than a partition may have is refused
// before a set of it is built.
func TestReassignmentTargetTooLong(t *testing.T) {
	err := CheckReassignmentTarget(make([]int32, MaxReplicas+1), nil)
	if !errors.Is(err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("%d replicas: %v", MaxReplicas+1, err)
	}
}
