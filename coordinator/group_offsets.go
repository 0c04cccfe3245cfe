package coordinator

// Committed offsets: plain commits, transactional commits settled by the
// transaction's marker, deletion and expiry.

import (
	"context"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/records"
	"gregor/coordinator/runtime"
)

// maxOffsetMetadata is offset.metadata.max.bytes at Kafka's default.
const maxOffsetMetadata = 4096

func sortedTPs[V any](m map[topicPartition]V) []topicPartition {
	out := make([]topicPartition, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out
}

// pendingCommit is an offset commit appended for a group, to be applied
// once it is committed.
type pendingCommit struct {
	g       *group
	pid     int64 // the transaction's producer, or -1 for a plain commit
	tps     []topicPartition
	entries map[topicPartition]offsetEntry
	w       runtime.Write
	done    chan struct{} // closed once the commit is applied or failed
}

// appendOffsets writes offsets for a locked group, in pid's transaction
// when pid >= 0, and marks them pending. The caller lets go of the group
// and calls completeCommit.
func (c *groupCoordinator) appendOffsets(g *group, entries map[topicPartition]offsetEntry, pid int64, epoch int16) (*pendingCommit, error) {
	tps := sortedTPs(entries)
	recs := make([]records.Record, 0, len(tps))
	for _, tp := range tps {
		recs = append(recs, records.Record{Key: encodeOffsetKey(g.id, tp), Value: encodeOffsetValue(entries[tp])})
	}
	w, err := c.appendRecords(g, recs, pid, epoch)
	if err != nil {
		return nil, err
	}
	pc := &pendingCommit{g: g, pid: pid, tps: tps, entries: entries, w: w, done: make(chan struct{})}
	g.inflight[pc] = struct{}{}
	return pc, nil
}

// completeCommit waits, holding no lock, until a commit's records are
// committed and then applies them: a plain commit's offsets become the
// group's (unless a later commit got there first), a transaction's wait
// for its marker.
func (c *groupCoordinator) completeCommit(ctx context.Context, pc *pendingCommit) error {
	err := awaitWrite(ctx, pc.w, c.commitTimeout())
	g := pc.g
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.inflight, pc)
	defer close(pc.done)
	if err != nil {
		return err
	}
	if pc.pid < 0 {
		for i, tp := range pc.tps {
			e, ok := pc.entries[tp]
			if !ok {
				continue // deleted since (forgetOffsets)
			}
			e.logOffset = pc.w.Base + int64(i)
			if cur, ok := g.offsets[tp]; !ok || cur.logOffset < e.logOffset {
				g.offsets[tp] = e
			}
		}
		return nil
	}
	pending := g.pendingTxn[pc.pid]
	if pending == nil {
		pending = make(map[topicPartition]offsetEntry)
		g.pendingTxn[pc.pid] = pending
	}
	for i, tp := range pc.tps {
		e, ok := pc.entries[tp]
		if !ok {
			continue // deleted since (forgetOffsets)
		}
		e.logOffset = pc.w.Base + int64(i)
		pending[tp] = e
	}
	g.part.addTxnGroup(pc.pid, g.id)
	return nil
}

// addTxnGroup notes that a producer's open transaction holds offsets of a
// group.
func (gs *groupShard) addTxnGroup(pid int64, group string) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.txnGroups[pid] == nil {
		gs.txnGroups[pid] = make(map[string]struct{})
	}
	gs.txnGroups[pid][group] = struct{}{}
}

// txnOffsetsCompleted is called when a commit or abort marker for a
// producer lands on a __consumer_offsets partition this broker leads: the
// offsets the producer committed in its transaction become the groups'
// committed offsets, or are dropped. A plain commit written after the
// transactional one wins.
func (c *groupCoordinator) txnOffsetsCompleted(ctx context.Context, partition int32, pid int64, commit bool) {
	s := c.rt.Current(partition)
	if s == nil || !s.AwaitLoaded(ctx) {
		return // the partition is gone; its next leader replays the marker
	}
	gs := s.Machine
	gs.mu.Lock()
	ids := gs.txnGroups[pid]
	delete(gs.txnGroups, pid)
	var groups []*group
	for id := range ids {
		if g := gs.groups[id]; g != nil {
			groups = append(groups, g)
		}
	}
	gs.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		if commit {
			for tp, e := range g.pendingTxn[pid] {
				if cur, ok := g.offsets[tp]; !ok || cur.logOffset < e.logOffset {
					g.offsets[tp] = e
				}
			}
		}
		delete(g.pendingTxn, pid)
		g.mu.Unlock()
	}
}

// hasPendingTxnOffset reports whether an open transaction holds an offset
// for tp in a locked group: a require_stable OffsetFetch answers
// UNSTABLE_OFFSET_COMMIT for it, as Kafka's OffsetMetadataManager does.
func (g *group) hasPendingTxnOffset(tp topicPartition) bool {
	for _, p := range g.pendingTxn {
		if _, ok := p[tp]; ok {
			return true
		}
	}
	return false
}

// offsetPending reports whether a locked group has an offset for tp in
// an open transaction or in a commit in flight. Kafka does not expire
// such a partition's offset: its tombstone would cancel the pending one
// (forgetOffsets), and a commit in flight is newer than what expires.
func (g *group) offsetPending(tp topicPartition) bool {
	return g.hasPendingTxnOffset(tp) || g.inFlight(tp)
}

// holdsOffset reports whether a locked group holds an offset for tp:
// committed, pending in an open transaction, or in a commit appended and
// not yet applied (Kafka's state has it from its append). OffsetDelete
// tombstones such a partition, as Kafka's deleteOffsets does.
func (g *group) holdsOffset(tp topicPartition) bool {
	if _, ok := g.offsets[tp]; ok {
		return true
	}
	return g.offsetPending(tp)
}

// inFlight reports whether a commit of tp was appended to a locked group
// and is not yet applied.
func (g *group) inFlight(tp topicPartition) bool {
	for pc := range g.inflight {
		if _, ok := pc.entries[tp]; ok {
			return true
		}
	}
	return false
}

// offsetPartitions are the partitions a locked group holds offsets for
// (holdsOffset), sorted: DeleteGroups tombstones them all, as Kafka's
// deleteAllOffsets tombstones those with committed or pending
// transactional offsets.
func (g *group) offsetPartitions() []topicPartition {
	all := make(map[topicPartition]struct{}, len(g.offsets))
	for tp := range g.offsets {
		all[tp] = struct{}{}
	}
	for _, p := range g.pendingTxn {
		for tp := range p {
			all[tp] = struct{}{}
		}
	}
	for pc := range g.inflight {
		for tp := range pc.entries {
			all[tp] = struct{}{}
		}
	}
	return sortedTPs(all)
}

// forgetOffsets drops tps from a locked group whose tombstones were just
// appended: the committed offsets, those pending in open transactions and
// those of commits in flight. In Kafka replaying a tombstone removes the
// partition's pending offsets from every open transaction, so the
// transaction's commit marker brings nothing back; a commit in flight was
// appended before the tombstone, which wins over it on replay.
func (g *group) forgetOffsets(tps []topicPartition) {
	for _, tp := range tps {
		delete(g.offsets, tp)
		for pid, p := range g.pendingTxn {
			delete(p, tp)
			if len(p) == 0 {
				delete(g.pendingTxn, pid)
			}
		}
		for pc := range g.inflight {
			delete(pc.entries, tp)
		}
	}
}

// awaitInFlightCommits waits until the commits of want (nil: of any
// partition) that are in flight in group id now are applied, for up to
// the commit timeout. Kafka runs a require_stable OffsetFetch as a write
// of no records, which completes after every write appended before it:
// it reads what the commits before it wrote, not UNSTABLE_OFFSET_COMMIT.
// Commits appended later are not waited for. A wait that times out is
// NOT_COORDINATOR, as Kafka remaps it (older consumers retry only that).
func (c *groupCoordinator) awaitInFlightCommits(ctx context.Context, id string, want []topicPartition) *kerr.Error {
	g, err := c.lockGroup(id, false)
	if err != nil {
		return c.kerrOf(err)
	}
	if g == nil {
		return nil
	}
	var wanted map[topicPartition]bool
	if want != nil {
		wanted = make(map[topicPartition]bool, len(want))
		for _, tp := range want {
			wanted[tp] = true
		}
	}
	var waits []chan struct{}
	for pc := range g.inflight {
		if want == nil || slices.ContainsFunc(pc.tps, func(tp topicPartition) bool { return wanted[tp] }) {
			waits = append(waits, pc.done)
		}
	}
	g.mu.Unlock()
	if len(waits) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.commitTimeout())
	defer cancel()
	for _, done := range waits {
		select {
		case <-done:
		case <-ctx.Done():
			return kerr.NotCoordinator
		}
	}
	return nil
}

// deleteOffsets forgets offsets of a locked group, and the group's
// metadata with withGroup, and appends their tombstones; the caller lets
// go of the group before waiting for the write. The forgetting is not
// undone if the write fails: the tombstones are then lost with the
// coordinator's leadership, and the next coordinator loads the offsets
// again.
func (c *groupCoordinator) deleteOffsets(g *group, tps []topicPartition, withGroup bool) (runtime.Write, error) {
	var recs []records.Record
	for _, tp := range tps {
		recs = append(recs, records.Record{Key: encodeOffsetKey(g.id, tp)})
	}
	if withGroup && g.stored {
		recs = append(recs, records.Record{Key: encodeGroupKey(g.id)})
	}
	if len(recs) == 0 {
		return runtime.Write{}, nil
	}
	// Tombstones need not be written together: a group with offsets of
	// tens of thousands of partitions is deleted in several batches.
	w, err := g.part.shard.AppendSplit(recs, c.nowMs())
	if err != nil {
		return w, err
	}
	g.forgetOffsets(tps)
	if withGroup {
		g.stored = false
	}
	return w, nil
}

// expireOffsets drops offsets past offsets.retention.minutes, as Kafka
// 2.1+ does: a group's offsets expire once it has been Empty for the
// retention period (a group without a protocol, used only for commits,
// counts from each commit); an explicit expiry from old OffsetCommit
// versions is honoured. A group left with nothing is deleted.
func (c *groupCoordinator) expireOffsets() {
	retention := c.cfg.OffsetsRetention
	if retention <= 0 {
		return
	}
	now := c.nowMs()
	for _, s := range c.rt.Loaded() {
		for _, g := range s.Machine.list() {
			c.expireGroup(g, now, retention.Milliseconds())
		}
	}
}

func (c *groupCoordinator) expireGroup(g *group, now, retentionMs int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == groupDead {
		return
	}
	// Kafka's rules (KIP-211, KIP-496): an Empty group's offsets expire a
	// retention period after it emptied (a group without a protocol, used
	// only for commits, counts from each commit); a Stable consumer
	// group's offsets of topics no member subscribes to expire a period
	// after their commit; nothing else expires. An explicit expiry from
	// OffsetCommit v2-v4 replaces the period where offsets may expire.
	if g.share != nil {
		return // share groups commit no offsets
	}
	if g.consumer != nil {
		c.expireConsumerGroup(g, now, retentionMs)
		return
	}
	switch {
	case g.state == groupEmpty:
	case g.state == groupStable && g.protocolType == consumerProtocolType && g.subscribed != nil:
	default:
		return
	}
	var expired []topicPartition
	for tp, e := range g.offsets {
		if g.isSubscribedToTopic(tp.topic) || g.offsetPending(tp) {
			continue
		}
		base := e.commitMs
		if g.state == groupEmpty && g.protocolType != "" {
			base = g.stateMs
		}
		if e.expireMs >= 0 && now >= e.expireMs || e.expireMs < 0 && now-base >= retentionMs {
			expired = append(expired, tp)
		}
	}
	sort.Slice(expired, func(i, j int) bool {
		if expired[i].topic != expired[j].topic {
			return expired[i].topic < expired[j].topic
		}
		return expired[i].partition < expired[j].partition
	})
	dropGroup := g.state == groupEmpty && len(g.offsets) == len(expired) && len(g.pendingTxn) == 0 && len(g.inflight) == 0
	if len(expired) == 0 && !dropGroup {
		return
	}
	if _, err := c.deleteOffsets(g, expired, dropGroup); err != nil {
		c.log.Warn().Err(err).Str("group", g.id).Msg("expiring offsets")
		return
	}
	c.log.Info().Str("group", g.id).Int("offsets", len(expired)).Bool("group_removed", dropGroup).Msg("expired offsets")
	if dropGroup {
		c.removeGroup(g)
	}
}

// expireConsumerGroup drops a locked consumer group's offsets of topics
// no member subscribes to a retention period after their commit, as
// Kafka's ConsumerGroup expiration condition; an empty group left without
// offsets is deleted.
func (c *groupCoordinator) expireConsumerGroup(g *group, now, retentionMs int64) {
	subscribed := g.consumer.subscribedNames("", nil)
	var expired []topicPartition
	for _, tp := range sortedTPs(g.offsets) {
		e := g.offsets[tp]
		if subscribed[tp.topic] || g.offsetPending(tp) {
			continue
		}
		if e.expireMs >= 0 && now >= e.expireMs || e.expireMs < 0 && now-e.commitMs >= retentionMs {
			expired = append(expired, tp)
		}
	}
	empty := len(g.consumer.members) == 0 && len(g.offsets) == len(expired) && len(g.pendingTxn) == 0 && len(g.inflight) == 0
	if len(expired) > 0 {
		if _, err := c.deleteOffsets(g, expired, false); err != nil {
			c.log.Warn().Err(err).Str("group", g.id).Msg("expiring offsets")
			return
		}
		c.log.Info().Str("group", g.id).Int("offsets", len(expired)).Msg("expired offsets")
	}
	if empty {
		if _, err := c.deleteConsumerLocked(g); err != nil {
			c.log.Warn().Err(err).Str("group", g.id).Msg("deleting the expired consumer group")
		}
	}
}
