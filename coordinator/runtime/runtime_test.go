package runtime

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/records"
)

// memLog is an in-memory Log of one partition whose high watermark moves
// only when the test commits.
type memLog struct {
	mu      sync.Mutex
	batches [][]byte
	leo, hw int64
	epoch   int32
	readErr error
	moved   chan struct{} // closed and replaced when hw or epoch moves
	// maxBatch, if set, is the topic's max.message.bytes: a larger batch
	// is MESSAGE_TOO_LARGE, as the broker answers.
	maxBatch int
}

func newMemLog() *memLog { return &memLog{moved: make(chan struct{})} }

func (l *memLog) AppendInternal(_ string, _, epoch int32, batch []byte) (int64, int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if epoch != l.epoch {
		return -1, -1, kerr.FencedLeaderEpoch
	}
	if l.maxBatch > 0 && len(batch) > l.maxBatch {
		return -1, -1, kerr.MessageTooLarge
	}
	b := append([]byte(nil), batch...)
	records.SetBaseOffset(b, l.leo)
	h, _ := records.ParseHeader(b)
	base := l.leo
	l.leo = h.NextOffset()
	l.batches = append(l.batches, b)
	return base, l.leo - 1, nil
}

func (l *memLog) AwaitCommitted(ctx context.Context, _ string, _, epoch int32, last int64) error {
	for {
		l.mu.Lock()
		hw, cur, moved := l.hw, l.epoch, l.moved
		l.mu.Unlock()
		switch {
		case cur != epoch:
			return kerr.NotLeaderForPartition
		case hw > last:
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (l *memLog) ReadCommitted(_ string, _ int32, offset int64, _ int32) ([]byte, int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.readErr != nil {
		return nil, 0, l.readErr
	}
	var out []byte
	for _, b := range l.batches {
		h, _ := records.ParseHeader(b)
		if h.BaseOffset >= offset && h.NextOffset() <= l.hw {
			out = append(out, b...)
		}
	}
	return out, l.hw, nil
}

func (l *memLog) LogStartOffsetOf(string, int32) int64 { return 0 }

func (l *memLog) LogEndOffsetOf(string, int32) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leo
}

// commit moves the high watermark to the log end.
func (l *memLog) commit() { l.set(func() { l.hw = l.leo }) }

// newEpoch changes the leader epoch (leadership lost and won again).
func (l *memLog) newEpoch(e int32) { l.set(func() { l.epoch = e }) }

func (l *memLog) set(f func()) {
	l.mu.Lock()
	f()
	close(l.moved)
	l.moved = make(chan struct{})
	l.mu.Unlock()
}

// counter is a Machine counting replayed records; Unloaded may be held.
type counter struct {
	mu       sync.Mutex
	records  int
	loaded   bool
	unloaded chan struct{}
	block    chan struct{} // Unloaded waits for it when set
}

func (c *counter) Replay(batch []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return records.Each(batch, func(*records.Record) error { c.records++; return nil })
}
func (c *counter) Loaded() { c.mu.Lock(); c.loaded = true; c.mu.Unlock() }
func (c *counter) Unloaded() {
	if c.block != nil {
		<-c.block
	}
	close(c.unloaded)
}

func newRuntime(l *memLog, block chan struct{}) *Runtime[*counter] {
	return New("__test", l, func(*Shard[*counter]) *counter {
		return &counter{unloaded: make(chan struct{}), block: block}
	}, zerolog.Nop())
}

func loaded(t *testing.T, r *Runtime[*counter]) *Shard[*counter] {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := r.Current(0)
	if s == nil || !s.AwaitLoaded(ctx) {
		t.Fatal("shard 0 not loaded after 5s")
	}
	return s
}

func TestShardLoadWaitsForItsLogEndToCommit(t *testing.T) {
	l := newMemLog()
	r := newRuntime(l, nil)
	defer r.Close()
	r.Leadership(0, true, 0)
	s := loaded(t, r)
	w, err := s.Append([]records.Record{{Value: []byte("a")}, {Value: []byte("b")}}, -1, -1, 1)
	if err != nil {
		t.Fatal(err)
	}
	l.commit()
	if err := w.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Append([]records.Record{{Value: []byte("not yet committed")}}, -1, -1, 1)
	// A new term (this broker again, or a follower that has every record)
	// loads only once its high watermark reaches the log end it found: a
	// new leader's high watermark can lag what the last one committed.
	l.newEpoch(1)
	r.Leadership(0, true, 1)
	if _, err := r.Shard(0); err != kerr.CoordinatorLoadInProgress {
		t.Fatalf("loading with an uncommitted tail: %v, want COORDINATOR_LOAD_IN_PROGRESS", err)
	}
	l.commit()
	s2 := loaded(t, r)
	if s2 == s || s2.Machine.records != 3 || !s2.Machine.loaded {
		t.Fatalf("reloaded shard: same=%v records=%d loaded=%v, want a new shard with 3 records", s2 == s, s2.Machine.records, s2.Machine.loaded)
	}
	select {
	case <-s.Machine.unloaded:
	case <-time.After(5 * time.Second):
		t.Fatal("the old term's shard was not unloaded within 5s")
	}
}

func TestShardLoadInProgressAndNotCoordinator(t *testing.T) {
	l := newMemLog()
	l.readErr = kerr.NotLeaderForPartition // the load cannot finish
	r := newRuntime(l, nil)
	defer r.Close()
	if _, err := r.Shard(0); err != kerr.NotCoordinator {
		t.Fatalf("before leadership: %v, want NOT_COORDINATOR", err)
	}
	r.Leadership(0, true, 0)
	if _, err := r.Shard(0); err != kerr.CoordinatorLoadInProgress {
		t.Fatalf("while loading: %v, want COORDINATOR_LOAD_IN_PROGRESS", err)
	}
	if !r.Loading() {
		t.Fatal("Loading() false while shard 0 loads")
	}
	r.Leadership(0, false, 0)
	if _, err := r.Shard(0); err != kerr.NotCoordinator {
		t.Fatalf("after leadership ended: %v, want NOT_COORDINATOR", err)
	}
}

// The same leader epoch reported again (every ISR change of the partition
// is) keeps the shard and its state.
func TestShardKeptOnRepeatedLeadership(t *testing.T) {
	r := newRuntime(newMemLog(), nil)
	defer r.Close()
	r.Leadership(0, true, 4)
	s := loaded(t, r)
	r.Leadership(0, true, 4)
	if r.Current(0) != s || !s.Active() {
		t.Fatal("a repeated report of leader epoch 4 replaced the loaded shard")
	}
}

// A write waits for the high watermark and fails NOT_COORDINATOR when
// leadership ends first; reporting that end never waits for the shard's
// machine to unload.
func TestWriteWaitsForCommitAndUnloadNeverBlocks(t *testing.T) {
	l := newMemLog()
	block := make(chan struct{})
	r := newRuntime(l, block)
	defer r.Close()
	r.Leadership(0, true, 0)
	s := loaded(t, r)
	w, err := s.Append([]records.Record{{Value: []byte("x")}}, -1, -1, 1)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Wait(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("write completed before the high watermark passed it: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	returned := make(chan struct{})
	go func() {
		r.Leadership(0, false, 0) // Unloaded is blocked on block
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(2 * time.Second):
		t.Fatal("Leadership(false) blocked on the shard's unload")
	}
	select {
	case err := <-done:
		if !errors.Is(err, kerr.NotCoordinator) {
			t.Fatalf("write after unload: %v, want NOT_COORDINATOR", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a write waiting for replication was not ended by the unload")
	}
	if _, err := s.Append([]records.Record{{Value: []byte("y")}}, -1, -1, 1); err != kerr.NotCoordinator {
		t.Fatalf("append after unload: %v, want NOT_COORDINATOR", err)
	}
	close(block)
}

// A shard loaded at an older epoch cannot append once the partition has
// a newer leader epoch.
func TestAppendFencedByLeaderEpoch(t *testing.T) {
	l := newMemLog()
	r := newRuntime(l, nil)
	defer r.Close()
	r.Leadership(0, true, 0)
	s := loaded(t, r)
	l.newEpoch(1)
	if _, err := s.Append([]records.Record{{Value: []byte("x")}}, -1, -1, 1); err != kerr.NotCoordinator {
		t.Fatalf("append at a stale epoch: %v, want NOT_COORDINATOR", err)
	}
}

// A batch past the topic's max.message.bytes is UNKNOWN_SERVER_ERROR, as
// Kafka's coordinators answer it; records that need not be written
// together (tombstones) are split into batches that fit.
func TestAppendPastMaxMessageBytes(t *testing.T) {
	l := newMemLog()
	l.maxBatch = 1000
	r := newRuntime(l, nil)
	defer r.Close()
	r.Leadership(0, true, 0)
	s := loaded(t, r)
	var recs []records.Record
	for range 100 {
		recs = append(recs, records.Record{Key: []byte("a key of some thirty bytes....")})
	}
	if _, err := s.Append(recs, -1, -1, 1); err != kerr.UnknownServerError {
		t.Fatalf("a 100-record batch past max.message.bytes: %v, want UNKNOWN_SERVER_ERROR", err)
	}
	w, err := s.AppendSplit(recs, 1)
	if err != nil {
		t.Fatalf("the same records split: %v", err)
	}
	l.mu.Lock()
	n, batches := 0, len(l.batches)
	for _, b := range l.batches {
		h, _ := records.ParseHeader(b)
		n += int(h.NumRecords)
		if len(b) > l.maxBatch {
			t.Errorf("a split batch of %d bytes, past %d", len(b), l.maxBatch)
		}
	}
	l.mu.Unlock()
	if n != 100 || batches < 2 || w.Last != 99 {
		t.Fatalf("split into %d batches of %d records in all, last write ending at %d; want 100 records in several, ending at 99", batches, n, w.Last)
	}
}
