package compat

// kill -9 under load: the broker must keep every record it acknowledged,
// with dense offsets, and an idempotent producer must not duplicate
// anything across the restart. Each test runs its own gregor process on
// its own data directory.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/internal/brokertest"
)

const crashPartitions = 3

// crashAck is an acknowledged record: where the broker said it put it.
type crashAck struct {
	P     int32
	O     int64
	Value string
}

// crashLoad produces from several goroutines, one client each, recording
// every acknowledgement.
type crashLoad struct {
	mu     sync.Mutex
	acks   []crashAck
	failed int
	sent   atomic.Int64
	acked  atomic.Int64
	done   atomic.Int64 // promises called, acknowledged or failed
	wg     sync.WaitGroup
}

func (l *crashLoad) run(ctx context.Context, cl *kgo.Client, worker int) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for seq := 0; ctx.Err() == nil; seq++ {
			v := fmt.Sprintf("w%d-%d", worker, seq)
			l.sent.Add(1)
			cl.Produce(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
				defer l.done.Add(1)
				l.mu.Lock()
				defer l.mu.Unlock()
				if err != nil {
					l.failed++
					return
				}
				l.acks = append(l.acks, crashAck{P: r.Partition, O: r.Offset, Value: string(r.Value)})
				l.acked.Add(1)
			})
		}
	}()
}

// snapshot waits until every produced record's promise has been called
// (kgo may call them after Close returns) and returns the acknowledgements.
func (l *crashLoad) snapshot(t *testing.T) ([]crashAck, int) {
	t.Helper()
	crashWaitFor(t, 30*time.Second, "every produced record to be acknowledged or failed", func() bool {
		return l.done.Load() == l.sent.Load()
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]crashAck(nil), l.acks...), l.failed
}

// waitFor polls cond every 10ms until it holds or timeout passes.
func crashWaitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// crashWaitServing polls ListEndOffsets until every partition answers
// without error after a restart.
func crashWaitServing(t *testing.T, addr, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ends, err := adm.ListEndOffsets(ctx, topic)
		cancel()
		if err == nil {
			err = ends.Error()
		}
		if err == nil && len(ends[topic]) != crashPartitions {
			err = fmt.Errorf("%d partitions listed", len(ends[topic]))
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted broker does not serve %s within 30s: %v", topic, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// crashCheck reads the whole topic and checks offsets are dense from 0,
// every acknowledged record sits at its acknowledged offset, and (strict)
// no value appears twice, or (!strict) no acknowledged value does.
func crashCheck(t *testing.T, addr, topic string, acks []crashAck, strict bool) []ccRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	recs := ccKgoRead(t, ctx, addr, topic, crashPartitions)
	byPos := map[[2]int64]string{}
	count := map[string]int{}
	next := map[int32]int64{}
	for _, r := range recs {
		if r.O != next[r.P] {
			t.Errorf("partition %d: offset %d follows %d: offsets are not dense", r.P, r.O, next[r.P]-1)
		}
		next[r.P] = r.O + 1
		byPos[[2]int64{int64(r.P), r.O}] = string(r.V)
		count[string(r.V)]++
	}
	missing, dup := 0, 0
	for _, a := range acks {
		got, ok := byPos[[2]int64{int64(a.P), a.O}]
		if !ok || got != a.Value {
			if missing++; missing <= 5 {
				t.Errorf("acknowledged %s at partition %d offset %d: found %q (present %v)", a.Value, a.P, a.O, got, ok)
			}
		}
		if count[a.Value] > 1 && !strict {
			if dup++; dup <= 5 {
				t.Errorf("acknowledged %s is stored %d times", a.Value, count[a.Value])
			}
		}
	}
	if strict {
		for v, n := range count {
			if n > 1 {
				if dup++; dup <= 5 {
					t.Errorf("%s is stored %d times (idempotent producer)", v, n)
				}
			}
		}
	}
	if missing > 0 || dup > 0 {
		t.Errorf("%d of %d acknowledged records missing or moved, %d duplicated; %d records stored", missing, len(acks), dup, len(recs))
	}
	return recs
}

// TestCrashAcksOneKill9 kills the broker while acks=1 producers load it
// and checks, after a restart on the same directory, that every
// acknowledged record is there exactly once at its offset.
func TestCrashAcksOneKill9(t *testing.T) {
	b := brokertest.Start(t, brokertest.Options{Dir: t.TempDir()})
	topic := randomName("crash-acks1")
	ccCreateTopic(t, b.Addr, topic, crashPartitions)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load := &crashLoad{}
	var clients []*kgo.Client
	for w := 0; w < 3; w++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic),
			kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
			kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(time.Millisecond),
			kgo.MaxBufferedRecords(2000), kgo.RecordRetries(3))
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cl)
		load.run(ctx, cl, w)
	}
	crashWaitFor(t, 60*time.Second, "15000 acknowledged records before the kill", func() bool { return load.acked.Load() >= 15000 })
	b.Kill()
	// No producer outlives the dead process: nothing is retried into the
	// restarted broker, so an acknowledged record was written once.
	cancel()
	for _, cl := range clients {
		cl.Close()
	}
	load.wg.Wait()
	acks, failed := load.snapshot(t)
	t.Logf("killed with %d records acknowledged, %d failed, %d sent", len(acks), failed, load.sent.Load())

	b.Restart()
	crashWaitServing(t, b.Addr, topic)
	recs := crashCheck(t, b.Addr, topic, acks, false)
	t.Logf("after restart: %d records stored (%d acknowledged)", len(recs), len(acks))
	if len(recs) < len(acks) {
		t.Errorf("%d records stored, fewer than the %d acknowledged", len(recs), len(acks))
	}
}

// TestCrashIdempotentProducerKill9 kills the broker under an idempotent
// producer that keeps running through the restart: afterwards nothing at
// all is duplicated, every acknowledged record is at its offset, and the
// producer carries on producing.
func TestCrashIdempotentProducerKill9(t *testing.T) {
	b := brokertest.Start(t, brokertest.Options{Dir: t.TempDir()})
	topic := randomName("crash-idem")
	ccCreateTopic(t, b.Addr, topic, crashPartitions)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load := &crashLoad{}
	var clients []*kgo.Client
	for w := 0; w < 2; w++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic),
			kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(time.Millisecond),
			kgo.MaxBufferedRecords(2000), kgo.RetryTimeout(90*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cl)
		load.run(ctx, cl, w)
	}
	crashWaitFor(t, 60*time.Second, "8000 acknowledged records before the kill", func() bool { return load.acked.Load() >= 8000 })
	b.Kill()
	atKill := load.acked.Load()
	b.Restart()
	crashWaitFor(t, 90*time.Second, "the idempotent producers to acknowledge 8000 more records after the restart",
		func() bool { return load.acked.Load() >= atKill+8000 })
	cancel()
	flushCtx, flushCancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer flushCancel()
	for _, cl := range clients {
		cl.Flush(flushCtx)
		cl.Close()
	}
	load.wg.Wait()
	acks, failed := load.snapshot(t)
	t.Logf("killed at %d acknowledged; %d acknowledged in all, %d failed (cancelled at the end), %d sent", atKill, len(acks), failed, load.sent.Load())

	crashWaitServing(t, b.Addr, topic)
	recs := crashCheck(t, b.Addr, topic, acks, true)
	if len(recs) < len(acks) {
		t.Errorf("%d records stored, fewer than the %d acknowledged", len(recs), len(acks))
	}
}
