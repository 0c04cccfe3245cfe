package broker

// What the coordinators (consumer groups, transactions) need from the
// broker, as plain methods: the coordinator package declares the interface
// and never imports this one.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/metadata"
	"gregor/broker/records"
)

// EnsureInternalTopic creates an internal topic if it does not exist,
// with a replication factor capped at the live brokers, and waits until
// it has leaders.
func (b *Broker) EnsureInternalTopic(ctx context.Context, name string, partitions int32, rf int16, configs map[string]string) error {
	if t := b.Topic(name); t != nil && allLed(t) {
		return nil
	}
	if b.Topic(name) == nil {
		if err := b.createInternalTopic(ctx, name, partitions, rf, configs); err != nil {
			return err
		}
	}
	if !b.AwaitTopic(ctx, name, 30*time.Second) {
		return kerr.CoordinatorNotAvailable
	}
	return nil
}

// createInternalTopic creates an internal topic, with a replication factor
// capped at the live brokers; one that exists meanwhile is no error.
func (b *Broker) createInternalTopic(ctx context.Context, name string, partitions int32, rf int16, configs map[string]string) error {
	brokers, _ := b.Brokers()
	if int(rf) > len(brokers) {
		rf = int16(len(brokers))
	}
	if rf < 1 {
		return kerr.CoordinatorNotAvailable
	}
	// With fewer live brokers than the configured factor (a single
	// broker with Kafka's defaults), min.insync.replicas is capped at
	// the factor so the topic can be written at all.
	if v, ok := configs["min.insync.replicas"]; ok {
		if n, err := strconv.Atoi(v); err == nil && n > int(rf) {
			configs = maps.Clone(configs)
			configs["min.insync.replicas"] = strconv.Itoa(int(rf))
		}
	}
	_, err := b.backend.CreateTopic(ctx, metadata.TopicSpec{Name: name, Partitions: partitions, ReplicationFactor: rf, Configs: configs})
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	if err == nil {
		b.log.Info().Str("topic", name).Int32("partitions", partitions).Int16("replication_factor", rf).Msg("created internal topic")
	}
	return nil
}

// InternalTopics says how the coordinators create their internal topics
// (the coordinator package's InternalTopicSpec): partitions, replication
// factor and configs, ok false for a name that is not one.
type InternalTopics interface {
	InternalTopicSpec(name string) (partitions int32, rf int16, configs map[string]string, ok bool)
}

// SetInternalTopics installs the coordinators' internal topic settings,
// with which a Metadata request auto-creates an internal topic, as
// Kafka's does. Without them, such a request does not create it.
func (b *Broker) SetInternalTopics(it InternalTopics) { b.internalTopics.Store(&it) }

// PartitionLeader reports the leader of a partition and whether it is
// this broker (none, -1, while this broker leads an offline replica).
func (b *Broker) PartitionLeader(topic string, partition int32) (leader int32, epoch int32, local bool) {
	p := b.Partition(topic, partition)
	if p == nil {
		return -1, -1, false
	}
	st := p.State()
	if st.Leader == b.id && p.offline.Load() {
		// Its log dir failed: no leader, as Metadata shows it.
		return -1, st.LeaderEpoch, false
	}
	return st.Leader, st.LeaderEpoch, p.IsLeader()
}

// AppendInternal writes a batch built by a coordinator to a partition this
// broker leads at leaderEpoch, without waiting for replication (the
// coordinator waits with AwaitCommitted, holding no lock). It returns the
// offsets of the batch's first and last records.
func (b *Broker) AppendInternal(topic string, partition, leaderEpoch int32, batch []byte) (base, last int64, err error) {
	p := b.Partition(topic, partition)
	if p == nil {
		return -1, -1, kerr.UnknownTopicOrPartition
	}
	h, err := records.Validate(batch, records.ValidateOptions{AllowControl: true, Coordinator: true})
	if err != nil {
		return -1, -1, err
	}
	if limit := p.topic.Config().MaxMessageBytes; len(batch) > int(limit) {
		// As Kafka's coordinators write: a batch the topic would refuse
		// from a producer is refused from them too, or one client could
		// fill the internal topics (and the memory that loads them) with
		// records of any size.
		return -1, -1, kerr.MessageTooLarge
	}
	pb := &preparedBatches{data: batch, headers: []records.Header{h}, offsets: []int{0}}
	res, err := p.appendBatches(pb, -1, leaderEpoch)
	if err != nil {
		return -1, -1, err
	}
	return res.Base, res.Last, nil
}

// AwaitCommitted waits until the high watermark of a partition this broker
// leads at leaderEpoch passes last. It fails at once when leadership or
// the epoch changes, and after 30 s.
func (b *Broker) AwaitCommitted(ctx context.Context, topic string, partition, leaderEpoch int32, last int64) error {
	p := b.Partition(topic, partition)
	if p == nil {
		return kerr.UnknownTopicOrPartition
	}
	if p.LeaderEpoch() != leaderEpoch {
		return kerr.FencedLeaderEpoch
	}
	return b.awaitCommitted(ctx, p, last)
}

// ReadCommitted reads committed batches of a partition this broker holds,
// from offset, for a coordinator loading its state. It returns the
// batches and the high watermark.
func (b *Broker) ReadCommitted(topic string, partition int32, offset int64, maxBytes int32) ([]byte, int64, error) {
	p := b.Partition(topic, partition)
	if p == nil {
		return nil, -1, kerr.UnknownTopicOrPartition
	}
	p.mu.Lock()
	lg := p.log
	p.mu.Unlock()
	if lg == nil {
		return nil, -1, p.notLocalErr()
	}
	hw := p.HighWatermark()
	if offset < p.LogStartOffset() {
		offset = p.LogStartOffset()
	}
	if offset >= hw {
		return nil, hw, nil
	}
	data, err := lg.Read(offset, hw, maxBytes, true)
	return data, hw, err
}

// LogEndOffsetOf returns a local partition's log end offset.
func (b *Broker) LogEndOffsetOf(topic string, partition int32) int64 {
	if p := b.Partition(topic, partition); p != nil {
		return p.LogEndOffset()
	}
	return 0
}

// LogStartOffset returns a local partition's log start offset.
func (b *Broker) LogStartOffsetOf(topic string, partition int32) int64 {
	if p := b.Partition(topic, partition); p != nil {
		return p.LogStartOffset()
	}
	return 0
}

// WriteTxnMarker appends a transaction marker for a producer to a
// partition this broker leads and waits for it to be committed.
func (b *Broker) WriteTxnMarker(ctx context.Context, topic string, partition int32, pid int64, epoch int16, commit bool, coordinatorEpoch int32) error {
	p := b.Partition(topic, partition)
	if p == nil {
		return kerr.UnknownTopicOrPartition
	}
	last, err := p.appendMarker(pid, epoch, commit, coordinatorEpoch)
	if err != nil {
		return err
	}
	return b.awaitCommitted(ctx, p, last)
}

// BrokerEndpoint returns a live broker's advertised address on a listener.
func (b *Broker) BrokerEndpoint(id int32, listener string) (string, int32, bool) {
	bi, ok := b.BrokerByID(id)
	if !ok {
		return "", 0, false
	}
	ep, ok := bi.Endpoints[listener]
	return ep.Host, ep.Port, ok
}

// AllocateProducerIDs reserves a block of producer ids, unique across the
// cluster and across restarts.
func (b *Broker) AllocateProducerIDs(ctx context.Context, n int64) (int64, error) {
	return b.backend.AllocateProducerIDs(ctx, n)
}

// PartitionExists reports whether cluster metadata has the partition.
func (b *Broker) PartitionExists(topic string, partition int32) bool {
	return b.Partition(topic, partition) != nil
}

// TopicIDOf returns a topic's id and partition count (consumer groups
// name topics by id).
func (b *Broker) TopicIDOf(name string) ([16]byte, int32, bool) {
	t := b.Topic(name)
	if t == nil {
		return [16]byte{}, 0, false
	}
	return t.ID, int32(len(t.Partitions())), true
}

// TopicNameOf returns the name and partition count of a topic by id.
func (b *Broker) TopicNameOf(id [16]byte) (string, int32, bool) {
	t := b.TopicByID(id)
	if t == nil {
		return "", 0, false
	}
	return t.Name, int32(len(t.Partitions())), true
}

// TopicNames lists every topic, sorted (consumer groups resolve topic
// regexes against it).
func (b *Broker) TopicNames() []string {
	ts := b.Topics()
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}

// TrimInternal deletes the records of an internal partition this broker
// leads below before (the share coordinator prunes __share_group_state
// below the oldest snapshot still needed); before is capped at the high
// watermark.
func (b *Broker) TrimInternal(topic string, partition int32, before int64) error {
	p := b.Partition(topic, partition)
	if p == nil {
		return kerr.UnknownTopicOrPartition
	}
	if hw := p.HighWatermark(); before > hw {
		before = hw
	}
	if before <= p.LogStartOffset() {
		return nil
	}
	_, _, err := p.deleteRecordsBefore(before, true)
	return err
}

// LatestOffset is a partition's high watermark: this broker's when it
// leads the partition, else its leader's answer to ListOffsets (latest).
func (b *Broker) LatestOffset(ctx context.Context, topic string, partition int32) (int64, error) {
	p := b.Partition(topic, partition)
	if p == nil {
		return -1, kerr.UnknownTopicOrPartition
	}
	if p.IsLeader() {
		return p.HighWatermark(), nil
	}
	leader := p.State().Leader
	if leader < 0 {
		return -1, kerr.LeaderNotAvailable
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 4
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = partition, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := b.SendToBroker(ctx, leader, req)
	if err != nil {
		return -1, err
	}
	lr := resp.(*kmsg.ListOffsetsResponse)
	if len(lr.Topics) != 1 || len(lr.Topics[0].Partitions) != 1 {
		return -1, kerr.UnknownServerError
	}
	sp := lr.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(sp.ErrorCode); err != nil {
		return -1, err
	}
	return sp.Offset, nil
}
