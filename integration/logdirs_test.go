package integration

// A reassignment that names log dirs, as kafka-reassign-partitions.sh runs
// one with "log_dirs" in its plan, on brokers with two log dirs each: a
// replica moved onto a broker is created in the dir named for it (also
// when the dir was named before the broker held the replica: the broker
// answers REPLICA_NOT_AVAILABLE and remembers it), a replica that stays
// is copied to its other dir in the background and swapped in, and the
// records stay at their offsets across it all and the loss of the leader.
// KAFKA_TOOLS_DIR (the bin directory of a Kafka distribution) runs the
// tool; without it kadm sends what the tool sends.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/internal/wait"
)

// replicaAt names a replica: a broker's copy of a partition.
type replicaAt struct {
	broker    int32
	partition int32
}

func (r replicaAt) String() string { return fmt.Sprintf("broker %d p%d", r.broker, r.partition) }

// jbodDirs are the two log dirs of broker id.
func jbodDirs(c *cluster, id int32) [2]string {
	d := c.brokers[id].Dir
	return [2]string{filepath.Join(d, "d1"), filepath.Join(d, "d2")}
}

// otherDir is the one of dirs that is not d.
func otherDir(dirs [2]string, d string) string {
	if d == dirs[0] {
		return dirs[1]
	}
	return dirs[0]
}

// logDirsOf says, from DescribeLogDirs on every broker, which log dir
// holds each replica of topic and each copy being moved (IsFuture).
func logDirsOf(ctx context.Context, adm *kadm.Client, topic string) (current, future map[replicaAt]string, err error) {
	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	current, future = make(map[replicaAt]string), make(map[replicaAt]string)
	all.Each(func(d kadm.DescribedLogDir) {
		if d.Err != nil {
			err = fmt.Errorf("broker %d, log dir %s: %w", d.Broker, d.Dir, d.Err)
			return
		}
		for _, p := range d.Topics[topic] {
			if p.IsFuture {
				future[replicaAt{d.Broker, p.Partition}] = d.Dir
			} else {
				current[replicaAt{d.Broker, p.Partition}] = d.Dir
			}
		}
	})
	return current, future, err
}

// busierDir is the log dir of a broker holding more partitions than its
// other: Kafka puts a new replica in the dir holding fewest, so a replica
// found in this one was put there because it was asked for.
func busierDir(ctx context.Context, t *testing.T, c *cluster, adm *kadm.Client, id int32) string {
	t.Helper()
	ds, err := adm.DescribeBrokerLogDirs(ctx, id, nil)
	if err != nil {
		t.Fatalf("describing broker %d's log dirs: %v", id, err)
	}
	counts := make(map[string]int)
	for dir, d := range ds {
		d.Topics.Each(func(kadm.DescribedLogDirPartition) { counts[dir]++ })
	}
	dirs := jbodDirs(c, id)
	if counts[dirs[0]] == counts[dirs[1]] {
		t.Fatalf("broker %d's log dirs hold %v partitions: no dir is busier", id, counts)
	}
	if counts[dirs[0]] > counts[dirs[1]] {
		return dirs[0]
	}
	return dirs[1]
}

// alterLogDir sends a broker AlterReplicaLogDirs for topic-p to dir and
// returns the partition's error (or the request's).
func alterLogDir(ctx context.Context, adm *kadm.Client, broker int32, dir, topic string, p int32) error {
	var req kadm.AlterReplicaLogDirsReq
	req.Add(dir, kadm.TopicsSet{topic: {p: {}}})
	res, err := adm.AlterBrokerReplicaLogDirs(ctx, broker, req)
	if err != nil {
		return err
	}
	r, ok := res[topic][p]
	if !ok {
		return fmt.Errorf("broker %d did not answer for %s-%d: %v", broker, topic, p, res)
	}
	return r.Err
}

// reassign starts moving topic-p onto replicas.
func reassign(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, p int32, replicas ...int32) {
	t.Helper()
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, p, replicas)
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err == nil {
		err = res[topic][p].Err
	}
	if err != nil {
		t.Fatalf("reassigning %s-%d to %v: %v", topic, p, replicas, err)
	}
}

// awaitReassigned waits until no reassignment of topic-p is listed.
func awaitReassigned(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, p int32) {
	t.Helper()
	wait.For(t, fmt.Sprintf("the reassignment of %s-%d to complete", topic, p), 20*time.Second, func() bool {
		l, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {p: {}}})
		return err == nil && len(l[topic]) == 0
	})
}

// copiesIn lists the entries of a log dir that hold topic-p's log, a copy
// of it being moved, or one pending deletion.
func copiesIn(t *testing.T, dir, topic string, p int32) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading log dir %s: %v", dir, err)
	}
	name := fmt.Sprintf("%s-%d", topic, p)
	var out []string
	for _, e := range ents {
		if e.Name() == name || strings.HasPrefix(e.Name(), name+".") {
			out = append(out, e.Name())
		}
	}
	return out
}

// reassignTool runs kafka-reassign-partitions.sh against the cluster and
// returns what it printed; a non-zero exit ends the test.
func reassignTool(t *testing.T, c *cluster, tools string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append([]string{"--bootstrap-server", strings.Join(c.seeds(), ",")}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(tools, "kafka-reassign-partitions.sh"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafka-reassign-partitions.sh %s: %v (%v)\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, ctx.Err(), stdout.String(), stderr.String())
	}
	return stdout.String()
}

// TestReassignIntoLogDirs moves two partitions of a topic, written to with
// acks=all throughout, from brokers {1,2} to {2,3}, each broker with two
// log dirs, naming for broker 3 the dir it would not pick itself:
// partition 1 with kadm, the dir named to broker 3 before the
// reassignment (REPLICA_NOT_AVAILABLE, and the replica is then created
// there); partition 0 as kafka-reassign-partitions.sh does it (the
// reassignment, then AlterReplicaLogDirs retried until broker 3 holds the
// replica), with broker 2's replica moved to its other dir as well. Then
// DescribeLogDirs and the disk show every replica in its dir, no copy
// left and broker 1 holding nothing; the leader is killed and every
// acknowledged record is read back from the survivors at its offset.
func TestReassignIntoLogDirs(t *testing.T) {
	tools := os.Getenv("KAFKA_TOOLS_DIR")
	if tools == "" {
		t.Log("KAFKA_TOOLS_DIR not set: partition 0 is moved with kadm, as kafka-reassign-partitions.sh moves it")
	} else if _, err := os.Stat(filepath.Join(tools, "kafka-reassign-partitions.sh")); err != nil {
		t.Fatalf("KAFKA_TOOLS_DIR=%s has no kafka-reassign-partitions.sh: %v", tools, err)
	}
	start := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), what) }
	c := startClusterEach(t, 3, map[string]string{"auto.leader.rebalance.enable": "false"},
		func(_ int32, dir string) map[string]string {
			return map[string]string{"log.dirs": filepath.Join(dir, "d1") + "," + filepath.Join(dir, "d2")}
		})
	adm, done := c.admin()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// A partition of broker 3 alone makes its dirs unequal: a replica
	// placed unasked goes to the other.
	c.createAssigned("filler", [][]int32{{3}})
	want3 := busierDir(ctx, t, c, adm, 3)
	const topic = "logdirs"
	// Small segments, so that the moves copy several.
	c.createAssignedWith(topic, [][]int32{{1, 2}, {2, 1}}, map[string]string{"internal.segment.bytes": "131072"})
	w := startWorkload(t, c, topic, 1)
	w.awaitMore(3000, 20*time.Second)
	cur, _, err := logDirsOf(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	from2 := cur[replicaAt{2, 0}]
	want2 := otherDir(jbodDirs(c, 2), from2)
	want := map[replicaAt]string{{2, 0}: want2, {3, 0}: want3, {2, 1}: cur[replicaAt{2, 1}], {3, 1}: want3}
	phase(fmt.Sprintf("%d records acknowledged; replicas in %v; asking for %v", w.count(), cur, want))

	// Partition 1: the dir first (broker 3 may learn of the topic a
	// moment after its creation returns), then the reassignment.
	var alterErr error
	wait.For(t, "broker 3 to know "+topic, 10*time.Second, func() bool {
		alterErr = alterLogDir(ctx, adm, 3, want3, topic, 1)
		return !errors.Is(alterErr, kerr.UnknownTopicOrPartition)
	})
	if !errors.Is(alterErr, kerr.ReplicaNotAvailable) {
		t.Fatalf("AlterReplicaLogDirs of %s-1 to %s on broker 3, which holds no replica of it: %v, want REPLICA_NOT_AVAILABLE", topic, want3, alterErr)
	}
	reassign(ctx, t, adm, topic, 1, 2, 3)
	awaitReassigned(ctx, t, adm, topic, 1)
	cur, fut, err := logDirsOf(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	if got := cur[replicaAt{3, 1}]; got != want3 || fut[replicaAt{3, 1}] != "" {
		t.Errorf("broker 3 created its replica of %s-1 in %q (a copy moving to %q), not in %s, named by AlterReplicaLogDirs before the reassignment",
			topic, got, fut[replicaAt{3, 1}], want3)
	}
	phase("partition 1 reassigned")

	// Partition 0: the reassignment, then the dirs.
	if tools != "" {
		reassignWithTool(t, c, tools, topic, want2, want3)
	} else {
		reassignLikeTool(ctx, t, adm, topic, want2, want3)
	}
	phase("partition 0 reassigned")

	checkLogDirs(ctx, t, adm, topic, want)
	checkDisk(t, c, topic, want)
	phase("every replica in its dir, on disk too")

	c.awaitISR(topic, 2, 20*time.Second)
	leader := c.leaderOf(topic, 0)
	c.brokers[leader].Kill()
	phase(fmt.Sprintf("killed broker %d, the leader of %s-0", leader, topic))
	w.awaitMore(1000, 20*time.Second)
	w.stop(10 * time.Second)
	checkHistory(t, c, w, 2)
	phase("every acknowledged record read back")
}

// reassignWithTool moves topic-0 from brokers {1,2} to {2,3} with
// kafka-reassign-partitions.sh, broker 2's replica into dir2 and broker
// 3's into dir3, and runs --verify until it reports the partition and both
// replicas done.
func reassignWithTool(t *testing.T, c *cluster, tools, topic, dir2, dir3 string) {
	t.Helper()
	plan := fmt.Sprintf(`{"version":1,"partitions":[{"topic":%q,"partition":0,"replicas":[2,3],"log_dirs":[%q,%q]}]}`, topic, dir2, dir3)
	file := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(file, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	out := reassignTool(t, c, tools, "--execute", "--reassignment-json-file", file)
	for _, want := range []string{
		fmt.Sprintf("Successfully started partition reassignment for %s-0", topic),
		fmt.Sprintf("Successfully started moving log directory to %s for replica %s-0 with broker 2", dir2, topic),
		fmt.Sprintf("Successfully started moving log directory to %s for replica %s-0 with broker 3", dir3, topic),
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("kafka-reassign-partitions.sh --execute printed:\n%s\nwant %q", out, want)
		}
	}
	t.Logf("kafka-reassign-partitions.sh --execute:\n%s", strings.TrimSpace(out))
	var verify string
	if !wait.Until(30*time.Second, func() bool {
		verify = reassignTool(t, c, tools, "--verify", "--reassignment-json-file", file)
		return strings.Contains(verify, fmt.Sprintf("Reassignment of partition %s-0 is completed.", topic)) &&
			strings.Contains(verify, fmt.Sprintf("Reassignment of replica %s-0-2 completed successfully.", topic)) &&
			strings.Contains(verify, fmt.Sprintf("Reassignment of replica %s-0-3 completed successfully.", topic))
	}) {
		t.Fatalf("kafka-reassign-partitions.sh --verify after 30 s:\n%s", verify)
	}
	t.Logf("kafka-reassign-partitions.sh --verify:\n%s", strings.TrimSpace(verify))
}

// checkDisk waits until each broker's log dirs hold, of topic's
// partitions, the replica want names there and nothing else: no copy
// being moved, none pending deletion, none on a broker that gave it up.
func checkDisk(t *testing.T, c *cluster, topic string, want map[replicaAt]string) {
	t.Helper()
	var wrong []string
	if !wait.Until(20*time.Second, func() bool {
		wrong = wrong[:0]
		for id := range c.brokers {
			for _, dir := range jbodDirs(c, id) {
				for p := range int32(2) {
					var expect []string
					if want[replicaAt{id, p}] == dir {
						expect = []string{fmt.Sprintf("%s-%d", topic, p)}
					}
					if got := copiesIn(t, dir, topic, p); !slices.Equal(got, expect) {
						wrong = append(wrong, fmt.Sprintf("%s holds %v, want %v", dir, got, expect))
					}
				}
			}
		}
		return len(wrong) == 0
	}) {
		t.Errorf("after 20 s on disk:\n%s", strings.Join(wrong, "\n"))
	}
}

// reassignLikeTool does with kadm what kafka-reassign-partitions.sh does
// for reassignWithTool: the reassignment, broker 2's replica to dir2, and
// AlterReplicaLogDirs to broker 3 retried while it answers
// REPLICA_NOT_AVAILABLE (it holds no replica yet); then it waits until
// the reassignment is no longer listed.
func reassignLikeTool(ctx context.Context, t *testing.T, adm *kadm.Client, topic, dir2, dir3 string) {
	t.Helper()
	reassign(ctx, t, adm, topic, 0, 2, 3)
	if err := alterLogDir(ctx, adm, 2, dir2, topic, 0); err != nil {
		t.Fatalf("AlterReplicaLogDirs of %s-0 to %s on broker 2: %v", topic, dir2, err)
	}
	var err error
	if !wait.Until(10*time.Second, func() bool {
		err = alterLogDir(ctx, adm, 3, dir3, topic, 0)
		return !errors.Is(err, kerr.ReplicaNotAvailable)
	}) {
		t.Fatalf("broker 3 still answers REPLICA_NOT_AVAILABLE for %s-0 10 s after its reassignment started", topic)
	}
	if err != nil {
		t.Fatalf("AlterReplicaLogDirs of %s-0 to %s on broker 3: %v", topic, dir3, err)
	}
	awaitReassigned(ctx, t, adm, topic, 0)
}

// checkLogDirs waits until no reassignment of topic is listed and
// DescribeLogDirs shows its replicas where want has them, none elsewhere
// and no copy being moved.
func checkLogDirs(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, want map[replicaAt]string) {
	t.Helper()
	var (
		listed   kadm.ListPartitionReassignmentsResponses
		cur, fut map[replicaAt]string
		err      error
	)
	if !wait.Until(20*time.Second, func() bool {
		listed, err = adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}, 1: {}}})
		if err != nil || len(listed[topic]) > 0 {
			return false
		}
		cur, fut, err = logDirsOf(ctx, adm, topic)
		return err == nil && maps.Equal(cur, want) && len(fut) == 0
	}) {
		t.Errorf("after 20 s: reassignments %v, replicas in %v, copies moving to %v (%v); want replicas in %v and no copy",
			listed[topic], cur, fut, err, want)
	}
}
