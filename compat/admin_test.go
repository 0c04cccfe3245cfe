package compat

// Administrative APIs driven through kadm and raw kmsg requests: configs
// (describe, alter, incremental alter) of topics and brokers, create
// partitions, delete records, offset for leader epoch, log dirs, cluster
// description and paginated topic description.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"gregor/internal/wait"
)

// adminEnv is a client on the broker under test and a context for a test.
type adminEnv struct {
	t   *testing.T
	ctx context.Context
	cl  *kgo.Client
	adm *kadm.Client
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	addr := bootstrap(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &adminEnv{t: t, ctx: ctx, cl: cl, adm: kadm.NewClient(cl)}
}

// topic creates a topic with replication factor 1 and configs.
func (e *adminEnv) topic(prefix string, partitions int32, configs map[string]*string) string {
	e.t.Helper()
	name := randomName(prefix)
	resp, err := e.adm.CreateTopic(e.ctx, partitions, -1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		e.t.Fatalf("creating %s: %v", name, err)
	}
	// On a cluster the other brokers learn a new topic's leaders a moment
	// after the one that created it, as in Kafka; requests this client
	// sends go to any of them.
	awaitLeadersEverywhere(e.ctx, e.t, e.cl, name, partitions)
	return name
}

// produce writes n records to a partition and waits for them.
func (e *adminEnv) produce(topic string, partition int32, n int) {
	e.t.Helper()
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Partition: partition, Value: []byte(fmt.Sprint(i))}
		if err := e.cl.ProduceSync(e.ctx, r).FirstErr(); err != nil {
			e.t.Fatalf("producing to %s/%d: %v", topic, partition, err)
		}
	}
}

// request issues a raw request to the broker that should answer it.
func (e *adminEnv) request(req kmsg.Request) kmsg.Response {
	e.t.Helper()
	resp, err := e.cl.Request(e.ctx, req)
	if err != nil {
		e.t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// pinned returns a client that speaks at most version v of API key.
func (e *adminEnv) pinned(key, v int16) *kgo.Client {
	e.t.Helper()
	vs := kversion.Tip()
	vs.SetMaxKeyVersion(key, v)
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(e.t)), kgo.MaxVersions(vs))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cl.Close)
	return cl
}

// brokerID is the id of the (first) broker in metadata.
func (e *adminEnv) brokerID() int32 {
	e.t.Helper()
	m, err := e.adm.BrokerMetadata(e.ctx)
	if err != nil || len(m.Brokers) == 0 {
		e.t.Fatalf("broker metadata: %v (%d brokers)", err, len(m.Brokers))
	}
	return m.Brokers[0].NodeID
}

// describeConfigs describes one resource with synonyms and documentation
// at the newest version, returning its configs by name.
func (e *adminEnv) describeConfigs(typ kmsg.ConfigResourceType, name string) (map[string]kmsg.DescribeConfigsResponseResourceConfig, int16) {
	e.t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = typ, name
	req.Resources = append(req.Resources, rr)
	resp := e.request(req).(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 1 {
		e.t.Fatalf("describe configs of %s: %d resources", name, len(resp.Resources))
	}
	out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		out[c.Name] = c
	}
	return out, resp.Resources[0].ErrorCode
}

// incrementalAlter sends one IncrementalAlterConfigs resource and returns
// its error code.
func (e *adminEnv) incrementalAlter(typ kmsg.ConfigResourceType, name string, validateOnly bool, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) int16 {
	e.t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = validateOnly
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.Configs = typ, name, ops
	req.Resources = append(req.Resources, rr)
	resp := e.request(req).(*kmsg.IncrementalAlterConfigsResponse)
	if len(resp.Resources) != 1 {
		e.t.Fatalf("incremental alter of %s: %d resources", name, len(resp.Resources))
	}
	return resp.Resources[0].ErrorCode
}

func op(name string, o kmsg.IncrementalAlterConfigOp, value *string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = name, o, value
	return c
}

// legacyAlter sends one AlterConfigs resource and returns its error code.
func (e *adminEnv) legacyAlter(typ kmsg.ConfigResourceType, name string, validateOnly bool, kv ...string) int16 {
	e.t.Helper()
	req := kmsg.NewPtrAlterConfigsRequest()
	req.ValidateOnly = validateOnly
	rr := kmsg.NewAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = typ, name
	for i := 0; i+1 < len(kv); i += 2 {
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = kv[i], kmsg.StringPtr(kv[i+1])
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	resp := e.request(req).(*kmsg.AlterConfigsResponse)
	if len(resp.Resources) != 1 {
		e.t.Fatalf("alter configs of %s: %d resources", name, len(resp.Resources))
	}
	return resp.Resources[0].ErrorCode
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	code := int16(0)
	if want != nil {
		code = want.Code
	}
	if got != code {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

func wantConfig(t *testing.T, cs map[string]kmsg.DescribeConfigsResponseResourceConfig, name, value string, source kmsg.ConfigSource) {
	t.Helper()
	c, ok := cs[name]
	if !ok {
		t.Fatalf("config %s not described", name)
	}
	if c.Value == nil || *c.Value != value || c.Source != source {
		t.Fatalf("config %s = %q (source %v), want %q (source %v)", name, deref(c.Value), c.Source, value, source)
	}
}

// describeWhen describes a resource's configs until ready holds of them
// (bounded): on a cluster, a change made through one broker reaches the
// others' answers a moment later, as in Kafka.
func (e *adminEnv) describeWhen(typ kmsg.ConfigResourceType, name, what string, ready func(map[string]kmsg.DescribeConfigsResponseResourceConfig) bool) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	e.t.Helper()
	var cs map[string]kmsg.DescribeConfigsResponseResourceConfig
	wait.For(e.t, what, 10*time.Second, func() bool {
		cs, _ = e.describeConfigs(typ, name)
		return ready(cs)
	})
	return cs
}

// has reports whether a described config has a value and source.
func has(name, value string, source kmsg.ConfigSource) func(map[string]kmsg.DescribeConfigsResponseResourceConfig) bool {
	return func(cs map[string]kmsg.DescribeConfigsResponseResourceConfig) bool {
		c, ok := cs[name]
		return ok && c.Value != nil && *c.Value == value && c.Source == source
	}
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

func TestAdminTopicConfigs(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("admcfg", 1, map[string]*string{"segment.ms": kmsg.StringPtr("3600000")})

	cs, code := e.describeConfigs(kmsg.ConfigResourceTypeTopic, topic)
	wantCode(t, "describe", code, nil)
	wantConfig(t, cs, "segment.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cs, "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)
	seg := cs["segment.ms"]
	if len(seg.ConfigSynonyms) == 0 || seg.ConfigSynonyms[0].Name != "segment.ms" || seg.ConfigSynonyms[0].Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("segment.ms synonyms %+v: want the topic override first", seg.ConfigSynonyms)
	}
	if seg.ReadOnly || seg.IsSensitive || seg.Documentation == nil || *seg.Documentation == "" || seg.ConfigType != kmsg.ConfigTypeLong {
		t.Fatalf("segment.ms read-only %v sensitive %v documentation %v type %v", seg.ReadOnly, seg.IsSensitive, deref(seg.Documentation), seg.ConfigType)
	}

	// Incremental: SET, APPEND to a list, then SUBTRACT and DELETE.
	wantCode(t, "set retention.ms", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, topic, false, op("retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("12345"))), nil)
	wantCode(t, "append cleanup.policy", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, topic, false, op("cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, kmsg.StringPtr("compact"))), nil)
	cs = e.describeWhen(kmsg.ConfigResourceTypeTopic, topic, "the appended cleanup.policy described", func(cs map[string]kmsg.DescribeConfigsResponseResourceConfig) bool {
		return strings.Contains(deref(cs["cleanup.policy"].Value), "compact")
	})
	wantConfig(t, cs, "retention.ms", "12345", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "segment.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
	if v := deref(cs["cleanup.policy"].Value); v != "delete,compact" && v != "compact,delete" {
		t.Fatalf("cleanup.policy after append = %s", v)
	}
	wantCode(t, "subtract cleanup.policy", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, topic, false, op("cleanup.policy", kmsg.IncrementalAlterConfigOpSubtract, kmsg.StringPtr("compact"))), nil)
	wantCode(t, "delete retention.ms", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, topic, false, op("retention.ms", kmsg.IncrementalAlterConfigOpDelete, nil)), nil)
	cs = e.describeWhen(kmsg.ConfigResourceTypeTopic, topic, "retention.ms back to its default", has("retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig))
	wantConfig(t, cs, "cleanup.policy", "delete", kmsg.ConfigSourceDynamicTopicConfig)

	// Validation: nothing below changes the topic.
	wantCode(t, "validate-only set", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, topic, true, op("retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("999"))), nil)
	wantCode(t, "bad value", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, topic, false, op("retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("soon"))), kerr.InvalidConfig)
	wantCode(t, "unknown name", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, topic, false, op("no.such.config", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("1"))), kerr.InvalidConfig)
	wantCode(t, "append to a non-list", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, topic, false, op("retention.ms", kmsg.IncrementalAlterConfigOpAppend, kmsg.StringPtr("1"))), kerr.InvalidConfig)
	wantCode(t, "duplicate name", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, topic, false,
		op("retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("1")), op("retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("2"))), kerr.InvalidRequest)
	wantCode(t, "unknown topic", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, randomName("admnone"), false, op("retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("1"))), kerr.UnknownTopicOrPartition)
	cs, _ = e.describeConfigs(kmsg.ConfigResourceTypeTopic, topic)
	wantConfig(t, cs, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)

	// Legacy AlterConfigs replaces every override.
	wantCode(t, "legacy alter", e.legacyAlter(kmsg.ConfigResourceTypeTopic, topic, false, "max.message.bytes", "20000"), nil)
	cs = e.describeWhen(kmsg.ConfigResourceTypeTopic, topic, "max.message.bytes set by AlterConfigs", has("max.message.bytes", "20000", kmsg.ConfigSourceDynamicTopicConfig))
	wantConfig(t, cs, "max.message.bytes", "20000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "segment.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	wantCode(t, "legacy bad value", e.legacyAlter(kmsg.ConfigResourceTypeTopic, topic, false, "max.message.bytes", "-5"), kerr.InvalidConfig)
	wantCode(t, "legacy unknown topic", e.legacyAlter(kmsg.ConfigResourceTypeTopic, randomName("admnone"), false, "retention.ms", "1"), kerr.UnknownTopicOrPartition)

	// kadm reads the same state; an unknown topic is an error.
	rcs, err := e.adm.DescribeTopicConfigs(e.ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("kadm describe: %v %v", err, rc.Err)
	}
	found := false
	for _, c := range rc.Configs {
		if c.Key == "max.message.bytes" {
			found = c.MaybeValue() == "20000" && c.Source == kmsg.ConfigSourceDynamicTopicConfig
		}
	}
	if !found {
		t.Fatalf("kadm describe: max.message.bytes=20000 from the topic not found in %d configs", len(rc.Configs))
	}
	_, code = e.describeConfigs(kmsg.ConfigResourceTypeTopic, randomName("admnone"))
	wantCode(t, "describe unknown topic", code, kerr.UnknownTopicOrPartition)

	// v0 reports IsDefault instead of a source.
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, []string{"max.message.bytes", "retention.ms"}
	req.Resources = append(req.Resources, rr)
	v0, err := req.RequestWith(e.ctx, e.pinned(32, 0))
	if err != nil {
		t.Fatal(err)
	}
	if v0.Version != 0 {
		t.Fatalf("pinned DescribeConfigs answered v%d", v0.Version)
	}
	if got := v0.Resources[0].Configs; len(got) != 2 {
		t.Fatalf("v0 describe with two names: %d configs", len(got))
	}
	for _, c := range v0.Resources[0].Configs {
		if c.IsDefault != (c.Name == "retention.ms") {
			t.Fatalf("v0 %s IsDefault %v", c.Name, c.IsDefault)
		}
	}

	// An empty (not null) list of names asks for every config.
	req = kmsg.NewPtrDescribeConfigsRequest()
	rr.ConfigNames = []string{}
	req.Resources = append(req.Resources, rr)
	every, err := req.RequestWith(e.ctx, e.cl)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(every.Resources[0].Configs); n != len(cs) {
		t.Fatalf("describe with an empty name list: %d configs, want all %d", n, len(cs))
	}
}

func TestAdminBrokerConfigs(t *testing.T) {
	e := newAdminEnv(t)
	id := strconv.Itoa(int(e.brokerID()))

	cs, code := e.describeConfigs(kmsg.ConfigResourceTypeBroker, id)
	wantCode(t, "describe broker", code, nil)
	for _, name := range []string{"log.retention.hours", "num.partitions", "message.max.bytes", "log.segment.bytes"} {
		if _, ok := cs[name]; !ok {
			t.Fatalf("broker config %s not described (%d configs)", name, len(cs))
		}
	}
	if bid := cs["broker.id"]; !bid.ReadOnly {
		t.Fatalf("broker.id is not read-only")
	}
	if c := cs["log.cleaner.delete.retention.ms"]; c.ReadOnly || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("log.cleaner.delete.retention.ms read-only %v source %v: want dynamic, default", c.ReadOnly, c.Source)
	}

	// Per broker, then the cluster default (the empty name).
	const key = "log.cleaner.delete.retention.ms"
	wantCode(t, "set per broker", e.incrementalAlter(kmsg.ConfigResourceTypeBroker, id, false, op(key, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("4242"))), nil)
	t.Cleanup(func() {
		e.incrementalAlter(kmsg.ConfigResourceTypeBroker, id, false, op(key, kmsg.IncrementalAlterConfigOpDelete, nil))
	})
	wantCode(t, "set cluster default", e.incrementalAlter(kmsg.ConfigResourceTypeBroker, "", false, op(key, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("4343"))), nil)
	t.Cleanup(func() {
		e.incrementalAlter(kmsg.ConfigResourceTypeBroker, "", false, op(key, kmsg.IncrementalAlterConfigOpDelete, nil))
	})
	// In a cluster the default reaches the described broker through
	// ZooKeeper's change notifications, a moment later.
	var syn []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	wait.For(t, key+" described with its per-broker value, then the cluster default 4343", 10*time.Second, func() bool {
		cs, _ = e.describeConfigs(kmsg.ConfigResourceTypeBroker, id)
		syn = cs[key].ConfigSynonyms
		return len(syn) >= 2 && syn[1].Source == kmsg.ConfigSourceDynamicDefaultBrokerConfig && deref(syn[1].Value) == "4343"
	})
	wantConfig(t, cs, key, "4242", kmsg.ConfigSourceDynamicBrokerConfig)
	if syn[0].Source != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Fatalf("%s synonyms %+v: want per-broker then cluster default", key, syn)
	}
	var def map[string]kmsg.DescribeConfigsResponseResourceConfig
	wait.For(t, "the cluster default "+key+" described as 4343", 10*time.Second, func() bool {
		var code int16
		def, code = e.describeConfigs(kmsg.ConfigResourceTypeBroker, "")
		return code == 0 && deref(def[key].Value) == "4343"
	})
	wantConfig(t, def, key, "4343", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	for name, c := range def {
		if c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
			t.Fatalf("cluster default lists %s from source %v", name, c.Source)
		}
	}

	// kadm sees the per-broker value.
	rcs, err := e.adm.DescribeBrokerConfigs(e.ctx, e.brokerID())
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(id, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("kadm describe broker: %v %v", err, rc.Err)
	}
	seen := false
	for _, c := range rc.Configs {
		seen = seen || (c.Key == key && c.MaybeValue() == "4242")
	}
	if !seen {
		t.Fatalf("kadm describe broker: %s=4242 missing", key)
	}

	wantCode(t, "static config", e.incrementalAlter(kmsg.ConfigResourceTypeBroker, id, false, op("broker.id", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("7"))), kerr.InvalidRequest)
	wantCode(t, "bad broker value", e.incrementalAlter(kmsg.ConfigResourceTypeBroker, id, false, op(key, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("later"))), kerr.InvalidRequest)
	// Another broker's id, sent to this broker (kgo would route it).
	other := kmsg.NewPtrIncrementalAlterConfigsRequest()
	or := kmsg.NewIncrementalAlterConfigsRequestResource()
	or.ResourceType, or.ResourceName = kmsg.ConfigResourceTypeBroker, "9999"
	or.Configs = append(or.Configs, op(key, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("1")))
	other.Resources = append(other.Resources, or)
	oresp, err := other.RequestWith(e.ctx, e.cl.Broker(int(e.brokerID())))
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "other broker id", oresp.Resources[0].ErrorCode, kerr.InvalidRequest)
	od := kmsg.NewPtrDescribeConfigsRequest()
	od.Resources = append(od.Resources, kmsg.DescribeConfigsRequestResource{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "9999"})
	dresp, err := od.RequestWith(e.ctx, e.cl.Broker(int(e.brokerID())))
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "describe other broker id", dresp.Resources[0].ErrorCode, kerr.InvalidRequest)
	cs, _ = e.describeConfigs(kmsg.ConfigResourceTypeBroker, id)
	wantConfig(t, cs, key, "4242", kmsg.ConfigSourceDynamicBrokerConfig)
}

func TestAdminCreatePartitions(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("admparts", 1, nil)

	create := func(count int32, validateOnly bool, assignment [][]int32) int16 {
		t.Helper()
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis, req.ValidateOnly = 15000, validateOnly
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = topic, count
		for _, a := range assignment {
			rt.Assignment = append(rt.Assignment, kmsg.CreatePartitionsRequestTopicAssignment{Replicas: a})
		}
		req.Topics = append(req.Topics, rt)
		resp := e.request(req).(*kmsg.CreatePartitionsResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].Topic != topic {
			t.Fatalf("create partitions answered %+v", resp.Topics)
		}
		return resp.Topics[0].ErrorCode
	}
	partitions := func() int {
		t.Helper()
		td, err := e.adm.ListTopics(e.ctx, topic)
		if err != nil || td[topic].Err != nil {
			t.Fatalf("metadata of %s: %v %v", topic, err, td[topic].Err)
		}
		return len(td[topic].Partitions)
	}

	wantCode(t, "validate only", create(5, true, nil), nil)
	if n := partitions(); n != 1 {
		t.Fatalf("validate-only create partitions made %d partitions", n)
	}
	wantCode(t, "same count", create(1, false, nil), kerr.InvalidPartitions)
	wantCode(t, "too few assignments", create(3, false, [][]int32{{e.brokerID()}}), kerr.InvalidReplicaAssignment)
	wantCode(t, "unknown broker", create(2, false, [][]int32{{9999}}), kerr.InvalidReplicaAssignment)

	resp, err := e.adm.UpdatePartitions(e.ctx, 3, topic)
	if err != nil || resp[topic].Err != nil {
		t.Fatalf("kadm update partitions: %v %v", err, resp[topic].Err)
	}
	// A partition is described once it has a leader; on a cluster the
	// brokers learn the new ones a moment apart.
	var n int
	if !wait.Until(20*time.Second, func() bool { n = partitions(); return n == 3 }) {
		t.Fatalf("after growing to 3: %d partitions", n)
	}
	wantCode(t, "decrease", create(2, false, nil), kerr.InvalidPartitions)
	// The producer's first metadata may come from any broker: kgo refuses
	// a record for partition 2 at once if that one still knows 1.
	awaitLeadersEverywhere(e.ctx, e.t, e.cl, topic, 3)
	e.produce(topic, 2, 3)
	// On a cluster the brokers learn the new partitions' leaders a moment
	// apart: ListOffsets may meet LEADER_NOT_AVAILABLE first.
	var o kadm.ListedOffset
	var found bool
	waitFor(t, "the end offset of new partition 2", 15*time.Second, func() bool {
		lo, err := e.adm.ListEndOffsets(e.ctx, topic)
		if err != nil {
			return false
		}
		o, found = lo.Lookup(topic, 2)
		return found && o.Err == nil
	})
	if o.Offset != 3 {
		t.Fatalf("end offset of new partition 2: %+v, want 3", o)
	}

	req := kmsg.NewPtrCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = randomName("admnone"), 2
	req.Topics = append(req.Topics, rt)
	cp := e.request(req).(*kmsg.CreatePartitionsResponse)
	wantCode(t, "unknown topic", cp.Topics[0].ErrorCode, kerr.UnknownTopicOrPartition)
}

func TestAdminDeleteRecords(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("admdel", 1, nil)
	e.produce(topic, 0, 10)

	deleteTo := func(off int64) (int64, int16) {
		t.Helper()
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.TimeoutMillis = 15000
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = topic
		rt.Partitions = append(rt.Partitions, kmsg.DeleteRecordsRequestTopicPartition{Partition: 0, Offset: off})
		req.Topics = append(req.Topics, rt)
		resp := e.request(req).(*kmsg.DeleteRecordsResponse)
		p := resp.Topics[0].Partitions[0]
		return p.LowWatermark, p.ErrorCode
	}
	// In a cluster the broker kgo asks for metadata may not know the new
	// partition's leader yet (LEADER_NOT_AVAILABLE, which kgo answers
	// without sending): that is retried, as a client would.
	var low int64
	var code int16
	wait.For(t, "DeleteRecords to reach the partition's leader", 15*time.Second, func() bool {
		low, code = deleteTo(4)
		return code != kerr.LeaderNotAvailable.Code
	})
	wantCode(t, "delete below 4", code, nil)
	if low != 4 {
		t.Fatalf("low watermark %d, want 4", low)
	}
	so, err := e.adm.ListStartOffsets(e.ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := so.Lookup(topic, 0); o.Offset != 4 {
		t.Fatalf("earliest offset %d after deleting below 4", o.Offset)
	}

	// Fetching below the log start is out of range.
	fetch := kmsg.NewPtrFetchRequest()
	fetch.MaxWaitMillis, fetch.MaxBytes, fetch.SessionEpoch = 100, 1<<20, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = 0, 2, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	md, err := e.adm.ListTopics(e.ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	fetch.Topics[0].TopicID = md[topic].ID
	// To the leader: in a cluster other brokers are not.
	kr, err := e.cl.Broker(int(md[topic].Partitions[0].Leader)).Request(e.ctx, fetch)
	if err != nil {
		t.Fatal(err)
	}
	fr := kr.(*kmsg.FetchResponse)
	p := fr.Topics[0].Partitions[0]
	wantCode(t, "fetch below the log start", p.ErrorCode, kerr.OffsetOutOfRange)
	// As Kafka (ReplicaManager.createLogReadResult): an error carries no
	// offsets; the consumer resets by its policy through ListOffsets.
	if p.HighWatermark != -1 || p.LastStableOffset != -1 || p.LogStartOffset != -1 {
		t.Fatalf("OFFSET_OUT_OF_RANGE reports high watermark %d, last stable %d, log start %d; want -1 each",
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset)
	}

	_, code = deleteTo(11)
	wantCode(t, "delete beyond the high watermark", code, kerr.OffsetOutOfRange)
	low, code = deleteTo(-1)
	wantCode(t, "delete to the high watermark", code, nil)
	if low != 10 {
		t.Fatalf("low watermark %d after deleting to the high watermark, want 10", low)
	}

	// kadm, and a compacted topic refuses.
	compacted := e.topic("admdelc", 1, map[string]*string{"cleanup.policy": kmsg.StringPtr("compact")})
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: compacted, Partition: 0, At: 0})
	dr, err := e.adm.DeleteRecords(e.ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := dr.Lookup(compacted, 0); !ok || r.Err != kerr.PolicyViolation {
		t.Fatalf("delete records of a compacted topic: %+v, want POLICY_VIOLATION", r)
	}

	// An internal topic refuses first, as in Kafka: INVALID_TOPIC_EXCEPTION
	// (not the POLICY_VIOLATION of its compaction).
	committed := e.topic("admdel-offsets", 1, nil) // __consumer_offsets exists once a group commits
	cos := kadm.Offsets{}
	cos.Add(kadm.Offset{Topic: committed, Partition: 0, At: 0, LeaderEpoch: -1})
	if err := e.adm.CommitAllOffsets(e.ctx, randomName("admdel-group"), cos); err != nil {
		t.Fatal(err)
	}
	if tmd, lerr := e.adm.ListTopics(e.ctx, "__consumer_offsets"); lerr != nil || !tmd.Has("__consumer_offsets") {
		t.Fatalf("__consumer_offsets is not there: %v", lerr)
	}
	os = kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "__consumer_offsets", Partition: 0, At: 0})
	if dr, err = e.adm.DeleteRecords(e.ctx, os); err != nil {
		t.Fatal(err)
	}
	if r, ok := dr.Lookup("__consumer_offsets", 0); !ok || r.Err != kerr.InvalidTopicException {
		t.Fatalf("delete records of __consumer_offsets: %+v, want INVALID_TOPIC_EXCEPTION", r)
	}
}

func TestAdminOffsetForLeaderEpoch(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("admepoch", 1, nil)
	e.produce(topic, 0, 7)
	md, err := e.adm.ListTopics(e.ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	epoch := md[topic].Partitions[0].LeaderEpoch

	ask := func(version int16, leaderEpoch, current int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.CurrentLeaderEpoch = 0, leaderEpoch, current
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(e.ctx, e.pinned(23, version))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version != version {
			t.Fatalf("pinned OffsetForLeaderEpoch answered v%d", resp.Version)
		}
		return resp.Topics[0].Partitions[0]
	}
	p := ask(4, epoch, epoch)
	wantCode(t, "current epoch", p.ErrorCode, nil)
	if p.LeaderEpoch != epoch || p.EndOffset != 7 {
		t.Fatalf("current epoch %d: got epoch %d end %d, want %d, 7", epoch, p.LeaderEpoch, p.EndOffset, epoch)
	}
	p = ask(4, epoch+1, -1)
	wantCode(t, "future epoch", p.ErrorCode, nil)
	if p.LeaderEpoch != -1 || p.EndOffset != -1 {
		t.Fatalf("unknown newer epoch: got epoch %d end %d, want -1, -1", p.LeaderEpoch, p.EndOffset)
	}
	p = ask(4, epoch, epoch+1)
	wantCode(t, "current leader epoch ahead of the broker's", p.ErrorCode, kerr.UnknownLeaderEpoch)
	p = ask(0, epoch, 0)
	wantCode(t, "v0", p.ErrorCode, nil)
	if p.EndOffset != 7 {
		t.Fatalf("v0 end offset %d, want 7", p.EndOffset)
	}

	res, err := e.adm.OffsetForLeaderEpoch(e.ctx, kadm.OffsetForLeaderEpochRequest{topic: {0: epoch}})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := res[topic][0]; !ok || r.Err != nil || r.EndOffset != 7 {
		t.Fatalf("kadm offset for leader epoch: %+v", r)
	}
}

func TestAdminDescribeLogDirs(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("admdirs", 2, nil)
	e.produce(topic, 1, 5)

	req := kmsg.NewPtrDescribeLogDirsRequest()
	req.Topics = []kmsg.DescribeLogDirsRequestTopic{{Topic: topic, Partitions: []int32{0, 1, 7}}}
	// Sent to the broker directly: kgo would drop partition 7, which no
	// broker holds.
	resp, err := req.RequestWith(e.ctx, e.cl.Broker(int(e.brokerID())))
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "describe log dirs", resp.ErrorCode, nil)
	sizes := map[int32]int64{}
	for _, d := range resp.Dirs {
		wantCode(t, "log dir "+d.Dir, d.ErrorCode, nil)
		if resp.Version >= 4 && (d.TotalBytes <= 0 || d.UsableBytes < 0 || d.UsableBytes > d.TotalBytes) {
			t.Fatalf("dir %s total %d usable %d", d.Dir, d.TotalBytes, d.UsableBytes)
		}
		for _, dt := range d.Topics {
			if dt.Topic != topic {
				t.Fatalf("asked for %s, got %s", topic, dt.Topic)
			}
			for _, p := range dt.Partitions {
				if p.OffsetLag != 0 || p.IsFuture {
					t.Fatalf("partition %d lag %d future %v", p.Partition, p.OffsetLag, p.IsFuture)
				}
				sizes[p.Partition] = p.Size
			}
		}
	}
	if len(sizes) != 2 || sizes[0] != 0 || sizes[1] <= 0 {
		t.Fatalf("partition sizes %v: want 0 empty, 1 non-empty, no 7", sizes)
	}

	all, err := e.adm.DescribeAllLogDirs(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, dirs := range all {
		if p, ok := dirs.LookupPartition(topic, 1); ok && p.Size > 0 {
			found = true
		}
	}
	if !found {
		t.Fatalf("kadm describe all log dirs: %s/1 missing", topic)
	}
}

func TestAdminDescribeCluster(t *testing.T) {
	e := newAdminEnv(t)
	md, err := e.adm.BrokerMetadata(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for v := int16(0); v <= 2; v++ {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.IncludeClusterAuthorizedOperations = true
		resp, err := req.RequestWith(e.ctx, e.pinned(60, v))
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if resp.Version != v {
			t.Fatalf("pinned DescribeCluster answered v%d, want v%d", resp.Version, v)
		}
		wantCode(t, fmt.Sprintf("v%d", v), resp.ErrorCode, nil)
		if resp.ClusterID != md.Cluster || resp.ControllerID != md.Controller || len(resp.Brokers) != len(md.Brokers) {
			t.Fatalf("v%d: cluster %q controller %d brokers %d; metadata says %q, %d, %d", v, resp.ClusterID, resp.ControllerID, len(resp.Brokers), md.Cluster, md.Controller, len(md.Brokers))
		}
		if resp.Brokers[0].Host == "" || resp.Brokers[0].Port <= 0 || resp.ClusterAuthorizedOperations <= 0 {
			t.Fatalf("v%d: broker %+v, operations %d", v, resp.Brokers[0], resp.ClusterAuthorizedOperations)
		}
		if v >= 1 && resp.EndpointType != 1 {
			t.Fatalf("v%d: endpoint type %d, want 1 (brokers)", v, resp.EndpointType)
		}
	}
	// A broker asked for controllers is MISMATCHED_ENDPOINT_TYPE (an
	// admin client with bootstrap.controllers pointed at a broker), an
	// unknown type UNSUPPORTED_ENDPOINT_TYPE, as Kafka's
	// computeDescribeClusterResponse answers.
	for _, c := range []struct {
		endpoint int8
		want     *kerr.Error
	}{{2, kerr.MismatchedEndpointType}, {7, kerr.UnsupportedEndpointType}} {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.EndpointType = c.endpoint
		resp, err := req.RequestWith(e.ctx, e.cl)
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, fmt.Sprintf("endpoint type %d", c.endpoint), resp.ErrorCode, c.want)
	}
}

func TestAdminDescribeTopicPartitions(t *testing.T) {
	e := newAdminEnv(t)
	a := e.topic("admdtp-a", 3, nil)
	b := e.topic("admdtp-b", 2, nil)
	if a > b {
		a, b = b, a
	}
	names := map[string]int{a: 3, b: 2}
	if names[a] == 0 || names[b] == 0 {
		t.Fatal("topic names collided")
	}

	describe := func(limit int32, cursor *kmsg.DescribeTopicPartitionsRequestCursor, topics ...string) *kmsg.DescribeTopicPartitionsResponse {
		t.Helper()
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		req.ResponsePartitionLimit, req.Cursor = limit, cursor
		for _, n := range topics {
			req.Topics = append(req.Topics, kmsg.DescribeTopicPartitionsRequestTopic{Topic: n})
		}
		return e.request(req).(*kmsg.DescribeTopicPartitionsResponse)
	}
	// Page through both topics two partitions at a time.
	type tp struct {
		topic     string
		partition int32
	}
	var got []tp
	var cursor *kmsg.DescribeTopicPartitionsRequestCursor
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatalf("pagination did not end: %v", got)
		}
		resp := describe(2, cursor, b, a)
		n := 0
		for _, rt := range resp.Topics {
			wantCode(t, "topic "+deref(rt.Topic), rt.ErrorCode, nil)
			for _, p := range rt.Partitions {
				// The nullable lists decode as nil only when sent null.
				if p.EligibleLeaderReplicas == nil || p.LastKnownELR == nil || len(p.Replicas) == 0 || len(p.ISR) == 0 || p.LeaderID < 0 {
					t.Fatalf("partition %+v: null ELR lists, no replicas or no leader", p)
				}
				got = append(got, tp{deref(rt.Topic), p.Partition})
				n++
			}
		}
		if n > 2 {
			t.Fatalf("page of %d partitions with limit 2", n)
		}
		if resp.NextCursor == nil {
			break
		}
		cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
	}
	want := []tp{{a, 0}, {a, 1}, {a, 2}, {b, 0}, {b, 1}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paged partitions %v, want %v", got, want)
	}

	missing := randomName("admnone")
	resp := describe(100, nil, missing)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic answered %+v", resp.Topics)
	}
	// A topic described rather than refused carries its authorized
	// operations even when it does not exist (every topic operation
	// without an authorizer), as Kafka's DescribeTopicPartitionsRequestHandler.
	const allTopicOps = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11
	if ops := resp.Topics[0].AuthorizedOperations; ops != allTopicOps {
		t.Errorf("unknown topic's authorized operations %#x, want %#x (every topic operation)", ops, allTopicOps)
	}
	// A name that cannot be a topic is INVALID_TOPIC_EXCEPTION, as Kafka's
	// getTopicMetadataForDescribeTopicResponse validates it.
	resp = describe(100, nil, "no such/topic")
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("invalid topic name answered %+v", resp.Topics)
	}
	resp = describe(100, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: missing}, a)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("cursor outside the topic list answered %+v", resp.Topics)
	}
}
