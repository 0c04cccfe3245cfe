package integration

// Replication throttles as kafka-reassign-partitions --throttle sets them:
// the rates per broker (IncrementalAlterConfigs on each broker), the
// throttled replicas per topic (the current replicas as leaders, the new
// one as follower). The new replica's copy is measured as it grows.

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describedOn is a config's value as one broker describes it ("" if it
// cannot).
func describedOn(ctx context.Context, cl *kgo.Client, broker int32, typ kmsg.ConfigResourceType, name, key string) string {
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName, r.ConfigNames = typ, name, []string{key}
	req.Resources = append(req.Resources, r)
	resp, err := cl.Broker(int(broker)).Request(ctx, req)
	if err != nil {
		return ""
	}
	for _, res := range resp.(*kmsg.DescribeConfigsResponse).Resources {
		for _, c := range res.Configs {
			if c.Name == key && c.Value != nil {
				return *c.Value
			}
		}
	}
	return ""
}

// replicaSize is the size of a partition's copy on a broker.
func replicaSize(ctx context.Context, adm *kadm.Client, broker int32, topic string, p int32) (int64, bool) {
	ds, err := adm.DescribeBrokerLogDirs(ctx, broker, kadm.TopicsSet{topic: {p: struct{}{}}})
	if err != nil {
		return 0, false
	}
	d, ok := ds.LookupPartition(topic, p)
	return d.Size, ok
}

// A partition of 3 MiB moved from brokers {1,2} to {2,3} with a
// 512 KiB/s throttle on every broker, on the leader side only (the
// leader's sends to a follower out of the ISR) or the follower side only
// (the new replica's fetches): the new replica on broker 3 never holds
// more than the throttle allows since the copy started (one second's
// worth up front, as Kafka's rate measurement allows, plus one batch), its
// rate after the first second stays under the throttle, and the copy
// still completes. Without the throttle the copy takes well under a
// second.
func TestReassignmentThrottled(t *testing.T) {
	for _, side := range []string{"leader", "follower"} {
		t.Run(side, func(t *testing.T) { testReassignmentThrottled(t, side) })
	}
}

func testReassignmentThrottled(t *testing.T, side string) {
	const (
		throttle = 512 << 10
		fill     = 3 << 20
		record   = 1 << 10
	)
	c := startCluster(t, 3, map[string]string{"auto.leader.rebalance.enable": "false"})
	topic := "throttled"
	c.createAssigned(topic, [][]int32{{1, 2}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for i := 0; i < fill/record; i++ {
		value := make([]byte, record) // random: the batches do not compress
		rand.Read(value)
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("filling: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	adm, done := c.admin()
	defer done()
	leaderSize, _ := replicaSize(ctx, adm, 1, topic, 0)
	t.Logf("partition 0 holds %d bytes on broker 1", leaderSize)

	// What kafka-reassign-partitions --throttle 524288 sets, one side.
	rate := strconv.Itoa(throttle)
	brokerCfg := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: side + ".replication.throttled.rate", Value: &rate}}
	for id := int32(1); id <= 3; id++ {
		rs, err := adm.AlterBrokerConfigs(ctx, brokerCfg, id)
		if err == nil {
			err = rs[0].Err
		}
		if err != nil {
			t.Fatalf("setting the throttle rates on broker %d: %v", id, err)
		}
	}
	leaders, followers := "0:1,0:2", "0:3"
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "leader.replication.throttled.replicas", Value: &leaders},
		{Op: kadm.SetConfig, Name: "follower.replication.throttled.replicas", Value: &followers},
	}, topic)
	if err == nil {
		err = rs[0].Err
	}
	if err != nil {
		t.Fatalf("setting the throttled replicas: %v", err)
	}
	// Configs reach each broker through its metadata: wait until each
	// reports the rate and the throttled replicas.
	for id := int32(1); id <= 3; id++ {
		waitFor(t, fmt.Sprintf("broker %d to report the throttle", id), 10*time.Second, func() bool {
			return describedOn(ctx, cl, id, kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(id)), side+".replication.throttled.rate") == rate &&
				describedOn(ctx, cl, id, kmsg.ConfigResourceTypeTopic, topic, "follower.replication.throttled.replicas") == followers
		})
	}

	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, []int32{2, 3})
	t0 := time.Now()
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if e := res[topic][0].Err; e != nil {
		t.Fatalf("reassigning: %v", e)
	}
	type point struct {
		at   time.Duration
		size int64
	}
	var points []point
	waitFor(t, "broker 3 to hold the whole partition", 60*time.Second, func() bool {
		size, ok := replicaSize(ctx, adm, 3, topic, 0)
		if !ok {
			return false
		}
		points = append(points, point{time.Since(t0), size})
		return size >= leaderSize
	})
	took := time.Since(t0)
	waitFor(t, "the reassignment to complete", 30*time.Second, func() bool {
		l, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: struct{}{}}})
		return err == nil && len(l[topic]) == 0
	})
	t.Logf("copied %d bytes in %v: %.0f KiB/s overall against a %d KiB/s throttle", leaderSize, took.Round(time.Millisecond),
		float64(leaderSize)/took.Seconds()/1024, throttle>>10)

	const batch = 64 << 10 // ProducerBatchMaxBytes: the overshoot of one read
	for _, p := range points {
		if allowed := int64(throttle*max(p.at.Seconds(), 1)) + throttle + batch; p.size > allowed {
			t.Errorf("after %v broker 3 held %d bytes, more than the throttle allows (%d)", p.at.Round(time.Millisecond), p.size, allowed)
		}
	}
	var first point
	for _, p := range points {
		if p.at >= time.Second {
			first = p
			break
		}
	}
	if first.at > 0 && took-first.at > time.Second {
		steady := float64(leaderSize-first.size) / (took - first.at).Seconds()
		t.Logf("after the first second: %.0f KiB/s", steady/1024)
		if steady > throttle*1.1 {
			t.Errorf("copy rate after the first second %.0f KiB/s, over the %d KiB/s throttle", steady/1024, throttle>>10)
		}
	}
	if want := time.Duration(float64(leaderSize)/throttle*float64(time.Second)) / 2; took < want {
		t.Errorf("the copy took %v: the throttle of %d KiB/s was not applied", took, throttle>>10)
	}
}
