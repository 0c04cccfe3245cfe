package coordinator

// State-machine tests of KIP-848 consumer groups, driven through the
// coordinator's methods (no sockets) in synctest bubbles, against Kafka's
// GroupMetadataManager behaviour.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// newCGEnv is a group coordinator with consumer groups on, Kafka's
// default timeouts, and topics a (4 partitions) and b (2).
func newCGEnv(t testing.TB, tweak func(*Config)) *groupEnv {
	e := newGroupEnv(t, func(c *Config) {
		c.ConsumerProtocol = true
		c.ConsumerSessionTimeout = 45 * time.Second
		c.ConsumerHeartbeatInterval = 5 * time.Second
		c.ConsumerAssignors = []string{"uniform", "range"}
		c.MigrationPolicy = "bidirectional"
		c.MaxGroupSize = 1000
		if tweak != nil {
			tweak(c)
		}
	})
	e.h.setTopic("a", 4)
	e.h.setTopic("b", 2)
	return e
}

// hb runs one heartbeat.
func (e *groupEnv) hb(r cgHeartbeat) cgResult {
	e.t.Helper()
	if r.rebalanceTimeoutMs == 0 {
		r.rebalanceTimeoutMs = -1
	}
	if r.version == 0 {
		r.version = 1
	}
	if r.clientID == "" {
		r.clientID = "client-" + r.memberID
	}
	return e.c.consumerHeartbeat(context.Background(), &r)
}

// join makes member id join group with a subscription.
func (e *groupEnv) join(group, id string, topics ...string) cgResult {
	e.t.Helper()
	res := e.hb(cgHeartbeat{group: group, memberID: id, epoch: 0, rebalanceTimeoutMs: 60000, topics: topics, owned: tpSet{}})
	if res.err != nil {
		e.t.Fatalf("join of %s: %v %s", id, res.err, res.msg)
	}
	return res
}

// beat is a heartbeat reporting what the member owns.
func (e *groupEnv) beat(group, id string, epoch int32, owned tpSet) cgResult {
	e.t.Helper()
	return e.hb(cgHeartbeat{group: group, memberID: id, epoch: epoch, owned: owned})
}

// tps builds a set from "topic:partition" names.
func (e *groupEnv) tps(names ...string) tpSet {
	out := tpSet{}
	for _, n := range names {
		var topic string
		var p int32
		i := strings.LastIndexByte(n, ':')
		topic = n[:i]
		fmt.Sscan(n[i+1:], &p)
		id, _, ok := e.h.TopicIDOf(topic)
		if !ok {
			e.t.Fatalf("no topic %s", topic)
		}
		out[tidp{id, p}] = struct{}{}
	}
	return out
}

// names renders a set as sorted "topic:partition" names.
func (e *groupEnv) names(s tpSet) []string {
	var out []string
	for p := range s {
		name, _, _ := e.h.TopicNameOf(p.id)
		out = append(out, fmt.Sprintf("%s:%d", name, p.p))
	}
	sort.Strings(out)
	return out
}

// cgInspect runs fn on a locked consumer group.
func (e *groupEnv) cgInspect(id string, fn func(cg *consumerGroup)) {
	e.t.Helper()
	if !e.inspect(id, func(g *group) {
		if g.consumer == nil {
			e.t.Fatalf("group %s is not a consumer group", id)
		}
		fn(g.consumer)
	}) {
		e.t.Fatalf("group %s unknown", id)
	}
}

func (e *groupEnv) cgState(id string) string {
	s := ""
	e.cgInspect(id, func(cg *consumerGroup) { s = cg.state() })
	return s
}

func TestConsumerGroupJoinRevokeThenAssign(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		r1 := e.join("g", "m1", "a")
		if r1.epoch != 1 || len(r1.assignment) != 4 || r1.intervalMs != 5000 || r1.memberID != "m1" {
			t.Fatalf("first join: %+v", r1)
		}
		if s := e.cgState("g"); s != cgStable {
			t.Fatalf("state %s", s)
		}
		all := r1.assignment
		// A second member: the group epoch and target move to 2, but m2
		// gets nothing m1 still holds.
		r2 := e.join("g", "m2", "a")
		if r2.epoch != 2 || len(r2.assignment) != 0 {
			t.Fatalf("second join: epoch %d assignment %v", r2.epoch, e.names(r2.assignment))
		}
		if s := e.cgState("g"); s != cgReconciling {
			t.Fatalf("state %s, want Reconciling", s)
		}
		// m1 is told to give up two partitions, at its epoch.
		h := e.beat("g", "m1", 1, all)
		if h.err != nil || h.epoch != 1 || len(h.assignment) != 2 {
			t.Fatalf("m1 revoking: %+v %v", h, e.names(h.assignment))
		}
		keep := h.assignment
		// m2 still waits: m1 has not reported the revocation.
		if h2 := e.beat("g", "m2", 2, tpSet{}); h2.err != nil || h2.assignment != nil && len(h2.assignment) != 0 {
			t.Fatalf("m2 before the revocation: %+v", h2)
		}
		// m1 no longer owns them: it moves to epoch 2.
		h = e.beat("g", "m1", 1, keep)
		if h.err != nil || h.epoch != 2 {
			t.Fatalf("m1 after revoking: %+v", h)
		}
		h2 := e.beat("g", "m2", 2, tpSet{})
		if h2.err != nil || len(h2.assignment) != 2 {
			t.Fatalf("m2 after the revocation: %+v", h2)
		}
		for p := range h2.assignment {
			if _, dup := keep[p]; dup {
				t.Fatalf("partition %v given to both", e.names(tpSet{p: {}}))
			}
		}
		if s := e.cgState("g"); s != cgStable {
			t.Fatalf("state %s", s)
		}
		e.cgInspect("g", func(cg *consumerGroup) {
			if cg.epoch != 2 || cg.assignEpoch != 2 || len(cg.owners) != 4 {
				t.Fatalf("group epoch %d assignment epoch %d owners %d", cg.epoch, cg.assignEpoch, len(cg.owners))
			}
		})
	})
}

// owned is the partitions a member holds after a heartbeat answer.
func owned(prev tpSet, res cgResult) tpSet {
	if res.assignment != nil {
		return res.assignment.clone()
	}
	return prev
}

// member is a simulated consumer-protocol member: it heartbeats,
// applies the assignments it is given at once (revoking what it loses
// before reporting), as a client does.
type simMember struct {
	e      *groupEnv
	group  string
	id     string
	inst   *string
	epoch  int32
	owns   tpSet
	topics []string
	regex  *string
}

func (e *groupEnv) newMember(group, id string, topics ...string) *simMember {
	return &simMember{e: e, group: group, id: id, owns: tpSet{}, topics: topics}
}

// joinSim joins with epoch 0.
func (m *simMember) joinSim() cgResult {
	m.e.t.Helper()
	res := m.e.hb(cgHeartbeat{group: m.group, memberID: m.id, instanceID: m.inst, epoch: 0, rebalanceTimeoutMs: 60000,
		topics: m.topics, regex: m.regex, owned: tpSet{}})
	m.apply(res)
	return res
}

// beatSim heartbeats with what it owns.
func (m *simMember) beatSim() cgResult {
	m.e.t.Helper()
	res := m.e.hb(cgHeartbeat{group: m.group, memberID: m.id, instanceID: m.inst, epoch: m.epoch, owned: m.owns.clone()})
	m.apply(res)
	return res
}

func (m *simMember) apply(res cgResult) {
	if res.err != nil {
		return
	}
	m.epoch = res.epoch
	m.owns = owned(m.owns, res)
}

// settle heartbeats every member in turn until the group is Stable, up
// to 20 rounds.
func (e *groupEnv) settle(group string, ms ...*simMember) {
	e.t.Helper()
	for round := 0; round < 20; round++ {
		for _, m := range ms {
			if res := m.beatSim(); res.err != nil {
				e.t.Fatalf("heartbeat of %s: %v", m.id, res.err)
			}
		}
		if e.cgState(group) == cgStable {
			return
		}
	}
	e.t.Fatalf("group %s not Stable after 20 rounds: %s", group, e.cgState(group))
}

// checkDisjointCover checks that the members own every partition of the
// topics exactly once between them.
func (e *groupEnv) checkDisjointCover(topics map[string]int32, ms ...*simMember) {
	e.t.Helper()
	seen := map[tidp]string{}
	for _, m := range ms {
		for p := range m.owns {
			if o, dup := seen[p]; dup {
				e.t.Fatalf("%v owned by %s and %s", e.names(tpSet{p: {}}), o, m.id)
			}
			seen[p] = m.id
		}
	}
	want := 0
	for _, n := range topics {
		want += int(n)
	}
	if len(seen) != want {
		e.t.Fatalf("%d partitions owned, want %d", len(seen), want)
	}
}

func TestConsumerGroupMemberEpochs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		m1, m2 := e.newMember("g", "m1", "a"), e.newMember("g", "m2", "a")
		m1.joinSim()
		m2.joinSim()
		e.settle("g", m1, m2)
		// An epoch ahead of the coordinator's, or behind it and not the
		// previous one, is fenced.
		if r := e.beat("g", "m1", m1.epoch+1, m1.owns); r.err != kerr.FencedMemberEpoch {
			t.Fatalf("epoch ahead: %v", r.err)
		}
		// m3 joins: m1 moves on; its previous epoch is still accepted
		// (a lost answer) when it owns no more than its assignment.
		m3 := e.newMember("g", "m3", "a")
		m3.joinSim()
		before := m1.epoch
		e.settle("g", m1, m2, m3)
		var prev int32
		e.cgInspect("g", func(cg *consumerGroup) { prev = cg.members["m1"].cur.prevEpoch })
		if m1.epoch == before || prev != before {
			t.Fatalf("m1 epoch %d previous %d, was %d", m1.epoch, prev, before)
		}
		if r := e.beat("g", "m1", before, m1.owns); r.err != nil || r.epoch != m1.epoch {
			t.Fatalf("previous epoch with its partitions: %+v", r)
		}
		all := e.tps("a:0", "a:1", "a:2", "a:3")
		if r := e.beat("g", "m1", before, all); r.err != kerr.FencedMemberEpoch {
			t.Fatalf("previous epoch owning others' partitions: %v", r.err)
		}
		if r := e.beat("g", "m1", before-1, m1.owns); before > 1 && r.err != kerr.FencedMemberEpoch {
			t.Fatalf("an older epoch: %v", r.err)
		}
		// Epoch 0 with its id: a fenced member rejoins in place and gets
		// its assignment again (KAFKA-19233).
		r := e.hb(cgHeartbeat{group: "g", memberID: "m1", epoch: 0, rebalanceTimeoutMs: 60000, topics: []string{"a"}, owned: tpSet{}})
		if r.err != nil || r.epoch != m1.epoch || !r.assignment.equal(m1.owns) {
			t.Fatalf("rejoin at epoch 0: %+v, want epoch %d and %v", r, m1.epoch, e.names(m1.owns))
		}
		if r := e.beat("g", "nobody", 3, tpSet{}); r.err != kerr.UnknownMemberID {
			t.Fatalf("unknown member: %v", r.err)
		}
		if r := e.beat("nogroup", "m1", 3, tpSet{}); r.err != kerr.GroupIDNotFound {
			t.Fatalf("unknown group: %v", r.err)
		}
	})
}

func TestConsumerGroupRequestValidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		bad := "  "
		re := "a["
		sticky := "sticky"
		for _, tc := range []struct {
			name string
			r    cgHeartbeat
			want *kerr.Error
		}{
			{"empty group", cgHeartbeat{group: "", memberID: "m", epoch: 0, rebalanceTimeoutMs: 1, topics: []string{"a"}, owned: tpSet{}}, kerr.InvalidRequest},
			{"v1 without member id", cgHeartbeat{group: "g", epoch: 0, rebalanceTimeoutMs: 1, topics: []string{"a"}, owned: tpSet{}}, kerr.InvalidRequest},
			{"join without rebalance timeout", cgHeartbeat{group: "g", memberID: "m", epoch: 0, topics: []string{"a"}, owned: tpSet{}}, kerr.InvalidRequest},
			{"join owning partitions", cgHeartbeat{group: "g", memberID: "m", epoch: 0, rebalanceTimeoutMs: 1, topics: []string{"a"}, owned: e.tps("a:0")}, kerr.InvalidRequest},
			{"join without subscription", cgHeartbeat{group: "g", memberID: "m", epoch: 0, rebalanceTimeoutMs: 1, owned: tpSet{}}, kerr.InvalidRequest},
			{"blank instance id", cgHeartbeat{group: "g", memberID: "m", epoch: 0, rebalanceTimeoutMs: 1, topics: []string{"a"}, owned: tpSet{}, instanceID: &bad}, kerr.InvalidRequest},
			{"epoch -3", cgHeartbeat{group: "g", memberID: "m", epoch: -3}, kerr.InvalidRequest},
			{"static leave without instance", cgHeartbeat{group: "g", memberID: "m", epoch: -2}, kerr.InvalidRequest},
			{"unknown assignor", cgHeartbeat{group: "g", memberID: "m", epoch: 0, rebalanceTimeoutMs: 1, topics: []string{"a"}, owned: tpSet{}, assignor: &sticky}, kerr.UnsupportedAssignor},
			{"invalid regex", cgHeartbeat{group: "g", memberID: "m", epoch: 0, rebalanceTimeoutMs: 1, regex: &re, owned: tpSet{}}, kerr.InvalidRegularExpression},
		} {
			if r := e.hb(tc.r); r.err != tc.want {
				t.Errorf("%s: %v, want %v", tc.name, r.err, tc.want)
			}
		}
		// An empty subscription is taken: the member is in the group with
		// nothing to consume.
		if r := e.hb(cgHeartbeat{group: "empty-sub", memberID: "m", epoch: 0, rebalanceTimeoutMs: 1000, topics: []string{}, owned: tpSet{}}); r.err != nil || len(r.assignment) != 0 {
			t.Fatalf("join with an empty subscription: %+v", r)
		}
		// v0 lets the coordinator choose the member id.
		r := e.c.consumerHeartbeat(context.Background(), &cgHeartbeat{group: "g", epoch: 0, rebalanceTimeoutMs: 1000, topics: []string{"a"}, owned: tpSet{}, version: 0})
		if r.err != nil || len(r.memberID) != 22 {
			t.Fatalf("v0 join without id: %+v", r)
		}
		if s := e.state("g"); s == "unknown" {
			t.Fatal("no group after the v0 join")
		}
	})
}

func TestConsumerGroupMaxSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, func(c *Config) { c.ConsumerMaxGroupSize = 2 })
		e.join("g", "m1", "a")
		e.join("g", "m2", "a")
		r := e.hb(cgHeartbeat{group: "g", memberID: "m3", epoch: 0, rebalanceTimeoutMs: 1000, topics: []string{"a"}, owned: tpSet{}})
		if r.err != kerr.GroupMaxSizeReached {
			t.Fatalf("third member: %v", r.err)
		}
		// A member already in the group may rejoin.
		if r := e.join("g", "m2", "a"); r.err != nil {
			t.Fatalf("m2 rejoining: %v", r.err)
		}
	})
}

// A member that stops heartbeating is fenced after the session timeout
// and its partitions go to the others.
func TestConsumerGroupSessionExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, func(c *Config) { c.ConsumerSessionTimeout = 10 * time.Second })
		m1, m2 := e.newMember("g", "m1", "a", "b"), e.newMember("g", "m2", "a", "b")
		m1.joinSim()
		m2.joinSim()
		e.settle("g", m1, m2)
		e.checkDisjointCover(map[string]int32{"a": 4, "b": 2}, m1, m2)
		// m1 keeps heartbeating every 3 s; m2 goes silent.
		for i := 0; i < 3; i++ {
			time.Sleep(3 * time.Second)
			m1.beatSim()
		}
		e.cgInspect("g", func(cg *consumerGroup) {
			if cg.members["m2"] == nil {
				t.Fatal("m2 fenced before its session expired")
			}
		})
		time.Sleep(2 * time.Second) // 11 s since m2's last heartbeat
		synctest.Wait()
		e.cgInspect("g", func(cg *consumerGroup) {
			if cg.members["m2"] != nil {
				t.Fatal("m2 still a member after its session expired")
			}
		})
		if r := m2.beatSim(); r.err != kerr.UnknownMemberID {
			t.Fatalf("m2 after expiry: %v", r.err)
		}
		e.settle("g", m1)
		e.checkDisjointCover(map[string]int32{"a": 4, "b": 2}, m1)
	})
}

// A member that does not revoke partitions within its rebalance timeout
// is fenced, and the partitions go to their new owner.
func TestConsumerGroupRebalanceTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		r := e.hb(cgHeartbeat{group: "g", memberID: "slow", epoch: 0, rebalanceTimeoutMs: 20000, topics: []string{"a"}, owned: tpSet{}})
		slowOwns, slowEpoch := r.assignment, r.epoch
		m2 := e.newMember("g", "m2", "a")
		m2.joinSim()
		// slow learns it must revoke, and keeps reporting all four.
		r = e.beat("g", "slow", slowEpoch, slowOwns)
		if len(r.assignment) != 2 {
			t.Fatalf("revocation: %+v", r)
		}
		for i := 0; i < 3; i++ {
			time.Sleep(5 * time.Second)
			if r := e.beat("g", "slow", slowEpoch, slowOwns); r.err != nil {
				t.Fatalf("slow heartbeat: %v", r.err)
			}
			if m2.beatSim(); len(m2.owns) != 0 {
				t.Fatalf("m2 got %v while slow still owns them", e.names(m2.owns))
			}
		}
		time.Sleep(6 * time.Second) // 21 s since the revocation began
		synctest.Wait()
		if r := e.beat("g", "slow", slowEpoch, slowOwns); r.err != kerr.UnknownMemberID {
			t.Fatalf("slow after its rebalance timeout: %v", r.err)
		}
		e.settle("g", m2)
		e.checkDisjointCover(map[string]int32{"a": 4}, m2)
	})
}

func TestConsumerGroupStaticMembers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, func(c *Config) { c.ConsumerSessionTimeout = 30 * time.Second })
		s1 := e.newMember("g", "s1-a", "a")
		s1.inst = ptr("i1")
		s2 := e.newMember("g", "s2", "a")
		s2.inst = ptr("i2")
		s1.joinSim()
		s2.joinSim()
		e.settle("g", s1, s2)
		first := s1.owns.clone()
		var epoch int32
		e.cgInspect("g", func(cg *consumerGroup) { epoch = cg.epoch })
		// Another process with instance i1 cannot join while s1 holds it.
		r := e.hb(cgHeartbeat{group: "g", memberID: "s1-b", instanceID: ptr("i1"), epoch: 0, rebalanceTimeoutMs: 1000, topics: []string{"a"}, owned: tpSet{}})
		if r.err != kerr.UnreleasedInstanceID {
			t.Fatalf("second i1: %v", r.err)
		}
		// s1 leaves for now: it stays, with its partitions.
		r = e.hb(cgHeartbeat{group: "g", memberID: "s1-a", instanceID: ptr("i1"), epoch: -2})
		if r.err != nil || r.epoch != -2 {
			t.Fatalf("static leave: %+v", r)
		}
		s2.beatSim()
		if len(s2.owns) != 2 {
			t.Fatalf("s2 took s1's partitions: %v", e.names(s2.owns))
		}
		// It comes back as a new process (a new member id): same
		// partitions, no rebalance.
		s1 = e.newMember("g", "s1-b", "a")
		s1.inst = ptr("i1")
		if r := s1.joinSim(); r.err != nil || !s1.owns.equal(first) {
			t.Fatalf("static rejoin: %+v, owns %v want %v", r, e.names(s1.owns), e.names(first))
		}
		e.cgInspect("g", func(cg *consumerGroup) {
			if cg.epoch != epoch || cg.members["s1-a"] != nil || cg.instances["i1"] != "s1-b" {
				t.Fatalf("after rejoin: epoch %d (was %d), members %v, i1 -> %s", cg.epoch, epoch, len(cg.members), cg.instances["i1"])
			}
		})
		if s := e.cgState("g"); s != cgStable {
			t.Fatalf("state %s after the static member came back", s)
		}
		// The old process is fenced by its instance id.
		if r := e.hb(cgHeartbeat{group: "g", memberID: "s1-a", instanceID: ptr("i1"), epoch: s1.epoch, owned: first}); r.err != kerr.FencedInstanceID {
			t.Fatalf("old static member: %v", r.err)
		}
		// Gone for longer than the session: its partitions move.
		r = e.hb(cgHeartbeat{group: "g", memberID: "s1-b", instanceID: ptr("i1"), epoch: -2})
		for i := 0; i < 7; i++ {
			time.Sleep(5 * time.Second)
			s2.beatSim()
		}
		synctest.Wait()
		e.settle("g", s2)
		e.checkDisjointCover(map[string]int32{"a": 4}, s2)
	})
}

// A regex subscription is resolved by the broker against every topic,
// internal ones included (as Kafka does); topics created later join it at
// the next refresh.
func TestConsumerGroupRegexSubscription(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, func(c *Config) { c.RegexRefreshInterval = 10 * time.Second })
		e.h.setTopic("t-1", 2)
		e.h.setTopic("x-1", 2)
		e.h.setTopic(OffsetsTopic, 1)
		re := "t-.*|__.*"
		m := e.newMember("g", "m1")
		m.regex = &re
		if r := m.joinSim(); r.err != nil {
			t.Fatal(r.err)
		}
		if got := e.names(m.owns); !slices.Equal(got, []string{OffsetsTopic + ":0", "t-1:0", "t-1:1"}) {
			t.Fatalf("regex assignment %v", got)
		}
		e.h.setTopic("t-2", 1)
		m.beatSim()
		if len(m.owns) != 3 {
			t.Fatalf("new topic picked up before the refresh interval: %v", e.names(m.owns))
		}
		time.Sleep(11 * time.Second)
		m.beatSim()
		if got := e.names(m.owns); !slices.Equal(got, []string{OffsetsTopic + ":0", "t-1:0", "t-1:1", "t-2:0"}) {
			t.Fatalf("after the refresh: %v", got)
		}
		e.cgInspect("g", func(cg *consumerGroup) {
			if rr := cg.regexes[re]; rr == nil || !slices.Equal(rr.topics, []string{OffsetsTopic, "t-1", "t-2"}) {
				t.Fatalf("resolved regex %+v", rr)
			}
		})
		// Switching to names drops the regex.
		r := e.hb(cgHeartbeat{group: "g", memberID: "m1", epoch: m.epoch, topics: []string{"x-1"}, regex: ptr(""), owned: m.owns})
		if r.err != nil {
			t.Fatal(r.err)
		}
		m.apply(r)
		e.settle("g", m)
		if got := e.names(m.owns); !slices.Equal(got, []string{"x-1:0", "x-1:1"}) {
			t.Fatalf("after switching to names: %v", got)
		}
		e.cgInspect("g", func(cg *consumerGroup) {
			if len(cg.regexes) != 0 {
				t.Fatalf("regexes left: %v", cg.regexes)
			}
		})
	})
}

// New partitions and deleted topics change the subscription metadata:
// the group epoch is bumped and the target follows.
func TestConsumerGroupMetadataChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		m1, m2 := e.newMember("g", "m1", "a", "b"), e.newMember("g", "m2", "a", "b")
		m1.joinSim()
		m2.joinSim()
		e.settle("g", m1, m2)
		var epoch int32
		e.cgInspect("g", func(cg *consumerGroup) { epoch = cg.epoch })
		e.h.setTopic("a", 6)
		e.settle("g", m1, m2)
		e.checkDisjointCover(map[string]int32{"a": 6, "b": 2}, m1, m2)
		e.cgInspect("g", func(cg *consumerGroup) {
			if cg.epoch != epoch+1 {
				t.Fatalf("epoch %d after new partitions, want %d", cg.epoch, epoch+1)
			}
		})
		bid, _, _ := e.h.TopicIDOf("b")
		e.h.setTopic("b", 0)
		e.settle("g", m1, m2)
		for _, m := range []*simMember{m1, m2} {
			for p := range m.owns {
				if p.id == bid {
					t.Fatalf("%s still owns a partition of the deleted topic", m.id)
				}
			}
		}
		e.checkDisjointCover(map[string]int32{"a": 6}, m1, m2)
	})
}

// Members leave with epoch -1: the others get the partitions, and the
// group is Empty after the last one.
func TestConsumerGroupLeave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		m1, m2 := e.newMember("g", "m1", "a"), e.newMember("g", "m2", "a")
		m1.joinSim()
		m2.joinSim()
		e.settle("g", m1, m2)
		if r := e.hb(cgHeartbeat{group: "g", memberID: "m2", epoch: -1}); r.err != nil || r.epoch != -1 || r.memberID != "m2" {
			t.Fatalf("leave: %+v", r)
		}
		if r := e.hb(cgHeartbeat{group: "g", memberID: "m2", epoch: -1}); r.err != kerr.UnknownMemberID {
			t.Fatalf("leaving twice: %v", r.err)
		}
		e.settle("g", m1)
		e.checkDisjointCover(map[string]int32{"a": 4}, m1)
		e.hb(cgHeartbeat{group: "g", memberID: "m1", epoch: -1})
		if s := e.cgState("g"); s != cgEmpty {
			t.Fatalf("state %s after everyone left", s)
		}
	})
}

// A group's own configs (consumer.session.timeout.ms and
// consumer.heartbeat.interval.ms, resource type GROUP) take precedence over
// the broker's for its consumer-protocol members, as in Kafka 4.
func TestConsumerGroupConfigsOverrideBroker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil) // broker: 45 s session, 5 s heartbeat
		e.h.setGroupConfig("g", "consumer.session.timeout.ms", "8000")
		e.h.setGroupConfig("g", "consumer.heartbeat.interval.ms", "2000")
		if r := e.join("g", "m1", "a"); r.intervalMs != 2000 {
			t.Fatalf("heartbeat interval %d ms, want the group's 2000", r.intervalMs)
		}
		if r := e.join("other", "m1", "a"); r.intervalMs != 5000 {
			t.Fatalf("another group's heartbeat interval %d ms, want the broker's 5000", r.intervalMs)
		}
		time.Sleep(9 * time.Second) // past the group's 8 s, far from the broker's 45 s
		synctest.Wait()
		e.cgInspect("g", func(cg *consumerGroup) {
			if cg.members["m1"] != nil {
				t.Fatal("m1 still a member 9 s after its last heartbeat; the group's session timeout is 8 s")
			}
		})
		e.cgInspect("other", func(cg *consumerGroup) {
			if cg.members["m1"] == nil {
				t.Fatal("other's member fenced after 9 s; the broker's session timeout is 45 s")
			}
		})
	})
}

// A member joining an existing group with an empty subscription does not
// bump the group epoch: Kafka's consumerGroupHeartbeat bumps it for a new
// group or a changed subscription only, and a new member's subscription is
// empty to begin with. Gregor bumped it for every new member, making the
// others reconcile for nothing.
func TestConsumerGroupEmptySubscriptionJoinKeepsEpoch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		if r := e.join("g", "m1", "a"); r.epoch != 1 {
			t.Fatalf("first member's epoch %d, want 1", r.epoch)
		}
		r := e.hb(cgHeartbeat{group: "g", memberID: "m2", epoch: 0, rebalanceTimeoutMs: 60000, topics: []string{}, owned: tpSet{}})
		if r.err != nil || r.epoch != 1 || r.assignment == nil || len(r.assignment) != 0 {
			t.Fatalf("member joining with no topics: %v epoch %d assignment %v; want epoch 1 and an empty assignment", r.err, r.epoch, r.assignment)
		}
		e.cgInspect("g", func(cg *consumerGroup) {
			if cg.epoch != 1 || cg.assignEpoch != 1 || len(cg.members) != 2 {
				t.Fatalf("group epoch %d, assignment epoch %d, %d members; want 1, 1, 2", cg.epoch, cg.assignEpoch, len(cg.members))
			}
		})
		if s := e.cgState("g"); s != cgStable {
			t.Fatalf("state %s, want Stable", s)
		}
		// Subscribing later bumps it.
		if r := e.hb(cgHeartbeat{group: "g", memberID: "m2", epoch: 1, topics: []string{"a"}, owned: tpSet{}}); r.err != nil || r.epoch != 2 {
			t.Fatalf("subscribing: %v epoch %d, want 2", r.err, r.epoch)
		}
	})
}

// UNSUPPORTED_ASSIGNOR lists the broker's assignors as Kafka does, in
// the iteration order of its set of names (uniform before range), not
// in the order group.consumer.assignors gives them.
func TestConsumerGroupUnsupportedAssignorMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, func(c *Config) { c.ConsumerAssignors = []string{"range", "uniform"} })
		sticky := "sticky"
		r := e.hb(cgHeartbeat{group: "g", memberID: "m", epoch: 0, rebalanceTimeoutMs: 1000, topics: []string{"a"}, owned: tpSet{}, assignor: &sticky})
		want := "ServerAssignor sticky is not supported. Supported assignors: uniform, range."
		if r.err != kerr.UnsupportedAssignor || r.msg != want {
			t.Fatalf("unknown assignor: %v %q, want UNSUPPORTED_ASSIGNOR %q", r.err, r.msg, want)
		}
	})
}

// A member revoking partitions gets a full rebalance timeout again when
// its assignment changes while it revokes (here: it drops a topic, which
// adds that topic's partitions to those it must revoke), as Kafka's
// maybeReconcile reschedules the timeout whenever it writes a new
// assignment in UNREVOKED_PARTITIONS. Gregor kept the first deadline and
// fenced the member early.
func TestConsumerGroupRebalanceTimeoutRestartsOnNewRevocation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		r := e.hb(cgHeartbeat{group: "g", memberID: "slow", epoch: 0, rebalanceTimeoutMs: 20000, topics: []string{"a", "b"}, owned: tpSet{}})
		owns, epoch := r.assignment, r.epoch
		if len(owns) != 6 {
			t.Fatalf("slow alone: %v", e.names(owns))
		}
		m2 := e.newMember("g", "m2", "a")
		m2.joinSim()
		if r = e.beat("g", "slow", epoch, owns); r.err != nil || len(r.assignment) == 6 {
			t.Fatalf("revocation: %+v", r)
		}
		time.Sleep(10 * time.Second)
		// Still revoking, slow drops topic b: its partitions are to be
		// revoked too.
		r = e.hb(cgHeartbeat{group: "g", memberID: "slow", epoch: epoch, topics: []string{"a"}, owned: owns})
		if r.err != nil {
			t.Fatalf("subscription change while revoking: %v", r.err)
		}
		time.Sleep(15 * time.Second) // 25 s since the revocation began, 15 s since it grew
		synctest.Wait()
		if r := e.beat("g", "slow", epoch, owns); r.err != nil {
			t.Fatalf("slow 15 s after its revocation grew (rebalance timeout 20 s): %v", r.err)
		}
		time.Sleep(6 * time.Second) // 21 s since it grew, 6 s since its last heartbeat
		synctest.Wait()
		if r := e.beat("g", "slow", epoch, owns); r.err != kerr.UnknownMemberID {
			t.Fatalf("slow 21 s after its revocation grew: %v, want UNKNOWN_MEMBER_ID", r.err)
		}
	})
}
