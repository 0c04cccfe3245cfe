package coordinator

// ListGroups (key 16), versions 0-5: the groups this broker coordinates.
// v4+ filter by state, v5+ by type ("classic", "consumer" for KIP-848
// consumer groups, whose states are Empty, Assigning, Reconciling and
// Stable, or "share" for KIP-932 share groups, Empty or Stable), both
// case-insensitively as Kafka does. A partition still loading makes
// the answer COORDINATOR_LOAD_IN_PROGRESS with no groups, as Kafka's
// GroupCoordinatorService.listGroups fails as a whole.
// With DESCRIBE on the cluster every group is listed, else only those the
// principal may DESCRIBE.

import (
	"context"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *groupCoordinator) handleListGroups(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ListGroupsRequest)
	resp := req.Response().(*kmsg.ListGroupsResponse)
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		resp.Groups = []kmsg.ListGroupsResponseGroup{}
		if c.rt.Loading() {
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
			return resp, nil
		}
		clusterDescribe := c.allowed(req, acl.Describe, acl.Cluster, acl.ClusterName)
		var groups []*group
		for _, s := range c.rt.Loaded() {
			groups = append(groups, s.Machine.list()...)
		}
		for _, g := range groups {
			lg, ok := listedGroup(g)
			if !ok || !clusterDescribe && !c.allowed(req, acl.Describe, acl.Group, g.id) {
				continue
			}
			if typeMatches(r.TypesFilter, lg.GroupType) && stateMatches(r.StatesFilter, lg.GroupState) {
				resp.Groups = append(resp.Groups, lg)
			}
		}
		sort.Slice(resp.Groups, func(i, j int) bool { return resp.Groups[i].Group < resp.Groups[j].Group })
		return resp, nil
	})
	return nil, nil
}

// listedGroup is a group as ListGroups shows it; false for a Dead one.
func listedGroup(g *group) (kmsg.ListGroupsResponseGroup, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	lg := kmsg.NewListGroupsResponseGroup()
	lg.Group = g.id
	if g.consumer != nil {
		lg.ProtocolType, lg.GroupState, lg.GroupType = consumerProtocolType, g.consumer.state(), "consumer"
		return lg, true
	}
	if g.share != nil {
		lg.ProtocolType, lg.GroupState, lg.GroupType = shareProtocolType, g.share.state(), "share"
		return lg, true
	}
	if g.state == groupDead {
		return lg, false
	}
	lg.ProtocolType, lg.GroupState, lg.GroupType = g.protocolType, g.state.String(), "classic"
	return lg, true
}

// typeMatches matches a ListGroups type filter case-insensitively.
func typeMatches(filter []string, typ string) bool {
	if len(filter) == 0 {
		return true
	}
	for _, t := range filter {
		if strings.EqualFold(strings.TrimSpace(t), typ) {
			return true
		}
	}
	return false
}
