package compat

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"gregor/internal/brokertest"
)

// A compacted topic keeps the latest value of every key (and the offsets
// of what it keeps); a consumer reading from the start sees each key's
// last value, and deleted keys disappear after delete.retention.ms.
func TestCompactedTopicKeepsLatestPerKey(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker with a fast cleaner")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"log.cleaner.backoff.ms": "100"}})
	topic := randomName("compacted")
	adm, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ac := kadm.NewClient(adm)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := func(v string) *string { return &v }
	if _, err := ac.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": s("compact"), "internal.segment.bytes": s("2048"),
		"min.cleanable.dirty.ratio": s("0.01"), "delete.retention.ms": s("0"),
	}, topic); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const keys, rounds = 20, 30
	want := make(map[string]string)
	for r := 0; r < rounds; r++ {
		var rs []*kgo.Record
		for k := 0; k < keys; k++ {
			key, val := fmt.Sprintf("key-%02d", k), fmt.Sprintf("v%d-%d", k, r)
			rec := &kgo.Record{Key: []byte(key), Value: []byte(val)}
			if k == 0 && r == rounds-1 {
				rec.Value = nil // delete key-00 at the end
				delete(want, key)
			} else {
				want[key] = val
			}
			rs = append(rs, rec)
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Fill a segment so every round above is in sealed segments.
	var filler []*kgo.Record
	for i := 0; i < 100; i++ {
		filler = append(filler, &kgo.Record{Key: []byte("filler"), Value: []byte(fmt.Sprint(i))})
	}
	if err := cl.ProduceSync(ctx, filler...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	want["filler"] = "99"
	total := keys*rounds + 100
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, n := readLatest(t, b.Addr, topic)
		if n < total/2 {
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("after compaction key %s holds %q, want %q", k, got[k], v)
				}
			}
			if _, ok := got["key-00"]; ok && got["key-00"] != "" {
				t.Fatalf("deleted key-00 reads %q", got["key-00"])
			}
			t.Logf("compacted %d records to %d", total, n)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for compaction: still %d of %d records", n, total)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readLatest reads a partition from the start and returns each key's last
// value ("" for a tombstone) and the number of records read.
func readLatest(t *testing.T, addr, topic string) (map[string]string, int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	got := make(map[string]string)
	n := 0
	var last int64 = -1
	for last+1 < end.Offset {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: timed out at offset %d of %d", topic, last, end.Offset)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset <= last {
				t.Errorf("offset %d after %d", r.Offset, last)
			}
			last = r.Offset
			got[string(r.Key)] = string(r.Value)
			n++
		})
	}
	return got, n
}

// fillCompacted makes a compacted topic of 2 KB segments on the broker at
// addr and writes 400 records of 20 keys to it; it returns the topic, the
// number of records and an admin client (closed when the test ends).
func fillCompacted(t *testing.T, addr, name string) (string, int, *kadm.Client) {
	t.Helper()
	return fillCompactedWith(t, addr, name, "0.01")
}

// fillCompactedWith is fillCompacted with the topic's
// min.cleanable.dirty.ratio.
func fillCompactedWith(t *testing.T, addr, name, dirtyRatio string) (string, int, *kadm.Client) {
	t.Helper()
	topic := randomName(name)
	admCl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admCl.Close)
	adm := kadm.NewClient(admCl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := func(v string) *string { return &v }
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": s("compact"), "internal.segment.bytes": s("2048"), "min.cleanable.dirty.ratio": s(dirtyRatio),
	}, topic); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const total = 400
	for i := range total / 20 {
		var rs []*kgo.Record
		for k := range 20 {
			rs = append(rs, &kgo.Record{Key: []byte(fmt.Sprintf("key-%02d", k)), Value: []byte(fmt.Sprint(i))})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return topic, total, adm
}

// The cleaner compacts a log whose dirty ratio is above
// min.cleanable.dirty.ratio, not at it, as Kafka's
// LogCleanerManager.grabFilthiestCompactedLog (cleanableRatio >
// minCleanableRatio): a topic at 1.0 is compacted only by
// max.compaction.lag.ms, however dirty. Gregor compacted a wholly dirty
// log at 1.0. A witness topic at 0.5, named to come after the other in
// the cleaner's pass (topics in name order), is compacted twice, so a
// whole pass has looked at the other once it was filled.
func TestCompactionNeedsDirtyRatioAboveMinimum(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker with a fast cleaner")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"log.cleaner.backoff.ms": "100"}})
	held, total, _ := fillCompactedWith(t, b.Addr, "a-ratio-one", "1.0")
	witness, wtotal, _ := fillCompactedWith(t, b.Addr, "z-ratio-witness", "0.5")
	waitFor(t, "the witness topic (min.cleanable.dirty.ratio 0.5) to be compacted", 30*time.Second, func() bool {
		_, n := readLatest(t, b.Addr, witness)
		return n < wtotal/2
	})
	// Dirty it again, wholly past what the first pass cleaned.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(witness), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 40 {
		var rs []*kgo.Record
		for k := range 20 {
			rs = append(rs, &kgo.Record{Key: []byte(fmt.Sprintf("key-%02d", k)), Value: []byte(fmt.Sprint("again", i))})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	_, before := readLatest(t, b.Addr, witness)
	waitFor(t, "the witness topic to be compacted a second time", 30*time.Second, func() bool {
		_, n := readLatest(t, b.Addr, witness)
		return n < before/2
	})
	if _, n := readLatest(t, b.Addr, held); n != total {
		t.Fatalf("a topic with min.cleanable.dirty.ratio=1.0 and no max.compaction.lag.ms reads %d records of %d: compacted", n, total)
	}
}

// log.cleaner.backoff.ms is a dynamic broker config, as in Kafka: a
// broker started with an hour between cleaner passes compacts within
// moments once the cluster default is lowered to 100 ms.
func TestCleanerBackoffIsDynamic(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"log.cleaner.backoff.ms": "3600000"}})
	topic, total, adm := fillCompacted(t, b.Addr, "backoff")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	setClusterDefault(ctx, t, adm, "log.cleaner.backoff.ms", "100")
	waitFor(t, "the topic to be compacted after log.cleaner.backoff.ms was lowered", 30*time.Second, func() bool {
		_, n := readLatest(t, b.Addr, topic)
		return n < total/2
	})
}

// log.cleaner.io.max.bytes.per.second paces the cleaner, as in Kafka: at
// 5,000 bytes a second, compacting what 400 keyed records fill (read
// twice and written once) takes seconds, where unpaced it takes a
// fraction of one (TestCleanerBackoffIsDynamic).
func TestCleanerIORate(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{
		"log.cleaner.backoff.ms":              "100",
		"log.cleaner.io.max.bytes.per.second": "5000",
	}})
	topic, total, _ := fillCompacted(t, b.Addr, "paced")
	start := time.Now()
	waitFor(t, "the paced cleaner to compact the topic", 40*time.Second, func() bool {
		_, n := readLatest(t, b.Addr, topic)
		return n < total/2
	})
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Fatalf("compaction at 5,000 bytes/s was done %v after the last record, want at least 1.5 s", took)
	}
	t.Logf("compacted %v after the last record", time.Since(start))
}

// A consumer reading a compacted topic from the start gets past segments
// the cleaner emptied: records of a producer without idempotence leave no
// empty batch behind, so a segment whose records were all superseded holds
// nothing, and a fetch at its offsets must return the next batch there is
// (Kafka's log reads on into the next segment). Reading stopped at such a
// segment once, and consumers fetched nothing forever; and the cleaner's
// next pass stopped at it, so the topic was never compacted again.
func TestCompactedTopicReadsPastEmptiedSegments(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker with a fast cleaner")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"log.cleaner.backoff.ms": "100"}})
	topic := randomName("compacted-empty")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.DisableIdempotentWrite(),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ac := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := func(v string) *string { return &v }
	// Every batch rolls a segment of its own.
	if _, err := ac.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": s("compact"), "internal.segment.bytes": s("100"),
		"min.cleanable.dirty.ratio": s("0.01"),
	}, topic); err != nil {
		t.Fatal(err)
	}
	want := make(map[string]string)
	produce := func(rounds ...int) {
		t.Helper()
		for _, round := range rounds {
			for _, k := range []string{"a", "b", "c"} {
				v := fmt.Sprint(k, round)
				if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(k), Value: []byte(v)}).FirstErr(); err != nil {
					t.Fatal(err)
				}
				want[k] = v
			}
		}
	}
	// The active segment is not cleaned, and what is in it supersedes
	// nothing: z stays, once per pass.
	last := func(v string) {
		t.Helper()
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("z"), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		want["z"] = v
	}
	await := func(records int) {
		t.Helper()
		start := time.Now()
		for {
			got, n := readLatest(t, b.Addr, topic) // fails if a fetch stalls
			if n == records {
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("after compaction the topic reads %v, want %v", got, want)
				}
				return
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("timed out waiting for compaction to leave %d records: still %d", records, n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	produce(0, 1, 2)
	last("last")
	await(4) // a2, b2, c2, z
	// The emptied segments do not stop the next pass.
	produce(3)
	last("later")
	await(5) // a3, b3, c3, z, z
}

// TestCompactionMergesTimeRolledSegments: a compacted topic that rolls a
// segment by time (segment.ms) keeps a bounded number of segment files:
// the cleaner writes consecutive small segments as one, up to
// segment.bytes, as Kafka's does. Before, every rolled segment that kept
// a record stayed, with its three files, for the topic's life.
func TestCompactionMergesTimeRolledSegments(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker with a fast cleaner, and its data dir")
	}
	// The cleaner waits until every record has rolled its segment.
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"log.cleaner.backoff.ms": "3600000"}})
	topic := randomName("compacted-merge")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := func(v string) *string { return &v }
	// Each record's timestamp is 10 s after the last one's: each rolls a
	// segment of its own.
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": s("compact"), "segment.ms": s("1000"), "min.cleanable.dirty.ratio": s("0.01"),
	}, topic); err != nil {
		t.Fatal(err)
	}
	const n = 60
	ts := time.Now().Add(-time.Hour)
	want := map[string]string{}
	for i := range n + 2 {
		key := fmt.Sprint("key-", i)
		switch i {
		case n:
			key = "key-0" // makes the sealed segments dirty
		case n + 1:
			key = "active"
		}
		want[key] = fmt.Sprint("value-", i)
		r := &kgo.Record{Key: []byte(key), Value: []byte(want[key]), Timestamp: ts.Add(time.Duration(i) * 10 * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(b.Dir, "data", topic+"-0")
	segments := func() int {
		logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
		if err != nil || len(logs) == 0 {
			t.Fatalf("no segments in %s (%v)", dir, err)
		}
		return len(logs)
	}
	if got := segments(); got != n+2 {
		t.Fatalf("%d segments before compaction, want one per record (%d)", got, n+2)
	}
	setClusterDefault(ctx, t, kadm.NewClient(cl), "log.cleaner.backoff.ms", "100")
	deadline := time.Now().Add(30 * time.Second)
	for segments() > 3 {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the cleaner to merge %d time-rolled segments: %d segment files in %s", n+2, segments(), dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got, read := readLatest(t, b.Addr, topic); fmt.Sprint(got) != fmt.Sprint(want) || read != n+1 {
		t.Fatalf("after merging, %d records read as %v, want %d as %v", read, got, n+1, want)
	}
}

// TestCompactionRemovesSpentMarkers: on a compacted topic, a transaction
// marker goes once its transaction has nothing left in the log (and it is
// past delete.retention.ms), as Kafka's cleaner removes it, and a
// read_committed fetch stops listing the aborted transaction. Before, every
// marker (one per transaction and partition) and every aborted
// transaction's entry stayed for the life of the topic, as on
// __consumer_offsets under transactional offset commits.
func TestCompactionRemovesSpentMarkers(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker with a fast cleaner")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"log.cleaner.backoff.ms": "100"}})
	topic := randomName("compacted-markers")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	txn, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.TransactionalID(randomName("txn")),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	s := func(v string) *string { return &v }
	if _, err := kadm.NewClient(txn).CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": s("compact"), "internal.segment.bytes": s("1024"), "min.cleanable.dirty.ratio": s("0.01"),
		"delete.retention.ms": s("0"),
	}, topic); err != nil {
		t.Fatal(err)
	}
	for i, commit := range []bool{true, false, true, true} {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := txn.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte(fmt.Sprint("v", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	// Fetch v12 names topics (v13+ wants topic IDs).
	plain, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxVersions(kversion.V2_8_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	abortedListed := func() int {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes, req.IsolationLevel = -1, 1<<20, 1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, plain)
		if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("read_committed fetch of %s: %+v %v", topic, resp, err)
		}
		return len(resp.Topics[0].Partitions[0].AbortedTransactions)
	}
	if n := abortedListed(); n != 1 {
		t.Fatalf("a read_committed fetch lists %d aborted transactions before compaction, want 1", n)
	}
	markers := func() (n int) {
		for _, b := range ccRawBatches(t, ctx, plain, topic, 0) {
			if b.Attributes&0x20 != 0 {
				n++
			}
		}
		return n
	}
	// Each filler record fills most of a segment: the transactions are
	// sealed, and each is a dirty pass for the cleaner.
	filler := make([]byte, 700)
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		if err := plain.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint("filler-", i%3)), Value: filler}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		m, a := markers(), abortedListed()
		if m == 1 && a == 0 {
			break // the last transaction's marker stays with its record
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the cleaner to remove the markers of transactions with nothing left: %d markers, %d aborted transactions listed", m, a)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, _ := readLatest(t, b.Addr, topic)
	if got["k"] != "v3" {
		t.Fatalf("after compaction k reads %q, want v3", got["k"])
	}
}

// TestCompactionKeepsOldTombstoneForDeleteRetention: a tombstone stays
// delete.retention.ms from the cleaner pass that first keeps it, however
// old its timestamp, as Kafka's cleaner (KIP-534) stores that pass's time
// plus delete.retention.ms in the batch as its delete horizon (attribute
// bit 0x40, in the first timestamp, the records' timestamps unchanged).
// Before, a tombstone with a timestamp older than delete.retention.ms went
// in the pass that removed the value it deletes, and a consumer reading
// the topic meanwhile never saw the delete.
func TestCompactionKeepsOldTombstoneForDeleteRetention(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker with a fast cleaner")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"log.cleaner.backoff.ms": "100"}})
	topic := randomName("compacted-tombstone")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Fetch v12 names topics (v13+ wants topic IDs).
	plain, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.MaxVersions(kversion.V2_8_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	const retention = 4 * time.Second
	s := func(v string) *string { return &v }
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": s("compact"), "internal.segment.bytes": s("1024"), "min.cleanable.dirty.ratio": s("0.01"),
		"delete.retention.ms": s(fmt.Sprint(retention.Milliseconds())),
	}, topic); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond)
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Timestamp: old}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Each filler record fills most of a segment: what came before is
	// sealed, and each is a dirty pass for the cleaner.
	filler := make([]byte, 700)
	i := 0
	fill := func() {
		t.Helper()
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint("filler-", i%3)), Value: filler}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		i++
	}
	// tombstone returns the batch holding offset 1 (the tombstone), and
	// whether offset 0 (the value it deletes) is still there.
	tombstone := func() (tomb *kmsg.RecordBatch, valueThere bool) {
		for _, rb := range ccRawBatches(t, ctx, plain, topic, 0) {
			switch {
			case rb.FirstOffset == 0 && rb.NumRecords > 0:
				valueThere = true
			case rb.FirstOffset == 1 && rb.NumRecords > 0:
				tomb = &rb
			}
		}
		return tomb, valueThere
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		fill()
		tomb, valueThere := tombstone()
		if !valueThere {
			if tomb == nil {
				t.Fatalf("the tombstone (timestamp %v) went with the value it deletes, before delete.retention.ms (%v) from that pass", old, retention)
			}
			if tomb.Attributes&0x40 == 0 {
				t.Fatalf("the kept tombstone's batch has attributes %#x, without the delete horizon bit 0x40", tomb.Attributes)
			}
			if hz := time.UnixMilli(tomb.FirstTimestamp); time.Until(hz) > retention || time.Until(hz) < -retention {
				t.Fatalf("the tombstone's delete horizon is %v, want about %v from now", hz, retention)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the cleaner to remove the value at offset 0")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A consumer reads the tombstone with its own timestamp.
	cons, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(1)}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var first *kgo.Record
	for first == nil && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if first == nil {
				first = r
			}
		})
	}
	if first == nil || first.Offset != 1 || first.Value != nil || !first.Timestamp.Equal(old) {
		t.Fatalf("consumed %+v, want the tombstone at offset 1 with timestamp %v", first, old)
	}
	// Past the horizon, the next pass removes it.
	deadline = time.Now().Add(retention + 30*time.Second)
	for {
		fill()
		if tomb, _ := tombstone(); tomb == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the cleaner to remove the tombstone past its delete horizon")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCompactionDropsKeylessRecords: records without a key, written
// before the topic was made compacted, go when the cleaner first passes
// over them, as Kafka's cleaner drops them as invalid; before, they
// stayed for the life of the topic.
func TestCompactionDropsKeylessRecords(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker with a fast cleaner")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"log.cleaner.backoff.ms": "100"}})
	topic := randomName("made-compacted")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	s := func(v string) *string { return &v }
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": s("delete"), "internal.segment.bytes": s("1024"), "min.cleanable.dirty.ratio": s("0.01"),
	}, topic); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}, &kgo.Record{Key: []byte("k"), Value: []byte("v")},
		&kgo.Record{Value: []byte("no key either")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "cleanup.policy", Value: s("compact")}}, topic); err != nil {
		t.Fatal(err)
	}
	filler := make([]byte, 700)
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		// Each filler record fills most of a segment: a dirty pass.
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint("filler-", i%3)), Value: filler}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		got, _ := readLatest(t, b.Addr, topic)
		_, keyless := got[""]
		if !keyless && got["k"] == "v" && i > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the cleaner to remove the records without a key: reading %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGroupOffsetsSurviveCompactedCommitBatch: a group's committed offsets
// load after a restart from a __consumer_offsets the cleaner compacted,
// where a commit batch lost its first record (a partition committed again
// later) and keeps the other at offset delta 1. Before, reading such a
// batch failed (records.Each wanted deltas 0, 1, 2, ...) and the group's
// offsets were not loaded.
func TestGroupOffsetsSurviveCompactedCommitBatch(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker with a fast cleaner and small __consumer_offsets segments")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"log.cleaner.backoff.ms": "100",
		"offsets.topic.num.partitions": "1", "offsets.topic.segment.bytes": "1024"}})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	newAdmin := func() (*kgo.Client, *kadm.Client) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.MaxVersions(kversion.V2_8_0()))
		if err != nil {
			t.Fatal(err)
		}
		return cl, kadm.NewClient(cl)
	}
	cl, adm := newAdmin()
	topic, group := randomName("committed"), randomName("g")
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	commit := func(g string, offs map[int32]int64) {
		t.Helper()
		o := make(kadm.Offsets)
		for p, at := range offs {
			o.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1})
		}
		resp, err := adm.CommitOffsets(ctx, g, o)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("committing %v for %s: %v", offs, g, err)
		}
	}
	commit(group, map[int32]int64{0: 10, 1: 20}) // one batch of two records
	commit(group, map[int32]int64{0: 11})        // supersedes the first of them
	gapped := func() bool {
		for _, rb := range ccRawBatches(t, ctx, cl, "__consumer_offsets", 0) {
			if rb.Attributes&0x20 == 0 && rb.NumRecords > 0 && int64(rb.NumRecords) < int64(rb.LastOffsetDelta)+1 {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(45 * time.Second)
	for i := 0; !gapped(); i++ {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the cleaner to leave a commit batch with a gap in __consumer_offsets")
		}
		commit("filler", map[int32]int64{0: int64(i)}) // rolls segments and dirties them
		time.Sleep(50 * time.Millisecond)
	}
	cl.Close()
	b.Restart()
	cl, adm = newAdmin()
	defer cl.Close()
	for {
		got, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			o0, ok0 := got.Lookup(topic, 0)
			o1, ok1 := got.Lookup(topic, 1)
			if ok0 && ok1 && o0.At == 11 && o1.At == 20 {
				return
			}
			t.Fatalf("after the restart %s has offsets %v / %v, want 11 and 20", group, o0, o1)
		}
		if !errors.Is(err, kerr.CoordinatorLoadInProgress) && !errors.Is(err, kerr.CoordinatorNotAvailable) && !errors.Is(err, kerr.NotCoordinator) {
			t.Fatalf("fetching the offsets of %s after the restart: %v", group, err)
		}
		if ctx.Err() != nil {
			t.Fatalf("timed out fetching the offsets of %s after the restart: %v", group, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// produceKeyed writes n records per key of keys, in batches of 20, to a
// topic.
func produceKeyed(ctx context.Context, t *testing.T, addr, topic string, keys []string, rounds int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for r := range rounds {
		for i := 0; i < len(keys); i += 20 {
			var rs []*kgo.Record
			for _, k := range keys[i:min(i+20, len(keys))] {
				rs = append(rs, &kgo.Record{Key: []byte(k), Value: []byte(fmt.Sprint(k, "-", r))})
			}
			if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// The cleaner remembers where its last pass ended across a restart, in
// cleaner-offset-checkpoint as Kafka's LogCleanerManager, so a restarted
// broker compacts a log only once more than min.cleanable.dirty.ratio of
// it was written since. Gregor forgot it: after every restart each
// compacted log counted as wholly dirty and was compacted at once,
// superseded records that Kafka keeps until the ratio is reached
// disappearing, and every compacted log read through on start-up.
func TestCompactionDirtyOffsetSurvivesRestart(t *testing.T) {
	if !usingGregor() {
		t.Skip("restarts its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"log.cleaner.backoff.ms": "100"}})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	s := func(v string) *string { return &v }
	adm := kadm.NewClient(admCl)
	topic := randomName("a-dirty-restart")
	// Compacted at any dirt first (a pass may come between the rounds),
	// then at half.
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": s("compact"), "internal.segment.bytes": s("2048"), "min.cleanable.dirty.ratio": s("0.01"),
	}, topic); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range 400 {
		keys = append(keys, fmt.Sprintf("key-%03d", k))
	}
	produceKeyed(ctx, t, b.Addr, topic, keys, 2)
	waitFor(t, "the first compaction of 800 records of 400 keys", 30*time.Second, func() bool {
		_, n := readLatest(t, b.Addr, topic)
		return n < 600
	})
	if res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "min.cleanable.dirty.ratio", Value: s("0.5")}}, topic); err != nil || res[0].Err != nil {
		t.Fatalf("setting min.cleanable.dirty.ratio to 0.5: %v %v", err, res)
	}
	// A little dirt: 40 superseded records, then new keys to seal them
	// in, far below half of the log.
	produceKeyed(ctx, t, b.Addr, topic, keys[:20], 2)
	var fresh []string
	for k := range 100 {
		fresh = append(fresh, fmt.Sprintf("new-%03d", k))
	}
	produceKeyed(ctx, t, b.Addr, topic, fresh, 1)
	_, before := readLatest(t, b.Addr, topic)
	b.Stop()
	b.Restart()
	// A witness topic named to come after it in the cleaner's pass,
	// compacted twice: a whole pass has looked at the first since the
	// restart.
	witness, wtotal, _ := fillCompactedWith(t, b.Addr, "z-dirty-witness", "0.5")
	waitFor(t, "the witness topic to be compacted", 30*time.Second, func() bool {
		_, n := readLatest(t, b.Addr, witness)
		return n < wtotal/2
	})
	wkeys := keys[:20]
	produceKeyed(ctx, t, b.Addr, witness, wkeys, 40)
	_, wbefore := readLatest(t, b.Addr, witness)
	waitFor(t, "the witness topic to be compacted a second time", 30*time.Second, func() bool {
		_, n := readLatest(t, b.Addr, witness)
		return n < wbefore/2
	})
	if _, n := readLatest(t, b.Addr, topic); n != before {
		t.Fatalf("after a restart the topic, with a dirty ratio far below min.cleanable.dirty.ratio, reads %d records, %d before: compacted again", n, before)
	}
}
