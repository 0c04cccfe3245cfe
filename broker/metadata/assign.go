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
// explicit assignment, checked against the brokers the cluster knows and
// the live ones (CheckAssignment), or
// spec.Partitions partitions of spec.ReplicationFactor replicas placed by
// AssignReplicas from a random start, across racks where the brokers
// have them (racks: broker id to broker.rack, for the live brokers that
// set it; nil when none does). live is sorted.
func PlaceTopic(spec TopicSpec, live []int32, known func(int32) bool, racks map[int32]string) ([][]int32, error) {
	if spec.Assignment != nil {
		if len(spec.Assignment) == 0 {
			return nil, Errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment is empty.")
		}
		if err := CheckTopicPartitions(int64(len(spec.Assignment))); err != nil {
			return nil, err
		}
		if err := CheckAssignment(spec.Assignment, 0, len(spec.Assignment[0]), live, known); err != nil {
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
		return nil, Errorf(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.", rf, rf, len(live))
	}
	return placeAcross(live, racks, n, rf, -1, 0), nil
}

// PlacePartitions returns the replicas of the partitions that grow a topic
// with replicas assign to total partitions: explicit, checked as
// CheckAssignment checks it, or placed on the live brokers (sorted) by
// AssignReplicas (across racks, as
// PlaceTopic) continuing the pattern from partition 0's first replica, as
// Kafka does.
func PlacePartitions(assign [][]int32, total int32, explicit [][]int32, live []int32, known func(int32) bool, racks map[int32]string) ([][]int32, error) {
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
			return nil, Errorf(kerr.InvalidReplicaAssignment, "Attempted to add %d additional partition(s), but only %d assignment(s) were specified.", total-have, len(explicit))
		}
		if err := CheckAssignment(explicit, have, rf, live, known); err != nil {
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

// CheckAssignment validates explicit replicas, partition first+i being
// assign[i], each as CheckManualReplicas checks it: known says which
// brokers the cluster knows (nil: only the live ones).
func CheckAssignment(assign [][]int32, first int32, rf int, live []int32, known func(int32) bool) error {
	isLive := func(id int32) bool { return slices.Contains(live, id) }
	if known == nil {
		known = isLive
	}
	for i, r := range assign {
		if err := CheckManualReplicas(first+int32(i), r, rf, known, isLive); err != nil {
			return err
		}
	}
	return nil
}

// CheckManualReplicas validates the replicas a request gives partition p
// (CreateTopics' and CreatePartitions' manual assignments,
// kafka-topics.sh --replica-assignment) as Kafka 4's
// ReplicationControlManager does: validateManualPartitionAssignment (no
// empty list; in broker id order, a broker the cluster does not know,
// then one named twice; then as many replicas as rf, unless rf is 0),
// then at least one replica on a live broker to lead. A broker that is
// down but known (KRaft keeps a stopped broker registered, fenced) is
// accepted: the partition starts without it in the ISR, and it catches up
// when it returns. known and live say which brokers the cluster knows
// and which are registered now.
func CheckManualReplicas(p int32, replicas []int32, rf int, known, live func(int32) bool) error {
	if len(replicas) == 0 {
		return Errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.")
	}
	if len(replicas) > MaxReplicas {
		return Errorf(kerr.InvalidReplicaAssignment, "Partition %d has %d replicas; a partition has at most %d.", p, len(replicas), MaxReplicas)
	}
	// Sorted in a buffer on the stack for the usual few replicas: a
	// request may carry a list for each of a great many partitions.
	var buf [16]int32
	sorted := append(buf[:0], replicas...)
	slices.Sort(sorted)
	for i, id := range sorted {
		if !known(id) {
			return Errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes broker %d, but no such broker is registered.", id)
		}
		if i > 0 && sorted[i-1] == id {
			return Errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes the broker %d more than once.", id)
		}
	}
	if rf > 0 && len(replicas) != rf {
		return Errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes a partition with %d replica(s), but this is not consistent with previous partitions, which have %d replica(s).", len(replicas), rf)
	}
	if !slices.ContainsFunc(replicas, live) {
		return Errorf(kerr.InvalidReplicaAssignment, "All brokers specified in the manual partition assignment for partition %d are fenced or in controlled shutdown.", p)
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
