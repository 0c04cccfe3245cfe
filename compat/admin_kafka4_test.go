package compat

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

// A resource named twice in one AlterConfigs or IncrementalAlterConfigs
// request is INVALID_REQUEST "Each resource must appear at most once." for
// every occurrence, and neither is applied (Kafka's
// ConfigAdminManager.preprocess); another resource of the same request is
// applied. Gregor applied both occurrences in order.
func TestAlterConfigsResourceTwice(t *testing.T) {
	e := newAdminEnv(t)
	topic, other := e.topic("twice", 1, nil), e.topic("twice-other", 1, nil)
	inc := kmsg.NewPtrIncrementalAlterConfigsRequest()
	for _, v := range []struct{ topic, ms string }{{topic, "5555"}, {other, "7777"}, {topic, "6666"}} {
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, v.topic
		rr.Configs = append(rr.Configs, op("retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(v.ms)))
		inc.Resources = append(inc.Resources, rr)
	}
	resp := e.request(inc).(*kmsg.IncrementalAlterConfigsResponse)
	if len(resp.Resources) != 3 {
		t.Fatalf("IncrementalAlterConfigs answered %d resources, want 3", len(resp.Resources))
	}
	for i, want := range []*kerr.Error{kerr.InvalidRequest, nil, kerr.InvalidRequest} {
		r := resp.Resources[i]
		wantCode(t, "IncrementalAlterConfigs resource "+strconv.Itoa(i)+" ("+r.ResourceName+")", r.ErrorCode, want)
		if want != nil && (r.ErrorMessage == nil || *r.ErrorMessage != "Each resource must appear at most once.") {
			t.Errorf("resource %d: message %v", i, r.ErrorMessage)
		}
	}
	cs, _ := e.describeConfigs(kmsg.ConfigResourceTypeTopic, topic)
	if v := deref(cs["retention.ms"].Value); v != "604800000" {
		t.Errorf("retention.ms of the topic named twice is %s, want the default (no change)", v)
	}
	e.describeWhen(kmsg.ConfigResourceTypeTopic, other, "the other resource's change", has("retention.ms", "7777", kmsg.ConfigSourceDynamicTopicConfig))

	legacy := kmsg.NewPtrAlterConfigsRequest()
	for range 2 {
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "retention.ms", kmsg.StringPtr("8888")
		rr.Configs = append(rr.Configs, c)
		legacy.Resources = append(legacy.Resources, rr)
	}
	lresp := e.request(legacy).(*kmsg.AlterConfigsResponse)
	if len(lresp.Resources) != 2 {
		t.Fatalf("AlterConfigs answered %d resources, want 2", len(lresp.Resources))
	}
	for i, r := range lresp.Resources {
		wantCode(t, "AlterConfigs resource "+strconv.Itoa(i), r.ErrorCode, kerr.InvalidRequest)
	}
	cs, _ = e.describeConfigs(kmsg.ConfigResourceTypeTopic, topic)
	if v := deref(cs["retention.ms"].Value); v != "604800000" {
		t.Errorf("retention.ms after a legacy alter naming it twice is %s, want the default", v)
	}
}

// An alteration of the topic resource with an empty name is
// INVALID_REQUEST "Default topic resources are not allowed." in Kafka
// (there is no default topic to configure); Gregor answered
// INVALID_TOPIC_EXCEPTION.
func TestAlterConfigsDefaultTopicResource(t *testing.T) {
	e := newAdminEnv(t)
	wantCode(t, "IncrementalAlterConfigs of topic \"\"", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, "", false,
		op("retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("1000"))), kerr.InvalidRequest)
	wantCode(t, "AlterConfigs of topic \"\"", e.legacyAlter(kmsg.ConfigResourceTypeTopic, "", false, "retention.ms", "1000"), kerr.InvalidRequest)
}

// A broker config Kafka has no definition of (a plugin's, say) may hold a
// secret: DescribeConfigs gives it without its value, sensitive and
// read-only, as Kafka's ConfigHelper.createBrokerConfigEntry does for a
// config without a type. Gregor showed its value to anyone who could
// describe the cluster.
func TestCustomBrokerConfigDescribedAsSecret(t *testing.T) {
	e := newAdminEnv(t)
	id := strconv.Itoa(int(e.brokerID()))
	const name = "gregor.test.custom.plugin.secret"
	wantCode(t, "setting a custom broker config", e.incrementalAlter(kmsg.ConfigResourceTypeBroker, id, false,
		op(name, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("hunter2"))), nil)
	t.Cleanup(func() {
		e.incrementalAlter(kmsg.ConfigResourceTypeBroker, id, false, op(name, kmsg.IncrementalAlterConfigOpDelete, nil))
	})
	cs := e.describeWhen(kmsg.ConfigResourceTypeBroker, id, "the custom config described", func(cs map[string]kmsg.DescribeConfigsResponseResourceConfig) bool {
		_, ok := cs[name]
		return ok
	})
	c := cs[name]
	if c.Value != nil || !c.IsSensitive || !c.ReadOnly || c.Source != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Errorf("custom broker config described with value %v, sensitive %v, read-only %v, source %v; want no value, sensitive, read-only, DYNAMIC_BROKER_CONFIG",
			c.Value, c.IsSensitive, c.ReadOnly, c.Source)
	}
	for _, s := range c.ConfigSynonyms {
		if s.Value != nil {
			t.Errorf("synonym %s of the custom config carries its value", s.Name)
		}
	}
}

// __cluster_metadata, the name of KRaft's metadata log, cannot be created
// as a topic: INVALID_REQUEST "Creation of internal topic
// __cluster_metadata is prohibited." as Kafka answers.
func TestCreateClusterMetadataTopicProhibited(t *testing.T) {
	e := newAdminEnv(t)
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "__cluster_metadata", 1, -1
	req.Topics = append(req.Topics, rt)
	resp := e.request(req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 {
		t.Fatalf("CreateTopics answered %d topics", len(resp.Topics))
	}
	wantCode(t, "creating __cluster_metadata", resp.Topics[0].ErrorCode, kerr.InvalidRequest)
	if m := resp.Topics[0].ErrorMessage; m == nil || *m != "Creation of internal topic __cluster_metadata is prohibited." {
		t.Errorf("message %v", m)
	}
	md, err := e.adm.Metadata(e.ctx, "__cluster_metadata")
	if err == nil && md.Topics["__cluster_metadata"].Err == nil {
		t.Errorf("__cluster_metadata exists after the refused creation")
	}
}

// CreateTopics checks a topic in the order Kafka's ReplicationControlManager
// does: its name (and whether it exists), its configs, then its
// assignment, replication factor before partition count. Gregor checked
// null configs and the assignment first and the configs last.
func TestCreateTopicsCheckOrder(t *testing.T) {
	e := newAdminEnv(t)
	existing := e.topic("order", 1, nil)
	topic := func(name string, partitions int32, rf int16, configs map[string]*string, assign ...[]int32) kmsg.CreateTopicsRequestTopic {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
		for k, v := range configs {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = k, v
			rt.Configs = append(rt.Configs, c)
		}
		for i, r := range assign {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(i), r
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		return rt
	}
	for _, c := range []struct {
		what string
		rt   kmsg.CreateTopicsRequestTopic
		want *kerr.Error
	}{
		{"an existing topic with a null config", topic(existing, 1, -1, map[string]*string{"retention.ms": nil}), kerr.TopicAlreadyExists},
		{"a bad config and too many replicas", topic(randomName("order"), 1, 100, map[string]*string{"retention.ms": kmsg.StringPtr("soon")}), kerr.InvalidConfig},
		{"no partitions and no replicas", topic(randomName("order"), 0, 0, nil), kerr.InvalidReplicationFactor},
		{"an empty replica list", topic(randomName("order"), -1, -1, nil, []int32{}), kerr.InvalidReplicaAssignment},
	} {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		req.Topics = append(req.Topics, c.rt)
		resp := e.request(req).(*kmsg.CreateTopicsResponse)
		wantCode(t, c.what, resp.Topics[0].ErrorCode, c.want)
	}
}

// The topic keys Kafka 4.0 removed, message.format.version (KIP-724) and
// message.timestamp.difference.max.ms (KIP-937), are unknown topic keys:
// CreateTopics and IncrementalAlterConfigs answer INVALID_CONFIG "Unknown
// topic config name: message.format.version", and DescribeConfigs lists
// neither. Gregor accepted and described both, as Kafka 3.x did.
func TestTopicKeysRemovedInKafka4(t *testing.T) {
	e := newAdminEnv(t)
	for _, key := range []string{"message.format.version", "message.timestamp.difference.max.ms"} {
		value := map[string]string{"message.format.version": "3.0", "message.timestamp.difference.max.ms": "60000"}[key]
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = randomName("removed-key"), 1, -1
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = key, kmsg.StringPtr(value)
		rt.Configs = append(rt.Configs, c)
		req.Topics = append(req.Topics, rt)
		resp := e.request(req).(*kmsg.CreateTopicsResponse)
		if len(resp.Topics) != 1 {
			t.Fatalf("CreateTopics answered %d topics", len(resp.Topics))
		}
		wantCode(t, "creating a topic with "+key, resp.Topics[0].ErrorCode, kerr.InvalidConfig)
		if m := deref(resp.Topics[0].ErrorMessage); m != "Unknown topic config name: "+key {
			t.Errorf("creating a topic with %s: message %q", key, m)
		}
	}
	topic := e.topic("removed-key", 1, nil)
	for _, key := range []string{"message.format.version", "message.timestamp.difference.max.ms"} {
		code, msg := e.incrementalAlterMessage(kmsg.ConfigResourceTypeTopic, topic, op(key, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("60000")))
		wantCode(t, "setting "+key, code, kerr.InvalidConfig)
		if msg != "Unknown topic config name: "+key {
			t.Errorf("setting %s: message %q", key, msg)
		}
	}
	cs, code := e.describeConfigs(kmsg.ConfigResourceTypeTopic, topic)
	wantCode(t, "describe", code, nil)
	for _, key := range []string{"message.format.version", "message.timestamp.difference.max.ms"} {
		if c, ok := cs[key]; ok {
			t.Errorf("%s described: %s", key, deref(c.Value))
		}
	}
	if _, ok := cs["message.timestamp.after.max.ms"]; !ok {
		t.Errorf("message.timestamp.after.max.ms not described")
	}
}

// A topic whose stored overrides still hold a key Kafka 4.0 removed
// (message.format.version, written by a Kafka 3.x or an older Gregor) can
// be altered: the alteration drops the removed key instead of refusing
// every change with "Unknown topic config name", as Kafka's controller
// skips such keys when it replays its log (KAFKA-19851). DescribeConfigs
// does not list the removed key.
func TestAlterTopicWithStoredRemovedKey(t *testing.T) {
	if !usingGregor() {
		t.Skip("writes the broker's metadata file")
	}
	b := brokertest.Start(t, brokertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	e := &adminEnv{t: t, ctx: ctx, cl: cl, adm: kadm.NewClient(cl)}
	topic := e.topic("stored-removed", 1, map[string]*string{"retention.ms": kmsg.StringPtr("100000")})
	cl.Close()
	b.Stop()

	path := storeTopicConfig(t, b, topic, "message.format.version", "2.8-IV1")
	b.Restart()

	cl, err = kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	e = &adminEnv{t: t, ctx: ctx, cl: cl, adm: kadm.NewClient(cl)}
	cs, code := e.describeConfigs(kmsg.ConfigResourceTypeTopic, topic)
	wantCode(t, "describe", code, nil)
	if c, ok := cs["message.format.version"]; ok {
		t.Errorf("message.format.version described: %s", deref(c.Value))
	}
	wantConfig(t, cs, "retention.ms", "100000", kmsg.ConfigSourceDynamicTopicConfig)
	for _, validateOnly := range []bool{true, false} {
		wantCode(t, "altering retention.ms (validate only "+strconv.FormatBool(validateOnly)+")", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, topic, validateOnly,
			op("retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("200000"))), nil)
	}
	e.describeWhen(kmsg.ConfigResourceTypeTopic, topic, "retention.ms altered", has("retention.ms", "200000", kmsg.ConfigSourceDynamicTopicConfig))
	b.Stop()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "message.format.version") {
		t.Errorf("the altered topic's stored overrides still hold message.format.version")
	}
}

// The broker keys Kafka 4.0 removed are not among a broker's configs:
// log.message.format.version, log.message.timestamp.difference.max.ms,
// delegation.token.master.key (no longer a synonym of
// delegation.token.secret.key), offsets.commit.required.acks,
// auto.include.jmx.reporter and inter.broker.protocol.version; and
// metric.reporters has Kafka 4.0's default, JmxReporter. Gregor described
// them with Kafka 3.9's defaults.
func TestBrokerKeysRemovedInKafka4(t *testing.T) {
	e := newAdminEnv(t)
	id := strconv.Itoa(int(e.brokerID()))
	cs, code := e.describeConfigs(kmsg.ConfigResourceTypeBroker, id)
	wantCode(t, "describe broker "+id, code, nil)
	for _, key := range []string{"log.message.format.version", "log.message.timestamp.difference.max.ms", "delegation.token.master.key",
		"offsets.commit.required.acks", "auto.include.jmx.reporter", "inter.broker.protocol.version"} {
		if c, ok := cs[key]; ok {
			t.Errorf("%s described: %s", key, deref(c.Value))
		}
	}
	for _, s := range cs["delegation.token.secret.key"].ConfigSynonyms {
		if s.Name != "delegation.token.secret.key" {
			t.Errorf("delegation.token.secret.key has synonym %s", s.Name)
		}
	}
	wantConfig(t, cs, "metric.reporters", "org.apache.kafka.common.metrics.JmxReporter", kmsg.ConfigSourceDefaultConfig)
}

// Kafka 4.0's defaults of KIP-1030, as DescribeConfigs reports them:
// num.recovery.threads.per.data.dir 2 (was 1),
// remote.log.manager.thread.pool.size 2 (was 10), and the copier and
// expiration pools 10 (was -1), which now refuse -1. Gregor reported
// Kafka 3.9's.
func TestBrokerDefaultsOfKafka4(t *testing.T) {
	e := newAdminEnv(t)
	id := strconv.Itoa(int(e.brokerID()))
	cs, code := e.describeConfigs(kmsg.ConfigResourceTypeBroker, id)
	wantCode(t, "describe broker "+id, code, nil)
	for key, want := range map[string]string{
		"num.recovery.threads.per.data.dir":              "2",
		"remote.log.manager.thread.pool.size":            "2",
		"remote.log.manager.copier.thread.pool.size":     "10",
		"remote.log.manager.expiration.thread.pool.size": "10",
		"log.message.timestamp.after.max.ms":             "3600000",
		// A key new in Kafka 4.0 (KIP-1075).
		"remote.list.offsets.request.timeout.ms": "30000",
	} {
		wantConfig(t, cs, key, want, kmsg.ConfigSourceDefaultConfig)
	}
	// remote.list.offsets.request.timeout.ms is a cluster-wide dynamic
	// key, as Kafka's DynamicRemoteLogConfig makes it.
	if c, ok := cs["remote.list.offsets.request.timeout.ms"]; !ok || c.ReadOnly || c.ConfigType != kmsg.ConfigTypeLong {
		t.Errorf("remote.list.offsets.request.timeout.ms described as %+v", c)
	}
	// -1 is no longer valid for the copier pool (read-only: refused
	// either way, so the check is the validator's, at start-up).
	if !usingGregor() {
		return
	}
	b := brokertest.Start(t, brokertest.Options{})
	b.Stop()
	if code, out := b.Refused(map[string]string{"remote.log.manager.copier.thread.pool.size": "-1"}, 20*time.Second); code == 0 ||
		!strings.Contains(out, "remote.log.manager.copier.thread.pool.size") {
		t.Errorf("start-up with remote.log.manager.copier.thread.pool.size=-1: exit %d, %s", code, out)
	}
}

// segment.bytes is at least 1 MiB (Kafka 4.1's LogConfig, KAFKA-19080;
// log.segment.bytes from Kafka 4.0, KIP-1030): smaller is INVALID_CONFIG
// at creation and alteration, and stops start-up in server.properties.
// internal.segment.bytes, LogConfig's internal key, sets a smaller
// segment size, and is described only on a topic that sets it. Gregor
// took segment.bytes down to 14 bytes and knew no internal.segment.bytes.
func TestSegmentBytesFloor(t *testing.T) {
	e := newAdminEnv(t)
	create := func(configs map[string]string) kmsg.CreateTopicsResponseTopic {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = randomName("segfloor"), 1, -1
		for k, v := range configs {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = k, kmsg.StringPtr(v)
			rt.Configs = append(rt.Configs, c)
		}
		req.Topics = append(req.Topics, rt)
		resp := e.request(req).(*kmsg.CreateTopicsResponse)
		if len(resp.Topics) != 1 {
			t.Fatalf("CreateTopics answered %d topics", len(resp.Topics))
		}
		return resp.Topics[0]
	}
	r := create(map[string]string{"segment.bytes": "1048575"})
	wantCode(t, "creating a topic with segment.bytes=1048575", r.ErrorCode, kerr.InvalidConfig)
	if m := deref(r.ErrorMessage); m != "Invalid value 1048575 for configuration segment.bytes: Value must be at least 1048576" {
		t.Errorf("message %q", m)
	}
	r = create(map[string]string{"internal.segment.bytes": "1024"})
	wantCode(t, "creating a topic with internal.segment.bytes=1024", r.ErrorCode, nil)
	created := map[string]string{}
	for _, c := range r.Configs {
		created[c.Name] = deref(c.Value)
	}
	if created["internal.segment.bytes"] != "1024" || created["segment.bytes"] != "1073741824" {
		t.Errorf("CreateTopics answered internal.segment.bytes=%q segment.bytes=%q", created["internal.segment.bytes"], created["segment.bytes"])
	}
	small := r.Topic
	e.describeWhen(kmsg.ConfigResourceTypeTopic, small, "internal.segment.bytes described", has("internal.segment.bytes", "1024", kmsg.ConfigSourceDynamicTopicConfig))

	plain := e.topic("segfloor", 1, nil)
	cs, _ := e.describeConfigs(kmsg.ConfigResourceTypeTopic, plain)
	if c, ok := cs["internal.segment.bytes"]; ok {
		t.Errorf("internal.segment.bytes described on a topic without it: %s", deref(c.Value))
	}
	code, msg := e.incrementalAlterMessage(kmsg.ConfigResourceTypeTopic, plain, op("segment.bytes", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("1000")))
	wantCode(t, "segment.bytes=1000", code, kerr.InvalidConfig)
	if msg != "Invalid value 1000 for configuration segment.bytes: Value must be at least 1048576" {
		t.Errorf("segment.bytes=1000: message %q", msg)
	}
	code, msg = e.incrementalAlterMessage(kmsg.ConfigResourceTypeBroker, "", op("log.segment.bytes", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("1000")))
	// INVALID_REQUEST, as Kafka answers a broker config its dynamic
	// config refuses (KAFKA-13609).
	wantCode(t, "log.segment.bytes=1000 as the cluster default", code, kerr.InvalidRequest)
	if !strings.Contains(msg, "Value must be at least 1048576") {
		t.Errorf("log.segment.bytes=1000: message %q", msg)
	}
	wantCode(t, "internal.segment.bytes=2048", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, plain, false,
		op("internal.segment.bytes", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("2048"))), nil)
	e.describeWhen(kmsg.ConfigResourceTypeTopic, plain, "internal.segment.bytes altered", has("internal.segment.bytes", "2048", kmsg.ConfigSourceDynamicTopicConfig))

	if !usingGregor() {
		return
	}
	b := brokertest.Start(t, brokertest.Options{})
	b.Stop()
	if code, out := b.Refused(map[string]string{"log.segment.bytes": "65536"}, 20*time.Second); code == 0 || !strings.Contains(out, "log.segment.bytes") {
		t.Errorf("start-up with log.segment.bytes=65536: exit %d, %s", code, out)
	}
}

// remote.storage.enable=true is INVALID_CONFIG "Tiered Storage
// functionality is disabled in the broker. Topic cannot be configured
// with remote log storage.", as Kafka's LogConfig answers with tiered
// storage off (kafka-topics.sh prints it); Gregor answered in words of
// its own.
func TestRemoteStorageEnableRefusedAsKafka(t *testing.T) {
	e := newAdminEnv(t)
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = randomName("tiered"), 1, -1
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "remote.storage.enable", kmsg.StringPtr("true")
	rt.Configs = append(rt.Configs, c)
	req.Topics = append(req.Topics, rt)
	resp := e.request(req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 {
		t.Fatalf("CreateTopics answered %d topics", len(resp.Topics))
	}
	const want = "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."
	wantCode(t, "creating a topic with remote.storage.enable=true", resp.Topics[0].ErrorCode, kerr.InvalidConfig)
	if m := deref(resp.Topics[0].ErrorMessage); m != want {
		t.Errorf("message %q", m)
	}
	topic := e.topic("tiered", 1, nil)
	code, msg := e.incrementalAlterMessage(kmsg.ConfigResourceTypeTopic, topic, op("remote.storage.enable", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("true")))
	wantCode(t, "setting remote.storage.enable=true", code, kerr.InvalidConfig)
	if msg != want {
		t.Errorf("setting remote.storage.enable=true: message %q", msg)
	}
}

// storeTopicConfig writes a topic config into the stopped broker's
// metadata file, as an older broker may have left it, and returns the
// file's path.
func storeTopicConfig(t *testing.T, b *brokertest.Broker, topic, key, value string) string {
	t.Helper()
	path := filepath.Join(b.Dir, "data", "gregor-metadata.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tp := range doc["topics"].([]any) {
		if m := tp.(map[string]any); m["name"] == topic {
			cs, _ := m["configs"].(map[string]any)
			if cs == nil {
				cs = map[string]any{}
				m["configs"] = cs
			}
			cs[key] = value
			found = true
		}
	}
	if !found {
		t.Fatalf("%s not in %s", topic, path)
	}
	if data, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A topic whose stored segment.bytes is below the 1 MiB floor (written by
// Kafka 3.x, or by Gregor before the floor) keeps its small segments and
// is described with it, where Gregor fell back to 1 GiB segments and
// described segment.bytes=1073741824 as the topic's own.
func TestStoredSmallSegmentBytesKept(t *testing.T) {
	if !usingGregor() {
		t.Skip("writes the broker's metadata file")
	}
	b := brokertest.Start(t, brokertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	e := &adminEnv{t: t, ctx: ctx, cl: cl, adm: kadm.NewClient(cl)}
	topic := e.topic("stored-small", 1, nil)
	cl.Close()
	b.Stop()
	storeTopicConfig(t, b, topic, "segment.bytes", "4096")
	b.Restart()

	cl, err = kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	e = &adminEnv{t: t, ctx: ctx, cl: cl, adm: kadm.NewClient(cl)}
	cs, code := e.describeConfigs(kmsg.ConfigResourceTypeTopic, topic)
	wantCode(t, "describe", code, nil)
	wantConfig(t, cs, "segment.bytes", "4096", kmsg.ConfigSourceDynamicTopicConfig)
	for i := range 20 {
		r := &kgo.Record{Partition: 0, Value: []byte(strings.Repeat("x", 1000) + strconv.Itoa(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	logs, err := filepath.Glob(filepath.Join(b.Dir, "data", topic+"-0", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) < 4 {
		t.Errorf("20 KB written in %d segment(s), want segments of 4096 bytes: %v", len(logs), logs)
	}
}

// The remote log manager's copier, expiration and reader pools are
// cluster-wide dynamic configs, as Kafka 4.0 made them (KIP-1105,
// DynamicRemoteLogConfig): not read-only in DescribeConfigs, and
// IncrementalAlterConfigs sets them for the cluster. Gregor refused them
// as read-only ("Cannot update these configs dynamically").
func TestRemoteLogManagerPoolsDynamic(t *testing.T) {
	e := newAdminEnv(t)
	id := strconv.Itoa(int(e.brokerID()))
	cs, code := e.describeConfigs(kmsg.ConfigResourceTypeBroker, id)
	wantCode(t, "describe broker "+id, code, nil)
	pools := []string{"remote.log.manager.copier.thread.pool.size", "remote.log.manager.expiration.thread.pool.size", "remote.log.reader.threads"}
	for _, key := range pools {
		if c, ok := cs[key]; !ok || c.ReadOnly {
			t.Errorf("%s described as %+v, want not read-only", key, c)
		}
	}
	for _, key := range pools {
		wantCode(t, "validating "+key+"=5 as the cluster default", e.incrementalAlter(kmsg.ConfigResourceTypeBroker, "", true,
			op(key, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("5"))), nil)
	}
}

// retention.bytes takes any LONG, as Kafka's LogConfig defines it without a
// validator ("can be negative"): a negative size is no limit. Gregor
// refused anything below -1 with INVALID_CONFIG, so copying a topic's
// configs from a Kafka cluster (MirrorMaker's IncrementalAlterConfigs,
// kafka-topics --create --config) could fail.
func TestRetentionBytesAnyNegative(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("retbytes", 1, map[string]*string{"retention.bytes": kmsg.StringPtr("-2")})
	e.describeWhen(kmsg.ConfigResourceTypeTopic, topic, "retention.bytes=-2", has("retention.bytes", "-2", kmsg.ConfigSourceDynamicTopicConfig))
	wantCode(t, "retention.bytes=-9223372036854775808", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, topic, false,
		op("retention.bytes", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("-9223372036854775808"))), nil)
	e.describeWhen(kmsg.ConfigResourceTypeTopic, topic, "retention.bytes=-9223372036854775808",
		has("retention.bytes", "-9223372036854775808", kmsg.ConfigSourceDynamicTopicConfig))
}

// A creation or alteration with several bad topic configs is refused with
// the one problem Kafka's LogConfig.validate reports: an unknown key
// before any bad value, and of bad values the first in the order
// LogConfig defines its keys (segment.bytes before retention.ms). Gregor
// answered every problem, one per line, which kafka-topics.sh printed.
func TestTopicConfigRefusalNamesOneProblem(t *testing.T) {
	e := newAdminEnv(t)
	create := func(configs map[string]string) (int16, string) {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = randomName("oneproblem"), 1, -1
		for k, v := range configs {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = k, kmsg.StringPtr(v)
			rt.Configs = append(rt.Configs, c)
		}
		req.Topics = append(req.Topics, rt)
		resp := e.request(req).(*kmsg.CreateTopicsResponse)
		if len(resp.Topics) != 1 {
			t.Fatalf("CreateTopics answered %d topics", len(resp.Topics))
		}
		return resp.Topics[0].ErrorCode, deref(resp.Topics[0].ErrorMessage)
	}
	code, msg := create(map[string]string{"retention.ms": "soon", "segment.bytes": "1000", "no.such.key": "1"})
	wantCode(t, "three bad configs", code, kerr.InvalidConfig)
	if msg != "Unknown topic config name: no.such.key" {
		t.Errorf("three bad configs: message %q", msg)
	}
	code, msg = create(map[string]string{"retention.ms": "soon", "segment.bytes": "1000"})
	wantCode(t, "two bad values", code, kerr.InvalidConfig)
	if msg != "Invalid value 1000 for configuration segment.bytes: Value must be at least 1048576" {
		t.Errorf("two bad values: message %q", msg)
	}
	topic := e.topic("oneproblem", 1, nil)
	code, msg = e.incrementalAlterMessage(kmsg.ConfigResourceTypeTopic, topic,
		op("retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("soon")),
		op("segment.bytes", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("1000")))
	wantCode(t, "altering two bad values", code, kerr.InvalidConfig)
	if msg != "Invalid value 1000 for configuration segment.bytes: Value must be at least 1048576" {
		t.Errorf("altering two bad values: message %q", msg)
	}
}

// A broker reports its own id as broker.id and node.id, also when neither
// was set (a single broker takes 0, a cluster broker one from its log
// dirs or ZooKeeper): Kafka 4 needs node.id, and populateSynonyms makes
// broker.id the same. Gregor answered -1, the keys' defaults.
func TestBrokerConfigsNameTheBrokersID(t *testing.T) {
	_, adm := ktClient(t, bootstrap(t))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	md, err := adm.BrokerMetadata(ctx)
	if err != nil || len(md.Brokers) == 0 {
		t.Fatalf("metadata: %v", err)
	}
	id := md.Brokers[0].NodeID
	rcs, err := adm.DescribeBrokerConfigs(ctx, id)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describing broker %d's configs: %v %v", id, err, rcs)
	}
	want := strconv.Itoa(int(id))
	for _, name := range []string{"broker.id", "node.id"} {
		found := false
		for _, c := range rcs[0].Configs {
			if c.Key == name {
				found = true
				if c.Value == nil || *c.Value != want {
					t.Errorf("broker %d describes %s as %v, want %s", id, name, c.MaybeValue(), want)
				}
			}
		}
		if !found {
			t.Errorf("broker %d does not describe %s", id, name)
		}
	}
}
