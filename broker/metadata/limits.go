package metadata

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Partition replicas per broker, for gregor.max.broker.partitions: how
// many replicas a creation or reassignment adds to each broker, and
// whether that puts one over the limit. Kafka has no such limit (KIP-578
// proposed one); every replica holds open files, so without it one
// request can exhaust a broker's file descriptors.

// CheckTopicPartitions refuses a topic of more than MaxTopicPartitions.
func CheckTopicPartitions(n int64) error {
	if n > MaxTopicPartitions {
		return Errorf(kerr.InvalidPartitions, "Number of partitions %d is above the most a topic may have, %d.", n, MaxTopicPartitions)
	}
	return nil
}

// AssignedReplicas counts the replicas an explicit assignment puts on
// each broker.
func AssignedReplicas(assign [][]int32) map[int32]int64 {
	out := make(map[int32]int64)
	for _, r := range assign {
		for _, id := range r {
			out[id]++
		}
	}
	return out
}

// SpreadReplicas is what placing count partitions of rf replicas over the
// live brokers adds to each: AssignReplicas spreads them evenly, so each
// is counted as getting an even share, rounded up. It allocates nothing
// in proportion to count.
func SpreadReplicas(count int64, rf int, live []int32) map[int32]int64 {
	out := make(map[int32]int64, len(live))
	if len(live) == 0 || count <= 0 || rf <= 0 {
		return out
	}
	n := int64(len(live))
	share := (count*int64(rf) + n - 1) / n
	for _, id := range live {
		out[id] = share
	}
	return out
}

// OverLimit reports the broker that adding add to existing puts furthest
// over limit (the lowest id among equals), with its new total, or false
// if none is over.
func OverLimit(existing, add map[int32]int64, limit int64) (id int32, total int64, over bool) {
	ids := make([]int32, 0, len(add))
	for b, n := range add {
		if n > 0 {
			ids = append(ids, b)
		}
	}
	slices.Sort(ids)
	for _, b := range ids {
		if t := existing[b] + add[b]; t > limit && t > total {
			id, total, over = b, t, true
		}
	}
	return id, total, over
}

// ReassignedReplicas counts the replicas a reassignment to target adds
// to each broker: those not already replicas of the partition.
func ReassignedReplicas(current, target []int32) map[int32]int64 {
	out := make(map[int32]int64)
	for _, id := range target {
		if !slices.Contains(current, id) {
			out[id]++
		}
	}
	return out
}
