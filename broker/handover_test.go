package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A new leader confirms a handover only where its partition answers
// ListOffsets at the new epoch: a partition still applying the leadership
// answers NOT_LEADER_OR_FOLLOWER (or UNKNOWN_LEADER_EPOCH), and a missing
// partition confirms nothing.
func TestHandoverLeadsNeedsEveryPartitionLed(t *testing.T) {
	parts := []movedPart{{"a", 0, 3}, {"a", 1, 3}, {"b", 0, 7}}
	answer := func(codes map[string][]int16) *kmsg.ListOffsetsResponse {
		resp := kmsg.NewPtrListOffsetsResponse()
		for _, topic := range []string{"a", "b"} {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = topic
			for p, code := range codes[topic] {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition, sp.ErrorCode = int32(p), code
				rt.Partitions = append(rt.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, tc := range []struct {
		name  string
		codes map[string][]int16
		want  bool
	}{
		{"all led", map[string][]int16{"a": {0, 0}, "b": {0}}, true},
		{"one moved on to a later epoch", map[string][]int16{"a": {0, kerr.FencedLeaderEpoch.Code}, "b": {0}}, true},
		{"one deleted meanwhile", map[string][]int16{"a": {0, 0}, "b": {kerr.UnknownTopicOrPartition.Code}}, true},
		{"one not yet applied", map[string][]int16{"a": {0, kerr.NotLeaderForPartition.Code}, "b": {0}}, false},
		{"one at an epoch it has not reached", map[string][]int16{"a": {0, 0}, "b": {kerr.UnknownLeaderEpoch.Code}}, false},
		{"one missing", map[string][]int16{"a": {0}, "b": {0}}, false},
	} {
		if got := leads(answer(tc.codes), parts); got != tc.want {
			t.Errorf("%s: leads = %v, want %v", tc.name, got, tc.want)
		}
	}
}
