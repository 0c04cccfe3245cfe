package compat

// kafkajs's producer and consumer features (js/features_kafkajs.js checks
// each answer itself and prints one line per check): an idempotent GZIP
// producer, eachBatch with offsets resolved and heartbeats sent by hand in
// a group of two, pause, resume and seek, sendOffsets in a committed and an
// aborted transaction, and a read_committed consumer.

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

func TestKafkajsConsumerAndTransactionFeatures(t *testing.T) {
	addr := bootstrap(t)
	kafkajsReady(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(repoDir(t, "js"), "features_kafkajs.js"), addr, randomName("jsfeat"))
	cmd.Dir = repoDir(t, "js")
	cmd.Env = append(os.Environ(), "KAFKAJS_NO_PARTITIONER_WARNING=1")
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
	if err != nil || strings.Contains(stdout.String(), "FAIL") || checks < 12 {
		t.Fatalf("kafkajs features script: %v (context: %v), %d checks passed\nstdout:\n%s\nstderr:\n%s", err, ctx.Err(), checks, stdout.String(), ccTail(stderr.String()))
	}
}
