package coordinator

// Transaction markers: the coordinator writes a commit or abort marker to
// every partition of a transaction, in-process where this broker leads the
// partition and with WriteTxnMarkers to the leader elsewhere.

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// writeMarkers writes the markers for a producer's transaction to parts.
// Partitions of deleted topics are skipped. It returns the partitions that
// need no marker any more (written, or gone), so that a retry writes only
// the others, as Kafka's marker channel takes each partition out of the
// transaction once its marker is written.
func (c *txnCoordinator) writeMarkers(ctx context.Context, ts *txnShard, pid int64, epoch int16, commit bool, parts []topicPartition) ([]topicPartition, error) {
	remote := make(map[int32][]topicPartition)
	var errs []error
	var done []topicPartition
	for _, p := range parts {
		leader, _, local := c.host.PartitionLeader(p.topic, p.partition)
		switch {
		case local:
			if err := c.writeLocalMarker(ctx, p, pid, epoch, commit, ts.shard.Epoch); err != nil {
				errs = append(errs, fmt.Errorf("%s-%d: %w", p.topic, p.partition, err))
			} else {
				done = append(done, p)
			}
		case leader >= 0:
			remote[leader] = append(remote[leader], p)
		default:
			if c.topicGone(p) {
				done = append(done, p)
				continue
			}
			errs = append(errs, fmt.Errorf("%s-%d: no leader", p.topic, p.partition))
		}
	}
	for id, ps := range remote {
		written, err := c.sendMarkers(ctx, id, pid, epoch, commit, ts.shard.Epoch, ps)
		done = append(done, written...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return done, errors.Join(errs...)
}

// topicGone reports whether a transaction's partition no longer exists.
func (c *txnCoordinator) topicGone(p topicPartition) bool {
	leader, _, _ := c.host.PartitionLeader(p.topic, p.partition)
	return leader < 0 && !c.host.PartitionExists(p.topic, p.partition)
}

// writeLocalMarker writes one marker on this broker, and tells the group
// coordinator when the partition holds transactional offsets.
func (c *txnCoordinator) writeLocalMarker(ctx context.Context, p topicPartition, pid int64, epoch int16, commit bool, coordinatorEpoch int32) error {
	err := c.host.WriteTxnMarker(ctx, p.topic, p.partition, pid, epoch, commit, coordinatorEpoch)
	if errors.Is(err, kerr.UnknownTopicOrPartition) && c.topicGone(p) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.topic == OffsetsTopic {
		c.groups.txnOffsetsCompleted(ctx, p.partition, pid, commit)
	}
	return nil
}

// sendMarkers asks broker id to write markers for parts; it returns the
// partitions that need none any more.
func (c *txnCoordinator) sendMarkers(ctx context.Context, id int32, pid int64, epoch int16, commit bool, coordinatorEpoch int32, parts []topicPartition) ([]topicPartition, error) {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.SetVersion(1)
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, commit, coordinatorEpoch
	for _, p := range parts {
		if n := len(m.Topics); n == 0 || m.Topics[n-1].Topic != p.topic {
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic = p.topic
			m.Topics = append(m.Topics, t)
		}
		t := &m.Topics[len(m.Topics)-1]
		t.Partitions = append(t.Partitions, p.partition)
	}
	req.Markers = append(req.Markers, m)
	resp, err := c.host.SendToBroker(ctx, id, req)
	if err != nil {
		return nil, fmt.Errorf("markers to broker %d: %w", id, err)
	}
	asked := make(map[topicPartition]bool, len(parts))
	for _, p := range parts {
		asked[p] = true
	}
	var errs []error
	var done []topicPartition
	for _, rm := range resp.(*kmsg.WriteTxnMarkersResponse).Markers {
		for _, t := range rm.Topics {
			for _, p := range t.Partitions {
				tp := topicPartition{t.Topic, p.Partition}
				if !asked[tp] {
					continue
				}
				delete(asked, tp)
				if p.ErrorCode == 0 {
					done = append(done, tp)
					continue
				}
				err := kerr.ErrorForCode(p.ErrorCode)
				if errors.Is(err, kerr.UnknownTopicOrPartition) && c.topicGone(tp) {
					done = append(done, tp)
					continue
				}
				errs = append(errs, fmt.Errorf("%s-%d on broker %d: %w", t.Topic, p.Partition, id, err))
			}
		}
	}
	for tp := range asked {
		errs = append(errs, fmt.Errorf("%s-%d on broker %d: not answered", tp.topic, tp.partition, id))
	}
	return done, errors.Join(errs...)
}
