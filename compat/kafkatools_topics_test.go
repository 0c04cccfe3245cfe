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
	}
	for _, c := range cases {
		out := k.topicsRefused(t, c.args...)
		if !c.want.MatchString(out) {
			t.Errorf("kafka-topics %s printed:\n%s\nwant a line matching %q (Kafka 4.x's message)", strings.Join(c.args, " "), ccTail(out), c.want)
		}
	}
}
