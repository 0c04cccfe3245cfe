package compat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

// createTopic makes a topic with partitions and replication factor 1.
func createTopic(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
}

// txnProducer is a franz-go transactional producer.
func txnProducer(t *testing.T, addr, topic, txnID string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.TransactionalID(txnID),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
	}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceTxn produces values in one transaction and ends it.
func produceTxn(ctx context.Context, cl *kgo.Client, commit bool, values ...string) error {
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	for _, v := range values {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			return fmt.Errorf("producing %s: %w", v, err)
		}
	}
	return cl.EndTransaction(ctx, kgo.TransactionEndTry(commit))
}

// readAll reads a topic from the start with an isolation level until want
// records arrived or quiet passes with nothing new after the high
// watermarks are reached; it returns the values in (partition, offset)
// order.
func readAll(t *testing.T, addr, topic string, committed bool, want int) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	type rec struct {
		p   int32
		off int64
		v   string
	}
	var got []rec
	deadline := time.Now().Add(15 * time.Second)
	emptyPolls := 0
	for len(got) < want || emptyPolls < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("reading %s (committed=%v): %d of %d records after 15s", topic, committed, len(got), want)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, rec{r.Partition, r.Offset, string(r.Value)})
			n++
		})
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.DeadlineExceeded) {
				t.Fatalf("fetching %s: %v", topic, e.Err)
			}
		}
		if n == 0 && len(got) >= want {
			emptyPolls++
		}
		if len(got) > want {
			break
		}
	}
	sort.Slice(got, func(i, j int) bool {
		if got[i].p != got[j].p {
			return got[i].p < got[j].p
		}
		return got[i].off < got[j].off
	})
	out := make([]string, len(got))
	for i, r := range got {
		out[i] = r.v
	}
	return out
}

// sameSet reports whether got holds exactly want's values, once each.
func sameSet(got, want []string) bool {
	a := append([]string(nil), got...)
	b := append([]string(nil), want...)
	sort.Strings(a)
	sort.Strings(b)
	return strings.Join(a, ",") == strings.Join(b, ",")
}

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func TestTxnFranzCommitAndAbort(t *testing.T) {
	addr := bootstrap(t)
	topic := randomName("txn")
	createTopic(t, addr, topic, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := txnProducer(t, addr, topic, randomName("txid"))
	committed1, aborted, committed2 := seq("c1", 10), seq("a", 10), seq("c2", 5)
	if err := produceTxn(ctx, p, true, committed1...); err != nil {
		t.Fatalf("first transaction: %v", err)
	}
	if err := produceTxn(ctx, p, false, aborted...); err != nil {
		t.Fatalf("aborted transaction: %v", err)
	}
	if err := produceTxn(ctx, p, true, committed2...); err != nil {
		t.Fatalf("second transaction: %v", err)
	}
	want := append(append([]string(nil), committed1...), committed2...)
	if got := readAll(t, addr, topic, true, len(want)); !sameSet(got, want) {
		t.Fatalf("read_committed got %v, want %v", got, want)
	}
	all := append(append(append([]string(nil), committed1...), aborted...), committed2...)
	if got := readAll(t, addr, topic, false, len(all)); !sameSet(got, all) {
		t.Fatalf("read_uncommitted got %v, want %v", got, all)
	}
}

func TestTxnReadCommittedStopsAtLastStableOffset(t *testing.T) {
	addr := bootstrap(t)
	topic := randomName("txn-lso")
	createTopic(t, addr, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := txnProducer(t, addr, topic, randomName("txid"))
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, kgo.StringRecord("in-txn")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	plain, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.ProduceSync(ctx, kgo.StringRecord("after")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// The open transaction holds the last stable offset at its first
	// record: read_committed sees nothing yet, read_uncommitted both.
	if got := readAll(t, addr, topic, false, 2); !sameSet(got, []string{"in-txn", "after"}) {
		t.Fatalf("read_uncommitted: %v", got)
	}
	if got := readAll(t, addr, topic, true, 0); len(got) != 0 {
		t.Fatalf("read_committed saw %v past an open transaction", got)
	}
	adm := kadm.NewClient(plain)
	offs, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup(topic, 0); o.Offset != 2 {
		t.Fatalf("high watermark %d, want 2", o.Offset)
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, addr, topic, true, 2); !sameSet(got, []string{"in-txn", "after"}) {
		t.Fatalf("read_committed after commit: %v", got)
	}
}

func TestTxnNewInstanceFencesOld(t *testing.T) {
	addr := bootstrap(t)
	topic := randomName("txn-fence")
	createTopic(t, addr, topic, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := randomName("txid")
	old := txnProducer(t, addr, topic, id)
	if err := old.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range seq("zombie", 4) {
		if err := old.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	fresh := txnProducer(t, addr, topic, id)
	if err := produceTxn(ctx, fresh, true, seq("fresh", 3)...); err != nil {
		t.Fatalf("new instance: %v", err)
	}
	err := old.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("old instance commit: %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	if got := readAll(t, addr, topic, true, 3); !sameSet(got, seq("fresh", 3)) {
		t.Fatalf("read_committed: %v, want only the new instance's records", got)
	}
}

func TestTxnDescribeAndList(t *testing.T) {
	addr := bootstrap(t)
	topic := randomName("txn-desc")
	createTopic(t, addr, topic, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := randomName("txid")
	p := txnProducer(t, addr, topic, id, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte("x"), Partition: 1}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(p)
	ds, err := adm.DescribeTransactions(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := ds[id]
	if !ok || d.Err != nil || d.State != "Ongoing" || d.ProducerID < 0 || d.StartTimestamp <= 0 {
		t.Fatalf("describe during transaction: %+v", d)
	}
	if ps := d.Topics[topic]; len(ps) != 1 || !func() bool { _, ok := ps[1]; return ok }() {
		t.Fatalf("transaction partitions: %+v", d.Topics)
	}
	ls, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ls.TransactionalIDs(), id) {
		t.Fatalf("ListTransactions(Ongoing) lacks %s: %v", id, ls.TransactionalIDs())
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	ds, err = adm.DescribeTransactions(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if d := ds[id]; d.State != "CompleteCommit" || len(d.Topics) != 0 {
		t.Fatalf("describe after commit: %+v", d)
	}
	ls, err = adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(ls.TransactionalIDs(), id) {
		t.Fatalf("ListTransactions(Ongoing) still has %s after commit", id)
	}
	ds, err = adm.DescribeTransactions(ctx, randomName("unknown"))
	if err == nil {
		for _, d := range ds {
			if !errors.Is(d.Err, kerr.TransactionalIDNotFound) {
				t.Fatalf("unknown id: %+v", d)
			}
		}
	}
}

// A transaction left open past its timeout is aborted by the coordinator
// and its producer fenced.
func TestTxnTimeoutAborts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": "100",
	}})
	topic := randomName("txn-timeout")
	createTopic(t, b.Addr, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := randomName("txid")
	p := txnProducer(t, b.Addr, topic, id, kgo.TransactionTimeout(time.Second))
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, kgo.StringRecord("stuck")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(p)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, err := adm.DescribeTransactions(ctx, id)
		if err == nil && ds[id].State == "CompleteAbort" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction with a 1s timeout not aborted after 20s: %+v %v", ds, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	plain, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.ProduceSync(ctx, kgo.StringRecord("later")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, b.Addr, topic, true, 1); !sameSet(got, []string{"later"}) {
		t.Fatalf("read_committed after the timeout abort: %v", got)
	}
	err = p.EndTransaction(ctx, kgo.TryCommit)
	if err == nil {
		t.Fatal("commit of a timed-out transaction succeeded")
	}
}

// DescribeProducers (kafka-transactions describe-producers) shows a
// producer's open transaction on a partition, and none once committed.
func TestTxnDescribeProducers(t *testing.T) {
	addr := bootstrap(t)
	topic := randomName("txn-producers")
	createTopic(t, addr, topic, 1)
	cl := txnProducer(t, addr, topic, randomName("txn-dp"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("a"), kgo.StringRecord("b")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ac := kadm.NewClient(adm)
	describe := func() kadm.DescribedProducer {
		t.Helper()
		ds, err := ac.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			t.Fatal(err)
		}
		ps := ds.SortedProducers()
		if len(ps) != 1 {
			t.Fatalf("described producers: %+v", ps)
		}
		return ps[0]
	}
	open := describe()
	if open.CurrentTxnStartOffset != 0 || open.LastSequence != 1 || open.ProducerID < 0 {
		t.Fatalf("producer with an open transaction: %+v", open)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if done := describe(); done.CurrentTxnStartOffset != -1 || done.ProducerID != open.ProducerID {
		t.Fatalf("producer after commit: %+v", done)
	}
}

// A client's AddPartitionsToTxn (v0-3) naming an internal topic is refused
// whether or not the broker has an authorizer: Kafka's
// handleAddPartitionsToTxnRequest leaves the internal topics out of those
// it authorizes, so they are TOPIC_AUTHORIZATION_FAILED and the other
// partitions OPERATION_NOT_ATTEMPTED, before the transaction is looked at.
func TestTxnAddPartitionsInternalTopicRefused(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("txn-internal", 1, nil)
	cl := e.pinned(24, 3) // v4+ is the brokers' batched path
	for _, internal := range []string{"__consumer_offsets", "__transaction_state", "__share_group_state"} {
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = randomName("txn-internal"), 0, 0
		req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: internal, Partitions: []int32{0}}, {Topic: topic, Partitions: []int32{0}}}
		resp, err := cl.Request(e.ctx, req)
		if err != nil {
			t.Fatalf("AddPartitionsToTxn: %v", err)
		}
		codes := map[string]int16{}
		for _, rt := range resp.(*kmsg.AddPartitionsToTxnResponse).Topics {
			for _, rp := range rt.Partitions {
				codes[rt.Topic] = rp.ErrorCode
			}
		}
		wantCode(t, "AddPartitionsToTxn of "+internal, codes[internal], kerr.TopicAuthorizationFailed)
		wantCode(t, "AddPartitionsToTxn of "+topic+" beside "+internal, codes[topic], kerr.OperationNotAttempted)
	}
}

// A client's AddPartitionsToTxn naming a partition that does not exist is
// answered UNKNOWN_TOPIC_OR_PARTITION (the others OPERATION_NOT_ATTEMPTED)
// by any broker, coordinator or not: Kafka's handleAddPartitionsToTxnRequest
// checks the partitions before it asks the transaction coordinator. On a
// new broker, before __transaction_state exists, no coordinator can answer.
func TestTxnAddPartitionsUnknownBeforeCoordinator(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs a broker of its own without __transaction_state")
	}
	b := brokertest.Start(t, brokertest.Options{})
	topic := randomName("txn-nocoord")
	createTopic(t, b.Addr, topic, 1)
	c := hcDial(t, b.Addr)
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 3
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = randomName("txn-nocoord"), 0, 0
	req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: []int32{0, 7}}}
	hcWrite(t, c, hcFrame(req, 1))
	resp := kmsg.NewPtrAddPartitionsToTxnResponse()
	resp.Version = 3
	hcRead(t, c, 10*time.Second, 1, resp)
	codes := map[int32]int16{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			codes[rp.Partition] = rp.ErrorCode
		}
	}
	wantCode(t, "AddPartitionsToTxn of a partition that does not exist", codes[7], kerr.UnknownTopicOrPartition)
	wantCode(t, "AddPartitionsToTxn of a partition beside one that does not exist", codes[0], kerr.OperationNotAttempted)
}

// TxnOffsetCommit answers a partition that does not exist with
// UNKNOWN_TOPIC_OR_PARTITION whatever the coordinator would say of the
// others (here the empty group id, INVALID_GROUP_ID), as Kafka's
// handleTxnOffsetCommitRequest sorts unknown partitions out before it
// calls the group coordinator.
func TestTxnOffsetCommitUnknownPartitionFirst(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("txn-oc-unknown", 1, nil)
	c := hcDial(t, bootstrap(t))
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version = 3
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch, req.Generation = randomName("txn-oc"), "", 0, 0, -1
	req.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{
		{Partition: 0, Offset: 1, LeaderEpoch: -1}, {Partition: 7, Offset: 1, LeaderEpoch: -1}}}}
	hcWrite(t, c, hcFrame(req, 1))
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	resp.Version = 3
	hcRead(t, c, 10*time.Second, 1, resp)
	codes := map[int32]int16{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			codes[rp.Partition] = rp.ErrorCode
		}
	}
	wantCode(t, "TxnOffsetCommit of a partition that does not exist", codes[7], kerr.UnknownTopicOrPartition)
	wantCode(t, "TxnOffsetCommit of an existing partition for the empty group", codes[0], kerr.InvalidGroupID)
}

// A transaction version 2 commit (EndTxn v5) that arrives after the
// coordinator aborted the transaction on its timeout carries the epoch
// before the abort's bump, as a retry would; Kafka answers it
// PRODUCER_FENCED (KAFKA-20785; Kafka 4.0's double bump fenced it too),
// which producers and Kafka Streams recover from. Gregor answered
// INVALID_TXN_STATE, which a producer takes as fatal.
func TestEndTxnV2CommitAfterTimeoutAbortFenced(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": "100",
	}})
	topic := randomName("tv2-timeout")
	createTopic(t, b.Addr, topic, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := randomName("txid")
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = kmsg.StringPtr(id), 1000
	var pid int64
	var epoch int16
	untilTxnOK(t, "InitProducerId", func() int16 {
		resp, err := init.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		pid, epoch = resp.ProducerID, resp.ProducerEpoch
		return resp.ErrorCode
	})
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.SetVersion(3)
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: []int32{0}}}
	untilTxnOK(t, "AddPartitionsToTxn", func() int16 {
		resp, err := add.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	})
	adm := kadm.NewClient(cl)
	waitFor(t, "the coordinator to abort the transaction (timeout 1 s) and show CompleteAbort", 20*time.Second, func() bool {
		ds, err := adm.DescribeTransactions(ctx, id)
		return err == nil && ds[id].State == "CompleteAbort"
	})
	end := kmsg.NewPtrEndTxnRequest()
	end.SetVersion(5)
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, pid, epoch, true
	resp, err := end.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetVersion() != 5 {
		t.Fatalf("EndTxn sent at v%d, want v5", resp.GetVersion())
	}
	wantCode(t, "EndTxn v5 commit after the coordinator's timeout abort", resp.ErrorCode, kerr.ProducerFenced)
}

// transaction.remove.expired.transaction.cleanup.interval.ms sets how
// often ids idle past transactional.id.expiration.ms are removed, as
// Kafka's TransactionStateManager schedules removeExpiredTransactionalIds
// apart from the timed-out transactions' aborts. Gregor ignored it and
// looked for expired ids only at every abort check (every 10 s by
// default).
func TestTransactionalIDExpiresAtItsCleanupInterval(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{
		"transactional.id.expiration.ms":                             "1000",
		"transaction.remove.expired.transaction.cleanup.interval.ms": "200",
	}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := randomName("expiring")
	if r := initProducerID(ctx, t, cl, id, -1, -1); r.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	adm := kadm.NewClient(cl)
	// Idle for 1 s and looked at every 0.2 s: gone within a few seconds
	// (the abort check, at its default 10 s, is not what removes it).
	waitFor(t, "DescribeTransactions to answer TRANSACTIONAL_ID_NOT_FOUND for an id idle past transactional.id.expiration.ms (1 s, checked every 0.2 s)", 6*time.Second, func() bool {
		ds, err := adm.DescribeTransactions(ctx, id)
		return err == nil && errors.Is(ds[id].Err, kerr.TransactionalIDNotFound)
	})
}

// The __transaction_state value of a transactional id in state Empty has
// no partition list (null), as Kafka's TransactionLog.valueToBytes writes
// it; completed transactions have an empty one. Kafka's
// TransactionLogMessageFormatter (kafka-console-consumer on
// __transaction_state) printed "transactionPartitions":[] for Gregor's
// Empty records where Kafka's show null.
func TestTransactionLogEmptyStateHasNullPartitions(t *testing.T) {
	addr := bootstrap(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := randomName("txn-log")
	if r := initProducerID(ctx, t, cl, id, -1, -1); r.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	reader, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("__transaction_state"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	for {
		fs := reader.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no __transaction_state record for %s", id)
		}
		var found *kmsg.TxnMetadataValue
		fs.EachRecord(func(r *kgo.Record) {
			k := kmsg.NewTxnMetadataKey()
			if k.ReadFrom(r.Key) != nil || k.TransactionalID != id || r.Value == nil {
				return
			}
			v := kmsg.NewTxnMetadataValue()
			if err := v.ReadFrom(r.Value); err != nil {
				t.Fatalf("value of %s: %v", id, err)
			}
			found = &v
		})
		if found == nil {
			continue
		}
		if found.State != 0 || found.Topics != nil {
			t.Fatalf("the record of an id InitProducerId left Empty: state %d, partitions %#v; want state 0 (Empty) and a null partition list", found.State, found.Topics)
		}
		return
	}
}
