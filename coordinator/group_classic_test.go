package coordinator

// Classic group behaviours found to differ from Kafka's
// GroupMetadataManager by a review, each named after what broke.

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// twoMemberGeneration forms generation 2 of group g with a (the leader,
// already stable alone in generation 1) and a new member b, and returns
// their ids once both JoinGroups are answered.
func (e *groupEnv) twoMemberGeneration(t *testing.T, g string, ra, rb joinRequest) (a, b string) {
	t.Helper()
	a = e.stableOne(g, ra, "A1")
	rb.memberID = e.memberID(g, rb)
	b = rb.memberID
	bJoin := e.joinAsync(g, rb)
	e.awaitingJoin(g, b)
	ra.memberID = a
	resA := await(t, e.joinAsync(g, ra), "a's rejoin")
	resB := await(t, bJoin, "b's join")
	if resA.err != nil || resB.err != nil || resA.generation != 2 || resB.generation != 2 {
		t.Fatalf("generation 2: a %+v b %+v", resA, resB)
	}
	return a, b
}

// Kafka's expirePendingSync runs in Stable too: a follower that heartbeats
// but never sends SyncGroup is removed a rebalance timeout after the join,
// even though the leader's assignment already made the group Stable.
func TestGroupFollowerThatNeverSyncsIsRemovedInStable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		a, b := e.twoMemberGeneration(t, "g",
			jr("a", 2*time.Second, time.Second, "range"), jr("b", 2*time.Second, time.Second, "range"))
		s := e.c.syncGroup(ctx, "g", syncRequest{memberID: a, generation: 2, assignments: map[string][]byte{a: []byte("A"), b: []byte("B")}})
		if s.err != nil {
			t.Fatalf("leader's sync: %+v", s)
		}
		if st := e.state("g"); st != "Stable" {
			t.Fatalf("after the leader's sync: %s", st)
		}
		// Both heartbeat; b never syncs.
		for range 4 {
			time.Sleep(300 * time.Millisecond)
			for _, id := range []string{a, b} {
				err := e.c.heartbeatGroup("g", id, nil, 2)
				if id == b && errIs(err, kerr.UnknownMemberID) {
					continue
				}
				if err != nil && !errIs(err, kerr.RebalanceInProgress) {
					t.Fatalf("heartbeat of %s: %v", id, err)
				}
			}
		}
		if err := e.c.heartbeatGroup("g", b, nil, 2); !errIs(err, kerr.UnknownMemberID) {
			t.Errorf("b's heartbeat after the rebalance timeout: %v, want UNKNOWN_MEMBER_ID (removed for not syncing)", err)
		}
		if err := e.c.heartbeatGroup("g", a, nil, 2); !errIs(err, kerr.RebalanceInProgress) {
			t.Errorf("a's heartbeat after b's removal: %v, want REBALANCE_IN_PROGRESS", err)
		}
	})
}

// Once every member has synced, the sync timer no longer removes anyone.
func TestGroupAllSyncedStaysStable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		a, b := e.twoMemberGeneration(t, "g",
			jr("a", 2*time.Second, time.Second, "range"), jr("b", 2*time.Second, time.Second, "range"))
		if s := e.c.syncGroup(ctx, "g", syncRequest{memberID: a, generation: 2}); s.err != nil {
			t.Fatalf("leader's sync: %+v", s)
		}
		if s := e.c.syncGroup(ctx, "g", syncRequest{memberID: b, generation: 2}); s.err != nil {
			t.Fatalf("follower's sync in Stable: %+v", s)
		}
		stopA := e.heartbeatLoop("g", a, func() int32 { return 2 }, 300*time.Millisecond)
		stopB := e.heartbeatLoop("g", b, func() int32 { return 2 }, 300*time.Millisecond)
		time.Sleep(3 * time.Second)
		stopA()
		stopB()
		if st, gen := e.state("g"), e.generation("g"); st != "Stable" || gen != 2 {
			t.Errorf("three rebalance timeouts after both synced: %s generation %d, want Stable 2", st, gen)
		}
	})
}

// A new member whose first JoinGroup is retried keeps Kafka's new-member
// join timeout (5 minutes), not its session timeout: the retry waits for
// the rebalance like the first attempt did.
func TestGroupNewMemberRetriedJoinKeepsJoinTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		a := e.stableOne("g", jr("a", 2*time.Second, 6*time.Second, "range"), "A")
		stop := e.heartbeatLoop("g", a, func() int32 { return 1 }, 300*time.Millisecond)
		defer stop()
		rb := jr("b", 500*time.Millisecond, 6*time.Second, "range")
		rb.memberID = e.memberID("g", rb)
		first := e.joinAsync("g", rb)
		e.awaitingJoin("g", rb.memberID)
		second := e.joinAsync("g", rb) // the client retried its JoinGroup
		if r := await(t, first, "b's first join"); r.err != kerr.RebalanceInProgress {
			t.Fatalf("b's replaced first join: %+v, want REBALANCE_IN_PROGRESS", r)
		}
		// Well past b's 500 ms session, short of the 6 s rebalance timeout.
		time.Sleep(3 * time.Second)
		notYet(t, second, "b's retried join (a new member waits up to the new-member join timeout)")
		// a never rejoins: at the rebalance timeout it is dropped and b
		// forms generation 2 alone.
		r := await(t, second, "b's retried join at the rebalance timeout")
		if r.err != nil || r.generation != 2 || r.leader != rb.memberID {
			t.Fatalf("b's retried join: %+v, want generation 2 led by b", r)
		}
	})
}

// A member id handed out with MEMBER_ID_REQUIRED stays pending when a join
// phase completes (Kafka's completeClassicGroupJoin leaves
// pendingJoinMembers alone): the client may still join with it, and until
// it does, leaves or expires, it holds back an early end of the next join.
func TestGroupPendingMemberIDSurvivesJoinCompletion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		ra := jr("a", 5*time.Second, time.Second, "range")
		a := e.stableOne("g", ra, "A1")
		ra.memberID = a
		rp := jr("p", 20*time.Second, time.Second, "range")
		rp.memberID = e.memberID("g", rp)

		// a rejoins; the pending id holds the join until the rebalance
		// timeout, which completes generation 2 without p.
		aJoin := e.joinAsync("g", ra)
		synctest.Wait()
		notYet(t, aJoin, "a's rejoin while p's id is pending")
		if r := await(t, aJoin, "a's rejoin at the rebalance timeout"); r.err != nil || r.generation != 2 {
			t.Fatalf("a's rejoin: %+v", r)
		}
		if s := e.c.syncGroup(ctx, "g", syncRequest{memberID: a, generation: 2}); s.err != nil {
			t.Fatalf("a's sync: %+v", s)
		}

		// The leader rejoins again: p's id, still pending, holds back the
		// early end of this join too.
		aJoin = e.joinAsync("g", ra)
		synctest.Wait()
		notYet(t, aJoin, "a's rejoin while p's id is still pending after a completed join")

		// p joins with its id: a member, not UNKNOWN_MEMBER_ID, and the
		// join completes with both.
		pJoin := e.joinAsync("g", rp)
		rA, rP := await(t, aJoin, "a's join"), await(t, pJoin, "p's join with its pending id")
		if rA.err != nil || rP.err != nil || rA.generation != 3 || rP.generation != 3 {
			t.Fatalf("generation 3: a %+v p %+v", rA, rP)
		}
	})
}

// A static member replaced in a Stable group without a rebalance is
// answered only once the group's record with its new member id is
// written; if the write fails, the member keeps its old id (and
// protocols) and the join is answered with an empty member id and the
// write's error, as Kafka's updateStaticMemberThenRebalanceOrCompleteJoin.
func TestGroupStaticReplacementWaitsForItsWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		r := jr("s", 2*time.Second, time.Second, "range")
		r.instanceID, r.version = ptr("i"), 9
		j := e.c.joinGroup(ctx, "g", r)
		if j.err != nil {
			t.Fatalf("static join: %+v", j)
		}
		if s := e.c.syncGroup(ctx, "g", syncRequest{memberID: j.memberID, instanceID: r.instanceID, generation: 1,
			assignments: map[string][]byte{j.memberID: []byte("S")}}); s.err != nil {
			t.Fatalf("sync: %+v", s)
		}
		first := j.memberID

		// The restart's write cannot fail over: the join waits for it.
		release := e.h.holdReplication()
		again := e.joinAsync("g", r)
		synctest.Wait()
		notYet(t, again, "the replaced static member's join before its record is written")
		release()
		second := await(t, again, "the replaced static member's join")
		if second.err != nil || second.memberID == first || second.generation != 1 || !second.skipAssignment {
			t.Fatalf("static rejoin once written: %+v", second)
		}

		// The next restart's write fails: the member is back to its id.
		e.h.mu.Lock()
		e.h.failCommit = kerr.NotEnoughReplicas
		e.h.mu.Unlock()
		r.protocols = []protocolMeta{{name: "range", metadata: []byte("new")}}
		failed := e.c.joinGroup(ctx, "g", r)
		if failed.err != kerr.CoordinatorNotAvailable || failed.memberID != "" {
			t.Fatalf("static rejoin whose write failed: %+v, want COORDINATOR_NOT_AVAILABLE and no member id", failed)
		}
		e.h.mu.Lock()
		e.h.failCommit = nil
		e.h.mu.Unlock()
		if err := e.c.heartbeatGroup("g", second.memberID, r.instanceID, 1); err != nil {
			t.Errorf("heartbeat of the member id restored after the failed write: %v", err)
		}
		e.inspect("g", func(g *group) {
			m := g.members[second.memberID]
			if len(g.members) != 1 || m == nil || g.instances["i"] != second.memberID || g.leader != second.memberID {
				t.Fatalf("after the failed write: members %v instances %v leader %s", g.members, g.instances, g.leader)
			}
			if string(m.protocols[0].metadata) != "md-range" {
				t.Errorf("protocols after the failed write: %q, want the old ones", m.protocols[0].metadata)
			}
		})
	})
}

// A member refused with GROUP_MAX_SIZE_REACHED while the group prepares a
// rebalance is only removed, as Kafka's classicGroupJoinToClassicGroup:
// its removal does not end the join phase early, the rebalance timeout
// does.
func TestGroupMaxSizeRefusalDoesNotCompleteJoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, func(c *Config) { c.MaxGroupSize = 2 })
		ra := jr("a", 5*time.Second, time.Second, "range")
		a := e.stableOne("g", ra, "A1")
		ra.memberID = a
		rb, rc := jr("b", 5*time.Second, time.Second, "range"), jr("c", 5*time.Second, time.Second, "range")
		rb.memberID, rc.memberID = e.memberID("g", rb), e.memberID("g", rc)
		bJoin := e.joinAsync("g", rb)
		e.awaitingJoin("g", rb.memberID)
		cJoin := e.joinAsync("g", rc)
		e.awaitingJoin("g", rc.memberID)
		// Two members await the rebalance: a's rejoin is past the limit.
		if r := e.c.joinGroup(context.Background(), "g", ra); r.err != kerr.GroupMaxSizeReached {
			t.Fatalf("a's rejoin past group.max.size: %+v", r)
		}
		synctest.Wait()
		notYet(t, bJoin, "b's join right after a's refusal")
		if st := e.state("g"); st != "PreparingRebalance" {
			t.Fatalf("after a's refusal: %s, want PreparingRebalance until the rebalance timeout", st)
		}
		rB, rC := await(t, bJoin, "b's join"), await(t, cJoin, "c's join")
		if rB.err != nil || rC.err != nil || rB.generation != 2 || rC.generation != 2 || len(rB.members)+len(rC.members) != 2 {
			t.Fatalf("generation 2 without a: b %+v c %+v", rB, rC)
		}
	})
}

// A member id handed out with MEMBER_ID_REQUIRED whose JoinGroup is then
// refused past group.max.size is forgotten, as Kafka's
// classicGroupJoinToClassicGroup removes it (ClassicGroup.remove drops the
// pending member too): the client got a fatal GROUP_MAX_SIZE_REACHED and
// will not come back with it, so it no longer holds back the end of the
// join phase. Gregor kept it pending until its session timed out, and the
// members that had all rejoined waited for it.
func TestGroupMaxSizeRefusedPendingMemberIsForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, func(c *Config) { c.MaxGroupSize = 2 })
		ra := jr("a", 5*time.Second, 4*time.Second, "range")
		a := e.stableOne("g", ra, "A1")
		ra.memberID = a
		rb, rc := jr("b", 5*time.Second, 4*time.Second, "range"), jr("c", 30*time.Second, 4*time.Second, "range")
		rb.memberID, rc.memberID = e.memberID("g", rb), e.memberID("g", rc)
		bJoin := e.joinAsync("g", rb)
		e.awaitingJoin("g", rb.memberID)
		aJoin := e.joinAsync("g", ra)
		e.awaitingJoin("g", a)
		// a and b await the rebalance, c's id is still pending: c's join
		// is past the limit.
		if r := e.c.joinGroup(context.Background(), "g", rc); r.err != kerr.GroupMaxSizeReached {
			t.Fatalf("c's join past group.max.size: %+v", r)
		}
		e.inspect("g", func(g *group) {
			if _, ok := g.pending[rc.memberID]; ok {
				t.Errorf("c's refused member id is still pending")
			}
		})
		// A repeated JoinGroup from a (a client's retry) ends the join
		// phase: every member has rejoined and nothing is pending.
		start := time.Now()
		aRetry := e.joinAsync("g", ra)
		rA, rB := await(t, aRetry, "a's retried join"), await(t, bJoin, "b's join")
		if waited := time.Since(start); waited > 0 {
			t.Errorf("the join phase ended %v after a's retry, want at once (not at a timeout)", waited)
		}
		if rA.err != nil || rB.err != nil || rA.generation != 2 || rB.generation != 2 {
			t.Fatalf("generation 2 of a and b without waiting for c: a %+v b %+v", rA, rB)
		}
		if r := await(t, aJoin, "a's first join"); r.err != kerr.RebalanceInProgress {
			t.Errorf("a's replaced join: %+v, want REBALANCE_IN_PROGRESS", r)
		}
	})
}

// When a rebalance completes, every member's session starts again, the
// static members that did not rejoin included, as Kafka's
// completeClassicGroupJoin reschedules each member's heartbeat: a static
// member that is down keeps its place until the new generation's sync
// timeout (or a full session) passes, then is removed. Gregor left the
// session of a static member that had not rejoined running from its last
// heartbeat, so it was removed, and the group rebalanced again, as soon
// as that older session ran out.
func TestGroupCompletedJoinRestartsStaticMembersSessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		ra := jr("a", 2*time.Second, 1500*time.Millisecond, "range")
		ra.instanceID, ra.version = ptr("a"), 9
		ja := e.c.joinGroup(ctx, "g", ra)
		if ja.err != nil {
			t.Fatalf("a's join: %+v", ja)
		}
		if s := e.c.syncGroup(ctx, "g", syncRequest{memberID: ja.memberID, instanceID: ra.instanceID, generation: ja.generation,
			assignments: map[string][]byte{ja.memberID: []byte("A")}}); s.err != nil {
			t.Fatalf("a's sync: %+v", s)
		}
		// a goes quiet (its last contact was its sync); b joins a little later.
		time.Sleep(200 * time.Millisecond)
		rb := jr("b", 10*time.Second, 1500*time.Millisecond, "range")
		rb.memberID = e.memberID("g", rb)
		jb := await(t, e.joinAsync("g", rb), "b's join at the rebalance timeout")
		if jb.err != nil || jb.leader != rb.memberID || jb.generation != 2 {
			t.Fatalf("generation 2 without a: %+v", jb)
		}
		if s := e.c.syncGroup(ctx, "g", syncRequest{memberID: rb.memberID, generation: 2,
			assignments: map[string][]byte{rb.memberID: []byte("B"), ja.memberID: []byte("A2")}}); s.err != nil {
			t.Fatalf("b's sync: %+v", s)
		}
		// a's session, counted from its sync, has run out; counted from the
		// completed join it has not, nor has the generation's sync timeout.
		time.Sleep(800 * time.Millisecond)
		e.inspect("g", func(g *group) {
			if g.members[ja.memberID] == nil || g.state != groupStable {
				t.Errorf("%v after the join completed, static member a is gone (state %s), want it kept until the sync timeout",
					800*time.Millisecond, g.state)
			}
		})
		// The sync timeout removes it.
		time.Sleep(time.Second)
		e.inspect("g", func(g *group) {
			if g.members[ja.memberID] != nil {
				t.Errorf("static member a, which never synced generation 2, is still a member past the sync timeout")
			}
		})
	})
}

// A member answered in SyncGroup starts its session again, as Kafka's
// propagateAssignment reschedules the heartbeat of every member whose
// SyncGroup it completes: a follower that synced at once and waited for a
// slow leader's assignment gets a full session to send its first
// heartbeat. Gregor counted its session from its SyncGroup, so a leader
// that took most of a session to assign had the followers removed, and
// the group rebalanced again, right after they got their assignment.
func TestGroupSyncAnswerRestartsSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		ra := jr("a", 2*time.Second, 10*time.Second, "range")
		a := e.stableOne("g", ra, "A1")
		ra.memberID = a
		rb := jr("b", 2*time.Second, 10*time.Second, "range")
		rb.memberID = e.memberID("g", rb)
		bJoin := e.joinAsync("g", rb)
		e.awaitingJoin("g", rb.memberID)
		ja := e.c.joinGroup(ctx, "g", ra)
		jb := await(t, bJoin, "b's join")
		if ja.err != nil || jb.err != nil || ja.leader != a {
			t.Fatalf("generation 2: a %+v b %+v", ja, jb)
		}
		// b syncs at once; a, the leader, takes most of a session.
		bSync := e.syncAsync("g", syncRequest{memberID: rb.memberID, generation: jb.generation})
		e.awaitingSync("g", rb.memberID)
		time.Sleep(1900 * time.Millisecond)
		if s := e.c.syncGroup(ctx, "g", syncRequest{memberID: a, generation: ja.generation,
			assignments: map[string][]byte{a: []byte("A2"), rb.memberID: []byte("B2")}}); s.err != nil {
			t.Fatalf("a's sync: %+v", s)
		}
		if s := await(t, bSync, "b's sync"); s.err != nil || string(s.assignment) != "B2" {
			t.Fatalf("b's sync: %+v", s)
		}
		// Half a session later b has not heartbeated yet: it stays.
		time.Sleep(time.Second)
		e.inspect("g", func(g *group) {
			if g.members[rb.memberID] == nil || g.state != groupStable {
				t.Errorf("a second after b got its assignment it is gone (state %s), want its session counted from the answer", g.state)
			}
		})
	})
}
