package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/protocol"
)

// capturingBackend is the local backend that lets the test deliver
// metadata itself, as the ZooKeeper loop does (the broker does not wait
// for deliveries to be applied).
type capturingBackend struct {
	metadata.Backend
	apply metadata.Applier
}

func (c *capturingBackend) Start(ctx context.Context, apply metadata.Applier) error {
	c.apply = apply
	return c.Backend.Start(ctx, apply)
}

func newDeliveryBroker(t *testing.T) (*Broker, *capturingBackend) {
	t.Helper()
	cfg := config.Defaults()
	cfg.BrokerID = 1
	cfg.LogDirs = []string{t.TempDir()}
	be := &capturingBackend{Backend: metadata.NewLocal(cfg.LogDirs[0], metadata.BrokerInfo{ID: 1, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9092}}})}
	b, err := New(Options{Config: cfg, Log: zerolog.Nop(), Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, be
}

// within runs fn and fails if it has not returned within d.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		fn()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v: it waits on a busy partition", what, d)
	}
}

// awaitCond polls cond every millisecond for at most bound.
func awaitCond(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", bound, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A partition busy under its lock (an append's disk write, opening its log)
// must not hold up the metadata loop's deliveries, nor the other
// partitions: each applies on its own, the busy one once it is free.
func TestMetadataDeliveryNeverWaitsOnAPartition(t *testing.T) {
	b, be := newDeliveryBroker(t)
	id := metadata.NewUuid()
	led := func(leader, epoch int32, version int32) metadata.TopicState {
		st := metadata.TopicState{Name: "t", ID: id, Reported: time.Now()}
		for range 2 {
			st.Partitions = append(st.Partitions, metadata.PartitionState{Replicas: []int32{1, 2}, Leader: leader, LeaderEpoch: epoch, ISR: []int32{1, 2}, Version: version})
		}
		return st
	}
	within(t, time.Second, "the first delivery", func() { be.apply.ApplyTopic(led(1, 0, 0)) })
	if err := b.awaitApplied(context.Background()); err != nil {
		t.Fatal(err)
	}
	p0, p1 := b.Partition("t", 0), b.Partition("t", 1)
	if !p0.IsLeader() || !p1.IsLeader() {
		t.Fatal("this broker should lead both partitions")
	}

	p0.mu.Lock() // busy
	locked := true
	defer func() {
		if locked {
			p0.mu.Unlock()
		}
	}()
	within(t, 100*time.Millisecond, "ApplyTopic", func() { be.apply.ApplyTopic(led(2, 1, 1)) })
	within(t, 100*time.Millisecond, "ApplyBrokerConfigs", func() {
		be.apply.(metadata.BrokerConfigApplier).ApplyBrokerConfigs(map[string]string{"log.retention.ms": "60000"}, nil)
	})
	awaitCond(t, time.Second, "the free partition to apply its new leader", func() bool { return !p1.IsLeader() })
	if !p0.IsLeader() {
		t.Fatal("the busy partition applied a state without its lock")
	}
	p0.mu.Unlock()
	locked = false
	awaitCond(t, time.Second, "the busy partition to apply once free", func() bool { return !p0.IsLeader() })
	if got := p0.State(); got.Leader != 2 || got.LeaderEpoch != 1 {
		t.Fatalf("partition 0 state %+v, want leader 2 at epoch 1", got)
	}
	if got := b.Topic("t").Config().Retention; got != time.Minute {
		t.Fatalf("retention %v after the dynamic default changed, want 1m", got)
	}

	p0.mu.Lock()
	locked = true
	within(t, 100*time.Millisecond, "RemoveTopic", func() { be.apply.RemoveTopic("t") })
	if b.Topic("t") != nil {
		t.Fatal("a removed topic is still listed")
	}
	p0.mu.Unlock()
	locked = false
	if err := b.awaitApplied(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := b.MetadataApplyStats(); s.Count < 4 || s.Max <= 0 {
		t.Fatalf("apply delays %+v: want the four partition changes counted", s)
	}
}

// States reach a partition by several paths (the backend's loop, this
// broker's own ISR updates and handovers): an older one must not undo a
// newer one's leadership, but still brings its assignment.
func TestNewestStateKeepsTheNewerLeadership(t *testing.T) {
	cur := metadata.PartitionState{Replicas: []int32{1, 2}, Leader: 2, LeaderEpoch: 3, ISR: []int32{2}, Version: 7}
	for _, tc := range []struct {
		name string
		next metadata.PartitionState
		want metadata.PartitionState
	}{
		{"newer wins", metadata.PartitionState{Replicas: []int32{1, 2}, Leader: 1, LeaderEpoch: 4, ISR: []int32{1}, Version: 8},
			metadata.PartitionState{Replicas: []int32{1, 2}, Leader: 1, LeaderEpoch: 4, ISR: []int32{1}, Version: 8}},
		{"same version applies", metadata.PartitionState{Replicas: []int32{1, 2, 3}, Leader: 2, LeaderEpoch: 3, ISR: []int32{2}, Version: 7},
			metadata.PartitionState{Replicas: []int32{1, 2, 3}, Leader: 2, LeaderEpoch: 3, ISR: []int32{2}, Version: 7}},
		{"older keeps leadership, takes replicas", metadata.PartitionState{Replicas: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 2, ISR: []int32{1, 2}, Version: 6},
			metadata.PartitionState{Replicas: []int32{1, 2, 3}, Leader: 2, LeaderEpoch: 3, ISR: []int32{2}, Version: 7}},
		{"no state yet is taken as is", metadata.PartitionState{Replicas: []int32{1, 2}, Leader: -1, Version: -1},
			metadata.PartitionState{Replicas: []int32{1, 2}, Leader: -1, Version: -1}},
	} {
		got := newestState(cur, tc.next)
		if !samePartitionState(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// A follower checks a client's leader epoch before whether it leads, as
// Kafka's Partition.getLocalLog: a newer epoch than it knows is
// UNKNOWN_LEADER_EPOCH (the client retries without refreshing metadata),
// an older one FENCED_LEADER_EPOCH; only the current one learns
// NOT_LEADER_OR_FOLLOWER. Gregor answered NOT_LEADER_OR_FOLLOWER to all.
func TestFollowerChecksLeaderEpochFirst(t *testing.T) {
	b, be := newDeliveryBroker(t)
	st := metadata.TopicState{Name: "t", ID: metadata.NewUuid(), Reported: time.Now(),
		Partitions: []metadata.PartitionState{{Replicas: []int32{1, 2}, Leader: 2, LeaderEpoch: 5, ISR: []int32{1, 2}}}}
	be.apply.ApplyTopic(st)
	if err := b.awaitApplied(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := b.Partition("t", 0)
	awaitCond(t, 5*time.Second, "the follower replica to open its log", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.log != nil
	})
	for _, c := range []struct {
		epoch int32
		want  error
	}{{6, kerr.UnknownLeaderEpoch}, {4, kerr.FencedLeaderEpoch}, {5, kerr.NotLeaderForPartition}, {-1, kerr.NotLeaderForPartition}} {
		if _, _, err := p.leaderLog(c.epoch); err != c.want {
			t.Errorf("leader epoch %d at a follower of epoch 5: %v, want %v", c.epoch, err, c.want)
		}
	}
	// OffsetForLeaderEpoch is the leader's to answer whatever the replica
	// id, the debugging one (-2) included, as Kafka's
	// lastOffsetForLeaderEpoch (fetchOnlyFromLeader).
	reg := protocol.NewRegistry()
	b.Register(reg)
	tb := &testBroker{t: t, Broker: b, reg: reg}
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -2
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.CurrentLeaderEpoch, rp.LeaderEpoch = -1, 5
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	got := tb.call(req).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(got.ErrorCode); err != kerr.NotLeaderForPartition {
		t.Errorf("OffsetForLeaderEpoch with replica id -2 at a follower: %v, want NOT_LEADER_OR_FOLLOWER", err)
	}
}

// A change applied a few hundred milliseconds after ZooKeeper reported it
// (a busy machine creating a topic's partitions) is counted in the
// histogram, not logged; one held up beyond a second is logged.
func TestLateApplyLoggedOnlyPastASecond(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("late", 1, nil)
	var logged strings.Builder
	tb.slowLog = zerolog.New(&logged)
	p := tb.Topic("late").Partition(0)
	before := tb.MetadataApplyStats().Count
	now := time.Now()
	tb.applies.observe(tb.Broker, p, mailbox{reported: now.Add(-300 * time.Millisecond), posted: now.Add(-290 * time.Millisecond)})
	if logged.Len() != 0 {
		t.Fatalf("a change applied 300 ms late was logged: %s", logged.String())
	}
	tb.applies.observe(tb.Broker, p, mailbox{reported: now.Add(-1500 * time.Millisecond), posted: now.Add(-10 * time.Millisecond)})
	if !strings.Contains(logged.String(), "metadata change applied late") {
		t.Fatalf("a change applied 1.5 s late was not logged: %q", logged.String())
	}
	if n := tb.MetadataApplyStats().Count - before; n != 2 {
		t.Fatalf("the histogram counted %d of the 2 applies", n)
	}
}
