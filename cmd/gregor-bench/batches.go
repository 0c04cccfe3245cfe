package main

// The batch-level produce scenario: the same 100 B acks=1 load as
// produce-100b-1, but with the record batches encoded once up front and
// sent through kgo's request API, so that the client's per-record work
// (about 0.6 ms of CPU per thousand 100 B records, four times what the
// broker spends) no longer decides the rate on two shared cores. What is
// left to the client per request is the copy of one batch into its
// write buffer and a write; the rate is then the broker's.

import (
	"context"
	"crypto/rand"
	"fmt"
	"hash/crc32"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Batches of 5,000 records: about what kgo's producer builds in the
// produce-100b-1 scenario (its rec/batch column), well under the
// default max.message.bytes.
const (
	batchRecords = 5000
	// Requests in flight at once: two per partition of the 3-partition
	// topic, each partition's over a connection of its own (a broker
	// answers one connection's requests in order, one at a time, as
	// Kafka does: one connection would measure its latency, not its
	// throughput).
	batchesInFlight = 6
)

// recordBatch encodes n records of value as one uncompressed v2 batch
// without a producer id (a plain acks=1 producer's), CRC included.
func recordBatch(value []byte, n int) []byte {
	now := time.Now().UnixMilli()
	var records []byte
	for i := 0; i < n; i++ {
		r := kmsg.NewRecord()
		r.OffsetDelta = int32(i)
		r.Value = value
		r.Key = nil
		// Length counts the bytes after it: encode once to learn them.
		body := r.AppendTo(nil)
		r.Length = int32(len(body) - varintLen(r.Length))
		records = r.AppendTo(records)
	}
	b := kmsg.NewRecordBatch()
	b.Magic = 2
	b.LastOffsetDelta = int32(n - 1)
	b.FirstTimestamp, b.MaxTimestamp = now, now
	b.ProducerID, b.ProducerEpoch, b.FirstSequence = -1, -1, -1
	b.NumRecords = int32(n)
	b.Records = records
	enc := b.AppendTo(nil)
	// Length: the bytes after the offset (8) and length (4) fields.
	b.Length = int32(len(enc) - 12)
	enc = b.AppendTo(enc[:0])
	// CRC-32C of everything after the CRC field (offset 21).
	b.CRC = int32(crc32.Checksum(enc[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b.AppendTo(enc[:0])
}

// varintLen is the size of v as a zigzag varint (for Length 0: 1 byte).
func varintLen(v int32) int {
	u := uint32(v<<1) ^ uint32(v>>31)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// produceBatches sends pre-encoded batches of 100 B records with acks=1
// for d and reports the acknowledged throughput.
func produceBatches(ctx context.Context, addr string, d time.Duration) ([]metric, error) {
	const size = 100
	topic, err := newTopic(ctx, addr, 3)
	if err != nil {
		return nil, err
	}
	defer dropTopic(addr, topic)
	clients := make([]*kgo.Client, 3)
	for i := range clients {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		clients[i] = cl
	}
	leaders, topicID, err := partitionLeaders(ctx, clients[0], topic)
	if err != nil {
		return nil, err
	}
	if len(leaders) != len(clients) {
		return nil, fmt.Errorf("%s has %d partitions, want %d", topic, len(leaders), len(clients))
	}
	value := make([]byte, size)
	rand.Read(value)
	batch := recordBatch(value, batchRecords)

	send := func(ctx context.Context, p int32) (int64, error) {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = 1, 30000
		rt := kmsg.NewProduceRequestTopic()
		// Produce v13 names topics by id (KIP-516), older versions by name.
		rt.Topic, rt.TopicID = topic, topicID
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, clients[p].Broker(int(leaders[p])))
		if err != nil {
			return 0, err
		}
		for _, t := range resp.Topics {
			for _, rp := range t.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return 0, fmt.Errorf("partition %d: %w", rp.Partition, err)
				}
			}
		}
		return batchRecords, nil
	}
	// Warm up: the connection and the partitions.
	for p := range leaders {
		if _, err := send(ctx, p); err != nil {
			return nil, err
		}
	}
	var acked, requests atomic.Int64
	var firstErr atomic.Value
	cpu := startCPU(ctx)
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for i := 0; i < batchesInFlight; i++ {
		p := int32(i % len(leaders))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				n, err := send(ctx, p)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				acked.Add(n)
				requests.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	if e := firstErr.Load(); e != nil {
		return nil, e.(error)
	}
	n := float64(acked.Load())
	return append(append([]metric{
		{"records/s", n / el, "rec/s", true},
		{"MB/s", n * float64(size) / el / 1e6, "MB/s", true},
	}, cpu.metrics(n, size)...), metric{"rec/batch", batchRecords, "", true}), nil
}

// partitionLeaders returns the leader of each partition of topic, and
// the topic's id.
func partitionLeaders(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int32, [16]byte, error) {
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		return nil, [16]byte{}, err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return nil, [16]byte{}, fmt.Errorf("metadata of %s: %v", topic, td.Err)
	}
	leaders := make(map[int32]int32, len(td.Partitions))
	for p, pd := range td.Partitions {
		if pd.Err != nil {
			return nil, [16]byte{}, fmt.Errorf("partition %d of %s: %w", p, topic, pd.Err)
		}
		leaders[p] = pd.Leader
	}
	return leaders, td.ID, nil
}
