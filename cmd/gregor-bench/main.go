// Command gregor-bench is Gregor's load tool: it drives a running broker
// with franz-go's kgo and reports throughput and latency.
//
//	gregor-bench run -bootstrap 127.0.0.1:9092 -scenario produce-1k-all
//	gregor-bench compare -gregor bin/gregor -rounds 5
//
// compare starts a fresh gregor process and franz-go's kfake (a separate
// process too, with a data dir, so on disk) and runs every scenario
// against each alternately, round after round, then prints the medians
// and the Gregor/kfake ratios. Shared, noisy machines make single runs
// meaningless; alternating in one session and comparing medians is what
// the numbers are for.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "run":
		runCmd(os.Args[2:])
	case "compare":
		compareCmd(os.Args[2:])
	case "replication":
		replicationCmd(os.Args[2:])
	case "security":
		securityCmd(os.Args[2:]) // security.go
	case "sessions":
		sessionsCmd(os.Args[2:]) // sessions.go
	case "scale":
		scaleCmd(os.Args[2:]) // scale.go
	case "groups":
		groupsCmd(os.Args[2:]) // groups.go
	case "rolling":
		rollingCmd(os.Args[2:])
	case "soak":
		soakCmd(os.Args[2:])
	case "downconvert":
		downconvertCmd(os.Args[2:]) // downconvert.go
	case "share":
		shareCmd(os.Args[2:]) // share.go
	case "hostile":
		hostileCmd(os.Args[2:]) // hostile.go
	case "machine":
		machineCmd(os.Args[2:]) // machine.go
	case "serve-kfake":
		serveKfake(os.Args[2:])
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  gregor-bench run -bootstrap host:port -scenario NAME [-duration 5s] [-cpuprofile FILE]
  gregor-bench compare [-gregor bin/gregor] [-rounds 5] [-duration 5s] [-scenarios a,b]
  gregor-bench replication [-gregor bin/gregor] [-rounds 5] [-duration 5s]
  gregor-bench security [-gregor bin/gregor] [-rounds 5] [-duration 5s]
  gregor-bench sessions [-gregor bin/gregor] [-rounds 3] [-duration 5s] [-partitions 2000]
  gregor-bench scale [-gregor bin/gregor] [-partitions 10000] [-conns 10000]
  gregor-bench groups [-gregor bin/gregor] [-rounds 5]
  gregor-bench rolling [-gregor bin/gregor] [-rounds 3] [-rate 500] [-partitions 6]
  gregor-bench soak [-gregor bin/gregor] [-duration 10m] [-bounce 1m] [-sample 30s]
  gregor-bench downconvert [-gregor bin/gregor] [-rounds 5] [-records 300000] [-size 256] [-codecs none,lz4]
  gregor-bench share [-gregor bin/gregor | -bootstrap host:port] [-rounds 3] [-records 100000] [-size 100]
  gregor-bench hostile [-gregor bin/gregor] [-duration 10s] [-conns 1000]
  gregor-bench machine [-dir DIR] [-mb 512]
  gregor-bench serve-kfake -addr 127.0.0.1:PORT -dir DIR

scenarios:`)
	for _, s := range scenarios {
		fmt.Fprintf(os.Stderr, "  %-18s %s\n", s.name, s.desc)
	}
	os.Exit(2)
}

func runCmd(args []string) {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	bootstrap := fs.String("bootstrap", "127.0.0.1:9092", "broker address")
	name := fs.String("scenario", "produce-1k-all", "scenario to run")
	duration := fs.Duration("duration", 5*time.Second, "how long each scenario runs")
	cpuProfile := fs.String("cpuprofile", "", "write the load's own CPU profile here (to see whether a run is bound by the client)")
	fs.Parse(args)
	s, ok := scenarioNamed(*name)
	if !ok {
		usage()
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	res, err := s.run(ctx, *bootstrap, *duration)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	for _, m := range res {
		fmt.Printf("%s\t%s\t%.2f %s\n", s.name, m.name, m.value, m.unit)
	}
}

// serveKfake runs franz-go's kfake with a data dir until SIGTERM, so that
// compare measures it as a separate process like gregor.
func serveKfake(args []string) {
	fs := flag.NewFlagSet("serve-kfake", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	dir := fs.String("dir", "", "data dir")
	fs.Parse(args)
	_, port, _ := splitHostPort(*addr)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(*dir),
		kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(1))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	fmt.Println("ready", c.ListenAddrs()[0])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	c.Close()
}
