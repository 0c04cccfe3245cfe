package coordinator

// A slow follower of an internal partition holds back the high watermark:
// the requests whose records wait for it must wait, and nothing else.
// Heartbeats, other groups, listings and leadership changes go on.

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

// answeredWithin runs f and fails the test if it takes longer than d.
func answeredWithin(t *testing.T, what string, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s not answered within %v while replication was held back", what, d)
	}
}

func TestGroupHeartbeatsWhileAssignmentAwaitsReplication(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		a := jr("a", time.Second, time.Second, "range")
		a.memberID = e.memberID("g", a)
		res := e.c.joinGroup(ctx, "g", a)
		if res.err != nil {
			t.Fatal(res.err)
		}
		release := e.h.holdReplication()
		sync := e.syncAsync("g", syncRequest{memberID: a.memberID, generation: res.generation,
			assignments: map[string][]byte{a.memberID: []byte("A")}})
		e.awaitingSync("g", a.memberID)
		// The group is not locked: heartbeats, descriptions and another
		// group's commits are answered while the assignment waits.
		answeredWithin(t, "a heartbeat", time.Second, func() {
			if err := e.c.heartbeatGroup("g", a.memberID, nil, res.generation); err != nil {
				t.Errorf("heartbeat while the assignment is replicated: %v", err)
			}
		})
		answeredWithin(t, "DescribeGroups", time.Second, func() { e.c.describeGroup("g", 5) })
		notYet(t, sync, "SyncGroup before its assignment was replicated")
		if s := e.state("g"); s != "CompletingRebalance" {
			t.Fatalf("state while the assignment is replicated: %s, want CompletingRebalance", s)
		}
		release()
		if s := await(t, sync, "SyncGroup after replication"); s.err != nil || string(s.assignment) != "A" {
			t.Fatalf("sync: %+v", s)
		}
		e.waitState("g", "Stable")
	})
}

func TestOffsetCommitAwaitsReplicationWithoutLockingTheGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		a := e.stableOne("g", jr("a", time.Second, time.Second, "range"), "A")
		release := e.h.holdReplication()
		commit := make(chan int16, 1)
		go func() { commit <- commitCode(t, e, "g", a, 1, "t", 0, 42) }()
		waitFor(t, "the commit to be pending", func() bool {
			pending := false
			e.inspect("g", func(g *group) { pending = g.inFlight(topicPartition{"t", 0}) })
			return pending
		})
		answeredWithin(t, "a heartbeat", time.Second, func() {
			if err := e.c.heartbeatGroup("g", a, nil, 1); err != nil {
				t.Errorf("heartbeat during a pending commit: %v", err)
			}
		})
		// Not committed yet: a plain fetch does not see it.
		if o, ok := fetch(t, e, "g", false)[topicPartition{"t", 0}]; ok {
			t.Fatalf("uncommitted offset visible: %+v", o)
		}
		notYet(t, commit, "OffsetCommit before replication")
		release()
		if code := await(t, commit, "OffsetCommit after replication"); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		if o := fetch(t, e, "g", true, topicPartition{"t", 0})[topicPartition{"t", 0}]; o.offset != 42 || o.code != 0 {
			t.Fatalf("committed offset: %+v", o)
		}
	})
}

// Losing the partition while commits wait for replication answers them
// NOT_COORDINATOR at once, and the leadership change itself never waits
// for them (the metadata loop reports it).
func TestUnloadDuringPendingCommitNeverBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		a := e.stableOne("g", jr("a", time.Second, time.Second, "range"), "A")
		e.h.holdReplication() // never released
		commit := make(chan int16, 1)
		go func() { commit <- commitCode(t, e, "g", a, 1, "t", 0, 7) }()
		waitFor(t, "the commit to be pending", func() bool {
			pending := false
			e.inspect("g", func(g *group) { pending = g.inFlight(topicPartition{"t", 0}) })
			return pending
		})
		answeredWithin(t, "the leadership change", time.Second, func() {
			e.co.LeadershipChanged(OffsetsTopic, 0, false, 1)
		})
		if code := await(t, commit, "the pending commit after the unload"); code != kerr.NotCoordinator.Code {
			t.Fatalf("pending commit after unload: %v, want NOT_COORDINATOR", kerr.ErrorForCode(code))
		}
	})
}

func TestTxnIDClaimedDuringReplication(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTxnTestHost()
		c := newTxnTestCoordinator(t, h)
		ctx := context.Background()
		pid, epoch, err := initTxn(t, c, "tx", -1, -1)
		if err != nil {
			t.Fatal(err)
		}
		release := h.holdReplication()
		added := make(chan error, 1)
		go func() { added <- c.addToTxn(ctx, "tx", pid, epoch, true, []topicPartition{{"a", 0}}) }()
		waitFor(t, "the id to be claimed", func() bool {
			m := c.rt.Current(0).Machine.lookup("tx")
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.busy
		})
		// Another operation on the id is told to retry; listings and
		// descriptions are answered; an unrelated id goes on.
		if err := c.addToTxn(ctx, "tx", pid, epoch, true, []topicPartition{{"b", 0}}); err != kerr.ConcurrentTransactions {
			t.Fatalf("second operation on a claimed id: %v, want CONCURRENT_TRANSACTIONS", err)
		}
		answeredWithin(t, "ListTransactions", time.Second, func() {
			req := &protocol.Request{Key: 66, Version: 1, Body: kmsg.NewPtrListTransactionsRequest()}
			if _, err := c.handleListTransactions(ctx, req); err != nil {
				t.Error(err)
			}
		})
		if _, err := c.txnSnapshot("tx"); err != nil {
			t.Fatalf("describe while claimed: %v", err)
		}
		release()
		if err := <-added; err != nil {
			t.Fatalf("AddPartitionsToTxn after replication: %v", err)
		}
		if d := state(t, c, "tx"); d.state != txnOngoing || len(d.parts) != 1 {
			t.Fatalf("after add: %+v", d)
		}
	})
}
