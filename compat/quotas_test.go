package compat

// Client quotas (KIP-13/55/124/219/599) through the admin API and as a
// client feels them: DescribeClientQuotas shows what AlterClientQuotas
// set, with Kafka's filter rules and validation; a producer held to
// producer_byte_rate averages its quota and is told throttle_time_ms; a
// consumer over consumer_byte_rate is throttled; a strict controller
// mutation quota refuses topic creation with THROTTLING_QUOTA_EXCEEDED.
// Every quota here is on a random client id, so other tests (and a real
// Kafka under COMPAT_BOOTSTRAP) are not affected.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

func strp(s string) *string { return &s }

func quotaAdmin(t *testing.T, addr string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func setQuota(t *testing.T, adm *kadm.Client, entity kadm.ClientQuotaEntity, ops ...kadm.AlterClientQuotaOp) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: ops}})
	if err != nil {
		t.Fatalf("AlterClientQuotas %v: %v", entity, err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("AlterClientQuotas %v: %v %s", entity, r.Err, r.ErrMessage)
		}
	}
}

// setQuotaInForce sets quotas on an entity and waits until every broker
// enforces them: a probe client id gets a quota in the same request,
// after the entity's, and each broker is sent a produce request past it
// until it answers throttled (a cluster applies quota changes as
// ZooKeeper's watches fire, in order).
func setQuotaInForce(t *testing.T, addr string, entity kadm.ClientQuotaEntity, ops ...kadm.AlterClientQuotaOp) {
	t.Helper()
	probe := randomName("quota-probe")
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(probe))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := kadm.NewClient(cl).AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: entity, Ops: ops},
		{Entity: clientEntity(probe), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1000}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("AlterClientQuotas %v: %v", r.Entity, r.Err)
		}
	}
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range md.Brokers {
		waitFor(t, fmt.Sprintf("broker %d to enforce the new quotas", b.NodeID), 20*time.Second, func() bool {
			return probeThrottled(ctx, cl.Broker(int(b.NodeID)))
		})
	}
}

// probeThrottled sends a broker one 30 KB produce request (to no topic:
// the quota counts the request) and reports whether it was throttled.
func probeThrottled(ctx context.Context, b *kgo.Broker) bool {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = 1, 1000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "quota-probe-no-such-topic"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = make([]byte, 30000)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := b.Request(rctx, req)
	return err == nil && resp.(*kmsg.ProduceResponse).ThrottleMillis > 0
}

func clientEntity(id string) kadm.ClientQuotaEntity {
	return kadm.ClientQuotaEntity{{Type: "client-id", Name: strp(id)}}
}

// describeQuotas renders a DescribeClientQuotas answer as sorted lines
// "entity: key=value ...".
func describeQuotas(t *testing.T, adm *kadm.Client, strict bool, comps ...kadm.DescribeClientQuotaComponent) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := adm.DescribeClientQuotas(ctx, strict, comps)
	if err != nil {
		t.Fatalf("DescribeClientQuotas: %v", err)
	}
	var out []string
	for _, q := range got {
		ents := make([]string, 0, len(q.Entity))
		for _, e := range q.Entity {
			ents = append(ents, e.String())
		}
		sort.Strings(ents)
		vals := make([]string, 0, len(q.Values))
		for _, v := range q.Values {
			vals = append(vals, v.Key+"="+strconv.FormatFloat(v.Value, 'f', -1, 64))
		}
		sort.Strings(vals)
		out = append(out, strings.Join(ents, ",")+": "+strings.Join(vals, " "))
	}
	sort.Strings(out)
	return out
}

func TestClientQuotasDescribeAndAlter(t *testing.T) {
	adm := quotaAdmin(t, bootstrap(t))
	client, user := randomName("qclient"), randomName("quser")
	setQuota(t, adm, clientEntity(client),
		kadm.AlterClientQuotaOp{Key: "producer_byte_rate", Value: 1024},
		kadm.AlterClientQuotaOp{Key: "consumer_byte_rate", Value: 2048})
	setQuota(t, adm, kadm.ClientQuotaEntity{{Type: "user", Name: strp(user)}}, kadm.AlterClientQuotaOp{Key: "request_percentage", Value: 50.5})
	setQuota(t, adm, kadm.ClientQuotaEntity{{Type: "user", Name: strp(user)}, {Type: "client-id", Name: strp(client)}},
		kadm.AlterClientQuotaOp{Key: "controller_mutation_rate", Value: 5})

	exactClient := kadm.DescribeClientQuotaComponent{Type: "client-id", MatchName: strp(client), MatchType: 0}
	exactUser := kadm.DescribeClientQuotaComponent{Type: "user", MatchName: strp(user), MatchType: 0}
	anyClient := kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: 2}
	clientOnly := "client-id=" + client + ": consumer_byte_rate=2048 producer_byte_rate=1024"
	both := "client-id=" + client + ",user=" + user + ": controller_mutation_rate=5"
	for _, tc := range []struct {
		name   string
		strict bool
		comps  []kadm.DescribeClientQuotaComponent
		want   []string
	}{
		{"client, not strict: entities with a user part too", false, []kadm.DescribeClientQuotaComponent{exactClient}, []string{both, clientOnly}},
		{"client, strict: only the client entity", true, []kadm.DescribeClientQuotaComponent{exactClient}, []string{clientOnly}},
		{"user and any client", false, []kadm.DescribeClientQuotaComponent{exactUser, anyClient}, []string{both}},
		{"user, strict", true, []kadm.DescribeClientQuotaComponent{exactUser}, []string{"user=" + user + ": request_percentage=50.5"}},
	} {
		got := describeQuotas(t, adm, tc.strict, tc.comps...)
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}

	// Removing a key keeps the others; removing the last drops the entity.
	setQuota(t, adm, clientEntity(client), kadm.AlterClientQuotaOp{Key: "consumer_byte_rate", Remove: true})
	if got := describeQuotas(t, adm, true, exactClient); len(got) != 1 || got[0] != "client-id="+client+": producer_byte_rate=1024" {
		t.Errorf("after removing consumer_byte_rate: %q", got)
	}
	setQuota(t, adm, clientEntity(client), kadm.AlterClientQuotaOp{Key: "producer_byte_rate", Remove: true})
	if got := describeQuotas(t, adm, true, exactClient); len(got) != 0 {
		t.Errorf("after removing every key: %q", got)
	}

	// Validation, entry by entry, as Kafka does.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bad := []kadm.AlterClientQuotaEntry{
		{Entity: clientEntity(client), Ops: []kadm.AlterClientQuotaOp{{Key: "no_such_quota", Value: 1}}},
		{Entity: clientEntity(client), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1.5}}},
		{Entity: clientEntity(""), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 10}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "no-such-type", Name: strp("x")}}, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 10}}},
	}
	res, err := adm.AlterClientQuotas(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(bad) {
		t.Fatalf("%d results for %d entries", len(res), len(bad))
	}
	for i, r := range res {
		if !errors.Is(r.Err, kerr.InvalidRequest) {
			t.Errorf("entry %d (%v): %v %s, want INVALID_REQUEST", i, bad[i].Entity, r.Err, r.ErrMessage)
		}
	}
	if got := describeQuotas(t, adm, true, exactClient); len(got) != 0 {
		t.Errorf("refused alterations stored something: %q", got)
	}
	// Duplicate filter components are refused whole.
	if _, err := adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{exactClient, exactClient}); !errors.Is(err, kerr.InvalidRequest) {
		t.Errorf("duplicate components: %v, want INVALID_REQUEST", err)
	}
}

// TestProducerHeldToByteRate: a producer that sends as fast as it can
// under producer_byte_rate averages its quota (within 10%) over the first
// ten windows and is told to back off (throttle_time_ms > 0).
func TestProducerHeldToByteRate(t *testing.T) {
	addr := bootstrap(t)
	adm := quotaAdmin(t, addr)
	topic, client := randomName("quota"), randomName("throttled-producer")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	const quota = 200 << 10 // bytes per second
	setQuotaInForce(t, addr, clientEntity(client), kadm.AlterClientQuotaOp{Key: "producer_byte_rate", Value: quota})
	var throttles atomic.Int64
	var maxThrottle atomic.Int64
	p, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(client), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(8<<10),
		kgo.MaxProduceRequestsInflightPerBroker(1), kgo.ProducerLinger(0), kgo.MaxBufferedRecords(64), kgo.DisableIdempotentWrite(), // else 5 requests in flight, past the throttle
		kgo.WithHooks(throttleHook(func(d time.Duration) {
			throttles.Add(1)
			if int64(d) > maxThrottle.Load() {
				maxThrottle.Store(int64(d))
			}
		})))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Kafka measures rates over quota.window.num (11) windows of a
	// second and counts a new client's first bytes over at least ten of
	// them: a client that sends as fast as it may gets its first ten
	// seconds' worth at once, is then throttled, and over the span of the
	// eleven windows averages its quota.
	const measure = 11 * time.Second
	value := make([]byte, 1000)
	var acked atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(measure)
	var produceErr atomic.Value
	for time.Now().Before(deadline) {
		wg.Add(1)
		p.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				produceErr.Store(err)
				return
			}
			if time.Now().Before(deadline) {
				acked.Add(int64(len(r.Value)))
			}
		})
	}
	wg.Wait()
	if err, _ := produceErr.Load().(error); err != nil {
		t.Fatalf("producing: %v", err)
	}
	rate := float64(acked.Load()) / measure.Seconds()
	t.Logf("produced %.0f B/s against a quota of %d B/s (%.3f of it); %d throttled responses, the longest %v",
		rate, quota, rate/quota, throttles.Load(), time.Duration(maxThrottle.Load()))
	if rate > 1.1*quota || rate < 0.9*quota {
		t.Errorf("produced %.0f B/s, more than 10%% away from the quota of %d B/s", rate, quota)
	}
	if throttles.Load() == 0 {
		t.Error("no response carried throttle_time_ms > 0")
	}
}

// throttleHook calls fn with each throttle a broker imposes.
type throttleHook func(time.Duration)

func (h throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) { h(d) }

// TestConsumerOverByteRateIsThrottled: a consumer reading faster than
// consumer_byte_rate allows is told to back off.
func TestConsumerOverByteRateIsThrottled(t *testing.T) {
	addr := bootstrap(t)
	adm := quotaAdmin(t, addr)
	topic, client := randomName("quota-fetch"), randomName("throttled-consumer")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	p, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(16<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	value := make([]byte, 1000)
	const n = 300
	for i := 0; i < n; i++ {
		p.Produce(ctx, &kgo.Record{Value: value}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// 300 KB at 10 KB/s: past ten windows' worth at once.
	setQuotaInForce(t, addr, clientEntity(client), kadm.AlterClientQuotaOp{Key: "consumer_byte_rate", Value: 10 << 10})
	var throttles atomic.Int64
	c, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(client), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(400<<10),
		kgo.WithHooks(throttleHook(func(time.Duration) { throttles.Add(1) })))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A fetch takes at most ten windows' worth (100 KB); the second is
	// over the quota.
	got := 0
	for got < n && throttles.Load() == 0 && ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := c.PollFetches(pctx)
		pcancel()
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("after %d records: %v", got, err)
			}
		})
		got += fs.NumRecords()
	}
	if throttles.Load() == 0 {
		t.Errorf("read %d records (%d KB) under a 10 KB/s quota without being throttled", got, got)
	}
}

// TestControllerMutationQuotaIsStrict: once a client's partition
// mutations use up controller_mutation_rate's bucket, CreateTopics v6+
// is refused with THROTTLING_QUOTA_EXCEEDED and a throttle time.
func TestControllerMutationQuotaIsStrict(t *testing.T) {
	addr := bootstrap(t)
	adm := quotaAdmin(t, addr)
	client := randomName("mutator")
	// 1 partition a second: a bucket of 11 (quota x 11 windows of 1 s).
	setQuotaInForce(t, addr, clientEntity(client), kadm.AlterClientQuotaOp{Key: "controller_mutation_rate", Value: 1})
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(client), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	create := func(name string, partitions int32) (*kmsg.CreateTopicsResponse, error) {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
		req.Topics = append(req.Topics, rt)
		return req.RequestWith(ctx, cl)
	}
	first, second := randomName("mutated"), randomName("refused")
	resp, err := create(first, 20)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("first creation (tokens left): error %d", code)
	}
	resp, err = create(second, 1)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version < 6 {
		t.Skipf("CreateTopics v%d: the quota is strict from v6", resp.Version)
	}
	if code := resp.Topics[0].ErrorCode; code != kerr.ThrottlingQuotaExceeded.Code {
		t.Errorf("second creation with the bucket 9 tokens short: error %d, want THROTTLING_QUOTA_EXCEEDED", code)
	}
	if resp.ThrottleMillis <= 0 {
		t.Errorf("refused creation carries throttle_time_ms %d", resp.ThrottleMillis)
	}
	// A topic bound to fail costs nothing and gets its own error, as
	// Kafka charges a topic only once it passed its checks: creating an
	// existing one with the bucket empty is TOPIC_ALREADY_EXISTS, not
	// THROTTLING_QUOTA_EXCEEDED ("create, ignore TopicExists").
	// A fresh connection of the same client: the first one holds its
	// requests back for the throttle time, as KIP-219 asks.
	again, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(client), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = first, 20, 1
	req.Topics = append(req.Topics, rt)
	resp, err = req.RequestWith(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != kerr.TopicAlreadyExists.Code {
		t.Errorf("creating an existing topic with the bucket empty: %v, want TOPIC_ALREADY_EXISTS", kerr.ErrorForCode(code))
	}
	adm.DeleteTopics(ctx, first, second)
}

// TestAutoCreateHeldToControllerMutationQuota: a topic auto-created on a
// Metadata request counts against its client's controller_mutation_rate,
// as Kafka 4.0 forwards the creation to its controller on the client's
// behalf; with the bucket empty the topic is not created (the answer is
// UNKNOWN_TOPIC_OR_PARTITION, which clients retry) until it refills.
func TestAutoCreateHeldToControllerMutationQuota(t *testing.T) {
	addr := bootstrap(t)
	adm := quotaAdmin(t, addr)
	client := randomName("auto-creator")
	// 1 partition a second: a bucket of 11 (quota x 11 windows of 1 s).
	setQuotaInForce(t, addr, clientEntity(client), kadm.AlterClientQuotaOp{Key: "controller_mutation_rate", Value: 1})
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(client), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The bucket is each broker's: the CreateTopics that empties it and
	// the Metadata that auto-creates go to one broker, the controller
	// (where kgo sends CreateTopics).
	cmd, err := kadm.NewClient(cl).Metadata(ctx)
	if err != nil || cmd.Controller < 0 {
		t.Fatalf("the controller: %v, %d", err, cmd.Controller)
	}
	ctl := cl.Broker(int(cmd.Controller))
	emptied := randomName("mutated")
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = emptied, 20, 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, ctl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("creating a topic of 20 partitions with the bucket full: %v", kerr.ErrorForCode(code))
	}
	defer adm.DeleteTopics(context.Background(), emptied)
	auto := randomName("auto-created")
	defer adm.DeleteTopics(context.Background(), auto)
	autoCreate := func() int16 {
		md := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(auto)
		md.Topics = append(md.Topics, mt)
		md.AllowAutoTopicCreation = true
		mresp, err := md.RequestWith(ctx, ctl)
		if err != nil {
			t.Fatal(err)
		}
		return mresp.Topics[0].ErrorCode
	}
	if code := autoCreate(); code != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("auto-creating with the bucket 9 short: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(code))
	}
	topics, err := adm.ListTopics(ctx, auto)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has(auto) {
		t.Errorf("%s was auto-created with its client's controller mutation quota used up", auto)
	}
	// The bucket is back above zero nine seconds later.
	waitFor(t, "the auto-creation once the bucket refilled", 30*time.Second, func() bool {
		return autoCreate() == 0
	})
}

// TestAlterClientQuotasDuplicateKey: an entry naming a key twice
// (kafka-configs --add-config k=v --delete-config k of a key already set
// sends both) is refused
// as Kafka refuses it, with the words kafka-configs prints.
func TestAlterClientQuotasDuplicateKey(t *testing.T) {
	addr := bootstrap(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	user := randomName("dup-key")
	req := kmsg.NewPtrAlterClientQuotasRequest()
	e := kmsg.NewAlterClientQuotasRequestEntry()
	ent := kmsg.NewAlterClientQuotasRequestEntryEntity()
	ent.Type, ent.Name = "user", kmsg.StringPtr(user)
	e.Entity = append(e.Entity, ent)
	set := kmsg.NewAlterClientQuotasRequestEntryOp()
	set.Key, set.Value = "producer_byte_rate", 1024
	del := kmsg.NewAlterClientQuotasRequestEntryOp()
	del.Key, del.Remove = "producer_byte_rate", true
	e.Ops = append(e.Ops, set, del)
	req.Entries = append(req.Entries, e)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Entries[0]
	want := "Ignoring duplicate entity ClientQuotaEntity(entries={user=" + user + "})"
	if got.ErrorCode != kerr.InvalidRequest.Code || got.ErrorMessage == nil || *got.ErrorMessage != want {
		t.Errorf("a key set and removed in one entry: %v %v, want INVALID_REQUEST %q", kerr.ErrorForCode(got.ErrorCode), got.ErrorMessage, want)
	}
	if q := describeQuotas(t, kadm.NewClient(cl), true, kadm.DescribeClientQuotaComponent{Type: "user", MatchName: kmsg.StringPtr(user)}); len(q) != 0 {
		t.Errorf("the refused entry stored %v", q)
	}
}

// TestDefaultClientIDQuotaSparesEmptyClientID: Kafka looks a client's
// quota up by the non-empty parts of its usage key
// (DefaultQuotaCallback.quotaLimit), so a quota on the default client id
// holds back every client with a client id and none with an empty (or
// null) one. A broker of its own: a default quota would slow every other
// test.
func TestDefaultClientIDQuotaSparesEmptyClientID(t *testing.T) {
	b := brokertest.Start(t, brokertest.Options{})
	adm := quotaAdmin(t, b.Addr)
	setQuota(t, adm, kadm.ClientQuotaEntity{{Type: "client-id"}}, kadm.AlterClientQuotaOp{Key: "producer_byte_rate", Value: 1000})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := func(id string) *kgo.Broker {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ClientID(id))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return cl.Broker(int(md.Brokers[0].NodeID))
	}
	named, empty := client("named"), client("")
	waitFor(t, "a named client's produce to be throttled by the default client id's quota", 10*time.Second, func() bool {
		return probeThrottled(ctx, named)
	})
	// Three 30 KB requests: past ten windows' worth of 1000 B/s.
	for i := range 3 {
		if probeThrottled(ctx, empty) {
			t.Fatalf("request %d of a client with an empty client id was throttled by the default client id's quota", i+1)
		}
	}
}

// TestThrottledDeletionNamesItsTopic: a deletion refused with
// THROTTLING_QUOTA_EXCEEDED answers with the topic's name and id however
// the request named it, as Kafka's ControllerApis.deleteTopics answers
// every topic it passed to the controller.
func TestThrottledDeletionNamesItsTopic(t *testing.T) {
	addr := bootstrap(t)
	adm := quotaAdmin(t, addr)
	client := randomName("deleter")
	setQuotaInForce(t, addr, clientEntity(client), kadm.AlterClientQuotaOp{Key: "controller_mutation_rate", Value: 1})
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(client), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	byID, byName := randomName("del-by-id"), randomName("del-by-name")
	defer adm.DeleteTopics(context.Background(), byID, byName)
	ids := map[string][16]byte{}
	for _, name := range []string{byID, byName} {
		// 2 x 20 partitions: the bucket of 11 ends 9 below zero after
		// the first (a strict request takes a topic while any is left).
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 20, 1
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if name == byID && resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("creating %s: %v", name, kerr.ErrorForCode(resp.Topics[0].ErrorCode))
		}
		ids[name] = resp.Topics[0].TopicID
	}
	// The second was refused: make it with another client.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, byName); err != nil {
		t.Fatal(err)
	}
	md, err := adm.Metadata(ctx, byName)
	if err != nil {
		t.Fatal(err)
	}
	ids[byName] = md.Topics[byName].ID
	// A fresh connection of the same client: the first one holds its
	// requests back for the throttle time, as KIP-219 asks, by which
	// time the bucket has refilled.
	again, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(client), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 10000
	a, b := kmsg.NewDeleteTopicsRequestTopic(), kmsg.NewDeleteTopicsRequestTopic()
	a.TopicID = ids[byID]
	b.Topic = kmsg.StringPtr(byName)
	req.Topics = append(req.Topics, a, b)
	resp, err := req.RequestWith(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version < 6 {
		t.Skipf("DeleteTopics v%d names topics only", resp.Version)
	}
	got := map[string][16]byte{}
	for _, rt := range resp.Topics {
		if rt.ErrorCode != kerr.ThrottlingQuotaExceeded.Code {
			t.Errorf("deletion with the bucket empty: %v, want THROTTLING_QUOTA_EXCEEDED", kerr.ErrorForCode(rt.ErrorCode))
		}
		if rt.Topic == nil {
			t.Errorf("refused deletion of %x answered without its name", rt.TopicID)
			continue
		}
		got[*rt.Topic] = rt.TopicID
	}
	for name, id := range ids {
		if got[name] != id {
			t.Errorf("refused deletion of %s answered with id %x, want %x", name, got[name], id)
		}
	}
}
