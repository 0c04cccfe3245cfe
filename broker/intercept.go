package broker

// Every API's handler is wrapped (WrapAPIs) for two things that need the
// request and its response but belong to no single API:
//
//   - traffic: record bytes and records in and out per topic, and the
//     partition error codes of produce and fetch responses (ops.go);
//   - client quotas (quotas.go), as KafkaApis applies them: produce
//     request bytes, fetch response bytes (a consumer's fetch asks for no
//     more than its quota allows in a window, and a throttled fetch is
//     answered empty: the KIP-219 signal), share fetch response bytes
//     (a share fetch asks for what the quota has left, and one over it
//     acquires nothing: shareFetchQuota), handler time (request
//     percentage) and partitions created or deleted (controller
//     mutations; a strict request version is refused with
//     THROTTLING_QUOTA_EXCEEDED once the quota is used up). The response
//     carries the longest throttle in throttle_time_ms and the connection
//     is muted for it. The response is sent at once whatever its version:
//     a client too old to throttle itself (before KIP-219) finds its next
//     request read late, as Kafka has done since KIP-219 (2.0), which
//     never holds a response back.
//
// Exempt from quotas, as in Kafka: followers' fetches, the SASL requests
// and an ApiVersions sent before SASL authentication (served by the
// authenticator), and cluster actions (WriteTxnMarkers). An acks=0 produce is exempt from the request
// quota (only its bytes count).
//
// Strict controller mutation quotas are applied topic by topic
// (intercept_mutations.go), to validate-only CreateTopics and
// CreatePartitions too, as Kafka's controller charges them.

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/metadata"
	"gregor/broker/quota"
	"gregor/protocol"
)

// WrapAPIs wraps the handler of every API registered in reg (the
// coordinators' too, so call it once all are registered).
func (b *Broker) WrapAPIs(reg *protocol.Registry) {
	for _, v := range reg.Versions() {
		a, ok := reg.Lookup(v.ApiKey)
		if !ok {
			continue
		}
		a.Handler = b.intercept(a.Key, a.Handler)
		reg.Register(a)
	}
}

// Versions from which controller mutation quotas are strict.
var strictMutationSince = map[int16]int16{19: 6, 20: 5, 37: 3}

// quotaExempt: the SASL requests (answered by the authenticator) and
// cluster actions (WriteTxnMarkers) are exempt, as is an ApiVersions
// sent before SASL authentication (Kafka's SaslServerAuthenticator
// answers it); any other ApiVersions counts against the request quota,
// as KafkaApis.handleApiVersionsRequest answers it with
// sendResponseMaybeThrottle.
func quotaExempt(req *protocol.Request) bool {
	switch req.Key {
	case 17, 36, 27:
		return true
	case 18:
		return req.Conn != nil && req.Conn.Unauthenticated()
	}
	return false
}

func (b *Broker) intercept(key int16, h protocol.Handler) protocol.Handler {
	return func(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
		qm := b.quotaManager()
		var c quota.Client
		quotas := !quotaExempt(req) && !isFollowerFetch(req) && b.anyQuota(qm)
		var mutations func(kmsg.Response) int
		var addRefused func(kmsg.Response) kmsg.Response
		var refusedWait time.Duration
		if quotas {
			c = quotaClient(req)
			if key == 1 && qm.Enabled(quota.Fetch) {
				if limit, ok := qm.MaxInWindow(quota.Fetch, c); ok {
					capFetchMaxBytes(req, max(limit, 1))
				}
			}
			if key == 78 && qm.Enabled(quota.Fetch) {
				ctx = b.shareFetchQuota(ctx, req, c)
			}
			// Validate-only requests are charged too: Kafka's controller
			// applies the quota before it drops their records.
			if since, ok := strictMutationSince[key]; ok && qm.Enabled(quota.ControllerMutation) {
				if req.Version >= since {
					var all bool
					if addRefused, refusedWait, all = b.strictMutations(req, c); all {
						return b.throttled(req, b.refuseMutations(req), refusedWait), nil
					}
				} else {
					mutations = b.mutationCounter(req)
				}
			}
		}
		start := time.Now()
		resp, err := h(ctx, req)
		local := time.Since(start)
		if err != nil {
			return resp, err
		}
		finish := func(resp kmsg.Response) kmsg.Response {
			if quotas {
				if addRefused != nil && resp != nil {
					resp = b.throttled(req, addRefused(resp), refusedWait)
				}
				resp = b.applyQuotas(key, req, resp, c, local, mutations)
			}
			b.countTraffic(key, req, resp)
			return resp
		}
		if d := req.Deferred(); d != nil {
			req.Defer(func(ctx context.Context) (kmsg.Response, error) {
				resp, err := d(ctx)
				if err != nil {
					return resp, err
				}
				return finish(resp), nil
			})
			return nil, nil
		}
		return finish(resp), nil
	}
}

func (b *Broker) anyQuota(qm *quota.Manager) bool {
	return qm.Enabled(quota.Produce) || qm.Enabled(quota.Fetch) || qm.Enabled(quota.Request) || qm.Enabled(quota.ControllerMutation)
}

// applyQuotas records what a request cost and throttles its client.
func (b *Broker) applyQuotas(key int16, req *protocol.Request, resp kmsg.Response, c quota.Client, local time.Duration, mutations func(kmsg.Response) int) kmsg.Response {
	qm := b.quotaManager()
	var bandwidth, request time.Duration
	if qm.Enabled(quota.Request) && !acksZero(req) {
		// An acks=0 produce (no response) is exempt from the request
		// quota, as Kafka's handleProduceRequest records it only when
		// acks != 0: only its bytes can throttle it.
		request = qm.Record(quota.Request, c, float64(local.Nanoseconds())*100/1e9)
	}
	switch key {
	case 0:
		if qm.Enabled(quota.Produce) {
			size := req.Size
			if size == 0 { // an in-process request: its records
				for _, t := range req.Body.(*kmsg.ProduceRequest).Topics {
					for _, p := range t.Partitions {
						size += len(p.Records)
					}
				}
			}
			bandwidth = qm.Record(quota.Produce, c, float64(size))
		}
	case 78:
		// A share fetch counts against consumer_byte_rate in the same
		// usage as fetches (Kafka's handleShareFetchRequest records
		// quotas.fetch); shareFetchQuota kept it within what was left.
		if sr, ok := protocol.Unwrap(resp).(*kmsg.ShareFetchResponse); ok && qm.Enabled(quota.Fetch) {
			bandwidth = qm.Record(quota.Fetch, c, float64(shareFetchQuotaSize(sr)))
		}
	case 1:
		if _, ok := protocol.Unwrap(resp).(*kmsg.FetchResponse); ok && qm.Enabled(quota.Fetch) {
			size := float64(fetchQuotaSize(resp))
			bandwidth = qm.Record(quota.Fetch, c, size)
			if bandwidth > 0 || request > 0 {
				qm.Unrecord(quota.Fetch, c, size)
				session := b.throttledSession(req, resp)
				protocol.ReleaseResponse(resp)
				resp = throttledFetch(req, session)
			}
		}
	}
	if mutations != nil && resp != nil { // permissive: made, then throttled
		if n := mutations(resp); n > 0 {
			_, wait := qm.Mutation(c, float64(n), false)
			bandwidth = max(bandwidth, wait)
		}
	}
	return b.throttled(req, resp, max(bandwidth, request))
}

// throttled sets a response's throttle time and mutes the connection for
// it (KIP-219). A nil response (acks=0) only mutes.
func (b *Broker) throttled(req *protocol.Request, resp kmsg.Response, d time.Duration) kmsg.Response {
	if d <= 0 {
		return resp
	}
	ms := int32(min(d.Milliseconds(), 1<<31-1))
	if t, ok := protocol.Unwrap(resp).(kmsg.SetThrottleResponse); ok && resp != nil {
		if cur, _ := t.(kmsg.ThrottleResponse).Throttle(); cur < ms {
			t.SetThrottle(ms)
		}
	}
	if req.Conn != nil {
		req.Conn.MuteUntil(time.Now().Add(d))
	}
	return resp
}

// acksZero reports an acks=0 produce.
func acksZero(req *protocol.Request) bool {
	r, ok := req.Body.(*kmsg.ProduceRequest)
	return ok && r.Acks == 0
}

func isFollowerFetch(req *protocol.Request) bool {
	r, ok := req.Body.(*kmsg.FetchRequest)
	if !ok {
		return false
	}
	if req.Version >= 15 {
		return r.ReplicaState.ID >= 0
	}
	return r.ReplicaID >= 0
}

// throttledFetch is the empty response a throttled fetch gets (Kafka's
// FetchContext.getThrottledResponse): no partitions, and the session id
// throttledSession chose.
func throttledFetch(req *protocol.Request, session int32) kmsg.Response {
	resp := req.Response()
	resp.(*kmsg.FetchResponse).SessionID = session
	return resp
}

// throttledSession is the session id of a throttled fetch's empty answer,
// as Kafka's fetch contexts give it: an incremental fetch keeps its
// session (IncrementalFetchContext.getThrottledResponse), so the client
// goes on with its next epoch rather than starting over, and the
// partitions it would have answered are answered again next time; any
// other fetch
// has none, and a session its full fetch just made is dropped, as Kafka
// makes it only with the response it sends
// (FullFetchContext.updateAndGenerateResponseData).
func (b *Broker) throttledSession(req *protocol.Request, resp kmsg.Response) int32 {
	r, _ := req.Body.(*kmsg.FetchRequest)
	fr, _ := protocol.Unwrap(resp).(*kmsg.FetchResponse)
	if r == nil || fr == nil || req.Version < 7 || fr.SessionID == 0 || fr.ErrorCode != 0 {
		return 0
	}
	if r.SessionEpoch > 0 {
		b.sessions.unsent(fr.SessionID, fr)
		return fr.SessionID
	}
	b.sessions.remove(fr.SessionID)
	return 0
}

// fetchQuotaSize is what a fetch response counts against
// consumer_byte_rate: the whole response, as Kafka's
// FetchContext.getResponseSize measures it (FetchResponse.sizeOf: 4 plus
// the body at the response's version, without node endpoints), not only
// its records, so a fetch of many partitions costs its framing too. The
// body is encoded without its records (a spliced response's record fields
// hold markers), whose bytes and length prefixes are added.
func fetchQuotaSize(resp kmsg.Response) int {
	fr, ok := protocol.Unwrap(resp).(*kmsg.FetchResponse)
	if !ok {
		return 0
	}
	var records []int
	eachFetched(resp, func(_ *kmsg.FetchResponseTopic, _ *kmsg.FetchResponseTopicPartition, recs fetchedRecords) {
		records = append(records, recs.bytes)
	})
	var kept [][]byte
	for i := range fr.Topics {
		for j := range fr.Topics[i].Partitions {
			p := &fr.Topics[i].Partitions[j]
			kept = append(kept, p.RecordBatches)
			p.RecordBatches = nil
		}
	}
	endpoints := fr.Brokers
	fr.Brokers = nil
	n := 4 + len(fr.AppendTo(nil))
	fr.Brokers = endpoints
	k := 0
	for i := range fr.Topics {
		for j := range fr.Topics[i].Partitions {
			fr.Topics[i].Partitions[j].RecordBatches = kept[k]
			k++
		}
	}
	for _, b := range records {
		n += b
		if fr.IsFlexible() { // a compact length: one byte for null
			n += len(binary.AppendUvarint(nil, uint64(b)+1)) - 1
		}
	}
	return n
}

// capFetchMaxBytes lowers a consumer's Fetch or ShareFetch MaxBytes to
// what its consumer_byte_rate allows in the quota windows
// (ClientQuotaManager.getMaxValueInQuotaWindow), as KafkaApis does for
// both: asking for more would be throttled for certain. Their MinBytes
// is capped at the result where each is served (fetchLimits).
func capFetchMaxBytes(req *protocol.Request, limit float64) {
	switch r := req.Body.(type) {
	case *kmsg.FetchRequest:
		r.MaxBytes = int32(min(float64(r.MaxBytes), limit))
	case *kmsg.ShareFetchRequest:
		r.MaxBytes = int32(min(float64(r.MaxBytes), limit))
	}
}

// shareFetchQuota applies consumer_byte_rate to a ShareFetch before it
// acquires anything. Kafka's handleShareFetchRequest caps it at the
// quota's windows, as a fetch, and answers a fetch that took the rate
// over the quota empty, leaving the records it acquired locked until the
// lock times out (a delivery attempt spent). Gregor asks for no more than
// the quota has left now (at least one batch, so it makes progress) and,
// while the client is over its quota, acquires nothing: the request's
// acknowledgements are applied and the answer, throttled, carries no
// records, as Kafka's throttled answer.
func (b *Broker) shareFetchQuota(ctx context.Context, req *protocol.Request, c quota.Client) context.Context {
	qm := b.quotaManager()
	limit, ok := qm.MaxInWindow(quota.Fetch, c)
	if !ok {
		return ctx
	}
	left, wait, _ := qm.Headroom(quota.Fetch, c)
	capFetchMaxBytes(req, max(min(limit, left), 1))
	if wait > 0 {
		ctx = context.WithValue(ctx, shareThrottledKey{}, true)
	}
	return ctx
}

// shareThrottledKey marks the context of a ShareFetch whose client is over
// its consumer_byte_rate.
type shareThrottledKey struct{}

// shareThrottled reports a ShareFetch that is to acquire nothing.
func shareThrottled(ctx context.Context) bool {
	v, _ := ctx.Value(shareThrottledKey{}).(bool)
	return v
}

// shareFetchQuotaSize is what a share fetch response counts against
// consumer_byte_rate: the whole response as Kafka's
// ShareFetchContext.responseSize measures it (4 plus the body, without
// node endpoints). The body is encoded without its records, whose bytes
// and compact length prefixes are added.
func shareFetchQuotaSize(sr *kmsg.ShareFetchResponse) int {
	var kept [][]byte
	for i := range sr.Topics {
		for j := range sr.Topics[i].Partitions {
			p := &sr.Topics[i].Partitions[j]
			kept = append(kept, p.Records)
			p.Records = nil
		}
	}
	endpoints := sr.NodeEndpoints
	sr.NodeEndpoints = nil
	n := 4 + len(sr.AppendTo(nil))
	sr.NodeEndpoints = endpoints
	k := 0
	for i := range sr.Topics {
		for j := range sr.Topics[i].Partitions {
			recs := kept[k]
			sr.Topics[i].Partitions[j].Records = recs
			k++
			if recs != nil { // a compact length: one byte for null
				n += len(recs) + len(binary.AppendUvarint(nil, uint64(len(recs))+1)) - 1
			}
		}
	}
	return n
}

// fetchedRecords is what one partition of a fetch response carries: its
// record bytes, and the batches themselves or (spliced from a file) the
// section that counts their records.
type fetchedRecords struct {
	bytes int
	batch []byte
	sec   interface{ Records() int }
}

// records counts the records carried.
func (f fetchedRecords) records() int {
	if f.sec != nil {
		return f.sec.Records()
	}
	return countRecords(f.batch)
}

// eachFetched calls fn for every partition of a fetch response, plain or
// spliced (whose record fields hold markers: their bytes are the spliced
// ranges, which spliceRecords added in response order).
func eachFetched(resp kmsg.Response, fn func(*kmsg.FetchResponseTopic, *kmsg.FetchResponseTopicPartition, fetchedRecords)) {
	sp, _ := resp.(*protocol.Spliced)
	fr, ok := protocol.Unwrap(resp).(*kmsg.FetchResponse)
	if !ok {
		return
	}
	next := 0
	for i := range fr.Topics {
		t := &fr.Topics[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			got := fetchedRecords{bytes: len(p.RecordBatches), batch: p.RecordBatches}
			if sp != nil && next < sp.Ranges() {
				if field, r := sp.Range(next); field == &p.RecordBatches {
					got = fetchedRecords{bytes: r.Len()}
					got.sec, _ = r.(interface{ Records() int })
					next++
				}
			}
			fn(t, p, got)
		}
	}
}

// refuseMutations answers a create or delete request whose client used
// up its controller mutation quota: THROTTLING_QUOTA_EXCEEDED for every
// topic. A refused deletion names its topic and gives its id, however the
// request named it, as Kafka's ControllerApis.deleteTopics answers every
// topic it passed to the controller.
func (b *Broker) refuseMutations(req *protocol.Request) kmsg.Response {
	code := kerr.ThrottlingQuotaExceeded.Code
	msg := kerr.ThrottlingQuotaExceeded.Description
	switch r := req.Body.(type) {
	case *kmsg.CreateTopicsRequest:
		resp := req.Response().(*kmsg.CreateTopicsResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.Topic, rt.ErrorCode, rt.ErrorMessage = t.Topic, code, &msg
			rt.NumPartitions, rt.ReplicationFactor = -1, -1
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.DeleteTopicsRequest:
		resp := req.Response().(*kmsg.DeleteTopicsResponse)
		for _, name := range r.TopicNames {
			rt := kmsg.NewDeleteTopicsResponseTopic()
			n := name
			rt.Topic, rt.ErrorCode, rt.ErrorMessage = &n, code, &msg
			resp.Topics = append(resp.Topics, rt)
		}
		for _, t := range r.Topics { // v6+: by name or by id
			rt := kmsg.NewDeleteTopicsResponseTopic()
			rt.Topic, rt.TopicID, rt.ErrorCode, rt.ErrorMessage = t.Topic, t.TopicID, code, &msg
			var tp *Topic
			if name, id, ok := deleteTarget(t); ok && name != nil {
				tp = b.Topic(*name)
			} else if ok {
				tp = b.TopicByID(metadata.Uuid(id))
			}
			if tp != nil {
				name := tp.Name
				rt.Topic, rt.TopicID = &name, tp.ID
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.CreatePartitionsRequest:
		resp := req.Response().(*kmsg.CreatePartitionsResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewCreatePartitionsResponseTopic()
			rt.Topic, rt.ErrorCode, rt.ErrorMessage = t.Topic, code, &msg
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	return req.Response()
}

// mutationCounter notes what a create or delete request would change
// (partition counts before it runs) and returns how to count, from its
// response, the partitions it created or deleted.
func (b *Broker) mutationCounter(req *protocol.Request) func(kmsg.Response) int {
	switch r := req.Body.(type) {
	case *kmsg.CreateTopicsRequest:
		asked := map[string]int{}
		for _, t := range r.Topics {
			n := int(t.NumPartitions)
			if len(t.ReplicaAssignment) > 0 {
				n = len(t.ReplicaAssignment)
			}
			if n < 0 {
				n = int(b.cfg.NumPartitions)
			}
			asked[t.Topic] = n
		}
		return func(resp kmsg.Response) int {
			n := 0
			for _, t := range resp.(*kmsg.CreateTopicsResponse).Topics {
				if t.ErrorCode == 0 {
					n += asked[t.Topic]
				}
			}
			return n
		}
	case *kmsg.DeleteTopicsRequest:
		had := map[string]int{}
		note := func(name string) {
			if t := b.Topic(name); t != nil {
				had[name] = len(t.Partitions())
			}
		}
		for _, n := range r.TopicNames {
			note(n)
		}
		for _, t := range r.Topics {
			if t.Topic != nil {
				note(*t.Topic)
			} else if tp := b.TopicByID(t.TopicID); tp != nil {
				note(tp.Name)
			}
		}
		return func(resp kmsg.Response) int {
			n := 0
			for _, t := range resp.(*kmsg.DeleteTopicsResponse).Topics {
				if t.ErrorCode == 0 && t.Topic != nil {
					n += had[*t.Topic]
				}
			}
			return n
		}
	case *kmsg.CreatePartitionsRequest:
		added := map[string]int{}
		for _, t := range r.Topics {
			if tp := b.Topic(t.Topic); tp != nil {
				added[t.Topic] = max(0, int(t.Count)-len(tp.Partitions()))
			}
		}
		return func(resp kmsg.Response) int {
			n := 0
			for _, t := range resp.(*kmsg.CreatePartitionsResponse).Topics {
				if t.ErrorCode == 0 {
					n += added[t.Topic]
				}
			}
			return n
		}
	}
	return nil
}

// countTraffic counts a produce or consumer fetch's records per topic and
// its partition errors, and the error codes of any other response.
func (b *Broker) countTraffic(key int16, req *protocol.Request, resp kmsg.Response) {
	switch key {
	default:
		eachErrorCode(resp, func(code int16) { b.ops.partitionError(key, code) })
	case 0:
		r := req.Body.(*kmsg.ProduceRequest)
		pr, _ := resp.(*kmsg.ProduceResponse) // nil for acks=0: counted as appended
		for ti, t := range r.Topics {
			name := t.Topic
			if name == "" { // v13+: by id
				if tp := b.TopicByID(t.TopicID); tp != nil {
					name = tp.Name
				}
			}
			// Made on the first partition that reached the log: a produce
			// to an unknown or just deleted topic leaves no series behind.
			var tt *TopicTraffic
			for pi, p := range t.Partitions {
				code := int16(0)
				if pr != nil {
					code = produceCode(pr, ti, pi, t.Topic, p.Partition)
				}
				if code != 0 {
					b.ops.partitionError(0, code)
				}
				total, failed := producedCounts(code)
				if !total {
					continue
				}
				if tt == nil {
					if b.Topic(name) == nil {
						break // deleted meanwhile, or acks=0 to a topic that does not exist
					}
					tt = b.ops.topic(name)
				}
				tt.ProduceRequests.Add(1)
				if code != 0 {
					if failed {
						tt.FailedProduce.Add(1)
					}
					continue
				}
				tt.BytesIn.Add(uint64(len(p.Records)))
				tt.RecordsIn.Add(uint64(countRecords(p.Records)))
			}
		}
	case 1:
		if isFollowerFetch(req) {
			// Counted apart, as Kafka's ReplicationBytesOutPerSec.
			eachFetched(resp, func(_ *kmsg.FetchResponseTopic, p *kmsg.FetchResponseTopicPartition, recs fetchedRecords) {
				if p.ErrorCode == 0 {
					b.ops.replBytesOut.Add(uint64(recs.bytes))
				}
			})
			return
		}
		var cur *kmsg.FetchResponseTopic
		var tt *TopicTraffic
		eachFetched(resp, func(t *kmsg.FetchResponseTopic, p *kmsg.FetchResponseTopicPartition, recs fetchedRecords) {
			if p.ErrorCode != 0 {
				b.ops.partitionError(1, p.ErrorCode)
				return
			}
			if recs.bytes == 0 {
				return
			}
			if t != cur {
				cur, tt = t, b.ops.topic(b.topicName(t))
			}
			tt.BytesOut.Add(uint64(recs.bytes))
			tt.RecordsOut.Add(uint64(recs.records()))
		})
	}
}

// produceCode finds a partition's error code in a produce response,
// which mirrors the request's order.
func produceCode(pr *kmsg.ProduceResponse, ti, pi int, topic string, partition int32) int16 {
	if ti < len(pr.Topics) && pr.Topics[ti].Topic == topic && pi < len(pr.Topics[ti].Partitions) && pr.Topics[ti].Partitions[pi].Partition == partition {
		return pr.Topics[ti].Partitions[pi].ErrorCode
	}
	for _, t := range pr.Topics {
		if t.Topic != topic {
			continue
		}
		for _, p := range t.Partitions {
			if p.Partition == partition {
				return p.ErrorCode
			}
		}
	}
	return 0
}

// topicName is a fetch response topic's name (v13+ carry only its id).
func (b *Broker) topicName(t *kmsg.FetchResponseTopic) string {
	if t.Topic == "" {
		if tp := b.TopicByID(t.TopicID); tp != nil {
			return tp.Name
		}
	}
	return t.Topic
}

// countRecords counts the records of whole batches in b from their
// headers: a v2 batch's record count; one per magic 0/1 message (a
// compressed wrapper counts as one).
func countRecords(b []byte) int {
	n := 0
	for len(b) >= 17 {
		size := int(int32(binary.BigEndian.Uint32(b[8:12])))
		if size < 0 || 12+size > len(b) {
			break
		}
		if b[16] == 2 && size >= 49 {
			n += int(int32(binary.BigEndian.Uint32(b[57:61])))
		} else {
			n++
		}
		b = b[12+size:]
	}
	return n
}
