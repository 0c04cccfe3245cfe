package zkmeta

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/metadata"
)

// Preferred leader election, as Kafka's ZooKeeper-mode controller does it:
// the preferred replica of a partition is the first of its assignment.
// ElectLeaders (the ElectLeaders API) elects on request; the controller's
// automatic rebalance (auto.leader.rebalance.enable) elects the preferred
// replicas of every broker whose share of partitions led by another exceeds
// leader.imbalance.per.broker.percentage, every
// leader.imbalance.check.interval.seconds.

// ElectLeaders runs elections of type typ for parts (every partition when
// nil). Each election is a compare-and-set of the partition's state znode
// at the version it read, with the leader epoch incremented, so it cannot
// overwrite a concurrent change by the controller or a leader: on a
// conflict the state is read again and the election decided again.
func (b *backend) ElectLeaders(ctx context.Context, typ int8, parts map[string][]int32) (map[string]map[int32]error, error) {
	return withCtx(ctx, func() (map[string]map[int32]error, error) { return b.electLeaders(typ, parts) })
}

func (b *backend) electLeaders(typ int8, parts map[string][]int32) (map[string]map[int32]error, error) {
	liveIDs, err := b.liveBrokerIDs()
	if err != nil {
		return nil, err
	}
	live := map[int32]bool{}
	for _, id := range liveIDs {
		live[id] = true
	}
	type target struct {
		replicas []int32
		known    bool
		deleting bool
	}
	targets := map[string]map[int32]target{}
	b.mu.Lock()
	if parts == nil {
		parts = map[string][]int32{}
		for name, t := range b.topics {
			if t.exists && t.hasID {
				for p := range t.assign {
					parts[name] = append(parts[name], int32(p))
				}
			}
		}
	}
	for name, ps := range parts {
		t := b.topics[name]
		m := map[int32]target{}
		for _, p := range ps {
			if t == nil || !t.exists || !t.hasID || p < 0 || int(p) >= len(t.assign) {
				m[p] = target{}
				continue
			}
			m[p] = target{replicas: slices.Clone(t.assign[p]), known: true, deleting: b.deleting[name]}
		}
		targets[name] = m
	}
	b.mu.Unlock()

	out := map[string]map[int32]error{}
	for _, name := range slices.Sorted(mapsKeys(targets)) {
		res := map[int32]error{}
		for _, p := range slices.Sorted(mapsKeys(targets[name])) {
			tg := targets[name][p]
			switch {
			case !tg.known:
				res[p] = kafkaErr(kerr.UnknownTopicOrPartition, "The partition does not exist.")
			case tg.deleting:
				res[p] = kafkaErr(kerr.InvalidTopicException, "The topic is being deleted")
			default:
				res[p] = b.electOne(typ, name, p, tg.replicas, live)
			}
		}
		out[name] = res
	}
	return out, nil
}

// electOne elects one partition's leader by compare-and-set.
func (b *backend) electOne(typ int8, topic string, p int32, replicas []int32, live map[int32]bool) error {
	zpath := b.p(statePath(topic, p))
	for range 10 {
		data, stat, err := b.conn.Get(zpath)
		if errors.Is(err, zk.ErrNoNode) {
			if typ == metadata.ElectPreferred {
				return kafkaErr(kerr.PreferredLeaderNotAvailable, "Partition %s-%d has no state yet", topic, p)
			}
			return kafkaErr(kerr.EligibleLeadersNotAvailable, "Partition %s-%d has no state yet", topic, p)
		}
		if err != nil {
			return err
		}
		z, err := decodeState(data)
		if err != nil {
			return fmt.Errorf("%s: %w", statePath(topic, p), err)
		}
		leader, isr, eerr := electionChoice(typ, z, replicas, live)
		if eerr != nil {
			return eerr
		}
		_, err = b.conn.Set(zpath, encodeState(z.ControllerEpoch, leader, z.LeaderEpoch+1, isr), stat.Version)
		if errors.Is(err, zk.ErrBadVersion) {
			continue // changed meanwhile: decide again
		}
		if err != nil {
			return fmt.Errorf("writing state of %s-%d: %w", topic, p, err)
		}
		kind := "preferred"
		if typ == metadata.ElectUnclean {
			kind = "unclean"
		}
		b.log.Info().Str("topic", topic).Int32("partition", p).Str("election", kind).Int32("old_leader", z.Leader).
			Int32("leader", leader).Int32("leader_epoch", z.LeaderEpoch+1).Ints32("isr", isr).Msg("leader elected on request")
		return nil
	}
	return fmt.Errorf("state of %s-%d kept changing during the election", topic, p)
}

// electionChoice decides an ElectLeaders election as Kafka's controller
// does. Preferred: the first replica, if it is live and in the ISR, and
// does not already lead. Unclean: only for a partition whose leader is
// gone; the first live ISR member in replica order, else the first live
// replica, which then is the whole ISR.
func electionChoice(typ int8, z stateZNode, replicas []int32, live map[int32]bool) (leader int32, isr []int32, err error) {
	switch typ {
	case metadata.ElectPreferred:
		if len(replicas) == 0 {
			return 0, nil, kafkaErr(kerr.PreferredLeaderNotAvailable, "The partition has no replicas")
		}
		pref := replicas[0]
		if z.Leader == pref {
			return 0, nil, kafkaErr(kerr.ElectionNotNeeded, "Leader election not needed for topic partition.")
		}
		if !live[pref] || !slices.Contains(z.ISR, pref) {
			return 0, nil, kafkaErr(kerr.PreferredLeaderNotAvailable, "Failed to elect leader: preferred replica %d is not live and in the ISR %v", pref, z.ISR)
		}
		return pref, z.ISR, nil
	case metadata.ElectUnclean:
		if z.Leader >= 0 && live[z.Leader] {
			return 0, nil, kafkaErr(kerr.ElectionNotNeeded, "Leader election not needed for topic partition.")
		}
		for _, r := range replicas {
			if live[r] && slices.Contains(z.ISR, r) {
				var liveISR []int32
				for _, i := range z.ISR {
					if live[i] {
						liveISR = append(liveISR, i)
					}
				}
				return r, liveISR, nil
			}
		}
		for _, r := range replicas {
			if live[r] {
				return r, []int32{r}, nil
			}
		}
		return 0, nil, kafkaErr(kerr.EligibleLeadersNotAvailable, "Failed to elect leader: no replica of %v is live", replicas)
	}
	return 0, nil, kafkaErr(kerr.InvalidRequest, "Unknown election type %d", typ)
}

// rebalanceInterval is how often the controller checks the leader
// imbalance, or 0 when automatic rebalancing is off.
func (b *backend) rebalanceInterval() time.Duration {
	c := b.opt.Config
	if c == nil || !c.AutoLeaderRebalance || c.LeaderImbalanceCheckInterval <= 0 {
		return 0
	}
	return c.LeaderImbalanceCheckInterval
}

// rebalance is the controller's automatic preferred leader election: for
// each broker, the partitions it is the preferred replica of are counted;
// if the share of them led by another broker exceeds the threshold, each
// whose preferred replica is live and in the ISR is led by it again.
// Called with mu held, by the controller.
func (b *backend) rebalance(live map[int32]bool) error {
	pct := 10
	if b.opt.Config != nil {
		pct = b.opt.Config.LeaderImbalancePerBrokerPercentage
	}
	type tp struct {
		t *topicCache
		p int32
	}
	byPref := map[int32][]tp{}
	for _, name := range slices.Sorted(mapsKeys(b.topics)) {
		t := b.topics[name]
		if !t.exists || !t.hasID || b.deleting[name] {
			continue
		}
		for p, r := range t.assign {
			if len(r) > 0 && p < len(t.states) && t.states[p] != nil {
				byPref[r[0]] = append(byPref[r[0]], tp{t, int32(p)})
			}
		}
	}
	for _, pref := range slices.Sorted(mapsKeys(byPref)) {
		all := byPref[pref]
		var off []tp
		for _, x := range all {
			if x.t.states[x.p].leader != pref {
				off = append(off, x)
			}
		}
		if len(off) == 0 || float64(len(off))/float64(len(all)) <= float64(pct)/100 {
			continue
		}
		if !live[pref] {
			continue
		}
		b.log.Info().Int32("broker", pref).Int("not_led", len(off)).Int("preferred", len(all)).
			Msg("controller: leader imbalance above leader.imbalance.per.broker.percentage; electing preferred replicas")
		for _, x := range off {
			st := x.t.states[x.p]
			if !slices.Contains(st.isr, pref) {
				continue // not in sync: it cannot lead yet
			}
			b.log.Info().Str("topic", x.t.name).Int32("partition", x.p).Int32("old_leader", st.leader).Int32("leader", pref).
				Int32("leader_epoch", st.leaderEpoch+1).Msg("controller: preferred replica elected (auto rebalance)")
			if err := b.writeState(x.t, x.p, st, pref, st.leaderEpoch+1, st.isr); err != nil {
				return err
			}
		}
	}
	return nil
}
