package compat

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"gregor/internal/brokertest"
)

// classicGroup drives a classic consumer group with raw requests, at the
// JoinGroup version it was made for.
type classicGroup struct {
	t     *testing.T
	ctx   context.Context
	cl    *kgo.Client
	group string
}

func newClassicGroup(t *testing.T, addr string, joinVersion int16) *classicGroup {
	t.Helper()
	v := kversion.Stable()
	v.SetMaxKeyVersion(11, joinVersion) // JoinGroup
	v.SetMaxKeyVersion(8, 9)            // OffsetCommit names topics up to v9
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(v))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return &classicGroup{t: t, ctx: ctx, cl: cl, group: randomName("classic")}
}

// topic creates a one-partition topic to commit offsets of.
func (g *classicGroup) topic() string {
	g.t.Helper()
	name := randomName("classic-offsets")
	if _, err := kadm.NewClient(g.cl).CreateTopic(g.ctx, 1, -1, nil, name); err != nil {
		g.t.Fatal(err)
	}
	return name
}

type joinOpts struct {
	member, instance, protocolType, protocol string
	meta                                     string
	rebalance, session                       int32
}

func (g *classicGroup) join(o joinOpts) *kmsg.JoinGroupResponse {
	g.t.Helper()
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.MemberID = g.group, o.member
	if o.instance != "" {
		req.InstanceID = kmsg.StringPtr(o.instance)
	}
	req.ProtocolType = "consumer"
	if o.protocolType != "" {
		req.ProtocolType = o.protocolType
	}
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 30000, 10000
	if o.session > 0 {
		req.SessionTimeoutMillis = o.session
	}
	if o.rebalance > 0 {
		req.RebalanceTimeoutMillis = o.rebalance
	}
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte(o.meta)
	if o.protocol != "" {
		p.Name = o.protocol
	}
	req.Protocols = append(req.Protocols, p)
	resp, err := req.RequestWith(g.ctx, g.cl)
	if err != nil {
		g.t.Fatalf("JoinGroup %+v: %v", o, err)
	}
	return resp
}

func (g *classicGroup) sync(member, instance string, generation int32, assign map[string]string) int16 {
	g.t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.MemberID, req.Generation = g.group, member, generation
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	if instance != "" {
		req.InstanceID = kmsg.StringPtr(instance)
	}
	for m, a := range assign {
		sa := kmsg.NewSyncGroupRequestGroupAssignment()
		sa.MemberID, sa.MemberAssignment = m, []byte(a)
		req.GroupAssignment = append(req.GroupAssignment, sa)
	}
	resp, err := req.RequestWith(g.ctx, g.cl)
	if err != nil {
		g.t.Fatalf("SyncGroup: %v", err)
	}
	return resp.ErrorCode
}

func (g *classicGroup) heartbeat(member, instance string, generation int32) int16 {
	g.t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = g.group, member, generation
	if instance != "" {
		req.InstanceID = kmsg.StringPtr(instance)
	}
	resp, err := req.RequestWith(g.ctx, g.cl)
	if err != nil {
		g.t.Fatalf("Heartbeat: %v", err)
	}
	return resp.ErrorCode
}

func (g *classicGroup) describe() kmsg.DescribeGroupsResponseGroup {
	g.t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{g.group}
	resp, err := req.RequestWith(g.ctx, g.cl)
	if err != nil || len(resp.Groups) != 1 {
		g.t.Fatalf("DescribeGroups: %+v %v", resp, err)
	}
	return resp.Groups[0]
}

// stableStatic makes a group of one static member, instance "a", with
// subscription metadata meta, and returns its member id and generation.
func (g *classicGroup) stableStatic(instance, meta string) (string, int32) {
	g.t.Helper()
	j := g.join(joinOpts{instance: instance, meta: meta})
	if j.ErrorCode != 0 || j.LeaderID != j.MemberID {
		g.t.Fatalf("first join of static member %s: %v, leader %q member %q", instance, kerr.ErrorForCode(j.ErrorCode), j.LeaderID, j.MemberID)
	}
	if code := g.sync(j.MemberID, instance, j.Generation, map[string]string{j.MemberID: "plan"}); code != 0 {
		g.t.Fatalf("leader's SyncGroup: %v", kerr.ErrorForCode(code))
	}
	return j.MemberID, j.Generation
}

// A static member that restarts (a JoinGroup with its instance id and no
// member id) rejoins a Stable group without a rebalance when the group's
// protocol stays, even though its subscription metadata changed: the Java
// consumer's carries its owned partitions and generation, so it differs at
// every restart. Kafka checks only the protocol the group would select
// (updateStaticMemberThenRebalanceOrCompleteJoin); Gregor compared the
// metadata bytes and rebalanced the whole group at every static member's
// bounce, which static membership (KIP-345) exists to avoid.
func TestStaticMemberRestartKeepsGeneration(t *testing.T) {
	g := newClassicGroup(t, bootstrap(t), 9)
	oldID, gen := g.stableStatic("a", "subscription owning p0 at generation 1")
	j := g.join(joinOpts{instance: "a", meta: "subscription owning nothing"})
	if j.ErrorCode != 0 || j.Generation != gen || j.MemberID == oldID || j.LeaderID != j.MemberID || !j.SkipAssignment {
		t.Fatalf("the restarted static member's JoinGroup: %v, generation %d (was %d), member %q (was %q), leader %q, skip assignment %v; "+
			"want the same generation, a new member id as leader, and no assignment to make",
			kerr.ErrorForCode(j.ErrorCode), j.Generation, gen, j.MemberID, oldID, j.LeaderID, j.SkipAssignment)
	}
	if code := g.heartbeat(oldID, "a", gen); code != kerr.FencedInstanceID.Code {
		t.Fatalf("the replaced member's heartbeat: %v, want FENCED_INSTANCE_ID", kerr.ErrorForCode(code))
	}
	if code := g.heartbeat(j.MemberID, "a", gen); code != 0 {
		t.Fatalf("the new member's heartbeat: %v, want no error", kerr.ErrorForCode(code))
	}
	if d := g.describe(); d.State != "Stable" {
		t.Fatalf("the group is %s after the static member's restart, want Stable", d.State)
	}
}

// Before KIP-814 (JoinGroup v8 and older), a restarted static leader of a
// Stable group is told the old leader's member id, as in Kafka, so it does
// not run an assignment the coordinator would throw away.
func TestStaticLeaderRestartBeforeKIP814(t *testing.T) {
	g := newClassicGroup(t, bootstrap(t), 8)
	oldID, gen := g.stableStatic("a", "m")
	j := g.join(joinOpts{instance: "a", meta: "m"})
	if j.ErrorCode != 0 || j.Generation != gen || j.LeaderID != oldID || len(j.Members) != 0 {
		t.Fatalf("the restarted static leader's JoinGroup v8: %v, generation %d, leader %q, %d members; want generation %d, the old leader %q, no members",
			kerr.ErrorForCode(j.ErrorCode), j.Generation, j.LeaderID, len(j.Members), gen, oldID)
	}
}

// A request naming an instance id the group does not know is an unknown
// member (Kafka's validateMember), even from a known member id; Gregor
// once accepted it.
func TestUnknownInstanceIDIsUnknownMember(t *testing.T) {
	g := newClassicGroup(t, bootstrap(t), 9)
	j := g.join(joinOpts{member: "", instance: "", meta: "m"})
	if j.ErrorCode == kerr.MemberIDRequired.Code {
		j = g.join(joinOpts{member: j.MemberID, meta: "m"})
	}
	if j.ErrorCode != 0 {
		t.Fatalf("JoinGroup: %v", kerr.ErrorForCode(j.ErrorCode))
	}
	if code := g.sync(j.MemberID, "", j.Generation, map[string]string{j.MemberID: "plan"}); code != 0 {
		t.Fatalf("SyncGroup: %v", kerr.ErrorForCode(code))
	}
	if code := g.heartbeat(j.MemberID, "never-registered", j.Generation); code != kerr.UnknownMemberID.Code {
		t.Fatalf("a heartbeat naming an unknown instance id: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(code))
	}
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.MemberID, commit.Generation, commit.InstanceID = g.group, j.MemberID, j.Generation, kmsg.StringPtr("never-registered")
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = g.topic()
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	ct.Partitions = append(ct.Partitions, cp)
	commit.Topics = append(commit.Topics, ct)
	resp, err := commit.RequestWith(g.ctx, g.cl)
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("OffsetCommit: %+v %v", resp, err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownMemberID.Code {
		t.Fatalf("an offset commit naming an unknown instance id: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(code))
	}
}

// A member cannot move a non-empty group to a protocol type (or name) its
// own last join did not share: Kafka counts the member's current protocols
// (ClassicGroup.supportsProtocols) and answers INCONSISTENT_GROUP_PROTOCOL.
// Gregor let a sole member switch, and its SyncGroup then failed for good.
func TestSoleMemberCannotSwitchProtocolType(t *testing.T) {
	g := newClassicGroup(t, bootstrap(t), 9)
	id, _ := g.stableStatic("a", "m")
	j := g.join(joinOpts{member: id, instance: "a", protocolType: "connect", meta: "m"})
	if j.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("a sole member rejoining with another protocol type: %v, want INCONSISTENT_GROUP_PROTOCOL", kerr.ErrorForCode(j.ErrorCode))
	}
}

// A TxnOffsetCommit naming a generation for a group that does not exist is
// ILLEGAL_GENERATION, and creates no group (Kafka's
// validateTransactionalOffsetCommit); a member of a Stable group
// committing with generation -1 is ILLEGAL_GENERATION too.
func TestTxnOffsetCommitGenerationChecks(t *testing.T) {
	g := newClassicGroup(t, bootstrap(t), 9)
	txnID := randomName("txn-gen")
	initResp := initProducerID(g.ctx, t, g.cl, txnID, -1, -1)
	if initResp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(initResp.ErrorCode))
	}
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnID, initResp.ProducerID, initResp.ProducerEpoch, g.group
	if resp, err := add.RequestWith(g.ctx, g.cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %+v %v", resp, err)
	}
	topic := g.topic()
	commit := func(member string, generation int32) int16 {
		t.Helper()
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txnID, g.group, initResp.ProducerID, initResp.ProducerEpoch
		req.MemberID, req.Generation = member, generation
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(g.ctx, g.cl)
		if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("TxnOffsetCommit: %+v %v", resp, err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := commit("", 0); code != kerr.IllegalGeneration.Code {
		t.Fatalf("a TxnOffsetCommit at generation 0 for a missing group: %v, want ILLEGAL_GENERATION", kerr.ErrorForCode(code))
	}
	if d := g.describe(); (d.ErrorCode != 0 && d.ErrorCode != kerr.GroupIDNotFound.Code) || d.State != "Dead" {
		t.Fatalf("the refused commit left group %s in state %q (%v), want none (Dead)", g.group, d.State, kerr.ErrorForCode(d.ErrorCode))
	}
	id, _ := g.stableStatic("a", "m")
	if code := commit(id, -1); code != kerr.IllegalGeneration.Code {
		t.Fatalf("a member's TxnOffsetCommit at generation -1 to a Stable group: %v, want ILLEGAL_GENERATION", kerr.ErrorForCode(code))
	}
}

// When no member rejoins a rebalance in time and only static members are
// left, the group waits (Kafka reschedules the join until they rejoin or
// their sessions end) rather than start a generation with a leader that
// was never told, whose sync timeout then evicted every member.
func TestRebalanceWaitsForStaticMembers(t *testing.T) {
	g := newClassicGroup(t, bootstrap(t), 9)
	const rebalance = 1000
	a := g.join(joinOpts{instance: "a", meta: "m", rebalance: rebalance})
	if a.ErrorCode != 0 {
		t.Fatalf("a's JoinGroup: %v", kerr.ErrorForCode(a.ErrorCode))
	}
	if code := g.sync(a.MemberID, "a", a.Generation, map[string]string{a.MemberID: "plan"}); code != 0 {
		t.Fatalf("a's SyncGroup: %v", kerr.ErrorForCode(code))
	}
	// b joins: a is told to rejoin by its heartbeat, and never does.
	bDone := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { bDone <- g.join(joinOpts{instance: "b", meta: "m", rebalance: rebalance}) }()
	waitFor(t, "the group to prepare a rebalance for b", 10*time.Second, func() bool {
		return g.heartbeat(a.MemberID, "a", a.Generation) == kerr.RebalanceInProgress.Code
	})
	// b's join completes after a's rebalance timeout without a: b leads.
	b := <-bDone
	if b.ErrorCode != 0 || b.LeaderID != b.MemberID {
		t.Fatalf("b's JoinGroup: %v, leader %q member %q", kerr.ErrorForCode(b.ErrorCode), b.LeaderID, b.MemberID)
	}
	// b leaves without syncing; a, static, neither rejoins nor leaves.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group = g.group
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID, lm.InstanceID = b.MemberID, kmsg.StringPtr("b")
	leave.Members = append(leave.Members, lm)
	if resp, err := leave.RequestWith(g.ctx, g.cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("b's LeaveGroup: %+v %v", resp, err)
	}
	// For three rebalance timeouts the group stays waiting, a still in it.
	gen := b.Generation
	end := time.Now().Add(3 * rebalance * time.Millisecond)
	for time.Now().Before(end) {
		d := g.describe()
		if len(d.Members) != 1 || d.Members[0].InstanceID == nil || *d.Members[0].InstanceID != "a" {
			t.Fatalf("with no member rejoined, the group's members became %+v; want static member a kept", d.Members)
		}
		if d.State != "PreparingRebalance" {
			t.Fatalf("with no member rejoined, the group went to %s; want it to wait in PreparingRebalance", d.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// a rejoins, and the rebalance completes with it as leader.
	j := g.join(joinOpts{member: a.MemberID, instance: "a", meta: "m", rebalance: rebalance})
	if j.ErrorCode != 0 || j.LeaderID != a.MemberID || j.Generation != gen+1 {
		t.Fatalf("a's rejoin: %v, leader %q, generation %d; want a leading generation %d", kerr.ErrorForCode(j.ErrorCode), j.LeaderID, j.Generation, gen+1)
	}
}

// group.initial.rebalance.delay.ms is waited in full before a new group's
// first generation, whatever the members' rebalance timeout, as in Kafka
// (Gregor capped it at the rebalance timeout).
func TestInitialRebalanceDelayNotCappedByRebalanceTimeout(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"group.initial.rebalance.delay.ms": "2500"}})
	g := newClassicGroup(t, b.Addr, 9)
	start := time.Now()
	j := g.join(joinOpts{instance: "a", meta: "m", rebalance: 500})
	if j.ErrorCode != 0 {
		t.Fatalf("JoinGroup: %v", kerr.ErrorForCode(j.ErrorCode))
	}
	if waited := time.Since(start); waited < 2500*time.Millisecond {
		t.Fatalf("the first generation formed after %v, want group.initial.rebalance.delay.ms (2.5 s) waited", waited)
	}
}

// Group records are bound by the offsets topic's max.message.bytes, as
// Kafka's coordinator writes them: a SyncGroup whose assignment makes the
// group's record larger, or an OffsetCommit whose offsets together do, is
// UNKNOWN_SERVER_ERROR (Kafka 4's answer) and writes nothing. Gregor wrote
// records of any size: one client could fill __consumer_offsets, and the
// memory that loads it, at network speed.
func TestGroupRecordsBoundByMaxMessageBytes(t *testing.T) {
	g := newClassicGroup(t, bootstrap(t), 9)
	j := g.join(joinOpts{instance: "a", meta: "m"})
	if j.ErrorCode != 0 {
		t.Fatalf("JoinGroup: %v", kerr.ErrorForCode(j.ErrorCode))
	}
	huge := string(make([]byte, 2<<20))
	if code := g.sync(j.MemberID, "a", j.Generation, map[string]string{j.MemberID: huge}); code != kerr.UnknownServerError.Code {
		t.Fatalf("a SyncGroup with a 2 MiB assignment: %v, want UNKNOWN_SERVER_ERROR", kerr.ErrorForCode(code))
	}

	// 300 offsets with 4,000 bytes of metadata each: 1.2 MB in one batch.
	topic := randomName("big-commit")
	if _, err := kadm.NewClient(g.cl).CreateTopic(g.ctx, 300, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	commit := func(parts int, meta string) []int16 {
		t.Helper()
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = randomName("simple"), -1
		ct := kmsg.NewOffsetCommitRequestTopic()
		ct.Topic = topic
		for p := range parts {
			cp := kmsg.NewOffsetCommitRequestTopicPartition()
			cp.Partition, cp.Offset, cp.Metadata = int32(p), 1, kmsg.StringPtr(meta)
			ct.Partitions = append(ct.Partitions, cp)
		}
		req.Topics = append(req.Topics, ct)
		resp, err := req.RequestWith(g.ctx, g.cl)
		if err != nil || len(resp.Topics) != 1 {
			t.Fatalf("OffsetCommit: %+v %v", resp, err)
		}
		var codes []int16
		for _, p := range resp.Topics[0].Partitions {
			codes = append(codes, p.ErrorCode)
		}
		return codes
	}
	for _, code := range commit(300, string(make([]byte, 4000))) {
		if code != kerr.UnknownServerError.Code {
			t.Fatalf("an OffsetCommit of 1.2 MB of offsets: partition answered %v, want UNKNOWN_SERVER_ERROR", kerr.ErrorForCode(code))
		}
	}
	for _, code := range commit(300, "small") {
		if code != 0 {
			t.Fatalf("an OffsetCommit of small offsets: %v, want none", kerr.ErrorForCode(code))
		}
	}
}

// group.max.size counts a classic group's members as Kafka's
// acceptJoiningMember does: member ids handed out and not yet used
// (KIP-394) hold no place, and while the group rebalances the members that
// already rejoined count, so with the group full the last member to rejoin
// is the one refused (GROUP_MAX_SIZE_REACHED) and removed. Gregor counted
// handed-out ids as members, refusing the second of two consumers starting
// together in a group with room for one more.
func TestGroupMaxSizeCountsJoinedMembers(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"group.max.size": "2", "group.initial.rebalance.delay.ms": "0"}})
	g := newClassicGroup(t, b.Addr, 9)
	first := g.join(joinOpts{meta: "m"})
	if first.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("a's first JoinGroup v9: %v, want MEMBER_ID_REQUIRED", kerr.ErrorForCode(first.ErrorCode))
	}
	a := g.join(joinOpts{member: first.MemberID, meta: "m"})
	if a.ErrorCode != 0 {
		t.Fatalf("a's JoinGroup: %v", kerr.ErrorForCode(a.ErrorCode))
	}
	if code := g.sync(a.MemberID, "", a.Generation, map[string]string{a.MemberID: "plan"}); code != 0 {
		t.Fatalf("a's SyncGroup: %v", kerr.ErrorForCode(code))
	}
	// Two consumers start together: the group has one member, room for
	// one more, and both are handed ids.
	ids := map[string]string{}
	for _, name := range []string{"b", "c"} {
		j := g.join(joinOpts{meta: "m"})
		if j.ErrorCode != kerr.MemberIDRequired.Code {
			t.Fatalf("%s's first JoinGroup into a group of 1 with group.max.size 2: %v, want MEMBER_ID_REQUIRED", name, kerr.ErrorForCode(j.ErrorCode))
		}
		ids[name] = j.MemberID
	}
	// b and c join with their ids and await the rebalance; a, told by
	// its heartbeat, rejoins last and finds two awaiting it.
	joined := make(chan *kmsg.JoinGroupResponse, 2)
	for _, name := range []string{"b", "c"} {
		// A client of its own: a connection's requests are answered
		// in order, and a JoinGroup waits for the rebalance.
		member := newClassicGroup(t, b.Addr, 9)
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.ProtocolType = g.group, ids[name], "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 30000, 10000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", []byte("m")
		req.Protocols = append(req.Protocols, p)
		go func() {
			resp, err := req.RequestWith(member.ctx, member.cl)
			if err != nil {
				resp = &kmsg.JoinGroupResponse{ErrorCode: -1}
			}
			joined <- resp
		}()
		waitFor(t, name+"'s JoinGroup to await the rebalance", 10*time.Second, func() bool {
			for _, m := range g.describe().Members {
				if m.MemberID == ids[name] {
					return true
				}
			}
			return false
		})
	}
	if code := g.heartbeat(a.MemberID, "", a.Generation); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("a's heartbeat while b and c join: %v, want REBALANCE_IN_PROGRESS", kerr.ErrorForCode(code))
	}
	rejoin := g.join(joinOpts{member: a.MemberID, meta: "m"})
	if rejoin.ErrorCode != kerr.GroupMaxSizeReached.Code || rejoin.MemberID != "" {
		t.Fatalf("a's rejoin with two members awaiting and group.max.size 2: %v, member id %q; want GROUP_MAX_SIZE_REACHED and no member id",
			kerr.ErrorForCode(rejoin.ErrorCode), rejoin.MemberID)
	}
	for range 2 {
		j := <-joined
		if j.ErrorCode != 0 || j.Generation != a.Generation+1 {
			t.Fatalf("b's or c's JoinGroup: %v, generation %d; want generation %d without a", kerr.ErrorForCode(j.ErrorCode), j.Generation, a.Generation+1)
		}
		if j.LeaderID == j.MemberID {
			var members []string
			for _, m := range j.Members {
				members = append(members, m.MemberID)
			}
			if len(members) != 2 || !slices.Contains(members, ids["b"]) || !slices.Contains(members, ids["c"]) {
				t.Fatalf("the new generation's members are %v, want b and c (%s, %s)", members, ids["b"], ids["c"])
			}
		}
	}
	if code := g.heartbeat(a.MemberID, "", a.Generation); code != kerr.UnknownMemberID.Code {
		t.Fatalf("a's heartbeat after it was refused: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(code))
	}
}

// A classic group loaded with more members than group.max.size (the limit
// was lowered across a restart) rebalances at once, as Kafka's coordinator
// does with a freshly loaded group over capacity, and the members past the
// limit are refused when they rejoin. Gregor kept the loaded group Stable
// and over the limit for as long as its members stayed.
func TestGroupOverMaxSizeAfterRestartShrinks(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker")
	}
	set := map[string]string{"group.max.size": "3", "group.initial.rebalance.delay.ms": "0"}
	b := brokertest.Start(t, brokertest.Options{Set: set})
	topic := randomName("over-capacity")
	adm := newClassicGroup(t, b.Addr, 9)
	if _, err := kadm.NewClient(adm.cl).CreateTopic(adm.ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	group := randomName("over-capacity")
	for range 3 {
		// As in Kafka, refusing the member past the limit does not end
		// the join phase: the others' JoinGroups are answered when all
		// of them rejoined or at the rebalance timeout, kept short here.
		groupMember(t, b.Addr, group, topic, kgo.SessionTimeout(20*time.Second), kgo.RebalanceTimeout(8*time.Second))
	}
	describe := func(addr string) (string, int) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{group}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || len(resp.Groups) != 1 {
			return "", -1
		}
		return resp.Groups[0].State, len(resp.Groups[0].Members)
	}
	waitFor(t, "a stable group of 3 consumers", 30*time.Second, func() bool {
		state, n := describe(b.Addr)
		return state == "Stable" && n == 3
	})
	// The same broker, restarted with room for 2.
	b.Kill()
	set["group.max.size"] = "2"
	b2 := brokertest.Start(t, brokertest.Options{Dir: b.Dir, Port: b.Port, Set: set})
	waitFor(t, "the reloaded group to settle at group.max.size (2 members, Stable)", 40*time.Second, func() bool {
		state, n := describe(b2.Addr)
		return state == "Stable" && n == 2
	})
}
