package broker

// ListOffsets (key 2), versions 0-11.
//
// Timestamps: -1 latest (the high watermark, or the last stable offset for
// read_committed), -2 earliest (log start), -3 the record with the largest
// timestamp (v7+), -4 earliest local (= earliest, no tiered storage, v8+),
// -5 latest tiered and -6 earliest pending upload (no tiered storage: offset
// -1, leader epoch -1; v9+ and v11+); any other value finds
// the first record at or after it that a consumer may read; a broker's
// request, or the debugging replica id's (-2, answered by any replica),
// reads to the log end whatever its isolation level. v0 answers in
// OldStyleOffsets by segments, as Kafka 3.x (legacyFetchOffsetsBefore): up
// to MaxNumOffsets of the segments' base offsets and the log end (a
// consumer's capped at the high watermark), newest first, from the latest
// (-1), the earliest (-2) or the last segment modified at or before the
// timestamp. Each answer carries the leader epoch of the offset (v4+).
// A topic needs DESCRIBE, else TOPIC_AUTHORIZATION_FAILED. A partition named
// twice is INVALID_REQUEST in each entry, from v1 (v0 answers each).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

// Special ListOffsets timestamps.
const (
	tsLatest        = -1
	tsEarliest      = -2
	tsMaxTimestamp  = -3
	tsEarliestLocal = -4
	tsLatestTiered  = -5 // Kafka's LATEST_TIERED_TIMESTAMP (v9+)
	tsPendingUpload = -6 // EARLIEST_PENDING_UPLOAD_TIMESTAMP (v11+)
	noTimestamp     = -1
)

func (b *Broker) handleListOffsets(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ListOffsetsRequest)
	resp := req.Response().(*kmsg.ListOffsetsResponse)
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(r.Topics))
	dups := duplicateListOffsets(r)
	for i := range r.Topics {
		rt := &r.Topics[i]
		st := &resp.Topics[i]
		*st = kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := b.Topic(rt.Topic)
		denied := !b.authorize(req, acl.Describe, acl.Topic, rt.Topic)
		st.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = noTimestamp, -1, -1
			var p *Partition
			if t != nil {
				p = t.Partition(rp.Partition)
			}
			if denied {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				continue
			}
			if req.Version > 0 && dups[listOffsetsKey{rt.Topic, rp.Partition}] {
				// v0 answers each, as Kafka's handleListOffsetRequestV0
				// looks for no duplicates.
				sp.ErrorCode = kerr.InvalidRequest.Code
				continue
			}
			if rp.Timestamp < 0 && rp.Timestamp < minSpecialTs(req.Version) {
				// Before the partition is looked up, as Kafka's
				// fetchOffset checks isListOffsetsTimestampUnsupported.
				sp.ErrorCode = kerr.UnsupportedVersion.Code
				continue
			}
			if p == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			if err := b.listOffset(p, req.Version, r.IsolationLevel, r.ReplicaID, rp, sp); err != nil {
				sp.ErrorCode = ErrorCode(b.log, err)
			}
		}
	}
	return resp, nil
}

type listOffsetsKey struct {
	topic     string
	partition int32
}

// duplicateListOffsets is the partitions a ListOffsets names more than
// once: each of their entries is INVALID_REQUEST, as Kafka answers them
// (ListOffsetsRequest.duplicatePartitions). Nil when none repeats.
func duplicateListOffsets(r *kmsg.ListOffsetsRequest) map[listOffsetsKey]bool {
	n := 0
	for i := range r.Topics {
		n += len(r.Topics[i].Partitions)
	}
	if n < 2 {
		return nil
	}
	seen := make(map[listOffsetsKey]bool, n)
	var dups map[listOffsetsKey]bool
	for i := range r.Topics {
		for _, rp := range r.Topics[i].Partitions {
			k := listOffsetsKey{r.Topics[i].Topic, rp.Partition}
			if seen[k] {
				if dups == nil {
					dups = make(map[listOffsetsKey]bool)
				}
				dups[k] = true
			}
			seen[k] = true
		}
	}
	return dups
}

// listOffset answers one partition.
func (b *Broker) listOffset(p *Partition, version int16, isolation int8, replicaID int32, rp *kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) error {
	// The debugging replica id reads any replica, its leader epoch
	// checked all the same (Kafka's fetchOnlyFromLeader false).
	logOf := p.leaderLog
	if replicaID == debugReplicaID {
		logOf = p.replicaLog
	}
	lg, epoch, err := logOf(rp.CurrentLeaderEpoch)
	if err != nil {
		return err
	}
	ts := rp.Timestamp
	if version == 0 {
		sp.OldStyleOffsets = consumerLegacyOffsets(lg.LegacyOffsetsBefore(ts, int(rp.MaxNumOffsets)), replicaID, p.HighWatermark())
		return nil
	}
	limit := p.HighWatermark()
	if isolation == readCommitted {
		limit = p.LastStableOffset()
	}
	if replicaID != -1 {
		// Only a consumer (-1) is bounded by what it may fetch: a
		// broker or the debugging id reads to the log end, its
		// isolation level ignored, as Kafka's fetchOffset passes no
		// isolation level for them.
		limit = p.LogEndOffset()
	}
	// A new leader whose high watermark has not yet reached the log end
	// it took over answers a consumer's LATEST, and a lookup that finds
	// an offset it cannot yet serve, with OFFSET_NOT_AVAILABLE (which the
	// client retries) rather than an end offset that goes back or a "no
	// such record", as Kafka's fetchOffsetForTimestamp; LEADER_NOT_AVAILABLE
	// before v5, as KafkaApis maps it.
	lagging := version >= 1 && replicaID == -1 && p.hwLagsEpochStart()
	notAvailable := kerr.OffsetNotAvailable
	if version < 5 {
		notAvailable = kerr.LeaderNotAvailable
	}
	beyond := func(o int64, ok bool, err error) error {
		if err == nil && lagging && ok && o >= limit {
			return notAvailable
		}
		return err
	}
	var off, foundTs int64 = -1, noTimestamp
	switch ts {
	case tsLatest:
		if lagging {
			return notAvailable
		}
		off = limit
		sp.LeaderEpoch = epoch
	case tsEarliest, tsEarliestLocal:
		off = p.LogStartOffset()
		sp.LeaderEpoch = lg.EpochForOffset(off)
	case tsLatestTiered, tsPendingUpload:
		off = -1
	case tsMaxTimestamp:
		if lagging {
			o, _, ok, err := lg.MaxTimestamp(p.LogEndOffset())
			if err := beyond(o, ok, err); err != nil {
				return err
			}
		}
		o, t, ok, err := lg.MaxTimestamp(limit)
		if err != nil {
			return err
		}
		if ok {
			off, foundTs, sp.LeaderEpoch = o, t, lg.EpochForOffset(o)
		}
	default:
		if lagging {
			o, _, ok, err := lg.OffsetForTimestamp(ts, p.LogEndOffset())
			if err := beyond(o, ok, err); err != nil {
				return err
			}
		}
		o, t, ok, err := lg.OffsetForTimestamp(ts, limit)
		if err != nil {
			return err
		}
		if ok {
			off, foundTs, sp.LeaderEpoch = o, t, lg.EpochForOffset(o)
		}
	}
	sp.Offset, sp.Timestamp = off, foundTs
	return nil
}

// consumerLegacyOffsets bounds v0's offsets (the log's segments, descending) for a
// consumer by the high watermark, as Kafka's
// Partition.legacyFetchOffsetsForTimestamp: those above it are replaced by
// the high watermark itself, first. A broker's or the debugging replica
// id's request sees them all.
func consumerLegacyOffsets(offs []int64, replicaID int32, hw int64) []int64 {
	if replicaID != -1 || len(offs) == 0 || offs[0] <= hw {
		return offs
	}
	i := 0
	for i < len(offs) && offs[i] > hw {
		i++
	}
	return append([]int64{hw}, offs[i:]...)
}

// minSpecialTs is the smallest special timestamp a version may ask for.
func minSpecialTs(version int16) int64 {
	switch {
	case version >= 11:
		return tsPendingUpload
	case version >= 9:
		return tsLatestTiered
	case version >= 8:
		return tsEarliestLocal
	case version >= 7:
		return tsMaxTimestamp
	}
	return tsEarliest
}
