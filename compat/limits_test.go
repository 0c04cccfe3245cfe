package compat

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

// Limits set in server.properties hold as in Kafka, on one broker started
// with them:
//   - offset.metadata.max.bytes bounds the metadata string of a committed
//     offset, in Java characters (UTF-16 units): one over is refused with
//     OFFSET_METADATA_TOO_LARGE, and at the bound it is kept;
//   - max.request.partition.size.limit bounds the partitions one
//     DescribeTopicPartitions response lists, whatever the request asks;
//     the cursor names where the next one starts;
//   - transaction.state.log.segment.bytes is __transaction_state's
//     segment.bytes when the first transactional producer makes it.
func TestConfiguredLimits(t *testing.T) {
	if !usingGregor() {
		t.Skip("starts its own broker with static configs")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{
		"offset.metadata.max.bytes":           "16",
		"max.request.partition.size.limit":    "3",
		"transaction.state.log.segment.bytes": "5000000",
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 5, 1, nil, "omd"); err != nil {
		t.Fatal(err)
	}
	t.Run("offset.metadata.max.bytes", func(t *testing.T) {
		commit := func(meta string) error {
			var offs kadm.Offsets
			offs.Add(kadm.Offset{Topic: "omd", Partition: 0, At: 1, LeaderEpoch: -1, Metadata: meta})
			resp, err := adm.CommitOffsets(ctx, "omd-group", offs)
			if err != nil {
				return err
			}
			return resp.Error()
		}
		if err := commit(strings.Repeat("m", 17)); !errors.Is(err, kerr.OffsetMetadataTooLarge) {
			t.Fatalf("committing 17 bytes of metadata: %v, want OFFSET_METADATA_TOO_LARGE", err)
		}
		// Kafka counts the string's characters (Java's length), not its
		// UTF-8 bytes: 16 "é" (32 bytes) fit, 16 "😀" (32 UTF-16 units)
		// do not.
		if err := commit(strings.Repeat("é", 16)); err != nil {
			t.Fatalf("committing 16 two-byte characters of metadata: %v", err)
		}
		if err := commit(strings.Repeat("😀", 16)); !errors.Is(err, kerr.OffsetMetadataTooLarge) {
			t.Fatalf("committing 16 characters outside the BMP (32 UTF-16 units): %v, want OFFSET_METADATA_TOO_LARGE", err)
		}
		if err := commit(strings.Repeat("m", 16)); err != nil {
			t.Fatalf("committing 16 bytes of metadata: %v", err)
		}
		fetched, err := adm.FetchOffsets(ctx, "omd-group")
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := fetched.Lookup("omd", 0); !ok || o.Metadata != strings.Repeat("m", 16) || o.At != 1 {
			t.Fatalf("fetched %+v, want offset 1 with the 16 bytes of metadata", o)
		}
	})
	t.Run("max.request.partition.size.limit", func(t *testing.T) {
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		req.ResponsePartitionLimit = 100
		req.Topics = append(req.Topics, kmsg.DescribeTopicPartitionsRequestTopic{Topic: "omd"})
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 3 || resp.NextCursor == nil ||
			resp.NextCursor.Topic != "omd" || resp.NextCursor.Partition != 3 {
			t.Fatalf("a describe asking for 100 partitions got %d topics, %d partitions, cursor %+v; want 3 partitions and a cursor at omd-3",
				len(resp.Topics), len(resp.Topics[0].Partitions), resp.NextCursor)
		}
	})
	t.Run("transaction.state.log.segment.bytes", func(t *testing.T) {
		txn, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.TransactionalID("limits-txn"))
		if err != nil {
			t.Fatal(err)
		}
		defer txn.Close()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := txn.ProduceSync(ctx, &kgo.Record{Topic: "omd", Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
		rcs, err := adm.DescribeTopicConfigs(ctx, "__transaction_state")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("__transaction_state", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range rc.Configs {
			if c.Key == "segment.bytes" {
				if c.Value == nil || *c.Value != "5000000" {
					t.Fatalf("__transaction_state segment.bytes = %v, want 5000000", c.MaybeValue())
				}
				return
			}
		}
		t.Fatal("__transaction_state describes no segment.bytes")
	})
}

// A produce that would not fit in one segment of its partition is refused
// with RECORD_LIST_TOO_LARGE, as Kafka's log refuses it (segment.bytes
// bounds what one append writes); Gregor once wrote it as a segment of
// its own, larger than the topic allows.
func TestProduceLargerThanSegmentRefused(t *testing.T) {
	cl, _, _, ctx := topicClient(t, "small-segments", map[string]*string{"internal.segment.bytes": kmsg.StringPtr("100")},
		kgo.RecordRetries(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 200)}).FirstErr()
	if !errors.Is(err, kerr.RecordListTooLarge) {
		t.Fatalf("a 200-byte record to a topic of 100-byte segments: %v, want RECORD_LIST_TOO_LARGE", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 10)}).FirstErr(); err != nil {
		t.Fatalf("a record that fits: %v", err)
	}
}

// A produce refused for its sequence answers with the partition's log
// start offset, as Kafka's processFailedRecord does (Gregor answered -1):
// a producer told OUT_OF_ORDER_SEQUENCE_NUMBER compares it with what it
// last wrote to see whether retention removed its state, and then resets
// its sequence instead of failing (franz-go and the Java client do).
func TestProduceErrorCarriesLogStartOffset(t *testing.T) {
	addr := bootstrap(t)
	cl, adm, topic, ctx := topicClient(t, "start-offset", nil)
	ireq := kmsg.NewPtrInitProducerIDRequest()
	ireq.ProducerID, ireq.ProducerEpoch = -1, -1
	iresp, err := ireq.RequestWith(ctx, cl)
	if err != nil || iresp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %v", err, iresp)
	}
	pid := iresp.ProducerID
	// Sent to the partition's leader (on a cluster, not every broker is).
	var leaderID int32 = -1
	waitFor(t, "a leader for "+topic, 15*time.Second, func() bool {
		md, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return false
		}
		p, ok := md[topic].Partitions[0]
		leaderID = p.Leader
		return ok && p.Err == nil && p.Leader >= 0
	})
	leader := pinnedProduce(t, addr).Broker(int(leaderID))
	produce := func(seq int32, values ...string) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = tcBatch(pid, 0, seq, values...)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		raw, err := leader.Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return raw.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	}
	// On a cluster the leader named in another broker's metadata may
	// learn of its leadership a moment later: retried, as a client would.
	var first int16
	waitFor(t, "the leader to accept the first batch", 15*time.Second, func() bool {
		first = produce(0, "a", "b", "c").ErrorCode
		return first != kerr.NotLeaderForPartition.Code && first != kerr.UnknownTopicOrPartition.Code
	})
	if first != 0 {
		t.Fatalf("first batch: %v", kerr.ErrorForCode(first))
	}
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 2})
	if _, err := adm.DeleteRecords(ctx, os); err != nil {
		t.Fatal(err)
	}
	sp := produce(7, "gap")
	if sp.ErrorCode != kerr.OutOfOrderSequenceNumber.Code || sp.LogStartOffset != 2 {
		t.Fatalf("a batch with a sequence gap: %v with log start offset %d, want OUT_OF_ORDER_SEQUENCE_NUMBER and 2", kerr.ErrorForCode(sp.ErrorCode), sp.LogStartOffset)
	}
}

// pinnedProduce is a client on addr that sends Produce v12 at most (by
// topic name, not id).
func pinnedProduce(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl := pinnedClient(t, addr, 0, 12)
	t.Cleanup(cl.Close)
	return cl
}
