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
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
)

// groupPartition is the coordinator's view of one __consumer_offsets
// partition this broker leads.
type groupPartition struct {
	id     int32
	epoch  int32
	loaded chan struct{}
	ctx    context.Context // ends when leadership is lost
	cancel context.CancelFunc

	mu sync.Mutex
	// guarded by mu:
	groups map[string]*group
	// txnGroups lists, per producer id, the groups holding offsets of its
	// open transaction.
	txnGroups map[int64]map[string]struct{}
}

// groupCoordinator holds the partitions this broker coordinates groups for.
type groupCoordinator struct {
	mu    sync.RWMutex
	parts map[int32]*groupPartition
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

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

// appendGroupRecords writes records to the group's partition and waits
// until they are committed; it returns the first record's offset. With
// pid >= 0 the batch is transactional for that producer.
func (c *Coordinator) appendGroupRecords(ctx context.Context, gp *groupPartition, recs []records.Record, pid int64, epoch int16) (int64, error) {
	if gp.ctx.Err() != nil {
		return -1, kerr.NotCoordinator
	}
	now := c.nowMs()
	for i := range recs {
		recs[i].OffsetDelta = int32(i)
	}
	b := &records.Batch{
		FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		Records: recs,
	}
	if pid >= 0 {
		b.ProducerID, b.ProducerEpoch, b.Attributes = pid, epoch, records.AttrTransactional
	}
	batch, err := records.Build(b)
	if err != nil {
		return -1, err
	}
	base, err := c.host.AppendInternal(ctx, OffsetsTopic, gp.id, batch)
	if err != nil {
		c.log.Warn().Err(err).Int32("partition", gp.id).Msg("writing to __consumer_offsets")
		var ke *kerr.Error
		if errors.As(err, &ke) {
			switch ke {
			case kerr.NotLeaderForPartition, kerr.UnknownTopicOrPartition, kerr.FencedLeaderEpoch:
				return -1, kerr.NotCoordinator
			case kerr.InvalidProducerEpoch, kerr.ProducerFenced:
				return -1, ke
			case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
				return -1, kerr.InvalidCommitOffsetSize
			}
		}
		return -1, kerr.CoordinatorNotAvailable
	}
	return base, nil
}

// persistGroup writes a locked group's settled state.
func (c *Coordinator) persistGroup(ctx context.Context, g *group) error {
	_, err := c.appendGroupRecords(ctx, g.part, []records.Record{{Key: encodeGroupKey(g.id), Value: encodeGroupValue(g)}}, -1, -1)
	if err == nil {
		g.stored = true
	}
	return err
}

// persistGroupAsync writes a locked group's state once the caller lets go
// of it, for transitions made by timers.
func (c *Coordinator) persistGroupAsync(g *group) {
	c.grp.wg.Add(1)
	go func() {
		defer c.grp.wg.Done()
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.state == groupDead {
			return
		}
		ctx, cancel := context.WithTimeout(g.part.ctx, 30*time.Second)
		defer cancel()
		if err := c.persistGroup(ctx, g); err != nil {
			c.log.Warn().Err(err).Str("group", g.id).Msg("storing group state")
		}
	}()
}

// groupPartitionOf returns the loaded partition coordinating group id.
func (c *Coordinator) groupPartitionOf(id string) (*groupPartition, error) {
	n := c.cfg.OffsetsTopicPartitions
	if n <= 0 {
		return nil, kerr.CoordinatorNotAvailable
	}
	p := partitionFor(id, n)
	c.grp.mu.RLock()
	gp := c.grp.parts[p]
	c.grp.mu.RUnlock()
	if gp == nil {
		return nil, kerr.NotCoordinator
	}
	select {
	case <-gp.loaded:
	default:
		return nil, kerr.CoordinatorLoadInProgress
	}
	if gp.ctx.Err() != nil {
		return nil, kerr.NotCoordinator
	}
	return gp, nil
}

// lockGroup finds group id and locks it; with create, a missing group is
// made (Empty). It returns a nil group, unlocked, when the group is
// unknown and create is false.
func (c *Coordinator) lockGroup(id string, create bool) (*group, error) {
	for {
		gp, err := c.groupPartitionOf(id)
		if err != nil {
			return nil, err
		}
		gp.mu.Lock()
		g := gp.groups[id]
		if g == nil {
			if !create {
				gp.mu.Unlock()
				return nil, nil
			}
			g = newGroup(id, gp)
			gp.groups[id] = g
		}
		gp.mu.Unlock()
		g.mu.Lock()
		gp.mu.Lock()
		current := gp.groups[id] == g
		gp.mu.Unlock()
		if current {
			return g, nil
		}
		g.mu.Unlock()
		if gp.ctx.Err() != nil {
			return nil, kerr.NotCoordinator
		}
	}
}

// removeGroup forgets a locked group that has no members and no offsets
// left: it is Dead from now on.
func (c *Coordinator) removeGroup(g *group) {
	g.setState(groupDead)
	g.rebalanceSeq++
	g.part.mu.Lock()
	if g.part.groups[g.id] == g {
		delete(g.part.groups, g.id)
	}
	g.part.mu.Unlock()
}

// groupLeadership loads or unloads the groups of a __consumer_offsets
// partition.
func (c *Coordinator) groupLeadership(partition int32, leader bool, epoch int32) {
	c.grp.mu.Lock()
	old := c.grp.parts[partition]
	if old != nil {
		old.cancel()
		delete(c.grp.parts, partition)
	}
	var gp *groupPartition
	if leader {
		ctx, cancel := context.WithCancel(context.Background())
		gp = &groupPartition{id: partition, epoch: epoch, loaded: make(chan struct{}), ctx: ctx, cancel: cancel, groups: make(map[string]*group)}
		c.grp.parts[partition] = gp
	}
	c.grp.mu.Unlock()
	if old != nil {
		old.mu.Lock()
		groups := old.groups
		old.groups = make(map[string]*group)
		old.mu.Unlock()
		for _, g := range groups {
			c.shutdownGroup(g)
		}
		if len(groups) > 0 {
			c.log.Info().Int32("partition", partition).Int("groups", len(groups)).Msg("unloaded groups")
		}
	}
	if gp == nil {
		return
	}
	c.grp.wg.Add(1)
	go func() {
		defer c.grp.wg.Done()
		c.loadGroupPartition(gp)
	}()
}

// loadedGroup is a group as replayed from the log.
type loadedGroup struct {
	meta       *kmsg.GroupMetadataValue
	offsets    map[topicPartition]offsetEntry
	pendingTxn map[int64]map[topicPartition]offsetEntry
}

func (l *loadedGroup) empty() bool {
	return l.meta == nil && len(l.offsets) == 0 && len(l.pendingTxn) == 0
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

// apply folds whole batches into the replay and returns the offset after
// the last one.
func (r *groupReplay) apply(data []byte) (int64, error) {
	next := int64(-1)
	var firstErr error
	_, err := records.Split(data, func(batch []byte) error {
		h, err := records.ParseHeader(batch)
		if err != nil {
			return err
		}
		next = h.NextOffset()
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
			return nil
		}
		pid := int64(-1)
		if h.IsTransactional() {
			pid = h.ProducerID
		}
		off := h.BaseOffset
		err = records.Each(batch, func(rec *records.Record) error {
			logOffset := off + int64(rec.OffsetDelta)
			if err := r.record(rec, pid, logOffset); err != nil {
				return err
			}
			return nil
		})
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return nil
	})
	if err == nil {
		err = firstErr
	}
	return next, err
}

func (r *groupReplay) record(rec *records.Record, pid int64, logOffset int64) error {
	if len(rec.Key) < 2 {
		return fmt.Errorf("__consumer_offsets key of %d bytes", len(rec.Key))
	}
	switch version := int16(binary.BigEndian.Uint16(rec.Key)); version {
	case 0, 1:
		k := kmsg.NewOffsetCommitKey()
		if err := k.ReadFrom(rec.Key); err != nil {
			return fmt.Errorf("offset key: %w", err)
		}
		tp := topicPartition{k.Topic, k.Partition}
		l := r.group(k.Group)
		if rec.Value == nil {
			if pid < 0 {
				delete(l.offsets, tp)
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
			// The group was deleted, and its offsets with it.
			l.meta = nil
			l.offsets = make(map[topicPartition]offsetEntry)
			return nil
		}
		v := kmsg.NewGroupMetadataValue()
		if err := v.ReadFrom(rec.Value); err != nil {
			return fmt.Errorf("group value for %s: %w", k.Group, err)
		}
		l.meta = &v
	default:
		// Newer record kinds (KIP-848 consumer groups, share groups) are
		// not Gregor's; skip them as an older Kafka would not.
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

// loadGroupPartition replays a partition into groups.
func (c *Coordinator) loadGroupPartition(gp *groupPartition) {
	start := time.Now()
	replay := newGroupReplay()
	c.replayPartition(gp.ctx, OffsetsTopic, gp.id, replay.apply)
	if gp.ctx.Err() != nil {
		return
	}
	gp.mu.Lock()
	var withMembers []*group
	for id, l := range replay.groups {
		if l.empty() {
			continue
		}
		g := newGroup(id, gp)
		g.offsets = l.offsets
		g.pendingTxn = l.pendingTxn
		if v := l.meta; v != nil {
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
				withMembers = append(withMembers, g)
			}
		}
		gp.groups[id] = g
	}
	gp.txnGroups = replay.pids
	loaded := len(gp.groups)
	gp.mu.Unlock()
	// Members of a loaded group get a full session to find the new
	// coordinator before they are dropped.
	for _, g := range withMembers {
		g.mu.Lock()
		for _, m := range g.members {
			c.scheduleSession(g, m)
		}
		g.mu.Unlock()
	}
	close(gp.loaded)
	c.log.Info().Int32("partition", gp.id).Int32("coordinator_epoch", gp.epoch).Int("groups", loaded).
		Dur("took", time.Since(start)).Msg("loaded groups")
}

// closeGroups stops group timers and background work.
func (c *Coordinator) closeGroups() {
	c.grp.once.Do(func() { close(c.grp.stop) })
	c.grp.mu.Lock()
	parts := c.grp.parts
	c.grp.parts = make(map[int32]*groupPartition)
	c.grp.mu.Unlock()
	for _, gp := range parts {
		gp.cancel()
		gp.mu.Lock()
		groups := gp.groups
		gp.mu.Unlock()
		for _, g := range groups {
			c.shutdownGroup(g)
		}
	}
	c.grp.wg.Wait()
}
