package coordinator

// Committed offsets: plain commits, transactional commits settled by the
// transaction's marker, deletion and expiry.

import (
	"context"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/records"
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

// commitOffsets writes offsets for a locked group and makes them the
// committed ones once the write is committed.
func (c *Coordinator) commitOffsets(ctx context.Context, g *group, entries map[topicPartition]offsetEntry) error {
	if len(entries) == 0 {
		return nil
	}
	tps := sortedTPs(entries)
	recs := make([]records.Record, 0, len(tps))
	for _, tp := range tps {
		recs = append(recs, records.Record{Key: encodeOffsetKey(g.id, tp), Value: encodeOffsetValue(entries[tp])})
	}
	base, err := c.appendGroupRecords(ctx, g.part, recs, -1, -1)
	if err != nil {
		return err
	}
	for i, tp := range tps {
		e := entries[tp]
		e.logOffset = base + int64(i)
		g.offsets[tp] = e
	}
	return nil
}

// commitTxnOffsets writes offsets a transactional producer commits for a
// locked group; they count once the transaction commits.
func (c *Coordinator) commitTxnOffsets(ctx context.Context, g *group, pid int64, epoch int16, entries map[topicPartition]offsetEntry) error {
	if len(entries) == 0 {
		return nil
	}
	tps := sortedTPs(entries)
	recs := make([]records.Record, 0, len(tps))
	for _, tp := range tps {
		recs = append(recs, records.Record{Key: encodeOffsetKey(g.id, tp), Value: encodeOffsetValue(entries[tp])})
	}
	base, err := c.appendGroupRecords(ctx, g.part, recs, pid, epoch)
	if err != nil {
		return err
	}
	pending := g.pendingTxn[pid]
	if pending == nil {
		pending = make(map[topicPartition]offsetEntry)
		g.pendingTxn[pid] = pending
	}
	for i, tp := range tps {
		e := entries[tp]
		e.logOffset = base + int64(i)
		pending[tp] = e
	}
	gp := g.part
	gp.mu.Lock()
	if gp.txnGroups == nil {
		gp.txnGroups = make(map[int64]map[string]struct{})
	}
	if gp.txnGroups[pid] == nil {
		gp.txnGroups[pid] = make(map[string]struct{})
	}
	gp.txnGroups[pid][g.id] = struct{}{}
	gp.mu.Unlock()
	return nil
}

// txnOffsetsCompleted is called when a commit or abort marker for a
// producer lands on a __consumer_offsets partition this broker leads: the
// offsets the producer committed in its transaction become the groups'
// committed offsets, or are dropped. A plain commit written after the
// transactional one wins.
func (c *Coordinator) txnOffsetsCompleted(partition int32, pid int64, commit bool) {
	c.grp.mu.RLock()
	gp := c.grp.parts[partition]
	c.grp.mu.RUnlock()
	if gp == nil {
		return
	}
	select {
	case <-gp.loaded:
	case <-gp.ctx.Done():
		return // the partition is gone; its next leader replays the marker
	}
	gp.mu.Lock()
	ids := gp.txnGroups[pid]
	delete(gp.txnGroups, pid)
	var groups []*group
	for id := range ids {
		if g := gp.groups[id]; g != nil {
			groups = append(groups, g)
		}
	}
	gp.mu.Unlock()
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

// hasPendingTxnOffset reports whether a transaction holds an uncommitted
// offset for tp in a locked group.
func (g *group) hasPendingTxnOffset(tp topicPartition) bool {
	for _, p := range g.pendingTxn {
		if _, ok := p[tp]; ok {
			return true
		}
	}
	return false
}

// deleteOffsets writes tombstones for offsets of a locked group and
// forgets them.
func (c *Coordinator) deleteOffsets(ctx context.Context, g *group, tps []topicPartition, withGroup bool) error {
	var recs []records.Record
	for _, tp := range tps {
		recs = append(recs, records.Record{Key: encodeOffsetKey(g.id, tp)})
	}
	if withGroup && g.stored {
		recs = append(recs, records.Record{Key: encodeGroupKey(g.id)})
	}
	if len(recs) == 0 {
		return nil
	}
	if _, err := c.appendGroupRecords(ctx, g.part, recs, -1, -1); err != nil {
		return err
	}
	for _, tp := range tps {
		delete(g.offsets, tp)
	}
	if withGroup {
		g.stored = false
	}
	return nil
}

// expireOffsets drops offsets past offsets.retention.minutes, as Kafka
// 2.1+ does: a group's offsets expire once it has been Empty for the
// retention period (a group without a protocol, used only for commits,
// counts from each commit); an explicit expiry from old OffsetCommit
// versions is honoured. A group left with nothing is deleted.
func (c *Coordinator) expireOffsets() {
	retention := c.cfg.OffsetsRetention
	if retention <= 0 {
		return
	}
	c.grp.mu.RLock()
	parts := make([]*groupPartition, 0, len(c.grp.parts))
	for _, gp := range c.grp.parts {
		parts = append(parts, gp)
	}
	c.grp.mu.RUnlock()
	now := c.nowMs()
	for _, gp := range parts {
		select {
		case <-gp.loaded:
		default:
			continue
		}
		gp.mu.Lock()
		groups := make([]*group, 0, len(gp.groups))
		for _, g := range gp.groups {
			groups = append(groups, g)
		}
		gp.mu.Unlock()
		for _, g := range groups {
			c.expireGroup(gp.ctx, g, now, retention.Milliseconds())
		}
	}
}

func (c *Coordinator) expireGroup(ctx context.Context, g *group, now, retentionMs int64) {
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
	// OffsetCommit v1-v4 replaces the period where offsets may expire.
	var subscribed map[string]bool
	switch {
	case g.state == groupEmpty:
	case g.state == groupStable && g.protocolType == "consumer":
		var known bool
		if subscribed, known = g.subscribedTopics(); !known {
			return
		}
	default:
		return
	}
	var expired []topicPartition
	for tp, e := range g.offsets {
		if subscribed[tp.topic] {
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
	dropGroup := g.state == groupEmpty && len(g.offsets) == len(expired) && len(g.pendingTxn) == 0
	if len(expired) == 0 && !dropGroup {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.deleteOffsets(ctx, g, expired, dropGroup); err != nil {
		c.log.Warn().Err(err).Str("group", g.id).Msg("expiring offsets")
		return
	}
	c.log.Info().Str("group", g.id).Int("offsets", len(expired)).Bool("group_removed", dropGroup).Msg("expired offsets")
	if dropGroup {
		c.removeGroup(g)
	}
}

// startGroups starts the group coordinator's background work.
func (c *Coordinator) startGroups() {
	every := c.cfg.OffsetsRetentionCheck
	if every <= 0 {
		every = 10 * time.Minute
	}
	c.grp.wg.Add(1)
	go func() {
		defer c.grp.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-c.grp.stop:
				return
			case <-t.C:
				c.expireOffsets()
			}
		}
	}()
}

// errNotCoordinatorFor maps a lookup error for the APIs that report
// coordinator errors per group.
func groupLookupError(err error) *kerr.Error {
	if ke, ok := err.(*kerr.Error); ok {
		return ke
	}
	return kerr.CoordinatorNotAvailable
}
