package broker

// Metadata (key 3), versions 0-13.
//
// v0 asks for every topic with an empty list; v1+ with a null one (an
// empty list asks for none). v12+ may name topics by id; a request with
// any id asks for its ids' topics only (the names it carries are not
// looked at). Unknown topics are
// created when auto.create.topics.enable is on and the request allows it
// (always for v0-3), with num.partitions and default.replication.factor;
// an internal topic (__consumer_offsets, ...) with its coordinator's
// settings (SetInternalTopics), as Kafka's AutoTopicCreationManager, and
// answered LEADER_NOT_AVAILABLE by the request that created them, as
// Kafka on ZooKeeper answers them: the next request describes them.
// Brokers are listed with their address for the listener the request came
// in on. Internal topics are flagged. v0 lists only the replicas a client
// can reach (live, with the request's listener) and answers a partition
// with a led one left out REPLICA_NOT_AVAILABLE, as Kafka's MetadataCache
// does for v0 (errorUnavailableEndpoints); v1+ list every replica.
//
// Authorization (KafkaApis.handleTopicMetadataRequest): a request for
// every topic lists only those the principal may DESCRIBE; a named one it
// may not is TOPIC_AUTHORIZATION_FAILED without id or partitions (named
// by id, without its name), whether it exists or not. Auto-creation needs
// CREATE on the cluster or on the topic, else TOPIC_AUTHORIZATION_FAILED.
// v8-10 report the cluster's authorized operations when asked (0 without
// DESCRIBE on the cluster), v8+ each described topic's.

import (
	"context"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/metadata"
	"gregor/broker/quota"
	"gregor/protocol"
)

// authorizedOpsNotRequested is Kafka's "not provided" for authorized
// operations fields.
const authorizedOpsNotRequested = -2147483648

func (b *Broker) handleMetadata(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.MetadataRequest)
	resp := req.Response().(*kmsg.MetadataResponse)
	if req.Version < 12 && r.Topics != nil {
		// Topic ids came with v12 (v10-11 carry the field unused): a
		// topic without a name or with an id there is an invalid
		// request, every topic answered INVALID_REQUEST, as Kafka's
		// handleTopicMetadataRequest and MetadataRequest.getErrorResponse.
		for _, rt := range r.Topics {
			if rt.Topic == nil || rt.TopicID != ([16]byte{}) {
				return metadataInvalid(r, resp), nil
			}
		}
	}
	brokers, controller := b.Brokers()
	resp.Brokers = b.metadataBrokers(brokers, req.Conn.Listener)
	view := metaView{brokers: brokers, listener: req.Conn.Listener, listenerErr: req.Version >= 6, dropUnavailable: req.Version == 0}
	cid := b.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = controller
	resp.AuthorizedOperations = authorizedOpsNotRequested
	if req.Version >= 8 && req.Version <= 10 && r.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = 0
		if b.authorizeCluster(req, acl.Describe) {
			resp.AuthorizedOperations = b.authorizedOps(req, acl.Cluster, acl.ClusterName)
		}
	}
	ops := func(st kmsg.MetadataResponseTopic) kmsg.MetadataResponseTopic {
		if r.IncludeTopicAuthorizedOperations && st.Topic != nil {
			st.AuthorizedOperations = b.authorizedOps(req, acl.Topic, *st.Topic)
		}
		return st
	}

	all := r.Topics == nil || (req.Version == 0 && len(r.Topics) == 0)
	if all {
		for _, t := range b.Topics() {
			if parts := t.describedPartitions(); len(parts) > 0 && b.allowed(req, acl.Describe, acl.Topic, t.Name) {
				resp.Topics = append(resp.Topics, ops(b.metadataTopic(t, parts, view)))
			}
		}
		return resp, nil
	}
	autoCreate := b.cfg.AutoCreateTopicsEnable && (req.Version < 4 || r.AllowAutoTopicCreation)
	resp.Topics = make([]kmsg.MetadataResponseTopic, 0, len(r.Topics))
	// A topic named (or identified) twice is answered once, as Kafka takes
	// the requested topics as a set: a 60 KB request naming one topic of
	// 1,000 partitions 10,000 times asked for a 250 MB answer.
	seenNames := make(map[string]bool, len(r.Topics))
	seenIDs := make(map[[16]byte]bool)
	byID := req.Version >= 12 && slices.ContainsFunc(r.Topics, func(rt kmsg.MetadataRequestTopic) bool { return rt.TopicID != [16]byte{} })
	for _, rt := range r.Topics {
		if byID {
			// A request naming any topic by id asks only for the
			// topics of its ids, whatever names it carries, as
			// Kafka's handleTopicMetadataRequest (useTopicId): the
			// Java admin client sends an empty name with each id
			// (kafka-topics.sh --describe --topic-id).
			if rt.TopicID == [16]byte{} {
				continue
			}
			rt.Topic = nil
		}
		if rt.Topic != nil {
			if seenNames[*rt.Topic] {
				continue
			}
			seenNames[*rt.Topic] = true
		} else {
			if seenIDs[rt.TopicID] {
				continue
			}
			seenIDs[rt.TopicID] = true
		}
		st, authorized := b.metadataRequested(ctx, req, rt, autoCreate, view)
		if authorized {
			st = ops(st)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// metadataRequested answers one requested topic and whether the principal
// may describe (and, to have it created, create) it.
func (b *Broker) metadataRequested(ctx context.Context, req *protocol.Request, rt kmsg.MetadataRequestTopic, autoCreate bool, view metaView) (kmsg.MetadataResponseTopic, bool) {
	var t *Topic
	if rt.Topic == nil {
		t = b.TopicByID(metadata.Uuid(rt.TopicID))
		parts := t.describedPartitions()
		if len(parts) == 0 {
			st := kmsg.NewMetadataResponseTopic()
			st.TopicID, st.ErrorCode = rt.TopicID, kerr.UnknownTopicID.Code
			st.AuthorizedOperations = authorizedOpsNotRequested
			return st, false
		}
		if !b.authorize(req, acl.Describe, acl.Topic, t.Name) {
			return metadataDenied(nil, t.ID, false), false // a topic id is not secret; its name is
		}
		return b.metadataTopic(t, parts, view), true
	}
	name := *rt.Topic
	if !b.authorize(req, acl.Describe, acl.Topic, name) {
		return metadataDenied(&name, metadata.Uuid{}, false), false
	}
	t = b.Topic(name)
	if parts := t.describedPartitions(); len(parts) > 0 {
		return b.metadataTopic(t, parts, view), true
	}
	if autoCreate && !b.allowed(req, acl.Create, acl.Cluster, acl.ClusterName) && !b.authorize(req, acl.Create, acl.Topic, name) {
		return metadataDenied(&name, metadata.Uuid{}, IsInternal(name)), false
	}
	return b.metadataMissing(ctx, req, name, autoCreate, view), true
}

// metadataDenied is a topic the principal may not describe (or create):
// TOPIC_AUTHORIZATION_FAILED and nothing else.
func metadataDenied(name *string, id metadata.Uuid, internal bool) kmsg.MetadataResponseTopic {
	st := kmsg.NewMetadataResponseTopic()
	st.Topic, st.TopicID, st.IsInternal = name, id, internal
	st.ErrorCode = kerr.TopicAuthorizationFailed.Code
	st.AuthorizedOperations = authorizedOpsNotRequested
	return st
}

// metadataMissing answers a topic that does not exist: an invalid name,
// unknown, or created now.
func (b *Broker) metadataMissing(ctx context.Context, req *protocol.Request, name string, autoCreate bool, view metaView) kmsg.MetadataResponseTopic {
	st := kmsg.NewMetadataResponseTopic()
	st.Topic = &name
	st.IsInternal = IsInternal(name)
	st.AuthorizedOperations = authorizedOpsNotRequested
	if err := metadata.ValidateTopicName(name); err != nil {
		st.ErrorCode = kerr.InvalidTopicException.Code
		return st
	}
	var err error
	partitions := b.cfg.NumPartitions
	switch it := b.internalTopics.Load(); {
	case !autoCreate || st.IsInternal && it == nil || b.autoCreateThrottled(req):
		st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return st
	case st.IsInternal:
		// An internal topic is created with its coordinator's settings,
		// as Kafka's AutoTopicCreationManager.creatableTopic: a
		// consumer assigned a partition of __consumer_offsets before
		// any group used it (kafka-console-consumer.sh --partition)
		// otherwise saw UNKNOWN_TOPIC_OR_PARTITION for ever.
		var rf int16
		var configs map[string]string
		partitions, rf, configs, _ = (*it).InternalTopicSpec(name)
		err = b.createInternalTopic(ctx, name, partitions, rf, configs)
	default:
		_, err = b.CreateTopic(ctx, metadata.TopicSpec{Name: name, Partitions: partitions, ReplicationFactor: b.cfg.DefaultReplicationFactor})
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		st.ErrorCode = ErrorCode(b.log, err)
		return st
	}
	if err != nil { // made by another request meanwhile: answered as it is
		t := b.Topic(name)
		if parts := t.describedPartitions(); len(parts) > 0 {
			return b.metadataTopic(t, parts, view)
		}
		st.ErrorCode = kerr.LeaderNotAvailable.Code // created; not here yet
		return st
	}
	b.chargeAutoCreate(req, partitions)
	b.log.Info().Str("topic", name).Msg("auto-created topic on metadata request")
	// The request that creates a topic does not describe it. Kafka on
	// ZooKeeper, which creates it in ZooKeeper before answering as we do
	// (AutoTopicCreationManager.createTopicsInZk), answers it
	// LEADER_NOT_AVAILABLE without partitions (Kafka 4, which forwards the
	// creation to its controller, UNKNOWN_TOPIC_OR_PARTITION), and the
	// client's next Metadata finds it. kafka-go relies on it: Conn.ReadPartitions
	// allows auto-creation, so right after DeleteTopics a deleted topic must not
	// come back with partitions in the same answer; and a consumer group leader
	// whose topic does not exist yet retries its join on LEADER_NOT_AVAILABLE,
	// where on UNKNOWN_TOPIC_OR_PARTITION it assigns nothing and its partition
	// watcher, whose first look already sees the new topic, never rebalances.
	st.ErrorCode = kerr.LeaderNotAvailable.Code
	return st
}

// autoCreateThrottled reports that the client asking for a topic to be
// auto-created has used up its controller_mutation_rate. Kafka 4.0's
// AutoTopicCreationManager forwards the creation to the controller as a
// CreateTopics of the latest version in an envelope carrying the client's
// principal and client id, so the client's quota applies strictly: with
// its bucket empty the topic is not created, and the Metadata answer,
// as for any topic whose creation is under way there, is
// UNKNOWN_TOPIC_OR_PARTITION, which clients retry.
func (b *Broker) autoCreateThrottled(req *protocol.Request) bool {
	qm := b.quotaManager()
	if req == nil || !qm.Enabled(quota.ControllerMutation) {
		return false
	}
	exceeded, _ := qm.MutationExceeded(quotaClient(req))
	return exceeded
}

// chargeAutoCreate takes an auto-created topic's partitions from its
// client's controller_mutation_rate, as Kafka's controller charges the
// forwarded creation once it passed its checks.
func (b *Broker) chargeAutoCreate(req *protocol.Request, partitions int32) {
	qm := b.quotaManager()
	if req != nil && qm.Enabled(quota.ControllerMutation) {
		qm.Mutation(quotaClient(req), float64(partitions), false)
	}
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

// metaView is what partitions are described against: the live brokers,
// the listener the request came in on, and whether a leader without an
// endpoint there is LISTENER_NOT_FOUND (Metadata v6+, as Kafka's
// getPartitionMetadata) rather than LEADER_NOT_AVAILABLE.
type metaView struct {
	brokers     []metadata.BrokerInfo
	listener    string
	listenerErr bool
	// dropUnavailable (v0) leaves the replicas a client cannot reach
	// (down, or without the request's listener) out of the replica and
	// ISR lists and answers REPLICA_NOT_AVAILABLE when it left any out,
	// as Kafka's MetadataCache with errorUnavailableEndpoints.
	dropUnavailable bool
}

// reachable is ids without the brokers that are down or lack the view's
// listener.
func (v metaView) reachable(ids []int32) []int32 {
	out := make([]int32, 0, len(ids))
	for _, id := range ids {
		if live, on := v.reach(id); live && on {
			out = append(out, id)
		}
	}
	return out
}

// reach reports whether broker id is live and has an endpoint on the
// view's listener.
func (v metaView) reach(id int32) (live, onListener bool) {
	for _, bi := range v.brokers {
		if bi.ID == id {
			_, on := bi.Endpoints[v.listener]
			return true, on || v.listener == ""
		}
	}
	return false, false
}

// metadataTopic describes t's partitions parts (its describedPartitions).
func (b *Broker) metadataTopic(t *Topic, parts []*Partition, view metaView) kmsg.MetadataResponseTopic {
	st := kmsg.NewMetadataResponseTopic()
	name := t.Name
	st.Topic, st.TopicID, st.IsInternal = &name, t.ID, t.Internal
	st.AuthorizedOperations = authorizedOpsNotRequested
	st.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, len(parts))
	for _, p := range parts {
		st.Partitions = append(st.Partitions, metadataPartition(p, view))
	}
	return st
}

// announced reports whether a partition has had a state from the
// controller: on ZooKeeper, a new topic's (or new partition's) assignment
// reaches the brokers before the controller has elected its leader and
// written its state. Kafka on ZooKeeper describes a partition only once
// the controller's UpdateMetadata brings it, with its leader (KRaft writes
// the two at once), so a client never sees a new partition without a
// leader: kafka-go's Writer failed a write to a topic it had just
// auto-created on a cluster with "topic partition has no leader".
func (p *Partition) announced() bool {
	st := p.State()
	return st.Version != -1 || st.Leader >= 0
}

// describedPartitions is the partitions Metadata describes: all of them
// once every one is announced, else as many as when that was last so (none
// of a new topic; a topic's old partitions while partitions added to it
// are not all announced yet). Kafka's controller on ZooKeeper brings a new
// topic's (or the added) partitions to the brokers in one UpdateMetadata,
// so a client sees them all at once; Gregor's brokers read their states
// from ZooKeeper as the controller writes them one by one (and lose a
// deleted topic's so), and described a new topic with some of its
// partitions: a group leader that assigned from such an answer left the
// others unassigned, and kafka-go, which rebalances when the count it
// first saw changes, never took them. A nil topic (not known here) has
// none.
func (t *Topic) describedPartitions() []*Partition {
	if t == nil {
		return nil
	}
	unannounced := func(p *Partition) bool { return !p.announced() }
	parts := t.Partitions()
	if !slices.ContainsFunc(parts, unannounced) {
		for n := int32(len(parts)); ; {
			cur := t.described.Load()
			if cur >= n || t.described.CompareAndSwap(cur, n) {
				break
			}
		}
		return parts
	}
	parts = parts[:min(int(t.described.Load()), len(parts))]
	if slices.ContainsFunc(parts, unannounced) {
		// Described before, a state gone since: the topic is being
		// deleted (ZooKeeper loses its states one by one). Kafka's
		// brokers drop a deleted topic's partitions all at once.
		return nil
	}
	return parts
}

func metadataPartition(p *Partition, view metaView) kmsg.MetadataResponseTopicPartition {
	st := p.State()
	mp := kmsg.NewMetadataResponseTopicPartition()
	mp.Partition, mp.Leader, mp.LeaderEpoch = p.ID, st.Leader, st.LeaderEpoch
	mp.Replicas = nonNil(st.Replicas)
	mp.ISR = nonNil(st.ISR)
	mp.OfflineReplicas = []int32{}
	for _, r := range st.Replicas {
		// A replica on a broker without the request's listener is
		// offline to this client, as Kafka's getOfflineReplicas.
		if live, on := view.reach(r); !live || !on || p.b.offlineElsewhere(r, p.tp.Topic, p.ID) {
			mp.OfflineReplicas = append(mp.OfflineReplicas, r)
		}
	}
	if p.offline.Load() && slices.Contains(st.Replicas, p.b.id) && !slices.Contains(mp.OfflineReplicas, p.b.id) {
		// This broker's replica went offline with its log dir.
		mp.OfflineReplicas = append(mp.OfflineReplicas, p.b.id)
	}
	if st.Leader < 0 || slices.Contains(mp.OfflineReplicas, st.Leader) {
		mp.ErrorCode = kerr.LeaderNotAvailable.Code
		if live, on := view.reach(st.Leader); live && !on && view.listenerErr {
			mp.ErrorCode = kerr.ListenerNotFound.Code
		}
		mp.Leader = -1
	}
	if view.dropUnavailable {
		replicas, isr := view.reachable(mp.Replicas), view.reachable(mp.ISR)
		if mp.ErrorCode == 0 && (len(replicas) < len(mp.Replicas) || len(isr) < len(mp.ISR)) {
			mp.ErrorCode = kerr.ReplicaNotAvailable.Code
		}
		mp.Replicas, mp.ISR = replicas, isr
	}
	return mp
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return slices.Clone(s)
}

// metadataInvalid answers every requested topic INVALID_REQUEST.
func metadataInvalid(r *kmsg.MetadataRequest, resp *kmsg.MetadataResponse) *kmsg.MetadataResponse {
	for _, rt := range r.Topics {
		st := kmsg.NewMetadataResponseTopic()
		name := ""
		if rt.Topic != nil {
			name = *rt.Topic
		}
		st.Topic, st.TopicID, st.ErrorCode = &name, rt.TopicID, kerr.InvalidRequest.Code
		st.Partitions = []kmsg.MetadataResponseTopicPartition{}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
