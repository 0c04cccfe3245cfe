package broker

// Fetch (key 1), versions 4-18 here; versions 0-3 (magic 0/1 readers,
// down-converted) in api_01_fetch_legacy.go.
//
// Incremental fetch sessions (KIP-227) are kept as Kafka keeps them
// (fetch_session.go): a full response lists every requested partition, an
// incremental one only those that changed.
//
// Data is whole batches read from the segment files, starting with the
// batch that holds the fetch offset (the client skips records before it),
// bounded by the high watermark for consumers (the last stable offset for
// read_committed) and the log end for followers. MaxBytes is capped by
// fetch.max.bytes (fetchLimits); the first partition with data gets its
// first batch even past it (KIP-74). With too little
// data the response waits, off the connection's read path, for min.bytes
// or max.wait.ms, waking when any fetched partition's data grows.
//
// Authorization: READ on each topic for consumers, CLUSTER_ACTION on the
// cluster for followers (fetchState.authorize).

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/config"
	"gregor/broker/replica"
	"gregor/broker/storage"
	"gregor/protocol"
)

// Isolation levels.
const (
	readUncommitted int8 = 0
	readCommitted   int8 = 1
)

// fetchState is one fetch request being served.
type fetchState struct {
	b         *Broker
	r         *kmsg.FetchRequest
	version   int16
	replicaID int32
	listener  string // the connection's, for NodeEndpoints
	// rackAware: the consumer named its rack and replica.selector.class
	// may send it elsewhere; redirected: a partition named a preferred
	// read replica, so the response goes at once (as Kafka's does).
	rackAware, redirected bool
	parts                 []*Partition // per requested partition in order; nil if unknown
	topicErrs             []error      // per requested topic
	// maxBytes and minBytes are the request's, capped (fetchLimits).
	maxBytes, minBytes int32
	// out is the response being built by run: record bytes are file
	// ranges spliced into it once its partitions are in place, and
	// pending, cur and rangeBytes what run has read (fetch_records.go).
	out        *protocol.Spliced
	pending    []pendingRange
	cur        *storage.Section
	rangeBytes int
	// sess is the fetch's use of a fetch session (fetch_session.go).
	sess *sessionFetch
	// seen sums up, as of the start of the last run, what the fetch's
	// answer depends on (watermarks); a wake that changed none of it
	// is not worth another run.
	seen uint64
}

// fetchLimits caps a fetch's MaxBytes and MinBytes as Kafka's KafkaApis
// does: MaxBytes at fetch.max.bytes (a follower's also at
// replica.fetch.response.max.bytes, what Gregor's followers ask for), and
// MinBytes at the result. A MaxBytes of zero or less is no budget beyond
// the first batch, which is always returned (KIP-74): it is not
// "unlimited".
func fetchLimits(cfg *config.Config, maxBytes, minBytes int32, follower bool) (int32, int32) {
	limit := int64(cfg.FetchMax)
	if follower {
		limit = min(limit, int64(cfg.ReplicaFetchResponseMax))
	}
	capped := int32(max(min(int64(maxBytes), limit), 0))
	return capped, min(minBytes, capped)
}

func (b *Broker) handleFetch(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	if req.Version < 4 {
		return b.handleFetchLegacy(ctx, req)
	}
	r := req.Body.(*kmsg.FetchRequest)
	r.Topics = dedupeTopics(r.Topics,
		func(t *kmsg.FetchRequestTopic) topicRef { return topicRef{t.Topic, t.TopicID} },
		func(t *kmsg.FetchRequestTopic) *[]kmsg.FetchRequestTopicPartition { return &t.Partitions },
		func(p *kmsg.FetchRequestTopicPartition) int32 { return p.Partition })
	resp := req.Response().(*kmsg.FetchResponse)
	fs := &fetchState{b: b, r: r, version: req.Version, replicaID: r.ReplicaID}
	if req.Conn != nil {
		fs.listener = req.Conn.Listener
	}
	if req.Version >= 15 {
		fs.replicaID = r.ReplicaState.ID
	}
	var code int16
	if fs.r, fs.sess, code = b.sessions.open(r, req.Version, fs.replicaID >= 0); code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	cfg := b.Config()
	fs.maxBytes, fs.minBytes = fetchLimits(cfg, r.MaxBytes, r.MinBytes, fs.replicaID >= 0)
	fs.rackAware = fs.replicaID < 0 && req.Version >= 11 && r.Rack != "" && cfg.ReplicaSelector == config.RackAwareReplicaSelector
	fs.resolve()
	fs.authorize(req)
	first, bytes, errs := fs.run(resp)
	if errs || fs.redirected || bytes >= int(fs.minBytes) || r.MaxWaitMillis <= 0 {
		return fs.answer(first), nil
	}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		return fs.wait(ctx, first), nil
	})
	return nil, nil
}

// resolve looks up every requested topic and partition once.
func (fs *fetchState) resolve() {
	fs.topicErrs = make([]error, len(fs.r.Topics))
	n := 0
	for i := range fs.r.Topics {
		n += len(fs.r.Topics[i].Partitions)
	}
	fs.parts = make([]*Partition, 0, n)
	for i := range fs.r.Topics {
		rt := &fs.r.Topics[i]
		var t *Topic
		if fs.version >= 13 {
			if t = fs.b.TopicByID(rt.TopicID); t == nil {
				fs.topicErrs[i] = kerr.UnknownTopicID
			}
		} else if t = fs.b.Topic(rt.Topic); t == nil {
			fs.topicErrs[i] = kerr.UnknownTopicOrPartition
		}
		for _, rp := range rt.Partitions {
			var p *Partition
			if t != nil {
				p = t.Partition(rp.Partition)
			}
			fs.parts = append(fs.parts, p)
		}
	}
}

// authorize applies Kafka's checks: a follower (a replica id) needs
// CLUSTER_ACTION on the cluster, else every partition is
// TOPIC_AUTHORIZATION_FAILED; a consumer needs READ on each topic, checked
// before whether it exists (an unknown topic id stays UNKNOWN_TOPIC_ID).
func (fs *fetchState) authorize(req *protocol.Request) {
	b := fs.b
	if b.authz == nil {
		return
	}
	follower := fs.replicaID >= 0 && b.authorizeCluster(req, acl.ClusterAction)
	for i := range fs.r.Topics {
		rt := &fs.r.Topics[i]
		switch {
		case follower:
		case fs.replicaID >= 0:
			fs.topicErrs[i] = kerr.TopicAuthorizationFailed
		case fs.version < 13:
			if !b.authorize(req, acl.Read, acl.Topic, rt.Topic) {
				fs.topicErrs[i] = kerr.TopicAuthorizationFailed
			}
		case fs.topicErrs[i] == nil:
			if t := b.TopicByID(rt.TopicID); t != nil && !b.authorize(req, acl.Read, acl.Topic, t.Name) {
				fs.topicErrs[i] = kerr.TopicAuthorizationFailed
			}
		}
	}
}

// run builds a full response into resp and reports its record bytes and
// whether it must be answered now, as Kafka's fetchMessages answers at
// once: a partition failed to be read (NOT_LEADER_OR_FOLLOWER,
// OFFSET_OUT_OF_RANGE, ...), a follower diverged, or no partition could
// be read at all. A topic that is unknown or not authorized, or an
// unknown partition, does not end a long poll (KafkaApis answers those
// apart, as "erroneous"): a consumer holding one bad partition among idle
// ones still waits for data rather than fetching back to back.
func (fs *fetchState) run(resp *kmsg.FetchResponse) (*protocol.Spliced, int, bool) {
	budget := fs.maxBytes
	anyErr, k, readable := false, 0, 0
	fs.seen = fs.visible()
	if fetchRunHook != nil {
		fetchRunHook(fs)
	}
	fs.startRun(resp)
	resp.Topics = make([]kmsg.FetchResponseTopic, 0, len(fs.r.Topics))
	for i := range fs.r.Topics {
		rt := &fs.r.Topics[i]
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = fs.partitionsFor(len(rt.Partitions))
		for j := range rt.Partitions {
			p := fs.parts[k]
			k++
			if fs.topicErrs[i] == nil && p != nil {
				readable++
			}
			if fs.topicErrs[i] == nil && fs.quiet(k-1, p, &rt.Partitions[j]) {
				continue // unchanged in an incremental fetch (fetch_session.go)
			}
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rt.Partitions[j].Partition
			sp.RecordBatches = []byte{} // null records break librdkafka
			err := fs.topicErrs[i]
			if err == nil && p == nil {
				err = kerr.UnknownTopicOrPartition
			}
			if err == nil {
				err = fs.fetchPartition(p, &rt.Partitions[j], &sp, &budget, fs.rangeBytes == 0)
				if err != nil && fs.b.Topic(p.tp.Topic) != p.topic {
					// Deleted while the fetch waited: neither hosted
					// nor in the metadata any more, which Kafka's
					// getPartitionOrError answers so (not as a
					// partition led elsewhere).
					err, p = kerr.UnknownTopicOrPartition, nil
				}
				anyErr = anyErr || err != nil || sp.DivergingEpoch.Epoch >= 0
			}
			if err != nil {
				// No offsets with an error, OFFSET_OUT_OF_RANGE included
				// (Kafka's createLogReadResult): -1, unknown.
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
				sp.ErrorCode = ErrorCode(fs.b.log, err)
				if sp.ErrorCode == kerr.KafkaStorageError.Code && fs.version <= 5 {
					// Kafka's maybeDownConvertStorageError: such a
					// client may not retry the code it does not know.
					sp.ErrorCode = kerr.NotLeaderForPartition.Code
				}
				fs.fillLeader(p, &sp, resp)
			}
			// An incremental fetch answers only what changed.
			if fs.sess.keep(k-1, &sp) {
				st.Partitions = append(st.Partitions, sp)
				fs.place(k-1, len(resp.Topics), len(st.Partitions)-1)
			} else {
				fs.place(-1, 0, 0)
			}
		}
		if len(st.Partitions) > 0 || fs.sess.kind != sessionIncremental {
			resp.Topics = append(resp.Topics, st)
		}
	}
	fs.spliceRecords(resp)
	return fs.out, fs.rangeBytes, anyErr || readable == 0
}

// fetchPartition reads one partition into sp.
func (fs *fetchState) fetchPartition(p *Partition, rp *kmsg.FetchRequestTopicPartition, sp *kmsg.FetchResponseTopicPartition, budget *int32, minOne bool) error {
	follower := fs.replicaID >= 0
	lg, err := p.fetchLog(rp.CurrentLeaderEpoch, fs.replicaID, fs.version >= 11)
	if err != nil {
		return err
	}
	if !follower && fs.version < 10 && p.topic.Config().CompressionType == "zstd" {
		// A consumer too old for zstd (Fetch v10 brought it) is told so
		// for a zstd topic, as Kafka's maybeConvertFetchedData answers,
		// rather than sent batches it cannot decode.
		return kerr.UnsupportedCompressionType
	}
	if fs.version >= 12 {
		if div, epoch, end := replica.Diverges(rp.LastFetchedEpoch, rp.FetchOffset, lg.EndOffsetForEpoch); div {
			if epoch < 0 || end < 0 {
				// As Kafka's Partition.readRecords: a last fetched
				// epoch whose end this replica cannot tell (newer
				// than any it knows) is OFFSET_OUT_OF_RANGE, not a
				// diverging epoch of -1 at -1, which reads as none.
				return kerr.OffsetOutOfRange
			}
			// A follower's divergent position is not its position
			// (Kafka's Partition.fetchRecords): it neither moves the
			// high watermark nor joins the ISR until it has truncated.
			sp.HighWatermark = p.HighWatermark()
			sp.LastStableOffset = p.LastStableOffset()
			sp.LogStartOffset = p.LogStartOffset()
			sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset = epoch, end
			return nil
		}
	}
	if follower {
		// Nor is one out of the log's range (ahead of its end after an
		// unclean election, or behind its start).
		if rp.FetchOffset < p.LogStartOffset() || rp.FetchOffset > p.LogEndOffset() {
			return kerr.OffsetOutOfRange
		}
		p.followerFetched(rp.CurrentLeaderEpoch, fs.replicaID, rp.FetchOffset, rp.LogStartOffset)
	}
	sp.HighWatermark = p.HighWatermark()
	sp.LastStableOffset = p.LastStableOffset()
	sp.LogStartOffset = p.LogStartOffset()
	if fs.rackAware {
		if id := p.preferredReadReplica(fs.r.Rack, rp.FetchOffset, fs.b.now()); id >= 0 {
			sp.PreferredReadReplica = id // no records: the consumer goes there
			fs.redirected = true
			return nil
		}
	}
	limit := sp.HighWatermark
	switch {
	case follower:
		limit = p.LogEndOffset()
	case fs.r.IsolationLevel == readCommitted:
		limit = sp.LastStableOffset
	}
	if rp.FetchOffset < sp.LogStartOffset || rp.FetchOffset > p.LogEndOffset() {
		return kerr.OffsetOutOfRange
	}
	if fs.r.IsolationLevel == readCommitted && !follower {
		sp.AbortedTransactions = p.abortedTxns(rp.FetchOffset, limit)
	}
	maxBytes := min(rp.PartitionMaxBytes, *budget)
	counted := false
	if follower {
		var held bool
		if maxBytes, counted, held = fs.b.throttleFollowerRead(p, fs.replicaID, maxBytes); held {
			return nil // leader.replication.throttled.rate used up (quota.go)
		}
	}
	if rp.FetchOffset >= limit || (maxBytes <= 0 && !minOne) {
		return nil
	}
	n, err := fs.readRecords(lg, rp.FetchOffset, limit, max(maxBytes, 0), minOne, sp)
	if errors.Is(err, storage.ErrClosed) {
		// The replica moved to another log dir meanwhile: read the new
		// log rather than send the client to refresh its metadata.
		if lg, err = p.fetchLog(rp.CurrentLeaderEpoch, fs.replicaID, fs.version >= 11); err == nil {
			n, err = fs.readRecords(lg, rp.FetchOffset, limit, max(maxBytes, 0), minOne, sp)
		}
	}
	if err != nil {
		return err
	}
	fs.b.recordFollowerRead(counted, n)
	*budget -= int32(n)
	return nil
}

// fetchRunHook, if set (by tests), is called at the start of every run.
var fetchRunHook func(*fetchState)

// visible hashes what the fetch's partitions offer it: each one's log
// start, leader epoch and leadership (and offline state), and how far it
// may read: its end for a follower, its last stable offset for
// read_committed (a high watermark moving inside an open transaction
// gives such a consumer nothing), its high watermark otherwise. Any move
// of these changes it; it does not change otherwise.
func (fs *fetchState) visible() uint64 {
	follower := fs.replicaID >= 0
	committed := fs.r.IsolationLevel == readCommitted
	h := uint64(14695981039346656037)
	mix := func(v uint64) {
		h ^= v
		h *= 1099511628211
		h ^= h >> 29
	}
	for _, p := range fs.parts {
		if p == nil {
			mix(0)
			continue
		}
		if !committed {
			mix(uint64(p.hw.Load()))
		}
		mix(uint64(p.start.Load()))
		flags := uint64(uint32(p.epoch.Load()))
		if p.leader.Load() {
			flags |= 1 << 32
		}
		if p.offline.Load() {
			flags |= 1 << 33
		}
		mix(flags)
		if follower {
			mix(uint64(p.leo.Load()))
		}
		if committed {
			mix(uint64(p.LastStableOffset()))
		}
	}
	return h
}

// fillLeader tells a client that hit a non-leader where the leader is
// and how to reach it (KIP-951): from v16, answering NOT_LEADER_OR_FOLLOWER
// or FENCED_LEADER_EPOCH, the partition's CurrentLeader and the leader in
// the response's NodeEndpoints, so it need not refresh its metadata
// first. As Kafka's KafkaApis.handleFetchRequest, no other error and no
// older version carries a CurrentLeader (the field came with v12).
func (fs *fetchState) fillLeader(p *Partition, sp *kmsg.FetchResponseTopicPartition, resp *kmsg.FetchResponse) {
	if p == nil || fs.version < 16 || sp.ErrorCode != kerr.NotLeaderForPartition.Code && sp.ErrorCode != kerr.FencedLeaderEpoch.Code {
		return
	}
	st := p.State()
	sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = st.Leader, st.LeaderEpoch
	if st.Leader < 0 {
		return
	}
	for _, nb := range resp.Brokers {
		if nb.NodeID == st.Leader {
			return
		}
	}
	if host, port, rack, ok := fs.b.listenerEndpoint(st.Leader, fs.listener); ok {
		nb := kmsg.NewFetchResponseBroker()
		nb.NodeID, nb.Host, nb.Port, nb.Rack = st.Leader, host, port, rack
		resp.Brokers = append(resp.Brokers, nb)
	}
}

// wait long-polls: it re-runs the fetch whenever a fetched partition
// changes, until enough bytes, an error, the deadline or a closed
// connection.
func (fs *fetchState) wait(ctx context.Context, last *protocol.Spliced) kmsg.Response {
	wake := make(chan struct{}, 1)
	for _, p := range fs.parts {
		if p != nil {
			p.wait(wake)
		}
	}
	defer func() {
		for _, p := range fs.parts {
			if p != nil {
				p.unwait(wake)
			}
		}
	}()
	timer := time.NewTimer(time.Duration(fs.r.MaxWaitMillis) * time.Millisecond)
	defer timer.Stop()
	// Data may have arrived between the first run and registering.
	select {
	case wake <- struct{}{}:
	default:
	}
	for {
		select {
		case <-wake:
			if fs.visible() == fs.seen {
				// Woken by what this fetch cannot see: a leader's
				// append below its high watermark's move, or another
				// waiter's business. Kafka's DelayedFetch re-checks
				// offsets, not the log, too.
				continue
			}
			r, bytes, errs := fs.run(fs.newResponse(last))
			last.Release()
			last = r
			if errs || fs.redirected || bytes >= int(fs.minBytes) {
				return fs.answer(last)
			}
		case <-timer.C:
			r, _, _ := fs.run(fs.newResponse(last))
			last.Release()
			return fs.answer(r)
		case <-ctx.Done():
			return fs.answer(last)
		}
	}
}
