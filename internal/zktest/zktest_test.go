package zktest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"gregor/broker/zkmeta"
	"gregor/internal/zktest"
)

func connect(t *testing.T, addr string) *zk.Conn {
	t.Helper()
	c, _, err := zkmeta.Connect([]string{addr}, 10*time.Second, nopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

// retry runs op until it succeeds or the bound passes.
func retry(t *testing.T, what string, op func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := op()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 30s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestStartRestartStop(t *testing.T) {
	z := zktest.Start(t)
	if !strings.HasPrefix(z.Addr, "127.0.0.1:") {
		t.Fatalf("Addr = %q", z.Addr)
	}
	resp, err := zktest.FourLetter(z.Addr, "ruok")
	if err != nil || resp != "imok" {
		t.Fatalf("ruok = %q, %v", resp, err)
	}
	c := connect(t, z.Addr)
	retry(t, "creating /x", func() error {
		_, err := c.Create("/x", []byte("hello"), 0, zk.WorldACL(zk.PermAll))
		return err
	})

	z.Restart()
	if !z.Running() {
		t.Fatal("not running after Restart")
	}
	// The same client reconnects to the same port and finds the data.
	retry(t, "reading /x after restart", func() error {
		data, _, err := c.Get("/x")
		if err == nil && string(data) != "hello" {
			t.Fatalf("/x = %q after restart", data)
		}
		return err
	})

	z.Kill()
	if z.Running() {
		t.Fatal("running after Kill")
	}
	if _, err := zktest.FourLetter(z.Addr, "ruok"); err == nil {
		t.Fatal("server still answers after Kill")
	}
	z.Restart() // from stopped: starts it
	c2 := connect(t, z.Addr)
	retry(t, "reading /x after kill and start", func() error {
		_, _, err := c2.Get("/x")
		return err
	})
	z.Stop()
	if _, err := zktest.FourLetter(z.Addr, "ruok"); err == nil {
		t.Fatal("server still answers after Stop")
	}
	if z.Logs() == "" {
		t.Fatal("no server logs captured")
	}
}

func TestStartProcessPicksPort(t *testing.T) {
	p, err := zktest.StartProcess(t.TempDir(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if p.Port() == 0 {
		t.Fatal("no port picked")
	}
	if resp, err := zktest.FourLetter(p.Addr(), "srvr"); err != nil || !strings.Contains(resp, "Mode: standalone") {
		t.Fatalf("srvr = %q, %v", resp, err)
	}
}
