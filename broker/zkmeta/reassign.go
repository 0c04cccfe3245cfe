package zkmeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/go-zookeeper/zk"

	"gregor/broker/metadata"
)

// Partition reassignment (KIP-455) as Kafka's ZooKeeper-mode controller
// does it: metadata.Reassign decides the start (or cancellation) and
// metadata.CompleteReassignment the end; this file reads and writes them.
// A reassignment in progress is recorded in /brokers/topics/<t> as the
// replicas (target first, then the original ones) with adding_replicas
// and removing_replicas; the new replicas open the log and follow the
// leader, and brokers no longer among the replicas once it completes
// delete their copy.

// AlterPartitionReassignments starts or cancels reassignments. Each
// topic's partitions change together by compare-and-set of the topic's
// assignment znode and their state znodes, so a concurrent change (a
// reassignment completing, an ISR change) makes it read and decide again.
// As in Kafka (KafkaController.onApiPartitionReassignment answers
// NOT_CONTROLLER when not active; a Kafka 4 broker forwards the request)
// only the controller reassigns, each write checking the controller
// epoch's znode version: elsewhere, or for a controller found deposed,
// the answer is NOT_CONTROLLER, which the handler forwards.
func (b *backend) AlterPartitionReassignments(ctx context.Context, targets map[string]map[int32][]int32, allowRFChange bool) (map[string]map[int32]error, error) {
	return withCtx(ctx, func() (map[string]map[int32]error, error) { return b.alterReassignments(targets, allowRFChange) })
}

func (b *backend) alterReassignments(targets map[string]map[int32][]int32, allowRFChange bool) (map[string]map[int32]error, error) {
	b.mu.Lock()
	isController, fence, epoch := b.isController, b.fence(), b.ctrlEpoch
	b.mu.Unlock()
	if !isController {
		return nil, notControllerError()
	}
	liveIDs, err := b.liveBrokerIDs()
	if err != nil {
		return nil, err
	}
	live := metadata.NewLive(liveIDs...)
	known := b.knownBroker(liveIDs)
	out := map[string]map[int32]error{}
	deposed := false
	for _, name := range slices.Sorted(maps.Keys(targets)) {
		res := map[int32]error{}
		err := errNotController
		if !deposed {
			err = b.reassignTopic(name, targets[name], live, known, allowRFChange, res, fence, epoch)
		}
		if errors.Is(err, errNotController) {
			deposed, err = true, notControllerError()
		}
		if err != nil {
			for p := range targets[name] {
				res[p] = err
			}
		}
		out[name] = res
	}
	if deposed {
		b.deposed("partition reassignments refused")
	}
	return out, nil
}

// reassigning is one partition's reassignment being written.
type reassigning struct {
	cur, next metadata.Partition
	// The state znode's version; hasState is false while the partition
	// has none (the controller then creates it).
	version  int32
	hasState bool
	mzxid    int64 // of the state znode
}

// reassignTopic applies targets (nil: cancel) to one topic's partitions,
// filling res; an error returned applies to every partition.
func (b *backend) reassignTopic(name string, targets map[int32][]int32, live metadata.Live, known func(int32) bool, allowRFChange bool, res map[int32]error, fence *zk.CheckVersionRequest, epoch int32) error {
	parts := slices.Sorted(maps.Keys(targets))
	b.mu.Lock()
	t := b.topics[name]
	unclean := t != nil && b.uncleanElection(t)
	b.mu.Unlock()
	for range 20 {
		z, stat, deleting, err := b.readForReassignment(name)
		if err != nil {
			return err
		}
		if stat == nil {
			return metadata.UnknownReassignmentTopic(name)
		}
		var changes []reassigning
		for _, p := range parts {
			c, err := b.readReassigning(name, p, z)
			if err != nil {
				return err
			}
			// A state naming replicas restarted since it was written is
			// first taken as the controller takes it (metadata.Rejoin):
			// the reassignment's state would otherwise carry their
			// previous run's leadership or ISR membership into a newer
			// state, where the controller would take it as current.
			base := c.cur
			if c.hasState {
				if restarted := b.restartedIn(c.cur.Leader, c.cur.ISR, c.mzxid); len(restarted) > 0 {
					if rejoined, ok := metadata.Rejoin(c.cur, live, live, restarted, unclean); ok {
						base = rejoined
					}
				}
			}
			c.next, res[p] = metadata.Reassign(base, targets[p], live, known, allowRFChange, deleting, unclean)
			if res[p] == nil && !base.SameLeadership(c.cur) && c.next.LeaderEpoch > c.cur.LeaderEpoch+1 {
				c.next.LeaderEpoch = c.cur.LeaderEpoch + 1 // one change, one epoch
			}
			if res[p] == nil && (!c.next.SameAssignment(c.cur) || !c.next.SameLeadership(c.cur)) {
				changes = append(changes, c)
			}
		}
		if len(changes) == 0 {
			return nil
		}
		err = b.writeReassignments(name, z, stat, changes, fence, epoch)
		if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
			continue // changed meanwhile: decide again
		}
		return err
	}
	return fmt.Errorf("the assignment of %s kept changing during the reassignment", name)
}

// readForReassignment reads a topic's assignment znode (empty when the
// topic does not exist) and whether the topic is being deleted.
func (b *backend) readForReassignment(name string) (z topicZNode, stat *zk.Stat, deleting bool, err error) {
	if metadata.ValidateTopicName(name) != nil {
		// No such topic can exist, and the name is not one to put in a
		// path ("", "..", "t/partitions").
		return topicZNode{}, nil, false, nil
	}
	data, stat, err := b.conn.Get(b.p(topicPath(name)))
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return topicZNode{}, nil, false, nil
	case err != nil:
		return z, nil, false, err
	}
	if deleting, err = b.exists(deleteTopicsPath + "/" + name); err != nil {
		return z, nil, false, err
	}
	if err := json.Unmarshal(data, &z); err != nil {
		return z, nil, false, fmt.Errorf("%s: %w", topicPath(name), err)
	}
	return z, stat, deleting, nil
}

// readReassigning reads partition p of a topic: its assignment from z and,
// if it exists, its state znode.
func (b *backend) readReassigning(name string, p int32, z topicZNode) (reassigning, error) {
	k := strconv.Itoa(int(p))
	c := reassigning{cur: metadata.Partition{Topic: name, Index: p, Replicas: z.Partitions[k],
		Adding: z.AddingReplicas[k], Removing: z.RemovingReplicas[k], Leader: -1}}
	if len(c.cur.Replicas) == 0 {
		return c, nil
	}
	data, stat, err := b.conn.Get(b.p(statePath(name, p)))
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return c, nil
	case err != nil:
		return c, err
	}
	st, err := decodeState(data)
	if err != nil {
		return c, fmt.Errorf("%s: %w", statePath(name, p), err)
	}
	c.cur.Leader, c.cur.LeaderEpoch, c.cur.ISR = st.Leader, st.LeaderEpoch, st.ISR
	c.version, c.hasState, c.mzxid = stat.Version, true, stat.Mzxid
	return c, nil
}

// writeReassignments writes a topic's changed assignment and the changed
// states of its partitions in one multi-op, by compare-and-set, fenced by
// the controller epoch's znode version (errNotController when it moved).
func (b *backend) writeReassignments(name string, z topicZNode, stat *zk.Stat, changes []reassigning, fence *zk.CheckVersionRequest, epoch int32) error {
	for _, m := range []*map[string][]int32{&z.AddingReplicas, &z.RemovingReplicas} {
		if *m == nil {
			*m = map[string][]int32{}
		}
	}
	var states []any
	for _, c := range changes {
		k := strconv.Itoa(int(c.cur.Index))
		z.Partitions[k] = c.next.Replicas
		setOrDrop(z.AddingReplicas, k, c.next.Adding)
		setOrDrop(z.RemovingReplicas, k, c.next.Removing)
		if c.hasState && !c.next.SameLeadership(c.cur) {
			states = append(states, &zk.SetDataRequest{Path: b.p(statePath(name, c.cur.Index)),
				Data: encodeState(epoch, c.next.Leader, c.next.LeaderEpoch, c.next.ISR), Version: c.version})
		}
	}
	data, err := json.Marshal(&z)
	if err != nil {
		return err
	}
	ops := append([]any{fence, &zk.SetDataRequest{Path: b.p(topicPath(name)), Data: data, Version: stat.Version}}, states...)
	if err := b.multiErr(b.conn.Multi(ops...)); err != nil {
		if errors.Is(err, errNotController) {
			return err
		}
		if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
			return err
		}
		return fmt.Errorf("writing the reassignment of %s: %w", name, err)
	}
	for _, c := range changes {
		ev := b.log.Info().Str("topic", name).Int32("partition", c.cur.Index).Ints32("replicas", c.cur.Replicas).Ints32("new_replicas", c.next.Replicas)
		if c.hasState {
			ev = ev.Int32("leader", c.next.Leader).Int32("leader_epoch", c.next.LeaderEpoch).Ints32("isr", c.next.ISR)
		}
		ev.Msg("partition reassignment recorded")
	}
	return nil
}

func setOrDrop(m map[string][]int32, k string, v []int32) {
	if len(v) == 0 {
		delete(m, k)
	} else {
		m[k] = v
	}
}

// completeReassignment writes metadata.CompleteReassignment's decision
// for a partition: its state and its topic's assignment in one fenced
// write, its leader not one in controlled shutdown where it can be.
// Called with mu held, by the controller.
func (b *backend) completeReassignment(t *topicCache, p int32, live, eligible metadata.Live) error {
	st := t.states[p]
	if st == nil {
		return nil
	}
	if len(b.restarted(st, live)) > 0 {
		return nil // the round's Rejoin comes first; its write is read back, then this one
	}
	cur := t.partition(p)
	next, ok := metadata.CompleteReassignment(cur, eligible)
	if !ok {
		next, ok = metadata.CompleteReassignment(cur, live)
	}
	if !ok {
		return nil
	}
	assign := slices.Clone(t.assign)
	adding, removing := slices.Clone(t.adding), slices.Clone(t.removing)
	assign[p], adding[p], removing[p] = next.Replicas, nil, nil
	data, err := encodeTopicReassigning(t.id, assign, adding, removing)
	if err != nil {
		return err
	}
	resp, err := b.conn.Multi(b.fence(),
		&zk.SetDataRequest{Path: b.p(statePath(t.name, p)), Data: encodeState(b.ctrlEpoch, next.Leader, next.LeaderEpoch, next.ISR), Version: st.version},
		&zk.SetDataRequest{Path: b.p(topicPath(t.name)), Data: data, Version: t.version})
	if err = b.multiErr(resp, err); err != nil {
		if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
			b.mark(stateKey(t.name, p)) // changed meanwhile: re-read, decide again
			b.mark(preTopic + t.name)
			return nil
		}
		return fmt.Errorf("completing the reassignment of %s-%d: %w", t.name, p, err)
	}
	b.log.Info().Str("topic", t.name).Int32("partition", p).Ints32("replicas", next.Replicas).Ints32("removed", cur.Removing).
		Int32("old_leader", cur.Leader).Int32("leader", next.Leader).Int32("leader_epoch", next.LeaderEpoch).Ints32("isr", next.ISR).
		Msg("controller: partition reassignment completed")
	sv, tv, mzxid := st.version+1, t.version+1, int64(writtenNow)
	if len(resp) > 2 {
		if resp[1].Stat != nil {
			sv, mzxid = resp[1].Stat.Version, resp[1].Stat.Mzxid
		}
		if resp[2].Stat != nil {
			tv = resp[2].Stat.Version
		}
	}
	t.states[p] = &pstate{ctrlEpoch: b.ctrlEpoch, leader: next.Leader, leaderEpoch: next.LeaderEpoch, isr: next.ISR, version: sv, mzxid: mzxid}
	t.assign, t.adding, t.removing, t.version, t.changed = assign, adding, removing, tv, true
	b.markReported(t)
	return nil
}

// ListPartitionReassignments reads the ongoing reassignments from
// ZooKeeper (not the watched copy, so a reassignment just recorded or
// completed shows at once).
func (b *backend) ListPartitionReassignments(ctx context.Context, parts map[string][]int32) (map[string]map[int32]metadata.Reassignment, error) {
	return withCtx(ctx, func() (map[string]map[int32]metadata.Reassignment, error) { return b.listReassignments(parts) })
}

func (b *backend) listReassignments(parts map[string][]int32) (map[string]map[int32]metadata.Reassignment, error) {
	var names []string
	if parts == nil {
		c, _, err := b.conn.Children(b.p(brokerTopicsPath))
		if err != nil {
			return nil, fmt.Errorf("listing topics: %w", err)
		}
		names = c
	} else {
		names = slices.Collect(maps.Keys(parts))
	}
	slices.Sort(names)
	out := map[string]map[int32]metadata.Reassignment{}
	for _, name := range names {
		if metadata.ValidateTopicName(name) != nil {
			continue // no such topic, as Kafka's controller skips one it cannot find
		}
		data, _, err := b.conn.Get(b.p(topicPath(name)))
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		assign, adding, removing, _, _, err := decodeTopicReassigning(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", topicPath(name), err)
		}
		want := parts[name]
		for p := range assign {
			if len(adding[p]) == 0 && len(removing[p]) == 0 {
				continue
			}
			if want != nil && !slices.Contains(want, int32(p)) {
				continue
			}
			if out[name] == nil {
				out[name] = map[int32]metadata.Reassignment{}
			}
			out[name][int32(p)] = metadata.Reassignment{Replicas: assign[p], Adding: nonNil(adding[p]), Removing: nonNil(removing[p])}
		}
	}
	return out, nil
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}
