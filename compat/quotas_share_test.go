package compat

// consumer_byte_rate holds share consumers (KIP-932) too: Kafka's
// handleShareFetchRequest caps a ShareFetch at the quota's windows and
// counts its response in the same usage as fetches.

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestShareConsumerHeldToByteRate: a share consumer reading 300 KB under
// a 20 KB/s consumer_byte_rate gets its first ten windows' worth (200 KB)
// at once, as a consumer's fetch does, and is then throttled: its rate,
// measured over ten windows or more, may not pass the quota, so the rest
// comes only once the windows have moved on, about ten seconds later.
// Unthrottled it reads everything in well under a second. Every record is
// delivered once.
func TestShareConsumerHeldToByteRate(t *testing.T) {
	addr := bootstrap(t)
	topic, group := shareTopic(t, addr)
	client := randomName("throttled-share")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(16<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	value := make([]byte, 1000)
	const n = 300
	for range n {
		p.Produce(ctx, &kgo.Record{Value: value}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	const quota = 20 << 10 // bytes per second
	setQuotaInForce(t, addr, clientEntity(client), kadm.AlterClientQuotaOp{Key: "consumer_byte_rate", Value: quota})
	var throttles atomic.Int64
	c := shareConsumer(t, addr, group, topic, kgo.ClientID(client),
		kgo.WithHooks(throttleHook(func(time.Duration) { throttles.Add(1) })))
	seen := map[int64]bool{}
	redelivered := 0
	var first, last time.Time
	for len(seen) < n && ctx.Err() == nil {
		rs := poll(c, time.Second)
		c.MarkAcks(kgo.AckAccept, rs...)
		for _, r := range rs {
			if first.IsZero() {
				first = time.Now()
			}
			seen[r.Offset] = true
			if r.DeliveryCount() != 1 {
				redelivered++
			}
			last = time.Now()
		}
	}
	if len(seen) < n {
		t.Fatalf("the share consumer got %d of %d records within the test's 90 s", len(seen), n)
	}
	took := last.Sub(first)
	bytes := float64(n * len(value))
	t.Logf("read %.0f KB in %v under %d KB/s; %d throttled responses", bytes/1024, took, quota>>10, throttles.Load())
	if throttles.Load() == 0 {
		t.Error("no response carried throttle_time_ms > 0")
	}
	// A throttled share fetch acquires nothing (Kafka's acquires and
	// drops the records, to be delivered again once their lock expires).
	if redelivered > 0 {
		t.Errorf("%d records came with a delivery count above 1", redelivered)
	}
	// Half of those ten seconds is a bound no load on the machine makes
	// us miss.
	if want := 5 * time.Second; took < want {
		t.Errorf("read %.0f KB in %v under %d KB/s: faster than the quota allows (at least %v)", bytes/1024, took, quota>>10, want)
	}
}
