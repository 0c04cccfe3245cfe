package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// metric is one measured figure of a scenario.
type metric struct {
	name  string
	value float64
	unit  string
	// higherBetter says which way the Gregor/kfake ratio should go.
	higherBetter bool
}

type scenario struct {
	name string
	desc string
	run  func(ctx context.Context, addr string, d time.Duration) ([]metric, error)
}

var scenarios = []scenario{
	{"produce-1k-all", "produce 1 KB records, acks=all, idempotent, 3 partitions", func(ctx context.Context, addr string, d time.Duration) ([]metric, error) {
		return produceLoad(ctx, addr, d, 1024, kgo.RequiredAcks(kgo.AllISRAcks()))
	}},
	{"produce-100b-1", "produce 100 B records, acks=1, 3 partitions", func(ctx context.Context, addr string, d time.Duration) ([]metric, error) {
		return produceLoad(ctx, addr, d, 100, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	}},
	{"produce-100b-1-batches", "produce 100 B records, acks=1, 3 partitions, batches of 5,000 encoded once and sent through kgo's request API (the rate is the broker's, not the client's)", produceBatches},
	{"consume-1k", "consume 1 KB records from the start of a 3-partition topic", consumeLoad},
	{"e2e-10k", "end-to-end latency at 10k records/s, 100 B, acks=1", e2eLatency},
	{"e2e-10k-linger0", "end-to-end latency at 10k records/s, 100 B, acks=1, the producer without kgo's default 10 ms linger (the brokers' share of the latency)", func(ctx context.Context, addr string, d time.Duration) ([]metric, error) {
		return e2eLatencyWith(ctx, addr, d, kgo.ProducerLinger(0))
	}},
	{"group-4", "join time of a 4-member group (100 ms heartbeats), then rebalance after one leaves", groupTimes},
}

func scenarioNamed(name string) (scenario, bool) {
	for _, s := range scenarios {
		if s.name == name {
			return s, true
		}
	}
	return scenario{}, false
}

// newTopic creates a topic with a unique name.
func newTopic(ctx context.Context, addr string, partitions int32) (string, error) {
	return newTopicRF(ctx, addr, partitions, 1)
}

// newTopicRF creates a topic with a unique name and a replication factor.
func newTopicRF(ctx context.Context, addr string, partitions int32, rf int16) (string, error) {
	var b [6]byte
	rand.Read(b[:])
	topic := fmt.Sprintf("bench-%x", b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	return topic, createTopic(ctx, kadm.NewClient(cl), partitions, rf, topic)
}

// createTopic creates a topic and, like Kafka's own tools, takes
// REQUEST_TIMED_OUT as a creation still under way: the broker answers so
// when the topic is recorded but its leaders were not all elected within
// the request's timeout (a few thousand partitions on a loaded machine),
// and the callers wait for leaders or retry on unknown partitions anyway.
func createTopic(ctx context.Context, adm *kadm.Client, partitions int32, rf int16, topic string) error {
	_, err := adm.CreateTopic(ctx, partitions, rf, nil, topic)
	if errors.Is(err, kerr.RequestTimedOut) {
		return nil
	}
	return err
}

// dropTopic deletes a scenario's topic when it is done, so that the next
// run writes into page cache the broker has recycled, as a broker whose
// retention deletes old segments does, rather than into memory the
// machine has never used (see machine.go: on these VMs that is the most
// expensive part of storing a byte). The brokers the tools start delete
// files at once (log.segment.delete.delay.ms=0).
func dropTopic(addr, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return
	}
	defer cl.Close()
	kadm.NewClient(cl).DeleteTopics(ctx, topic)
}

// produceLoad produces as fast as the client can for d and reports the
// acknowledged throughput.
func produceLoad(ctx context.Context, addr string, d time.Duration, size int, opts ...kgo.Opt) ([]metric, error) {
	return produceLoadRF(ctx, addr, d, size, 1, opts...)
}

// produceLoadRF is produceLoad on a topic with replication factor rf.
func produceLoadRF(ctx context.Context, addr string, d time.Duration, size int, rf int16, opts ...kgo.Opt) ([]metric, error) {
	topic, err := newTopicRF(ctx, addr, 3, rf)
	if err != nil {
		return nil, err
	}
	defer dropTopic(addr, topic)
	batches := &batchCounter{}
	opts = append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.MaxBufferedRecords(1 << 16), kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.WithHooks(batches)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	value := make([]byte, size)
	rand.Read(value)
	var acked, failed atomic.Int64
	var firstErr atomic.Value
	// Records are recycled once acknowledged (kgo is done with a record
	// when its promise returns), as a producer built for rate would: a
	// record allocated per send is garbage the client's collector then
	// spends its CPU on, on the cores the broker shares.
	free := sync.Pool{New: func() any { return &kgo.Record{Value: value} }}
	cb := func(r *kgo.Record, err error) {
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err)
			return
		}
		acked.Add(1)
		free.Put(r)
	}
	// Warm up: metadata, producer id, connections.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
		return nil, err
	}
	acked.Store(0)
	batches.reset()
	cpu := startCPU(ctx)
	start := time.Now()
	end := start.Add(d)
	// The clock is read once per 64 records, and that reading is the
	// records' timestamp (kgo would read it for each record): on these VMs
	// a read costs about 50 ns, a tenth of what the client spends on a
	// 100 B record.
	now := start
	for i := 0; ; i++ {
		if i%64 == 0 {
			if now = time.Now(); !now.Before(end) || ctx.Err() != nil {
				break
			}
		}
		r := free.Get().(*kgo.Record)
		*r = kgo.Record{Value: value, Timestamp: now}
		cl.Produce(ctx, r, cb)
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, err
	}
	el := time.Since(start).Seconds()
	if e := firstErr.Load(); e != nil {
		return nil, fmt.Errorf("%d records failed: %v", failed.Load(), e)
	}
	n := float64(acked.Load())
	return append(append([]metric{
		{"records/s", n / el, "rec/s", true},
		{"MB/s", n * float64(size) / el / 1e6, "MB/s", true},
	}, cpu.metrics(n, size)...), batches.metric()), nil
}

// batchCounter counts the batches the client wrote and their records: a
// client-bound producer spends less per record the larger its batches,
// which grow while requests are in flight (so with the broker's latency).
type batchCounter struct {
	batches, records atomic.Int64
}

func (b *batchCounter) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	b.batches.Add(1)
	b.records.Add(int64(m.NumRecords))
}

func (b *batchCounter) reset() { b.batches.Store(0); b.records.Store(0) }

// metric is the mean records per batch (informational: no better way).
func (b *batchCounter) metric() metric {
	v := 0.0
	if n := b.batches.Load(); n > 0 {
		v = float64(b.records.Load()) / float64(n)
	}
	return metric{"rec/batch", v, "", true}
}

// consumeLoad fills a topic, then times a fresh consumer reading it all.
func consumeLoad(ctx context.Context, addr string, d time.Duration) ([]metric, error) {
	const size = 1024
	const total = 200_000
	topic, err := newTopic(ctx, addr, 3)
	if err != nil {
		return nil, err
	}
	defer dropTopic(addr, topic)
	p, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite(), kgo.MaxBufferedRecords(1<<16), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		return nil, err
	}
	value := make([]byte, size)
	rand.Read(value)
	var perr atomic.Value
	for i := 0; i < total; i++ {
		p.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				perr.CompareAndSwap(nil, err)
			}
		})
	}
	err = p.Flush(ctx)
	p.Close()
	if err != nil {
		return nil, err
	}
	if e := perr.Load(); e != nil {
		return nil, e.(error)
	}
	c, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(50<<20))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	cpu := startCPU(ctx)
	start := time.Now()
	n := 0
	for n < total {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return nil, fmt.Errorf("after %d records: %w", n, err)
		}
		n += fs.NumRecords()
	}
	el := time.Since(start).Seconds()
	return append([]metric{
		{"records/s", float64(n) / el, "rec/s", true},
		{"MB/s", float64(n) * size / el / 1e6, "MB/s", true},
	}, cpu.metrics(float64(n), size)...), nil
}

// e2eLatency produces at a steady 10k records/s and measures, at the
// consumer, the time from produce call to delivery.
func e2eLatency(ctx context.Context, addr string, d time.Duration) ([]metric, error) {
	return e2eLatencyWith(ctx, addr, d)
}

// e2eLatencyWith is e2eLatency with more producer options.
func e2eLatencyWith(ctx context.Context, addr string, d time.Duration, popts ...kgo.Opt) ([]metric, error) {
	const rate = 10_000
	topic, err := newTopic(ctx, addr, 3)
	if err != nil {
		return nil, err
	}
	defer dropTopic(addr, topic)
	c, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	p, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite()}, popts...)...)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if err := p.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 100)}).FirstErr(); err != nil {
		return nil, err
	}
	var lat []time.Duration
	var mu sync.Mutex
	consumed := make(chan struct{})
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	go func() {
		defer close(consumed)
		for cctx.Err() == nil {
			fs := c.PollFetches(cctx)
			now := time.Now().UnixNano()
			mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				if sent := int64(binary.BigEndian.Uint64(r.Value)); sent > 0 {
					lat = append(lat, time.Duration(now-sent))
				}
			})
			mu.Unlock()
		}
	}()
	// Pace in 1 ms ticks of rate/1000 records.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	cpu := startCPU(ctx)
	end := time.Now().Add(d)
	sent := 0
	start := time.Now()
	for time.Now().Before(end) && ctx.Err() == nil {
		<-tick.C
		due := int(time.Since(start).Seconds()*rate) - sent
		for i := 0; i < due; i++ {
			v := make([]byte, 100)
			binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
			p.Produce(ctx, &kgo.Record{Value: v}, nil)
			sent++
		}
	}
	if err := p.Flush(ctx); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cpuMs := cpu.metrics(float64(sent), 100)
	ccancel()
	<-consumed
	if len(lat) < sent {
		return nil, fmt.Errorf("consumed %d of %d records", len(lat), sent)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	return append([]metric{
		{"p50", pct(0.50), "ms", false},
		{"p99", pct(0.99), "ms", false},
	}, cpuMs...), nil
}

// groupTimes measures how long a 4-member group takes to form, and how
// long the other three take to own every partition after one leaves.
func groupTimes(ctx context.Context, addr string, d time.Duration) ([]metric, error) {
	return groupTimesWith(ctx, addr, false)
}

// groupTimesWith is groupTimes with the classic protocol (the members
// assign with the range balancer, heartbeating every 100 ms) or, next,
// with KIP-848's (the broker's range assignor; the broker sets the
// heartbeat interval).
func groupTimesWith(ctx context.Context, addr string, next bool) ([]metric, error) {
	const members = 4
	const partitions = 8
	topic, err := newTopic(ctx, addr, partitions)
	if err != nil {
		return nil, err
	}
	var b [6]byte
	rand.Read(b[:])
	group := fmt.Sprintf("bench-group-%x", b)
	type member struct {
		cl    *kgo.Client
		mu    sync.Mutex
		owned map[int32]bool
	}
	ms := make([]*member, members)
	start := time.Now()
	for i := range ms {
		m := &member{owned: map[int32]bool{}}
		var protocol []kgo.Opt
		if next {
			protocol = append(protocol, kgo.ServerSideBalancer())
		}
		cl, err := kgo.NewClient(append(protocol, kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group),
			kgo.HeartbeatInterval(100*time.Millisecond), kgo.SessionTimeout(6*time.Second),
			kgo.Balancers(kgo.RangeBalancer()),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
				m.mu.Lock()
				for _, p := range a[topic] {
					m.owned[p] = true
				}
				m.mu.Unlock()
			}),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
				m.mu.Lock()
				for _, p := range r[topic] {
					delete(m.owned, p)
				}
				m.mu.Unlock()
			}),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
				m.mu.Lock()
				for _, p := range r[topic] {
					delete(m.owned, p)
				}
				m.mu.Unlock()
			}))...)
		if err != nil {
			return nil, err
		}
		m.cl = cl
		ms[i] = m
		go func() {
			for ctx.Err() == nil {
				if cl.PollFetches(ctx).IsClientClosed() {
					return
				}
			}
		}()
	}
	defer func() {
		for _, m := range ms {
			if m != nil {
				m.cl.Close()
			}
		}
	}()
	// covered reports whether live members own every partition, each once,
	// and every live member owns some.
	covered := func(live []*member) bool {
		seen := 0
		for _, m := range live {
			m.mu.Lock()
			n := len(m.owned)
			m.mu.Unlock()
			if n == 0 {
				return false
			}
			seen += n
		}
		return seen == partitions
	}
	await := func(live []*member, what string) (time.Duration, error) {
		t0 := time.Now()
		for !covered(live) {
			if time.Since(t0) > 60*time.Second {
				return 0, errors.New("timed out waiting for " + what)
			}
			time.Sleep(2 * time.Millisecond)
		}
		return time.Since(t0), nil
	}
	if _, err := await(ms, "the group to form"); err != nil {
		return nil, err
	}
	join := time.Since(start)
	leaver := ms[members-1]
	ms[members-1] = nil
	t0 := time.Now()
	leaver.cl.Close() // leaves the group
	if _, err := await(ms[:members-1], "the rebalance after a leave"); err != nil {
		return nil, err
	}
	leave := time.Since(t0)
	return []metric{
		{"join", float64(join.Microseconds()) / 1000, "ms", false},
		{"leave-rebalance", float64(leave.Microseconds()) / 1000, "ms", false},
	}, nil
}

// splitHostPort returns host and port of an address.
func splitHostPort(addr string) (string, int, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("no port in %q", addr)
	}
	var port int
	_, err := fmt.Sscanf(addr[i+1:], "%d", &port)
	return addr[:i], port, err
}
