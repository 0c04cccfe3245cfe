package coordinator

// DescribeShareGroupOffsets (key 90), versions 0-1: each share group's
// start offsets, from the share coordinators' state summaries. v1 adds
// Lag, as Kafka 4.2 computes it (KIP-1226): the partition's high
// watermark less the start offset less the records past the start whose
// delivery is complete; -1 when a part is unknown (a partition never
// initialized, a leader that does not answer). DESCRIBE on the group is
// needed (GROUP_AUTHORIZATION_FAILED).
//
// Topics null lists every partition of a share group with share state
// (GROUP_ID_NOT_FOUND for no share group), leaving out the topics the
// principal may not DESCRIBE. Named topics are read from the share
// coordinators without looking the group up, as Kafka's
// GroupCoordinatorService.describeShareGroupOffsets does: a partition
// with no state, or whose state cannot be read, has start offset -1 and
// no error; so has a topic that does not exist (listed after the others,
// with a zero topic id); topics the principal may not DESCRIBE come last,
// TOPIC_AUTHORIZATION_FAILED. An empty list of topics is answered with
// none.

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
	all := rg.Topics == nil
	if !all && len(rg.Topics) == 0 {
		return out
	}
	v, kerrv := c.viewShareGroup(rg.GroupID)
	if kerrv != nil && (all || kerrv != kerr.GroupIDNotFound && kerrv != kerr.InvalidGroupID) {
		out.ErrorCode = kerrv.Code
		return out
	}
	topics := rg.Topics
	if all {
		topics = v.allTopics()
	}
	var unknown, denied []kmsg.DescribeShareGroupOffsetsResponseGroupTopic
	for _, rt := range topics {
		ot := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
		ot.Topic = rt.Topic
		tid, _, known := c.host.TopicIDOf(rt.Topic)
		allowed := c.authorize(req, acl.Describe, acl.Topic, rt.Topic)
		if all && !allowed {
			continue // not even named to a principal that may not see it
		}
		if known && allowed {
			ot.TopicID = tid
		}
		for _, p := range rt.Partitions {
			op := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
			op.Partition, op.StartOffset = p, -1
			switch {
			case !allowed:
				op.ErrorCode = kerr.TopicAuthorizationFailed.Code
				op.ErrorMessage = kmsg.StringPtr(kerr.TopicAuthorizationFailed.Description)
			case known:
				c.fillShareOffset(ctx, rg.GroupID, rt.Topic, tid, &op)
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		switch {
		case !allowed:
			denied = append(denied, ot)
		case !known:
			unknown = append(unknown, ot)
		default:
			out.Topics = append(out.Topics, ot)
		}
	}
	out.Topics = append(append(out.Topics, unknown...), denied...)
	return out
}

// fillShareOffset reads one partition's start offset and leader epoch; a
// state that cannot be read is reported as none (start offset -1), as
// Kafka reports a failed read of the summary.
func (c *groupCoordinator) fillShareOffset(ctx context.Context, group, topic string, tid topicID, op *kmsg.DescribeShareGroupOffsetsResponseGroupTopicPartition) {
	sum, err := c.co.shareStateSummary(ctx, group, tid, op.Partition)
	if err != nil {
		c.log.Debug().Err(err).Str("group", group).Str("topic", topic).Int32("partition", op.Partition).Msg("share offsets: no state summary")
		return
	}
	op.StartOffset, op.LeaderEpoch = sum.Start, sum.LeaderEpoch
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
