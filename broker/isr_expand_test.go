package broker

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/protocol"
)

// isrBackend is the capturing backend whose ISR updates a test answers.
type isrBackend struct {
	*capturingBackend
	update func(st metadata.PartitionState) (metadata.PartitionState, error)
}

func (b *isrBackend) UpdatePartition(_ context.Context, _ string, _ int32, st metadata.PartitionState) (metadata.PartitionState, error) {
	return b.update(st)
}

// newISRBroker is broker 1 of brokers 1..3 leading partition t-0 on
// replicas with isr at leader epoch 0, state version 0.
func newISRBroker(t *testing.T, replicas, isr []int32, opts ...func(*config.Config)) (*testBroker, *isrBackend, *Partition) {
	t.Helper()
	cfg := config.Defaults()
	cfg.BrokerID = 1
	cfg.LogDirs = []string{t.TempDir()}
	for _, o := range opts {
		o(cfg)
	}
	be := &isrBackend{capturingBackend: &capturingBackend{Backend: metadata.NewLocal(cfg.LogDirs[0], metadata.BrokerInfo{ID: 1, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9092}}})}}
	b, err := New(Options{Config: cfg, Log: zerolog.Nop(), Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	var bs []metadata.BrokerInfo
	for id := int32(1); id <= 3; id++ {
		bs = append(bs, metadata.BrokerInfo{ID: id, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9092 + id}}})
	}
	be.apply.ApplyBrokers(bs, 1)
	be.deliver(t, b, replicas, isr, 0)
	p := b.Partition("t", 0)
	if !p.IsLeader() {
		t.Fatal("broker 1 should lead t-0")
	}
	reg := protocol.NewRegistry()
	b.Register(reg)
	return &testBroker{t: t, Broker: b, reg: reg}, be, p
}

// deliver has the metadata loop deliver t-0's state at version and waits
// until it is applied.
func (be *isrBackend) deliver(t *testing.T, b *Broker, replicas, isr []int32, version int32) {
	t.Helper()
	be.apply.ApplyTopic(metadata.TopicState{Name: "t", ID: topicUUID, Reported: time.Now(), Partitions: []metadata.PartitionState{
		{Replicas: replicas, Leader: 1, LeaderEpoch: 0, ISR: isr, Version: version}}})
	if err := b.awaitApplied(context.Background()); err != nil {
		t.Fatal(err)
	}
}

var topicUUID = metadata.NewUuid()

// appendN appends n records with acks=1.
func (tb *testBroker) appendN(n int) {
	tb.t.Helper()
	vals := make([]string, n)
	for i := range vals {
		vals[i] = "v"
	}
	resp := tb.call(produceRequest("t", 1, []int32{0}, [][]byte{batch(tb.t, time.Now().UnixMilli(), vals...)})).(*kmsg.ProduceResponse)
	if err := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); err != nil {
		tb.t.Fatalf("append: %v", err)
	}
}

// isExpanding reports whether the write of the leader's last ISR change
// is still under way.
func (p *Partition) isExpanding() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.isrEnded != p.isrChange
}

// The leader's own ISR expansion is answered after the metadata loop has
// delivered a newer state of the partition (the controller took a broker
// out of the ISR right after the expansion was written): the newer state
// stays in force. Gregor installed the older one over it, and with it an
// old state version, so each later ISR change it wrote was refused as
// stale until another change of the partition came.
func TestISRExpansionAnsweredAfterANewerStateKeepsTheNewer(t *testing.T) {
	tb, be, p := newISRBroker(t, []int32{1, 2}, []int32{1})
	tb.appendN(10)
	be.update = func(st metadata.PartitionState) (metadata.PartitionState, error) {
		written := st
		written.Version = st.Version + 1
		// Then the controller's change, delivered before the answer.
		be.deliver(t, tb.Broker, []int32{1, 2}, []int32{1}, st.Version+2)
		return written, nil
	}
	p.followerFetched(0, 2, 10, 0)
	awaitCond(t, 5*time.Second, "the ISR expansion to end", func() bool { return !p.isExpanding() })
	p.mu.Lock()
	st, isr := p.state, slices.Clone(p.rs.ISR)
	p.mu.Unlock()
	if st.Version != 2 || !slices.Equal(st.ISR, []int32{1}) || !slices.Equal(isr, []int32{1}) {
		t.Fatalf("state %+v, leader's ISR %v: want version 2 with ISR [1], delivered after the expansion's version 1", st, isr)
	}
}

// The leader makes one ISR change at a time, as Kafka's Partition starts
// no AlterPartition while one isInflight (PendingExpandIsr,
// PendingShrinkIsr): a shrink waits for a pending expansion, and after
// the expansion was refused as stale (another change came first), for the
// newer state the metadata loop brings. Gregor let the shrink race the
// expansion at the same state version: one of the two was refused, with a
// warning in the log, and the shrink was sent again at the old version on
// every ISR check until the newer state arrived.
func TestISRShrinkWaitsForThePendingChange(t *testing.T) {
	tb, be, p := newISRBroker(t, []int32{1, 2, 3}, []int32{1, 3})
	tb.appendN(10)
	var mu sync.Mutex
	var sent []metadata.PartitionState
	release := make(chan struct{})
	var releaseOnce sync.Once
	answer := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(answer) // before the broker closes, which waits for the expansion
	be.update = func(st metadata.PartitionState) (metadata.PartitionState, error) {
		mu.Lock()
		sent = append(sent, st)
		n := len(sent)
		mu.Unlock()
		if n == 1 {
			<-release // the expansion, answered when the test says
			return metadata.PartitionState{}, metadata.ErrStaleState
		}
		st.Version++
		return st, nil
	}
	sentISRs := func() [][]int32 {
		mu.Lock()
		defer mu.Unlock()
		var out [][]int32
		for _, st := range sent {
			out = append(out, st.ISR)
		}
		return out
	}
	p.followerFetched(0, 2, 10, 0) // follower 2 caught up: the expansion is sent
	awaitCond(t, 5*time.Second, "the expansion adding follower 2 to be sent", func() bool { return len(sentISRs()) == 1 })
	later := time.Now().Add(time.Hour) // follower 3 (and 2) lag by then
	p.shrinkISR(later, 10*time.Second)
	if got := sentISRs(); len(got) != 1 {
		t.Fatalf("ISR changes sent while the expansion was pending: %v, want only [1 3 2]", got)
	}
	answer() // refused as stale
	awaitCond(t, 5*time.Second, "the expansion's write to end", func() bool { return !p.isExpanding() })
	p.shrinkISR(later, 10*time.Second)
	if got := sentISRs(); len(got) != 1 {
		t.Fatalf("ISR changes sent after the expansion was refused, before a newer state came: %v", got)
	}
	// The newer state (the controller's, without follower 2): the next
	// check shrinks from it.
	be.deliver(t, tb.Broker, []int32{1, 2, 3}, []int32{1, 3}, 1)
	p.shrinkISR(later, 10*time.Second)
	if got := sentISRs(); len(got) != 2 || !slices.Equal(got[1], []int32{1}) {
		t.Fatalf("ISR changes sent: %v, want the shrink to [1] once the newer state is in force", got)
	}
}

// Each ISR change the leader fails to write is counted, as Kafka's
// FailedIsrUpdatesPerSec (Partition's alterPartitionListener.markFailed):
// a try of unknown outcome and a refusal as stale alike; a change
// written is not. Gregor had no such count.
func TestISRUpdateFailuresCounted(t *testing.T) {
	tb, be, p := newISRBroker(t, []int32{1, 2, 3}, []int32{1})
	tb.appendN(10)
	var tries atomic.Int32
	be.update = func(st metadata.PartitionState) (metadata.PartitionState, error) {
		switch tries.Add(1) {
		case 1:
			return metadata.PartitionState{}, errors.New("zk: connection closed")
		case 2:
			st.Version++
			return st, nil
		}
		return metadata.PartitionState{}, metadata.ErrStaleState
	}
	p.followerFetched(0, 2, 10, 0) // fails once, then is written
	awaitCond(t, 5*time.Second, "follower 2's addition to be written on a second try", func() bool {
		return tries.Load() == 2 && !p.isExpanding()
	})
	if got := tb.ISRUpdateFailures(); got != 1 {
		t.Fatalf("ISR update failures after a retried expansion: %d, want 1", got)
	}
	p.followerFetched(0, 3, 10, 0) // refused as stale
	awaitCond(t, 5*time.Second, "follower 3's addition to be refused", func() bool {
		return tries.Load() == 3 && !p.isExpanding()
	})
	if got := tb.ISRUpdateFailures(); got != 2 {
		t.Fatalf("ISR update failures after a stale refusal: %d, want 2", got)
	}
	if shrinks, expands := tb.ISRChanges(); shrinks != 0 || expands != 1 {
		t.Fatalf("ISR changes: %d shrinks, %d expansions, want 0 and 1", shrinks, expands)
	}
}

// An acks=all produce whose records the high watermark passed completes
// against the maximal ISR, as Kafka's checkEnoughReplicasReachOffset
// (partitionState.maximalIsr): a follower whose addition is being written
// counts towards min.insync.replicas. Gregor counted the ISR alone: with
// the ISR just shrunk below the minimum and a follower joining, the
// produce failed with NOT_ENOUGH_REPLICAS_AFTER_APPEND where Kafka
// succeeds.
func TestAcksAllCompletesAgainstTheMaximalISR(t *testing.T) {
	tb, be, p := newISRBroker(t, []int32{1, 2, 3}, []int32{1, 2})
	p.mu.Lock()
	p.rs.MinISR = 2 // as min.insync.replicas=2
	p.mu.Unlock()
	tb.appendN(10)
	p.followerFetched(0, 2, 10, 0)
	if hw := p.HighWatermark(); hw != 10 {
		t.Fatalf("HW %d with the ISR [1 2] at 10, want 10", hw)
	}
	// The controller takes 2 out of the ISR; follower 3 catches up and
	// its addition is being written.
	be.deliver(t, tb.Broker, []int32{1, 2, 3}, []int32{1}, 1)
	release := make(chan struct{})
	var releaseOnce sync.Once
	answer := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(answer)
	var sent atomic.Int32
	be.update = func(st metadata.PartitionState) (metadata.PartitionState, error) {
		sent.Add(1)
		<-release
		return metadata.PartitionState{}, metadata.ErrStaleState
	}
	p.followerFetched(0, 3, 10, 0)
	awaitCond(t, 5*time.Second, "follower 3's addition to be sent", func() bool { return sent.Load() == 1 })
	if done, err := p.ackState(9); !done || err != nil {
		t.Fatalf("acks=all produce up to 9, HW 10, ISR [1] with 3 joining, min.insync.replicas 2: done %v, %v; want done without error", done, err)
	}
	answer()
	// Refused: once a newer state without 3 is in force, the maximal ISR
	// is [1] alone.
	awaitCond(t, 5*time.Second, "the expansion's write to end", func() bool { return !p.isExpanding() })
	be.deliver(t, tb.Broker, []int32{1, 2, 3}, []int32{1}, 2)
	if done, err := p.ackState(9); !done || !errors.Is(err, kerr.NotEnoughReplicasAfterAppend) {
		t.Fatalf("acks=all produce up to 9 with the ISR [1] alone: done %v, %v; want NOT_ENOUGH_REPLICAS_AFTER_APPEND", done, err)
	}
}
