package compat

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

// deletedFiles lists the "*.deleted" files of a partition directory.
func deletedFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".deleted") {
			out = append(out, e.Name())
		}
	}
	return out
}

// Segments that DeleteRecords (or retention, or the cleaner) removes are
// renamed "*.deleted" at once and their files removed file.delete.delay.ms
// later, as Kafka's LocalLog.deleteSegmentFiles schedules it. Gregor
// removed them at the next retention check instead
// (log.retention.check.interval.ms, five minutes by default), so the disk
// space came back minutes late.
func TestDeletedSegmentFilesGoAfterFileDeleteDelay(t *testing.T) {
	if !usingGregor() {
		t.Skip("reads the broker's data directory")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"log.retention.check.interval.ms": "3600000"}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ac := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := randomName("filedelay")
	const delay = 3 * time.Second
	if _, err := ac.CreateTopic(ctx, 1, 1, map[string]*string{
		"internal.segment.bytes": kmsg.StringPtr("1024"),
		"file.delete.delay.ms":   kmsg.StringPtr("3000"),
	}, topic); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: make([]byte, 300)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	ends, err := ac.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var to kadm.Offsets
	to.AddOffset(topic, 0, ends[topic][0].Offset, -1)
	dr, err := ac.DeleteRecords(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	if err := dr.Error(); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	dir := filepath.Join(b.Dir, "data", topic+"-0")
	if got := deletedFiles(t, dir); len(got) == 0 {
		t.Fatal("DeleteRecords past several segments left no *.deleted files")
	}
	waitFor(t, "the deleted segments' files to be removed after file.delete.delay.ms (3 s)", 20*time.Second, func() bool {
		return len(deletedFiles(t, dir)) == 0
	})
	if took := time.Since(deleted); took < delay {
		t.Fatalf("deleted segment files removed %v after DeleteRecords, before file.delete.delay.ms (%v)", took, delay)
	}
}

// A retention of 0 ms (log.retention.ms, .minutes or .hours), which would
// delete every topic's records as soon as they are replicated, is refused
// as Kafka's KafkaConfig requires ("log.retention.ms must be unlimited
// (-1) or, greater than or equal to 1"): at start-up, and as a dynamic
// cluster default (INVALID_REQUEST, as Kafka answers a broker config its
// dynamic config refuses). So is a cleaner offset map of 1 MiB or less.
// Gregor took all of them: altered at run time, log.retention.ms=0 had
// every topic without its own retention.ms emptied at the next check.
func TestZeroLogRetentionRefused(t *testing.T) {
	e := newAdminEnv(t)
	t.Cleanup(func() {
		// Had a broker taken them, they must not outlive the test.
		e.incrementalAlter(kmsg.ConfigResourceTypeBroker, "", false,
			op("log.retention.ms", kmsg.IncrementalAlterConfigOpDelete, nil),
			op("log.cleaner.dedupe.buffer.size", kmsg.IncrementalAlterConfigOpDelete, nil))
	})
	for _, kv := range [][2]string{{"log.retention.ms", "0"}, {"log.retention.hours", "0"}, {"log.cleaner.dedupe.buffer.size", "1048576"}} {
		code, msg := e.incrementalAlterMessage(kmsg.ConfigResourceTypeBroker, "", op(kv[0], kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(kv[1])))
		if kv[0] == "log.retention.hours" {
			// Not a dynamic key in Kafka: refused as such.
			if code == 0 {
				t.Errorf("%s=%s as the cluster default was accepted", kv[0], kv[1])
			}
			continue
		}
		wantCode(t, kv[0]+"="+kv[1]+" as the cluster default", code, kerr.InvalidRequest)
		if want := "must be"; !strings.Contains(msg, want) || !strings.Contains(msg, kv[0]) {
			t.Errorf("%s=%s: message %q, want Kafka's requirement naming the key", kv[0], kv[1], msg)
		}
	}
	cs, _ := e.describeConfigs(kmsg.ConfigResourceTypeBroker, "")
	if c, ok := cs["log.retention.ms"]; ok && c.Source == kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("log.retention.ms stored as the cluster default: %q", deref(c.Value))
	}
	if !usingGregor() {
		return
	}
	b := brokertest.Start(t, brokertest.Options{})
	b.Stop()
	for _, kv := range [][2]string{{"log.retention.ms", "0"}, {"log.retention.hours", "0"}, {"log.retention.minutes", "0"}, {"log.cleaner.dedupe.buffer.size", "1000"}} {
		want := "log.retention.ms must be unlimited (-1) or, greater than or equal to 1"
		if kv[0] == "log.cleaner.dedupe.buffer.size" {
			want = "log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread"
		}
		if code, out := b.Refused(map[string]string{kv[0]: kv[1]}, 20*time.Second); code == 0 || !strings.Contains(out, want) {
			t.Errorf("start-up with %s=%s: exit %d, want it refused with %q; output:\n%s", kv[0], kv[1], code, want, out)
		}
	}
}

// With log.cleaner.enable=false Kafka deletes nothing from compacted
// topics: LogManager.cleanupLogs, the retention thread, takes only logs
// whose cleanup.policy lacks compact, and compacted ones (compact,delete
// included) get their retention from the cleaner, which is not running.
// Gregor applied retention.ms to a compact,delete topic all the same.
func TestCleanerDisabledLeavesCompactedTopicsWhole(t *testing.T) {
	if !usingGregor() {
		t.Skip("starts its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{
		"log.cleaner.enable": "false", "log.retention.check.interval.ms": "100",
	}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ac := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Topics are visited in name order: the compacted one first, so the
	// pass that expires the other has visited it with all its records.
	base := randomName("nocleaner")
	compacted, deleted := base+"-a", base+"-b"
	old := time.Now().Add(-time.Hour)
	for topic, policy := range map[string]string{compacted: "compact,delete", deleted: "delete"} {
		if _, err := ac.CreateTopic(ctx, 1, 1, map[string]*string{
			"cleanup.policy":         kmsg.StringPtr(policy),
			"retention.ms":           kmsg.StringPtr("60000"),
			"internal.segment.bytes": kmsg.StringPtr("1024"),
		}, topic); err != nil {
			t.Fatal(err)
		}
	}
	for _, topic := range []string{compacted, deleted} {
		for i := range 20 {
			r := &kgo.Record{Topic: topic, Key: []byte{byte(i)}, Value: make([]byte, 300), Timestamp: old}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := func(topic string) int64 {
		starts, err := ac.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := starts.Lookup(topic, 0)
		return o.Offset
	}
	waitFor(t, "retention.ms to expire the delete topic's hour-old segments", 20*time.Second, func() bool {
		return start(deleted) > 0
	})
	if s := start(compacted); s != 0 {
		t.Fatalf("the compact,delete topic's log starts at %d with the cleaner disabled, want 0 (nothing deleted, as in Kafka)", s)
	}
}
