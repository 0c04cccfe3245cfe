package compat

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"gregor/internal/brokertest"
)

// Dynamic broker config changes that Kafka's reconfigurable components
// refuse (DynamicThreadPool, LogCleaner, DynamicListenerConfig
// validateReconfiguration) are INVALID_REQUEST "Invalid dynamic
// configuration", as Kafka 4's ConfigAdminManager answers them, and are
// not stored: a thread pool more than doubled or less than halved, the
// cleaner's threads likewise, a listener moved or added, a fixed config of
// an existing listener, a listener's connection bound or rate of 0 (which
// would hold every new connection). Those within bounds are accepted.
func TestDynamicReconfigurationRefusals(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker with default thread pools and listeners")
	}
	b := brokertest.Start(t, brokertest.Options{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ac := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	alter := func(perBroker bool, name, value string) kadm.AlterConfigsResponse {
		t.Helper()
		var brokers []int32
		if perBroker {
			brokers = []int32{0}
		}
		res, err := ac.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: name, Value: kmsg.StringPtr(value)}}, brokers...)
		if err != nil || len(res) != 1 {
			t.Fatalf("altering %s=%s: %v %v", name, value, err, res)
		}
		return res[0]
	}
	for _, tc := range []struct {
		perBroker   bool
		name, value string
		refused     bool
	}{
		{false, "num.io.threads", "17", true}, // default 8: more than double
		{false, "num.io.threads", "16", false},
		{false, "num.io.threads", "7", true}, // now 16: less than half
		{true, "background.threads", "21", true},
		{false, "num.network.threads", "7", true}, // default 3
		{false, "num.network.threads", "6", false},
		{false, "log.cleaner.threads", "3", true}, // default 1
		{false, "log.cleaner.threads", "2", false},
		{true, "listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", brokertest.FreePort(t)), true}, // moved
		{true, "advertised.listeners", "PLAINTEXT://elsewhere:9092", true},
		{true, "listener.name.plaintext.connections.max.reauth.ms", "1000", true},
		// DynamicLogConfig: no unlimited local retention under a limited one.
		{false, "log.local.retention.ms", "-1", true},
		// ListenerConnectionQuota: a listener's bound and rate above 0.
		{false, "max.connections", "0", true},
		{true, "listener.name.plaintext.max.connections", "0", true},
		{true, "listener.name.plaintext.max.connection.creation.rate", "0", true},
		{true, "listener.name.plaintext.max.connections", "1000", false},
	} {
		r := alter(tc.perBroker, tc.name, tc.value)
		if !tc.refused {
			if r.Err != nil {
				t.Errorf("%s=%s (per broker %v): %v %s, want accepted", tc.name, tc.value, tc.perBroker, r.Err, r.ErrMessage)
			}
			continue
		}
		if !errors.Is(r.Err, kerr.InvalidRequest) || r.ErrMessage != "Invalid dynamic configuration" {
			t.Errorf("%s=%s (per broker %v): %v %q, want INVALID_REQUEST \"Invalid dynamic configuration\"", tc.name, tc.value, tc.perBroker, r.Err, r.ErrMessage)
		}
	}
	rc, err := ac.DescribeBrokerConfigs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"num.io.threads": "16", "num.network.threads": "6", "log.cleaner.threads": "2", "background.threads": "10"}
	for _, c := range rc[0].Configs {
		if v, ok := want[c.Key]; ok && c.MaybeValue() != v {
			t.Errorf("%s described %q, want %q (a refused value was stored)", c.Key, c.MaybeValue(), v)
		}
		if c.Key == "listeners" && c.Source == kmsg.ConfigSourceDynamicBrokerConfig {
			t.Errorf("refused listeners stored: %s", c.MaybeValue())
		}
	}
}

// transaction.partition.verification.enable altered at run time reaches
// the group coordinator too: a TxnOffsetCommit before v5 of a producer
// that never called AddOffsetsToTxn is refused while it is on (the
// default) and written once it is turned off cluster-wide, as Kafka's
// ReplicaManager reads the key from the configuration in force for each
// commit.
func TestDynamicTxnVerificationReachesTxnOffsetCommit(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker: it turns transaction verification off")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{
		"offsets.topic.replication.factor": "1", "transaction.state.log.replication.factor": "1", "transaction.state.log.min.isr": "1"}})
	v := kversion.Stable()
	v.SetMaxKeyVersion(kmsg.TxnOffsetCommit.Int16(), 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.MaxVersions(v))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ac := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic, group, txid := randomName("txverify"), randomName("txverify-g"), randomName("txverify-id")
	if _, err := ac.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	var pid int64
	var epoch int16
	waitFor(t, "InitProducerId to succeed (transaction coordinator loaded)", 30*time.Second, func() bool {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(txid), 60000
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			return false
		}
		pid, epoch = resp.ProducerID, resp.ProducerEpoch
		return true
	})
	commit := func() int16 {
		t.Helper()
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txid, group, pid, epoch
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Offset = 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	// The group's coordinator must be up first.
	waitFor(t, "FindCoordinator of the group to succeed", 30*time.Second, func() bool {
		return ac.FindGroupCoordinators(ctx, group).Ok()
	})
	if code := commit(); code == 0 {
		t.Fatal("TxnOffsetCommit v3 without AddOffsetsToTxn accepted while transaction.partition.verification.enable=true")
	}
	if r := alterOne(t, ctx, ac, "transaction.partition.verification.enable", "false"); r.Err != nil {
		t.Fatalf("turning verification off: %v %s", r.Err, r.ErrMessage)
	}
	if code := commit(); code != 0 {
		t.Fatalf("TxnOffsetCommit v3 after transaction.partition.verification.enable=false: %v, want accepted", kerr.ErrorForCode(code))
	}
}

// alterOne sets a cluster-wide dynamic broker config.
func alterOne(t *testing.T, ctx context.Context, ac *kadm.Client, name, value string) kadm.AlterConfigsResponse {
	t.Helper()
	res, err := ac.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: name, Value: kmsg.StringPtr(value)}})
	if err != nil || len(res) != 1 {
		t.Fatalf("altering %s=%s: %v %v", name, value, err, res)
	}
	return res[0]
}

// A change with several refused keys is answered as Kafka's
// DynamicBrokerConfig.validateConfigs answers it: the read-only keys
// together in one Set, else the keys needing a listener prefix, else the
// first bad value, else the per-broker keys set cluster-wide.
func TestDynamicConfigRefusalNamesKeysAsKafka(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"num.partitions": "3", "broker.id": "7", "log.retention.ms": "soon"}, "Cannot update these configs dynamically: Set(broker.id, num.partitions)"},
		{map[string]string{"ssl.keystore.location": "/k.p12", "log.retention.ms": "soon", "listener.name.plaintext.ssl.keystore.type": "PEM"},
			"These security configs can be dynamically updated only per-listener using the listener prefix: Set(ssl.keystore.location)"},
		{map[string]string{"log.retention.ms": "soon", "listener.name.plaintext.ssl.keystore.type": "PEM"}, "Invalid value soon for configuration log.retention.ms: Not a number of type LONG"},
	} {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType = kmsg.ConfigResourceTypeBroker // the cluster default
		for k, v := range tc.set {
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Value = k, kmsg.StringPtr(v)
			r.Configs = append(r.Configs, c)
		}
		req.Resources = append(req.Resources, r)
		req.ValidateOnly = true
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		got := resp.Resources[0]
		if got.ErrorCode != kerr.InvalidRequest.Code || got.ErrorMessage == nil || *got.ErrorMessage != tc.want {
			msg := "<null>"
			if got.ErrorMessage != nil {
				msg = *got.ErrorMessage
			}
			t.Errorf("%v: %v %q, want INVALID_REQUEST %q", tc.set, kerr.ErrorForCode(got.ErrorCode), msg, tc.want)
		}
	}
}

// A broker-wide retention of 0 is refused (it would delete the records
// of every topic without its own retention.ms), as Kafka's KafkaConfig
// requires log.retention.ms to be -1 or at least 1, while any negative
// value, no limit, is taken: log.retention.ms has no validator in Kafka.
// A failed requirement is answered in Kafka's words ("requirement
// failed: ..."), as ConfigAdminManager passes the exception's message on.
func TestDynamicConfigKafkaRequirements(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name, value string
		refused     bool
		want        string
	}{
		{"log.retention.ms", "0", true, "requirement failed: log.retention.ms must be unlimited (-1) or, greater than or equal to 1"},
		{"log.retention.ms", "-2", false, ""},
		{"log.retention.ms", "1", false, ""},
		// Another of KafkaConfig's requirements, in its words too.
		{"max.connections.per.ip", "0", true, "requirement failed: max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides property is set."},
		{"log.cleaner.dedupe.buffer.size", "1000", true, "requirement failed: log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread."},
		{"log.roll.ms", "0", true, "requirement failed: log.roll.ms must be greater than or equal to 1"},
		{"log.roll.jitter.ms", "-1", true, "requirement failed: log.roll.jitter.ms must be greater than or equal to 0"},
	} {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType = kmsg.ConfigResourceTypeBroker // the cluster default
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = tc.name, kmsg.StringPtr(tc.value)
		r.Configs = append(r.Configs, c)
		req.Resources = append(req.Resources, r)
		req.ValidateOnly = true // nothing is changed on the shared broker
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		got := resp.Resources[0]
		msg := "<null>"
		if got.ErrorMessage != nil {
			msg = *got.ErrorMessage
		}
		switch {
		case tc.refused && (got.ErrorCode != kerr.InvalidRequest.Code || msg != tc.want):
			t.Errorf("%s=%s: %v %q, want INVALID_REQUEST %q", tc.name, tc.value, kerr.ErrorForCode(got.ErrorCode), msg, tc.want)
		case !tc.refused && got.ErrorCode != 0:
			t.Errorf("%s=%s: %v %q, want accepted", tc.name, tc.value, kerr.ErrorForCode(got.ErrorCode), msg)
		}
	}
}
