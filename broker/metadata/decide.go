package metadata

import (
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The controller's decisions, as pure functions in the manner of Kafka's
// PartitionChangeBuilder: each takes a partition's current state and an
// event (the live brokers, an election, a reassignment, a shutdown) and
// returns the next state, or says that nothing changes or why it cannot.
// The backends read the state, call these and write what they return.

// Live is the set of live brokers.
type Live map[int32]bool

// NewLive returns the set of the given brokers.
func NewLive(ids ...int32) Live {
	live := make(Live, len(ids))
	for _, id := range ids {
		live[id] = true
	}
	return live
}

// Partition is a partition as the controller decides on it: its
// assignment, its ongoing reassignment and its leadership. A partition
// without replicas does not exist.
type Partition struct {
	Topic string
	Index int32
	// Replicas is the assignment, the preferred replica first; during a
	// reassignment, the target replicas then the original ones.
	Replicas []int32
	// Adding and Removing are the replicas an ongoing reassignment adds
	// and removes (both empty when there is none).
	Adding, Removing []int32
	Leader           int32 // -1: none
	LeaderEpoch      int32
	ISR              []int32
}

// Reassigning reports whether a reassignment is in progress.
func (p Partition) Reassigning() bool { return len(p.Adding) > 0 || len(p.Removing) > 0 }

// SameAssignment reports whether p and q have the same replicas and
// reassignment.
func (p Partition) SameAssignment(q Partition) bool {
	return slices.Equal(p.Replicas, q.Replicas) && slices.Equal(p.Adding, q.Adding) && slices.Equal(p.Removing, q.Removing)
}

// SameLeadership reports whether p and q have the same leader, leader
// epoch and ISR.
func (p Partition) SameLeadership(q Partition) bool {
	return p.Leader == q.Leader && p.LeaderEpoch == q.LeaderEpoch && slices.Equal(p.ISR, q.ISR)
}

// withLeadership returns p led by leader at epoch with isr.
func (p Partition) withLeadership(leader, epoch int32, isr []int32) Partition {
	p.Leader, p.LeaderEpoch, p.ISR = leader, epoch, isr
	return p
}

// Online is the first leadership of a partition that has none recorded
// yet: its live replicas form the ISR, led by the first of them, at leader
// epoch 0. Replicas a reassignment is adding have no data yet: they are in
// it only when no other replica is live. ok is false when no replica is
// live; the partition comes online once one is.
func Online(p Partition, live Live) (next Partition, ok bool) {
	var isr, adding []int32
	for _, r := range p.Replicas {
		switch {
		case !live[r]:
		case slices.Contains(p.Adding, r):
			adding = append(adding, r)
		default:
			isr = append(isr, r)
		}
	}
	if len(isr) == 0 {
		isr = adding
	}
	if len(isr) == 0 {
		return p, false
	}
	return p.withLeadership(isr[0], 0, isr), true
}

// Failover follows the live brokers: dead followers leave the ISR (the
// leader epoch stays); a dead leader is replaced by the first live ISR
// member in replica order, at the next leader epoch, and the dead leave
// the ISR. With no ISR member live, unclean (the topic's
// unclean.leader.election.enable) elects the first live replica in
// replica order, which then is the whole ISR: the records only the ISR
// had are lost, as in Kafka. Otherwise the partition goes offline (leader
// -1, next epoch) and its ISR keeps only the last leader, so that it is
// the one elected when it returns (or a live replica, once unclean
// elections are enabled). ok is false when nothing changes.
func Failover(p Partition, live Live, unclean bool) (next Partition, ok bool) {
	return FailoverPreferring(p, live, live, unclean)
}

// FailoverPreferring is Failover electing a new leader among preferred (a
// subset of live: the brokers not in controlled shutdown) where one of
// them can lead, else among all of live. Only election prefers: a leader
// or follower in live but not in preferred is no less live.
func FailoverPreferring(p Partition, live, preferred Live, unclean bool) (next Partition, ok bool) {
	first := func(among []int32) (int32, bool) {
		if r, found := firstLiveIn(p.Replicas, among, preferred); found {
			return r, true
		}
		return firstLiveIn(p.Replicas, among, live)
	}
	liveISR := liveOnly(p.ISR, live)
	if p.Leader >= 0 && live[p.Leader] {
		if len(liveISR) == len(p.ISR) {
			return p, false
		}
		if !slices.Contains(liveISR, p.Leader) {
			liveISR = append([]int32{p.Leader}, liveISR...)
		}
		return p.withLeadership(p.Leader, p.LeaderEpoch, liveISR), true
	}
	if r, found := first(p.ISR); found {
		return p.withLeadership(r, p.LeaderEpoch+1, liveISR), true
	}
	if unclean {
		if r, found := first(p.Replicas); found {
			return p.withLeadership(r, p.LeaderEpoch+1, []int32{r}), true
		}
	}
	if p.Leader == -1 {
		return p, false
	}
	isr := p.ISR
	if slices.Contains(p.ISR, p.Leader) {
		isr = []int32{p.Leader}
	}
	return p.withLeadership(-1, p.LeaderEpoch+1, isr), true
}

// Rejoin follows replicas that restarted since the partition's state was
// written (restarted, a subset of live): their registration in the
// cluster is newer than the state, so a leadership or ISR membership it
// gives them is their previous run's, whose log may have lost its
// unflushed tail in a machine crash. As Kafka's controller takes a bounced
// broker (gone and registered again), they are taken as dead and then as
// back: a restarted leader is replaced by a live ISR member that did not
// restart, at the next leader epoch, and restarted followers leave the
// ISR (they rejoin it once they have caught up). Where no ISR member that
// did not restart is live, the restarted leader, else the first live
// restarted ISR member in replica order, leads at the next leader epoch, alone
// in the ISR: the followers that truncate to it do so knowing of the new
// epoch. With no live ISR member, the partition follows Failover. ok is
// false when no replica of the leader and ISR restarted.
func Rejoin(p Partition, live, preferred, restarted Live, unclean bool) (next Partition, ok bool) {
	if !restarted[p.Leader] && !slices.ContainsFunc(p.ISR, func(r int32) bool { return restarted[r] }) {
		return p, false
	}
	fresh, freshPreferred := Live{}, Live{}
	for id := range live {
		if !restarted[id] {
			fresh[id] = true
			if preferred[id] {
				freshPreferred[id] = true
			}
		}
	}
	if next, ok := FailoverPreferring(p, fresh, freshPreferred, false); ok && next.Leader >= 0 {
		return next, true
	}
	leader := int32(-1)
	if p.Leader >= 0 && live[p.Leader] {
		leader = p.Leader
	} else if r, found := firstLiveIn(p.Replicas, p.ISR, preferred); found {
		leader = r
	} else if r, found := firstLiveIn(p.Replicas, p.ISR, live); found {
		leader = r
	}
	if leader >= 0 {
		return p.withLeadership(leader, p.LeaderEpoch+1, []int32{leader}), true
	}
	return FailoverPreferring(p, live, preferred, unclean)
}

// The messages of elections that elect nobody: Kafka 4's controller
// answers the codes' own text (ReplicationControlManager.electLeader).
const (
	preferredNotAvailable = "The preferred leader was not available."
	eligibleNotAvailable  = "Eligible topic partition leaders are not available."
)

// ElectionRefusal is an election's answer when no leader can be elected
// (typ ElectPreferred or ElectUnclean), as Elect gives it.
func ElectionRefusal(typ int8) error {
	if typ == ElectPreferred {
		return Errorf(kerr.PreferredLeaderNotAvailable, preferredNotAvailable)
	}
	return Errorf(kerr.EligibleLeadersNotAvailable, eligibleNotAvailable)
}

// UnknownElectionTarget is ElectLeaders' answer for a topic (partition <
// 0: the topic itself) or partition that does not exist, in Kafka 4's
// words (ReplicationControlManager.electLeader).
func UnknownElectionTarget(topic string, partition int32) error {
	if partition < 0 {
		return Errorf(kerr.UnknownTopicOrPartition, "No such topic as %s", topic)
	}
	return Errorf(kerr.UnknownTopicOrPartition, "No such partition as %s-%d", topic, partition)
}

// UnknownReassignmentTopic is AlterPartitionReassignments' answer for a
// topic that does not exist, in Kafka 4's words
// (ReplicationControlManager.alterPartitionReassignment).
func UnknownReassignmentTopic(topic string) error {
	return Errorf(kerr.UnknownTopicOrPartition, "Unable to find a topic named %s.", topic)
}

// Elect decides an election asked for through ElectLeaders, as Kafka's
// controller does; the leader epoch moves on. Preferred (ElectPreferred):
// the first replica, if it is live and in the ISR and does not already
// lead; the ISR stays. Unclean (ElectUnclean): only for a partition whose
// leader is gone; the first live ISR member in replica order with the
// live ISR, else the first live replica, which then is the whole ISR. The
// error is ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
// ELIGIBLE_LEADERS_NOT_AVAILABLE or, for another type, INVALID_REQUEST.
func Elect(typ int8, p Partition, live Live) (Partition, error) {
	switch typ {
	case ElectPreferred:
		if len(p.Replicas) == 0 {
			return p, Errorf(kerr.PreferredLeaderNotAvailable, preferredNotAvailable)
		}
		pref := p.Replicas[0]
		if p.Leader == pref {
			return p, Errorf(kerr.ElectionNotNeeded, "Leader election not needed for topic partition.")
		}
		if !live[pref] || !slices.Contains(p.ISR, pref) {
			return p, Errorf(kerr.PreferredLeaderNotAvailable, preferredNotAvailable)
		}
		return p.withLeadership(pref, p.LeaderEpoch+1, p.ISR), nil
	case ElectUnclean:
		if p.Leader >= 0 && live[p.Leader] {
			return p, Errorf(kerr.ElectionNotNeeded, "Leader election not needed for topic partition.")
		}
		if r, found := firstLiveIn(p.Replicas, p.ISR, live); found {
			return p.withLeadership(r, p.LeaderEpoch+1, liveOnly(p.ISR, live)), nil
		}
		if r, found := firstLiveIn(p.Replicas, p.Replicas, live); found {
			return p.withLeadership(r, p.LeaderEpoch+1, []int32{r}), nil
		}
		return p, Errorf(kerr.EligibleLeadersNotAvailable, eligibleNotAvailable)
	}
	return p, Errorf(kerr.InvalidRequest, "Unknown election type %d", typ)
}

// ControlledShutdown is a partition's state once broker self, stopping,
// has handed over: self leaves the ISR and, if it led, the first other
// live ISR member in replica order leads at the next leader epoch. ok is
// false when nothing changes: self is not in the ISR, or is all of it, or
// leads with no live successor (it then keeps leading until it stops).
func ControlledShutdown(p Partition, self int32, live Live) (next Partition, ok bool) {
	others := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return r == self })
	if len(others) == len(p.ISR) || len(others) == 0 {
		return p, false
	}
	if p.Leader != self {
		return p.withLeadership(p.Leader, p.LeaderEpoch, others), true
	}
	leader, found := firstLiveIn(p.Replicas, others, live)
	if !found {
		return p, false
	}
	return p.withLeadership(leader, p.LeaderEpoch+1, others), true
}

// CheckReassignmentTarget validates a reassignment's target replica list
// on its own, as Kafka 4's controller does once it has found the partition
// (validateManualPartitionAssignment): known says which brokers the
// cluster knows (nil: any non-negative id).
func CheckReassignmentTarget(r []int32, known func(int32) bool) error {
	if len(r) == 0 {
		return Errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.")
	}
	if len(r) > MaxReplicas {
		return Errorf(kerr.InvalidReplicaAssignment, "Replica list of %d brokers in partition reassignment; a partition has at most %d replicas.", len(r), MaxReplicas)
	}
	sorted := slices.Sorted(slices.Values(r))
	for i, id := range sorted {
		if id < 0 || known != nil && !known(id) {
			return Errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes broker %d, but no such broker is registered.", id)
		}
		if i > 0 && sorted[i-1] == id {
			return Errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes the broker %d more than once.", id)
		}
	}
	return nil
}

// Reassign starts a partition's reassignment to target or, for a nil
// target, cancels the ongoing one (KIP-455), as Kafka 4's controller
// does. With current replicas C, original replicas O (C less those being
// added) and target R, the replicas become R ++ (C−R), adding R−O and
// removing C−R, each of those two in id order as Kafka's
// PartitionReassignmentReplicas keeps them; cancelling sets R to O and
// takes C as O, so the replicas go back to O at once. When that changes
// the set of replicas, the leadership follows
// (see reassigned). The errors, in the order of Kafka's
// ReplicationControlManager.alterPartitionReassignment:
// UNKNOWN_TOPIC_OR_PARTITION (the partition does not exist or its topic is
// being deleted), NO_REASSIGNMENT_IN_PROGRESS (a cancel with none),
// INVALID_REPLICA_ASSIGNMENT (CheckReassignmentTarget: a broker the
// cluster does not know, as known, the live brokers or the partition's
// replicas say), INVALID_REPLICATION_FACTOR (when allowRFChange is
// false, a target of another size than the replica set the partition is
// headed for). A target broker that is down but known is accepted, as
// Kafka 4 accepts a registered, fenced one: the reassignment completes
// once it has returned and caught up. A cancel that would leave no ISR
// member (every in-sync replica is one being added) is an unclean leader
// election, as Kafka's PartitionReassignmentRevert takes it: refused with
// INVALID_REPLICA_ASSIGNMENT unless unclean (the topic's
// unclean.leader.election.enable), else the first live original replica
// leads alone. next is p when it is already so.
func Reassign(p Partition, target []int32, live Live, known func(int32) bool, allowRFChange, deleting, unclean bool) (next Partition, err error) {
	switch {
	case len(p.Replicas) == 0:
		return p, Errorf(kerr.UnknownTopicOrPartition, "Unable to find partition %s:%d.", p.Topic, p.Index)
	case deleting:
		return p, Errorf(kerr.UnknownTopicOrPartition, "The partition %s-%d is being deleted", p.Topic, p.Index)
	case target == nil && !p.Reassigning():
		return p, Errorf(kerr.NoReassignmentInProgress, "No partition reassignment is in progress.")
	}
	if target != nil {
		isKnown := func(id int32) bool { return live[id] || slices.Contains(p.Replicas, id) || known != nil && known(id) }
		if err := CheckReassignmentTarget(target, isKnown); err != nil {
			return p, err
		}
	}
	origin := minus(p.Replicas, p.Adding)
	revertUnclean, cancel := false, target == nil
	if cancel {
		target = origin
		if len(minus(p.ISR, p.Adding)) == 0 && len(origin) > 0 {
			if !unclean {
				return p, Errorf(kerr.InvalidReplicaAssignment, "Unable to revert partition assignment for %s:%d because it would require an unclean leader election.", p.Topic, p.Index)
			}
			revertUnclean = true
		}
	} else {
		if !allowRFChange {
			// As Kafka's validatePartitionReplicationFactorUnchanged: the
			// size of the replica set the partition is headed for (during
			// a reassignment its target, not its original replicas).
			heading := len(p.Replicas) - len(p.Removing)
			if len(target) != heading {
				return p, Errorf(kerr.InvalidReplicationFactor, "The replication factor is changed from %d to %d", heading, len(target))
			}
		}
	}
	// As Kafka 4's PartitionReassignmentReplicas: the replicas being added
	// and removed in id order, the removed after the target. A new target
	// is taken from the current replicas, those an ongoing reassignment
	// was adding included: one the new target leaves out is removed only
	// when the reassignment completes, as Kafka 4's
	// changePartitionReassignment does. (ZooKeeper-mode Kafka dropped it
	// at once; when the ISR was only such replicas, the partition lost
	// every in-sync copy.) Those of the target that are not original
	// replicas are being added. A cancel goes back to the original ones.
	next = p
	base := p.Replicas
	if cancel {
		base = origin
	}
	removing := slices.Sorted(slices.Values(minus(base, target)))
	next.Replicas = append(slices.Clone(target), removing...)
	next.Adding, next.Removing = slices.Sorted(slices.Values(minus(target, origin))), removing
	if next.SameAssignment(p) || sameSet(next.Replicas, p.Replicas) {
		return next, nil // the same replicas: the leadership is unaffected
	}
	if revertUnclean {
		// The records only the replicas being added have are lost.
		leader, isr := int32(-1), origin[0]
		if r, found := firstLiveIn(origin, origin, live); found {
			leader, isr = r, r
		}
		return next.withLeadership(leader, p.LeaderEpoch+1, []int32{isr}), nil
	}
	return reassigned(next, minus(p.Replicas, next.Replicas), live), nil
}

// reassigned is the leadership of p once its replicas have become
// p.Replicas and the replicas in gone have stopped: they leave the ISR
// (unless it would be empty, as Kafka keeps the last ISR member), a leader
// no longer among the replicas is replaced by the first live ISR member
// in replica order (none: no leader), and the leader epoch moves on when
// the leader changes or a replica is gone (reassignmentEpoch).
func reassigned(p Partition, gone []int32, live Live) Partition {
	isr := minus(p.ISR, gone)
	if len(isr) == 0 {
		isr = p.ISR
	}
	leader := p.Leader
	if !slices.Contains(p.Replicas, leader) {
		leader = -1
		if r, found := firstLiveIn(p.Replicas, isr, live); found {
			leader = r
		}
	}
	return p.withLeadership(leader, reassignmentEpoch(p, leader, gone), isr)
}

// reassignmentEpoch is p's leader epoch once a reassignment step gives it
// leader and takes the replicas in gone away. As Kafka 4's
// PartitionChangeBuilder (triggerLeaderEpochBumpForReplicaReassignmentIfNeeded),
// it moves on when the leader changes or a replica leaves, which fences
// the replicas removed, and stays when replicas are only added: the leader
// learns of a new replica at its epoch, and clients' fetches and produces
// at that epoch are not fenced for it.
func reassignmentEpoch(p Partition, leader int32, gone []int32) int32 {
	if leader != p.Leader || len(gone) > 0 {
		return p.LeaderEpoch + 1
	}
	return p.LeaderEpoch
}

// CompleteReassignment completes a reassignment once every target replica
// (the replicas less those being removed) is in the ISR: the replicas
// become the target, the leader moves into it if it is not there or not
// live (the first live target replica in the ISR), the removed replicas
// leave the ISR, and the leader epoch moves on if the leader changed or
// replicas were removed, as Kafka 4's does. ok is false while replicas are still catching up, when no live
// target replica can lead, or when no reassignment is in progress.
func CompleteReassignment(p Partition, live Live) (next Partition, ok bool) {
	if !p.Reassigning() {
		return p, false
	}
	target := minus(p.Replicas, p.Removing)
	if len(target) == 0 || len(minus(target, p.ISR)) > 0 {
		return p, false
	}
	leader := p.Leader
	if !slices.Contains(target, leader) || !live[leader] {
		var found bool
		if leader, found = firstLiveIn(target, p.ISR, live); !found {
			return p, false
		}
	}
	next = p.withLeadership(leader, reassignmentEpoch(p, leader, p.Removing), minus(p.ISR, p.Removing))
	next.Replicas, next.Adding, next.Removing = target, nil, nil
	return next, true
}

// Imbalance is a live broker that leads too few of the partitions it is
// the preferred replica of.
type Imbalance struct {
	Broker    int32
	Preferred int         // partitions it is the preferred replica of
	NotLed    []Partition // those of them another broker leads
}

// Imbalances is the check of automatic preferred leader rebalancing
// (auto.leader.rebalance.enable): for each live broker, in id order, the
// partitions it is the preferred replica of that another broker leads.
// The controller then elects each of those partitions' preferred replica
// (Elect with ElectPreferred) where it is in the ISR. As Kafka 4's
// controller (ReplicationControlManager.maybeBalancePartitionLeaders),
// any such partition counts: there is no share of a broker's partitions
// below which they are left alone (leader.imbalance.per.broker.percentage
// was ZooKeeper mode's, and Kafka 4 removed it, KAFKA-18743).
func Imbalances(parts []Partition, live Live) []Imbalance {
	byPref := map[int32]*Imbalance{}
	for _, p := range parts {
		if len(p.Replicas) == 0 {
			continue
		}
		pref := p.Replicas[0]
		im := byPref[pref]
		if im == nil {
			im = &Imbalance{Broker: pref}
			byPref[pref] = im
		}
		im.Preferred++
		if p.Leader != pref {
			im.NotLed = append(im.NotLed, p)
		}
	}
	var out []Imbalance
	for _, id := range slices.Sorted(maps.Keys(byPref)) {
		if im := byPref[id]; live[id] && len(im.NotLed) > 0 {
			out = append(out, *im)
		}
	}
	return out
}

// firstLiveIn returns the first replica, in order, that is live and in
// among.
func firstLiveIn(replicas, among []int32, live Live) (int32, bool) {
	for _, r := range replicas {
		if live[r] && slices.Contains(among, r) {
			return r, true
		}
	}
	return -1, false
}

// liveOnly returns the live ids of ids, in order.
func liveOnly(ids []int32, live Live) []int32 {
	var out []int32
	for _, id := range ids {
		if live[id] {
			out = append(out, id)
		}
	}
	return out
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

func sameSet(a, b []int32) bool {
	return len(a) == len(b) && len(minus(a, b)) == 0 && len(minus(b, a)) == 0
}
