package compat

// The Metadata request that auto-creates a topic answers it without
// partitions: LEADER_NOT_AVAILABLE, as Kafka on ZooKeeper
// (AutoTopicCreationManager.createTopicsInZk), where Kafka 4 answers
// UNKNOWN_TOPIC_OR_PARTITION; the next Metadata describes it.

import (
	"context"
	"testing"
	"time"

	segkafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/wait"
)

// createdAnswer reports whether code is how a broker answers a topic in
// the Metadata request that auto-created it: LEADER_NOT_AVAILABLE (Kafka
// on ZooKeeper, Gregor) or UNKNOWN_TOPIC_OR_PARTITION (Kafka 4, which
// forwards the creation to its controller).
func createdAnswer(code int16) bool {
	return code == kerr.LeaderNotAvailable.Code || code == kerr.UnknownTopicOrPartition.Code
}

// kafka-go's own TestConn/test_delete_topics and
// TestConsumerGroupWithGroupTopicsSingle: Conn.ReadPartitions asks Metadata
// with auto-creation allowed, so right after DeleteTopics it re-creates
// the topic, and Kafka's answer has no partitions; a consumer group
// leader whose topic does not exist yet creates it so and, answered
// LEADER_NOT_AVAILABLE, joins again and is assigned its partition. Gregor
// answered the new topic's partitions at once.
func TestMetadataAutoCreateAnswersWithoutPartitions(t *testing.T) {
	addr := bootstrap(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	meta := func(topic string, allow bool) kmsg.MetadataResponseTopic {
		t.Helper()
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		req.AllowAutoTopicCreation = allow
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 {
			t.Fatalf("metadata answered %d topics, want 1", len(resp.Topics))
		}
		return resp.Topics[0]
	}
	described := func(topic string) func() bool {
		return func() bool {
			st := meta(topic, false)
			if st.ErrorCode != 0 || len(st.Partitions) == 0 {
				return false
			}
			for _, p := range st.Partitions {
				if p.ErrorCode != 0 || p.Leader < 0 {
					return false
				}
			}
			return true
		}
	}
	adm := kadm.NewClient(cl)

	topic := randomName("autocreate")
	defer adm.DeleteTopics(context.Background(), topic)
	st := meta(topic, true)
	if !createdAnswer(st.ErrorCode) || len(st.Partitions) != 0 {
		t.Errorf("the metadata that auto-created %s: %v with %d partitions, want LEADER_NOT_AVAILABLE and none", topic, kerr.ErrorForCode(st.ErrorCode), len(st.Partitions))
	}
	wait.For(t, "the auto-created topic to be described with leaders", 20*time.Second, described(topic))

	// A connection to one topic's leader deletes another topic and reads
	// its partitions (errors of topics other than the connection's are
	// not reported, so it sees the partitions only).
	own := randomName("autocreate-own")
	gone := randomName("autocreate-gone")
	defer adm.DeleteTopics(context.Background(), own, gone)
	for _, name := range []string{own, gone} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, name); err != nil {
			t.Fatal(err)
		}
		wait.For(t, "topic "+name+" to be described with leaders", 20*time.Second, described(name))
	}
	conn, err := segkafka.DialLeader(ctx, "tcp", addr, own, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := conn.DeleteTopics(gone); err != nil {
		t.Fatalf("DeleteTopics: %v", err)
	}
	wait.For(t, "the deleted topic to be unknown", 20*time.Second, func() bool {
		return meta(gone, false).ErrorCode == kerr.UnknownTopicOrPartition.Code
	})
	parts, err := conn.ReadPartitions(gone)
	if err != nil {
		t.Fatalf("ReadPartitions: %v", err)
	}
	if len(parts) != 0 {
		t.Errorf("ReadPartitions of the deleted topic re-created it and listed %d partitions in the same answer, want none (as Kafka)", len(parts))
	}

	// A kafka-go group member subscribed to a topic that does not exist
	// yet: its leader's Metadata creates it; the member must end up
	// assigned its partition and read what is written there.
	later := randomName("autocreate-group")
	defer adm.DeleteTopics(context.Background(), later)
	r := segkafka.NewReader(segkafka.ReaderConfig{
		Brokers:                []string{addr},
		GroupID:                randomName("autocreate-group"),
		GroupTopics:            []string{later},
		MaxWait:                500 * time.Millisecond,
		JoinGroupBackoff:       500 * time.Millisecond,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 100 * time.Millisecond,
	})
	defer r.Close()
	wait.For(t, "the group leader's Metadata to create "+later, 20*time.Second, described(later))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: later, Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	defer rcancel()
	m, err := r.ReadMessage(rctx)
	if err != nil {
		t.Fatalf("the kafka-go group member never read the record on the topic its leader auto-created (never assigned its partition): %v", err)
	}
	if string(m.Value) != "first" {
		t.Errorf("read %q, want %q", m.Value, "first")
	}
}
