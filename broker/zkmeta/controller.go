package zkmeta

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/go-zookeeper/zk"

	"gregor/broker/metadata"
)

func jsonMarshal(v any) ([]byte, error)      { return json.Marshal(v) }
func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// errNotController means a fenced write found a newer controller epoch.
var errNotController = errors.New("no longer controller")

// control does the controller's work on the cached metadata: delete topics
// marked for deletion, give topics without an id one, create missing
// partition states, and elect leaders where the leader is gone. Called with
// mu held.
func (b *backend) control() error {
	if !b.isController || b.shuttingDown.Load() {
		return nil
	}
	live := metadata.Live{}
	for id := range b.brokers {
		live[id] = true
	}
	var firstErr error
	note := func(err error) {
		if errors.Is(err, errNotController) {
			b.isController = false
			b.mark(keyCtrl)
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	for name := range b.deleting {
		if err := b.deleteTopicNow(name); err != nil {
			note(err)
		}
	}
	if !b.isController {
		return firstErr
	}
	// A broker that went and came back between two reads lost its
	// leaderships as if it had died: elect without it first.
	bounced := b.bounced
	b.bounced = map[int32]bool{}
	for pass := 0; pass < 2; pass++ {
		alive := live
		if pass == 0 {
			if len(bounced) == 0 {
				continue
			}
			alive = metadata.Live{}
			for id := range live {
				if !bounced[id] {
					alive[id] = true
				}
			}
		}
		eligible := b.eligible(alive)
		var writes []partitionWrite
		for _, name := range slices.Sorted(maps.Keys(b.topics)) {
			t := b.topics[name]
			if !t.exists || b.deleting[name] {
				continue
			}
			if !t.hasID {
				if err := b.assignTopicID(t); err != nil {
					note(err)
				}
				continue
			}
			for p := range t.assign {
				if w, ok := b.decidePartition(t, int32(p), alive, eligible); ok {
					writes = append(writes, w)
				}
			}
		}
		for _, err := range b.writePartitions(writes) {
			note(err)
			if !b.isController {
				return firstErr
			}
		}
		if pass == 1 {
			for _, name := range slices.Sorted(maps.Keys(b.topics)) {
				t := b.topics[name]
				if !t.exists || !t.hasID || b.deleting[name] {
					continue
				}
				for p := range t.assign {
					if err := b.completeReassignment(t, int32(p), alive, eligible); err != nil {
						note(err)
						if !b.isController {
							return firstErr
						}
					}
				}
			}
		}
	}
	if b.rebalanceDue && firstErr == nil {
		b.rebalanceDue = false
		if err := b.rebalance(b.eligible(live)); err != nil {
			note(err)
		}
	}
	return firstErr
}

// partitionWrite is a controller decision for one partition: its first
// state (metadata.Online) or its next one (metadata.Failover).
type partitionWrite struct {
	t      *topicCache
	p      int32
	create bool
	old    *pstate
	next   metadata.Partition
	// Filled in by the write: the state written (nil: nothing, it
	// changed meanwhile and is read again) or the error.
	written *pstate
	err     error
}

// decidePartition decides whether a partition's state must be created or
// must follow the live brokers. Its leader (and a new partition's ISR)
// is chosen among the eligible ones, those not in controlled shutdown,
// where it can be (stopping.go).
func (b *backend) decidePartition(t *topicCache, p int32, live, eligible metadata.Live) (partitionWrite, bool) {
	cur := t.partition(p)
	if t.states[p] == nil {
		if int(p) < len(t.unread) && t.unread[p] {
			return partitionWrite{}, false // read first: it may exist
		}
		next, ok := metadata.Online(cur, eligible)
		if !ok {
			next, ok = metadata.Online(cur, live)
		}
		if !ok {
			return partitionWrite{}, false // no replica is up yet; created when one registers
		}
		return partitionWrite{t: t, p: p, create: true, next: next}, true
	}
	var next metadata.Partition
	var ok bool
	restarted := b.restarted(t.states[p], live)
	if len(restarted) > 0 {
		// Replicas registered again since the state was written: its
		// leadership and ISR membership are their previous run's.
		next, ok = metadata.Rejoin(cur, live, eligible, restarted, b.uncleanElection(t))
	} else {
		next, ok = metadata.FailoverPreferring(cur, live, eligible, b.uncleanElection(t))
	}
	if !ok {
		return partitionWrite{}, false
	}
	if next.Leader >= 0 && !slices.Contains(cur.ISR, next.Leader) {
		b.uncleanElections.Add(1)
		b.log.Warn().Str("topic", t.name).Int32("partition", p).Int32("leader", next.Leader).Ints32("old_isr", cur.ISR).
			Msg("controller: unclean leader election; records only the old ISR had are lost")
	}
	ev := b.log.Info().Str("topic", t.name).Int32("partition", p).Int32("old_leader", cur.Leader).Int32("leader", next.Leader).
		Int32("leader_epoch", next.LeaderEpoch).Ints32("isr", next.ISR)
	if len(restarted) > 0 {
		ev = ev.Ints32("restarted_since_state", slices.Sorted(maps.Keys(restarted)))
	}
	ev.Msg("controller: partition state change")
	return partitionWrite{t: t, p: p, old: t.states[p], next: next}, true
}

// uncleanElection is unclean.leader.election.enable for topic t, as
// Kafka's controller takes it: the topic's override, else this broker's
// dynamic config, else the cluster's dynamic default, else the static
// config. A change to any of them is read as a change of metadata, and
// the next round elects where it now may.
func (b *backend) uncleanElection(t *topicCache) bool {
	const key = "unclean.leader.election.enable"
	for _, m := range []map[string]string{t.configs, b.bcfg.self, b.bcfg.defaults} {
		if v, ok := m[key]; ok {
			return strings.EqualFold(strings.TrimSpace(v), "true")
		}
	}
	return b.opt.Config != nil && b.opt.Config.TopicDefaults.UncleanLeaderElection
}

// controlWriteParallel bounds the batches of partition states the
// controller writes at once: a broker's death moves every partition it
// led, and one write after the other would keep the last ones leaderless
// for as long as all the round trips before them.
const controlWriteParallel = 16

// controlWriteBatch is how many partition states go in one multi-op.
// ZooKeeper syncs its transaction log once for the writes it has queued,
// so a write of its own per partition made a broker's thousands of
// partitions wait on as many syncs as 16 writers at a time allowed (3,000
// partitions' states took 2 s to write, and their creation 7 s).
const controlWriteBatch = 100

// writePartitions writes the decided states in batches of
// controlWriteBatch, one multi-op each, several at once, then records
// what was written (called with mu held; the writes do only ZooKeeper
// I/O). A batch that cannot be written whole (a state changed meanwhile,
// a topic deleted) is written a partition at a time. It returns the
// errors.
func (b *backend) writePartitions(ws []partitionWrite) []error {
	batches := (len(ws) + controlWriteBatch - 1) / controlWriteBatch
	parallel(batches, controlWriteParallel, func(i int) {
		batch := ws[i*controlWriteBatch : min((i+1)*controlWriteBatch, len(ws))]
		if len(batch) > 1 && b.writeBatchIO(batch) {
			return
		}
		for j := range batch {
			w := &batch[j]
			if w.create {
				w.written, w.err = b.createStateIO(w.t.name, w.p, w.next.Leader, w.next.ISR)
			} else {
				w.written, w.err = b.writeStateIO(w.t.name, w.p, w.old, w.next)
			}
		}
	})
	var errs []error
	for _, w := range ws {
		if w.err != nil {
			errs = append(errs, w.err)
			continue
		}
		if w.written != nil {
			if w.create {
				b.log.Info().Str("topic", w.t.name).Int32("partition", w.p).Int32("leader", w.next.Leader).Ints32("isr", w.next.ISR).Msg("controller: partition online")
			}
			b.recordState(w.t, w.p, w.written)
		}
	}
	return errs
}

// writeBatchIO writes a batch of decided states in one fenced multi-op:
// a new partition's znode and first state, or the next state of one by
// compare-and-set. It reports false, having written nothing, when the
// batch cannot be written whole (then each is written alone, and one that
// changed meanwhile is read again), and true when it was (each w.written
// set) or the controller epoch moved (each w.err set). It does only
// ZooKeeper I/O.
func (b *backend) writeBatchIO(batch []partitionWrite) bool {
	ops := []any{b.fence()}
	parents := map[string]bool{}
	for i := range batch {
		w := &batch[i]
		if !w.create {
			ops = append(ops, &zk.SetDataRequest{Path: b.p(statePath(w.t.name, w.p)),
				Data: encodeState(b.ctrlEpoch, w.next.Leader, w.next.LeaderEpoch, w.next.ISR), Version: w.old.version})
			continue
		}
		if !parents[w.t.name] {
			parents[w.t.name] = true
			_, err := b.conn.Create(b.p(partitionsPath(w.t.name)), nil, 0, b.acl)
			if err != nil && !errors.Is(err, zk.ErrNodeExists) {
				return false // the topic deleted meanwhile, or ZooKeeper trouble: each alone says which
			}
		}
		ops = append(ops, &zk.CreateRequest{Path: b.p(partitionPath(w.t.name, w.p)), Acl: b.acl},
			&zk.CreateRequest{Path: b.p(statePath(w.t.name, w.p)), Data: encodeState(b.ctrlEpoch, w.next.Leader, 0, w.next.ISR), Acl: b.acl})
	}
	resp, err := b.conn.Multi(ops...)
	if err = b.multiErr(resp, err); err != nil {
		if !errors.Is(err, errNotController) {
			return false
		}
		for i := range batch {
			batch[i].err = err
		}
		return true
	}
	k := 1
	for i := range batch {
		w := &batch[i]
		if w.create {
			w.written = &pstate{ctrlEpoch: b.ctrlEpoch, leader: w.next.Leader, isr: w.next.ISR, version: 0, mzxid: writtenNow}
			k += 2
			continue
		}
		version, mzxid := w.old.version+1, int64(writtenNow)
		if k < len(resp) && resp[k].Stat != nil {
			version, mzxid = resp[k].Stat.Version, resp[k].Stat.Mzxid
		}
		w.written = &pstate{ctrlEpoch: b.ctrlEpoch, leader: w.next.Leader, leaderEpoch: w.next.LeaderEpoch, isr: w.next.ISR, version: version, mzxid: mzxid}
		k++
	}
	return true
}

// recordState installs a state the controller wrote into the cache, to be
// delivered.
func (b *backend) recordState(t *topicCache, p int32, st *pstate) {
	if int(p) >= len(t.states) {
		return // the topic shrank meanwhile (it was recreated)
	}
	if old := t.states[p]; old != nil && st.leader >= 0 && old.leader != st.leader {
		b.elections.Add(1) // leaders this controller changed (status.go)
	}
	st.own = true
	t.states[p] = st
	t.changed = true
	b.markReported(t)
	// A state this broker created has no watch yet (one it changed had,
	// and the write fired it): reading it back arms one.
	if k := stateKey(t.name, p); !b.isArmed(k) {
		b.mark(k)
	}
}

// partition is partition p as the controller's decisions take it; one
// without a state has no leader.
func (t *topicCache) partition(p int32) metadata.Partition {
	mp := metadata.Partition{Topic: t.name, Index: p, Replicas: t.assign[p], Leader: -1}
	if int(p) < len(t.adding) {
		mp.Adding = t.adding[p]
	}
	if int(p) < len(t.removing) {
		mp.Removing = t.removing[p]
	}
	if int(p) < len(t.states) && t.states[p] != nil {
		st := t.states[p]
		mp.Leader, mp.LeaderEpoch, mp.ISR = st.leader, st.leaderEpoch, st.isr
	}
	return mp
}

// fence is the check that makes a controller write fail if another
// controller has been elected since.
func (b *backend) fence() *zk.CheckVersionRequest {
	return &zk.CheckVersionRequest{Path: b.p(controllerEpochZ), Version: b.ctrlEpochVer}
}

func (b *backend) multiErr(resp []zk.MultiResponse, err error) error {
	if err == nil {
		return nil
	}
	if len(resp) > 0 && errors.Is(resp[0].Error, zk.ErrBadVersion) {
		return errNotController
	}
	return err
}

// createStateIO creates a partition's first state, fenced. It returns
// nil (and marks the state to be read) if it exists already or the topic
// is gone. It does only ZooKeeper I/O.
func (b *backend) createStateIO(topic string, p int32, leader int32, isr []int32) (*pstate, error) {
	for _, zpath := range []string{partitionsPath(topic), partitionPath(topic, p)} {
		_, err := b.conn.Create(b.p(zpath), nil, 0, b.acl)
		if errors.Is(err, zk.ErrNoNode) {
			return nil, nil // topic deleted meanwhile
		}
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return nil, err
		}
	}
	data := encodeState(b.ctrlEpoch, leader, 0, isr)
	resp, err := b.conn.Multi(b.fence(), &zk.CreateRequest{Path: b.p(statePath(topic, p)), Data: data, Acl: b.acl})
	if err = b.multiErr(resp, err); err != nil {
		if errors.Is(err, zk.ErrNodeExists) {
			b.mark(stateKey(topic, p))
			return nil, nil
		}
		return nil, fmt.Errorf("creating state of %s-%d: %w", topic, p, err)
	}
	return &pstate{ctrlEpoch: b.ctrlEpoch, leader: leader, isr: isr, version: 0, mzxid: writtenNow}, nil
}

// writeState records a partition's next leadership, fenced, by
// compare-and-set from old.
func (b *backend) writeState(t *topicCache, p int32, old *pstate, next metadata.Partition) error {
	st, err := b.writeStateIO(t.name, p, old, next)
	if err == nil && st != nil {
		b.recordState(t, p, st)
	}
	return err
}

// writeStateIO writes a partition's next leadership, fenced, by
// compare-and-set from old. It returns nil (and marks the state to be
// read) if the state changed meanwhile. It does only ZooKeeper I/O.
func (b *backend) writeStateIO(topic string, p int32, old *pstate, next metadata.Partition) (*pstate, error) {
	data := encodeState(b.ctrlEpoch, next.Leader, next.LeaderEpoch, next.ISR)
	resp, err := b.conn.Multi(b.fence(), &zk.SetDataRequest{Path: b.p(statePath(topic, p)), Data: data, Version: old.version})
	if err = b.multiErr(resp, err); err != nil {
		if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
			b.mark(stateKey(topic, p)) // changed meanwhile: re-read, decide again
			return nil, nil
		}
		return nil, fmt.Errorf("writing state of %s-%d: %w", topic, p, err)
	}
	version, mzxid := old.version+1, int64(writtenNow)
	if len(resp) > 1 && resp[1].Stat != nil {
		version, mzxid = resp[1].Stat.Version, resp[1].Stat.Mzxid
	}
	return &pstate{ctrlEpoch: b.ctrlEpoch, leader: next.Leader, leaderEpoch: next.LeaderEpoch, isr: next.ISR, version: version, mzxid: mzxid}, nil
}

// assignTopicID gives a topic created without an id (by an old tool) one,
// as Kafka's controller does.
func (b *backend) assignTopicID(t *topicCache) error {
	data, err := encodeTopicReassigning(metadata.NewUuid(), t.assign, t.adding, t.removing)
	if err != nil {
		return err
	}
	resp, err := b.conn.Multi(b.fence(), &zk.SetDataRequest{Path: b.p(topicPath(t.name)), Data: data, Version: t.version})
	if err = b.multiErr(resp, err); err != nil {
		if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
			b.mark(preTopic + t.name)
			return nil
		}
		return err
	}
	b.mark(preTopic + t.name)
	return nil
}

// deleteTopicNow removes a topic marked for deletion: its assignment and
// states, its config, then the mark.
func (b *backend) deleteTopicNow(name string) error {
	if b.opt.Config != nil && !b.opt.Config.DeleteTopicEnable {
		b.log.Warn().Str("topic", name).Msg("controller: topic deletion is disabled (delete.topic.enable=false); dropping the request")
	} else {
		if err := b.deleteRecursive(b.p(topicPath(name))); err != nil {
			return fmt.Errorf("deleting topic %s: %w", name, err)
		}
		if err := b.fencedDelete(b.p(configPath(name))); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return fmt.Errorf("deleting config of %s: %w", name, err)
		}
		b.log.Info().Str("topic", name).Msg("controller: topic deleted")
	}
	if err := b.fencedDelete(b.p(deleteTopicsPath + "/" + name)); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	delete(b.deleting, name)
	return nil
}

// fencedDelete deletes a znode if this broker is still the controller:
// in one multi with the controller fence, as Kafka's KafkaZkClient wraps
// each of the controller's deletes (deleteRecursive, deleteTopicConfigs,
// deleteTopicDeletions with expectedControllerEpochZkVersion). A
// controller that lost its place, its request queued while it was cut off
// ZooKeeper and sent under a new session, gets errNotController.
func (b *backend) fencedDelete(zpath string) error {
	resp, err := b.conn.Multi(b.fence(), &zk.DeleteRequest{Path: zpath, Version: -1})
	return b.multiErr(resp, err)
}

// deleteRecursive deletes a znode and its children, each fenced.
func (b *backend) deleteRecursive(zpath string) error {
	for range 10 {
		children, _, err := b.conn.Children(zpath)
		if errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, c := range children {
			if err := b.deleteRecursive(zpath + "/" + c); err != nil {
				return err
			}
		}
		err = b.fencedDelete(zpath)
		if err == nil || errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		if !errors.Is(err, zk.ErrNotEmpty) {
			return err
		}
	}
	return fmt.Errorf("%s keeps getting new children", zpath)
}
