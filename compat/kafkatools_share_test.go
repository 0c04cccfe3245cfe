package compat

// Kafka's own share group tools against the broker:
// kafka-console-share-consumer.sh reads every record of a share group set
// to earliest, and kafka-share-groups.sh lists and describes the group
// (Kafka 4.0's tool does no more: its --reset-offsets and --delete are
// "not yet implemented").

import (
	"fmt"
	"strings"
	"testing"
)

func TestKafkaToolsShareConsumerAndShareGroups(t *testing.T) {
	k := newKafkaTools(t)
	if !k.has("kafka-console-share-consumer.sh") || !k.has("kafka-share-groups.sh") {
		t.Skip("this Kafka distribution has no share group tools (Kafka 4.0 or later has)")
	}
	topic, group := shareTopic(t, k.addr)
	values := []string{"one", "two", "three"}
	produceValues(t, k.addr, topic, values)
	out := k.run(t, "", "kafka-console-share-consumer.sh", "--bootstrap-server", k.addr, "--topic", topic,
		"--group", group, "--max-messages", fmt.Sprint(len(values)), "--timeout-ms", "60000")
	lines := toolLines(out)
	for _, v := range values {
		if !containsLine(lines, v) {
			t.Errorf("kafka-console-share-consumer.sh did not print %q; it printed:\n%s", v, out)
		}
	}
	list := k.run(t, "", "kafka-share-groups.sh", "--bootstrap-server", k.addr, "--list")
	if !containsLine(toolLines(list), group) {
		t.Errorf("kafka-share-groups.sh --list does not list %s:\n%s", group, list)
	}
	state := k.run(t, "", "kafka-share-groups.sh", "--bootstrap-server", k.addr, "--describe", "--state", "--group", group)
	if !strings.Contains(state, group) || !strings.Contains(state, "Empty") && !strings.Contains(state, "Stable") {
		t.Errorf("kafka-share-groups.sh --describe --state of %s:\n%s", group, state)
	}
}
