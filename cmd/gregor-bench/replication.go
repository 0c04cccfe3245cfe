package main

// The cost of replication: produce 1 KB acks=all on a topic replicated
// three times over a local three-broker cluster (on a real ZooKeeper),
// against produce 1 KB acks=1 on a single broker, alternately.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/internal/zktest"
)

func replicationCmd(args []string) {
	fs := flag.NewFlagSet("replication", flag.ExitOnError)
	gregorBin := fs.String("gregor", "bin/gregor", "gregor binary")
	rounds := fs.Int("rounds", 5, "rounds; medians are reported")
	duration := fs.Duration("duration", 5*time.Second, "how long each run produces")
	memoryMB := fs.Int("memory-mb", 1024, "each broker's memory cgroup limit, so its page cache is in steady state (0: none; see memcg.go)")
	fs.Parse(args)

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	dir, err := os.MkdirTemp("", "gregor-bench-repl-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	zk, err := zktest.StartProcess(filepath.Join(dir, "zk"), 0, nil)
	if err != nil {
		fail(fmt.Errorf("starting ZooKeeper: %w", err))
	}
	defer zk.Stop()
	groups, noGroups := newMemoryGroups(*memoryMB)
	defer groups.remove() // after the brokers have stopped (defers run last first)

	start := func(name string, set ...string) *target {
		addr := freeAddr()
		args := []string{"--set", "listeners=PLAINTEXT://" + addr, "--set", "log.dirs=" + filepath.Join(dir, name),
			"--set", "gregor.metrics.listener=", "--set", "gregor.log.level=warn", "--set", "log.segment.delete.delay.ms=0"}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		t := &target{name: name, addr: addr, cmd: exec.Command(*gregorBin, args...)}
		t.cmd.Stderr = os.Stderr
		if err := t.cmd.Start(); err != nil {
			fail(fmt.Errorf("starting %s: %w", name, err))
		}
		if err := groups.place(name, t.cmd.Process.Pid); err != nil {
			fail(fmt.Errorf("placing %s in a memory cgroup: %w", name, err))
		}
		if err := awaitBroker(ctx, addr); err != nil {
			fail(fmt.Errorf("%s: %w", name, err))
		}
		return t
	}
	var all []*target
	defer func() {
		for _, t := range all {
			t.cmd.Process.Signal(syscall.SIGTERM)
			t.cmd.Wait()
		}
	}()
	var cluster []string
	var clusterPIDs []int
	for id := 1; id <= 3; id++ {
		t := start("broker"+strconv.Itoa(id), "broker.id="+strconv.Itoa(id), "zookeeper.connect="+zk.Addr()+"/bench",
			"default.replication.factor=3", "min.insync.replicas=2")
		all = append(all, t)
		cluster = append(cluster, t.addr)
		clusterPIDs = append(clusterPIDs, t.cmd.Process.Pid)
	}
	single := start("single")
	all = append(all, single)
	if err := awaitBrokers(ctx, cluster, 3); err != nil {
		fail(err)
	}

	type run struct {
		name string
		fn   func() ([]metric, error)
	}
	runs := []run{
		{"rf3-acks-all", func() ([]metric, error) {
			return produceLoadRF(withBrokerPIDs(ctx, clusterPIDs...), cluster[0], *duration, 1024, 3, kgo.SeedBrokers(cluster...), kgo.RequiredAcks(kgo.AllISRAcks()))
		}},
		{"rf1-acks-1", func() ([]metric, error) {
			return produceLoadRF(withBrokerPIDs(ctx, single.cmd.Process.Pid), single.addr, *duration, 1024, 1, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
		}},
	}
	if groups != nil {
		// Fill each broker's page cache to its limit, so that the counted
		// runs write into reclaimed pages.
		for _, rn := range runs {
			if ms, err := rn.fn(); err == nil {
				fmt.Fprintf(os.Stderr, "warm-up %-14s %s\n", rn.name, format(ms))
			}
		}
	}
	vals := map[string][]float64{}
	lat := map[string][]float64{}
	cpu := map[string][]float64{}
	for r := 0; r < *rounds; r++ {
		order := runs
		if r%2 == 1 {
			order = []run{runs[1], runs[0]}
		}
		for _, rn := range order {
			ms, err := rn.fn()
			if err != nil {
				fmt.Fprintf(os.Stderr, "round %d %s: %v\n", r+1, rn.name, err)
				continue
			}
			vals[rn.name] = append(vals[rn.name], ms[0].value)
			lat[rn.name] = append(lat[rn.name], ms[1].value)
			for _, m := range ms {
				if m.name == "cpu/MB" {
					cpu[rn.name] = append(cpu[rn.name], m.value)
				}
			}
			fmt.Fprintf(os.Stderr, "round %d %-14s %s\n", r+1, rn.name, format(ms))
		}
	}
	a, b := median(vals["rf3-acks-all"]), median(vals["rf1-acks-1"])
	fmt.Printf("produce 1 KB, 3 partitions (medians of %d rounds, %s each; %s)\n", *rounds, *duration, groups.describe(noGroups))
	fmt.Printf("  replication factor 3, acks=all, 3 brokers: %.0f rec/s (%.1f MB/s), brokers' CPU %.1f ms/MB (all three)\n", a, median(lat["rf3-acks-all"]), median(cpu["rf3-acks-all"]))
	fmt.Printf("  replication factor 1, acks=1, 1 broker:    %.0f rec/s (%.1f MB/s), broker CPU %.1f ms/MB\n", b, median(lat["rf1-acks-1"]), median(cpu["rf1-acks-1"]))
	if b > 0 {
		fmt.Printf("  ratio rf3-acks-all / rf1-acks-1: %.2f\n", a/b)
	}
	printPageCost(dir, 3)
}

// awaitBrokers waits until metadata lists n brokers.
func awaitBrokers(ctx context.Context, seeds []string, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		mctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := adm.Metadata(mctx)
		cancel()
		if err == nil && len(m.Brokers) == n {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("timed out waiting for %d brokers in metadata", n)
}
