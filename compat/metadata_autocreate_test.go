package compat

// The Metadata request that auto-creates a topic answers it
// UNKNOWN_TOPIC_OR_PARTITION without partitions, as Kafka 4's
// AutoTopicCreationManager does; the next Metadata describes it.

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

// kafka-go's own TestConn/test_delete_topics: Conn.ReadPartitions asks
// Metadata with auto-creation allowed, so right after DeleteTopics it
// re-creates the topic; against Kafka that answer has no partitions and
// the test sees none, where Gregor answered the new topic's partitions.
func TestMetadataAutoCreateAnswersUnknownTopic(t *testing.T) {
	addr := bootstrap(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
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

	topic := randomName("autocreate")
	st := meta(topic, true)
	if st.ErrorCode != kerr.UnknownTopicOrPartition.Code || len(st.Partitions) != 0 {
		t.Errorf("the metadata that auto-created %s: %v with %d partitions, want UNKNOWN_TOPIC_OR_PARTITION and none", topic, kerr.ErrorForCode(st.ErrorCode), len(st.Partitions))
	}
	wait.For(t, "the auto-created topic to be described with leaders", 20*time.Second, described(topic))

	// kafka-go's scenario: a connection to one topic's leader deletes
	// another topic and reads its partitions (errors of topics other than
	// the connection's are not reported, so it sees the partitions only).
	own := randomName("autocreate-own")
	gone := randomName("autocreate-gone")
	adm := kadm.NewClient(cl)
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
	if _, err := adm.DeleteTopics(ctx, own, gone); err != nil {
		t.Logf("cleaning up: %v", err)
	}
}
