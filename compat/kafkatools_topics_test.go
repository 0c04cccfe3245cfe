package compat

// kafka-topics.sh's refusals print the broker's error message: a Kafka 4.x
// cluster answers CreateTopics and CreatePartitions with the controller's
// words (ReplicationControlManager, StripedReplicaPlacer), which users and
// scripts see verbatim.

import (
	"regexp"
	"strings"
	"testing"
)

// topicsRefused runs kafka-topics.sh expecting it to fail and returns what
// it printed on stdout and stderr together.
func (k *kafkaTools) topicsRefused(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := k.runBoth("kafka-topics.sh", append([]string{"--bootstrap-server", k.addr}, args...)...)
	if err == nil {
		t.Fatalf("kafka-topics %s succeeded, want a refusal\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), out, errOut)
	}
	return out + errOut
}

func TestKafkaToolsTopicRefusalsUseKafkaMessages(t *testing.T) {
	k := newKafkaTools(t)
	topic := randomName("tools-refuse")
	k.topics(t, "--create", "--topic", topic, "--partitions", "3")

	cases := []struct {
		args []string
		want *regexp.Regexp
	}{
		{[]string{"--alter", "--topic", topic, "--partitions", "2"},
			regexp.MustCompile(`InvalidPartitionsException: The topic ` + regexp.QuoteMeta(topic) + ` currently has 3 partition\(s\); 2 would not be an increase\.`)},
		{[]string{"--alter", "--topic", topic, "--partitions", "3"},
			regexp.MustCompile(`InvalidPartitionsException: Topic already has 3 partition\(s\)\.`)},
		{[]string{"--create", "--topic", randomName("tools-refuse"), "--replication-factor", "1000"},
			regexp.MustCompile(`InvalidReplicationFactorException: Unable to replicate the partition 1000 time\(s\): The target replication factor of 1000 cannot be reached because only \d+ broker\(s\) are registered\.`)},
		// Kafka 4.0's config refusals: a key it removed, a segment size
		// below its floor, tiered storage on a broker without it.
		{[]string{"--create", "--topic", randomName("tools-refuse"), "--config", "message.timestamp.difference.max.ms=1000"},
			regexp.MustCompile(`InvalidConfigurationException: Unknown topic config name: message\.timestamp\.difference\.max\.ms`)},
		{[]string{"--create", "--topic", randomName("tools-refuse"), "--config", "segment.bytes=1000"},
			regexp.MustCompile(`InvalidConfigurationException: Invalid value 1000 for configuration segment\.bytes: Value must be at least 1048576`)},
		{[]string{"--create", "--topic", randomName("tools-refuse"), "--config", "remote.storage.enable=true"},
			regexp.MustCompile(`InvalidConfigurationException: Tiered Storage functionality is disabled in the broker\. Topic cannot be configured with remote log storage\.`)},
	}
	for _, c := range cases {
		out := k.topicsRefused(t, c.args...)
		if !c.want.MatchString(out) {
			t.Errorf("kafka-topics %s printed:\n%s\nwant a line matching %q (Kafka 4.x's message)", strings.Join(c.args, " "), ccTail(out), c.want)
		}
	}
}
