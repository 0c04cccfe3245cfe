package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/metadata"
)

// On ZooKeeper a broker learns a new topic's assignment before the
// controller has elected its partitions' leaders and written their state.
// Kafka on ZooKeeper describes a partition only once the controller's
// UpdateMetadata brings it with its leader, so Metadata must not list such
// a partition: kafka-go's Writer failed a write to a topic it had just
// auto-created on a cluster with "topic partition has no leader". And it
// brings a new topic's partitions (or those added to one) in one
// UpdateMetadata, so none is described until all are: Gregor described a
// new topic with some of its partitions, and a group leader assigning
// from that answer left the rest unassigned (kafka-go never took them).
func TestMetadataOmitsPartitionsWithoutControllerState(t *testing.T) {
	tb, be, _ := newISRBroker(t, []int32{1, 2}, []int32{1, 2})
	be.apply.ApplyTopic(metadata.TopicState{Name: "u", ID: metadata.NewUuid(), Reported: time.Now(), Partitions: []metadata.PartitionState{
		{Replicas: []int32{1, 2}, Leader: -1, Version: -1}}})
	be.apply.ApplyTopic(metadata.TopicState{Name: "v", ID: metadata.NewUuid(), Reported: time.Now(), Partitions: []metadata.PartitionState{
		{Replicas: []int32{1, 2}, Leader: 1, LeaderEpoch: 0, ISR: []int32{1, 2}, Version: 0},
		{Replicas: []int32{2, 1}, Leader: -1, Version: -1}}})
	if err := tb.awaitApplied(context.Background()); err != nil {
		t.Fatal(err)
	}

	// describe lists how many partitions Metadata gives each topic asked
	// (-1: not described), and checks the list of every topic agrees.
	describe := func(names ...string) []int {
		t.Helper()
		req := kmsg.NewPtrMetadataRequest()
		for _, name := range names {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
		}
		resp := tb.call(req).(*kmsg.MetadataResponse)
		all := map[string]int{}
		for _, st := range tb.call(kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse).Topics {
			all[*st.Topic] = len(st.Partitions)
		}
		var out []int
		for i, st := range resp.Topics {
			n := len(st.Partitions)
			switch {
			case st.ErrorCode == kerr.UnknownTopicOrPartition.Code && n == 0:
				n = -1
			case st.ErrorCode != 0:
				t.Fatalf("topic %s: %v", names[i], kerr.ErrorForCode(st.ErrorCode))
			}
			for j, sp := range st.Partitions {
				if sp.Partition != int32(j) || sp.Leader < 0 {
					t.Errorf("topic %s described partition %d (leader %d) at %d", names[i], sp.Partition, sp.Leader, j)
				}
			}
			if got, ok := all[names[i]]; ok != (n >= 0) || ok && got != n {
				t.Errorf("the list of every topic gives %s %d partitions (listed %v), asked for by name %d", names[i], got, ok, n)
			}
			out = append(out, n)
		}
		// DescribeTopicPartitions (kafka-topics.sh --describe) agrees.
		dreq := kmsg.NewPtrDescribeTopicPartitionsRequest()
		dreq.ResponsePartitionLimit = 2000
		for _, name := range names {
			rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
			rt.Topic = name
			dreq.Topics = append(dreq.Topics, rt)
		}
		for i, st := range tb.call(dreq).(*kmsg.DescribeTopicPartitionsResponse).Topics {
			n := len(st.Partitions)
			if st.ErrorCode != 0 {
				n = -1
			}
			if n != out[i] {
				t.Errorf("DescribeTopicPartitions gives %s %d partitions (%v), Metadata %d", names[i], n, kerr.ErrorForCode(st.ErrorCode), out[i])
			}
		}
		return out
	}
	applied := func() {
		t.Helper()
		if err := tb.awaitApplied(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	led := func(r ...int32) metadata.PartitionState {
		return metadata.PartitionState{Replicas: r, Leader: r[0], LeaderEpoch: 0, ISR: r, Version: 0}
	}
	unled := func(r ...int32) metadata.PartitionState {
		return metadata.PartitionState{Replicas: r, Leader: -1, Version: -1}
	}

	// A new topic is described once all its partitions are (Kafka's
	// controller brings them in one UpdateMetadata): u has none yet, v
	// one of two.
	if got := describe("u", "v"); got[0] != -1 || got[1] != -1 {
		t.Errorf("topics u (no partition with a state) and v (one of two): described with %v partitions, want neither described", got)
	}
	vID := metadata.NewUuid()
	be.apply.ApplyTopic(metadata.TopicState{Name: "v", ID: vID, Reported: time.Now(), Partitions: []metadata.PartitionState{led(1, 2), led(2, 1)}})
	applied()
	if got := describe("v"); got[0] != 2 {
		t.Errorf("v with both partitions led: %d described, want 2", got[0])
	}
	// Partitions added to it are described together once all are.
	be.apply.ApplyTopic(metadata.TopicState{Name: "v", ID: vID, Reported: time.Now(), Partitions: []metadata.PartitionState{led(1, 2), led(2, 1), led(1, 2), unled(2, 1)}})
	applied()
	if got := describe("v"); got[0] != 2 {
		t.Errorf("v grown to 4, partition 3 without a state: %d described, want the 2 it had", got[0])
	}
	be.apply.ApplyTopic(metadata.TopicState{Name: "v", ID: vID, Reported: time.Now(), Partitions: []metadata.PartitionState{led(1, 2), led(2, 1), led(1, 2), led(2, 1)}})
	applied()
	if got := describe("v"); got[0] != 4 {
		t.Errorf("v grown to 4, all led: %d described, want 4", got[0])
	}
	// A topic being deleted loses its states one by one in ZooKeeper; it
	// goes from Metadata at the first, as Kafka drops all its partitions
	// at once.
	be.apply.ApplyTopic(metadata.TopicState{Name: "v", ID: vID, Reported: time.Now(), Partitions: []metadata.PartitionState{led(1, 2), unled(2, 1), led(1, 2), led(2, 1)}})
	applied()
	if got := describe("v"); got[0] != -1 {
		t.Errorf("v losing partition 1's state: %d described, want none", got[0])
	}
}
