// Command gregor-cluster runs a local Gregor cluster for trying Gregor out:
// one ZooKeeper and N brokers on loopback, started and stopped by one
// command.
//
//	gregor-cluster                    ZooKeeper on 127.0.0.1:2181, brokers on 127.0.0.1:9092,9093,9094
//	gregor-cluster -brokers 5 -base-port 19092 -zk-port 12181 -dir /tmp/c
//
// Everything lives under -dir (default ./cluster-data): zookeeper/ and
// broker-<id>/, each with its data and its log file. The directory is reused
// across runs, so topics survive a restart. Ctrl-C (SIGINT) or SIGTERM stops
// the brokers gracefully, then ZooKeeper.
//
// ZooKeeper is Debian's zookeeper package (/usr/share/java/zookeeper.jar,
// needs java). The gregor binary is -gregor, else built from this checkout
// into <dir>/bin when run inside it, else `gregor` from PATH.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
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

	"gregor/internal/zktest"
)

const (
	// readyTimeout bounds the wait for each broker to answer ApiVersions.
	readyTimeout = 60 * time.Second
	// clusterTimeout bounds the wait for metadata to list every broker.
	clusterTimeout = 60 * time.Second
	// stopTimeout bounds a broker's graceful shutdown before SIGKILL; the
	// broker itself gives up on its shutdown after 30 s.
	stopTimeout = 45 * time.Second
	// chroot keeps the cluster's znodes under one path.
	chroot = "/gregor"
)

// options are the command-line flags.
type options struct {
	dir         string
	brokers     int
	basePort    int
	zkPort      int
	metricsPort int
	gregor      string
	// set are broker settings given with -set, over the cluster's own.
	set map[string]string
}

func main() {
	// Ctrl-C sends SIGINT to the whole foreground process group. The
	// brokers get their own process group (see startBroker); ZooKeeper,
	// started by zktest, inherits this ignored SIGINT (the JVM leaves an
	// ignored SIGINT ignored), so only we decide the shutdown order.
	signal.Ignore(syscall.SIGINT)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		cancel()
	}()
	catchInt := func() {
		signal.Notify(term, syscall.SIGINT, syscall.SIGTERM)
	}
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, catchInt))
}

// run starts the cluster, serves until ctx ends, then stops it. zkStarted
// (may be nil) is called once ZooKeeper runs.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, zkStarted func()) int {
	opt, err := parseFlags(args, stderr)
	if err != nil {
		return 2
	}
	c := &cluster{opt: opt, out: stdout}
	if err := c.start(ctx, zkStarted); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted during start-up")
		}
		fmt.Fprintf(stderr, "gregor-cluster: %v; stopping\n", err)
		c.stop()
		return 1
	}
	c.printReady()
	// A broker that exits (killed to try a failover, say) is reported and
	// the others keep serving; SIGHUP starts the exited ones again.
	restart := make(chan os.Signal, 1)
	signal.Notify(restart, syscall.SIGHUP)
	defer signal.Stop(restart)
serve:
	for {
		select {
		case <-ctx.Done():
			break serve
		case b := <-c.exited:
			b.reported = true
			fmt.Fprintf(stderr, "gregor-cluster: broker %d exited (%v); see %s. The others keep running; kill -HUP %d starts it again\n", b.id, b.cmd.ProcessState, b.logPath, os.Getpid())
		case <-restart:
			if err := c.restartExited(ctx); err != nil {
				fmt.Fprintf(stderr, "gregor-cluster: %v\n", err)
			}
		}
	}
	fmt.Fprintln(stdout, "stopping brokers ...")
	if err := c.stop(); err != nil {
		fmt.Fprintf(stderr, "gregor-cluster: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "stopped")
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var opt options
	fs := flag.NewFlagSet("gregor-cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&opt.dir, "dir", "./cluster-data", "data directory of ZooKeeper and the brokers (reused across runs)")
	fs.IntVar(&opt.brokers, "brokers", 3, "number of brokers")
	fs.IntVar(&opt.basePort, "base-port", 9092, "port of broker 1; broker i listens on base-port+i-1")
	fs.IntVar(&opt.zkPort, "zk-port", 2181, "ZooKeeper client port")
	fs.IntVar(&opt.metricsPort, "metrics-port", 9644, "Prometheus port of broker 1 (broker i: metrics-port+i-1); 0 disables metrics")
	fs.StringVar(&opt.gregor, "gregor", "", "gregor binary (default: built from this checkout, else gregor in PATH)")
	opt.set = map[string]string{}
	fs.Func("set", "a setting key=value for every broker, over the cluster's own (repeatable)", func(kv string) error {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("-set %q: want key=value", kv)
		}
		opt.set[strings.TrimSpace(k)] = v
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return opt, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
		fmt.Fprintln(stderr, err)
		return opt, err
	}
	bad := func(format string, a ...any) (options, error) {
		err := fmt.Errorf(format, a...)
		fmt.Fprintln(stderr, err)
		return opt, err
	}
	if opt.brokers < 1 {
		return bad("-brokers must be at least 1, got %d", opt.brokers)
	}
	if opt.basePort < 1 || opt.basePort+opt.brokers-1 > 65535 {
		return bad("-base-port %d leaves no room for %d brokers", opt.basePort, opt.brokers)
	}
	if opt.zkPort < 1 || opt.zkPort > 65535 {
		return bad("-zk-port %d is not a port", opt.zkPort)
	}
	if opt.metricsPort < 0 || opt.metricsPort+opt.brokers-1 > 65535 {
		return bad("-metrics-port %d leaves no room for %d brokers", opt.metricsPort, opt.brokers)
	}
	abs, err := filepath.Abs(opt.dir)
	if err != nil {
		return bad("-dir: %v", err)
	}
	opt.dir = abs
	return opt, nil
}

// cluster is ZooKeeper and the broker processes.
type cluster struct {
	opt    options
	out    io.Writer
	zk     *zktest.Process
	zkLog  *os.File
	zkPath string
	bin    string
	// brokers are in start order; exited receives a broker whose process
	// ended (each at most once).
	brokers []*broker
	exited  chan *broker
}

// broker is one gregor process.
type broker struct {
	id      int
	addr    string
	metrics string
	dir     string
	logPath string
	log     *os.File
	cmd     *exec.Cmd
	done    chan struct{} // closed once cmd has exited
	// reported: its exit was reported while the cluster served, so the
	// stop does not count it as a failure.
	reported bool
}

func (c *cluster) start(ctx context.Context, zkStarted func()) error {
	if err := c.checkPorts(); err != nil {
		return err
	}
	bin, err := c.gregorBinary(ctx)
	if err != nil {
		return err
	}
	c.bin = bin
	if err := c.startZK(); err != nil {
		return err
	}
	if zkStarted != nil {
		zkStarted()
	}
	c.exited = make(chan *broker, 4*c.opt.brokers)
	for id := 1; id <= c.opt.brokers; id++ {
		b, err := c.startBroker(id)
		if err != nil {
			return err
		}
		c.brokers = append(c.brokers, b)
	}
	for _, b := range c.brokers {
		if err := waitReady(ctx, b); err != nil {
			return fmt.Errorf("broker %d on %s: %w (log: %s)", b.id, b.addr, err, b.logPath)
		}
	}
	return c.awaitMetadata(ctx)
}

// checkPorts fails naming the first port something already listens on.
func (c *cluster) checkPorts() error {
	type port struct {
		n    int
		what string
	}
	ports := []port{{c.opt.zkPort, "ZooKeeper"}}
	for i := 0; i < c.opt.brokers; i++ {
		ports = append(ports, port{c.opt.basePort + i, fmt.Sprintf("broker %d", i+1)})
		if c.opt.metricsPort != 0 {
			ports = append(ports, port{c.opt.metricsPort + i, fmt.Sprintf("broker %d metrics", i+1)})
		}
	}
	seen := map[int]string{}
	for _, p := range ports {
		if other, ok := seen[p.n]; ok {
			return fmt.Errorf("port %d is wanted by both %s and %s", p.n, other, p.what)
		}
		seen[p.n] = p.what
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.n)))
		if err != nil {
			return fmt.Errorf("port %d (%s) is not free: %w", p.n, p.what, err)
		}
		l.Close()
	}
	return nil
}

// gregorBinary returns -gregor, or builds ./cmd/gregor into <dir>/bin when
// run inside the repository, or finds gregor in PATH.
func (c *cluster) gregorBinary(ctx context.Context) (string, error) {
	if c.opt.gregor != "" {
		return filepath.Abs(c.opt.gregor)
	}
	if root, ok := repoRoot(); ok {
		out := filepath.Join(c.opt.dir, "bin", "gregor")
		fmt.Fprintf(c.out, "building gregor from %s into %s\n", root, out)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/gregor")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build ./cmd/gregor: %v\n%s", err, b)
		}
		return out, nil
	}
	p, err := exec.LookPath("gregor")
	if err != nil {
		return "", fmt.Errorf("no gregor binary: not run inside the gregor repository, no -gregor, and %v", err)
	}
	return p, nil
}

// repoRoot finds the gregor module around the working directory.
func repoRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if isGregorModule(dir) {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func isGregorModule(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			_, err := os.Stat(filepath.Join(dir, "cmd", "gregor", "main.go"))
			return fields[1] == "gregor" && err == nil
		}
	}
	return false
}

func (c *cluster) startZK() error {
	dir := filepath.Join(c.opt.dir, "zookeeper")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	c.zkPath = filepath.Join(dir, "zookeeper.log")
	f, err := openLog(c.zkPath)
	if err != nil {
		return err
	}
	c.zkLog = f
	fmt.Fprintf(c.out, "starting ZooKeeper on 127.0.0.1:%d (log: %s)\n", c.opt.zkPort, c.zkPath)
	zk, err := zktest.StartProcess(dir, c.opt.zkPort, f)
	if err != nil {
		return fmt.Errorf("zookeeper: %w (log: %s)", err, c.zkPath)
	}
	c.zk = zk
	return nil
}

// openLog opens a log file for appending and marks the start of a run.
func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "\n==== gregor-cluster start %s ====\n", time.Now().Format(time.RFC3339))
	return f, nil
}

// settings are a broker's config keys.
func (c *cluster) settings(b *broker) map[string]string {
	rf := min(3, c.opt.brokers)
	minISR := max(1, rf-1)
	set := map[string]string{
		"broker.id":                                strconv.Itoa(b.id),
		"listeners":                                "PLAINTEXT://" + b.addr,
		"advertised.listeners":                     "PLAINTEXT://" + b.addr,
		"log.dirs":                                 filepath.Join(b.dir, "data"),
		"zookeeper.connect":                        c.zk.Addr() + chroot,
		"default.replication.factor":               strconv.Itoa(rf),
		"offsets.topic.replication.factor":         strconv.Itoa(rf),
		"transaction.state.log.replication.factor": strconv.Itoa(rf),
		"transaction.state.log.min.isr":            strconv.Itoa(minISR),
		"min.insync.replicas":                      strconv.Itoa(minISR),
		"gregor.metrics.listener":                  b.metrics,
	}
	maps.Copy(set, c.opt.set)
	return set
}

func (c *cluster) startBroker(id int) (*broker, error) {
	b := &broker{
		id:   id,
		addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.opt.basePort+id-1)),
		dir:  filepath.Join(c.opt.dir, fmt.Sprintf("broker-%d", id)),
		done: make(chan struct{}),
	}
	if c.opt.metricsPort != 0 {
		b.metrics = net.JoinHostPort("127.0.0.1", strconv.Itoa(c.opt.metricsPort+id-1))
	}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, err
	}
	b.logPath = filepath.Join(b.dir, "gregor.log")
	f, err := openLog(b.logPath)
	if err != nil {
		return nil, err
	}
	b.log = f
	set := c.settings(b)
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var args []string
	for _, k := range keys {
		args = append(args, "--set", k+"="+set[k])
	}
	b.cmd = exec.Command(c.bin, args...)
	b.cmd.Dir = b.dir
	b.cmd.Stdout, b.cmd.Stderr = f, f
	// Own process group: Ctrl-C reaches only us, and we stop the brokers
	// in order. If we die, the brokers get SIGTERM.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := b.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting broker %d: %w", id, err)
	}
	go func() {
		b.cmd.Wait()
		close(b.done)
		select {
		case c.exited <- b:
		default: // stopping: nobody reads exits any more
		}
	}()
	fmt.Fprintf(c.out, "started broker %d on %s (pid %d, log: %s)\n", id, b.addr, b.cmd.Process.Pid, b.logPath)
	return b, nil
}

// waitReady polls the broker with ApiVersions until it answers.
func waitReady(ctx context.Context, b *broker) error {
	deadline := time.Now().Add(readyTimeout)
	var last error
	for {
		if last = ping(ctx, b.addr); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no ApiVersions answer within %v: %v", readyTimeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-b.done:
			return fmt.Errorf("exited during start-up (%v)", b.cmd.ProcessState)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ping(ctx context.Context, addr string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	return err
}

// awaitMetadata waits until a broker's Metadata lists every broker.
func (c *cluster) awaitMetadata(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.bootstrap()...), kgo.DialTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(clusterTimeout)
	got := 0
	for {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		m, err := adm.BrokerMetadata(rctx)
		cancel()
		if err == nil {
			if got = len(m.Brokers); got == c.opt.brokers {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("metadata listed %d of %d brokers after %v (last error: %v)", got, c.opt.brokers, clusterTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case b := <-c.exited:
			return fmt.Errorf("broker %d exited during start-up (%v); see %s", b.id, b.cmd.ProcessState, b.logPath)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *cluster) bootstrap() []string {
	var out []string
	for _, b := range c.brokers {
		out = append(out, b.addr)
	}
	return out
}

func (c *cluster) printReady() {
	fmt.Fprintf(c.out, "cluster ready: %d brokers, ZooKeeper %s%s, data in %s\n", c.opt.brokers, c.zk.Addr(), chroot, c.opt.dir)
	if c.opt.metricsPort != 0 {
		fmt.Fprintf(c.out, "metrics: http://127.0.0.1:%d/metrics .. :%d\n", c.opt.metricsPort, c.opt.metricsPort+c.opt.brokers-1)
		fmt.Fprintf(c.out, "status pages: http://127.0.0.1:%d/ .. :%d (/metrics, /healthz, /readyz)\n", c.opt.metricsPort, c.opt.metricsPort+c.opt.brokers-1)
	}
	fmt.Fprintf(c.out, "bootstrap servers: %s\n", strings.Join(c.bootstrap(), ","))
	fmt.Fprintf(c.out, "press Ctrl-C (or send SIGTERM to pid %d) to stop; a broker that exits is reported, and kill -HUP %d starts it again\n", os.Getpid(), os.Getpid())
}

// restartExited starts every broker whose process has ended again, on
// its directory and port, and waits until each answers.
func (c *cluster) restartExited(ctx context.Context) error {
	for i, b := range c.brokers {
		select {
		case <-b.done:
		default:
			continue // running
		}
		b.log.Close()
		nb, err := c.startBroker(b.id)
		if err != nil {
			return fmt.Errorf("restarting broker %d: %w", b.id, err)
		}
		c.brokers[i] = nb
		if err := waitReady(ctx, nb); err != nil {
			return fmt.Errorf("broker %d on %s: %w (log: %s)", nb.id, nb.addr, err, nb.logPath)
		}
		fmt.Fprintf(c.out, "broker %d is back on %s\n", nb.id, nb.addr)
	}
	return nil
}

// stop ends the brokers gracefully (SIGTERM, all at once, then waits),
// then ZooKeeper. It is safe on a partly started cluster.
func (c *cluster) stop() error {
	var errs []error
	for _, b := range c.brokers {
		b.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, b := range c.brokers {
		select {
		case <-b.done:
			if code := b.cmd.ProcessState.ExitCode(); code != 0 && !b.reported {
				errs = append(errs, fmt.Errorf("broker %d exited with %v; see %s", b.id, b.cmd.ProcessState, b.logPath))
			}
		case <-time.After(stopTimeout):
			b.cmd.Process.Kill()
			<-b.done
			errs = append(errs, fmt.Errorf("broker %d did not stop within %v; killed", b.id, stopTimeout))
		}
		b.log.Close()
	}
	c.brokers = nil
	if c.zk != nil {
		fmt.Fprintln(c.out, "stopping ZooKeeper ...")
		if err := c.zk.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping zookeeper: %w", err))
		}
		c.zk = nil
	}
	if c.zkLog != nil {
		c.zkLog.Close()
		c.zkLog = nil
	}
	return errors.Join(errs...)
}
