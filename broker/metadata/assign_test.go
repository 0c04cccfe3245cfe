package metadata

import (
	"slices"
	"testing"
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
