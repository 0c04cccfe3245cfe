package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/internal/zktest"
)

// TestClusterStartsServesAndStopsOnCtrlC runs the built command the way a
// user does: it waits for the bootstrap line, uses the cluster (a topic
// with three replicas, produce, consume), sends SIGINT to the whole process
// group as Ctrl-C does, checks every process is gone, then starts the
// cluster again on the same directory and reads the record back.
func TestClusterStartsServesAndStopsOnCtrlC(t *testing.T) {
	if err := zktest.Available(); err != nil {
		t.Skipf("ZooKeeper cannot run here: %v", err)
	}
	if testing.Short() {
		t.Skip("starts ZooKeeper and three brokers")
	}
	bin := buildCommand(t)
	dir := t.TempDir()
	base := freeConsecutivePorts(t, 3)
	zkPort := freePort(t)
	args := []string{"-dir", dir, "-base-port", strconv.Itoa(base), "-zk-port", strconv.Itoa(zkPort), "-metrics-port", "0"}
	topic := fmt.Sprintf("try-gregor-%d", rand.Uint32())

	run1 := startCommand(t, bin, args)
	seeds := run1.awaitBootstrap(t, 4*time.Minute) // includes building gregor
	want := []string{
		net.JoinHostPort("127.0.0.1", strconv.Itoa(base)),
		net.JoinHostPort("127.0.0.1", strconv.Itoa(base+1)),
		net.JoinHostPort("127.0.0.1", strconv.Itoa(base+2)),
	}
	if strings.Join(seeds, ",") != strings.Join(want, ",") {
		t.Fatalf("bootstrap servers %v, want %v", seeds, want)
	}
	for _, name := range []string{"zookeeper/zookeeper.log", "broker-1/gregor.log", "broker-2/gregor.log", "broker-3/gregor.log"} {
		if !strings.Contains(run1.out.String(), filepath.Join(dir, name)) {
			t.Errorf("output does not name log file %s:\n%s", name, run1.out.String())
		}
	}

	cl := newClient(t, seeds)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 2, 3, nil, topic); err != nil {
		t.Fatalf("creating %s with replication factor 3: %v", topic, err)
	}
	awaitFullISR(t, adm, topic, 3)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("hello gregor")}).FirstErr(); err != nil {
		t.Fatalf("producing to %s: %v", topic, err)
	}
	cl.Close()
	consumeOne(t, seeds, topic, "hello gregor")

	pids := run1.brokerPIDs(t)
	run1.interrupt(t)
	run1.awaitExit(t, 2*time.Minute)
	if !strings.Contains(run1.out.String(), "stopping ZooKeeper") || !strings.Contains(run1.out.String(), "stopped") {
		t.Errorf("output does not report the ordered stop:\n%s", run1.out.String())
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("broker process %d still exists after the command exited (kill 0: %v)", pid, err)
		}
	}
	for _, addr := range append(want, net.JoinHostPort("127.0.0.1", strconv.Itoa(zkPort))) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the command exited", addr)
		}
	}

	// The same directory again: the topic and its record are still there.
	run2 := startCommand(t, bin, args)
	seeds = run2.awaitBootstrap(t, 2*time.Minute)
	cl = newClient(t, seeds)
	awaitFullISR(t, kadm.NewClient(cl), topic, 3)
	cl.Close()
	consumeOne(t, seeds, topic, "hello gregor")

	// A broker killed (to try a failover) is reported, the others keep
	// serving, and SIGHUP brings it back. The cluster used to stop whole.
	if err := syscall.Kill(run2.brokerPIDs(t)[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	run2.awaitOutput(t, "broker 2 exited (signal: killed)", 30*time.Second)
	cl = newClient(t, seeds)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if err := cl.ProduceSync(ctx2, &kgo.Record{Topic: topic, Value: []byte("while broker 2 is down")}).FirstErr(); err != nil {
		t.Fatalf("producing with acks=all while broker 2 is down: %v", err)
	}
	if err := run2.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	run2.awaitOutput(t, "broker 2 is back", time.Minute)
	awaitFullISR(t, kadm.NewClient(cl), topic, 3)
	cl.Close()
	run2.interrupt(t)
	run2.awaitExit(t, 2*time.Minute)
}

// awaitOutput waits for the command to print want.
func (c *command) awaitOutput(t *testing.T, want string, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !strings.Contains(c.out.String(), want) {
		select {
		case <-c.done:
			t.Fatalf("gregor-cluster exited (%v) before printing %q:\n%s", c.cmd.ProcessState, want, c.out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("gregor-cluster did not print %q within %v:\n%s", want, bound, c.out.String())
		}
	}
}

// TestClusterRefusesTakenPort checks the message names a port in use.
func TestClusterRefusesTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-dir", t.TempDir(), "-base-port", strconv.Itoa(port), "-zk-port", strconv.Itoa(freePort(t)), "-metrics-port", "0"}, &out, &errOut, nil)
	if code != 1 {
		t.Fatalf("exit code %d with broker 1's port taken, want 1; stderr:\n%s", code, errOut.String())
	}
	if want := fmt.Sprintf("port %d (broker 1) is not free", port); !strings.Contains(errOut.String(), want) {
		t.Fatalf("stderr %q does not say %q", errOut.String(), want)
	}
}

// buildCommand builds gregor-cluster into a temporary directory.
func buildCommand(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gregor-cluster")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/gregor-cluster: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeConsecutivePorts returns the first of n consecutive loopback ports
// that were free a moment ago.
func freeConsecutivePorts(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		base := 20000 + rand.IntN(30000)
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("found no %d consecutive free ports in 50 tries", n)
	return 0
}

// command is a running gregor-cluster process.
type command struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

func startCommand(t *testing.T, bin string, args []string) *command {
	t.Helper()
	c := &command{cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan struct{})}
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	// Its own process group, like a shell job, so interrupt can signal the
	// group as a terminal's Ctrl-C does.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting gregor-cluster: %v", err)
	}
	go func() {
		c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
			return
		default:
		}
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(90 * time.Second):
			c.cmd.Process.Kill() // the brokers and ZooKeeper die with it (Pdeathsig)
			<-c.done
		}
		t.Logf("gregor-cluster output:\n%s", c.out.String())
	})
	return c
}

var bootstrapLine = regexp.MustCompile(`bootstrap servers: (\S+)\n`)

// awaitBootstrap waits for the bootstrap servers line and returns them.
func (c *command) awaitBootstrap(t *testing.T, bound time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		if m := bootstrapLine.FindStringSubmatch(c.out.String()); m != nil {
			return strings.Split(m[1], ",")
		}
		select {
		case <-c.done:
			t.Fatalf("gregor-cluster exited (%v) before printing the bootstrap servers:\n%s", c.cmd.ProcessState, c.out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no bootstrap servers line within %v:\n%s", bound, c.out.String())
		}
	}
}

var pidRE = regexp.MustCompile(`started broker \d+ on \S+ \(pid (\d+),`)

func (c *command) brokerPIDs(t *testing.T) []int {
	t.Helper()
	var pids []int
	for _, m := range pidRE.FindAllStringSubmatch(c.out.String(), -1) {
		pid, _ := strconv.Atoi(m[1])
		pids = append(pids, pid)
	}
	if len(pids) != 3 {
		t.Fatalf("output names %d broker pids, want 3:\n%s", len(pids), c.out.String())
	}
	return pids
}

// interrupt sends SIGINT to the command's process group.
func (c *command) interrupt(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(-c.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatalf("SIGINT to process group %d: %v", c.cmd.Process.Pid, err)
	}
}

func (c *command) awaitExit(t *testing.T, bound time.Duration) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(bound):
		t.Fatalf("gregor-cluster did not exit within %v of SIGINT:\n%s", bound, c.out.String())
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("gregor-cluster exited with %v, want 0:\n%s", c.cmd.ProcessState, c.out.String())
	}
}

func newClient(t *testing.T, seeds []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// awaitFullISR waits until metadata lists three brokers and every
// partition of topic has a leader and isr in-sync replicas.
func awaitFullISR(t *testing.T, adm *kadm.Client, topic string, isr int) {
	t.Helper()
	const bound = 60 * time.Second
	deadline := time.Now().Add(bound)
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		m, err := adm.Metadata(ctx, topic)
		cancel()
		if err != nil {
			last = err.Error()
		} else if td := m.Topics[topic]; td.Err != nil || len(td.Partitions) == 0 {
			last = fmt.Sprintf("topic: %v, %d partitions", td.Err, len(td.Partitions))
		} else {
			last = fmt.Sprintf("%d brokers", len(m.Brokers))
			ok := len(m.Brokers) == 3
			for p, pd := range td.Partitions {
				last += fmt.Sprintf("; partition %d leader %d replicas %v isr %v", p, pd.Leader, pd.Replicas, pd.ISR)
				ok = ok && pd.Leader >= 0 && len(pd.Replicas) == isr && len(pd.ISR) == isr
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("metadata did not show 3 brokers and an ISR of %d for %s within %v; last: %s", isr, topic, bound, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// consumeOne reads topic from the start until it sees value.
func consumeOne(t *testing.T, seeds []string, topic, value string) {
	t.Helper()
	cl := newClient(t, seeds, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("did not consume %q from %s within 30s", value, topic)
		}
		for _, e := range fs.Errors() {
			t.Logf("fetch %s-%d: %v", e.Topic, e.Partition, e.Err)
		}
		var found bool
		fs.EachRecord(func(r *kgo.Record) { found = found || string(r.Value) == value })
		if found {
			return
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// -set passes settings to every broker, over the cluster's own; a setting
// that is not key=value is refused.
func TestClusterSetFlag(t *testing.T) {
	opt, err := parseFlags([]string{"-set", "group.share.min.record.lock.duration.ms=1000", "-set", "min.insync.replicas=1", "-set", "x=a=b"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{opt: opt, zk: &zktest.Process{}}
	got := c.settings(&broker{id: 2, addr: "127.0.0.1:1", dir: t.TempDir()})
	for k, want := range map[string]string{"group.share.min.record.lock.duration.ms": "1000", "min.insync.replicas": "1", "x": "a=b", "broker.id": "2"} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	if _, err := parseFlags([]string{"-set", "novalue"}, io.Discard); err == nil {
		t.Error("-set novalue accepted")
	}
}
