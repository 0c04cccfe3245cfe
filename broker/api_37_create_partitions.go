package broker

// CreatePartitions (key 37), versions 0-3.
//
// Grows a topic to Count partitions. As Kafka: a topic named twice is not
// grown and gets one answer, INVALID_REQUEST; an unknown topic
// UNKNOWN_TOPIC_OR_PARTITION without a message; a count that does not increase
// INVALID_PARTITIONS; explicit assignments
// must give one replica list per new partition, each with the topic's
// replication factor, of distinct brokers the cluster knows, at least one
// live (INVALID_REPLICA_ASSIGNMENT, with Kafka 4's messages); a broker
// that is down is accepted, as in Kafka, and joins when it returns.
// Without assignments the replicas are placed by the backend and the
// replication factor must not exceed the live brokers
// (INVALID_REPLICATION_FACTOR). Growing a broker past
// gregor.max.broker.partitions is POLICY_VIOLATION (partition_limit.go),
// a topic past metadata.MaxTopicPartitions INVALID_PARTITIONS, both
// checked before anything is allocated. validateOnly checks everything
// (an explicit assignment against this broker's view of the brokers) and
// creates nothing.
// The request waits up to its timeout for the new partitions' leaders,
// and then (5 s at most for the whole request) for every other live broker
// to describe them (awaitPeers).
// A topic needs ALTER, checked before whether it exists, else
// TOPIC_AUTHORIZATION_FAILED.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/metadata"
	"gregor/protocol"
)

func (b *Broker) handleCreatePartitions(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.CreatePartitionsRequest)
	resp := req.Response().(*kmsg.CreatePartitionsResponse)
	seen := make(map[string]int, len(r.Topics))
	for _, rt := range r.Topics {
		seen[rt.Topic]++
	}
	timeout := time.Duration(r.TimeoutMillis) * time.Millisecond
	peersBy := peersDeadline(timeout)
	resp.Topics = make([]kmsg.CreatePartitionsResponseTopic, 0, len(r.Topics))
	for _, rt := range r.Topics {
		if seen[rt.Topic] < 0 {
			continue // a duplicate, answered at its first entry
		}
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		if seen[rt.Topic] > 1 {
			seen[rt.Topic] = -1
			err = errorf(kerr.InvalidRequest, "Duplicate topic name.")
		} else if !b.authorize(req, acl.Alter, acl.Topic, rt.Topic) {
			err = errorf(kerr.TopicAuthorizationFailed, "The topic authorization is failed.")
		} else {
			err = b.createPartitionsOne(ctx, rt, r.ValidateOnly, timeout, peersBy)
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = ErrorCode(b.log, err), errMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (b *Broker) createPartitionsOne(ctx context.Context, rt kmsg.CreatePartitionsRequestTopic, validateOnly bool, timeout time.Duration, peersBy time.Time) error {
	t := b.Topic(rt.Topic)
	if t == nil {
		// Kafka 4's controller throws UnknownTopicOrPartitionException
		// without a message (ReplicationControlManager.createPartitions);
		// "The topic '...' does not exist." was ZooKeeper-mode Kafka's.
		return errorNoMessage(kerr.UnknownTopicOrPartition)
	}
	parts := t.Partitions()
	have := int32(len(parts))
	switch {
	case rt.Count == have:
		return errorf(kerr.InvalidPartitions, "Topic already has %d partition(s).", have)
	case rt.Count < have:
		return errorf(kerr.InvalidPartitions, "The topic %s currently has %d partition(s); %d would not be an increase.", rt.Topic, have, rt.Count)
	}
	rf := 0
	if have > 0 {
		rf = len(parts[0].State().Replicas)
	}
	var assignment [][]int32
	var add map[int32]int64
	if rt.Assignment != nil {
		assignment = make([][]int32, 0, len(rt.Assignment))
		for _, a := range rt.Assignment {
			assignment = append(assignment, a.Replicas)
		}
		if err := b.checkNewAssignment(assignment, rt.Count-have, rf, have, validateOnly); err != nil {
			return err
		}
		add = metadata.AssignedReplicas(assignment)
	} else {
		live := b.liveIDs()
		if rf > len(live) {
			return errorf(kerr.InvalidReplicationFactor, "The target replication factor of %d cannot be reached because only %d broker(s) are registered.", rf, len(live))
		}
		add = metadata.SpreadReplicas(int64(rt.Count-have), rf, live)
	}
	what := fmt.Sprintf("Adding %d partitions with replication factor %d to topic %s", rt.Count-have, rf, rt.Topic)
	if err := b.checkPartitionLimit(add, what); err != nil {
		return err
	}
	if err := metadata.CheckTopicPartitions(int64(rt.Count)); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	if err := b.backend.CreatePartitions(ctx, rt.Topic, rt.Count, assignment); err != nil {
		return err
	}
	b.log.Info().Str("topic", rt.Topic).Int32("partitions", rt.Count).Msg("partitions created")
	if timeout > 0 {
		if !b.awaitPartitions(ctx, rt.Topic, rt.Count, timeout) {
			return errorf(kerr.RequestTimedOut, "partitions of %s were created but their leaders were not elected within %v", rt.Topic, timeout)
		}
		b.awaitPeers(ctx, rt.Topic, peersBy, describesPartitions(rt.Count))
	}
	return nil
}

// checkNewAssignment validates explicit replicas for the partitions added,
// as Kafka 4's ReplicationControlManager.createPartitions: one assignment
// per partition added, then each as metadata.CheckManualReplicas checks
// it (in Kafka's order: a broker the cluster does not know, one named
// twice, the topic's replication factor, none live). Which brokers the
// cluster knows (down ones included) and which are live the backend
// checks, on the registrations as they are, before the replication
// factor; here only the shape is checked. A validateOnly request never
// reaches the backend, so it is checked whole here, on this broker's view
// of the cluster, as Kafka's controller validates it whole.
func (b *Broker) checkNewAssignment(assignment [][]int32, increase int32, rf int, first int32, validateOnly bool) error {
	if int32(len(assignment)) != increase {
		return errorf(kerr.InvalidReplicaAssignment, "Attempted to add %d additional partition(s), but only %d assignment(s) were specified.", increase, len(assignment))
	}
	known, live, checkRF := anyBroker, anyBroker, 0
	if validateOnly {
		known, live, checkRF = b.knownBroker(), b.liveBroker(), rf
	}
	for i, r := range assignment {
		if err := metadata.CheckManualReplicas(first+int32(i), r, checkRF, known, live); err != nil {
			return err
		}
	}
	return nil
}

// knownBroker reports whether a broker is one the cluster knows, in this
// broker's view: registered, or named in a topic's replicas (down, as
// the backends count it).
func (b *Broker) knownBroker() func(int32) bool {
	known := map[int32]bool{}
	for _, id := range b.liveIDs() {
		known[id] = true
	}
	for _, t := range b.Topics() {
		for _, p := range t.Partitions() {
			for _, id := range p.State().Replicas {
				known[id] = true
			}
		}
	}
	return func(id int32) bool { return known[id] }
}

// liveBroker reports whether a broker is registered, in this broker's
// view.
func (b *Broker) liveBroker() func(int32) bool {
	live := b.liveIDs()
	return func(id int32) bool { return slices.Contains(live, id) }
}

// awaitPartitions waits until the topic has count partitions here, each
// with a leader, or the timeout.
func (b *Broker) awaitPartitions(ctx context.Context, name string, count int32, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if t := b.Topic(name); t != nil && int32(len(t.Partitions())) >= count && allLed(t) {
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
