// Package brokertest starts real gregor broker processes for tests: built
// once per test binary from ./cmd/gregor, each on its own loopback port and
// data directory, with kill -9, SIGTERM, restart, pause and resume.
package brokertest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/freeport"
	"gregor/internal/wait"
)

// builds are the binaries built by this test binary, by build tags.
var builds struct {
	mu   sync.Mutex
	done map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

// repoRoot finds the module root from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary returns the path of a gregor binary built from this checkout,
// or GREGOR_BIN if set.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("GREGOR_BIN"); p != "" {
		return p
	}
	return binaryWith(t, "")
}

// FaultBinary returns a gregor binary with fault injection built in (the
// gregorfaults tag: cmd/gregor/faultfs.go), whose log dir d fails every
// file operation with EIO while a file d+".fail" exists.
func FaultBinary(t testing.TB) string {
	t.Helper()
	return binaryWith(t, "gregorfaults")
}

func binaryWith(t testing.TB, tags string) string {
	t.Helper()
	builds.mu.Lock()
	if builds.done == nil {
		builds.done = make(map[string]*build)
	}
	bd := builds.done[tags]
	if bd == nil {
		bd = &build{}
		builds.done[tags] = bd
	}
	builds.mu.Unlock()
	bd.once.Do(func() {
		dir, err := os.MkdirTemp("", "gregor-bin-")
		if err != nil {
			bd.err = err
			return
		}
		bd.path = filepath.Join(dir, "gregor")
		args := []string{"build", "-o", bd.path}
		if os.Getenv("GREGOR_RACE") != "" {
			args = append(args, "-race")
		}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		cmd := exec.Command("go", append(args, "./cmd/gregor")...)
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			bd.err = fmt.Errorf("go build ./cmd/gregor: %v\n%s", err, out)
		}
	})
	if bd.err != nil {
		t.Fatal(bd.err)
	}
	return bd.path
}

// skipShort skips a test that needs a broker process under -short, the
// quick inner loop (go test -short ./...).
func skipShort(t testing.TB) {
	if testing.Short() {
		t.Skip("-short: starts a gregor process")
	}
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// Options configure a broker process.
type Options struct {
	// Dir is the data directory; a temporary one if empty.
	Dir string
	// Port is the listener port; a free one if zero.
	Port int
	// Set are extra config keys (--set key=value).
	Set map[string]string
	// NoFile, if set, is the process's RLIMIT_NOFILE (soft and hard), set
	// by a shell's ulimit before it execs the broker (the Go runtime
	// raises a soft limit to the hard one, so both are set).
	NoFile int
	// TLS, if set, is how readiness is checked on Port (an SSL or
	// SASL_SSL listener there); ApiVersions needs no authentication.
	TLS *tls.Config
	// Faults runs FaultBinary.
	Faults bool
}

// Broker is a running (or stopped) gregor process.
type Broker struct {
	t    testing.TB
	bin  string
	Addr string
	Dir  string
	Port int
	set  map[string]string
	// noFile is Options.NoFile.
	noFile int
	tls    *tls.Config
	// ownDir is set when the directory was made here and is removed by
	// Cleanup.
	ownDir bool

	mu   sync.Mutex
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	// paused is set between Pause and Resume (or a kill).
	paused bool
}

// Start starts a broker and waits until it answers ApiVersions. It is
// killed when the test ends.
func Start(t testing.TB, opt Options) *Broker {
	t.Helper()
	skipShort(t)
	bin := Binary(t)
	if opt.Faults {
		bin = FaultBinary(t)
	}
	b := &Broker{t: t, bin: bin, Dir: opt.Dir, Port: opt.Port, set: opt.Set, noFile: opt.NoFile, tls: opt.TLS}
	if b.Dir == "" {
		b.Dir = t.TempDir()
	}
	if b.Port == 0 {
		b.Port = FreePort(t)
	}
	b.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(b.Port))
	b.start()
	t.Cleanup(func() {
		b.Kill()
		if t.Failed() {
			t.Logf("broker %s log (last 8 KiB):\n%s", b.Addr, b.Logs(8<<10))
		}
	})
	return b
}

func (b *Broker) args() []string {
	set := map[string]string{
		"listeners":               "PLAINTEXT://" + b.Addr,
		"log.dirs":                filepath.Join(b.Dir, "data"),
		"gregor.metrics.listener": "",
	}
	for k, v := range b.set {
		set[k] = v
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var args []string
	for _, k := range keys {
		args = append(args, "--set", k+"="+set[k])
	}
	return args
}

func (b *Broker) start() {
	b.t.Helper()
	b.mu.Lock()
	cmd := exec.Command(b.bin, b.args()...)
	if b.noFile > 0 {
		// exec keeps the pid: Pid is the broker's, not the shell's.
		script := "ulimit -n " + strconv.Itoa(b.noFile) + ` && exec "$0" "$@"`
		cmd = exec.Command("/bin/sh", append([]string{"-c", script, b.bin}, b.args()...)...)
	}
	cmd.Dir = b.Dir
	if b.logs == nil {
		b.logs = &syncBuffer{}
	}
	cmd.Stdout, cmd.Stderr = b.logs, b.logs
	if err := cmd.Start(); err != nil {
		b.mu.Unlock()
		b.t.Fatalf("starting gregor: %v", err)
	}
	done := make(chan struct{})
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	go func() {
		cmd.Wait()
		close(done)
	}()
	if err := WaitReadyTLS(b.Addr, b.tls, 20*time.Second, done); err != nil {
		b.t.Fatalf("gregor at %s did not become ready: %v\nlog:\n%s", b.Addr, err, b.Logs(8<<10))
	}
}

// StartShared starts a broker that outlives the test that asked for it
// (one per test package); the caller kills it and calls Cleanup.
func StartShared(t testing.TB, opt Options) *Broker {
	t.Helper()
	skipShort(t)
	b := &Broker{t: t, bin: Binary(t), Dir: opt.Dir, Port: opt.Port, set: opt.Set, noFile: opt.NoFile}
	if b.Dir == "" {
		dir, err := os.MkdirTemp("", "gregor-shared-")
		if err != nil {
			t.Fatal(err)
		}
		b.Dir, b.ownDir = dir, true
	}
	if b.Port == 0 {
		b.Port = FreePort(t)
	}
	b.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(b.Port))
	b.start()
	return b
}

// Cleanup removes a shared broker's temporary directory.
func (b *Broker) Cleanup() {
	if b.ownDir {
		os.RemoveAll(b.Dir)
	}
}

// Restart starts the broker again with the same directory and port.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Kill()
	b.start()
}

// Start starts a killed or stopped broker again with the same directory
// and port (Restart, with something done to its files in between).
func (b *Broker) Start() {
	b.t.Helper()
	b.start()
}

// Refused runs the stopped broker's binary once more with its settings
// and set's over them, expecting it to refuse to start: it returns the
// exit code and what it wrote once the process ends, and fails the test
// if it is still running after bound (or answers requests meanwhile).
func (b *Broker) Refused(set map[string]string, bound time.Duration) (int, string) {
	b.t.Helper()
	over := &Broker{t: b.t, Addr: b.Addr, Dir: b.Dir, set: make(map[string]string)}
	for k, v := range b.set {
		over.set[k] = v
	}
	for k, v := range set {
		over.set[k] = v
	}
	cmd := exec.Command(b.bin, over.args()...)
	cmd.Dir = b.Dir
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("starting gregor: %v", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	if err := WaitReady(b.Addr, bound, done); err == nil {
		cmd.Process.Kill()
		<-done
		b.t.Fatalf("gregor at %s started with %v; want it refused\nlog:\n%s", b.Addr, set, logs.String())
	}
	select {
	case <-done:
	case <-time.After(bound):
		cmd.Process.Kill()
		<-done
		b.t.Fatalf("gregor at %s was still running %v after it was started with %v; want it refused\nlog:\n%s", b.Addr, bound, set, logs.String())
	}
	return cmd.ProcessState.ExitCode(), logs.String()
}

// Kill sends SIGKILL and waits for the process to exit.
func (b *Broker) Kill() { b.signal(syscall.SIGKILL, true) }

// Stop sends SIGTERM (a graceful shutdown) and waits for the exit.
func (b *Broker) Stop() { b.signal(syscall.SIGTERM, true) }

// Pause stops the process with SIGSTOP and returns once every one of its
// threads has stopped; Resume continues it. kill(2) returns before the
// stop takes effect: the kernel wakes one thread to take the signal and
// that thread stops the others, so on a busy machine the process can
// still answer requests for a millisecond or more after the signal.
func (b *Broker) Pause() {
	b.signal(syscall.SIGSTOP, false)
	pid := b.Pid()
	if pid == 0 {
		return
	}
	wait.For(b.t, fmt.Sprintf("every thread of gregor at %s (pid %d) to stop after SIGSTOP", b.Addr, pid),
		10*time.Second, func() bool { return procStopped(pid) })
}

func (b *Broker) Resume() { b.signal(syscall.SIGCONT, false) }

// Paused reports whether the broker is stopped by Pause: it accepts
// connections (the kernel does) and answers nothing.
func (b *Broker) Paused() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.paused
}

// procStopped reports whether every thread of a process is stopped by a
// signal (state T in /proc/<pid>/task/<tid>/stat). A process that is gone
// counts as stopped.
func procStopped(pid int) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return true
	}
	for _, task := range tasks {
		data, err := os.ReadFile(dir + "/" + task.Name() + "/stat")
		if err != nil {
			continue // the thread exited
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 || i+2 >= len(data) {
			return false
		}
		if st := data[i+2]; st != 'T' && st != 'Z' && st != 'X' {
			return false
		}
	}
	return true
}

// Pid returns the broker process's id, or 0 if it is not running.
func (b *Broker) Pid() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil || b.cmd.Process == nil || b.cmd.ProcessState != nil {
		return 0
	}
	return b.cmd.Process.Pid
}

// RSS returns the broker process's resident set size (VmRSS) in bytes,
// read from /proc (Linux only).
func (b *Broker) RSS() (int64, error) {
	pid := b.Pid()
	if pid == 0 {
		return 0, fmt.Errorf("gregor at %s is not running", b.Addr)
	}
	return ProcRSS(pid)
}

// ProcRSS reads VmRSS of a process from /proc/<pid>/status, in bytes.
func ProcRSS(pid int) (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "12345 kB"
			if len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb << 10, nil
				}
			}
			return 0, fmt.Errorf("unexpected VmRSS line %q", line)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// ExitCode returns the exit code once the process ended, or -1.
func (b *Broker) ExitCode() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil || b.cmd.ProcessState == nil {
		return -1
	}
	return b.cmd.ProcessState.ExitCode()
}

func (b *Broker) signal(sig syscall.Signal, wait bool) {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	if sig == syscall.SIGKILL {
		cmd.Process.Signal(syscall.SIGCONT)
	}
	b.mu.Lock()
	b.paused = sig == syscall.SIGSTOP
	b.mu.Unlock()
	cmd.Process.Signal(sig)
	if !wait {
		return
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		b.t.Errorf("gregor at %s did not exit within 60s of %v", b.Addr, sig)
	}
}

// Logs returns up to the last n bytes the process wrote.
func (b *Broker) Logs(n int) string {
	if b.logs == nil {
		return ""
	}
	s := b.logs.String()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

// WaitReady polls addr with ApiVersions until it answers, the timeout
// passes, or exited closes.
func WaitReady(addr string, timeout time.Duration, exited <-chan struct{}) error {
	return WaitReadyTLS(addr, nil, timeout, exited)
}

// WaitReadyTLS is WaitReady over TLS (nil: plaintext).
func WaitReadyTLS(addr string, tc *tls.Config, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("process exited")
		default:
		}
		if last = ping(addr, tc); last == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("process exited")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("no ApiVersions answer within %v: %v", timeout, last)
}

func ping(addr string, tc *tls.Config) error {
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.DialTimeout(time.Second)}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc.Clone()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	return err
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
