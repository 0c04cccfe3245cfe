package compat

// The day-one workflow with Apache Kafka's own command-line tools, run
// unchanged against the broker: kafka-topics.sh, the console producer and
// consumer, kafka-get-offsets.sh, kafka-broker-api-versions.sh and
// kafka-producer-perf-test.sh. KAFKA_TOOLS_DIR names the bin directory of
// an Apache Kafka distribution (and java must be on PATH).

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaTools runs scripts from a Kafka distribution's bin directory.
type kafkaTools struct {
	dir  string
	addr string
}

func newKafkaTools(t *testing.T) *kafkaTools {
	t.Helper()
	dir := os.Getenv("KAFKA_TOOLS_DIR")
	if dir == "" {
		t.Skip("KAFKA_TOOLS_DIR not set: point it at the bin directory of an Apache Kafka distribution (with java on PATH) to run Kafka's own tools against the broker")
	}
	if _, err := os.Stat(filepath.Join(dir, "kafka-topics.sh")); err != nil {
		t.Fatalf("KAFKA_TOOLS_DIR=%s has no kafka-topics.sh: %v", dir, err)
	}
	if _, err := exec.LookPath("java"); err != nil && os.Getenv("JAVA_HOME") == "" {
		t.Fatalf("KAFKA_TOOLS_DIR is set but there is no java on PATH and no JAVA_HOME")
	}
	return &kafkaTools{dir: dir, addr: bootstrap(t)}
}

func (k *kafkaTools) has(script string) bool {
	_, err := os.Stat(filepath.Join(k.dir, script))
	return err == nil
}

// run runs a script with stdin under a bounded timeout and returns its
// stdout; a non-zero exit fails the test with stderr.
func (k *kafkaTools) run(t *testing.T, stdin string, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(k.dir, script), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v (context: %v)\nstdout:\n%s\nstderr:\n%s", script, strings.Join(args, " "), err, ctx.Err(),
			ccTail(stdout.String()), ccTail(stderr.String()))
	}
	return stdout.String()
}

// topics runs kafka-topics.sh with the bootstrap server.
func (k *kafkaTools) topics(t *testing.T, args ...string) string {
	t.Helper()
	return k.run(t, "", "kafka-topics.sh", append([]string{"--bootstrap-server", k.addr}, args...)...)
}

// endOffsets runs kafka-get-offsets.sh (GetOffsetShell before Kafka 3.0)
// for the latest offsets and parses "topic:partition:offset" lines.
func (k *kafkaTools) endOffsets(t *testing.T, topic string) map[int32]int64 {
	t.Helper()
	var out string
	if k.has("kafka-get-offsets.sh") {
		out = k.run(t, "", "kafka-get-offsets.sh", "--bootstrap-server", k.addr, "--topic", topic, "--time", "-1")
	} else {
		out = k.run(t, "", "kafka-run-class.sh", "kafka.tools.GetOffsetShell", "--broker-list", k.addr, "--topic", topic, "--time", "-1")
	}
	offs := map[int32]int64{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), ":")
		if len(f) != 3 || f[0] != topic {
			continue
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		o, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("get offsets: bad line %q", line)
		}
		offs[int32(p)] = o
	}
	return offs
}

func toolLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimRight(l, "\r"); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

func TestKafkaToolsDayOne(t *testing.T) {
	k := newKafkaTools(t)
	topic := randomName("tools")
	const partitions = 2

	// kafka-topics.sh --create / --list / --describe (the broker picks the
	// replication factor: default.replication.factor, so the test runs
	// against a cluster whose min.insync.replicas is above 1 too)
	out := k.topics(t, "--create", "--topic", topic, "--partitions", strconv.Itoa(partitions))
	if !strings.Contains(out, "Created topic "+topic) {
		t.Errorf("kafka-topics --create printed %q, want \"Created topic %s.\"", out, topic)
	}
	if !containsLine(toolLines(k.topics(t, "--list")), topic) {
		t.Fatalf("kafka-topics --list does not list %s", topic)
	}
	desc := k.topics(t, "--describe", "--topic", topic)
	if !regexp.MustCompile(`PartitionCount:\s*` + strconv.Itoa(partitions)).MatchString(desc) {
		t.Errorf("kafka-topics --describe lacks PartitionCount: %d:\n%s", partitions, desc)
	}
	for p := 0; p < partitions; p++ {
		if !regexp.MustCompile(`Partition:\s*` + strconv.Itoa(p) + `\s+Leader:\s*\d+`).MatchString(desc) {
			t.Errorf("kafka-topics --describe has no leader for partition %d:\n%s", p, desc)
		}
	}

	// kafka-console-producer.sh, lines on stdin until EOF (idempotent by
	// default in Kafka 3.0+ clients).
	var values []string
	for i := 0; i < 100; i++ {
		values = append(values, fmt.Sprintf("day-one-%03d", i))
	}
	k.run(t, strings.Join(values, "\n")+"\n", "kafka-console-producer.sh", "--bootstrap-server", k.addr, "--topic", topic)

	// kafka-get-offsets.sh: the end offsets add up to what was produced.
	ends := k.endOffsets(t, topic)
	var total int64
	for p := int32(0); p < partitions; p++ {
		o, ok := ends[p]
		if !ok {
			t.Fatalf("get offsets lists no partition %d of %s: %v", p, topic, ends)
		}
		total += o
	}
	if total != int64(len(values)) {
		t.Errorf("end offsets %v add up to %d, want %d", ends, total, len(values))
	}

	// kafka-console-consumer.sh on explicit partitions (assign mode, no
	// consumer group): every partition's records, exactly.
	var perPartition []string
	for p := int32(0); p < partitions; p++ {
		if ends[p] == 0 {
			continue
		}
		out := k.run(t, "", "kafka-console-consumer.sh", "--bootstrap-server", k.addr, "--topic", topic,
			"--partition", strconv.Itoa(int(p)), "--offset", "earliest",
			"--max-messages", strconv.FormatInt(ends[p], 10), "--timeout-ms", "60000")
		perPartition = append(perPartition, toolLines(out)...)
	}
	if got, want := sortedCopy(perPartition), sortedCopy(values); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("console consumer by partition read %d records %v, want the %d produced", len(got), got, len(want))
	}

	// kafka-console-consumer.sh --from-beginning --max-messages, the
	// day-one form (it joins a console-consumer-* group).
	out = k.run(t, "", "kafka-console-consumer.sh", "--bootstrap-server", k.addr, "--topic", topic,
		"--from-beginning", "--max-messages", strconv.Itoa(len(values)), "--timeout-ms", "60000")
	if got, want := sortedCopy(toolLines(out)), sortedCopy(values); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("console consumer --from-beginning read %d records %v, want the %d produced", len(got), got, len(want))
	}

	// kafka-broker-api-versions.sh: the core APIs are listed as usable.
	av := k.run(t, "", "kafka-broker-api-versions.sh", "--bootstrap-server", k.addr)
	for _, api := range []string{"Produce(0)", "Fetch(1)", "ListOffsets(2)", "Metadata(3)", "ApiVersions(18)", "CreateTopics(19)", "DeleteTopics(20)"} {
		if !regexp.MustCompile(regexp.QuoteMeta(api) + `:[^\n]*usable: \d+`).MatchString(av) {
			t.Errorf("kafka-broker-api-versions: %s is not listed as usable:\n%s", api, av)
		}
	}

	// kafka-producer-perf-test.sh: all records acknowledged and stored,
	// once each.
	perf := randomName("tools-perf")
	k.topics(t, "--create", "--topic", perf, "--partitions", "3")
	const perfRecords = 20000
	pout := k.run(t, "", "kafka-producer-perf-test.sh", "--topic", perf, "--num-records", strconv.Itoa(perfRecords),
		"--record-size", "100", "--throughput", "-1",
		"--producer-props", "bootstrap.servers="+k.addr, "acks=all", "linger.ms=5")
	if !regexp.MustCompile(strconv.Itoa(perfRecords) + ` records sent`).MatchString(pout) {
		t.Errorf("producer perf test did not report %d records sent:\n%s", perfRecords, pout)
	}
	ends = k.endOffsets(t, perf)
	total = 0
	for _, o := range ends {
		total += o
	}
	if total != perfRecords || len(ends) != 3 {
		t.Errorf("after the perf test the end offsets are %v (total %d), want 3 partitions holding %d", ends, total, perfRecords)
	}

	// kafka-topics.sh --delete: the topic disappears from --list and from
	// metadata (deletion may complete asynchronously: poll, bounded).
	k.topics(t, "--delete", "--topic", topic)
	k.topics(t, "--delete", "--topic", perf)
	deadline := time.Now().Add(30 * time.Second)
	for {
		gone := !containsLine(toolLines(k.topics(t, "--list")), topic) && !toolTopicExists(t, k.addr, topic)
		if gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still listed 30s after kafka-topics --delete", topic)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func containsLine(lines []string, s string) bool {
	for _, l := range lines {
		if strings.TrimSpace(l) == s {
			return true
		}
	}
	return false
}

// toolTopicExists asks franz-go whether the broker still has the topic.
func toolTopicExists(t *testing.T, addr, topic string) bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tds, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatalf("listing topics: %v", err)
	}
	return tds.Has(topic)
}
