package integration

// Replication health as an operator alerts on it, with a follower down:
// Kafka's ReplicaManager gauges UnderReplicatedPartitions,
// UnderMinIsrPartitionCount and AtMinIsrPartitionCount are counted by
// each partition's leader only, OfflinePartitionsCount by the active
// controller only (with GlobalTopicCount, GlobalPartitionCount and
// PreferredReplicaImbalanceCount, a leaderless partition counted as
// imbalanced), and IsrShrinksPerSec/IsrExpandsPerSec by the leader as it
// changes the ISR.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/internal/brokertest"
	"gregor/internal/promtest"
	"gregor/internal/wait"
)

func TestReplicationHealthMetricsWithAFollowerDown(t *testing.T) {
	monitors := map[int32]string{}
	// The follower killed must leave the ISRs by the controller's hand (its
	// ZooKeeper session of 4 s ending), not by the leader's lag check: with
	// the harness's 3 s lag bound the leader sometimes shrank first.
	c := startClusterEach(t, 3, map[string]string{"auto.leader.rebalance.enable": "false", "replica.lag.time.max.ms": "60000"}, func(id int32, _ string) map[string]string {
		monitors[id] = "127.0.0.1:" + strconv.Itoa(brokertest.FreePort(t))
		return map[string]string{"gregor.metrics.listener": monitors[id]}
	})
	ctrl := c.controller()
	// The leader is neither the controller nor the broker killed, so each
	// count is seen on the one broker that reports it.
	var leader, victim int32
	for id := int32(1); id <= 3; id++ {
		if id != ctrl {
			if leader == 0 {
				leader = id
			} else {
				victim = id
			}
		}
	}
	all := []int32{leader, ctrl, victim}
	c.createAssignedWith("health-min3", [][]int32{all}, map[string]string{"min.insync.replicas": "3"})
	c.createAssignedWith("health-min2", [][]int32{all}, map[string]string{"min.insync.replicas": "2"})
	c.createAssigned("health-solo", [][]int32{{victim}})
	c.awaitISR("health-min3", 3, 30*time.Second)
	c.awaitISR("health-min2", 3, 30*time.Second)
	c.awaitISR("health-solo", 1, 30*time.Second)

	// value reads one metric from a broker's scrape (-1 when absent).
	value := func(f promtest.Families, name string) float64 {
		if v, ok := f.Value(name); ok {
			return v
		}
		return -1
	}
	// expect polls each broker's scrape until every metric has its value.
	expect := func(when string, want map[int32]map[string]float64) {
		t.Helper()
		var got []string
		if !wait.Until(30*time.Second, func() bool {
			got = got[:0]
			for id, metrics := range want {
				f, err := promtest.TryScrape("http://" + monitors[id] + "/metrics")
				if err != nil {
					got = append(got, fmt.Sprintf("broker %d: %v", id, err))
					continue
				}
				for name, v := range metrics {
					if g := value(f, name); g != v {
						got = append(got, fmt.Sprintf("broker %d: %s = %v, want %v", id, name, g, v))
					}
				}
			}
			return len(got) == 0
		}) {
			t.Fatalf("timed out after 30s waiting for the replication health metrics %s: %s", when, strings.Join(got, "; "))
		}
	}
	// With every broker up, health-min3 (3 in sync of min 3) and
	// health-solo (1 of 1) are at their minimum, each on its leader.
	healthy := func(atMin float64) map[string]float64 {
		return map[string]float64{"gregor_under_replicated_partitions": 0, "gregor_under_min_isr_partitions": 0, "gregor_at_min_isr_partitions": atMin, "gregor_offline_partitions": 0}
	}
	up := map[int32]map[string]float64{leader: healthy(1), ctrl: healthy(0), victim: healthy(1)}
	// The cluster-wide counts come from the controller alone.
	for id, m := range up {
		global := 0.0
		if id == ctrl {
			global = 3
		}
		m["gregor_global_topics"], m["gregor_global_partitions"], m["gregor_preferred_replica_imbalance"] = global, global, 0
	}
	expect("with every broker up", up)
	before := promtest.Scrape(t, "http://"+monitors[leader]+"/metrics")

	c.brokers[victim].Kill()
	expect(fmt.Sprintf("with broker %d down", victim), map[int32]map[string]float64{
		leader: {"gregor_under_replicated_partitions": 2, "gregor_under_min_isr_partitions": 1, "gregor_at_min_isr_partitions": 1, "gregor_offline_partitions": 0,
			"gregor_global_topics": 0, "gregor_preferred_replica_imbalance": 0},
		ctrl: {"gregor_under_replicated_partitions": 0, "gregor_under_min_isr_partitions": 0, "gregor_at_min_isr_partitions": 0, "gregor_offline_partitions": 1,
			"gregor_global_topics": 3, "gregor_global_partitions": 3, "gregor_preferred_replica_imbalance": 1},
	})
	// The controller took the dead broker out of the ISRs (its ZooKeeper
	// session ended), not the leader: Kafka's leader marks
	// IsrShrinksPerSec only for its own AlterPartition.
	down := promtest.Scrape(t, "http://"+monitors[leader]+"/metrics")
	if d := value(down, "gregor_isr_shrinks_total") - value(before, "gregor_isr_shrinks_total"); d != 0 {
		t.Errorf("the leader counted %v ISR shrinks made by the controller, want 0", d)
	}

	c.brokers[victim].Restart()
	expect(fmt.Sprintf("once broker %d is back", victim), up)
	back := promtest.Scrape(t, "http://"+monitors[leader]+"/metrics")
	if d := value(back, "gregor_isr_expands_total") - value(down, "gregor_isr_expands_total"); d != 2 {
		t.Errorf("the leader counted %v ISR expansions for the two partitions broker %d rejoined, want 2", d, victim)
	}
}

// A reassignment adding a replica does not make its partition
// under-replicated while the new replica catches up: Kafka's
// Partition.isUnderReplicated compares the ISR with the replication
// factor, which excludes the adding replicas (here the new one cannot
// fetch at all, its broker paused).
func TestReassignmentIsNotUnderReplicated(t *testing.T) {
	monitors := map[int32]string{}
	c := startClusterEach(t, 3, map[string]string{"auto.leader.rebalance.enable": "false"}, func(id int32, _ string) map[string]string {
		monitors[id] = "127.0.0.1:" + strconv.Itoa(brokertest.FreePort(t))
		return map[string]string{"gregor.metrics.listener": monitors[id]}
	})
	ctrl := c.controller()
	var target int32 = 3
	if ctrl == 3 {
		target = 1
	}
	var owners []int32
	for id := int32(1); id <= 3; id++ {
		if id != target {
			owners = append(owners, id)
		}
	}
	const topic = "health-reassign"
	c.createAssigned(topic, [][]int32{owners})
	c.awaitISR(topic, 2, 30*time.Second)
	leader := c.leaderOf(topic, 0)
	// The client knows only the brokers that stay up.
	var seeds []string
	for _, id := range owners {
		seeds = append(seeds, c.brokers[id].Addr)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c.brokers[target].Pause()
	defer c.brokers[target].Resume()
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, append(slices.Clone(owners), target))
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if e := res[topic][0].Err; e != nil {
		t.Fatalf("reassigning %s-0 to add broker %d: %v (%s)", topic, target, e, res[topic][0].ErrMessage)
	}
	url := "http://" + monitors[leader] + "/metrics"
	var under, perPartition, reassigning float64
	waitFor(t, fmt.Sprintf("leader %d to see %s-0 with 3 replicas", leader, topic), 20*time.Second, func() bool {
		f, err := promtest.TryScrape(url)
		if err != nil {
			return false
		}
		n, _ := f.Value("gregor_partition_replicas", "topic", topic, "partition", "0")
		under, _ = f.Value("gregor_under_replicated_partitions")
		perPartition, _ = f.Value("gregor_partition_under_replicated", "topic", topic, "partition", "0")
		reassigning, _ = f.Value("gregor_reassigning_partitions")
		return n == 3
	})
	if reassigning != 1 {
		t.Errorf("leader %d reports %v partitions reassigning, want 1 (%s-0)", leader, reassigning, topic)
	}
	l, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: struct{}{}}})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := l[topic][0]; !ok || len(r.AddingReplicas) != 1 {
		t.Fatalf("the reassignment of %s-0 is not in progress with broker %d paused: %+v", topic, target, l)
	}
	if under != 0 || perPartition != 0 {
		t.Errorf("leader %d reports %s-0 under-replicated (%v, %v partitions in all) while a reassignment adds broker %d", leader, topic, perPartition, under, target)
	}
	c.brokers[target].Resume()
	if !wait.Until(30*time.Second, func() bool {
		f, err := promtest.TryScrape(url)
		if err != nil {
			return false
		}
		reassigning, _ = f.Value("gregor_reassigning_partitions")
		return reassigning == 0
	}) {
		t.Errorf("leader %d still reports %v partitions reassigning 30s after broker %d resumed", leader, reassigning, target)
	}
}

// Replication traffic is counted apart from producers' and consumers',
// as Kafka's ReplicationBytesInPerSec (the follower's fetches) and
// ReplicationBytesOutPerSec (the leader's answers to them): a topic's
// bytes in are the producers' alone, on its leader only.
func TestReplicationBytesCountedApart(t *testing.T) {
	monitors := map[int32]string{}
	c := startClusterEach(t, 2, map[string]string{"auto.leader.rebalance.enable": "false"}, func(id int32, _ string) map[string]string {
		monitors[id] = "127.0.0.1:" + strconv.Itoa(brokertest.FreePort(t))
		return map[string]string{"gregor.metrics.listener": monitors[id]}
	})
	const topic = "health-repl-bytes"
	c.createAssigned(topic, [][]int32{{1, 2}})
	c.awaitISR(topic, 2, 30*time.Second)
	leader := c.leaderOf(topic, 0)
	follower := 3 - leader
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 20; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strings.Repeat("r", 100))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var produced, replIn, replOut, followerIn float64
	var followerHas bool
	if !wait.Until(20*time.Second, func() bool {
		lf, err1 := promtest.TryScrape("http://" + monitors[leader] + "/metrics")
		ff, err2 := promtest.TryScrape("http://" + monitors[follower] + "/metrics")
		if err1 != nil || err2 != nil {
			return false
		}
		produced, _ = lf.Value("gregor_topic_bytes_in_total", "topic", topic)
		replOut, _ = lf.Value("gregor_replication_bytes_out_total")
		replIn, _ = ff.Value("gregor_replication_bytes_in_total")
		followerIn, followerHas = ff.Value("gregor_topic_bytes_in_total", "topic", topic)
		return produced > 0 && replIn >= produced && replOut >= produced
	}) {
		t.Fatalf("the leader took %v bytes from producers and sent %v to followers; the follower replicated %v; want both at least the produced bytes", produced, replOut, replIn)
	}
	if followerHas && followerIn != 0 {
		t.Errorf("the follower counts %v replicated bytes as producer traffic of %s", followerIn, topic)
	}
}
