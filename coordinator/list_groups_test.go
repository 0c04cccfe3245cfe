package coordinator

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

// While one of its partitions loads, Kafka's
// GroupCoordinatorService.listGroups fails as a whole: the answer is
// COORDINATOR_LOAD_IN_PROGRESS with no groups (the admin client retries),
// not the groups of the partitions already loaded.
func TestListGroupsDuringLoadListsNone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &failingReadHost{txnTestHost: newTxnTestHost()}
		co := New(Config{OffsetsTopicPartitions: 2, TxnTopicPartitions: 1, MinSessionTimeout: time.Millisecond, MaxSessionTimeout: time.Minute,
			OffsetsRetention: time.Hour, OffsetsRetentionCheck: time.Hour, TxnAbortCheckPeriod: time.Hour, OffsetMetadataMaxBytes: maxOffsetMetadata}, h, zerolog.Nop())
		t.Cleanup(co.Close)
		c := co.groups
		co.LeadershipChanged(OffsetsTopic, 0, true, 1)
		awaitLoaded(t, c.rt.Current(0))
		group := ""
		for i := 0; group == ""; i++ {
			if g := fmt.Sprintf("g%d", i); partitionFor(g, 2) == 0 {
				group = g
			}
		}
		if codes := c.offsetCommit(context.Background(), commitReq(group, "", -1, "t", 0, 1), 8); codes[topicPartition{"t", 0}] != 0 {
			t.Fatalf("commit for %s: %v", group, kerr.ErrorForCode(codes[topicPartition{"t", 0}]))
		}
		list := func() *kmsg.ListGroupsResponse {
			t.Helper()
			req := &protocol.Request{Key: 16, Version: 5, Body: kmsg.NewPtrListGroupsRequest()}
			if resp, err := c.handleListGroups(context.Background(), req); resp != nil || err != nil {
				t.Fatalf("ListGroups answered before its deferred work: %v %v", resp, err)
			}
			resp, err := req.Deferred()(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return resp.(*kmsg.ListGroupsResponse)
		}
		if resp := list(); resp.ErrorCode != 0 || len(resp.Groups) != 1 || resp.Groups[0].Group != group {
			t.Fatalf("ListGroups with partition 0 loaded: %v %+v, want %s", kerr.ErrorForCode(resp.ErrorCode), resp.Groups, group)
		}
		h.fail.Store(true) // partition 1's load cannot end
		co.LeadershipChanged(OffsetsTopic, 1, true, 1)
		resp := list()
		if resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code || len(resp.Groups) != 0 {
			t.Fatalf("ListGroups with partition 1 loading: %v %+v, want COORDINATOR_LOAD_IN_PROGRESS and no groups", kerr.ErrorForCode(resp.ErrorCode), resp.Groups)
		}
	})
}
