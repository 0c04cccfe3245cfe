package integration

// Replication health as an operator alerts on it, with a follower down:
// Kafka's ReplicaManager gauges UnderReplicatedPartitions,
// UnderMinIsrPartitionCount and AtMinIsrPartitionCount are counted by
// each partition's leader only, OfflinePartitionsCount by the active
// controller only, and IsrShrinksPerSec/IsrExpandsPerSec by the leader
// as it changes the ISR.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"gregor/internal/brokertest"
	"gregor/internal/promtest"
	"gregor/internal/wait"
)

func TestReplicationHealthMetricsWithAFollowerDown(t *testing.T) {
	monitors := map[int32]string{}
	c := startClusterEach(t, 3, map[string]string{"auto.leader.rebalance.enable": "false"}, func(id int32, _ string) map[string]string {
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
	expect("with every broker up", up)
	before := promtest.Scrape(t, "http://"+monitors[leader]+"/metrics")

	c.brokers[victim].Kill()
	expect(fmt.Sprintf("with broker %d down", victim), map[int32]map[string]float64{
		leader: {"gregor_under_replicated_partitions": 2, "gregor_under_min_isr_partitions": 1, "gregor_at_min_isr_partitions": 1, "gregor_offline_partitions": 0},
		ctrl:   {"gregor_under_replicated_partitions": 0, "gregor_under_min_isr_partitions": 0, "gregor_at_min_isr_partitions": 0, "gregor_offline_partitions": 1},
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
