package coordinator

// ListGroups (key 16), versions 0-5: the groups this broker coordinates.
// v4+ filter by state, v5+ by type (all of Gregor's groups are "classic"),
// both case-insensitively as Kafka does. A partition still loading makes
// the answer COORDINATOR_LOAD_IN_PROGRESS, with the groups known so far.
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
		typeOK := len(r.TypesFilter) == 0
		for _, t := range r.TypesFilter {
			if strings.EqualFold(t, "classic") {
				typeOK = true
			}
		}
		if !typeOK {
			return resp, nil
		}
		if c.rt.Loading() {
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		}
		clusterDescribe := c.allowed(req, acl.Describe, acl.Cluster, acl.ClusterName)
		var groups []*group
		for _, s := range c.rt.Loaded() {
			groups = append(groups, s.Machine.list()...)
		}
		for _, g := range groups {
			g.mu.Lock()
			state, pt, dead := g.state.String(), g.protocolType, g.state == groupDead
			g.mu.Unlock()
			if dead || !clusterDescribe && !c.allowed(req, acl.Describe, acl.Group, g.id) {
				continue
			}
			if len(r.StatesFilter) > 0 {
				match := false
				for _, s := range r.StatesFilter {
					if strings.EqualFold(s, state) {
						match = true
					}
				}
				if !match {
					continue
				}
			}
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.id, pt, state, "classic"
			resp.Groups = append(resp.Groups, lg)
		}
		sort.Slice(resp.Groups, func(i, j int) bool { return resp.Groups[i].Group < resp.Groups[j].Group })
		return resp, nil
	})
	return nil, nil
}
