package broker

// ShareFetch and ShareAcknowledge through the registry (no sockets), with
// an in-memory persister standing in for the share coordinators.

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
	"gregor/broker/share"
	"gregor/internal/wait"
)

// memPersister keeps share state as the share coordinator would: the
// start offset and each offset's last written state. A partition it has
// not seen reads as initialized without a start offset (-1).
type memPersister struct {
	mu     sync.Mutex
	start  map[sharePartKey]int64
	state  map[sharePartKey]map[int64]share.Batch
	writes int
}

func newMemPersister() *memPersister {
	return &memPersister{start: map[sharePartKey]int64{}, state: map[sharePartKey]map[int64]share.Batch{}}
}

func (m *memPersister) ReadShareState(_ context.Context, group string, topic [16]byte, partition, _ int32) (ShareState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := sharePartKey{group, topic, partition}
	start, ok := m.start[k]
	if !ok {
		return ShareState{Start: -1}, nil
	}
	st := ShareState{Start: start}
	for o := start; ; o++ {
		b, ok := m.state[k][o]
		if !ok {
			break
		}
		st.Batches = append(st.Batches, b)
	}
	return st, nil
}

func (m *memPersister) WriteShareState(_ context.Context, group string, topic [16]byte, partition, _, _ int32, w share.Write) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := sharePartKey{group, topic, partition}
	m.writes++
	m.start[k] = w.Start
	if m.state[k] == nil {
		m.state[k] = map[int64]share.Batch{}
	}
	for _, b := range w.Batches {
		for o := b.First; o <= b.Last; o++ {
			m.state[k][o] = share.Batch{First: o, Last: o, State: b.State, Count: b.Count}
		}
	}
	return nil
}

// stateOf is an offset's persisted state.
func (m *memPersister) stateOf(k sharePartKey, o int64) (share.State, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.state[k][o]
	return b.State, ok
}

// shareEnv is a test broker with a share group config and a topic.
type shareEnv struct {
	*testBroker
	per   *memPersister
	topic *Topic
	group string
}

func newShareEnv(t *testing.T, groupConfigs map[string]string) *shareEnv {
	tb := newTestBroker(t, map[string]string{"group.share.min.record.lock.duration.ms": "1000"})
	per := newMemPersister()
	tb.SetSharePersister(per)
	tb.createTopic("q", 1, nil)
	if err := tb.setGroupConfigs(context.Background(), "sg", groupConfigs, false); err != nil {
		t.Fatal(err)
	}
	return &shareEnv{testBroker: tb, per: per, topic: tb.Topic("q"), group: "sg"}
}

// fetch is a ShareFetch of partition 0 by member at epoch, with acks.
func (e *shareEnv) fetch(member string, epoch int32, acks ...kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) *kmsg.ShareFetchResponse {
	e.t.Helper()
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(e.group), kmsg.StringPtr(member), epoch
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.MaxRecords = 0, 1, 1<<20, 500
	rt := kmsg.NewShareFetchRequestTopic()
	rt.TopicID = e.topic.ID
	rp := kmsg.NewShareFetchRequestTopicPartition()
	rp.AcknowledgementBatches = acks
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return e.call(req).(*kmsg.ShareFetchResponse)
}

func ackBatch(first, last int64, t share.AckType) kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch {
	b := kmsg.NewShareFetchRequestTopicPartitionAcknowledgementBatch()
	b.FirstOffset, b.LastOffset, b.AcknowledgeTypes = first, last, []int8{int8(t)}
	return b
}

// acquired lists the acquired ranges of the response's only partition.
func acquired(t *testing.T, resp *kmsg.ShareFetchResponse) []share.Run {
	t.Helper()
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("share fetch: %v", err)
	}
	var out []share.Run
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				t.Fatalf("share fetch partition %d: %v", rp.Partition, err)
			}
			for _, ar := range rp.AcquiredRecords {
				out = append(out, share.Run{First: ar.FirstOffset, Last: ar.LastOffset, Count: ar.DeliveryCount})
			}
		}
	}
	return out
}

func TestShareFetchLatestByDefault(t *testing.T) {
	e := newShareEnv(t, nil)
	e.produce("q", 0, batch(t, 1, "before"))
	if got := acquired(t, e.fetch("m1", 0)); len(got) != 0 {
		t.Fatalf("a record produced before the group read the partition was delivered: %v", got)
	}
	e.produce("q", 0, batch(t, 1, "after"))
	got := acquired(t, e.fetch("m1", 1))
	if len(got) != 1 || got[0] != (share.Run{First: 1, Last: 1, Count: 1}) {
		t.Fatalf("acquired %v, want offset 1 once", got)
	}
}

func TestShareFetchSessionEpochs(t *testing.T) {
	e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
	e.produce("q", 0, batch(t, 1, "a", "b"))
	if resp := e.fetch("m1", 3); resp.ErrorCode != kerr.ShareSessionNotFound.Code {
		t.Fatalf("fetch without a session: error %d, want SHARE_SESSION_NOT_FOUND", resp.ErrorCode)
	}
	if resp := e.fetch("m1", 0, ackBatch(0, 0, share.AckAccept)); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("opening fetch with acks: error %d, want INVALID_REQUEST", resp.ErrorCode)
	}
	if got := acquired(t, e.fetch("m1", 0)); len(got) != 1 || got[0].Last != 1 {
		t.Fatalf("acquired %v, want offsets 0-1", got)
	}
	if resp := e.fetch("m1", 2); resp.ErrorCode != kerr.InvalidShareSessionEpoch.Code {
		t.Fatalf("fetch at the wrong epoch: error %d, want INVALID_SHARE_SESSION_EPOCH", resp.ErrorCode)
	}
	// Another member gets nothing while m1 holds both records; m1
	// closing its session releases them to it.
	if got := acquired(t, e.fetch("m2", 0)); len(got) != 0 {
		t.Fatalf("m2 acquired %v held by m1", got)
	}
	req := kmsg.NewPtrShareAcknowledgeRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(e.group), kmsg.StringPtr("m1"), -1
	if resp := e.call(req).(*kmsg.ShareAcknowledgeResponse); resp.ErrorCode != 0 {
		t.Fatalf("closing m1's session: error %d", resp.ErrorCode)
	}
	// Fetched but never delivered to m1's application: the closed
	// session's delivery is taken back (KAFKA-17541).
	got := acquired(t, e.fetch("m2", 1))
	if len(got) != 1 || got[0] != (share.Run{First: 0, Last: 1, Count: 1}) {
		t.Fatalf("m2 acquired %v, want offsets 0-1 at delivery 1 again", got)
	}
}

func TestShareAcknowledgementsSurviveNewLeader(t *testing.T) {
	e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
	e.produce("q", 0, batch(t, 1, "a", "b", "c"))
	acquired(t, e.fetch("m1", 0))
	resp := e.fetch("m1", 1, ackBatch(0, 0, share.AckAccept), ackBatch(1, 1, share.AckReject), ackBatch(2, 2, share.AckRelease))
	if c := resp.Topics[0].Partitions[0].AcknowledgeErrorCode; c != 0 {
		t.Fatalf("acknowledging: error %d", c)
	}
	k := sharePartKey{e.group, e.topic.ID, 0}
	e.per.mu.Lock()
	start := e.per.start[k]
	e.per.mu.Unlock()
	if start != 2 {
		t.Errorf("persisted start offset %d, want 2 (0 accepted, 1 rejected)", start)
	}
	if st, ok := e.per.stateOf(k, 2); !ok || st != share.Available {
		t.Errorf("offset 2 persisted as %v (%v), want Available", st, ok)
	}
	// A new leader loads the persisted state: only the released record
	// comes back.
	e.shares.closeAll()
	got := acquired(t, e.fetch("m2", 0))
	if len(got) != 1 || got[0].First != 2 || got[0].Last != 2 {
		t.Fatalf("after reload acquired %v, want only offset 2", got)
	}
}

func TestShareAcknowledgeOthersRecordsIsInvalidRecordState(t *testing.T) {
	e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
	e.produce("q", 0, batch(t, 1, "a"))
	acquired(t, e.fetch("m1", 0))
	e.fetch("m2", 0)
	resp := e.fetch("m2", 1, ackBatch(0, 0, share.AckAccept))
	if c := resp.Topics[0].Partitions[0].AcknowledgeErrorCode; c != kerr.InvalidRecordState.Code {
		t.Fatalf("m2 acknowledging m1's record: error %d, want INVALID_RECORD_STATE", c)
	}
	bad := kmsg.NewShareFetchRequestTopicPartitionAcknowledgementBatch()
	bad.FirstOffset, bad.LastOffset, bad.AcknowledgeTypes = 0, 0, []int8{9}
	resp = e.fetch("m1", 1, bad)
	if c := resp.Topics[0].Partitions[0].AcknowledgeErrorCode; c != kerr.InvalidRequest.Code {
		t.Fatalf("unknown acknowledgement type: error %d, want INVALID_REQUEST", c)
	}
}

// The lock expires in the bubble's virtual time: sleeping past it is the
// clock moving, not a guess at how long something takes.
func TestShareLockExpiryRedeliversWithHigherCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest", "share.record.lock.duration.ms": "1000"})
		e.produce("q", 0, batch(t, 1, "a"))
		acquired(t, e.fetch("m1", 0))
		time.Sleep(999 * time.Millisecond)
		synctest.Wait()
		if got := acquired(t, e.fetch("m2", 0)); len(got) != 0 {
			t.Fatalf("m2 acquired %v while m1's lock holds", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		got := acquired(t, e.fetch("m2", 1))
		if len(got) != 1 || got[0] != (share.Run{First: 0, Last: 0, Count: 2}) {
			t.Fatalf("after the lock expired m2 acquired %v, want offset 0 at delivery 2", got)
		}
	})
}

func TestShareDeliveryLimitArchives(t *testing.T) {
	e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
	e.produce("q", 0, batch(t, 1, "poison"))
	limit := int(e.Config().ShareGroupDeliveryCountLimit)
	got := acquired(t, e.fetch("m1", 0))
	for i := 1; ; i++ {
		if i <= limit && (len(got) != 1 || int(got[0].Count) != i) {
			t.Fatalf("delivery %d: acquired %v", i, got)
		}
		if i > limit {
			if len(got) != 0 {
				t.Fatalf("delivered past group.share.delivery.count.limit (%d): %v", limit, got)
			}
			return
		}
		// Releasing it piggy-backed: the same fetch acquires it again.
		got = acquired(t, e.fetch("m1", int32(i), ackBatch(0, 0, share.AckRelease)))
	}
}

func TestShareSpansSkipAbortedAndControl(t *testing.T) {
	build := func(base int64, pid int64, attrs int16, n int) []byte {
		b := &records.Batch{BaseOffset: base, ProducerID: pid, ProducerEpoch: 0, BaseSequence: 0, Attributes: attrs}
		for i := 0; i < n; i++ {
			b.Records = append(b.Records, records.Record{OffsetDelta: int32(i), Value: []byte("x")})
		}
		data, err := records.Build(b)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	const txn, ctl = records.AttrTransactional, records.AttrTransactional | records.AttrControl
	var data []byte
	data = append(data, build(0, -1, 0, 2)...)  // 0-1 plain
	data = append(data, build(2, 7, txn, 2)...) // 2-3 aborted
	data = append(data, build(4, 8, txn, 1)...) // 4 committed
	data = append(data, build(5, 7, ctl, 1)...) // 5 abort marker
	data = append(data, build(6, 8, ctl, 1)...) // 6 commit marker
	ab := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
	ab.ProducerID, ab.FirstOffset = 7, 2
	spans, _, err := shareSpans(data, []kmsg.FetchResponseTopicPartitionAbortedTransaction{ab})
	if err != nil {
		t.Fatal(err)
	}
	want := []share.Span{{First: 0, Last: 1}, {First: 2, Last: 3, Skip: true}, {First: 4, Last: 4},
		{First: 5, Last: 5, Skip: true}, {First: 6, Last: 6, Skip: true}}
	if len(spans) != len(want) {
		t.Fatalf("spans %v, want %v", spans, want)
	}
	for i := range want {
		if spans[i] != want[i] {
			t.Errorf("span %d: %v, want %v", i, spans[i], want[i])
		}
	}
}

func TestShareSessionEndsWithItsConnection(t *testing.T) {
	e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
	e.produce("q", 0, batch(t, 1, "a"))
	acquired(t, e.fetch("m1", 0)) // the harness's connection id is 0
	e.ConnClosed(0)
	if resp := e.fetch("m1", 1); resp.ErrorCode != kerr.ShareSessionNotFound.Code {
		t.Fatalf("fetch on a closed connection's session: error %d, want SHARE_SESSION_NOT_FOUND", resp.ErrorCode)
	}
	// m1's session ended with the record fetched but never delivered to
	// its application: the delivery is taken back (KAFKA-17541).
	got := acquired(t, e.fetch("m2", 0))
	if len(got) != 1 || got[0] != (share.Run{First: 0, Last: 0, Count: 1}) {
		t.Fatalf("m2 acquired %v, want the record m1 held, at delivery 1 again", got)
	}
}

// fetchWait is fetch with a long poll.
func (e *shareEnv) fetchWait(member string, epoch int32, maxWait time.Duration) *kmsg.ShareFetchResponse {
	e.t.Helper()
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(e.group), kmsg.StringPtr(member), epoch
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.MaxRecords = int32(maxWait/time.Millisecond), 1, 1<<20, 500
	rt := kmsg.NewShareFetchRequestTopic()
	rt.TopicID = e.topic.ID
	rt.Partitions = append(rt.Partitions, kmsg.NewShareFetchRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	return e.call(req).(*kmsg.ShareFetchResponse)
}

func TestShareFetchLongPolls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
		start := time.Now()
		if got := acquired(t, e.fetchWait("m1", 0, 2*time.Second)); len(got) != 0 || time.Since(start) != 2*time.Second {
			t.Fatalf("empty long poll: acquired %v after %v, want nothing after MaxWaitMillis (2s)", got, time.Since(start))
		}
		done := make(chan *kmsg.ShareFetchResponse)
		go func() { done <- e.fetchWait("m1", 1, time.Minute) }()
		synctest.Wait() // the fetch waits
		e.produce("q", 0, batch(t, 1, "late"))
		resp := <-done
		if got := acquired(t, resp); len(got) != 1 || got[0].First != 0 {
			t.Fatalf("long poll woken by a produce acquired %v, want offset 0", got)
		}
	})
}

func TestShareSessionLimit(t *testing.T) {
	var s shareSessions
	if _, err := s.open(shareSessionKey{"g", "a"}, 1, nil, 1, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.open(shareSessionKey{"g", "b"}, 1, nil, 1, false); err != kerr.ShareSessionLimitReached {
		t.Fatalf("a second session past a limit of 1: %v, want SHARE_SESSION_LIMIT_REACHED", err)
	}
	if _, err := s.open(shareSessionKey{"g", "b"}, 1, nil, 1, true); err != kerr.ShareSessionNotFound {
		t.Fatalf("v0: %v, want SHARE_SESSION_NOT_FOUND", err)
	}
	// The member of the session opens a new one in its place.
	if _, err := s.open(shareSessionKey{"g", "a"}, 1, nil, 1, false); err != nil {
		t.Fatalf("reopening the only session: %v", err)
	}
}

// A full share session cache refuses a new session only after the
// request's MaxWaitMillis, and evicts no session to make room however
// long it has been idle (Kafka 4.1, KAFKA-19159 and KAFKA-19231); the
// idle session keeps its epoch. Virtual time: the sleeps move the clock.
func TestShareSessionLimitReachedAfterMaxWaitNoEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := newTestBroker(t, map[string]string{"group.share.min.record.lock.duration.ms": "1000",
			"group.share.max.size": "1", "group.share.max.share.sessions": "1"})
		tb.SetSharePersister(newMemPersister())
		tb.createTopic("q", 1, nil)
		e := &shareEnv{testBroker: tb, per: newMemPersister(), topic: tb.Topic("q"), group: "sg"}
		if resp := e.fetch("m1", 0); resp.ErrorCode != 0 {
			t.Fatalf("opening m1's session: error %d", resp.ErrorCode)
		}
		time.Sleep(10 * time.Minute) // m1's session idles, far past any lock
		start := time.Now()
		resp := e.fetchWait("m2", 0, 3*time.Second)
		if resp.ErrorCode != kerr.ShareSessionLimitReached.Code || time.Since(start) != 3*time.Second {
			t.Fatalf("a second session past a limit of 1: error %d after %v, want SHARE_SESSION_LIMIT_REACHED after MaxWaitMillis (3s)",
				resp.ErrorCode, time.Since(start))
		}
		if resp := e.fetch("m1", 1); resp.ErrorCode != 0 {
			t.Fatalf("m1's idle session at epoch 1: error %d, want it kept", resp.ErrorCode)
		}
	})
}

func TestShareFetchReadsOnPastTheFirstChunk(t *testing.T) {
	e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
	value := string(make([]byte, 1000))
	var values []string
	for i := 0; i < 50; i++ {
		values = append(values, value)
	}
	for i := 0; i < 4; i++ { // 4 batches of about 50 KB: past the first 64 KiB read
		e.produce("q", 0, batch(t, 1, values...))
	}
	resp := e.fetch("m1", 0)
	got := acquired(t, resp)
	if len(got) != 1 || got[0] != (share.Run{First: 0, Last: 199, Count: 1}) {
		t.Fatalf("acquired %v, want offsets 0-199 in one fetch", got)
	}
	n := 0
	records.Split(resp.Topics[0].Partitions[0].Records, func([]byte) error { n++; return nil })
	if n != 4 {
		t.Fatalf("the response holds %d batches, want each of the 4 once", n)
	}
}

func TestShareSweepDropsPartitionsOfDeletedTopics(t *testing.T) {
	e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
	e.produce("q", 0, batch(t, 1, "a"))
	acquired(t, e.fetch("m1", 0))
	e.sweepShareParts()
	if e.shares.loaded(sharePartKey{e.group, e.topic.ID, 0}) == nil {
		t.Fatal("the sweep dropped a share partition still led here")
	}
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.TimeoutMillis = 5000
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr("q")
	del.Topics = append(del.Topics, dt)
	if dr := e.call(del).(*kmsg.DeleteTopicsResponse); dr.Topics[0].ErrorCode != 0 {
		t.Fatalf("deleting the topic: %v", kerr.ErrorForCode(dr.Topics[0].ErrorCode))
	}
	wait.For(t, "the deleted topic's share partition to be swept", 10*time.Second, func() bool {
		e.sweepShareParts()
		return e.shares.loaded(sharePartKey{e.group, e.topic.ID, 0}) == nil
	})
}

// gatedPersister is a memPersister whose writes wait for gate to close.
type gatedPersister struct {
	*memPersister
	gate    chan struct{}
	entered chan struct{}
}

func (g *gatedPersister) WriteShareState(ctx context.Context, group string, topic [16]byte, partition, se, le int32, w share.Write) error {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.memPersister.WriteShareState(ctx, group, topic, partition, se, le, w)
}

// Sessions ending or locks expiring while the share coordinator is slow
// queue at most one background write per share partition, not one
// goroutine each.
func TestSharePersistLaterCoalesces(t *testing.T) {
	e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
	e.produce("q", 0, batch(t, 1, "a", "b"))
	acquired(t, e.fetch("m1", 0))
	g := &gatedPersister{memPersister: e.per, gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	e.SetSharePersister(g)
	sp := e.shares.loaded(sharePartKey{e.group, e.topic.ID, 0})
	if sp == nil {
		t.Fatal("share partition not loaded after a fetch")
	}
	sp.releaseMember("m1") // a write that now blocks in the persister
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the released records' write never reached the persister")
	}
	before := runtime.NumGoroutine()
	for range 200 {
		sp.persistLater()
	}
	if grew := runtime.NumGoroutine() - before; grew > 1 {
		t.Errorf("200 background writes behind a blocked one started %d goroutines, want at most 1", grew)
	}
	close(g.gate)
	k := sharePartKey{e.group, e.topic.ID, 0}
	wait.For(t, "the released records persisted as available", 10*time.Second, func() bool {
		st, ok := e.per.stateOf(k, 0)
		return ok && st == share.Available
	})
	wait.For(t, "the queued background write to finish", 10*time.Second, func() bool {
		return !sp.laterQueued.Load()
	})
}

// A member whose lock expired, and whose records another member then
// acquired and accepted, is told INVALID_RECORD_STATE when it acknowledges
// them late, as by Kafka (the records are below the start offset, gone
// from its in-flight batches); Gregor answered success. Virtual time.
func TestShareLateAcknowledgeBelowStartIsInvalidRecordState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest", "share.record.lock.duration.ms": "1000"})
		e.produce("q", 0, batch(t, 1, "a"))
		acquired(t, e.fetch("m1", 0))
		time.Sleep(time.Second) // m1's lock expires
		synctest.Wait()
		if got := acquired(t, e.fetch("m2", 0)); len(got) != 1 {
			t.Fatalf("m2 acquired %v, want the record again", got)
		}
		if c := e.fetch("m2", 1, ackBatch(0, 0, share.AckAccept)).Topics[0].Partitions[0].AcknowledgeErrorCode; c != 0 {
			t.Fatalf("m2 accepting: error %d", c)
		}
		resp := e.fetch("m1", 1, ackBatch(0, 0, share.AckAccept))
		if c := resp.Topics[0].Partitions[0].AcknowledgeErrorCode; c != kerr.InvalidRecordState.Code {
			t.Fatalf("m1 accepting late what m2 accepted: error %d, want INVALID_RECORD_STATE", c)
		}
		if resp := e.fetch("m1", 2, ackBatch(5, 5, share.AckAccept)); resp.Topics[0].Partitions[0].AcknowledgeErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("m1 accepting an offset never delivered: error %d, want INVALID_REQUEST", resp.Topics[0].Partitions[0].AcknowledgeErrorCode)
		}
	})
}

// A share fetch takes its partitions in the session's order rotated left
// by the session epoch, as Kafka's PartitionRotateStrategy (round robin):
// with MaxRecords 1 and records in both partitions, successive fetches
// alternate between them. Gregor always began with the first partition,
// which starved the second while the first had records.
func TestShareFetchRotatesPartitions(t *testing.T) {
	e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
	e.createTopic("q2", 2, nil)
	q2 := e.Topic("q2")
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 3; i++ {
			e.produce("q2", p, batch(t, 1, "r"))
		}
	}
	fetch := func(epoch int32) []int32 {
		req := kmsg.NewPtrShareFetchRequest()
		req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(e.group), kmsg.StringPtr("m1"), epoch
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.MaxRecords = 0, 1, 1<<20, 1
		rt := kmsg.NewShareFetchRequestTopic()
		rt.TopicID = q2.ID
		if epoch == 0 {
			for p := int32(0); p < 2; p++ {
				rp := kmsg.NewShareFetchRequestTopicPartition()
				rp.Partition = p
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		resp := e.call(req).(*kmsg.ShareFetchResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("share fetch at epoch %d: error %d", epoch, resp.ErrorCode)
		}
		var from []int32
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if len(rp.AcquiredRecords) > 0 {
					from = append(from, rp.Partition)
				}
			}
		}
		return from
	}
	var got [][]int32
	for epoch := int32(0); epoch < 4; epoch++ {
		got = append(got, fetch(epoch))
	}
	want := [][]int32{{0}, {1}, {0}, {1}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("partitions acquired from at epochs 0-3: %v, want %v", got, want)
	}
}

// A v2 ShareFetch with IsRenewAck renews and fetches nothing (KIP-1222,
// Kafka 4.2's KAFKA-19844), and must leave MaxBytes, MinBytes, MaxRecords
// and MaxWaitMillis at 0 (INVALID_REQUEST otherwise). Gregor fetched,
// taking MaxRecords 0 for 500: a Java client's renewal acquired records
// it had not asked for.
func TestShareFetchRenewFetchesNothing(t *testing.T) {
	e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
	e.produce("q", 0, batch(t, 1, "a"))
	if got := acquired(t, e.fetch("m1", 0)); len(got) != 1 {
		t.Fatalf("acquired %v, want offset 0", got)
	}
	e.produce("q", 0, batch(t, 1, "b"))
	renew := func(epoch, maxWait int32) *kmsg.ShareFetchResponse {
		req := kmsg.NewPtrShareFetchRequest()
		req.SetVersion(2)
		req.GroupID, req.MemberID, req.ShareSessionEpoch, req.IsRenewAck = kmsg.StringPtr(e.group), kmsg.StringPtr("m1"), epoch, true
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.MaxRecords = maxWait, 0, 0, 0
		rt := kmsg.NewShareFetchRequestTopic()
		rt.TopicID = e.topic.ID
		rp := kmsg.NewShareFetchRequestTopicPartition()
		rp.AcknowledgementBatches = append(rp.AcknowledgementBatches, ackBatch(0, 0, share.AckRenew))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return e.call(req).(*kmsg.ShareFetchResponse)
	}
	if resp := renew(1, 500); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("a renewal with MaxWaitMillis 500: error %d, want INVALID_REQUEST", resp.ErrorCode)
	}
	resp := renew(1, 0)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("renewal: error %d, topics %+v; want offset 0's acknowledgement answered", resp.ErrorCode, resp.Topics)
	}
	p := resp.Topics[0].Partitions[0]
	if p.AcknowledgeErrorCode != 0 || len(p.AcquiredRecords) != 0 || len(p.Records) != 0 {
		t.Fatalf("renewal: acknowledge error %d, acquired %+v; want renewed and nothing fetched", p.AcknowledgeErrorCode, p.AcquiredRecords)
	}
	if got := acquired(t, e.fetch("m1", 2)); len(got) != 1 || got[0].First != 1 {
		t.Fatalf("the fetch after the renewal acquired %v, want offset 1 (left for it)", got)
	}
}

// failingPersister is a memPersister whose writes fail with err.
type failingPersister struct {
	*memPersister
	err error
}

func (f *failingPersister) WriteShareState(context.Context, string, [16]byte, int32, int32, int32, share.Write) error {
	return f.err
}

// An acknowledgement whose write the share coordinator refuses is answered
// as Kafka's SharePartition.fetchPersisterError turns the refusal: the
// coordinator moving is COORDINATOR_NOT_AVAILABLE, a fenced leader epoch
// NOT_LEADER_OR_FOLLOWER, an unexpected answer UNKNOWN_SERVER_ERROR.
// Gregor passed the share coordinator's code on.
func TestShareAcknowledgeWriteErrorsAsKafka(t *testing.T) {
	for _, c := range []struct {
		coordinator, want *kerr.Error
	}{
		{kerr.NotCoordinator, kerr.CoordinatorNotAvailable},
		{kerr.CoordinatorLoadInProgress, kerr.CoordinatorNotAvailable},
		{kerr.FencedLeaderEpoch, kerr.NotLeaderForPartition},
		{kerr.FencedStateEpoch, kerr.FencedStateEpoch},
		{kerr.InvalidRequest, kerr.UnknownServerError},
		{kerr.RequestTimedOut, kerr.UnknownServerError},
	} {
		e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
		e.produce("q", 0, batch(t, 1, "a"))
		acquired(t, e.fetch("m1", 0))
		e.SetSharePersister(&failingPersister{memPersister: e.per, err: fmt.Errorf("writing share state: %w", c.coordinator)})
		resp := e.fetch("m1", 1, ackBatch(0, 0, share.AckAccept))
		if got := resp.Topics[0].Partitions[0].AcknowledgeErrorCode; got != c.want.Code {
			t.Errorf("share coordinator answering %s: acknowledgement error %v, want %s", c.coordinator.Message, kerr.ErrorForCode(got), c.want.Message)
		}
	}
}

// A partition that does not exist is answered beside the session's
// others, which still wait MaxWaitMillis for records, as Kafka's
// KafkaApis sets such partitions aside before fetchMessages; a request
// with only such partitions is answered at once. Gregor answered at once
// whenever one partition had such an error. Virtual time.
func TestShareFetchUnknownPartitionDoesNotEndTheWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
		fetch := func(member string, parts ...int32) (*kmsg.ShareFetchResponse, time.Duration) {
			req := kmsg.NewPtrShareFetchRequest()
			req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(e.group), kmsg.StringPtr(member), 0
			req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.MaxRecords = 2000, 1, 1<<20, 500
			rt := kmsg.NewShareFetchRequestTopic()
			rt.TopicID = e.topic.ID
			for _, p := range parts {
				rp := kmsg.NewShareFetchRequestTopicPartition()
				rp.Partition = p
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
			start := time.Now()
			resp := e.call(req).(*kmsg.ShareFetchResponse)
			return resp, time.Since(start)
		}
		resp, took := fetch("m1", 0, 7)
		codes := map[int32]int16{}
		for _, rp := range resp.Topics[0].Partitions {
			codes[rp.Partition] = rp.ErrorCode
		}
		if took != 2*time.Second || codes[7] != kerr.UnknownTopicOrPartition.Code || codes[0] != 0 {
			t.Fatalf("partitions 0 and 7 (absent): errors %v after %v, want UNKNOWN_TOPIC_OR_PARTITION for 7 after MaxWaitMillis (2s)", codes, took)
		}
		resp, took = fetch("m2", 7)
		if took != 0 || resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("only partition 7 (absent): error %d after %v, want UNKNOWN_TOPIC_OR_PARTITION at once", resp.Topics[0].Partitions[0].ErrorCode, took)
		}
	})
}

// A ShareFetch carrying acknowledgements still long-polls for records:
// Kafka's handleShareFetchRequest runs the fetch, MaxWaitMillis and all,
// beside the acknowledgements and answers when both are done. Gregor
// answered at once. Virtual time.
func TestShareFetchWithAcknowledgementsStillWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
		e.produce("q", 0, batch(t, 1, "a"))
		acquired(t, e.fetch("m1", 0))
		req := kmsg.NewPtrShareFetchRequest()
		req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(e.group), kmsg.StringPtr("m1"), 1
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.MaxRecords = 2000, 1, 1<<20, 500
		rt := kmsg.NewShareFetchRequestTopic()
		rt.TopicID = e.topic.ID
		rp := kmsg.NewShareFetchRequestTopicPartition()
		rp.AcknowledgementBatches = append(rp.AcknowledgementBatches, ackBatch(0, 0, share.AckAccept))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		start := time.Now()
		resp := e.call(req).(*kmsg.ShareFetchResponse)
		if took := time.Since(start); took != 2*time.Second || resp.Topics[0].Partitions[0].AcknowledgeErrorCode != 0 {
			t.Fatalf("accepting with nothing new to fetch: acknowledge error %d after %v, want none after MaxWaitMillis (2s)",
				resp.Topics[0].Partitions[0].AcknowledgeErrorCode, took)
		}
	})
}

// Acknowledgement batches are checked before the partition is looked at,
// as Kafka's KafkaApis.validateAcknowledgementBatches runs first: a
// malformed batch is INVALID_REQUEST even for a partition that does not
// exist, and a partition named with no batches is answered after the
// existence check without error. Gregor looked the partition up first.
func TestShareAcknowledgeValidatesBatchesFirst(t *testing.T) {
	e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
	e.fetch("m1", 0)
	ack := func(epoch, partition int32, batches ...kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch) int16 {
		req := kmsg.NewPtrShareAcknowledgeRequest()
		req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(e.group), kmsg.StringPtr("m1"), epoch
		rt := kmsg.NewShareAcknowledgeRequestTopic()
		rt.TopicID = e.topic.ID
		rp := kmsg.NewShareAcknowledgeRequestTopicPartition()
		rp.Partition, rp.AcknowledgementBatches = partition, batches
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := e.call(req).(*kmsg.ShareAcknowledgeResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("ShareAcknowledge at epoch %d: error %d", epoch, resp.ErrorCode)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	bad := kmsg.NewShareAcknowledgeRequestTopicPartitionAcknowledgementBatch()
	bad.FirstOffset, bad.LastOffset, bad.AcknowledgeTypes = 5, 4, []int8{1}
	if c := ack(1, 7, bad); c != kerr.InvalidRequest.Code {
		t.Errorf("a malformed batch for partition 7 (absent): error %d, want INVALID_REQUEST", c)
	}
	if c := ack(2, 7); c != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("no batches for partition 7 (absent): error %d, want UNKNOWN_TOPIC_OR_PARTITION", c)
	}
	if c := ack(3, 0); c != 0 {
		t.Errorf("no batches for partition 0: error %d, want none", c)
	}
}

// An acknowledgement whose write fails is taken back, as Kafka's
// SharePartition rolls back the state transitions when the persister
// fails: the member still holds the records and its retry succeeds once
// the share coordinator answers again. Gregor kept the acknowledgement
// applied, so the retry was INVALID_RECORD_STATE.
func TestShareAcknowledgeRolledBackWhenTheWriteFails(t *testing.T) {
	e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
	e.produce("q", 0, batch(t, 1, "a", "b"))
	acquired(t, e.fetch("m1", 0))
	e.SetSharePersister(&failingPersister{memPersister: e.per, err: fmt.Errorf("writing share state: %w", kerr.CoordinatorNotAvailable)})
	resp := e.fetch("m1", 1, ackBatch(0, 1, share.AckAccept))
	if c := resp.Topics[0].Partitions[0].AcknowledgeErrorCode; c != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("accepting while the share coordinator is away: error %d, want COORDINATOR_NOT_AVAILABLE", c)
	}
	if got := acquired(t, e.fetch("m2", 0)); len(got) != 0 {
		t.Fatalf("m2 acquired %v of what m1 still holds", got)
	}
	e.SetSharePersister(e.per)
	resp = e.fetch("m1", 2, ackBatch(0, 1, share.AckAccept))
	if c := resp.Topics[0].Partitions[0].AcknowledgeErrorCode; c != 0 {
		t.Fatalf("accepting again once the share coordinator is back: error %d, want none", c)
	}
	k := sharePartKey{e.group, e.topic.ID, 0}
	e.per.mu.Lock()
	start := e.per.start[k]
	e.per.mu.Unlock()
	if start != 2 {
		t.Fatalf("persisted start offset %d, want 2", start)
	}
}

// A member that ends its share session and opens a new one while the
// session end's write is still on its way to the share coordinator gets
// its record at the delivery count the end took back. Gregor took the
// share partition for idle once the write had taken its changes, dropped
// it and loaded the state from before them: the record came back at
// delivery 2 (a compat run on a cluster, where the share coordinator was
// another broker, saw it).
func TestShareNewSessionWhileSessionEndIsWritten(t *testing.T) {
	e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
	e.produce("q", 0, batch(t, 1, "a"))
	if got := acquired(t, e.fetch("m1", 0)); len(got) != 1 || got[0].Count != 1 {
		t.Fatalf("first session acquired %v, want offset 0 at delivery 1", got)
	}
	// A write taken while the record was acquired (a background write
	// of another change, late) recorded it at delivery 1.
	w := share.Write{Start: 0, Batches: []share.Batch{{First: 0, Last: 0, State: share.Available, Count: 1}}}
	if err := e.per.WriteShareState(context.Background(), e.group, e.topic.ID, 0, 0, 0, w); err != nil {
		t.Fatal(err)
	}
	g := &gatedPersister{memPersister: e.per, gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	e.SetSharePersister(g)
	opened := false
	defer func() {
		if !opened {
			close(g.gate)
		}
	}()
	end := kmsg.NewPtrShareAcknowledgeRequest()
	end.GroupID, end.MemberID, end.ShareSessionEpoch = kmsg.StringPtr(e.group), kmsg.StringPtr("m1"), -1
	if resp := e.call(end).(*kmsg.ShareAcknowledgeResponse); resp.ErrorCode != 0 {
		t.Fatalf("ending the session: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the session end's write never reached the share coordinator")
	}
	got := acquired(t, e.fetch("m1", 0))
	opened = true
	close(g.gate)
	if len(got) != 1 || got[0].Count != 1 {
		t.Errorf("the new session acquired %v, want offset 0 at delivery 1 (the session end took its delivery back)", got)
	}
}

// A ShareAcknowledge naming a partition twice applies only the last
// entry's acknowledgements and answers the partition once, as Kafka's
// (which reads them into a map by partition); Gregor applied both.
func TestShareAcknowledgeRepeatedPartitionLastWins(t *testing.T) {
	e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
	e.produce("q", 0, batch(t, 1, "a", "b"))
	if got := acquired(t, e.fetch("m1", 0)); len(got) != 1 || got[0].First != 0 || got[0].Last != 1 {
		t.Fatalf("m1 acquired %v, want offsets 0-1", got)
	}
	req := kmsg.NewPtrShareAcknowledgeRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(e.group), kmsg.StringPtr("m1"), 1
	for _, b := range [][3]int64{{0, 0, int64(share.AckAccept)}, {1, 1, int64(share.AckRelease)}} {
		rt := kmsg.NewShareAcknowledgeRequestTopic()
		rt.TopicID = e.topic.ID
		rp := kmsg.NewShareAcknowledgeRequestTopicPartition()
		ab := kmsg.NewShareAcknowledgeRequestTopicPartitionAcknowledgementBatch()
		ab.FirstOffset, ab.LastOffset, ab.AcknowledgeTypes = b[0], b[1], []int8{int8(b[2])}
		rp.AcknowledgementBatches = append(rp.AcknowledgementBatches, ab)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp := e.call(req).(*kmsg.ShareAcknowledgeResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("ShareAcknowledge naming partition 0 twice answered %+v, want one partition without error", resp)
	}
	k := sharePartKey{e.group, e.topic.ID, 0}
	if st, ok := e.per.stateOf(k, 0); ok && st == share.Acknowledged {
		t.Fatalf("offset 0 was accepted by the first entry; only the last entry (releasing offset 1) applies")
	}
	// Offset 1 is released to another member; offset 0 is still m1's.
	if got := acquired(t, e.fetch("m2", 0)); len(got) != 1 || got[0].First != 1 || got[0].Last != 1 {
		t.Fatalf("m2 acquired %v, want offset 1 alone (released by the last entry)", got)
	}
}

// A ShareFetch naming a partition twice fetches it once and applies only
// the last entry's acknowledgements, as Kafka's (maps by partition);
// Gregor merged the entries' acknowledgements.
func TestShareFetchRepeatedPartitionLastWins(t *testing.T) {
	e := newShareEnv(t, map[string]string{"share.auto.offset.reset": "earliest"})
	e.produce("q", 0, batch(t, 1, "a", "b"))
	if got := acquired(t, e.fetch("m1", 0)); len(got) != 1 || got[0].First != 0 || got[0].Last != 1 {
		t.Fatalf("m1 acquired %v, want offsets 0-1", got)
	}
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(e.group), kmsg.StringPtr("m1"), 1
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.MaxRecords = 0, 1, 1<<20, 500
	for _, ab := range []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{ackBatch(0, 0, share.AckRelease), ackBatch(1, 1, share.AckAccept)} {
		rt := kmsg.NewShareFetchRequestTopic()
		rt.TopicID = e.topic.ID
		rp := kmsg.NewShareFetchRequestTopicPartition()
		rp.AcknowledgementBatches = append(rp.AcknowledgementBatches, ab)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp := e.call(req).(*kmsg.ShareFetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].AcknowledgeErrorCode != 0 {
		t.Fatalf("ShareFetch naming partition 0 twice answered %+v, want one partition without error", resp)
	}
	// Only the last entry (accepting offset 1) applies: offset 0 is still
	// m1's, so neither m1's fetch nor another member gets it again.
	if got := acquired(t, resp); len(got) != 0 {
		t.Fatalf("m1 acquired %v again; the first entry's release of offset 0 applied", got)
	}
	if got := acquired(t, e.fetch("m2", 0)); len(got) != 0 {
		t.Fatalf("m2 acquired %v; offset 0 is still m1's and offset 1 accepted", got)
	}
}
