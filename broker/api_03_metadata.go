package broker

// Metadata (key 3), versions 0-13.
//
// v0 asks for every topic with an empty list; v1+ with a null one (an
// empty list asks for none). v10+ may name topics by id. Unknown topics are
// created when auto.create.topics.enable is on and the request allows it
// (always for v0-3), with num.partitions and default.replication.factor.
// Brokers are listed with their address for the listener the request came
// in on. Internal topics are flagged.

import (
	"context"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/metadata"
	"gregor/protocol"
)

// authorizedOpsNotRequested is Kafka's "not provided" for authorized
// operations fields.
const authorizedOpsNotRequested = -2147483648

func (b *Broker) handleMetadata(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.MetadataRequest)
	resp := req.Response().(*kmsg.MetadataResponse)
	brokers, controller := b.Brokers()
	resp.Brokers = b.metadataBrokers(brokers, req.Conn.Listener)
	cid := b.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = controller
	resp.AuthorizedOperations = authorizedOpsNotRequested

	all := r.Topics == nil || (req.Version == 0 && len(r.Topics) == 0)
	if all {
		for _, t := range b.Topics() {
			resp.Topics = append(resp.Topics, b.metadataTopic(t, brokers, r.IncludeTopicAuthorizedOperations))
		}
		return resp, nil
	}
	autoCreate := b.cfg.AutoCreateTopicsEnable && (req.Version < 4 || r.AllowAutoTopicCreation)
	resp.Topics = make([]kmsg.MetadataResponseTopic, 0, len(r.Topics))
	for _, rt := range r.Topics {
		resp.Topics = append(resp.Topics, b.metadataRequested(ctx, rt, req.Version, autoCreate, brokers, r.IncludeTopicAuthorizedOperations))
	}
	return resp, nil
}

func (b *Broker) metadataRequested(ctx context.Context, rt kmsg.MetadataRequestTopic, version int16, autoCreate bool, brokers []metadata.BrokerInfo, ops bool) kmsg.MetadataResponseTopic {
	var t *Topic
	if rt.Topic == nil {
		if t = b.TopicByID(metadata.Uuid(rt.TopicID)); t == nil {
			st := kmsg.NewMetadataResponseTopic()
			st.TopicID, st.ErrorCode = rt.TopicID, kerr.UnknownTopicID.Code
			st.AuthorizedOperations = authorizedOpsNotRequested
			return st
		}
		return b.metadataTopic(t, brokers, ops)
	}
	name := *rt.Topic
	if t = b.Topic(name); t != nil {
		return b.metadataTopic(t, brokers, ops)
	}
	st := kmsg.NewMetadataResponseTopic()
	st.Topic = &name
	st.AuthorizedOperations = authorizedOpsNotRequested
	if err := metadata.ValidateTopicName(name); err != nil {
		st.ErrorCode = kerr.InvalidTopicException.Code
		return st
	}
	if !autoCreate || IsInternal(name) {
		st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return st
	}
	_, err := b.CreateTopic(ctx, metadata.TopicSpec{Name: name, Partitions: b.cfg.NumPartitions, ReplicationFactor: b.cfg.DefaultReplicationFactor})
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		st.ErrorCode = ErrorCode(b.log, err)
		return st
	}
	if t = b.Topic(name); t == nil {
		st.ErrorCode = kerr.LeaderNotAvailable.Code // created; not here yet
		return st
	}
	b.log.Info().Str("topic", name).Msg("auto-created topic on metadata request")
	return b.metadataTopic(t, brokers, ops)
}

// metadataBrokers lists live brokers' addresses for a listener.
func (b *Broker) metadataBrokers(brokers []metadata.BrokerInfo, listener string) []kmsg.MetadataResponseBroker {
	out := make([]kmsg.MetadataResponseBroker, 0, len(brokers))
	for _, bi := range brokers {
		ep, ok := bi.Endpoints[listener]
		if !ok {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = bi.ID, ep.Host, ep.Port
		if bi.Rack != "" {
			rack := bi.Rack
			mb.Rack = &rack
		}
		out = append(out, mb)
	}
	return out
}

func (b *Broker) metadataTopic(t *Topic, brokers []metadata.BrokerInfo, ops bool) kmsg.MetadataResponseTopic {
	st := kmsg.NewMetadataResponseTopic()
	name := t.Name
	st.Topic, st.TopicID, st.IsInternal = &name, t.ID, t.Internal
	st.AuthorizedOperations = authorizedOpsNotRequested
	if ops {
		st.AuthorizedOperations = allTopicOperations
	}
	parts := t.Partitions()
	st.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, len(parts))
	for _, p := range parts {
		st.Partitions = append(st.Partitions, metadataPartition(p, brokers))
	}
	return st
}

// allTopicOperations is every topic ACL operation (no authorizer: all
// allowed): READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS,
// ALTER_CONFIGS as a bit set.
const allTopicOperations = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11

func metadataPartition(p *Partition, brokers []metadata.BrokerInfo) kmsg.MetadataResponseTopicPartition {
	st := p.State()
	mp := kmsg.NewMetadataResponseTopicPartition()
	mp.Partition, mp.Leader, mp.LeaderEpoch = p.ID, st.Leader, st.LeaderEpoch
	mp.Replicas = nonNil(st.Replicas)
	mp.ISR = nonNil(st.ISR)
	mp.OfflineReplicas = []int32{}
	for _, r := range st.Replicas {
		if !slices.ContainsFunc(brokers, func(bi metadata.BrokerInfo) bool { return bi.ID == r }) {
			mp.OfflineReplicas = append(mp.OfflineReplicas, r)
		}
	}
	if st.Leader < 0 || slices.Contains(mp.OfflineReplicas, st.Leader) {
		mp.ErrorCode = kerr.LeaderNotAvailable.Code
		mp.Leader = -1
	}
	return mp
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return slices.Clone(s)
}
