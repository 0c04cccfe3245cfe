package integration

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// acks=all produces that together filled queued.max.request.bytes kept
// their reservations while they waited for the follower, so the leader
// did not read the follower's next fetch (the one that moves the high
// watermark): they waited until the follower, its fetches unread, was
// dropped from the ISR (replica.lag.time.max.ms), and were then
// acknowledged by the leader alone. As in Kafka (KafkaRequestHandler
// returns a request's buffer to the memory pool once handled), a produce
// waiting for the ISR holds none of the budget, and is answered as soon as
// the follower has the records.
func TestAcksAllNotStuckBehindQueuedBudget(t *testing.T) {
	const limit = 1 << 20
	c := startCluster(t, 2, map[string]string{"queued.max.request.bytes": "1048576", "socket.request.max.bytes": "1048576"})
	topic := "acks-all-queued-budget"
	c.createTopic(topic, 1, 2, nil)
	c.awaitISR(topic, 2, 30*time.Second)
	leader := c.leaderOf(topic, 0)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[leader].Addr), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(700<<10),
		kgo.ProducerLinger(0), kgo.MaxProduceRequestsInflightPerBroker(5), kgo.DisableIdempotentWrite(),
		kgo.ProduceRequestTimeout(5*time.Second), kgo.RecordRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	value := make([]byte, 600<<10) // two in flight hold more than the limit
	rand.Read(value)
	for round := 0; round < 3; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: value}, func(_ *kgo.Record, err error) {
				errs[i] = err
				wg.Done()
			})
		}
		wg.Wait()
		cancel()
		took := time.Since(start)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: acks=all produce %d of %d bytes (queued.max.request.bytes=%d): %v after %v", round, i, len(value), limit, err, took.Round(time.Millisecond))
			}
		}
		if took > 2*time.Second {
			t.Errorf("round %d: 4 acks=all produces answered after %v, want well within replica.lag.time.max.ms (3 s)", round, took.Round(time.Millisecond))
		}
		// The follower was read all along: it never left the ISR.
		if ps, err := c.describe(topic); err != nil || len(ps[0].isr) != 2 {
			t.Fatalf("after round %d: ISR %v (%v), want both replicas", round, ps[0].isr, err)
		}
	}
}
