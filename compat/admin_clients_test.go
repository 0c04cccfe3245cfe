package compat

// The admin clients of other libraries against the broker:
// confluent-kafka's AdminClient (librdkafka), kafka-python's
// KafkaAdminClient and kafkajs's admin. Each script checks every answer
// itself (topics created, refused, described, altered, grown and
// deleted; a group's offsets read, moved and deleted) and prints one line
// per check.

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAdminClients(t *testing.T) {
	addr := bootstrap(t)
	for _, c := range []struct {
		name  string
		ready func(t *testing.T)
		cmd   func(t *testing.T, ctx context.Context, prefix string) *exec.Cmd
	}{
		{"confluent-kafka", func(t *testing.T) { pyReady("", "confluent_kafka")(t) }, func(t *testing.T, ctx context.Context, prefix string) *exec.Cmd {
			return exec.CommandContext(ctx, systemPython, filepath.Join(repoDir(t, "py"), "admin_confluent.py"), addr, prefix)
		}},
		{"kafka-python", func(t *testing.T) { pyReady("", "kafka")(t) }, func(t *testing.T, ctx context.Context, prefix string) *exec.Cmd {
			return exec.CommandContext(ctx, systemPython, filepath.Join(repoDir(t, "py"), "admin_kafka_python.py"), addr, prefix)
		}},
		{"kafkajs", func(t *testing.T) { kafkajsReady(t) }, func(t *testing.T, ctx context.Context, prefix string) *exec.Cmd {
			cmd := exec.CommandContext(ctx, "node", filepath.Join(repoDir(t, "js"), "admin_kafkajs.js"), addr, prefix)
			cmd.Dir = repoDir(t, "js")
			cmd.Env = append(os.Environ(), "KAFKAJS_NO_PARTITIONER_WARNING=1")
			return cmd
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.ready(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			runCheckScript(t, ctx, c.name+" admin script", c.cmd(t, ctx, randomName("admin-"+strings.ReplaceAll(c.name, "-", ""))), 10)
		})
	}
}

// runCheckScript runs a client script that prints "ok  <check>" per check
// passed and "FAIL" on a failure, and fails the test unless it exits
// cleanly, prints no FAIL and passes at least atLeast checks.
func runCheckScript(t *testing.T, ctx context.Context, what string, cmd *exec.Cmd, atLeast int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	checks := 0
	for _, l := range toolLines(stdout.String()) {
		if strings.HasPrefix(l, "ok  ") {
			checks++
		}
	}
	if err != nil || strings.Contains(stdout.String(), "FAIL") || checks < atLeast {
		t.Fatalf("%s: %v (context: %v), %d checks passed\nstdout:\n%s\nstderr:\n%s", what, err, ctx.Err(), checks, stdout.String(), ccTail(stderr.String()))
	}
}
