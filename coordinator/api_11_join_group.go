package coordinator

// JoinGroup (key 11), versions 0-9.
//
// v4+ (KIP-394): a new member without an id is given one with
// MEMBER_ID_REQUIRED and joins with it on its next request. v5+ carry a
// static group.instance.id (KIP-345). v9 (KIP-814) tells a returning
// static leader it need not assign again. The response waits for the
// rebalance, up to the group's rebalance timeout. READ on the group is
// needed, else GROUP_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *groupCoordinator) handleJoinGroup(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.JoinGroupRequest)
	resp := req.Response().(*kmsg.JoinGroupResponse)
	if !c.authorize(req, acl.Read, acl.Group, r.Group) {
		fillJoinResponse(resp, joinResult{err: kerr.GroupAuthorizationFailed}, req.Version)
		return resp, nil
	}
	jr := joinRequest{
		memberID: r.MemberID, instanceID: r.InstanceID, clientID: req.ClientID, clientHost: clientHost(req),
		sessionTimeout: millis(r.SessionTimeoutMillis), rebalanceTimeout: millis(r.RebalanceTimeoutMillis),
		protocolType: r.ProtocolType, requireKnownID: req.Version >= 4, version: req.Version,
	}
	if req.Version == 0 {
		jr.rebalanceTimeout = jr.sessionTimeout
	}
	for _, p := range r.Protocols {
		jr.protocols = append(jr.protocols, protocolMeta{name: p.Name, metadata: p.Metadata})
	}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		res := c.joinGroup(ctx, r.Group, jr)
		fillJoinResponse(resp, res, req.Version)
		return resp, nil
	})
	return nil, nil
}

// joinGroup validates and runs a join, waiting for the rebalance.
func (c *groupCoordinator) joinGroup(ctx context.Context, groupID string, jr joinRequest) joinResult {
	fail := func(err *kerr.Error) joinResult { return joinResult{err: err, memberID: jr.memberID} }
	if groupID == "" {
		return fail(kerr.InvalidGroupID)
	}
	if jr.sessionTimeout < c.cfg.MinSessionTimeout || (c.cfg.MaxSessionTimeout > 0 && jr.sessionTimeout > c.cfg.MaxSessionTimeout) {
		return fail(kerr.InvalidSessionTimeout)
	}
	g, err := c.lockGroup(groupID, jr.memberID == "")
	if err != nil {
		return fail(c.kerrOf(err))
	}
	if g == nil {
		return fail(kerr.UnknownMemberID)
	}
	if g.share != nil {
		g.mu.Unlock()
		return fail(kerr.InconsistentGroupProtocol) // as Kafka answers a join to a share group
	}
	if g.consumer != nil {
		if len(g.consumer.members) > 0 {
			res, w := c.classicJoinToConsumer(g, jr)
			g.mu.Unlock()
			if res.err == nil {
				if e := awaitClassic(ctx, w); e != nil {
					return fail(e)
				}
			}
			return res
		}
		c.emptyConsumerToClassic(g)
	}
	res, ch, jw := c.join(g, jr)
	g.mu.Unlock()
	if jw != nil {
		jw.done(awaitWrite(ctx, jw.w, c.commitTimeout()))
	}
	if ch == nil {
		return res
	}
	select {
	case res = <-ch:
		return res
	case <-ctx.Done():
		return fail(kerr.RebalanceInProgress)
	}
}

func fillJoinResponse(resp *kmsg.JoinGroupResponse, res joinResult, version int16) {
	resp.Members = []kmsg.JoinGroupResponseMember{}
	resp.MemberID = res.memberID
	if res.err != nil {
		resp.ErrorCode = res.err.Code
		resp.Generation = -1
		if version < 7 {
			empty := ""
			resp.Protocol = &empty
		}
		return
	}
	resp.Generation = res.generation
	resp.LeaderID = res.leader
	p := res.protocol
	resp.Protocol = &p
	if version >= 7 {
		pt := res.protocolType
		resp.ProtocolType = &pt
	}
	resp.SkipAssignment = res.skipAssignment && version >= 9
	if res.members != nil {
		resp.Members = res.members
	}
}
