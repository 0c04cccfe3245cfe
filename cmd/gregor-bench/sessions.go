package main

// gregor-bench sessions: what incremental fetch sessions (KIP-227) save.
// One broker, a topic of 2,000 partitions, a producer writing a record to
// a random partition every half millisecond (2,000 records/s), and a
// consumer of every partition, with fetch sessions (kgo's default) and
// without (kgo.DisableFetchSessions), alternately. Reported per second:
// fetch requests and response bytes at the client, and the broker's CPU.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fetchBytes counts fetch requests and the bytes of requests and
// responses a client exchanges.
type fetchBytes struct {
	requests, wrote, read atomic.Int64
}

func (f *fetchBytes) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == 1 && err == nil {
		f.requests.Add(1)
		f.wrote.Add(int64(n))
	}
}

func (f *fetchBytes) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == 1 && err == nil {
		f.read.Add(int64(n))
	}
}

func sessionsCmd(args []string) {
	fs := flag.NewFlagSet("sessions", flag.ExitOnError)
	gregorBin := fs.String("gregor", "bin/gregor", "gregor binary")
	rounds := fs.Int("rounds", 3, "rounds; medians are reported")
	duration := fs.Duration("duration", 5*time.Second, "how long each run consumes")
	partitions := fs.Int("partitions", 2000, "partitions of the topic")
	metrics := fs.String("metrics", "", "the broker's gregor.metrics.listener (for pprof); empty: off")
	fs.Parse(args)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	addr := freeAddr()
	pid, stop := startBroker(ctx, *gregorBin, "sessions", addr,
		"gregor.metrics.listener="+*metrics, "gregor.max.broker.partitions=20000")
	defer stop()
	topic, err := newTopic(ctx, addr, int32(*partitions))
	if err != nil {
		fail(err)
	}
	type result struct{ reqs, wrote, read, cpu float64 }
	res := map[string][]result{}
	for r := 0; r < *rounds; r++ {
		order := []bool{true, false}
		if r%2 == 1 {
			order = []bool{false, true}
		}
		for _, sessions := range order {
			name := map[bool]string{true: "sessions", false: "no sessions"}[sessions]
			fb, cpu, el, err := consumeMany(withBrokerPIDs(ctx, pid), addr, topic, *duration, sessions)
			if err != nil {
				fail(fmt.Errorf("%s: %w", name, err))
			}
			x := result{float64(fb.requests.Load()) / el, float64(fb.wrote.Load()) / el, float64(fb.read.Load()) / el, cpu / el}
			res[name] = append(res[name], x)
			fmt.Fprintf(os.Stderr, "round %d %-11s %.0f fetches/s, requests %.0f KB/s, responses %.0f KB/s, broker CPU %.0f ms/s\n",
				r+1, name, x.reqs, x.wrote/1e3, x.read/1e3, x.cpu*1e3)
		}
	}
	fmt.Printf("| %d partitions, 2,000 records/s | with sessions | without | with/without |\n|---|---|---|---|\n", *partitions)
	for _, m := range []struct {
		name string
		get  func(result) float64
		unit float64
	}{{"fetch requests/s", func(x result) float64 { return x.reqs }, 1},
		{"request KB/s", func(x result) float64 { return x.wrote }, 1e3},
		{"response KB/s", func(x result) float64 { return x.read }, 1e3},
		{"broker CPU ms/s", func(x result) float64 { return x.cpu }, 1e-3}} {
		var a, b []float64
		for _, x := range res["sessions"] {
			a = append(a, m.get(x)/m.unit)
		}
		for _, x := range res["no sessions"] {
			b = append(b, m.get(x)/m.unit)
		}
		fmt.Printf("| %s | %.0f | %.0f | %.2f |\n", m.name, median(a), median(b), median(a)/median(b))
	}
}

// consumeMany consumes every partition of topic for d while a producer
// writes 2,000 records/s spread over them; it returns the consumer's
// fetch traffic, the broker's CPU seconds and the elapsed seconds.
func consumeMany(ctx context.Context, addr, topic string, d time.Duration, sessions bool) (*fetchBytes, float64, float64, error) {
	fb := &fetchBytes{}
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.FetchMaxWait(500 * time.Millisecond), kgo.WithHooks(fb)}
	if !sessions {
		opts = append(opts, kgo.DisableFetchSessions())
	}
	c, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, 0, 0, err
	}
	defer c.Close()
	p, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		return nil, 0, 0, err
	}
	defer p.Close()
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for cctx.Err() == nil {
			got.Add(int64(c.PollFetches(cctx).NumRecords()))
		}
	}()
	// Let the consumer settle (metadata, offsets, the first full fetch).
	time.Sleep(time.Second)
	fb.requests.Store(0)
	fb.wrote.Store(0)
	fb.read.Store(0)
	cpu := startCPU(ctx)
	start := time.Now()
	tick := time.NewTicker(500 * time.Microsecond)
	for time.Since(start) < d && ctx.Err() == nil {
		<-tick.C
		p.Produce(ctx, &kgo.Record{Value: make([]byte, 100)}, nil)
	}
	tick.Stop()
	el := time.Since(start).Seconds()
	var cpuSec float64
	if end, err := cpu.total(); err == nil {
		cpuSec = end - cpu.start
	}
	ccancel()
	<-done
	return fb, cpuSec, el, nil
}
