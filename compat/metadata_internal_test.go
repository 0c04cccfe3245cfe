package compat

// Metadata and the internal topics: a client's Metadata that allows
// auto-creation creates a missing internal topic with its coordinator's
// settings, as Kafka's AutoTopicCreationManager does, and an internal
// topic that does not exist is answered flagged internal.

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
	"gregor/internal/wait"
)

// A consumer assigned a partition of __consumer_offsets before any group
// used the broker (kafka-console-consumer.sh --topic __consumer_offsets
// --partition 0 sends no FindCoordinator) asks Metadata to create it;
// Gregor answered UNKNOWN_TOPIC_OR_PARTITION, and the consumer warned
// about it in a loop, for ever.
func TestMetadataAutoCreatesOffsetsTopic(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs a broker no group has used")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"offsets.topic.num.partitions": "3"}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ask := func(allow bool) kmsg.MetadataResponseTopic {
		t.Helper()
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("__consumer_offsets")
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

	st := ask(false)
	if st.ErrorCode != kerr.UnknownTopicOrPartition.Code || !st.IsInternal {
		t.Errorf("metadata without auto-creation: %v, internal %v; want UNKNOWN_TOPIC_OR_PARTITION, internal", kerr.ErrorForCode(st.ErrorCode), st.IsInternal)
	}
	st = ask(true)
	if !createdAnswer(st.ErrorCode) || !st.IsInternal {
		t.Errorf("metadata with auto-creation: %v, internal %v; want LEADER_NOT_AVAILABLE (Kafka 4: UNKNOWN_TOPIC_OR_PARTITION), internal", kerr.ErrorForCode(st.ErrorCode), st.IsInternal)
	}
	wait.For(t, "__consumer_offsets to have 3 partitions with leaders in metadata", 20*time.Second, func() bool {
		st := ask(false)
		if st.ErrorCode != 0 || len(st.Partitions) != 3 {
			return false
		}
		for _, p := range st.Partitions {
			if p.ErrorCode != 0 || p.Leader < 0 {
				return false
			}
		}
		return true
	})
	cs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cs.On("__consumer_offsets", nil)
	if err != nil {
		t.Fatal(err)
	}
	policy := ""
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil {
			policy = *c.Value
		}
	}
	if policy != "compact" {
		t.Errorf("auto-created __consumer_offsets has cleanup.policy %q, want compact (the group coordinator's settings)", policy)
	}
}
