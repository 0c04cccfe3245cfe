package compat

// Kafka's own share group tools against the broker:
// kafka-console-share-consumer.sh reads every record of a share group set
// to earliest, and kafka-share-groups.sh lists and describes the group
// (Kafka 4.0's tool does no more: its --reset-offsets and --delete are
// "not yet implemented").

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gregor/internal/brokertest"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
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

// TestKafkaToolsShareStatePruned: after kafka-console-share-consumer.sh
// has acknowledged records, the share coordinator prunes
// __share_group_state below its oldest snapshot still needed, as Kafka's
// ShareCoordinatorService does through ReplicaManager.deleteRecords with
// allowInternalTopicDeletion. Gregor refused its own deletion as a
// DeleteRecords on an internal topic and logged a warning per partition at
// every prune interval.
func TestKafkaToolsShareStatePruned(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs a broker of its own with short prune and snapshot intervals")
	}
	k := newKafkaTools(t)
	set := brokerSettings(t)
	set["share.coordinator.state.topic.prune.interval.ms"] = "200"
	set["share.coordinator.cold.partition.snapshot.interval.ms"] = "200"
	b := brokertest.Start(t, brokertest.Options{Set: set})
	k.addr = b.Addr

	topic, group := shareTopic(t, k.addr)
	values := []string{"one", "two", "three"}
	produceValues(t, k.addr, topic, values)
	out := k.run(t, "", "kafka-console-share-consumer.sh", "--bootstrap-server", k.addr, "--topic", topic,
		"--group", group, "--max-messages", fmt.Sprint(len(values)), "--timeout-ms", "60000")
	if n := len(toolLines(out)); n < len(values) {
		t.Fatalf("kafka-console-share-consumer.sh printed %d lines, want %d:\n%s", n, len(values), out)
	}

	// Awaited: some __share_group_state partition's log start moves above
	// 0 (the records before a cold snapshot deleted), within 30s.
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		starts, err := adm.ListStartOffsets(ctx, "__share_group_state")
		cancel()
		if err == nil {
			pruned := false
			starts.Each(func(o kadm.ListedOffset) { pruned = pruned || o.Err == nil && o.Offset > 0 })
			if pruned {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no __share_group_state partition was pruned within 30s (start offsets %v, err %v); broker log:\n%s",
				starts, err, ccTail(b.Logs(8<<10)))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if logs := b.Logs(1 << 20); strings.Contains(logs, "pruning __share_group_state") {
		t.Errorf("the broker warned while pruning __share_group_state:\n%s", ccTail(logs))
	}
}
