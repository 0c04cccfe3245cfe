package coordinator

// The share coordinator (KIP-932): the durable state of every share
// partition, kept in __share_group_state by the leader of the partition
// its key hashes to, as Kafka's ShareCoordinatorShard does. Share
// partition leaders read it when they start serving a share partition and
// write what changes (acknowledgements, releases, the start offset); the
// group coordinator initializes it, deletes it, and reads its summary.
//
// Each operation computes its record from the state, appends it under the
// shard's lock, applies it (the same code replays the log when a shard
// loads), and answers once the record is committed. A read answers once
// the last write of its key is committed, so no answer reveals state a
// lost leadership could take back.
//
// Fencing: a read with a leader epoch above the recorded one records it;
// reads and writes with a lower one are FENCED_LEADER_EPOCH, so a deposed
// partition leader can no longer write. Writes and initializations with a
// state epoch below the recorded one are FENCED_STATE_EPOCH: the group
// coordinator re-initializing a share partition (AlterShareGroupOffsets)
// fences the state its leader holds.
//
// Locks: shareShard.mu guards the shard's states; nothing waits for
// replication holding it.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/records"
	"gregor/broker/share"
	"gregor/coordinator/runtime"
)

// ShareStateTopic is the share coordinator's internal topic.
const ShareStateTopic = "__share_group_state"

// shareCoordinator runs the share-partition state on the runtime.
type shareCoordinator struct {
	base
	rt *runtime.Runtime[*shareShard]
	bg background // pruning
}

func newShareCoordinator(b base) *shareCoordinator {
	c := &shareCoordinator{base: b, bg: newBackground()}
	c.rt = runtime.New(ShareStateTopic, b.host, c.newShard, b.log)
	c.bg.every(c.cfg.ShareStatePruneInterval, 5*time.Minute, c.prune)
	return c
}

func (c *shareCoordinator) close() {
	c.bg.close()
	c.rt.Close()
}

// shareState is one share partition's persisted state.
type shareState struct {
	snapshotEpoch int32
	// stateEpoch and leaderEpoch fence: the highest seen.
	stateEpoch  int32
	leaderEpoch int32
	start       int64
	createMs    int64
	writeMs     int64
	batches     []share.Batch
	// updates counts the ShareUpdate records since the last snapshot;
	// snapshotAt is the log offset of that snapshot (pruning).
	updates    int
	snapshotAt int64
	// lastWrite is the last record appended for the key (soft state).
	lastWrite runtime.Write
}

// shareShard is the state machine of one __share_group_state partition.
type shareShard struct {
	c     *shareCoordinator
	shard *runtime.Shard[*shareShard]

	mu sync.Mutex
	// guarded by mu:
	states map[shareKey]*shareState
}

func (c *shareCoordinator) newShard(s *runtime.Shard[*shareShard]) *shareShard {
	return &shareShard{c: c, shard: s, states: make(map[shareKey]*shareState)}
}

// Replay folds a committed batch into the states.
func (ss *shareShard) Replay(batch []byte) error {
	h, err := records.ParseHeader(batch)
	if err != nil {
		return err
	}
	if h.IsControl() {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return records.Each(batch, func(rec *records.Record) error {
		k, v, ok, err := decodeShareRecord(rec.Key, rec.Value)
		if err != nil || !ok {
			return err
		}
		ss.applyLocked(k, v, h.BaseOffset+int64(rec.OffsetDelta))
		return nil
	})
}

// Loaded ends the load.
func (ss *shareShard) Loaded() {
	ss.mu.Lock()
	n := len(ss.states)
	ss.mu.Unlock()
	ss.c.log.Info().Int32("partition", ss.shard.Partition).Int("share_partitions", n).Msg("loaded share partition states")
}

// Unloaded has nothing to stop: waits end with the shard's context.
func (ss *shareShard) Unloaded() {}

// applyLocked folds one record into the state.
func (ss *shareShard) applyLocked(k shareKey, v *shareValue, logOffset int64) {
	st := ss.states[k]
	switch {
	case v == nil:
		delete(ss.states, k)
	case v.snapshot:
		ns := &shareState{snapshotEpoch: v.snapshotEpoch, stateEpoch: v.stateEpoch, leaderEpoch: v.leaderEpoch,
			start: v.startOffset, createMs: v.createMs, writeMs: v.writeMs, batches: shareCombine(nil, v.batches, v.startOffset), snapshotAt: logOffset}
		if st != nil {
			ns.stateEpoch = max(ns.stateEpoch, st.stateEpoch)
			ns.leaderEpoch = max(ns.leaderEpoch, st.leaderEpoch)
			ns.lastWrite = st.lastWrite
		}
		ss.states[k] = ns
	case st == nil:
		ss.states[k] = &shareState{snapshotEpoch: v.snapshotEpoch, stateEpoch: -1, leaderEpoch: v.leaderEpoch,
			start: v.startOffset, batches: shareCombine(nil, v.batches, v.startOffset), snapshotAt: logOffset}
	default:
		if v.startOffset != -1 {
			st.start = v.startOffset
		}
		st.leaderEpoch = max(st.leaderEpoch, v.leaderEpoch)
		st.batches = shareCombine(st.batches, v.batches, st.start)
		st.updates++
	}
}

// shareShardOf returns the loaded shard of a key's partition.
func (c *shareCoordinator) shardOf(k shareKey) (*shareShard, error) {
	n := c.cfg.ShareStateTopicPartitions
	if n <= 0 {
		return nil, kerr.CoordinatorNotAvailable
	}
	s, err := c.rt.Shard(partitionFor(k.coordinatorKey(), n))
	if err != nil {
		return nil, err
	}
	return s.Machine, nil
}

// shareOp is the outcome of one operation on a key: its error, what to
// wait for, and what a read found.
type shareOp struct {
	err   *kerr.Error
	msg   string
	shard *shareShard
	write runtime.Write
	// read results
	start       int64
	stateEpoch  int32
	leaderEpoch int32
	batches     []share.Batch
	complete    int32
}

func opFail(err *kerr.Error, msg string) shareOp { return shareOp{err: err, msg: msg} }

// await waits for the operation's write and maps a failure to the error
// share partition leaders and the group coordinator retry on.
func (c *shareCoordinator) await(ctx context.Context, op *shareOp) {
	if op.err != nil || op.shard == nil {
		return
	}
	timeout := c.cfg.ShareWriteTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if err := awaitWrite(ctx, op.write, timeout); err != nil {
		op.err = cgWriteError(c.kerrOf(err))
	}
}

// topicKnown reports whether a key's topic partition exists.
func (c *shareCoordinator) topicKnown(k shareKey) bool {
	_, parts, ok := c.host.TopicNameOf(k.topic)
	return ok && k.partition < parts
}

// appendLocked appends a key's record, applies it and remembers the write.
func (ss *shareShard) appendLocked(k shareKey, v *shareValue) (runtime.Write, *kerr.Error) {
	w, err := ss.shard.Append([]records.Record{encodeShareRecord(k, v)}, -1, -1, time.Now().UnixMilli())
	if err != nil {
		return w, cgWriteError(ss.c.kerrOf(err))
	}
	ss.applyLocked(k, v, w.Base)
	if st := ss.states[k]; st != nil {
		st.lastWrite = w
	}
	return w, nil
}

// stateRecord is the record of a change to a key's state: a snapshot
// once enough updates followed the last one, else an update.
func (ss *shareShard) stateRecord(st *shareState, leaderEpoch int32, start int64, batches []share.Batch, now int64) *shareValue {
	per := int(ss.c.cfg.ShareSnapshotUpdatesPerSnapshot)
	if st.updates >= per {
		ns := start
		if ns == -1 {
			ns = st.start
		}
		return &shareValue{snapshot: true, snapshotEpoch: st.snapshotEpoch + 1, stateEpoch: st.stateEpoch, leaderEpoch: leaderEpoch,
			startOffset: ns, createMs: now, writeMs: now, batches: shareCombine(st.batches, batches, ns)}
	}
	return &shareValue{snapshotEpoch: st.snapshotEpoch, leaderEpoch: leaderEpoch, startOffset: start, batches: shareCombine(nil, batches, -1)}
}

// shareWrite is one partition of WriteShareGroupState.
type shareWrite struct {
	stateEpoch, leaderEpoch int32
	start                   int64
	batches                 []share.Batch
}

// write records what a share partition leader changed.
func (c *shareCoordinator) write(k shareKey, w shareWrite) shareOp {
	ss, err := c.shardOf(k)
	if err != nil {
		return opFail(c.kerrOf(err), "")
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	st := ss.states[k]
	switch {
	case st == nil:
		return opFail(kerr.InvalidRequest, "Write operation on uninitialized share partition not allowed.")
	case w.leaderEpoch != -1 && st.leaderEpoch > w.leaderEpoch:
		return opFail(kerr.FencedLeaderEpoch, "")
	case w.stateEpoch != -1 && st.stateEpoch > w.stateEpoch:
		return opFail(kerr.FencedStateEpoch, "")
	case !c.topicKnown(k):
		return opFail(kerr.UnknownTopicOrPartition, "")
	}
	wr, kerrv := ss.appendLocked(k, ss.stateRecord(st, st.leaderEpoch, w.start, w.batches, time.Now().UnixMilli()))
	if kerrv != nil {
		return opFail(kerrv, "")
	}
	return shareOp{shard: ss, write: wr}
}

// read returns a key's state to a partition leader, recording its leader
// epoch when it is new.
func (c *shareCoordinator) read(k shareKey, leaderEpoch int32) shareOp {
	ss, err := c.shardOf(k)
	if err != nil {
		return opFail(c.kerrOf(err), "")
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	st := ss.states[k]
	switch {
	case st == nil:
		return opFail(kerr.InvalidRequest, "Read operation on uninitialized share partition not allowed.")
	case st.leaderEpoch > leaderEpoch:
		return opFail(kerr.FencedLeaderEpoch, "")
	case !c.topicKnown(k):
		return opFail(kerr.UnknownTopicOrPartition, "")
	}
	op := shareOp{shard: ss, write: st.lastWrite, start: st.start, stateEpoch: st.stateEpoch, batches: append([]share.Batch(nil), st.batches...)}
	if leaderEpoch != -1 && leaderEpoch != st.leaderEpoch {
		c.log.Info().Str("share_partition", k.coordinatorKey()).Int32("leader_epoch", leaderEpoch).Msg("share partition read by a new leader")
		w, kerrv := ss.appendLocked(k, ss.stateRecord(st, leaderEpoch, st.start, nil, time.Now().UnixMilli()))
		if kerrv != nil {
			return opFail(kerrv, "")
		}
		op.write = w
	}
	return op
}

// summary is a key's start offset and epochs (ReadShareGroupStateSummary):
// start offset -1 for a share partition never initialized.
func (c *shareCoordinator) summary(k shareKey) shareOp {
	ss, err := c.shardOf(k)
	if err != nil {
		return opFail(c.kerrOf(err), "")
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	st := ss.states[k]
	if st == nil {
		return shareOp{start: -1, stateEpoch: 0, leaderEpoch: 0, complete: -1}
	}
	if !c.topicKnown(k) {
		return opFail(kerr.UnknownTopicOrPartition, "")
	}
	return shareOp{shard: ss, write: st.lastWrite, start: st.start, stateEpoch: st.stateEpoch, leaderEpoch: st.leaderEpoch,
		complete: deliveryComplete(st.batches, st.start)}
}

// initialize starts a key's state afresh at start (-1: the group's
// share.auto.offset.reset decides when its leader first reads it).
func (c *shareCoordinator) initialize(k shareKey, stateEpoch int32, start int64) shareOp {
	ss, err := c.shardOf(k)
	if err != nil {
		return opFail(c.kerrOf(err), "")
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	st := ss.states[k]
	switch {
	case st != nil && stateEpoch != -1 && st.stateEpoch > stateEpoch:
		return opFail(kerr.FencedStateEpoch, "")
	case !c.topicKnown(k):
		return opFail(kerr.UnknownTopicOrPartition, "")
	}
	snap := int32(0)
	if st != nil {
		snap = st.snapshotEpoch + 1
	}
	now := time.Now().UnixMilli()
	w, kerrv := ss.appendLocked(k, &shareValue{snapshot: true, snapshotEpoch: snap, stateEpoch: stateEpoch, leaderEpoch: -1,
		startOffset: start, createMs: now, writeMs: now})
	if kerrv != nil {
		return opFail(kerrv, "")
	}
	return shareOp{shard: ss, write: w}
}

// remove deletes a key's state (a tombstone); an unknown key is done.
func (c *shareCoordinator) remove(k shareKey) shareOp {
	ss, err := c.shardOf(k)
	if err != nil {
		return opFail(c.kerrOf(err), "")
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.states[k] == nil {
		return shareOp{}
	}
	w, kerrv := ss.appendLocked(k, nil)
	if kerrv != nil {
		return opFail(kerrv, "")
	}
	return shareOp{shard: ss, write: w}
}

// prune deletes, on every loaded shard, the records below the oldest one
// still needed (the earliest latest snapshot), first writing a new
// snapshot of keys whose last one is older than the cold-partition
// interval, as Kafka's share coordinator does.
func (c *shareCoordinator) prune() {
	cold := c.cfg.ShareColdSnapshotInterval
	if cold <= 0 {
		cold = 5 * time.Minute
	}
	for _, s := range c.rt.Loaded() {
		ss := s.Machine
		ss.snapshotCold(time.Now().UnixMilli(), cold.Milliseconds())
		if before, ok := ss.redundantBefore(); ok {
			if err := c.host.TrimInternal(ShareStateTopic, s.Partition, before); err != nil {
				c.log.Warn().Err(err).Int32("partition", s.Partition).Msg("pruning __share_group_state")
			}
		}
	}
}

// snapshotCold rewrites as snapshots the states whose last snapshot was
// written more than coldMs ago.
func (ss *shareShard) snapshotCold(now, coldMs int64) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, st := range ss.states {
		if st.updates == 0 || now-st.writeMs < coldMs {
			continue
		}
		if _, err := ss.appendLocked(k, &shareValue{snapshot: true, snapshotEpoch: st.snapshotEpoch + 1, stateEpoch: st.stateEpoch,
			leaderEpoch: st.leaderEpoch, startOffset: st.start, createMs: now, writeMs: now, batches: st.batches}); err != nil {
			return
		}
	}
}

// redundantBefore is the offset below which no record is needed: the
// oldest latest snapshot of any key.
func (ss *shareShard) redundantBefore() (int64, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.states) == 0 {
		return 0, false
	}
	low := int64(-1)
	for _, st := range ss.states {
		if low < 0 || st.snapshotAt < low {
			low = st.snapshotAt
		}
	}
	return low, low > 0
}

// shareKeyOf parses Kafka's coordinator key group:topicId:partition.
func shareKeyOf(s string) (shareKey, error) {
	var k shareKey
	last := -1
	second := -1
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			if last < 0 {
				last = i
			} else {
				second = i
				break
			}
		}
	}
	if second <= 0 || last <= second+1 {
		return k, fmt.Errorf("share coordinator key %q is not group:topicId:partition", s)
	}
	id, err := parseUUID(s[second+1 : last])
	if err != nil {
		return k, err
	}
	var p int64
	if _, err := fmt.Sscan(s[last+1:], &p); err != nil || p < 0 || p > 1<<31-1 {
		return k, fmt.Errorf("share coordinator key %q: invalid partition", s)
	}
	k.group, k.topic, k.partition = s[:second], id, int32(p)
	return k, nil
}

// parseUUID parses Kafka's base64 topic id.
func parseUUID(s string) (topicID, error) {
	var id topicID
	b, err := base64Decode(s)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("invalid topic id %q", s)
	}
	copy(id[:], b)
	return id, nil
}

func base64Decode(s string) ([]byte, error) {
	return uuidEncoding.DecodeString(s)
}
