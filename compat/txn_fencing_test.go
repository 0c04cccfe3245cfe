package compat

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceRawTo0 sends one batch to partition 0 of topic at its leader and
// returns the partition's error code.
func produceRawTo0(t *testing.T, cl *kgo.Client, topic string, batch []byte) int16 {
	t.Helper()
	ctx := t.Context()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := leaderOf0(t, ctx, cl, topic).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response for one partition: %+v", resp)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// A non-transactional batch from a producer whose transaction is open on
// the partition is INVALID_TXN_STATE, as Kafka's ProducerAppendInfo
// refuses it: accepted, it sat inside a transaction that could be aborted,
// and read_committed consumers read it anyway.
func TestNonTransactionalWriteInsideTransactionRefused(t *testing.T) {
	cl, topic, ctx := dpClient(t)
	txn, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)), kgo.TransactionalID(randomName("inside")),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("in the transaction")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pid, epoch, err := txn.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The same producer's next sequence, without the transactional bit.
	if code := produceRawTo0(t, cl, topic, tcBatch(pid, epoch, 1, "outside")); code != kerr.InvalidTxnState.Code {
		t.Fatalf("a non-transactional batch of a producer with a transaction open: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
	if err := txn.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
}

// A transaction marker from a coordinator epoch older than the one the
// partition last saw for the producer is TRANSACTION_COORDINATOR_FENCED,
// as Kafka's checkCoordinatorEpoch answers: a deposed coordinator's
// delayed marker (or an abort with a stale epoch) could otherwise end the
// producer's next transaction part-way.
func TestStaleCoordinatorMarkerFenced(t *testing.T) {
	cl, topic, ctx := dpClient(t)
	txn, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)), kgo.TransactionalID(randomName("stale-marker")),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	pid, epoch, err := txn.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The coordinator epoch the partition knows for the producer.
	dp := kmsg.NewPtrDescribeProducersRequest()
	dt := kmsg.NewDescribeProducersRequestTopic()
	dt.Topic, dt.Partitions = topic, []int32{0}
	dp.Topics = append(dp.Topics, dt)
	kd, err := leaderOf0(t, ctx, cl, topic).Request(ctx, dp)
	if err != nil {
		t.Fatal(err)
	}
	var current int32 = -2
	for _, p := range kd.(*kmsg.DescribeProducersResponse).Topics[0].Partitions {
		for _, s := range p.ActiveProducers {
			if s.ProducerID == pid {
				current = s.CoordinatorEpoch
			}
		}
	}
	if current < 0 {
		t.Fatalf("DescribeProducers shows coordinator epoch %d for producer %d after its commit, want the coordinator's (0 or more)", current, pid)
	}
	marker := func(coordinatorEpoch int32) int16 {
		t.Helper()
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, false, coordinatorEpoch
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = topic, []int32{0}
		m.Topics = append(m.Topics, mt)
		req.Markers = append(req.Markers, m)
		kresp, err := leaderOf0(t, ctx, cl, topic).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		resp := kresp.(*kmsg.WriteTxnMarkersResponse)
		return resp.Markers[0].Topics[0].Partitions[0].ErrorCode
	}
	if code := marker(current - 1); code != kerr.TransactionCoordinatorFenced.Code {
		t.Fatalf("a marker at coordinator epoch %d after one at %d: %v, want TRANSACTION_COORDINATOR_FENCED", current-1, current, kerr.ErrorForCode(code))
	}
	if code := marker(current); code != 0 {
		t.Fatalf("a marker at the current coordinator epoch %d: %v, want it written", current, kerr.ErrorForCode(code))
	}
}

// ListTransactions v1's duration filter lists what Kafka's
// listTransactionStates does: ids whose transaction has run longer than
// the filter, and ids with no transaction started (Empty, start -1), which
// Gregor left out.
func TestListTransactionsDurationFilter(t *testing.T) {
	cl, _, ctx := dpClient(t)
	empty := randomName("empty-txn")
	if r := initProducerID(ctx, t, cl, empty, -1, -1); r.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	list := func(filterMs int64) map[string]string {
		t.Helper()
		req := kmsg.NewPtrListTransactionsRequest()
		req.DurationFilterMillis = filterMs
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("ListTransactions: %+v %v", resp, err)
		}
		out := map[string]string{}
		for _, s := range resp.TransactionStates {
			out[s.TransactionalID] = s.TransactionState
		}
		return out
	}
	if st, ok := list(60_000)[empty]; !ok || st != "Empty" {
		t.Fatalf("ListTransactions with a 60 s duration filter lists %s as %q (listed: %v), want it as Empty", empty, st, ok)
	}
	if st, ok := list(-1)[empty]; !ok || st != "Empty" {
		t.Fatalf("ListTransactions without a duration filter lists %s as %q (listed: %v), want it as Empty", empty, st, ok)
	}
}
