package compat

// Topic config validation at CreateTopics, AlterConfigs and
// IncrementalAlterConfigs, and the checks of the alter requests
// themselves, as a Kafka 4 broker (its controller) answers them.

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
	"gregor/internal/wait"
)

// A topic whose min.compaction.lag.ms is more than its max.compaction.lag.ms
// (its own or the broker's default) is INVALID_CONFIG "conflict topic
// config setting min.compaction.lag.ms (a) > max.compaction.lag.ms (b)",
// at creation and at alteration, as Kafka's LogConfig.validateValues
// checks the topic's configs over the broker's. Gregor accepted it.
func TestTopicCompactionLagConflict(t *testing.T) {
	e := newAdminEnv(t)
	const conflict = "conflict topic config setting min.compaction.lag.ms (5000) > max.compaction.lag.ms (1000)"

	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = randomName("lagconflict"), 1, 1
	for _, kv := range [][2]string{{"min.compaction.lag.ms", "5000"}, {"max.compaction.lag.ms", "1000"}} {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = kv[0], kmsg.StringPtr(kv[1])
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp := e.request(req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 {
		t.Fatalf("CreateTopics answered %d topics", len(resp.Topics))
	}
	wantCode(t, "CreateTopics with min.compaction.lag.ms > max.compaction.lag.ms", resp.Topics[0].ErrorCode, kerr.InvalidConfig)
	if m := deref(resp.Topics[0].ErrorMessage); m != conflict {
		t.Errorf("CreateTopics message %q, want %q", m, conflict)
	}

	topic := e.topic("lagconflict", 1, map[string]*string{"max.compaction.lag.ms": kmsg.StringPtr("1000")})
	for _, validateOnly := range []bool{true, false} {
		wantCode(t, "IncrementalAlterConfigs min.compaction.lag.ms over the topic's max", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, topic, validateOnly,
			op("min.compaction.lag.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("5000"))), kerr.InvalidConfig)
		wantCode(t, "AlterConfigs min.compaction.lag.ms over max.compaction.lag.ms", e.legacyAlter(kmsg.ConfigResourceTypeTopic, topic, validateOnly,
			"min.compaction.lag.ms", "5000", "max.compaction.lag.ms", "1000"), kerr.InvalidConfig)
	}
	// Without the topic's max, the broker's default (Long.MAX_VALUE) is over it.
	wantCode(t, "AlterConfigs of min.compaction.lag.ms alone", e.legacyAlter(kmsg.ConfigResourceTypeTopic, topic, false, "min.compaction.lag.ms", "5000"), nil)
	cs, _ := e.describeConfigs(kmsg.ConfigResourceTypeTopic, topic)
	wantConfig(t, cs, "min.compaction.lag.ms", "5000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "max.compaction.lag.ms", "9223372036854775807", kmsg.ConfigSourceDefaultConfig)
	wantCode(t, "IncrementalAlterConfigs of max.compaction.lag.ms under the topic's min", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, topic, false,
		op("max.compaction.lag.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("1000"))), kerr.InvalidConfig)
	wantCode(t, "IncrementalAlterConfigs of max.compaction.lag.ms equal to min", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, topic, false,
		op("max.compaction.lag.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("5000"))), nil)
}

// An alter request that names a config twice in one resource is
// INVALID_REQUEST "Error due to duplicate config keys", before its values
// are looked at, and changes nothing, in AlterConfigs as in
// IncrementalAlterConfigs (Kafka's ConfigAdminManager.preprocess). Gregor's
// AlterConfigs applied the last value given.
func TestAlterConfigsDuplicateKeys(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("dupkeys", 1, nil)

	legacy := kmsg.NewPtrAlterConfigsRequest()
	rr := kmsg.NewAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	for _, v := range []*string{kmsg.StringPtr("5000"), kmsg.StringPtr("6000")} {
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "retention.ms", v
		rr.Configs = append(rr.Configs, c)
	}
	legacy.Resources = append(legacy.Resources, rr)
	lresp := e.request(legacy).(*kmsg.AlterConfigsResponse)
	if len(lresp.Resources) != 1 {
		t.Fatalf("AlterConfigs answered %d resources", len(lresp.Resources))
	}
	wantCode(t, "AlterConfigs naming retention.ms twice", lresp.Resources[0].ErrorCode, kerr.InvalidRequest)
	if m := deref(lresp.Resources[0].ErrorMessage); m != "Error due to duplicate config keys" {
		t.Errorf("AlterConfigs message %q", m)
	}

	inc := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ir := kmsg.NewIncrementalAlterConfigsRequestResource()
	ir.ResourceType, ir.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	ir.Configs = append(ir.Configs, op("segment.ms", kmsg.IncrementalAlterConfigOpSet, nil),
		op("retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("5000")),
		op("retention.ms", kmsg.IncrementalAlterConfigOpDelete, nil))
	inc.Resources = append(inc.Resources, ir)
	iresp := e.request(inc).(*kmsg.IncrementalAlterConfigsResponse)
	if len(iresp.Resources) != 1 {
		t.Fatalf("IncrementalAlterConfigs answered %d resources", len(iresp.Resources))
	}
	wantCode(t, "IncrementalAlterConfigs naming retention.ms twice", iresp.Resources[0].ErrorCode, kerr.InvalidRequest)
	if m := deref(iresp.Resources[0].ErrorMessage); m != "Error due to duplicate config keys" {
		t.Errorf("IncrementalAlterConfigs message %q, want the duplicate keys' (checked before null values)", m)
	}

	cs, _ := e.describeConfigs(kmsg.ConfigResourceTypeTopic, topic)
	wantConfig(t, cs, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
}

// An empty cleanup.policy (neither delete nor compact: the log is kept
// whole) is valid, as Kafka's ValidList.in allows an empty list: at
// creation, and as what SUBTRACT leaves of the default. Gregor answered
// INVALID_CONFIG.
func TestTopicEmptyCleanupPolicy(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("nocleanup", 1, map[string]*string{"cleanup.policy": kmsg.StringPtr("")})
	cs, _ := e.describeConfigs(kmsg.ConfigResourceTypeTopic, topic)
	wantConfig(t, cs, "cleanup.policy", "", kmsg.ConfigSourceDynamicTopicConfig)

	other := e.topic("nocleanup", 1, nil)
	wantCode(t, "SUBTRACT delete from the default cleanup.policy", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, other, false,
		op("cleanup.policy", kmsg.IncrementalAlterConfigOpSubtract, kmsg.StringPtr("delete"))), nil)
	e.describeWhen(kmsg.ConfigResourceTypeTopic, other, "cleanup.policy emptied", has("cleanup.policy", "", kmsg.ConfigSourceDynamicTopicConfig))
	wantCode(t, "cleanup.policy=shred", e.incrementalAlter(kmsg.ConfigResourceTypeTopic, other, false,
		op("cleanup.policy", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("shred"))), kerr.InvalidConfig)
}

// incrementalAlterMessage sends one IncrementalAlterConfigs resource and
// returns its error code and message.
func (e *adminEnv) incrementalAlterMessage(typ kmsg.ConfigResourceType, name string, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) (int16, string) {
	e.t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.Configs = typ, name, ops
	req.Resources = append(req.Resources, rr)
	resp := e.request(req).(*kmsg.IncrementalAlterConfigsResponse)
	if len(resp.Resources) != 1 {
		e.t.Fatalf("incremental alter of %s: %d resources", name, len(resp.Resources))
	}
	return resp.Resources[0].ErrorCode, deref(resp.Resources[0].ErrorMessage)
}

// A topic config change Kafka 4's controller refuses is INVALID_CONFIG
// with the validator's bare reason (Gregor prefixed ZooKeeper-mode Kafka's
// "Invalid config value for resource ConfigResource(...): "), and APPEND or
// SUBTRACT of a key that is not a list is "Can't APPEND to key k because
// its type is not LIST." (ConfigurationControlManager); a broker resource
// keeps the broker's wording (ConfigAdminManager.prepareIncrementalConfigs).
func TestAlterConfigsInvalidConfigMessages(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("cfgmsg", 1, nil)
	for _, tc := range []struct {
		typ  kmsg.ConfigResourceType
		name string
		op   kmsg.IncrementalAlterConfigsRequestResourceConfig
		want string
	}{
		{kmsg.ConfigResourceTypeTopic, topic, op("retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("abc")),
			"Invalid value abc for configuration retention.ms: Not a number of type LONG"},
		{kmsg.ConfigResourceTypeTopic, topic, op("retention.ms", kmsg.IncrementalAlterConfigOpAppend, kmsg.StringPtr("1")),
			"Can't APPEND to key retention.ms because its type is not LIST."},
		{kmsg.ConfigResourceTypeTopic, topic, op("no.such.config", kmsg.IncrementalAlterConfigOpSubtract, kmsg.StringPtr("1")),
			"Can't SUBTRACT to key no.such.config because its type is not LIST."},
		{kmsg.ConfigResourceTypeBroker, "", op("log.retention.bytes", kmsg.IncrementalAlterConfigOpAppend, kmsg.StringPtr("1")),
			"Config value append is not allowed for config key: log.retention.bytes"},
	} {
		code, msg := e.incrementalAlterMessage(tc.typ, tc.name, tc.op)
		wantCode(t, tc.op.Name, code, kerr.InvalidConfig)
		if msg != tc.want {
			t.Errorf("%v of %s: message %q, want %q", tc.op.Op, tc.op.Name, msg, tc.want)
		}
	}
}

// A group config is described as Kafka's ConfigHelper.createGroupConfigEntry
// does since KAFKA-20289: its synonyms are the group's override, then the
// layers of the broker key it defaults to (group. and its name), or its
// fixed default; its source is the first synonym's. Gregor gave no
// synonyms and DEFAULT_CONFIG for a value the broker's server.properties
// set.
func TestGroupConfigSynonyms(t *testing.T) {
	e := newAdminEnv(t)
	const group = kmsg.ConfigResourceType(32)
	name := randomName("grpsyn")
	const broker = "group.consumer.session.timeout.ms" // 10000 in broker.properties
	cs, code := e.describeConfigs(group, name)
	wantCode(t, "DescribeConfigs of a group", code, nil)
	wantConfig(t, cs, "consumer.session.timeout.ms", "10000", kmsg.ConfigSourceStaticBrokerConfig)
	wantSynonyms(t, cs, "consumer.session.timeout.ms",
		synonym(broker, "10000", kmsg.ConfigSourceStaticBrokerConfig), synonym(broker, "45000", kmsg.ConfigSourceDefaultConfig))
	wantConfig(t, cs, "share.auto.offset.reset", "latest", kmsg.ConfigSourceDefaultConfig)
	wantSynonyms(t, cs, "share.auto.offset.reset", synonym("share.auto.offset.reset", "latest", kmsg.ConfigSourceDefaultConfig))
	if c := cs["share.renew.acknowledge.enable"]; c.ConfigType != kmsg.ConfigTypeBoolean {
		t.Errorf("share.renew.acknowledge.enable has type %v, want BOOLEAN", c.ConfigType)
	}

	wantCode(t, "setting consumer.session.timeout.ms", e.incrementalAlter(group, name, false,
		op("consumer.session.timeout.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("12000"))), nil)
	cs = e.describeWhen(group, name, "the group's override", has("consumer.session.timeout.ms", "12000", kmsg.ConfigSourceGroupConfig))
	wantSynonyms(t, cs, "consumer.session.timeout.ms", synonym("consumer.session.timeout.ms", "12000", kmsg.ConfigSourceGroupConfig),
		synonym(broker, "10000", kmsg.ConfigSourceStaticBrokerConfig), synonym(broker, "45000", kmsg.ConfigSourceDefaultConfig))
}

// A change to a topic that does not exist is validated first: an invalid
// one is INVALID_CONFIG, a valid one UNKNOWN_TOPIC_OR_PARTITION, as Kafka's
// ConfigurationControlManager validates before its existence check. Gregor
// answered UNKNOWN_TOPIC_OR_PARTITION to both.
func TestAlterConfigsUnknownTopicValidatedFirst(t *testing.T) {
	e := newAdminEnv(t)
	missing := randomName("nosuchtopic")
	for _, c := range []struct {
		what string
		op   kmsg.IncrementalAlterConfigsRequestResourceConfig
		want *kerr.Error
	}{
		{"an invalid value", op("retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("abc")), kerr.InvalidConfig},
		{"an unknown config", op("no.such.config", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("1")), kerr.InvalidConfig},
		{"APPEND to a key that is not a list", op("retention.ms", kmsg.IncrementalAlterConfigOpAppend, kmsg.StringPtr("1")), kerr.InvalidConfig},
		{"a valid value", op("retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("1000")), kerr.UnknownTopicOrPartition},
	} {
		wantCode(t, "IncrementalAlterConfigs of a missing topic with "+c.what, e.incrementalAlter(kmsg.ConfigResourceTypeTopic, missing, false, c.op), c.want)
	}
	wantCode(t, "AlterConfigs of a missing topic with an invalid value", e.legacyAlter(kmsg.ConfigResourceTypeTopic, missing, false, "retention.ms", "abc"), kerr.InvalidConfig)
	wantCode(t, "AlterConfigs of a missing topic with a valid value", e.legacyAlter(kmsg.ConfigResourceTypeTopic, missing, true, "retention.ms", "1000"), kerr.UnknownTopicOrPartition)
}

// A broker logger and a client metrics subscription's configs are
// described as Kafka's ConfigHelper does: no type (UNKNOWN) and, when
// documentation is asked for, none (null). Gregor gave the logger type
// STRING and both an empty documentation.
func TestDescribeConfigsLoggerAndSubscriptionFields(t *testing.T) {
	e := newAdminEnv(t)
	sub := randomName("sub")
	const clientMetrics = kmsg.ConfigResourceType(16)
	wantCode(t, "creating a subscription", e.incrementalAlter(clientMetrics, sub, false,
		op("interval.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("1000"))), nil)
	e.describeWhen(clientMetrics, sub, "the subscription", has("interval.ms", "1000", kmsg.ConfigSource(7)))
	loggers, code := e.describeConfigs(kmsg.ConfigResourceTypeBrokerLogger, strconv.Itoa(int(e.brokerID())))
	wantCode(t, "DescribeConfigs of the broker logger", code, nil)
	// Each describe may reach another broker of a cluster, whose metadata
	// may not have the subscription yet.
	var subs map[string]kmsg.DescribeConfigsResponseResourceConfig
	wait.For(t, "the subscription's interval.ms described", 10*time.Second, func() bool {
		subs, _ = e.describeConfigs(clientMetrics, sub)
		_, ok := subs["interval.ms"]
		return ok
	})
	for what, c := range map[string]kmsg.DescribeConfigsResponseResourceConfig{"root logger": loggers["root"], "interval.ms": subs["interval.ms"]} {
		if c.Name == "" || c.ConfigType != 0 || c.Documentation != nil {
			t.Errorf("%s: name %q, type %v, documentation %v; want UNKNOWN and null", what, c.Name, c.ConfigType, c.Documentation)
		}
	}
}

// The legacy AlterConfigs sets a group's configs, replacing all its
// overrides, as Kafka 4's controller serves it for GROUP resources;
// a bad value is INVALID_CONFIG and the empty name INVALID_REQUEST
// "Default group resources are not allowed." (in IncrementalAlterConfigs
// too). Gregor answered INVALID_REQUEST "Unsupported resource type: 32".
func TestLegacyAlterConfigsOfGroup(t *testing.T) {
	e := newAdminEnv(t)
	const group = kmsg.ConfigResourceType(32)
	name := randomName("legacygrp")
	wantCode(t, "AlterConfigs of a group", e.legacyAlter(group, name, false, "consumer.session.timeout.ms", "12000"), nil)
	e.describeWhen(group, name, "the group's session timeout", has("consumer.session.timeout.ms", "12000", kmsg.ConfigSourceGroupConfig))
	wantCode(t, "AlterConfigs of a group, validate only", e.legacyAlter(group, name, true, "consumer.heartbeat.interval.ms", "1000"), nil)
	wantCode(t, "AlterConfigs of a group with a bad value", e.legacyAlter(group, name, false, "consumer.heartbeat.interval.ms", "abc"), kerr.InvalidConfig)
	wantCode(t, "AlterConfigs of a group replacing its overrides", e.legacyAlter(group, name, false, "consumer.heartbeat.interval.ms", "1000"), nil)
	cs := e.describeWhen(group, name, "the group's heartbeat interval", has("consumer.heartbeat.interval.ms", "1000", kmsg.ConfigSourceGroupConfig))
	wantConfig(t, cs, "consumer.session.timeout.ms", "10000", kmsg.ConfigSourceStaticBrokerConfig)

	wantCode(t, "AlterConfigs of the group named \"\"", e.legacyAlter(group, "", false, "consumer.heartbeat.interval.ms", "1000"), kerr.InvalidRequest)
	code, msg := e.incrementalAlterMessage(group, "", op("consumer.heartbeat.interval.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("1000")))
	wantCode(t, "IncrementalAlterConfigs of the group named \"\"", code, kerr.InvalidRequest)
	if msg != "Default group resources are not allowed." {
		t.Errorf("IncrementalAlterConfigs of the group named \"\": message %q", msg)
	}
}

// A DescribeConfigs request naming a resource type Kafka does not know
// fails as a whole, every resource INVALID_REQUEST without configs, as
// Kafka's ConfigHelper throws while it sorts resources by authorization;
// the alter APIs answer such a resource (and a BROKER_LOGGER in the
// legacy one) INVALID_REQUEST "Unknown resource type n", as
// ConfigAdminManager.preprocess does. Gregor described the known
// resources and refused only the other.
func TestConfigsUnknownResourceType(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("unknowntype", 1, nil)
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: topic}, {ResourceType: 3, ResourceName: "x"}}
	resp := e.request(req).(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 2 {
		t.Fatalf("DescribeConfigs answered %d resources, want 2", len(resp.Resources))
	}
	for _, r := range resp.Resources {
		if r.ErrorCode != kerr.InvalidRequest.Code || len(r.Configs) != 0 {
			t.Errorf("resource %v %q: %v with %d configs, want INVALID_REQUEST and none", r.ResourceType, r.ResourceName, kerr.ErrorForCode(r.ErrorCode), len(r.Configs))
		}
	}
	code, msg := e.incrementalAlterMessage(3, "x", op("a", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("b")))
	if code != kerr.InvalidRequest.Code || msg != "Unknown resource type 3" {
		t.Errorf("IncrementalAlterConfigs of type 3: %v %q", kerr.ErrorForCode(code), msg)
	}
	legacy := kmsg.NewPtrAlterConfigsRequest()
	legacy.Resources = []kmsg.AlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeBrokerLogger, ResourceName: strconv.Itoa(int(e.brokerID())),
		Configs: []kmsg.AlterConfigsRequestResourceConfig{{Name: "root", Value: kmsg.StringPtr("INFO")}}}}
	lr := e.request(legacy).(*kmsg.AlterConfigsResponse).Resources[0]
	if lr.ErrorCode != kerr.InvalidRequest.Code || deref(lr.ErrorMessage) != "Unknown resource type 8" {
		t.Errorf("AlterConfigs of a broker logger: %v %q", kerr.ErrorForCode(lr.ErrorCode), deref(lr.ErrorMessage))
	}
}

// A BROKER resource to alter named by another id, or by no number, is
// INVALID_REQUEST in the words of Kafka's ConfigAdminManager
// (validateResourceNameIsCurrentNodeId), a broker logger to alter in those
// of RuntimeLoggerManager, which also refuses the empty name, and a broker
// logger to describe in those of ConfigHelper. Gregor used DescribeConfigs'
// wording for all and let the empty logger name through to its refusal of
// log level changes.
func TestConfigsBrokerResourceNames(t *testing.T) {
	e := newAdminEnv(t)
	id := e.brokerID()
	other := strconv.Itoa(int(id) + 100)
	set := op("log.cleaner.backoff.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("15000"))
	root := op("root", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("INFO"))
	for _, c := range []struct {
		typ  kmsg.ConfigResourceType
		name string
		op   kmsg.IncrementalAlterConfigsRequestResourceConfig
		want string
	}{
		{kmsg.ConfigResourceTypeBroker, other, set, "Unexpected broker id, expected " + strconv.Itoa(int(id)) + ", but received " + other},
		{kmsg.ConfigResourceTypeBroker, "b1", set, "Node id must be an integer, but it is: b1"},
		{kmsg.ConfigResourceTypeBrokerLogger, "", root, "Node id must be an integer, but it is: "},
		{kmsg.ConfigResourceTypeBrokerLogger, other, root, "Unexpected node id. Expected " + strconv.Itoa(int(id)) + ", but received " + other},
	} {
		// Sent to the broker itself: a client routes a numeric name to
		// the broker of that id.
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		req.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: c.typ, ResourceName: c.name, Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{c.op}}}
		resp, err := e.cl.Broker(int(id)).Request(e.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		r := resp.(*kmsg.IncrementalAlterConfigsResponse).Resources[0]
		code, msg := r.ErrorCode, deref(r.ErrorMessage)
		if code != kerr.InvalidRequest.Code || msg != c.want {
			t.Errorf("IncrementalAlterConfigs of %v %q: %v %q, want INVALID_REQUEST %q", c.typ, c.name, kerr.ErrorForCode(code), msg, c.want)
		}
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeBrokerLogger, ResourceName: other}}
	resp, err := e.cl.Broker(int(id)).Request(e.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r := resp.(*kmsg.DescribeConfigsResponse).Resources[0]
	if want := "Unexpected broker id, expected " + strconv.Itoa(int(id)) + " but received " + other; r.ErrorCode != kerr.InvalidRequest.Code || deref(r.ErrorMessage) != want {
		t.Errorf("DescribeConfigs of broker logger %s: %v %q, want INVALID_REQUEST %q", other, kerr.ErrorForCode(r.ErrorCode), deref(r.ErrorMessage), want)
	}
}

// A listener override among the broker's configs is described with the
// type of the key it overrides but, when documentation is asked for, none
// (null), as Kafka's KafkaConfig.documentationOf looks up the exact name.
// Gregor gave it the overridden key's documentation.
func TestDescribeConfigsListenerOverrideDocumentation(t *testing.T) {
	e := newAdminEnv(t)
	const key = "listener.name.plaintext.max.connections"
	wantCode(t, "setting "+key, e.incrementalAlter(kmsg.ConfigResourceTypeBroker, "", false,
		op(key, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("1000000"))), nil)
	t.Cleanup(func() {
		e.incrementalAlter(kmsg.ConfigResourceTypeBroker, "", false, op(key, kmsg.IncrementalAlterConfigOpDelete, nil))
	})
	cs := e.describeWhen(kmsg.ConfigResourceTypeBroker, "", key+" in the cluster default", has(key, "1000000", kmsg.ConfigSourceDynamicDefaultBrokerConfig))
	if c := cs[key]; c.ConfigType != kmsg.ConfigTypeInt || c.Documentation != nil || c.IsSensitive {
		t.Errorf("%s: type %v, documentation %v, sensitive %v; want INT, null, not sensitive", key, c.ConfigType, c.Documentation, c.IsSensitive)
	}
}

// CreateTopics (v5+) answers a new topic's configs as Kafka 4's controller
// resolves them (KafkaConfigSchema.resolveEffectiveTopicConfig), which is
// not DescribeConfigs' way: a config the request sets is
// DYNAMIC_TOPIC_CONFIG as given; else the first of the broker key and its
// synonyms set (this broker's dynamic configs, the cluster's, the static
// ones), in the topic key's unit, so log.retention.hours=1 alone makes
// retention.ms 3600000 STATIC_BROKER_CONFIG; else the topic's default.
// Gregor answered as DescribeConfigs does (retention.ms DEFAULT_CONFIG).
func TestCreateTopicsConfigSources(t *testing.T) {
	if !usingGregor() {
		t.Skip("starts its own broker with static configs")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{
		"log.retention.hours": "1",
		"log.roll.ms":         "7200000",
		"log.roll.hours":      "5",
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	e := &adminEnv{t: t, ctx: ctx, cl: cl, adm: kadm.NewClient(cl)}
	wantCode(t, "setting the cluster's log.cleaner.delete.retention.ms", e.incrementalAlter(kmsg.ConfigResourceTypeBroker, "", false,
		op("log.cleaner.delete.retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("1000"))), nil)

	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = randomName("created"), 1, 1
	rt.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "max.message.bytes", Value: kmsg.StringPtr("2000000")}}
	req.Topics = append(req.Topics, rt)
	resp := e.request(req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics: %+v", resp.Topics)
	}
	got := map[string]kmsg.CreateTopicsResponseTopicConfig{}
	for _, c := range resp.Topics[0].Configs {
		got[c.Name] = c
	}
	for _, w := range []struct {
		name, value string
		src         kmsg.ConfigSource
	}{
		{"max.message.bytes", "2000000", kmsg.ConfigSourceDynamicTopicConfig},
		{"retention.ms", "3600000", kmsg.ConfigSourceStaticBrokerConfig},
		{"segment.ms", "7200000", kmsg.ConfigSourceStaticBrokerConfig},
		{"delete.retention.ms", "1000", kmsg.ConfigSourceDynamicDefaultBrokerConfig},
		{"cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig},
		{"segment.jitter.ms", "0", kmsg.ConfigSourceDefaultConfig},
	} {
		c, ok := got[w.name]
		if !ok || deref(c.Value) != w.value || c.Source != int8(w.src) || c.ReadOnly || c.IsSensitive {
			t.Errorf("CreateTopics config %s = %q (source %v, read-only %v), want %q (source %v)", w.name, deref(c.Value), kmsg.ConfigSource(c.Source), c.ReadOnly, w.value, w.src)
		}
	}
}

// A group whose session timeout would be no more than its heartbeat
// interval, each within the broker's bounds, is INVALID_CONFIG
// "consumer.session.timeout.ms must be greater than
// consumer.heartbeat.interval.ms", as Kafka's GroupConfig.validateValues
// checks once the bounds hold. Gregor accepted it.
func TestGroupConfigSessionOverHeartbeat(t *testing.T) {
	e := newAdminEnv(t)
	const group = kmsg.ConfigResourceType(32)
	name := randomName("grphb")
	// broker.properties: min session 6 s, heartbeats 0.5 s to 15 s.
	code, msg := e.incrementalAlterMessage(group, name,
		op("consumer.session.timeout.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("6000")),
		op("consumer.heartbeat.interval.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("12000")))
	wantCode(t, "a session timeout under the heartbeat interval", code, kerr.InvalidConfig)
	if want := "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms"; msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
	wantCode(t, "a session timeout over the heartbeat interval", e.incrementalAlter(group, name, false,
		op("consumer.session.timeout.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("13000")),
		op("consumer.heartbeat.interval.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("12000"))), nil)
}
