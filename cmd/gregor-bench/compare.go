package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/internal/freeport"
)

// target is a broker under measurement.
type target struct {
	name string
	addr string
	cmd  *exec.Cmd
}

func compareCmd(args []string) {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	gregorBin := fs.String("gregor", "bin/gregor", "gregor binary")
	rounds := fs.Int("rounds", 5, "rounds; medians are reported")
	duration := fs.Duration("duration", 5*time.Second, "how long each timed scenario runs")
	only := fs.String("scenarios", "", "comma-separated scenarios (default all)")
	memoryMB := fs.Int("memory-mb", 0, "each broker's memory cgroup limit, so its page cache is in steady state after a warm-up run (0: none, the brokers take memory as it comes; see memcg.go)")
	pin := fs.Bool("pin", false, "run the brokers on the last CPU and the load on the others, so they do not compete for cores (see pin.go)")
	fs.Parse(args)
	var split *cpuSplit
	if *pin {
		var err error
		if split, err = newCPUSplit(); err != nil {
			fail(err)
		}
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	dir, err := os.MkdirTemp("", "gregor-bench-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)

	gport, kport := freePort(), freePort()
	gaddr := fmt.Sprintf("127.0.0.1:%d", gport)
	g := &target{name: "gregor", addr: gaddr, cmd: exec.Command(*gregorBin,
		"--set", "listeners=PLAINTEXT://"+gaddr,
		"--set", "log.dirs="+filepath.Join(dir, "gregor"),
		"--set", "gregor.metrics.listener=",
		"--set", "gregor.log.level=warn",
		"--set", "log.segment.delete.delay.ms=0",
		"--set", "group.initial.rebalance.delay.ms=0")}
	self, _ := os.Executable()
	kaddr := fmt.Sprintf("127.0.0.1:%d", kport)
	k := &target{name: "kfake", addr: kaddr, cmd: exec.Command(self, "serve-kfake", "-addr", kaddr, "-dir", filepath.Join(dir, "kfake"))}
	targets := []*target{g, k}
	groups, noGroups := newMemoryGroups(*memoryMB)
	defer groups.remove() // after the brokers have stopped (defers run last first)
	for _, t := range targets {
		t.cmd.Stderr = os.Stderr
		if err := t.cmd.Start(); err != nil {
			fail(fmt.Errorf("starting %s: %w", t.name, err))
		}
		defer func(t *target) {
			t.cmd.Process.Signal(syscall.SIGTERM)
			t.cmd.Wait()
		}(t)
		if err := groups.place(t.name, t.cmd.Process.Pid); err != nil {
			fail(fmt.Errorf("placing %s in a memory cgroup: %w", t.name, err))
		}
		if err := awaitBroker(ctx, t.addr); err != nil {
			fail(fmt.Errorf("%s: %w", t.name, err))
		}
		if split != nil {
			// After the broker has started its threads; any it starts
			// later inherit the affinity.
			if err := pinProcess(t.cmd.Process.Pid, split.broker); err != nil {
				fail(fmt.Errorf("pinning %s: %w", t.name, err))
			}
		}
	}
	if split != nil {
		if err := pinProcess(os.Getpid(), split.load...); err != nil {
			fail(fmt.Errorf("pinning the load: %w", err))
		}
	}

	var run []scenario
	for _, s := range scenarios {
		if *only == "" || strings.Contains(","+*only+",", ","+s.name+",") {
			run = append(run, s)
		}
	}
	if groups != nil {
		// Fill each broker's page cache to its limit, so that the counted
		// rounds write into pages reclaimed from it.
		for _, s := range run {
			for _, t := range targets {
				sctx, scancel := context.WithTimeout(withBrokerPIDs(ctx, t.cmd.Process.Pid), *duration+2*time.Minute)
				if ms, err := s.run(sctx, t.addr, *duration); err == nil {
					fmt.Fprintf(os.Stderr, "warm-up %-16s %-7s %s\n", s.name, t.name, format(ms))
				}
				scancel()
			}
		}
	}
	// results[scenario][metric][target] = values over rounds
	type key struct{ scenario, metric string }
	results := make(map[key]map[string][]float64)
	metrics := make(map[key]metric)
	var order []key
	for r := 0; r < *rounds; r++ {
		for _, s := range run {
			ts := targets
			if r%2 == 1 { // alternate who goes first
				ts = []*target{targets[1], targets[0]}
			}
			for _, t := range ts {
				sctx, scancel := context.WithTimeout(withBrokerPIDs(ctx, t.cmd.Process.Pid), *duration+2*time.Minute)
				ms, err := s.run(sctx, t.addr, *duration)
				scancel()
				if err != nil {
					fmt.Fprintf(os.Stderr, "round %d %s on %s: %v\n", r+1, s.name, t.name, err)
					continue
				}
				for _, m := range ms {
					k := key{s.name, m.name}
					if results[k] == nil {
						results[k] = make(map[string][]float64)
						metrics[k] = m
						order = append(order, k)
					}
					results[k][t.name] = append(results[k][t.name], m.value)
				}
				fmt.Fprintf(os.Stderr, "round %d %-16s %-7s %s\n", r+1, s.name, t.name, format(ms))
			}
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "scenario\tmetric\tgregor (median)\tkfake (median)\tgregor/kfake\tbetter\n")
	for _, k := range order {
		m := metrics[k]
		gv, kv := median(results[k]["gregor"]), median(results[k]["kfake"])
		ratio := "-"
		if kv > 0 && gv > 0 {
			ratio = fmt.Sprintf("%.2f", gv/kv)
		}
		better := "higher"
		if !m.higherBetter {
			better = "lower"
		}
		fmt.Fprintf(w, "%s\t%s\t%s %s\t%s %s\t%s\t%s\n", k.scenario, k.metric, num(gv), m.unit, num(kv), m.unit, ratio, better)
	}
	w.Flush()
	fmt.Printf("(%d rounds, %s each, alternating order; %s; %s; %s)\n", *rounds, *duration, groups.describe(noGroups), split.describe(), time.Now().UTC().Format(time.RFC3339))
	printPageCost(dir, 0)
}

// num formats a median with two decimals below 10 (CPU per MB), one
// above.
func num(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func format(ms []metric) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("%s=%.1f%s", m.name, m.value, m.unit))
	}
	return strings.Join(parts, " ")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// awaitBroker polls a broker with ApiVersions until it answers.
func awaitBroker(ctx context.Context, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err = cl.Ping(pctx)
			cancel()
			cl.Close()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not answering at %s after 30s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startBroker starts bin with its data in a new temporary directory, a
// PLAINTEXT listener on addr, no metrics listener and warn logs, then each
// of sets as a --set (a later one wins, so sets may replace those), and
// returns once addr answers, with its process id. stop ends the broker
// and removes its directory; on failure startBroker stops it and exits.
func startBroker(ctx context.Context, bin, name, addr string, sets ...string) (pid int, stop func()) {
	dir, err := os.MkdirTemp("", "gregor-bench-"+name+"-")
	if err != nil {
		fail(err)
	}
	args := []string{"--set", "listeners=PLAINTEXT://" + addr, "--set", "log.dirs=" + filepath.Join(dir, "data"),
		"--set", "gregor.metrics.listener=", "--set", "gregor.log.level=warn"}
	for _, kv := range sets {
		args = append(args, "--set", kv)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		fail(err)
	}
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		os.RemoveAll(dir)
	}
	if err := awaitBroker(ctx, addr); err != nil {
		stop()
		fail(err)
	}
	return cmd.Process.Pid, stop
}

// freeAddr is a free loopback address.
func freeAddr() string { return fmt.Sprintf("127.0.0.1:%d", freePort()) }

func freePort() int {
	port, err := freeport.Pick()
	if err != nil {
		fail(err)
	}
	return port
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(1)
}
