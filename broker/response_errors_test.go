package broker

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Every ErrorCode field that is not NONE is found, at the top, in slices
// of topics and their partitions, and behind pointers; a response without
// one has none.
func TestEachErrorCode(t *testing.T) {
	codes := func(resp kmsg.Response) []int16 {
		var out []int16
		eachErrorCode(resp, func(c int16) { out = append(out, c) })
		return out
	}
	jg := kmsg.NewPtrJoinGroupResponse()
	jg.ErrorCode = 25
	if got := codes(jg); !slices.Equal(got, []int16{25}) {
		t.Errorf("JoinGroup: %v, want [25]", got)
	}
	oc := kmsg.NewPtrOffsetCommitResponse()
	for i, c := range []int16{0, 3, 0, 29} {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rp := kmsg.NewOffsetCommitResponseTopicPartition()
		rp.Partition, rp.ErrorCode = int32(i), c
		rt.Partitions = append(rt.Partitions, rp)
		oc.Topics = append(oc.Topics, rt)
	}
	if got := codes(oc); !slices.Equal(got, []int16{3, 29}) {
		t.Errorf("OffsetCommit: %v, want [3 29]", got)
	}
	dg := kmsg.NewPtrDescribeGroupsResponse()
	g := kmsg.NewDescribeGroupsResponseGroup()
	g.ErrorCode = 16
	dg.Groups = append(dg.Groups, g, kmsg.NewDescribeGroupsResponseGroup())
	if got := codes(dg); !slices.Equal(got, []int16{16}) {
		t.Errorf("DescribeGroups: %v, want [16]", got)
	}
	if got := codes(kmsg.NewPtrHeartbeatResponse()); len(got) != 0 {
		t.Errorf("a Heartbeat without error: %v", got)
	}
	var none *kmsg.SyncGroupResponse
	if got := codes(none); len(got) != 0 {
		t.Errorf("a nil response: %v", got)
	}
	if got := codes(kmsg.NewPtrApiVersionsResponse()); len(got) != 0 {
		t.Errorf("ApiVersions: %v", got)
	}
}
