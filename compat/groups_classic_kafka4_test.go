package compat

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

// A member that joins a generation but never sends SyncGroup is removed
// once the rebalance timeout passes, even after the leader's SyncGroup made
// the group Stable, as Kafka's expirePendingSync does; the group
// rebalances so its partitions go to the others. Gregor kept it, and the
// partitions the leader gave it went unconsumed for as long as it
// heartbeated.
func TestMemberThatNeverSyncsIsRemoved(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"group.initial.rebalance.delay.ms": "0"}})
	const rebalanceMs = 2000
	g := newClassicGroup(t, b.Addr, 9)
	first := g.join(joinOpts{meta: "m", rebalance: rebalanceMs})
	a := g.join(joinOpts{member: first.MemberID, meta: "m", rebalance: rebalanceMs})
	if a.ErrorCode != 0 {
		t.Fatalf("a's JoinGroup: %v", kerr.ErrorForCode(a.ErrorCode))
	}
	if code := g.sync(a.MemberID, "", a.Generation, map[string]string{a.MemberID: "all"}); code != 0 {
		t.Fatalf("a's SyncGroup: %v", kerr.ErrorForCode(code))
	}
	// b joins on a connection of its own (its JoinGroup waits for a).
	other := newClassicGroup(t, b.Addr, 9)
	other.group = g.group
	bid := other.join(joinOpts{meta: "m", rebalance: rebalanceMs}).MemberID
	joined := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { joined <- other.join(joinOpts{member: bid, meta: "m", rebalance: rebalanceMs}) }()
	waitFor(t, "a to be told of the rebalance", 10*time.Second, func() bool {
		return g.heartbeat(a.MemberID, "", a.Generation) == kerr.RebalanceInProgress.Code
	})
	a2 := g.join(joinOpts{member: a.MemberID, meta: "m", rebalance: rebalanceMs})
	b2 := <-joined
	if a2.ErrorCode != 0 || b2.ErrorCode != 0 || a2.Generation != b2.Generation {
		t.Fatalf("generation 2: a %v gen %d, b %v gen %d", kerr.ErrorForCode(a2.ErrorCode), a2.Generation, kerr.ErrorForCode(b2.ErrorCode), b2.Generation)
	}
	// The leader syncs and the group is Stable; the follower never syncs.
	leader, follower, fg := a2, b2, other
	if b2.LeaderID == b2.MemberID {
		leader, follower, fg = b2, a2, g
	}
	lg := g
	if leader == b2 {
		lg = other
	}
	if code := lg.sync(leader.MemberID, "", leader.Generation, map[string]string{leader.MemberID: "x", follower.MemberID: "y"}); code != 0 {
		t.Fatalf("the leader's SyncGroup: %v", kerr.ErrorForCode(code))
	}
	waitFor(t, "the follower that never synced to be removed after the rebalance timeout", 20*time.Second, func() bool {
		return fg.heartbeat(follower.MemberID, "", follower.Generation) == kerr.UnknownMemberID.Code
	})
}
