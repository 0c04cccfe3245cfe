package broker

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

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
	if _, err := tb.Partition("re", 0).deleteRecordsBefore(5); err != nil {
		t.Fatal(err)
	}
	tb.Close()
	tb2 := newTestBroker(t, map[string]string{"log.dirs": d})
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TopicNames = []string{"re"}
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr("re")
	req.Topics = append(req.Topics, rt)
	tb2.call(req)
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

// Partition directories of no replica of this broker's (here: a broker
// whose metadata knows none of the topics) are moved aside once the first
// metadata load is in force, kept with their records, and left alone by
// later starts.
func TestStrayPartitionDirsAreMovedAside(t *testing.T) {
	d := t.TempDir()
	tb := newTestBroker(t, map[string]string{"log.dirs": d})
	tb.createTopic("gone", 2, nil)
	tb.produce("gone", 0, batch(t, 1, "kept"))
	tb.Close()
	d0 := t.TempDir() // the first log dir holds the metadata: none here
	tb2 := newTestBroker(t, map[string]string{"log.dirs": d0 + "," + d})
	strays, _ := filepath.Glob(filepath.Join(d, "gone-*-stray"))
	if len(strays) != 2 {
		t.Fatalf("stray directories %v, want both partitions of the unknown topic moved aside", strays)
	}
	if left, _ := filepath.Glob(filepath.Join(d, "gone-[0-9]")); len(left) != 0 {
		t.Fatalf("partition directories left in place: %v", left)
	}
	// A topic of that name created now starts empty.
	tb2.createTopic("gone", 2, nil)
	if off := tb2.produce("gone", 0, batch(t, 2, "new")); off != 0 {
		t.Fatalf("the new topic's first record got offset %d, want 0", off)
	}
	tb2.Close()
	newTestBroker(t, map[string]string{"log.dirs": d0 + "," + d})
	if again, _ := filepath.Glob(filepath.Join(d, "gone-*-stray")); len(again) != 2 {
		t.Fatalf("stray directories after another start: %v", again)
	}
}
