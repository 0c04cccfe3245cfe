package broker

// Produce (key 0), versions 0-13 (v13 names topics by id).
//
// Each partition's records are validated outside the partition lock
// (CRC, sizes, record counts, one magic-2 batch for v3+; magic 0/1 message
// sets from v0-2 clients are up-converted), then appended under it with
// offsets and the leader epoch stamped in place: the bytes written are the
// bytes received. acks=0 sends no response and closes the connection if
// anything failed, so the client refreshes its metadata. acks=-1 waits,
// off the connection's read path, for the high watermark to pass the
// append or for the request timeout.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
	"gregor/protocol"
)

func (b *Broker) handleProduce(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ProduceRequest)
	resp := req.Response().(*kmsg.ProduceResponse)
	acksOK := r.Acks == 0 || r.Acks == 1 || r.Acks == -1
	failed := false
	var waits []pendingAck
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(r.Topics))
	for i := range r.Topics {
		rt := &r.Topics[i]
		st := &resp.Topics[i]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		t := b.produceTopic(req.Version, rt)
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			err := t.err
			if !acksOK {
				err = kerr.InvalidRequiredAcks
			}
			if err == nil {
				var res appendResult
				var p *Partition
				if res, p, err = b.produceTo(t.topic, rp, req.Version, r.Acks); err == nil {
					sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.Base, res.LogAppendTime, res.LogStart
					if r.Acks == -1 && p.HighWatermark() <= res.Last {
						waits = append(waits, pendingAck{p: p, last: res.Last, code: &sp.ErrorCode})
					}
				}
			}
			if err != nil {
				failed = true
				if isBadBatch(err) {
					b.badInput.Warn().Err(err).Str("topic", rt.Topic).Int32("partition", rp.Partition).
						Str("client_id", req.ClientID).Str("remote", remoteAddr(req)).Msg("rejected record batch")
				}
				sp.ErrorCode = ErrorCode(b.log, err)
				if req.Version >= 8 {
					sp.ErrorMessage = errMessage(err)
				}
			}
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

type errString string

func (e errString) Error() string { return string(e) }

// errAcksZeroFailed closes an acks=0 connection after a failed produce.
const errAcksZeroFailed = errString("acks=0 produce failed; closing the connection so the client refreshes metadata")

// produceTopic is a produce request's topic, resolved.
type produceTopic struct {
	topic *Topic
	err   error
}

func (b *Broker) produceTopic(version int16, rt *kmsg.ProduceRequestTopic) produceTopic {
	var t *Topic
	if version >= 13 {
		if t = b.TopicByID(rt.TopicID); t == nil {
			return produceTopic{err: kerr.UnknownTopicID}
		}
	} else if t = b.Topic(rt.Topic); t == nil {
		return produceTopic{err: kerr.UnknownTopicOrPartition}
	}
	if t.Internal {
		return produceTopic{err: kerr.InvalidTopicException}
	}
	return produceTopic{topic: t}
}

// produceTo validates and appends one partition's records.
func (b *Broker) produceTo(t *Topic, rp *kmsg.ProduceRequestTopicPartition, version, acks int16) (appendResult, *Partition, error) {
	p := t.Partition(rp.Partition)
	if p == nil {
		return appendResult{}, nil, kerr.UnknownTopicOrPartition
	}
	if !p.IsLeader() {
		return appendResult{}, p, kerr.NotLeaderForPartition
	}
	pb, err := prepare(rp.Records, version, t.cfg.Load())
	if err != nil {
		return appendResult{}, p, err
	}
	res, err := p.appendBatches(pb, acks, -1)
	return res, p, err
}

// isBadBatch reports whether a produce failed on a malformed batch, which
// is logged (rate-limited) since a client sent it.
func isBadBatch(err error) bool {
	for _, e := range []error{records.ErrCRC, records.ErrShort, records.ErrMagic, records.ErrInvalid, records.ErrCompression} {
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
