package broker

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/protocol"
)

// fakeCoordinator is a TxnVerifier that answers every partition with
// code, counts its calls and runs during (if set) before answering.
type fakeCoordinator struct {
	mu     sync.Mutex
	code   int16
	calls  []*kmsg.AddPartitionsToTxnRequest
	during func()
}

func (f *fakeCoordinator) TxnPartitionFor(string) int32 { return 0 }

func (f *fakeCoordinator) VerifyTxn(r *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	f.mu.Lock()
	f.calls = append(f.calls, r)
	code, during := f.code, f.during
	f.mu.Unlock()
	if during != nil {
		during()
	}
	resp := kmsg.NewPtrAddPartitionsToTxnResponse()
	for _, tx := range r.Transactions {
		rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rt.TransactionalID = tx.TransactionalID
		for _, tt := range tx.Topics {
			st := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			st.Topic = tt.Topic
			for _, p := range tt.Partitions {
				sp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				sp.Partition, sp.ErrorCode = p, code
				st.Partitions = append(st.Partitions, sp)
			}
			rt.Topics = append(rt.Topics, st)
		}
		resp.Transactions = append(resp.Transactions, rt)
	}
	return resp
}

func (f *fakeCoordinator) set(code int16, during func()) {
	f.mu.Lock()
	f.code, f.during = code, during
	f.mu.Unlock()
}

func (f *fakeCoordinator) ncalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// startVerifyBroker starts a single broker with topic t and
// __transaction_state (so it coordinates in process), verifying with f.
func startVerifyBroker(t *testing.T, f *fakeCoordinator, verify bool) *Broker {
	t.Helper()
	cfg, err := config.Load(map[string]string{"transaction.partition.verification.enable": strconv.FormatBool(verify)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.BrokerID = 1
	cfg.LogDirs = []string{t.TempDir()}
	be := metadata.NewLocal(cfg.LogDirs[0], metadata.BrokerInfo{ID: 1, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9092}}})
	b, err := New(Options{Config: cfg, Log: zerolog.Nop(), Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	b.SetTxnVerifier(f)
	for _, name := range []string{"t", TransactionTopic} {
		if _, err := b.CreateTopic(ctx, metadata.TopicSpec{Name: name, Partitions: 1, ReplicationFactor: 1}); err != nil {
			t.Fatal(err)
		}
		if !b.AwaitTopic(ctx, name, 5*time.Second) {
			t.Fatalf("topic %s has no leader after 5s", name)
		}
	}
	return b
}

// produceTxnBatch produces a one-record transactional batch of producer
// 42 epoch 0 to t-0 and returns the partition's code.
func produceTxnBatch(t *testing.T, b *Broker, version int16, seq int32) int16 {
	t.Helper()
	return produceTxnBatchOf(t, b, version, 42, seq)
}

// produceTxnBatchOf is produceTxnBatch for producer pid.
func produceTxnBatchOf(t *testing.T, b *Broker, version int16, pid int64, seq int32) int16 {
	t.Helper()
	return produceTxnBatchAt(t, b, version, pid, 0, seq)
}

// produceTxnBatchAt is produceTxnBatchOf at a producer epoch.
func produceTxnBatchAt(t *testing.T, b *Broker, version int16, pid int64, epoch int16, seq int32) int16 {
	t.Helper()
	rec := []byte{0, 0, 0, 1, 2, 'v', 0} // attributes, ts delta, offset delta, null key, value "v", no headers
	recs := binary.AppendVarint(nil, int64(len(rec)))
	now := time.Now().UnixMilli()
	batch := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, Attributes: 0x10, FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: pid, ProducerEpoch: epoch, FirstSequence: seq, NumRecords: 1, Records: append(recs, rec...)}
	raw := batch.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	id := "tx"
	r := kmsg.NewPtrProduceRequest()
	r.Version, r.Acks, r.TimeoutMillis, r.TransactionID = version, 1, 5000, &id
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = raw
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	resp, err := b.handleProduce(context.Background(), &protocol.Request{Key: 0, Version: version, Body: r})
	if err != nil {
		t.Fatal(err)
	}
	return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
}

// The produce path end to end in process: the coordinator is asked once
// per transaction and partition, its refusal becomes the version's code,
// a marker written while it answers voids its yes, and the partition's
// last stable offset is never held by a refused batch.
func TestProduceVerifiesTransactionalBatches(t *testing.T) {
	f := &fakeCoordinator{}
	b := startVerifyBroker(t, f, true)
	p := b.Partition("t", 0)
	open := func() bool { return p.LastStableOffset() < p.HighWatermark() }

	f.set(kerr.TransactionAbortable.Code, nil)
	if code := produceTxnBatch(t, b, 9, 0); code != kerr.InvalidTxnState.Code {
		t.Fatalf("not in the transaction, produce v9: %v", kerr.ErrorForCode(code))
	}
	if code := produceTxnBatch(t, b, 11, 0); code != kerr.TransactionAbortable.Code {
		t.Fatalf("not in the transaction, produce v11: %v", kerr.ErrorForCode(code))
	}
	if open() || p.HighWatermark() != 0 {
		t.Fatalf("refused batches were written: high watermark %d, last stable %d", p.HighWatermark(), p.LastStableOffset())
	}
	req := f.calls[0]
	if tx := req.Transactions[0]; req.GetVersion() != 5 || !tx.VerifyOnly || tx.TransactionalID != "tx" || tx.ProducerID != 42 ||
		tx.Topics[0].Topic != "t" || tx.Topics[0].Partitions[0] != 0 {
		t.Fatalf("verification asked %+v (v%d)", tx, req.GetVersion())
	}

	// A marker (the transaction aborted) lands while the coordinator
	// answers yes: the append is refused.
	f.set(0, func() {
		if _, err := p.appendMarker(42, 0, false, 0); err != nil {
			t.Errorf("marker: %v", err)
		}
	})
	if code := produceTxnBatch(t, b, 9, 0); code != kerr.InvalidTxnState.Code {
		t.Fatalf("verified before a marker: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
	if open() {
		t.Fatal("a batch verified before the marker opened a transaction")
	}

	// Verified: written; the open transaction stands for the next batch.
	f.set(0, nil)
	before := f.ncalls()
	if code := produceTxnBatch(t, b, 9, 0); code != 0 {
		t.Fatalf("verified batch: %v", kerr.ErrorForCode(code))
	}
	if code := produceTxnBatch(t, b, 9, 1); code != 0 {
		t.Fatalf("second batch: %v", kerr.ErrorForCode(code))
	}
	if n := f.ncalls() - before; n != 1 {
		t.Fatalf("the coordinator was asked %d times for one transaction on one partition, want once", n)
	}
	if !open() {
		t.Fatal("the verified transaction is not open")
	}
}

// transaction.partition.verification.enable=false: nobody is asked and
// the batch is written, as in Kafka.
func TestProduceVerificationDisabled(t *testing.T) {
	f := &fakeCoordinator{code: kerr.TransactionAbortable.Code}
	b := startVerifyBroker(t, f, false)
	if code := produceTxnBatch(t, b, 9, 0); code != 0 {
		t.Fatalf("verification off: %v", kerr.ErrorForCode(code))
	}
	if f.ncalls() != 0 {
		t.Fatalf("the coordinator was asked %d times with verification off", f.ncalls())
	}
}
