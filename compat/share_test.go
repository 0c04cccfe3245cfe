package compat

// KIP-932 share groups with franz-go's share consumer (kgo.ShareGroup):
// one or several consumers on one partition get every record exactly once
// when they accept them all; a released record comes back with a higher
// delivery count, a rejected one never; a record not acknowledged within
// the group's lock duration is delivered again.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/wait"
)

// shareBound bounds a share-group wait: joining takes a few heartbeats.
const shareBound = 60 * time.Second

// setGroupConfig sets a group config (resource type GROUP) with
// IncrementalAlterConfigs.
func setGroupConfig(t *testing.T, addr, group string, kv ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceType(32), group
	for i := 0; i+1 < len(kv); i += 2 {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = kv[i], kmsg.StringPtr(kv[i+1])
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		t.Fatalf("setting group configs %v of %s: %v", kv, group, err)
	}
}

// shareTopic creates a one-partition topic and a share group reading it
// from the earliest record.
func shareTopic(t *testing.T, addr string) (topic, group string) {
	t.Helper()
	topic, group = randomName("share"), randomName("sg")
	createTopic(t, addr, topic, 1)
	setGroupConfig(t, addr, group, "share.auto.offset.reset", "earliest")
	return topic, group
}

// shareConsumer is a franz-go share consumer.
func shareConsumer(t *testing.T, addr, group, topic string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(500 * time.Millisecond)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// poll polls once for at most d.
func poll(cl *kgo.Client, d time.Duration) []*kgo.Record {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	fs := cl.PollFetches(ctx)
	return fs.Records()
}

func testShareExactlyOnce(t *testing.T, consumers int) {
	addr := bootstrap(t)
	topic, group := shareTopic(t, addr)
	const n = 300
	values := make([]string, n)
	for i := range values {
		values[i] = fmt.Sprintf("v%03d", i)
	}
	produceValues(t, addr, topic, values)
	var mu sync.Mutex
	seen := map[string]int{}
	total := 0
	ctx, cancel := context.WithTimeout(context.Background(), shareBound)
	defer cancel()
	var wg sync.WaitGroup
	for c := 0; c < consumers; c++ {
		cl := shareConsumer(t, addr, group, topic, kgo.ShareMaxRecords(20))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				rs := poll(cl, time.Second)
				cl.MarkAcks(kgo.AckAccept, rs...)
				mu.Lock()
				for _, r := range rs {
					seen[string(r.Value)]++
					total++
				}
				done := len(seen) == n
				mu.Unlock()
				if done {
					cancel()
				}
			}
			fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer fcancel()
			if err := cl.FlushAcks(fctx); err != nil {
				t.Errorf("flushing acknowledgements: %v", err)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Fatalf("%d consumers got %d of %d records within %v", consumers, len(seen), n, shareBound)
	}
	for v, k := range seen {
		if k != 1 {
			t.Errorf("record %s delivered %d times", v, k)
		}
	}
}

func TestShareGroupOneConsumerGetsEachRecordOnce(t *testing.T) { testShareExactlyOnce(t, 1) }

func TestShareGroupThreeConsumersGetEachRecordOnce(t *testing.T) { testShareExactlyOnce(t, 3) }

// pollUntil polls until want says yes, for at most shareBound.
func pollUntil(t *testing.T, cl *kgo.Client, what string, want func(*kgo.Record) bool) *kgo.Record {
	t.Helper()
	var got *kgo.Record
	wait.For(t, what, shareBound, func() bool {
		for _, r := range poll(cl, time.Second) {
			if got == nil && want(r) {
				got = r
			} else {
				r.Ack(kgo.AckAccept)
			}
		}
		return got != nil
	})
	return got
}

func TestShareGroupReleasedRecordRedelivered(t *testing.T) {
	addr := bootstrap(t)
	topic, group := shareTopic(t, addr)
	produceValues(t, addr, topic, []string{"released"})
	cl := shareConsumer(t, addr, group, topic)
	r := pollUntil(t, cl, "the first delivery", func(r *kgo.Record) bool { return string(r.Value) == "released" })
	if r.DeliveryCount() != 1 {
		t.Fatalf("first delivery count %d, want 1", r.DeliveryCount())
	}
	r.Ack(kgo.AckRelease)
	r2 := pollUntil(t, cl, "the released record again", func(r *kgo.Record) bool { return string(r.Value) == "released" })
	if r2.DeliveryCount() != 2 || r2.Offset != r.Offset {
		t.Fatalf("redelivered offset %d count %d, want offset %d count 2", r2.Offset, r2.DeliveryCount(), r.Offset)
	}
	r2.Ack(kgo.AckAccept)
}

func TestShareGroupRejectedRecordNotRedelivered(t *testing.T) {
	addr := bootstrap(t)
	topic, group := shareTopic(t, addr)
	produceValues(t, addr, topic, []string{"rejected"})
	cl := shareConsumer(t, addr, group, topic)
	r := pollUntil(t, cl, "the record to reject", func(r *kgo.Record) bool { return string(r.Value) == "rejected" })
	r.Ack(kgo.AckReject)
	if err := cl.FlushAcks(context.Background()); err != nil {
		t.Fatalf("flushing the rejection: %v", err)
	}
	produceValues(t, addr, topic, []string{"after"})
	pollUntil(t, cl, "the record after the rejected one", func(r *kgo.Record) bool {
		if string(r.Value) == "rejected" {
			t.Errorf("rejected record delivered again (count %d)", r.DeliveryCount())
		}
		return string(r.Value) == "after"
	})
}

func TestShareGroupUnacknowledgedRecordRedeliveredAfterLock(t *testing.T) {
	addr := bootstrap(t)
	topic, group := shareTopic(t, addr)
	setGroupConfig(t, addr, group, "share.record.lock.duration.ms", "2000")
	produceValues(t, addr, topic, []string{"held"})
	holder := shareConsumer(t, addr, group, topic)
	r := pollUntil(t, holder, "the record to hold", func(r *kgo.Record) bool { return string(r.Value) == "held" })
	// holder neither acknowledges nor polls again: its lock expires.
	other := shareConsumer(t, addr, group, topic)
	r2 := pollUntil(t, other, "the held record after its lock expired", func(r *kgo.Record) bool { return string(r.Value) == "held" })
	if r2.DeliveryCount() < 2 || r2.Offset != r.Offset {
		t.Fatalf("redelivered offset %d count %d, want offset %d count >= 2", r2.Offset, r2.DeliveryCount(), r.Offset)
	}
}

func TestShareGroupReadCommittedSkipsAborted(t *testing.T) {
	addr := bootstrap(t)
	topic, group := shareTopic(t, addr)
	setGroupConfig(t, addr, group, "share.isolation.level", "read_committed")
	p := txnProducer(t, addr, topic, randomName("share-txn"))
	ctx := context.Background()
	if err := produceTxn(ctx, p, false, "aborted-1", "aborted-2"); err != nil {
		t.Fatal(err)
	}
	if err := produceTxn(ctx, p, true, "committed-1", "committed-2"); err != nil {
		t.Fatal(err)
	}
	cl := shareConsumer(t, addr, group, topic)
	var got []string
	wait.For(t, "the two committed records", shareBound, func() bool {
		for _, r := range poll(cl, time.Second) {
			got = append(got, string(r.Value))
			r.Ack(kgo.AckAccept)
		}
		return len(got) >= 2
	})
	if len(got) != 2 || got[0] != "committed-1" || got[1] != "committed-2" {
		t.Fatalf("read_committed share consumer got %v, want only the committed records", got)
	}
}
