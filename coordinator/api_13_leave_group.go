package coordinator

// LeaveGroup (key 13), versions 0-5. v3+ remove several members at once,
// static ones by group.instance.id (KIP-345), each with its own error. In
// a consumer group (KIP-848) it removes members of either protocol, as
// the admin client does (cgroup_classic.go).
// READ on the group is needed, else GROUP_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *groupCoordinator) handleLeaveGroup(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.LeaveGroupRequest)
	resp := req.Response().(*kmsg.LeaveGroupResponse)
	if !c.authorize(req, acl.Read, acl.Group, r.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		if req.Version >= 3 {
			resp.Members = []kmsg.LeaveGroupResponseMember{}
		}
		return resp, nil
	}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		if req.Version >= 3 {
			resp.Members = []kmsg.LeaveGroupResponseMember{}
		}
		if r.Group == "" {
			resp.ErrorCode = kerr.InvalidGroupID.Code
			return resp, nil
		}
		g, err := c.lockGroup(r.Group, false)
		if err != nil {
			resp.ErrorCode = c.kerrOf(err).Code
			return resp, nil
		}
		leaveOne := func(memberID string, instanceID *string, reason *string) *kerr.Error {
			if g == nil || g.share != nil {
				return kerr.UnknownMemberID
			}
			why := ""
			if reason != nil {
				why = *reason
			}
			return c.leave(g, memberID, instanceID, why)
		}
		if g != nil && g.consumer != nil {
			w, err := c.leaveConsumerGroup(g, r, req.Version, resp)
			g.mu.Unlock()
			if err == nil {
				err = w.await(ctx)
			}
			if err != nil {
				// A failed write fails the whole request, as in Kafka.
				resp.ErrorCode = cgWriteError(c.kerrOf(err)).Code
				if req.Version >= 3 {
					resp.Members = []kmsg.LeaveGroupResponseMember{}
				}
			}
			return resp, nil
		}
		if g != nil {
			defer g.mu.Unlock()
		}
		if req.Version < 3 {
			if e := leaveOne(r.MemberID, nil, nil); e != nil {
				resp.ErrorCode = e.Code
			}
			return resp, nil
		}
		for _, m := range r.Members {
			rm := kmsg.NewLeaveGroupResponseMember()
			rm.MemberID, rm.InstanceID = m.MemberID, m.InstanceID
			if e := leaveOne(m.MemberID, m.InstanceID, m.Reason); e != nil {
				rm.ErrorCode = e.Code
			}
			resp.Members = append(resp.Members, rm)
		}
		return resp, nil
	})
	return nil, nil
}

// leaveConsumerGroup answers a LeaveGroup to a locked consumer group; it
// returns the write to wait for, or the error that fails the request.
func (c *groupCoordinator) leaveConsumerGroup(g *group, r *kmsg.LeaveGroupRequest, version int16, resp *kmsg.LeaveGroupResponse) (pendingWrite, error) {
	if version < 3 {
		errs, w, err := c.leaveFromConsumer(g, []leaveMember{{memberID: r.MemberID, reason: "not provided"}})
		if errs[0] != nil {
			resp.ErrorCode = errs[0].Code
		}
		return w, err
	}
	var ls []leaveMember
	for _, m := range r.Members {
		l := leaveMember{memberID: m.MemberID, instanceID: m.InstanceID, reason: "not provided"}
		if m.Reason != nil {
			l.reason = *m.Reason
		}
		ls = append(ls, l)
	}
	errs, w, err := c.leaveFromConsumer(g, ls)
	for i, m := range r.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = m.MemberID, m.InstanceID
		if errs[i] != nil {
			rm.ErrorCode = errs[i].Code
		}
		resp.Members = append(resp.Members, rm)
	}
	return w, err
}
