package coordinator

// ConsumerGroupHeartbeat (key 68), versions 0-1: the KIP-848 consumer group
// protocol (cgroup_heartbeat.go). v1 (Kafka 4.0) adds subscription regexes
// resolved by the broker and requires the member to choose its own id.
//
// A member joins with epoch 0, heartbeats with its epoch (reporting the
// partitions it owns when they change), and leaves with -1 (-2: a static
// member leaving for now). The answer carries its epoch, the heartbeat
// interval and, when it changed or the request was a full one, its
// assignment by topic id. Errors are the response's: FENCED_MEMBER_EPOCH,
// UNKNOWN_MEMBER_ID, UNRELEASED_INSTANCE_ID, GROUP_MAX_SIZE_REACHED,
// UNSUPPORTED_ASSIGNOR, INVALID_REGULAR_EXPRESSION, INVALID_REQUEST, and
// the coordinator errors. The answer waits until the records it implies
// are committed. READ on the group is needed (GROUP_AUTHORIZATION_FAILED),
// and DESCRIBE on each subscribed topic (TOPIC_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *groupCoordinator) handleConsumerGroupHeartbeat(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ConsumerGroupHeartbeatRequest)
	resp := req.Response().(*kmsg.ConsumerGroupHeartbeatResponse)
	hb := &cgHeartbeat{
		group: r.Group, memberID: r.MemberID, epoch: r.MemberEpoch, instanceID: r.InstanceID, rackID: r.RackID,
		rebalanceTimeoutMs: r.RebalanceTimeoutMillis, topics: r.SubscribedTopicNames, regex: r.SubscribedTopicRegex,
		assignor: r.ServerAssignor, clientID: req.ClientID, clientHost: clientHost(req), version: req.Version,
	}
	// READ on the group, and DESCRIBE on every topic named, as Kafka's
	// KafkaApis checks them.
	if !c.authorize(req, acl.Read, acl.Group, r.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	if len(deniedTopics(&c.base, req, acl.Describe, r.SubscribedTopicNames, func(t string) string { return t })) > 0 {
		resp.ErrorCode = kerr.TopicAuthorizationFailed.Code
		return resp, nil
	}
	if c.cfg.Authorizer != nil {
		// A regex resolves to the topics the member may describe.
		hb.describable = func(topic string) bool { return c.allowed(req, acl.Describe, acl.Topic, topic) }
	}
	if r.Topics != nil {
		hb.owned = make(tpSet)
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				hb.owned[tidp{t.TopicID, p}] = struct{}{}
			}
		}
	}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		res := c.consumerHeartbeat(ctx, hb)
		if res.err != nil {
			resp.ErrorCode, resp.ErrorMessage = errorAndMessage(res.err, res.msg)
			return resp, nil
		}
		id := res.memberID
		resp.MemberID, resp.MemberEpoch, resp.HeartbeatIntervalMillis = &id, res.epoch, res.intervalMs
		if res.assignment != nil {
			a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
			a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
			for _, tp := range res.assignment.byTopic() {
				t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
				t.TopicID, t.Partitions = tp.id, tp.parts
				a.Topics = append(a.Topics, t)
			}
			resp.Assignment = &a
		}
		return resp, nil
	})
	return nil, nil
}
