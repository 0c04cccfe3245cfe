package integration

// A share group consumes while the leader of its partition is killed: no
// record whose acknowledgement the broker confirmed is delivered again,
// and every record is delivered.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// shareHistory is what a share consumer saw: deliveries and confirmed
// acknowledgements, in order.
type shareHistory struct {
	mu        sync.Mutex
	delivered map[int64]int
	confirmed map[int64]bool
	// redelivered lists offsets delivered after their acceptance was
	// confirmed.
	redelivered []int64
	firstAgain  string
	// failed is set when an acknowledgement failed since the last flush.
	failed bool
}

func (h *shareHistory) deliver(rs []*kgo.Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range rs {
		if h.confirmed[r.Offset] {
			h.redelivered = append(h.redelivered, r.Offset)
			if len(h.redelivered) == 1 {
				h.firstAgain = fmt.Sprintf("offset %d delivered again at %s with delivery count %d (first delivered %d times before)",
					r.Offset, time.Now().Format("15:04:05.000"), r.DeliveryCount(), h.delivered[r.Offset])
			}
		}
		h.delivered[r.Offset]++
	}
}

// acked notes the broker's answers to acknowledgements: a failure keeps
// the records of the current flush from being confirmed.
func (h *shareHistory) acked(rs kgo.ShareAckResults) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if rs.Error() != nil {
		h.failed = true
	}
}

// flushed confirms records whose acceptance was flushed with no failure.
func (h *shareHistory) flushed(rs []*kgo.Record, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil && !h.failed {
		for _, r := range rs {
			h.confirmed[r.Offset] = true
		}
	}
	h.failed = false
}

func (h *shareHistory) counts() (delivered, confirmed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.delivered), len(h.confirmed)
}

// setGroupConfig sets a group config through one broker; the metadata
// backend (ZooKeeper) carries it to the others.
func (c *cluster) setGroupConfig(cl *kgo.Client, group, key, value string) {
	c.t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceType(32), group
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Name, cfg.Value = key, kmsg.StringPtr(value)
	rr.Configs = append(rr.Configs, cfg)
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(context.Background(), cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.Resources[0].ErrorCode)
	}
	if err != nil {
		c.t.Fatalf("setting %s=%s of group %s: %v", key, value, group, err)
	}
}

func TestShareGroupSurvivesLeaderKill(t *testing.T) {
	c := startCluster(t, 3, map[string]string{
		"share.coordinator.state.topic.num.partitions":     "3",
		"share.coordinator.state.topic.replication.factor": "3",
		"group.share.min.heartbeat.interval.ms":            "500",
		"group.share.heartbeat.interval.ms":                "500",
		"group.share.min.session.timeout.ms":               "6000",
		"group.share.session.timeout.ms":                   "6000",
		"group.share.min.record.lock.duration.ms":          "1000",
		"group.share.record.lock.duration.ms":              "5000",
	})
	topic, group := "share-failover", "sg-failover"
	c.createTopic(topic, 1, 3, nil)
	const n = 3000
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < n; i++ {
		cl.Produce(context.Background(), &kgo.Record{Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := cl.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.setGroupConfig(cl, group, "share.auto.offset.reset", "earliest")

	h := &shareHistory{delivered: map[int64]int{}, confirmed: map[int64]bool{}}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ShareGroup(group), kgo.ConsumeTopics(topic),
		kgo.FetchMaxWait(500*time.Millisecond), kgo.ShareMaxRecords(50),
		kgo.ShareAckCallback(func(_ *kgo.Client, rs kgo.ShareAckResults) { h.acked(rs) }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			rs := consumer.PollFetches(pctx).Records()
			pcancel()
			h.deliver(rs)
			consumer.MarkAcks(kgo.AckAccept, rs...)
			fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
			h.flushed(rs, consumer.FlushAcks(fctx))
			fcancel()
		}
	}()
	defer func() {
		cancel()
		<-done
		consumer.Close()
	}()

	waitFor(t, "a third of the records accepted before the leader is killed", 90*time.Second, func() bool {
		_, confirmed := h.counts()
		return confirmed >= n/3
	})
	leader := c.leaderOf(topic, 0)
	killedAt := time.Now()
	c.brokers[leader].Kill()
	waitFor(t, "a new leader of the share partition", 60*time.Second, func() bool {
		l := c.leaderOf(topic, 0)
		return l >= 0 && l != leader
	})
	c.brokers[leader].Restart()
	waitFor(t, "every record delivered after the leader was killed", 3*time.Minute, func() bool {
		delivered, _ := h.counts()
		return delivered == n
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.redelivered) > 0 {
		t.Fatalf("%d records delivered again after their acceptance was confirmed (killed broker %d at %s): %s",
			len(h.redelivered), leader, killedAt.Format("15:04:05.000"), h.firstAgain)
	}
	t.Logf("%d records delivered, %d acceptances confirmed, killed leader %d", len(h.delivered), len(h.confirmed), leader)
}
