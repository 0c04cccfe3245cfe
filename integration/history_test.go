package integration

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// workloads numbers workloads so values stay unique across them.
var workloads atomic.Int64

// ack is where an acknowledged record was written.
type ack struct {
	partition int32
	offset    int64
}

// workload produces unique values with acks=all until stopped, and
// records every acknowledgement.
type workload struct {
	t      *testing.T
	topic  string
	cl     *kgo.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	acked  map[string]ack
	failed int
	errs   map[string]int
}

// startWorkload starts producers on topic (idempotent unless told
// otherwise).
func startWorkload(t *testing.T, c *cluster, topic string, producers int, extra ...kgo.Opt) *workload {
	t.Helper()
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.MetadataMinAge(100 * time.Millisecond),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &workload{t: t, topic: topic, cl: cl, cancel: cancel, acked: make(map[string]ack), errs: make(map[string]int)}
	run := workloads.Add(1)
	for g := 0; g < producers; g++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			sem := make(chan struct{}, 64)
			for i := 0; ctx.Err() == nil; i++ {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				v := fmt.Sprintf("w%d-p%d-%d", run, g, i)
				cl.Produce(context.Background(), &kgo.Record{Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
					<-sem
					w.mu.Lock()
					defer w.mu.Unlock()
					if err != nil {
						w.failed++
						w.errs[err.Error()]++
						return
					}
					w.acked[v] = ack{r.Partition, r.Offset}
				})
			}
		}()
	}
	t.Cleanup(func() { w.stop(5 * time.Second) })
	return w
}

// count returns the acknowledged records so far.
func (w *workload) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// awaitMore waits until n more records than now are acknowledged.
func (w *workload) awaitMore(n int, bound time.Duration) {
	w.t.Helper()
	target := w.count() + n
	waitFor(w.t, fmt.Sprintf("%d acknowledged records (have %d)", target, w.count()), bound, func() bool { return w.count() >= target })
}

// stop ends production, waiting up to flush for records in flight.
func (w *workload) stop(flush time.Duration) {
	w.cancel()
	w.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), flush)
	defer cancel()
	w.cl.Flush(ctx)
	w.cl.Close()
}

// checkHistory reads every partition of the topic back and proves: every
// acknowledged record is at its acknowledged offset, offsets are dense,
// and (idempotent producers) no value is stored twice.
func checkHistory(t *testing.T, c *cluster, w *workload, partitions int32) {
	t.Helper()
	adm, done := c.admin()
	defer done()
	var ends map[int32]int64
	waitFor(t, "end offsets of every partition", 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		lo, err := adm.ListEndOffsets(ctx, w.topic)
		if err != nil || lo.Error() != nil {
			return false
		}
		ends = make(map[int32]int64)
		lo.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
		return int32(len(ends)) == partitions
	})
	offsets := make(map[string]map[int32]kgo.Offset)
	offsets[w.topic] = make(map[int32]kgo.Offset)
	for p := int32(0); p < partitions; p++ {
		offsets[w.topic][p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.seeds()...), kgo.ConsumePartitions(offsets)}, c.clientOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	next := make(map[int32]int64)
	seen := make(map[string]ack)
	dups := 0
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	remaining := func() bool {
		for p := int32(0); p < partitions; p++ {
			if next[p] < ends[p] {
				return true
			}
		}
		return false
	}
	for remaining() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading back: timed out at %v of %v", next, ends)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("read-back fetch error on partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next[r.Partition] {
				t.Errorf("partition %d: offset %d follows %d: offsets not dense", r.Partition, r.Offset, next[r.Partition]-1)
			}
			next[r.Partition] = r.Offset + 1
			v := string(r.Value)
			if _, ok := seen[v]; ok {
				dups++
			}
			seen[v] = ack{r.Partition, r.Offset}
		})
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	lost := 0
	for v, a := range w.acked {
		got, ok := seen[v]
		if !ok {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged record %s (partition %d offset %d) is missing", v, a.partition, a.offset)
			}
			continue
		}
		if got != a {
			t.Errorf("acknowledged record %s at %+v is stored at %+v", v, a, got)
		}
	}
	if lost > 0 {
		t.Errorf("%d acknowledged records lost", lost)
	}
	if dups > 0 {
		t.Errorf("%d duplicated records", dups)
	}
	t.Logf("history: %d acknowledged, %d failed (%v), %d stored, %d lost, %d duplicated", len(w.acked), w.failed, w.errs, len(seen), lost, dups)
}

// groupReader consumes a topic as a group member while the cluster is
// disturbed, committing as it goes, and watches the group's committed
// offsets: they may only move forward, and every acknowledged record must
// eventually be consumed (at least once).
type groupReader struct {
	t      *testing.T
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu          sync.Mutex
	seen        map[string]bool
	committed   map[int32]int64
	regressions []string
}

func startGroupReader(t *testing.T, c *cluster, topic, group string, extra ...kgo.Opt) *groupReader {
	t.Helper()
	cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(c.seeds()...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(200 * time.Millisecond),
		kgo.HeartbeatInterval(200 * time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond })}, c.clientOpts...), extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	adm, closeAdm := c.admin()
	ctx, cancel := context.WithCancel(context.Background())
	g := &groupReader{t: t, cl: cl, cancel: cancel, done: make(chan struct{}), seen: make(map[string]bool), committed: make(map[int32]int64)}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			g.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) { g.seen[string(r.Value)] = true })
			g.mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
			os, err := adm.FetchOffsets(fctx, group)
			fcancel()
			if err != nil {
				continue
			}
			g.mu.Lock()
			os.Each(func(o kadm.OffsetResponse) {
				if o.Err != nil || o.Topic != topic || o.At < 0 {
					return
				}
				if prev, ok := g.committed[o.Partition]; ok && o.At < prev {
					g.regressions = append(g.regressions, fmt.Sprintf("partition %d: committed offset went from %d back to %d", o.Partition, prev, o.At))
				}
				g.committed[o.Partition] = max(g.committed[o.Partition], o.At)
			})
			g.mu.Unlock()
		}
	}()
	go func() {
		wg.Wait()
		closeAdm()
		close(g.done)
	}()
	return g
}

// finish waits until every acknowledged record was consumed, stops the
// reader and checks the committed offsets never moved back.
func (g *groupReader) finish(w *workload, bound time.Duration) {
	g.t.Helper()
	w.mu.Lock()
	want := make([]string, 0, len(w.acked))
	for v := range w.acked {
		want = append(want, v)
	}
	w.mu.Unlock()
	missing := 0
	waitFor(g.t, "the group member to consume every acknowledged record", bound, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		missing = 0
		for _, v := range want {
			if !g.seen[v] {
				missing++
			}
		}
		return missing == 0
	})
	g.cancel()
	<-g.done
	g.cl.Close()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.regressions {
		g.t.Errorf("committed offsets moved back: %s", r)
	}
	g.t.Logf("group: consumed %d distinct records, committed %v", len(g.seen), g.committed)
}
