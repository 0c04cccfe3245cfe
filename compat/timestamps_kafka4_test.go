package compat

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A topic left at the defaults refuses a record timestamped more than an
// hour ahead of the broker's clock with INVALID_TIMESTAMP: Kafka 4.0 made
// an hour the default of message.timestamp.after.max.ms (KIP-1030; it was
// unlimited, as Gregor still had it). Half an hour ahead is taken.
func TestDefaultTopicRefusesTimestampHoursAhead(t *testing.T) {
	addr := bootstrap(t)
	// INVALID_TIMESTAMP is not retried; NOT_LEADER_FOR_PARTITION, which
	// a cluster may answer while the new topic's leader takes over, is.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := randomName("ts-ahead")
	if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("creating %s: %v %v", topic, err, resp.Err)
	}
	now := time.Now()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("soon"), Timestamp: now.Add(30 * time.Minute)}).FirstErr(); err != nil {
		t.Fatalf("a record half an hour ahead: %v", err)
	}
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("later"), Timestamp: now.Add(2 * time.Hour)}).FirstErr()
	if !errors.Is(err, kerr.InvalidTimestamp) {
		t.Fatalf("a record two hours ahead: %v, want INVALID_TIMESTAMP", err)
	}
	dc, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := dc.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == "message.timestamp.after.max.ms" && (c.Value == nil || *c.Value != "3600000") {
			t.Fatalf("message.timestamp.after.max.ms described as %v, want 3600000", c.MaybeValue())
		}
	}
}
