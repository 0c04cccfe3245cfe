package coordinator

// Committed offsets against Kafka's OffsetMetadataManager and
// GroupCoordinatorService: require_stable fetches, deletion of offsets
// that open transactions hold.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

// stableFetchAsync runs a require_stable fetch of tps in the background.
func (e *groupEnv) stableFetchAsync(ctx context.Context, group string, tps ...topicPartition) <-chan []fetchedOffset {
	ch := make(chan []fetchedOffset, 1)
	go func() {
		out, err := e.c.fetchOffsets(ctx, group, tps, true, nil, -1)
		if err != nil {
			e.t.Errorf("require_stable fetch of %s: %v", group, err)
		}
		ch <- out
	}()
	return ch
}

// A plain commit still being replicated is not UNSTABLE_OFFSET_COMMIT: the
// require_stable fetch waits for it, as Kafka's fetch (a write of no
// records) completes after the writes before it, and reads its offset.
func TestRequireStableFetchAwaitsInFlightPlainCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		tp, other := topicPartition{"t", 0}, topicPartition{"t", 1}
		if code := commitCode(t, e, "g", "", -1, "t", 0, 1); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		release := e.h.holdReplication()
		commit := make(chan int16, 1)
		go func() { commit <- commitCode(t, e, "g", "", -1, "t", 0, 2) }()
		synctest.Wait()
		inFlight := false
		e.inspect("g", func(g *group) { inFlight = g.inFlight(tp) })
		if !inFlight {
			t.Fatal("the second commit is not in flight")
		}
		// Another partition's fetch does not wait for it.
		if o := fetch(t, e, "g", true, other)[other]; o.offset != -1 || o.code != 0 {
			t.Fatalf("require_stable fetch of a partition without commits in flight: %+v", o)
		}
		fetched := e.stableFetchAsync(context.Background(), "g", tp)
		synctest.Wait()
		notYet(t, fetched, "require_stable fetch before the commit it follows was replicated")
		if o := fetch(t, e, "g", false, tp)[tp]; o.offset != 1 || o.code != 0 {
			t.Fatalf("plain fetch during the commit: %+v, want the committed offset 1", o)
		}
		release()
		if got := await(t, fetched, "require_stable fetch after replication"); len(got) != 1 || got[0].offset != 2 || got[0].code != 0 {
			t.Fatalf("require_stable fetch: %+v, want offset 2 and no error", got)
		}
		if code := await(t, commit, "the commit"); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
	})
}

// The wait is bounded: by the commit it waits for (which fails after the
// commit timeout), and by the request's context.
func TestRequireStableFetchWaitIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, func(c *Config) { c.OffsetsCommitTimeout = time.Second })
		tp := topicPartition{"t", 0}
		if code := commitCode(t, e, "g", "", -1, "t", 0, 1); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		e.h.holdReplication() // never released
		commit := make(chan int16, 1)
		go func() { commit <- commitCode(t, e, "g", "", -1, "t", 0, 2) }()
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := e.c.fetchOffsets(ctx, "g", []topicPartition{tp}, true, nil, -1); err != kerr.NotCoordinator {
			t.Fatalf("require_stable fetch with its request gone: %v, want NOT_COORDINATOR", err)
		}
		// The bubble's clock moves on: the fetch starts after the commit,
		// as it does on the wire.
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		fetched := e.stableFetchAsync(context.Background(), "g", tp)
		if code := await(t, commit, "the commit to time out"); code != kerr.CoordinatorNotAvailable.Code {
			t.Fatalf("commit never replicated: %v", kerr.ErrorForCode(code))
		}
		got := await(t, fetched, "require_stable fetch after the commit failed")
		if len(got) != 1 || got[0].offset != 1 || got[0].code != 0 {
			t.Fatalf("require_stable fetch after the commit failed: %+v, want offset 1", got)
		}
		if waited := time.Since(start); waited > time.Second {
			t.Fatalf("require_stable fetch waited %v, longer than the commit timeout", waited)
		}
	})
}

// The empty group id is a group like any other for OffsetCommit,
// OffsetFetch, DescribeGroups and DeleteGroups: Kafka refuses only a null
// id there, for old clients (kafka-python, sarama) that send "" when no
// group.id is set. The membership APIs, TxnOffsetCommit and OffsetDelete
// refuse it with INVALID_GROUP_ID.
func TestEmptyGroupIDCommitsFetchesDescribesDeletes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		tp := topicPartition{"t", 0}
		if o := fetch(t, e, "", false, tp)[tp]; o.offset != -1 || o.code != 0 {
			t.Fatalf("fetch of the unknown group \"\": %+v", o)
		}
		if d := e.c.describeGroup("", 5); d.ErrorCode != 0 || d.State != "Dead" {
			t.Fatalf("describe (v5) of the unknown group \"\": %v %q", kerr.ErrorForCode(d.ErrorCode), d.State)
		}
		if d := e.c.describeGroup("", 6); d.ErrorCode != kerr.GroupIDNotFound.Code || d.State != "Dead" {
			t.Fatalf("describe (v6) of the unknown group \"\": %v %q", kerr.ErrorForCode(d.ErrorCode), d.State)
		}
		if err := e.c.deleteGroup(ctx, ""); err != kerr.GroupIDNotFound {
			t.Fatalf("delete of the unknown group \"\": %v", err)
		}
		if code := commitCode(t, e, "", "", -1, "t", 0, 7); code != 0 {
			t.Fatalf("commit at generation -1 to \"\": %v", kerr.ErrorForCode(code))
		}
		if o := fetch(t, e, "", true, tp)[tp]; o.offset != 7 || o.code != 0 {
			t.Fatalf("fetch of \"\" after a commit: %+v", o)
		}
		if all := fetch(t, e, "", false); len(all) != 1 || all[tp].offset != 7 {
			t.Fatalf("fetch of all offsets of \"\": %+v", all)
		}
		if d := e.c.describeGroup("", 6); d.ErrorCode != 0 || d.State != "Empty" {
			t.Fatalf("describe of the simple group \"\": %v %q", kerr.ErrorForCode(d.ErrorCode), d.State)
		}
		if err := e.c.deleteGroup(ctx, ""); err != nil {
			t.Fatalf("delete of the simple group \"\": %v", err)
		}
		if o := fetch(t, e, "", false, tp)[tp]; o.offset != -1 {
			t.Fatalf("fetch of \"\" after its deletion: %+v", o)
		}

		// Still refused: TxnOffsetCommit, OffsetDelete, the membership APIs.
		// Before the transaction is looked at (v5 would add the offsets
		// partition to it; "tx" is no transactional id).
		for _, v := range []int16{3, 5} {
			if c := e.c.txnOffsetCommit(ctx, txnCommitReq("", 100, "t", 0, 1), v)[tp]; c != kerr.InvalidGroupID.Code {
				t.Errorf("txn commit (v%d) to \"\": %v", v, kerr.ErrorForCode(c))
			}
		}
		if _, gerr := e.c.offsetDelete(ctx, offsetDeleteReq("", tp)); gerr != kerr.InvalidGroupID {
			t.Errorf("offset delete of \"\": %v", gerr)
		}
		if err := e.c.heartbeatGroup("", "m", nil, 1); err != kerr.InvalidGroupID {
			t.Errorf("heartbeat to \"\": %v", err)
		}
	})
}

// OffsetFetch of a share group answers as for a group that does not
// exist: Kafka's ShareGroup.validateOffsetFetch throws
// GroupIdNotFoundException, which OffsetMetadataManager turns into -1 for
// each partition asked for, or no topics when all are, without an error.
// OffsetCommit and OffsetDelete keep GROUP_ID_NOT_FOUND.
func TestOffsetFetchOfShareGroupAnswersAsUnknownGroup(t *testing.T) {
	e := newSGEnv(t)
	ctx := context.Background()
	if res := e.sgBeat("sg", "m1", 0, "a"); res.err != nil {
		t.Fatal(res.err)
	}
	tp := topicPartition{"a", 0}
	for _, stable := range []bool{false, true} {
		got, err := e.c.fetchOffsets(ctx, "sg", []topicPartition{tp}, stable, nil, -1)
		if err != nil || len(got) != 1 || got[0].offset != -1 || got[0].code != 0 {
			t.Fatalf("fetch (require_stable %v) of a share group's partition: %+v %v", stable, got, err)
		}
		all, err := e.c.fetchOffsets(ctx, "sg", nil, stable, nil, -1)
		if err != nil || len(all) != 0 {
			t.Fatalf("fetch (require_stable %v) of all a share group's offsets: %+v %v", stable, all, err)
		}
	}
	if code := commitCode(t, e, "sg", "", -1, "a", 0, 1); code != kerr.GroupIDNotFound.Code {
		t.Errorf("commit to a share group: %v", kerr.ErrorForCode(code))
	}
	if _, gerr := e.c.offsetDelete(ctx, offsetDeleteReq("sg", tp)); gerr != kerr.GroupIDNotFound {
		t.Errorf("offset delete of a share group: %v", gerr)
	}
}

// An OffsetCommit refused for its group or member is refused so for every
// partition, whatever their metadata: Kafka checks the group first
// (getErrorResponse gives each partition its error) and the metadata's
// size per partition after. Only unknown partitions come before, as
// KafkaApis answers them before the coordinator sees the request.
func TestOffsetCommitGroupErrorBeforeMetadataTooLarge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		big := string(make([]byte, maxOffsetMetadata+1))
		oversized := func(r *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitRequest {
			r.Topics[0].Partitions[0].Metadata = &big
			p := kmsg.NewOffsetCommitRequestTopicPartition()
			p.Partition, p.Offset = 1, 5
			r.Topics[0].Partitions = append(r.Topics[0].Partitions, p)
			mt := kmsg.NewOffsetCommitRequestTopic()
			mt.Topic = "missing"
			mt.Partitions = append(mt.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
			r.Topics = append(r.Topics, mt)
			return r
		}
		tp0, tp1, missing := topicPartition{"t", 0}, topicPartition{"t", 1}, topicPartition{"missing", 0}
		check := func(what string, codes map[topicPartition]int16, want *kerr.Error) {
			t.Helper()
			if codes[tp0] != want.Code || codes[tp1] != want.Code || codes[missing] != kerr.UnknownTopicOrPartition.Code {
				t.Errorf("%s: t/0 (oversized metadata) %v, t/1 %v, missing/0 %v; want %v, %v, UNKNOWN_TOPIC_OR_PARTITION",
					what, kerr.ErrorForCode(codes[tp0]), kerr.ErrorForCode(codes[tp1]), kerr.ErrorForCode(codes[missing]), want, want)
			}
		}
		check("v9 commit at generation 5 to an unknown group",
			e.c.offsetCommit(ctx, oversized(commitReq("nogroup", "m", 5, "t", 0, 1)), 9), kerr.GroupIDNotFound)
		check("v8 commit at generation 5 to an unknown group",
			e.c.offsetCommit(ctx, oversized(commitReq("nogroup", "m", 5, "t", 0, 1)), 8), kerr.IllegalGeneration)

		a := e.stableOne("g", jr("a", 2*time.Second, time.Second, "range"), "A")
		check("commit of a fenced generation",
			e.c.offsetCommit(ctx, oversized(commitReq("g", a, 0, "t", 0, 1)), 8), kerr.IllegalGeneration)
		txn := txnCommitReq("g", 100, "t", 0, 1)
		txn.MemberID, txn.Generation = "ghost", 1
		txn.Topics[0].Partitions[0].Metadata = &big
		if c := e.c.txnOffsetCommit(ctx, txn, 3)[tp0]; c != kerr.UnknownMemberID.Code {
			t.Errorf("txn commit by an unknown member with oversized metadata: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(c))
		}
		if got := fetch(t, e, "g", false); len(got) != 0 {
			t.Fatalf("refused commits stored offsets: %+v", got)
		}

		// The member itself: only the oversized partition is refused.
		codes := e.c.offsetCommit(ctx, oversized(commitReq("g", a, 1, "t", 0, 1)), 8)
		if codes[tp0] != kerr.OffsetMetadataTooLarge.Code || codes[tp1] != 0 || codes[missing] != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("member's commit: %v", codes)
		}
		if got := fetch(t, e, "g", false); len(got) != 1 || got[tp1].offset != 5 {
			t.Fatalf("offsets after the member's commit: %+v", got)
		}
	})
}

// DeleteGroups naming a group twice answers it once, as Kafka's
// handleDeleteGroupsRequest deletes groupsNames.distinct (Gregor deleted
// it, then answered GROUP_ID_NOT_FOUND for the repeat).
func TestDeleteGroupsNamedTwiceAnsweredOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		for _, g := range []string{"a", "b"} {
			if code := commitCode(t, e, g, "", -1, "t", 0, 1); code != 0 {
				t.Fatal(kerr.ErrorForCode(code))
			}
		}
		body := kmsg.NewPtrDeleteGroupsRequest()
		body.Groups = []string{"a", "nope", "a", "b", "nope", "b"}
		req := &protocol.Request{Key: body.Key(), Version: 2, Body: body}
		if resp, err := e.c.handleDeleteGroups(context.Background(), req); resp != nil || err != nil {
			t.Fatalf("DeleteGroups answered before its deferred work: %v %v", resp, err)
		}
		resp, err := req.Deferred()(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, g := range resp.(*kmsg.DeleteGroupsResponse).Groups {
			got = append(got, g.Group+":"+errName(g.ErrorCode))
		}
		want := []string{"a:NONE", "nope:GROUP_ID_NOT_FOUND", "b:NONE"}
		if !slices.Equal(got, want) {
			t.Fatalf("DeleteGroups of a, nope, a, b, nope, b: %v, want %v", got, want)
		}
	})
}

func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	var ke *kerr.Error
	if errors.As(kerr.ErrorForCode(code), &ke) {
		return ke.Message
	}
	return fmt.Sprint(code)
}

// reload moves the offsets partition away and back: the groups are
// rebuilt from what the coordinator wrote.
func (e *groupEnv) reload(epoch int32) {
	e.t.Helper()
	e.co.LeadershipChanged(OffsetsTopic, 0, false, epoch-1)
	e.load(epoch)
}

// OffsetDelete tombstones a partition whose offset is pending in an open
// transaction, and the tombstone cancels it: the transaction's commit
// marker brings nothing back, in memory or replayed. Kafka's deleteOffsets
// tombstones partitions with committed or pending transactional offsets,
// and replaying a tombstone removes the partition from every open
// transaction. Gregor deleted only the committed offset, and the marker
// restored the transaction's.
func TestOffsetDeleteCancelsPendingTxnOffsets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		committed, pendingOnly, kept := topicPartition{"t", 0}, topicPartition{"t", 1}, topicPartition{"t", 2}
		if code := commitCode(t, e, "g", "", -1, "t", 0, 1); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		e.txnCommit("g", 100, "t", 0, 10)
		e.txnCommit("g", 100, "t", 1, 11)
		e.txnCommit("g", 100, "t", 2, 12)
		codes, gerr := e.c.offsetDelete(ctx, offsetDeleteReq("g", committed, pendingOnly))
		if gerr != nil || codes[committed] != 0 || codes[pendingOnly] != 0 {
			t.Fatalf("offset delete: %v %v", codes, gerr)
		}
		want := func(when string) {
			t.Helper()
			got := fetch(t, e, "g", true, committed, pendingOnly, kept)
			if got[committed].offset != -1 || got[pendingOnly].offset != -1 || got[committed].code != 0 || got[pendingOnly].code != 0 {
				t.Fatalf("%s: deleted partitions %+v %+v, want -1 and stable", when, got[committed], got[pendingOnly])
			}
			if got[kept].offset != 12 {
				t.Fatalf("%s: the transaction's other partition %+v, want 12", when, got[kept])
			}
		}
		if o := fetch(t, e, "g", true, committed)[committed]; o.offset != -1 || o.code != 0 {
			t.Fatalf("require_stable fetch of a deleted partition: %+v, want -1 and no pending transaction", o)
		}
		e.marker(100, true)
		want("after the transaction's commit")
		e.reload(2)
		want("after a reload")
	})
}

// DeleteGroups tombstones every partition with an offset, those only
// pending in an open transaction too (Kafka's deleteAllOffsets), so the
// commit marker brings nothing back and the group stays deleted, in
// memory and replayed.
func TestDeleteGroupCancelsPendingTxnOffsets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		tp0, tp1 := topicPartition{"t", 0}, topicPartition{"t", 1}
		if code := commitCode(t, e, "g", "", -1, "t", 0, 1); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		e.txnCommit("g", 100, "t", 0, 10)
		e.txnCommit("g", 100, "t", 1, 11) // pending only
		if err := e.c.deleteGroup(ctx, "g"); err != nil {
			t.Fatalf("delete: %v", err)
		}
		e.marker(100, true)
		want := func(when string) {
			t.Helper()
			if s := e.state("g"); s != "unknown" {
				t.Fatalf("%s: group is %s, want it deleted", when, s)
			}
			got := fetch(t, e, "g", false, tp0, tp1)
			if got[tp0].offset != -1 || got[tp1].offset != -1 {
				t.Fatalf("%s: offsets %+v", when, got)
			}
		}
		want("after the transaction's commit")
		e.reload(2)
		want("after a reload")
	})
}

// A commit in flight when its partition is deleted is cancelled by the
// tombstone appended after it: its completion does not bring the offset
// back, as replaying the log would not.
func TestOffsetDeleteCancelsCommitInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		tp := topicPartition{"t", 0}
		if code := commitCode(t, e, "g", "", -1, "t", 0, 1); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		release := e.h.holdReplication()
		txn := make(chan int16, 1)
		go func() { txn <- e.c.txnOffsetCommit(ctx, txnCommitReq("g", 100, "t", 0, 10), 3)[tp] }()
		synctest.Wait()
		deleted := make(chan *kerr.Error, 1)
		go func() {
			_, gerr := e.c.offsetDelete(ctx, offsetDeleteReq("g", tp))
			deleted <- gerr
		}()
		synctest.Wait()
		release()
		if code := await(t, txn, "the transactional commit"); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		if gerr := await(t, deleted, "the offset delete"); gerr != nil {
			t.Fatal(gerr)
		}
		e.marker(100, true)
		if o := fetch(t, e, "g", false, tp)[tp]; o.offset != -1 {
			t.Fatalf("offset after the transaction committed: %+v, want -1", o)
		}
		e.reload(2)
		if o := fetch(t, e, "g", false, tp)[tp]; o.offset != -1 {
			t.Fatalf("offset after a reload: %+v, want -1", o)
		}
	})
}

// An offset whose partition has offsets pending in an open transaction
// does not expire, as in Kafka (cleanupExpiredOffsets): its tombstone
// would cancel the transaction's offsets.
func TestOffsetExpirySparesPartitionsInOpenTransactions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const retention = 200 * time.Millisecond
		e := newGroupEnv(t, func(c *Config) { c.OffsetsRetention = retention })
		tp := topicPartition{"t", 0}
		if code := commitCode(t, e, "g", "", -1, "t", 0, 1); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		e.txnCommit("g", 100, "t", 0, 10)
		waitFor(t, "the offset to pass its retention", func() bool {
			old := false
			e.inspect("g", func(g *group) { old = time.Now().UnixMilli()-g.offsets[tp].commitMs > retention.Milliseconds() })
			return old
		})
		e.c.expireOffsets()
		if o := fetch(t, e, "g", false, tp)[tp]; o.offset != 1 {
			t.Fatalf("offset of a partition in an open transaction expired: %+v", o)
		}
		e.marker(100, true)
		if o := fetch(t, e, "g", false, tp)[tp]; o.offset != 10 {
			t.Fatalf("after the transaction's commit: %+v, want 10", o)
		}
		e.reload(2)
		if o := fetch(t, e, "g", false, tp)[tp]; o.offset != 10 {
			t.Fatalf("after a reload: %+v, want 10", o)
		}
	})
}

// While a consumer group's subscriptions are unknown (before its first
// generation, or a member's metadata does not parse) it counts as
// subscribed to every topic: Kafka's ClassicGroup.isSubscribedToTopic is
// subscribedTopics.orElse(usesConsumerGroupProtocol()). Gregor took
// "unknown" for "none" and deleted offsets the members were about to
// use. Unknown partitions are answered first, as KafkaApis does.
func TestOffsetDeleteWhileSubscriptionsUnknown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
		ctx := context.Background()
		tp, other, missing := topicPartition{"t", 0}, topicPartition{"other", 0}, topicPartition{"missing", 0}
		for _, p := range []topicPartition{tp, other} {
			if code := commitCode(t, e, "g", "", -1, p.topic, p.partition, 1); code != 0 {
				t.Fatal(kerr.ErrorForCode(code))
			}
		}
		r := jr("c", 10*time.Second, 30*time.Second)
		r.protocols = []protocolMeta{{name: "range", metadata: consumerMeta("t", "missing")}}
		r.memberID = e.memberID("g", r)
		joined := e.joinAsync("g", r)
		e.awaitingJoin("g", r.memberID)
		codes, gerr := e.c.offsetDelete(ctx, offsetDeleteReq("g", tp, other, missing))
		if gerr != nil || codes[tp] != kerr.GroupSubscribedToTopic.Code || codes[other] != kerr.GroupSubscribedToTopic.Code ||
			codes[missing] != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("offset delete during the first join: %v %v; want GROUP_SUBSCRIBED_TO_TOPIC for t and other, UNKNOWN_TOPIC_OR_PARTITION for missing", codes, gerr)
		}
		if got := fetch(t, e, "g", false); len(got) != 2 {
			t.Fatalf("offsets after the refused delete: %+v", got)
		}
		// Once the generation starts its subscriptions are known: t is
		// subscribed, other is not, and missing, subscribed, does not exist.
		if res := await(t, joined, "the first join"); res.err != nil {
			t.Fatal(res.err)
		}
		codes, gerr = e.c.offsetDelete(ctx, offsetDeleteReq("g", tp, other, missing))
		if gerr != nil || codes[tp] != kerr.GroupSubscribedToTopic.Code || codes[other] != 0 || codes[missing] != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("offset delete in the first generation: %v %v", codes, gerr)
		}
		if got := fetch(t, e, "g", false); len(got) != 1 || got[tp].offset != 1 {
			t.Fatalf("offsets after deleting other: %+v", got)
		}
	})
}

// A member whose metadata is not the consumer protocol's leaves the
// group's subscriptions unknown: every topic counts as subscribed.
func TestOffsetDeleteUnparsableSubscription(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		r := jr("a", 2*time.Second, time.Second)
		r.protocols = []protocolMeta{{name: "range", metadata: []byte("not consumer metadata")}}
		a := e.stableOne("g", r, "A")
		if code := commitCode(t, e, "g", a, 1, "other", 0, 1); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		codes, gerr := e.c.offsetDelete(ctx, offsetDeleteReq("g", topicPartition{"other", 0}))
		if gerr != nil || codes[topicPartition{"other", 0}] != kerr.GroupSubscribedToTopic.Code {
			t.Fatalf("offset delete with unknown subscriptions: %v %v", codes, gerr)
		}
	})
}

// The subscriptions are those of the generation's start, as Kafka
// computes them in initNextGeneration: a member joining a rebalance
// subscribes to nothing until the next generation starts.
func TestOffsetDeleteSubscriptionsOfTheGeneration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newGroupEnv(t, nil)
		ctx := context.Background()
		ra := jr("a", 10*time.Second, 10*time.Second)
		ra.protocols = []protocolMeta{{name: "range", metadata: consumerMeta("s")}}
		a := e.stableOne("g", ra, "A")
		tp := topicPartition{"t", 0}
		if code := commitCode(t, e, "g", a, 1, "t", 0, 1); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		rb := jr("b", 10*time.Second, 10*time.Second)
		rb.protocols = []protocolMeta{{name: "range", metadata: consumerMeta("t")}}
		rb.memberID = e.memberID("g", rb)
		e.joinAsync("g", rb)
		e.awaitingJoin("g", rb.memberID)
		if s := e.state("g"); s != "PreparingRebalance" {
			t.Fatalf("state after b joined: %s", s)
		}
		codes, gerr := e.c.offsetDelete(ctx, offsetDeleteReq("g", tp))
		if gerr != nil || codes[tp] != 0 {
			t.Fatalf("offset delete of a topic only the joining member subscribes to: %v %v", codes, gerr)
		}
	})
}

// An OffsetCommit v1 with an explicit commit timestamp keeps it as the
// offset's commit time and gives the offset no expiry of its own, as
// Kafka does since 2.1 (KafkaApis and OffsetMetadataManager take an
// expiry only from a v2-v4 retention time): its offsets then expire as
// any other, a group's a retention period after the group emptied. Gregor
// expired such an offset a retention period after its commit timestamp,
// so the offsets of a group that had been Stable for longer than that
// were dropped as soon as it emptied.
func TestOffsetCommitV1TimestampIsNoExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const retention = 200 * time.Millisecond
		e := newGroupEnv(t, func(c *Config) { c.OffsetsRetention = retention })
		a := e.stableOne("g", jr("a", 2*time.Second, time.Second, "range"), "A")
		committed := time.Now().UnixMilli()
		v1 := commitReq("g", a, 1, "t", 0, 7)
		v1.Topics[0].Partitions[0].Timestamp = committed
		if code := e.c.offsetCommit(context.Background(), v1, 1)[topicPartition{"t", 0}]; code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		e.inspect("g", func(g *group) {
			if o := g.offsets[topicPartition{"t", 0}]; o.commitMs != committed || o.expireMs != -1 {
				t.Errorf("v1 commit stored with commit time %d and expiry %d, want %d and none (-1)", o.commitMs, o.expireMs, committed)
			}
		})
		// The group stays Stable past the retention, then empties.
		time.Sleep(2 * retention)
		if err := e.leave("g", a, nil); err != nil {
			t.Fatal(err)
		}
		e.c.expireOffsets()
		if o := fetch(t, e, "g", false)[topicPartition{"t", 0}]; o.offset != 7 {
			t.Fatalf("the v1 offset expired as soon as its group emptied: %+v", o)
		}
		time.Sleep(retention)
		e.c.expireOffsets()
		if s := e.state("g"); s != "unknown" {
			t.Errorf("a retention period after the group emptied it is %s with offsets %v, want expired and removed", s, fetch(t, e, "g", false))
		}
	})
}
