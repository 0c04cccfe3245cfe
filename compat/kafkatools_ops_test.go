package compat

// Apache Kafka's operations tools, run unchanged against the broker:
// kafka-delete-records.sh, kafka-leader-election.sh, kafka-log-dirs.sh,
// kafka-consumer-perf-test.sh, kafka-verifiable-consumer.sh,
// kafka-e2e-latency.sh, kafka-replica-verification.sh and
// kafka-streams-application-reset.sh. franz-go sets things up and checks
// what the tools did; each test has a topic of its own. Only what Kafka's
// semantics fix is asserted, so the tests hold on a cluster too
// (scripts/compat-cluster.sh), where a preferred election may move a
// leader and every partition has several replicas. KAFKA_TOOLS_DIR names
// the bin directory of an Apache Kafka 4.x distribution.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/wait"
)

// opsTopic creates a topic of partitions (the broker's default replication
// factor) and fills each partition with perPartition values of ktValues,
// value i on partition i%partitions. It returns the topic, the values in
// the order produced, and a client with its admin.
func opsTopic(t *testing.T, k *kafkaTools, prefix string, partitions int32, perPartition int) (string, []string, *kgo.Client, *kadm.Client) {
	t.Helper()
	topic := randomName(prefix)
	cl, adm := ktClient(t, k.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	opsCreateTopic(t, k, adm, topic, partitions)
	values := ktValues(prefix, 0, int(partitions)*perPartition)
	ktProduce(t, cl, topic, partitions, values)
	return topic, values, cl, adm
}

// opsCreateTopic creates a topic of partitions and waits until metadata
// shows a leader for each. On a cluster a broker may answer a metadata
// request for a partition created a moment ago without a leader
// (LEADER_NOT_AVAILABLE), and kgo caches that answer for requests it maps
// to partition leaders (ListOffsets, DeleteRecords); a later answer
// naming the leaders replaces it.
func opsCreateTopic(t *testing.T, k *kafkaTools, adm *kadm.Client, topic string, partitions int32) {
	t.Helper()
	createTopic(t, k.addr, topic, partitions)
	waitFor(t, "metadata to show a leader for every partition of the new topic "+topic, 15*time.Second, func() bool {
		parts, _, err := opsMetadata(adm, topic)
		if err != nil {
			return false
		}
		for _, p := range parts {
			if p.Err != nil || p.Leader < 0 {
				return false
			}
		}
		return len(parts) == int(partitions)
	})
}

// opsListOffsets returns the start (earliest) or end (latest) offset of
// every partition of topic, as ListOffsets answers.
func opsListOffsets(t *testing.T, adm *kadm.Client, topic string, start bool) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, what := adm.ListEndOffsets, "end"
	if start {
		list, what = adm.ListStartOffsets, "start"
	}
	lo, err := list(ctx, topic)
	if err == nil {
		err = lo.Error()
	}
	if err != nil {
		t.Fatalf("listing the %s offsets of %s: %v", what, topic, err)
	}
	offs := map[int32]int64{}
	lo.Each(func(o kadm.ListedOffset) { offs[o.Partition] = o.Offset })
	return offs
}

// opsMetadata returns topic's partitions and the cluster's brokers as
// metadata describes them.
func opsMetadata(adm *kadm.Client, topic string) (kadm.PartitionDetails, kadm.BrokerDetails, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := adm.Metadata(ctx, topic)
	if err == nil {
		err = md.Topics[topic].Err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	return md.Topics[topic].Partitions, md.Brokers, nil
}

// opsPartitions is opsMetadata, failing the test on an error.
func opsPartitions(t *testing.T, adm *kadm.Client, topic string) (kadm.PartitionDetails, kadm.BrokerDetails) {
	t.Helper()
	parts, brokers, err := opsMetadata(adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	return parts, brokers
}

// opsWaitPreferredLeaders waits until metadata shows every partition of
// topic led by its preferred replica (the first of its replicas), as it
// must after a preferred election that succeeded or was not needed.
func opsWaitPreferredLeaders(t *testing.T, adm *kadm.Client, topic string) {
	t.Helper()
	var parts kadm.PartitionDetails
	if !wait.Until(15*time.Second, func() bool {
		var err error
		if parts, _, err = opsMetadata(adm, topic); err != nil {
			return false
		}
		for _, p := range parts {
			if len(p.Replicas) == 0 || p.Leader != p.Replicas[0] {
				return false
			}
		}
		return len(parts) > 0
	}) {
		var now []string
		for _, p := range parts.Sorted() {
			now = append(now, fmt.Sprintf("%d: leader %d, replicas %v", p.Partition, p.Leader, p.Replicas))
		}
		t.Fatalf("timed out after 15s waiting for every partition of %s to be led by its preferred replica (the first listed); now %s", topic, strings.Join(now, "; "))
	}
}

// opsCommit commits offsets for group through the admin API (a group with
// no members, as the Streams reset tool requires).
func opsCommit(t *testing.T, adm *kadm.Client, group, topic string, offsets map[int32]int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var offs kadm.Offsets
	for p, o := range offsets {
		offs.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1})
	}
	resps, err := adm.CommitOffsets(ctx, group, offs)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		t.Fatalf("committing %v of %s for %s: %v", offsets, topic, group, err)
	}
}

// opsDeleteRecordsResult parses kafka-delete-records.sh: one
// "partition: <topic>-<p>\tlow_watermark: <n>" or "... error: <msg>" line
// per partition.
func opsDeleteRecordsResult(out, topic string) (low map[int32]int64, errs map[int32]string) {
	low, errs = map[int32]int64{}, map[int32]string{}
	re := regexp.MustCompile(`(?m)^partition: (\S+)-(\d+)\s+(?:low_watermark: (-?\d+)|error: (.*))$`)
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		if m[1] != topic {
			continue
		}
		p, _ := strconv.ParseInt(m[2], 10, 32)
		if m[3] == "" {
			errs[int32(p)] = m[4]
			continue
		}
		low[int32(p)], _ = strconv.ParseInt(m[3], 10, 64)
	}
	return low, errs
}

// opsFirstRecords reads from the start of each partition of topic named in
// parts and returns the first record of each.
func opsFirstRecords(t *testing.T, addr, topic string, parts ...int32) map[int32]*kgo.Record {
	t.Helper()
	at := map[int32]kgo.Offset{}
	for _, p := range parts {
		at[p] = kgo.NewOffset().AtStart()
	}
	cl, _ := ktClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: at}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first := map[int32]*kgo.Record{}
	for len(first) < len(parts) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s from the start of partitions %v: only %d first records within 20s", topic, parts, len(first))
		}
		fs.EachError(func(tp string, p int32, err error) {
			t.Fatalf("reading %s-%d from the start: %v", tp, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if first[r.Partition] == nil {
				first[r.Partition] = r
			}
		})
	}
	return first
}

func TestKafkaToolsOpsDeleteRecords(t *testing.T) {
	k := newKafkaTools(t)
	const partitions, perPartition = 2, 20
	topic, values, cl, adm := opsTopic(t, k, "ops-delrec", partitions, perPartition)

	// Partition 0 up to offset 7; partition 1 up to its high watermark
	// (offset -1).
	file := filepath.Join(t.TempDir(), "offsets.json")
	spec := fmt.Sprintf(`{"version":1,"partitions":[{"topic":%q,"partition":0,"offset":7},{"topic":%q,"partition":1,"offset":-1}]}`, topic, topic)
	if err := os.WriteFile(file, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	out := k.run(t, "", "kafka-delete-records.sh", "--bootstrap-server", k.addr, "--offset-json-file", file)
	low, errs := opsDeleteRecordsResult(out, topic)
	want := map[int32]int64{0: 7, 1: perPartition}
	if len(errs) != 0 || fmt.Sprint(low) != fmt.Sprint(want) {
		t.Fatalf("kafka-delete-records reported low watermarks %v and errors %v, want %v and none:\n%s", low, errs, want, out)
	}

	// ListOffsets earliest gives the low watermarks; the end is unchanged.
	if got := opsListOffsets(t, adm, topic, true); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after kafka-delete-records the start offsets are %v, want the low watermarks %v", got, want)
	}
	if got := opsListOffsets(t, adm, topic, false); fmt.Sprint(got) != fmt.Sprint(map[int32]int64{0: perPartition, 1: perPartition}) {
		t.Errorf("after kafka-delete-records the end offsets are %v, want %d on both partitions", got, perPartition)
	}

	// A consumer from the start begins at the low watermark: on partition
	// 0 with the record produced there at offset 7, on partition 1 (all
	// deleted) with the next record produced.
	next := ktValues("ops-delrec-next", 0, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 1, Value: []byte(next[0])}).FirstErr(); err != nil {
		t.Fatalf("producing to %s-1: %v", topic, err)
	}
	first := opsFirstRecords(t, k.addr, topic, 0, 1)
	if r := first[0]; r.Offset != 7 || string(r.Value) != values[7*partitions] {
		t.Errorf("from the start of %s-0 the first record is %q at offset %d, want %q at 7", topic, r.Value, r.Offset, values[7*partitions])
	}
	if r := first[1]; r.Offset != perPartition || string(r.Value) != next[0] {
		t.Errorf("from the start of %s-1 the first record is %q at offset %d, want %q at %d", topic, r.Value, r.Offset, next[0], perPartition)
	}
}

// opsElection is what kafka-leader-election.sh printed: the partitions
// ("<topic>-<p>") of its "Successfully completed leader election" line,
// of its "Valid replica already elected" line, and its error lines.
type opsElection struct {
	elected, notNeeded []string
	failed             []string
}

func opsParseElection(out string) opsElection {
	var e opsElection
	list := func(s string) []string {
		var ps []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				ps = append(ps, p)
			}
		}
		return ps
	}
	for _, l := range toolLines(out) {
		if m := regexp.MustCompile(`^Successfully completed leader election \(\w+\) for partitions (.*)$`).FindStringSubmatch(l); m != nil {
			e.elected = append(e.elected, list(m[1])...)
		}
		if m := regexp.MustCompile(`^Valid replica already elected for partitions (.*)$`).FindStringSubmatch(l); m != nil {
			e.notNeeded = append(e.notNeeded, list(m[1])...)
		}
		if strings.HasPrefix(l, "Error completing leader election") {
			e.failed = append(e.failed, l)
		}
	}
	return e
}

func TestKafkaToolsOpsLeaderElection(t *testing.T) {
	k := newKafkaTools(t)
	const partitions = 2
	topic, _, _, adm := opsTopic(t, k, "ops-elect", partitions, 5)
	elect := func(args ...string) (opsElection, string) {
		t.Helper()
		out := k.run(t, "", "kafka-leader-election.sh", append([]string{"--bootstrap-server", k.addr}, args...)...)
		return opsParseElection(out), out
	}

	// Preferred, every partition of the cluster: exit 0 and no failure;
	// partitions that needed no election are left out of the answer, and
	// afterwards every partition of the topic is led by its preferred
	// replica.
	e, out := elect("--election-type", "preferred", "--all-topic-partitions")
	if len(e.failed) != 0 || len(e.notNeeded) != 0 {
		t.Errorf("preferred election of all partitions: failures %v, not needed %v; want neither (Kafka leaves out partitions that need no election):\n%s", e.failed, e.notNeeded, out)
	}
	opsWaitPreferredLeaders(t, adm, topic)

	// Preferred, one partition already led by its preferred replica: not
	// needed.
	e, out = elect("--election-type", "preferred", "--topic", topic, "--partition", "0")
	if len(e.elected) != 0 || len(e.failed) != 0 || !slices.Equal(e.notNeeded, []string{topic + "-0"}) {
		t.Errorf("preferred election of %s-0 (led by its preferred replica): elected %v, not needed %v, failed %v; want \"Valid replica already elected for partitions %s-0\":\n%s",
			topic, e.elected, e.notNeeded, e.failed, topic, out)
	}

	// Unclean, a partition whose leader is alive: not needed, the leader
	// stays.
	before, _ := opsPartitions(t, adm, topic)
	e, out = elect("--election-type", "unclean", "--topic", topic, "--partition", "1")
	if len(e.elected) != 0 || len(e.failed) != 0 || !slices.Equal(e.notNeeded, []string{topic + "-1"}) {
		t.Errorf("unclean election of %s-1 (its leader alive): elected %v, not needed %v, failed %v; want \"Valid replica already elected for partitions %s-1\":\n%s",
			topic, e.elected, e.notNeeded, e.failed, topic, out)
	}
	after, _ := opsPartitions(t, adm, topic)
	if b, a := before[1], after[1]; a.Leader != b.Leader || a.LeaderEpoch != b.LeaderEpoch {
		t.Errorf("an unclean election with a live leader moved %s-1 from leader %d epoch %d to %d epoch %d", topic, b.Leader, b.LeaderEpoch, a.Leader, a.LeaderEpoch)
	}
}

// opsLogDirs is the JSON line of kafka-log-dirs.sh --describe.
type opsLogDirs struct {
	Version int `json:"version"`
	Brokers []struct {
		Broker  int32 `json:"broker"`
		LogDirs []struct {
			LogDir     string  `json:"logDir"`
			Error      *string `json:"error"`
			Partitions []struct {
				Partition string `json:"partition"`
				Size      int64  `json:"size"`
				OffsetLag int64  `json:"offsetLag"`
				IsFuture  bool   `json:"isFuture"`
			} `json:"partitions"`
		} `json:"logDirs"`
	} `json:"brokers"`
}

// opsReplica names a partition's replica on a broker.
type opsReplica struct {
	broker    int32
	partition string // <topic>-<p>
}

// opsLogDirSizes parses the output of kafka-log-dirs.sh --describe: the
// brokers it answered for and, per replica, its size; a replica that is
// future, lags or sits in a failed log dir is reported as an error.
func opsLogDirSizes(out string) (brokers []int32, sizes map[opsReplica]int64, err error) {
	var ld opsLogDirs
	found := false
	for _, l := range toolLines(out) {
		if strings.HasPrefix(l, "{") {
			if err := json.Unmarshal([]byte(l), &ld); err != nil {
				return nil, nil, fmt.Errorf("JSON line %q: %v", l, err)
			}
			found = true
		}
	}
	if !found || ld.Version != 1 {
		return nil, nil, fmt.Errorf("no JSON line of version 1")
	}
	sizes = map[opsReplica]int64{}
	for _, b := range ld.Brokers {
		brokers = append(brokers, b.Broker)
		for _, d := range b.LogDirs {
			if d.Error != nil {
				return nil, nil, fmt.Errorf("broker %d, log dir %s: error %q", b.Broker, d.LogDir, *d.Error)
			}
			for _, p := range d.Partitions {
				r := opsReplica{b.Broker, p.Partition}
				if _, dup := sizes[r]; dup || p.IsFuture || p.OffsetLag != 0 {
					return nil, nil, fmt.Errorf("broker %d, log dir %s: %s listed twice, or future (%v) or lagging (%d)", b.Broker, d.LogDir, p.Partition, p.IsFuture, p.OffsetLag)
				}
				sizes[r] = p.Size
			}
		}
	}
	slices.Sort(brokers)
	return brokers, sizes, nil
}

func TestKafkaToolsOpsLogDirs(t *testing.T) {
	k := newKafkaTools(t)
	const partitions = 2
	topic, _, cl, adm := opsTopic(t, k, "ops-logdirs", partitions, 10)
	describe := func() map[opsReplica]int64 {
		t.Helper()
		out := k.run(t, "", "kafka-log-dirs.sh", "--bootstrap-server", k.addr, "--describe", "--topic-list", topic)
		brokers, sizes, err := opsLogDirSizes(out)
		if err != nil {
			t.Fatalf("kafka-log-dirs --describe: %v:\n%s", err, out)
		}
		_, cluster := opsPartitions(t, adm, topic)
		var want []int32
		for _, b := range cluster {
			want = append(want, b.NodeID)
		}
		slices.Sort(want)
		if !slices.Equal(brokers, want) {
			t.Errorf("kafka-log-dirs --describe answered for brokers %v, want every broker of the cluster %v:\n%s", brokers, want, out)
		}
		for r := range sizes {
			if !strings.HasPrefix(r.partition, topic+"-") {
				t.Errorf("kafka-log-dirs --describe --topic-list %s lists %s of broker %d:\n%s", topic, r.partition, r.broker, out)
			}
		}
		return sizes
	}

	// Every replica of every partition is listed; those in the ISR (which
	// acknowledged the acks=all produce) hold data.
	first := describe()
	parts, _ := opsPartitions(t, adm, topic)
	for p := int32(0); p < partitions; p++ {
		d := parts[p]
		for _, b := range d.Replicas {
			size, ok := first[opsReplica{b, fmt.Sprintf("%s-%d", topic, p)}]
			if !ok {
				t.Errorf("kafka-log-dirs --describe does not list %s-%d on broker %d, one of its replicas %v: %v", topic, p, b, d.Replicas, first)
			} else if slices.Contains(d.ISR, b) && size <= 0 {
				t.Errorf("kafka-log-dirs --describe: %s-%d on broker %d (in the ISR %v) has size %d after producing, want > 0", topic, p, b, d.ISR, size)
			}
		}
	}

	// More records: every replica that acknowledged them grows.
	ktProduce(t, cl, topic, partitions, ktValues("ops-logdirs-more", 0, 2*partitions*10))
	parts, _ = opsPartitions(t, adm, topic)
	second := describe()
	for p := int32(0); p < partitions; p++ {
		for _, b := range parts[p].ISR {
			r := opsReplica{b, fmt.Sprintf("%s-%d", topic, p)}
			if second[r] <= first[r] {
				t.Errorf("kafka-log-dirs --describe: %s on broker %d has size %d after producing more, was %d; want it grown", r.partition, b, second[r], first[r])
			}
		}
	}
}

// opsPerfStats parses the CSV of kafka-consumer-perf-test.sh: the header
// line naming "data.consumed.in.nMsg" and the line of values after it.
func opsPerfStats(out string) map[string]string {
	lines := toolLines(out)
	for i, l := range lines {
		header := strings.Split(l, ", ")
		if !containsString(header, "data.consumed.in.nMsg") || i+1 >= len(lines) {
			continue
		}
		vals := strings.Split(lines[i+1], ", ")
		if len(vals) != len(header) {
			return nil
		}
		stats := map[string]string{}
		for j, h := range header {
			stats[h] = vals[j]
		}
		return stats
	}
	return nil
}

func TestKafkaToolsOpsConsumerPerfTest(t *testing.T) {
	k := newKafkaTools(t)
	const partitions = 3
	topic, values, _, adm := opsTopic(t, k, "ops-cperf", partitions, 100)
	group := randomName("ops-cperf-g")
	size := 0
	for _, v := range values {
		size += len(v)
	}

	out := k.run(t, "", "kafka-consumer-perf-test.sh", "--bootstrap-server", k.addr, "--topic", topic,
		"--messages", strconv.Itoa(len(values)), "--group", group, "--timeout", "30000")
	stats := opsPerfStats(out)
	if stats == nil {
		t.Fatalf("kafka-consumer-perf-test printed no CSV header and values:\n%s", out)
	}
	if stats["data.consumed.in.nMsg"] != strconv.Itoa(len(values)) || strings.Contains(out, "WARNING") {
		t.Errorf("kafka-consumer-perf-test --messages %d consumed %s messages, want %d:\n%s", len(values), stats["data.consumed.in.nMsg"], len(values), out)
	}
	if mb := fmt.Sprintf("%.4f", float64(size)/(1024*1024)); stats["data.consumed.in.MB"] != mb {
		t.Errorf("kafka-consumer-perf-test consumed %s MB, want %s (%d bytes of values):\n%s", stats["data.consumed.in.MB"], mb, size, out)
	}

	// The consumer commits its positions (auto-commit) as it closes: the
	// end of every partition.
	if got, want := ktFetchOffsets(t, adm, group, topic), opsListOffsets(t, adm, topic, false); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after kafka-consumer-perf-test its group %s has committed %v, want the end offsets %v", group, got, want)
	}
}

// opsVCEvent is one JSON line of kafka-verifiable-consumer.sh.
type opsVCEvent struct {
	Name       string `json:"name"`
	Success    *bool  `json:"success"`
	Error      string `json:"error"`
	Partitions []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Count     int64  `json:"count"`
		MinOffset int64  `json:"minOffset"`
		MaxOffset int64  `json:"maxOffset"`
	} `json:"partitions"`
	Offsets []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
	} `json:"offsets"`
}

// opsVCSummary is what the verifiable consumer reported: records consumed
// of topic (the summaries of records_consumed, whose own count is the
// whole poll, cut records included), the offset after the last one per
// partition, the last offset committed per partition, and any problem
// (a gap or repeat in the offsets, a failed commit, a missing event).
type opsVCSummary struct {
	consumed  int64
	next      map[int32]int64
	committed map[int32]int64
	problems  []string
}

func opsVerifiableConsumer(out, topic string) opsVCSummary {
	s := opsVCSummary{next: map[int32]int64{}, committed: map[int32]int64{}}
	var names []string
	for _, l := range toolLines(out) {
		var ev opsVCEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			s.problems = append(s.problems, fmt.Sprintf("line %q is not JSON: %v", l, err))
			continue
		}
		names = append(names, ev.Name)
		switch ev.Name {
		case "records_consumed":
			for _, p := range ev.Partitions {
				if p.Topic != topic {
					continue
				}
				if p.MinOffset != s.next[p.Partition] || p.MaxOffset-p.MinOffset+1 != p.Count {
					s.problems = append(s.problems, fmt.Sprintf("partition %d: consumed %d records at offsets %d-%d after offset %d", p.Partition, p.Count, p.MinOffset, p.MaxOffset, s.next[p.Partition]))
				}
				s.consumed += p.Count
				s.next[p.Partition] = p.MaxOffset + 1
			}
		case "offsets_committed":
			if ev.Success == nil || !*ev.Success {
				s.problems = append(s.problems, fmt.Sprintf("a commit failed: %q", ev.Error))
			}
			for _, o := range ev.Offsets {
				if o.Topic == topic {
					s.committed[o.Partition] = o.Offset
				}
			}
		}
	}
	if len(names) < 2 || names[0] != "startup_complete" || names[len(names)-1] != "shutdown_complete" {
		s.problems = append(s.problems, fmt.Sprintf("events %v do not run from startup_complete to shutdown_complete", names))
	}
	return s
}

func TestKafkaToolsOpsVerifiableConsumer(t *testing.T) {
	k := newKafkaTools(t)
	const partitions, perPartition, maxMessages = 3, 20, 45
	topic, _, _, adm := opsTopic(t, k, "ops-vcons", partitions, perPartition)
	group := randomName("ops-vcons-g")

	out := k.run(t, "", "kafka-verifiable-consumer.sh", "--bootstrap-server", k.addr, "--topic", topic,
		"--group-id", group, "--max-messages", strconv.Itoa(maxMessages), "--reset-policy", "earliest")
	s := opsVerifiableConsumer(out, topic)
	if len(s.problems) != 0 {
		t.Errorf("kafka-verifiable-consumer: %s:\n%s", strings.Join(s.problems, "; "), ccTail(out))
	}
	if s.consumed != maxMessages {
		t.Errorf("kafka-verifiable-consumer --max-messages %d consumed %d records of %s:\n%s", maxMessages, s.consumed, topic, ccTail(out))
	}
	// It commits after each poll what it consumed: the offset after the
	// last record of each partition, and the group holds those offsets.
	if fmt.Sprint(s.committed) != fmt.Sprint(s.next) {
		t.Errorf("kafka-verifiable-consumer committed %v, want the offsets after what it consumed %v:\n%s", s.committed, s.next, ccTail(out))
	}
	if got := ktFetchOffsets(t, adm, group, topic); fmt.Sprint(got) != fmt.Sprint(s.committed) {
		t.Errorf("group %s has committed offsets %v, want those kafka-verifiable-consumer reported %v", group, got, s.committed)
	}
}

func TestKafkaToolsOpsEndToEndLatency(t *testing.T) {
	k := newKafkaTools(t)
	topic := randomName("ops-e2e")
	_, adm := ktClient(t, k.addr)
	opsCreateTopic(t, k, adm, topic, 1)
	const n = 50

	// Each record is produced with acks=all and read back before the next.
	out := k.run(t, "", "kafka-e2e-latency.sh", k.addr, topic, strconv.Itoa(n), "all", "64")
	avg := regexp.MustCompile(`(?m)^Avg latency: (\d+\.\d+) ms$`).FindStringSubmatch(out)
	pct := regexp.MustCompile(`(?m)^Percentiles: 50th = (\d+), 99th = (\d+), 99\.9th = (\d+)$`).FindStringSubmatch(out)
	if avg == nil || pct == nil {
		t.Fatalf("kafka-e2e-latency printed no average latency and percentiles:\n%s", out)
	}
	p50, _ := strconv.Atoi(pct[1])
	p99, _ := strconv.Atoi(pct[2])
	p999, _ := strconv.Atoi(pct[3])
	if p50 > p99 || p99 > p999 {
		t.Errorf("kafka-e2e-latency percentiles 50th %d, 99th %d, 99.9th %d are not ordered:\n%s", p50, p99, p999, out)
	}
	if strings.Contains(out, "does not exist") {
		t.Errorf("kafka-e2e-latency did not find the topic %s:\n%s", topic, out)
	}
	if got := opsListOffsets(t, adm, topic, false); got[0] != n {
		t.Errorf("after kafka-e2e-latency the end offset of %s-0 is %d, want the %d records it sent", topic, got[0], n)
	}
}

// opsReplicaFetches fetches each partition of topic from the start on
// every replica's broker as kafka-replica-verification.sh does (replica id
// -2, the debugging consumer) and says what each answered. Kafka serves
// consumer fetches of version 11 and later from any replica, its leader or
// a follower, up to that replica's high watermark (FetchParams.
// fetchOnlyLeader is false once the request carries client metadata).
func opsReplicaFetches(t *testing.T, cl *kgo.Client, adm *kadm.Client, topic string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return fmt.Sprintf("metadata of %s: %v", topic, err)
	}
	td := md.Topics[topic]
	var lines []string
	for _, pd := range td.Partitions.Sorted() {
		for _, b := range pd.Replicas {
			req := kmsg.NewPtrFetchRequest()
			req.ReplicaID, req.ReplicaState.ID = -2, -2
			req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = 100, 1, 1<<20, -1
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = topic, td.ID
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = pd.Partition, -1, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			role := "follower"
			if b == pd.Leader {
				role = "leader"
			}
			what := fmt.Sprintf("%s-%d from broker %d (%s)", topic, pd.Partition, b, role)
			resp, err := req.RequestWith(ctx, cl.Broker(int(b)))
			if err != nil {
				lines = append(lines, fmt.Sprintf("%s: %v", what, err))
				continue
			}
			for _, rt := range resp.Topics {
				for _, p := range rt.Partitions {
					lines = append(lines, fmt.Sprintf("%s: error %v, high watermark %d, %d bytes of records",
						what, kerr.ErrorForCode(p.ErrorCode), p.HighWatermark, len(p.RecordBatches)))
				}
			}
		}
	}
	return strings.Join(lines, "\n")
}

// opsMaxLag matches the report line of kafka-replica-verification.sh.
var opsMaxLag = regexp.MustCompile(`max lag is (-?\d+) for partition (\S+)-(\d+) at offset (-?\d+) among (\d+) partitions`)

func TestKafkaToolsOpsReplicaVerification(t *testing.T) {
	k := newKafkaTools(t)
	const partitions = 2
	topic, _, cl, adm := opsTopic(t, k, "ops-replver", partitions, 10)
	ends := opsListOffsets(t, adm, topic, false)

	// The tool verifies from the earliest offsets (--time -2) and reports
	// until it is stopped: read its stdout line by line until it reports
	// a lag of 0, then stop it.
	const bound = 30 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(k.dir, "kafka-replica-verification.sh"), "--broker-list", k.addr,
		"--topics-include", topic, "--time", "-2", "--report-interval-ms", "200", "--max-wait-ms", "100")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting kafka-replica-verification.sh: %v", err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	var seen, mismatches []string
	var report []string
	exited := false
	for report == nil && !exited && ctx.Err() == nil {
		select {
		case l, ok := <-lines:
			if !ok {
				exited = true
				break
			}
			seen = append(seen, l)
			if strings.Contains(l, "doesn't match") || strings.Contains(l, "unmatched checksum") {
				mismatches = append(mismatches, l)
			}
			if m := opsMaxLag.FindStringSubmatch(l); m != nil && m[1] == "0" {
				report = m
			}
		case <-ctx.Done():
		}
	}
	cancel() // kills the tool (the script execs java)
	for range lines {
	}
	cmd.Wait()
	// It prints a line every 200ms: the last few say enough.
	out := strings.Join(seen[max(0, len(seen)-5):], "\n")
	if len(seen) > 5 {
		out = fmt.Sprintf("(%d lines, the last 5)\n%s", len(seen), out)
	}
	switch {
	case report == nil && exited:
		t.Fatalf("kafka-replica-verification exited without reporting a max lag of 0:\nstdout:\n%s\nstderr:\n%s\nthe replicas answer its fetches:\n%s",
			out, ccTail(stderr.String()), opsReplicaFetches(t, cl, adm, topic))
	case report == nil:
		t.Fatalf("timed out after %v waiting for kafka-replica-verification to report \"max lag is 0\":\nstdout:\n%s\nstderr:\n%s\nthe replicas answer its fetches:\n%s",
			bound, out, ccTail(stderr.String()), opsReplicaFetches(t, cl, adm, topic))
	}
	if len(mismatches) != 0 {
		t.Errorf("kafka-replica-verification found replicas that differ: %q", mismatches)
	}
	p, _ := strconv.ParseInt(report[3], 10, 32)
	if report[2] != topic || report[5] != strconv.Itoa(partitions) || report[4] != strconv.FormatInt(ends[int32(p)], 10) {
		t.Errorf("kafka-replica-verification reported %q, want partition %s-<p> at its end offset (%v) among %d partitions", report[0], topic, ends, partitions)
	}
}

// opsResetPlan parses the "Topic: <t> Partition: <p> Offset: <o>" lines of
// kafka-streams-application-reset.sh.
func opsResetPlan(out, topic string) map[int32]int64 {
	plan := map[int32]int64{}
	re := regexp.MustCompile(`(?m)^Topic: (\S+) Partition: (\d+) Offset: (-?\d+)$`)
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		if m[1] != topic {
			continue
		}
		p, _ := strconv.ParseInt(m[2], 10, 32)
		plan[int32(p)], _ = strconv.ParseInt(m[3], 10, 64)
	}
	return plan
}

func TestKafkaToolsOpsStreamsResetter(t *testing.T) {
	k := newKafkaTools(t)
	const partitions, perPartition = 3, 10
	topic, _, _, adm := opsTopic(t, k, "ops-sreset", partitions, perPartition)
	app := randomName("ops-sreset-app")

	// Partition 1 starts at 4, so the earliest offsets are not all 0.
	func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var offs kadm.Offsets
		offs.Add(kadm.Offset{Topic: topic, Partition: 1, At: 4})
		resps, err := adm.DeleteRecords(ctx, offs)
		if err == nil {
			err = resps.Error()
		}
		if err != nil {
			t.Fatalf("deleting the records of %s-1 below offset 4: %v", topic, err)
		}
	}()
	starts := opsListOffsets(t, adm, topic, true)
	if fmt.Sprint(starts) != fmt.Sprint(map[int32]int64{0: 0, 1: 4, 2: 0}) {
		t.Fatalf("start offsets of %s are %v after deleting records below 4 on partition 1", topic, starts)
	}
	committed := map[int32]int64{0: perPartition, 1: perPartition, 2: perPartition}
	opsCommit(t, adm, app, topic, committed)

	reset := func(args ...string) (map[int32]int64, string) {
		t.Helper()
		args = append([]string{"--bootstrap-server", k.addr, "--application-id", app, "--input-topics", topic}, args...)
		out := k.run(t, "", "kafka-streams-application-reset.sh", args...)
		return opsResetPlan(out, topic), out
	}
	for _, c := range []struct {
		args      []string
		plan      map[int32]int64
		committed map[int32]int64
	}{
		// --dry-run shows the reset to the earliest offsets, commits nothing.
		{[]string{"--dry-run"}, starts, committed},
		// --to-offset 2, kept within the log: partition 1 starts at 4.
		{[]string{"--to-offset", "2"}, map[int32]int64{0: 2, 1: 4, 2: 2}, map[int32]int64{0: 2, 1: 4, 2: 2}},
		// By default, to the earliest offsets.
		{nil, starts, starts},
	} {
		plan, out := reset(c.args...)
		if fmt.Sprint(plan) != fmt.Sprint(c.plan) {
			t.Errorf("kafka-streams-application-reset %s planned %v, want %v:\n%s", strings.Join(c.args, " "), plan, c.plan, out)
		}
		if got := ktFetchOffsets(t, adm, app, topic); fmt.Sprint(got) != fmt.Sprint(c.committed) {
			t.Errorf("after kafka-streams-application-reset %s the group %s has committed %v, want %v", strings.Join(c.args, " "), app, got, c.committed)
		}
	}
}

// TestKafkaToolsOpsParsers checks the parsers above on output as the tools
// print it (copied from Kafka 4.0's tools), so they are exercised where no
// Kafka distribution is installed.
func TestKafkaToolsOpsParsers(t *testing.T) {
	const tp = "ops-x-1a2b"

	del := "Executing records delete operation\nRecords delete operation completed:\n" +
		"partition: " + tp + "-0\terror: org.apache.kafka.common.errors.OffsetOutOfRangeException: The requested offset is not within the range of offsets maintained by the server.\n" +
		"partition: " + tp + "-1\tlow_watermark: 100\n"
	if low, errs := opsDeleteRecordsResult(del, tp); fmt.Sprint(low) != "map[1:100]" || len(errs) != 1 || !strings.Contains(errs[0], "OffsetOutOfRange") {
		t.Errorf("delete-records output parsed as %v, errors %v", low, errs)
	}

	el := opsParseElection("Successfully completed leader election (PREFERRED) for partitions " + tp + "-0, " + tp + "-2\n" +
		"Valid replica already elected for partitions " + tp + "-1\n" +
		"Error completing leader election (PREFERRED) for partition: " + tp + "-3: org.apache.kafka.common.errors.PreferredLeaderNotAvailableException: x\n")
	if !slices.Equal(el.elected, []string{tp + "-0", tp + "-2"}) || !slices.Equal(el.notNeeded, []string{tp + "-1"}) || len(el.failed) != 1 {
		t.Errorf("leader-election output parsed as %+v", el)
	}

	ld := "Querying brokers for log directories information\nReceived log directory information from brokers 0\n" +
		`{"brokers":[{"broker":0,"logDirs":[{"partitions":[{"partition":"` + tp + `-0","size":0,"offsetLag":0,"isFuture":false},{"partition":"` + tp + `-1","size":712,"offsetLag":0,"isFuture":false}],"error":null,"logDir":"/d"}]}],"version":1}` + "\n"
	if b, s, err := opsLogDirSizes(ld); err != nil || fmt.Sprint(b) != "[0]" || s[opsReplica{0, tp + "-1"}] != 712 || len(s) != 2 {
		t.Errorf("log-dirs output parsed as brokers %v, sizes %v, %v", b, s, err)
	}
	if _, _, err := opsLogDirSizes(strings.Replace(ld, `"isFuture":false}]`, `"isFuture":true}]`, 1)); err == nil {
		t.Errorf("log-dirs output with a future replica parsed without error")
	}

	perf := "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n" +
		"2026-12-02 17:14:36:892, 2026-12-02 17:14:37:458, 0.0008, 0.0013, 300, 530.0353, 500, 66, 0.0114, 4545.4545\n"
	if s := opsPerfStats(perf); s["data.consumed.in.nMsg"] != "300" || s["data.consumed.in.MB"] != "0.0008" {
		t.Errorf("consumer-perf-test output parsed as %v", s)
	}

	vc := `{"timestamp":1,"name":"startup_complete"}` + "\n" +
		`{"timestamp":2,"name":"partitions_assigned","partitions":[{"topic":"` + tp + `","partition":0},{"topic":"` + tp + `","partition":1}]}` + "\n" +
		`{"timestamp":3,"name":"records_consumed","count":30,"partitions":[{"topic":"` + tp + `","partition":0,"count":20,"minOffset":0,"maxOffset":19},{"topic":"` + tp + `","partition":1,"count":5,"minOffset":0,"maxOffset":4}]}` + "\n" +
		`{"timestamp":4,"name":"offsets_committed","offsets":[{"topic":"` + tp + `","partition":0,"offset":20},{"topic":"` + tp + `","partition":1,"offset":5}],"success":true}` + "\n" +
		`{"timestamp":5,"name":"partitions_revoked","partitions":[{"topic":"` + tp + `","partition":0},{"topic":"` + tp + `","partition":1}]}` + "\n" +
		`{"timestamp":6,"name":"shutdown_complete"}` + "\n"
	if s := opsVerifiableConsumer(vc, tp); s.consumed != 25 || fmt.Sprint(s.committed) != "map[0:20 1:5]" || fmt.Sprint(s.next) != "map[0:20 1:5]" || len(s.problems) != 0 {
		t.Errorf("verifiable-consumer output parsed as %+v", s)
	}
	if s := opsVerifiableConsumer(strings.Replace(vc, `"success":true`, `"success":false,"error":"x"`, 1), tp); len(s.problems) != 1 {
		t.Errorf("verifiable-consumer output with a failed commit parsed as %+v", s)
	}

	if m := opsMaxLag.FindStringSubmatch("2026-12-02 17:14:57,966: max lag is 0 for partition " + tp + "-1 at offset 200 among 6 partitions"); m == nil || m[2] != tp || m[3] != "1" || m[4] != "200" || m[5] != "6" {
		t.Errorf("replica-verification report parsed as %q", m)
	}

	reset := "Reset-offsets for input topics [" + tp + "]\nFollowing input topics offsets will be reset to (for consumer group g)\n" +
		"New offset (5) is higher than latest offset. Value will be set to 0\n" +
		"Topic: " + tp + " Partition: 0 Offset: 5\nTopic: " + tp + " Partition: 2 Offset: 0\nDone.\n"
	if p := opsResetPlan(reset, tp); fmt.Sprint(p) != "map[0:5 2:0]" {
		t.Errorf("streams-application-reset output parsed as %v", p)
	}
}
