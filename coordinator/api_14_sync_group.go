package coordinator

// SyncGroup (key 14), versions 0-5.
//
// The leader sends the assignment it computed; it is stored with the
// generation before any member is answered. Followers wait for it. v5+
// check the protocol type and name against the group's; from v5 both are
// required, and a request without either is INCONSISTENT_GROUP_PROTOCOL
// before anything else (KafkaApis.handleSyncGroupRequest,
// SyncGroupRequest.areMandatoryProtocolTypeAndNamePresent). READ on the
// group is needed, else GROUP_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *groupCoordinator) handleSyncGroup(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.SyncGroupRequest)
	resp := req.Response().(*kmsg.SyncGroupResponse)
	if req.Version >= 5 && (r.ProtocolType == nil || r.Protocol == nil) {
		resp.ErrorCode, resp.MemberAssignment = kerr.InconsistentGroupProtocol.Code, []byte{}
		return resp, nil
	}
	if !c.authorize(req, acl.Read, acl.Group, r.Group) {
		resp.ErrorCode, resp.MemberAssignment = kerr.GroupAuthorizationFailed.Code, []byte{}
		return resp, nil
	}
	sr := syncRequest{memberID: r.MemberID, instanceID: r.InstanceID, generation: r.Generation, assignments: make(map[string][]byte)}
	if req.Version >= 5 {
		sr.protocolType, sr.protocol = r.ProtocolType, r.Protocol
	}
	for _, a := range r.GroupAssignment {
		sr.assignments[a.MemberID] = a.MemberAssignment
	}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		res := c.syncGroup(ctx, r.Group, sr)
		resp.MemberAssignment = []byte{}
		if res.err != nil {
			resp.ErrorCode = res.err.Code
			return resp, nil
		}
		if res.assignment != nil {
			resp.MemberAssignment = res.assignment
		}
		if req.Version >= 5 {
			pt, p := res.protocolType, res.protocol
			resp.ProtocolType, resp.Protocol = &pt, &p
		}
		return resp, nil
	})
	return nil, nil
}

func (c *groupCoordinator) syncGroup(ctx context.Context, groupID string, sr syncRequest) syncResult {
	if groupID == "" {
		return syncResult{err: kerr.InvalidGroupID}
	}
	g, err := c.lockGroup(groupID, false)
	if err == kerr.CoordinatorLoadInProgress {
		// The rebalance under way was lost with the old coordinator:
		// rejoin, without looking for the coordinator again, as Kafka's
		// Scala coordinator answered (apache/kafka#4788). Kafka 4's
		// coordinator answers COORDINATOR_LOAD_IN_PROGRESS, which the Java
		// client's SyncGroup handler reports as an unexpected error and
		// kafkajs does not retry as a rebalance; the older answer is
		// kept on purpose.
		return syncResult{err: kerr.RebalanceInProgress}
	}
	if err != nil {
		return syncResult{err: c.kerrOf(err)}
	}
	if g == nil {
		return syncResult{err: kerr.UnknownMemberID}
	}
	if g.share != nil {
		g.mu.Unlock()
		return syncResult{err: kerr.UnknownMemberID}
	}
	if g.consumer != nil {
		res, w := c.classicSyncToConsumer(g, sr)
		g.mu.Unlock()
		if res.err == nil {
			if e := awaitClassic(ctx, w); e != nil {
				return syncResult{err: e}
			}
		}
		return res
	}
	res, ch, w := c.sync(g, sr)
	generation := g.generation
	g.mu.Unlock()
	if w != nil {
		c.assignmentStored(g, generation, awaitWrite(ctx, *w, c.commitTimeout()))
	}
	if ch == nil {
		return res
	}
	select {
	case res = <-ch:
		return res
	case <-ctx.Done():
		return syncResult{err: kerr.RebalanceInProgress}
	}
}
