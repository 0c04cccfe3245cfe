package broker

// CreateTopics (key 19), versions 0-7.
//
// Each topic is validated as Kafka does (name, collisions, partitions,
// replication factor against live brokers, explicit assignments, configs).
// A name given twice in one request is not created and gets one answer,
// INVALID_REQUEST, as in Kafka (librdkafka fails a response naming a topic
// twice). v5+ answers with the
// partition count, replication factor and every config of the topic (the
// Java admin client reads them) as Kafka 4's controller resolves them
// (config.CreatedTopicEntries); v7+ with the topic id. The request waits
// up to its timeout for leaders, which a cluster elects asynchronously,
// and then (5 s at most for the whole request) for every other live
// broker to describe the topic (awaitPeers).
//
// Authorization: CREATE on the cluster or on the topic, else
// TOPIC_AUTHORIZATION_FAILED; a topic created without DESCRIBE_CONFIGS on
// it is answered without its configs, partition count and replication
// factor, and a TOPIC_AUTHORIZATION_FAILED config error (v5+).

import (
	"context"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/protocol"
)

func (b *Broker) handleCreateTopics(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.CreateTopicsRequest)
	resp := req.Response().(*kmsg.CreateTopicsResponse)
	seen := make(map[string]int, len(r.Topics))
	for _, rt := range r.Topics {
		seen[rt.Topic]++
	}
	timeout := time.Duration(r.TimeoutMillis) * time.Millisecond
	peersBy := peersDeadline(timeout)
	clusterCreate := b.allowed(req, acl.Create, acl.Cluster, acl.ClusterName)
	for _, rt := range r.Topics {
		if seen[rt.Topic] < 0 {
			continue // a duplicate, answered at its first entry
		}
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		var err error
		if rt.Topic == clusterMetadataTopic {
			// KRaft's log, a name Kafka never lets a topic take.
			err = errorf(kerr.InvalidRequest, "Creation of internal topic %s is prohibited.", clusterMetadataTopic)
		} else if seen[rt.Topic] > 1 {
			seen[rt.Topic] = -1
			err = errorf(kerr.InvalidRequest, "Duplicate topic name.")
		} else if !clusterCreate && !b.authorize(req, acl.Create, acl.Topic, rt.Topic) {
			err = errorf(kerr.TopicAuthorizationFailed, "Authorization failed.")
		} else if err = b.createOne(ctx, &rt, r.ValidateOnly, timeout, peersBy, &st); err == nil && !b.allowed(req, acl.DescribeConfigs, acl.Topic, rt.Topic) {
			st.NumPartitions, st.ReplicationFactor, st.Configs = -1, -1, nil
			st.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
		}
		if err != nil {
			st.ErrorCode = ErrorCode(b.log, err)
			if req.Version >= 1 {
				st.ErrorMessage = errMessage(err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// createTopicConfigs is a new topic's configs (nil for none), checked as
// Kafka's computeConfigChanges and config validation: no null value, every
// value valid, else INVALID_CONFIG.
func createTopicConfigs(cs []kmsg.CreateTopicsRequestTopicConfig) (map[string]string, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(cs))
	var null []string
	for _, c := range cs {
		if c.Value == nil {
			null = append(null, c.Name)
			continue
		}
		m[c.Name] = *c.Value
	}
	if len(null) > 0 {
		return nil, errorf(kerr.InvalidConfig, "Null value not supported for topic configs: %s", strings.Join(null, ","))
	}
	if err := config.TopicConfigError(m); err != nil {
		return nil, errorf(kerr.InvalidConfig, "%v", err)
	}
	return m, nil
}

// clusterMetadataTopic is the name of KRaft's metadata log, which Kafka
// refuses to create as a topic.
const clusterMetadataTopic = "__cluster_metadata"

func (b *Broker) createOne(ctx context.Context, rt *kmsg.CreateTopicsRequestTopic, validateOnly bool, timeout time.Duration, peersBy time.Time, st *kmsg.CreateTopicsResponseTopic) error {
	spec := metadata.TopicSpec{Name: rt.Topic, Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor, ValidateOnly: validateOnly}
	// Kafka's order: the name (and whether it is taken), the configs,
	// then the assignment.
	if err := b.checkNewTopicName(rt.Topic); err != nil {
		return err
	}
	var err error
	if spec.Configs, err = createTopicConfigs(rt.Configs); err != nil {
		return err
	}
	if len(rt.ReplicaAssignment) > 0 {
		if err := metadata.CheckTopicPartitions(int64(len(rt.ReplicaAssignment))); err != nil {
			return err
		}
		if err := checkManualCounts(spec); err != nil {
			return err
		}
		if spec.Assignment, err = b.manualAssignment(rt.ReplicaAssignment); err != nil {
			return err
		}
	}
	ts, err := b.CreateTopic(ctx, spec)
	if err != nil {
		return err
	}
	st.TopicID = ts.ID
	st.NumPartitions, st.ReplicationFactor = spec.Partitions, spec.ReplicationFactor
	if len(ts.Partitions) > 0 {
		st.NumPartitions, st.ReplicationFactor = int32(len(ts.Partitions)), int16(len(ts.Partitions[0].Replicas))
	}
	for _, e := range b.Config().CreatedTopicEntries(spec.Configs) {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.Value, e.ReadOnly, int8(e.Source), e.Sensitive
		st.Configs = append(st.Configs, c)
	}
	if !validateOnly && timeout > 0 {
		if !b.AwaitTopic(ctx, rt.Topic, timeout) {
			return errorf(kerr.RequestTimedOut, "topic %s was created but its leaders were not elected within %v", rt.Topic, timeout)
		}
		b.awaitPeers(ctx, rt.Topic, peersBy, describesPartitions(st.NumPartitions))
	}
	return nil
}

// manualAssignment reads a CreateTopics manual assignment, checked as
// Kafka 4's ReplicationControlManager.createTopic checks it: in the
// request's order, a partition given twice, then each partition's
// replicas (metadata.CheckManualReplicas: none twice, as many as the
// partitions before); last, the partitions must be 0 to n-1. Which
// brokers the cluster knows and which are live the backend checks, on
// the registrations as they are (this broker's view may lag them): a
// broker that is down but known is accepted, as in Kafka.
func (b *Broker) manualAssignment(as []kmsg.CreateTopicsRequestTopicReplicaAssignment) ([][]int32, error) {
	known, live := anyBroker, anyBroker
	byIndex := make(map[int32][]int32, len(as))
	rf := 0
	for _, a := range as {
		if _, dup := byIndex[a.Partition]; dup {
			return nil, errorf(kerr.InvalidReplicaAssignment, "Found multiple manual partition assignments for partition %d", a.Partition)
		}
		if err := metadata.CheckManualReplicas(a.Partition, a.Replicas, rf, known, live); err != nil {
			return nil, err
		}
		rf = len(a.Replicas)
		byIndex[a.Partition] = a.Replicas
	}
	out := make([][]int32, len(as))
	for p := range out {
		r, ok := byIndex[int32(p)]
		if !ok {
			return nil, errorf(kerr.InvalidReplicaAssignment, "partitions should be a consecutive 0-based integer sequence")
		}
		out[p] = r
	}
	return out, nil
}
