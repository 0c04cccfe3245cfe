package zkmeta

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

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
				err := b.controlPartition(t, int32(p), alive)
				if err == nil && pass == 1 {
					err = b.completeReassignment(t, int32(p), alive)
				}
				if err != nil {
					note(err)
					if !b.isController {
						return firstErr
					}
				}
			}
		}
	}
	if b.rebalanceDue && firstErr == nil {
		b.rebalanceDue = false
		if err := b.rebalance(live); err != nil {
			note(err)
		}
	}
	return firstErr
}

// controlPartition creates a partition's state (metadata.Online) or
// follows the live brokers (metadata.Failover).
func (b *backend) controlPartition(t *topicCache, p int32, live metadata.Live) error {
	cur := t.partition(p)
	if t.states[p] == nil {
		next, ok := metadata.Online(cur, live)
		if !ok {
			return nil // no replica is up yet; created when one registers
		}
		return b.createState(t, p, next.Leader, next.ISR)
	}
	next, ok := metadata.Failover(cur, live)
	if !ok {
		return nil
	}
	b.log.Info().Str("topic", t.name).Int32("partition", p).Int32("old_leader", cur.Leader).Int32("leader", next.Leader).
		Int32("leader_epoch", next.LeaderEpoch).Ints32("isr", next.ISR).Msg("controller: partition state change")
	return b.writeState(t, p, t.states[p], next)
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

func (b *backend) createState(t *topicCache, p int32, leader int32, isr []int32) error {
	for _, zpath := range []string{partitionsPath(t.name), partitionPath(t.name, p)} {
		_, err := b.conn.Create(b.p(zpath), nil, 0, b.acl)
		if errors.Is(err, zk.ErrNoNode) {
			return nil // topic deleted meanwhile
		}
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
	data := encodeState(b.ctrlEpoch, leader, 0, isr)
	resp, err := b.conn.Multi(b.fence(), &zk.CreateRequest{Path: b.p(statePath(t.name, p)), Data: data, Acl: b.acl})
	if err = b.multiErr(resp, err); err != nil {
		if errors.Is(err, zk.ErrNodeExists) {
			b.mark(stateKey(t.name, p))
			return nil
		}
		return fmt.Errorf("creating state of %s-%d: %w", t.name, p, err)
	}
	b.log.Info().Str("topic", t.name).Int32("partition", p).Int32("leader", leader).Ints32("isr", isr).Msg("controller: partition online")
	t.states[p] = &pstate{ctrlEpoch: b.ctrlEpoch, leader: leader, isr: isr, version: 0}
	t.changed = true
	return nil
}

// writeState records a partition's next leadership, fenced, by
// compare-and-set from old.
func (b *backend) writeState(t *topicCache, p int32, old *pstate, next metadata.Partition) error {
	data := encodeState(b.ctrlEpoch, next.Leader, next.LeaderEpoch, next.ISR)
	resp, err := b.conn.Multi(b.fence(), &zk.SetDataRequest{Path: b.p(statePath(t.name, p)), Data: data, Version: old.version})
	if err = b.multiErr(resp, err); err != nil {
		if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
			b.mark(stateKey(t.name, p)) // changed meanwhile: re-read, decide again
			return nil
		}
		return fmt.Errorf("writing state of %s-%d: %w", t.name, p, err)
	}
	version := old.version + 1
	if len(resp) > 1 && resp[1].Stat != nil {
		version = resp[1].Stat.Version
	}
	if next.Leader >= 0 && next.Leader != old.leader {
		b.elections.Add(1)
	}
	t.states[p] = &pstate{ctrlEpoch: b.ctrlEpoch, leader: next.Leader, leaderEpoch: next.LeaderEpoch, isr: next.ISR, version: version}
	t.changed = true
	return nil
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
		if err := b.conn.Delete(b.p(configPath(name)), -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return fmt.Errorf("deleting config of %s: %w", name, err)
		}
		b.log.Info().Str("topic", name).Msg("controller: topic deleted")
	}
	if err := b.conn.Delete(b.p(deleteTopicsPath+"/"+name), -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	delete(b.deleting, name)
	return nil
}

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
		err = b.conn.Delete(zpath, -1)
		if err == nil || errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		if !errors.Is(err, zk.ErrNotEmpty) {
			return err
		}
	}
	return fmt.Errorf("%s keeps getting new children", zpath)
}
