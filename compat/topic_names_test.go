package compat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

// Topic names at the edges of what Kafka allows get a working topic
// through creation, produce, consume, a restart and deletion:
//   - 249 bytes, the longest Kafka takes: its partition directory
//     ("<topic>-<partition>", 251 bytes) leaves no room for the suffix of
//     a temporary or deleted directory within the 255 bytes of a file
//     name. Creation once failed on "file name too long" after leaving
//     the topic in the metadata without a log.
//   - a name holding ".tmp-", as the temporary directories of unfinished
//     creations do: start-up must not take its partitions for leftovers
//     and remove them.
func TestTopicNamesAtTheLimits(t *testing.T) {
	if !usingGregor() {
		t.Skip("restarts its own broker and reads its log dir")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"log.segment.delete.delay.ms": "0"}})
	dir := filepath.Join(b.Dir, "data")
	long := strings.Repeat("L", 249-len("long")) + "long"
	tmpLike := randomName("keep.tmp-0123456789abcdef")
	topics := []string{long, tmpLike}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Well within the minute Gregor waits for leaders before it answers
	// REQUEST_TIMED_OUT.
	cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	resp, err := adm.CreateTopics(cctx, 2, 1, nil, topics...)
	ccancel()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil {
			t.Fatalf("creating %s (%d bytes): %v %s", r.Topic, len(r.Topic), r.Err, r.ErrMessage)
		}
	}
	produce := func(round int) {
		t.Helper()
		for _, topic := range topics {
			for p := range int32(2) {
				r := &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("r%d-p%d", round, p))}
				if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatalf("producing to %d-byte topic %.20s...: %v", len(topic), topic, err)
				}
			}
		}
	}
	check := func(want int) {
		t.Helper()
		for _, topic := range topics {
			got := consumeAll(t, b.Addr, topic, want)
			sort.Strings(got)
			if len(got) != want {
				t.Fatalf("%.20s... reads %v, want %d records", topic, got, want)
			}
		}
	}
	produce(0)
	check(2)
	b.Restart()
	check(2) // nothing was taken for a leftover
	produce(1)
	check(4)

	// Deleting the long-named topic removes its directories; a new topic
	// of the same name starts empty.
	dresp, err := adm.DeleteTopics(ctx, long)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dresp.On(long, nil); r.Err != nil {
		t.Fatalf("deleting the 249-byte topic: %v %s", r.Err, r.ErrMessage)
	}
	leftover := func() []string {
		ents, _ := os.ReadDir(dir)
		var out []string
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), long[:200]) { // the directories, moved aside or not
				out = append(out, e.Name())
			}
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(leftover()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("30 s after deletion %s still holds %v", dir, leftover())
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitFor(t, "the deleted topic to leave the metadata", 30*time.Second, func() bool {
		md, err := adm.ListTopics(ctx, long)
		return err == nil && !md.Has(long)
	})
	cctx, ccancel = context.WithTimeout(ctx, 20*time.Second)
	resp, err = adm.CreateTopics(cctx, 1, 1, nil, long)
	ccancel()
	if err != nil || resp[long].Err != nil {
		t.Fatalf("re-creating the 249-byte topic: %v %v", err, resp[long].Err)
	}
	// A new client: kgo keeps producing by the old topic's id (Produce
	// v13) until the topic is purged from it, and Kafka answers that with
	// UNKNOWN_TOPIC_ID as Gregor does.
	cl2, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	if err := cl2.ProduceSync(ctx, &kgo.Record{Topic: long, Value: []byte("new")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := consumeAll(t, b.Addr, long, 1); len(got) != 1 || got[0] != "0/0=new" {
		t.Fatalf("the re-created topic reads %v, want only its own record", got)
	}
	b.Restart()
	if got := consumeAll(t, b.Addr, long, 1); len(got) != 1 || got[0] != "0/0=new" {
		t.Fatalf("after a restart the re-created topic reads %v, want only its own record", got)
	}
}

// A partition directory that lost its partition.metadata gets it back on
// the next start, naming the topic's id, as Kafka rewrites it: the file is
// how a later start tells the topic's replica from one of an earlier
// topic of the same name.
func TestPartitionMetadataRewritten(t *testing.T) {
	if !usingGregor() {
		t.Skip("restarts its own broker and edits its log dir")
	}
	b := brokertest.Start(t, brokertest.Options{})
	topic := randomName("meta")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(b.Dir, "data", topic+"-0", "partition.metadata")
	want, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	b.Stop()
	if err := os.Remove(meta); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	waitFor(t, "partition.metadata to be written again", 20*time.Second, func() bool {
		got, err := os.ReadFile(meta)
		return err == nil && string(got) == string(want)
	})
	if got := consumeAll(t, b.Addr, topic, 1); len(got) != 1 {
		t.Fatalf("after the restart the topic reads %v", got)
	}
}

// TestInvalidTopicNamesAnsweredInKafkasWords: a name that cannot be a topic
// is INVALID_TOPIC_EXCEPTION with the message of Kafka's Topic.validate,
// which kafka-topics.sh prints ("Error while executing topic command :
// Topic name is invalid: ..."), from CreateTopics, DescribeConfigs and
// AlterConfigs alike.
func TestInvalidTopicNamesAnsweredInKafkasWords(t *testing.T) {
	addr := bootstrap(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	long := strings.Repeat("é", 200) // 400 bytes, but 200 Java chars: too long only by bytes
	for _, c := range []struct{ name, want string }{
		{"bad name", "Topic name is invalid: 'bad name' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"},
		{"..", "Topic name is invalid: '..' is not allowed"},
		{strings.Repeat("x", 250), "Topic name is invalid: the length of '" + strings.Repeat("x", 250) + "' is longer than the max allowed length 249"},
		{long, "Topic name is invalid: '" + long + "' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"},
	} {
		create := kmsg.NewPtrCreateTopicsRequest()
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = c.name, 1, -1
		create.Topics = append(create.Topics, ct)
		cresp, err := create.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		ctr := cresp.Topics[0]
		if ctr.ErrorCode != kerr.InvalidTopicException.Code || deref(ctr.ErrorMessage) != c.want {
			t.Errorf("CreateTopics %.20q: %v %q, want INVALID_TOPIC_EXCEPTION %q", c.name, kerr.ErrorForCode(ctr.ErrorCode), deref(ctr.ErrorMessage), c.want)
		}
		describe := kmsg.NewPtrDescribeConfigsRequest()
		dr := kmsg.NewDescribeConfigsRequestResource()
		dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeTopic, c.name
		describe.Resources = append(describe.Resources, dr)
		dresp, err := describe.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if d := dresp.Resources[0]; d.ErrorCode != kerr.InvalidTopicException.Code || deref(d.ErrorMessage) != c.want {
			t.Errorf("DescribeConfigs %.20q: %v %q, want INVALID_TOPIC_EXCEPTION %q", c.name, kerr.ErrorForCode(d.ErrorCode), deref(d.ErrorMessage), c.want)
		}
		alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
		ar := kmsg.NewIncrementalAlterConfigsRequestResource()
		ar.ResourceType, ar.ResourceName = kmsg.ConfigResourceTypeTopic, c.name
		ac := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		ac.Name, ac.Value = "retention.ms", kmsg.StringPtr("1000")
		ar.Configs = append(ar.Configs, ac)
		alter.Resources = append(alter.Resources, ar)
		aresp, err := alter.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if a := aresp.Resources[0]; a.ErrorCode != kerr.InvalidTopicException.Code || deref(a.ErrorMessage) != c.want {
			t.Errorf("IncrementalAlterConfigs %.20q: %v %q, want INVALID_TOPIC_EXCEPTION %q", c.name, kerr.ErrorForCode(a.ErrorCode), deref(a.ErrorMessage), c.want)
		}
	}
}
