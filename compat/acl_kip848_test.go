package compat

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestACLConsumerGroupProtocol: ConsumerGroupHeartbeat needs READ on the
// group and DESCRIBE on each subscribed topic; ConsumerGroupDescribe
// DESCRIBE on the group and on the topics it names, as Kafka's KafkaApis
// checks them.
func TestACLConsumerGroupProtocol(t *testing.T) {
	a := startACL(t)
	topic := a.topic(t, 2)
	group := randomName("acl-848")
	heartbeat := func() *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = group, randomName("m"), 0, 30000
		req.SubscribedTopicNames, req.Topics = []string{topic}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		return a.do(t, aclAlice, req).(*kmsg.ConsumerGroupHeartbeatResponse)
	}
	describe := func(user string) kmsg.ConsumerGroupDescribeResponseGroup {
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups, req.IncludeAuthorizedOperations = []string{group}, true
		return a.do(t, user, req).(*kmsg.ConsumerGroupDescribeResponse).Groups[0]
	}
	wantCode(t, "ConsumerGroupHeartbeat without READ", heartbeat().ErrorCode, kerr.GroupAuthorizationFailed)
	wantCode(t, "ConsumerGroupDescribe without DESCRIBE", describe(aclAlice).ErrorCode, kerr.GroupAuthorizationFailed)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Groups(group).Operations(kadm.OpRead))
	// The client finds the coordinator first (which creates
	// __consumer_offsets); the requests below go to this one broker.
	awaitCode(t, "FindCoordinator with READ", func() int16 {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{group}
		return a.do(t, aclAlice, req).(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode
	})
	wantCode(t, "ConsumerGroupHeartbeat without DESCRIBE on the topic", heartbeat().ErrorCode, kerr.TopicAuthorizationFailed)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(topic).Operations(kadm.OpDescribe))
	var r *kmsg.ConsumerGroupHeartbeatResponse
	awaitCode(t, "ConsumerGroupHeartbeat with READ and DESCRIBE", func() int16 { r = heartbeat(); return r.ErrorCode })
	if r.Assignment == nil || len(r.Assignment.Topics) != 1 || len(r.Assignment.Topics[0].Partitions) != 2 {
		t.Fatalf("assignment %+v", r.Assignment)
	}
	d := describe(aclAlice)
	wantCode(t, "ConsumerGroupDescribe with READ", d.ErrorCode, nil)
	if want := int32(1<<3 | 1<<8); d.AuthorizedOperations != want {
		t.Errorf("group authorized operations %b, want READ|DESCRIBE %b", d.AuthorizedOperations, want)
	}
	// Bob may describe the group but not its topic.
	a.grant(t, kadm.NewACLs().Allow(principal(aclBob)).Groups(group).Operations(kadm.OpDescribe))
	wantCode(t, "bob's ConsumerGroupDescribe of a group with a topic he may not describe", describe(aclBob).ErrorCode, kerr.TopicAuthorizationFailed)
}

// ConsumerGroupDescribe hides a group only for the topics its members are
// assigned (or to be assigned) that the caller may not describe, as
// Kafka's handleConsumerGroupDescribe checks the assignments and target
// assignments: a topic a member merely subscribes to (here one that does
// not exist, so nothing of it is assigned) does not hide the group. Gregor
// answered TOPIC_AUTHORIZATION_FAILED.
func TestACLConsumerGroupDescribeChecksAssignedTopics(t *testing.T) {
	a := startACL(t)
	topic := a.topic(t, 1)
	missing := randomName("acl-848-missing")
	group := randomName("acl-848-sub")
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Groups(group).Operations(kadm.OpRead))
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(topic, missing).Operations(kadm.OpDescribe))
	a.grant(t, kadm.NewACLs().Allow(principal(aclBob)).Groups(group).Operations(kadm.OpDescribe))
	a.grant(t, kadm.NewACLs().Allow(principal(aclBob)).Topics(topic).Operations(kadm.OpDescribe))
	// The client finds the coordinator first (which creates
	// __consumer_offsets).
	awaitCode(t, "FindCoordinator with READ", func() int16 {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{group}
		return a.do(t, aclAlice, req).(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode
	})
	var r *kmsg.ConsumerGroupHeartbeatResponse
	awaitCode(t, "alice's ConsumerGroupHeartbeat subscribing to a topic and a missing one", func() int16 {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = group, "m-sub", 0, 30000
		req.SubscribedTopicNames, req.Topics = []string{topic, missing}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		r = a.do(t, aclAlice, req).(*kmsg.ConsumerGroupHeartbeatResponse)
		return r.ErrorCode
	})
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	g := a.do(t, aclBob, req).(*kmsg.ConsumerGroupDescribeResponse).Groups[0]
	wantCode(t, "bob's ConsumerGroupDescribe of a group subscribed to a topic he may not describe but not assigned it", g.ErrorCode, nil)
	if len(g.Members) != 1 || len(g.Members[0].SubscribedTopics) != 2 {
		t.Fatalf("members %+v, want one subscribed to two topics", g.Members)
	}
}

// A ConsumerGroupHeartbeat's regex subscription resolves only to topics
// the member's principal may describe, as Kafka's
// refreshRegularExpressions filters them: Gregor assigned every matching
// topic, naming topics (and ids) the member could not see, and giving it
// partitions it could not read, which no authorized member then got.
func TestACLRegexSubscriptionFiltered(t *testing.T) {
	a := startACL(t)
	prefix := randomName("acl-regex")
	visible, hidden := prefix+"-pub", prefix+"-secret"
	ctx := t.Context()
	if _, err := a.admin(t).CreateTopic(ctx, 1, 1, nil, visible); err != nil {
		t.Fatal(err)
	}
	if _, err := a.admin(t).CreateTopic(ctx, 1, 1, nil, hidden); err != nil {
		t.Fatal(err)
	}
	td, err := a.admin(t).ListTopics(ctx, visible, hidden)
	if err != nil {
		t.Fatal(err)
	}
	group := randomName("acl-regex-group")
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Groups(group).Operations(kadm.OpRead))
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(visible).Operations(kadm.OpDescribe))
	awaitCode(t, "FindCoordinator with READ", func() int16 {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{group}
		return a.do(t, aclAlice, req).(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode
	})
	member := randomName("m")
	var r *kmsg.ConsumerGroupHeartbeatResponse
	epoch := int32(0)
	// The assignment comes once the regex is resolved: heartbeat until it
	// names a topic.
	waitFor(t, "an assignment for the regex subscription", 20*time.Second, func() bool {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = group, member, epoch, 30000
		req.SubscribedTopicRegex, req.Topics = kmsg.StringPtr(prefix+"-.*"), []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		r = a.do(t, aclAlice, req).(*kmsg.ConsumerGroupHeartbeatResponse)
		if r.ErrorCode != 0 {
			t.Fatalf("ConsumerGroupHeartbeat: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		epoch = r.MemberEpoch
		return r.Assignment != nil && len(r.Assignment.Topics) > 0
	})
	for _, at := range r.Assignment.Topics {
		if at.TopicID == td[hidden].ID {
			t.Fatalf("the regex subscription was assigned %s, which alice may not describe", hidden)
		}
	}
	if len(r.Assignment.Topics) != 1 || r.Assignment.Topics[0].TopicID != td[visible].ID {
		t.Fatalf("assignment %+v, want %s's partition alone", r.Assignment.Topics, visible)
	}
}
