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
// auto-created on a cluster with "topic partition has no leader".
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

	req := kmsg.NewPtrMetadataRequest()
	for _, name := range []string{"u", "v"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp := tb.call(req).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 2 {
		t.Fatalf("metadata answered %d topics, want 2", len(resp.Topics))
	}
	if u := resp.Topics[0]; u.ErrorCode != kerr.UnknownTopicOrPartition.Code || len(u.Partitions) != 0 {
		t.Errorf("a topic no partition of which has a state yet: %v with %d partitions, want UNKNOWN_TOPIC_OR_PARTITION and none", kerr.ErrorForCode(u.ErrorCode), len(u.Partitions))
	}
	if v := resp.Topics[1]; v.ErrorCode != 0 || len(v.Partitions) != 1 || v.Partitions[0].Partition != 0 || v.Partitions[0].Leader != 1 {
		t.Errorf("a topic whose partition 1 has no state yet: %v with partitions %+v, want partition 0 only, led by 1", kerr.ErrorForCode(v.ErrorCode), v.Partitions)
	}

	all := tb.call(kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
	for _, st := range all.Topics {
		switch *st.Topic {
		case "u":
			t.Errorf("the list of every topic has u, no partition of which has a state yet")
		case "v":
			if len(st.Partitions) != 1 {
				t.Errorf("the list of every topic gives v %d partitions, want 1", len(st.Partitions))
			}
		}
	}
}
