package main

// Soak: what a cluster that runs for a long time grows. A local
// three-broker cluster on a real ZooKeeper carries a steady load (an
// idempotent acks=all producer, a consumer group of two, transactions,
// a quarter of them aborted) and churn (short-lived consumers in groups
// that are deleted, short-lived producers, topics created and deleted),
// while brokers 2 and 3 are killed (SIGKILL) or stopped (SIGTERM) in turn
// and restarted. Every broker's goroutines, open files, resident memory,
// live heap and metric series are sampled from /metrics. Broker 1 is never
// restarted: its figures over the second half of the run, when start-up
// has settled, say whether anything grows without bound (a watch, a
// goroutine or a map entry per topic, group or connection ever seen).

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type soakSample struct {
	at                              time.Duration
	goroutines, fds, rssMB, heapMB  float64
	series                          int
	produced, consumed, txns, churn int64
}

func soakCmd(args []string) {
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	bin := fs.String("gregor", "bin/gregor", "gregor binary")
	duration := fs.Duration("duration", 10*time.Minute, "how long the load runs")
	bounce := fs.Duration("bounce", time.Minute, "how often broker 2 or 3 is killed or stopped and restarted (0: never)")
	every := fs.Duration("sample", 30*time.Second, "how often the brokers are sampled")
	fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "gregor-bench-soak-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	zk, brokers, seeds, err := startBenchCluster(ctx, *bin, dir)
	defer stopBenchCluster(zk, brokers)
	if err != nil {
		fail(err)
	}
	adm, closeAdm, err := benchAdmin(seeds)
	if err != nil {
		fail(err)
	}
	defer closeAdm()
	for _, t := range []string{"soak", "soak-txn"} {
		if err := createTopic(ctx, adm, 6, 3, t); err != nil {
			fail(err)
		}
		if err := awaitFullISR(ctx, adm, t); err != nil {
			fail(err)
		}
	}
	fmt.Printf("soak: 3 brokers, %v of load and churn, broker 2 or 3 bounced every %v, sampled every %v\n", *duration, *bounce, *every)

	lctx, stopLoad := context.WithTimeout(ctx, *duration)
	defer stopLoad()
	var produced, failed, consumed, txns, churn, bounces atomic.Int64
	var wg sync.WaitGroup
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	client := func(opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, opts...)...)
		if err != nil {
			fail(err)
		}
		return cl
	}
	// Every acknowledged record's sequence number, read back at the end.
	var ackedMu sync.Mutex
	acked := map[uint64]bool{}
	run(func() { // about 1,000 records a second, each awaited by acks=all
		cl := client(kgo.DefaultProduceTopic("soak"), kgo.RequiredAcks(kgo.AllISRAcks()))
		defer cl.Close()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for seq := uint64(0); lctx.Err() == nil; seq++ {
			<-tick.C
			val := make([]byte, 200)
			binary.BigEndian.PutUint64(val, seq)
			cl.Produce(lctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
				switch {
				case err == nil:
					produced.Add(1)
					ackedMu.Lock()
					acked[seq] = true
					ackedMu.Unlock()
				case lctx.Err() == nil:
					failed.Add(1)
				}
			})
		}
	})
	for range 2 {
		run(func() {
			cl := client(kgo.ConsumeTopics("soak"), kgo.ConsumerGroup("soak"))
			defer cl.Close()
			for lctx.Err() == nil {
				consumed.Add(int64(cl.PollFetches(lctx).NumRecords()))
			}
		})
	}
	run(func() {
		cl := client(kgo.DefaultProduceTopic("soak-txn"), kgo.TransactionalID("soak"))
		defer cl.Close()
		for lctx.Err() == nil {
			if err := cl.BeginTransaction(); err != nil {
				sleepCtx(lctx, 100*time.Millisecond)
				continue
			}
			for range 10 {
				cl.Produce(lctx, &kgo.Record{Value: []byte("t")}, nil)
			}
			end := kgo.TryCommit
			if rand.IntN(4) == 0 || cl.Flush(lctx) != nil {
				end = kgo.TryAbort
			}
			if cl.EndTransaction(lctx, end) == nil {
				txns.Add(1)
			}
			sleepCtx(lctx, 50*time.Millisecond)
		}
	})
	run(func() {
		for i := 0; lctx.Err() == nil; i++ {
			group := fmt.Sprintf("soak-churn-%d", i%50)
			cons := client(kgo.ConsumeTopics("soak"), kgo.ConsumerGroup(group), kgo.FetchMaxWait(200*time.Millisecond))
			pctx, cancel := context.WithTimeout(lctx, 3*time.Second)
			cons.PollFetches(pctx)
			cancel()
			cons.CommitUncommittedOffsets(lctx)
			cons.Close()
			prod := client(kgo.DefaultProduceTopic("soak"))
			pctx, cancel = context.WithTimeout(lctx, 5*time.Second)
			prod.ProduceSync(pctx, &kgo.Record{Value: []byte("x")})
			cancel()
			prod.Close()
			if i%10 == 0 {
				topic := fmt.Sprintf("soak-churn-%d", i)
				adm.CreateTopic(lctx, 3, 3, nil, topic)
				dctx, cancel := context.WithTimeout(lctx, 5*time.Second)
				adm.DeleteTopics(dctx, topic)
				adm.DeleteGroups(dctx, group)
				cancel()
			}
			churn.Add(1)
		}
	})
	run(func() { soakIdentityChurn(lctx, adm, seeds) })
	if *bounce > 0 {
		run(func() {
			for n := 0; sleepCtx(lctx, *bounce); n++ {
				b := brokers[1+n%2]
				sig, how := syscall.SIGKILL, "killed"
				if n%4 >= 2 {
					sig, how = syscall.SIGTERM, "stopped"
				}
				b.cmd.Process.Signal(sig)
				b.cmd.Wait()
				if err := b.start(ctx); err != nil {
					fmt.Fprintf(os.Stderr, "soak: restarting broker %d: %v\n", b.id, err)
					return
				}
				bounces.Add(1)
				fmt.Printf("  %s broker %d and restarted it\n", how, b.id)
			}
		})
	}

	start := time.Now()
	samples := map[int][]soakSample{}
	fmt.Println("  each broker: goroutines, open files, RSS MB, heap MB live after the last GC, metric series")
	fmt.Printf("  %6s  %-37s  %-37s  %s\n", "t", "broker 1", "broker 2", "broker 3")
	for sleepCtx(lctx, *every) {
		line := fmt.Sprintf("  %5.0fs", time.Since(start).Seconds())
		for _, b := range brokers {
			s := sampleBroker(b.metrics)
			s.at, s.produced, s.consumed, s.txns, s.churn = time.Since(start), produced.Load(), consumed.Load(), txns.Load(), churn.Load()
			samples[b.id] = append(samples[b.id], s)
			line += fmt.Sprintf("  %6.0f %6.0f %6.1f %6.1f %7d   ", s.goroutines, s.fds, s.rssMB, s.heapMB, s.series)
		}
		fmt.Println(line)
	}
	stopLoad()
	wg.Wait()
	fmt.Printf("soak done: %d records acknowledged, %d failed, %d consumed, %d transactions ended, %d churn rounds, %d bounces\n",
		produced.Load(), failed.Load(), consumed.Load(), txns.Load(), churn.Load(), bounces.Load())
	ackedMu.Lock() // a promise failed by the producer's close may run late
	defer ackedMu.Unlock()
	if err := readBackSoak(ctx, adm, seeds, acked); err != nil {
		fail(err)
	}
	// Growth over the second half of the run, where broker 1 (never
	// restarted) has settled: per hour, the least-squares slope of its
	// samples.
	s := samples[1][len(samples[1])/2:]
	if len(s) < 4 {
		fmt.Println("too few samples for growth rates (run longer)")
		return
	}
	slope := func(f func(soakSample) float64) float64 {
		var n, sx, sy, sxx, sxy float64
		for _, x := range s {
			h, v := x.at.Hours(), f(x)
			n, sx, sy, sxx, sxy = n+1, sx+h, sy+v, sxx+h*h, sxy+h*v
		}
		return (n*sxy - sx*sy) / (n*sxx - sx*sx)
	}
	a, z := s[0], s[len(s)-1]
	fmt.Printf("broker 1 from %v to %v, change per hour: goroutines %+.0f, open files %+.0f, RSS %+.1f MB, heap %+.1f MB, metric series %+.0f\n",
		a.at.Round(time.Second), z.at.Round(time.Second),
		slope(func(x soakSample) float64 { return x.goroutines }), slope(func(x soakSample) float64 { return x.fds }),
		slope(func(x soakSample) float64 { return x.rssMB }), slope(func(x soakSample) float64 { return x.heapMB }),
		slope(func(x soakSample) float64 { return float64(x.series) }))
	fmt.Printf("  meanwhile %d churn rounds (%d topics created and deleted) and %d records acknowledged\n", z.churn-a.churn, (z.churn-a.churn)/10, z.produced-a.produced)
}

// sampleBroker reads a broker's process figures from its /metrics.
func sampleBroker(addr string) soakSample {
	m := scrape(addr)
	return soakSample{
		goroutines: m["go_goroutines"], fds: m["process_open_fds"], series: len(m),
		// The heap live after the last collection: the next one is due
		// at twice that (GOGC=100).
		rssMB: m["process_resident_memory_bytes"] / 1e6, heapMB: m["go_memstats_next_gc_bytes"] / 2 / 1e6,
	}
}

// sleepCtx waits d and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// readBackSoak reads the soak topic from its start to its end and checks
// that every acknowledged record (acked: their sequence numbers) is there
// once: a broker killed and restarted must lose and double none.
func readBackSoak(ctx context.Context, adm *kadm.Client, seeds []string, acked map[uint64]bool) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, "soak")
	if err != nil {
		return fmt.Errorf("soak read-back: %w", err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics("soak"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	seen := make(map[uint64]int, len(acked))
	var churned int
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("soak read-back: the topic's end not reached in 2 minutes (partitions %v left): %w", left, ctx.Err())
		}
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				fmt.Fprintf(os.Stderr, "soak read-back: partition %d: %v\n", p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if len(r.Value) >= 8 {
				seen[binary.BigEndian.Uint64(r.Value)]++
			} else {
				churned++ // a churn producer's record
			}
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	var lost, doubled []uint64
	for seq := range acked {
		switch seen[seq] {
		case 0:
			lost = append(lost, seq)
		case 1:
		default:
			doubled = append(doubled, seq)
		}
	}
	if len(lost) > 0 || len(doubled) > 0 {
		slices.Sort(lost)
		slices.Sort(doubled)
		return fmt.Errorf("soak read-back: of %d acknowledged records, %d lost (first %v) and %d stored more than once (first %v)",
			len(acked), len(lost), lost[:min(len(lost), 10)], len(doubled), doubled[:min(len(doubled), 10)])
	}
	var unacked []uint64
	for seq := range seen {
		if !acked[seq] {
			unacked = append(unacked, seq)
		}
	}
	slices.Sort(unacked)
	fmt.Printf("read back: all %d acknowledged records are in the topic once (beside %d records of the churn's producers)\n", len(acked), churned)
	if len(unacked) > 0 {
		fmt.Printf("  %d stored without an acknowledgement, numbers %d to %d\n", len(unacked), unacked[0], unacked[len(unacked)-1])
	}
	return nil
}
