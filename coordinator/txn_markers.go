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
// Partitions of deleted topics are skipped.
func (c *txnCoordinator) writeMarkers(ctx context.Context, ts *txnShard, pid int64, epoch int16, commit bool, parts []topicPartition) error {
	remote := make(map[int32][]topicPartition)
	var errs []error
	for _, p := range parts {
		leader, _, local := c.host.PartitionLeader(p.topic, p.partition)
		switch {
		case local:
			if err := c.writeLocalMarker(ctx, p, pid, epoch, commit, ts.shard.Epoch); err != nil {
				errs = append(errs, fmt.Errorf("%s-%d: %w", p.topic, p.partition, err))
			}
		case leader >= 0:
			remote[leader] = append(remote[leader], p)
		default:
			if c.topicGone(p) {
				continue
			}
			errs = append(errs, fmt.Errorf("%s-%d: no leader", p.topic, p.partition))
		}
	}
	for id, ps := range remote {
		if err := c.sendMarkers(ctx, id, pid, epoch, commit, ts.shard.Epoch, ps); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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

// sendMarkers asks broker id to write markers for parts.
func (c *txnCoordinator) sendMarkers(ctx context.Context, id int32, pid int64, epoch int16, commit bool, coordinatorEpoch int32, parts []topicPartition) error {
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
		return fmt.Errorf("markers to broker %d: %w", id, err)
	}
	var errs []error
	for _, rm := range resp.(*kmsg.WriteTxnMarkersResponse).Markers {
		for _, t := range rm.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode == 0 {
					continue
				}
				err := kerr.ErrorForCode(p.ErrorCode)
				if errors.Is(err, kerr.UnknownTopicOrPartition) && c.topicGone(topicPartition{t.Topic, p.Partition}) {
					continue
				}
				errs = append(errs, fmt.Errorf("%s-%d on broker %d: %w", t.Topic, p.Partition, id, err))
			}
		}
	}
	return errors.Join(errs...)
}
