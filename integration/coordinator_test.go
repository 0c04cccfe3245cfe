package integration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// javaPartitionFor is Kafka's group partition: abs(String.hashCode) % n
// (ASCII group names only).
func javaPartitionFor(id string, n int32) int32 {
	var h int32
	for _, r := range id {
		h = 31*h + int32(r)
	}
	if h < 0 {
		h = -h
	}
	return h % n
}

// heartbeatWatch is a kgo hook recording a client's slowest Heartbeat
// round trip since reset.
type heartbeatWatch struct {
	mu      sync.Mutex
	slowest time.Duration
}

func (w *heartbeatWatch) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if key != 12 || e2e.Err() != nil || e2e.BytesRead == 0 {
		return
	}
	w.mu.Lock()
	w.slowest = max(w.slowest, e2e.DurationE2E())
	w.mu.Unlock()
}

func (w *heartbeatWatch) reset() { w.mu.Lock(); w.slowest = 0; w.mu.Unlock() }

func (w *heartbeatWatch) get() time.Duration { w.mu.Lock(); defer w.mu.Unlock(); return w.slowest }

// groupMember is a kgo group consumer polling in the background.
type groupMember struct {
	cl      *kgo.Client
	watch   *heartbeatWatch
	firstID string
	lost    chan struct{} // closed if the member was expelled
	stop    chan struct{}
	done    chan struct{}
}

func (m *groupMember) poll(ctx context.Context) {
	defer close(m.done)
	for {
		select {
		case <-m.stop:
			return
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		m.cl.PollFetches(pctx)
		cancel()
	}
}

// The follower of a group's __consumer_offsets partition is paused while
// the group rebalances and commits. Nothing locks the group while its
// records wait for that follower: the other members' heartbeats are
// answered within their interval and no member is expelled; commits
// complete once the ISR drops the follower or it resumes.
func TestGroupSurvivesPausedOffsetsFollower(t *testing.T) {
	// The follower leaves the ISR by lag (8 s), before ZooKeeper notices
	// it (12 s). The members' sessions (30 s) outlast what the clients
	// themselves lose to the paused broker (a lookup sent to it waits for
	// its timeout); what is measured is how long the coordinator takes to
	// answer heartbeats while records wait for the follower.
	c := startCluster(t, 3, map[string]string{"replica.lag.time.max.ms": "8000", "zookeeper.session.timeout.ms": "12000"})
	topic, group := "paused-follower", "paused-follower-group"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm, closeAdm := c.admin()
	defer closeAdm()

	// Find the group's coordinator (creating __consumer_offsets) and a
	// follower of its partition to pause; the data topic stays off that
	// follower, so that only the group's records wait for it.
	part := javaPartitionFor(group, 3)
	var ps map[int32]partitionState
	waitFor(t, "__consumer_offsets-"+fmt.Sprint(part)+" with three in-sync replicas", 30*time.Second, func() bool {
		adm.FindGroupCoordinators(ctx, group)
		var err error
		ps, err = c.describe("__consumer_offsets")
		return err == nil && len(ps[part].isr) == 3
	})
	coordinator, victim := ps[part].leader, int32(-1)
	for _, id := range ps[part].isr {
		if id != coordinator {
			victim = id
			break
		}
	}
	var others []int32
	for id := range c.brokers {
		if id != victim {
			others = append(others, id)
		}
	}
	c.createAssigned(topic, [][]int32{others, {others[1], others[0]}})
	produce(t, c, topic, 300)

	newMember := func(name string) *groupMember {
		m := &groupMember{watch: &heartbeatWatch{}, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
		var once sync.Once
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.ClientID(name),
			// A lookup the client happens to send to the paused broker
			// hangs until the request timeout overhead passes (kgo's
			// default 10 s; 6 s still exceeds the 5 s a commit may wait
			// at the coordinator). A commit answered
			// COORDINATOR_NOT_AVAILABLE (its wait for the paused
			// follower timed out, as in Kafka) sends the client to look
			// its coordinator up again, and a's heartbeats queue behind
			// its commit: several such lookups in a row once kept a
			// member from its coordinator for a whole 30 s session in
			// the loaded suite. The session is long enough that only
			// the broker could expel a member here.
			kgo.SessionTimeout(90*time.Second), kgo.HeartbeatInterval(300*time.Millisecond),
			kgo.RebalanceTimeout(100*time.Second), kgo.WithHooks(m.watch),
			kgo.RequestTimeoutOverhead(6*time.Second),
			kgo.OnPartitionsLost(func(context.Context, *kgo.Client, map[string][]int32) { once.Do(func() { close(m.lost) }) }))
		if err != nil {
			t.Fatal(err)
		}
		m.cl = cl
		go m.poll(ctx)
		t.Cleanup(func() { close(m.stop); <-m.done; cl.Close() })
		return m
	}
	members := map[string]*groupMember{"a": newMember("a"), "b": newMember("b"), "c": newMember("c")}
	var generation int32
	waitFor(t, "a stable group of three", 60*time.Second, func() bool {
		ds, err := adm.DescribeGroups(ctx, group)
		if err != nil || ds[group].State != "Stable" || len(ds[group].Members) != 3 {
			return false
		}
		gens := map[int32]bool{}
		for _, m := range members {
			_, g := m.cl.GroupMetadata()
			gens[g] = true
			generation = g
		}
		return len(gens) == 1
	})
	for _, m := range members {
		m.firstID, _ = m.cl.GroupMetadata()
		m.watch.reset()
	}
	pause := func(why string) func() {
		c.brokers[victim].Pause()
		t.Logf("paused broker %d, a follower of __consumer_offsets-%d (coordinator %d): %s", victim, part, coordinator, why)
		resumed := false
		resume := func() {
			if resumed {
				return
			}
			resumed = true
			c.brokers[victim].Resume()
			waitFor(t, "the resumed follower back in the ISR of __consumer_offsets", 60*time.Second, func() bool {
				ps, err := c.describe("__consumer_offsets")
				return err == nil && len(ps[part].isr) == 3
			})
		}
		t.Cleanup(resume)
		return resume
	}

	// 1. Member a commits while the follower is paused; b and c
	// heartbeat meanwhile. Errors from reaching the paused broker (the
	// client's lookups may pick it) and timeouts of the commit's own wait
	// are retried, as an application would; the commit must succeed.
	resume := pause("a commits")
	paused := time.Now()
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		offsets := map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: -1, Offset: 5}}}
		members["a"].cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, e error) {
			if err = e; err == nil {
				err = commitError(resp)
			}
		})
		var ke *kerr.Error
		if err == nil || errors.As(err, &ke) && !ke.Retriable {
			break
		}
		t.Logf("commit attempt %d: %v; retrying", attempt, err)
	}
	if err != nil {
		t.Fatalf("commit while the follower was paused: %v", err)
	}
	t.Logf("commit completed %v after the pause", time.Since(paused).Round(time.Millisecond))
	slow := max(members["b"].watch.get(), members["c"].watch.get())
	t.Logf("slowest heartbeat of b and c meanwhile: %v (of a, queued behind its own commit: %v)", slow, members["a"].watch.get())
	if slow > time.Second {
		t.Errorf("a heartbeat took %v while another member's commit waited for replication; want under 1 s", slow)
	}
	resume()

	// 2. Member c leaves while the follower is paused: a and b rebalance
	// and store their assignment.
	resume = pause("c leaves, a and b rebalance")
	leaver := members["c"]
	delete(members, "c")
	leaver.cl.LeaveGroup()
	waitFor(t, "a and b in a new generation", 60*time.Second, func() bool {
		_, ga := members["a"].cl.GroupMetadata()
		_, gb := members["b"].cl.GroupMetadata()
		return ga > generation && ga == gb
	})
	resume()

	for name, m := range members {
		select {
		case <-m.lost:
			t.Errorf("member %s lost its partitions (expelled) while a follower was paused", name)
		default:
		}
		if id, _ := m.cl.GroupMetadata(); id != m.firstID {
			t.Errorf("member %s was expelled and rejoined: member id %s, then %s", name, m.firstID, id)
		}
	}
}

// commitError is the first partition error of an OffsetCommit response.
func commitError(resp *kmsg.OffsetCommitResponse) error {
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("%s-%d: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// offsets.commit.timeout.ms bounds how long an offset commit waits for
// the offsets topic's in-sync replicas, as in Kafka: with a follower of
// the group's offsets partition stopped (SIGSTOP) but still in the ISR
// (replica.lag.time.max.ms 30 s), a commit fails after the timeout (1 s
// here) with COORDINATOR_NOT_AVAILABLE. With Kafka's 5 s it would still
// be waiting when the stopped broker's ZooKeeper session expires (4 s),
// and succeed once the ISR shrinks.
func TestOffsetsCommitTimeout(t *testing.T) {
	c := startCluster(t, 2, map[string]string{"replica.lag.time.max.ms": "30000", "offsets.commit.timeout.ms": "1000"})
	topic, group := "committed", "commit-timeout"
	c.createTopic(topic, 1, 2, nil)
	// OffsetCommit by topic name (v10 names topics by id).
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(kmsg.OffsetCommit.Int16(), 8)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.MaxVersions(vs))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var coord int32 = -1
	findCoordinator := func() bool {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKey = group
		resp, err := fc.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			return false
		}
		coord = resp.NodeID
		return true
	}
	waitFor(t, "a coordinator for the group", 30*time.Second, findCoordinator)
	c.awaitISR("__consumer_offsets", 2, 30*time.Second)
	commit := func() (int16, time.Duration) {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = group, -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		start := time.Now()
		resp, err := req.RequestWith(ctx, cl.Broker(int(coord)))
		if err != nil {
			t.Fatalf("OffsetCommit to broker %d: %v", coord, err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode, time.Since(start)
	}
	// The broker that named the coordinator may know its leadership a
	// moment before the coordinator has taken it up (NOT_COORDINATOR, or
	// COORDINATOR_LOAD_IN_PROGRESS while it loads): a client looks it up
	// again and retries, as here.
	var last int16
	waitFor(t, "a commit with both replicas up", 30*time.Second, func() bool {
		if last, _ = commit(); last == kerr.NotCoordinator.Code {
			findCoordinator()
		}
		return last == 0
	})
	follower := c.brokers[3-coord]
	follower.Pause()
	defer follower.Resume()
	code, took := commit()
	if code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("a commit with the offsets partition's follower stopped in the ISR: %v after %v, want COORDINATOR_NOT_AVAILABLE after offsets.commit.timeout.ms (1s)", kerr.ErrorForCode(code), took)
	}
	if took < 900*time.Millisecond {
		t.Fatalf("the commit failed after %v, before offsets.commit.timeout.ms (1s)", took)
	}
	t.Logf("the commit failed with COORDINATOR_NOT_AVAILABLE after %v", took.Round(time.Millisecond))
}
