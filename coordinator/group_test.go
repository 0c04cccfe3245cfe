package coordinator

// State-machine tests of the classic group coordinator, driven through the
// Coordinator's methods (no sockets), against Kafka's GroupCoordinator
// behaviour. The Host is txnTestHost (txn_test.go): it keeps every appended
// batch, so a reload replays what the coordinator wrote.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
	"gregor/internal/wait"
)

type groupEnv struct {
	t  testing.TB
	h  *txnTestHost
	co *Coordinator
	c  *groupCoordinator
}

func newGroupEnv(t testing.TB, tweak func(*Config)) *groupEnv {
	t.Helper()
	cfg := Config{
		OffsetsTopicPartitions: 1, TxnTopicPartitions: 1,
		MinSessionTimeout: 20 * time.Millisecond, MaxSessionTimeout: 30 * time.Second,
		OffsetsRetention: time.Hour, OffsetsRetentionCheck: time.Hour,
		TxnMaxTimeout: time.Minute, TxnIDExpiration: time.Hour, TxnAbortCheckPeriod: time.Hour,
		OffsetMetadataMaxBytes: maxOffsetMetadata,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	e := &groupEnv{t: t, h: newTxnTestHost()}
	e.co = New(cfg, e.h, zerolog.Nop())
	e.c = e.co.groups
	t.Cleanup(e.co.Close)
	e.load(1)
	return e
}

// load makes this broker the coordinator of partition 0 and waits for it.
func (e *groupEnv) load(epoch int32) {
	e.t.Helper()
	e.co.LeadershipChanged(OffsetsTopic, 0, true, epoch)
	awaitLoaded(e.t, e.c.rt.Current(0))
}

// inspect runs fn on a locked group; ok is false if the group is unknown.
func (e *groupEnv) inspect(id string, fn func(g *group)) bool {
	e.t.Helper()
	g, err := e.c.lockGroup(id, false)
	if err != nil {
		e.t.Fatalf("locking %s: %v", id, err)
	}
	if g == nil {
		return false
	}
	defer g.mu.Unlock()
	fn(g)
	return true
}

func (e *groupEnv) state(id string) string {
	e.t.Helper()
	s := "unknown"
	e.inspect(id, func(g *group) { s = g.state.String() })
	return s
}

func (e *groupEnv) generation(id string) int32 {
	e.t.Helper()
	gen := int32(-99)
	e.inspect(id, func(g *group) { gen = g.generation })
	return gen
}

// waitFor is wait.For with the coordinator tests' bound of 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	wait.For(t, what, 5*time.Second, cond)
}

func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out after 5s waiting for %s", what)
	}
	var zero T
	return zero
}

func notYet[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s answered too early: %+v", what, v)
	default:
	}
}

func (e *groupEnv) joinAsync(group string, r joinRequest) <-chan joinResult {
	ch := make(chan joinResult, 1)
	go func() { ch <- e.c.joinGroup(context.Background(), group, r) }()
	return ch
}

func (e *groupEnv) syncAsync(group string, r syncRequest) <-chan syncResult {
	ch := make(chan syncResult, 1)
	go func() { ch <- e.c.syncGroup(context.Background(), group, r) }()
	return ch
}

// awaitingJoin waits until member id's JoinGroup is parked in the group.
func (e *groupEnv) awaitingJoin(gid, id string) {
	e.t.Helper()
	waitFor(e.t, "member "+id+" to await the rebalance", func() bool {
		ok := false
		e.inspect(gid, func(g *group) { ok = g.members[id] != nil && g.members[id].joinCh != nil })
		return ok
	})
}

func (e *groupEnv) awaitingSync(gid, id string) {
	e.t.Helper()
	waitFor(e.t, "member "+id+" to await its assignment", func() bool {
		ok := false
		e.inspect(gid, func(g *group) { ok = g.members[id] != nil && g.members[id].syncCh != nil })
		return ok
	})
}

func (e *groupEnv) waitState(group, want string) {
	e.t.Helper()
	waitFor(e.t, "group "+group+" to be "+want, func() bool { return e.state(group) == want })
}

func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

func protos(names ...string) []protocolMeta {
	var out []protocolMeta
	for _, n := range names {
		out = append(out, protocolMeta{name: n, metadata: []byte("md-" + n)})
	}
	return out
}

// jr is a v5 JoinGroup (member id required) of a dynamic consumer.
func jr(client string, session, rebalance time.Duration, ps ...string) joinRequest {
	return joinRequest{
		clientID: client, clientHost: "/127.0.0.1", sessionTimeout: session, rebalanceTimeout: rebalance,
		protocolType: "consumer", protocols: protos(ps...), requireKnownID: true, version: 5,
	}
}

// memberID runs the KIP-394 first round and returns the id handed out.
func (e *groupEnv) memberID(group string, r joinRequest) string {
	e.t.Helper()
	res := e.c.joinGroup(context.Background(), group, r)
	if res.err != kerr.MemberIDRequired || res.memberID == "" {
		e.t.Fatalf("first join of %s: %+v, want MEMBER_ID_REQUIRED with an id", r.clientID, res)
	}
	return res.memberID
}

func errIs(err error, want *kerr.Error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

// stableOne forms a group of one member and returns its id.
func (e *groupEnv) stableOne(group string, r joinRequest, assignment string) string {
	e.t.Helper()
	r.memberID = e.memberID(group, r)
	res := e.c.joinGroup(context.Background(), group, r)
	if res.err != nil || res.leader != r.memberID {
		e.t.Fatalf("join of %s: %+v", r.clientID, res)
	}
	s := e.c.syncGroup(context.Background(), group, syncRequest{memberID: r.memberID, generation: res.generation,
		assignments: map[string][]byte{r.memberID: []byte(assignment)}})
	if s.err != nil || string(s.assignment) != assignment {
		e.t.Fatalf("sync of %s: %+v", r.clientID, s)
	}
	return r.memberID
}

// heartbeatLoop heartbeats until stopped, as a client's heartbeat thread.
func (e *groupEnv) heartbeatLoop(group, id string, gen func() int32, every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				e.c.heartbeatGroup(group, id, nil, gen())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func TestGroupJoinBasics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()

		// v4+: MEMBER_ID_REQUIRED with an id prefixed by the client id.
		r := jr("cl", time.Second, time.Second, "range")
		first := e.c.joinGroup(ctx, "g", r)
		if first.err != kerr.MemberIDRequired || len(first.memberID) < 4 || first.memberID[:3] != "cl-" {
			t.Fatalf("first v5 join: %+v", first)
		}
		if s := e.state("g"); s != "Empty" {
			t.Fatalf("a pending member must not start a rebalance; state %s", s)
		}
		r.memberID = first.memberID
		res := e.c.joinGroup(ctx, "g", r)
		if res.err != nil || res.memberID != r.memberID || res.generation != 1 || res.leader != r.memberID ||
			res.protocol != "range" || res.protocolType != "consumer" || len(res.members) != 1 ||
			string(res.members[0].ProtocolMetadata) != "md-range" {
			t.Fatalf("second join: %+v", res)
		}
		if s := e.state("g"); s != "CompletingRebalance" {
			t.Fatalf("after join: %s", s)
		}

		// Old versions join directly.
		old := jr("old", time.Second, time.Second, "range")
		old.requireKnownID, old.version = false, 3
		res = e.c.joinGroup(ctx, "g-old", old)
		if res.err != nil || res.memberID == "" || res.generation != 1 || res.leader != res.memberID {
			t.Fatalf("v3 join: %+v", res)
		}

		// Request validation.
		cases := []struct {
			name  string
			group string
			mod   func(*joinRequest)
			want  *kerr.Error
		}{
			{"empty group id", "", func(*joinRequest) {}, kerr.InvalidGroupID},
			{"session below min", "v", func(r *joinRequest) { r.sessionTimeout = time.Millisecond }, kerr.InvalidSessionTimeout},
			{"session above max", "v", func(r *joinRequest) { r.sessionTimeout = time.Minute }, kerr.InvalidSessionTimeout},
			{"unknown member of unknown group", "nope", func(r *joinRequest) { r.memberID = "ghost" }, kerr.UnknownMemberID},
			{"unknown member of known group", "g", func(r *joinRequest) { r.memberID = "ghost" }, kerr.UnknownMemberID},
			{"no protocol type", "v", func(r *joinRequest) { r.protocolType = "" }, kerr.InconsistentGroupProtocol},
			{"no protocols", "v", func(r *joinRequest) { r.protocols = nil }, kerr.InconsistentGroupProtocol},
			{"protocol type mismatch", "g", func(r *joinRequest) { r.protocolType = "connect" }, kerr.InconsistentGroupProtocol},
			{"no common protocol", "g", func(r *joinRequest) { r.protocols = protos("roundrobin") }, kerr.InconsistentGroupProtocol},
		}
		for _, tc := range cases {
			r := jr("v", time.Second, time.Second, "range")
			tc.mod(&r)
			if res := e.c.joinGroup(ctx, tc.group, r); res.err != tc.want {
				t.Errorf("%s: %+v, want %v", tc.name, res, tc.want)
			}
		}
		if s := e.state("v"); s != "Empty" && s != "unknown" {
			t.Errorf("rejected joins changed group v: %s", s)
		}
	})
}

func TestGroupProtocolSelectionAndInitialDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 250 * time.Millisecond
		e := newGroupEnv(t, func(c *Config) { c.InitialRebalanceDelay = delay })
		// Three old-version members arrive within the initial delay: one
		// generation; the protocol most members list first wins.
		prefs := [][]string{{"range", "roundrobin", "sticky"}, {"roundrobin", "range"}, {"roundrobin", "range", "sticky"}}
		start := time.Now()
		var chans []<-chan joinResult
		for i, p := range prefs {
			r := jr(fmt.Sprintf("c%d", i), time.Second, 2*time.Second, p...)
			r.requireKnownID, r.version = false, 3
			chans = append(chans, e.joinAsync("g", r))
		}
		var leader string
		ids := map[string]bool{}
		var leaderMembers int
		for i, ch := range chans {
			res := await(t, ch, fmt.Sprintf("join of c%d", i))
			if res.err != nil || res.generation != 1 || res.protocol != "roundrobin" {
				t.Fatalf("join of c%d: %+v", i, res)
			}
			if leader != "" && res.leader != leader {
				t.Fatalf("members disagree on the leader: %s vs %s", leader, res.leader)
			}
			leader = res.leader
			ids[res.memberID] = true
			if res.memberID == res.leader {
				leaderMembers = len(res.members)
				for _, m := range res.members {
					if string(m.ProtocolMetadata) != "md-roundrobin" {
						t.Errorf("leader got metadata %q for %s", m.ProtocolMetadata, m.MemberID)
					}
				}
			} else if len(res.members) != 0 {
				t.Errorf("follower %s was sent the member list", res.memberID)
			}
		}
		if took := time.Since(start); took < delay {
			t.Errorf("the first rebalance completed after %v, before the initial delay %v", took, delay)
		}
		if len(ids) != 3 || leaderMembers != 3 || !ids[leader] {
			t.Fatalf("ids %v leader %s with %d members", ids, leader, leaderMembers)
		}
	})
}

func TestGroupTwoMemberRebalanceAndSync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		ra := jr("a", 2*time.Second, time.Second, "range")
		a := e.stableOne("g", ra, "A1")
		if e.state("g") != "Stable" || e.generation("g") != 1 {
			t.Fatalf("after first sync: %s gen %d", e.state("g"), e.generation("g"))
		}
		// A follower rejoining in Stable with unchanged protocols is answered
		// at once, without a rebalance (tested for the leader below).

		rb := jr("b", 2*time.Second, time.Second, "range")
		rb.memberID = e.memberID("g", rb)
		b := rb.memberID
		bJoin := e.joinAsync("g", rb)
		e.awaitingJoin("g", b)
		if s := e.state("g"); s != "PreparingRebalance" {
			t.Fatalf("second member joined: state %s", s)
		}
		notYet(t, bJoin, "b's join while a has not rejoined")
		if err := e.c.heartbeatGroup("g", a, nil, 1); !errIs(err, kerr.RebalanceInProgress) {
			t.Fatalf("a's heartbeat during the rebalance: %v", err)
		}
		if s := e.c.syncGroup(ctx, "g", syncRequest{memberID: a, generation: 1}); s.err != kerr.RebalanceInProgress {
			t.Fatalf("sync in PreparingRebalance: %+v", s)
		}
		// Offsets may still be committed by a member of the current
		// generation while preparing (Kafka relies on the heartbeat to tell it).
		if code := commitCode(t, e, "g", a, 1, "t", 0, 5); code != 0 {
			t.Fatalf("commit in PreparingRebalance: %v", kerr.ErrorForCode(code))
		}

		ra.memberID = a
		resA := await(t, e.joinAsync("g", ra), "a's rejoin")
		resB := await(t, bJoin, "b's join")
		if resA.err != nil || resB.err != nil || resA.generation != 2 || resB.generation != 2 || resA.leader != a || resB.leader != a {
			t.Fatalf("rejoin: a %+v b %+v", resA, resB)
		}
		if len(resA.members) != 2 || len(resB.members) != 0 {
			t.Fatalf("leader got %d members, follower %d", len(resA.members), len(resB.members))
		}
		if resA.members[0].MemberID != a || resA.members[1].MemberID != b {
			t.Errorf("members not in join order: %+v", resA.members)
		}
		if s := e.state("g"); s != "CompletingRebalance" {
			t.Fatalf("after join: %s", s)
		}
		if err := e.c.heartbeatGroup("g", b, nil, 2); err != nil {
			t.Fatalf("heartbeat in CompletingRebalance: %v", err)
		}
		if code := commitCode(t, e, "g", a, 2, "t", 0, 6); code != kerr.RebalanceInProgress.Code {
			t.Fatalf("commit in CompletingRebalance: %v", kerr.ErrorForCode(code))
		}
		// A repeated join of a known member while the leader assigns gets the
		// same answer.
		rb.memberID = b
		if again := e.c.joinGroup(ctx, "g", rb); again.err != nil || again.generation != 2 || len(again.members) != 0 {
			t.Fatalf("repeated join in CompletingRebalance: %+v", again)
		}

		bSync := e.syncAsync("g", syncRequest{memberID: b, generation: 2})
		e.awaitingSync("g", b)
		notYet(t, bSync, "follower sync before the leader's")
		for _, tc := range []struct {
			name string
			r    syncRequest
			want *kerr.Error
		}{
			{"old generation", syncRequest{memberID: a, generation: 1}, kerr.IllegalGeneration},
			{"unknown member", syncRequest{memberID: "ghost", generation: 2}, kerr.UnknownMemberID},
			{"wrong protocol", syncRequest{memberID: a, generation: 2, protocol: ptr("roundrobin")}, kerr.InconsistentGroupProtocol},
			{"wrong protocol type", syncRequest{memberID: a, generation: 2, protocolType: ptr("connect")}, kerr.InconsistentGroupProtocol},
		} {
			if s := e.c.syncGroup(ctx, "g", tc.r); s.err != tc.want {
				t.Errorf("sync %s: %+v, want %v", tc.name, s, tc.want)
			}
		}
		if s := e.c.syncGroup(ctx, "nope", syncRequest{memberID: a, generation: 2}); s.err != kerr.UnknownMemberID {
			t.Errorf("sync to an unknown group: %+v", s)
		}
		sa := e.c.syncGroup(ctx, "g", syncRequest{memberID: a, generation: 2, protocolType: ptr("consumer"), protocol: ptr("range"),
			assignments: map[string][]byte{a: []byte("A2"), b: []byte("B2"), "ghost": []byte("X")}})
		sb := await(t, bSync, "follower sync")
		if sa.err != nil || string(sa.assignment) != "A2" || sa.protocol != "range" || sb.err != nil || string(sb.assignment) != "B2" {
			t.Fatalf("sync: leader %+v follower %+v", sa, sb)
		}
		if s := e.state("g"); s != "Stable" {
			t.Fatalf("after sync: %s", s)
		}
		// Sync again in Stable: the stored assignment.
		if s := e.c.syncGroup(ctx, "g", syncRequest{memberID: b, generation: 2}); s.err != nil || string(s.assignment) != "B2" {
			t.Fatalf("sync in Stable: %+v", s)
		}
		for _, tc := range []struct {
			name string
			id   string
			gen  int32
			want *kerr.Error
		}{
			{"current", b, 2, nil},
			{"old generation", b, 1, kerr.IllegalGeneration},
			{"unknown member", "ghost", 2, kerr.UnknownMemberID},
		} {
			if err := e.c.heartbeatGroup("g", tc.id, nil, tc.gen); !errIs(err, tc.want) {
				t.Errorf("heartbeat %s: %v, want %v", tc.name, err, tc.want)
			}
		}
		if err := e.c.heartbeatGroup("nope", b, nil, 2); !errIs(err, kerr.UnknownMemberID) {
			t.Errorf("heartbeat to an unknown group: %v", err)
		}
		// Follower rejoin with the same protocols: no rebalance.
		if again := e.c.joinGroup(ctx, "g", rb); again.err != nil || again.generation != 2 || e.state("g") != "Stable" {
			t.Fatalf("follower rejoin in Stable: %+v, state %s", again, e.state("g"))
		}
		d := e.c.describeGroup("g", 5)
		if d.State != "Stable" || d.Protocol != "range" || d.ProtocolType != "consumer" || len(d.Members) != 2 ||
			string(d.Members[1].MemberAssignment) != "B2" || string(d.Members[1].ProtocolMetadata) != "md-range" ||
			d.Members[0].ClientID != "a" {
			t.Fatalf("describe: %+v", d)
		}
		// The leader rejoining rebalances.
		aJoin := e.joinAsync("g", ra)
		e.awaitingJoin("g", a)
		if s := e.state("g"); s != "PreparingRebalance" {
			t.Fatalf("leader rejoin in Stable: state %s", s)
		}
		d = e.c.describeGroup("g", 5)
		// As Kafka 4: the protocol and metadata are omitted, the members'
		// assignments of the last generation shown.
		if d.Protocol != "" || len(d.Members) != 2 || len(d.Members[0].ProtocolMetadata) != 0 || string(d.Members[1].MemberAssignment) != "B2" {
			t.Errorf("describe while rebalancing must omit protocol and metadata, and show the assignments: %+v", d)
		}
		bj := await(t, e.joinAsync("g", rb), "b's rejoin")
		aj := await(t, aJoin, "a's rejoin")
		if aj.generation != 3 || bj.generation != 3 {
			t.Fatalf("third generation: a %+v b %+v", aj, bj)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func commitCode(t *testing.T, e *groupEnv, group, member string, gen int32, topic string, part int32, off int64) int16 {
	t.Helper()
	codes := e.c.offsetCommit(context.Background(), commitReq(group, member, gen, topic, part, off), 8)
	return codes[topicPartition{topic, part}]
}

func commitReq(group, member string, gen int32, topic string, part int32, off int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewOffsetCommitRequest()
	r.Group, r.MemberID, r.Generation = group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = part, off, 3
	md := fmt.Sprintf("m%d", off)
	rp.Metadata = &md
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return &r
}

func TestGroupSessionExpiryRebalances(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ra := jr("a", 2*time.Second, time.Second, "range")
		a := e.stableOne("g", ra, "A")
		rb := jr("b", 150*time.Millisecond, time.Second, "range")
		rb.memberID = e.memberID("g", rb)
		b := rb.memberID
		bJoin := e.joinAsync("g", rb)
		e.awaitingJoin("g", b)
		ra.memberID = a
		aj := await(t, e.joinAsync("g", ra), "a's rejoin")
		bj := await(t, bJoin, "b's join")
		if aj.err != nil || bj.err != nil || aj.generation != 2 {
			t.Fatalf("join: %+v %+v", aj, bj)
		}
		bSync := e.syncAsync("g", syncRequest{memberID: b, generation: 2})
		e.awaitingSync("g", b)
		e.c.syncGroup(context.Background(), "g", syncRequest{memberID: a, generation: 2, assignments: map[string][]byte{a: []byte("A"), b: []byte("B")}})
		await(t, bSync, "b's sync")

		// b goes silent; a keeps heartbeating and learns of the rebalance.
		gen := int32(2)
		var mu sync.Mutex
		rebalance := false
		done := make(chan struct{})
		go func() {
			defer close(done)
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				mu.Lock()
				g := gen
				mu.Unlock()
				if err := e.c.heartbeatGroup("g", a, nil, g); errIs(err, kerr.RebalanceInProgress) {
					mu.Lock()
					rebalance = true
					mu.Unlock()
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		<-done
		mu.Lock()
		if !rebalance {
			t.Fatal("a's heartbeat never reported the rebalance after b's session expired")
		}
		mu.Unlock()
		e.inspect("g", func(g *group) {
			if g.members[b] != nil {
				t.Errorf("expired member b still in the group")
			}
		})
		aj = await(t, e.joinAsync("g", ra), "a's rejoin after b expired")
		if aj.err != nil || aj.generation != 3 || len(aj.members) != 1 || aj.members[0].MemberID != a {
			t.Fatalf("after expiry: %+v", aj)
		}
		if err := e.c.heartbeatGroup("g", b, nil, 2); !errIs(err, kerr.UnknownMemberID) {
			t.Errorf("expired member's heartbeat: %v", err)
		}
	})
}

func TestGroupMemberNotRejoiningIsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		const rebalance = 300 * time.Millisecond
		ra := jr("a", 2*time.Second, rebalance, "range")
		rb := jr("b", 2*time.Second, rebalance, "range")
		ra.memberID = e.memberID("g", ra)
		rb.memberID = e.memberID("g", rb)
		a, b := ra.memberID, rb.memberID
		aJoin := e.joinAsync("g", ra)
		bJoin := e.joinAsync("g", rb)
		aj, bj := await(t, aJoin, "a's join"), await(t, bJoin, "b's join")
		if aj.generation != bj.generation || aj.err != nil || bj.err != nil {
			t.Fatalf("joins: %+v %+v", aj, bj)
		}
		gen := aj.generation
		leader := aj.leader
		follower := b
		if leader == b {
			follower = a
		}
		fSync := e.syncAsync("g", syncRequest{memberID: follower, generation: gen})
		e.awaitingSync("g", follower)
		e.c.syncGroup(ctx, "g", syncRequest{memberID: leader, generation: gen})
		await(t, fSync, "follower sync")

		// The follower heartbeats but never rejoins: the rebalance the leader
		// starts ends after the rebalance timeout without it.
		stop := e.heartbeatLoop("g", follower, func() int32 { return gen }, 30*time.Millisecond)
		defer stop()
		r := ra
		if leader == b {
			r = rb
		}
		start := time.Now()
		lj := await(t, e.joinAsync("g", r), "leader's rejoin")
		if took := time.Since(start); took < rebalance-20*time.Millisecond {
			t.Errorf("rebalance completed after %v, before the rebalance timeout %v", took, rebalance)
		}
		if lj.err != nil || lj.generation != gen+1 || len(lj.members) != 1 || lj.members[0].MemberID != leader {
			t.Fatalf("leader's rejoin: %+v", lj)
		}
		e.inspect("g", func(g *group) {
			if g.members[follower] != nil {
				t.Errorf("member that did not rejoin is still in the group")
			}
		})
	})
}

func TestGroupPendingMemberExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ra := jr("a", 2*time.Second, 2*time.Second, "range")
		a := e.stableOne("g", ra, "A")
		// A pending member (given an id, not yet joined) holds the rebalance
		// until its id expires after its session timeout.
		rp := jr("p", 150*time.Millisecond, time.Second, "range")
		pid := e.memberID("g", rp)
		ra.memberID = a
		start := time.Now()
		aJoin := e.joinAsync("g", ra)
		e.awaitingJoin("g", a)
		notYet(t, aJoin, "join while an id is pending")
		aj := await(t, aJoin, "a's join after the pending id expired")
		if took := time.Since(start); took < 100*time.Millisecond {
			t.Errorf("join completed after %v; the pending member's session is 150ms", took)
		}
		if aj.err != nil || aj.generation != 2 || len(aj.members) != 1 {
			t.Fatalf("a's join: %+v", aj)
		}
		rp.memberID = pid
		if res := e.c.joinGroup(context.Background(), "g", rp); res.err != kerr.UnknownMemberID {
			t.Fatalf("join with an expired pending id: %+v", res)
		}
	})
}

// newMemberWaitsForSlowRejoin: Kafka gives a new member awaiting its first
// join NewMemberJoinTimeoutMs (5 min), not its session timeout
// (MemberMetadata.shouldKeepAlive / hasSatisfiedHeartbeat,
// addMemberAndRebalance's completeAndScheduleNextExpiration): an existing
// member may take up to its rebalance timeout to rejoin.
func TestGroupNewMemberSurvivesSlowRejoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ra := jr("a", 2*time.Second, 3*time.Second, "range")
		a := e.stableOne("g", ra, "A")
		stop := e.heartbeatLoop("g", a, func() int32 { return 1 }, 30*time.Millisecond)
		rb := jr("b", 100*time.Millisecond, 3*time.Second, "range")
		rb.memberID = e.memberID("g", rb)
		bJoin := e.joinAsync("g", rb)
		e.awaitingJoin("g", rb.memberID)
		joinedAt := time.Now()
		// a is slow to rejoin (it is processing records): wait until b's
		// session timeout has passed several times over.
		waitFor(t, "b's session timeout to pass 4 times", func() bool {
			select {
			case res := <-bJoin:
				stop()
				t.Fatalf("new member b was answered with %v before a rejoined: %+v (Kafka keeps a new member's join for 5 minutes, not its 100ms session)", res.err, res)
			default:
			}
			return time.Since(joinedAt) > 4*rb.sessionTimeout
		})
		stop()
		ra.memberID = a
		aj := await(t, e.joinAsync("g", ra), "a's rejoin")
		bj := await(t, bJoin, "b's join")
		if aj.err != nil || bj.err != nil || aj.generation != 2 || len(aj.members) != 2 {
			t.Fatalf("slow rejoin: a %+v b %+v", aj, bj)
		}
	})
}

func (e *groupEnv) leave(group, member string, instance *string) error {
	e.t.Helper()
	g, err := e.c.lockGroup(group, false)
	if err != nil {
		return err
	}
	if g == nil {
		return kerr.UnknownMemberID
	}
	defer g.mu.Unlock()
	if ke := e.c.leave(g, member, instance, "test"); ke != nil {
		return ke
	}
	return nil
}

func TestGroupLeave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		ra := jr("a", 2*time.Second, time.Second, "range")
		a := e.stableOne("g", ra, "A")
		// Two more members join; one is left pending (never joins).
		rb := jr("b", 2*time.Second, time.Second, "range")
		rb.memberID = e.memberID("g", rb)
		pending := e.memberID("g", jr("p", 2*time.Second, time.Second, "range"))
		bJoin := e.joinAsync("g", rb)
		e.awaitingJoin("g", rb.memberID)
		ra.memberID = a
		aJoin := e.joinAsync("g", ra)
		e.awaitingJoin("g", a)
		notYet(t, aJoin, "join while an id is pending")
		// v0-2 style leave of the pending id completes the join.
		if err := e.leave("g", pending, nil); err != nil {
			t.Fatalf("leave of a pending member: %v", err)
		}
		aj, bj := await(t, aJoin, "a's join"), await(t, bJoin, "b's join")
		if aj.generation != 2 || bj.generation != 2 || len(aj.members) != 2 {
			t.Fatalf("after pending leave: %+v %+v", aj, bj)
		}
		bSync := e.syncAsync("g", syncRequest{memberID: rb.memberID, generation: 2})
		e.awaitingSync("g", rb.memberID)
		// A member leaving while the leader assigns: the waiting sync is told
		// to rejoin.
		if err := e.leave("g", a, nil); err != nil {
			t.Fatalf("a leaves: %v", err)
		}
		if s := await(t, bSync, "b's sync"); s.err != kerr.RebalanceInProgress {
			t.Fatalf("b's sync after a left: %+v", s)
		}
		if err := e.leave("g", a, nil); !errIs(err, kerr.UnknownMemberID) {
			t.Fatalf("second leave of a: %v", err)
		}
		if err := e.leave("nope", "x", nil); !errIs(err, kerr.UnknownMemberID) {
			t.Fatalf("leave of an unknown group: %v", err)
		}
		bj = await(t, e.joinAsync("g", rb), "b's rejoin")
		if bj.err != nil || bj.generation != 3 || bj.leader != rb.memberID {
			t.Fatalf("b alone: %+v", bj)
		}
		if err := e.leave("g", rb.memberID, nil); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the group to empty", func() bool { return e.state("g") == "Empty" })
		if gen := e.generation("g"); gen != 4 {
			t.Errorf("emptying must bump the generation to 4, got %d", gen)
		}
		_ = ctx
	})
}

func TestGroupStaticMembers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The initial delay lets both static members land in generation 1.
		e := newGroupEnv(t, func(c *Config) { c.InitialRebalanceDelay = 200 * time.Millisecond })
		ctx := context.Background()
		inst1, inst2 := ptr("i1"), ptr("i2")
		r1 := jr("s1", 2*time.Second, time.Second, "range")
		r1.instanceID, r1.version = inst1, 9
		r2 := jr("s2", 2*time.Second, time.Second, "range")
		r2.instanceID, r2.version = inst2, 9
		// Static members join without MEMBER_ID_REQUIRED.
		j1c, j2c := e.joinAsync("g", r1), e.joinAsync("g", r2)
		j1, j2 := await(t, j1c, "s1's join"), await(t, j2c, "s2's join")
		if j1.err != nil || j2.err != nil || j1.generation != 1 || j1.memberID[:3] != "i1-" {
			t.Fatalf("static joins: %+v %+v", j1, j2)
		}
		leader, follower, fInst := j1.memberID, j2.memberID, inst2
		if j1.leader != j1.memberID {
			leader, follower, fInst = j2.memberID, j1.memberID, inst1
		}
		fSync := e.syncAsync("g", syncRequest{memberID: follower, instanceID: fInst, generation: 1})
		e.awaitingSync("g", follower)
		e.c.syncGroup(ctx, "g", syncRequest{memberID: leader, generation: 1,
			assignments: map[string][]byte{leader: []byte("L"), follower: []byte("F")}})
		if s := await(t, fSync, "follower sync"); string(s.assignment) != "F" {
			t.Fatalf("follower sync: %+v", s)
		}

		// The follower restarts: same instance id, no member id. It keeps its
		// assignment with a new member id; no new generation.
		rf := r2
		if fInst == inst1 {
			rf = r1
		}
		again := e.c.joinGroup(ctx, "g", rf)
		if again.err != nil || again.generation != 1 || again.memberID == follower || again.leader != leader || len(again.members) != 0 {
			t.Fatalf("static rejoin: %+v", again)
		}
		if s := e.state("g"); s != "Stable" {
			t.Fatalf("static rejoin in Stable moved the group to %s", s)
		}
		if s := e.c.syncGroup(ctx, "g", syncRequest{memberID: again.memberID, instanceID: fInst, generation: 1}); s.err != nil || string(s.assignment) != "F" {
			t.Fatalf("sync with the new id: %+v", s)
		}
		// The old incarnation is fenced everywhere.
		if err := e.c.heartbeatGroup("g", follower, fInst, 1); !errIs(err, kerr.FencedInstanceID) {
			t.Errorf("old id heartbeat: %v", err)
		}
		if s := e.c.syncGroup(ctx, "g", syncRequest{memberID: follower, instanceID: fInst, generation: 1}); s.err != kerr.FencedInstanceID {
			t.Errorf("old id sync: %+v", s)
		}
		old := rf
		old.memberID = follower
		if res := e.c.joinGroup(ctx, "g", old); res.err != kerr.FencedInstanceID {
			t.Errorf("old id join: %+v", res)
		}
		if r := e.c.offsetCommit(ctx, func() *kmsg.OffsetCommitRequest {
			r := commitReq("g", follower, 1, "t", 0, 1)
			r.InstanceID = fInst
			return r
		}(), 8); r[topicPartition{"t", 0}] != kerr.FencedInstanceID.Code {
			t.Errorf("old id commit: %v", kerr.ErrorForCode(r[topicPartition{"t", 0}]))
		}
		if err := e.leave("g", follower, fInst); !errIs(err, kerr.FencedInstanceID) {
			t.Errorf("old id leave: %v", err)
		}
		// The returning static leader is told it need not assign (KIP-814).
		rl := r1
		if fInst == inst1 {
			rl = r2
		}
		lj := e.c.joinGroup(ctx, "g", rl)
		if lj.err != nil || lj.generation != 1 || !lj.skipAssignment || e.state("g") != "Stable" {
			t.Fatalf("static leader rejoin: %+v state %s", lj, e.state("g"))
		}
		// Leave by instance id alone (admin removal) rebalances.
		if err := e.leave("g", "", fInst); err != nil {
			t.Fatalf("leave by instance id: %v", err)
		}
		if s := e.state("g"); s != "PreparingRebalance" {
			t.Fatalf("after static leave: %s", s)
		}
		if err := e.leave("g", "", ptr("i9")); !errIs(err, kerr.UnknownMemberID) {
			t.Errorf("leave of an unknown instance: %v", err)
		}
	})
}

func fetch(t *testing.T, e *groupEnv, group string, stable bool, tps ...topicPartition) map[topicPartition]fetchedOffset {
	t.Helper()
	var want []topicPartition
	if tps != nil {
		want = tps
	}
	out, err := e.c.fetchOffsets(context.Background(), group, want, stable, nil, -1)
	if err != nil {
		t.Fatalf("fetching offsets of %s: %v", group, err)
	}
	m := make(map[topicPartition]fetchedOffset)
	for _, o := range out {
		m[o.tp] = o
	}
	return m
}

func TestGroupOffsetCommitAndFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		// Admin-style commit (generation -1, no member) creates the group.
		if code := commitCode(t, e, "simple", "", -1, "t", 0, 10); code != 0 {
			t.Fatalf("commit to a new group: %v", kerr.ErrorForCode(code))
		}
		if s := e.state("simple"); s != "Empty" {
			t.Fatalf("group created by a commit: %s", s)
		}
		// Several partitions, one with metadata too large, one unknown.
		r := commitReq("simple", "", -1, "t", 1, 11)
		big := string(make([]byte, maxOffsetMetadata+1))
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset, p.Metadata = 2, 12, &big
		r.Topics[0].Partitions = append(r.Topics[0].Partitions, p)
		mt := kmsg.NewOffsetCommitRequestTopic()
		mt.Topic = "missing"
		mp := kmsg.NewOffsetCommitRequestTopicPartition()
		mt.Partitions = append(mt.Partitions, mp)
		r.Topics = append(r.Topics, mt)
		codes := e.c.offsetCommit(ctx, r, 8)
		if codes[topicPartition{"t", 1}] != 0 || codes[topicPartition{"t", 2}] != kerr.OffsetMetadataTooLarge.Code ||
			codes[topicPartition{"missing", 0}] != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("mixed commit: %v", codes)
		}
		all, err := e.c.fetchOffsets(context.Background(), "simple", nil, false, nil, -1)
		if err != nil || len(all) != 2 || all[0].tp != (topicPartition{"t", 0}) || all[0].offset != 10 || all[0].metadata != "m10" ||
			all[0].leaderEpoch != 3 || all[1].offset != 11 {
			t.Fatalf("fetch all: %+v %v", all, err)
		}
		some := fetch(t, e, "simple", false, topicPartition{"t", 1}, topicPartition{"t", 9})
		if some[topicPartition{"t", 1}].offset != 11 || some[topicPartition{"t", 9}].offset != -1 || some[topicPartition{"t", 9}].code != 0 {
			t.Fatalf("fetch some: %+v", some)
		}
		unknown := fetch(t, e, "nope", false, topicPartition{"t", 0})
		if o := unknown[topicPartition{"t", 0}]; o.offset != -1 || o.code != 0 {
			t.Fatalf("fetch from an unknown group: %+v", o)
		}
		if code := commitCode(t, e, "nope2", "m", 3, "t", 0, 1); code != kerr.IllegalGeneration.Code {
			t.Errorf("member commit to an unknown group: %v", kerr.ErrorForCode(code))
		}
		if e.state("nope2") != "unknown" {
			t.Errorf("a refused commit created group nope2")
		}

		// A stable group refuses commits from outside it.
		ra := jr("a", 2*time.Second, time.Second, "range")
		a := e.stableOne("g", ra, "A")
		for _, tc := range []struct {
			name   string
			member string
			gen    int32
			want   *kerr.Error
		}{
			{"no member, no generation", "", -1, kerr.UnknownMemberID},
			{"unknown member", "ghost", 1, kerr.UnknownMemberID},
			{"old generation", a, 0, kerr.IllegalGeneration},
			{"member", a, 1, nil},
		} {
			code := commitCode(t, e, "g", tc.member, tc.gen, "t", 0, 42)
			want := int16(0)
			if tc.want != nil {
				want = tc.want.Code
			}
			if code != want {
				t.Errorf("commit %s: %v, want %v", tc.name, kerr.ErrorForCode(code), tc.want)
			}
		}
		if o := fetch(t, e, "g", false)[topicPartition{"t", 0}]; o.offset != 42 {
			t.Fatalf("member's commit not fetched: %+v", o)
		}

		// Delete: not while members; then the group and its offsets go.
		if err := e.c.deleteGroup(ctx, "g"); err != kerr.NonEmptyGroup {
			t.Fatalf("delete of a stable group: %v", err)
		}
		if err := e.leave("g", a, nil); err != nil {
			t.Fatal(err)
		}
		if s := e.state("g"); s != "Empty" {
			t.Fatalf("after the last member left: %s", s)
		}
		if err := e.c.deleteGroup(ctx, "g"); err != nil {
			t.Fatalf("delete of an empty group: %v", err)
		}
		if o := fetch(t, e, "g", false, topicPartition{"t", 0})[topicPartition{"t", 0}]; o.offset != -1 {
			t.Fatalf("offset after delete: %+v", o)
		}
		if err := e.c.deleteGroup(ctx, "g"); err != kerr.GroupIDNotFound {
			t.Fatalf("second delete: %v", err)
		}
		if d := e.c.describeGroup("g", 5); d.State != "Dead" || d.ErrorCode != 0 {
			t.Fatalf("describe a deleted group (v5): %+v", d)
		}
		if d := e.c.describeGroup("g", 6); d.ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("describe a deleted group (v6): %+v", d)
		}
	})
}

func offsetDeleteReq(group string, tps ...topicPartition) *kmsg.OffsetDeleteRequest {
	r := kmsg.NewOffsetDeleteRequest()
	r.Group = group
	for _, tp := range tps {
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = tp.topic
		rp := kmsg.NewOffsetDeleteRequestTopicPartition()
		rp.Partition = tp.partition
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
	}
	return &r
}

func TestGroupOffsetDelete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		r := jr("a", 2*time.Second, time.Second)
		r.protocols = []protocolMeta{{name: "range", metadata: consumerMeta("subscribed")}}
		a := e.stableOne("g", r, "A")
		for _, tp := range []topicPartition{{"subscribed", 0}, {"other", 0}} {
			if code := commitCode(t, e, "g", a, 1, tp.topic, tp.partition, 7); code != 0 {
				t.Fatalf("commit %v: %v", tp, kerr.ErrorForCode(code))
			}
		}
		codes, gerr := e.c.offsetDelete(ctx, offsetDeleteReq("g", topicPartition{"subscribed", 0}, topicPartition{"other", 0}, topicPartition{"missing", 0}))
		if gerr != nil || codes[topicPartition{"subscribed", 0}] != kerr.GroupSubscribedToTopic.Code ||
			codes[topicPartition{"other", 0}] != 0 || codes[topicPartition{"missing", 0}] != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("offset delete: %v %v", codes, gerr)
		}
		got := fetch(t, e, "g", false)
		if got[topicPartition{"subscribed", 0}].offset != 7 || len(got) != 1 {
			t.Fatalf("offsets after delete: %+v", got)
		}
		if _, gerr := e.c.offsetDelete(ctx, offsetDeleteReq("nope", topicPartition{"other", 0})); gerr != kerr.GroupIDNotFound {
			t.Errorf("offset delete of an unknown group: %v", gerr)
		}
		// A non-consumer group with members: NON_EMPTY_GROUP.
		rc := jr("c", 2*time.Second, time.Second, "x")
		rc.protocolType = "connect"
		e.stableOne("conn", rc, "X")
		if _, gerr := e.c.offsetDelete(ctx, offsetDeleteReq("conn", topicPartition{"other", 0})); gerr != kerr.NonEmptyGroup {
			t.Errorf("offset delete of an active connect group: %v", gerr)
		}
		// Once Empty, every offset may go.
		if err := e.leave("g", a, nil); err != nil {
			t.Fatal(err)
		}
		codes, gerr = e.c.offsetDelete(ctx, offsetDeleteReq("g", topicPartition{"subscribed", 0}))
		if gerr != nil || codes[topicPartition{"subscribed", 0}] != 0 || len(fetch(t, e, "g", false)) != 0 {
			t.Fatalf("offset delete of an empty group: %v %v", codes, gerr)
		}
	})
}

func TestGroupOffsetExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const retention = 200 * time.Millisecond
		e := newGroupEnv(t, func(c *Config) { c.OffsetsRetention = retention })
		r := jr("a", 2*time.Second, time.Second, "range")
		a := e.stableOne("g", r, "A")
		if code := commitCode(t, e, "g", a, 1, "t", 0, 5); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		// While the group has members its offsets stay, whatever their age.
		waitFor(t, "the retention period to pass", func() bool {
			ok := false
			e.inspect("g", func(g *group) {
				ok = time.Now().UnixMilli()-g.offsets[topicPartition{"t", 0}].commitMs > retention.Milliseconds()+50
			})
			return ok
		})
		e.c.expireOffsets()
		if o := fetch(t, e, "g", false)[topicPartition{"t", 0}]; o.offset != 5 {
			t.Fatalf("a stable group's offset expired: %+v", o)
		}
		if err := e.leave("g", a, nil); err != nil {
			t.Fatal(err)
		}
		emptied := time.Now()
		e.c.expireOffsets()
		if o := fetch(t, e, "g", false)[topicPartition{"t", 0}]; o.offset != 5 {
			t.Fatalf("offset expired as soon as the group emptied: %+v", o)
		}
		waitFor(t, "the empty group's offsets to expire", func() bool {
			e.c.expireOffsets()
			return e.state("g") == "unknown"
		})
		if took := time.Since(emptied); took < retention-2*time.Millisecond { // state times are in ms
			t.Errorf("offsets expired %v after the group emptied; retention is %v", took, retention)
		}
		if o := fetch(t, e, "g", false, topicPartition{"t", 0})[topicPartition{"t", 0}]; o.offset != -1 {
			t.Fatalf("expired offset still fetched: %+v", o)
		}
	})
}

func txnCommitReq(group string, pid int64, topic string, part int32, off int64) *kmsg.TxnOffsetCommitRequest {
	r := kmsg.NewTxnOffsetCommitRequest()
	r.Group, r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Generation = group, "tx", pid, 0, -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = part, off, 1
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return &r
}

func (e *groupEnv) txnCommit(group string, pid int64, topic string, part int32, off int64) {
	e.t.Helper()
	codes := e.c.txnOffsetCommit(context.Background(), txnCommitReq(group, pid, topic, part, off), 3)
	if c := codes[topicPartition{topic, part}]; c != 0 {
		e.t.Fatalf("txn commit of %s/%d by %d: %v", topic, part, pid, kerr.ErrorForCode(c))
	}
}

// marker appends a transaction marker to __consumer_offsets partition 0,
// as the broker's WriteTxnMarkers does, and tells the coordinator.
func (e *groupEnv) marker(pid int64, commit bool) {
	e.t.Helper()
	typ := uint16(0)
	if commit {
		typ = 1
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), typ)
	val := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, 0), 7)
	now := time.Now().UnixMilli()
	b, err := records.Build(&records.Batch{
		Attributes:     records.AttrControl | records.AttrTransactional,
		FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: pid, ProducerEpoch: 0, BaseSequence: -1,
		Records: []records.Record{{Key: key, Value: val}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, _, err := e.h.AppendInternal(OffsetsTopic, 0, 0, b); err != nil {
		e.t.Fatal(err)
	}
	e.c.txnOffsetsCompleted(context.Background(), 0, pid, commit)
}

func TestGroupTxnOffsets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		tp := topicPartition{"t", 0}
		if code := commitCode(t, e, "g", "", -1, "t", 0, 1); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		e.txnCommit("g", 100, "t", 0, 10)
		if o := fetch(t, e, "g", false)[tp]; o.offset != 1 || o.code != 0 {
			t.Fatalf("open transaction's offset visible: %+v", o)
		}
		if o := fetch(t, e, "g", true, tp)[tp]; o.code != kerr.UnstableOffsetCommit.Code {
			t.Fatalf("require stable with an open transaction: %+v", o)
		}
		e.marker(100, true)
		if o := fetch(t, e, "g", true, tp)[tp]; o.offset != 10 || o.code != 0 || o.leaderEpoch != 1 {
			t.Fatalf("after commit: %+v", o)
		}
		// Aborted: dropped.
		e.txnCommit("g", 101, "t", 0, 20)
		e.marker(101, false)
		if o := fetch(t, e, "g", true, tp)[tp]; o.offset != 10 || o.code != 0 {
			t.Fatalf("after abort: %+v", o)
		}
		// A plain commit written after the transactional one wins.
		e.txnCommit("g", 102, "t", 0, 30)
		if code := commitCode(t, e, "g", "", -1, "t", 0, 31); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		e.marker(102, true)
		if o := fetch(t, e, "g", true, tp)[tp]; o.offset != 31 {
			t.Fatalf("plain commit after the txn's: %+v", o)
		}
		// A transactional commit to a new group creates it (Empty), invisible
		// until its marker.
		e.txnCommit("fresh", 103, "t", 0, 5)
		if got := fetch(t, e, "fresh", false); len(got) != 0 {
			t.Fatalf("pending txn offsets listed: %+v", got)
		}
		// KIP-447 checks on v3+.
		e.stableOne("member", jr("a", 2*time.Second, time.Second, "range"), "A")
		bad := txnCommitReq("member", 104, "t", 0, 1)
		bad.MemberID, bad.Generation = "ghost", 1
		if c := e.c.txnOffsetCommit(context.Background(), bad, 3)[tp]; c != kerr.UnknownMemberID.Code {
			t.Errorf("txn commit by an unknown member: %v", kerr.ErrorForCode(c))
		}
		e.marker(103, true)
		if o := fetch(t, e, "fresh", false)[tp]; o.offset != 5 {
			t.Fatalf("fresh group's txn offset: %+v", o)
		}
	})
}

func TestGroupReloadFromLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		ra := jr("a", 2*time.Second, time.Second)
		rb := jr("b", 2*time.Second, time.Second)
		ra.protocols = []protocolMeta{{name: "range", metadata: consumerMeta("s")}}
		rb.protocols = ra.protocols
		rb.instanceID = ptr("ib")
		// a's pending id holds the rebalance until both joined: b (static,
		// joining directly) first, then a.
		ra.memberID = e.memberID("g", ra)
		bJoin := e.joinAsync("g", rb)
		waitFor(t, "static member b to await the rebalance", func() bool {
			ok := false
			e.inspect("g", func(g *group) { m := g.members[g.instances["ib"]]; ok = m != nil && m.joinCh != nil })
			return ok
		})
		aJoin := e.joinAsync("g", ra)
		aj, bj := await(t, aJoin, "a's join"), await(t, bJoin, "b's join")
		if aj.err != nil || bj.err != nil {
			t.Fatalf("joins: %+v %+v", aj, bj)
		}
		a, b, gen, leader := aj.memberID, bj.memberID, aj.generation, aj.leader
		follower := b
		if leader == b {
			follower = a
		}
		fSync := e.syncAsync("g", syncRequest{memberID: follower, generation: gen})
		e.awaitingSync("g", follower)
		e.c.syncGroup(ctx, "g", syncRequest{memberID: leader, generation: gen, assignments: map[string][]byte{a: []byte("A"), b: []byte("B")}})
		await(t, fSync, "follower sync")
		for i, off := range []int64{5, 6, 7} {
			if code := commitCode(t, e, "g", a, gen, "t", int32(i), off); code != 0 {
				t.Fatal(kerr.ErrorForCode(code))
			}
		}
		// t/2 is deleted (tombstone) via OffsetDelete of a topic the
		// members do not subscribe to.
		if codes, gerr := e.c.offsetDelete(ctx, offsetDeleteReq("g", topicPartition{"t", 2})); gerr != nil || codes[topicPartition{"t", 2}] != 0 {
			t.Fatalf("offset delete: %v %v", codes, gerr)
		}
		e.txnCommit("g", 200, "t", 0, 50) // committed
		e.txnCommit("g", 201, "t", 1, 60) // aborted
		e.txnCommit("g", 202, "u", 0, 70) // left open
		e.marker(200, true)
		e.marker(201, false)
		// Another group, deleted: stays deleted.
		if code := commitCode(t, e, "gone", "", -1, "t", 0, 1); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		if err := e.c.deleteGroup(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		// A simple group with offsets only.
		if code := commitCode(t, e, "simple", "", -1, "s", 0, 9); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}

		// Unload: waiting requests are told NOT_COORDINATOR, lookups too.
		e.co.LeadershipChanged(OffsetsTopic, 0, false, 1)
		if err := e.c.heartbeatGroup("g", a, nil, gen); !errIs(err, kerr.NotCoordinator) {
			t.Fatalf("heartbeat after unload: %v", err)
		}
		e.load(2)

		if s := e.state("g"); s != "Stable" {
			t.Fatalf("reloaded state %s", s)
		}
		e.inspect("g", func(g *group) {
			if g.generation != gen || g.leader != leader || g.protocol != "range" || g.protocolType != "consumer" || len(g.members) != 2 {
				t.Fatalf("reloaded group: gen %d leader %s protocol %s/%s members %d", g.generation, g.leader, g.protocolType, g.protocol, len(g.members))
			}
			if string(g.members[a].assignment) != "A" || string(g.members[b].assignment) != "B" {
				t.Errorf("reloaded assignments: %q %q", g.members[a].assignment, g.members[b].assignment)
			}
			if g.members[b].instanceID == nil || *g.members[b].instanceID != "ib" || g.instances["ib"] != b {
				t.Errorf("static member b not restored with its instance id")
			}
			if g.members[a].clientID != "a" || g.members[a].sessionTimeout != 2*time.Second || g.members[a].rebalanceTimeout != time.Second {
				t.Errorf("member a restored as %+v", g.members[a])
			}
		})
		got := fetch(t, e, "g", false)
		if got[topicPartition{"t", 0}].offset != 50 || got[topicPartition{"t", 1}].offset != 6 || len(got) != 2 {
			t.Fatalf("reloaded offsets: %+v", got)
		}
		if o := fetch(t, e, "g", true, topicPartition{"u", 0})[topicPartition{"u", 0}]; o.code != kerr.UnstableOffsetCommit.Code {
			t.Fatalf("open transaction after reload: %+v", o)
		}
		// The open transaction completes after the reload.
		e.marker(202, true)
		if o := fetch(t, e, "g", true, topicPartition{"u", 0})[topicPartition{"u", 0}]; o.offset != 70 {
			t.Fatalf("open transaction committed after reload: %+v", o)
		}
		if s := e.state("gone"); s != "unknown" {
			t.Errorf("deleted group came back as %s", s)
		}
		if o := fetch(t, e, "simple", false)[topicPartition{"s", 0}]; o.offset != 9 || e.state("simple") != "Empty" {
			t.Errorf("simple group after reload: %+v %s", o, e.state("simple"))
		}
		// The members carry on without rejoining.
		if err := e.c.heartbeatGroup("g", b, ptr("ib"), gen); err != nil {
			t.Fatalf("heartbeat after reload: %v", err)
		}
		if s := e.c.syncGroup(ctx, "g", syncRequest{memberID: a, generation: gen}); s.err != nil || string(s.assignment) != "A" {
			t.Fatalf("sync after reload: %+v", s)
		}
		// A third load replays the same state, including the marker written
		// after the second.
		e.co.LeadershipChanged(OffsetsTopic, 0, false, 2)
		e.load(3)
		if o := fetch(t, e, "g", true, topicPartition{"u", 0})[topicPartition{"u", 0}]; o.offset != 70 || o.code != 0 {
			t.Fatalf("third load: %+v", o)
		}
	})
}

// KIP-496 (Kafka 2.5+, GroupMetadata.removeExpiredOffsets): in a Stable
// consumer group, offsets of topics no member subscribes to expire a
// retention period after their commit, and offsets of subscribed topics
// never expire, even with an explicit expiry from OffsetCommit v2-v4.
func TestGroupOffsetExpiryStableConsumerGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const retention = 150 * time.Millisecond
		e := newGroupEnv(t, func(c *Config) { c.OffsetsRetention = retention })
		r := jr("a", 5*time.Second, time.Second)
		r.protocols = []protocolMeta{{name: "range", metadata: consumerMeta("subscribed")}}
		a := e.stableOne("g", r, "A")
		// v2 commit of the subscribed topic with a 1 ms retention time.
		v2 := commitReq("g", a, 1, "subscribed", 0, 3)
		v2.RetentionTimeMillis = 1
		if code := e.c.offsetCommit(context.Background(), v2, 2)[topicPartition{"subscribed", 0}]; code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		if code := commitCode(t, e, "g", a, 1, "unsubscribed", 0, 4); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		waitFor(t, "the retention period to pass", func() bool {
			ok := false
			e.inspect("g", func(g *group) {
				ok = time.Now().UnixMilli()-g.offsets[topicPartition{"unsubscribed", 0}].commitMs > retention.Milliseconds()+20
			})
			return ok
		})
		e.c.expireOffsets()
		got := fetch(t, e, "g", false)
		if o, ok := got[topicPartition{"subscribed", 0}]; !ok || o.offset != 3 {
			t.Errorf("subscribed topic's offset expired in a Stable consumer group (Kafka keeps it): %+v", got)
		}
		if o, ok := got[topicPartition{"unsubscribed", 0}]; ok {
			t.Errorf("unsubscribed topic's offset kept past retention in a Stable consumer group (Kafka expires it, KIP-496): %+v", o)
		}
	})
}

// failingReadHost fails reads while fail is set, so a load never ends
// until leadership is lost.
type failingReadHost struct {
	*txnTestHost
	fail atomic.Bool
}

func (h *failingReadHost) ReadCommitted(topic string, p int32, offset int64, max int32) ([]byte, int64, error) {
	if h.fail.Load() {
		return nil, 0, kerr.NotLeaderForPartition
	}
	return h.txnTestHost.ReadCommitted(topic, p, offset, max)
}

// A marker landing on a __consumer_offsets partition while its load is
// under way waits for the load; if leadership is lost before the load
// ends, the wait must end too (the marker write path is blocked on it).
func TestGroupTxnCompletionDuringAbandonedLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &failingReadHost{txnTestHost: newTxnTestHost()}
		h.fail.Store(true)
		co := New(Config{OffsetsTopicPartitions: 1, TxnTopicPartitions: 1, OffsetsRetentionCheck: time.Hour, TxnAbortCheckPeriod: time.Hour}, h, zerolog.Nop())
		t.Cleanup(co.Close)
		co.LeadershipChanged(OffsetsTopic, 0, true, 1)
		done := make(chan struct{})
		go func() {
			co.groups.txnOffsetsCompleted(context.Background(), 0, 5, true)
			close(done)
		}()
		waitFor(t, "txnOffsetsCompleted to wait for the load", func() bool {
			select {
			case <-done:
				return true
			default:
			}
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			for _, g := range strings.Split(string(buf), "\n\n") {
				if strings.Contains(g, "txnOffsetsCompleted") && (strings.Contains(g, "[chan receive") || strings.Contains(g, "[select")) {
					return true
				}
			}
			return false
		})
		co.LeadershipChanged(OffsetsTopic, 0, false, 1)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Fatal("txnOffsetsCompleted still blocked 3s after the partition's loading was abandoned (it waits on gp.loaded, which an abandoned load never closes)")
		}
	})
}

// While a coordinator loads its partition, Kafka answers Heartbeat with
// no error and SyncGroup with REBALANCE_IN_PROGRESS (the rebalance under
// way was lost: rejoin without looking for the coordinator again); other
// requests get COORDINATOR_LOAD_IN_PROGRESS.
func TestGroupRequestsDuringLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &failingReadHost{txnTestHost: newTxnTestHost()}
		h.fail.Store(true)
		co := New(Config{OffsetsTopicPartitions: 1, TxnTopicPartitions: 1, MinSessionTimeout: time.Millisecond, MaxSessionTimeout: time.Minute,
			OffsetsRetentionCheck: time.Hour, TxnAbortCheckPeriod: time.Hour}, h, zerolog.Nop())
		t.Cleanup(co.Close)
		co.LeadershipChanged(OffsetsTopic, 0, true, 1)
		c := co.groups
		if err := c.heartbeatGroup("g", "m", nil, 3); err != nil {
			t.Fatalf("heartbeat during load: %v, want no error", err)
		}
		if res := c.syncGroup(context.Background(), "g", syncRequest{memberID: "m", generation: 3}); res.err != kerr.RebalanceInProgress {
			t.Fatalf("sync during load: %v, want REBALANCE_IN_PROGRESS", res.err)
		}
		if res := c.joinGroup(context.Background(), "g", jr("a", time.Second, time.Second, "range")); res.err != kerr.CoordinatorLoadInProgress {
			t.Fatalf("join during load: %v, want COORDINATOR_LOAD_IN_PROGRESS", res.err)
		}
		if _, err := c.fetchOffsets(context.Background(), "g", nil, false, nil, -1); err != kerr.CoordinatorLoadInProgress {
			t.Fatalf("offset fetch during load: %v, want COORDINATOR_LOAD_IN_PROGRESS", err)
		}
	})
}

// A classic member id is its prefix, a dash and a random UUID in
// java.util.UUID.randomUUID's form (version 4, the IETF variant), as
// Kafka's: tools and people reading DescribeGroups see Kafka's shape.
func TestNewMemberIDIsRandomUUID(t *testing.T) {
	re := regexp.MustCompile(`^inst-1-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 200 {
		id := newMemberID("inst-1")
		if !re.MatchString(id) {
			t.Fatalf("member id %q is not the prefix and a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("member id %q given twice", id)
		}
		seen[id] = true
	}
}
