package broker

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gregor/internal/wait"
)

// A topic deleted and created again at once under the same name, after a
// restart, starts at offset 0: the log start, recovery point and high
// watermark checkpointed for the earlier topic's replica are not the new
// one's, and its directory is made once the earlier one is gone.
func TestRecreatedTopicStartsAfresh(t *testing.T) {
	d := t.TempDir()
	tb := newTestBroker(t, map[string]string{"log.dirs": d})
	tb.createTopic("re", 1, nil)
	for i := range 10 {
		tb.produce("re", 0, batch(t, int64(i), fmt.Sprintf("v%d", i)))
	}
	if _, _, err := tb.Partition("re", 0).deleteRecordsBefore(5, false); err != nil {
		t.Fatal(err)
	}
	tb.Close()
	tb2 := newTestBroker(t, map[string]string{"log.dirs": d})
	tb2.deleteTopic("re")
	wait.For(t, "the topic to be gone from the broker", 5*time.Second, func() bool { return tb2.Topic("re") == nil })
	tb2.createTopic("re", 1, nil)
	p := tb2.Partition("re", 0)
	wait.For(t, "the new topic's partition to be led", 5*time.Second, func() bool { return p.IsLeader() })
	if p.LogStartOffset() != 0 || p.LogEndOffset() != 0 || p.HighWatermark() != 0 {
		t.Fatalf("the new topic's partition holds offsets %d to %d (high watermark %d), want none from 0",
			p.LogStartOffset(), p.LogEndOffset(), p.HighWatermark())
	}
	if off := tb2.produce("re", 0, batch(t, 100, "new")); off != 0 {
		t.Fatalf("the new topic's first record got offset %d, want 0", off)
	}
	if _, data := logBytes(t, p); len(data) == 0 || bytes.Contains(data, []byte("v9")) {
		t.Fatalf("the new topic's partition reads %q", data)
	}
}

// A replica directory found at start whose topic id is not the topic's
// (the topic was deleted while this broker was away, and created again
// under the same name) is moved aside, kept, and the replica starts empty:
// the earlier topic's records are never served as the new one's.
func TestReplicaOfAnEarlierTopicIsMovedAside(t *testing.T) {
	d := t.TempDir()
	tb := newTestBroker(t, map[string]string{"log.dirs": d})
	tb.createTopic("re", 1, nil)
	for i := range 10 {
		tb.produce("re", 0, batch(t, int64(i), fmt.Sprintf("v%d", i)))
	}
	tb.Close()
	meta := filepath.Join(d, "re-0", "partition.metadata")
	if err := os.WriteFile(meta, []byte("version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tb2 := newTestBroker(t, map[string]string{"log.dirs": d})
	p := tb2.Partition("re", 0)
	if p.LogStartOffset() != 0 || p.LogEndOffset() != 0 {
		t.Fatalf("the replica holds offsets %d to %d of another topic", p.LogStartOffset(), p.LogEndOffset())
	}
	strays, _ := filepath.Glob(filepath.Join(d, "re-0.*-stray"))
	if len(strays) != 1 {
		t.Fatalf("stray directories: %v, want the earlier topic's replica kept aside", strays)
	}
	if _, err := os.Stat(filepath.Join(strays[0], "00000000000000000000.log")); err != nil {
		t.Fatalf("the earlier topic's records were not kept: %v", err)
	}
	tb2.Close()
	newTestBroker(t, map[string]string{"log.dirs": d}) // a stray directory does not trouble a start
	if again, _ := filepath.Glob(filepath.Join(d, "re-0.*-stray")); len(again) != 1 {
		t.Fatalf("stray directories after another start: %v", again)
	}
}

// A deleted partition's checkpoint entries leave the checkpoint files at
// once, not at the next periodic write (every 5 s): a crash in between
// would hand them to a new partition of the same name.
func TestDeletedPartitionLeavesCheckpointsAtOnce(t *testing.T) {
	d := t.TempDir()
	tb := newTestBroker(t, map[string]string{"log.dirs": d})
	tb.createTopic("ck", 1, nil)
	tb.createTopic("other", 1, nil)
	tb.produce("ck", 0, batch(t, 1, "v"))
	tb.writeCheckpoints()
	listed := func(name string) bool {
		data, err := os.ReadFile(filepath.Join(d, "log-start-offset-checkpoint"))
		return err == nil && bytes.Contains(data, []byte(name+" 0 "))
	}
	if !listed("ck") {
		t.Fatal("the partition is not in the checkpoint to begin with")
	}
	tb.deleteTopic("ck")
	wait.For(t, "the deleted partition to leave the log start checkpoint", time.Second, func() bool {
		return !listed("ck") && listed("other")
	})
}
