package coordinator

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// classicJoinReq is a JoinGroup v5 of a consumer (range protocol)
// subscribed to topics.
func classicJoinReq(client string, topics ...string) joinRequest {
	r := jr(client, 10*time.Second, 20*time.Second, "range")
	r.protocols = []protocolMeta{{name: "range", metadata: consumerMeta(topics...)}}
	return r
}

func assignmentBytes(e *groupEnv, names ...string) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	byTopic := map[string][]int32{}
	for _, p := range e.names(e.tps(names...)) {
		var topic string
		var n int32
		for i := len(p) - 1; i >= 0; i-- {
			if p[i] == ':' {
				topic = p[:i]
				for _, c := range p[i+1:] {
					n = n*10 + int32(c-'0')
				}
				break
			}
		}
		byTopic[topic] = append(byTopic[topic], n)
	}
	for topic, ps := range byTopic {
		t := kmsg.NewConsumerMemberAssignmentTopic()
		t.Topic, t.Partitions = topic, ps
		a.Topics = append(a.Topics, t)
	}
	return a.AppendTo(nil)
}

func (e *groupEnv) parseAssignment(b []byte) tpSet {
	e.t.Helper()
	a := kmsg.NewConsumerMemberAssignment()
	if err := a.ReadFrom(b); err != nil {
		e.t.Fatalf("assignment: %v", err)
	}
	out := tpSet{}
	for _, t := range a.Topics {
		id, _, _ := e.h.TopicIDOf(t.Topic)
		for _, p := range t.Partitions {
			out[tidp{id, p}] = struct{}{}
		}
	}
	return out
}

// classicSim is a classic (eager) member of a consumer group: told to
// rejoin, it gives up everything, joins and syncs.
type classicSim struct {
	e    *groupEnv
	r    joinRequest
	gen  int32
	owns tpSet
}

func (m *classicSim) id() string { return m.r.memberID }

// step heartbeats, and rejoins if told to.
func (m *classicSim) step(group string) {
	m.e.t.Helper()
	err := m.e.c.heartbeatGroup(group, m.r.memberID, m.r.instanceID, m.gen)
	if err == nil {
		return
	}
	if !errIs(err, kerr.RebalanceInProgress) {
		m.e.t.Fatalf("heartbeat of %s: %v", m.id(), err)
	}
	m.rejoin(group)
}

func (m *classicSim) rejoin(group string) {
	m.e.t.Helper()
	m.owns = tpSet{}
	res := m.e.c.joinGroup(context.Background(), group, m.r)
	if res.err != nil {
		m.e.t.Fatalf("join of %s: %v", m.id(), res.err)
	}
	m.gen = res.generation
	s := m.e.c.syncGroup(context.Background(), group, syncRequest{memberID: m.r.memberID, instanceID: m.r.instanceID, generation: m.gen,
		protocolType: ptr("consumer"), protocol: ptr(res.protocol)})
	if s.err != nil {
		if errIs(s.err, kerr.RebalanceInProgress) {
			return // the next heartbeat says so again
		}
		m.e.t.Fatalf("sync of %s: %v", m.id(), s.err)
	}
	m.owns = m.e.parseAssignment(s.assignment)
}

// A consumer-protocol member joining a classic group upgrades it; its
// classic members keep working through JoinGroup/SyncGroup/Heartbeat and
// the broker assigns them; when the consumer member leaves, the group is
// classic again and rebalances.
func TestConsumerGroupMigrationBothWays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		ctx := context.Background()
		ra, rb := classicJoinReq("a", "a"), classicJoinReq("b", "a")
		ra.memberID = e.memberID("g", ra)
		rb.memberID = e.memberID("g", rb)
		aJoin, bJoin := e.joinAsync("g", ra), e.joinAsync("g", rb)
		aj, bj := await(t, aJoin, "a's join"), await(t, bJoin, "b's join")
		gen := aj.generation
		leader := aj.leader
		follower := rb.memberID
		if leader == rb.memberID {
			follower = ra.memberID
		}
		fs := e.syncAsync("g", syncRequest{memberID: follower, generation: gen})
		e.awaitingSync("g", follower)
		plan := map[string][]byte{ra.memberID: assignmentBytes(e, "a:0", "a:1"), rb.memberID: assignmentBytes(e, "a:2", "a:3")}
		if s := e.c.syncGroup(ctx, "g", syncRequest{memberID: leader, generation: gen, assignments: plan}); s.err != nil {
			t.Fatal(s.err)
		}
		await(t, fs, "follower sync")
		_ = bj
		if code := commitCode(t, e, "g", ra.memberID, gen, "a", 0, 11); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}

		// The consumer member upgrades the group.
		c := e.newMember("g", "c", "a")
		if r := c.joinSim(); r.err != nil || len(c.owns) != 0 {
			t.Fatalf("consumer join: %+v", r)
		}
		e.cgInspect("g", func(cg *consumerGroup) {
			a := cg.members[ra.memberID]
			if a == nil || !a.usesClassic() || a.cur.epoch != gen || !a.cur.assigned.equal(e.tps("a:0", "a:1")) || cg.classicMembers() != 2 {
				t.Fatalf("converted classic member: %+v", a)
			}
		})
		if o := fetch(t, e, "g", false)[topicPartition{"a", 0}]; o.offset != 11 {
			t.Fatalf("offsets after the upgrade: %+v", o)
		}
		a := &classicSim{e: e, r: ra, gen: gen, owns: e.tps("a:0", "a:1")}
		b := &classicSim{e: e, r: rb, gen: gen, owns: e.tps("a:2", "a:3")}
		for round := 0; round < 20 && e.cgState("g") != cgStable; round++ {
			a.step("g")
			b.step("g")
			c.beatSim()
		}
		if s := e.cgState("g"); s != cgStable {
			t.Fatalf("mixed group not Stable: %s", s)
		}
		seen := map[tidp]bool{}
		for _, s := range []tpSet{a.owns, b.owns, c.owns} {
			for p := range s {
				if seen[p] {
					t.Fatalf("%v owned twice", e.names(tpSet{p: {}}))
				}
				seen[p] = true
			}
		}
		if len(seen) != 4 || len(c.owns) == 0 {
			t.Fatalf("mixed group ownership: a %v b %v c %v", e.names(a.owns), e.names(b.owns), e.names(c.owns))
		}
		d := e.c.describeConsumerGroup("g")
		types := map[int8]int{}
		for _, m := range d.Members {
			types[m.MemberType]++
		}
		if types[0] != 2 || types[1] != 1 {
			t.Fatalf("member types %v", types)
		}
		// A classic member commits with its generation (the member epoch).
		if code := commitCode(t, e, "g", ra.memberID, a.gen, "a", 1, 12); code != 0 {
			t.Fatalf("classic member commit: %v", kerr.ErrorForCode(code))
		}

		// The consumer member leaves: classic again, rebalancing.
		if r := e.hb(cgHeartbeat{group: "g", memberID: "c", epoch: -1}); r.err != nil {
			t.Fatal(r.err)
		}
		if s := e.state("g"); s != "PreparingRebalance" {
			t.Fatalf("after the downgrade: %s", s)
		}
		e.inspect("g", func(g *group) {
			if g.consumer != nil || len(g.members) != 2 || g.protocol != "range" || g.protocolType != "consumer" {
				t.Fatalf("downgraded group: consumer %v members %d protocol %s/%s", g.consumer != nil, len(g.members), g.protocolType, g.protocol)
			}
		})
		if err := e.c.heartbeatGroup("g", ra.memberID, nil, a.gen); !errIs(err, kerr.RebalanceInProgress) {
			t.Fatalf("classic heartbeat after the downgrade: %v", err)
		}
		aJoin, bJoin = e.joinAsync("g", ra), e.joinAsync("g", rb)
		aj, bj = await(t, aJoin, "a's rejoin"), await(t, bJoin, "b's rejoin")
		if aj.err != nil || bj.err != nil || aj.generation != bj.generation {
			t.Fatalf("rejoins: %+v %+v", aj, bj)
		}
		if o := fetch(t, e, "g", false)[topicPartition{"a", 1}]; o.offset != 12 {
			t.Fatalf("offsets after the downgrade: %+v", o)
		}
	})
}

// The migration policy: disabled leaves a classic group with members
// alone; an empty classic group (with offsets) becomes a consumer group
// anyway, keeping them; an empty consumer group becomes classic for a
// classic member.
func TestConsumerGroupMigrationPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, func(c *Config) { c.MigrationPolicy = "disabled" })
		r := classicJoinReq("a", "a")
		e.stableOne("g", r, "")
		res := e.hb(cgHeartbeat{group: "g", memberID: "c", epoch: 0, rebalanceTimeoutMs: 1000, topics: []string{"a"}, owned: tpSet{}})
		if want := "Cannot upgrade classic group g to consumer group because online upgrade is disabled."; res.err != kerr.GroupIDNotFound || res.msg != want {
			t.Fatalf("join to a classic group with upgrades disabled: %v %q, want GROUP_ID_NOT_FOUND %q", res.err, res.msg, want)
		}
		if code := commitCode(t, e, "offsets-only", "", -1, "a", 3, 5); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		e.newMember("offsets-only", "c", "a").joinSim()
		if o := fetch(t, e, "offsets-only", false)[topicPartition{"a", 3}]; o.offset != 5 {
			t.Fatalf("offsets of the replaced empty classic group: %+v", o)
		}
		e.hb(cgHeartbeat{group: "offsets-only", memberID: "c", epoch: -1})
		r2 := classicJoinReq("z", "a")
		e.stableOne("offsets-only", r2, "x")
		e.inspect("offsets-only", func(g *group) {
			if g.consumer != nil || g.state != groupStable {
				t.Fatalf("the empty consumer group did not become classic: %s", g.state)
			}
		})
	})
}

// A new classic member joins a consumer group: MEMBER_ID_REQUIRED first
// (JoinGroup v4+), then it joins at once (no waiting for others), gets
// its share with SyncGroup once the others released it, and heartbeats.
func TestConsumerGroupNewClassicMember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		c := e.newMember("g", "c", "a")
		c.joinSim()
		r := classicJoinReq("k", "a")
		first := e.c.joinGroup(context.Background(), "g", r)
		if first.err != kerr.MemberIDRequired || first.memberID == "" {
			t.Fatalf("first join: %+v", first)
		}
		r.memberID = first.memberID
		k := &classicSim{e: e, r: r}
		k.rejoin("g")
		if k.gen <= 0 {
			t.Fatalf("classic member's generation %d", k.gen)
		}
		for round := 0; round < 20 && e.cgState("g") != cgStable; round++ {
			c.beatSim()
			k.step("g")
		}
		if len(k.owns) != 2 || len(c.owns) != 2 {
			t.Fatalf("classic %v consumer %v", e.names(k.owns), e.names(c.owns))
		}
		// A wrong generation is ILLEGAL_GENERATION; a consumer-protocol
		// member is unknown to the classic APIs.
		if err := e.c.heartbeatGroup("g", r.memberID, nil, k.gen+7); !errIs(err, kerr.IllegalGeneration) {
			t.Fatalf("heartbeat at another generation: %v", err)
		}
		if err := e.c.heartbeatGroup("g", "c", nil, c.epoch); !errIs(err, kerr.UnknownMemberID) {
			t.Fatalf("classic heartbeat of a consumer-protocol member: %v", err)
		}
		// LeaveGroup of the classic member bumps the group epoch.
		e.inspect("g", func(g *group) {
			errs, _, err := e.c.leaveFromConsumer(g, []leaveMember{{memberID: r.memberID}, {memberID: "nobody"}})
			if err != nil || errs[0] != nil || errs[1] != kerr.UnknownMemberID {
				t.Fatalf("leave: %v %v", errs, err)
			}
		})
		e.settle("g", c)
		if len(c.owns) != 4 {
			t.Fatalf("after the classic member left: %v", e.names(c.owns))
		}
	})
}

// With group.coordinator.rebalance.protocols=classic, the consumer group
// APIs are not served (clients fall back to the classic protocol).
func TestConsumerProtocolDisabled(t *testing.T) {
	on := newGroupCoordinator(base{cfg: Config{ConsumerProtocol: true}})
	off := newGroupCoordinator(base{cfg: Config{}})
	defer on.close()
	defer off.close()
	has := func(c *groupCoordinator, key int16) bool {
		for _, a := range c.apis() {
			if a.Key == key {
				return true
			}
		}
		return false
	}
	if !has(on, 68) || !has(on, 69) || has(off, 68) || has(off, 69) {
		t.Fatalf("ConsumerGroupHeartbeat/Describe registered: on %v/%v, off %v/%v", has(on, 68), has(on, 69), has(off, 68), has(off, 69))
	}
}

// A LeaveGroup naming the last consumer-protocol member of a group whose
// other members use the classic protocol downgrades it to a classic group,
// as Kafka's classicGroupLeaveToConsumerGroup fences members through
// consumerGroupFenceMembers (KAFKA-18150). Gregor refused to remove a
// consumer-protocol member through LeaveGroup at all.
func TestLeaveGroupOfLastConsumerMemberDowngrades(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		c := e.newMember("g", "c", "a")
		c.joinSim()
		r := classicJoinReq("k", "a")
		r.memberID = e.c.joinGroup(context.Background(), "g", r).memberID
		k := &classicSim{e: e, r: r}
		k.rejoin("g")
		for round := 0; round < 20 && e.cgState("g") != cgStable; round++ {
			c.beatSim()
			k.step("g")
		}
		e.inspect("g", func(g *group) {
			errs, _, err := e.c.leaveFromConsumer(g, []leaveMember{{memberID: "c", reason: "admin"}})
			if err != nil || errs[0] != nil {
				t.Fatalf("LeaveGroup of the consumer-protocol member: %v %v", errs, err)
			}
			if g.consumer != nil || len(g.members) != 1 || g.members[r.memberID] == nil {
				t.Fatalf("after the last consumer-protocol member left: consumer group %v, %d classic members", g.consumer != nil, len(g.members))
			}
		})
		if s := e.state("g"); s != "PreparingRebalance" {
			t.Fatalf("the downgraded group is %s, want PreparingRebalance", s)
		}
	})
}

// A static member that subscribed with a regex and comes back with the
// classic protocol (JoinGroup with its instance id) subscribes by names
// only: Kafka's classicGroupJoinToConsumerGroup clears the regex, and the
// regex nobody else uses is dropped. Gregor kept the regex, so the classic
// member went on being assigned the topics it matched.
func TestClassicJoinOfStaticRegexMemberClearsRegex(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		e.join("g", "c", "a")
		re := "b"
		r := e.hb(cgHeartbeat{group: "g", memberID: "s", instanceID: ptr("i"), epoch: 0, rebalanceTimeoutMs: 60000, regex: &re, owned: tpSet{}})
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r := e.hb(cgHeartbeat{group: "g", memberID: "s", instanceID: ptr("i"), epoch: -2}); r.err != nil {
			t.Fatal(r.err)
		}
		j := classicJoinReq("s2", "a")
		j.instanceID = ptr("i")
		if res := e.c.joinGroup(context.Background(), "g", j); res.err != nil {
			t.Fatalf("classic JoinGroup of the static member: %v", res.err)
		}
		e.cgInspect("g", func(cg *consumerGroup) {
			m := cg.staticMember(ptr("i"))
			if m == nil || !m.usesClassic() || m.sub.regex != "" || !slices.Equal(m.sub.topics, []string{"a"}) {
				t.Fatalf("the static member after its classic JoinGroup: %+v", m)
			}
			if len(cg.regexes) != 0 {
				t.Fatalf("regexes left: %v", cg.regexes)
			}
		})
	})
}

// The classic group a consumer group becomes when a static classic member
// replaces its last consumer-protocol member is what its records say: a
// coordinator that loads them has the classic group, Stable, with the new
// member holding its predecessor's partitions, and no consumer group.
func TestClassicReplacementDowngradeReplays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		r := e.hb(cgHeartbeat{group: "g", memberID: "s", instanceID: ptr("i"), epoch: 0, rebalanceTimeoutMs: 60000, topics: []string{"a"}, owned: tpSet{}})
		if r.err != nil || len(r.assignment) != 4 {
			t.Fatalf("static member joining: %+v", r)
		}
		if r := e.hb(cgHeartbeat{group: "g", memberID: "s", instanceID: ptr("i"), epoch: -2}); r.err != nil {
			t.Fatal(r.err)
		}
		j := classicJoinReq("s2", "a")
		j.instanceID = ptr("i")
		res := e.c.joinGroup(context.Background(), "g", j)
		if res.err != nil || res.generation != r.epoch {
			t.Fatalf("classic JoinGroup replacing the static member: %+v, want generation %d", res, r.epoch)
		}
		check := func(when string) {
			t.Helper()
			e.inspect("g", func(g *group) {
				m := g.members[res.memberID]
				if g.consumer != nil || g.state != groupStable || len(g.members) != 1 || m == nil || g.generation != r.epoch {
					t.Fatalf("%s: consumer group %v, state %v, generation %d, members %d (new member there: %v)",
						when, g.consumer != nil, g.state, g.generation, len(g.members), m != nil)
				}
				a := kmsg.NewConsumerMemberAssignment()
				if err := a.ReadFrom(m.assignment); err != nil || len(a.Topics) != 1 || len(a.Topics[0].Partitions) != 4 {
					t.Fatalf("%s: the new member's assignment %+v (%v)", when, a.Topics, err)
				}
			})
		}
		check("after the JoinGroup")
		e.reload(2)
		check("after a reload")
	})
}
