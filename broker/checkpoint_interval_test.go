package broker

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gregor/internal/wait"
)

// replica.high.watermark.checkpoint.interval.ms sets how often the
// checkpoints are written: at 50 ms, a produced record's high watermark is
// on disk well within a second (at the default, 5 s).
func TestCheckpointInterval(t *testing.T) {
	d := t.TempDir()
	tb := newTestBroker(t, map[string]string{"log.dirs": d, "replica.high.watermark.checkpoint.interval.ms": "50"})
	tb.createTopic("ck", 1, nil)
	tb.produce("ck", 0, batch(t, 1, "v"))
	wait.For(t, "the high watermark of ck-0 in the checkpoint file", time.Second, func() bool {
		data, err := os.ReadFile(filepath.Join(d, "replication-offset-checkpoint"))
		return err == nil && bytes.Contains(data, []byte("\nck 0 1\n"))
	})
}
