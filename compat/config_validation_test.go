package compat

// Topic config validation at CreateTopics, AlterConfigs and
// IncrementalAlterConfigs, and the checks of the alter requests
// themselves, as a Kafka 4 broker (its controller) answers them.

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
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
