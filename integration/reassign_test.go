package integration

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// createAssigned creates a topic whose partitions are placed on the given
// replicas (CreateTopics with an explicit replica assignment) and waits
// until each has a leader and a full ISR.
func (c *cluster) createAssigned(topic string, assign [][]int32) {
	c.t.Helper()
	c.createAssignedWith(topic, assign, nil)
}

// createAssignedWith is createAssigned with topic configs.
func (c *cluster) createAssignedWith(topic string, assign [][]int32, configs map[string]string) {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for p, r := range assign {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = int32(p), r
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	for k, v := range configs {
		tc := kmsg.NewCreateTopicsRequestTopicConfig()
		tc.Name, tc.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, tc)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		c.t.Fatalf("creating %s: %v", topic, err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		c.t.Fatalf("creating %s: %v", topic, err)
	}
	c.awaitISR(topic, len(assign[0]), 30*time.Second)
	c.awaitDescribedEverywhere(topic, int32(len(assign)), 30*time.Second)
}

// localCopies lists the entries of a broker's log dir that hold (or held,
// pending deletion) the partition's log.
func localCopies(t *testing.T, c *cluster, id int32, topic string, p int32) []string {
	t.Helper()
	return copiesIn(t, filepath.Join(c.brokers[id].Dir, "data"), topic, p)
}

// TestReassignUnderLoad moves a partition from brokers {1,2} to {2,3}
// with kadm while idempotent producers write to it with acks=all: the
// reassignment is listed until it completes, then metadata shows the new
// replicas with a leader in an ISR among them, broker 1 has deleted its
// copy, production continues, and no acknowledged record is lost.
func TestReassignUnderLoad(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"auto.leader.rebalance.enable": "false"})
	topic := "reassign"
	c.createAssigned(topic, [][]int32{{1, 2}})
	if got := localCopies(t, c, 1, topic, 0); len(got) != 1 {
		t.Fatalf("broker 1 holds %v of %s-0, want its log dir", got, topic)
	}
	if got := localCopies(t, c, 3, topic, 0); len(got) != 0 {
		t.Fatalf("broker 3 holds %v of %s-0 before the reassignment", got, topic)
	}
	adm, done := c.admin()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	// Refusals: a dead broker, nothing to cancel.
	var bad kadm.AlterPartitionAssignmentsReq
	bad.Assign(topic, 0, []int32{2, 9})
	res, err := adm.AlterPartitionAssignments(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	if e := res[topic][0].Err; !errors.Is(e, kerr.InvalidReplicaAssignment) {
		t.Fatalf("reassigning to broker 9: %v, want INVALID_REPLICA_ASSIGNMENT", e)
	}
	var cancelReq kadm.AlterPartitionAssignmentsReq
	cancelReq.CancelAssign(topic, 0)
	if res, err = adm.AlterPartitionAssignments(ctx, cancelReq); err != nil {
		t.Fatal(err)
	}
	if e := res[topic][0].Err; !errors.Is(e, kerr.NoReassignmentInProgress) {
		t.Fatalf("cancelling with nothing in progress: %v, want NO_REASSIGNMENT_IN_PROGRESS", e)
	}

	w := startWorkload(t, c, topic, 2)
	w.awaitMore(500, 20*time.Second)

	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, []int32{2, 3})
	res, err = adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if e := res[topic][0].Err; e != nil {
		t.Fatalf("reassigning %s-0 to [2 3]: %v (%s)", topic, e, res[topic][0].ErrMessage)
	}
	t0 := time.Now()
	listed := false
	waitFor(t, fmt.Sprintf("the reassignment of %s-0 to complete", topic), 30*time.Second, func() bool {
		l, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: struct{}{}}})
		if err != nil {
			return false
		}
		if r, ok := l[topic][0]; ok {
			if !listed {
				t.Logf("listed: replicas %v adding %v removing %v", r.Replicas, r.AddingReplicas, r.RemovingReplicas)
			}
			listed = true
			if !slices.Equal(r.Replicas, []int32{2, 3, 1}) || !slices.Equal(r.AddingReplicas, []int32{3}) || !slices.Equal(r.RemovingReplicas, []int32{1}) {
				t.Fatalf("ongoing reassignment of %s-0: replicas %v adding %v removing %v", topic, r.Replicas, r.AddingReplicas, r.RemovingReplicas)
			}
			return false
		}
		return true
	})
	t.Logf("reassignment completed after %v (listed while in progress: %v)", time.Since(t0).Round(time.Millisecond), listed)

	waitFor(t, fmt.Sprintf("metadata to show %s-0 on [2 3] with a leader in an ISR among them", topic), 20*time.Second, func() bool {
		mctx, mcancel := context.WithTimeout(ctx, 3*time.Second)
		defer mcancel()
		m, err := adm.Metadata(mctx, topic)
		if err != nil {
			return false
		}
		pd := m.Topics[topic].Partitions[0]
		inTarget := func(id int32) bool { return id == 2 || id == 3 }
		return slices.Equal(pd.Replicas, []int32{2, 3}) && len(pd.ISR) > 0 && !slices.ContainsFunc(pd.ISR, func(id int32) bool { return !inTarget(id) }) &&
			slices.Contains(pd.ISR, pd.Leader)
	})
	waitFor(t, "broker 1 to delete its copy of "+topic+"-0", 20*time.Second, func() bool {
		return len(localCopies(t, c, 1, topic, 0)) == 0
	})
	if got := localCopies(t, c, 3, topic, 0); len(got) != 1 {
		t.Fatalf("broker 3 holds %v of %s-0 after the reassignment", got, topic)
	}
	w.awaitMore(500, 20*time.Second)
	w.stop(10 * time.Second)
	checkHistory(t, c, w, 1)
}

// TestReassignForwardedToController: only the controller reassigns, as in
// Kafka, and an AlterPartitionReassignments sent to another broker is
// forwarded to it, as a Kafka 4 broker forwards it: the reassignment is
// recorded and completes, its answer coming back through the broker
// asked.
func TestReassignForwardedToController(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctrl := c.controller()
	var other []int32
	for id := range c.brokers {
		if id != ctrl {
			other = append(other, id)
		}
	}
	slices.Sort(other)
	topic := "reassign-forwarded"
	c.createAssigned(topic, [][]int32{{ctrl, other[0]}})
	target := []int32{other[1], other[0]}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Partition, rp.Replicas = 0, target
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(int(other[0])))
	if err != nil {
		t.Fatalf("AlterPartitionReassignments to broker %d: %v", other[0], err)
	}
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("AlterPartitionReassignments to broker %d (controller %d): %+v", other[0], ctrl, resp)
	}
	adm, done := c.admin()
	defer done()
	waitFor(t, fmt.Sprintf("%s-0 moved to %v", topic, target), 30*time.Second, func() bool {
		mctx, mcancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer mcancel()
		m, err := adm.Metadata(mctx, topic)
		if err != nil {
			return false
		}
		pd := m.Topics[topic].Partitions[0]
		return slices.Equal(pd.Replicas, target) && pd.Leader >= 0 && len(pd.ISR) == 2
	})
}
