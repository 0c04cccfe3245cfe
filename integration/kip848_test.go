package integration

// A KIP-848 consumer group (franz-go's next-gen consumer, the broker
// assigning) consuming under load while its coordinator is killed: the
// group's state moves with the leadership of its __consumer_offsets
// partition (the new coordinator replays the group's records), the
// members carry on with their epochs, no acknowledged record is lost,
// and no record is delivered to the group again once an offset past it
// was committed.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/wait"
)

// commitGuard records, per partition, the highest offset the group has
// committed (as the members saw their commits acknowledged), and every
// delivery of a record below it: a record handed out again after the
// group committed past it.
type commitGuard struct {
	mu         sync.Mutex
	committed  map[int32]int64
	seen       map[string]bool
	redelivery []string
}

func newCommitGuard() *commitGuard {
	return &commitGuard{committed: map[int32]int64{}, seen: map[string]bool{}}
}

// committedOK notes the partitions an OffsetCommit answer acknowledged.
func (g *commitGuard) committedOK(req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse) {
	want := map[int32]int64{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			want[p.Partition] = p.Offset
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode == 0 {
				g.committed[p.Partition] = max(g.committed[p.Partition], want[p.Partition])
			}
		}
	}
}

// delivered checks a record handed to a member.
func (g *commitGuard) delivered(member string, r *kgo.Record) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen[string(r.Value)] = true
	if c := g.committed[r.Partition]; r.Offset < c && len(g.redelivery) < 20 {
		g.redelivery = append(g.redelivery, fmt.Sprintf("%s got %d/%d after the group committed %d", member, r.Partition, r.Offset, c))
	}
}

// member848 is a next-gen group member polling in the background.
type member848 struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func startMember848(t *testing.T, c *cluster, topic, group, name string, guard *commitGuard) *member848 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ClientID(name),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(200*time.Millisecond),
		kgo.AutoCommitCallback(func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err == nil {
				guard.committedOK(req, resp)
			}
		}),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member848{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { guard.delivered(name, r) })
		}
	}()
	t.Cleanup(m.stop)
	return m
}

func (m *member848) stop() {
	select {
	case <-m.done:
		return
	default:
	}
	m.cancel()
	<-m.done
	m.cl.Close()
}

func TestConsumerGroupCoordinatorFailover(t *testing.T) {
	c := startCluster(t, 3, map[string]string{
		"group.consumer.min.heartbeat.interval.ms": "500", "group.consumer.heartbeat.interval.ms": "500",
		"group.consumer.min.session.timeout.ms": "6000", "group.consumer.session.timeout.ms": "20000",
	})
	topic, group := "kip848-load", "kip848-failover-group"
	c.createTopic(topic, 6, 3, map[string]*string{"min.insync.replicas": strp("2")})
	w := startWorkload(t, c, topic, 2)
	guard := newCommitGuard()
	members := []*member848{
		startMember848(t, c, topic, group, "m1", guard),
		startMember848(t, c, topic, group, "m2", guard),
		startMember848(t, c, topic, group, "m3", guard),
	}
	awaitStable848(t, c, group, 3)
	w.awaitMore(3000, 60*time.Second)

	// Kill the group's coordinator: the leader of its __consumer_offsets
	// partition.
	part := javaPartitionFor(group, 3)
	var ps map[int32]partitionState
	waitFor(t, "a leader for __consumer_offsets-"+fmt.Sprint(part), 30*time.Second, func() bool {
		var err error
		ps, err = c.describe("__consumer_offsets")
		return err == nil && ps[part].leader > 0
	})
	victim := ps[part].leader
	before := awaitStable848(t, c, group, 3)
	c.brokers[victim].Kill()
	t.Logf("killed broker %d, the coordinator of %s (group epoch %d)", victim, group, before.Epoch)
	waitFor(t, "a new coordinator", 30*time.Second, func() bool {
		ps, err := c.describe("__consumer_offsets")
		return err == nil && ps[part].leader > 0 && ps[part].leader != victim
	})
	w.awaitMore(3000, 90*time.Second)
	after := awaitStable848(t, c, group, 3)
	if after.Epoch < before.Epoch {
		t.Errorf("group epoch went from %d to %d across the failover", before.Epoch, after.Epoch)
	}
	// A member leaves and comes back meanwhile, so the moved group also
	// rebalances.
	members[2].stop()
	awaitStable848(t, c, group, 2)
	members[2] = startMember848(t, c, topic, group, "m3-again", guard)
	c.brokers[victim].Restart()
	c.awaitISR(topic, 3, 60*time.Second)
	awaitStable848(t, c, group, 3)
	w.awaitMore(2000, 60*time.Second)
	w.stop(30 * time.Second)
	checkHistory(t, c, w, 6)

	// Every acknowledged record reaches the group.
	w.mu.Lock()
	want := make([]string, 0, len(w.acked))
	for v := range w.acked {
		want = append(want, v)
	}
	w.mu.Unlock()
	missing := 0
	waitFor(t, "the group to consume every acknowledged record", 90*time.Second, func() bool {
		guard.mu.Lock()
		defer guard.mu.Unlock()
		missing = 0
		for _, v := range want {
			if !guard.seen[v] {
				missing++
			}
		}
		return missing == 0
	})
	for _, m := range members {
		m.stop()
	}
	guard.mu.Lock()
	defer guard.mu.Unlock()
	for _, r := range guard.redelivery {
		t.Errorf("delivered again after the commit: %s", r)
	}
	t.Logf("group: %d records consumed, committed %v", len(guard.seen), guard.committed)
}

func describeGroup848(ctx context.Context, adm *kadm.Client, group string) kadm.DescribedConsumerGroup {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d, err := adm.DescribeConsumerGroups(dctx, group)
	if err != nil {
		return kadm.DescribedConsumerGroup{Err: err}
	}
	return d[group]
}

// awaitStable848 waits until the consumer group is Stable with n members
// sharing the topic's partitions.
func awaitStable848(t *testing.T, c *cluster, group string, n int) kadm.DescribedConsumerGroup {
	t.Helper()
	var d kadm.DescribedConsumerGroup
	adm, closeAdm := c.admin()
	defer func() { closeAdm() }()
	ok := wait.Until(90*time.Second, func() bool {
		d = describeGroup848(context.Background(), adm, group)
		if d.Err != nil {
			// A client keeps asking a coordinator it cannot reach: start
			// afresh, as an operator would.
			closeAdm()
			adm, closeAdm = c.admin()
		}
		if d.Err != nil || d.State != "Stable" || len(d.Members) != n {
			return false
		}
		for _, m := range d.Members {
			if len(m.Assignment) == 0 {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("timed out after 90s waiting for consumer group %s Stable with %d members; last: state %s epoch %d/%d err %v members %+v",
			group, n, d.State, d.Epoch, d.AssignmentEpoch, d.Err, d.Members)
	}
	return d
}
