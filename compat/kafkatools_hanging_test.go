package compat

// kafka-transactions.sh find-hanging and abort (KIP-664) on a transaction
// the coordinator does not know of: its batch reached the partition without
// AddPartitionsToTxn (a broker without transaction verification, as before
// KIP-890), so no marker would ever end it and it holds the last stable
// offset for good.

import (
	"context"
	"hash/crc32"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"gregor/internal/brokertest"
	"gregor/internal/wait"
)

// ktTabTable parses a tab-separated table of kafka-transactions.sh whose
// header starts with the column first into rows keyed by column name.
func ktTabTable(out, first string) []map[string]string {
	var header []string
	var rows []map[string]string
	for _, l := range toolLines(out) {
		cells := strings.Split(l, "\t")
		if len(cells) > 1 && cells[len(cells)-1] == "" {
			cells = cells[:len(cells)-1]
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if header == nil {
			if len(cells) > 0 && cells[0] == first {
				header = cells
			}
			continue
		}
		if len(cells) != len(header) {
			continue
		}
		row := map[string]string{}
		for i, h := range header {
			row[h] = cells[i]
		}
		rows = append(rows, row)
	}
	return rows
}

// hangingBatch is a transactional batch of one record from producer
// pid/epoch, its timestamp at ts.
func hangingBatch(pid int64, epoch int16, ts int64) []byte {
	r := kmsg.Record{Value: []byte("hanging")}
	r.Length = int32(len(r.AppendTo(nil)) - 1)
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, Attributes: 0x10, FirstTimestamp: ts, MaxTimestamp: ts,
		ProducerID: pid, ProducerEpoch: epoch, FirstSequence: 0, NumRecords: 1, Records: r.AppendTo(nil)}
	b.Length = int32(len(b.AppendTo(nil)) - 12)
	raw := b.AppendTo(nil)
	b.CRC = int32(crc32.Checksum(raw[21:], tcCastagnoli))
	return b.AppendTo(nil)
}

func TestKafkaToolsTransactionsFindHangingAndAbort(t *testing.T) {
	if !usingGregor() {
		t.Skip("starts its own broker without transaction verification")
	}
	k := newKafkaTools(t)
	if !k.has("kafka-transactions.sh") {
		t.Skipf("KAFKA_TOOLS_DIR=%s has no kafka-transactions.sh (it ships with Kafka 3.0 and later)", k.dir)
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{
		"transaction.partition.verification.enable": "false",
	}})
	k.addr = b.Addr
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Produce v9 (Kafka 3.0): a transactional batch the leader takes
	// without asking the coordinator.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.MaxVersions(kversion.V3_0_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topic := randomName("hanging")
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	txnID := randomName("hanging-txn")
	var pid int64
	var epoch int16
	var last error
	wait.For(t, "InitProducerId of "+txnID+" at its coordinator", 30*time.Second, func() bool {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKey, fc.CoordinatorType = txnID, 1
		fr, err := fc.RequestWith(ctx, cl)
		if err != nil || fr.ErrorCode != 0 {
			last = firstErr(err, fr.ErrorCode)
			return false
		}
		ip := kmsg.NewPtrInitProducerIDRequest()
		ip.TransactionalID, ip.TransactionTimeoutMillis = &txnID, 60000
		ir, err := ip.RequestWith(ctx, cl.Broker(int(fr.NodeID)))
		if err != nil || ir.ErrorCode != 0 {
			last = firstErr(err, ir.ErrorCode)
			return false
		}
		pid, epoch = ir.ProducerID, ir.ProducerEpoch
		return true
	})
	// Twenty minutes old: older than find-hanging's default
	// --max-transaction-timeout (15 minutes).
	old := time.Now().Add(-20 * time.Minute).UnixMilli()
	start := int64(-1)
	wait.For(t, "the partition's leader to take the transactional batch", 30*time.Second, func() bool {
		req := kmsg.NewPtrProduceRequest()
		req.TransactionID, req.Acks, req.TimeoutMillis = &txnID, -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = hangingBatch(pid, epoch, old)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			if err == nil {
				last = kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
			} else {
				last = err
			}
			return false
		}
		start = resp.Topics[0].Partitions[0].BaseOffset
		return true
	})
	if last != nil {
		t.Logf("retried past: %v", last)
	}
	off := strconv.FormatInt(start, 10)
	txns := func(args ...string) string {
		return k.run(t, "", "kafka-transactions.sh", append([]string{"--bootstrap-server", k.addr}, args...)...)
	}

	rows := ktTabTable(txns("find-hanging", "--topic", topic), "Topic")
	if len(rows) != 1 {
		t.Fatalf("find-hanging --topic %s: %v, want the one hanging transaction", topic, rows)
	}
	r := rows[0]
	if r["Partition"] != "0" || r["ProducerId"] != strconv.FormatInt(pid, 10) || r["StartOffset"] != off ||
		r["LastTimestamp"] != strconv.FormatInt(old, 10) {
		t.Errorf("find-hanging row %v, want partition 0, producer %d, start offset %s, last timestamp %d", r, pid, off, old)
	}
	if d, err := strconv.Atoi(r["Duration(min)"]); err != nil || d < 20 {
		t.Errorf("find-hanging Duration(min) %q, want at least 20", r["Duration(min)"])
	}
	// The coordinator knows the id (InitProducerId) but no transaction.
	if rows := ktTabTable(txns("describe", "--transactional-id", txnID), "CoordinatorId"); len(rows) != 1 || rows[0]["TransactionState"] != "Empty" {
		t.Errorf("describe %s: %v, want state Empty", txnID, rows)
	}

	txns("abort", "--topic", topic, "--partition", "0", "--start-offset", off)

	if rows := ktTabTable(txns("find-hanging", "--topic", topic), "Topic"); len(rows) != 0 {
		t.Errorf("find-hanging after the abort: %v, want none", rows)
	}
	found := false
	for _, r := range ktTabTable(txns("describe-producers", "--topic", topic, "--partition", "0"), "ProducerId") {
		if r["ProducerId"] != strconv.FormatInt(pid, 10) {
			continue
		}
		found = true
		// The tool writes its marker with coordinator epoch 0 (the
		// producer's -1 raised to 0, as TransactionsCommand does).
		if r["CurrentTransactionStartOffset"] != "None" || r["LatestCoordinatorEpoch"] != "0" {
			t.Errorf("describe-producers after the abort: %v, want no open transaction and coordinator epoch 0", r)
		}
	}
	if !found {
		t.Errorf("describe-producers after the abort does not list producer %d", pid)
	}
	// read_committed consumers read past it: the last stable offset is
	// the log end (the record and the abort marker).
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.IsolationLevel = 1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	lr, err := lo.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if p := lr.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.Offset != start+2 {
		t.Errorf("read_committed latest offset after the abort: %d (error %d), want %d", p.Offset, p.ErrorCode, start+2)
	}
}

func firstErr(err error, code int16) error {
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(code)
}
