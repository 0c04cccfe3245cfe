package main

// gregor-bench scale: one broker with many partitions and many idle
// connections. It creates the partitions (topics of 1,000), writes a
// record to each, and measures:
//   - produce latency (acks=1, one record to each partition in turn at
//     2,000 records/s) and the time to consume every partition;
//   - the broker's resident memory when idle;
//   - start-up after a clean stop and recovery after kill -9: from the
//     process's start until it answers a Metadata with every partition
//     led and a Fetch of each;
//   - idle connections: that many TCP connections, each having sent one
//     ApiVersions, and the broker's memory per connection.
// The open-file limit is raised for the broker (3 files per partition
// plus the connections) where the process may.

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func scaleCmd(args []string) {
	fs := flag.NewFlagSet("scale", flag.ExitOnError)
	gregorBin := fs.String("gregor", "bin/gregor", "gregor binary")
	partitions := fs.Int("partitions", 10000, "partitions, in topics of 1,000")
	conns := fs.Int("conns", 10000, "idle connections")
	keep := fs.String("dir", "", "the broker's data directory, kept afterwards (default: a temporary one)")
	fs.Parse(args)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	raiseFileLimit(uint64(4**partitions + 2**conns + 1024))
	dir := *keep
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "gregor-bench-scale-"); err != nil {
			fail(err)
		}
		defer os.RemoveAll(dir)
	}
	addr := freeAddr()
	start := func() (*exec.Cmd, time.Time) {
		cmd := exec.Command(*gregorBin, "--set", "listeners=PLAINTEXT://"+addr, "--set", "log.dirs="+filepath.Join(dir, "data"),
			"--set", "gregor.metrics.listener=", "--set", "gregor.log.level=warn",
			"--set", "gregor.max.broker.partitions="+strconv.Itoa(*partitions+1000), "--set", "max.connections.per.ip=2147483647")
		cmd.Stderr = os.Stderr
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			fail(err)
		}
		return cmd, t0
	}
	cmd, _ := start()
	stop := func(sig syscall.Signal) {
		cmd.Process.Signal(sig)
		cmd.Wait()
	}
	defer func() { stop(syscall.SIGTERM) }()
	if err := awaitBroker(ctx, addr); err != nil {
		fail(err)
	}
	var topics []string
	t0 := time.Now()
	for n := 0; n < *partitions; n += 1000 {
		t, err := newTopic(ctx, addr, int32(min(1000, *partitions-n)))
		if err != nil {
			fail(fmt.Errorf("creating topics: %w", err))
		}
		topics = append(topics, t)
	}
	fmt.Printf("created %d partitions in %d topics: %.1f s\n", *partitions, len(topics), time.Since(t0).Seconds())
	if err := awaitLeaders(ctx, addr, topics, *partitions, time.Now().Add(5*time.Minute)); err != nil {
		fail(err)
	}
	p50, p99, consumed, err := scaleTraffic(ctx, addr, topics, *partitions)
	if err != nil {
		fail(err)
	}
	fmt.Printf("produce across all partitions at 2,000 records/s: p50 %.2f ms, p99 %.2f ms; consuming all %d partitions from the start: %.2f s\n", p50, p99, *partitions, consumed)
	time.Sleep(3 * time.Second)
	fmt.Printf("idle resident memory: %.0f MB\n", rssMB(cmd.Process.Pid))

	// Start-up after a clean stop, then after kill -9.
	for _, how := range []struct {
		name string
		sig  syscall.Signal
	}{{"start-up after a clean stop", syscall.SIGTERM}, {"recovery after kill -9", syscall.SIGKILL}} {
		stop(how.sig)
		var began time.Time
		cmd, began = start()
		if err := awaitLeaders(ctx, addr, topics, *partitions, time.Now().Add(5*time.Minute)); err != nil {
			fail(err)
		}
		took := time.Since(began)
		fmt.Printf("%s: %.2f s (until every partition is led and fetchable); resident memory then %.0f MB\n", how.name, took.Seconds(), rssMB(cmd.Process.Pid))
	}

	// Idle connections.
	if *conns <= 0 {
		return
	}
	time.Sleep(2 * time.Second)
	before := rssMB(cmd.Process.Pid)
	open, err := idleConns(addr, *conns)
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	if err != nil {
		fmt.Printf("idle connections: %v after %d\n", err, len(open))
	}
	time.Sleep(3 * time.Second)
	after := rssMB(cmd.Process.Pid)
	fmt.Printf("%d idle connections: resident memory %.0f MB -> %.0f MB, %.1f KB per connection\n", len(open), before, after, (after-before)*1e3/float64(max(len(open), 1)))
}

// raiseFileLimit raises this process's open-file limit (inherited by the
// broker it starts) to at least n where allowed.
func raiseFileLimit(n uint64) {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil || lim.Cur >= n {
		return
	}
	want := syscall.Rlimit{Cur: max(n, lim.Cur), Max: max(n, lim.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		want = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want)
		fmt.Fprintf(os.Stderr, "open-file limit stays at %d (%v)\n", lim.Max, err)
	}
}

// rssMB is a process's resident memory in MB.
func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1e3
		}
	}
	return 0
}

// awaitLeaders waits until Metadata lists n partitions of topics, each
// with a leader, and a Fetch of every partition answers without error.
func awaitLeaders(ctx context.Context, addr string, topics []string, n int, deadline time.Time) error {
	for {
		err := leadersReady(ctx, addr, topics, n)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("partitions not ready: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func leadersReady(ctx context.Context, addr string, topics []string, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).Metadata(ctx, topics...)
	if err != nil {
		return err
	}
	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(12)
	fetch.ReplicaID, fetch.MaxBytes, fetch.SessionEpoch = -1, 1, -1
	led := 0
	for _, t := range md.Topics {
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.TopicID = t.Topic, t.ID
		for _, p := range t.Partitions {
			if p.Leader >= 0 && p.Err == nil {
				led++
			}
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.Partition, fp.PartitionMaxBytes = p.Partition, 1
			ft.Partitions = append(ft.Partitions, fp)
		}
		fetch.Topics = append(fetch.Topics, ft)
	}
	if led < n {
		return fmt.Errorf("%d of %d partitions led", led, n)
	}
	resp, err := fetch.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return fmt.Errorf("fetch of %s-%d: error %d", t.Topic, p.Partition, p.ErrorCode)
			}
		}
	}
	return nil
}

// scaleTraffic produces one record to each partition in turn at 2,000
// records/s (two rounds over every partition, or 10 s), reporting the
// produce latency, then consumes every partition from the start.
func scaleTraffic(ctx context.Context, addr string, topics []string, n int) (p50, p99, consumeSec float64, err error) {
	p, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		return 0, 0, 0, err
	}
	defer p.Close()
	per := n / len(topics)
	total := min(2*n, 20000)
	lat := make([]time.Duration, 0, total)
	done := make(chan time.Duration, total)
	tick := time.NewTicker(500 * time.Microsecond)
	for i := 0; i < total; i++ {
		<-tick.C
		r := &kgo.Record{Topic: topics[(i/per)%len(topics)], Partition: int32(i % per), Value: make([]byte, 100)}
		sent := time.Now()
		p.Produce(ctx, r, func(_ *kgo.Record, perr error) {
			if perr != nil {
				err = perr
			}
			done <- time.Since(sent)
		})
	}
	tick.Stop()
	for i := 0; i < total; i++ {
		lat = append(lat, <-done)
	}
	if err != nil {
		return 0, 0, 0, err
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1e3 }
	c, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, 0, 0, err
	}
	defer c.Close()
	t0 := time.Now()
	for got := 0; got < total; {
		fs := c.PollFetches(ctx)
		if e := fs.Err0(); e != nil {
			return 0, 0, 0, e
		}
		got += fs.NumRecords()
	}
	return ms(0.5), ms(0.99), time.Since(t0).Seconds(), nil
}

// idleConns opens n connections that each send one ApiVersions and read
// its answer, then stay open.
func idleConns(addr string, n int) ([]net.Conn, error) {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "gregor-bench", "1"
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("idle")).AppendRequest(nil, req, 1)
	out := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return out, err
		}
		out = append(out, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(frame); err != nil {
			return out, err
		}
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return out, err
		}
		if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(size[:]))); err != nil {
			return out, err
		}
		c.SetDeadline(time.Time{})
	}
	return out, nil
}
