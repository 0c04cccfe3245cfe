package compat

// kafkajs's producer and consumer features (js/features_kafkajs.js checks
// each answer itself and prints one line per check): an idempotent GZIP
// producer, eachBatch with offsets resolved and heartbeats sent by hand in
// a group of two, pause, resume and seek, sendOffsets in a committed and an
// aborted transaction, and a read_committed consumer.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
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
	runCheckScript(t, ctx, "kafkajs features script", cmd, 12)
}
