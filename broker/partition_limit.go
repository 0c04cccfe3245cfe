package broker

// gregor.max.broker.partitions: the most partition replicas one broker
// hosts. CreateTopics (and auto-creation), CreatePartitions and
// AlterPartitionReassignments that would put more on a broker fail with
// POLICY_VIOLATION, before anything is allocated or recorded; validateOnly
// requests are checked the same way. Replicas placed by the broker are
// counted as spread evenly over the live brokers (metadata.SpreadReplicas),
// explicit ones exactly. The count of what each broker hosts comes from
// this broker's metadata, so two requests racing on different brokers of a
// cluster can both pass: the limit guards against one request exhausting
// a broker, not against every overshoot. Internal topics, created by the
// coordinators with operator-configured sizes, are not checked.

import (
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/metadata"
)

// brokerReplicas counts the partition replicas each broker hosts, as this
// broker's metadata has them.
func (b *Broker) brokerReplicas() map[int32]int64 {
	out := make(map[int32]int64)
	for _, t := range b.Topics() {
		for _, p := range t.Partitions() {
			for _, id := range p.State().Replicas {
				out[id]++
			}
		}
	}
	return out
}

// checkPartitionLimit refuses adding add (replicas per broker) when it
// puts a broker past gregor.max.broker.partitions; what names what is
// being done, for the message.
func (b *Broker) checkPartitionLimit(add map[int32]int64, what string) error {
	limit := int64(b.Config().MaxBrokerPartitions)
	id, total, over := metadata.OverLimit(b.brokerReplicas(), add, limit)
	if !over {
		return nil
	}
	return errorf(kerr.PolicyViolation, "%s would put %d partition replicas on broker %d, above its limit of %d (gregor.max.broker.partitions).", what, total, id, limit)
}

// liveIDs lists the live brokers' ids.
func (b *Broker) liveIDs() []int32 {
	brokers, _ := b.Brokers()
	ids := make([]int32, len(brokers))
	for i, bi := range brokers {
		ids[i] = bi.ID
	}
	return ids
}

// reassignmentLimit takes out of targets the reassignments that would put
// a broker past gregor.max.broker.partitions, counting the replicas each
// adds in topic and partition order, and returns their errors. Targets
// the backend refuses anyway (cancellations, unknown partitions, lists
// longer than a partition may have) are left to it.
func (b *Broker) reassignmentLimit(targets map[string]map[int32][]int32) map[string]map[int32]error {
	refused := make(map[string]map[int32]error)
	var existing map[int32]int64
	limit := int64(b.Config().MaxBrokerPartitions)
	for _, t := range slices.Sorted(maps.Keys(targets)) {
		for _, pi := range slices.Sorted(maps.Keys(targets[t])) {
			target := targets[t][pi]
			p := b.Partition(t, pi)
			if target == nil || p == nil || len(target) > metadata.MaxReplicas {
				continue
			}
			if existing == nil {
				existing = b.brokerReplicas()
			}
			add := metadata.ReassignedReplicas(p.State().Replicas, target)
			if id, total, over := metadata.OverLimit(existing, add, limit); over {
				if refused[t] == nil {
					refused[t] = make(map[int32]error)
				}
				refused[t][pi] = errorf(kerr.PolicyViolation, "Reassigning %s-%d to %v would put %d partition replicas on broker %d, above its limit of %d (gregor.max.broker.partitions).", t, pi, target, total, id, limit)
				delete(targets[t], pi)
				continue
			}
			for id, n := range add {
				existing[id] += n
			}
		}
		if len(targets[t]) == 0 {
			delete(targets, t)
		}
	}
	return refused
}
