package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A follower that stops with a controlled shutdown leaves the ISR of the
// partitions it follows; the leader must then stop waiting for it. It
// had fetched everything a moment before, and its broker stays
// registered until it exits: the leader took it for a follower about to
// join the ISR (Kafka's shouldWaitForReplicaToJoinIsr) and held the high
// watermark at what it had, so an acks=all produce made as it stopped
// waited until another append moved the high watermark, with one
// producer sending one record at a time, until the request timed out.
// Kafka 4 does not let a broker in controlled shutdown hold it.
func TestFollowerControlledShutdownReleasesHighWatermark(t *testing.T) {
	c := startCluster(t, 2, map[string]string{"auto.leader.rebalance.enable": "false"})
	defer c.dumpLogs()
	topic := "hw-follower-shutdown"
	c.createAssigned(topic, [][]int32{{1, 2}})
	c.awaitISR(topic, 2, 30*time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[1].Addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProduceRequestTimeout(20*time.Second), kgo.RecordDeliveryTimeout(25*time.Second))
	if err != nil {
		t.Fatal(err)
	}

	// One producer, one record at a time, as a synchronous caller does.
	var (
		mu      sync.Mutex
		sent    int
		slowest time.Duration
		errs    []error
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			start := time.Now()
			pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
			err := cl.ProduceSync(pctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr()
			pcancel()
			took := time.Since(start)
			mu.Lock()
			if err != nil && ctx.Err() == nil {
				errs = append(errs, err)
			}
			sent++
			slowest = max(slowest, took)
			mu.Unlock()
		}
	}()
	defer func() {
		cancel()
		cl.Close() // fails the record in flight, if any
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the producer did not stop within 30s of the client closing")
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return sent }
	waitFor(t, "50 acknowledged records before broker 2 stops", 30*time.Second, func() bool { return count() >= 50 })

	c.brokers[2].Stop()
	after := count()
	waitFor(t, fmt.Sprintf("50 more acknowledged records after broker 2 stopped (at %d: a produce waits for the stopped follower)", after),
		15*time.Second, func() bool { return count() >= after+50 })
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Errorf("produce errors: %v", errs)
	}
	// replica.lag.time.max.ms is 3 s here; the handover takes well under.
	if slowest > 2500*time.Millisecond {
		t.Errorf("the slowest acks=all produce took %v: the leader waited for the stopped follower", slowest)
	}
}
