package broker

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/metadata"
	"gregor/broker/replica"
	"gregor/broker/storage"
)

// Partition is one partition of a topic as this broker sees it: a local
// replica (leader or follower) or only metadata.
//
// Lock order: Partition.mu before Broker.mu, Broker.placeMu and Log.mu;
// waitMu and mailMu are leaves.
// Never call into a partition while holding Broker.mu.
type Partition struct {
	topic *Topic
	ID    int32
	b     *Broker
	tp    storage.TP
	// name is "<topic>-<partition>", as errors name the partition.
	name string

	// hw, leo and start mirror the log and replica state for lock-free
	// readers (fetch, metadata, list offsets); they are written under mu.
	hw            atomic.Int64
	leo           atomic.Int64
	start         atomic.Int64
	firstUnstable atomic.Int64 // first offset of an open transaction, or -1
	// unreplicated are transactions whose marker is written here but may
	// not be below the high watermark yet (nil: none); LastStableOffset
	// counts those still at or above it as open.
	unreplicated atomic.Pointer[[]endedTxn]
	// followerInSync: as a follower, the last fetch reached the leader's
	// high watermark (the follower quota spares such replicas).
	followerInSync atomic.Bool
	// offline: the replica's log dir failed (logdir_failure.go); it has
	// no log until the broker restarts. Written under mu.
	offline atomic.Bool
	// fullHandOver is when (unix ns) this leader last handed its
	// leadership over for want of disk space (partition_produce.go);
	// offlineHandOver when an offline replica last asked to hand over.
	fullHandOver, offlineHandOver atomic.Int64

	mu sync.Mutex
	// guarded by mu:
	state    metadata.PartitionState // as the cluster metadata has it
	log      *storage.Log            // nil unless this broker holds a replica
	dir      *storage.Dir
	rs       *replica.State // non-nil while leader
	closed   bool
	leader   atomic.Bool // mirrors rs != nil for lock-free checks
	epoch    atomic.Int32
	producer *producerState
	// The leader's ISR changes go one at a time, as Kafka's Partition
	// sends one AlterPartition and starts no other while it isInflight
	// (PendingExpandIsr, PendingShrinkIsr): isrPending is set while a
	// change (an expansion or a shrink) is being persisted, and after one
	// was refused as stale, until a state newer than isrBase, the version
	// it was based on, is in force (settleISRLocked). isrChange numbers
	// the changes, so that a change's end clears only its own pending;
	// isrEnded is the number of the last one whose write ended.
	// joinBase is the state version the last expansion was based on.
	isrPending bool
	isrBase    int32
	isrChange  uint64
	isrEnded   uint64
	joinBase   int32
	// move is the replica's move to another log dir under way, if any
	// (logdir_move.go).
	move *logMove
	// snapBase is the active segment's base offset when the producer
	// state was last snapshotted (producer_snapshot.go); snapBusy is set
	// while a snapshot is being written, snapAgain when the log rolled
	// again meanwhile.
	snapBase            int64
	snapBusy, snapAgain bool

	// snapMu serializes the producer snapshot files' writes (in the
	// background) and deletions (by truncations, under mu); snapGen,
	// moved by truncations, voids the writes taken before them.
	snapMu  sync.Mutex
	snapGen atomic.Uint64

	waitMu  sync.Mutex
	waiters map[chan struct{}]struct{}

	// mailMu guards mail, the metadata yet to apply (partition_apply.go);
	// it is a leaf.
	mailMu sync.Mutex
	mail   mailbox
	posted *metadata.PartitionState // the last state posted
	// after, if set, is closed once the partition of an earlier topic of
	// the same name is deleted; the first apply waits for it. Only the
	// goroutine applying mail uses it.
	after chan struct{}
}

func newPartition(b *Broker, t *Topic, id int32) *Partition {
	p := &Partition{topic: t, ID: id, b: b, tp: storage.TP{Topic: t.Name, Partition: id}, name: t.Name + "-" + strconv.Itoa(int(id)), waiters: make(map[chan struct{}]struct{})}
	// No leader until the partition's first state is applied (its mailbox
	// runs apart from the topic's creation): never broker 0 by default.
	p.state = metadata.PartitionState{Leader: -1, LeaderEpoch: -1, Version: -1}
	p.epoch.Store(-1)
	p.firstUnstable.Store(-1)
	return p
}

// Topic returns the partition's topic.
func (p *Partition) Topic() *Topic { return p.topic }

// State returns the partition's state as cluster metadata last announced
// it (what Metadata and leader hints report), which the partition itself
// may not have applied yet (its mailbox applies states apart from the
// metadata loop).
func (p *Partition) State() metadata.PartitionState {
	p.mailMu.Lock()
	posted := p.posted
	p.mailMu.Unlock()
	if posted != nil {
		return *posted
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// HighWatermark is the offset below which records are committed.
func (p *Partition) HighWatermark() int64 { return p.hw.Load() }

// hwLagsEpochStart reports whether this broker leads the partition with
// a high watermark still below the log end it had when it became leader:
// its followers have not fetched since, so offsets below that end may be
// committed without the leader knowing yet (Kafka's
// leaderEpochStartOffsetOpt > highWatermark).
func (p *Partition) hwLagsEpochStart() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rs != nil && p.rs.EpochStart > p.rs.HW
}

// LogEndOffset is the local log's end offset.
func (p *Partition) LogEndOffset() int64 { return p.leo.Load() }

// LogStartOffset is the local log's start offset.
func (p *Partition) LogStartOffset() int64 { return p.start.Load() }

// IsLeader reports whether this broker leads the partition.
func (p *Partition) IsLeader() bool { return p.leader.Load() }

// LeaderEpoch is the current leader epoch.
func (p *Partition) LeaderEpoch() int32 { return p.epoch.Load() }

// syncOffsetsLocked refreshes the lock-free mirrors from the log and state.
func (p *Partition) syncOffsetsLocked() {
	if p.log == nil {
		return
	}
	p.leo.Store(p.log.NextOffset())
	p.start.Store(p.log.StartOffset())
	if p.rs != nil {
		p.hw.Store(p.rs.HW)
	}
}

// apply installs new metadata state, opening the local replica if this
// broker holds one and becoming leader or follower. A state older than the
// one in force (this broker's own ISR update got there first) brings only
// its assignment.
func (p *Partition) apply(st metadata.PartitionState) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	old := p.state
	st = newestState(old, st)
	p.state = st
	p.settleISRLocked()
	p.epoch.Store(st.LeaderEpoch)
	local := slices.Contains(st.Replicas, p.b.id)
	if !local {
		p.stopLeadingLocked()
		p.b.follow.unfollow(p)
		if p.offline.Load() {
			// Moved away while offline: nothing here to delete; a
			// replica brought back later is created afresh.
			p.setOffline(false)
			p.b.forgetPlacement(p.tp)
			return nil
		}
		return p.dropReplicaLocked()
	}
	if p.offline.Load() {
		// Neither leads nor follows; still named leader or in the
		// ISR, it hands over (again).
		p.handOverOfflineLocked()
		return nil
	}
	if p.log == nil {
		if err := p.openLogLocked(); err != nil {
			return err
		}
		if p.log == nil {
			// Offline: its log dir failed.
			p.handOverOfflineLocked()
			return nil
		}
	}
	if st.Leader == p.b.id {
		if p.rs == nil || old.LeaderEpoch != st.LeaderEpoch {
			p.becomeLeaderLocked(st)
			return nil
		}
		// Any ISR change can complete acks=all waits: a shrink moves the
		// high watermark or fails them below min.insync.replicas.
		if !slices.Equal(p.rs.Replicas, st.Replicas) {
			p.rs.SetReplicas(st.Replicas, p.b.now())
		}
		p.rs.SetISR(st.ISR)
		p.settleJoinLocked()
		p.syncOffsetsLocked()
		p.notify()
		return nil
	}
	p.stopLeadingLocked()
	if st.Leader >= 0 {
		p.b.follow.follow(p, st.Leader, st.LeaderEpoch)
	} else {
		p.b.follow.unfollow(p)
	}
	return nil
}

// dropReplicaLocked deletes the local copy of a partition this broker no
// longer holds a replica of (it was moved away), as Kafka's StopReplica
// with deletion does.
func (p *Partition) dropReplicaLocked() error {
	if p.log == nil {
		return nil
	}
	p.cancelMoveLocked("replica moved off this broker")
	lg := p.log
	p.log = nil
	p.leo.Store(0)
	p.hw.Store(0)
	// Its files are deleted next: nothing is synced first (see remove).
	if err := lg.CloseHandles(); err != nil {
		p.b.log.Warn().Err(err).Str("topic", p.tp.Topic).Int32("partition", p.ID).Msg("closing a moved replica")
	}
	p.b.log.Info().Str("topic", p.tp.Topic).Int32("partition", p.ID).Msg("deleting the local replica of a partition moved away")
	err := p.dir.RetirePartition(lg.Dir())
	p.b.forgetPlacement(p.tp)
	p.b.checkpointSoon()
	return err
}

// openLogLocked opens (or creates) the partition's log in a log dir: the
// one already holding it, or the one with the fewest partitions.
func (p *Partition) openLogLocked() error {
	if !p.b.started.Load() && p.b.OfflineLogDirs() > 0 && !p.b.placed(p.tp) {
		// A replica of the first metadata load found in no online log
		// dir may be in the failed one: not created empty elsewhere,
		// as Kafka refuses to create a log that is not new while a log
		// dir is offline.
		p.setOffline(true)
		return nil
	}
	dir, path, err := p.b.placePartition(p.tp, p.topic.ID)
	if err != nil {
		return err
	}
	if p.b.dirOffline(dir) {
		p.setOffline(true)
		return nil
	}
	lg, err := p.openAt(path, dir.OpenOptions(p.tp))
	if err != nil {
		if storage.IsDiskFailure(err) {
			p.setOffline(true)
		}
		return fmt.Errorf("opening log of %s: %w", p.tp, err)
	}
	if p.b.dirOffline(dir) {
		// The dir failed while the log was opening, perhaps after
		// takeDirOffline passed this partition by.
		lg.Close()
		p.setOffline(true)
		return nil
	}
	p.log, p.dir = lg, dir
	p.snapBase = lg.ActiveBase()
	p.producer = newProducerState()
	if err := p.producer.rebuild(lg, p.b.now(), p.b.Config().ProducerIDExpiration); err != nil {
		p.b.log.Warn().Err(err).Str("topic", p.tp.Topic).Int32("partition", p.tp.Partition).Msg("rebuilding producer state")
	}
	// The checkpointed high watermark (0 if none) within the log's
	// start and end, as Kafka's UnifiedLog.updateHighWatermark bounds it.
	c, _ := dir.Checkpoint(p.tp)
	p.hw.Store(min(max(c.HighWatermark, lg.StartOffset()), lg.NextOffset()))
	p.refreshUnstableLocked()
	p.syncOffsetsLocked()
	if r, ok := p.b.takeResume(p.tp); ok {
		p.resumeMoveLocked(r)
	}
	return nil
}

func (p *Partition) becomeLeaderLocked(st metadata.PartitionState) {
	leo := p.log.NextOffset()
	p.log.AssignEpoch(st.LeaderEpoch, leo)
	p.b.follow.unfollow(p)
	p.rs = replica.NewLeader(p.b.id, st.LeaderEpoch, st.Replicas, st.ISR, leo, p.hw.Load(), int(p.topic.Config().MinInsyncReplicas), p.b.now())
	p.rs.MaxLag, p.rs.Now = p.b.cfg.ReplicaLagTimeMax, p.b.now
	p.rs.Eligible = func(id int32) bool {
		_, alive := p.b.BrokerByID(id) // as the ISR expansion asks
		return alive
	}
	p.leader.Store(true)
	p.syncOffsetsLocked()
	p.notify()
}

func (p *Partition) stopLeadingLocked() {
	if p.rs != nil {
		p.rs = nil
		p.leader.Store(false)
		p.notify()
	}
}

// close closes the local log (broker shutdown or topic deletion).
func (p *Partition) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.b.follow.unfollow(p)
	p.stopLeadingLocked()
	p.notify()
	if p.log == nil {
		return nil
	}
	return p.log.Close()
}

// remove closes and deletes the local log.
func (p *Partition) remove() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.b.follow.unfollow(p)
	p.stopLeadingLocked()
	p.notify()
	if p.log == nil {
		return nil
	}
	p.cancelMoveLocked("partition deleted")
	lg := p.log
	p.log = nil
	// The files are deleted next, so nothing is synced first, as Kafka's
	// UnifiedLog.delete: an fsync here wrote every byte not yet flushed
	// (gigabytes on a busy topic) to disk only to delete it, stalling the
	// disk for the other partitions and DeleteTopics' answer with it. A
	// crash before the directory is renamed leaves a log of a replica the
	// metadata no longer names, which start-up sets aside as stray.
	if err := lg.CloseHandles(); err != nil {
		p.b.log.Warn().Err(err).Str("topic", p.tp.Topic).Msg("closing deleted partition")
	}
	defer p.b.checkpointSoon()
	return p.dir.RetirePartition(lg.Dir())
}

// checkpoint returns what to remember about the partition across restarts.
// After close, only the final checkpoint of shutdown asks for it.
func (p *Partition) checkpoint(final bool) (storage.Checkpoint, *storage.Dir, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.log == nil || (p.closed && !final) {
		return storage.Checkpoint{}, nil, false
	}
	return storage.Checkpoint{TP: p.tp, RecoveryPoint: p.log.RecoveryPoint(), StartOffset: p.log.StartOffset(), HighWatermark: p.hw.Load(), CleanedTo: p.log.CleanedTo()}, p.dir, true
}

// snapshotProducers persists the producer state (on shutdown) so start-up
// need not replay the log. As Kafka's ProducerStateManager.takeSnapshot,
// it writes none where the log has not moved since the last: an empty
// log, or one with a snapshot at its end already (the start-up loaded it,
// or the log rolled there). A load makes the same of that one: producers
// expire by then and batches below the log start are trimmed at every
// load. A broker stopping with thousands of idle partitions spent most of
// its close creating and fsyncing these files.
func (p *Partition) snapshotProducers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.log == nil || p.producer == nil || p.closed {
		return
	}
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	end := p.log.NextOffset()
	if end == 0 || p.log.HasSnapshot(end) {
		return
	}
	if err := p.producer.snapshotAt(p.log, end).write(p.log); err != nil {
		p.b.log.Warn().Err(err).Str("topic", p.tp.Topic).Int32("partition", p.ID).Msg("writing producer snapshot")
	}
}

// setLogConfig applies a topic config change to the local log; waiters
// re-check too (min.insync.replicas may have changed).
func (p *Partition) setLogConfig(c storage.Config) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.log != nil {
		p.log.SetConfig(c)
	}
	if p.rs != nil && p.rs.SetMinISR(int(p.topic.Config().MinInsyncReplicas)) {
		p.syncOffsetsLocked()
	}
	p.notify()
}

// wait registers ch to be signalled when the partition's fetchable data or
// leadership changes; unwait removes it.
func (p *Partition) wait(ch chan struct{}) {
	p.waitMu.Lock()
	p.waiters[ch] = struct{}{}
	p.waitMu.Unlock()
}

func (p *Partition) unwait(ch chan struct{}) {
	p.waitMu.Lock()
	delete(p.waiters, ch)
	p.waitMu.Unlock()
}

// notify wakes every waiter.
func (p *Partition) notify() {
	p.waitMu.Lock()
	for ch := range p.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	p.waitMu.Unlock()
}

// checkLeaderLocked returns the error a client gets from a replica that
// cannot serve as leader. As Kafka's Partition.getLocalLog, a replica
// checks the client's leader epoch before whether it leads: a follower
// that has not yet learnt a newer epoch answers UNKNOWN_LEADER_EPOCH
// (retried without a metadata refresh) and an old leader
// FENCED_LEADER_EPOCH, not NOT_LEADER_OR_FOLLOWER.
func (p *Partition) checkLeaderLocked(epoch int32) error {
	if p.log == nil || p.closed {
		return p.notLocalErr()
	}
	if err := checkEpoch(epoch, p.state.LeaderEpoch); err != nil {
		return err
	}
	if p.rs == nil {
		return p.notLocalErr()
	}
	return nil
}

// checkEpoch validates a client's current leader epoch (KIP-320); -1 skips.
func checkEpoch(client, ours int32) error {
	switch {
	case client < 0 || client == ours:
		return nil
	case client < ours:
		return kerr.FencedLeaderEpoch
	default:
		return kerr.UnknownLeaderEpoch
	}
}

// errNotLocal is returned for partitions this broker holds no replica of.
var errNotLocal = errors.New("no local replica")

// now is the broker clock.
func (b *Broker) now() time.Time { return b.clock() }
