package main

// Availability through a rolling restart: a local three-broker cluster on
// a real ZooKeeper, a topic replicated three times with
// min.insync.replicas=2, a client producing at a fixed rate with acks=all
// and a consumer group committing, while every broker in turn is stopped
// with SIGTERM, restarted and waited for until every ISR is full again.
// Reported: how long acknowledgements waited (p50, p99, max) over the
// restarts, failed sends, how long the brokers took to stop, and the
// brokers' metadata apply delays (from /metrics). A stall shows as a long
// wait, not as a lower rate, so a regression shows as a number.

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/internal/zktest"
)

func rollingCmd(args []string) {
	fs := flag.NewFlagSet("rolling", flag.ExitOnError)
	gregorBin := fs.String("gregor", "bin/gregor", "gregor binary")
	rounds := fs.Int("rounds", 3, "rolling restarts (each on a fresh cluster); medians are reported")
	rate := fs.Int("rate", 500, "records per second produced")
	partitions := fs.Int("partitions", 6, "partitions of the topic")
	fs.Parse(args)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	var p50s, p99s, maxes, applies []float64
	var applied, appliedFast float64
	worst := time.Duration(0)
	for r := 1; r <= *rounds && ctx.Err() == nil; r++ {
		res, err := rollingRound(ctx, *gregorBin, *rate, int32(*partitions))
		if err != nil {
			fmt.Fprintf(os.Stderr, "round %d: %v\n", r, err)
			continue
		}
		fmt.Fprintf(os.Stderr, "round %d: %s\n", r, res)
		p50s = append(p50s, ms(res.p50))
		p99s = append(p99s, ms(res.p99))
		maxes = append(maxes, ms(res.max))
		applies = append(applies, ms(res.applyMax))
		applied, appliedFast = applied+res.applied, appliedFast+res.appliedFast
		worst = max(worst, res.max)
	}
	fmt.Printf("ack waits through a rolling restart of 3 brokers (SIGTERM each in turn), acks=all at %d records/s, %d partitions, medians of %d rounds\n",
		*rate, *partitions, len(maxes))
	fmt.Printf("  p50 %.1f ms  p99 %.1f ms  max %.1f ms  (worst max %.1f ms)\n", median(p50s), median(p99s), median(maxes), ms(worst))
	fmt.Printf("  metadata changes applied within 100 ms of ZooKeeper reporting them: %.1f%% of %.0f; max delay %.1f ms (median over rounds)\n",
		100*appliedFast/max(applied, 1), applied, median(applies))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// rollingResult is one rolling restart's figures.
type rollingResult struct {
	acked, failed int
	p50, p99, max time.Duration
	stops         []time.Duration
	applyMax      time.Duration
	errs          map[string]int
	// applied and appliedFast count metadata changes applied, and those
	// applied within 100 ms of ZooKeeper reporting them.
	applied, appliedFast float64
}

func (r rollingResult) String() string {
	var stops []string
	for _, s := range r.stops {
		stops = append(stops, s.Round(time.Millisecond).String())
	}
	return fmt.Sprintf("%d acked, %d failed %v; ack wait p50 %v p99 %v max %v; stops took %s; metadata changes applied within 100 ms: %.0f of %.0f, max %v",
		r.acked, r.failed, r.errs, r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond), r.max.Round(100*time.Microsecond),
		strings.Join(stops, ", "), r.appliedFast, r.applied, r.applyMax.Round(100*time.Microsecond))
}

// benchBroker is one broker process that can be stopped and started again
// on the same port and data.
type benchBroker struct {
	id      int
	addr    string
	metrics string
	args    []string
	bin     string
	cmd     *exec.Cmd
}

func (b *benchBroker) start(ctx context.Context) error {
	b.cmd = exec.Command(b.bin, b.args...)
	if err := b.cmd.Start(); err != nil {
		return err
	}
	return awaitBroker(ctx, b.addr)
}

// startBenchCluster starts ZooKeeper and three brokers with data under dir,
// and waits until metadata lists all three; stopBenchCluster stops what it
// started, whatever it returned.
func startBenchCluster(ctx context.Context, bin, dir string) (*zktest.Process, []*benchBroker, []string, error) {
	zk, err := zktest.StartProcess(filepath.Join(dir, "zk"), 0, nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("starting ZooKeeper: %w", err)
	}
	var brokers []*benchBroker
	var seeds []string
	for id := 1; id <= 3; id++ {
		b := &benchBroker{id: id, bin: bin, addr: freeAddr(), metrics: freeAddr()}
		for _, kv := range []string{
			"broker.id=" + strconv.Itoa(id), "listeners=PLAINTEXT://" + b.addr, "log.dirs=" + filepath.Join(dir, "broker"+strconv.Itoa(id)),
			"zookeeper.connect=" + zk.Addr() + "/bench", "zookeeper.session.timeout.ms=6000", "gregor.metrics.listener=" + b.metrics,
			"gregor.log.level=warn", "default.replication.factor=3", "min.insync.replicas=2", "offsets.topic.replication.factor=3",
			"offsets.topic.num.partitions=3", "group.initial.rebalance.delay.ms=0",
		} {
			b.args = append(b.args, "--set", kv)
		}
		if err := b.start(ctx); err != nil {
			return zk, brokers, seeds, fmt.Errorf("broker %d: %w", id, err)
		}
		brokers = append(brokers, b)
		seeds = append(seeds, b.addr)
	}
	return zk, brokers, seeds, awaitBrokers(ctx, seeds, 3)
}

func stopBenchCluster(zk *zktest.Process, brokers []*benchBroker) {
	for _, b := range brokers {
		if b.cmd != nil && b.cmd.ProcessState == nil {
			b.cmd.Process.Kill()
			b.cmd.Wait()
		}
	}
	if zk != nil {
		zk.Stop()
	}
}

// stop sends SIGTERM and waits for the exit, returning how long it took.
func (b *benchBroker) stop() time.Duration {
	t0 := time.Now()
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.cmd.Wait()
	return time.Since(t0)
}

func rollingRound(ctx context.Context, bin string, rate int, partitions int32) (rollingResult, error) {
	var res rollingResult
	dir, err := os.MkdirTemp("", "gregor-bench-rolling-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	zk, brokers, seeds, err := startBenchCluster(ctx, bin, dir)
	defer stopBenchCluster(zk, brokers)
	if err != nil {
		return res, err
	}
	adm, closeAdm, err := benchAdmin(seeds)
	if err != nil {
		return res, err
	}
	defer closeAdm()
	topic := "rolling"
	if err := createTopic(ctx, adm, partitions, 3, topic); err != nil {
		return res, err
	}
	if err := awaitFullISR(ctx, adm, topic); err != nil {
		return res, err
	}

	// The producer keeps the client's defaults (its 5 s metadata minimum
	// age included) but for a 100 ms retry backoff, the Java producer's.
	prod, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		return res, err
	}
	defer prod.Close()
	cons, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup("rolling-bench"), kgo.ConsumeTopics(topic),
		kgo.AutoCommitInterval(200*time.Millisecond), kgo.HeartbeatInterval(200*time.Millisecond))
	if err != nil {
		return res, err
	}
	defer cons.Close()

	var (
		mu       sync.Mutex
		waits    []time.Duration
		failed   int
		produced int // while measuring
		errs     = map[string]int{}
	)
	measuring := false
	pctx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(2)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		per := max(rate/100, 1)
		for i := 0; pctx.Err() == nil; {
			select {
			case <-pctx.Done():
				return
			case <-tick.C:
			}
			for range per {
				at := time.Now()
				v := strconv.Itoa(i)
				i++
				mu.Lock()
				if measuring {
					produced++
				}
				mu.Unlock()
				prod.Produce(context.Background(), &kgo.Record{Value: []byte(v)}, func(_ *kgo.Record, err error) {
					d := time.Since(at)
					mu.Lock()
					defer mu.Unlock()
					if !measuring {
						return
					}
					if err != nil {
						failed++
						errs[err.Error()]++
						return
					}
					waits = append(waits, d)
				})
			}
		}
	}()
	go func() {
		defer wg.Done()
		for pctx.Err() == nil {
			cons.PollFetches(pctx)
		}
	}()
	if err := awaitFullISR(ctx, adm, "__consumer_offsets"); err != nil {
		return res, err
	}
	mu.Lock()
	measuring = true
	mu.Unlock()
	// A broker's apply delays are read before it stops (a restart
	// starts them afresh) and at the end.
	applyMax := func(b *benchBroker) {
		m := scrape(b.metrics)
		res.applyMax = max(res.applyMax, time.Duration(m["gregor_metadata_apply_delay_max_seconds"]*float64(time.Second)))
		res.applied += m["gregor_metadata_apply_delay_seconds_count"]
		res.appliedFast += m[`gregor_metadata_apply_delay_seconds_bucket{le="0.1"}`]
	}
	for _, b := range brokers {
		applyMax(b)
		res.stops = append(res.stops, b.stop())
		// Out of every ISR first, so that the wait below cannot be
		// satisfied by metadata from before the stop.
		for _, t := range []string{topic, "__consumer_offsets"} {
			if err := awaitOutOfISR(ctx, adm, t, int32(b.id)); err != nil {
				return res, err
			}
		}
		if err := b.start(ctx); err != nil {
			return res, fmt.Errorf("restarting broker %d: %w", b.id, err)
		}
		for _, t := range []string{topic, "__consumer_offsets"} {
			if err := awaitFullISR(ctx, adm, t); err != nil {
				return res, err
			}
		}
	}
	stopProducing()
	wg.Wait()
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	prod.Flush(fctx)
	cancel()
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(waits, func(i, j int) bool { return waits[i] < waits[j] })
	res.acked, res.failed, res.errs = len(waits), failed, errs
	if pending := produced - len(waits) - failed; pending > 0 {
		// Never acknowledged, even after the flush: as failed as can be.
		res.failed += pending
		res.errs["not acknowledged 10 s after production stopped"] += pending
	}
	if n := len(waits); n > 0 {
		res.p50, res.p99, res.max = waits[n/2], waits[min(n-1, n*99/100)], waits[n-1]
	}
	for _, b := range brokers {
		applyMax(b)
	}
	return res, nil
}

func benchAdmin(seeds []string) (*kadm.Client, func(), error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

// awaitFullISR waits until every partition of topic has a leader and all
// its replicas in sync.
func awaitFullISR(ctx context.Context, adm *kadm.Client, topic string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		mctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := adm.Metadata(mctx, topic)
		cancel()
		if err == nil {
			if td, ok := m.Topics[topic]; ok && td.Err == nil && len(td.Partitions) > 0 {
				full := true
				for _, p := range td.Partitions {
					full = full && p.Leader >= 0 && len(p.ISR) == len(p.Replicas)
				}
				if full {
					return nil
				}
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("timed out waiting for every ISR of %s to be full", topic)
}

// awaitOutOfISR waits until no partition of topic has broker in its ISR.
func awaitOutOfISR(ctx context.Context, adm *kadm.Client, topic string, broker int32) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		mctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := adm.Metadata(mctx, topic)
		cancel()
		if td, ok := m.Topics[topic]; err == nil && ok && td.Err == nil {
			out := true
			for _, p := range td.Partitions {
				out = out && !slices.Contains(p.ISR, broker)
			}
			if out {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("timed out waiting for broker %d to leave every ISR of %s", broker, topic)
}

// scrape reads a Prometheus endpoint's samples, by name and labels.
func scrape(addr string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}
