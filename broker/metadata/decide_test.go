package metadata

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func ids(v ...int32) []int32 { return v }

// pt is partition t-0 with the given replicas, leader, leader epoch and
// ISR.
func pt(replicas []int32, leader, epoch int32, isr []int32) Partition {
	return Partition{Topic: "t", Replicas: replicas, Leader: leader, LeaderEpoch: epoch, ISR: isr}
}

// moving is p with a reassignment adding and removing replicas.
func moving(p Partition, adding, removing []int32) Partition {
	p.Adding, p.Removing = adding, removing
	return p
}

func same(a, b Partition) bool {
	return a.Topic == b.Topic && a.Index == b.Index && a.SameAssignment(b) && a.SameLeadership(b)
}

func show(p Partition) string {
	return fmt.Sprintf("{replicas %v adding %v removing %v leader %d epoch %d isr %v}", p.Replicas, p.Adding, p.Removing, p.Leader, p.LeaderEpoch, p.ISR)
}

// decision is a table row of a decision that changes a partition or not.
type decision struct {
	name string
	in   Partition
	live Live
	want Partition // the next state; ignored when !ok
	ok   bool
}

func check(t *testing.T, c decision, got Partition, ok bool) {
	t.Helper()
	if ok != c.ok {
		t.Fatalf("%s: changed %v (to %s), want %v", c.name, ok, show(got), c.ok)
	}
	if !ok && !same(got, c.in) {
		t.Fatalf("%s: unchanged, but returned %s instead of its input", c.name, show(got))
	}
	if ok && !same(got, c.want) {
		t.Fatalf("%s:\n got %s\nwant %s", c.name, show(got), show(c.want))
	}
}

func TestOnline(t *testing.T) {
	for _, c := range []decision{
		{"every replica live: led by the first", pt(ids(1, 2, 3), -1, 0, nil), NewLive(1, 2, 3), pt(ids(1, 2, 3), 1, 0, ids(1, 2, 3)), true},
		{"first replica down: led by the next", pt(ids(1, 2, 3), -1, 0, nil), NewLive(2, 3), pt(ids(1, 2, 3), 2, 0, ids(2, 3)), true},
		{"a replica being added is left out", moving(pt(ids(3, 1), -1, 0, nil), ids(3), ids(1)), NewLive(1, 3),
			moving(pt(ids(3, 1), 1, 0, ids(1)), ids(3), ids(1)), true},
		{"only replicas being added are live: they are the ISR", moving(pt(ids(3, 1), -1, 0, nil), ids(3), ids(1)), NewLive(3),
			moving(pt(ids(3, 1), 3, 0, ids(3)), ids(3), ids(1)), true},
		{"no replica live: nothing yet", pt(ids(1, 2), -1, 0, nil), NewLive(3), Partition{}, false},
	} {
		got, ok := Online(c.in, c.live)
		check(t, c, got, ok)
	}
}

func TestFailover(t *testing.T) {
	for _, c := range []decision{
		{"all live: no change", pt(ids(1, 2, 3), 1, 4, ids(1, 2, 3)), NewLive(1, 2, 3), Partition{}, false},
		{"a follower dies: it leaves the ISR, same epoch", pt(ids(1, 2, 3), 1, 4, ids(1, 2, 3)), NewLive(1, 3),
			pt(ids(1, 2, 3), 1, 4, ids(1, 3)), true},
		{"a follower out of the ISR dies: no change", pt(ids(1, 2, 3), 1, 4, ids(1, 2)), NewLive(1, 2), Partition{}, false},
		{"the leader dies: first live ISR member in replica order", pt(ids(1, 2, 3), 1, 4, ids(1, 3, 2)), NewLive(2, 3),
			pt(ids(1, 2, 3), 2, 5, ids(3, 2)), true},
		{"the leader dies: a live replica out of the ISR is not elected", pt(ids(1, 2, 3), 1, 4, ids(1, 3)), NewLive(2, 3),
			pt(ids(1, 2, 3), 3, 5, ids(3)), true},
		{"no ISR member live: offline, the last leader kept in the ISR", pt(ids(1, 2, 3), 1, 4, ids(1, 3)), NewLive(2),
			pt(ids(1, 2, 3), -1, 5, ids(1)), true},
		{"offline with a leader outside its ISR: the ISR is kept", pt(ids(1, 2), 1, 4, ids(2)), NewLive(3),
			pt(ids(1, 2), -1, 5, ids(2)), true},
		{"already offline: no change", pt(ids(1, 2), -1, 5, ids(1)), NewLive(2), Partition{}, false},
		{"offline, the last leader returns: it leads again", pt(ids(1, 2), -1, 5, ids(1)), NewLive(1, 2),
			pt(ids(1, 2), 1, 6, ids(1)), true},
		{"a live leader outside the ISR stays first when a follower dies", pt(ids(1, 2, 3), 1, 4, ids(2, 3)), NewLive(1, 2),
			pt(ids(1, 2, 3), 1, 4, ids(1, 2)), true},
	} {
		got, ok := Failover(c.in, c.live, false)
		check(t, c, got, ok)
	}
}

// With unclean.leader.election.enable, a partition whose ISR is all dead
// is led by the first live replica, which is then the whole ISR; a live
// ISR member is still preferred.
func TestFailoverUnclean(t *testing.T) {
	for _, c := range []decision{
		{"a live ISR member is still elected first", pt(ids(1, 2, 3), 1, 4, ids(1, 3)), NewLive(2, 3),
			pt(ids(1, 2, 3), 3, 5, ids(3)), true},
		{"no ISR member live: the first live replica leads alone", pt(ids(1, 2, 3), 1, 4, ids(1, 3)), NewLive(2),
			pt(ids(1, 2, 3), 2, 5, ids(2)), true},
		{"offline, a replica out of the ISR is live: it leads", pt(ids(1, 2), -1, 5, ids(1)), NewLive(2),
			pt(ids(1, 2), 2, 6, ids(2)), true},
		{"offline, no replica live: no change", pt(ids(1, 2), -1, 5, ids(1)), NewLive(3), Partition{}, false},
		{"the leader dies with no replica live: offline", pt(ids(1, 2), 1, 4, ids(1, 2)), NewLive(3),
			pt(ids(1, 2), -1, 5, ids(1)), true},
		{"a live leader is not replaced", pt(ids(1, 2), 2, 4, ids(2)), NewLive(1, 2), Partition{}, false},
	} {
		got, ok := Failover(c.in, c.live, true)
		check(t, c, got, ok)
	}
}

// A dead leader's successor is a live ISR member not in controlled
// shutdown where there is one (live 1..3, broker 2 stopping), else one in
// controlled shutdown; a stopping leader or follower is still live.
func TestFailoverPreferring(t *testing.T) {
	live, preferred := NewLive(1, 2, 3), NewLive(1, 3)
	for _, c := range []struct {
		decision
		unclean bool
	}{
		{decision{"the leader dies: the stopping broker is passed over", pt(ids(4, 2, 3), 4, 4, ids(4, 2, 3)), live,
			pt(ids(4, 2, 3), 3, 5, ids(2, 3)), true}, false},
		{decision{"the leader dies: only the stopping broker is in the ISR, it leads", pt(ids(4, 2, 3), 4, 4, ids(4, 2)), live,
			pt(ids(4, 2, 3), 2, 5, ids(2)), true}, false},
		{decision{"a stopping leader is live: no change", pt(ids(2, 3), 2, 4, ids(2, 3)), live, Partition{}, false}, false},
		{decision{"unclean: a replica not stopping first", pt(ids(4, 2, 3), 4, 4, ids(4)), live,
			pt(ids(4, 2, 3), 3, 5, ids(3)), true}, true},
	} {
		got, ok := FailoverPreferring(c.in, c.live, preferred, c.unclean)
		check(t, c.decision, got, ok)
	}
}

func TestRejoin(t *testing.T) {
	live := NewLive(1, 2, 3)
	for _, c := range []struct {
		decision
		restarted, preferred Live
		unclean              bool
	}{
		{decision{"nobody in the leadership restarted: no change", pt(ids(1, 2, 3), 1, 4, ids(1, 2)), live, Partition{}, false},
			NewLive(3), live, false},
		{decision{"the leader restarted: a follower that did not leads, the leader leaves the ISR", pt(ids(1, 2, 3), 1, 4, ids(1, 2, 3)), live,
			pt(ids(1, 2, 3), 2, 5, ids(2, 3)), true}, NewLive(1), live, false},
		{decision{"a follower restarted: it leaves the ISR, the epoch stays", pt(ids(1, 2, 3), 1, 4, ids(1, 2, 3)), live,
			pt(ids(1, 2, 3), 1, 4, ids(1, 3)), true}, NewLive(2), live, false},
		{decision{"an ISR of one restarted: it leads again at the next epoch", pt(ids(1, 2, 3), 1, 4, ids(1)), live,
			pt(ids(1, 2, 3), 1, 5, ids(1)), true}, NewLive(1), live, false},
		{decision{"the whole ISR restarted: the leader leads again, alone", pt(ids(1, 2, 3), 2, 4, ids(1, 2, 3)), live,
			pt(ids(1, 2, 3), 2, 5, ids(2)), true}, NewLive(1, 2, 3), live, false},
		{decision{"the whole ISR restarted, the leader is dead: the first live ISR member leads", pt(ids(1, 2, 3), 4, 4, ids(4, 3, 2)), live,
			pt(ids(1, 2, 3), 2, 5, ids(2)), true}, NewLive(2, 3), live, false},
		{decision{"... one not stopping, where one is", pt(ids(1, 2, 3), 4, 4, ids(4, 3, 2)), live,
			pt(ids(1, 2, 3), 3, 5, ids(3)), true}, NewLive(2, 3), NewLive(1, 3), false},
		{decision{"offline, its last leader restarted: it leads at the next epoch", pt(ids(1, 2), -1, 7, ids(1)), live,
			pt(ids(1, 2), 1, 8, ids(1)), true}, NewLive(1), live, false},
		{decision{"a restarted leader outside a dead ISR: it leads at the next epoch", pt(ids(1, 2, 3), 1, 4, ids(2)), NewLive(1, 3),
			pt(ids(1, 2, 3), 1, 5, ids(1)), true}, NewLive(1), NewLive(1, 3), false},
		{decision{"the restarted leader is passed over for one that did not restart, even one stopping", pt(ids(1, 2, 3), 1, 4, ids(1, 2)), live,
			pt(ids(1, 2, 3), 2, 5, ids(2)), true}, NewLive(1), NewLive(1, 3), false},
	} {
		got, ok := Rejoin(c.in, c.live, c.preferred, c.restarted, c.unclean)
		check(t, c.decision, got, ok)
	}
}

// outcome is a table row of a decision that may fail with a Kafka error.
type outcome struct {
	name string
	in   Partition
	live Live
	want Partition   // the next state; ignored when err is set
	err  *kerr.Error // nil: success
}

func checkOutcome(t *testing.T, c outcome, got Partition, err error) {
	t.Helper()
	if c.err != nil {
		if !errors.Is(err, c.err) {
			t.Fatalf("%s: error %v, want %s", c.name, err, c.err.Message)
		}
		if !same(got, c.in) {
			t.Fatalf("%s: failed, but returned %s instead of its input", c.name, show(got))
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	if !same(got, c.want) {
		t.Fatalf("%s:\n got %s\nwant %s", c.name, show(got), show(c.want))
	}
}

func TestElect(t *testing.T) {
	for _, typ := range []int8{ElectPreferred, ElectUnclean} {
		for _, c := range map[int8][]outcome{
			ElectPreferred: {
				{"the preferred replica leads: not needed", pt(ids(1, 2), 1, 3, ids(1, 2)), NewLive(1, 2), Partition{}, kerr.ElectionNotNeeded},
				{"preferred replica live and in sync: it leads, ISR kept", pt(ids(1, 2), 2, 3, ids(2, 1)), NewLive(1, 2),
					pt(ids(1, 2), 1, 4, ids(2, 1)), nil},
				{"preferred replica out of the ISR", pt(ids(1, 2), 2, 3, ids(2)), NewLive(1, 2), Partition{}, kerr.PreferredLeaderNotAvailable},
				{"preferred replica dead", pt(ids(1, 2), 2, 3, ids(2, 1)), NewLive(2), Partition{}, kerr.PreferredLeaderNotAvailable},
				{"preferred replica live and in sync, partition offline", pt(ids(1, 2), -1, 3, ids(1)), NewLive(1),
					pt(ids(1, 2), 1, 4, ids(1)), nil},
				{"no replicas", pt(nil, -1, 0, nil), NewLive(1), Partition{}, kerr.PreferredLeaderNotAvailable},
			},
			ElectUnclean: {
				{"the leader is live: not needed", pt(ids(1, 2), 2, 3, ids(2)), NewLive(1, 2), Partition{}, kerr.ElectionNotNeeded},
				{"a live ISR member first, with the live ISR", pt(ids(1, 2, 3), 1, 3, ids(1, 3, 2)), NewLive(2, 3),
					pt(ids(1, 2, 3), 2, 4, ids(3, 2)), nil},
				{"no live ISR member: the first live replica, alone", pt(ids(3, 2, 1), -1, 3, ids(3)), NewLive(1, 2),
					pt(ids(3, 2, 1), 2, 4, ids(2)), nil},
				{"no live replica", pt(ids(3), -1, 3, ids(3)), NewLive(1, 2), Partition{}, kerr.EligibleLeadersNotAvailable},
			},
		}[typ] {
			c.name = fmt.Sprintf("type %d, %s", typ, c.name)
			got, err := Elect(typ, c.in, c.live)
			checkOutcome(t, c, got, err)
		}
	}
	if _, err := Elect(5, pt(ids(1), -1, 0, nil), NewLive(1)); !errors.Is(err, kerr.InvalidRequest) {
		t.Fatalf("election type 5: %v, want INVALID_REQUEST", err)
	}
}

func TestControlledShutdown(t *testing.T) {
	const self = 1
	for _, c := range []decision{
		{"a follower leaves the ISR, same epoch", pt(ids(2, 1, 3), 2, 4, ids(2, 1, 3)), NewLive(1, 2, 3),
			pt(ids(2, 1, 3), 2, 4, ids(2, 3)), true},
		{"the leader hands over to the next live ISR member in replica order", pt(ids(1, 2, 3), 1, 4, ids(1, 3, 2)), NewLive(1, 2, 3),
			pt(ids(1, 2, 3), 2, 5, ids(3, 2)), true},
		{"a dead ISR member is passed over", pt(ids(1, 2, 3), 1, 4, ids(1, 2, 3)), NewLive(1, 3),
			pt(ids(1, 2, 3), 3, 5, ids(2, 3)), true},
		{"no live successor: keeps leading", pt(ids(1, 2), 1, 4, ids(1, 2)), NewLive(1), Partition{}, false},
		{"the only ISR member: no change", pt(ids(1, 2), 1, 4, ids(1)), NewLive(1, 2), Partition{}, false},
		{"out of the ISR: no change", pt(ids(2, 1), 2, 4, ids(2)), NewLive(1, 2), Partition{}, false},
	} {
		got, ok := ControlledShutdown(c.in, self, c.live)
		check(t, c, got, ok)
	}
}

func TestCheckReassignmentTarget(t *testing.T) {
	for _, c := range []struct {
		target []int32
		ok     bool
	}{{ids(1), true}, {ids(3, 1, 2), true}, {ids(), false}, {ids(1, 2, 1), false}, {ids(1, -1), false}} {
		err := CheckReassignmentTarget(c.target, nil)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, kerr.InvalidReplicaAssignment)) {
			t.Fatalf("target %v: %v", c.target, err)
		}
	}
}

func TestReassign(t *testing.T) {
	live := NewLive(1, 2, 3, 4)
	stable := pt(ids(1, 2), 1, 7, ids(1, 2))
	// {1,2} on the way to {2,3}: 3 being added, 1 being removed.
	// The leader epoch stays: replicas are only added so far (as Kafka 4).
	started := moving(pt(ids(2, 3, 1), 1, 7, ids(1, 2)), ids(3), ids(1))
	for _, c := range []struct {
		outcome
		target        []int32
		allowRFChange bool
		deleting      bool
	}{
		{outcome{"start: target first, then the replicas leaving; the leader and its epoch stay", stable, live,
			started, nil}, ids(2, 3), false, false},
		{outcome{"started again with the same target: already so", started, live, started, nil}, ids(2, 3), false, false},
		{outcome{"to the current replicas: already so", stable, live, stable, nil}, ids(1, 2), false, false},
		{outcome{"a new order of the same replicas: the leadership stays", stable, live,
			pt(ids(2, 1), 1, 7, ids(1, 2)), nil}, ids(2, 1), false, false},
		{outcome{"a new target during a reassignment: the replicas it leaves out, added ones too, are removed on completion", moving(pt(ids(2, 3, 1), 3, 8, ids(1, 2, 3)), ids(3), ids(1)), live,
			moving(pt(ids(4, 1, 2, 3), 3, 8, ids(1, 2, 3)), ids(4), ids(2, 3)), nil}, ids(4, 1), false, false},
		{outcome{"a new target leaving out the added replicas that are the whole ISR: they stay until it completes", moving(pt(ids(2, 3, 1), 2, 8, ids(2)), ids(2, 3), ids(1)), live,
			moving(pt(ids(4, 1, 2, 3), 2, 8, ids(2)), ids(4), ids(1, 2, 3)), nil}, ids(4), true, false},
		{outcome{"a growing target with replication factor changes allowed", stable, live,
			moving(pt(ids(1, 2, 3), 1, 7, ids(1, 2)), ids(3), nil), nil}, ids(1, 2, 3), true, false},
		{outcome{"cancel: back to the original replicas, those being added leave the ISR", moving(pt(ids(3, 1, 2), 1, 9, ids(2, 1, 3)), ids(1), ids(2)), live,
			pt(ids(3, 2), 3, 10, ids(2, 3)), nil}, nil, false, false},
		{outcome{"cancel with the whole ISR leaving: an unclean election, refused", moving(pt(ids(3, 1), 1, 9, ids(1)), ids(1), ids(3)), NewLive(1, 2),
			Partition{}, kerr.InvalidReplicaAssignment}, nil, false, false},
		{outcome{"cancel with none in progress", stable, live, Partition{}, kerr.NoReassignmentInProgress}, nil, false, false},
		{outcome{"cancel of a partition that does not exist", Partition{Topic: "t"}, live, Partition{}, kerr.UnknownTopicOrPartition}, nil, false, false},
		{outcome{"cancel of a topic being deleted", started, live, Partition{}, kerr.UnknownTopicOrPartition}, nil, false, true},
		{outcome{"an invalid target of a partition that does not exist", Partition{Topic: "t"}, live, Partition{}, kerr.UnknownTopicOrPartition}, ids(1, 1), false, false},
		{outcome{"an empty target of a partition that does not exist", Partition{Topic: "t"}, live, Partition{}, kerr.UnknownTopicOrPartition}, []int32{}, false, false},
		{outcome{"an invalid target", stable, live, Partition{}, kerr.InvalidReplicaAssignment}, ids(1, 1), false, false},
		{outcome{"a partition that does not exist", Partition{Topic: "t"}, live, Partition{}, kerr.UnknownTopicOrPartition}, ids(9), false, false},
		{outcome{"a topic being deleted", stable, live, Partition{}, kerr.UnknownTopicOrPartition}, ids(2, 3), false, true},
		{outcome{"an added replica the cluster does not know", stable, live, Partition{}, kerr.InvalidReplicaAssignment}, ids(2, 9), false, false},
		{outcome{"another replication factor when not allowed", stable, live, Partition{}, kerr.InvalidReplicationFactor}, ids(1, 2, 3), false, false},
		{outcome{"the replicas being added and removed in id order, the removed after the target", pt(ids(3, 1, 2), 3, 7, ids(3, 1, 2)), NewLive(1, 2, 3, 4, 5, 6),
			moving(pt(ids(6, 4, 5, 1, 2, 3), 3, 7, ids(3, 1, 2)), ids(4, 5, 6), ids(1, 2, 3)), nil}, ids(6, 4, 5), false, false},
		{outcome{"during a reassignment, the size of its target is the replication factor", moving(pt(ids(3, 4, 1, 2, 5), 1, 8, ids(1, 2, 5)), ids(3, 4), ids(1, 2, 5)), live,
			moving(pt(ids(4, 2, 1, 3, 5), 1, 8, ids(1, 2, 5)), ids(4), ids(1, 3, 5)), nil}, ids(4, 2), false, false},
		{outcome{"during a reassignment, the original size is another replication factor", moving(pt(ids(3, 4, 1, 2, 5), 1, 8, ids(1, 2, 5)), ids(3, 4), ids(1, 2, 5)), live,
			Partition{}, kerr.InvalidReplicationFactor}, ids(1, 2, 3), false, false},
	} {
		got, err := Reassign(c.in, c.target, c.live, nil, c.allowRFChange, c.deleting, false)
		checkOutcome(t, c.outcome, got, err)
	}
	// With unclean.leader.election.enable, as Kafka's
	// PartitionReassignmentRevert: the first live original replica leads
	// alone; none live, none leads and the first is the ISR.
	for _, c := range []outcome{
		{"unclean cancel with the whole ISR leaving: the first live original replica leads alone", moving(pt(ids(3, 1, 2), 1, 9, ids(1)), ids(1), ids(3)), NewLive(1, 2, 3),
			pt(ids(3, 2), 3, 10, ids(3)), nil},
		{"unclean cancel, no original replica live", moving(pt(ids(3, 1, 2), 1, 9, ids(1)), ids(1), ids(3)), NewLive(1),
			pt(ids(3, 2), -1, 10, ids(3)), nil},
	} {
		got, err := Reassign(c.in, nil, c.live, nil, false, false, true)
		checkOutcome(t, c, got, err)
	}
}

func TestCompleteReassignment(t *testing.T) {
	for _, c := range []decision{
		{"target in the ISR, leader in it: replicas become the target, the removed leave the ISR",
			moving(pt(ids(2, 3, 1), 2, 8, ids(1, 2, 3)), ids(3), ids(1)), NewLive(1, 2, 3),
			pt(ids(2, 3), 2, 9, ids(2, 3)), true},
		{"the leader is being removed: the first live target replica in the ISR leads",
			moving(pt(ids(2, 3, 1), 1, 8, ids(1, 3, 2)), ids(3), ids(1)), NewLive(1, 2, 3),
			pt(ids(2, 3), 2, 9, ids(3, 2)), true},
		{"the leader is in the target but dead: moved",
			moving(pt(ids(2, 3, 1), 2, 8, ids(1, 2, 3)), ids(3), ids(1)), NewLive(1, 3),
			pt(ids(2, 3), 3, 9, ids(2, 3)), true},
		{"a shrink completes at once", moving(pt(ids(2, 1), 1, 8, ids(1, 2)), nil, ids(1)), NewLive(1, 2),
			pt(ids(2), 2, 9, ids(2)), true},
		{"replicas only added, the leader staying: the leader epoch stays (Kafka 4)",
			moving(pt(ids(1, 2, 3), 1, 8, ids(1, 2, 3)), ids(3), nil), NewLive(1, 2, 3),
			pt(ids(1, 2, 3), 1, 8, ids(1, 2, 3)), true},
		{"replicas only added, the leader dead: a new leader at a new epoch",
			moving(pt(ids(1, 2, 3), 1, 8, ids(1, 2, 3)), ids(3), nil), NewLive(2, 3),
			pt(ids(1, 2, 3), 2, 9, ids(1, 2, 3)), true},
		{"a target replica still catching up", moving(pt(ids(2, 3, 1), 1, 8, ids(1, 2)), ids(3), ids(1)), NewLive(1, 2, 3), Partition{}, false},
		{"no live target replica can lead", moving(pt(ids(2, 3, 1), 1, 8, ids(1, 2, 3)), ids(3), ids(1)), NewLive(1), Partition{}, false},
		{"no reassignment in progress", pt(ids(1, 2), 1, 8, ids(1, 2)), NewLive(1, 2), Partition{}, false},
	} {
		got, ok := CompleteReassignment(c.in, c.live)
		check(t, c, got, ok)
	}
}

func TestImbalances(t *testing.T) {
	// Broker 1 is the preferred replica of p0-p3, of which 2 lead p0-p2;
	// broker 2 of p4-p5, of which 1 leads p4; broker 3 of p6, led by 2.
	parts := []Partition{
		pt(ids(1, 2), 2, 1, ids(1, 2)), pt(ids(1, 2), 2, 1, ids(2)), pt(ids(1, 2), 2, 1, ids(1, 2)), pt(ids(1, 2), 1, 1, ids(1, 2)),
		pt(ids(2, 1), 1, 1, ids(1, 2)), pt(ids(2, 1), 2, 1, ids(1, 2)),
		pt(ids(3, 2), 2, 1, ids(2, 3)),
		pt(nil, -1, 0, nil), // no replicas: not counted
	}
	for i := range parts {
		parts[i].Index = int32(i)
	}
	for _, c := range []struct {
		name string
		live Live
		want map[int32][]int32 // broker -> indexes of the partitions not led by it
	}{
		// Broker 2 leads 1 of its 2 partitions: as in Kafka 4, whatever
		// the share, the other goes back to it.
		{"every broker with a partition led by another", NewLive(1, 2, 3), map[int32][]int32{1: {0, 1, 2}, 2: {4}, 3: {6}}},
		{"dead brokers are left out", NewLive(1, 2), map[int32][]int32{1: {0, 1, 2}, 2: {4}}},
		{"none live", NewLive(), map[int32][]int32{}},
	} {
		got := Imbalances(parts, c.live)
		if len(got) != len(c.want) {
			t.Fatalf("%s: %+v, want brokers %v", c.name, got, c.want)
		}
		for i, im := range got {
			if i > 0 && got[i-1].Broker >= im.Broker {
				t.Fatalf("%s: brokers out of order: %+v", c.name, got)
			}
			var idx []int32
			for _, p := range im.NotLed {
				idx = append(idx, p.Index)
			}
			if w, ok := c.want[im.Broker]; !ok || fmt.Sprint(idx) != fmt.Sprint(w) {
				t.Fatalf("%s: broker %d not leading %v, want %v", c.name, im.Broker, idx, c.want[im.Broker])
			}
			if wantPref := map[int32]int{1: 4, 2: 2, 3: 1}[im.Broker]; im.Preferred != wantPref {
				t.Fatalf("%s: broker %d preferred for %d, want %d", c.name, im.Broker, im.Preferred, wantPref)
			}
		}
	}
}
