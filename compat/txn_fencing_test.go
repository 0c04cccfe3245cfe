package compat

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"gregor/internal/brokertest"
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
	var code int16
	// In a cluster, a partition created a moment ago may be named with a
	// leader that has not taken it up yet: as a client does, ask again
	// (nothing was written).
	waitFor(t, "partition 0's leader to take the produce", 15*time.Second, func() bool {
		kresp, err := leaderOf0(t, ctx, cl, topic).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		resp := kresp.(*kmsg.ProduceResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("produce response for one partition: %+v", resp)
		}
		code = resp.Topics[0].Partitions[0].ErrorCode
		return code != kerr.NotLeaderForPartition.Code && code != kerr.LeaderNotAvailable.Code
	})
	return code
}

// openTxnOn0 is a transactional client (id named from prefix) with a
// transaction open holding one record of partition 0 of topic.
func openTxnOn0(t *testing.T, topic, prefix string) *kgo.Client {
	t.Helper()
	txn, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)), kgo.TransactionalID(randomName(prefix)),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(txn.Close)
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(t.Context(), &kgo.Record{Partition: 0, Value: []byte("in the transaction")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return txn
}

// A non-transactional batch from a producer whose transaction is open on
// the partition is INVALID_TXN_STATE, as Kafka's ProducerAppendInfo
// refuses it: accepted, it sat inside a transaction that could be aborted,
// and read_committed consumers read it anyway.
func TestNonTransactionalWriteInsideTransactionRefused(t *testing.T) {
	cl, topic, ctx := dpClient(t)
	txn := openTxnOn0(t, topic, "inside")
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
	txn := openTxnOn0(t, topic, "stale-marker")
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

// producer.id.expiration.ms counts from the producer's last batch's
// timestamp, as Kafka's isProducerExpired does: a producer writing
// records an hour old (a mirror, a backfill) is forgotten at the next
// check (producer.id.expiration.check.interval.ms) under a ten-minute
// expiration, and then takes any sequence as a new producer would. Gregor
// counted from when it last saw the producer.
func TestProducerExpiresByRecordTime(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{
		"producer.id.expiration.ms": "600000", "producer.id.expiration.check.interval.ms": "100",
	}})
	v := kversion.Stable()
	v.SetMaxKeyVersion(0, 12) // Produce names topics up to v12
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.MaxVersions(v))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := t.Context()
	topic := randomName("expiring")
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	const pid = 4242
	old := time.Now().Add(-time.Hour)
	if code := produceRawTo0(t, cl, topic, tcBatchAt(old, pid, 0, 0, "old")); code != 0 {
		t.Fatalf("an idempotent batch an hour old: %v", kerr.ErrorForCode(code))
	}
	// Known, the producer's sequence 7 is out of order; forgotten, any
	// sequence starts it afresh.
	waitFor(t, "the producer of hour-old records to expire", 10*time.Second, func() bool {
		switch code := produceRawTo0(t, cl, topic, tcBatchAt(old, pid, 0, 7, "gap")); code {
		case 0:
			return true
		case kerr.OutOfOrderSequenceNumber.Code:
			return false
		default:
			t.Fatalf("sequence 7 after 0: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER or, once expired, none", kerr.ErrorForCode(code))
			return false
		}
	})
	// A producer writing current records stays.
	if code := produceRawTo0(t, cl, topic, tcBatchAt(time.Now(), pid+1, 0, 0, "now")); code != 0 {
		t.Fatalf("a current batch: %v", kerr.ErrorForCode(code))
	}
	deadline := time.Now().Add(time.Second) // ten checks
	for time.Now().Before(deadline) {
		if code := produceRawTo0(t, cl, topic, tcBatchAt(time.Now(), pid+1, 0, 7, "gap")); code != kerr.OutOfOrderSequenceNumber.Code {
			t.Fatalf("sequence 7 after 0 from a producer of current records: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER (still known)", kerr.ErrorForCode(code))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A producer past producer.id.expiration.ms in the producer snapshot a
// restarted broker loads is forgotten at once, as Kafka's
// ProducerStateManager.loadFromSnapshot leaves expired producers out:
// its next batch starts it afresh, and describe-producers no longer lists
// it. Gregor loaded it and kept it until the next expiry check
// (producer.id.expiration.check.interval.ms, 10 minutes by default).
func TestExpiredProducerLeftOutOfLoadedSnapshot(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"producer.id.expiration.ms": "600000"}})
	v := kversion.Stable()
	v.SetMaxKeyVersion(0, 12) // Produce names topics up to v12
	client := func() *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.MaxVersions(v))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	cl := client()
	topic := randomName("expired-snapshot")
	if _, err := kadm.NewClient(cl).CreateTopic(t.Context(), 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	const pid = 4343
	if code := produceRawTo0(t, cl, topic, tcBatchAt(time.Now().Add(-time.Hour), pid, 0, 0, "old")); code != 0 {
		t.Fatalf("an idempotent batch an hour old: %v", kerr.ErrorForCode(code))
	}
	if code := produceRawTo0(t, cl, topic, tcBatchAt(time.Now(), pid+1, 0, 0, "now")); code != 0 {
		t.Fatalf("a current batch: %v", kerr.ErrorForCode(code))
	}
	cl.Close()
	b.Stop() // a clean shutdown snapshots the producers
	b.Restart()
	cl = client()
	if code := produceRawTo0(t, cl, topic, tcBatchAt(time.Now().Add(-time.Hour), pid, 0, 7, "gap")); code != 0 {
		t.Fatalf("sequence 7 from the producer of hour-old records after a restart: %v, want none (expired, it starts afresh)", kerr.ErrorForCode(code))
	}
	if code := produceRawTo0(t, cl, topic, tcBatchAt(time.Now(), pid+1, 0, 7, "gap")); code != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence 7 after 0 from the producer of current records after a restart: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER (still known)", kerr.ErrorForCode(code))
	}
}

// ListTransactions v2's transactional id pattern (KIP-1152) is matched
// against the whole id, as Kafka's TransactionStateManager does with RE2J's
// Matcher.matches(): a pattern naming part of an id lists nothing. Gregor
// listed every id containing a match.
func TestListTransactionsPatternMatchesWholeID(t *testing.T) {
	cl, _, ctx := dpClient(t)
	base := randomName("pattern-txn")
	id := base + "-one"
	if r := initProducerID(ctx, t, cl, id, -1, -1); r.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	listed := func(pattern string) bool {
		t.Helper()
		req := kmsg.NewPtrListTransactionsRequest()
		req.DurationFilterMillis = -1
		req.TransactionalIDPattern = &pattern
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("ListTransactions %q: %+v %v", pattern, resp, err)
		}
		if resp.Version < 2 {
			t.Skipf("ListTransactions v%d has no transactional id pattern", resp.Version)
		}
		for _, s := range resp.TransactionStates {
			if s.TransactionalID == id {
				return true
			}
		}
		return false
	}
	for pattern, want := range map[string]bool{
		base + "-.*":    true,
		id:              true,
		"pattern-txn.*": true,
		base:            false,
		"-one":          false,
		"pattern-txn":   false,
	} {
		if got := listed(pattern); got != want {
			t.Errorf("ListTransactions with pattern %q: %s listed %v, want %v (the pattern must match the whole id)", pattern, id, got, want)
		}
	}
}
