package compat

// KIP-848 consumer groups seen through raw ConsumerGroupHeartbeats:
// reconciliation steps where newer Kafka moved (partitions a member is
// revoking and gets back, KAFKA-19449; a subscription changed while
// revoking, KAFKA-19431) and what a regex subscription matches.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

// rawMember sends ConsumerGroupHeartbeats for one member of a group.
type rawMember struct {
	t     *testing.T
	ctx   context.Context
	cl    *kgo.Client
	group string
	id    string
	epoch int32
	names map[[16]byte]string // topic ids of the topics the test made
	regex string              // subscribed when joining, if set
}

func newRawMembers(t *testing.T, addr string, topics map[string]int32) (ctx context.Context, cl *kgo.Client, ids map[[16]byte]string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	// Past wait848's bound, so that a wait fails saying what it awaited.
	ctx, cancel := context.WithTimeout(context.Background(), groupBound+30*time.Second)
	t.Cleanup(cancel)
	adm := kadm.NewClient(cl)
	ids = map[[16]byte]string{}
	for name, n := range topics {
		resp, err := adm.CreateTopic(ctx, n, -1, nil, name)
		if err != nil || resp.Err != nil {
			t.Fatalf("creating %s: %v %v", name, err, resp.Err)
		}
		ids[resp.ID] = name
	}
	return ctx, cl, ids
}

// heartbeat sends one heartbeat at the member's epoch: join with
// subscribe (epoch 0), or report owned; it returns the response and
// moves the member to the epoch it was given.
func (m *rawMember) heartbeat(subscribe []string, owned map[string][]int32) *kmsg.ConsumerGroupHeartbeatResponse {
	m.t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = m.group, m.id, m.epoch
	if m.epoch == 0 {
		req.RebalanceTimeoutMillis = 30000
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	}
	if subscribe != nil {
		req.SubscribedTopicNames = subscribe
	}
	if m.regex != "" && m.epoch == 0 {
		req.SubscribedTopicRegex = kmsg.StringPtr(m.regex)
	}
	if owned != nil {
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		for id, name := range m.names {
			if ps := owned[name]; len(ps) > 0 {
				rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
				rt.TopicID, rt.Partitions = id, ps
				req.Topics = append(req.Topics, rt)
			}
		}
	}
	resp, err := req.RequestWith(m.ctx, m.cl)
	if err != nil {
		m.t.Fatalf("heartbeat of %s: %v", m.id, err)
	}
	if resp.ErrorCode != 0 {
		m.t.Fatalf("heartbeat of %s at epoch %d: %v", m.id, m.epoch, kerr.ErrorForCode(resp.ErrorCode))
	}
	m.epoch = resp.MemberEpoch
	return resp
}

// assigned is a heartbeat's assignment by topic name (nil: none sent).
func (m *rawMember) assigned(resp *kmsg.ConsumerGroupHeartbeatResponse) map[string][]int32 {
	if resp.Assignment == nil {
		return nil
	}
	out := map[string][]int32{}
	for _, t := range resp.Assignment.Topics {
		ps := slices.Clone(t.Partitions)
		slices.Sort(ps)
		out[m.names[t.TopicID]] = ps
	}
	return out
}

// A member told to revoke partitions that the next target gives back to
// it (the member that was to take them left) gets them back in the very
// heartbeat that acknowledges the revocation, as Kafka 4.2 does
// (KAFKA-19449). Gregor counted them as still held by another owner, the
// member itself, and handed them back one heartbeat later: for up to a
// heartbeat interval nobody consumed them.
func TestConsumerGroupGivesBackRevokingPartitions(t *testing.T) {
	topic := randomName("giveback")
	ctx, cl, ids := newRawMembers(t, bootstrap(t), map[string]int32{topic: 4})
	group := randomName("giveback")
	m1 := &rawMember{t: t, ctx: ctx, cl: cl, group: group, id: "m1-" + group, names: ids}
	m2 := &rawMember{t: t, ctx: ctx, cl: cl, group: group, id: "m2-" + group, names: ids}
	all := m1.assigned(m1.heartbeat([]string{topic}, nil))
	if len(all[topic]) != 4 {
		t.Fatalf("the sole member was assigned %v, want all 4 partitions of %s", all, topic)
	}
	m2.heartbeat([]string{topic}, nil)
	kept := m1.assigned(m1.heartbeat(nil, all))
	if len(kept[topic]) != 2 {
		t.Fatalf("after a second member joined, m1 was told to keep %v, want 2 partitions", kept)
	}
	// m2 leaves before m1 revokes; m1 then acknowledges the revocation.
	m2.epoch = -1
	m2.heartbeat(nil, nil)
	m1.heartbeat(nil, all) // still owning all: nothing moves
	back := m1.assigned(m1.heartbeat(nil, kept))
	if len(back[topic]) != 4 {
		t.Fatalf("m1 acknowledged revoking partitions its new target gives back, and was assigned %v; want all 4 partitions of %s in that response", back, topic)
	}
}

// A member that changes its subscription while it still revokes other
// partitions is asked at once to give up the topic it left, as Kafka 4.1
// does (KAFKA-19431). Gregor left that topic in its assignment until the
// earlier revocation completed.
func TestConsumerGroupUnsubscribeWhileRevoking(t *testing.T) {
	a, b := randomName("unsub-a"), randomName("unsub-b")
	ctx, cl, ids := newRawMembers(t, bootstrap(t), map[string]int32{a: 2, b: 2})
	group := randomName("unsub")
	m1 := &rawMember{t: t, ctx: ctx, cl: cl, group: group, id: "m1-" + group, names: ids}
	m2 := &rawMember{t: t, ctx: ctx, cl: cl, group: group, id: "m2-" + group, names: ids}
	all := m1.assigned(m1.heartbeat([]string{a, b}, nil))
	m2.heartbeat([]string{a, b}, nil)
	kept := m1.assigned(m1.heartbeat(nil, all))
	if len(kept[a])+len(kept[b]) != 2 {
		t.Fatalf("after a second member joined, m1 was told to keep %v, want 2 of the 4 partitions", kept)
	}
	// Still owning everything, m1 subscribes only to the topic other than
	// one it keeps partitions of.
	left, stay := b, a
	if len(kept[b]) == 0 {
		left, stay = a, b
	}
	got := m1.assigned(m1.heartbeat([]string{stay}, all))
	if got == nil || len(got[left]) != 0 || !slices.Equal(got[stay], kept[stay]) {
		t.Fatalf("m1, still revoking, unsubscribed from %s and was told %v; want only its partitions of %s (%v)", left, got, stay, kept[stay])
	}
}

// A regex subscription matches internal topics too: Kafka's
// refreshRegularExpressions matches every topic of the metadata image and
// filters only by DESCRIBE authorization. Gregor left __consumer_offsets
// and __transaction_state out, so a ".*" member was assigned other
// partitions than on Kafka.
func TestConsumerGroupRegexMatchesInternalTopics(t *testing.T) {
	addr := bootstrap(t)
	ctx, cl, _ := newRawMembers(t, addr, nil)
	group := randomName("regex-internal")
	// Looking a group's coordinator up makes sure __consumer_offsets
	// exists.
	var internal [16]byte
	var partitions int
	wait848(t, "__consumer_offsets in the metadata", func() bool {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKey = group
		if resp, err := fc.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
			return false
		}
		md, err := kadm.NewClient(cl).Metadata(ctx, "__consumer_offsets")
		if err != nil || md.Topics["__consumer_offsets"].Err != nil {
			return false
		}
		internal, partitions = md.Topics["__consumer_offsets"].ID, len(md.Topics["__consumer_offsets"].Partitions)
		return partitions > 0
	})
	m := &rawMember{t: t, ctx: ctx, cl: cl, group: group, id: "m-" + group, regex: "__consumer_offsets",
		names: map[[16]byte]string{internal: "__consumer_offsets"}}
	got := m.assigned(m.heartbeat(nil, nil))
	// Kafka resolves a new regex in the background: poll until assigned.
	wait848(t, "the regex's assignment", func() bool {
		if len(got["__consumer_offsets"]) == 0 {
			if a := m.assigned(m.heartbeat(nil, map[string][]int32{})); a != nil {
				got = a
			}
		}
		return len(got["__consumer_offsets"]) == partitions
	})
}

// A regex is checked once the group and member are known, as Kafka's
// maybeUpdateRegularExpressions does: an unknown member sending one that
// does not compile is UNKNOWN_MEMBER_ID, a member joining with it
// INVALID_REGULAR_EXPRESSION. Gregor checked the regex first.
func TestConsumerGroupRegexCheckedAfterMember(t *testing.T) {
	ctx, cl, _ := newRawMembers(t, bootstrap(t), nil)
	group := randomName("bad-regex")
	beat := func(member string, epoch int32) int16 {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch = group, member, epoch
		req.SubscribedTopicRegex = kmsg.StringPtr("(unclosed")
		if epoch == 0 {
			req.RebalanceTimeoutMillis = 30000
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	}
	// The group exists: a member joined it with names.
	m := &rawMember{t: t, ctx: ctx, cl: cl, group: group, id: "m-" + group}
	m.heartbeat([]string{}, nil)
	if code := beat("never-joined-"+group, 5); code != kerr.UnknownMemberID.Code {
		t.Errorf("an unknown member's heartbeat with an invalid regex: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(code))
	}
	if code := beat("new-"+group, 0); code != kerr.InvalidRegularExpression.Code {
		t.Errorf("a member joining with an invalid regex: %v, want INVALID_REGULAR_EXPRESSION", kerr.ErrorForCode(code))
	}
}

// A full heartbeat (rebalance timeout, subscription and owned partitions
// all set, as the Java consumer sends after an error) is answered with
// the member's assignment even when it did not change, a regex counting
// as the subscription as in Kafka's consumerGroupHeartbeat isFullRequest.
// Gregor counted only topic names: a regex member re-sending its full
// state got no assignment back.
func TestConsumerGroupFullHeartbeatWithRegex(t *testing.T) {
	topic := randomName("fullregex")
	ctx, cl, ids := newRawMembers(t, bootstrap(t), map[string]int32{topic: 2})
	group := randomName("fullregex")
	m := &rawMember{t: t, ctx: ctx, cl: cl, group: group, id: "m-" + group, names: ids, regex: topic}
	got := m.assigned(m.heartbeat(nil, nil))
	// Kafka resolves a new regex in the background: poll until assigned.
	wait848(t, "the regex's assignment", func() bool {
		if len(got[topic]) < 2 {
			if a := m.assigned(m.heartbeat(nil, map[string][]int32{})); a != nil {
				got = a
			}
		}
		return len(got[topic]) == 2
	})
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = group, m.id, m.epoch
	req.RebalanceTimeoutMillis = 30000
	req.SubscribedTopicRegex = kmsg.StringPtr(topic)
	for id, name := range ids {
		rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
		rt.TopicID, rt.Partitions = id, got[name]
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("full heartbeat: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if a := m.assigned(resp); len(a[topic]) != 2 {
		t.Fatalf("a full heartbeat of a regex member was answered with assignment %v, want both partitions of %s", a, topic)
	}
}

// When its last member leaves, a consumer group's assignment epoch
// follows the bumped group epoch, as Kafka 4.3's consumerGroupFenceMember
// writes the target assignment epoch for a group left empty
// (KAFKA-20442). Gregor left the empty group's assignment epoch behind,
// which ConsumerGroupDescribe (kafka-consumer-groups --describe --state
// --verbose) shows.
func TestConsumerGroupLastMemberLeavesAssignmentEpoch(t *testing.T) {
	topic := randomName("lastleave")
	ctx, cl, ids := newRawMembers(t, bootstrap(t), map[string]int32{topic: 2})
	group := randomName("lastleave")
	m := &rawMember{t: t, ctx: ctx, cl: cl, group: group, id: "m-" + group, names: ids}
	m.heartbeat([]string{topic}, nil)
	m.epoch = -1
	m.heartbeat(nil, nil)
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	g := resp.Groups[0]
	if g.ErrorCode != 0 || g.State != "Empty" || len(g.Members) != 0 {
		t.Fatalf("described after the last member left: %v, state %q, %d members; want an Empty group", kerr.ErrorForCode(g.ErrorCode), g.State, len(g.Members))
	}
	if g.Epoch != 2 || g.AssignmentEpoch != g.Epoch {
		t.Errorf("after the last member left: group epoch %d, assignment epoch %d; want both 2", g.Epoch, g.AssignmentEpoch)
	}
}

// LeaveGroup removes consumer-protocol members of a consumer group too,
// dynamic ones by member id and static ones by instance id alone, as
// Kafka's classicGroupLeaveToConsumerGroup (KAFKA-18188): it is how the
// admin client's removeMembersFromConsumerGroup evicts them. Gregor
// removed only classic members and answered UNKNOWN_MEMBER_ID.
func TestLeaveGroupRemovesConsumerProtocolMembers(t *testing.T) {
	topic := randomName("adminleave")
	ctx, cl, ids := newRawMembers(t, bootstrap(t), map[string]int32{topic: 2})
	group := randomName("adminleave")
	dyn := &rawMember{t: t, ctx: ctx, cl: cl, group: group, id: "dyn-" + group, names: ids}
	dyn.heartbeat([]string{topic}, nil)
	join := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	join.Group, join.MemberID, join.InstanceID = group, "static-"+group, kmsg.StringPtr("instance-"+group)
	join.RebalanceTimeoutMillis, join.SubscribedTopicNames = 30000, []string{topic}
	join.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	if resp, err := join.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("static member joining: %v %v", err, resp)
	}
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group = group
	byID := kmsg.NewLeaveGroupRequestMember()
	byID.MemberID = dyn.id
	byInstance := kmsg.NewLeaveGroupRequestMember()
	byInstance.InstanceID = kmsg.StringPtr("instance-" + group)
	unknown := kmsg.NewLeaveGroupRequestMember()
	unknown.MemberID = "nobody-" + group
	leave.Members = []kmsg.LeaveGroupRequestMember{byID, byInstance, unknown}
	resp, err := leave.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 || len(resp.Members) != 3 {
		t.Fatalf("LeaveGroup: %v with %d members", kerr.ErrorForCode(resp.ErrorCode), len(resp.Members))
	}
	want := []int16{0, 0, kerr.UnknownMemberID.Code}
	for i, m := range resp.Members {
		if m.ErrorCode != want[i] {
			t.Errorf("LeaveGroup member %d (%q, instance %v): %v, want %v", i, m.MemberID, m.InstanceID, kerr.ErrorForCode(m.ErrorCode), kerr.ErrorForCode(want[i]))
		}
	}
	if resp.Members[1].MemberID != "" {
		t.Errorf("the member removed by instance id was answered with member id %q; Kafka echoes the request's (empty)", resp.Members[1].MemberID)
	}
	d := kmsg.NewPtrConsumerGroupDescribeRequest()
	d.Groups = []string{group}
	dr, err := d.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if g := dr.Groups[0]; g.ErrorCode != 0 || len(g.Members) != 0 || g.State != "Empty" {
		t.Fatalf("after LeaveGroup: %v, state %q, %d members; want an Empty group", kerr.ErrorForCode(g.ErrorCode), g.State, len(g.Members))
	}
	// The removed member is gone.
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Group, hb.MemberID, hb.MemberEpoch = group, dyn.id, 1
	r, err := hb.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat of the removed member: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(r.ErrorCode))
	}
}

// ConsumerGroupDescribe answers an empty SubscribedTopicRegex, not null,
// for a member subscribed by names, as Kafka's ConsumerGroupMember keeps
// "" for no regex (kadm's DescribedConsumerGroupMember shows the
// difference). Gregor answered null.
func TestConsumerGroupDescribeRegexOfNameSubscription(t *testing.T) {
	topic := randomName("noregex")
	ctx, cl, ids := newRawMembers(t, bootstrap(t), map[string]int32{topic: 1})
	group := randomName("noregex")
	m := &rawMember{t: t, ctx: ctx, cl: cl, group: group, id: "m-" + group, names: ids}
	m.heartbeat([]string{topic}, nil)
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	g := resp.Groups[0]
	if g.ErrorCode != 0 || len(g.Members) != 1 {
		t.Fatalf("describe: %v with %d members", kerr.ErrorForCode(g.ErrorCode), len(g.Members))
	}
	if re := g.Members[0].SubscribedTopicRegex; re == nil || *re != "" {
		t.Errorf("a member subscribed by names was described with regex %v, want \"\"", re)
	}
}

// A classic group whose assignment carries user data (only a custom
// assignor writes it) is not upgraded when a consumer-protocol member
// joins: the heartbeat is GROUP_ID_NOT_FOUND saying why, as Kafka's
// convertToConsumerGroup refuses it (KAFKA-18134) since the consumer group
// would lose that data. Gregor upgraded the group and dropped it.
func TestConsumerGroupUpgradeRefusedWithAssignorUserData(t *testing.T) {
	addr := bootstrap(t)
	topic := randomName("userdata")
	ctx, cl, _ := newRawMembers(t, addr, map[string]int32{topic: 1})
	g := newClassicGroup(t, addr, 9)
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version, meta.Topics = 1, []string{topic}
	j := g.join(joinOpts{instance: "i-" + g.group, meta: string(meta.AppendTo(nil))})
	if j.ErrorCode != 0 {
		t.Fatalf("JoinGroup: %v", kerr.ErrorForCode(j.ErrorCode))
	}
	assign := kmsg.NewConsumerMemberAssignment()
	at := kmsg.NewConsumerMemberAssignmentTopic()
	at.Topic, at.Partitions = topic, []int32{0}
	assign.Topics, assign.UserData = []kmsg.ConsumerMemberAssignmentTopic{at}, []byte("custom")
	if code := g.sync(j.MemberID, "i-"+g.group, j.Generation, map[string]string{j.MemberID: string(assign.AppendTo(nil))}); code != 0 {
		t.Fatalf("SyncGroup: %v", kerr.ErrorForCode(code))
	}
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID = g.group, "next-"+g.group
	req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 30000, []string{topic}
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	want := "Cannot upgrade classic group " + g.group + " to consumer group because an unsupported custom assignor is in use. " +
		"Please refer to the documentation or switch to a default assignor before re-attempting the upgrade."
	if resp.ErrorCode != kerr.GroupIDNotFound.Code || resp.ErrorMessage == nil || *resp.ErrorMessage != want {
		msg := "<nil>"
		if resp.ErrorMessage != nil {
			msg = *resp.ErrorMessage
		}
		t.Fatalf("joining a classic group with assignor user data: %v %q; want GROUP_ID_NOT_FOUND %q", kerr.ErrorForCode(resp.ErrorCode), msg, want)
	}
	if d := g.describe(); d.ProtocolType != "consumer" || len(d.Members) != 1 {
		t.Fatalf("the classic group after the refused upgrade: protocol type %q, %d members", d.ProtocolType, len(d.Members))
	}
}

// ConsumerGroupHeartbeat errors about the member carry Kafka's messages
// (GroupMetadataManager's throwIfConsumerGroupMemberEpochIsInvalid,
// throwIfInstanceIdIsUnreleased, getOrMaybeCreateMember), which the Java
// consumer puts in the exception it raises (UNRELEASED_INSTANCE_ID is
// fatal to it). Gregor sent none.
func TestConsumerGroupHeartbeatErrorMessages(t *testing.T) {
	topic := randomName("hbmsg")
	ctx, cl, ids := newRawMembers(t, bootstrap(t), map[string]int32{topic: 1})
	group := randomName("hbmsg")
	m := &rawMember{t: t, ctx: ctx, cl: cl, group: group, id: "m-" + group, names: ids}
	m.heartbeat([]string{topic}, nil)
	beat := func(member string, epoch int32, instance *string) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch, req.InstanceID = group, member, epoch, instance
		if epoch == 0 {
			req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 30000, []string{topic}
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	instance := kmsg.StringPtr("i-" + group)
	if r := beat("s1-"+group, 0, instance); r.ErrorCode != 0 {
		t.Fatalf("static member joining: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	for _, c := range []struct {
		what string
		resp *kmsg.ConsumerGroupHeartbeatResponse
		code int16
		msg  string
	}{
		{"a greater epoch", beat(m.id, m.epoch+5, nil), kerr.FencedMemberEpoch.Code,
			fmt.Sprintf("The consumer group member has a greater member epoch (%d) than the one known by the group coordinator (%d). "+
				"The member must abandon all its partitions and rejoin.", m.epoch+5, m.epoch)},
		{"an unknown member", beat("nobody-"+group, 3, nil), kerr.UnknownMemberID.Code,
			"Member nobody-" + group + " is not a member of group " + group + "."},
		{"a second instance", beat("s2-"+group, 0, instance), kerr.UnreleasedInstanceID.Code,
			"Static member s2-" + group + " with instance id i-" + group + " cannot join the group because the instance id is owned by s1-" + group + " member."},
	} {
		got := "<nil>"
		if c.resp.ErrorMessage != nil {
			got = *c.resp.ErrorMessage
		}
		if c.resp.ErrorCode != c.code || got != c.msg {
			t.Errorf("%s: %v %q; want %v %q", c.what, kerr.ErrorForCode(c.resp.ErrorCode), got, kerr.ErrorForCode(c.code), c.msg)
		}
	}
}

// An invalid regex is refused with Kafka's message, which the Java
// consumer raises as its InvalidRegularExpression:
// throwIfRegularExpressionIsInvalid formats RE2/J's
// PatternSyntaxException.getDescription (what is wrong, without the
// pattern) and ends it with a period. Gregor put Go's whole error there
// ("error parsing regexp: missing closing ): `(unclosed`").
func TestConsumerGroupInvalidRegexMessage(t *testing.T) {
	ctx, cl, _ := newRawMembers(t, bootstrap(t), nil)
	for _, c := range []struct{ regex, why string }{
		{"(unclosed", "missing closing )"},
		{"a**", "invalid nested repetition operator"},
		{"[z-a]", "invalid character class range"},
	} {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch = randomName("regexmsg"), "m-"+randomName("regexmsg"), 0
		req.SubscribedTopicRegex, req.RebalanceTimeoutMillis = kmsg.StringPtr(c.regex), 30000
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		want := "SubscribedTopicRegex `" + c.regex + "` is not a valid regular expression: " + c.why + "."
		got := "<nil>"
		if resp.ErrorMessage != nil {
			got = *resp.ErrorMessage
		}
		if resp.ErrorCode != kerr.InvalidRegularExpression.Code || got != want {
			t.Errorf("joining with %q: %v %q; want INVALID_REGULAR_EXPRESSION %q", c.regex, kerr.ErrorForCode(resp.ErrorCode), got, want)
		}
	}
}

// When as many members ask for one server assignor as for another, the
// group uses the one Kafka's ConsumerGroup.computePreferredServerAssignor
// finds first in its HashMap: "uniform" before "range". Gregor took the
// first by name, range, so such a group was assigned (and described) by
// the range assignor.
func TestConsumerGroupAssignorTieGoesAsKafka(t *testing.T) {
	only, both := randomName("tieA"), randomName("tieB")
	ctx, cl, ids := newRawMembers(t, bootstrap(t), map[string]int32{only: 2, both: 2})
	group := randomName("assignortie")
	join := func(member, assignor string, topics ...string) {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch = group, member, 0
		req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 30000, topics
		req.ServerAssignor = kmsg.StringPtr(assignor)
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("%s joining: %v %v", member, err, kerr.ErrorForCode(resp.ErrorCode))
		}
	}
	// a subscribes to one topic, b to both: range gives a one partition
	// of it (a heterogeneous range splits each topic among its
	// subscribers), uniform both (b has the other topic's two).
	join("a-"+group, "range", only)
	join("b-"+group, "uniform", only, both)
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	g := resp.Groups[0]
	if g.ErrorCode != 0 || len(g.Members) != 2 {
		t.Fatalf("describing: %v, %d members", kerr.ErrorForCode(g.ErrorCode), len(g.Members))
	}
	if g.AssignorName != "uniform" {
		t.Errorf("assignor %q with one member asking for range and one for uniform; want uniform", g.AssignorName)
	}
	for _, m := range g.Members {
		if m.MemberID != "a-"+group {
			continue
		}
		var got []string
		for _, tp := range m.TargetAssignment.TopicPartitions {
			for _, p := range tp.Partitions {
				got = append(got, fmt.Sprintf("%s-%d", ids[tp.TopicID], p))
			}
		}
		slices.Sort(got)
		if want := []string{only + "-0", only + "-1"}; !slices.Equal(got, want) {
			t.Errorf("member a's target %v; want %v (the uniform assignor's)", got, want)
		}
	}
}

// UNSUPPORTED_ASSIGNOR names the broker's assignors in the order of
// Kafka's set of their names (uniform before range), whatever the order
// of group.consumer.assignors; Gregor followed the configured order.
func TestConsumerGroupUnsupportedAssignorListsAsKafka(t *testing.T) {
	if !usingGregor() {
		t.Skip("COMPAT_BOOTSTRAP is set: this test starts its own broker")
	}
	port := brokertest.FreePort(t)
	brokertest.Start(t, brokertest.Options{Port: port, Set: map[string]string{"group.consumer.assignors": "range,uniform"}})
	ctx, cl, _ := newRawMembers(t, "127.0.0.1:"+strconv.Itoa(port), nil)
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = randomName("assignormsg"), "m", 0
	req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 30000, []string{"t"}
	req.ServerAssignor = kmsg.StringPtr("sticky")
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	want := "ServerAssignor sticky is not supported. Supported assignors: uniform, range."
	got := "<nil>"
	if resp.ErrorMessage != nil {
		got = *resp.ErrorMessage
	}
	if resp.ErrorCode != kerr.UnsupportedAssignor.Code || got != want {
		t.Fatalf("unknown assignor: %v %q; want UNSUPPORTED_ASSIGNOR %q", kerr.ErrorForCode(resp.ErrorCode), got, want)
	}
}

// A static member using the classic protocol that takes the place of the
// last member using the consumer protocol turns the consumer group back
// into a classic group, as Kafka's classicGroupJoinToConsumerGroup does
// (validateOnlineDowngradeWithReplacedMember, convertToClassicGroup): the
// group, Stable at its epoch, hands the member its predecessor's
// partitions in SyncGroup. It is how a rolling restart of static
// consumers back to group.protocol=classic ends. Gregor kept a consumer
// group of classic members only, assigned by the broker, for good.
func TestConsumerGroupDowngradesWhenClassicMemberReplacesLastConsumer(t *testing.T) {
	addr := bootstrap(t)
	topic := randomName("replacedown")
	ctx, cl, _ := newRawMembers(t, addr, map[string]int32{topic: 2})
	g := newClassicGroup(t, addr, 9)
	inst := "i-" + g.group
	beat := func(epoch int32) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch, req.InstanceID = g.group, "s-"+g.group, epoch, kmsg.StringPtr(inst)
		if epoch == 0 {
			req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 30000, []string{topic}
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("heartbeat at epoch %d: %v %v", epoch, err, kerr.ErrorForCode(resp.ErrorCode))
		}
		return resp
	}
	joined := beat(0)
	if joined.Assignment == nil || len(joined.Assignment.Topics) != 1 || len(joined.Assignment.Topics[0].Partitions) != 2 {
		t.Fatalf("the static consumer-protocol member's assignment: %+v", joined.Assignment)
	}
	beat(-2) // leaves for now, as a static consumer does on close
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version, meta.Topics = 1, []string{topic}
	j := g.join(joinOpts{instance: inst, meta: string(meta.AppendTo(nil))})
	if j.ErrorCode != 0 || j.Generation != joined.MemberEpoch {
		t.Fatalf("classic JoinGroup of the instance: %v, generation %d; want generation %d", kerr.ErrorForCode(j.ErrorCode), j.Generation, joined.MemberEpoch)
	}
	list := kmsg.NewPtrListGroupsRequest()
	lresp, err := list.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, lg := range lresp.Groups {
		if lg.Group == g.group {
			found = true
			if lg.GroupType != "classic" || lg.GroupState != "Stable" {
				t.Errorf("after the last consumer-protocol member was replaced: type %q, state %q; want a Stable classic group", lg.GroupType, lg.GroupState)
			}
		}
	}
	if !found {
		t.Fatalf("ListGroups does not list %s", g.group)
	}
	sreq := kmsg.NewPtrSyncGroupRequest()
	sreq.Group, sreq.MemberID, sreq.Generation, sreq.InstanceID = g.group, j.MemberID, j.Generation, kmsg.StringPtr(inst)
	sreq.ProtocolType, sreq.Protocol = kmsg.StringPtr("consumer"), j.Protocol
	sresp, err := sreq.RequestWith(ctx, g.cl)
	if err != nil || sresp.ErrorCode != 0 {
		t.Fatalf("SyncGroup: %v %v", err, kerr.ErrorForCode(sresp.ErrorCode))
	}
	a := kmsg.NewConsumerMemberAssignment()
	if err := a.ReadFrom(sresp.MemberAssignment); err != nil {
		t.Fatalf("SyncGroup assignment: %v", err)
	}
	if len(a.Topics) != 1 || a.Topics[0].Topic != topic || !slices.Equal(a.Topics[0].Partitions, []int32{0, 1}) {
		t.Errorf("SyncGroup gave %+v; want both partitions of %s, the replaced member's", a.Topics, topic)
	}
}

// A TxnOffsetCommit to a consumer group with members that names an
// instance id but no member id or generation (the group metadata of a
// static Java consumer that has not joined yet) is UNKNOWN_MEMBER_ID:
// Kafka's ConsumerGroup.validateOffsetCommit lets a transactional commit
// through unchecked only when member id, generation and instance id are
// all unset. Gregor ignored the instance id and stored the offset.
func TestTxnOffsetCommitWithInstanceIDToConsumerGroup(t *testing.T) {
	addr := bootstrap(t)
	topic := randomName("txninst")
	ctx, cl, _ := newRawMembers(t, addr, map[string]int32{topic: 1})
	g := newClassicGroup(t, addr, 9)
	m := &rawMember{t: t, ctx: ctx, cl: cl, group: g.group, id: "m-" + g.group}
	m.heartbeat([]string{topic}, nil)
	txnID := randomName("txninst")
	initResp := initProducerID(g.ctx, t, g.cl, txnID, -1, -1)
	if initResp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(initResp.ErrorCode))
	}
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnID, initResp.ProducerID, initResp.ProducerEpoch, g.group
	if resp, err := add.RequestWith(g.ctx, g.cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %+v %v", resp, err)
	}
	commit := func(instance *string) int16 {
		t.Helper()
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txnID, g.group, initResp.ProducerID, initResp.ProducerEpoch
		req.MemberID, req.Generation, req.InstanceID = "", -1, instance
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Offset = 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(g.ctx, g.cl)
		if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("TxnOffsetCommit: %+v %v", resp, err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := commit(kmsg.StringPtr("inst-" + g.group)); code != kerr.UnknownMemberID.Code {
		t.Errorf("a TxnOffsetCommit naming only an instance id: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(code))
	}
	if code := commit(nil); code != 0 {
		t.Errorf("a TxnOffsetCommit naming no member: %v, want it taken", kerr.ErrorForCode(code))
	}
}

// A heartbeat to a consumer group that does not exist is
// GROUP_ID_NOT_FOUND with the message of the lookup Kafka makes: "Consumer
// group g not found." for a heartbeat (getOrMaybeCreateConsumerGroup),
// "Group g not found." for a leave (consumerGroupLeave's group lookup).
// Gregor answered a leave with the heartbeat's message.
func TestConsumerGroupHeartbeatNotFoundMessages(t *testing.T) {
	ctx, cl, _ := newRawMembers(t, bootstrap(t), nil)
	for _, c := range []struct {
		epoch    int32
		instance *string
		want     string
	}{
		{5, nil, "Consumer group %s not found."},
		{-1, nil, "Group %s not found."},
		{-2, kmsg.StringPtr("i"), "Group %s not found."},
	} {
		group := randomName("nogroup")
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch, req.InstanceID = group, "m", c.epoch, c.instance
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		got := "<nil>"
		if resp.ErrorMessage != nil {
			got = *resp.ErrorMessage
		}
		if want := fmt.Sprintf(c.want, group); resp.ErrorCode != kerr.GroupIDNotFound.Code || got != want {
			t.Errorf("epoch %d to a missing group: %v %q; want GROUP_ID_NOT_FOUND %q", c.epoch, kerr.ErrorForCode(resp.ErrorCode), got, want)
		}
	}
}
