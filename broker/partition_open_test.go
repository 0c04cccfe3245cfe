package broker

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/broker/records"
	"gregor/broker/storage"
	"gregor/protocol"
)

// A replica's high watermark on opening its log is the checkpointed one
// within the log's start and end, as Kafka's UnifiedLog.updateHighWatermark
// bounds it: a checkpoint below the log start (a follower that restarted
// its log at the leader's start and was killed before the next
// checkpoint, a lost checkpoint file) gives the log start. Gregor took it
// as it was, so a leader whose followers had not fetched yet answered a
// high watermark below its log start.
func TestOpenedReplicaHighWatermarkNotBelowLogStart(t *testing.T) {
	dir := t.TempDir()
	id := metadata.NewUuid()
	tp := storage.TP{Topic: "t", Partition: 0}
	d, err := storage.OpenDir(storage.OSFS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	path, err := d.CreatePartition(tp, id.String())
	if err != nil {
		t.Fatal(err)
	}
	lg, err := storage.Open(storage.OSFS{}, path, storage.DefaultConfig(), storage.OpenOptions{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	for base := int64(0); base < 8; base += 2 {
		data, err := records.Build(&records.Batch{BaseOffset: base, FirstTimestamp: 1000, MaxTimestamp: 1001, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, LeaderEpoch: 0,
			Records: []records.Record{{OffsetDelta: 0, Value: []byte("a")}, {OffsetDelta: 1, TimestampDelta: 1, Value: []byte("b")}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := lg.Append(data, storage.AppendInfo{First: base, Last: base + 1, MaxTimestamp: 1001, OffsetOfMaxTs: base + 1, Messages: 2, LeaderEpoch: 0, FirstBatchOffset: base}); err != nil {
			t.Fatal(err)
		}
	}
	if err := lg.DeleteRecordsBefore(4); err != nil {
		t.Fatal(err)
	}
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
	// The high watermark checkpoint lags the log start.
	if err := d.WriteCheckpoints([]storage.Checkpoint{{TP: tp, RecoveryPoint: 8, StartOffset: 4, HighWatermark: 1}}); err != nil {
		t.Fatal(err)
	}

	cfg := config.Defaults()
	cfg.BrokerID = 1
	cfg.LogDirs = []string{dir}
	be := &capturingBackend{Backend: metadata.NewLocal(dir, metadata.BrokerInfo{ID: 1, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9092}}})}
	b, err := New(Options{Config: cfg, Log: zerolog.Nop(), Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	// This broker leads; the other ISR member has not fetched yet, so
	// the high watermark is the one the log opened with.
	be.apply.ApplyTopic(metadata.TopicState{Name: "t", ID: id, Reported: time.Now(),
		Partitions: []metadata.PartitionState{{Replicas: []int32{1, 2}, Leader: 1, LeaderEpoch: 1, ISR: []int32{1, 2}}}})
	if err := b.awaitApplied(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := b.Partition("t", 0)
	awaitCond(t, 5*time.Second, "the replica to lead with its log open", func() bool { return p.IsLeader() })
	if p.LogStartOffset() != 4 || p.LogEndOffset() != 8 {
		t.Fatalf("opened log: start %d, end %d; want 4, 8", p.LogStartOffset(), p.LogEndOffset())
	}
	reg := protocol.NewRegistry()
	b.Register(reg)
	tb := &testBroker{t: t, Broker: b, reg: reg}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes, req.MaxWaitMillis = -1, 1<<20, 0
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "t", id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 4, 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := tb.call(req).(*kmsg.FetchResponse)
	got := resp.Topics[0].Partitions[0]
	if got.ErrorCode != 0 || got.LogStartOffset != 4 || got.HighWatermark != 4 {
		t.Fatalf("fetch at the log start: error %d, log start %d, high watermark %d; want 0, 4, 4", got.ErrorCode, got.LogStartOffset, got.HighWatermark)
	}
}
