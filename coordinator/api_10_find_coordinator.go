package coordinator

// FindCoordinator (key 10), versions 0-6.
//
// A group (key type 0) is coordinated by the leader of its
// __consumer_offsets partition, a transactional id (key type 1) by the
// leader of its __transaction_state partition. The first lookup creates
// the internal topic, as Kafka does; until its partition has a leader the
// answer is COORDINATOR_NOT_AVAILABLE, which clients retry. v4+ batches
// keys. A share partition's state (key type 2, v6, "group:topicId:partition")
// is coordinated by the leader of its __share_group_state partition; a key
// of another form is INVALID_REQUEST. DESCRIBE on the group or
// transactional id is needed, else GROUP_ or
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED; share keys are the brokers' and
// need CLUSTER_ACTION on the cluster (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

const (
	coordinatorGroup       = 0
	coordinatorTransaction = 1
	coordinatorShare       = 2
)

func (c *Coordinator) handleFindCoordinator(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.FindCoordinatorRequest)
	resp := req.Response().(*kmsg.FindCoordinatorResponse)
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		if req.Version < 4 {
			co := c.findAuthorized(ctx, req, r.CoordinatorType, r.CoordinatorKey)
			resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = co.ErrorCode, co.NodeID, co.Host, co.Port
			if co.ErrorCode != 0 && req.Version >= 1 {
				resp.ErrorMessage = co.ErrorMessage
			}
			return resp, nil
		}
		resp.Coordinators = []kmsg.FindCoordinatorResponseCoordinator{}
		for _, key := range r.CoordinatorKeys {
			resp.Coordinators = append(resp.Coordinators, c.findAuthorized(ctx, req, r.CoordinatorType, key))
		}
		return resp, nil
	})
	return nil, nil
}

// findAuthorized is findCoordinator after Kafka's check: DESCRIBE on the
// group or transactional id, else GROUP_ or
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
func (c *Coordinator) findAuthorized(ctx context.Context, req *protocol.Request, typ int8, key string) kmsg.FindCoordinatorResponseCoordinator {
	denied := func(err *kerr.Error, msg string) kmsg.FindCoordinatorResponseCoordinator {
		co := kmsg.NewFindCoordinatorResponseCoordinator()
		co.Key, co.NodeID, co.Port, co.ErrorCode, co.ErrorMessage = key, -1, -1, err.Code, &msg
		return co
	}
	switch {
	case typ == coordinatorGroup && !c.authorize(req, acl.Describe, acl.Group, key):
		return denied(kerr.GroupAuthorizationFailed, "Group authorization failed.")
	case typ == coordinatorTransaction && !c.authorize(req, acl.Describe, acl.TransactionalID, key):
		return denied(kerr.TransactionalIDAuthorizationFailed, "Transactional Id authorization failed.")
	case typ == coordinatorShare && !c.authorize(req, acl.ClusterAction, acl.Cluster, acl.ClusterName):
		return denied(kerr.ClusterAuthorizationFailed, "Cluster authorization failed.")
	}
	return c.findCoordinator(ctx, typ, key, req.Conn.Listener)
}

// findCoordinator locates the coordinator for one key.
func (c *Coordinator) findCoordinator(ctx context.Context, typ int8, key, listener string) kmsg.FindCoordinatorResponseCoordinator {
	co := kmsg.NewFindCoordinatorResponseCoordinator()
	co.Key, co.NodeID, co.Port = key, -1, -1
	fail := func(err *kerr.Error, msg string) kmsg.FindCoordinatorResponseCoordinator {
		co.ErrorCode = err.Code
		co.ErrorMessage = &msg
		return co
	}
	var topic string
	switch typ {
	case coordinatorGroup:
		topic = OffsetsTopic
	case coordinatorTransaction:
		if key == "" {
			return fail(kerr.InvalidRequest, "the transactional id must not be empty")
		}
		topic = TransactionTopic
	case coordinatorShare:
		if _, err := shareKeyOf(key); err != nil {
			return fail(kerr.InvalidRequest, err.Error())
		}
		if err := c.shares.ensureTopic(ctx); err != nil {
			c.log.Warn().Err(err).Str("topic", ShareStateTopic).Msg("creating internal topic")
			return fail(kerr.CoordinatorNotAvailable, "the coordinator topic "+ShareStateTopic+" is not available yet")
		}
		topic = ShareStateTopic
	default:
		return fail(kerr.InvalidRequest, "unsupported coordinator type "+strconv.Itoa(int(typ)))
	}
	partitions, rf, configs, _ := c.InternalTopicSpec(topic)
	if partitions <= 0 {
		return fail(kerr.CoordinatorNotAvailable, "no partitions configured for "+topic)
	}
	if topic != ShareStateTopic && !c.host.PartitionExists(topic, 0) {
		if err := c.host.EnsureInternalTopic(ctx, topic, partitions, rf, configs); err != nil {
			c.log.Warn().Err(err).Str("topic", topic).Msg("creating internal topic")
			return fail(kerr.CoordinatorNotAvailable, "the coordinator topic "+topic+" is not available yet")
		}
	}
	if topic != ShareStateTopic {
		partitions = c.partitionsOf(topic, partitions) // the topic may have others
	}
	leader, _, _ := c.host.PartitionLeader(topic, partitionFor(key, partitions))
	if leader < 0 {
		return fail(kerr.CoordinatorNotAvailable, "the coordinator has no leader")
	}
	host, port, ok := c.host.BrokerEndpoint(leader, listener)
	if !ok {
		return fail(kerr.CoordinatorNotAvailable, "the coordinator is not reachable on this listener")
	}
	co.NodeID, co.Host, co.Port = leader, host, port
	return co
}

// minTopicSegmentBytes is segment.bytes' floor from Kafka 4.1.
const minTopicSegmentBytes = 1 << 20

// setSegmentBytes sets an internal topic's segment size (when configured,
// n > 0): as segment.bytes, or below its floor of 1 MiB (the internal
// topics' own keys, offsets.topic.segment.bytes and the like, allow less)
// as internal.segment.bytes, which has none. Kafka 4.1 passes it as
// segment.bytes, and its controller then refuses to create the topic.
func setSegmentBytes(configs map[string]string, n int64) {
	switch {
	case n >= minTopicSegmentBytes:
		configs["segment.bytes"] = strconv.FormatInt(n, 10)
	case n > 0:
		delete(configs, "segment.bytes")
		configs["internal.segment.bytes"] = strconv.FormatInt(n, 10)
	}
}
