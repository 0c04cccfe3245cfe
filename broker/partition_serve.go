package broker

// What the API handlers need from a partition: the local log to serve
// from once leadership and the client's leader epoch are checked, and the
// operations that change a partition's state. Handlers translate requests
// and responses; they do not take the partition's lock.

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/storage"
)

// leaderLog returns the local log of a partition this broker leads, after
// checking a client's current leader epoch (KIP-320; -1 skips the check),
// with the leader epoch.
func (p *Partition) leaderLog(currentEpoch int32) (*storage.Log, int32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkLeaderLocked(currentEpoch); err != nil {
		return nil, -1, err
	}
	return p.log, p.state.LeaderEpoch, nil
}

// replicaLog is leaderLog for requests any replica answers (Kafka's
// debugging replica id, DescribeProducers): it needs only a local log.
func (p *Partition) replicaLog(currentEpoch int32) (*storage.Log, int32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.log == nil || p.closed {
		return nil, -1, p.notLocalErr()
	}
	if err := checkEpoch(currentEpoch, p.state.LeaderEpoch); err != nil {
		return nil, -1, err
	}
	return p.log, p.state.LeaderEpoch, nil
}

// fetchLog is leaderLog for a Fetch. With anyReplica (a consumer's Fetch
// v11+), a follower serves from its own log too, as Kafka does since
// KIP-392 (its high watermark bounds what the consumer reads). A
// follower's position is recorded by followerFetched, once its fetch is
// known not to diverge and to be in range. A follower's replica id must be
// one of the partition's replicas.
func (p *Partition) fetchLog(currentEpoch, replica int32, anyReplica bool) (*storage.Log, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if anyReplica && replica < 0 && p.rs == nil {
		if p.log == nil || p.closed {
			return nil, p.notLocalErr()
		}
		return p.log, checkEpoch(currentEpoch, p.state.LeaderEpoch)
	}
	if err := p.checkLeaderLocked(currentEpoch); err != nil {
		return nil, err
	}
	if replica >= 0 && p.rs.Followers[replica] == nil {
		// As Kafka's Partition.followerReplicaOrThrow, before the
		// read: a replica id this leader does not know as a replica
		// (not assigned, or not yet known at this epoch) gets no
		// records. With a leader epoch it is UNKNOWN_LEADER_EPOCH
		// (the follower retries until the leader learns of it),
		// without one NOT_LEADER_OR_FOLLOWER.
		if currentEpoch >= 0 {
			return nil, kerr.UnknownLeaderEpoch
		}
		return nil, kerr.NotLeaderForPartition
	}
	return p.log, nil
}

// followerFetched records the position of follower id, fetching at offset
// with its log starting at followerStart, which may move the high
// watermark and the ISR; not when this broker no longer leads at epoch.
func (p *Partition) followerFetched(currentEpoch, id int32, offset, followerStart int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.checkLeaderLocked(currentEpoch) == nil {
		p.followerFetchLocked(id, offset, followerStart)
	}
}

// deleteRecordsBefore moves the log start offset of a partition this
// broker leads up to off (highWatermarkOffset: the high watermark) and
// returns the new log start offset and off (the high watermark for
// highWatermarkOffset). Only the broker itself (allowInternal,
// Kafka's allowInternalTopicDeletion: the share coordinator pruning
// __share_group_state) deletes records of an internal topic.
func (p *Partition) deleteRecordsBefore(off int64, allowInternal bool) (int64, int64, error) {
	if p.topic.Internal && !allowInternal {
		// As Kafka, before anything else.
		return -1, -1, errorf(kerr.InvalidTopicException, "Cannot delete records of internal topic %s", p.tp.Topic)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkLeaderLocked(-1); err != nil {
		return -1, -1, err
	}
	if !p.topic.Config().Cleanup.Delete() {
		return -1, -1, kerr.PolicyViolation
	}
	hw := p.hw.Load()
	if off == highWatermarkOffset {
		off = hw
	}
	if off < 0 || off > hw {
		return -1, -1, kerr.OffsetOutOfRange
	}
	if err := p.log.DeleteRecordsBefore(off); err != nil {
		return -1, -1, err
	}
	p.syncOffsetsLocked()
	if p.producer != nil {
		p.producer.trimBelow(p.start.Load())
		p.refreshUnstableLocked()
	}
	p.notify()
	return p.start.Load(), off, nil
}

// lowWatermark is the smallest log start offset of this leader and its
// followers on live brokers, as Kafka's lowWatermarkIfLeader: a follower
// that has not reported one since this broker became leader holds it at
// -1.
func (p *Partition) lowWatermark() (int64, error) {
	p.mu.Lock()
	if err := p.checkLeaderLocked(-1); err != nil {
		p.mu.Unlock()
		return -1, err
	}
	low := p.start.Load()
	type follower struct {
		id    int32
		start int64
	}
	var below []follower
	for id, f := range p.rs.Followers {
		if f.LogStart < low {
			below = append(below, follower{id, f.LogStart})
		}
	}
	p.mu.Unlock()
	for _, f := range below {
		if _, alive := p.b.BrokerByID(f.id); alive && f.start < low {
			low = f.start
		}
	}
	return low, nil
}

// logDirAndSize returns the log dir and size of the local replica.
func (p *Partition) logDirAndSize() (*storage.Dir, int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.log == nil || p.closed {
		return nil, 0, false
	}
	return p.dir, p.log.Size(), true
}

// activeProducers copies the producer state of a local replica, leader or
// follower (Kafka answers DescribeProducers on any replica), by producer
// id.
func (p *Partition) activeProducers() ([]producerEntry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.log == nil || p.closed {
		return nil, p.notLocalErr()
	}
	var out []producerEntry
	if p.producer != nil {
		for _, e := range p.producer.producers {
			c := *e
			c.Batches = append([]batchMeta(nil), e.Batches...)
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// hostsLocalLog reports whether this broker holds a replica of the
// partition whose log it can read (its log dir online), leader or not.
func (p *Partition) hostsLocalLog() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log != nil && !p.closed && !p.offline.Load()
}
