package metadata

import (
	"math/rand/v2"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Replica placement, shared by the backends: a new topic's or new
// partitions' replicas are either given by the request, and checked
// against the live brokers, or placed as Kafka places them.
//
// Sizes are checked before anything is allocated: a partition count
// comes from the wire (CreateTopics NumPartitions, CreatePartitions
// Count) and a request must not make a backend allocate 2^31 replica
// lists. The broker refuses counts past its configured
// gregor.max.broker.partitions first, with a clearer error; these are the
// hard limits under every configuration and every caller.

// MaxTopicPartitions is the most partitions a topic may have (as
// config's bound on num.partitions).
const MaxTopicPartitions = 1 << 16

// MaxReplicas is the most replicas a partition may have: replication
// factors are int16 on the wire.
const MaxReplicas = 1<<15 - 1

// PlaceTopic returns a new topic's replicas, partition by partition: its
// explicit assignment, checked against the live brokers (sorted), or
// spec.Partitions partitions of spec.ReplicationFactor replicas placed by
// AssignReplicas from a random start, across racks where the brokers
// have them (racks: broker id to broker.rack, for the live brokers that
// set it; nil when none does).
func PlaceTopic(spec TopicSpec, live []int32, racks map[int32]string) ([][]int32, error) {
	if spec.Assignment != nil {
		if len(spec.Assignment) == 0 {
			return nil, Errorf(kerr.InvalidReplicaAssignment, "empty replica assignment")
		}
		if err := CheckTopicPartitions(int64(len(spec.Assignment))); err != nil {
			return nil, err
		}
		if err := CheckAssignment(spec.Assignment, len(spec.Assignment[0]), live); err != nil {
			return nil, err
		}
		return spec.Assignment, nil
	}
	n, rf := spec.Partitions, int(spec.ReplicationFactor)
	switch {
	case n <= 0:
		return nil, Errorf(kerr.InvalidPartitions, "Number of partitions must be larger than 0.")
	case n > MaxTopicPartitions:
		return nil, CheckTopicPartitions(int64(n))
	case rf <= 0:
		return nil, Errorf(kerr.InvalidReplicationFactor, "Replication factor must be larger than 0.")
	case rf > len(live):
		return nil, Errorf(kerr.InvalidReplicationFactor, "The target replication factor of %d cannot be reached because only %d broker(s) are registered.", rf, len(live))
	}
	return placeAcross(live, racks, n, rf, -1, 0), nil
}

// PlacePartitions returns the replicas of the partitions that grow a topic
// with replicas assign to total partitions: explicit, checked against the
// live brokers (sorted), or placed by AssignReplicas (across racks, as
// PlaceTopic) continuing the pattern from partition 0's first replica, as
// Kafka does.
func PlacePartitions(assign [][]int32, total int32, explicit [][]int32, live []int32, racks map[int32]string) ([][]int32, error) {
	have := int32(len(assign))
	if have == 0 || len(assign[0]) == 0 {
		return nil, Errorf(kerr.InvalidReplicationFactor, "The topic has no replicas to follow.")
	}
	if total <= have {
		return nil, Errorf(kerr.InvalidPartitions, "The topic currently has %d partition(s); %d would not be an increase.", have, total)
	}
	if err := CheckTopicPartitions(int64(total)); err != nil {
		return nil, err
	}
	rf := len(assign[0])
	if explicit != nil {
		if int32(len(explicit)) != total-have {
			return nil, Errorf(kerr.InvalidReplicaAssignment, "Increasing the number of partitions by %d but %d assignments provided.", total-have, len(explicit))
		}
		if err := CheckAssignment(explicit, rf, live); err != nil {
			return nil, err
		}
		return explicit, nil
	}
	if rf > len(live) {
		return nil, Errorf(kerr.InvalidReplicationFactor, "The target replication factor of %d cannot be reached because only %d broker(s) are registered.", rf, len(live))
	}
	start := 0
	for i, id := range live {
		if id >= assign[0][0] {
			start = i
			break
		}
	}
	return placeAcross(live, racks, total-have, rf, start, have), nil
}

// CheckAssignment validates explicit replicas against the live brokers:
// each partition has rf distinct live replicas (rf 0: any number but
// none).
func CheckAssignment(assign [][]int32, rf int, live []int32) error {
	for p, r := range assign {
		if len(r) == 0 || (rf > 0 && len(r) != rf) {
			return Errorf(kerr.InvalidReplicaAssignment, "partition %d has %d replicas, expected %d", p, len(r), rf)
		}
		if len(r) > len(live) {
			// Some replica is a duplicate or not a live broker; say so
			// without building a set of a list this long.
			return Errorf(kerr.InvalidReplicaAssignment, "partition %d has %d replicas but only %d brokers are alive", p, len(r), len(live))
		}
		seen := map[int32]bool{}
		for _, id := range r {
			if seen[id] {
				return Errorf(kerr.InvalidReplicaAssignment, "duplicate replica %d in partition %d", id, p)
			}
			if !slices.Contains(live, id) {
				return Errorf(kerr.InvalidReplicaAssignment, "unknown broker %d in the replica assignment", id)
			}
			seen[id] = true
		}
	}
	return nil
}

// AssignReplicas is Kafka's rack-unaware placement
// (AdminUtils.assignReplicasToBrokersRackUnaware): partition p's first
// replica on broker (p+start) mod n, the others at a shift from it that
// grows by one every n partitions. fixedStart < 0 picks a random start and
// shift (spreading the leaders of many small topics); brokers must be
// sorted.
func AssignReplicas(brokers []int32, count int32, rf int, fixedStart int, firstPartition int32) [][]int32 {
	n := len(brokers)
	out := make([][]int32, 0, count)
	eachFirst(n, count, fixedStart, firstPartition, func(first, shift int) {
		r := []int32{brokers[first]}
		for j := 0; j < rf-1; j++ {
			r = append(r, brokers[(first+1+(shift+j)%(n-1))%n])
		}
		out = append(out, r)
	})
	return out
}

// eachFirst calls fn for each of count partitions from firstPartition
// with the index of its first replica among n brokers and the shift of
// its followers, as Kafka's AdminUtils walks them: round robin from a
// start, the shift growing by one every n partitions. fixedStart < 0
// picks a random start and shift.
func eachFirst(n int, count int32, fixedStart int, firstPartition int32, fn func(first, shift int)) {
	start, shift := fixedStart, fixedStart
	if fixedStart < 0 {
		start, shift = rand.IntN(n), rand.IntN(n)
	}
	from := int(max(0, firstPartition))
	for p := from; p < from+int(count); p++ {
		if p > 0 && p%n == 0 {
			shift++
		}
		fn((p+start)%n, shift)
	}
}

// placeAcross places replicas rack-aware when any live broker has a rack
// (brokers without one then count as one rack of their own, as Kafka's
// KRaft controller counts them; ZooKeeper-mode Kafka refused to place),
// and rack-unaware otherwise.
func placeAcross(live []int32, racks map[int32]string, count int32, rf int, fixedStart int, firstPartition int32) [][]int32 {
	for _, id := range live {
		if racks[id] != "" {
			return AssignReplicasRackAware(live, racks, count, rf, fixedStart, firstPartition)
		}
	}
	return AssignReplicas(live, count, rf, fixedStart, firstPartition)
}

// AssignReplicasRackAware is Kafka's rack-aware placement
// (AdminUtils.assignReplicasToBrokersRackAware). The brokers are arranged
// alternating racks (racks in name order, each rack's brokers in id
// order: a, b, c, a, b, c, ...); partition p's first replica is the
// arranged broker at (p+start) mod n, as in AssignReplicas, and each
// other replica the next broker at a growing shift that is on a rack with
// no replica of p yet (while there is one) and holds none (while one
// holds none). brokers must be sorted.
func AssignReplicasRackAware(brokers []int32, racks map[int32]string, count int32, rf int, fixedStart int, firstPartition int32) [][]int32 {
	byRack := make(map[string][]int32)
	for _, id := range brokers {
		byRack[racks[id]] = append(byRack[racks[id]], id)
	}
	names := make([]string, 0, len(byRack))
	for r := range byRack {
		names = append(names, r)
	}
	slices.Sort(names)
	arranged := make([]int32, 0, len(brokers))
	for i := 0; len(arranged) < len(brokers); i++ {
		for _, r := range names {
			if i < len(byRack[r]) {
				arranged = append(arranged, byRack[r][i])
			}
		}
	}
	n, numRacks := len(arranged), len(names)
	out := make([][]int32, 0, count)
	eachFirst(n, count, fixedStart, firstPartition, func(first, shift int) {
		leader := arranged[first]
		r := []int32{leader}
		withRack := map[string]bool{racks[leader]: true}
		withReplica := map[int32]bool{leader: true}
		for k := 0; len(r) < rf; k++ {
			id := arranged[(first+1+(shift*numRacks+k)%(n-1))%n]
			rack := racks[id]
			if (withRack[rack] && len(withRack) < numRacks) || (withReplica[id] && len(withReplica) < n) {
				continue
			}
			r = append(r, id)
			withRack[rack], withReplica[id] = true, true
		}
		out = append(out, r)
	})
	return out
}
