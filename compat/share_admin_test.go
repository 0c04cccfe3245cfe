package compat

// Share group administration with the raw APIs a Kafka admin client
// sends: ListGroups of type share, DescribeShareGroupOffsets,
// AlterShareGroupOffsets (a consumer then starts at the new offset),
// DeleteShareGroupOffsets and DeleteGroups.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/wait"
)

// consumeAccept consumes with a share consumer until it has n records,
// accepting them, and closes it (leaving the group).
func consumeAccept(t *testing.T, addr, group, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	wait.For(t, fmt.Sprintf("%d records in share group %s", n, group), shareBound, func() bool {
		rs := poll(cl, time.Second)
		cl.MarkAcks(kgo.AckAccept, rs...)
		got = append(got, rs...)
		return len(got) >= n
	})
	if err := cl.FlushAcks(context.Background()); err != nil {
		t.Fatalf("flushing acknowledgements: %v", err)
	}
	return got
}

func describeShareOffset(t *testing.T, cl *kgo.Client, group, topic string) (int64, int16) {
	t.Helper()
	off, _, code := describeShareOffsetLag(t, cl, group, topic)
	return off, code
}

// describeShareOffsetLag is partition 0's start offset, lag and error.
func describeShareOffsetLag(t *testing.T, cl *kgo.Client, group, topic string) (int64, int64, int16) {
	t.Helper()
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	rg := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	rg.GroupID = group
	rt := kmsg.NewDescribeShareGroupOffsetsRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	rg.Topics = append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	g := resp.Groups[0]
	if g.ErrorCode != 0 {
		return -1, -1, g.ErrorCode
	}
	p := g.Topics[0].Partitions[0]
	return p.StartOffset, p.Lag, p.ErrorCode
}

func TestShareGroupAdminOffsets(t *testing.T) {
	addr := bootstrap(t)
	topic, group := shareTopic(t, addr)
	values := make([]string, 10)
	for i := range values {
		values[i] = fmt.Sprintf("r%d", i)
	}
	produceValues(t, addr, topic, values)
	consumeAccept(t, addr, group, topic, 10)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	lg := kmsg.NewPtrListGroupsRequest()
	lg.TypesFilter = []string{"share"}
	lresp, err := lg.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range lresp.Groups {
		found = found || g.Group == group && g.GroupType == "share"
	}
	if !found {
		t.Errorf("ListGroups of type share does not list %s: %+v", group, lresp.Groups)
	}

	wait.For(t, "the share group's start offset to reach 10, with no lag", shareBound, func() bool {
		off, lag, code := describeShareOffsetLag(t, cl, group, topic)
		return code == 0 && off == 10 && (lag == 0 || !usingGregor() && lag == -1)
	})
	// The leader epoch is the one the partition's leader wrote the state
	// at (Gregor answered -1).
	if p := describeShareOffsets(t, cl, group, map[string][]int32{topic: {0}}, topic).Topics[0].Partitions[0]; p.LeaderEpoch < 0 {
		t.Errorf("leader epoch of the written share state: %d, want the partition leader's", p.LeaderEpoch)
	}
	if usingGregor() {
		produceValues(t, addr, topic, []string{"x", "y", "z"})
		if _, lag, code := describeShareOffsetLag(t, cl, group, topic); code != 0 || lag != 3 {
			t.Errorf("after 3 more records: lag %d (error %v), want 3", lag, kerr.ErrorForCode(code))
		}
	}

	// Rewind to 5: a new consumer gets records 5-9 again. The member
	// that left may take a heartbeat to be gone: NON_EMPTY_GROUP meanwhile.
	alter := kmsg.NewPtrAlterShareGroupOffsetsRequest()
	alter.GroupID = group
	at := kmsg.NewAlterShareGroupOffsetsRequestTopic()
	at.Topic = topic
	ap := kmsg.NewAlterShareGroupOffsetsRequestTopicPartition()
	ap.Partition, ap.StartOffset = 0, 5
	at.Partitions = append(at.Partitions, ap)
	alter.Topics = append(alter.Topics, at)
	wait.For(t, "AlterShareGroupOffsets to succeed on the emptied group", shareBound, func() bool {
		resp, err := alter.RequestWith(context.Background(), cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode == kerr.NonEmptyGroup.Code {
			return false
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			t.Fatalf("altering share offsets: %v", err)
		}
		if c := resp.Topics[0].Partitions[0].ErrorCode; c != 0 {
			t.Fatalf("altering share offsets of partition 0: %v", kerr.ErrorForCode(c))
		}
		return true
	})
	again := consumeAccept(t, addr, group, topic, 5)
	if again[0].Offset != 5 {
		t.Fatalf("after rewinding to 5 the first record is at %d", again[0].Offset)
	}

	del := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
	del.GroupID = group
	dt := kmsg.NewDeleteShareGroupOffsetsRequestTopic()
	dt.Topic = topic
	del.Topics = append(del.Topics, dt)
	wait.For(t, "DeleteShareGroupOffsets to succeed on the emptied group", shareBound, func() bool {
		resp, err := del.RequestWith(context.Background(), cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode == kerr.NonEmptyGroup.Code {
			return false
		}
		if resp.ErrorCode != 0 || resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("deleting share offsets: %v %v", kerr.ErrorForCode(resp.ErrorCode), kerr.ErrorForCode(resp.Topics[0].ErrorCode))
		}
		return true
	})

	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{group}
	dresp, err := dg.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(dresp.Groups[0].ErrorCode); err != nil {
		t.Fatalf("deleting the share group: %v", err)
	}
	if off, code := describeShareOffset(t, cl, group, topic); code != 0 || off != -1 {
		t.Fatalf("describing a deleted share group's topic: start %d, error %v; want -1 and none", off, kerr.ErrorForCode(code))
	}
	if g := describeShareOffsets(t, cl, group, nil); g.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describing all of a deleted share group: %v, want GROUP_ID_NOT_FOUND", kerr.ErrorForCode(g.ErrorCode))
	}
}

// describeShareOffsets sends one group's DescribeShareGroupOffsets (topics
// nil: all of them) and returns the group's answer.
func describeShareOffsets(t *testing.T, cl *kgo.Client, group string, topics map[string][]int32, order ...string) kmsg.DescribeShareGroupOffsetsResponseGroup {
	t.Helper()
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	rg := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	rg.GroupID = group
	if topics != nil {
		rg.Topics = []kmsg.DescribeShareGroupOffsetsRequestGroupTopic{}
	}
	for _, name := range order {
		rt := kmsg.NewDescribeShareGroupOffsetsRequestGroupTopic()
		rt.Topic, rt.Partitions = name, topics[name]
		rg.Topics = append(rg.Topics, rt)
	}
	req.Groups = append(req.Groups, rg)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Groups[0]
}

// Named topics are read from the share coordinators without looking the
// group up, as Kafka's GroupCoordinatorService.describeShareGroupOffsets:
// a group with no state (here none at all) has start offset -1 and no
// error, a topic that does not exist likewise (after the others, with a
// zero topic id), and an empty list of topics is answered with none.
// Gregor answered GROUP_ID_NOT_FOUND for the group and
// UNKNOWN_TOPIC_OR_PARTITION for the topic.
func TestDescribeShareGroupOffsetsNamedTopicsOfNoGroup(t *testing.T) {
	addr := bootstrap(t)
	topic, missing := randomName("share-desc"), randomName("share-missing")
	createTopic(t, addr, topic, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	group := randomName("sg-none")
	var g kmsg.DescribeShareGroupOffsetsResponseGroup
	wait.For(t, "DescribeShareGroupOffsets to know "+topic, shareBound, func() bool {
		g = describeShareOffsets(t, cl, group, map[string][]int32{missing: {0, 1}, topic: {0}}, missing, topic)
		return g.ErrorCode != 0 || len(g.Topics) == 2 && g.Topics[0].Topic == topic
	})
	if err := kerr.ErrorForCode(g.ErrorCode); err != nil || len(g.Topics) != 2 {
		t.Fatalf("named topics of a group with no state: %v, %d topics; want no error and both topics", err, len(g.Topics))
	}
	known, unknown := g.Topics[0], g.Topics[1]
	if known.Topic != topic || known.TopicID == [16]byte{} || len(known.Partitions) != 1 ||
		known.Partitions[0].StartOffset != -1 || known.Partitions[0].ErrorCode != 0 {
		t.Errorf("existing topic: %+v, want its id and partition 0 at start offset -1, no error", known)
	}
	if unknown.Topic != missing || unknown.TopicID != [16]byte{} || len(unknown.Partitions) != 2 {
		t.Fatalf("missing topic: %+v, want it last with a zero id and both partitions", unknown)
	}
	for _, p := range unknown.Partitions {
		if p.StartOffset != -1 || p.ErrorCode != 0 {
			t.Errorf("missing topic's partition %d: start %d, error %v; want -1 and none", p.Partition, p.StartOffset, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	if g := describeShareOffsets(t, cl, group, map[string][]int32{}); g.ErrorCode != 0 || len(g.Topics) != 0 {
		t.Errorf("an empty list of topics: %v, %d topics; want no error and none", kerr.ErrorForCode(g.ErrorCode), len(g.Topics))
	}
}

// DESCRIBE on topics in DescribeShareGroupOffsets, as Kafka's
// KafkaApis.describeShareGroupAllOffsetsForGroup and
// describeShareGroupOffsetsForGroup: asked for all, a topic the principal
// may not describe is left out; named, it comes after the others with a
// zero topic id and TOPIC_AUTHORIZATION_FAILED. Gregor listed it in place
// with its id, also when all were asked for.
func TestACLDescribeShareGroupOffsetsTopics(t *testing.T) {
	a := startACL(t)
	seen, hidden := a.topic(t, 1), a.topic(t, 1)
	group := randomName("acl-sg")
	admin := a.client(t, aclAdmin)
	hb := kmsg.NewPtrShareGroupHeartbeatRequest()
	hb.GroupID, hb.MemberID, hb.MemberEpoch, hb.SubscribedTopicNames = group, randomName("member"), 0, []string{seen, hidden}
	resp, err := hb.RequestWith(context.Background(), admin)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("ShareGroupHeartbeat joining %s: %v %v", group, err, kerr.ErrorForCode(resp.ErrorCode))
	}
	wait.For(t, "both topics' share partitions to be initialized", shareBound, func() bool {
		return len(describeShareOffsets(t, admin, group, nil).Topics) == 2
	})
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Groups(group).Operations(kadm.OpDescribe))
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(seen).Operations(kadm.OpDescribe))
	alice := a.client(t, aclAlice)

	g := describeShareOffsets(t, alice, group, nil)
	if g.ErrorCode != 0 || len(g.Topics) != 1 || g.Topics[0].Topic != seen {
		t.Errorf("all topics as alice: %v %+v, want only %s", kerr.ErrorForCode(g.ErrorCode), g.Topics, seen)
	}
	g = describeShareOffsets(t, alice, group, map[string][]int32{seen: {0}, hidden: {0}}, hidden, seen)
	if g.ErrorCode != 0 || len(g.Topics) != 2 {
		t.Fatalf("named topics as alice: %v, %d topics; want both", kerr.ErrorForCode(g.ErrorCode), len(g.Topics))
	}
	if g.Topics[0].Topic != seen || g.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Errorf("first topic: %+v, want %s without error", g.Topics[0], seen)
	}
	d := g.Topics[1]
	if d.Topic != hidden || d.TopicID != [16]byte{} || d.Partitions[0].ErrorCode != kerr.TopicAuthorizationFailed.Code || d.Partitions[0].StartOffset != -1 {
		t.Errorf("topic alice may not describe: %+v, want it last, zero id, start -1, TOPIC_AUTHORIZATION_FAILED", d)
	}
}

// ShareGroupDescribe hides a group from a principal that may not DESCRIBE
// a topic its members are assigned, not one they only subscribe to, as
// Kafka's handleShareGroupDescribe checks the assignments only; Gregor
// also checked the subscriptions (here a topic that does not exist yet).
func TestACLShareGroupDescribeChecksAssignedTopics(t *testing.T) {
	a := startACL(t)
	seen, later := a.topic(t, 1), randomName("acl-later")
	group := randomName("acl-sg")
	admin := a.client(t, aclAdmin)
	hb := kmsg.NewPtrShareGroupHeartbeatRequest()
	hb.GroupID, hb.MemberID, hb.MemberEpoch, hb.SubscribedTopicNames = group, randomName("member"), 0, []string{seen, later}
	resp, err := hb.RequestWith(context.Background(), admin)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("ShareGroupHeartbeat joining %s: %v %v", group, err, kerr.ErrorForCode(resp.ErrorCode))
	}
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Groups(group).Operations(kadm.OpDescribe))
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(seen).Operations(kadm.OpDescribe))
	var g kmsg.ShareGroupDescribeResponseGroup
	wait.For(t, "the member to be assigned "+seen, shareBound, func() bool {
		req := kmsg.NewPtrShareGroupDescribeRequest()
		req.GroupIDs = []string{group}
		g = a.do(t, aclAdmin, req).(*kmsg.ShareGroupDescribeResponse).Groups[0]
		return len(g.Members) == 1 && len(g.Members[0].Assignment.TopicPartitions) == 1
	})
	req := kmsg.NewPtrShareGroupDescribeRequest()
	req.GroupIDs = []string{group}
	g = a.do(t, aclAlice, req).(*kmsg.ShareGroupDescribeResponse).Groups[0]
	if g.ErrorCode != 0 || len(g.Members) != 1 {
		t.Fatalf("describing as alice (DESCRIBE on the assigned topic, not on the subscribed %s): %v, %d members; want the group",
			later, kerr.ErrorForCode(g.ErrorCode), len(g.Members))
	}
}

// AlterShareGroupOffsets of a group id not in use makes an Empty share
// group with those start offsets, as Kafka 4.2 does (KAFKA-19662:
// kafka-share-groups.sh --reset-offsets before the group is first used);
// its first consumer starts there. Gregor answered GROUP_ID_NOT_FOUND.
func TestAlterShareGroupOffsetsCreatesTheGroup(t *testing.T) {
	addr := bootstrap(t)
	topic, group := randomName("share-preset"), randomName("sg-preset")
	createTopic(t, addr, topic, 1)
	values := make([]string, 10)
	for i := range values {
		values[i] = fmt.Sprintf("r%d", i)
	}
	produceValues(t, addr, topic, values)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	alter := kmsg.NewPtrAlterShareGroupOffsetsRequest()
	alter.GroupID = group
	at := kmsg.NewAlterShareGroupOffsetsRequestTopic()
	at.Topic = topic
	ap := kmsg.NewAlterShareGroupOffsetsRequestTopicPartition()
	ap.Partition, ap.StartOffset = 0, 5
	at.Partitions = append(at.Partitions, ap)
	alter.Topics = append(alter.Topics, at)
	resp, err := alter.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("altering the offsets of an unused group id: %v %+v, want them set", err, resp.Topics)
	}
	if off, code := describeShareOffset(t, cl, group, topic); code != 0 || off != 5 {
		t.Fatalf("start offset after the alter: %d (error %v), want 5", off, kerr.ErrorForCode(code))
	}
	lg := kmsg.NewPtrListGroupsRequest()
	lg.TypesFilter = []string{"share"}
	lresp, err := lg.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range lresp.Groups {
		found = found || g.Group == group && g.GroupState == "Empty"
	}
	if !found {
		t.Errorf("ListGroups of type share does not list %s as Empty: %+v", group, lresp.Groups)
	}
	if got := consumeAccept(t, addr, group, topic, 5); got[0].Offset != 5 {
		t.Fatalf("the group's first consumer began at %d, want 5", got[0].Offset)
	}
}
