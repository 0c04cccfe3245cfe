package coordinator

// The group coordinator's shards: one per __consumer_offsets partition
// this broker leads, holding the groups that hash to it.
//
// Locks: groupShard.mu (the shard's group map) is a leaf; a group's own mu
// is taken before it, never after. Neither is held while waiting for
// replication: a request appends its records under the group's lock, lets
// go, waits for the high watermark, and takes the lock again to apply
// what was committed (see commitOffsets and sync).

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/records"
	"gregor/coordinator/runtime"
	"gregor/protocol"
)

// groupCoordinator runs classic consumer groups on the runtime.
type groupCoordinator struct {
	base
	rt *runtime.Runtime[*groupShard]
	// txns adds a group's offsets partition to a transaction for
	// TxnOffsetCommit v5 (transaction version 2).
	txns *txnCoordinator
	// co reaches the share coordinators (share groups initialize,
	// read and delete share partition state through it).
	co *Coordinator

	bg background // offset expiry
}

func newGroupCoordinator(b base) *groupCoordinator {
	c := &groupCoordinator{base: b, bg: newBackground()}
	c.rt = runtime.New(OffsetsTopic, b.host, c.newShard, b.log)
	c.bg.every(c.cfg.OffsetsRetentionCheck, 10*time.Minute, c.expireOffsets)
	return c
}

// apis are the consumer group and offset APIs: the classic group
// protocol, and the consumer group protocol (KIP-848) unless
// group.coordinator.rebalance.protocols leaves it out.
func (c *groupCoordinator) apis() []protocol.API {
	apis := []protocol.API{
		{Key: 8, Min: 0, Max: 10, Handler: c.handleOffsetCommit},
		{Key: 9, Min: 0, Max: 10, Handler: c.handleOffsetFetch},
		{Key: 11, Min: 0, Max: 9, Handler: c.handleJoinGroup},
		{Key: 12, Min: 0, Max: 4, Handler: c.handleHeartbeat},
		{Key: 13, Min: 0, Max: 5, Handler: c.handleLeaveGroup},
		{Key: 14, Min: 0, Max: 5, Handler: c.handleSyncGroup},
		{Key: 15, Min: 0, Max: 6, Handler: c.handleDescribeGroups},
		{Key: 16, Min: 0, Max: 5, Handler: c.handleListGroups},
		{Key: 28, Min: 0, Max: 5, Handler: c.handleTxnOffsetCommit},
		{Key: 42, Min: 0, Max: 3, Handler: c.handleDeleteGroups},
		{Key: 47, Min: 0, Max: 0, Handler: c.handleOffsetDelete},
	}
	if c.cfg.ConsumerProtocol {
		apis = append(apis,
			protocol.API{Key: 68, Min: 0, Max: 1, Handler: c.handleConsumerGroupHeartbeat},
			protocol.API{Key: 69, Min: 0, Max: 1, Handler: c.handleConsumerGroupDescribe})
	}
	if c.cfg.ShareGroupEnable {
		apis = append(apis,
			protocol.API{Key: 76, Min: 0, Max: 1, Handler: c.handleShareGroupHeartbeat},
			protocol.API{Key: 77, Min: 0, Max: 1, Handler: c.handleShareGroupDescribe},
			protocol.API{Key: 90, Min: 0, Max: 1, Handler: c.handleDescribeShareGroupOffsets},
			protocol.API{Key: 91, Min: 0, Max: 0, Handler: c.handleAlterShareGroupOffsets},
			protocol.API{Key: 92, Min: 0, Max: 0, Handler: c.handleDeleteShareGroupOffsets})
	}
	return apis
}

// close stops the background work and unloads every shard.
func (c *groupCoordinator) close() {
	c.bg.close()
	c.rt.Close()
}

// groupShard is the state machine of one __consumer_offsets partition.
type groupShard struct {
	c     *groupCoordinator
	shard *runtime.Shard[*groupShard]
	// replay collects the log while loading; nil afterwards.
	replay *groupReplay

	mu sync.Mutex
	// guarded by mu:
	groups map[string]*group
	// txnGroups lists, per producer id, the groups holding offsets of its
	// open transaction.
	txnGroups map[int64]map[string]struct{}
}

func (c *groupCoordinator) newShard(s *runtime.Shard[*groupShard]) *groupShard {
	return &groupShard{c: c, shard: s, replay: newGroupReplay(), groups: make(map[string]*group), txnGroups: make(map[int64]map[string]struct{})}
}

// Replay folds a committed batch into the groups being loaded.
func (gs *groupShard) Replay(batch []byte) error { return gs.replay.apply(batch) }

// Loaded builds the groups from the replayed log. Members of a loaded
// group get a full session to find the new coordinator before they are
// dropped.
func (gs *groupShard) Loaded() {
	c := gs.c
	gs.mu.Lock()
	var withMembers []*group
	for id, l := range gs.replay.groups {
		if l.empty() {
			continue
		}
		g := l.build(id, gs)
		if len(g.members) > 0 || g.consumer != nil || g.share != nil {
			withMembers = append(withMembers, g)
		}
		gs.groups[id] = g
	}
	gs.txnGroups = gs.replay.pids
	gs.replay = nil
	n := len(gs.groups)
	gs.mu.Unlock()
	for _, g := range withMembers {
		g.mu.Lock()
		for _, m := range g.members {
			c.scheduleSession(g, m)
		}
		if limit := c.cfg.MaxGroupSize; limit > 0 && int32(len(g.members)) > limit {
			// group.max.size was lowered: a rebalance lets the members
			// commit and rejoin, and those past the limit are refused
			// (acceptJoin), as Kafka does with a freshly loaded group.
			c.prepareRebalance(g, fmt.Sprintf("loaded with %d members, over group.max.size %d", len(g.members), limit))
		}
		if g.consumer != nil {
			c.startMemberTimers(g)
		}
		if g.share != nil {
			for _, m := range g.share.members {
				c.armShareSession(g, m)
			}
		}
		g.mu.Unlock()
	}
	c.log.Info().Int32("partition", gs.shard.Partition).Int("groups", n).Msg("loaded groups")
}

// Unloaded answers every waiting request of the shard's groups with
// NOT_COORDINATOR and stops their timers.
func (gs *groupShard) Unloaded() {
	gs.mu.Lock()
	groups := gs.groups
	gs.groups = make(map[string]*group)
	gs.mu.Unlock()
	for _, g := range groups {
		gs.c.shutdownGroup(g)
	}
	if len(groups) > 0 {
		gs.c.log.Info().Int32("partition", gs.shard.Partition).Int("groups", len(groups)).Msg("unloaded groups")
	}
}

// list returns the shard's groups.
func (gs *groupShard) list() []*group {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	out := make([]*group, 0, len(gs.groups))
	for _, g := range gs.groups {
		out = append(out, g)
	}
	return out
}

// shardOf returns the loaded shard coordinating group id.
func (c *groupCoordinator) shardOf(id string) (*groupShard, error) {
	n := c.offsetsPartitions()
	if n <= 0 {
		return nil, kerr.CoordinatorNotAvailable
	}
	s, err := c.rt.Shard(partitionFor(id, n))
	if err != nil {
		return nil, err
	}
	return s.Machine, nil
}

// lockGroup finds group id and locks it; with create, a missing group is
// made (Empty). It returns a nil group, unlocked, when the group is
// unknown and create is false.
func (c *groupCoordinator) lockGroup(id string, create bool) (*group, error) {
	for {
		gs, err := c.shardOf(id)
		if err != nil {
			return nil, err
		}
		gs.mu.Lock()
		g := gs.groups[id]
		if g == nil {
			if !create {
				gs.mu.Unlock()
				return nil, nil
			}
			g = newGroup(id, gs)
			gs.groups[id] = g
		}
		gs.mu.Unlock()
		g.mu.Lock()
		gs.mu.Lock()
		current := gs.groups[id] == g
		gs.mu.Unlock()
		if current {
			return g, nil
		}
		g.mu.Unlock()
		if !gs.shard.Active() {
			return nil, kerr.NotCoordinator
		}
	}
}

// removeGroup forgets a locked group that has no members and no offsets
// left: it is Dead from now on.
func (c *groupCoordinator) removeGroup(g *group) {
	stopConsumerTimers(g.consumer)
	stopShareTimers(g.share)
	g.consumer, g.share = nil, nil
	g.setState(groupDead)
	g.rebalanceSeq++
	g.part.mu.Lock()
	if g.part.groups[g.id] == g {
		delete(g.part.groups, g.id)
	}
	g.part.mu.Unlock()
}

// appendRecords appends records for a locked group to its partition (a
// transactional batch of pid when pid >= 0) and returns the write; the
// caller unlocks the group before waiting for it. A batch past the
// offsets topic's max.message.bytes is UNKNOWN_SERVER_ERROR, as Kafka 4's
// coordinator answers it.
func (c *groupCoordinator) appendRecords(g *group, recs []records.Record, pid int64, epoch int16) (runtime.Write, error) {
	return g.part.shard.Append(recs, pid, epoch, c.nowMs())
}

// commitTimeout bounds how long a request waits for its group records to
// be replicated (offsets.commit.timeout.ms).
func (b base) commitTimeout() time.Duration {
	if b.cfg.OffsetsCommitTimeout > 0 {
		return b.cfg.OffsetsCommitTimeout
	}
	return 5 * time.Second
}

// awaitWrite waits, holding no lock, for up to timeout until a write is
// committed. The wait does not end with the request's connection: what
// was appended is applied (or not) whatever the client does meanwhile.
func awaitWrite(ctx context.Context, w runtime.Write, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	return w.Wait(ctx)
}

// persistGroup writes a locked group's settled state without waiting for
// it to be committed: the transitions that call it (a group emptying, a
// static member returning) are already made, and a record that is lost
// with the leadership is replaced by the next coordinator's own.
func (c *groupCoordinator) persistGroup(g *group) {
	if _, err := c.appendRecords(g, []records.Record{{Key: encodeGroupKey(g.id), Value: encodeGroupValue(g)}}, -1, -1); err != nil {
		c.log.Warn().Err(err).Str("group", g.id).Msg("storing group state")
		return
	}
	g.stored = true
}
