package coordinator

// ConsumerGroupDescribe (key 69), versions 0-1: a consumer group's state,
// epochs, assignor and members with their subscriptions, current and
// target assignments (v1: whether each uses the classic or the consumer
// protocol). A group that does not exist or is a classic group is
// GROUP_ID_NOT_FOUND, which tells the admin client to describe it with
// DescribeGroups. DESCRIBE on the group is needed
// (GROUP_AUTHORIZATION_FAILED), and on every topic its members subscribe
// to or are assigned (else the group is TOPIC_AUTHORIZATION_FAILED), as in
// Kafka.

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *groupCoordinator) handleConsumerGroupDescribe(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ConsumerGroupDescribeRequest)
	resp := req.Response().(*kmsg.ConsumerGroupDescribeResponse)
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		resp.Groups = describeGroups(c, req, r.Groups, r.IncludeAuthorizedOperations, groupDescriber[kmsg.ConsumerGroupDescribeResponseGroup]{
			failed: func(id string, code int16, msg *string) kmsg.ConsumerGroupDescribeResponseGroup {
				g := kmsg.NewConsumerGroupDescribeResponseGroup()
				g.Group, g.ErrorCode, g.ErrorMessage, g.AuthorizedOperations = id, code, msg, math.MinInt32
				g.Members = []kmsg.ConsumerGroupDescribeResponseGroupMember{}
				return g
			},
			describe: func(id string) (kmsg.ConsumerGroupDescribeResponseGroup, bool) {
				g := c.describeConsumerGroup(id)
				return g, g.ErrorCode == 0
			},
			hides:  func(g *kmsg.ConsumerGroupDescribeResponseGroup) bool { return c.hidesTopic(req, g) },
			setOps: func(g *kmsg.ConsumerGroupDescribeResponseGroup, ops int32) { g.AuthorizedOperations = ops },
		})
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
	g, e, msg := c.lockDescribed(id, "consumer", func(g *group) bool { return g.consumer != nil })
	if e != nil {
		return fail(e, msg)
	}
	defer g.mu.Unlock()
	cg := g.consumer
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
		// "" for a member without one, as Kafka's
		// ConsumerGroupMember.asConsumerGroupDescribeMember answers.
		dm.SubscribedTopicRegex = kmsg.StringPtr(m.sub.regex)
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

// hidesTopic reports whether a described group has a member assigned (or
// to be assigned) a topic the principal may not describe, as Kafka's
// handleConsumerGroupDescribe checks the assignments and target
// assignments; the topics members only subscribe to are not checked.
func (c *groupCoordinator) hidesTopic(req *protocol.Request, g *kmsg.ConsumerGroupDescribeResponseGroup) bool {
	if c.cfg.Authorizer == nil {
		return false
	}
	var topics []string
	for _, m := range g.Members {
		for _, a := range [][]kmsg.AssignmentTopicPartition{m.Assignment.TopicPartitions, m.TargetAssignment.TopicPartitions} {
			for _, t := range a {
				topics = append(topics, t.Topic)
			}
		}
	}
	for _, t := range topics {
		if !c.allowed(req, acl.Describe, acl.Topic, t) {
			return true
		}
	}
	return false
}
