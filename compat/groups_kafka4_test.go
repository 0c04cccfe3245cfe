package compat

// Group offset APIs as Kafka 4's GroupCoordinatorService and
// OffsetMetadataManager answer them, with raw requests so each field of
// the answer is checked.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"gregor/internal/wait"
)

// offsetsBound bounds a wait for a new topic to be known to the group's
// coordinator (on a cluster it learns of it through metadata).
const offsetsBound = 30 * time.Second

// offsetsClient is a client whose OffsetCommit names topics (v9 at most)
// and whose OffsetFetch is at most fetchVersion.
func offsetsClient(t *testing.T, addr string, fetchVersion int16) *kgo.Client {
	t.Helper()
	v := kversion.Stable()
	v.SetMaxKeyVersion(8, 9)
	v.SetMaxKeyVersion(9, fetchVersion)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(v))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// commitOffset commits one offset with a raw OffsetCommit (v9: topics by
// name) at generation -1, as the admin client and standalone consumers
// do, and returns the partition's error code.
func commitOffset(t *testing.T, cl *kgo.Client, group, topic string, partition int32, offset int64, metadata *string) int16 {
	t.Helper()
	code, err := tryCommitOffset(cl, group, -1, topic, partition, offset, metadata)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// tryCommitOffset is commitOffset at a generation, for any goroutine.
func tryCommitOffset(cl *kgo.Client, group string, generation int32, topic string, partition int32, offset int64, metadata *string) (int16, error) {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, generation
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = partition, offset, -1, metadata
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), offsetsBound)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("OffsetCommit to %q: %w", group, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("OffsetCommit to %q: answered %+v", group, resp.Topics)
	}
	return resp.Topics[0].Partitions[0].ErrorCode, nil
}

// firstCommit commits an offset to a topic just created, retrying while
// the coordinator does not know the topic yet.
func firstCommit(t *testing.T, cl *kgo.Client, group, topic string, offset int64) {
	t.Helper()
	var code int16
	wait.For(t, "a first commit to "+topic, offsetsBound, func() bool {
		code = commitOffset(t, cl, group, topic, 0, offset, nil)
		return code != kerr.UnknownTopicOrPartition.Code
	})
	if code != 0 {
		t.Fatalf("first commit to %q: %v", group, kerr.ErrorForCode(code))
	}
}

// fetchOffsetsRaw sends an OffsetFetch of one group, in the groups array
// when version (the client's maximum) is 8+, for the partitions named
// (nil topics: all), and returns the group's answer.
func fetchOffsetsRaw(t *testing.T, cl *kgo.Client, version int16, group string, requireStable bool, topics map[string][]int32) kmsg.OffsetFetchResponseGroup {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.RequireStable = requireStable
	ctx, cancel := context.WithTimeout(context.Background(), offsetsBound)
	defer cancel()
	if version >= 8 {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = group
		if topics != nil {
			rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{}
		}
		for topic, ps := range topics {
			rt := kmsg.NewOffsetFetchRequestGroupTopic()
			rt.Topic, rt.Partitions = topic, ps
			rg.Topics = append(rg.Topics, rt)
		}
		req.Groups = append(req.Groups, rg)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || len(resp.Groups) != 1 {
			t.Fatalf("OffsetFetch v%d of %q: %+v %v", version, group, resp, err)
		}
		return resp.Groups[0]
	}
	req.Group = group
	if topics != nil {
		req.Topics = []kmsg.OffsetFetchRequestTopic{}
	}
	for topic, ps := range topics {
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = topic, ps
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("OffsetFetch v%d of %q: %v", version, group, err)
	}
	out := kmsg.NewOffsetFetchResponseGroup()
	out.Group, out.ErrorCode = group, resp.ErrorCode
	for _, rt := range resp.Topics {
		gt := kmsg.NewOffsetFetchResponseGroupTopic()
		gt.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode = rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode
			gt.Partitions = append(gt.Partitions, gp)
		}
		out.Topics = append(out.Topics, gt)
	}
	return out
}

// onlyPartition is the one partition of a fetch answer.
func onlyPartition(t *testing.T, g kmsg.OffsetFetchResponseGroup) kmsg.OffsetFetchResponseGroupTopicPartition {
	t.Helper()
	if g.ErrorCode != 0 || len(g.Topics) != 1 || len(g.Topics[0].Partitions) != 1 {
		t.Fatalf("OffsetFetch of %q: error %v, topics %+v; want one partition", g.Group, kerr.ErrorForCode(g.ErrorCode), g.Topics)
	}
	return g.Topics[0].Partitions[0]
}

// A require_stable OffsetFetch racing plain commits reads the offset of
// the commits before it and is never UNSTABLE_OFFSET_COMMIT: Kafka runs
// it as a write, after the writes before it, and answers
// UNSTABLE_OFFSET_COMMIT only for offsets of open transactions. Gregor
// answered it while a plain commit was being replicated (a window that a
// cluster, whose commits wait for followers, opens wide enough to hit).
func TestRequireStableFetchNotUnstableForPlainCommits(t *testing.T) {
	addr := bootstrap(t)
	topic, group := randomName("stable-fetch"), randomName("stable-fetch")
	createTopic(t, addr, topic, 1)
	committer, fetcher := offsetsClient(t, addr, 9), offsetsClient(t, addr, 9)
	firstCommit(t, committer, group, topic, 0)
	last := int64(0)
	for i := int64(1); i <= 50; i++ {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, err := tryCommitOffset(committer, group, -1, topic, 0, i, nil); err != nil || code != 0 {
				t.Errorf("commit of %d: %v %v", i, kerr.ErrorForCode(code), err)
			}
		}()
		p := onlyPartition(t, fetchOffsetsRaw(t, fetcher, 9, group, true, map[string][]int32{topic: {0}}))
		wg.Wait()
		if p.ErrorCode != 0 || p.Offset < last || p.Offset > i {
			t.Fatalf("require_stable fetch racing the commit of %d: offset %d, %v; want %d..%d and no error",
				i, p.Offset, kerr.ErrorForCode(p.ErrorCode), last, i)
		}
		last = p.Offset
	}
	if p := onlyPartition(t, fetchOffsetsRaw(t, fetcher, 9, group, true, map[string][]int32{topic: {0}})); p.Offset != 50 || p.ErrorCode != 0 {
		t.Fatalf("require_stable fetch after the commits: offset %d, %v", p.Offset, kerr.ErrorForCode(p.ErrorCode))
	}
}

// describeGroupRaw is DescribeGroups of one group.
func describeGroupRaw(t *testing.T, cl *kgo.Client, group string) kmsg.DescribeGroupsResponseGroup {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	ctx, cancel := context.WithTimeout(context.Background(), offsetsBound)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Groups) != 1 {
		t.Fatalf("DescribeGroups of %q: %+v %v", group, resp, err)
	}
	return resp.Groups[0]
}

// deleteGroupsRaw is DeleteGroups of groups, answered in the response's
// order.
func deleteGroupsRaw(t *testing.T, cl *kgo.Client, groups ...string) []kmsg.DeleteGroupsResponseGroup {
	t.Helper()
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Groups = groups
	ctx, cancel := context.WithTimeout(context.Background(), offsetsBound)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("DeleteGroups of %q: %v", groups, err)
	}
	return resp.Groups
}

// The empty group id works end to end as in Kafka, which refuses only a
// null id for OffsetCommit, OffsetFetch, DescribeGroups and DeleteGroups
// (old clients, kafka-python and sarama among them, send "" when no
// group.id is set): FindCoordinator finds its coordinator (partition 0 by
// Kafka's hash), a commit at generation -1 creates the simple group "",
// fetches at old and new versions read it back, it is described and
// deleted. Gregor answered INVALID_GROUP_ID to all four.
func TestEmptyGroupIDOffsetsRoundTrip(t *testing.T) {
	addr := bootstrap(t)
	topic := randomName("empty-group")
	createTopic(t, addr, topic, 1)
	cl := offsetsClient(t, addr, 10)
	old := offsetsClient(t, addr, 1)

	find := kmsg.NewPtrFindCoordinatorRequest()
	find.CoordinatorKeys = []string{""}
	ctx, cancel := context.WithTimeout(context.Background(), offsetsBound)
	defer cancel()
	fresp, err := find.RequestWith(ctx, cl)
	if err != nil || len(fresp.Coordinators) != 1 || fresp.Coordinators[0].ErrorCode != 0 || fresp.Coordinators[0].NodeID < 0 {
		t.Fatalf("FindCoordinator of \"\": %+v %v", fresp, err)
	}

	firstCommit(t, cl, "", topic, 5)
	for _, c := range []struct {
		cl      *kgo.Client
		version int16
	}{{old, 1}, {cl, 10}} {
		p := onlyPartition(t, fetchOffsetsRaw(t, c.cl, c.version, "", c.version >= 7, map[string][]int32{topic: {0}}))
		if p.Offset != 5 || p.ErrorCode != 0 {
			t.Fatalf("OffsetFetch v%d of \"\": offset %d, %v; want 5", c.version, p.Offset, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	if d := describeGroupRaw(t, cl, ""); d.ErrorCode != 0 || d.State != "Empty" {
		t.Fatalf("DescribeGroups of \"\": %v, state %q; want Empty", kerr.ErrorForCode(d.ErrorCode), d.State)
	}
	if r := deleteGroupsRaw(t, cl, ""); len(r) != 1 || r[0].Group != "" || r[0].ErrorCode != 0 {
		t.Fatalf("DeleteGroups of \"\": %+v", r)
	}
	if p := onlyPartition(t, fetchOffsetsRaw(t, cl, 10, "", false, map[string][]int32{topic: {0}})); p.Offset != -1 || p.ErrorCode != 0 {
		t.Fatalf("OffsetFetch of \"\" after its deletion: offset %d, %v", p.Offset, kerr.ErrorForCode(p.ErrorCode))
	}
	if r := deleteGroupsRaw(t, cl, ""); len(r) != 1 || r[0].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("second DeleteGroups of \"\": %+v, want GROUP_ID_NOT_FOUND", r)
	}
	if d := describeGroupRaw(t, cl, ""); d.ErrorCode != kerr.GroupIDNotFound.Code || d.State != "Dead" {
		t.Fatalf("DescribeGroups (v6) of the deleted group \"\": %v, state %q", kerr.ErrorForCode(d.ErrorCode), d.State)
	}
}

// OffsetFetch of a share group is answered as for a group that does not
// exist, as Kafka's OffsetMetadataManager does with ShareGroup's
// GroupIdNotFoundException: -1 for a partition asked for, no topics when
// all are, no error. An OffsetCommit to it stays GROUP_ID_NOT_FOUND.
// Gregor answered the fetch with a group-level GROUP_ID_NOT_FOUND.
func TestOffsetFetchOfShareGroupAnswersAsUnknownGroup(t *testing.T) {
	addr := bootstrap(t)
	topic, group := randomName("share-offsets"), randomName("sg-offsets")
	createTopic(t, addr, topic, 1)
	cl := offsetsClient(t, addr, 10)
	old := offsetsClient(t, addr, 1)
	ctx, cancel := context.WithTimeout(context.Background(), offsetsBound)
	defer cancel()
	hb := kmsg.NewPtrShareGroupHeartbeatRequest()
	hb.GroupID, hb.MemberID, hb.MemberEpoch, hb.SubscribedTopicNames = group, randomName("member"), 0, []string{topic}
	resp, err := hb.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("ShareGroupHeartbeat joining %s: %v %v", group, err, kerr.ErrorForCode(resp.ErrorCode))
	}
	t.Cleanup(func() {
		leave := *hb
		leave.MemberEpoch, leave.SubscribedTopicNames = -1, nil
		leave.RequestWith(context.Background(), cl)
	})
	// Once the coordinator knows the topic (on a cluster it learns of it
	// through metadata), a commit is refused for the group.
	var code int16
	wait.For(t, "the coordinator to know "+topic, offsetsBound, func() bool {
		code = commitOffset(t, cl, group, topic, 0, 1, nil)
		return code != kerr.UnknownTopicOrPartition.Code
	})
	if code != kerr.GroupIDNotFound.Code {
		t.Fatalf("OffsetCommit to a share group: %v, want GROUP_ID_NOT_FOUND", kerr.ErrorForCode(code))
	}
	for _, c := range []struct {
		cl      *kgo.Client
		version int16
	}{{old, 1}, {cl, 10}} {
		p := onlyPartition(t, fetchOffsetsRaw(t, c.cl, c.version, group, false, map[string][]int32{topic: {0}}))
		if p.Offset != -1 || p.ErrorCode != 0 {
			t.Fatalf("OffsetFetch v%d of a share group's partition: offset %d, %v; want -1, no error", c.version, p.Offset, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	for _, stable := range []bool{false, true} {
		if g := fetchOffsetsRaw(t, cl, 10, group, stable, nil); g.ErrorCode != 0 || len(g.Topics) != 0 {
			t.Fatalf("OffsetFetch (require_stable %v) of all of a share group's offsets: %v, topics %+v; want none, no error",
				stable, kerr.ErrorForCode(g.ErrorCode), g.Topics)
		}
	}
}

// An OffsetCommit refused for its group is refused so for a partition
// whose metadata is too large too: Kafka validates the group first (each
// partition gets its error) and the metadata's size per partition after.
// Gregor answered OFFSET_METADATA_TOO_LARGE for it.
func TestOffsetCommitGroupErrorBeforeMetadataTooLarge(t *testing.T) {
	addr := bootstrap(t)
	topic, group := randomName("commit-precedence"), randomName("no-such-group")
	createTopic(t, addr, topic, 1)
	cl := offsetsClient(t, addr, 9)
	big := strings.Repeat("m", 4097) // offset.metadata.max.bytes is 4096
	var code int16
	wait.For(t, "the coordinator to know "+topic, offsetsBound, func() bool {
		var err error
		code, err = tryCommitOffset(cl, group, 5, topic, 0, 1, &big)
		if err != nil {
			t.Fatal(err)
		}
		return code != kerr.UnknownTopicOrPartition.Code
	})
	if code != kerr.GroupIDNotFound.Code {
		t.Fatalf("v9 OffsetCommit at generation 5 to a group that does not exist, metadata too large: %v; want GROUP_ID_NOT_FOUND",
			kerr.ErrorForCode(code))
	}
	// A commit the group accepts is checked for its metadata.
	if code := commitOffset(t, cl, group, topic, 0, 1, &big); code != kerr.OffsetMetadataTooLarge.Code {
		t.Fatalf("OffsetCommit at generation -1, metadata too large: %v; want OFFSET_METADATA_TOO_LARGE", kerr.ErrorForCode(code))
	}
}

// DeleteGroups naming a group twice answers it once, as Kafka's
// handleDeleteGroupsRequest deletes groupsNames.distinct. Gregor deleted
// it and then answered GROUP_ID_NOT_FOUND for the repeat.
func TestDeleteGroupsNamedTwiceAnsweredOnce(t *testing.T) {
	addr := bootstrap(t)
	topic, group := randomName("delete-twice"), randomName("delete-twice")
	createTopic(t, addr, topic, 1)
	cl := offsetsClient(t, addr, 10)
	firstCommit(t, cl, group, topic, 3)
	r := deleteGroupsRaw(t, cl, group, group)
	if len(r) != 1 || r[0].Group != group || r[0].ErrorCode != 0 {
		t.Fatalf("DeleteGroups of %s twice: %+v; want one result, no error", group, r)
	}
	if p := onlyPartition(t, fetchOffsetsRaw(t, cl, 10, group, false, map[string][]int32{topic: {0}})); p.Offset != -1 {
		t.Fatalf("offset after DeleteGroups: %d", p.Offset)
	}
}

// txnRetriable are the answers a transactional request is retried on.
func txnRetriable(code int16) bool {
	return code == kerr.CoordinatorLoadInProgress.Code || code == kerr.CoordinatorNotAvailable.Code ||
		code == kerr.NotCoordinator.Code || code == kerr.ConcurrentTransactions.Code
}

// OffsetDelete tombstones a partition whose offset is pending in an open
// transaction, and that cancels it: the transaction's commit brings
// nothing back (Kafka's deleteOffsets tombstones partitions with committed
// or pending transactional offsets; replaying a tombstone removes them
// from every open transaction). Gregor deleted only the committed offset
// and left the transaction's, which its commit marker then restored.
func TestOffsetDeleteCancelsPendingTxnOffsets(t *testing.T) {
	addr := bootstrap(t)
	topic, group, txnID := randomName("delete-pending"), randomName("delete-pending"), randomName("delete-pending")
	createTopic(t, addr, topic, 3)
	v := kversion.Stable()
	v.SetMaxKeyVersion(8, 9)  // OffsetCommit by topic name
	v.SetMaxKeyVersion(28, 3) // TxnOffsetCommit after AddOffsetsToTxn
	v.SetMaxKeyVersion(26, 4) // EndTxn of transaction version 1
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(v))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), offsetsBound)
	defer cancel()
	firstCommit(t, cl, group, topic, 1) // partition 0

	ip := initProducerID(ctx, t, cl, txnID, -1, -1)
	if ip.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(ip.ErrorCode))
	}
	pid, epoch := ip.ProducerID, ip.ProducerEpoch
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnID, pid, epoch, group
	untilTxnOK(t, "AddOffsetsToTxn", func() int16 {
		resp, err := add.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	})
	// The transaction commits 10, 11 and 12 for partitions 0 (which has a
	// committed offset), 1 and 2.
	commit := kmsg.NewPtrTxnOffsetCommitRequest()
	commit.TransactionalID, commit.Group, commit.ProducerID, commit.ProducerEpoch, commit.Generation = txnID, group, pid, epoch, -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = topic
	for p := range int32(3) {
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = p, 10+int64(p), -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	commit.Topics = append(commit.Topics, rt)
	cresp, err := commit.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cresp.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("TxnOffsetCommit of partition %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
		}
	}

	// Delete partitions 0 and 1; partition 2 stays in the transaction.
	del := kmsg.NewPtrOffsetDeleteRequest()
	del.Group = group
	dt := kmsg.NewOffsetDeleteRequestTopic()
	dt.Topic = topic
	for p := range int32(2) {
		dp := kmsg.NewOffsetDeleteRequestTopicPartition()
		dp.Partition = p
		dt.Partitions = append(dt.Partitions, dp)
	}
	del.Topics = append(del.Topics, dt)
	dresp, err := del.RequestWith(ctx, cl)
	if err != nil || dresp.ErrorCode != 0 || len(dresp.Topics) != 1 {
		t.Fatalf("OffsetDelete: %+v %v", dresp, err)
	}
	for _, p := range dresp.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("OffsetDelete of partition %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
		}
	}

	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = txnID, pid, epoch, true
	untilTxnOK(t, "EndTxn commit", func() int16 {
		resp, err := end.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	})
	// The commit marker has reached the group once partition 2's offset
	// is stable.
	all := map[string][]int32{topic: {0, 1, 2}}
	var got kmsg.OffsetFetchResponseGroup
	wait.For(t, "the transaction's offset of partition 2", offsetsBound, func() bool {
		got = fetchOffsetsRaw(t, cl, 10, group, true, all)
		for _, rt := range got.Topics {
			for _, p := range rt.Partitions {
				if p.Partition == 2 {
					return p.ErrorCode == 0 && p.Offset == 12
				}
			}
		}
		return false
	})
	for _, rt := range got.Topics {
		for _, p := range rt.Partitions {
			if p.Partition < 2 && (p.Offset != -1 || p.ErrorCode != 0) {
				t.Errorf("partition %d after the transaction committed: offset %d, %v; want -1 (deleted)",
					p.Partition, p.Offset, kerr.ErrorForCode(p.ErrorCode))
			}
		}
	}
}

// offsetDeleteRaw is OffsetDelete of partitions of one topic; it returns
// the group error and each partition's.
func offsetDeleteRaw(t *testing.T, cl *kgo.Client, group, topic string, partitions ...int32) (int16, map[int32]int16) {
	t.Helper()
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = group
	rt := kmsg.NewOffsetDeleteRequestTopic()
	rt.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewOffsetDeleteRequestTopicPartition()
		rp.Partition = p
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), offsetsBound)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("OffsetDelete of %s: %v", group, err)
	}
	codes := make(map[int32]int16)
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			codes[p.Partition] = p.ErrorCode
		}
	}
	return resp.ErrorCode, codes
}

// A consumer group whose subscriptions are unknown (a member's metadata
// is not the consumer protocol's) counts as subscribed to every topic:
// Kafka's ClassicGroup.isSubscribedToTopic is
// subscribedTopics.orElse(usesConsumerGroupProtocol()), so OffsetDelete
// answers GROUP_SUBSCRIBED_TO_TOPIC, and an unknown partition, answered
// by KafkaApis before the coordinator, UNKNOWN_TOPIC_OR_PARTITION. Gregor
// took unknown subscriptions for none and deleted the offset.
func TestOffsetDeleteWhileSubscriptionsUnknown(t *testing.T) {
	g := newClassicGroup(t, bootstrap(t), 9)
	topic := g.topic()
	firstCommit(t, g.cl, g.group, topic, 1)
	g.stableStatic("a", "x") // one byte: no ConsumerProtocol subscription
	gerr, codes := offsetDeleteRaw(t, g.cl, g.group, topic, 0, 5)
	if gerr != 0 || codes[0] != kerr.GroupSubscribedToTopic.Code || codes[5] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("OffsetDelete of partitions 0 and 5 (no such partition): group %v, partitions %v; want GROUP_SUBSCRIBED_TO_TOPIC and UNKNOWN_TOPIC_OR_PARTITION",
			kerr.ErrorForCode(gerr), codes)
	}
	if p := onlyPartition(t, fetchOffsetsRaw(t, g.cl, 10, g.group, false, map[string][]int32{topic: {0}})); p.Offset != 1 {
		t.Fatalf("offset after the refused OffsetDelete: %d, want 1", p.Offset)
	}
}

// untilTxnOK sends a transaction request until it succeeds, within
// offsetsBound, and fails the test on an error that is not retried.
func untilTxnOK(t *testing.T, what string, send func() int16) {
	t.Helper()
	wait.For(t, what, offsetsBound, func() bool {
		code := send()
		if code != 0 && !txnRetriable(code) {
			t.Fatalf("%s: %v", what, kerr.ErrorForCode(code))
		}
		return code == 0
	})
}
