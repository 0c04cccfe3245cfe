package zkmeta

import (
	"encoding/json"
	"errors"
	"fmt"
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
	live := map[int32]bool{}
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
			alive = map[int32]bool{}
			for id := range live {
				if !bounced[id] {
					alive[id] = true
				}
			}
		}
		for _, name := range slices.Sorted(mapsKeys(b.topics)) {
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

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// controlPartition creates a partition's state or elects its leader.
func (b *backend) controlPartition(t *topicCache, p int32, live map[int32]bool) error {
	replicas := t.assign[p]
	st := t.states[p]
	if st == nil {
		// Replicas a reassignment is adding have no data yet: they join
		// the ISR by catching up, unless no other replica is live.
		var isr, adding []int32
		for _, r := range replicas {
			if live[r] {
				if int(p) < len(t.adding) && slices.Contains(t.adding[p], r) {
					adding = append(adding, r)
				} else {
					isr = append(isr, r)
				}
			}
		}
		if len(isr) == 0 {
			isr = adding
		}
		if len(isr) == 0 {
			return nil // no replica is up yet; created when one registers
		}
		return b.createState(t, p, isr[0], isr)
	}
	leader, epoch, isr, ok := decide(st, replicas, live)
	if !ok {
		return nil
	}
	b.log.Info().Str("topic", t.name).Int32("partition", p).Int32("old_leader", st.leader).Int32("leader", leader).
		Int32("leader_epoch", epoch).Ints32("isr", isr).Msg("controller: partition state change")
	return b.writeState(t, p, st, leader, epoch, isr)
}

// decide returns a partition's next leader, epoch and ISR given the live
// brokers, or ok=false if nothing changes. A leader is chosen only from the
// live ISR, in replica order (no unclean election); with none alive the
// partition is left without a leader and its ISR keeps the last leader.
func decide(st *pstate, replicas []int32, live map[int32]bool) (leader, epoch int32, isr []int32, ok bool) {
	var liveISR []int32
	for _, r := range st.isr {
		if live[r] {
			liveISR = append(liveISR, r)
		}
	}
	if st.leader >= 0 && live[st.leader] {
		if len(liveISR) == len(st.isr) {
			return 0, 0, nil, false
		}
		if !slices.Contains(liveISR, st.leader) {
			liveISR = append([]int32{st.leader}, liveISR...)
		}
		return st.leader, st.leaderEpoch, liveISR, true // a follower died
	}
	for _, r := range replicas {
		if live[r] && slices.Contains(st.isr, r) {
			return r, st.leaderEpoch + 1, liveISR, true
		}
	}
	if st.leader == -1 {
		return 0, 0, nil, false
	}
	// No live ISR member: offline. Keep the last leader in the ISR so it
	// is the one elected when it returns.
	isr = st.isr
	if slices.Contains(st.isr, st.leader) {
		isr = []int32{st.leader}
	}
	return -1, st.leaderEpoch + 1, isr, true
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

func (b *backend) writeState(t *topicCache, p int32, old *pstate, leader, epoch int32, isr []int32) error {
	data := encodeState(b.ctrlEpoch, leader, epoch, isr)
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
	t.states[p] = &pstate{ctrlEpoch: b.ctrlEpoch, leader: leader, leaderEpoch: epoch, isr: isr, version: version}
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
