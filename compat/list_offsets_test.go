package compat

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A special timestamp the request's version does not have (MAX_TIMESTAMP,
// -3, before v7) is UNSUPPORTED_VERSION before the partition is looked up,
// as Kafka's ReplicaManager.fetchOffset checks it: for a partition or
// topic that does not exist too. Gregor looked the partition up first and
// answered UNKNOWN_TOPIC_OR_PARTITION.
func TestListOffsetsUnsupportedTimestampBeforeLookup(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("lo-unsupported", 1, nil)
	cl := e.pinned(2, 6)
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	for _, name := range []string{topic, randomName("lo-missing")} {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = name
		for _, part := range []int32{0, 7} {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = part, -3, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	// Sent to one broker as it is: the client would split it by leader,
	// and refuse itself what has none.
	kresp, err := cl.SeedBrokers()[0].Request(e.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.ListOffsetsResponse)
	if v := resp.GetVersion(); v != 6 {
		t.Fatalf("answered at version %d, want 6", v)
	}
	n := 0
	for _, st := range resp.Topics {
		for _, sp := range st.Partitions {
			n++
			if sp.ErrorCode != kerr.UnsupportedVersion.Code {
				t.Errorf("ListOffsets v6 of %s/%d at MAX_TIMESTAMP: %v, want UNSUPPORTED_VERSION", st.Topic, sp.Partition, kerr.ErrorForCode(sp.ErrorCode))
			}
		}
	}
	if n != 4 {
		t.Errorf("%d partitions answered, want 4", n)
	}
}
