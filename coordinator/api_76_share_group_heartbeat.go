package coordinator

// ShareGroupHeartbeat (key 76), versions 0-1: the share group protocol
// (KIP-932; sgroup_heartbeat.go). v0 is Kafka 4.0's early access (the
// coordinator names a member that comes without an id); v1 (Kafka 4.1)
// requires the member to choose its own id.
//
// A member joins with epoch 0 and its subscription, heartbeats with its
// epoch, and leaves with -1. The answer carries its epoch, the heartbeat
// interval (the group's share.heartbeat.interval.ms, else
// group.share.heartbeat.interval.ms) and, when it changed or the request
// was a full one, its assignment by topic id; only partitions whose share
// state is initialized are assigned. Errors: FENCED_MEMBER_EPOCH,
// UNKNOWN_MEMBER_ID, GROUP_MAX_SIZE_REACHED, GROUP_ID_NOT_FOUND (a group
// of another type), INVALID_REQUEST and the coordinator errors. READ on
// the group is needed (GROUP_AUTHORIZATION_FAILED), and v1 DESCRIBE on
// each subscribed topic (TOPIC_AUTHORIZATION_FAILED), as Kafka's
// KafkaApis checks.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *groupCoordinator) handleShareGroupHeartbeat(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ShareGroupHeartbeatRequest)
	resp := req.Response().(*kmsg.ShareGroupHeartbeatResponse)
	if !c.authorize(req, acl.Read, acl.Group, r.GroupID) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	if req.Version >= 1 && len(deniedTopics(&c.base, req, acl.Describe, r.SubscribedTopicNames, func(t string) string { return t })) > 0 {
		resp.ErrorCode = kerr.TopicAuthorizationFailed.Code
		return resp, nil
	}
	hb := &sgHeartbeat{
		group: r.GroupID, memberID: r.MemberID, epoch: r.MemberEpoch, rackID: r.RackID, topics: r.SubscribedTopicNames,
		clientID: req.ClientID, clientHost: clientHost(req), version: req.Version,
	}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		res := c.shareHeartbeat(ctx, hb)
		if res.err != nil {
			resp.ErrorCode, resp.ErrorMessage = errorAndMessage(res.err, res.msg)
			return resp, nil
		}
		id := res.memberID
		resp.MemberID, resp.MemberEpoch, resp.HeartbeatIntervalMillis = &id, res.epoch, res.intervalMs
		if res.assignment != nil {
			a := kmsg.NewShareGroupHeartbeatResponseAssignment()
			a.TopicPartitions = []kmsg.ShareGroupHeartbeatResponseAssignmentTopicPartition{}
			for _, tp := range res.assignment.byTopic() {
				t := kmsg.NewShareGroupHeartbeatResponseAssignmentTopicPartition()
				t.TopicID, t.Partitions = tp.id, tp.parts
				a.TopicPartitions = append(a.TopicPartitions, t)
			}
			resp.Assignment = &a
		}
		return resp, nil
	})
	return nil, nil
}
