package integration

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// An acks=all produce larger than queued.max.request.bytes kept its
// reservation while it waited for the follower, so the leader did not
// read the follower's next fetch (the one that moves the high watermark):
// the produce waited until the follower, its fetches unread, was dropped
// from the ISR (replica.lag.time.max.ms), and was then acknowledged by the
// leader alone. As in Kafka (KafkaRequestHandler returns a request's buffer to
// the memory pool once handled), a produce waiting for the ISR holds none
// of the budget, and is answered as soon as the follower has the records.
func TestAcksAllNotStuckBehindQueuedBudget(t *testing.T) {
	c := startCluster(t, 2, map[string]string{"queued.max.request.bytes": "1048576"})
	topic := "acks-all-queued-budget"
	c.createTopic(topic, 1, 2, map[string]*string{"max.message.bytes": strp("4194304")})
	c.awaitISR(topic, 2, 30*time.Second)
	leader := c.leaderOf(topic, 0)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[leader].Addr), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(4<<20),
		kgo.ProduceRequestTimeout(5*time.Second), kgo.RecordRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	value := make([]byte, 3<<19) // 1.5 MiB, over the limit
	rand.Read(value)
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		start := time.Now()
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: value}).FirstErr()
		cancel()
		if err != nil {
			t.Fatalf("acks=all produce %d of %d bytes with queued.max.request.bytes=1048576: %v after %v", i, len(value), err, time.Since(start).Round(time.Millisecond))
		}
		if took := time.Since(start); took > 4*time.Second {
			t.Errorf("acks=all produce %d answered after %v, want well within the request timeout (5 s)", i, took.Round(time.Millisecond))
		}
		// The follower was read all along: it never left the ISR.
		if ps, err := c.describe(topic); err != nil || len(ps[0].isr) != 2 {
			t.Fatalf("after acks=all produce %d: ISR %v (%v), want both replicas", i, ps[0].isr, err)
		}
	}
}
