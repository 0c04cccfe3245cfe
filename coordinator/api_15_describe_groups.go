package coordinator

// DescribeGroups (key 15), versions 0-6.
//
// As Kafka 4: members are listed with their current assignment (while a
// group rebalances, the last generation's until the leader's SyncGroup
// replaces it: ClassicGroupMember.describeNoMetadata), and a stable group
// also with their subscription metadata and the protocol; in other states
// metadata and protocol are empty. An unknown group, or a consumer group
// (KIP-848; ConsumerGroupDescribe describes those), is reported Dead with
// no error (v6 adds GROUP_ID_NOT_FOUND for it, as Kafka 4 does, with
// Kafka's messages "Group G not found." and "Group G is not a classic
// group."). The empty group id is described like any other, as Kafka does
// for backward compatibility.
// DESCRIBE on a group is needed, else GROUP_AUTHORIZATION_FAILED; v3+ give
// the operations the principal may do on each group when asked (every
// one without an authorizer).

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *groupCoordinator) handleDescribeGroups(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeGroupsRequest)
	resp := req.Response().(*kmsg.DescribeGroupsResponse)
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		resp.Groups = []kmsg.DescribeGroupsResponseGroup{}
		for _, id := range r.Groups {
			if !c.authorize(req, acl.Describe, acl.Group, id) {
				g := kmsg.NewDescribeGroupsResponseGroup()
				g.Group, g.ErrorCode, g.AuthorizedOperations = id, kerr.GroupAuthorizationFailed.Code, math.MinInt32
				g.Members = []kmsg.DescribeGroupsResponseGroupMember{}
				resp.Groups = append(resp.Groups, g)
				continue
			}
			g := c.describeGroup(id, req.Version)
			if req.Version >= 3 && r.IncludeAuthorizedOperations && g.ErrorCode == 0 {
				g.AuthorizedOperations = c.authorizedOps(req, acl.Group, id)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp, nil
	})
	return nil, nil
}

func (c *groupCoordinator) describeGroup(id string, version int16) kmsg.DescribeGroupsResponseGroup {
	out := kmsg.NewDescribeGroupsResponseGroup()
	out.Group = id
	out.Members = []kmsg.DescribeGroupsResponseGroupMember{}
	out.AuthorizedOperations = math.MinInt32
	g, err := c.lockGroup(id, false)
	if err != nil {
		out.ErrorCode = c.kerrOf(err).Code
		return out
	}
	if g == nil {
		out.State = groupDead.String()
		if version >= 6 {
			out.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + id + " not found." // GroupMetadataManager.group's message
			out.ErrorMessage = &msg
		}
		return out
	}
	defer g.mu.Unlock()
	if g.consumer != nil || g.share != nil {
		// A consumer group is described with ConsumerGroupDescribe; here it
		// is Dead, as Kafka answers (v6: GROUP_ID_NOT_FOUND).
		out.State = groupDead.String()
		if version >= 6 {
			out.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + id + " is not a classic group."
			out.ErrorMessage = &msg
		}
		return out
	}
	out.State = g.state.String()
	out.ProtocolType = g.protocolType
	stable := g.state == groupStable
	if stable {
		out.Protocol = g.protocol
	}
	for _, m := range g.sortedMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
		if stable {
			if md := m.metadataFor(g.protocol); md != nil {
				dm.ProtocolMetadata = md
			}
		}
		if m.assignment != nil {
			dm.MemberAssignment = m.assignment
		}
		out.Members = append(out.Members, dm)
	}
	return out
}
