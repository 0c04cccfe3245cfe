package broker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/config"
	"gregor/broker/metadata"
)

// apiError is a Kafka error with a message for the client.
type apiError struct {
	code *kerr.Error
	msg  string
}

func (e *apiError) Error() string {
	if e.msg == "" {
		return e.code.Error()
	}
	return e.msg
}
func (e *apiError) Unwrap() error { return e.code }

// errorNoMessage is code answered with a null message.
func errorNoMessage(code *kerr.Error) error { return &apiError{code: code} }

func errorf(code *kerr.Error, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// CreateTopic validates a topic request as Kafka does and creates the
// topic through the backend. It returns once the backend has recorded it.
func (b *Broker) CreateTopic(ctx context.Context, spec metadata.TopicSpec) (metadata.TopicState, error) {
	if err := b.validateTopicSpec(&spec); err != nil {
		return metadata.TopicState{}, err
	}
	st, err := b.backend.CreateTopic(ctx, spec)
	if err == nil && !spec.ValidateOnly {
		b.log.Info().Str("topic", spec.Name).Int32("partitions", spec.Partitions).Int16("replication_factor", spec.ReplicationFactor).Msg("topic created")
		b.logTopicNoEffect(spec.Name, spec.Configs)
	}
	return st, err
}

// logTopicNoEffect says which topic configs set Gregor keeps without
// acting on, and why.
func (b *Broker) logTopicNoEffect(topic string, configs map[string]string) {
	for _, in := range config.TopicNoEffectKeys(configs) {
		b.log.Warn().Str("topic", topic).Str("key", in.Key).Str("why", in.Why).Msg("topic config accepted but has no effect in Gregor")
	}
}

// checkNewTopicName is CreateTopics' first check of a topic, as Kafka's
// createTopics: a valid name, not taken, not colliding with one.
func (b *Broker) checkNewTopicName(name string) error {
	if err := metadata.ValidateTopicName(name); err != nil {
		return errorf(kerr.InvalidTopicException, "%v", err)
	}
	if b.Topic(name) != nil {
		return errorf(kerr.TopicAlreadyExists, "Topic '%s' already exists.", name)
	}
	if c := b.collision(name); c != "" {
		return errorf(kerr.InvalidTopicException, "Topic '%s' collides with existing topic: %s", name, c)
	}
	return nil
}

// validateTopicSpec checks a new topic in the order Kafka's
// ReplicationControlManager does: its name, its configs, then its
// assignment or replication factor and partition count.
func (b *Broker) validateTopicSpec(spec *metadata.TopicSpec) error {
	if err := b.checkNewTopicName(spec.Name); err != nil {
		return err
	}
	if err := b.Config().CheckTopicConfigs(spec.Configs); err != nil {
		return errorf(kerr.InvalidConfig, "%v", err)
	}
	if spec.Assignment != nil {
		if err := checkManualCounts(*spec); err != nil {
			return err
		}
		if err := checkExplicitAssignment(spec.Assignment); err != nil {
			return err
		}
		spec.Partitions = int32(len(spec.Assignment))
		spec.ReplicationFactor = int16(len(spec.Assignment[0]))
	}
	if spec.ReplicationFactor < -1 || spec.ReplicationFactor == 0 {
		return errorf(kerr.InvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value.")
	}
	if spec.Partitions < -1 || spec.Partitions == 0 {
		return errorf(kerr.InvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
	}
	if spec.Partitions == -1 {
		spec.Partitions = b.cfg.NumPartitions
	}
	if spec.ReplicationFactor == -1 {
		spec.ReplicationFactor = b.cfg.DefaultReplicationFactor
	}
	live := b.liveIDs()
	// As Kafka 4's createTopic words the placer's refusal. (Explicit
	// replicas are checked replica by replica: CheckManualReplicas.)
	if spec.Assignment == nil && int(spec.ReplicationFactor) > len(live) {
		return errorf(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.", spec.ReplicationFactor, spec.ReplicationFactor, len(live))
	}
	add := metadata.AssignedReplicas(spec.Assignment)
	if spec.Assignment == nil {
		add = metadata.SpreadReplicas(int64(spec.Partitions), int(spec.ReplicationFactor), live)
	}
	what := fmt.Sprintf("Creating topic %s with %d partitions and replication factor %d", spec.Name, spec.Partitions, spec.ReplicationFactor)
	if err := b.checkPartitionLimit(add, what); err != nil {
		return err
	}
	if err := metadata.CheckTopicPartitions(int64(spec.Partitions)); err != nil {
		return err
	}
	return nil
}

// checkManualCounts is Kafka's first check of a manual assignment: the
// request leaves the replication factor and the partition count to it.
func checkManualCounts(spec metadata.TopicSpec) error {
	if spec.ReplicationFactor != -1 {
		return errorf(kerr.InvalidRequest, "A manual partition assignment was specified, but replication factor was not set to -1.")
	}
	if spec.Partitions != -1 {
		return errorf(kerr.InvalidRequest, "A manual partition assignment was specified, but numPartitions was not set to -1.")
	}
	return nil
}

// anyBroker takes every broker id as known and live, for the checks of a
// manual assignment's shape made before the backend's.
func anyBroker(int32) bool { return true }

// checkExplicitAssignment checks the shape of a new topic's explicit
// replica assignment: every partition with the same number of replicas,
// no more than a partition may have (the count becomes an int16).
func checkExplicitAssignment(assign [][]int32) error {
	for _, r := range assign {
		if len(r) == 0 {
			return errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.")
		}
	}
	rf := len(assign[0])
	if rf > metadata.MaxReplicas {
		return errorf(kerr.InvalidReplicaAssignment, "Partition 0 has %d replicas; a partition has at most %d.", rf, metadata.MaxReplicas)
	}
	for _, r := range assign {
		if len(r) != rf {
			return errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes a partition with %d replica(s), but this is not consistent with previous partitions, which have %d replica(s).", len(r), rf)
		}
	}
	return nil
}

// collision finds an existing topic whose name differs only in '.' vs '_'
// (they share metric names in Kafka, which refuses such pairs).
func (b *Broker) collision(name string) string {
	if !strings.ContainsAny(name, "._") {
		return ""
	}
	norm := strings.ReplaceAll(name, ".", "_")
	for _, t := range b.Topics() {
		if t.Name != name && strings.ReplaceAll(t.Name, ".", "_") == norm {
			return t.Name
		}
	}
	return ""
}

// AwaitTopic waits until the topic is known here with a leader for every
// partition (a cluster applies metadata asynchronously), or the timeout.
func (b *Broker) AwaitTopic(ctx context.Context, name string, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if t := b.Topic(name); t != nil && allLed(t) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}

// peerDescribeWait bounds how long a CreateTopics, CreatePartitions or
// DeleteTopics waits for the other brokers to describe what it did
// (awaitPeers): one bound for the whole request, so that a peer that does
// not answer costs a request of many topics no more than one of one.
const peerDescribeWait = 5 * time.Second

// peersDeadline is when a request that arrived now with timeout stops
// waiting for its peers (awaitPeers).
func peersDeadline(timeout time.Duration) time.Time {
	return time.Now().Add(min(timeout, peerDescribeWait))
}

// awaitPeers waits, until by at most (peersDeadline), until every
// other live broker's Metadata answer for topic is settled. Each broker
// reads the controller's decisions from ZooKeeper on its own, so right
// after a CreateTopics, CreatePartitions or DeleteTopics another broker
// may describe the topic as it was for a moment, and a client asking it
// next sees the change undone: kafka-python's producer refuses a record
// for a new partition ("Unrecognized partition"), librdkafka logs the
// partition count changing back and forth. Kafka's ZooKeeper controller
// sends every broker the change in one UpdateMetadata before the broker
// that took the request answers, so that moment is a few milliseconds
// there. Best effort: the answer is the same whether the others confirm in
// time or not (a broker cut off stays behind).
func (b *Broker) awaitPeers(ctx context.Context, topic string, by time.Time, settled func(*kmsg.MetadataResponseTopic) bool) {
	ctx, cancel := context.WithDeadline(ctx, by)
	defer cancel()
	var wg sync.WaitGroup
	for _, id := range b.liveIDs() {
		if id == b.id {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !b.peerSettled(ctx, id, topic, settled) {
				t := time.NewTimer(10 * time.Millisecond)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		}()
	}
	wg.Wait()
}

// peerSettled asks broker id for topic's metadata and reports whether the
// answer is settled.
func (b *Broker) peerSettled(ctx context.Context, id int32, topic string, settled func(*kmsg.MetadataResponseTopic) bool) bool {
	req := kmsg.NewPtrMetadataRequest()
	// A peer connection does not negotiate versions: at kmsg's version 0
	// Metadata auto-creates every topic it names, and a deleted topic
	// would come back.
	req.Version, req.AllowAutoTopicCreation = 12, false
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := b.SendToBroker(ctx, id, req)
	if err != nil {
		return false
	}
	m := resp.(*kmsg.MetadataResponse)
	return len(m.Topics) == 1 && settled(&m.Topics[0])
}

// describesPartitions settles an answer that describes count partitions
// or more, each with a leader, or that will not say (a peer refusing this
// broker the topic: nothing to wait for).
func describesPartitions(count int32) func(*kmsg.MetadataResponseTopic) bool {
	return func(t *kmsg.MetadataResponseTopic) bool {
		switch t.ErrorCode {
		case 0:
		case kerr.UnknownTopicOrPartition.Code, kerr.LeaderNotAvailable.Code:
			return false // not there yet
		default:
			return true
		}
		if int32(len(t.Partitions)) < count {
			return false
		}
		for _, p := range t.Partitions {
			if p.Leader < 0 {
				return false
			}
		}
		return true
	}
}

// describesNoTopic settles an answer that no longer describes the topic.
func describesNoTopic(t *kmsg.MetadataResponseTopic) bool { return t.ErrorCode != 0 }

// allLed reports whether every partition of a topic has a leader, and
// those this broker leads have taken up their leadership.
func allLed(t *Topic) bool {
	for _, p := range t.Partitions() {
		if st := p.State(); st.Leader < 0 || st.Leader == p.b.id && !p.IsLeader() {
			return false
		}
	}
	return len(t.Partitions()) > 0
}
