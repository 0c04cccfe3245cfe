package broker

// Produce (key 0), versions 0-13 (v13 names topics by id).
//
// Each partition's records are validated outside the partition lock
// (CRC, sizes, record counts, one magic-2 batch for v3+; magic 0/1 message
// sets from v0-2 clients are up-converted), then appended under it with
// offsets and the leader epoch stamped in place: the bytes written are the
// bytes received, but for a CreateTime batch's max timestamp (set to its
// records' largest) and a topic whose compression.type recompresses
// (at its compression.*.level; a compressed legacy set keeps its codec
// on a "producer" topic). acks=0 sends no response and closes the connection if
// anything failed, so the client refreshes its metadata. acks=-1 waits,
// off the connection's read path, for the high watermark to pass the
// append or for the request timeout. Every partition is validated before
// any is appended; a transactional batch of a producer with no
// transaction open on its partition is first verified with the
// transaction coordinator (txn_verify.go). A batch refused for some of its
// records (no key on a compacted topic, a timestamp out of range) names
// each in record_errors (v8+, KIP-467) so the client fails exactly those.
// Only those and a transaction verification's translated answers carry an
// error_message (produceMessage), as in Kafka.
//
// A partition's refusal follows Kafka's order (producePartition): the
// transactional id, the topic's WRITE, the topic and partition, the
// version's rules for records, acks, internal topics, leadership; then
// min.insync.replicas for acks=-1 before the records' validation.
//
// Authorization (as KafkaApis): WRITE on each topic, else
// TOPIC_AUTHORIZATION_FAILED for its partitions; a request with
// transactional batches needs WRITE on its transactional id, else every
// partition is TRANSACTIONAL_ID_AUTHORIZATION_FAILED.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/metadata"
	"gregor/broker/records"
	"gregor/protocol"
)

func (b *Broker) handleProduce(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ProduceRequest)
	resp := req.Response().(*kmsg.ProduceResponse)
	parts, parallel := b.prepareProduce(req, r, resp)
	if err := b.verifyProduce(ctx, req.Version, r, parts); err != nil {
		for i := range parts {
			parts[i].err = err
		}
	}
	eachPart(parts, parallel, func(pp *producePart) {
		if pp.err == nil {
			var res appendResult
			if res, pp.err = pp.p.appendBatches(pp.pb, r.Acks, -1); pp.err == nil {
				pp.sp.BaseOffset, pp.sp.LogAppendTime, pp.sp.LogStartOffset = res.Base, res.LogAppendTime, res.LogStart
				pp.wait = r.Acks == -1 && pp.p.HighWatermark() <= res.Last
				pp.last = res.Last
			}
		}
		if pp.err != nil {
			b.produceFailed(req, pp)
		}
	})
	failed := false
	var waits []pendingAck
	for i := range parts {
		pp := &parts[i]
		failed = failed || pp.err != nil
		if pp.err == nil && pp.wait {
			waits = append(waits, pendingAck{p: pp.p, last: pp.last, code: &pp.sp.ErrorCode})
		}
	}
	if r.Acks == 0 {
		if failed {
			return nil, errAcksZeroFailed
		}
		return nil, nil
	}
	if len(waits) == 0 && !b.holdsNotLeader(resp) {
		b.hintProduceLeaders(req, resp)
		return resp, nil
	}
	timeout := time.Duration(r.TimeoutMillis) * time.Millisecond
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		return b.finishProduce(ctx, req, resp, waits, timeout)
	})
	return nil, nil
}

// producePart is one partition of a produce request: where its answer
// goes, and, once prepared, its partition and validated batches or its
// error.
type producePart struct {
	topic string
	sp    *kmsg.ProduceResponseTopicPartition
	p     *Partition
	pb    *preparedBatches
	err   error
	// verification is the partition's pending transaction verification
	// (txn_verify.go), if its batch needs one.
	verification *txnVerification
	// rp is the request's partition, validated once resolved.
	rp *kmsg.ProduceRequestTopicPartition
	// replicaManager says the partition passed the request's own checks
	// (authorization, existence, its records' form) and so reaches what
	// Kafka's ReplicaManager checks, led here or not: the request's
	// transactional producers are counted over such partitions.
	replicaManager bool
	// last is the appended records' last offset; wait says an acks=all
	// answer waits for the ISR to reach it.
	last int64
	wait bool
}

// sideBySideMin is the record bytes from which a produce to several
// partitions validates and appends them side by side.
const sideBySideMin = 256 << 10

// sideBySide says whether parts are worth handling side by side: a large
// request to distinct partitions with records of their own (appends to
// different partitions are as independent as appends from different
// connections; a partition named twice is appended to in request order,
// and records an in-process caller shares between partitions, which an
// append stamps in place, are stamped one partition at a time).
// The size is summed first, so a small request allocates nothing here.
func sideBySide(parts []producePart) bool {
	if len(parts) < 2 || runtime.GOMAXPROCS(0) < 2 {
		return false
	}
	n := 0
	for i := range parts {
		if pp := &parts[i]; pp.p != nil && pp.rp != nil {
			n += len(pp.rp.Records)
		}
	}
	if n < sideBySideMin {
		return false
	}
	seen := make(map[any]bool, 2*len(parts))
	for i := range parts {
		pp := &parts[i]
		if pp.p == nil || pp.rp == nil || len(pp.rp.Records) == 0 {
			continue
		}
		first := &pp.rp.Records[0]
		if seen[pp.p] || seen[first] {
			return false
		}
		seen[pp.p], seen[first] = true, true
	}
	return true
}

// eachPart runs fn for every part, side by side on up to GOMAXPROCS
// goroutines (this one included) if parallel, else in order. A panic in a
// helper goroutine is raised again here, where the connection's handler
// recovers it, instead of ending the process.
func eachPart(parts []producePart, parallel bool, fn func(*producePart)) {
	if !parallel {
		for i := range parts {
			fn(&parts[i])
		}
		return
	}
	var next atomic.Int32
	var panicked atomic.Value
	work := func() {
		defer func() {
			if r := recover(); r != nil {
				panicked.CompareAndSwap(nil, fmt.Sprintf("%v\n%s", r, debug.Stack()))
			}
		}()
		for i := int(next.Add(1)) - 1; i < len(parts); i = int(next.Add(1)) - 1 {
			fn(&parts[i])
		}
	}
	var wg sync.WaitGroup
	for range min(len(parts), runtime.GOMAXPROCS(0)) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	if r := panicked.Load(); r != nil {
		panic(r)
	}
}

// prepareProduce lays out the response, resolves every partition, and
// validates their records (side by side if sideBySide, which it returns
// for the appends), appending nothing.
func (b *Broker) prepareProduce(req *protocol.Request, r *kmsg.ProduceRequest, resp *kmsg.ProduceResponse) ([]producePart, bool) {
	version := req.Version
	acksOK := r.Acks == 0 || r.Acks == 1 || r.Acks == -1
	txnDenied := !b.authorizeTransactionalProduce(req, r)
	var parts []producePart
	r.Topics = dedupeTopics(r.Topics,
		func(t *kmsg.ProduceRequestTopic) topicRef { return topicRef{t.Topic, t.TopicID} },
		func(t *kmsg.ProduceRequestTopic) *[]kmsg.ProduceRequestTopicPartition { return &t.Partitions },
		func(p *kmsg.ProduceRequestTopicPartition) int32 { return p.Partition })
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(r.Topics))
	for i := range r.Topics {
		rt := &r.Topics[i]
		st := &resp.Topics[i]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		t := b.produceTopic(req, rt)
		name := t.name(rt)
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			pp := producePart{topic: name, sp: sp, rp: rp}
			pp.p, pp.replicaManager, pp.err = producePartition(version, t, rp, acksOK, txnDenied)
			parts = append(parts, pp)
		}
	}
	parallel := sideBySide(parts)
	eachPart(parts, parallel, func(pp *producePart) {
		if pp.err == nil {
			t := pp.p.topic
			pp.pb, pp.err = prepare(pp.rp.Records, version, t.cfg.Load(), b.cfg.DecompressionMaxRatio, pp.p.name)
			if pp.err != nil && r.Acks == -1 && pp.p.underMinISR() {
				// As Kafka's Partition.appendRecordsToLeader refuses an
				// acks=all append to a partition under min.insync.replicas
				// before the log validates its records.
				pp.err = kerr.NotEnoughReplicas
			}
		}
	})
	return parts, parallel
}

// producePartition finds a produce's partition, led here, or the error
// that refuses it, checked in Kafka's order: the transactional id's and
// the topic's authorization, the topic and partition's existence, the
// request's own rules for its records (ProduceRequest.validateRecords),
// all in KafkaApis.handleProduceRequest; then, in ReplicaManager, acks,
// writes to an internal topic, and leadership.
// replicaManager says the partition got past KafkaApis' checks.
func producePartition(version int16, t produceTopic, rp *kmsg.ProduceRequestTopicPartition, acksOK, txnDenied bool) (p *Partition, replicaManager bool, err error) {
	switch {
	case txnDenied:
		return nil, false, kerr.TransactionalIDAuthorizationFailed
	case t.err != nil && t.topic == nil:
		return nil, false, t.err
	case t.topic.Partition(rp.Partition) == nil:
		return nil, false, kerr.UnknownTopicOrPartition
	}
	if err := requestRecordsErr(version, rp.Records); err != nil {
		return nil, false, err
	}
	if !acksOK {
		return nil, true, kerr.InvalidRequiredAcks
	}
	if t.err != nil {
		return nil, true, t.err
	}
	p, err = leaderOf(t.topic, rp.Partition)
	return p, true, err
}

// requestRecordsErr applies the rules a produce request's version sets for
// a partition's records before the log sees them, as Kafka's
// ProduceRequest.validateRecords: from v3 exactly one batch, of magic 2,
// and zstd only from v7. prepare checks the batch itself later.
func requestRecordsErr(version int16, data []byte) error {
	if version < 3 {
		return nil
	}
	if len(data) < 12 {
		return fmt.Errorf("%w: Produce requests with version %d must have at least one record batch per partition", records.ErrInvalid, version)
	}
	if magic, ok := records.Magic(data); ok && magic != 2 {
		return fmt.Errorf("%w: Produce requests with version %d are only allowed to contain record batches with magic version 2", records.ErrInvalid, version)
	}
	if h, err := records.ParseHeader(data); err == nil {
		if version < 7 && h.Codec() == records.CodecZstd {
			return kerr.UnsupportedCompressionType
		}
		if h.Length >= 0 && int64(len(data))-int64(h.Size()) >= 12 {
			return fmt.Errorf("%w: Produce requests with version %d are only allowed to contain exactly one record batch per partition", records.ErrInvalid, version)
		}
	}
	return nil
}

// produceFailed answers a partition's error and logs a malformed batch.
func (b *Broker) produceFailed(req *protocol.Request, pp *producePart) {
	if isBadBatch(pp.err) {
		b.badInput.Warn().Err(pp.err).Str("topic", pp.topic).Int32("partition", pp.sp.Partition).
			Str("client_id", req.ClientID).Str("remote", remoteAddr(req)).Msg("rejected record batch")
	}
	pp.sp.ErrorCode = ErrorCode(b.log, pp.err)
	if pp.sp.ErrorCode == kerr.KafkaStorageError.Code && req.Version < 4 {
		// Before v4 a client need not know the code: NOT_LEADER_OR_FOLLOWER
		// has it refresh metadata and retry.
		pp.sp.ErrorCode = kerr.NotLeaderForPartition.Code
	}
	if req.Version >= 8 {
		pp.sp.ErrorMessage = produceMessage(pp.err)
		pp.sp.ErrorRecords = errorRecords(pp.err)
	}
	if pp.p != nil && req.Version >= 5 {
		// As Kafka's processFailedRecord: the partition's log start
		// offset with the error, but for the errors that say nothing
		// about the log. A producer told OUT_OF_ORDER_SEQUENCE_NUMBER or
		// UNKNOWN_PRODUCER_ID uses it to see whether retention removed
		// its state, and then resets its sequence instead of failing.
		switch pp.sp.ErrorCode {
		case kerr.UnknownTopicOrPartition.Code, kerr.NotLeaderForPartition.Code, kerr.MessageTooLarge.Code,
			kerr.RecordListTooLarge.Code, kerr.CorruptMessage.Code, kerr.KafkaStorageError.Code:
		default:
			pp.sp.LogStartOffset = pp.p.LogStartOffset()
		}
	}
}

// produceError is a produce error that answers a message of its own.
type produceError struct {
	code *kerr.Error
	msg  string
}

func (e *produceError) Error() string { return e.code.Message + ": " + e.msg }
func (e *produceError) Unwrap() error { return e.code }

// produceMessage is a failed partition's error_message. As Kafka's
// ReplicaManager (LogAppendResult.errorMessage, hasCustomErrorMessage),
// only records refused one by one (KIP-467) and a transaction verification
// answered with another code carry one; every other error leaves it null,
// so a client shows the code's own description (the Java producer's
// exception message) rather than the broker's wording.
func produceMessage(err error) *string {
	var re *records.RecordErrors
	if errors.As(err, &re) {
		return kmsg.StringPtr(re.Error())
	}
	var pe *produceError
	if errors.As(err, &pe) {
		return kmsg.StringPtr(pe.msg)
	}
	return nil
}

// errorRecords names the records that failed a batch (KIP-467), so the
// client fails exactly those.
func errorRecords(err error) []kmsg.ProduceResponseTopicPartitionErrorRecord {
	var re *records.RecordErrors
	if !errors.As(err, &re) {
		return nil
	}
	out := make([]kmsg.ProduceResponseTopicPartitionErrorRecord, len(re.Errors))
	for i, r := range re.Errors {
		out[i] = kmsg.NewProduceResponseTopicPartitionErrorRecord()
		out[i].RelativeOffset, out[i].ErrorMessage = r.Index, kmsg.StringPtr(r.Message)
	}
	return out
}

// errAcksZeroFailed closes an acks=0 connection after a failed produce:
// an expected close, logged at info as Kafka's KafkaApis logs it.
const errAcksZeroFailed = expectedClose("acks=0 produce failed; closing the connection so the client refreshes metadata")

type expectedClose string

func (e expectedClose) Error() string { return string(e) }

// ExpectedClose makes it a protocol.ExpectedCloser.
func (expectedClose) ExpectedClose() {}

// produceTopic is a produce request's topic, resolved.
type produceTopic struct {
	topic *Topic
	err   error
}

// name is the topic's name for logs: the request's, or, where it named the
// topic by id (v13 and later), the name the id resolved to, else the id.
func (t produceTopic) name(rt *kmsg.ProduceRequestTopic) string {
	switch {
	case rt.Topic != "":
		return rt.Topic
	case t.topic != nil:
		return t.topic.Name
	default:
		return metadata.Uuid(rt.TopicID).String()
	}
}

// Writing needs WRITE on the topic, checked before the topic is looked up
// by name so a denied principal learns nothing of its existence.
func (b *Broker) produceTopic(req *protocol.Request, rt *kmsg.ProduceRequestTopic) produceTopic {
	var t *Topic
	if req.Version >= 13 {
		if t = b.TopicByID(rt.TopicID); t == nil {
			return produceTopic{err: kerr.UnknownTopicID}
		}
		if !b.authorize(req, acl.Write, acl.Topic, t.Name) {
			return produceTopic{err: kerr.TopicAuthorizationFailed}
		}
	} else if !b.authorize(req, acl.Write, acl.Topic, rt.Topic) {
		return produceTopic{err: kerr.TopicAuthorizationFailed}
	} else if t = b.Topic(rt.Topic); t == nil {
		return produceTopic{err: kerr.UnknownTopicOrPartition}
	}
	if t.Internal {
		// Refused after the checks that come before acks (producePartition).
		return produceTopic{topic: t, err: kerr.InvalidTopicException}
	}
	return produceTopic{topic: t}
}

// leaderOf finds a partition of t this broker leads.
func leaderOf(t *Topic, partition int32) (*Partition, error) {
	p := t.Partition(partition)
	if p == nil {
		return nil, kerr.UnknownTopicOrPartition
	}
	if !p.IsLeader() {
		return p, p.notLocalErr()
	}
	return p, nil
}

// isBadBatch reports whether a produce failed on a malformed batch, which
// is logged (rate-limited) since a client sent it.
func isBadBatch(err error) bool {
	for _, e := range []error{records.ErrCRC, records.ErrShort, records.ErrMagic, records.ErrInvalid, records.ErrCompression, records.ErrCorrupt, records.ErrTooLarge} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func remoteAddr(req *protocol.Request) string {
	if req.Conn == nil || req.Conn.Remote == nil {
		return ""
	}
	return req.Conn.Remote.String()
}
