package compat

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

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

// SyncGroup v5 made the protocol type and name mandatory: Kafka's
// KafkaApis.handleSyncGroupRequest answers a v5 request without either
// INCONSISTENT_GROUP_PROTOCOL before it looks at the group
// (SyncGroupRequest.areMandatoryProtocolTypeAndNamePresent). Gregor
// checked the fields only when they were there, so a leader's v5 sync
// without them was taken: the group went Stable on an assignment Kafka
// refuses.
func TestSyncGroupV5WithoutProtocolIsInconsistent(t *testing.T) {
	g := newClassicGroup(t, bootstrap(t), 9)
	j := g.join(joinOpts{instance: "a", meta: "m"})
	if j.ErrorCode != 0 {
		t.Fatalf("JoinGroup: %v", kerr.ErrorForCode(j.ErrorCode))
	}
	syncV := func(version int16, protocolType, protocol *string) int16 {
		req := kmsg.NewPtrSyncGroupRequest()
		req.Version = version
		req.Group, req.MemberID, req.Generation = g.group, j.MemberID, j.Generation
		req.InstanceID = kmsg.StringPtr("a")
		req.ProtocolType, req.Protocol = protocolType, protocol
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID, a.MemberAssignment = j.MemberID, []byte("plan")
		req.GroupAssignment = append(req.GroupAssignment, a)
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(req.Key(), version) // kgo sends the newest version it may
		cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)), kgo.MaxVersions(vs))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		resp, err := req.RequestWith(g.ctx, cl)
		if err != nil {
			t.Fatalf("SyncGroup v%d: %v", version, err)
		}
		if resp.Version != version {
			t.Fatalf("SyncGroup went as v%d, want v%d", resp.Version, version)
		}
		return resp.ErrorCode
	}
	for _, c := range []struct {
		what                   string
		protocolType, protocol *string
	}{
		{"no protocol type", nil, kmsg.StringPtr("range")},
		{"no protocol name", kmsg.StringPtr("consumer"), nil},
		{"neither", nil, nil},
	} {
		if code := syncV(5, c.protocolType, c.protocol); code != kerr.InconsistentGroupProtocol.Code {
			t.Errorf("SyncGroup v5 with %s: %v, want INCONSISTENT_GROUP_PROTOCOL", c.what, kerr.ErrorForCode(code))
		}
	}
	if d := g.describe(); d.State != "CompletingRebalance" {
		t.Errorf("after the refused syncs the group is %s, want CompletingRebalance (no assignment taken)", d.State)
	}
	// Before v5 the fields do not exist: the same sync goes through.
	if code := syncV(4, nil, nil); code != 0 {
		t.Fatalf("SyncGroup v4: %v, want no error", kerr.ErrorForCode(code))
	}
	if d := g.describe(); d.State != "Stable" {
		t.Errorf("after the v4 sync the group is %s, want Stable", d.State)
	}
}

// DescribeGroups v6 answers a group that does not exist with
// GROUP_ID_NOT_FOUND and the message of Kafka's
// GroupMetadataManager.group, "Group G not found.", which the admin
// client puts in the GroupIdNotFoundException it raises; earlier versions
// answer it Dead with no error. Gregor's message was "group G not found".
func TestDescribeGroupsV6UnknownGroupMessage(t *testing.T) {
	addr := bootstrap(t)
	group := randomName("no-such-group")
	for _, version := range []int16{5, 6} {
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(15, version) // kgo sends the newest version it may
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(vs))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		d := describeGroupRaw(t, cl, group)
		msg := "<nil>"
		if d.ErrorMessage != nil {
			msg = *d.ErrorMessage
		}
		switch {
		case version < 6 && (d.ErrorCode != 0 || d.State != "Dead"):
			t.Errorf("DescribeGroups v%d of unknown %s: %v, state %q; want Dead, no error", version, group, kerr.ErrorForCode(d.ErrorCode), d.State)
		case version >= 6 && (d.ErrorCode != kerr.GroupIDNotFound.Code || d.State != "Dead" || msg != "Group "+group+" not found."):
			t.Errorf("DescribeGroups v%d of unknown %s: %v, state %q, message %q; want GROUP_ID_NOT_FOUND, Dead, %q",
				version, group, kerr.ErrorForCode(d.ErrorCode), d.State, msg, "Group "+group+" not found.")
		}
	}
}

// DescribeGroups shows each member's current assignment in every state,
// its subscription metadata only while the group is Stable, as Kafka 4's
// ClassicGroupMember.describeNoMetadata does: while a Stable group
// rebalances its members keep the assignment of the last generation until
// the leader's SyncGroup replaces it, and kafka-consumer-groups.sh
// --describe --members shows their partitions. Gregor answered empty
// assignments outside Stable, so the tool listed every member with 0
// partitions for as long as a rebalance lasted.
func TestDescribeGroupsShowsAssignmentWhileRebalancing(t *testing.T) {
	addr := bootstrap(t)
	g := newClassicGroup(t, addr, 9)
	a := g.join(joinOpts{meta: "ma"}) // MEMBER_ID_REQUIRED
	a = g.join(joinOpts{member: a.MemberID, meta: "ma"})
	if a.ErrorCode != 0 || a.LeaderID != a.MemberID {
		t.Fatalf("a's JoinGroup: %v, leader %q", kerr.ErrorForCode(a.ErrorCode), a.LeaderID)
	}
	if code := g.sync(a.MemberID, "", a.Generation, map[string]string{a.MemberID: "plan-a"}); code != 0 {
		t.Fatalf("a's SyncGroup: %v", kerr.ErrorForCode(code))
	}
	member := func(d kmsg.DescribeGroupsResponseGroup, id string) (kmsg.DescribeGroupsResponseGroupMember, bool) {
		for _, m := range d.Members {
			if m.MemberID == id {
				return m, true
			}
		}
		return kmsg.DescribeGroupsResponseGroupMember{}, false
	}
	check := func(state string) {
		t.Helper()
		d := g.describe()
		m, ok := member(d, a.MemberID)
		switch {
		case d.State != state:
			t.Fatalf("group is %s, want %s", d.State, state)
		case !ok:
			t.Fatalf("%s: a is not among the members %+v", state, d.Members)
		case string(m.MemberAssignment) != "plan-a":
			t.Errorf("%s: a's assignment is %q, want the last generation's %q", state, m.MemberAssignment, "plan-a")
		case state != "Stable" && len(m.ProtocolMetadata) != 0:
			t.Errorf("%s: a's metadata is %q, want none outside Stable", state, m.ProtocolMetadata)
		case state == "Stable" && string(m.ProtocolMetadata) != "ma":
			t.Errorf("Stable: a's metadata is %q, want %q", m.ProtocolMetadata, "ma")
		}
	}
	check("Stable")

	// b joins on a connection of its own: its JoinGroup waits for a.
	other := newClassicGroup(t, addr, 9)
	other.group = g.group
	bid := other.join(joinOpts{meta: "mb"}).MemberID
	joined := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { joined <- other.join(joinOpts{member: bid, meta: "mb"}) }()
	waitFor(t, "a to be told of the rebalance", 15*time.Second, func() bool {
		return g.heartbeat(a.MemberID, "", a.Generation) == kerr.RebalanceInProgress.Code
	})
	check("PreparingRebalance")

	a2 := g.join(joinOpts{member: a.MemberID, meta: "ma"})
	b2 := <-joined
	if a2.ErrorCode != 0 || b2.ErrorCode != 0 {
		t.Fatalf("second generation: a %v, b %v", kerr.ErrorForCode(a2.ErrorCode), kerr.ErrorForCode(b2.ErrorCode))
	}
	check("CompletingRebalance")
}

// A member's client host is the peer's address as Java prints it
// (InetAddress.toString: "/" and getHostAddress), which DescribeGroups
// answers and kafka-consumer-groups.sh --describe --members shows in its
// HOST column: an IPv6 peer in full, uncompressed form, "/0:0:0:0:0:0:0:1"
// for the loopback, as Kafka's GroupMetadataManager takes it from
// RequestContext.clientAddress. Gregor printed Go's compressed form,
// "/::1", for a client that reached it over IPv6 (a Java client resolving
// "localhost" often does).
func TestDescribeGroupsIPv6ClientHostInJavaForm(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker listening on IPv6")
	}
	port := brokertest.FreePort(t)
	b := brokertest.Start(t, brokertest.Options{Port: port, Set: map[string]string{
		"group.initial.rebalance.delay.ms": "0",
		// Every interface, so that the readiness check on 127.0.0.1 and
		// the client on ::1 both reach it; the client is sent to ::1.
		"listeners":            "PLAINTEXT://:" + strconv.Itoa(port),
		"advertised.listeners": "PLAINTEXT://[::1]:" + strconv.Itoa(port),
	}})
	_ = b
	g := newClassicGroup(t, net.JoinHostPort("::1", strconv.Itoa(port)), 9)
	j := g.join(joinOpts{instance: "v6", meta: "m"})
	if j.ErrorCode != 0 {
		t.Fatalf("JoinGroup over IPv6: %v", kerr.ErrorForCode(j.ErrorCode))
	}
	d := g.describe()
	if len(d.Members) != 1 || d.Members[0].ClientHost != "/0:0:0:0:0:0:0:1" {
		t.Fatalf("member of a client on ::1 described as %+v, want client host %q", d.Members, "/0:0:0:0:0:0:0:1")
	}
}
