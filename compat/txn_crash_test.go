package compat

// kill -9 in the middle of a transaction, and idempotent producer state
// across a kill -9: after a restart on the same directory the open
// transaction is aborted (by its timeout, or by a new instance of its
// transactional id), read_committed never shows its records, and the
// broker still recognises a retried batch as a duplicate and a gap in
// sequence numbers as out of order. Each test runs its own gregor process.

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

const tcPartitions = 3

// tcStart starts a broker on its own directory with a small transaction
// state log and a fast timed-out-transaction sweep.
func tcStart(t *testing.T) *brokertest.Broker {
	t.Helper()
	return brokertest.Start(t, brokertest.Options{Dir: t.TempDir(), Set: map[string]string{
		"transaction.state.log.num.partitions":                        "3",
		"transaction.state.log.replication.factor":                    "1",
		"transaction.state.log.min.isr":                               "1",
		"offsets.topic.num.partitions":                                "3",
		"offsets.topic.replication.factor":                            "1",
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": "200",
	}})
}

// tcTxnClient is a transactional producer the test closes itself.
func tcTxnClient(t *testing.T, addr, topic, txnID string, timeout time.Duration) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.TransactionalID(txnID), kgo.TransactionTimeout(timeout),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// tcWaitStable polls until every partition's last stable offset (ListOffsets
// read_committed) equals its high watermark, i.e. no transaction is open.
func tcWaitStable(t *testing.T, addr, topic string, timeout time.Duration) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		hw, err1 := adm.ListEndOffsets(ctx, topic)
		lso, err2 := adm.ListCommittedOffsets(ctx, topic)
		cancel()
		err := errors.Join(err1, err2)
		if err == nil {
			err = errors.Join(hw.Error(), lso.Error())
		}
		if err == nil {
			stable := true
			last = ""
			for p := int32(0); p < tcPartitions; p++ {
				h, _ := hw.Lookup(topic, p)
				l, _ := lso.Lookup(topic, p)
				last += fmt.Sprintf(" p%d: lso %d hw %d;", p, l.Offset, h.Offset)
				if l.Offset != h.Offset {
					stable = false
				}
			}
			if stable {
				return
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("last stable offset of %s did not reach the high watermark within %v:%s", topic, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTxnCrashOpenTransactionKill9 commits transactions, leaves one open
// with its records acknowledged, kills the broker with SIGKILL and
// restarts it: the open transaction must end aborted, by its timeout or
// by a new producer with the same transactional id.
func TestTxnCrashOpenTransactionKill9(t *testing.T) {
	for _, variant := range []string{"timeout", "new-instance"} {
		t.Run(variant, func(t *testing.T) {
			b := tcStart(t)
			topic := randomName("txn-crash")
			createTopic(t, b.Addr, topic, tcPartitions)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			id := randomName("txid")
			timeout := 2 * time.Second
			if variant == "new-instance" {
				// Long enough that only the new instance can end it.
				timeout = 60 * time.Second
			}
			p := tcTxnClient(t, b.Addr, topic, id, timeout)
			var committed []string
			for i := 0; i < 4; i++ {
				vs := seq(fmt.Sprintf("commit%d", i), 6)
				if err := produceTxn(ctx, p, true, vs...); err != nil {
					p.Close()
					t.Fatalf("transaction %d: %v", i, err)
				}
				committed = append(committed, vs...)
			}
			open := seq("open", 6)
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			for _, v := range open {
				if err := p.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
					t.Fatalf("producing %s in the open transaction: %v", v, err)
				}
			}
			b.Kill()
			// The old instance never speaks again: it does not end its
			// transaction.
			p.Close()
			b.Restart()

			want := append([]string(nil), committed...)
			switch variant {
			case "timeout":
				cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
				if err != nil {
					t.Fatal(err)
				}
				adm := kadm.NewClient(cl)
				deadline := time.Now().Add(30 * time.Second)
				for {
					dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
					ds, err := adm.DescribeTransactions(dctx, id)
					dcancel()
					if err == nil && ds[id].State == "CompleteAbort" {
						break
					}
					if time.Now().After(deadline) {
						cl.Close()
						t.Fatalf("transaction open across kill -9 with a 2s timeout not aborted 30s after the restart: %+v %v", ds, err)
					}
					time.Sleep(50 * time.Millisecond)
				}
				cl.Close()
			case "new-instance":
				fresh := tcTxnClient(t, b.Addr, topic, id, 60*time.Second)
				after := seq("after", 5)
				err := produceTxn(ctx, fresh, true, after...)
				fresh.Close()
				if err != nil {
					t.Fatalf("new instance of %s after the restart: %v", id, err)
				}
				want = append(want, after...)
			}
			tcWaitStable(t, b.Addr, topic, 20*time.Second)
			if got := readAll(t, b.Addr, topic, true, len(want)); !sameSet(got, want) {
				t.Fatalf("read_committed after the restart: got %v\nwant %v", got, want)
			}
			all := append(append([]string(nil), want...), open...)
			if got := readAll(t, b.Addr, topic, false, len(all)); !sameSet(got, all) {
				t.Fatalf("read_uncommitted after the restart: got %v\nwant %v", got, all)
			}
		})
	}
}

var tcCastagnoli = crc32.MakeTable(crc32.Castagnoli)

// tcBatch builds an uncompressed v2 record batch of values from a producer
// with a base sequence, CRC included.
func tcBatch(pid int64, epoch int16, baseSeq int32, values ...string) []byte {
	return tcBatchAt(time.Now(), pid, epoch, baseSeq, values...)
}

// tcBatchAt is tcBatch with records timestamped at.
func tcBatchAt(at time.Time, pid int64, epoch int16, baseSeq int32, values ...string) []byte {
	now := at.UnixMilli()
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // a zero Length is one varint byte
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(values) - 1),
		FirstTimestamp: now, MaxTimestamp: now, ProducerID: pid, ProducerEpoch: epoch,
		FirstSequence: baseSeq, NumRecords: int32(len(values)), Records: recs,
	}
	b.Length = int32(len(b.AppendTo(nil)) - 12)
	raw := b.AppendTo(nil)
	b.CRC = int32(crc32.Checksum(raw[21:], tcCastagnoli))
	return b.AppendTo(nil)
}

// tcProduce sends one raw batch to partition 0 with acks=all and returns
// the partition's error code and base offset.
func tcProduce(t *testing.T, ctx context.Context, addr, topic string, topicID [16]byte, batch []byte) (int16, int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = 0, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.Request(ctx, req)
	if err != nil {
		t.Fatalf("produce request: %v", err)
	}
	resp := kresp.(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response for one partition: %+v", resp)
	}
	pr := resp.Topics[0].Partitions[0]
	return pr.ErrorCode, pr.BaseOffset
}

// TestTxnCrashIdempotentDuplicateAfterKill9 sends the same idempotent batch
// twice, kills the broker, restarts it and sends it a third time: every
// answer names the original offset and the log holds the records once. A
// batch with a sequence gap is refused with OUT_OF_ORDER_SEQUENCE_NUMBER.
func TestTxnCrashIdempotentDuplicateAfterKill9(t *testing.T) {
	b := tcStart(t)
	topic := randomName("idem-crash")
	createTopic(t, b.Addr, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	topicID, pid, epoch := tcIdempotentProducer(t, ctx, b.Addr, topic)
	t.Logf("producer id %d epoch %d", pid, epoch)

	// check sends batch and wants no error at offset want.
	check := func(what string, batch []byte, want int64) {
		t.Helper()
		code, off := tcProduce(t, ctx, b.Addr, topic, topicID, batch)
		if code != 0 || off != want {
			t.Fatalf("%s: error %v base offset %d, want no error at offset %d", what, kerr.ErrorForCode(code), off, want)
		}
	}
	first := tcBatch(pid, epoch, 0, "first-0", "first-1", "first-2")
	second := tcBatch(pid, epoch, 3, "second-0", "second-1")
	check("first batch (sequence 0)", first, 0)
	check("resend of the first batch", first, 0)
	check("second batch (sequence 3)", second, 3)
	// Kafka keeps the last five batches of a producer: an older one
	// within them is still a duplicate, answered with its own offset.
	check("resend of the first batch after the second", first, 0)
	check("resend of the second batch", second, 3)

	b.Kill()
	b.Restart()
	tcWaitServing(t, b.Addr, topic)

	check("resend of the last batch after kill -9 and restart", second, 3)
	// Sequence 5 is next; 9 leaves a gap.
	gap := tcBatch(pid, epoch, 9, "gap-0", "gap-1")
	code, off := tcProduce(t, ctx, b.Addr, topic, topicID, gap)
	if !errors.Is(kerr.ErrorForCode(code), kerr.OutOfOrderSequenceNumber) {
		t.Fatalf("batch with sequence 9 where 5 is next: error %v base offset %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", kerr.ErrorForCode(code), off)
	}
	check("batch with the next sequence 5", tcBatch(pid, epoch, 5, "next-0", "next-1"), 5)

	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	recs := ccKgoRead(t, rctx, b.Addr, topic, 1)
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%d:%s", r.O, r.V))
	}
	want := []string{"0:first-0", "1:first-1", "2:first-2", "3:second-0", "4:second-1", "5:next-0", "6:next-1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log after duplicates across kill -9: %v, want %v", got, want)
	}
}

// tcIdempotentProducer returns topic's id and a new idempotent producer
// id and epoch (InitProducerId without a transactional id).
func tcIdempotentProducer(t *testing.T, ctx context.Context, addr, topic string) (topicID [16]byte, pid int64, epoch int16) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err == nil {
		err = td.Error()
	}
	if err != nil {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	ireq := kmsg.NewPtrInitProducerIDRequest()
	ireq.TransactionTimeoutMillis = math.MaxInt32
	ireq.ProducerID, ireq.ProducerEpoch = -1, -1
	iresp, err := ireq.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(iresp.ErrorCode)
	}
	if err != nil {
		t.Fatalf("InitProducerId: %v", err)
	}
	return [16]byte(td[topic].ID), iresp.ProducerID, iresp.ProducerEpoch
}

// tcWaitServing waits until a one-partition topic answers
// ListEndOffsets after a restart.
func tcWaitServing(t *testing.T, addr, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ends, err := adm.ListEndOffsets(ctx, topic)
		cancel()
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted broker does not serve %s within 30s: %v", topic, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
