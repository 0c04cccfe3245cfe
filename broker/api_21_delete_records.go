package broker

// DeleteRecords (key 21), versions 0-2.
//
// Moves a partition's log start offset up to the given offset (-1: the
// high watermark) on its leader, dropping whole segments below it; the
// answer is the new low watermark (log start offset). An offset above the
// high watermark, or negative other than -1, is OFFSET_OUT_OF_RANGE; a
// topic whose cleanup.policy does not include delete is POLICY_VIOLATION
// (Kafka's rule: records of compacted topics cannot be deleted); a broker
// that does not lead the partition answers NOT_LEADER_OR_FOLLOWER.
// Followers learn the new log start offset as they fetch; as Kafka's
// DelayedDeleteRecords, the answer waits (up to the request's timeout,
// else REQUEST_TIMED_OUT) until the low watermark, the smallest log start
// offset of the leader and its live followers, reaches the offset, and
// gives that low watermark: a failover right after it cannot bring the
// deleted records back. A topic needs DELETE, else
// TOPIC_AUTHORIZATION_FAILED.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (b *Broker) handleDeleteRecords(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DeleteRecordsRequest)
	resp := req.Response().(*kmsg.DeleteRecordsResponse)
	resp.Topics = make([]kmsg.DeleteRecordsResponseTopic, 0, len(r.Topics))
	type pendingLow struct {
		p        *Partition
		required int64
		ti, pi   int
	}
	var waits []pendingLow
	// As Kafka's handleDeleteRecordsRequest, which reads the request into
	// a map by partition: a partition named twice is acted on once, with
	// its last entry's offset, and answered once.
	r.Topics = dedupeTopics(r.Topics,
		func(t *kmsg.DeleteRecordsRequestTopic) string { return t.Topic },
		func(t *kmsg.DeleteRecordsRequestTopic) *[]kmsg.DeleteRecordsRequestTopicPartition {
			return &t.Partitions
		},
		func(p *kmsg.DeleteRecordsRequestTopicPartition) int32 { return p.Partition })
	for _, rt := range r.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t := b.Topic(rt.Topic)
		denied := !b.authorize(req, acl.Delete, acl.Topic, rt.Topic)
		st.Partitions = make([]kmsg.DeleteRecordsResponseTopicPartition, 0, len(rt.Partitions))
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition, sp.LowWatermark = rp.Partition, -1
			if denied {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			low, required, err := b.deleteRecords(t, rp.Partition, rp.Offset)
			if err != nil {
				sp.ErrorCode = ErrorCode(b.log, err)
			} else {
				sp.LowWatermark = low
				waits = append(waits, pendingLow{t.Partition(rp.Partition), required, len(resp.Topics), len(st.Partitions)})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	// Wait for the followers' log start offsets.
	check := func() (pending int) {
		for i := range waits {
			w := &waits[i]
			if w.p == nil {
				continue
			}
			sp := &resp.Topics[w.ti].Partitions[w.pi]
			low, err := w.p.lowWatermark()
			switch {
			case err != nil:
				sp.ErrorCode, sp.LowWatermark = ErrorCode(b.log, err), -1
			case low >= w.required:
				sp.LowWatermark = low
			default:
				pending++
				continue
			}
			w.p = nil
		}
		return pending
	}
	timedOut := func() {
		for _, w := range waits {
			if w.p != nil {
				sp := &resp.Topics[w.ti].Partitions[w.pi]
				sp.ErrorCode, sp.LowWatermark = kerr.RequestTimedOut.Code, -1
			}
		}
	}
	if check() == 0 {
		return resp, nil
	}
	if r.TimeoutMillis <= 0 {
		timedOut()
		return resp, nil
	}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		var parts []*Partition
		for _, w := range waits {
			if w.p != nil {
				parts = append(parts, w.p)
			}
		}
		if awaitPartitions(ctx, parts, time.Duration(r.TimeoutMillis)*time.Millisecond, check) != nil {
			timedOut()
		}
		return resp, nil
	})
	return nil, nil
}

// highWatermarkOffset is DeleteRecords' "up to the high watermark".
const highWatermarkOffset = -1

// deleteRecords deletes one partition's records below off and returns the
// new log start offset and the offset the low watermark must reach for
// the answer: the one requested (the high watermark for -1), as Kafka's
// DelayedDeleteRecords waits for requestedOffset, even if the log already
// started past it.
func (b *Broker) deleteRecords(t *Topic, partition int32, off int64) (int64, int64, error) {
	var p *Partition
	if t != nil {
		p = t.Partition(partition)
	}
	if p == nil {
		return -1, -1, kerr.UnknownTopicOrPartition
	}
	low, required, err := p.deleteRecordsBefore(off, false)
	if err != nil {
		return -1, -1, err
	}
	if off > 0 {
		b.log.Info().Str("topic", t.Name).Int32("partition", partition).Int64("log_start_offset", low).Msg("records deleted")
	}
	return low, required, nil
}
