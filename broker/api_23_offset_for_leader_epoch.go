package broker

// OffsetForLeaderEpoch (key 23), versions 0-4.
//
// For each partition, the end offset of the requested leader epoch from
// the leader epoch cache (KIP-101): the log end for the current epoch; for
// an older one, the largest epoch at or below it and the start of the next;
// UNDEFINED (-1, -1) for an epoch newer than any known. v2+ carries the
// client's CurrentLeaderEpoch: older than ours is FENCED_LEADER_EPOCH, newer
// UNKNOWN_LEADER_EPOCH (-1 skips the check). Only the leader answers
// (NOT_LEADER_OR_FOLLOWER), whatever the ReplicaID (-2, debugging,
// included: Kafka's lastOffsetForLeaderEpoch always fetches only from the
// leader). CLUSTER_ACTION on the cluster (brokers) or
// DESCRIBE on the topic (consumers, KIP-320) is needed, else
// TOPIC_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

// debugReplicaID lets any replica answer ListOffsets, as Kafka's
// DEBUGGING_REPLICA_ID.
const debugReplicaID = -2

func (b *Broker) handleOffsetForLeaderEpoch(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.Response().(*kmsg.OffsetForLeaderEpochResponse)
	resp.Topics = make([]kmsg.OffsetForLeaderEpochResponseTopic, 0, len(r.Topics))
	broker := b.allowed(req, acl.ClusterAction, acl.Cluster, acl.ClusterName)
	for _, rt := range r.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t := b.Topic(rt.Topic)
		denied := !broker && !b.authorize(req, acl.Describe, acl.Topic, rt.Topic)
		st.Partitions = make([]kmsg.OffsetForLeaderEpochResponseTopicPartition, 0, len(rt.Partitions))
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition, sp.LeaderEpoch, sp.EndOffset = rp.Partition, -1, -1
			current := int32(-1)
			if req.Version >= 2 {
				current = rp.CurrentLeaderEpoch
			}
			epoch, end, err := b.epochEndOffset(t, rp.Partition, rp.LeaderEpoch, current)
			if denied {
				err = kerr.TopicAuthorizationFailed
			}
			if err != nil {
				sp.ErrorCode = ErrorCode(b.log, err)
			} else {
				sp.LeaderEpoch, sp.EndOffset = epoch, end
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// epochEndOffset answers one partition.
func (b *Broker) epochEndOffset(t *Topic, partition, epoch, current int32) (int32, int64, error) {
	var p *Partition
	if t != nil {
		p = t.Partition(partition)
	}
	if p == nil {
		return -1, -1, kerr.UnknownTopicOrPartition
	}
	lg, _, err := p.leaderLog(current)
	if err != nil {
		return -1, -1, err
	}
	e, off := lg.EndOffsetForEpoch(epoch)
	return e, off, nil
}
