package compat

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
	"gregor/internal/wait"
)

// jbodBroker starts a gregor process with two log dirs.
func jbodBroker(t *testing.T) (b *brokertest.Broker, dirs [2]string) {
	t.Helper()
	if !usingGregor() {
		t.Skip("starts its own gregor process with two log dirs")
	}
	root := t.TempDir()
	dirs = [2]string{filepath.Join(root, "disk1"), filepath.Join(root, "disk2")}
	b = brokertest.Start(t, brokertest.Options{Set: map[string]string{
		"log.dirs": dirs[0] + "," + dirs[1],
	}})
	return b, dirs
}

// replicaDirs returns, for each partition of topic, the dir holding its
// replica and the dir of its copy being moved, if any (one broker).
func replicaDirs(t *testing.T, adm *kadm.Client, topic string) (current, future map[int32]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	current, future = map[int32]string{}, map[int32]string{}
	for _, dirs := range all {
		for dir, d := range dirs {
			if d.Err != nil {
				t.Fatalf("log dir %s: %v", dir, d.Err)
			}
			for _, p := range d.Topics[topic] {
				if p.IsFuture {
					future[p.Partition] = dir
				} else {
					current[p.Partition] = dir
				}
			}
		}
	}
	return current, future
}

// consumeAll reads a topic's partitions from the start to their ends and
// returns "partition/offset=value" for each record.
func consumeAll(t *testing.T, addr, topic string, want int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s: %v", len(recs), want, topic, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
	}
	// Partitions interleave as fetches happen to return them: in
	// partition and offset order two reads of the same log compare.
	slices.SortStableFunc(recs, func(a, b *kgo.Record) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = fmt.Sprintf("%d/%d=%s", r.Partition, r.Offset, r.Value)
	}
	return out
}

// firstDifference describes where two consumeAll lists part, for a
// failure message.
func firstDifference(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("record %d: %s, before %s", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("%d records, before %d", len(a), len(b))
}

// kafka-reassign-partitions.sh moves replicas between a broker's log dirs
// ("log_dirs" in its plan), throttled with
// --replica-alter-log-dirs-throttle, and --verify reports them done and
// lifts the throttle; kadm's AlterAllReplicaLogDirs moves one back. The
// records, their offsets and produce go on across the moves and a
// restart, and each log dir ends up holding only what it should.
func TestAlterReplicaLogDirsMovesReplicas(t *testing.T) {
	b, dirs := jbodBroker(t)
	cl, adm := ktClient(t, b.Addr)
	topic := randomName("jbod")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Small segments, so that a move copies several.
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"internal.segment.bytes": kmsg.StringPtr("65536")}, topic); err != nil {
		t.Fatal(err)
	}
	var values []string
	for i := range 2000 {
		values = append(values, fmt.Sprintf("v%04d-%s", i, strings.Repeat("x", 200)))
	}
	ktProduce(t, cl, topic, 2, values)
	before := consumeAll(t, b.Addr, topic, len(values))
	current, _ := replicaDirs(t, adm, topic)
	if current[0] == current[1] {
		t.Errorf("both partitions of a new topic were placed in %s; a new replica goes to the dir holding the fewest", current[0])
	}
	other := func(d string) string {
		if d == dirs[0] {
			return dirs[1]
		}
		return dirs[0]
	}
	target := map[int32]string{0: other(current[0]), 1: other(current[1])}

	meta, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := meta.Brokers[0].NodeID

	// Kafka's errors, per partition.
	bad := kadm.AlterReplicaLogDirsReq{}
	bad.Add(filepath.Join(dirs[0], "no-such-dir"), kadm.TopicsSet{topic: {0: {}}})
	bad.Add(dirs[0], kadm.TopicsSet{"no-such-topic": {0: {}}})
	res, err := adm.AlterBrokerReplicaLogDirs(ctx, id, bad)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Errorf("AlterReplicaLogDirs answered %d topics, want 2: %v", len(res), res)
	}
	for _, r := range []kadm.AlterReplicaLogDirsResponse{res[topic][0], res["no-such-topic"][0]} {
		want := kerr.LogDirNotFound
		if r.Topic == "no-such-topic" {
			want = kerr.UnknownTopicOrPartition
		}
		if r.Err != want {
			t.Errorf("AlterReplicaLogDirs of %s-%d to %s: %v, want %v", r.Topic, r.Partition, r.Dir, r.Err, want)
		}
	}

	if kt := newKafkaToolsOrNil(t); kt != nil {
		kt.addr = b.Addr
		plan := fmt.Sprintf(`{"version":1,"partitions":[`+
			`{"topic":%q,"partition":0,"replicas":[%d],"log_dirs":[%q]},`+
			`{"topic":%q,"partition":1,"replicas":[%d],"log_dirs":[%q]}]}`,
			topic, id, target[0], topic, id, target[1])
		file := filepath.Join(t.TempDir(), "plan.json")
		if err := os.WriteFile(file, []byte(plan), 0o644); err != nil {
			t.Fatal(err)
		}
		out := kt.run(t, "", "kafka-reassign-partitions.sh", "--bootstrap-server", b.Addr, "--execute",
			"--reassignment-json-file", file, "--replica-alter-log-dirs-throttle", "50000000")
		for p := range 2 {
			if want := fmt.Sprintf("Successfully started moving log directory to %s for replica %s-%d with broker %d", target[int32(p)], topic, p, id); !strings.Contains(out, want) {
				t.Fatalf("--execute printed:\n%s\nwant %q", out, want)
			}
		}
		var verify string
		wait.For(t, "kafka-reassign-partitions.sh --verify to report both log dir moves complete", 60*time.Second, func() bool {
			verify = kt.run(t, "", "kafka-reassign-partitions.sh", "--bootstrap-server", b.Addr, "--verify",
				"--reassignment-json-file", file)
			return strings.Contains(verify, fmt.Sprintf("Reassignment of replica %s-0-%d completed successfully.", topic, id)) &&
				strings.Contains(verify, fmt.Sprintf("Reassignment of replica %s-1-%d completed successfully.", topic, id))
		})
		if !strings.Contains(verify, "Clearing broker-level throttles") {
			t.Errorf("--verify did not clear the throttle:\n%s", verify)
		}
		cfgs, err := adm.DescribeBrokerConfigs(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, rc := range cfgs {
			for _, c := range rc.Configs {
				if c.Key == "replica.alter.log.dirs.io.max.bytes.per.second" && c.Source == 1 /* DYNAMIC_BROKER_CONFIG */ {
					t.Errorf("the throttle is still set after --verify: %v", c.MaybeValue())
				}
			}
		}
	} else {
		req := kadm.AlterReplicaLogDirsReq{}
		for p, d := range target {
			req.Add(d, kadm.TopicsSet{topic: {p: {}}})
		}
		alterOK(t, adm, req)
	}
	wait.For(t, "both replicas in their new dirs with no copy left", 30*time.Second, func() bool {
		cur, fut := replicaDirs(t, adm, topic)
		return cur[0] == target[0] && cur[1] == target[1] && len(fut) == 0
	})
	if after := consumeAll(t, b.Addr, topic, len(values)); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("after the move the topic reads otherwise: %s", firstDifference(after, before))
	}

	// kadm moves partition 0 back while a producer writes to it.
	more := make([]string, 500)
	for i := range more {
		more[i] = fmt.Sprintf("m%04d", i)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, v := range more {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)}).FirstErr(); err != nil {
				t.Errorf("produce during the move: %v", err)
				return
			}
		}
	}()
	back := kadm.AlterReplicaLogDirsReq{}
	back.Add(current[0], kadm.TopicsSet{topic: {0: {}}})
	alterOK(t, adm, back)
	<-done
	wait.For(t, "partition 0 back in "+current[0], 30*time.Second, func() bool {
		cur, fut := replicaDirs(t, adm, topic)
		return cur[0] == current[0] && len(fut) == 0
	})
	total := len(values) + len(more)
	afterBack := consumeAll(t, b.Addr, topic, total)

	// A restart finds every replica where it was moved, whole.
	b.Restart()
	_, adm2 := ktClient(t, b.Addr)
	var cur map[int32]string
	wait.For(t, "the restarted broker to describe its log dirs", 30*time.Second, func() bool {
		c, fut := replicaDirs(t, adm2, topic)
		cur = c
		return len(c) == 2 && len(fut) == 0
	})
	if cur[0] != current[0] || cur[1] != target[1] {
		t.Fatalf("after a restart partition 0 is in %s (want %s), 1 in %s (want %s)", cur[0], current[0], cur[1], target[1])
	}
	if again := consumeAll(t, b.Addr, topic, total); strings.Join(again, "\n") != strings.Join(afterBack, "\n") {
		t.Fatalf("after a restart the topic reads otherwise: %s", firstDifference(again, afterBack))
	}
	for p, want := range map[int32]string{0: current[0], 1: target[1]} {
		for _, d := range dirs {
			ents, _ := os.ReadDir(d)
			for _, e := range ents {
				name := fmt.Sprintf("%s-%d", topic, p)
				if strings.HasPrefix(e.Name(), name) && (d != want || e.Name() != name) {
					t.Errorf("%s holds %s after the moves", d, e.Name())
				}
			}
		}
	}
}

// alterOK sends AlterReplicaLogDirs and fails on any error.
func alterOK(t *testing.T, adm *kadm.Client, req kadm.AlterReplicaLogDirsReq) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := adm.AlterAllReplicaLogDirs(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	res.Each(func(r kadm.AlterReplicaLogDirsResponse) {
		if r.Err != nil {
			t.Fatalf("moving %s-%d to %s: %v", r.Topic, r.Partition, r.Dir, r.Err)
		}
	})
}

// newKafkaToolsOrNil is newKafkaTools without skipping: nil when
// KAFKA_TOOLS_DIR is not set (the test then uses kadm alone).
func newKafkaToolsOrNil(t *testing.T) *kafkaTools {
	if os.Getenv("KAFKA_TOOLS_DIR") == "" {
		t.Log("KAFKA_TOOLS_DIR not set: moving with kadm instead of kafka-reassign-partitions.sh")
		return nil
	}
	return newKafkaTools(t)
}

// A log dir listed twice in log.dirs (here through a symlink) stops
// start-up with Kafka's message (LogManager.createAndValidateLogDirs),
// before the dir is opened twice and each replica in it served twice.
func TestDuplicateLogDirStopsStartup(t *testing.T) {
	if !usingGregor() {
		t.Skip("starts its own gregor process")
	}
	root := t.TempDir()
	disk := filepath.Join(root, "disk1")
	if err := os.Mkdir(disk, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(disk, filepath.Join(root, "alias")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	port := brokertest.FreePort(t)
	out, err := exec.CommandContext(ctx, brokertest.Binary(t), "--set", "log.dirs="+disk+","+filepath.Join(root, "alias"),
		"--set", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d", port), "--set", "gregor.metrics.listener=").CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("the broker started (or hung) with a log dir listed twice: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "log.dirs: Duplicate log directory found: "+disk+", "+filepath.Join(root, "alias")) {
		t.Fatalf("start-up failed without Kafka's duplicate log dir message:\n%s", out)
	}
}

// A second broker process pointed at a running broker's log dir stops
// start-up, as Kafka's LogManager.lockLogDirs refuses a dir whose .lock
// another process holds, before it reads or recovers anything there; the
// running broker goes on serving. Once that broker has stopped, the dir
// is free again.
func TestLogDirInUseByAnotherBrokerStopsStartup(t *testing.T) {
	if !usingGregor() {
		t.Skip("starts its own gregor processes")
	}
	b := brokertest.Start(t, brokertest.Options{})
	topic := randomName("locked")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	values := []string{"a", "b", "c"}
	produceValues(t, b.Addr, topic, values)
	dir := filepath.Join(b.Dir, "data")
	second := func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, brokertest.Binary(t), "--set", "log.dirs="+dir,
			"--set", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d", brokertest.FreePort(t)), "--set", "gregor.metrics.listener=").CombinedOutput()
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		return out, err
	}
	out, err := second()
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second broker started (or hung) on a log dir in use: %v\n%s", err, out)
	}
	if want := "Failed to acquire lock on file .lock in " + dir + ". A Kafka instance in another process or thread is using this directory."; !strings.Contains(string(out), want) {
		t.Fatalf("start-up failed without Kafka's lock message %q:\n%s", want, out)
	}
	if got := consumeAll(t, b.Addr, topic, len(values)); strings.Join(got, ",") != "0/0=a,0/1=b,0/2=c" {
		t.Fatalf("after the refused start the running broker serves %v", got)
	}
}

// A log dir that cannot be made or read at start-up (here its path is a
// regular file) is offline from the start, as Kafka's
// LogManager.createAndValidateLogDirs takes such a dir for an offline one:
// the broker starts on its other dirs, kafka-log-dirs.sh shows the dir
// with KafkaStorageException, and new replicas go to the dirs that work.
// While it is offline no replica moves between the others
// (KAFKA_STORAGE_ERROR, as Kafka's LogManager.getOrCreateLog makes no
// future log then).
func TestUnusableLogDirIsOfflineAtStartup(t *testing.T) {
	if !usingGregor() {
		t.Skip("starts its own gregor process")
	}
	root := t.TempDir()
	good, good2, bad := filepath.Join(root, "disk1"), filepath.Join(root, "disk3"), filepath.Join(root, "disk2")
	if err := os.WriteFile(bad, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"log.dirs": good + "," + bad + "," + good2}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	topic := randomName("offline-dir")
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	values := []string{"a", "b", "c"}
	produceValues(t, b.Addr, topic, values)
	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, dirs := range all {
		if d, ok := dirs[bad]; !ok || !errors.Is(d.Err, kerr.KafkaStorageError) {
			t.Fatalf("log dir %s (a file) described as %+v, want KAFKA_STORAGE_ERROR", bad, d)
		}
		if d1, d3 := dirs[good], dirs[good2]; d1.Err != nil || d3.Err != nil || len(d1.Topics[topic])+len(d3.Topics[topic]) != 4 {
			t.Fatalf("log dirs %s and %s described as %+v and %+v, want them healthy with the 4 replicas of %s", good, good2, d1, d3, topic)
		}
	}
	current, other := good, good2
	for _, dirs := range all {
		for _, p := range dirs[good2].Topics[topic] {
			if p.Partition == 0 {
				current, other = good2, good
			}
		}
	}
	res, err := adm.AlterAllReplicaLogDirs(ctx, kadm.AlterReplicaLogDirsReq{other: kadm.TopicsSet{topic: {0: {}}}})
	if err != nil {
		t.Fatal(err)
	}
	res.Each(func(r kadm.AlterReplicaLogDirsResponse) {
		if !errors.Is(r.Err, kerr.KafkaStorageError) {
			t.Fatalf("moving %s-0 from %s to %s while %s is offline: %v, want KAFKA_STORAGE_ERROR", topic, current, other, bad, r.Err)
		}
	})
	if got := consumeAll(t, b.Addr, topic, len(values)); len(got) != len(values) {
		t.Fatalf("consumed %v, want %d records", got, len(values))
	}
}
