package broker

// ShareFetch (key 78), versions 0-2 (v0 is Kafka 4.0's early-access
// version, with PartitionMaxBytes; v1 adds MaxRecords and BatchSize and
// the response's AcquisitionLockTimeoutMillis; v2 ShareAcquireMode and
// IsRenewAck): a share group member's fetch from the partitions' leader
// (KIP-932).
//
// The request works on the member's share session (share_sessions.go):
// epoch 0 opens it with the partitions named (past
// group.share.max.share.sessions it is refused, SHARE_SESSION_LIMIT_REACHED
// answered after MaxWaitMillis), a later epoch adds the partitions named
// and drops the forgotten ones, -1 closes it and fetches nothing.
// Piggy-backed acknowledgements are applied and persisted first
// (an opening request may carry none: INVALID_REQUEST), each partition's
// outcome in AcknowledgeErrorCode. A v2 request with IsRenewAck only
// acknowledges (KIP-1222, Kafka 4.2's KAFKA-19844): it fetches nothing,
// and its MaxBytes, MinBytes, MaxRecords and MaxWaitMillis must be 0
// (INVALID_REQUEST otherwise). Then every partition of the session is
// fetched, starting at the one the session epoch rotates to (Kafka's
// round robin): records are acquired for the member for the group's lock
// duration (share_read.go), about MaxRecords (500 for v0; a batch begun
// is acquired whole unless v2 asks for ShareAcquireMode record_limit) and
// at most MaxBytes in all, and only the batches holding them are returned with the
// acquired ranges and their delivery counts. With nothing acquired the
// response waits, off the connection's read path, up to MaxWaitMillis
// for MinBytes, woken by new data or released records.
//
// A request that opens a session lists every partition it names; later
// ones list the partitions with records, errors or acknowledgements. A
// partition's Records are empty, never null, when it has none.
// Authorization: READ on the group (GROUP_AUTHORIZATION_FAILED for the
// whole request) and READ on each topic.

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/share"
	"gregor/protocol"
)

// defaultShareMaxRecords bounds a v0 ShareFetch, which has no MaxRecords.
const defaultShareMaxRecords = 500

// shareFetch is one ShareFetch being served.
type shareFetch struct {
	b       *Broker
	req     *protocol.Request
	r       *kmsg.ShareFetchRequest
	key     shareSessionKey
	resp    *kmsg.ShareFetchResponse
	lockMs  int64
	rc      bool
	topicOK map[[16]byte]error // per topic: lookup and READ
	// out holds each partition's response entry, by partition.
	out   map[shareTP]*kmsg.ShareFetchResponseTopicPartition
	order []shareTP
	// throttled: the client is over its consumer_byte_rate (intercept.go).
	throttled bool
}

func (b *Broker) handleShareFetch(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ShareFetchRequest)
	resp := req.Response().(*kmsg.ShareFetchResponse)
	// As Kafka's ShareFetchRequest, which reads the partitions into maps:
	// a partition named twice is fetched once, with the last entry's
	// acknowledgements.
	r.Topics = dedupeTopics(r.Topics,
		func(t *kmsg.ShareFetchRequestTopic) [16]byte { return t.TopicID },
		func(t *kmsg.ShareFetchRequestTopic) *[]kmsg.ShareFetchRequestTopicPartition { return &t.Partitions },
		func(p *kmsg.ShareFetchRequestTopicPartition) int32 { return p.Partition })
	group, member, e := b.checkShareRequest(req, r.GroupID, r.MemberID)
	if e != nil {
		resp.ErrorCode = e.Code
		return resp, nil
	}
	sf := &shareFetch{b: b, req: req, r: r, key: shareSessionKey{group, member}, resp: resp,
		lockMs: b.shareLockMs(group), rc: b.shareReadCommitted(group),
		topicOK: map[[16]byte]error{}, out: map[shareTP]*kmsg.ShareFetchResponseTopicPartition{},
		throttled: shareThrottled(ctx)}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		return sf.serve(ctx), nil
	})
	return nil, nil
}

// checkShareRequest checks what every share request needs: a group the
// principal may READ and a member id.
func (b *Broker) checkShareRequest(req *protocol.Request, group, member *string) (string, string, *kerr.Error) {
	switch {
	case group == nil || *group == "":
		return "", "", kerr.InvalidGroupID
	case b.authz != nil && !b.authorize(req, acl.Read, acl.Group, *group):
		return "", "", kerr.GroupAuthorizationFailed
	case member == nil || *member == "":
		return "", "", kerr.InvalidRequest
	}
	return *group, *member, nil
}

// requested splits the request: the partitions it names for fetching,
// those it forgets, and the acknowledgements by partition.
func (sf *shareFetch) requested() (fetch, forget []shareTP, acks map[shareTP][]share.Ack) {
	acks = map[shareTP][]share.Ack{}
	for _, rt := range sf.r.Topics {
		for _, rp := range rt.Partitions {
			tp := shareTP{rt.TopicID, rp.Partition}
			if sf.req.Version >= 1 || rp.PartitionMaxBytes > 0 {
				fetch = append(fetch, tp)
			}
			for _, ab := range rp.AcknowledgementBatches {
				acks[tp] = append(acks[tp], shareAck(ab.FirstOffset, ab.LastOffset, ab.AcknowledgeTypes))
			}
		}
	}
	for _, ft := range sf.r.ForgottenTopicsData {
		for _, p := range ft.Partitions {
			forget = append(forget, shareTP{ft.TopicID, p})
		}
	}
	return fetch, forget, acks
}

// shareAck converts a wire acknowledgement batch.
func shareAck(first, last int64, types []int8) share.Ack {
	a := share.Ack{First: first, Last: last, Types: make([]share.AckType, len(types))}
	for i, t := range types {
		a.Types[i] = share.AckType(t)
	}
	return a
}

// serve answers the request.
func (sf *shareFetch) serve(ctx context.Context) kmsg.Response {
	b := sf.b
	if sf.req.Version >= 1 {
		sf.resp.AcquisitionLockTimeoutMillis = int32(sf.lockMs)
	}
	if sf.renew() && (sf.r.MaxBytes != 0 || sf.r.MinBytes != 0 || sf.r.MaxRecords != 0 || sf.r.MaxWaitMillis != 0) {
		sf.resp.ErrorCode = kerr.InvalidRequest.Code
		return sf.resp
	}
	fetch, forget, acks := sf.requested()
	hasAcks := len(acks) > 0
	parts, err := sf.session(fetch, forget, hasAcks)
	if errors.Is(err, kerr.ShareSessionLimitReached) {
		sf.idle(ctx)
	}
	if err != nil {
		sf.resp.ErrorCode = ErrorCode(b.log, err)
		return sf.resp
	}
	if sf.r.ShareSessionEpoch == shareEpochInitial {
		for _, tp := range parts {
			sf.entry(tp)
		}
	}
	sf.acknowledge(ctx, acks)
	if sf.r.ShareSessionEpoch == shareEpochFinal {
		b.releaseSession(sf.key, b.shares.sessions.close(sf.key))
		return sf.finish()
	}
	if sf.renew() || sf.throttled {
		return sf.finish() // a renewal, or a client over its quota, fetches nothing
	}
	parts = rotateShareParts(parts, sf.r.ShareSessionEpoch)
	got, bytes, failed := sf.fetchAll(ctx, parts, nil)
	if failed || bytes >= sf.minBytes() && got > 0 || sf.r.MaxWaitMillis <= 0 {
		return sf.finish()
	}
	sf.wait(ctx, parts, got, bytes)
	return sf.finish()
}

// minBytes is the request's MinBytes capped at its MaxBytes as served
// (fetch.max.bytes, and a consumer_byte_rate's windows: intercept.go),
// as Kafka's handleShareFetchRequest caps fetchMinBytes.
func (sf *shareFetch) minBytes() int {
	_, minBytes := fetchLimits(sf.b.Config(), sf.r.MaxBytes, sf.r.MinBytes, false)
	return int(minBytes)
}

// idle holds a refusal for MaxWaitMillis (or until the connection
// closes), as Kafka's handleShareFetchRequest holds
// SHARE_SESSION_LIMIT_REACHED with an IdleShareFetchTimerTask, so that a
// consumer retrying to open a session does not spin.
func (sf *shareFetch) idle(ctx context.Context) {
	if sf.r.MaxWaitMillis <= 0 {
		return
	}
	t := time.NewTimer(time.Duration(sf.r.MaxWaitMillis) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// rotateShareParts is the order a request's partitions are fetched in:
// rotated left by the session epoch, as Kafka's PartitionRotateStrategy
// (round robin) turns them, so that a partition early in the session
// with plenty of records does not take every MaxRecords and starve the
// others. The opening request is not rotated.
func rotateShareParts(parts []shareTP, epoch int32) []shareTP {
	if len(parts) < 2 || epoch < 1 {
		return parts
	}
	at := int(epoch % int32(len(parts)))
	return append(slices.Clone(parts[at:]), parts[:at]...)
}

// session applies the request to the member's share session and returns
// the partitions to fetch.
func (sf *shareFetch) session(fetch, forget []shareTP, hasAcks bool) ([]shareTP, error) {
	b := sf.b
	ss := &b.shares.sessions
	switch sf.r.ShareSessionEpoch {
	case shareEpochInitial:
		if hasAcks {
			return nil, kerr.InvalidRequest
		}
		limit := int(b.Config().ShareGroupMaxShareSessions)
		var conn uint64
		if sf.req.Conn != nil {
			conn = sf.req.Conn.ID
		}
		// A member opening a new session keeps what it acquired in the
		// old one: it may still acknowledge it, and the locks expire
		// as they would (Kafka's SharePartitionManager.newContext only
		// drops the old session). Releasing it would hand the records
		// out again, and count one more delivery, to a client that
		// resets its session after an error, as the Java client does.
		_, err := ss.open(sf.key, conn, fetch, limit, sf.req.Version == 0)
		for _, tp := range fetch {
			b.shares.refreshIfIdle(sharePartKey{group: sf.key.group, topic: tp.topic, partition: tp.partition})
		}
		return fetch, err
	case shareEpochFinal:
		if sf.fetchesOnClose(fetch) {
			return nil, kerr.InvalidRequest
		}
		if !ss.exists(sf.key) {
			return nil, kerr.ShareSessionNotFound
		}
		return nil, nil
	}
	return ss.update(sf.key, sf.r.ShareSessionEpoch, fetch, forget)
}

// fetchesOnClose reports whether a closing request asks for records: a
// v0 partition with PartitionMaxBytes, a later one named without
// acknowledgements.
func (sf *shareFetch) fetchesOnClose(fetch []shareTP) bool {
	if sf.req.Version == 0 {
		return len(fetch) > 0
	}
	for _, rt := range sf.r.Topics {
		for _, rp := range rt.Partitions {
			if len(rp.AcknowledgementBatches) == 0 {
				return true
			}
		}
	}
	return false
}

// entry returns the response entry of a partition, adding it.
func (sf *shareFetch) entry(tp shareTP) *kmsg.ShareFetchResponseTopicPartition {
	if e := sf.out[tp]; e != nil {
		return e
	}
	e := kmsg.NewShareFetchResponseTopicPartition()
	e.Partition = tp.partition
	e.CurrentLeader.LeaderID, e.CurrentLeader.LeaderEpoch = -1, -1
	// Never null, as Kafka's ShareFetchResponse.toMessage: librdkafka
	// drops a whole response with a null record set.
	e.Records = []byte{}
	sf.out[tp] = &e
	sf.order = append(sf.order, tp)
	return &e
}

// acknowledge applies and persists the piggy-backed acknowledgements.
func (sf *shareFetch) acknowledge(ctx context.Context, acks map[shareTP][]share.Ack) {
	for _, rt := range sf.r.Topics {
		for _, rp := range rt.Partitions {
			tp := shareTP{rt.TopicID, rp.Partition}
			a, ok := acks[tp]
			if !ok {
				continue
			}
			delete(acks, tp) // a partition named twice is acknowledged once
			e := sf.entry(tp)
			err := sf.b.shareAcknowledge(ctx, sf.req, sf.key, tp, a, sf.renew(), sf.lockMs, sf.topicOK)
			if err != nil {
				e.AcknowledgeErrorCode = ErrorCode(sf.b.log, err)
				sf.leaderHint(tp, err, e)
			}
		}
	}
}

// renew reports whether the request may renew locks (v2 IsRenewAck).
func (sf *shareFetch) renew() bool { return sf.req.Version >= 2 && sf.r.IsRenewAck }

// fetchAll acquires on each partition (skipping those in done) and
// reports the offsets and bytes acquired and whether any failed. A
// partition of a topic that does not exist or may not be read, or that
// does not exist itself, is answered beside the others without ending
// their wait, as Kafka's KafkaApis sets such partitions aside before
// fetchMessages; only when every partition is such is the answer
// immediate.
func (sf *shareFetch) fetchAll(ctx context.Context, parts []shareTP, done map[shareTP]bool) (got, bytes int, failed bool) {
	maxRecords := defaultShareMaxRecords
	if sf.req.Version >= 1 && sf.r.MaxRecords > 0 {
		maxRecords = int(sf.r.MaxRecords)
	}
	maxBytes, _ := fetchLimits(sf.b.Config(), sf.r.MaxBytes, 0, false)
	tried, aside := 0, 0
	for _, tp := range parts {
		if done[tp] || got >= maxRecords {
			continue
		}
		tried++
		t, p, err := sf.b.sharePartitionOf(sf.req, tp, sf.topicOK)
		if err != nil {
			sf.entry(tp).ErrorCode = ErrorCode(sf.b.log, err)
			aside++
			continue
		}
		// ShareAcquireMode (v2): 0, batch_optimized, acquires whole
		// batches, MaxRecords rounded up to a batch's end, as Kafka 4.1
		// always did; 1, record_limit, stops at MaxRecords.
		wholeBatches := !(sf.req.Version >= 2 && sf.r.ShareAcquireMode == 1)
		res, err := sf.fetchOne(ctx, t, p, shareAcquire{member: sf.key.member, maxRecords: maxRecords - got, wholeBatches: wholeBatches,
			maxBytes: maxBytes - int32(bytes), readCommitted: sf.rc, lockMs: sf.lockMs})
		if err != nil {
			e := sf.entry(tp)
			e.ErrorCode = ErrorCode(sf.b.log, err)
			sf.leaderHint(tp, err, e)
			failed = true
			continue
		}
		if len(res.runs) == 0 {
			continue
		}
		e := sf.entry(tp)
		e.Records = res.records
		for _, r := range res.runs {
			ar := kmsg.NewShareFetchResponseTopicPartitionAcquiredRecord()
			ar.FirstOffset, ar.LastOffset, ar.DeliveryCount = r.First, r.Last, r.Count
			e.AcquiredRecords = append(e.AcquiredRecords, ar)
		}
		if done != nil {
			done[tp] = true
		}
		got += res.count()
		bytes += len(res.records)
	}
	return got, bytes, failed || tried > 0 && aside == tried
}

// fetchOne acquires records on one partition.
func (sf *shareFetch) fetchOne(ctx context.Context, t *Topic, p *Partition, a shareAcquire) (shareAcquired, error) {
	sp, err := sf.b.sharePartition(ctx, sf.key.group, t, p)
	if err != nil {
		return shareAcquired{}, err
	}
	return sp.acquire(a)
}

// wait long-polls until enough is acquired, the deadline, or the
// connection closes; partitions that got records are not fetched again
// (their records stay in offset order).
func (sf *shareFetch) wait(ctx context.Context, parts []shareTP, got, bytes int) {
	wake := make(chan struct{}, 1)
	for _, tp := range parts {
		if t := sf.b.TopicByID(tp.topic); t != nil {
			if p := t.Partition(tp.partition); p != nil {
				p.wait(wake)
				defer p.unwait(wake)
			}
		}
	}
	done := map[shareTP]bool{}
	for tp, e := range sf.out {
		if len(e.AcquiredRecords) > 0 {
			done[tp] = true
		}
	}
	timer := time.NewTimer(time.Duration(sf.r.MaxWaitMillis) * time.Millisecond)
	defer timer.Stop()
	for {
		select {
		case <-wake:
			g, n, failed := sf.fetchAll(ctx, parts, done)
			got, bytes = got+g, bytes+n
			if failed || got > 0 && bytes >= sf.minBytes() {
				return
			}
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// finish lays the partition entries out by topic.
func (sf *shareFetch) finish() kmsg.Response {
	idx := map[[16]byte]int{}
	for _, tp := range sf.order {
		i, ok := idx[tp.topic]
		if !ok {
			i = len(sf.resp.Topics)
			idx[tp.topic] = i
			rt := kmsg.NewShareFetchResponseTopic()
			rt.TopicID = tp.topic
			sf.resp.Topics = append(sf.resp.Topics, rt)
		}
		sf.resp.Topics[i].Partitions = append(sf.resp.Topics[i].Partitions, *sf.out[tp])
	}
	for _, ep := range sf.b.shareLeaderEndpoints(sf.req, sf.order, func(tp shareTP) int32 { return sf.out[tp].CurrentLeader.LeaderID }) {
		ne := kmsg.NewShareFetchResponseNodeEndpoint()
		ne.NodeID, ne.Host, ne.Port, ne.Rack = ep.id, ep.host, ep.port, ep.rack
		sf.resp.NodeEndpoints = append(sf.resp.NodeEndpoints, ne)
	}
	return sf.resp
}

// leaderHint names the partition's leader when this broker is not it.
func (sf *shareFetch) leaderHint(tp shareTP, err error, e *kmsg.ShareFetchResponseTopicPartition) {
	if id, epoch, ok := sf.b.shareLeaderOf(tp, err); ok {
		e.CurrentLeader.LeaderID, e.CurrentLeader.LeaderEpoch = id, epoch
	}
}

// sharePartitionOf resolves a share request's partition, checking READ on
// its topic once per topic.
func (b *Broker) sharePartitionOf(req *protocol.Request, tp shareTP, topicOK map[[16]byte]error) (*Topic, *Partition, error) {
	err, seen := topicOK[tp.topic]
	t := b.TopicByID(tp.topic)
	if !seen {
		switch {
		case t == nil:
			err = kerr.UnknownTopicID
		case b.authz != nil && !b.authorize(req, acl.Read, acl.Topic, t.Name):
			err = kerr.TopicAuthorizationFailed
		}
		topicOK[tp.topic] = err
	}
	if err != nil {
		return nil, nil, err
	}
	p := t.Partition(tp.partition)
	if p == nil {
		return nil, nil, kerr.UnknownTopicOrPartition
	}
	return t, p, nil
}

// shareAcknowledge applies one partition's acknowledgements for the
// member and persists them before returning. As in Kafka's KafkaApis, a
// topic id not known is UNKNOWN_TOPIC_ID, then malformed batches are
// INVALID_REQUEST whatever else is wrong, then come READ on the topic and
// the partition's existence; a partition with no batches is answered
// without error.
func (b *Broker) shareAcknowledge(ctx context.Context, req *protocol.Request, k shareSessionKey, tp shareTP, acks []share.Ack, renew bool, lockMs int64, topicOK map[[16]byte]error) error {
	if b.TopicByID(tp.topic) != nil && share.ValidateAcks(acks, renew) != nil {
		return kerr.InvalidRequest
	}
	t, p, err := b.sharePartitionOf(req, tp, topicOK)
	if err != nil {
		return err
	}
	if len(acks) == 0 {
		return nil
	}
	sp, err := b.sharePartition(ctx, k.group, t, p)
	if err != nil {
		return err
	}
	// A group with share.renew.acknowledge.enable=false refuses renewals
	// with INVALID_RECORD_STATE, as Kafka does, and applies none of the
	// partition's acknowledgements.
	if renew && !b.shareRenewEnabled(k.group) && renewsAny(acks) {
		return kerr.InvalidRecordState
	}
	sp.mu.Lock()
	pending, err := sp.sp.AcknowledgePending(k.member, acks, renew, b.now().UnixMilli(), lockMs)
	if err == nil {
		sp.armLocked()
	}
	sp.mu.Unlock()
	switch {
	case errors.Is(err, share.ErrInvalidAck):
		return kerr.InvalidRequest
	case errors.Is(err, share.ErrInvalidRecordState):
		return kerr.InvalidRecordState
	case err != nil:
		return err
	}
	p.notify() // released records may be fetched again
	// A write that fails takes the acknowledgement back, as Kafka's
	// SharePartition rolls its state transitions back when the persister
	// fails: the member still holds the records and may acknowledge them
	// again.
	err = sp.persist(ctx, false)
	sp.mu.Lock()
	if err != nil {
		sp.sp.Rollback(pending)
	} else {
		sp.sp.Commit(pending)
	}
	sp.mu.Unlock()
	return err
}

// shareLeaderOf is the leader of a partition a NOT_LEADER_OR_FOLLOWER
// answer names.
func (b *Broker) shareLeaderOf(tp shareTP, err error) (int32, int32, bool) {
	if !errors.Is(err, kerr.NotLeaderForPartition) {
		return 0, 0, false
	}
	t := b.TopicByID(tp.topic)
	if t == nil {
		return 0, 0, false
	}
	p := t.Partition(tp.partition)
	if p == nil {
		return 0, 0, false
	}
	st := p.State()
	return st.Leader, st.LeaderEpoch, true
}

// nodeEndpoint is a leader's address on the request's listener.
type nodeEndpoint struct {
	id   int32
	host string
	port int32
	rack *string
}

// shareLeaderEndpoints lists the endpoints of the leaders named in
// NOT_LEADER_OR_FOLLOWER answers (leader returns each partition's, -1
// for none).
func (b *Broker) shareLeaderEndpoints(req *protocol.Request, parts []shareTP, leader func(shareTP) int32) []nodeEndpoint {
	var out []nodeEndpoint
	seen := map[int32]bool{}
	for _, tp := range parts {
		id := leader(tp)
		if id < 0 || seen[id] || req.Conn == nil {
			continue
		}
		seen[id] = true
		bi, ok := b.BrokerByID(id)
		if !ok {
			continue
		}
		ep, ok := bi.Endpoints[req.Conn.Listener]
		if !ok {
			continue
		}
		ne := nodeEndpoint{id: bi.ID, host: ep.Host, port: ep.Port}
		if bi.Rack != "" {
			rack := bi.Rack
			ne.rack = &rack
		}
		out = append(out, ne)
	}
	return out
}

// renewsAny reports whether any acknowledgement renews a lock.
func renewsAny(acks []share.Ack) bool {
	for i := range acks {
		if slices.Contains(acks[i].Types, share.AckRenew) {
			return true
		}
	}
	return false
}
