package coordinator

// Heartbeat (key 12), versions 0-4. Keeps a member's session alive; during
// a rebalance the answer is REBALANCE_IN_PROGRESS, telling it to rejoin.
// READ on the group is needed, else GROUP_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *groupCoordinator) handleHeartbeat(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.HeartbeatRequest)
	resp := req.Response().(*kmsg.HeartbeatResponse)
	if !c.authorize(req, acl.Read, acl.Group, r.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		resp.ErrorCode = c.errCode(c.heartbeatGroup(r.Group, r.MemberID, r.InstanceID, r.Generation))
		return resp, nil
	})
	return nil, nil
}

func (c *groupCoordinator) heartbeatGroup(groupID, memberID string, instanceID *string, generation int32) error {
	if groupID == "" {
		return kerr.InvalidGroupID
	}
	g, err := c.lockGroup(groupID, false)
	if err == kerr.CoordinatorLoadInProgress {
		return nil // still loading: answered blindly, as Kafka does
	}
	if err != nil {
		return c.kerrOf(err)
	}
	if g == nil {
		return kerr.UnknownMemberID
	}
	defer g.mu.Unlock()
	if g.share != nil {
		return kerr.UnknownMemberID
	}
	if g.consumer != nil {
		if e := c.classicHeartbeatToConsumer(g, memberID, instanceID, generation); e != nil {
			return e
		}
		return nil
	}
	if e := c.heartbeat(g, memberID, instanceID, generation); e != nil {
		return e
	}
	return nil
}
