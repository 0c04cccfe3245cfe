package coordinator

// ShareGroupDescribe (key 77), versions 0-1: a share group's state (Empty
// or Stable), epochs, assignor ("simple") and members with their
// subscriptions and assignments. A group that does not exist or is of
// another type is GROUP_ID_NOT_FOUND. DESCRIBE on the group is needed
// (GROUP_AUTHORIZATION_FAILED), and on every topic its members are
// assigned (else TOPIC_AUTHORIZATION_FAILED), as Kafka's
// handleShareGroupDescribe checks; the topics they subscribe to are not
// checked.

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *groupCoordinator) handleShareGroupDescribe(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ShareGroupDescribeRequest)
	resp := req.Response().(*kmsg.ShareGroupDescribeResponse)
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		resp.Groups = describeGroups(c, req, r.GroupIDs, r.IncludeAuthorizedOperations, groupDescriber[kmsg.ShareGroupDescribeResponseGroup]{
			failed: func(id string, code int16, msg *string) kmsg.ShareGroupDescribeResponseGroup {
				g := kmsg.NewShareGroupDescribeResponseGroup()
				g.GroupID, g.ErrorCode, g.ErrorMessage, g.AuthorizedOperations = id, code, msg, math.MinInt32
				g.Members = []kmsg.ShareGroupDescribeResponseGroupMember{}
				return g
			},
			describe: func(id string) (kmsg.ShareGroupDescribeResponseGroup, bool) {
				g := c.describeShareGroup(id)
				return g, g.ErrorCode == 0
			},
			hides:  func(g *kmsg.ShareGroupDescribeResponseGroup) bool { return c.sharedTopicHidden(req, g) },
			setOps: func(g *kmsg.ShareGroupDescribeResponseGroup, ops int32) { g.AuthorizedOperations = ops },
		})
		return resp, nil
	})
	return nil, nil
}

func (c *groupCoordinator) describeShareGroup(id string) kmsg.ShareGroupDescribeResponseGroup {
	out := kmsg.NewShareGroupDescribeResponseGroup()
	out.GroupID = id
	out.Members = []kmsg.ShareGroupDescribeResponseGroupMember{}
	out.AuthorizedOperations = math.MinInt32
	fail := func(e *kerr.Error, msg string) kmsg.ShareGroupDescribeResponseGroup {
		out.ErrorCode = e.Code
		if msg != "" {
			out.ErrorMessage = &msg
		}
		return out
	}
	g, e, msg := c.lockDescribed(id, "share", func(g *group) bool { return g.share != nil })
	if e != nil {
		return fail(e, msg)
	}
	defer g.mu.Unlock()
	sg := g.share
	out.GroupState, out.GroupEpoch, out.AssignmentEpoch, out.Assignor = sg.state(), sg.epoch, sg.assignEpoch, "simple"
	for _, m := range sg.sortedMembers() {
		dm := kmsg.NewShareGroupDescribeResponseGroupMember()
		dm.MemberID, dm.RackID, dm.MemberEpoch, dm.ClientID, dm.ClientHost = m.id, m.rackID, m.epoch, m.clientID, m.clientHost
		dm.SubscribedTopicNames = append([]string{}, m.topics...)
		a := c.describeAssignment(m.assigned)
		dm.Assignment.TopicPartitions = []kmsg.ShareGroupDescribeResponseGroupMemberAssignmentTopicPartition{}
		for _, tp := range a.TopicPartitions {
			t := kmsg.NewShareGroupDescribeResponseGroupMemberAssignmentTopicPartition()
			t.TopicID, t.Topic, t.Partitions = tp.TopicID, tp.Topic, tp.Partitions
			dm.Assignment.TopicPartitions = append(dm.Assignment.TopicPartitions, t)
		}
		out.Members = append(out.Members, dm)
	}
	return out
}

// sharedTopicHidden reports whether a described share group assigns a
// topic the principal may not describe.
func (c *groupCoordinator) sharedTopicHidden(req *protocol.Request, g *kmsg.ShareGroupDescribeResponseGroup) bool {
	if c.cfg.Authorizer == nil {
		return false
	}
	for _, m := range g.Members {
		for _, t := range m.Assignment.TopicPartitions {
			if !c.allowed(req, acl.Describe, acl.Topic, t.Topic) {
				return true
			}
		}
	}
	return false
}
