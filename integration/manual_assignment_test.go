package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A manual replica assignment (kafka-topics.sh --create or --alter
// --replica-assignment) may name a broker that is down, as in Kafka 4 (a
// stopped broker stays registered, fenced) and in ZooKeeper-mode Kafka:
// the partitions start led by a live replica, without the down one in
// their ISR, and it catches up when it returns. A broker the cluster
// never knew, or partitions with no live replica, are refused with Kafka
// 4's messages. Gregor refused any broker not registered at the time
// ("partition 0 has 3 replicas but only 2 brokers are alive"). So may a
// reassignment's target.
func TestManualAssignmentNamesABrokerThatIsDown(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"auto.leader.rebalance.enable": "false"})
	c.createAssigned("known", [][]int32{{3, 2, 1}}) // every broker holds a replica
	c.brokers[3].Stop()
	c.awaitBrokers(2, 30*time.Second)

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[1].Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	create := func(topic string, assign ...[]int32) kmsg.CreateTopicsResponseTopic {
		t.Helper()
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
		for p, r := range assign {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(p), r
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || len(resp.Topics) != 1 {
			t.Fatalf("CreateTopics %s: %v %+v", topic, err, resp)
		}
		return resp.Topics[0]
	}
	refused := []struct {
		assign [][]int32
		msg    string
	}{
		{[][]int32{{1, 9}}, "The manual partition assignment includes broker 9, but no such broker is registered."},
		{[][]int32{{3}}, "All brokers specified in the manual partition assignment for partition 0 are fenced or in controlled shutdown."},
		{[][]int32{{1, 2}, {2, 2}}, "The manual partition assignment includes the broker 2 more than once."},
		{[][]int32{{1, 2}, {2, 3, 1}}, "The manual partition assignment includes a partition with 3 replica(s), but this is not consistent with previous partitions, which have 2 replica(s)."},
	}
	for _, r := range refused {
		st := create("refused", r.assign...)
		if st.ErrorCode != kerr.InvalidReplicaAssignment.Code || st.ErrorMessage == nil || *st.ErrorMessage != r.msg {
			t.Errorf("assignment %v: %v %q, want INVALID_REPLICA_ASSIGNMENT %q", r.assign, kerr.ErrorForCode(st.ErrorCode), deref(st.ErrorMessage), r.msg)
		}
	}

	topic := "manual-down"
	if st := create(topic, []int32{3, 1}, []int32{2, 3}); st.ErrorCode != 0 {
		t.Fatalf("creating %s on brokers 1-3 with 3 down: %v %q", topic, kerr.ErrorForCode(st.ErrorCode), deref(st.ErrorMessage))
	}
	grow := kmsg.NewPtrCreatePartitionsRequest()
	grow.TimeoutMillis = 10000
	gt := kmsg.NewCreatePartitionsRequestTopic()
	gt.Topic, gt.Count = topic, 3
	ga := kmsg.NewCreatePartitionsRequestTopicAssignment()
	ga.Replicas = []int32{3, 2}
	gt.Assignment = append(gt.Assignment, ga)
	grow.Topics = append(grow.Topics, gt)
	gresp, err := grow.RequestWith(ctx, cl)
	if err != nil || len(gresp.Topics) != 1 || gresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("adding a partition on brokers 3 and 2 with 3 down: %v %+v", err, gresp)
	}
	// Led by the live replica, the down one offline and out of the ISR.
	want := map[int32]int32{0: 1, 1: 2, 2: 2}
	waitFor(t, "the partitions of "+topic+" led by their live replicas, broker 3 offline", 30*time.Second, func() bool {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 3 {
			return false
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.Leader != want[p.Partition] || !slices.Equal(p.ISR, []int32{p.Leader}) || !slices.Equal(p.OfflineReplicas, []int32{3}) {
				return false
			}
		}
		return true
	})

	// A reassignment may add it too (AlterPartitionReassignments), as
	// Kafka 4 accepts a registered, fenced broker: it completes once the
	// broker has returned and caught up. Gregor refused it as ZooKeeper
	// mode did ("Replica assignment has brokers that are not alive").
	move := "manual-down-move"
	if st := create(move, []int32{1, 2}); st.ErrorCode != 0 {
		t.Fatalf("creating %s: %v %q", move, kerr.ErrorForCode(st.ErrorCode), deref(st.ErrorMessage))
	}
	reassign := func(replicas ...int32) kmsg.AlterPartitionAssignmentsResponseTopicPartition {
		t.Helper()
		return reassignPartition0(t, ctx, cl, move, replicas)
	}
	if rp := reassign(1, 9); rp.ErrorCode != kerr.InvalidReplicaAssignment.Code || deref(rp.ErrorMessage) != "The manual partition assignment includes broker 9, but no such broker is registered." {
		t.Errorf("reassigning to broker 9: %v %q, want INVALID_REPLICA_ASSIGNMENT, no such broker", kerr.ErrorForCode(rp.ErrorCode), deref(rp.ErrorMessage))
	}
	if rp := reassign(1, 3); rp.ErrorCode != 0 {
		t.Fatalf("reassigning %s-0 to brokers 1 and 3 with 3 down: %v %q", move, kerr.ErrorForCode(rp.ErrorCode), deref(rp.ErrorMessage))
	}
	replicasOf := func(topic string) ([]int32, []int32) {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return nil, nil
		}
		p := resp.Topics[0].Partitions[0]
		return p.Replicas, p.ISR
	}
	waitFor(t, move+"-0 reassigning onto 1 and 3 (replicas 1, 3, 2) while 3 is down", 30*time.Second, func() bool {
		r, isr := replicasOf(move)
		return slices.Equal(r, []int32{1, 3, 2}) && !slices.Contains(isr, 3)
	})

	c.brokers[3].Restart()
	c.awaitISR(topic, 2, 60*time.Second)
	waitFor(t, "the reassignment of "+move+"-0 to complete once broker 3 is back", 60*time.Second, func() bool {
		r, isr := replicasOf(move)
		return slices.Equal(r, []int32{1, 3}) && slices.Contains(isr, 3)
	})
	// A replica rejoining the ISR is appended to it, as Kafka's
	// Partition.prepareIsrExpand: "known" went from 3 2 1 to 2 1 (its
	// leader 3 stopped) and back to 2 1 3. Gregor sorted it (1 2 3).
	// Polled: each broker's metadata follows ZooKeeper on its own, so one
	// may still answer with the old ISR after another has the new one.
	waitFor(t, "broker 3 to rejoin the ISR of known-0 last (2 1 3)", 60*time.Second, func() bool {
		_, isr := replicasOf("known")
		return slices.Equal(isr, []int32{2, 1, 3})
	})
}

// reassignPartition0 sends AlterPartitionReassignments for partition 0 of
// topic (nil replicas: a cancel) and returns its one partition's answer.
func reassignPartition0(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, replicas []int32) kmsg.AlterPartitionAssignmentsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Replicas = replicas
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("AlterPartitionReassignments: %v %+v", err, resp)
	}
	return resp.Topics[0].Partitions[0]
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// Cancelling a reassignment whose in-sync replicas are all ones it was
// adding would revert the partition to replicas none of which has its
// records: an unclean leader election, which Kafka's
// PartitionReassignmentRevert refuses unless the topic allows one. Gregor
// cancelled it: the partition went offline with an ISR naming brokers no
// longer its replicas, which then deleted their copies, and the records
// acknowledged since its original replicas left were lost.
func TestReassignmentCancelThatWouldBeUncleanIsRefused(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"auto.leader.rebalance.enable": "false"})
	c.createTopic("known", 1, 3, nil) // every broker holds a replica
	topic := "revert"
	c.createAssigned(topic, [][]int32{{1}})
	c.brokers[3].Stop()
	c.awaitBrokers(2, 30*time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[2].Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	reassign := func(replicas []int32) kmsg.AlterPartitionAssignmentsResponseTopicPartition {
		t.Helper()
		return reassignPartition0(t, ctx, cl, topic, replicas)
	}
	state := func() (replicas, isr []int32, leader int32) {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return nil, nil, -1
		}
		p := resp.Topics[0].Partitions[0]
		return p.Replicas, p.ISR, p.Leader
	}
	// From broker 1 to brokers 2 and 3; 3 is down, so it cannot complete.
	if rp := reassign([]int32{2, 3}); rp.ErrorCode != 0 {
		t.Fatalf("reassigning %s-0 to 2 and 3: %v %q", topic, kerr.ErrorForCode(rp.ErrorCode), deref(rp.ErrorMessage))
	}
	waitFor(t, "broker 2, being added, to join the ISR of "+topic+"-0", 30*time.Second, func() bool {
		r, isr, _ := state()
		return slices.Equal(r, []int32{2, 3, 1}) && slices.Contains(isr, 2)
	})
	// The original replica stops: broker 2, being added, leads alone.
	c.brokers[1].Stop()
	waitFor(t, "broker 2 to lead "+topic+"-0 alone", 30*time.Second, func() bool {
		_, isr, leader := state()
		return leader == 2 && slices.Equal(isr, []int32{2})
	})
	want := "Unable to revert partition assignment for " + topic + ":0 because it would require an unclean leader election."
	if rp := reassign(nil); rp.ErrorCode != kerr.InvalidReplicaAssignment.Code || deref(rp.ErrorMessage) != want {
		t.Fatalf("cancelling the reassignment of %s-0: %v %q, want INVALID_REPLICA_ASSIGNMENT %q", topic, kerr.ErrorForCode(rp.ErrorCode), deref(rp.ErrorMessage), want)
	}
	if r, isr, leader := state(); !slices.Equal(r, []int32{2, 3, 1}) || leader != 2 || !slices.Equal(isr, []int32{2}) {
		t.Fatalf("after the refused cancel %s-0 has replicas %v, leader %d, ISR %v; want 2 3 1, 2, [2]", topic, r, leader, isr)
	}
	// A new target back onto broker 1 alone leaves out the replicas
	// being added, the whole ISR: as Kafka 4 they stay replicas, and
	// broker 2 leads, until broker 1 is back in the ISR. Gregor dropped
	// them at once, as ZooKeeper mode did: no leader, an ISR naming broker
	// 2, no longer a replica, which deleted its copy.
	if rp := reassign([]int32{1}); rp.ErrorCode != 0 {
		t.Fatalf("reassigning %s-0 to broker 1: %v %q", topic, kerr.ErrorForCode(rp.ErrorCode), deref(rp.ErrorMessage))
	}
	waitFor(t, topic+"-0 reassigning to broker 1, still led by broker 2", 30*time.Second, func() bool {
		r, isr, leader := state()
		return slices.Equal(r, []int32{1, 2, 3}) && leader == 2 && slices.Equal(isr, []int32{2})
	})
	c.brokers[1].Restart()
	waitFor(t, "the reassignment of "+topic+"-0 onto broker 1 to complete once it is back", 60*time.Second, func() bool {
		r, isr, leader := state()
		return slices.Equal(r, []int32{1}) && leader == 1 && slices.Equal(isr, []int32{1})
	})
}
