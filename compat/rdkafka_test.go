//go:build cgo

package compat

// librdkafka 2.4+ (here 2.11, statically linked into confluent-kafka-go;
// Debian's librdkafka 2.0.2 predates KIP-467 and fails whole batches)
// reads a Produce response's record_errors: the records named get
// INVALID_RECORD, the others of the batch _INVALID_DIFFERENT_RECORD, a
// local error meaning "not yours: send me again". So with record errors a
// producer loses exactly the bad records.

import (
	"context"
	"fmt"
	"testing"
	"time"

	ckafka "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// rdkProduce sends msgs in one batch (a long linger, one partition) and
// returns each one's delivery error by key.
func rdkProduce(t *testing.T, addr string, msgs []*ckafka.Message) map[string]error {
	t.Helper()
	p, err := ckafka.NewProducer(&ckafka.ConfigMap{
		"bootstrap.servers": addr, "linger.ms": 500, "batch.num.messages": 1000,
		"enable.idempotence": false, "acks": "all", "retries": 0, "broker.address.family": "v4",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dr := make(chan ckafka.Event, len(msgs))
	for _, m := range msgs {
		if err := p.Produce(m, dr); err != nil {
			t.Fatal(err)
		}
	}
	out := map[string]error{}
	timeout := time.After(30 * time.Second)
	for len(out) < len(msgs) {
		select {
		case ev := <-dr:
			m := ev.(*ckafka.Message)
			out[string(m.Value)] = m.TopicPartition.Error
		case <-timeout:
			t.Fatalf("librdkafka: %d of %d delivery reports after 30s", len(out), len(msgs))
		}
	}
	return out
}

func TestLibrdkafkaProduceRecordErrors(t *testing.T) {
	addr := bootstrap(t)
	maj, ver := ckafka.LibraryVersion()
	t.Logf("librdkafka %s (%#x)", ver, maj)
	topic := randomName("rdk-record-errors")
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cr, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": kadmStr("compact")}, topic)
	if err == nil {
		err = cr.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*ckafka.Message
	bad := map[string]bool{}
	for i := range 10 {
		v := fmt.Sprintf("value-%d", i)
		m := &ckafka.Message{TopicPartition: ckafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte(v)}
		if i == 2 || i == 7 {
			bad[v] = true // no key: refused on a compacted topic
		} else {
			m.Key = []byte(fmt.Sprint("key-", i))
		}
		msgs = append(msgs, m)
	}
	res := rdkProduce(t, addr, msgs)
	var retry []*ckafka.Message
	for _, m := range msgs {
		v := string(m.Value)
		err, _ := res[v].(ckafka.Error)
		switch {
		case bad[v] && err.Code() != ckafka.ErrInvalidRecord:
			t.Errorf("%s (no key): %v, want INVALID_RECORD", v, res[v])
		case !bad[v] && err.Code() != ckafka.ErrInvalidDifferentRecord:
			t.Errorf("%s (valid, in the batch of invalid ones): %v, want _INVALID_DIFFERENT_RECORD", v, res[v])
		case !bad[v]:
			retry = append(retry, &ckafka.Message{TopicPartition: m.TopicPartition, Key: m.Key, Value: m.Value})
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// The valid records, sent again, are written: nothing else was.
	for v, err := range rdkProduce(t, addr, retry) {
		if err != nil {
			t.Errorf("resending %s: %v", v, err)
		}
	}
	got := ccKgoRead(t, ctx, addr, topic, 1)
	if len(got) != 8 || string(got[0].V) != "value-0" || got[0].O != 0 || got[7].O != 7 {
		t.Fatalf("topic holds %d records (%+v), want the 8 valid ones at offsets 0-7", len(got), got)
	}
}

func kadmStr(s string) *string { return &s }

// librdkafka's admin client sets what a Kafka operator sets: Kafka's
// deprecated topic key message.downconversion.enable at creation and with
// AlterConfigs,
// and dynamic broker keys Kafka allows: per broker
// (sasl.kerberos.min.time.before.relogin, a listener-prefixed key),
// cluster-wide (thread pools). DescribeConfigs reports them with Kafka's
// sources; an unknown topic key stays INVALID_CONFIG.
func TestLibrdkafkaAdminAcceptsKafkaKeys(t *testing.T) {
	addr := bootstrap(t)
	adm, err := ckafka.NewAdminClient(&ckafka.ConfigMap{"bootstrap.servers": addr, "broker.address.family": "v4"})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topic := randomName("rdk-deprecated-keys")
	tr, err := adm.CreateTopics(ctx, []ckafka.TopicSpecification{{Topic: topic, NumPartitions: 1, ReplicationFactor: -1,
		Config: map[string]string{"message.downconversion.enable": "true"}}})
	if err != nil || tr[0].Error.Code() != ckafka.ErrNoError {
		t.Fatalf("creating %s with message.downconversion.enable: %v %v", topic, err, tr)
	}
	res, err := adm.AlterConfigs(ctx, []ckafka.ConfigResource{{Type: ckafka.ResourceTopic, Name: topic, Config: ckafka.StringMapToConfigEntries(
		map[string]string{"message.downconversion.enable": "false"}, ckafka.AlterOperationSet)}})
	if err != nil || res[0].Error.Code() != ckafka.ErrNoError {
		t.Fatalf("AlterConfigs of deprecated topic keys: %v %v", err, res)
	}
	res, err = adm.AlterConfigs(ctx, []ckafka.ConfigResource{{Type: ckafka.ResourceTopic, Name: topic, Config: ckafka.StringMapToConfigEntries(
		map[string]string{"no.such.topic.key": "1"}, ckafka.AlterOperationSet)}})
	if err != nil || res[0].Error.Code() != ckafka.ErrInvalidConfig {
		t.Fatalf("AlterConfigs of an unknown topic key: %v %v, want INVALID_CONFIG", err, res)
	}
	desc, err := adm.DescribeConfigs(ctx, []ckafka.ConfigResource{{Type: ckafka.ResourceTopic, Name: topic}})
	if err != nil || desc[0].Error.Code() != ckafka.ErrNoError {
		t.Fatal(err, desc)
	}
	// The failed alter left the topic's overrides alone.
	if e := desc[0].Config["message.downconversion.enable"]; e.Value != "false" || e.Source != ckafka.ConfigSourceDynamicTopic {
		t.Errorf("message.downconversion.enable described as %+v", e)
	}

	id := rdkBrokerID(t, ctx, addr)
	set := func(name string, entries map[string]string) []ckafka.ConfigResourceResult {
		t.Helper()
		var ces []ckafka.ConfigEntry
		for k, v := range entries {
			ces = append(ces, ckafka.ConfigEntry{Name: k, Value: v, IncrementalOperation: ckafka.AlterConfigOpTypeSet})
		}
		res, err := adm.IncrementalAlterConfigs(ctx, []ckafka.ConfigResource{{Type: ckafka.ResourceBroker, Name: name, Config: ces}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	perBroker := map[string]string{"sasl.kerberos.min.time.before.relogin": "120000", "listener.name.plaintext.max.connections": "1000", "num.io.threads": "12"}
	if res := set(id, perBroker); res[0].Error.Code() != ckafka.ErrNoError {
		t.Fatalf("per-broker Kafka keys: %v", res)
	}
	// librdkafka names brokers by id only: the cluster-wide default (the
	// empty name) is set with kadm.
	kcl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	kadmin := kadm.NewClient(kcl)
	alterDefault := func(op kadm.IncrementalOp, kv map[string]string) error {
		var acs []kadm.AlterConfig
		for k, v := range kv {
			acs = append(acs, kadm.AlterConfig{Op: op, Name: k, Value: kadmStr(v)})
		}
		rs, err := kadmin.AlterBrokerConfigs(ctx, acs)
		if err == nil && len(rs) > 0 {
			err = rs[0].Err
		}
		return err
	}
	if err := alterDefault(kadm.SetConfig, map[string]string{"background.threads": "12", "num.network.threads": "4"}); err != nil {
		t.Fatalf("cluster-wide thread pools: %v", err)
	}
	if err := alterDefault(kadm.SetConfig, map[string]string{"sasl.kerberos.min.time.before.relogin": "1"}); err == nil {
		t.Fatal("a per-broker key was accepted at the cluster level")
	}
	t.Cleanup(func() { // leave the shared broker as it was
		var ces []ckafka.ConfigEntry
		for k := range perBroker {
			ces = append(ces, ckafka.ConfigEntry{Name: k, IncrementalOperation: ckafka.AlterConfigOpTypeDelete})
		}
		adm.IncrementalAlterConfigs(context.Background(), []ckafka.ConfigResource{{Type: ckafka.ResourceBroker, Name: id, Config: ces}})
		alterDefault(kadm.DeleteConfig, map[string]string{"background.threads": "", "num.network.threads": ""})
	})
	desc, err = adm.DescribeConfigs(ctx, []ckafka.ConfigResource{{Type: ckafka.ResourceBroker, Name: id}})
	if err != nil || desc[0].Error.Code() != ckafka.ErrNoError {
		t.Fatal(err, desc)
	}
	for k, v := range perBroker {
		if e := desc[0].Config[k]; e.Value != v || e.Source != ckafka.ConfigSourceDynamicBroker {
			t.Errorf("%s described as %+v, want %s from DYNAMIC_BROKER_CONFIG", k, e, v)
		}
	}
	if e := desc[0].Config["background.threads"]; e.Value != "12" || e.Source != ckafka.ConfigSourceDynamicDefaultBroker {
		t.Errorf("background.threads described as %+v, want 12 from DYNAMIC_DEFAULT_BROKER_CONFIG", e)
	}
}

// rdkBrokerID is the id of the broker at addr.
func rdkBrokerID(t *testing.T, ctx context.Context, addr string) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil || len(md.Brokers) == 0 {
		t.Fatalf("metadata: %v", err)
	}
	return fmt.Sprint(md.Brokers[0].NodeID)
}

// librdkafka's CreatePartitions with validate_only checks an explicit
// assignment as a real one is checked, as Kafka's controller validates a
// validateOnly request whole (QuorumController.createPartitions): a
// broker the cluster does not know, or one named twice, is
// INVALID_REPLICA_ASSIGNMENT, and a good assignment creates nothing.
// Gregor answered success to a validate_only naming an unknown broker,
// and refused a real one naming an unknown broker and the wrong number
// of replicas for the replication factor, not for the broker as Kafka
// (ReplicationControlManager.validateManualPartitionAssignment) does.
func TestLibrdkafkaCreatePartitionsValidateOnly(t *testing.T) {
	addr := bootstrap(t)
	adm, err := ckafka.NewAdminClient(&ckafka.ConfigMap{"bootstrap.servers": addr, "broker.address.family": "v4"})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var id int32
	fmt.Sscan(rdkBrokerID(t, ctx, addr), &id)
	topic := randomName("rdk-partitions-vo")
	tr, err := adm.CreateTopics(ctx, []ckafka.TopicSpecification{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}})
	if err != nil || tr[0].Error.Code() != ckafka.ErrNoError {
		t.Fatalf("creating %s: %v %v", topic, err, tr)
	}
	unknown := id + 1000
	grow := func(assign [][]int32, validateOnly bool) ckafka.Error {
		t.Helper()
		res, err := adm.CreatePartitions(ctx, []ckafka.PartitionsSpecification{{Topic: topic, IncreaseTo: 2, ReplicaAssignment: assign}},
			ckafka.SetAdminValidateOnly(validateOnly))
		if err != nil || len(res) != 1 {
			t.Fatalf("CreatePartitions %v (validate_only %v): %v %v", assign, validateOnly, err, res)
		}
		return res[0].Error
	}
	for _, c := range []struct {
		assign       [][]int32
		validateOnly bool
		want         string
	}{
		{[][]int32{{unknown}}, true, fmt.Sprintf("The manual partition assignment includes broker %d, but no such broker is registered.", unknown)},
		{[][]int32{{id, id}}, true, fmt.Sprintf("The manual partition assignment includes the broker %d more than once.", id)},
		{[][]int32{{id, unknown}}, true, fmt.Sprintf("The manual partition assignment includes broker %d, but no such broker is registered.", unknown)},
		{[][]int32{{id, unknown}}, false, fmt.Sprintf("The manual partition assignment includes broker %d, but no such broker is registered.", unknown)},
	} {
		e := grow(c.assign, c.validateOnly)
		if e.Code() != ckafka.ErrInvalidReplicaAssignment || e.String() != c.want {
			t.Errorf("CreatePartitions %v (validate_only %v): %v (%q), want INVALID_REPLICA_ASSIGNMENT %q", c.assign, c.validateOnly, e.Code(), e.String(), c.want)
		}
	}
	if e := grow([][]int32{{id}}, true); e.Code() != ckafka.ErrNoError {
		t.Fatalf("validate_only of a good assignment: %v", e)
	}
	md, err := adm.GetMetadata(&topic, false, 10000)
	if err != nil || len(md.Topics[topic].Partitions) != 1 {
		t.Fatalf("after validate_only the topic has %v partitions (%v), want 1", md.Topics[topic].Partitions, err)
	}
}
