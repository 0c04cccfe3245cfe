package compat

// Share group administration with the raw APIs a Kafka admin client
// sends: ListGroups of type share, DescribeShareGroupOffsets,
// AlterShareGroupOffsets (a consumer then starts at the new offset),
// DeleteShareGroupOffsets and DeleteGroups.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/wait"
)

// consumeAccept consumes with a share consumer until it has n records,
// accepting them, and closes it (leaving the group).
func consumeAccept(t *testing.T, addr, group, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	wait.For(t, fmt.Sprintf("%d records in share group %s", n, group), shareBound, func() bool {
		rs := poll(cl, time.Second)
		cl.MarkAcks(kgo.AckAccept, rs...)
		got = append(got, rs...)
		return len(got) >= n
	})
	if err := cl.FlushAcks(context.Background()); err != nil {
		t.Fatalf("flushing acknowledgements: %v", err)
	}
	return got
}

func describeShareOffset(t *testing.T, cl *kgo.Client, group, topic string) (int64, int16) {
	t.Helper()
	off, _, code := describeShareOffsetLag(t, cl, group, topic)
	return off, code
}

// describeShareOffsetLag is partition 0's start offset, lag and error.
func describeShareOffsetLag(t *testing.T, cl *kgo.Client, group, topic string) (int64, int64, int16) {
	t.Helper()
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	rg := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	rg.GroupID = group
	rt := kmsg.NewDescribeShareGroupOffsetsRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	rg.Topics = append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	g := resp.Groups[0]
	if g.ErrorCode != 0 {
		return -1, -1, g.ErrorCode
	}
	p := g.Topics[0].Partitions[0]
	return p.StartOffset, p.Lag, p.ErrorCode
}

func TestShareGroupAdminOffsets(t *testing.T) {
	addr := bootstrap(t)
	topic, group := shareTopic(t, addr)
	values := make([]string, 10)
	for i := range values {
		values[i] = fmt.Sprintf("r%d", i)
	}
	produceValues(t, addr, topic, values)
	consumeAccept(t, addr, group, topic, 10)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	lg := kmsg.NewPtrListGroupsRequest()
	lg.TypesFilter = []string{"share"}
	lresp, err := lg.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range lresp.Groups {
		found = found || g.Group == group && g.GroupType == "share"
	}
	if !found {
		t.Errorf("ListGroups of type share does not list %s: %+v", group, lresp.Groups)
	}

	wait.For(t, "the share group's start offset to reach 10, with no lag", shareBound, func() bool {
		off, lag, code := describeShareOffsetLag(t, cl, group, topic)
		return code == 0 && off == 10 && (lag == 0 || !usingGregor() && lag == -1)
	})
	if usingGregor() {
		produceValues(t, addr, topic, []string{"x", "y", "z"})
		if _, lag, code := describeShareOffsetLag(t, cl, group, topic); code != 0 || lag != 3 {
			t.Errorf("after 3 more records: lag %d (error %v), want 3", lag, kerr.ErrorForCode(code))
		}
	}

	// Rewind to 5: a new consumer gets records 5-9 again. The member
	// that left may take a heartbeat to be gone: NON_EMPTY_GROUP meanwhile.
	alter := kmsg.NewPtrAlterShareGroupOffsetsRequest()
	alter.GroupID = group
	at := kmsg.NewAlterShareGroupOffsetsRequestTopic()
	at.Topic = topic
	ap := kmsg.NewAlterShareGroupOffsetsRequestTopicPartition()
	ap.Partition, ap.StartOffset = 0, 5
	at.Partitions = append(at.Partitions, ap)
	alter.Topics = append(alter.Topics, at)
	wait.For(t, "AlterShareGroupOffsets to succeed on the emptied group", shareBound, func() bool {
		resp, err := alter.RequestWith(context.Background(), cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode == kerr.NonEmptyGroup.Code {
			return false
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			t.Fatalf("altering share offsets: %v", err)
		}
		if c := resp.Topics[0].Partitions[0].ErrorCode; c != 0 {
			t.Fatalf("altering share offsets of partition 0: %v", kerr.ErrorForCode(c))
		}
		return true
	})
	again := consumeAccept(t, addr, group, topic, 5)
	if again[0].Offset != 5 {
		t.Fatalf("after rewinding to 5 the first record is at %d", again[0].Offset)
	}

	del := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
	del.GroupID = group
	dt := kmsg.NewDeleteShareGroupOffsetsRequestTopic()
	dt.Topic = topic
	del.Topics = append(del.Topics, dt)
	wait.For(t, "DeleteShareGroupOffsets to succeed on the emptied group", shareBound, func() bool {
		resp, err := del.RequestWith(context.Background(), cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode == kerr.NonEmptyGroup.Code {
			return false
		}
		if resp.ErrorCode != 0 || resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("deleting share offsets: %v %v", kerr.ErrorForCode(resp.ErrorCode), kerr.ErrorForCode(resp.Topics[0].ErrorCode))
		}
		return true
	})

	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{group}
	dresp, err := dg.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(dresp.Groups[0].ErrorCode); err != nil {
		t.Fatalf("deleting the share group: %v", err)
	}
	if _, code := describeShareOffset(t, cl, group, topic); code != kerr.GroupIDNotFound.Code {
		t.Fatalf("describing a deleted share group: %v, want GROUP_ID_NOT_FOUND", kerr.ErrorForCode(code))
	}
}
