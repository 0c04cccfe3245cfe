package coordinator

// Share-partition state records in __share_group_state, in Kafka's schemas
// (the share-coordinator module's ShareSnapshot/ShareUpdate Key/Value JSON
// files). A key starts with its record type as the int16 "version"; the
// rest of a key is not flexible. Values are version 0, flexible.
//
//	0 ShareSnapshot  (group, topic id, partition) -> snapshot epoch, state
//	                 epoch, leader epoch, start offset, create and write
//	                 timestamps, every state batch: the whole state
//	1 ShareUpdate    (group, topic id, partition) -> snapshot epoch, leader
//	                 epoch, start offset (-1: unchanged), the state batches
//	                 that changed, laid over the state so far
//
// A ShareSnapshot with a null value deletes the share partition's state.
// Loading replays every record: a snapshot replaces the state, an update
// is combined with it (shareCombine), newer batches winning and batches
// below the start offset dropped.

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"

	"gregor/broker/records"
	"gregor/broker/share"
)

// Share state record types.
const (
	keyShareSnapshot int16 = 0
	keyShareUpdate   int16 = 1
)

// shareKey names a share partition: group, topic id and partition.
type shareKey struct {
	group     string
	topic     topicID
	partition int32
}

// coordinatorKey is Kafka's SharePartitionKey.asCoordinatorKey, hashed to
// pick the __share_group_state partition and sent in FindCoordinator.
func (k shareKey) coordinatorKey() string {
	return fmt.Sprintf("%s:%s:%d", k.group, uuidString(k.topic), k.partition)
}

// shareValue is a ShareSnapshot (snapshot) or ShareUpdate value.
type shareValue struct {
	snapshot      bool
	snapshotEpoch int32
	stateEpoch    int32 // snapshots only
	leaderEpoch   int32
	startOffset   int64
	createMs      int64 // snapshots only
	writeMs       int64 // snapshots only
	batches       []share.Batch
}

func encodeShareKey(typ int16, k shareKey) []byte {
	b := kbin.AppendInt16(nil, typ)
	b = kbin.AppendString(b, k.group)
	b = kbin.AppendUuid(b, k.topic)
	return kbin.AppendInt32(b, k.partition)
}

// encodeShareRecord is a record of v (nil: the tombstone of the key).
func encodeShareRecord(k shareKey, v *shareValue) records.Record {
	if v == nil {
		return records.Record{Key: encodeShareKey(keyShareSnapshot, k)}
	}
	typ := keyShareUpdate
	if v.snapshot {
		typ = keyShareSnapshot
	}
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt32(b, v.snapshotEpoch)
	if v.snapshot {
		b = kbin.AppendInt32(b, v.stateEpoch)
	}
	b = kbin.AppendInt32(b, v.leaderEpoch)
	b = kbin.AppendInt64(b, v.startOffset)
	if v.snapshot {
		b = kbin.AppendInt64(b, v.createMs)
		b = kbin.AppendInt64(b, v.writeMs)
	}
	b = kbin.AppendCompactArrayLen(b, len(v.batches))
	for _, sb := range v.batches {
		b = kbin.AppendInt64(b, sb.First)
		b = kbin.AppendInt64(b, sb.Last)
		b = kbin.AppendInt8(b, int8(sb.State))
		b = kbin.AppendInt16(b, sb.Count)
		b = appendTags(b)
	}
	return records.Record{Key: encodeShareKey(typ, k), Value: appendTags(b)}
}

// decodeShareRecord parses a __share_group_state record; a nil value is a
// tombstone. ok is false for record types this version does not know.
func decodeShareRecord(key, value []byte) (k shareKey, v *shareValue, ok bool, err error) {
	if len(key) < 2 {
		return k, nil, false, fmt.Errorf("__share_group_state key of %d bytes", len(key))
	}
	typ := int16(binary.BigEndian.Uint16(key))
	if typ != keyShareSnapshot && typ != keyShareUpdate {
		return k, nil, false, nil
	}
	kr := kbin.Reader{Src: key[2:]}
	k.group = kr.String()
	k.topic = kr.Uuid()
	k.partition = kr.Int32()
	if err := kr.Complete(); err != nil {
		return k, nil, false, fmt.Errorf("share state key type %d: %w", typ, err)
	}
	if value == nil {
		return k, nil, true, nil
	}
	if len(value) < 2 {
		return k, nil, false, fmt.Errorf("share state value of %d bytes", len(value))
	}
	if ver := int16(binary.BigEndian.Uint16(value)); ver != 0 {
		return k, nil, false, fmt.Errorf("share state record type %d: unknown value version %d", typ, ver)
	}
	r := kbin.Reader{Src: value[2:]}
	v = &shareValue{snapshot: typ == keyShareSnapshot, stateEpoch: -1}
	v.snapshotEpoch = r.Int32()
	if v.snapshot {
		v.stateEpoch = r.Int32()
	}
	v.leaderEpoch = r.Int32()
	v.startOffset = r.Int64()
	if v.snapshot {
		v.createMs = r.Int64()
		v.writeMs = r.Int64()
	}
	n := r.CompactArrayLen()
	for i := int32(0); i < n && r.Ok(); i++ {
		b := share.Batch{First: r.Int64(), Last: r.Int64(), State: share.State(r.Int8()), Count: r.Int16()}
		skipTags(&r, nil)
		v.batches = append(v.batches, b)
	}
	skipTags(&r, nil)
	if err := r.Complete(); err != nil {
		return k, nil, false, fmt.Errorf("share state value of %s: %w", k.coordinatorKey(), err)
	}
	return k, v, true, nil
}

// shareCombine lays newer batches over older ones, as Kafka's
// PersisterStateBatchCombiner: an offset takes its state from the last
// batch naming it, offsets below start are dropped, and neighbours with
// the same state and count are merged. Both inputs are left unchanged.
func shareCombine(old, newer []share.Batch, start int64) []share.Batch {
	out := make([]share.Batch, 0, len(old)+len(newer))
	for _, b := range old {
		if b.Last >= start && b.Last >= b.First {
			out = append(out, b)
		}
	}
	for _, nb := range newer {
		if nb.Last < nb.First {
			continue
		}
		out = cutOut(out, nb.First, nb.Last)
		out = insertBatch(out, nb)
	}
	res := out[:0]
	for _, b := range out {
		if b.Last < start {
			continue
		}
		b.First = max(b.First, start)
		if n := len(res); n > 0 && res[n-1].Last+1 == b.First && res[n-1].State == b.State && res[n-1].Count == b.Count {
			res[n-1].Last = b.Last
			continue
		}
		res = append(res, b)
	}
	return res
}

// cutOut removes [first, last] from sorted, non-overlapping batches.
func cutOut(bs []share.Batch, first, last int64) []share.Batch {
	out := make([]share.Batch, 0, len(bs)+1)
	for _, b := range bs {
		if b.Last < first || b.First > last {
			out = append(out, b)
			continue
		}
		if b.First < first {
			out = append(out, share.Batch{First: b.First, Last: first - 1, State: b.State, Count: b.Count})
		}
		if b.Last > last {
			out = append(out, share.Batch{First: last + 1, Last: b.Last, State: b.State, Count: b.Count})
		}
	}
	return out
}

// insertBatch adds b to sorted, non-overlapping batches it does not
// overlap.
func insertBatch(bs []share.Batch, b share.Batch) []share.Batch {
	i := 0
	for i < len(bs) && bs[i].First < b.First {
		i++
	}
	bs = append(bs, share.Batch{})
	copy(bs[i+1:], bs[i:])
	bs[i] = b
	return bs
}

// deliveryComplete counts the offsets from start on whose delivery is
// complete (acknowledged or archived): Kafka's DeliveryCompleteCount.
func deliveryComplete(bs []share.Batch, start int64) int32 {
	var n int64
	for _, b := range bs {
		if b.Last < start || (b.State != share.Acknowledged && b.State != share.Archived) {
			continue
		}
		n += b.Last - max(b.First, start) + 1
	}
	return int32(min(n, 1<<31-1))
}

// uuidString is a topic id as Kafka prints it: URL-safe base64, unpadded.
func uuidString(id topicID) string { return uuidEncoding.EncodeToString(id[:]) }

var uuidEncoding = base64.RawURLEncoding
