package zkmeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/metadata"
)

// Partition reassignment (KIP-455) as Kafka's ZooKeeper-mode controller
// does it. A partition with original replicas O reassigned to target
// replicas R gets the replicas R ++ (O−R) with adding_replicas R−O and
// removing_replicas O−R in /brokers/topics/<t>, and its leader epoch is
// bumped so its leader tracks the new followers; the new replicas open
// the log and follow the leader. Once every replica of R is in the ISR,
// the controller sets the replicas to R, elects a leader from R∩ISR if the
// leader is not in R (bumping the epoch in any case, as Kafka does), drops
// O−R from the ISR and clears adding/removing, in one write; brokers no
// longer among the replicas delete their copy. A nil target cancels an
// ongoing reassignment: the replicas go back to O at once, and replicas
// that were being added leave the ISR.

// AlterPartitionReassignments starts or cancels reassignments. Each
// topic's partitions change together by compare-and-set of the topic's
// assignment znode and their state znodes, so a concurrent change (a
// reassignment completing, an ISR change) makes it read and decide again.
func (b *backend) AlterPartitionReassignments(ctx context.Context, targets map[string]map[int32][]int32, allowRFChange bool) (map[string]map[int32]error, error) {
	return withCtx(ctx, func() (map[string]map[int32]error, error) { return b.alterReassignments(targets, allowRFChange) })
}

func (b *backend) alterReassignments(targets map[string]map[int32][]int32, allowRFChange bool) (map[string]map[int32]error, error) {
	liveIDs, err := b.liveBrokerIDs()
	if err != nil {
		return nil, err
	}
	live := map[int32]bool{}
	for _, id := range liveIDs {
		live[id] = true
	}
	out := map[string]map[int32]error{}
	for _, name := range slices.Sorted(mapsKeys(targets)) {
		res := map[int32]error{}
		valid := map[int32][]int32{}
		for p, r := range targets[name] {
			if r == nil {
				valid[p] = nil
				continue
			}
			if err := checkReassignment(r); err != nil {
				res[p] = err
				continue
			}
			valid[p] = r
		}
		if len(valid) > 0 {
			if err := b.reassignTopic(name, valid, live, allowRFChange, res); err != nil {
				for p := range valid {
					res[p] = err
				}
			}
		}
		out[name] = res
	}
	return out, nil
}

// checkReassignment validates a target replica list on its own, as
// Kafka's controller does before looking at the partition.
func checkReassignment(r []int32) error {
	if len(r) == 0 {
		return kafkaErr(kerr.InvalidReplicaAssignment, "Empty replica list specified in partition reassignment.")
	}
	seen := map[int32]bool{}
	for _, id := range r {
		if seen[id] {
			return kafkaErr(kerr.InvalidReplicaAssignment, "Duplicate replica ids in partition reassignment replica list: %v", r)
		}
		if id < 0 {
			return kafkaErr(kerr.InvalidReplicaAssignment, "Invalid broker id in replica list: %v", r)
		}
		seen[id] = true
	}
	return nil
}

// minus returns the ids of a not in b, in a's order.
func minus(a, b []int32) []int32 {
	var out []int32
	for _, id := range a {
		if !slices.Contains(b, id) {
			out = append(out, id)
		}
	}
	return out
}

// reassignTopic applies targets (nil: cancel) to one topic's partitions,
// filling res; an error returned applies to every partition.
func (b *backend) reassignTopic(name string, targets map[int32][]int32, live map[int32]bool, allowRFChange bool, res map[int32]error) error {
	parts := slices.Sorted(mapsKeys(targets))
	for range 20 {
		data, stat, err := b.conn.Get(b.p(topicPath(name)))
		if errors.Is(err, zk.ErrNoNode) {
			for _, p := range parts {
				if targets[p] == nil {
					res[p] = kafkaErr(kerr.NoReassignmentInProgress, "No reassignment is in progress for %s-%d", name, p)
				} else {
					res[p] = kafkaErr(kerr.UnknownTopicOrPartition, "The partition %s-%d does not exist.", name, p)
				}
			}
			return nil
		}
		if err != nil {
			return err
		}
		deleting, err := b.exists(deleteTopicsPath + "/" + name)
		if err != nil {
			return err
		}
		var z topicZNode
		if err := json.Unmarshal(data, &z); err != nil {
			return fmt.Errorf("%s: %w", topicPath(name), err)
		}
		if z.AddingReplicas == nil {
			z.AddingReplicas = map[string][]int32{}
		}
		if z.RemovingReplicas == nil {
			z.RemovingReplicas = map[string][]int32{}
		}
		type change struct {
			p        int32
			old, rs  []int32
			from, to stateZNode
			version  int32
			hasState bool
		}
		var changes []change
		topicChanged := false
		for _, p := range parts {
			target := targets[p]
			k := strconv.Itoa(int(p))
			cur, ok := z.Partitions[k]
			adding, removing := z.AddingReplicas[k], z.RemovingReplicas[k]
			inProgress := len(adding) > 0 || len(removing) > 0
			switch {
			case target == nil && !inProgress:
				res[p] = kafkaErr(kerr.NoReassignmentInProgress, "No reassignment is in progress for %s-%d", name, p)
				continue
			case !ok:
				res[p] = kafkaErr(kerr.UnknownTopicOrPartition, "The partition %s-%d does not exist.", name, p)
				continue
			case deleting:
				res[p] = kafkaErr(kerr.UnknownTopicOrPartition, "The partition %s-%d is being deleted", name, p)
				continue
			}
			origin := minus(cur, adding)
			if target == nil {
				target = origin
			} else {
				if add := minus(target, origin); slices.ContainsFunc(add, func(id int32) bool { return !live[id] }) {
					res[p] = kafkaErr(kerr.InvalidReplicaAssignment, "Replica assignment has brokers that are not alive. Replica list: %v, live broker list: %v", add, slices.Sorted(mapsKeys(live)))
					continue
				}
				if !allowRFChange && len(target) != len(origin) {
					res[p] = kafkaErr(kerr.InvalidReplicationFactor, "The replication factor is changed from %d to %d but allowReplicationFactorChange is false", len(origin), len(target))
					continue
				}
			}
			rs := append(slices.Clone(target), minus(origin, target)...)
			add, rem := minus(target, origin), minus(origin, target)
			res[p] = nil
			if slices.Equal(rs, cur) && slices.Equal(add, adding) && slices.Equal(rem, removing) {
				continue // already so
			}
			z.Partitions[k] = rs
			setOrDrop(z.AddingReplicas, k, add)
			setOrDrop(z.RemovingReplicas, k, rem)
			topicChanged = true
			if sameSet(rs, cur) {
				continue // the same replicas: the leader is unaffected
			}
			c := change{p: int32(p), old: cur, rs: rs}
			sdata, sstat, err := b.conn.Get(b.p(statePath(name, p)))
			switch {
			case errors.Is(err, zk.ErrNoNode):
				// Not online yet: the controller creates the state.
			case err != nil:
				return err
			default:
				if c.from, err = decodeState(sdata); err != nil {
					return fmt.Errorf("%s: %w", statePath(name, p), err)
				}
				c.hasState, c.version = true, sstat.Version
				c.to = reassignedState(c.from, rs, minus(cur, rs), live)
			}
			changes = append(changes, c)
		}
		if !topicChanged {
			return nil
		}
		out, err := json.Marshal(&z)
		if err != nil {
			return err
		}
		ops := []any{&zk.SetDataRequest{Path: b.p(topicPath(name)), Data: out, Version: stat.Version}}
		for _, c := range changes {
			if c.hasState {
				ops = append(ops, &zk.SetDataRequest{Path: b.p(statePath(name, c.p)),
					Data: encodeState(c.from.ControllerEpoch, c.to.Leader, c.to.LeaderEpoch, c.to.ISR), Version: c.version})
			}
		}
		_, err = b.conn.Multi(ops...)
		if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
			continue // changed meanwhile: decide again
		}
		if err != nil {
			return fmt.Errorf("writing the reassignment of %s: %w", name, err)
		}
		for _, c := range changes {
			ev := b.log.Info().Str("topic", name).Int32("partition", c.p).Ints32("replicas", c.old).Ints32("new_replicas", c.rs)
			if c.hasState {
				ev = ev.Int32("leader", c.to.Leader).Int32("leader_epoch", c.to.LeaderEpoch).Ints32("isr", c.to.ISR)
			}
			ev.Msg("partition reassignment recorded")
		}
		return nil
	}
	return fmt.Errorf("the assignment of %s kept changing during the reassignment", name)
}

func setOrDrop(m map[string][]int32, k string, v []int32) {
	if len(v) == 0 {
		delete(m, k)
	} else {
		m[k] = v
	}
}

func sameSet(a, b []int32) bool {
	return len(a) == len(b) && len(minus(a, b)) == 0 && len(minus(b, a)) == 0
}

// reassignedState is a partition's state once its replicas become rs and
// the replicas in gone stop: they leave the ISR (unless it would be
// empty, as Kafka keeps the last ISR member), a leader among them is
// replaced by the first live ISR member in rs order (none: no leader),
// and the leader epoch is bumped so the leader tracks the new replicas.
func reassignedState(z stateZNode, rs, gone []int32, live map[int32]bool) stateZNode {
	isr := minus(z.ISR, gone)
	if len(isr) == 0 {
		isr = z.ISR
	}
	leader := z.Leader
	if !slices.Contains(rs, leader) {
		leader = -1
		for _, r := range rs {
			if live[r] && slices.Contains(isr, r) {
				leader = r
				break
			}
		}
	}
	return stateZNode{ControllerEpoch: z.ControllerEpoch, Leader: leader, LeaderEpoch: z.LeaderEpoch + 1, ISR: isr, Version: 1}
}

// completeReassignment is the controller's completion of a partition's
// reassignment once its target replicas are all in the ISR: replicas set
// to the target, the leader moved into it if needed, the removed replicas
// out of the ISR, adding/removing cleared, in one fenced write. Called
// with mu held.
func (b *backend) completeReassignment(t *topicCache, p int32, live map[int32]bool) error {
	if int(p) >= len(t.adding) || int(p) >= len(t.removing) || int(p) >= len(t.states) {
		return nil
	}
	if len(t.adding[p]) == 0 && len(t.removing[p]) == 0 {
		return nil
	}
	st := t.states[p]
	if st == nil {
		return nil
	}
	target := minus(t.assign[p], t.removing[p])
	if len(target) == 0 || len(minus(target, st.isr)) > 0 {
		return nil // still catching up
	}
	leader := st.leader
	if !slices.Contains(target, leader) || !live[leader] {
		leader = -1
		for _, r := range target {
			if live[r] && slices.Contains(st.isr, r) {
				leader = r
				break
			}
		}
		if leader == -1 {
			return nil // no live target replica to lead: wait
		}
	}
	isr := minus(st.isr, t.removing[p])
	epoch := st.leaderEpoch + 1
	assign := slices.Clone(t.assign)
	adding, removing := slices.Clone(t.adding), slices.Clone(t.removing)
	assign[p], adding[p], removing[p] = target, nil, nil
	data, err := encodeTopicReassigning(t.id, assign, adding, removing)
	if err != nil {
		return err
	}
	resp, err := b.conn.Multi(b.fence(),
		&zk.SetDataRequest{Path: b.p(statePath(t.name, p)), Data: encodeState(b.ctrlEpoch, leader, epoch, isr), Version: st.version},
		&zk.SetDataRequest{Path: b.p(topicPath(t.name)), Data: data, Version: t.version})
	if err = b.multiErr(resp, err); err != nil {
		if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
			b.mark(stateKey(t.name, p)) // changed meanwhile: re-read, decide again
			b.mark(preTopic + t.name)
			return nil
		}
		return fmt.Errorf("completing the reassignment of %s-%d: %w", t.name, p, err)
	}
	b.log.Info().Str("topic", t.name).Int32("partition", p).Ints32("replicas", target).Ints32("removed", t.removing[p]).
		Int32("old_leader", st.leader).Int32("leader", leader).Int32("leader_epoch", epoch).Ints32("isr", isr).
		Msg("controller: partition reassignment completed")
	sv, tv := st.version+1, t.version+1
	if len(resp) > 2 {
		if resp[1].Stat != nil {
			sv = resp[1].Stat.Version
		}
		if resp[2].Stat != nil {
			tv = resp[2].Stat.Version
		}
	}
	t.states[p] = &pstate{ctrlEpoch: b.ctrlEpoch, leader: leader, leaderEpoch: epoch, isr: isr, version: sv}
	t.assign, t.adding, t.removing, t.version, t.changed = assign, adding, removing, tv, true
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
		names = slices.Collect(mapsKeys(parts))
	}
	slices.Sort(names)
	out := map[string]map[int32]metadata.Reassignment{}
	for _, name := range names {
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
