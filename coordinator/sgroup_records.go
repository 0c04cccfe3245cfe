package coordinator

// Share group records in __consumer_offsets, in Kafka's schemas (the
// group-coordinator module's ShareGroup*Key/Value JSON files). A key
// starts with its type as the int16 "version"; values are version 0,
// flexible. A null value deletes.
//
//	10 ShareGroupMemberMetadata           group, member -> rack, client id,
//	                                      client host, subscribed topics
//	11 ShareGroupMetadata                 group -> group epoch, metadata hash
//	12 ShareGroupTargetAssignmentMetadata group -> assignment epoch
//	13 ShareGroupTargetAssignmentMember   group, member -> target partitions
//	14 ShareGroupCurrentMemberAssignment  group, member -> epoch, previous
//	                                      epoch, state, assigned partitions
//	15 ShareGroupStatePartitionMetadata   group -> initializing and
//	                                      initialized partitions, topics
//	                                      being deleted
//
// Kafka 4.0's ShareGroupPartitionMetadata (9) is read and ignored. The
// group exists while its metadata record (11) does; a deleted group's
// other records are tombstoned before it.

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kbin"

	"gregor/broker/records"
)

// Share group record key types.
const (
	keySGPartitionMeta  int16 = 9
	keySGMember         int16 = 10
	keySGMetadata       int16 = 11
	keySGTargetMetadata int16 = 12
	keySGTargetMember   int16 = 13
	keySGCurrent        int16 = 14
	keySGStateMeta      int16 = 15
)

// isShareGroupKey reports whether a __consumer_offsets key type is a share
// group record.
func isShareGroupKey(version int16) bool {
	return version >= keySGPartitionMeta && version <= keySGStateMeta
}

// sgRec is one share group record: encoded for the log and applied to
// the group's state, live or when the log is replayed.
type sgRec interface {
	encode(group string) records.Record
	apply(sg **shareGroup)
}

type sgRecMember struct {
	id string
	m  *sgMember // nil deletes; only its subscription fields are used
}

type sgRecEpoch struct {
	epoch int32
	hash  int64
	del   bool
}

type sgRecTargetEpoch struct {
	epoch int32
	del   bool
}

type sgRecTarget struct {
	member string
	parts  tpSet // nil deletes
}

type sgRecCurrent struct {
	member           string
	epoch, prevEpoch int32
	assigned         tpSet // nil deletes
}

type sgRecStateMeta struct {
	initializing, initialized map[topicID]*initTopic
	deleting                  map[topicID]string
	del                       bool
}

// sgIgnored is a record this version reads and ignores.
type sgIgnored struct{}

func (sgIgnored) encode(string) records.Record { return records.Record{} }
func (sgIgnored) apply(**shareGroup)           {}

// --- encoders ---

func (r sgRecMember) encode(group string) records.Record {
	rec := records.Record{Key: cgKey(keySGMember, group, r.id)}
	if r.m == nil {
		return rec
	}
	b := kbin.AppendCompactNullableString(valueHeader(), r.m.rackID)
	b = kbin.AppendCompactString(b, r.m.clientID)
	b = kbin.AppendCompactString(b, r.m.clientHost)
	b = appendStrings(b, r.m.topics)
	rec.Value = appendTags(b)
	return rec
}

func (r sgRecEpoch) encode(group string) records.Record {
	rec := records.Record{Key: cgKey(keySGMetadata, group)}
	if !r.del {
		b := kbin.AppendInt32(valueHeader(), r.epoch)
		rec.Value = appendTags(kbin.AppendInt64(b, r.hash))
	}
	return rec
}

func (r sgRecTargetEpoch) encode(group string) records.Record {
	rec := records.Record{Key: cgKey(keySGTargetMetadata, group)}
	if !r.del {
		rec.Value = appendTags(kbin.AppendInt32(valueHeader(), r.epoch))
	}
	return rec
}

func (r sgRecTarget) encode(group string) records.Record {
	rec := records.Record{Key: cgKey(keySGTargetMember, group, r.member)}
	if r.parts != nil {
		rec.Value = appendTags(appendTopicParts(valueHeader(), r.parts))
	}
	return rec
}

func (r sgRecCurrent) encode(group string) records.Record {
	rec := records.Record{Key: cgKey(keySGCurrent, group, r.member)}
	if r.assigned == nil {
		return rec
	}
	b := kbin.AppendInt32(valueHeader(), r.epoch)
	b = kbin.AppendInt32(b, r.prevEpoch)
	b = kbin.AppendInt8(b, 0) // STABLE: share members have nothing to revoke
	b = appendTopicParts(b, r.assigned)
	rec.Value = appendTags(b)
	return rec
}

func (r sgRecStateMeta) encode(group string) records.Record {
	rec := records.Record{Key: cgKey(keySGStateMeta, group)}
	if r.del {
		return rec
	}
	b := appendInitTopics(valueHeader(), r.initializing)
	b = appendInitTopics(b, r.initialized)
	ids := sortedIDs(r.deleting)
	b = kbin.AppendCompactArrayLen(b, len(ids))
	for _, id := range ids {
		b = kbin.AppendUuid(b, id)
		b = kbin.AppendCompactString(b, r.deleting[id])
		b = appendTags(b)
	}
	rec.Value = appendTags(b)
	return rec
}

func sortedIDs[V any](m map[topicID]V) []topicID {
	out := make([]topicID, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i][:]) < string(out[j][:]) })
	return out
}

func appendInitTopics(b []byte, m map[topicID]*initTopic) []byte {
	ids := sortedIDs(m)
	b = kbin.AppendCompactArrayLen(b, len(ids))
	for _, id := range ids {
		it := m[id]
		b = kbin.AppendUuid(b, id)
		b = kbin.AppendCompactString(b, it.name)
		parts := make([]int32, 0, len(it.parts))
		for p := range it.parts {
			parts = append(parts, p)
		}
		slices.Sort(parts)
		b = kbin.AppendCompactArrayLen(b, len(parts))
		for _, p := range parts {
			b = kbin.AppendInt32(b, p)
		}
		b = appendTags(b)
	}
	return b
}

// --- decoders ---

// decodeSGRecord parses a share group record: its group and the record to
// apply.
func decodeSGRecord(key, value []byte) (string, sgRec, error) {
	kr := kbin.Reader{Src: key}
	typ := kr.Int16()
	group := kr.String()
	var second string
	switch typ {
	case keySGMember, keySGTargetMember, keySGCurrent:
		second = kr.String()
	}
	if err := kr.Complete(); err != nil {
		return "", nil, fmt.Errorf("share group key type %d: %w", typ, err)
	}
	if typ == keySGPartitionMeta {
		return group, sgIgnored{}, nil
	}
	if value == nil {
		return group, sgTombstone(typ, second), nil
	}
	if len(value) < 2 {
		return group, nil, fmt.Errorf("share group value of %d bytes", len(value))
	}
	if v := int16(binary.BigEndian.Uint16(value)); v != 0 {
		return group, nil, fmt.Errorf("share group record type %d: unknown value version %d", typ, v)
	}
	r := kbin.Reader{Src: value[2:]}
	rec := decodeSGValue(typ, second, &r)
	if err := r.Complete(); err != nil {
		return group, nil, fmt.Errorf("share group value type %d of %s: %w", typ, group, err)
	}
	return group, rec, nil
}

func sgTombstone(typ int16, second string) sgRec {
	switch typ {
	case keySGMember:
		return sgRecMember{id: second}
	case keySGMetadata:
		return sgRecEpoch{del: true}
	case keySGTargetMetadata:
		return sgRecTargetEpoch{del: true}
	case keySGTargetMember:
		return sgRecTarget{member: second}
	case keySGCurrent:
		return sgRecCurrent{member: second}
	}
	return sgRecStateMeta{del: true}
}

func decodeSGValue(typ int16, second string, r *kbin.Reader) sgRec {
	switch typ {
	case keySGMember:
		m := &sgMember{id: second, rackID: r.CompactNullableString(), clientID: r.CompactString(), clientHost: r.CompactString()}
		m.topics = readStrings(r)
		slices.Sort(m.topics)
		skipTags(r, nil)
		return sgRecMember{id: second, m: m}
	case keySGMetadata:
		rec := sgRecEpoch{epoch: r.Int32()}
		if len(r.Src) > 1 { // MetadataHash (absent in Kafka 4.0's records)
			rec.hash = r.Int64()
		}
		skipTags(r, nil)
		return rec
	case keySGTargetMetadata:
		rec := sgRecTargetEpoch{epoch: r.Int32()}
		skipTags(r, nil)
		return rec
	case keySGTargetMember:
		parts := readTopicParts(r)
		skipTags(r, nil)
		return sgRecTarget{member: second, parts: parts}
	case keySGCurrent:
		rec := sgRecCurrent{member: second, epoch: r.Int32(), prevEpoch: r.Int32()}
		r.Int8()
		rec.assigned = readTopicParts(r)
		skipTags(r, nil)
		return rec
	}
	rec := sgRecStateMeta{initializing: readInitTopics(r), initialized: readInitTopics(r), deleting: map[topicID]string{}}
	n := r.CompactArrayLen()
	for i := int32(0); i < n && r.Ok(); i++ {
		id := r.Uuid()
		rec.deleting[id] = r.CompactString()
		skipTags(r, nil)
	}
	skipTags(r, nil)
	return rec
}

func readInitTopics(r *kbin.Reader) map[topicID]*initTopic {
	out := make(map[topicID]*initTopic)
	n := r.CompactArrayLen()
	for i := int32(0); i < n && r.Ok(); i++ {
		id := r.Uuid()
		it := &initTopic{name: r.CompactString(), parts: make(map[int32]bool)}
		np := r.CompactArrayLen()
		for j := int32(0); j < np && r.Ok(); j++ {
			it.parts[r.Int32()] = true
		}
		skipTags(r, nil)
		out[id] = it
	}
	return out
}

// --- replay: applying a record to the state ---

func ensureSG(sg **shareGroup) *shareGroup {
	if *sg == nil {
		*sg = newShareGroup()
	}
	return *sg
}

func (r sgRecMember) apply(sg **shareGroup) {
	if r.m == nil {
		if *sg != nil {
			if m := (*sg).members[r.id]; m != nil {
				m.session.stop()
				delete((*sg).members, r.id)
			}
		}
		return
	}
	g := ensureSG(sg)
	m := g.members[r.id]
	if m == nil {
		m = &sgMember{id: r.id, assigned: tpSet{}}
		g.members[r.id] = m
	}
	m.rackID, m.clientID, m.clientHost, m.topics = r.m.rackID, r.m.clientID, r.m.clientHost, slices.Clone(r.m.topics)
}

func (r sgRecEpoch) apply(sg **shareGroup) {
	if r.del {
		if *sg != nil {
			for _, m := range (*sg).members {
				m.session.stop()
			}
		}
		*sg = nil
		return
	}
	g := ensureSG(sg)
	g.epoch, g.metaHash = r.epoch, r.hash
}

func (r sgRecTargetEpoch) apply(sg **shareGroup) {
	if r.del {
		if *sg != nil {
			(*sg).assignEpoch = -1
		}
		return
	}
	ensureSG(sg).assignEpoch = r.epoch
}

func (r sgRecTarget) apply(sg **shareGroup) {
	if r.parts == nil {
		if *sg != nil {
			delete((*sg).target, r.member)
		}
		return
	}
	ensureSG(sg).target[r.member] = r.parts.clone()
}

func (r sgRecCurrent) apply(sg **shareGroup) {
	if r.assigned == nil {
		if *sg != nil {
			if m := (*sg).members[r.member]; m != nil {
				m.epoch, m.prevEpoch, m.assigned = leaveEpoch, leaveEpoch, tpSet{}
			}
		}
		return
	}
	g := ensureSG(sg)
	m := g.members[r.member]
	if m == nil {
		m = &sgMember{id: r.member}
		g.members[r.member] = m
	}
	m.epoch, m.prevEpoch, m.assigned = r.epoch, r.prevEpoch, r.assigned.clone()
}

func (r sgRecStateMeta) apply(sg **shareGroup) {
	if r.del {
		if *sg != nil {
			g := *sg
			g.initializing, g.initialized, g.deleting = map[topicID]*initTopic{}, map[topicID]*initTopic{}, map[topicID]string{}
			g.stateMeta = false
		}
		return
	}
	g := ensureSG(sg)
	g.initializing, g.initialized, g.deleting = cloneInit(r.initializing), cloneInit(r.initialized), map[topicID]string{}
	for id, n := range r.deleting {
		g.deleting[id] = n
	}
	g.stateMeta = true
}

func cloneInit(m map[topicID]*initTopic) map[topicID]*initTopic {
	out := make(map[topicID]*initTopic, len(m))
	for id, it := range m {
		out[id] = it.clone()
	}
	return out
}
