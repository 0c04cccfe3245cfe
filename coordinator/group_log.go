package coordinator

// __consumer_offsets records, in Kafka's schemas, so Kafka's tools read
// them (OffsetsMessageFormatter, GroupMetadataMessageFormatter):
//
//	offset:  key OffsetCommitKey v1 (group, topic, partition),
//	         value OffsetCommitValue v3 (v1 when an expiry was asked for)
//	group:   key GroupMetadataKey v2 (group),
//	         value GroupMetadataValue v3 (generation, protocol, leader,
//	         members with their subscription and assignment)
//
// A null value deletes. Offsets committed in a transaction are written in
// a transactional batch of the producer and count only once its commit
// marker follows. The topic is compacted: the latest record per key is the
// state, and loading a partition replays it.

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
)

func encodeOffsetKey(g string, tp topicPartition) []byte {
	k := kmsg.NewOffsetCommitKey()
	k.Version = 1
	k.Group, k.Topic, k.Partition = g, tp.topic, tp.partition
	return k.AppendTo(nil)
}

func encodeOffsetValue(e offsetEntry) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = 3
	if e.expireMs >= 0 {
		v.Version = 1
		v.ExpireTimestamp = e.expireMs
	}
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = e.offset, e.leaderEpoch, e.metadata, e.commitMs
	return v.AppendTo(nil)
}

func encodeGroupKey(g string) []byte {
	k := kmsg.NewGroupMetadataKey()
	k.Version = 2
	k.Group = g
	return k.AppendTo(nil)
}

// encodeGroupValue is the group's settled state.
func encodeGroupValue(g *group) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" {
		l := g.leader
		v.Leader = &l
	}
	v.CurrentStateTimestamp = g.stateMs
	v.Members = []kmsg.GroupMetadataValueMember{}
	for _, m := range g.sortedMembers() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID, vm.ClientID, vm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.sessionTimeout / time.Millisecond)
		vm.Subscription = m.metadataFor(g.protocol)
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		vm.Assignment = m.assignment
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return v.AppendTo(nil)
}

// loadedGroup is a group as replayed from the log: a classic group's
// metadata or a consumer group's state (whichever came last), and its
// offsets.
type loadedGroup struct {
	meta       *kmsg.GroupMetadataValue
	cg         *consumerGroup
	sg         *shareGroup
	offsets    map[topicPartition]offsetEntry
	pendingTxn map[int64]map[topicPartition]offsetEntry
}

func (l *loadedGroup) empty() bool {
	return l.meta == nil && l.cg == nil && l.sg == nil && len(l.offsets) == 0 && len(l.pendingTxn) == 0
}

// groupReplay folds __consumer_offsets batches into group states.
type groupReplay struct {
	groups map[string]*loadedGroup
	// pids lists, per producer, the groups with pending offsets.
	pids map[int64]map[string]struct{}
}

func newGroupReplay() *groupReplay {
	return &groupReplay{groups: make(map[string]*loadedGroup), pids: make(map[int64]map[string]struct{})}
}

func (r *groupReplay) group(id string) *loadedGroup {
	l := r.groups[id]
	if l == nil {
		l = &loadedGroup{offsets: make(map[topicPartition]offsetEntry), pendingTxn: make(map[int64]map[topicPartition]offsetEntry)}
		r.groups[id] = l
	}
	return l
}

// apply folds one committed batch into the replay.
func (r *groupReplay) apply(batch []byte) error {
	h, err := records.ParseHeader(batch)
	if err != nil {
		return err
	}
	if h.IsControl() {
		commit := false
		err := records.Each(batch, func(rec *records.Record) error {
			if len(rec.Key) >= 4 {
				commit = binary.BigEndian.Uint16(rec.Key[2:]) == 1
			}
			return nil
		})
		if err == nil {
			r.completeTxn(h.ProducerID, commit)
		}
		return err
	}
	pid := int64(-1)
	if h.IsTransactional() {
		pid = h.ProducerID
	}
	return records.Each(batch, func(rec *records.Record) error {
		return r.record(rec, pid, h.BaseOffset+int64(rec.OffsetDelta))
	})
}

func (r *groupReplay) record(rec *records.Record, pid int64, logOffset int64) error {
	if len(rec.Key) < 2 {
		return fmt.Errorf("__consumer_offsets key of %d bytes", len(rec.Key))
	}
	version := int16(binary.BigEndian.Uint16(rec.Key))
	if isConsumerGroupKey(version) {
		group, cr, err := decodeCGRecord(rec.Key, rec.Value)
		if err != nil {
			return err
		}
		l := r.group(group)
		cr.apply(&l.cg)
		if l.cg != nil {
			l.meta = nil // the group is a consumer group now
		}
		return nil
	}
	if isShareGroupKey(version) {
		group, sr, err := decodeSGRecord(rec.Key, rec.Value)
		if err != nil {
			return err
		}
		sr.apply(&r.group(group).sg)
		return nil
	}
	switch version {
	case 0, 1:
		k := kmsg.NewOffsetCommitKey()
		if err := k.ReadFrom(rec.Key); err != nil {
			return fmt.Errorf("offset key: %w", err)
		}
		tp := topicPartition{k.Topic, k.Partition}
		l := r.group(k.Group)
		if rec.Value == nil {
			if pid < 0 {
				// As Kafka's replay: the tombstone removes the
				// partition's offsets from every open transaction too.
				delete(l.offsets, tp)
				for p, pending := range l.pendingTxn {
					delete(pending, tp)
					if len(pending) == 0 {
						delete(l.pendingTxn, p)
					}
				}
			}
			return nil
		}
		v := kmsg.NewOffsetCommitValue()
		if err := v.ReadFrom(rec.Value); err != nil {
			return fmt.Errorf("offset value for %s: %w", k.Group, err)
		}
		e := offsetEntry{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitMs: v.CommitTimestamp, expireMs: -1, logOffset: logOffset}
		if v.Version >= 3 {
			e.leaderEpoch = v.LeaderEpoch
		}
		if v.Version == 1 {
			e.expireMs = v.ExpireTimestamp
		}
		if pid >= 0 {
			if l.pendingTxn[pid] == nil {
				l.pendingTxn[pid] = make(map[topicPartition]offsetEntry)
			}
			l.pendingTxn[pid][tp] = e
			if r.pids[pid] == nil {
				r.pids[pid] = make(map[string]struct{})
			}
			r.pids[pid][k.Group] = struct{}{}
			return nil
		}
		l.offsets[tp] = e
	case 2:
		k := kmsg.NewGroupMetadataKey()
		if err := k.ReadFrom(rec.Key); err != nil {
			return fmt.Errorf("group key: %w", err)
		}
		l := r.group(k.Group)
		if rec.Value == nil {
			// The group was deleted or became a consumer group; its
			// offsets have tombstones of their own.
			l.meta = nil
			return nil
		}
		v := kmsg.NewGroupMetadataValue()
		if err := v.ReadFrom(rec.Value); err != nil {
			return fmt.Errorf("group value for %s: %w", k.Group, err)
		}
		l.meta = &v
		stopConsumerTimers(l.cg)
		l.cg = nil // a consumer group became a classic group
	default:
		// Other record kinds (streams groups) are not Gregor's: skipped.
	}
	return nil
}

// completeTxn settles a producer's pending offsets on its marker.
func (r *groupReplay) completeTxn(pid int64, commit bool) {
	for id := range r.pids[pid] {
		l := r.groups[id]
		if l == nil {
			continue
		}
		if commit {
			for tp, e := range l.pendingTxn[pid] {
				if cur, ok := l.offsets[tp]; !ok || cur.logOffset < e.logOffset {
					l.offsets[tp] = e
				}
			}
		}
		delete(l.pendingTxn, pid)
	}
	delete(r.pids, pid)
}

// build makes a loaded group: Stable with its stored members when it had
// any, Empty otherwise.
func (l *loadedGroup) build(id string, gs *groupShard) *group {
	g := newGroup(id, gs)
	g.offsets = l.offsets
	g.pendingTxn = l.pendingTxn
	g.consumer = l.cg
	g.share = l.sg
	v := l.meta
	if v == nil {
		return g
	}
	g.stored = true
	g.protocolType, g.generation = v.ProtocolType, v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	if v.CurrentStateTimestamp > 0 {
		g.stateMs = v.CurrentStateTimestamp
	}
	for _, vm := range v.Members {
		g.joinSeq++
		m := &member{
			id: vm.MemberID, instanceID: vm.InstanceID, clientID: vm.ClientID, clientHost: vm.ClientHost,
			sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			protocolType:     v.ProtocolType,
			protocols:        []protocolMeta{{name: g.protocol, metadata: vm.Subscription}},
			assignment:       vm.Assignment, joinOrder: g.joinSeq,
		}
		if m.rebalanceTimeout <= 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		g.members[m.id] = m
		if m.instanceID != nil {
			g.instances[*m.instanceID] = m.id
		}
	}
	if len(g.members) > 0 {
		g.state = groupStable
	}
	g.subscribed = g.computeSubscribed()
	return g
}
