// Package zktest runs a real ZooKeeper server (Debian's zookeeper package)
// for tests and development clusters.
package zktest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gregor/internal/freeport"
)

// Jar is the ZooKeeper server jar; its manifest names the jars it needs.
var Jar = "/usr/share/java/zookeeper.jar"

// logJar, if present, makes the server log through slf4j-simple (to stderr)
// instead of discarding its logs.
var logJar = "/usr/share/java/slf4j-simple.jar"

const mainClass = "org.apache.zookeeper.server.quorum.QuorumPeerMain"

// readyTimeout bounds the wait for a started server to answer.
const readyTimeout = 60 * time.Second

// Available reports whether a ZooKeeper server can be started here.
func Available() error {
	if _, err := exec.LookPath("java"); err != nil {
		return fmt.Errorf("java not found: %w", err)
	}
	if _, err := os.Stat(Jar); err != nil {
		return fmt.Errorf("zookeeper jar: %w", err)
	}
	return nil
}

// Process is a running standalone ZooKeeper server.
type Process struct {
	dir  string
	port int
	log  io.Writer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// StartProcess starts a standalone server with its config and data in dir,
// listening on 127.0.0.1:port (0 picks a free port), writing its output to
// log (nil discards it). It returns once the server answers.
func StartProcess(dir string, port int, log io.Writer) (*Process, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if port != 0 {
		return startOn(dir, port, log)
	}
	// A free port can be taken by another process before ZooKeeper binds
	// it (tests start many servers at once): try a few.
	var err error
	for range 3 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
		var p *Process
		if p, err = startOn(dir, port, log); err == nil || !errors.Is(err, errExited) {
			return p, err
		}
	}
	return nil, err
}

// errExited is a server that exited during start-up (a port taken
// meanwhile, most often).
var errExited = errors.New("zookeeper exited during startup")

// startOn is StartProcess on a given port.
func startOn(dir string, port int, log io.Writer) (*Process, error) {
	if log == nil {
		log = io.Discard
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`tickTime=500
initLimit=10
syncLimit=5
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
maxClientCnxns=0
minSessionTimeout=1000
maxSessionTimeout=60000
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr,cons,dump,wchc
`, filepath.Join(dir, "data"), port)
	if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	p := &Process{dir: dir, port: port, log: log}
	if err := p.start(); err != nil {
		return nil, err
	}
	return p, nil
}

func freePort() (int, error) { return freeport.Pick() }

// Addr is the client address, 127.0.0.1:port.
func (p *Process) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// Port is the client port.
func (p *Process) Port() int { return p.port }

// Dir is the directory holding zoo.cfg and the data dir.
func (p *Process) Dir() string { return p.dir }

func (p *Process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return errors.New("zookeeper is already running")
	}
	cp := Jar
	if _, err := os.Stat(logJar); err == nil {
		cp += ":" + logJar
	}
	cmd := exec.Command("java",
		"-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k",
		"-Dzookeeper.jmx.log4j.disable=true",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-cp", cp, mainClass, filepath.Join(p.dir, "zoo.cfg"))
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting zookeeper: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	p.cmd, p.done = cmd, done

	deadline := time.Now().Add(readyTimeout)
	for {
		if resp, err := FourLetter(p.Addr(), "srvr"); err == nil && strings.Contains(resp, "Mode:") {
			return nil
		}
		select {
		case <-done:
			p.cmd, p.done = nil, nil
			return fmt.Errorf("%w: %v", errExited, cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			p.cmd, p.done = nil, nil
			return fmt.Errorf("zookeeper on %s did not answer within %v", p.Addr(), readyTimeout)
		}
	}
}

// FourLetter sends a four-letter command (ruok, srvr, ...) and returns the
// answer.
func FourLetter(addr, cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	if err != nil && len(b) == 0 {
		return "", err
	}
	return string(b), nil
}

func (p *Process) signal(sig os.Signal, wait time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(wait):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd, p.done = nil, nil
	return nil
}

// Stop ends the server with SIGTERM (SIGKILL after 20 s) and waits for it.
func (p *Process) Stop() error { return p.signal(syscall.SIGTERM, 20*time.Second) }

// Kill ends the server with SIGKILL and waits for it.
func (p *Process) Kill() error { return p.signal(syscall.SIGKILL, time.Minute) }

// Restart stops the server and starts it again on the same port and data.
func (p *Process) Restart() error {
	if err := p.Stop(); err != nil {
		return err
	}
	return p.start()
}

// Running reports whether the server process is up.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// ZK is a ZooKeeper server owned by a test.
type ZK struct {
	*Process
	// Addr is the client address, 127.0.0.1:port.
	Addr string

	t    testing.TB
	logs *syncBuffer
}

// Start starts a ZooKeeper server in a temporary directory; it is killed
// when the test ends. The test fails if ZooKeeper cannot start.
func Start(t testing.TB) *ZK {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: starts ZooKeeper")
	}
	logs := &syncBuffer{}
	p, err := StartProcess(t.TempDir(), 0, logs)
	if err != nil {
		t.Fatalf("starting zookeeper: %v\n%s", err, logs.String())
	}
	z := &ZK{Process: p, Addr: p.Addr(), t: t, logs: logs}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("zookeeper log (last 4 KiB):\n%s", tail(logs.String(), 4096))
		}
	})
	return z
}

// Stop ends the server with SIGTERM and waits for it.
func (z *ZK) Stop() {
	z.t.Helper()
	if err := z.Process.Stop(); err != nil {
		z.t.Fatalf("stopping zookeeper: %v", err)
	}
}

// Kill ends the server with SIGKILL and waits for it.
func (z *ZK) Kill() {
	z.t.Helper()
	if err := z.Process.Kill(); err != nil {
		z.t.Fatalf("killing zookeeper: %v", err)
	}
}

// Restart stops the server and starts it on the same port and data dir.
func (z *ZK) Restart() {
	z.t.Helper()
	if err := z.Process.Restart(); err != nil {
		z.t.Fatalf("restarting zookeeper: %v\n%s", err, tail(z.logs.String(), 4096))
	}
}

// Logs returns the server's output so far.
func (z *ZK) Logs() string { return z.logs.String() }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
