package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// gregor.max.broker.partitions in a cluster on ZooKeeper: creations
// placed by the controller's round robin count an even share per broker,
// explicit assignments and reassignments count exactly, and whatever would
// put a broker past its limit is POLICY_VIOLATION while nothing is
// written (the topic does not appear, the replicas stay).
func TestPartitionLimitInCluster(t *testing.T) {
	const limit = 10
	c := startCluster(t, 3, map[string]string{"gregor.max.broker.partitions": "10"})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	create := func(topic string, partitions int32, rf int16, assign [][]int32) int16 {
		t.Helper()
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 30000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, rf
		for p, r := range assign {
			ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			ra.Partition, ra.Replicas = int32(p), r
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("creating %s: %v", topic, err)
		}
		return resp.Topics[0].ErrorCode
	}
	want := func(what string, got int16, want *kerr.Error) {
		t.Helper()
		if w := int16(0); (want == nil && got != w) || (want != nil && got != want.Code) {
			t.Fatalf("%s: %v, want %v", what, kerr.ErrorForCode(got), want)
		}
	}
	// 3 brokers x 10: 31 replicas spread over 3 is 11 on some broker.
	want("31 partitions, replication factor 1", create("spread", 31, 1, nil), kerr.PolicyViolation)
	want("11 partitions, replication factor 3", create("spread", 11, 3, nil), kerr.PolicyViolation)
	// Broker 1 gets exactly its limit.
	full := make([][]int32, limit)
	for i := range full {
		full[i] = []int32{1}
	}
	want("11 partitions on broker 1", create("full", -1, -1, append(full, []int32{1})), kerr.PolicyViolation)
	c.createAssigned("full", full)
	c.createAssigned("movable", [][]int32{{2}})
	c.awaitEveryBrokerKnows("full", limit)
	c.awaitEveryBrokerKnows("movable", 1)
	want("one more partition on broker 1", create("more", -1, -1, [][]int32{{1}}), kerr.PolicyViolation)
	want("one partition on broker 3", create("more", -1, -1, [][]int32{{3}}), nil)
	// Reassigning movable-0 to broker 1 would put 11 there.
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = "movable"
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Partition, rp.Replicas = 0, []int32{2, 1}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	want("reassigning movable-0 to [2 1]", resp.Topics[0].Partitions[0].ErrorCode, kerr.PolicyViolation)
	rp.Replicas = []int32{2, 3}
	req.Topics[0].Partitions[0] = rp
	resp, err = req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	want("reassigning movable-0 to [2 3]", resp.Topics[0].Partitions[0].ErrorCode, nil)
	ps, err := c.describe("spread")
	if err == nil || len(ps) != 0 {
		t.Fatalf("a refused topic exists: %v %v", ps, err)
	}
}

// awaitEveryBrokerKnows waits until each broker's own metadata has the
// topic with its partitions (a broker checks limits against what it knows).
func (c *cluster) awaitEveryBrokerKnows(topic string, partitions int) {
	c.t.Helper()
	for id, b := range c.brokers {
		r := dialRaw(c.t, b.Addr)
		waitFor(c.t, fmt.Sprintf("broker %d to know %s", id, topic), 30*time.Second, func() bool {
			req := kmsg.NewPtrMetadataRequest()
			req.Version = 9
			mt := kmsg.NewMetadataRequestTopic()
			mt.Topic = &topic
			req.Topics = append(req.Topics, mt)
			resp := r.do(req).(*kmsg.MetadataResponse)
			return resp.Topics[0].ErrorCode == 0 && len(resp.Topics[0].Partitions) == partitions
		})
	}
}
