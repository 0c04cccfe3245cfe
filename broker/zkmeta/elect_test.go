package zkmeta_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/internal/zktest"
)

// change rewrites a partition's state through UpdatePartition (as a leader
// would), from the state n's applier shows, retrying a lost race.
func change(t *testing.T, n *node, topic string, p int, edit func(*metadata.PartitionState)) metadata.PartitionState {
	t.Helper()
	var out metadata.PartitionState
	await(t, fmt.Sprintf("rewriting the state of %s-%d", topic, p), func() bool {
		ps, ok := stateOf(n, topic, p)
		if !ok {
			return false
		}
		edit(&ps)
		got, err := n.be.UpdatePartition(context.Background(), topic, int32(p), ps)
		if errors.Is(err, metadata.ErrStaleState) {
			return false
		}
		if err != nil {
			t.Fatalf("UpdatePartition %s-%d: %v", topic, p, err)
		}
		out = got
		return true
	})
	return out
}

// electCode returns the Kafka error code of one election result.
func electCode(t *testing.T, res map[string]map[int32]error, topic string, p int32) int16 {
	t.Helper()
	ps, ok := res[topic]
	if !ok {
		t.Fatalf("no result for topic %s in %v", topic, res)
	}
	err, ok := ps[p]
	if !ok {
		t.Fatalf("no result for %s-%d in %v", topic, p, res)
	}
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		t.Fatalf("%s-%d: %v is not a Kafka error", topic, p, err)
	}
	return ke.Code
}

func TestElectLeaders(t *testing.T) {
	z := zktest.Start(t)
	nodes := map[int32]*node{}
	for id := int32(1); id <= 3; id++ {
		nodes[id] = start(t, z.Addr, id)
	}
	ctx := context.Background()
	a := nodes[1]
	if _, err := a.be.CreateTopic(ctx, metadata.TopicSpec{Name: "el", Assignment: [][]int32{{1, 2, 3}, {2, 3, 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.be.CreateTopic(ctx, metadata.TopicSpec{Name: "un", Assignment: [][]int32{{3, 2}}}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		await(t, fmt.Sprintf("broker %d to see el and un online", n.id), func() bool {
			p0, _ := stateOf(n, "el", 0)
			p1, _ := stateOf(n, "el", 1)
			u, _ := stateOf(n, "un", 0)
			return p0.Leader == 1 && len(p0.ISR) == 3 && p1.Leader == 2 && u.Leader == 3 && len(u.ISR) == 2
		})
	}

	// Only the controller elects (broker 1, started first): another broker
	// is told NOT_CONTROLLER, which its ElectLeaders handler forwards.
	await(t, "broker 1 to be the controller, as every broker sees it", func() bool {
		for _, n := range nodes {
			if _, c := n.apply.view(); c != 1 {
				return false
			}
		}
		return true
	})
	if _, err := nodes[2].be.ElectLeaders(ctx, metadata.ElectPreferred, map[string][]int32{"el": {0}}); !errors.Is(err, kerr.NotController) {
		t.Fatalf("an election asked of broker 2, not the controller: %v, want NOT_CONTROLLER", err)
	}

	// Preferred replicas already lead: nothing to do; unknown partitions
	// are reported as such.
	res, err := a.be.ElectLeaders(ctx, metadata.ElectPreferred, map[string][]int32{"el": {0, 1, 7}, "nope": {0}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		topic string
		p     int32
		want  *kerr.Error
	}{{"el", 0, kerr.ElectionNotNeeded}, {"el", 1, kerr.ElectionNotNeeded}, {"el", 7, kerr.UnknownTopicOrPartition}, {"nope", 0, kerr.UnknownTopicOrPartition}} {
		if got := electCode(t, res, c.topic, c.p); got != c.want.Code {
			t.Fatalf("preferred election of %s-%d: code %d, want %s", c.topic, c.p, got, c.want.Message)
		}
	}

	// el-0 led by 2 with broker 1 out of the ISR (as after a failover):
	// the preferred replica is live but not in sync.
	moved := change(t, a, "el", 0, func(ps *metadata.PartitionState) {
		ps.Leader, ps.LeaderEpoch, ps.ISR = 2, ps.LeaderEpoch+1, []int32{2, 3}
	})
	await(t, "broker 3 to see el-0 led by 2", func() bool { ps, _ := stateOf(nodes[3], "el", 0); return ps.Leader == 2 })
	res, err = a.be.ElectLeaders(ctx, metadata.ElectPreferred, map[string][]int32{"el": {0}})
	if err != nil {
		t.Fatal(err)
	}
	if got := electCode(t, res, "el", 0); got != kerr.PreferredLeaderNotAvailable.Code {
		t.Fatalf("preferred replica out of the ISR: code %d, want PREFERRED_LEADER_NOT_AVAILABLE", got)
	}
	// Broker 1's view is checked, so it is broker 1's view that is awaited:
	// once it has caught up with the change, the refused election must
	// have left el-0 as it was.
	var seen metadata.PartitionState
	await(t, fmt.Sprintf("broker 1 to see el-0 at version %d or later", moved.Version), func() bool {
		seen, _ = stateOf(a, "el", 0)
		return seen.Version >= moved.Version
	})
	if seen.Version != moved.Version || seen.Leader != 2 || seen.LeaderEpoch != moved.LeaderEpoch {
		t.Fatalf("a refused election changed el-0: %+v, want %+v", seen, moved)
	}

	// Broker 1 catches up: the election moves leadership back to it with
	// the next leader epoch; the ISR is unchanged.
	caught := change(t, a, "el", 0, func(ps *metadata.PartitionState) { ps.ISR = []int32{2, 3, 1} })
	await(t, "broker 3 to see el-0's ISR with broker 1", func() bool {
		ps, _ := stateOf(nodes[3], "el", 0)
		return ps.Version == caught.Version
	})
	res, err = a.be.ElectLeaders(ctx, metadata.ElectPreferred, nil) // every partition
	if err != nil {
		t.Fatal(err)
	}
	if got := electCode(t, res, "el", 0); got != 0 {
		t.Fatalf("preferred election of el-0: code %d, want success", got)
	}
	if got := electCode(t, res, "el", 1); got != kerr.ElectionNotNeeded.Code {
		t.Fatalf("el-1 in an all-partitions election: code %d, want ELECTION_NOT_NEEDED", got)
	}
	if got := electCode(t, res, "un", 0); got != kerr.ElectionNotNeeded.Code {
		t.Fatalf("un-0 in an all-partitions election: code %d, want ELECTION_NOT_NEEDED", got)
	}
	for _, n := range nodes {
		await(t, fmt.Sprintf("broker %d to see el-0 led by 1 at epoch %d", n.id, caught.LeaderEpoch+1), func() bool {
			ps, _ := stateOf(n, "el", 0)
			return ps.Leader == 1 && ps.LeaderEpoch == caught.LeaderEpoch+1 && slices.Equal(ps.ISR, []int32{2, 3, 1})
		})
	}

	// Unclean: a live leader needs none.
	res, err = a.be.ElectLeaders(ctx, metadata.ElectUnclean, map[string][]int32{"un": {0}})
	if err != nil {
		t.Fatal(err)
	}
	if got := electCode(t, res, "un", 0); got != kerr.ElectionNotNeeded.Code {
		t.Fatalf("unclean election with a live leader: code %d, want ELECTION_NOT_NEEDED", got)
	}
	// un-0's ISR shrinks to its leader 3, which then dies: offline, and
	// only an unclean election brings it back, on broker 2 alone.
	change(t, a, "un", 0, func(ps *metadata.PartitionState) { ps.ISR = []int32{3} })
	if _, err := a.be.CreateTopic(ctx, metadata.TopicSpec{Name: "dead", Assignment: [][]int32{{3}}}); err != nil {
		t.Fatal(err)
	}
	// The controller runs the unclean election below from its own view of
	// the topics: it must know dead before broker 3 goes.
	for _, n := range nodes {
		await(t, fmt.Sprintf("broker %d to see dead-0 led by 3", n.id), func() bool {
			ps, _ := stateOf(n, "dead", 0)
			return ps.Leader == 3
		})
	}
	nodes[3].be.Close()
	delete(nodes, 3)
	var off metadata.PartitionState
	await(t, "un-0 offline with ISR [3]", func() bool {
		off, _ = stateOf(a, "un", 0)
		return off.Leader == -1 && slices.Equal(off.ISR, []int32{3})
	})
	res, err = a.be.ElectLeaders(ctx, metadata.ElectPreferred, map[string][]int32{"un": {0}})
	if err != nil {
		t.Fatal(err)
	}
	if got := electCode(t, res, "un", 0); got != kerr.PreferredLeaderNotAvailable.Code {
		t.Fatalf("preferred election with the preferred replica dead: code %d, want PREFERRED_LEADER_NOT_AVAILABLE", got)
	}
	res, err = a.be.ElectLeaders(ctx, metadata.ElectUnclean, map[string][]int32{"un": {0}, "dead": {0}})
	if err != nil {
		t.Fatal(err)
	}
	if got := electCode(t, res, "un", 0); got != 0 {
		t.Fatalf("unclean election of un-0: code %d, want success", got)
	}
	if got := electCode(t, res, "dead", 0); got != kerr.EligibleLeadersNotAvailable.Code {
		t.Fatalf("unclean election without a live replica: code %d, want ELIGIBLE_LEADERS_NOT_AVAILABLE", got)
	}
	for _, n := range nodes {
		await(t, fmt.Sprintf("broker %d to see un-0 led by 2 alone", n.id), func() bool {
			ps, _ := stateOf(n, "un", 0)
			return ps.Leader == 2 && ps.LeaderEpoch == off.LeaderEpoch+1 && slices.Equal(ps.ISR, []int32{2})
		})
	}
}

// TestAutoLeaderRebalance: the controller moves leaderships back to the
// preferred replica once it is in the ISR, every partition whatever share
// of its preferred replica's partitions others lead, as Kafka 4's
// controller (leader.imbalance.per.broker.percentage is ignored).
func TestAutoLeaderRebalance(t *testing.T) {
	z := zktest.Start(t)
	cfg := &config.Config{DeleteTopicEnable: true, NumPartitions: 1, DefaultReplicationFactor: 1,
		AutoLeaderRebalance: true, LeaderImbalanceCheckInterval: 100 * time.Millisecond, LeaderImbalancePerBrokerPercentage: 50}
	var nodes []*node
	for id := int32(1); id <= 2; id++ {
		n, err := tryStartWith(t, z.Addr, id, cfg)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	if _, err := a.be.CreateTopic(ctx, metadata.TopicSpec{Name: "ar", Assignment: [][]int32{{1, 2}, {1, 2}, {1, 2}, {2, 1}}}); err != nil {
		t.Fatal(err)
	}
	await(t, "ar online with preferred leaders and full ISRs", func() bool {
		ts, ok := b.apply.topic("ar")
		if !ok || len(ts.Partitions) != 4 {
			return false
		}
		for _, ps := range ts.Partitions {
			if ps.Leader != ps.Replicas[0] || len(ps.ISR) != 2 {
				return false
			}
		}
		return true
	})
	// Broker 1 "failed": broker 2 leads partitions 0-2 without it. It is
	// in no ISR, so nothing moves back.
	for p := range 3 {
		change(t, b, "ar", p, func(ps *metadata.PartitionState) {
			ps.Leader, ps.LeaderEpoch, ps.ISR = 2, ps.LeaderEpoch+1, []int32{2}
		})
	}
	// It rejoins the ISRs one by one: each leadership returns, the last
	// one too although then only 1 of broker 1's 3 partitions (under
	// the 50% Gregor once waited for) is led by another.
	for p := range 3 {
		before := change(t, b, "ar", p, func(ps *metadata.PartitionState) { ps.ISR = []int32{2, 1} })
		for _, n := range nodes {
			await(t, fmt.Sprintf("broker %d to see ar-%d back on its preferred replica 1", n.id, p), func() bool {
				ps, _ := stateOf(n, "ar", p)
				return ps.Leader == 1 && ps.LeaderEpoch == before.LeaderEpoch+1 && slices.Equal(ps.ISR, []int32{2, 1})
			})
		}
	}
}
