package zkmeta

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/metadata"
)

// Leader elections on request and preferred leader rebalancing, as Kafka's
// ZooKeeper-mode controller does them: the preferred replica of a
// partition is the first of its assignment. ElectLeaders (the ElectLeaders
// API) elects on request, as metadata.Elect decides; the controller's
// automatic rebalance (auto.leader.rebalance.enable) elects the preferred
// replica of every partition metadata.Imbalances finds led by another,
// every leader.imbalance.check.interval.seconds, as Kafka 4's controller.

// ElectLeaders runs elections of type typ for parts (every partition when
// nil). As in Kafka (KafkaController.processReplicaLeaderElection in
// ZooKeeper mode, the KRaft controller in Kafka 4) only the controller
// elects: on another broker it fails with NOT_CONTROLLER, which the
// handler forwards to the controller. Each election is a compare-and-set
// of the partition's state znode at the version it read, with the leader
// epoch incremented, so it cannot overwrite a concurrent change by a
// leader: on a conflict the state is read again and the election decided
// again. Each write also checks the controller epoch's znode version (as
// the controller's other writes): a controller deposed while cut off
// ZooKeeper elects nothing, and its partitions are NOT_CONTROLLER.
func (b *backend) ElectLeaders(ctx context.Context, typ int8, parts map[string][]int32) (map[string]map[int32]error, error) {
	return withCtx(ctx, func() (map[string]map[int32]error, error) { return b.electLeaders(typ, parts) })
}

func (b *backend) electLeaders(typ int8, parts map[string][]int32) (map[string]map[int32]error, error) {
	b.mu.Lock()
	isController, fence, epoch := b.isController, b.fence(), b.ctrlEpoch
	b.mu.Unlock()
	if !isController {
		return nil, notControllerError()
	}
	// A broker in controlled shutdown is not live to an election, as to
	// Kafka's (ControllerContext.isReplicaOnline).
	_, live, err := b.eligibleBrokerIDs()
	if err != nil {
		return nil, err
	}
	type target struct {
		replicas []int32
		unknown  error
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
			switch {
			case t == nil || !t.exists || !t.hasID:
				m[p] = target{unknown: metadata.UnknownElectionTarget(name, -1)}
				continue
			case p < 0 || int(p) >= len(t.assign):
				m[p] = target{unknown: metadata.UnknownElectionTarget(name, p)}
				continue
			}
			m[p] = target{replicas: slices.Clone(t.assign[p]), deleting: b.deleting[name]}
		}
		targets[name] = m
	}
	b.mu.Unlock()

	out := map[string]map[int32]error{}
	deposed := false
	for _, name := range slices.Sorted(maps.Keys(targets)) {
		res := map[int32]error{}
		for _, p := range slices.Sorted(maps.Keys(targets[name])) {
			tg := targets[name][p]
			switch {
			case tg.unknown != nil:
				res[p] = tg.unknown
			case tg.deleting:
				res[p] = metadata.Errorf(kerr.InvalidTopicException, "The topic is being deleted")
			case deposed:
				res[p] = notControllerError()
			default:
				res[p] = b.electOne(typ, name, p, tg.replicas, live, fence, epoch)
				if errors.Is(res[p], errNotController) {
					deposed = true
					res[p] = notControllerError()
				}
			}
		}
		out[name] = res
	}
	if deposed {
		b.deposed("leader elections on request refused")
	}
	return out, nil
}

// deposed stops this broker acting as the controller after a write of a
// request's (what was refused) failed on a newer controller epoch; the
// controller loop then learns who the controller is.
func (b *backend) deposed(what string) {
	b.log.Warn().Msg("controller: a newer controller was elected; " + what)
	b.mu.Lock()
	b.isController = false
	b.mu.Unlock()
	b.mark(keyCtrl)
}

// notControllerError is what a controller's request (an election, a
// reassignment) asked of a broker that is not (or no longer) the
// controller answers.
func notControllerError() error {
	return metadata.Errorf(kerr.NotController, "This is not the correct controller for this cluster.")
}

// electOne elects one partition's leader by compare-and-set, fenced by the
// controller epoch's znode version (errNotController when it moved).
func (b *backend) electOne(typ int8, topic string, p int32, replicas []int32, live metadata.Live, fence *zk.CheckVersionRequest, epoch int32) error {
	zpath := b.p(statePath(topic, p))
	for range 10 {
		data, stat, err := b.conn.Get(zpath)
		if errors.Is(err, zk.ErrNoNode) {
			return metadata.ElectionRefusal(typ) // no state yet: no leader to keep or elect
		}
		if err != nil {
			return err
		}
		z, err := decodeState(data)
		if err != nil {
			return fmt.Errorf("%s: %w", statePath(topic, p), err)
		}
		// A replica restarted since the state was written is not
		// elected where another can be, and leaves the ISR: the state
		// written would make its previous run's membership look current.
		cur := z.partition(topic, p, replicas)
		restarted := b.restartedIn(z.Leader, z.ISR, stat.Mzxid)
		next, err := metadata.Elect(typ, cur, minusLive(live, restarted))
		if err != nil && typ == metadata.ElectUnclean && len(restarted) > 0 {
			next, err = metadata.Elect(typ, cur, live)
		}
		if err != nil {
			return err
		}
		next.ISR = withoutRestarted(next.ISR, restarted, next.Leader)
		resp, err := b.conn.Multi(fence, &zk.SetDataRequest{Path: zpath, Data: encodeState(epoch, next.Leader, next.LeaderEpoch, next.ISR), Version: stat.Version})
		err = b.multiErr(resp, err)
		if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
			continue // changed meanwhile: decide again
		}
		if err != nil {
			return fmt.Errorf("writing state of %s-%d: %w", topic, p, err)
		}
		kind := "preferred"
		if typ == metadata.ElectUnclean {
			kind = "unclean"
			if !slices.Contains(z.ISR, next.Leader) {
				b.uncleanElections.Add(1)
			}
		}
		b.log.Info().Str("topic", topic).Int32("partition", p).Str("election", kind).Int32("old_leader", z.Leader).
			Int32("leader", next.Leader).Int32("leader_epoch", next.LeaderEpoch).Ints32("isr", next.ISR).Msg("leader elected on request")
		return nil
	}
	return fmt.Errorf("state of %s-%d kept changing during the election", topic, p)
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

// rebalance is the controller's automatic preferred leader election: the
// partitions metadata.Imbalances finds led by another broker than their
// preferred replica are led by it again, where it is in the ISR. Called
// with mu held, by the controller.
func (b *backend) rebalance(live metadata.Live) error {
	var parts []metadata.Partition
	for _, name := range slices.Sorted(maps.Keys(b.topics)) {
		t := b.topics[name]
		if !t.exists || !t.hasID || b.deleting[name] {
			continue
		}
		for p := range t.assign {
			if p < len(t.states) && t.states[p] != nil {
				parts = append(parts, t.partition(int32(p)))
			}
		}
	}
	for _, im := range metadata.Imbalances(parts, live) {
		b.log.Info().Int32("broker", im.Broker).Int("not_led", len(im.NotLed)).Int("preferred", im.Preferred).
			Msg("controller: partitions not led by their preferred replica; electing it")
		for _, cur := range im.NotLed {
			t := b.topics[cur.Topic]
			if len(b.restarted(t.states[cur.Index], live)) > 0 {
				continue // Rejoin's first (control)
			}
			next, err := metadata.Elect(metadata.ElectPreferred, cur, live)
			if err != nil {
				continue // not in sync: it cannot lead yet
			}
			b.log.Info().Str("topic", cur.Topic).Int32("partition", cur.Index).Int32("old_leader", cur.Leader).Int32("leader", next.Leader).
				Int32("leader_epoch", next.LeaderEpoch).Msg("controller: preferred replica elected (auto rebalance)")
			if err := b.writeState(t, cur.Index, t.states[cur.Index], next); err != nil {
				return err
			}
		}
	}
	return nil
}
