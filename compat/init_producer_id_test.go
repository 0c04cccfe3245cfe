package compat

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId with a producer id and epoch (KIP-360) for a
// transactional id the coordinator has no state for, new or expired after
// transactional.id.expiration.ms, gets a new producer id at epoch 0, as in
// Kafka: that is how a producer recovers once its id expired (sarama
// sends its last id and epoch). Gregor once answered PRODUCER_FENCED, and
// such a producer could never produce again. A producer id without an
// epoch, or an epoch without an id, is INVALID_REQUEST.
func TestInitProducerIDForUnknownTransactionalID(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	init := func(id string, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
		t.Helper()
		return initProducerID(ctx, t, cl, id, pid, epoch)
	}
	id := randomName("recovering")
	resp := init(id, 12345, 3)
	if resp.ErrorCode != 0 || resp.ProducerID < 0 || resp.ProducerEpoch != 0 {
		t.Fatalf("InitProducerId (12345, 3) for a transactional id with no state: %v, id %d epoch %d; want a new producer id at epoch 0",
			kerr.ErrorForCode(resp.ErrorCode), resp.ProducerID, resp.ProducerEpoch)
	}
	// Now it has state: the same stale pair is fenced, the current pair
	// bumps the epoch.
	if stale := init(id, 12345, 3); stale.ErrorCode != kerr.ProducerFenced.Code && stale.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("a stale (12345, 3) after the id has state: %v, want PRODUCER_FENCED", kerr.ErrorForCode(stale.ErrorCode))
	}
	if cur := init(id, resp.ProducerID, resp.ProducerEpoch); cur.ErrorCode != 0 || cur.ProducerID != resp.ProducerID || cur.ProducerEpoch != 1 {
		t.Fatalf("the current pair: %v, id %d epoch %d; want %d at epoch 1", kerr.ErrorForCode(cur.ErrorCode), cur.ProducerID, cur.ProducerEpoch, resp.ProducerID)
	}
	for _, half := range [][2]int64{{-1, 0}, {5, -1}} {
		if r := init(randomName("half"), half[0], int16(half[1])); r.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("InitProducerId (%d, %d): %v, want INVALID_REQUEST", half[0], half[1], kerr.ErrorForCode(r.ErrorCode))
		}
	}
}

// initProducerID sends InitProducerId (with a producer id and epoch, or
// -1, -1) for a transactional id, retrying while the coordinator is not
// ready or busy.
func initProducerID(ctx context.Context, t *testing.T, cl *kgo.Client, id string, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID = kmsg.StringPtr(id)
	req.TransactionTimeoutMillis = 10000
	req.ProducerID, req.ProducerEpoch = pid, epoch
	for {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		// The coordinator may still be loading its partition.
		if resp.ErrorCode == kerr.CoordinatorLoadInProgress.Code || resp.ErrorCode == kerr.CoordinatorNotAvailable.Code ||
			resp.ErrorCode == kerr.NotCoordinator.Code || resp.ErrorCode == kerr.ConcurrentTransactions.Code {
			if ctx.Err() != nil {
				t.Fatalf("InitProducerId for %s: still %v", id, kerr.ErrorForCode(resp.ErrorCode))
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		return resp
	}
}

// An instance fenced by a new one (an InitProducerId without a producer
// id) stays fenced when it re-initialises with its old id and epoch
// (KIP-360, as the Java producer, librdkafka and franz-go do after
// INVALID_PRODUCER_EPOCH): Kafka forgets the last epoch at every other
// instance's InitProducerId and at every fence, so only a retry of the
// InitProducerId whose answer was lost gets the current epoch back.
// Gregor once handed the fenced instance the new one's epoch, and both
// wrote into one transaction.
func TestInitProducerIDFencedInstanceStaysFenced(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := randomName("zombie")
	a := initProducerID(ctx, t, cl, id, -1, -1)
	b := initProducerID(ctx, t, cl, id, -1, -1)
	if a.ErrorCode != 0 || b.ErrorCode != 0 || b.ProducerID != a.ProducerID || b.ProducerEpoch != a.ProducerEpoch+1 {
		t.Fatalf("two instances' InitProducerId: %+v then %+v, want the same id with the next epoch", a, b)
	}
	if z := initProducerID(ctx, t, cl, id, a.ProducerID, a.ProducerEpoch); z.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("the fenced instance re-initialising with (%d, %d): %v, id %d epoch %d; want PRODUCER_FENCED",
			a.ProducerID, a.ProducerEpoch, kerr.ErrorForCode(z.ErrorCode), z.ProducerID, z.ProducerEpoch)
	}
	// The current instance bumps its epoch; a retry of that call (its
	// answer lost) gets the same epoch, not another bump.
	bumped := initProducerID(ctx, t, cl, id, b.ProducerID, b.ProducerEpoch)
	retry := initProducerID(ctx, t, cl, id, b.ProducerID, b.ProducerEpoch)
	if bumped.ErrorCode != 0 || bumped.ProducerEpoch != b.ProducerEpoch+1 || retry.ErrorCode != 0 || retry.ProducerEpoch != bumped.ProducerEpoch {
		t.Fatalf("the current instance's InitProducerId and its retry: %+v, %+v; want epoch %d for both", bumped, retry, b.ProducerEpoch+1)
	}
	// Once another instance took over, that retry is fenced too.
	initProducerID(ctx, t, cl, id, -1, -1)
	if z := initProducerID(ctx, t, cl, id, b.ProducerID, b.ProducerEpoch); z.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("a retry after another instance's InitProducerId: %v, epoch %d; want PRODUCER_FENCED", kerr.ErrorForCode(z.ErrorCode), z.ProducerEpoch)
	}
}

// A TxnOffsetCommit before v5 for a group whose offsets partition is not
// in the producer's transaction (no AddOffsetsToTxn) is refused, as Kafka
// verifies it with transaction.partition.verification.enable: such offsets
// were once written, never committed or aborted, and OffsetFetch with
// require_stable answered UNSTABLE_OFFSET_COMMIT for the group for good.
func TestTxnOffsetCommitOutsideTransactionRefused(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	retriable := func(code int16) bool {
		return code == kerr.CoordinatorLoadInProgress.Code || code == kerr.CoordinatorNotAvailable.Code ||
			code == kerr.NotCoordinator.Code || code == kerr.ConcurrentTransactions.Code
	}
	pinned := make(map[[2]int16]*kgo.Client)
	pin := func(key, version int16) *kgo.Client {
		k := [2]int16{key, version}
		if pinned[k] == nil {
			pinned[k] = pinnedClient(t, bootstrap(t), key, version)
			t.Cleanup(pinned[k].Close)
		}
		return pinned[k]
	}
	id, group, topic := randomName("stray-commit"), randomName("stray-group"), randomName("stray-topic")
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	ireq := kmsg.NewPtrInitProducerIDRequest()
	ireq.TransactionalID, ireq.TransactionTimeoutMillis, ireq.ProducerID, ireq.ProducerEpoch = kmsg.StringPtr(id), 10000, -1, -1
	var pid int64
	var epoch int16
	waitFor(t, "InitProducerId for "+id, 20*time.Second, func() bool {
		resp, err := ireq.RequestWith(ctx, cl)
		if err != nil || retriable(resp.ErrorCode) {
			return false
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		pid, epoch = resp.ProducerID, resp.ProducerEpoch
		return true
	})
	commit := func(version int16, txnID string) int16 {
		t.Helper()
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.SetVersion(version)
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txnID, group, pid, epoch
		req.Generation, req.MemberID = -1, ""
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = 0, 7, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		for {
			resp, err := req.RequestWith(ctx, pin(28, version))
			if err != nil {
				t.Fatal(err)
			}
			code := resp.Topics[0].Partitions[0].ErrorCode
			if retriable(code) && ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return code
		}
	}
	for _, c := range []struct {
		version int16
		id      string
		want    *kerr.Error
	}{
		{3, id, kerr.InvalidTxnState},
		{4, id, kerr.TransactionAbortable},
		{3, randomName("never-initialised"), kerr.InvalidProducerIDMapping},
	} {
		if got := commit(c.version, c.id); got != c.want.Code {
			t.Fatalf("TxnOffsetCommit v%d without AddOffsetsToTxn: %v, want %v", c.version, kerr.ErrorForCode(got), c.want)
		}
	}
	// Nothing was written: a stable read of the group sees no pending
	// offsets.
	freq := kmsg.NewPtrOffsetFetchRequest()
	freq.Group, freq.RequireStable = group, true
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic, ft.Partitions = topic, []int32{0}
	freq.Topics = append(freq.Topics, ft)
	fresp, err := freq.RequestWith(ctx, pin(9, 8)) // by topic name
	if err != nil {
		t.Fatal(err)
	}
	var code int16
	if len(fresp.Groups) > 0 {
		code = fresp.Groups[0].ErrorCode
		if code == 0 && len(fresp.Groups[0].Topics) > 0 {
			code = fresp.Groups[0].Topics[0].Partitions[0].ErrorCode
		}
	} else if len(fresp.Topics) > 0 {
		code = fresp.Topics[0].Partitions[0].ErrorCode
	}
	if code != 0 {
		t.Fatalf("OffsetFetch require_stable after the refused commits: %v", kerr.ErrorForCode(code))
	}

	// With AddOffsetsToTxn first, the same commit goes through.
	areq := kmsg.NewPtrAddOffsetsToTxnRequest()
	areq.TransactionalID, areq.ProducerID, areq.ProducerEpoch, areq.Group = id, pid, epoch, group
	waitFor(t, "AddOffsetsToTxn", 20*time.Second, func() bool {
		resp, err := areq.RequestWith(ctx, pin(25, 3))
		if err != nil || retriable(resp.ErrorCode) {
			return false
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("AddOffsetsToTxn: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		return true
	})
	if got := commit(3, id); got != 0 {
		t.Fatalf("TxnOffsetCommit v3 after AddOffsetsToTxn: %v", kerr.ErrorForCode(got))
	}
	ereq := kmsg.NewPtrEndTxnRequest()
	ereq.TransactionalID, ereq.ProducerID, ereq.ProducerEpoch, ereq.Commit = id, pid, epoch, false
	waitFor(t, "EndTxn abort", 20*time.Second, func() bool {
		resp, err := ereq.RequestWith(ctx, pin(26, 4))
		return err == nil && resp.ErrorCode == 0
	})
}

// A completed transaction keeps its start time, as in Kafka: the
// DescribeTransactions of kafka-transactions.sh shows it for
// CompleteCommit, and ListTransactions' duration filter lists it. Gregor
// once reset it at completion.
func TestCompletedTransactionKeepsStartTime(t *testing.T) {
	id := randomName("kept-start")
	cl, adm, _, ctx := topicClient(t, "kept-start", nil, kgo.TransactionalID(id))
	before := time.Now().Add(-time.Second).UnixMilli()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the transaction to complete with its start time", 20*time.Second, func() bool {
		ds, err := adm.DescribeTransactions(ctx, id)
		if err != nil {
			return false
		}
		d, ok := ds[id]
		if !ok || d.State != "CompleteCommit" {
			return false
		}
		if d.StartTimestamp < before {
			t.Fatalf("the completed transaction's start time is %d, want at least %d", d.StartTimestamp, before)
		}
		return true
	})
}

// DescribeProducers (kafka-transactions.sh describe-producers) answers as
// Kafka: a producer no marker has reached has coordinator epoch -1 (not
// 0), and the last timestamp is that of the producer's last batch, a
// transaction marker included (find-hanging measures from it), not the
// last data batch's.
func TestDescribeProducersAsKafka(t *testing.T) {
	cl, adm, topic, ctx := topicClient(t, "described", nil, kgo.TransactionalID(randomName("described")))
	describe := func() kadm.DescribedProducer {
		t.Helper()
		ds, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			t.Fatal(err)
		}
		var out []kadm.DescribedProducer
		ds.Each(func(dt kadm.DescribedProducersTopic) { out = append(out, dt.Partitions.SortedProducers()...) })
		if len(out) != 1 {
			t.Fatalf("DescribeProducers: %d producers, want 1", len(out))
		}
		return out[0]
	}
	old := time.Now().Add(-time.Hour)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x"), Timestamp: old}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if d := describe(); d.CoordinatorEpoch != -1 || d.LastTimestamp != old.UnixMilli() {
		t.Fatalf("an open transaction's producer: coordinator epoch %d, last timestamp %d; want -1 and %d", d.CoordinatorEpoch, d.LastTimestamp, old.UnixMilli())
	}
	before := time.Now().Add(-time.Second).UnixMilli()
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the commit marker to reach the partition", 20*time.Second, func() bool {
		return describe().LastTimestamp >= before
	})
}

// topicClient creates a one-partition topic named from prefix (with
// configs) on the broker under test and returns a client producing to it
// by default (with opts), its admin client, the topic and a context of
// 30 s; all are released when the test ends.
func topicClient(t *testing.T, prefix string, configs map[string]*string, opts ...kgo.Opt) (*kgo.Client, *kadm.Client, string, context.Context) {
	t.Helper()
	topic := randomName(prefix)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(bootstrap(t)), kgo.DefaultProduceTopic(topic)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, -1, configs, topic); err != nil {
		t.Fatal(err)
	}
	// On a cluster the other brokers describe the topic a moment later.
	awaitLeadersEverywhere(ctx, t, cl, topic, 1)
	return cl, adm, topic, ctx
}

// Transaction version 2 (EndTxn v5) with no transaction ongoing, as
// Kafka's table above TransactionCoordinator.endTransaction answers it: an
// abort at the current epoch bumps the epoch (a Java producer aborts so
// when its sends never reached a leader), its retry at the epoch before
// answers the same, and a commit is INVALID_TXN_STATE. Gregor answered the
// abort INVALID_TXN_STATE, which the producer takes as fatal.
func TestEndTxnV2AbortWithoutTransaction(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := randomName("tv2-abort")
	init := initProducerID(ctx, t, cl, id, -1, -1)
	if init.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(init.ErrorCode))
	}
	end := func(epoch int16, commit bool) *kmsg.EndTxnResponse {
		t.Helper()
		req := kmsg.NewPtrEndTxnRequest()
		req.SetVersion(5)
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, init.ProducerID, epoch, commit
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	e := init.ProducerEpoch
	if r := end(e, true); r.ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("commit with no transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := end(e, false); r.ErrorCode != 0 || r.ProducerID != init.ProducerID || r.ProducerEpoch != e+1 {
		t.Fatalf("abort with no transaction: %v, id %d epoch %d; want id %d epoch %d",
			kerr.ErrorForCode(r.ErrorCode), r.ProducerID, r.ProducerEpoch, init.ProducerID, e+1)
	}
	if r := end(e, false); r.ErrorCode != 0 || r.ProducerEpoch != e+1 {
		t.Fatalf("retried abort: %v, epoch %d; want epoch %d", kerr.ErrorForCode(r.ErrorCode), r.ProducerEpoch, e+1)
	}
	if r := end(e+1, true); r.ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("commit at the new epoch with no transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(r.ErrorCode))
	}
}
