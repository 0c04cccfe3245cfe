package coordinator

// ConsumerGroupDescribe (key 69), versions 0-1: a consumer group's state,
// epochs, assignor and members with their subscriptions, current and
// target assignments (v1: whether each uses the classic or the consumer
// protocol). A group that does not exist or is a classic group is
// GROUP_ID_NOT_FOUND, which tells the admin client to describe it with
// DescribeGroups.

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

func (c *groupCoordinator) handleConsumerGroupDescribe(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ConsumerGroupDescribeRequest)
	resp := req.Response().(*kmsg.ConsumerGroupDescribeResponse)
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		resp.Groups = []kmsg.ConsumerGroupDescribeResponseGroup{}
		for _, id := range r.Groups {
			resp.Groups = append(resp.Groups, c.describeConsumerGroup(id))
		}
		return resp, nil
	})
	return nil, nil
}

func (c *groupCoordinator) describeConsumerGroup(id string) kmsg.ConsumerGroupDescribeResponseGroup {
	out := kmsg.NewConsumerGroupDescribeResponseGroup()
	out.Group = id
	out.Members = []kmsg.ConsumerGroupDescribeResponseGroupMember{}
	out.AuthorizedOperations = math.MinInt32
	fail := func(e *kerr.Error, msg string) kmsg.ConsumerGroupDescribeResponseGroup {
		out.ErrorCode = e.Code
		if msg != "" {
			out.ErrorMessage = &msg
		}
		return out
	}
	if id == "" {
		return fail(kerr.InvalidGroupID, "")
	}
	g, err := c.lockGroup(id, false)
	if err != nil {
		return fail(c.kerrOf(err), "")
	}
	if g == nil {
		return fail(kerr.GroupIDNotFound, "Group "+id+" not found.")
	}
	defer g.mu.Unlock()
	cg := g.consumer
	if cg == nil {
		return fail(kerr.GroupIDNotFound, "Group "+id+" is not a consumer group.")
	}
	out.State, out.Epoch, out.AssignmentEpoch = cg.state(), cg.epoch, cg.assignEpoch
	out.AssignorName = cg.preferredAssignor(nil)
	if out.AssignorName == "" {
		out.AssignorName = c.cfg.ConsumerAssignors[0]
	}
	for _, m := range cg.sortedMembers() {
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.RackID, dm.MemberEpoch = m.sub.id, m.sub.instanceID, m.sub.rackID, m.cur.epoch
		dm.ClientID, dm.ClientHost = m.sub.clientID, m.sub.clientHost
		dm.SubscribedTopics = append([]string{}, m.sub.topics...)
		dm.SubscribedTopicRegex = optString(m.sub.regex)
		dm.Assignment = c.describeAssignment(m.cur.assigned)
		dm.TargetAssignment = c.describeAssignment(cg.target[m.sub.id])
		dm.MemberType = 1
		if m.usesClassic() {
			dm.MemberType = 0
		}
		out.Members = append(out.Members, dm)
	}
	return out
}

// describeAssignment lists partitions with their topic ids and names
// (partitions of deleted topics are left out).
func (c *groupCoordinator) describeAssignment(s tpSet) kmsg.Assignment {
	a := kmsg.NewAssignment()
	a.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	for _, tp := range s.byTopic() {
		name, _, ok := c.host.TopicNameOf(tp.id)
		if !ok {
			continue
		}
		t := kmsg.NewAssignmentTopicPartition()
		t.TopicID, t.Topic, t.Partitions = tp.id, name, tp.parts
		a.TopicPartitions = append(a.TopicPartitions, t)
	}
	return a
}
