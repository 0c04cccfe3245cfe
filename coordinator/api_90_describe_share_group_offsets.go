package coordinator

// DescribeShareGroupOffsets (key 90), versions 0-1: each share group's
// start offsets, from the share coordinators' state summaries. v1 adds
// Lag, as Kafka 4.2 computes it (KIP-1226): the partition's high
// watermark less the start offset less the records past the start whose
// delivery is complete; -1 when a part is unknown (a partition never
// initialized, a leader that does not answer). Topics null lists every
// partition with share state. A
// group of another type or none is GROUP_ID_NOT_FOUND; a partition never
// initialized has start offset -1; an unknown topic is
// UNKNOWN_TOPIC_OR_PARTITION. DESCRIBE on the group
// (GROUP_AUTHORIZATION_FAILED) and on each topic
// (TOPIC_AUTHORIZATION_FAILED) is needed.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *groupCoordinator) handleDescribeShareGroupOffsets(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeShareGroupOffsetsRequest)
	resp := req.Response().(*kmsg.DescribeShareGroupOffsetsResponse)
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		for _, rg := range r.Groups {
			resp.Groups = append(resp.Groups, c.describeShareOffsets(ctx, req, rg))
		}
		return resp, nil
	})
	return nil, nil
}

func (c *groupCoordinator) describeShareOffsets(ctx context.Context, req *protocol.Request, rg kmsg.DescribeShareGroupOffsetsRequestGroup) kmsg.DescribeShareGroupOffsetsResponseGroup {
	out := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
	out.GroupID = rg.GroupID
	out.Topics = []kmsg.DescribeShareGroupOffsetsResponseGroupTopic{}
	if !c.authorize(req, acl.Describe, acl.Group, rg.GroupID) {
		out.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return out
	}
	v, kerrv := c.viewShareGroup(rg.GroupID)
	if kerrv != nil {
		out.ErrorCode = kerrv.Code
		return out
	}
	topics := rg.Topics
	if topics == nil {
		topics = v.allTopics()
	}
	for _, rt := range topics {
		ot := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
		ot.Topic = rt.Topic
		tid, _, known := c.host.TopicIDOf(rt.Topic)
		ot.TopicID = tid
		denied := !c.authorize(req, acl.Describe, acl.Topic, rt.Topic)
		for _, p := range rt.Partitions {
			op := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
			op.Partition, op.StartOffset, op.LeaderEpoch, op.Lag = p, -1, -1, -1
			switch {
			case denied:
				op.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case !known:
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				c.fillShareOffset(ctx, rg.GroupID, rt.Topic, tid, &op)
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		out.Topics = append(out.Topics, ot)
	}
	return out
}

// fillShareOffset reads one partition's start offset.
func (c *groupCoordinator) fillShareOffset(ctx context.Context, group, topic string, tid topicID, op *kmsg.DescribeShareGroupOffsetsResponseGroupTopicPartition) {
	sum, err := c.co.shareStateSummary(ctx, group, tid, op.Partition)
	if err != nil {
		op.ErrorCode = kerrOfShareErr(err).Code
		return
	}
	op.StartOffset = sum.Start
	if sum.Start < 0 || sum.DeliveryComplete < 0 {
		return
	}
	hw, err := c.host.LatestOffset(ctx, topic, op.Partition)
	if err != nil {
		c.log.Debug().Err(err).Str("topic", topic).Int32("partition", op.Partition).Msg("share lag: no high watermark")
		return
	}
	op.Lag = max(hw-sum.Start-int64(sum.DeliveryComplete), 0)
}

// allTopics lists the group's partitions with share state as a request
// would name them.
func (v *sgView) allTopics() []kmsg.DescribeShareGroupOffsetsRequestGroupTopic {
	var out []kmsg.DescribeShareGroupOffsetsRequestGroupTopic
	for _, it := range v.parts {
		rt := kmsg.NewDescribeShareGroupOffsetsRequestGroupTopic()
		rt.Topic, rt.Partitions = it.name, sortedInitParts(it)
		out = append(out, rt)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Topic < out[j].Topic })
	return out
}
