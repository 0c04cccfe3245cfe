package compat

// Authorization with ACLs against a real broker process: a PLAINTEXT
// listener (User:ANONYMOUS) and a SASL_PLAINTEXT one with PLAIN users,
// authorizer.class.name set and User:admin a super user. admin grants
// and revokes ACLs with kadm; alice (and bob) then send each API family's
// requests on the wire and get Kafka's answers, denied then allowed. These
// tests start their own broker, so they skip when COMPAT_BOOTSTRAP is set.

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"gregor/internal/brokertest"
	"gregor/internal/sectest"
	"gregor/internal/wait"
)

// The users of the ACL broker (PLAIN, in its JAAS config); the password
// of each is its name and "-secret".
const (
	aclAdmin = "admin" // super user
	aclAlice = "alice"
	aclBob   = "bob"
	aclCarol = "carol" // only TestACLIdempotentProducer grants her anything
)

func aclPass(user string) string { return user + "-secret" }

type aclBroker struct {
	b       *brokertest.Broker
	plain   string // PLAINTEXT address (User:ANONYMOUS)
	sasl    string // SASL_PLAINTEXT address
	metrics string
}

var (
	aclOnce   sync.Once
	aclShared *aclBroker
)

// startACL returns the package's ACL broker, starting it once.
func startACL(t *testing.T) *aclBroker {
	t.Helper()
	if !usingGregor() {
		t.Skip("COMPAT_BOOTSTRAP is set: the ACL tests start their own broker")
	}
	if testing.Short() {
		t.Skip("-short: starts a gregor process")
	}
	aclOnce.Do(func() {
		plainPort, saslPort, metricsPort := brokertest.FreePort(t), brokertest.FreePort(t), brokertest.FreePort(t)
		a := &aclBroker{
			plain:   "127.0.0.1:" + strconv.Itoa(plainPort),
			sasl:    "127.0.0.1:" + strconv.Itoa(saslPort),
			metrics: "127.0.0.1:" + strconv.Itoa(metricsPort),
		}
		users := map[string]string{}
		for _, u := range []string{aclAdmin, aclAlice, aclBob, aclCarol} {
			users[u] = aclPass(u)
		}
		a.b = brokertest.StartShared(&sharedTB{TB: t}, brokertest.Options{Port: plainPort, Set: map[string]string{
			"listeners":               "PLAINTEXT://" + a.plain + ",SASL_PLAINTEXT://" + a.sasl,
			"sasl.enabled.mechanisms": "PLAIN",
			"listener.name.sasl_plaintext.plain.sasl.jaas.config": sectest.PlainJAAS(aclAdmin, aclPass(aclAdmin), users),
			"authorizer.class.name":                               "kafka.security.authorizer.AclAuthorizer",
			"super.users":                                         "User:" + aclAdmin,
			"group.initial.rebalance.delay.ms":                    "0",
			"gregor.metrics.listener":                             a.metrics,
			"gregor.log.level":                                    "debug",
		}})
		aclShared = a
		secBrokers = append(secBrokers, a.b)
	})
	if aclShared == nil {
		t.Fatal("the ACL broker failed to start")
	}
	return aclShared
}

// client is a franz-go client of user over SASL_PLAINTEXT.
func (a *aclBroker) client(t testing.TB, user string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(a.sasl), kgo.SASL(plain.Auth{User: user, Pass: aclPass(user)}.AsMechanism())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// admin is a kadm client of the super user.
func (a *aclBroker) admin(t testing.TB) *kadm.Client { return kadm.NewClient(a.client(t, aclAdmin)) }

// do sends a request as user straight to the broker (no client-side
// routing or retries) and returns the response.
func (a *aclBroker) do(t testing.TB, user string, req kmsg.Request) kmsg.Response {
	t.Helper()
	resp, err := a.doErr(t, user, req)
	if err != nil {
		t.Fatalf("%s as %s: %v", kmsg.NameForKey(req.Key()), user, err)
	}
	return resp
}

// A request with a version set is sent at that version (at most).
func (a *aclBroker) doErr(t testing.TB, user string, req kmsg.Request) (kmsg.Response, error) {
	t.Helper()
	var opts []kgo.Opt
	if v := req.GetVersion(); v > 0 {
		vs := kversion.Tip()
		vs.SetMaxKeyVersion(req.Key(), v)
		opts = append(opts, kgo.MaxVersions(vs))
	}
	cl := a.client(t, user, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cl.SeedBrokers()[0].Request(ctx, req)
}

// grant creates ACLs as admin; revoke deletes what a builder matches.
func (a *aclBroker) grant(t testing.TB, b *kadm.ACLBuilder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := a.admin(t).CreateACLs(ctx, b)
	if err != nil {
		t.Fatalf("CreateACLs: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("CreateACLs %s: %v", r.Name, r.Err)
		}
	}
}

func (a *aclBroker) revoke(t testing.TB, b *kadm.ACLBuilder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := a.admin(t).DeleteACLs(ctx, b.AllowHosts())
	if err != nil {
		t.Fatalf("DeleteACLs: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("DeleteACLs: %v", r.Err)
		}
	}
}

// topic creates a topic as admin.
func (a *aclBroker) topic(t testing.TB, partitions int32) string {
	t.Helper()
	name := randomName("acl")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := a.admin(t).CreateTopic(ctx, partitions, 1, nil, name)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
	return name
}

func principal(user string) string { return "User:" + user }

func produceReq(topic string, batch []byte, txnID *string) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis, req.TransactionID = 1, 5000, txnID
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// recordBatch is a batch of one record; a transactional one carries a
// producer id and the transactional attribute.
func recordBatch(transactional bool) []byte {
	if !transactional {
		return tcBatch(-1, -1, -1, "v")
	}
	r := kmsg.Record{Value: []byte("v")}
	r.Length = int32(len(r.AppendTo(nil)) - 1)
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, Attributes: 0x10, FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: 1, ProducerEpoch: 0, FirstSequence: 0, NumRecords: 1, Records: r.AppendTo(nil)}
	b.Length = int32(len(b.AppendTo(nil)) - 12)
	raw := b.AppendTo(nil)
	b.CRC = int32(crc32.Checksum(raw[21:], tcCastagnoli))
	return b.AppendTo(nil)
}

func produceCode(resp kmsg.Response) int16 {
	return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
}

// TestACLProduceFetch: WRITE to produce, READ to fetch, with the error
// codes Kafka gives when they are missing; a topic that does not exist is
// denied the same way (its existence is not disclosed); a follower's
// fetch needs CLUSTER_ACTION.
func TestACLProduceFetch(t *testing.T) {
	a := startACL(t)
	topic := a.topic(t, 1)
	missing := randomName("acl-missing")

	wantCode(t, "produce without WRITE", produceCode(a.do(t, aclAlice, produceReq(topic, recordBatch(false), nil))), kerr.TopicAuthorizationFailed)
	wantCode(t, "produce to a missing topic without WRITE", produceCode(a.do(t, aclAlice, produceReq(missing, recordBatch(false), nil))), kerr.TopicAuthorizationFailed)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(topic, missing).Operations(kadm.OpWrite))
	wantCode(t, "produce with WRITE", produceCode(a.do(t, aclAlice, produceReq(topic, recordBatch(false), nil))), nil)
	wantCode(t, "produce to a missing topic with WRITE", produceCode(a.do(t, aclAlice, produceReq(missing, recordBatch(false), nil))), kerr.UnknownTopicOrPartition)
	wantCode(t, "produce as bob", produceCode(a.do(t, aclBob, produceReq(topic, recordBatch(false), nil))), kerr.TopicAuthorizationFailed)
	wantCode(t, "produce on PLAINTEXT (User:ANONYMOUS)", produceCode(a.doPlain(t, produceReq(topic, recordBatch(false), nil))), kerr.TopicAuthorizationFailed)

	// A transactional batch needs WRITE on its transactional id.
	txn := randomName("acl-txn")
	for _, id := range []*string{nil, &txn} {
		resp := a.do(t, aclAlice, produceReq(topic, recordBatch(true), id))
		wantCode(t, fmt.Sprintf("transactional produce (id %v) without WRITE on the id", id != nil), produceCode(resp), kerr.TransactionalIDAuthorizationFailed)
	}
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).TransactionalIDs(txn).Operations(kadm.OpWrite))
	// Authorized now; the batch's producer never began a transaction, so
	// the coordinator's verification (KIP-890) may still refuse it.
	want := 1
	if code := produceCode(a.do(t, aclAlice, produceReq(topic, recordBatch(true), &txn))); code == kerr.TransactionalIDAuthorizationFailed.Code || code == kerr.TopicAuthorizationFailed.Code {
		t.Errorf("transactional produce with WRITE on the id and topic: %v", kerr.ErrorForCode(code))
	} else if code == 0 {
		want++
	}

	fetch := func(user string, replica int32) int16 {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(12)
		req.ReplicaID, req.MaxBytes, req.MaxWaitMillis = replica, 1<<20, 0
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = topic
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		return a.do(t, user, req).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, "fetch without READ", fetch(aclAlice, -1), kerr.TopicAuthorizationFailed)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(topic).Operations(kadm.OpRead))
	wantCode(t, "fetch with READ", fetch(aclAlice, -1), nil)
	wantCode(t, "a follower's fetch without CLUSTER_ACTION", fetch(aclAlice, 7), kerr.TopicAuthorizationFailed)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Clusters().Operations(kadm.OpClusterAction))
	if code := fetch(aclAlice, 7); code == kerr.TopicAuthorizationFailed.Code {
		t.Errorf("a follower's fetch with CLUSTER_ACTION: %v", kerr.ErrorForCode(code))
	}
	a.revoke(t, kadm.NewACLs().Allow(principal(aclAlice)).Clusters().Operations(kadm.OpClusterAction))

	// And through franz-go's consumer, end to end.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := a.client(t, aclAlice, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for got := 0; got < want; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("alice consumed %d of %d records before %v", got, want, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("alice's fetch: %v", err) })
		got += fs.NumRecords()
	}
}

// doPlain sends a request on the PLAINTEXT listener (User:ANONYMOUS).
func (a *aclBroker) doPlain(t testing.TB, req kmsg.Request) kmsg.Response {
	t.Helper()
	vs := kversion.Tip()
	vs.SetMaxKeyVersion(req.Key(), req.GetVersion())
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.plain), kgo.MaxVersions(vs))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestACLIdempotentProducer: an idempotent producer needs IDEMPOTENT_WRITE
// on the cluster, or WRITE on some topic (KIP-679).
func TestACLIdempotentProducer(t *testing.T) {
	a := startACL(t)
	topic := a.topic(t, 1)
	initPID := func(user string) int16 {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionTimeoutMillis = 60000
		return a.do(t, user, req).(*kmsg.InitProducerIDResponse).ErrorCode
	}
	wantCode(t, "InitProducerId without any WRITE", initPID(aclCarol), kerr.ClusterAuthorizationFailed)
	a.grant(t, kadm.NewACLs().Allow(principal(aclCarol)).Topics(topic).Operations(kadm.OpWrite))
	wantCode(t, "InitProducerId with WRITE on a topic", initPID(aclCarol), nil)
	a.revoke(t, kadm.NewACLs().Allow(principal(aclCarol)).Topics(topic).Operations(kadm.OpWrite))
	wantCode(t, "InitProducerId after the WRITE is revoked", initPID(aclCarol), kerr.ClusterAuthorizationFailed)
	a.grant(t, kadm.NewACLs().Allow(principal(aclCarol)).Clusters().Operations(kadm.OpIdempotentWrite))
	wantCode(t, "InitProducerId with IDEMPOTENT_WRITE", initPID(aclCarol), nil)
	a.revoke(t, kadm.NewACLs().Allow(principal(aclCarol)).Clusters().Operations(kadm.OpIdempotentWrite))

	// franz-go's idempotent producer, end to end.
	a.grant(t, kadm.NewACLs().Allow(principal(aclCarol)).Topics(topic).Operations(kadm.OpWrite))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.client(t, aclCarol, kgo.DefaultProduceTopic(topic)).ProduceSync(ctx, kgo.StringRecord("x")).FirstErr(); err != nil {
		t.Fatalf("bob's idempotent produce: %v", err)
	}
	a.revoke(t, kadm.NewACLs().Allow(principal(aclCarol)).Topics(topic).Operations(kadm.OpWrite))
}

// TestACLMetadata: Metadata lists only the topics the principal may
// DESCRIBE, answers TOPIC_AUTHORIZATION_FAILED for named ones, needs
// CREATE to auto-create, and reports authorized operations.
func TestACLMetadata(t *testing.T) {
	a := startACL(t)
	visible, hidden := a.topic(t, 1), a.topic(t, 1)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(visible).Operations(kadm.OpRead))

	all := kmsg.NewPtrMetadataRequest()
	all.SetVersion(10)
	all.IncludeClusterAuthorizedOperations, all.IncludeTopicAuthorizedOperations = true, true
	resp := a.do(t, aclAlice, all).(*kmsg.MetadataResponse)
	names := map[string]kmsg.MetadataResponseTopic{}
	for _, tp := range resp.Topics {
		names[*tp.Topic] = tp
	}
	if _, ok := names[hidden]; ok {
		t.Errorf("alice sees %s, which she may not describe", hidden)
	}
	if tp, ok := names[visible]; !ok || len(tp.Partitions) != 1 {
		t.Errorf("alice does not see %s: %v", visible, resp.Topics)
	} else if want := int32(1<<3 | 1<<8); tp.AuthorizedOperations != want {
		t.Errorf("%s authorized operations %b, want READ|DESCRIBE %b", visible, tp.AuthorizedOperations, want)
	}
	if resp.AuthorizedOperations != 0 {
		t.Errorf("cluster authorized operations %b without DESCRIBE on the cluster, want 0", resp.AuthorizedOperations)
	}
	if resp := a.do(t, aclAdmin, all).(*kmsg.MetadataResponse); resp.AuthorizedOperations != 1<<5|1<<7|1<<8|1<<9|1<<10|1<<11|1<<12 {
		t.Errorf("admin's cluster authorized operations %b", resp.AuthorizedOperations)
	}

	named := func(user, topic string, autoCreate bool) kmsg.MetadataResponseTopic {
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(12)
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		req.AllowAutoTopicCreation = autoCreate
		return a.do(t, user, req).(*kmsg.MetadataResponse).Topics[0]
	}
	h := named(aclAlice, hidden, false)
	wantCode(t, "Metadata of an undescribable topic", h.ErrorCode, kerr.TopicAuthorizationFailed)
	if h.TopicID != [16]byte{} || len(h.Partitions) != 0 {
		t.Errorf("an undescribable topic disclosed its id or partitions: %+v", h)
	}
	missing := randomName("acl-auto")
	wantCode(t, "Metadata of a missing undescribable topic", named(aclAlice, missing, true).ErrorCode, kerr.TopicAuthorizationFailed)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(missing).Operations(kadm.OpDescribe))
	wantCode(t, "auto-creation without CREATE", named(aclAlice, missing, true).ErrorCode, kerr.TopicAuthorizationFailed)
	wantCode(t, "a missing describable topic, no auto-creation", named(aclAlice, missing, false).ErrorCode, kerr.UnknownTopicOrPartition)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(missing).Operations(kadm.OpCreate))
	// The request that creates a topic answers it LEADER_NOT_AVAILABLE
	// (Kafka 4: UNKNOWN_TOPIC_OR_PARTITION); the next one describes it.
	if code := named(aclAlice, missing, true).ErrorCode; !createdAnswer(code) {
		t.Errorf("auto-creation with CREATE on the topic: %v", kerr.ErrorForCode(code))
	}
	wait.For(t, "alice's auto-created topic to be described", 20*time.Second, func() bool {
		return named(aclAlice, missing, false).ErrorCode == 0
	})
	// CREATE on the cluster also allows it, for any name.
	other := randomName("acl-auto")
	a.grant(t, kadm.NewACLs().Allow(principal(aclBob)).Topics(other).Operations(kadm.OpDescribe))
	a.grant(t, kadm.NewACLs().Allow(principal(aclBob)).Clusters().Operations(kadm.OpCreate))
	if code := named(aclBob, other, true).ErrorCode; !createdAnswer(code) {
		t.Errorf("auto-creation with CREATE on the cluster: %v", kerr.ErrorForCode(code))
	}
	wait.For(t, "bob's auto-created topic to be described", 20*time.Second, func() bool {
		return named(aclBob, other, false).ErrorCode == 0
	})
	a.revoke(t, kadm.NewACLs().Allow(principal(aclBob)).Clusters().Operations(kadm.OpCreate))

	// kadm's ListTopics (Metadata of every topic) as alice and as admin.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	listed, err := kadm.NewClient(a.client(t, aclAlice)).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !listed.Has(visible) || listed.Has(hidden) {
		t.Errorf("alice's ListTopics: %v", listed.Names())
	}
	if listed, err := a.admin(t).ListTopics(ctx); err != nil || !listed.Has(hidden) {
		t.Errorf("admin's ListTopics: %v %v", listed.Names(), err)
	}
}

// TestACLGroups: the group APIs need READ (join, sync, heartbeat, leave,
// commit), DESCRIBE (find, fetch offsets, describe, list) or DELETE on the
// group, and READ or DESCRIBE on the topics whose offsets they touch.
func TestACLGroups(t *testing.T) {
	a := startACL(t)
	topic := a.topic(t, 1)
	group := randomName("acl-group")
	allow := func(ops ...kadm.ACLOperation) *kadm.ACLBuilder {
		return kadm.NewACLs().Allow(principal(aclAlice)).Groups(group).Operations(ops...)
	}

	find := func() int16 {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{group}
		return a.do(t, aclAlice, req).(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode
	}
	join := func() *kmsg.JoinGroupResponse {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, req.ProtocolType = group, 10000, 10000, "consumer"
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}}
		return a.do(t, aclAlice, req).(*kmsg.JoinGroupResponse)
	}
	heartbeat := func() int16 {
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.MemberID, req.Generation = group, "nobody", 1
		return a.do(t, aclAlice, req).(*kmsg.HeartbeatResponse).ErrorCode
	}
	sync := func() int16 {
		req := kmsg.NewPtrSyncGroupRequest()
		req.Group, req.MemberID, req.Generation = group, "nobody", 1
		req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
		return a.do(t, aclAlice, req).(*kmsg.SyncGroupResponse).ErrorCode
	}
	leave := func() int16 {
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Group = group
		req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "nobody"}}
		return a.do(t, aclAlice, req).(*kmsg.LeaveGroupResponse).ErrorCode
	}
	commit := func() int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.SetVersion(9) // names topics (v10 names them by id)
		req.Group, req.Generation = group, -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = 0
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return a.do(t, aclAlice, req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	fetchOffsets := func() (int16, int16) {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.SetVersion(7)
		req.Group = group
		req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: []int32{0}}}
		resp := a.do(t, aclAlice, req).(*kmsg.OffsetFetchResponse)
		if len(resp.Topics) == 0 {
			return resp.ErrorCode, -1
		}
		return resp.ErrorCode, resp.Topics[0].Partitions[0].ErrorCode
	}
	describe := func() kmsg.DescribeGroupsResponseGroup {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups, req.IncludeAuthorizedOperations = []string{group}, true
		return a.do(t, aclAlice, req).(*kmsg.DescribeGroupsResponse).Groups[0]
	}
	listed := func() bool {
		for _, g := range a.do(t, aclAlice, kmsg.NewPtrListGroupsRequest()).(*kmsg.ListGroupsResponse).Groups {
			if g.Group == group {
				return true
			}
		}
		return false
	}

	// Nothing granted.
	wantCode(t, "FindCoordinator", find(), kerr.GroupAuthorizationFailed)
	wantCode(t, "JoinGroup", join().ErrorCode, kerr.GroupAuthorizationFailed)
	wantCode(t, "Heartbeat", heartbeat(), kerr.GroupAuthorizationFailed)
	wantCode(t, "SyncGroup", sync(), kerr.GroupAuthorizationFailed)
	wantCode(t, "LeaveGroup", leave(), kerr.GroupAuthorizationFailed)
	wantCode(t, "OffsetCommit", commit(), kerr.GroupAuthorizationFailed)
	top, _ := fetchOffsets()
	wantCode(t, "OffsetFetch", top, kerr.GroupAuthorizationFailed)
	d := describe()
	wantCode(t, "DescribeGroups", d.ErrorCode, kerr.GroupAuthorizationFailed)

	// READ on the group (implies DESCRIBE), not on the topic.
	a.grant(t, allow(kadm.OpRead))
	awaitCode(t, "FindCoordinator with READ", find)
	if code := join().ErrorCode; code != kerr.MemberIDRequired.Code {
		t.Errorf("JoinGroup with READ: %v, want MEMBER_ID_REQUIRED", kerr.ErrorForCode(code))
	}
	wantCode(t, "Heartbeat with READ", heartbeat(), kerr.UnknownMemberID)
	wantCode(t, "SyncGroup with READ", sync(), kerr.UnknownMemberID)
	wantCode(t, "OffsetCommit without READ on the topic", commit(), kerr.TopicAuthorizationFailed)
	top, part := fetchOffsets()
	wantCode(t, "OffsetFetch with READ on the group", top, nil)
	wantCode(t, "OffsetFetch of an undescribable topic", part, kerr.TopicAuthorizationFailed)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(topic).Operations(kadm.OpRead))
	wantCode(t, "OffsetCommit with READ on both", commit(), nil)
	_, part = fetchOffsets()
	wantCode(t, "OffsetFetch with READ on both", part, nil)
	d = describe()
	wantCode(t, "DescribeGroups with READ", d.ErrorCode, nil)
	if want := int32(1<<3 | 1<<8); d.AuthorizedOperations != want {
		t.Errorf("group authorized operations %b, want READ|DESCRIBE %b", d.AuthorizedOperations, want)
	}
	if !listed() {
		t.Error("ListGroups does not list a group alice may describe")
	}
	if g := describeAs(t, a, aclBob, group); g.ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("bob's DescribeGroups: %v", kerr.ErrorForCode(g.ErrorCode))
	}
	listedBy := func(user string) bool {
		for _, g := range a.do(t, user, kmsg.NewPtrListGroupsRequest()).(*kmsg.ListGroupsResponse).Groups {
			if g.Group == group {
				return true
			}
		}
		return false
	}
	if listedBy(aclBob) {
		t.Error("ListGroups lists a group bob may not describe")
	}
	a.grant(t, kadm.NewACLs().Allow(principal(aclBob)).Clusters().Operations(kadm.OpDescribe))
	if !listedBy(aclBob) {
		t.Error("ListGroups with DESCRIBE on the cluster does not list every group")
	}
	a.revoke(t, kadm.NewACLs().Allow(principal(aclBob)).Clusters().Operations(kadm.OpDescribe))
	// Every committed offset (null topics): only those of topics alice
	// may describe.
	a.revoke(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(topic).Operations(kadm.OpRead))
	allOffsets := kmsg.NewPtrOffsetFetchRequest()
	allOffsets.SetVersion(7)
	allOffsets.Group = group
	if r := a.do(t, aclAlice, allOffsets).(*kmsg.OffsetFetchResponse); r.ErrorCode != 0 || len(r.Topics) != 0 {
		t.Errorf("OffsetFetch of every topic lists undescribable ones: %v %+v", kerr.ErrorForCode(r.ErrorCode), r.Topics)
	}
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(topic).Operations(kadm.OpRead))
	if r := a.do(t, aclAlice, allOffsets).(*kmsg.OffsetFetchResponse); len(r.Topics) != 1 {
		t.Errorf("OffsetFetch of every topic with READ: %+v", r.Topics)
	}

	// OffsetDelete and DeleteGroups need DELETE.
	offsetDelete := func() int16 {
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = group
		req.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
		return a.do(t, aclAlice, req).(*kmsg.OffsetDeleteResponse).ErrorCode
	}
	deleteGroup := func() int16 {
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Groups = []string{group}
		return a.do(t, aclAlice, req).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode
	}
	wantCode(t, "OffsetDelete without DELETE", offsetDelete(), kerr.GroupAuthorizationFailed)
	wantCode(t, "DeleteGroups without DELETE", deleteGroup(), kerr.GroupAuthorizationFailed)
	a.grant(t, allow(kadm.OpDelete))
	wantCode(t, "OffsetDelete with DELETE", offsetDelete(), nil)
	wantCode(t, "DeleteGroups with DELETE", deleteGroup(), nil)

	// A consumer group as alice, end to end.
	group2 := randomName("acl-group")
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Groups(group2).Operations(kadm.OpRead))
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(topic).Operations(kadm.OpWrite))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := a.client(t, aclAlice, kgo.DefaultProduceTopic(topic)).ProduceSync(ctx, kgo.StringRecord("g")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl := a.client(t, aclAlice, kgo.ConsumerGroup(group2), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cl.PollRecords(ctx, 1)
	if err := fs.Err0(); err != nil || fs.NumRecords() == 0 {
		t.Fatalf("alice's group consumer: %v, %d records", err, fs.NumRecords())
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("alice's group commit: %v", err)
	}
}

func describeAs(t *testing.T, a *aclBroker, user, group string) kmsg.DescribeGroupsResponseGroup {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	return a.do(t, user, req).(*kmsg.DescribeGroupsResponse).Groups[0]
}

// TestACLTransactions: the transactional APIs need WRITE on the
// transactional id (and READ on the group, WRITE or READ on the topics);
// WriteTxnMarkers is for brokers only.
func TestACLTransactions(t *testing.T) {
	a := startACL(t)
	topic := a.topic(t, 1)
	txn, group := randomName("acl-txn"), randomName("acl-group")

	initPID := func() int16 {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(txn), 60000
		return a.do(t, aclAlice, req).(*kmsg.InitProducerIDResponse).ErrorCode
	}
	findTxn := func() int16 {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorType, req.CoordinatorKeys = 1, []string{txn}
		return a.do(t, aclAlice, req).(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode
	}
	addParts := func() int16 {
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.SetVersion(3) // v4+ is the brokers' batched verification
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = txn, 1, 0
		req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: []int32{0}}}
		return a.do(t, aclAlice, req).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode
	}
	addOffsets := func() int16 {
		req := kmsg.NewPtrAddOffsetsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = txn, 1, 0, group
		return a.do(t, aclAlice, req).(*kmsg.AddOffsetsToTxnResponse).ErrorCode
	}
	endTxn := func() int16 {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = txn, 1, 0
		return a.do(t, aclAlice, req).(*kmsg.EndTxnResponse).ErrorCode
	}
	txnCommit := func() int16 {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txn, group, 1, 0
		req.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 0}}}}
		return a.do(t, aclAlice, req).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	describeTxn := func() int16 {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{txn}
		return a.do(t, aclAlice, req).(*kmsg.DescribeTransactionsResponse).TransactionStates[0].ErrorCode
	}
	for _, c := range []struct {
		what string
		code func() int16
	}{{"FindCoordinator", findTxn}, {"InitProducerId", initPID}, {"AddPartitionsToTxn", addParts}, {"AddOffsetsToTxn", addOffsets},
		{"EndTxn", endTxn}, {"TxnOffsetCommit", txnCommit}, {"DescribeTransactions", describeTxn}} {
		wantCode(t, c.what+" without WRITE on the id", c.code(), kerr.TransactionalIDAuthorizationFailed)
	}

	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).TransactionalIDs(txn).Operations(kadm.OpWrite))
	awaitCode(t, "FindCoordinator with WRITE", findTxn)
	awaitCode(t, "InitProducerId with WRITE", initPID)
	wantCode(t, "DescribeTransactions with WRITE", describeTxn(), nil)
	wantCode(t, "AddPartitionsToTxn without WRITE on the topic", addParts(), kerr.TopicAuthorizationFailed)
	wantCode(t, "AddOffsetsToTxn without READ on the group", addOffsets(), kerr.GroupAuthorizationFailed)
	wantCode(t, "TxnOffsetCommit without READ on the group", txnCommit(), kerr.GroupAuthorizationFailed)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Groups(group).Operations(kadm.OpRead))
	wantCode(t, "TxnOffsetCommit without READ on the topic", txnCommit(), kerr.TopicAuthorizationFailed)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(topic).Operations(kadm.OpWrite, kadm.OpRead))
	for what, code := range map[string]func() int16{"AddPartitionsToTxn": addParts, "AddOffsetsToTxn": addOffsets, "EndTxn": endTxn, "TxnOffsetCommit": txnCommit} {
		if c := code(); c == kerr.TransactionalIDAuthorizationFailed.Code || c == kerr.TopicAuthorizationFailed.Code || c == kerr.GroupAuthorizationFailed.Code {
			t.Errorf("%s with every ACL it needs: %v", what, kerr.ErrorForCode(c))
		}
	}

	// A transactional producer as alice, end to end; ListTransactions
	// lists only what the principal may describe.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := a.client(t, aclAlice, kgo.TransactionalID(txn), kgo.DefaultProduceTopic(topic))
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, kgo.StringRecord("t")).FirstErr(); err != nil {
		t.Fatalf("alice's transactional produce: %v", err)
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("alice's commit: %v", err)
	}
	has := func(user string) bool {
		for _, s := range a.do(t, user, kmsg.NewPtrListTransactionsRequest()).(*kmsg.ListTransactionsResponse).TransactionStates {
			if s.TransactionalID == txn {
				return true
			}
		}
		return false
	}
	if !has(aclAlice) || has(aclBob) {
		t.Errorf("ListTransactions lists %s for alice %v, bob %v", txn, has(aclAlice), has(aclBob))
	}
	// DescribeTransactions leaves out the partitions of topics the
	// principal may not describe: bob, with DESCRIBE on the id only.
	p2 := a.client(t, aclAlice, kgo.TransactionalID(txn), kgo.DefaultProduceTopic(topic))
	if err := p2.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p2.ProduceSync(ctx, kgo.StringRecord("open")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	a.grant(t, kadm.NewACLs().Allow(principal(aclBob)).TransactionalIDs(txn).Operations(kadm.OpDescribe))
	topicsOf := func(user string) int {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{txn}
		st := a.do(t, user, req).(*kmsg.DescribeTransactionsResponse).TransactionStates[0]
		if st.ErrorCode != 0 {
			t.Fatalf("DescribeTransactions as %s: %v", user, kerr.ErrorForCode(st.ErrorCode))
		}
		return len(st.Topics)
	}
	if alice, bob := topicsOf(aclAlice), topicsOf(aclBob); alice != 1 || bob != 0 {
		t.Errorf("DescribeTransactions of an open transaction lists %d topics to alice, %d to bob; want 1 and 0", alice, bob)
	}
	if err := p2.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}

	// WriteTxnMarkers comes from brokers: CLUSTER_ACTION (or ALTER) on the cluster.
	markers := kmsg.NewPtrWriteTxnMarkersRequest()
	markers.Markers = []kmsg.WriteTxnMarkersRequestMarker{{ProducerID: 1, ProducerEpoch: 0, Committed: true,
		Topics: []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: topic, Partitions: []int32{0}}}}}
	wantCode(t, "WriteTxnMarkers as alice", a.do(t, aclAlice, markers).(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics[0].Partitions[0].ErrorCode, kerr.ClusterAuthorizationFailed)
}

// TestACLAdmin: the topic admin APIs need CREATE, DELETE, ALTER or
// DESCRIBE on the topic (or the cluster), the cluster APIs ALTER or
// DESCRIBE on the cluster, each with Kafka's error code.
func TestACLAdmin(t *testing.T) {
	a := startACL(t)
	topic := a.topic(t, 1)
	allowTopic := func(ops ...kadm.ACLOperation) {
		a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(topic).Operations(ops...))
	}

	t.Run("CreateTopics", func(t *testing.T) {
		name := randomName("acl-create")
		create := func(user string) kmsg.CreateTopicsResponseTopic {
			req := kmsg.NewPtrCreateTopicsRequest()
			req.TimeoutMillis = 10000
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
			req.Topics = append(req.Topics, rt)
			return a.do(t, user, req).(*kmsg.CreateTopicsResponse).Topics[0]
		}
		wantCode(t, "CreateTopics without CREATE", create(aclAlice).ErrorCode, kerr.TopicAuthorizationFailed)
		a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(name).Operations(kadm.OpCreate))
		st := create(aclAlice)
		wantCode(t, "CreateTopics with CREATE", st.ErrorCode, nil)
		// Without DESCRIBE_CONFIGS the configs are not disclosed.
		wantCode(t, "the config error without DESCRIBE_CONFIGS", st.ConfigErrorCode, kerr.TopicAuthorizationFailed)
		if len(st.Configs) != 0 || st.NumPartitions != -1 {
			t.Errorf("configs disclosed without DESCRIBE_CONFIGS: %d configs, %d partitions", len(st.Configs), st.NumPartitions)
		}
	})
	t.Run("DeleteTopics", func(t *testing.T) {
		name := a.topic(t, 1)
		del := func(byID bool) kmsg.DeleteTopicsResponseTopic {
			req := kmsg.NewPtrDeleteTopicsRequest()
			req.TimeoutMillis = 10000
			rt := kmsg.NewDeleteTopicsRequestTopic()
			if byID {
				md := a.do(t, aclAdmin, kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
				for _, tp := range md.Topics {
					if *tp.Topic == name {
						rt.TopicID = tp.TopicID
					}
				}
			} else {
				rt.Topic = kmsg.StringPtr(name)
			}
			req.Topics = append(req.Topics, rt)
			return a.do(t, aclAlice, req).(*kmsg.DeleteTopicsResponse).Topics[0]
		}
		st := del(true)
		wantCode(t, "DeleteTopics by id without DESCRIBE", st.ErrorCode, kerr.TopicAuthorizationFailed)
		if st.Topic != nil {
			t.Errorf("DeleteTopics by id disclosed the name %q", *st.Topic)
		}
		wantCode(t, "DeleteTopics without DELETE", del(false).ErrorCode, kerr.TopicAuthorizationFailed)
		a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(name).Operations(kadm.OpDelete))
		wantCode(t, "DeleteTopics with DELETE", del(false).ErrorCode, nil)
		// A name that does not exist: TOPIC_AUTHORIZATION_FAILED without
		// DESCRIBE; with it UNKNOWN_TOPIC_OR_PARTITION, before DELETE is
		// asked for, as Kafka's ControllerApis.deleteTopics.
		missing := randomName("acl-missing")
		delMissing := func() int16 {
			req := kmsg.NewPtrDeleteTopicsRequest()
			req.TimeoutMillis = 10000
			req.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: kmsg.StringPtr(missing)}}
			return a.do(t, aclAlice, req).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode
		}
		wantCode(t, "DeleteTopics of a missing topic without DESCRIBE", delMissing(), kerr.TopicAuthorizationFailed)
		a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(missing).Operations(kadm.OpDescribe))
		wantCode(t, "DeleteTopics of a missing topic with DESCRIBE only", delMissing(), kerr.UnknownTopicOrPartition)
	})
	t.Run("ThroughTheCluster", func(t *testing.T) {
		// CREATE and DELETE on the cluster cover every topic.
		name := randomName("acl-cluster")
		create := kmsg.NewPtrCreateTopicsRequest()
		create.TimeoutMillis = 10000
		create.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: name, NumPartitions: 1, ReplicationFactor: 1}}
		del := kmsg.NewPtrDeleteTopicsRequest()
		del.TimeoutMillis = 10000
		del.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: kmsg.StringPtr(name)}}
		wantCode(t, "CreateTopics without CREATE", a.do(t, aclBob, create).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode, kerr.TopicAuthorizationFailed)
		a.grant(t, kadm.NewACLs().Allow(principal(aclBob)).Clusters().Operations(kadm.OpCreate, kadm.OpDelete))
		defer a.revoke(t, kadm.NewACLs().Allow(principal(aclBob)).Clusters().Operations(kadm.OpCreate, kadm.OpDelete))
		wantCode(t, "CreateTopics with CREATE on the cluster", a.do(t, aclBob, create).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode, nil)
		wantCode(t, "DeleteTopics with DELETE on the cluster", a.do(t, aclBob, del).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode, nil)
	})
	t.Run("CreatePartitions", func(t *testing.T) {
		grow := func() int16 {
			req := kmsg.NewPtrCreatePartitionsRequest()
			req.TimeoutMillis = 10000
			req.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: topic, Count: 2}}
			return a.do(t, aclAlice, req).(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode
		}
		wantCode(t, "CreatePartitions without ALTER", grow(), kerr.TopicAuthorizationFailed)
		allowTopic(kadm.OpAlter)
		wantCode(t, "CreatePartitions with ALTER", grow(), nil)
	})
	t.Run("DeleteRecords", func(t *testing.T) {
		del := func() int16 {
			req := kmsg.NewPtrDeleteRecordsRequest()
			req.TimeoutMillis = 10000
			req.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: topic, Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: 0}}}}
			return a.do(t, aclAlice, req).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode
		}
		wantCode(t, "DeleteRecords without DELETE", del(), kerr.TopicAuthorizationFailed)
		allowTopic(kadm.OpDelete)
		wantCode(t, "DeleteRecords with DELETE", del(), nil)
	})
	t.Run("DescribeTopics", func(t *testing.T) {
		other := a.topic(t, 1) // alice may not describe it
		listOffsets := func(name string) int16 {
			req := kmsg.NewPtrListOffsetsRequest()
			req.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: name, Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0, Timestamp: -1, CurrentLeaderEpoch: -1}}}}
			return a.do(t, aclAlice, req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode
		}
		epochs := func(name string) int16 {
			req := kmsg.NewPtrOffsetForLeaderEpochRequest()
			req.ReplicaID = -1
			req.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: name, Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{{Partition: 0, CurrentLeaderEpoch: -1, LeaderEpoch: 0}}}}
			return a.do(t, aclAlice, req).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode
		}
		producers := func(name string) int16 {
			req := kmsg.NewPtrDescribeProducersRequest()
			req.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: name, Partitions: []int32{0}}}
			return a.do(t, aclAlice, req).(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0].ErrorCode
		}
		partitions := func(name string) (int16, int32) {
			req := kmsg.NewPtrDescribeTopicPartitionsRequest()
			req.Topics = []kmsg.DescribeTopicPartitionsRequestTopic{{Topic: name}}
			req.ResponsePartitionLimit = 100
			st := a.do(t, aclAlice, req).(*kmsg.DescribeTopicPartitionsResponse).Topics[0]
			return st.ErrorCode, st.AuthorizedOperations
		}
		wantCode(t, "ListOffsets without DESCRIBE", listOffsets(other), kerr.TopicAuthorizationFailed)
		wantCode(t, "OffsetForLeaderEpoch without DESCRIBE", epochs(other), kerr.TopicAuthorizationFailed)
		wantCode(t, "DescribeProducers without READ", producers(other), kerr.TopicAuthorizationFailed)
		// A name that cannot be a topic is told apart before READ is
		// asked for, as Kafka's handleDescribeProducersRequest.
		bad := kmsg.NewPtrDescribeProducersRequest()
		bad.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: "no such/topic", Partitions: []int32{0}}}
		bp := a.do(t, aclAlice, bad).(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0]
		wantCode(t, "DescribeProducers of an invalid topic name without READ", bp.ErrorCode, kerr.InvalidTopicException)
		const badMsg = "Topic name is invalid: 'no such/topic' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
		if bp.ErrorMessage == nil || *bp.ErrorMessage != badMsg {
			t.Errorf("DescribeProducers of an invalid topic name: message %q, want %q", deref(bp.ErrorMessage), badMsg)
		}
		code, _ := partitions(other)
		wantCode(t, "DescribeTopicPartitions without DESCRIBE", code, kerr.TopicAuthorizationFailed)
		a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(other).Operations(kadm.OpRead))
		wantCode(t, "ListOffsets with READ", listOffsets(other), nil)
		wantCode(t, "OffsetForLeaderEpoch with READ", epochs(other), nil)
		wantCode(t, "DescribeProducers with READ", producers(other), nil)
		code, ops := partitions(other)
		wantCode(t, "DescribeTopicPartitions with READ", code, nil)
		if ops != 1<<3|1<<8 {
			t.Errorf("DescribeTopicPartitions authorized operations %b, want READ|DESCRIBE", ops)
		}
	})
	t.Run("Cluster", func(t *testing.T) {
		describeCluster := func() int32 {
			req := kmsg.NewPtrDescribeClusterRequest()
			req.IncludeClusterAuthorizedOperations = true
			return a.do(t, aclBob, req).(*kmsg.DescribeClusterResponse).ClusterAuthorizedOperations
		}
		elect := func() int16 {
			req := kmsg.NewPtrElectLeadersRequest()
			req.TimeoutMillis = 5000
			req.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: topic, Partitions: []int32{0}}}
			return a.do(t, aclBob, req).(*kmsg.ElectLeadersResponse).ErrorCode
		}
		reassign := func() int16 {
			req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
			req.TimeoutMillis = 5000
			req.Topics = []kmsg.AlterPartitionAssignmentsRequestTopic{{Topic: topic, Partitions: []kmsg.AlterPartitionAssignmentsRequestTopicPartition{{Partition: 0}}}}
			return a.do(t, aclBob, req).(*kmsg.AlterPartitionAssignmentsResponse).ErrorCode
		}
		listReassign := func() int16 {
			return a.do(t, aclBob, kmsg.NewPtrListPartitionReassignmentsRequest()).(*kmsg.ListPartitionReassignmentsResponse).ErrorCode
		}
		logDirs := func() int16 {
			return a.do(t, aclBob, kmsg.NewPtrDescribeLogDirsRequest()).(*kmsg.DescribeLogDirsResponse).ErrorCode
		}
		if ops := describeCluster(); ops != 0 {
			t.Errorf("DescribeCluster authorized operations without DESCRIBE: %b", ops)
		}
		wantCode(t, "ElectLeaders without ALTER", elect(), kerr.ClusterAuthorizationFailed)
		wantCode(t, "AlterPartitionReassignments without ALTER", reassign(), kerr.ClusterAuthorizationFailed)
		wantCode(t, "ListPartitionReassignments without DESCRIBE", listReassign(), kerr.ClusterAuthorizationFailed)
		wantCode(t, "DescribeLogDirs without DESCRIBE", logDirs(), kerr.ClusterAuthorizationFailed)
		a.grant(t, kadm.NewACLs().Allow(principal(aclBob)).Clusters().Operations(kadm.OpAlter))
		defer a.revoke(t, kadm.NewACLs().Allow(principal(aclBob)).Clusters().Operations(kadm.OpAlter))
		if ops := describeCluster(); ops != 1<<7|1<<8 {
			t.Errorf("DescribeCluster authorized operations with ALTER: %b, want ALTER|DESCRIBE", ops)
		}
		wantCode(t, "ElectLeaders with ALTER", elect(), nil)
		wantCode(t, "AlterPartitionReassignments with ALTER", reassign(), nil)
		wantCode(t, "ListPartitionReassignments with ALTER (implies DESCRIBE)", listReassign(), nil)
		wantCode(t, "DescribeLogDirs with ALTER (implies DESCRIBE)", logDirs(), nil)
	})
}

// TestACLConfigs: DescribeConfigs needs DESCRIBE_CONFIGS, AlterConfigs and
// IncrementalAlterConfigs ALTER_CONFIGS, on the topic or (for brokers) on
// the cluster.
func TestACLConfigs(t *testing.T) {
	a := startACL(t)
	topic := a.topic(t, 1)
	describe := func(typ kmsg.ConfigResourceType, name string) kmsg.DescribeConfigsResponseResource {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: typ, ResourceName: name}}
		return a.do(t, aclAlice, req).(*kmsg.DescribeConfigsResponse).Resources[0]
	}
	alter := func(typ kmsg.ConfigResourceType, name, key, value string) int16 {
		req := kmsg.NewPtrAlterConfigsRequest()
		req.Resources = []kmsg.AlterConfigsRequestResource{{ResourceType: typ, ResourceName: name, Configs: []kmsg.AlterConfigsRequestResourceConfig{{Name: key, Value: kmsg.StringPtr(value)}}}}
		return a.do(t, aclAlice, req).(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode
	}
	incremental := func(typ kmsg.ConfigResourceType, name, key, value string) int16 {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		req.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: typ, ResourceName: name,
			Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: key, Value: kmsg.StringPtr(value)}}}}
		return a.do(t, aclAlice, req).(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
	}
	d := describe(kmsg.ConfigResourceTypeTopic, topic)
	wantCode(t, "DescribeConfigs of a topic without DESCRIBE_CONFIGS", d.ErrorCode, kerr.TopicAuthorizationFailed)
	if len(d.Configs) != 0 || d.ErrorMessage == nil || *d.ErrorMessage != "Topic authorization failed." {
		t.Errorf("denied DescribeConfigs: %d configs, message %v", len(d.Configs), d.ErrorMessage)
	}
	wantCode(t, "DescribeConfigs of the broker", describe(kmsg.ConfigResourceTypeBroker, "").ErrorCode, kerr.ClusterAuthorizationFailed)
	wantCode(t, "AlterConfigs of a topic", alter(kmsg.ConfigResourceTypeTopic, topic, "retention.ms", "1000000"), kerr.TopicAuthorizationFailed)
	wantCode(t, "IncrementalAlterConfigs of a topic", incremental(kmsg.ConfigResourceTypeTopic, topic, "retention.ms", "1000000"), kerr.TopicAuthorizationFailed)
	wantCode(t, "IncrementalAlterConfigs of the broker", incremental(kmsg.ConfigResourceTypeBroker, "", "log.cleaner.delete.retention.ms", "1000000"), kerr.ClusterAuthorizationFailed)
	// A key named twice, then a null value, are refused before the
	// resource is authorized, as Kafka's ConfigAdminManager.preprocess.
	malformed := func(key2 string, v1, v2 *string) (legacy, incr kmsg.AlterConfigsResponseResource) {
		req := kmsg.NewPtrAlterConfigsRequest()
		req.Resources = []kmsg.AlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: topic,
			Configs: []kmsg.AlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: v1}, {Name: key2, Value: v2}}}}
		legacy = a.do(t, aclAlice, req).(*kmsg.AlterConfigsResponse).Resources[0]
		ireq := kmsg.NewPtrIncrementalAlterConfigsRequest()
		ireq.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: topic,
			Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: v1}, {Name: key2, Value: v2}}}}
		ir := a.do(t, aclAlice, ireq).(*kmsg.IncrementalAlterConfigsResponse).Resources[0]
		incr = kmsg.AlterConfigsResponseResource{ErrorCode: ir.ErrorCode, ErrorMessage: ir.ErrorMessage}
		return legacy, incr
	}
	for _, c := range []struct {
		what   string
		key2   string
		v1, v2 *string
		msg    string
	}{
		{"a key named twice", "retention.ms", kmsg.StringPtr("1"), kmsg.StringPtr("2"), "Error due to duplicate config keys"},
		{"null values", "segment.ms", nil, nil, "Null value not supported for : retention.ms, segment.ms"},
	} {
		legacy, incr := malformed(c.key2, c.v1, c.v2)
		for api, res := range map[string]kmsg.AlterConfigsResponseResource{"AlterConfigs": legacy, "IncrementalAlterConfigs": incr} {
			wantCode(t, api+" of a topic without ALTER_CONFIGS, with "+c.what, res.ErrorCode, kerr.InvalidRequest)
			if res.ErrorMessage == nil || *res.ErrorMessage != c.msg {
				t.Errorf("%s with %s: message %v, want %q", api, c.what, deref(res.ErrorMessage), c.msg)
			}
		}
	}
	// A BROKER resource's change is validated before authorization, as
	// Kafka's broker validates it before it forwards the request.
	wantCode(t, "IncrementalAlterConfigs of the broker with a bad value, without ALTER_CONFIGS",
		incremental(kmsg.ConfigResourceTypeBroker, "", "log.cleaner.delete.retention.ms", "abc"), kerr.InvalidRequest)
	wantCode(t, "AlterConfigs of the broker with a read-only key, without ALTER_CONFIGS",
		alter(kmsg.ConfigResourceTypeBroker, "", "broker.id", "7"), kerr.InvalidRequest)
	// A denied alteration carries the error's own message, as Kafka's
	// controller answers it (ApiError of the error alone).
	deniedAlter := kmsg.NewPtrAlterConfigsRequest()
	deniedAlter.Resources = []kmsg.AlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: topic,
		Configs: []kmsg.AlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1000000")}}}}
	if r := a.do(t, aclAlice, deniedAlter).(*kmsg.AlterConfigsResponse).Resources[0]; r.ErrorMessage == nil || *r.ErrorMessage != "Topic authorization failed." {
		t.Errorf("denied AlterConfigs of a topic: message %v, want Topic authorization failed.", r.ErrorMessage)
	}
	deniedInc := kmsg.NewPtrIncrementalAlterConfigsRequest()
	deniedInc.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeBroker,
		Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "log.cleaner.delete.retention.ms", Value: kmsg.StringPtr("1000000")}}}}
	if r := a.do(t, aclAlice, deniedInc).(*kmsg.IncrementalAlterConfigsResponse).Resources[0]; r.ErrorMessage == nil || *r.ErrorMessage != "Cluster authorization failed." {
		t.Errorf("denied IncrementalAlterConfigs of the broker: message %v, want Cluster authorization failed.", r.ErrorMessage)
	}
	// Client metrics subscriptions are the cluster's, as in Kafka.
	const clientMetrics = kmsg.ConfigResourceType(16)
	listClientMetrics := func() int16 {
		return a.do(t, aclAlice, kmsg.NewPtrListConfigResourcesRequest()).(*kmsg.ListConfigResourcesResponse).ErrorCode
	}
	wantCode(t, "IncrementalAlterConfigs of a client metrics subscription", incremental(clientMetrics, "sub", "metrics", "*"), kerr.ClusterAuthorizationFailed)
	wantCode(t, "AlterConfigs of a client metrics subscription", alter(clientMetrics, "sub", "metrics", "*"), kerr.ClusterAuthorizationFailed)
	wantCode(t, "DescribeConfigs of a client metrics subscription", describe(clientMetrics, "sub").ErrorCode, kerr.ClusterAuthorizationFailed)
	wantCode(t, "ListConfigResources", listClientMetrics(), kerr.ClusterAuthorizationFailed)
	// UpdateFeatures needs ALTER on the cluster.
	upd := kmsg.NewPtrUpdateFeaturesRequest()
	fu := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
	fu.Feature, fu.MaxVersionLevel, fu.UpgradeType = "transaction.version", 2, 1
	upd.FeatureUpdates = append(upd.FeatureUpdates, fu)
	wantCode(t, "UpdateFeatures", a.do(t, aclAlice, upd).(*kmsg.UpdateFeaturesResponse).ErrorCode, kerr.ClusterAuthorizationFailed)

	// ALTER_CONFIGS implies DESCRIBE_CONFIGS.
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(topic).Operations(kadm.OpAlterConfigs))
	if d := describe(kmsg.ConfigResourceTypeTopic, topic); d.ErrorCode != 0 || len(d.Configs) == 0 {
		t.Errorf("DescribeConfigs with ALTER_CONFIGS: %v, %d configs", kerr.ErrorForCode(d.ErrorCode), len(d.Configs))
	}
	// The authorized resources are answered first, then the denied ones
	// (Kafka's ConfigHelper.handleDescribeConfigsRequest).
	both := kmsg.NewPtrDescribeConfigsRequest()
	both.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeBroker}, {ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: topic}}
	if rs := a.do(t, aclAlice, both).(*kmsg.DescribeConfigsResponse).Resources; len(rs) != 2 || rs[0].ResourceName != topic || rs[0].ErrorCode != 0 ||
		rs[1].ResourceType != kmsg.ConfigResourceTypeBroker || rs[1].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("DescribeConfigs of the broker (denied) and the topic: %+v, want the topic answered first", rs)
	}
	wantCode(t, "AlterConfigs with ALTER_CONFIGS", alter(kmsg.ConfigResourceTypeTopic, topic, "retention.ms", "1000000"), nil)
	wantCode(t, "IncrementalAlterConfigs with ALTER_CONFIGS", incremental(kmsg.ConfigResourceTypeTopic, topic, "retention.ms", "2000000"), nil)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Clusters().Operations(kadm.OpDescribeConfigs))
	defer a.revoke(t, kadm.NewACLs().Allow(principal(aclAlice)).Clusters().Operations(kadm.OpDescribeConfigs))
	wantCode(t, "DescribeConfigs of the broker with DESCRIBE_CONFIGS on the cluster", describe(kmsg.ConfigResourceTypeBroker, "").ErrorCode, nil)
	wantCode(t, "IncrementalAlterConfigs of the broker with only DESCRIBE_CONFIGS", incremental(kmsg.ConfigResourceTypeBroker, "", "log.cleaner.delete.retention.ms", "1000000"), kerr.ClusterAuthorizationFailed)
	wantCode(t, "DescribeConfigs of a client metrics subscription with DESCRIBE_CONFIGS on the cluster", describe(clientMetrics, "sub").ErrorCode, nil)
	wantCode(t, "ListConfigResources with DESCRIBE_CONFIGS on the cluster", listClientMetrics(), nil)
	wantCode(t, "IncrementalAlterConfigs of a client metrics subscription with only DESCRIBE_CONFIGS", incremental(clientMetrics, "sub", "metrics", "*"), kerr.ClusterAuthorizationFailed)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Clusters().Operations(kadm.OpAlterConfigs))
	defer a.revoke(t, kadm.NewACLs().Allow(principal(aclAlice)).Clusters().Operations(kadm.OpAlterConfigs))
	wantCode(t, "IncrementalAlterConfigs of a client metrics subscription with ALTER_CONFIGS on the cluster", incremental(clientMetrics, "sub", "metrics", "*"), nil)
}

// TestACLScramAPIs: DescribeUserScramCredentials needs DESCRIBE on the
// cluster, AlterUserScramCredentials ALTER.
func TestACLScramAPIs(t *testing.T) {
	a := startACL(t)
	describe := func() int16 {
		return a.do(t, aclBob, kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()).(*kmsg.DescribeUserSCRAMCredentialsResponse).ErrorCode
	}
	alter := func() kmsg.AlterUserSCRAMCredentialsResponseResult {
		req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
		req.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{{Name: "nobody", Mechanism: 1}}
		return a.do(t, aclBob, req).(*kmsg.AlterUserSCRAMCredentialsResponse).Results[0]
	}
	wantCode(t, "DescribeUserScramCredentials without DESCRIBE", describe(), kerr.ClusterAuthorizationFailed)
	if r := alter(); r.User != "nobody" || r.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("AlterUserScramCredentials without ALTER: %s %v", r.User, kerr.ErrorForCode(r.ErrorCode))
	}
	a.grant(t, kadm.NewACLs().Allow(principal(aclBob)).Clusters().Operations(kadm.OpAlter))
	defer a.revoke(t, kadm.NewACLs().Allow(principal(aclBob)).Clusters().Operations(kadm.OpAlter))
	wantCode(t, "DescribeUserScramCredentials with ALTER", describe(), nil)
	wantCode(t, "AlterUserScramCredentials with ALTER", alter().ErrorCode, kerr.ResourceNotFound)
}

// TestACLApis: the ACL APIs themselves need DESCRIBE or ALTER on the
// cluster, validate as Kafka does, and what they store decides at once:
// prefixed patterns, the wildcard, User:*, hosts, deny over allow.
func TestACLApis(t *testing.T) {
	a := startACL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	describeReq := func() *kmsg.DescribeACLsRequest {
		req := kmsg.NewPtrDescribeACLsRequest()
		req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
		req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		return req
	}
	creation := func(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, who string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) kmsg.CreateACLsRequestCreation {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = rt, name, pt
		c.Principal, c.Host, c.Operation, c.PermissionType = who, "*", op, perm
		return c
	}
	create := func(user string, cs ...kmsg.CreateACLsRequestCreation) []kmsg.CreateACLsResponseResult {
		req := kmsg.NewPtrCreateACLsRequest()
		req.Creations = cs
		return a.do(t, user, req).(*kmsg.CreateACLsResponse).Results
	}
	deleteReq := func(f kmsg.DeleteACLsRequestFilter) *kmsg.DeleteACLsRequest {
		req := kmsg.NewPtrDeleteACLsRequest()
		req.Filters = []kmsg.DeleteACLsRequestFilter{f}
		return req
	}
	anyFilter := kmsg.DeleteACLsRequestFilter{ResourceType: kmsg.ACLResourceTypeTopic, ResourcePatternType: kmsg.ACLResourcePatternTypeAny,
		ResourceName: kmsg.StringPtr("nothing-" + randomName("x")), Operation: kmsg.ACLOperationAny, PermissionType: kmsg.ACLPermissionTypeAny}

	topicRead := creation(kmsg.ACLResourceTypeTopic, randomName("acl-t"), kmsg.ACLResourcePatternTypeLiteral, principal(aclBob), kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	wantCode(t, "DescribeAcls without DESCRIBE on the cluster", a.do(t, aclBob, describeReq()).(*kmsg.DescribeACLsResponse).ErrorCode, kerr.ClusterAuthorizationFailed)
	wantCode(t, "CreateAcls without ALTER on the cluster", create(aclBob, topicRead)[0].ErrorCode, kerr.ClusterAuthorizationFailed)
	wantCode(t, "DeleteAcls without ALTER on the cluster", a.do(t, aclBob, deleteReq(anyFilter)).(*kmsg.DeleteACLsResponse).Results[0].ErrorCode, kerr.ClusterAuthorizationFailed)

	// Validation, by admin.
	for _, c := range []struct {
		what string
		c    kmsg.CreateACLsRequestCreation
		msg  string
	}{
		{"a cluster not named kafka-cluster", creation(kmsg.ACLResourceTypeCluster, "other", kmsg.ACLResourcePatternTypeLiteral, "User:x", kmsg.ACLOperationAlter, kmsg.ACLPermissionTypeAllow), "The only valid name for the CLUSTER resource is kafka-cluster"},
		{"an empty name", creation(kmsg.ACLResourceTypeTopic, "", kmsg.ACLResourcePatternTypeLiteral, "User:x", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow), "Invalid empty resource name"},
		{"a name with '/'", creation(kmsg.ACLResourceTypeGroup, "a/b", kmsg.ACLResourcePatternTypeLiteral, "User:x", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow), "invalid resource name"},
		{"an unknown resource type", creation(42, "t", kmsg.ACLResourcePatternTypeLiteral, "User:x", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow), "Invalid resourceType"},
		{"an unknown pattern type", creation(kmsg.ACLResourceTypeTopic, "t", 42, "User:x", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow), "Invalid patternType"},
		{"an unknown operation", creation(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeLiteral, "User:x", 42, kmsg.ACLPermissionTypeAllow), "Invalid operation"},
		{"an unknown permission", creation(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeLiteral, "User:x", kmsg.ACLOperationRead, 42), "Invalid permissionType"},
		{"a principal without a type", creation(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeLiteral, "x", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow), "Could not parse principal"},
	} {
		res := create(aclAdmin, c.c, topicRead)
		if res[0].ErrorCode != kerr.InvalidRequest.Code || res[0].ErrorMessage == nil || !strings.Contains(*res[0].ErrorMessage, c.msg) {
			t.Errorf("CreateAcls of %s: %v %v, want INVALID_REQUEST %q", c.what, kerr.ErrorForCode(res[0].ErrorCode), res[0].ErrorMessage, c.msg)
		}
		wantCode(t, "the valid creation beside "+c.what, res[1].ErrorCode, nil)
	}
	// ANY where an ACL needs a value: Kafka cannot make a binding of it
	// and answers the whole request UNKNOWN_SERVER_ERROR.
	for _, res := range create(aclAdmin, creation(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeAny, "User:x", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow), topicRead) {
		wantCode(t, "CreateAcls with a pattern type ANY", res.ErrorCode, kerr.UnknownServerError)
	}
	// More than Kafka's controller takes in one batch.
	many := make([]kmsg.CreateACLsRequestCreation, 10001)
	for i := range many {
		many[i] = creation(kmsg.ACLResourceTypeTopic, "many-"+strconv.Itoa(i), kmsg.ACLResourcePatternTypeLiteral, "User:x", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	}
	if res := create(aclAdmin, many...); len(res) != len(many) || res[0].ErrorCode != kerr.PolicyViolation.Code {
		t.Errorf("10001 creations: %d results, %v", len(res), kerr.ErrorForCode(res[0].ErrorCode))
	}
	// Unknown codes in a deletion filter; a huge name in a description.
	bad := anyFilter
	bad.Operation = 42
	wantCode(t, "DeleteAcls with an unknown operation", a.do(t, aclAdmin, deleteReq(bad)).(*kmsg.DeleteACLsResponse).Results[0].ErrorCode, kerr.InvalidRequest)
	// A name of 512 KiB in a (flexible) description is longer than a
	// Kafka string: Kafka's reader refuses it and the connection closes.
	// One of 32,767 bytes, the most a string holds, matches nothing.
	huge := describeReq()
	huge.ResourceName = kmsg.StringPtr(strings.Repeat("x", 512<<10))
	if _, err := a.doErr(t, aclAdmin, huge); err == nil {
		t.Errorf("DescribeAcls with a 512 KiB name was answered")
	}
	huge.ResourceName = kmsg.StringPtr(strings.Repeat("x", 0x7fff))
	if r := a.do(t, aclAdmin, huge).(*kmsg.DescribeACLsResponse); r.ErrorCode != 0 || len(r.Resources) != 0 {
		t.Errorf("DescribeAcls with a 32,767-byte name: %v, %d resources", kerr.ErrorForCode(r.ErrorCode), len(r.Resources))
	}
	// UNKNOWN (0) codes cannot be parsed by Kafka: the connection closes,
	// and the broker goes on serving.
	zero := kmsg.NewPtrCreateACLsRequest()
	zero.Creations = []kmsg.CreateACLsRequestCreation{creation(0, "t", kmsg.ACLResourcePatternTypeLiteral, "User:x", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)}
	if _, err := a.doErr(t, aclAdmin, zero); err == nil {
		t.Error("CreateAcls with resource type UNKNOWN was answered")
	}
	wantCode(t, "DescribeAcls after the bad requests", a.do(t, aclAdmin, describeReq()).(*kmsg.DescribeACLsResponse).ErrorCode, nil)

	// bob manages ACLs once he may ALTER the cluster.
	a.grant(t, kadm.NewACLs().Allow(principal(aclBob)).Clusters().Operations(kadm.OpAlter))
	wantCode(t, "CreateAcls with ALTER", create(aclBob, topicRead)[0].ErrorCode, nil)
	found := false
	for _, r := range a.do(t, aclBob, describeReq()).(*kmsg.DescribeACLsResponse).Resources {
		found = found || r.ResourceName == topicRead.ResourceName && r.ResourcePatternType == kmsg.ACLResourcePatternTypeLiteral && len(r.ACLs) == 1 && r.ACLs[0].Principal == principal(aclBob)
	}
	if !found {
		t.Error("DescribeAcls (with ALTER, implying DESCRIBE) does not list the ACL bob created")
	}
	del := anyFilter
	del.ResourceName = kmsg.StringPtr(topicRead.ResourceName)
	if r := a.do(t, aclBob, deleteReq(del)).(*kmsg.DeleteACLsResponse).Results[0]; r.ErrorCode != 0 || len(r.MatchingACLs) != 1 || r.MatchingACLs[0].Principal != principal(aclBob) {
		t.Errorf("DeleteAcls: %v, %+v", kerr.ErrorForCode(r.ErrorCode), r.MatchingACLs)
	}
	a.revoke(t, kadm.NewACLs().Allow(principal(aclBob)).Clusters().Operations(kadm.OpAlter))

	// The rules, end to end: a prefixed ALLOW, User:*, a DENY that wins,
	// a host that is not the client's.
	prefix := randomName("acl-pfx") + "-"
	pt := prefix + "orders"
	ctxT, cancelT := context.WithTimeout(ctx, 30*time.Second)
	defer cancelT()
	if _, err := a.admin(t).CreateTopic(ctxT, 1, 1, nil, pt); err != nil {
		t.Fatal(err)
	}
	produce := func(user string) int16 { return produceCode(a.do(t, user, produceReq(pt, recordBatch(false), nil))) }
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(prefix).ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite))
	wantCode(t, "produce through a prefixed ALLOW", produce(aclAlice), nil)
	wantCode(t, "produce as bob (the prefixed ALLOW is alice's)", produce(aclBob), kerr.TopicAuthorizationFailed)
	a.grant(t, kadm.NewACLs().Allow("User:*").Topics(pt).Operations(kadm.OpWrite))
	// Revoked at the end: it gives everyone WRITE on some topic, which an
	// idempotent producer needs (TestACLIdempotentProducer).
	defer a.revoke(t, kadm.NewACLs().Allow("User:*").Topics(pt).Operations(kadm.OpWrite))
	wantCode(t, "produce as bob through User:*", produce(aclBob), nil)
	a.grant(t, kadm.NewACLs().Deny(principal(aclAlice)).Topics(pt).Operations(kadm.OpAll))
	wantCode(t, "produce as alice with a DENY of ALL", produce(aclAlice), kerr.TopicAuthorizationFailed)
	a.grant(t, kadm.NewACLs().Deny("User:*").DenyHosts("10.9.9.9").Topics(pt).Operations(kadm.OpWrite))
	wantCode(t, "produce as bob with a DENY for another host", produce(aclBob), nil)
	a.grant(t, kadm.NewACLs().Deny("User:*").DenyHosts("127.0.0.1").Topics(prefix).ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite))
	wantCode(t, "produce as bob with a prefixed DENY for his host", produce(aclBob), kerr.TopicAuthorizationFailed)
	wantCode(t, "produce as admin (a super user) despite the DENY", produce(aclAdmin), nil)

	// kadm's view of what was stored.
	described, err := a.admin(t).DescribeACLs(ctx, kadm.NewACLs().Topics(pt, prefix).ResourcePatternType(kadm.ACLPatternAny).
		Operations(kadm.OpAny).Allow().AllowHosts().Deny().DenyHosts())
	if err != nil {
		t.Fatalf("DescribeACLs: %v", err)
	}
	n := 0
	for _, d := range described {
		if d.Err != nil {
			t.Fatalf("DescribeACLs: %v", d.Err)
		}
		n += len(d.Described)
	}
	if n != 5 {
		t.Errorf("DescribeACLs of %s and prefix %s: %d ACLs, want 5: %+v", pt, prefix, n, described)
	}
}

// TestACLDenialsLoggedAndCounted: a denial is logged with the principal,
// client address, operation and resource, and counted by the metrics.
func TestACLDenialsLoggedAndCounted(t *testing.T) {
	a := startACL(t)
	topic := a.topic(t, 1)
	// Denials are logged at most 10 a second: deny until one is.
	line := `"principal":"User:bob","client":"127.0.0.1","operation":"Write","resource":"Topic:LITERAL:` + topic + `","api":"Produce"`
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(a.b.Logs(1<<30), line) {
		if time.Now().After(deadline) {
			t.Fatalf("no broker log line with %s within 10s", line)
		}
		wantCode(t, "produce", produceCode(a.do(t, aclBob, produceReq(topic, recordBatch(false), nil))), kerr.TopicAuthorizationFailed)
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get("http://" + a.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`gregor_authorization_denied_total{operation="Write",resource_type="Topic"} `, "gregor_acls "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestACLNoAuthorizer: without authorizer.class.name the ACL APIs answer
// SECURITY_DISABLED and authorized operations are every operation.
func TestACLNoAuthorizer(t *testing.T) {
	if !usingGregor() {
		t.Skip("COMPAT_BOOTSTRAP is set: the broker may have an authorizer")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := kmsg.NewPtrDescribeACLsRequest()
	d.ResourceType, d.ResourcePatternType, d.Operation, d.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	dr, err := d.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "DescribeAcls without an authorizer", dr.ErrorCode, kerr.SecurityDisabled)
	c := kmsg.NewPtrDescribeClusterRequest()
	c.IncludeClusterAuthorizedOperations = true
	cr, err := c.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if cr.ClusterAuthorizedOperations != 1<<5|1<<7|1<<8|1<<9|1<<10|1<<11|1<<12 {
		t.Errorf("cluster authorized operations without an authorizer: %b", cr.ClusterAuthorizedOperations)
	}
}

// awaitCode polls code until it is 0, for at most 30 s, while it is one
// of the errors of a coordinator still being set up.
func awaitCode(t *testing.T, what string, code func() int16) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := code()
		switch c {
		case kerr.CoordinatorNotAvailable.Code, kerr.NotCoordinator.Code, kerr.CoordinatorLoadInProgress.Code:
			if time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				continue
			}
		}
		wantCode(t, what+" (polled while the coordinator was not ready, up to 30s)", c, nil)
		return
	}
}
