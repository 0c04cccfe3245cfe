package coordinator

// Consumer group records in __consumer_offsets, in Kafka's schemas (the
// group-coordinator module's ConsumerGroup*Key/Value JSON files). A key
// starts with its type as the int16 "version" Kafka's older readers see;
// the rest of a key is not flexible. Values are version 0, flexible.
//
//	3  ConsumerGroupMetadata                group -> group epoch
//	4  ConsumerGroupPartitionMetadata       group -> subscribed topics (id,
//	                                        name, partitions)
//	5  ConsumerGroupMemberMetadata          group, member -> subscription
//	6  ConsumerGroupTargetAssignmentMetadata group -> assignment epoch
//	7  ConsumerGroupTargetAssignmentMember  group, member -> target partitions
//	8  ConsumerGroupCurrentMemberAssignment group, member -> epoch, previous
//	                                        epoch, state, assigned and
//	                                        revoking partitions
//	16 ConsumerGroupRegularExpression       group, regex -> resolved topics
//
// A null value deletes. The group exists while its metadata record (3)
// does; the other records of a group that is being deleted are
// tombstoned before it, as Kafka orders them.

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kbin"

	"gregor/broker/records"
)

// Record key types.
const (
	keyCGMetadata       int16 = 3
	keyCGPartitionMeta  int16 = 4
	keyCGMember         int16 = 5
	keyCGTargetMetadata int16 = 6
	keyCGTargetMember   int16 = 7
	keyCGCurrent        int16 = 8
	keyCGRegex          int16 = 16
)

// cgRec is one consumer group record: encoded for the log and applied to
// the group's state, live or when the log is replayed.
type cgRec interface {
	encode(group string) records.Record
	apply(cg **consumerGroup)
}

type recGroupEpoch struct {
	epoch int32
	del   bool
}

type recPartMeta struct {
	topics []topicMeta // sorted by name
	del    bool
}

type recMember struct {
	id  string
	sub *memberSub // nil deletes
}

type recTargetEpoch struct {
	epoch int32
	del   bool
}

type recTarget struct {
	member string
	parts  tpSet // nil deletes
}

type recCurrent struct {
	member string
	cur    *memberAssign // nil deletes
}

type recRegex struct {
	regex string
	r     *resolvedRegex // nil deletes
}

// --- keys ---

func cgKey(typ int16, parts ...string) []byte {
	b := kbin.AppendInt16(nil, typ)
	for _, p := range parts {
		b = kbin.AppendString(b, p)
	}
	return b
}

func valueHeader() []byte { return kbin.AppendInt16(nil, 0) }

func appendTags(b []byte) []byte { return kbin.AppendUvarint(b, 0) }

func appendStrings(b []byte, ss []string) []byte {
	b = kbin.AppendCompactArrayLen(b, len(ss))
	for _, s := range ss {
		b = kbin.AppendCompactString(b, s)
	}
	return b
}

func appendTopicParts(b []byte, s tpSet) []byte {
	tps := s.byTopic()
	b = kbin.AppendCompactArrayLen(b, len(tps))
	for _, t := range tps {
		b = kbin.AppendUuid(b, t.id)
		b = kbin.AppendCompactArrayLen(b, len(t.parts))
		for _, p := range t.parts {
			b = kbin.AppendInt32(b, p)
		}
		b = appendTags(b)
	}
	return b
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// --- encoders ---

func (r recGroupEpoch) encode(group string) records.Record {
	rec := records.Record{Key: cgKey(keyCGMetadata, group)}
	if !r.del {
		b := kbin.AppendInt32(valueHeader(), r.epoch)
		rec.Value = appendTags(b)
	}
	return rec
}

func (r recPartMeta) encode(group string) records.Record {
	rec := records.Record{Key: cgKey(keyCGPartitionMeta, group)}
	if r.del {
		return rec
	}
	b := kbin.AppendCompactArrayLen(valueHeader(), len(r.topics))
	for _, t := range r.topics {
		b = kbin.AppendUuid(b, t.id)
		b = kbin.AppendCompactString(b, t.name)
		b = kbin.AppendInt32(b, t.partitions)
		b = kbin.AppendCompactArrayLen(b, 0) // rack metadata: not kept
		b = appendTags(b)
	}
	rec.Value = appendTags(b)
	return rec
}

func (r recMember) encode(group string) records.Record {
	rec := records.Record{Key: cgKey(keyCGMember, group, r.id)}
	if r.sub == nil {
		return rec
	}
	s := r.sub
	b := kbin.AppendCompactNullableString(valueHeader(), s.instanceID)
	b = kbin.AppendCompactNullableString(b, s.rackID)
	b = kbin.AppendCompactString(b, s.clientID)
	b = kbin.AppendCompactString(b, s.clientHost)
	b = appendStrings(b, s.topics)
	// Kafka writes the member's regex, "" for none.
	b = kbin.AppendCompactString(b, s.regex)
	b = kbin.AppendInt32(b, s.rebalanceTimeoutMs)
	b = kbin.AppendCompactNullableString(b, optString(s.assignor))
	if s.classic == nil {
		rec.Value = appendTags(b)
		return rec
	}
	// Tag 0: ClassicMemberMetadata, a nullable struct (a presence byte,
	// then the struct).
	st := kbin.AppendInt32(nil, s.classic.sessionTimeoutMs)
	st = kbin.AppendCompactArrayLen(st, len(s.classic.protocols))
	for _, p := range s.classic.protocols {
		st = kbin.AppendCompactString(st, p.name)
		st = kbin.AppendCompactBytes(st, p.metadata)
		st = appendTags(st)
	}
	st = appendTags(st)
	b = kbin.AppendUvarint(b, 1)
	b = kbin.AppendUvarint(b, 0)
	b = kbin.AppendUvarint(b, uint32(len(st)+1))
	b = kbin.AppendUvarint(b, 1)
	rec.Value = append(b, st...)
	return rec
}

func (r recTargetEpoch) encode(group string) records.Record {
	rec := records.Record{Key: cgKey(keyCGTargetMetadata, group)}
	if !r.del {
		rec.Value = appendTags(kbin.AppendInt32(valueHeader(), r.epoch))
	}
	return rec
}

func (r recTarget) encode(group string) records.Record {
	rec := records.Record{Key: cgKey(keyCGTargetMember, group, r.member)}
	if r.parts != nil {
		rec.Value = appendTags(appendTopicParts(valueHeader(), r.parts))
	}
	return rec
}

func (r recCurrent) encode(group string) records.Record {
	rec := records.Record{Key: cgKey(keyCGCurrent, group, r.member)}
	if r.cur == nil {
		return rec
	}
	b := kbin.AppendInt32(valueHeader(), r.cur.epoch)
	b = kbin.AppendInt32(b, r.cur.prevEpoch)
	b = kbin.AppendInt8(b, int8(r.cur.state))
	b = appendTopicParts(b, r.cur.assigned)
	b = appendTopicParts(b, r.cur.revoking)
	rec.Value = appendTags(b)
	return rec
}

func (r recRegex) encode(group string) records.Record {
	rec := records.Record{Key: cgKey(keyCGRegex, group, r.regex)}
	if r.r != nil {
		b := appendStrings(valueHeader(), r.r.topics)
		b = kbin.AppendInt64(b, r.r.version)
		b = kbin.AppendInt64(b, r.r.atMs)
		rec.Value = appendTags(b)
	}
	return rec
}

// --- decoders ---

// isConsumerGroupKey reports whether a __consumer_offsets key is one of the
// consumer group record types.
func isConsumerGroupKey(version int16) bool {
	switch version {
	case keyCGMetadata, keyCGPartitionMeta, keyCGMember, keyCGTargetMetadata, keyCGTargetMember, keyCGCurrent, keyCGRegex:
		return true
	}
	return false
}

// skipTags skips a tagged-field section, calling fn for each tag it knows.
func skipTags(r *kbin.Reader, fn func(tag uint32, data []byte)) {
	n := r.Uvarint()
	for i := uint32(0); i < n && r.Ok(); i++ {
		tag, size := r.Uvarint(), r.Uvarint()
		data := r.Span(int(size))
		if fn != nil {
			fn(tag, data)
		}
	}
}

func readStrings(r *kbin.Reader) []string {
	n := r.CompactArrayLen()
	if n <= 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := int32(0); i < n && r.Ok(); i++ {
		out = append(out, r.CompactString())
	}
	return out
}

func readTopicParts(r *kbin.Reader) tpSet {
	out := make(tpSet)
	n := r.CompactArrayLen()
	for i := int32(0); i < n && r.Ok(); i++ {
		id := r.Uuid()
		np := r.CompactArrayLen()
		for j := int32(0); j < np && r.Ok(); j++ {
			out[tidp{id, r.Int32()}] = struct{}{}
		}
		skipTags(r, nil)
	}
	return out
}

// decodeCGRecord parses a consumer group record: its group and the
// record to apply.
func decodeCGRecord(key, value []byte) (string, cgRec, error) {
	kr := kbin.Reader{Src: key}
	typ := kr.Int16()
	group := kr.String()
	var second string
	switch typ {
	case keyCGMember, keyCGTargetMember, keyCGCurrent, keyCGRegex:
		second = kr.String()
	}
	if err := kr.Complete(); err != nil {
		return "", nil, fmt.Errorf("consumer group key type %d: %w", typ, err)
	}
	var vr kbin.Reader
	if value != nil {
		if len(value) < 2 {
			return group, nil, fmt.Errorf("consumer group value of %d bytes", len(value))
		}
		if v := int16(binary.BigEndian.Uint16(value)); v != 0 {
			return group, nil, fmt.Errorf("consumer group record type %d: unknown value version %d", typ, v)
		}
		vr = kbin.Reader{Src: value[2:]}
	}
	rec := decodeCGValue(typ, second, value == nil, &vr)
	if value != nil {
		if err := vr.Complete(); err != nil {
			return group, nil, fmt.Errorf("consumer group value type %d of %s: %w", typ, group, err)
		}
	}
	return group, rec, nil
}

func decodeCGValue(typ int16, second string, del bool, r *kbin.Reader) cgRec {
	switch typ {
	case keyCGMetadata:
		if del {
			return recGroupEpoch{del: true}
		}
		e := r.Int32()
		skipTags(r, nil)
		return recGroupEpoch{epoch: e}
	case keyCGPartitionMeta:
		if del {
			return recPartMeta{del: true}
		}
		return recPartMeta{topics: readPartMeta(r)}
	case keyCGMember:
		if del {
			return recMember{id: second}
		}
		return recMember{id: second, sub: readMemberSub(second, r)}
	case keyCGTargetMetadata:
		if del {
			return recTargetEpoch{del: true}
		}
		e := r.Int32()
		skipTags(r, nil)
		return recTargetEpoch{epoch: e}
	case keyCGTargetMember:
		if del {
			return recTarget{member: second}
		}
		parts := readTopicParts(r)
		skipTags(r, nil)
		return recTarget{member: second, parts: parts}
	case keyCGCurrent:
		if del {
			return recCurrent{member: second}
		}
		cur := &memberAssign{epoch: r.Int32(), prevEpoch: r.Int32(), state: memberState(r.Int8())}
		cur.assigned, cur.revoking = readTopicParts(r), readTopicParts(r)
		switch cur.state {
		case memberStable, memberUnrevoked, memberUnreleased:
		default:
			cur.state = memberUnknown
		}
		skipTags(r, nil)
		return recCurrent{member: second, cur: cur}
	default: // keyCGRegex
		if del {
			return recRegex{regex: second}
		}
		rr := &resolvedRegex{topics: readStrings(r), version: r.Int64(), atMs: r.Int64()}
		slices.Sort(rr.topics)
		skipTags(r, nil)
		return recRegex{regex: second, r: rr}
	}
}

func readPartMeta(r *kbin.Reader) []topicMeta {
	var out []topicMeta
	n := r.CompactArrayLen()
	for i := int32(0); i < n && r.Ok(); i++ {
		t := topicMeta{id: r.Uuid(), name: r.CompactString(), partitions: r.Int32()}
		np := r.CompactArrayLen()
		for j := int32(0); j < np && r.Ok(); j++ {
			r.Int32()
			readStrings(r)
			skipTags(r, nil)
		}
		skipTags(r, nil)
		out = append(out, t)
	}
	skipTags(r, nil)
	return out
}

func readMemberSub(id string, r *kbin.Reader) *memberSub {
	s := &memberSub{id: id}
	s.instanceID = r.CompactNullableString()
	s.rackID = r.CompactNullableString()
	s.clientID = r.CompactString()
	s.clientHost = r.CompactString()
	s.topics = readStrings(r)
	slices.Sort(s.topics)
	if re := r.CompactNullableString(); re != nil {
		s.regex = *re
	}
	s.rebalanceTimeoutMs = r.Int32()
	if a := r.CompactNullableString(); a != nil {
		s.assignor = *a
	}
	skipTags(r, func(tag uint32, data []byte) {
		if tag != 0 {
			return
		}
		tr := kbin.Reader{Src: data}
		if tr.Uvarint() == 0 {
			return
		}
		cm := &classicMeta{sessionTimeoutMs: tr.Int32()}
		n := tr.CompactArrayLen()
		for i := int32(0); i < n && tr.Ok(); i++ {
			p := protocolMeta{name: tr.CompactString(), metadata: slices.Clone(tr.CompactBytes())}
			skipTags(&tr, nil)
			cm.protocols = append(cm.protocols, p)
		}
		skipTags(&tr, nil)
		if tr.Ok() {
			s.classic = cm
		}
	})
	return s
}

// --- replay: applying a record to the state ---

func ensureCG(cg **consumerGroup) *consumerGroup {
	if *cg == nil {
		*cg = newConsumerGroup()
	}
	return *cg
}

func (r recGroupEpoch) apply(cg **consumerGroup) {
	if r.del {
		*cg = nil // the group is gone
		return
	}
	ensureCG(cg).epoch = r.epoch
}

func (r recPartMeta) apply(cg **consumerGroup) {
	if r.del && *cg == nil {
		return
	}
	g := ensureCG(cg)
	g.subMeta = make(map[string]topicMeta, len(r.topics))
	for _, t := range r.topics {
		g.subMeta[t.name] = t
	}
}

func (r recMember) apply(cg **consumerGroup) {
	if r.sub == nil {
		if *cg != nil {
			(*cg).removeMember(r.id)
		}
		return
	}
	g := ensureCG(cg)
	g.names = nil
	sub := *r.sub
	m := g.members[r.id]
	if m == nil {
		m = &cgMember{cur: memberAssign{state: memberStable, assigned: tpSet{}, revoking: tpSet{}}}
		g.members[r.id] = m
	}
	if m.sub.instanceID != nil && g.instances[*m.sub.instanceID] == r.id {
		delete(g.instances, *m.sub.instanceID)
	}
	m.sub = sub
	if sub.instanceID != nil {
		g.instances[*sub.instanceID] = r.id
	}
}

// removeMember forgets a member and the partitions it held.
func (cg *consumerGroup) removeMember(id string) {
	m := cg.members[id]
	if m == nil {
		return
	}
	cg.names = nil
	cg.releaseOwned(m)
	if m.sub.instanceID != nil && cg.instances[*m.sub.instanceID] == id {
		delete(cg.instances, *m.sub.instanceID)
	}
	delete(cg.members, id)
	stopMemberTimers(m)
}

func (cg *consumerGroup) releaseOwned(m *cgMember) {
	for p := range m.cur.assigned {
		if cg.owners[p] == m.cur.epoch {
			delete(cg.owners, p)
		}
	}
	for p := range m.cur.revoking {
		if cg.owners[p] == m.cur.epoch {
			delete(cg.owners, p)
		}
	}
}

func (r recTargetEpoch) apply(cg **consumerGroup) {
	if r.del {
		if *cg != nil {
			(*cg).assignEpoch = -1
		}
		return
	}
	ensureCG(cg).assignEpoch = r.epoch
}

func (r recTarget) apply(cg **consumerGroup) {
	if r.parts == nil {
		if *cg != nil {
			delete((*cg).target, r.member)
		}
		return
	}
	ensureCG(cg).target[r.member] = r.parts.clone()
}

func (r recCurrent) apply(cg **consumerGroup) {
	if *cg == nil && r.cur == nil {
		return
	}
	g := ensureCG(cg)
	m := g.members[r.member]
	if m == nil {
		if r.cur == nil {
			return
		}
		m = &cgMember{sub: memberSub{id: r.member}}
		g.members[r.member] = m
	}
	g.releaseOwned(m)
	if r.cur == nil {
		m.cur = memberAssign{epoch: leaveEpoch, prevEpoch: leaveEpoch, state: memberStable, assigned: tpSet{}, revoking: tpSet{}}
		return
	}
	m.cur = memberAssign{epoch: r.cur.epoch, prevEpoch: r.cur.prevEpoch, state: r.cur.state,
		assigned: r.cur.assigned.clone(), revoking: r.cur.revoking.clone()}
	for p := range m.cur.assigned {
		g.owners[p] = m.cur.epoch
	}
	for p := range m.cur.revoking {
		g.owners[p] = m.cur.epoch
	}
}

func (r recRegex) apply(cg **consumerGroup) {
	if r.r == nil {
		if *cg != nil {
			delete((*cg).regexes, r.regex)
			(*cg).names = nil
		}
		return
	}
	rr := *r.r
	rr.topics = slices.Clone(rr.topics)
	g := ensureCG(cg)
	g.regexes[r.regex] = &rr
	g.names = nil
}

// stopMemberTimers stops a member's timers.
func stopMemberTimers(m *cgMember) {
	m.session.stop()
	m.rebalance.stop()
	m.classicJoin.stop()
	m.classicSync.stop()
}
