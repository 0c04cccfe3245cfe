package compat

// Produce and fetch details found by a review against Kafka 4's
// Partition, ReplicaManager and KafkaApis.

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// min.insync.replicas above a topic's replication factor is capped at it,
// as Kafka's effectiveMinIsr (3.7+): acks=all produces (the default of
// the Java producer, librdkafka and franz-go) to a topic of one replica
// succeed whatever its min.insync.replicas. Gregor refused every one
// with NOT_ENOUGH_REPLICAS.
func TestAcksAllWithMinISRAboveReplicationFactor(t *testing.T) {
	addr := bootstrap(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := randomName("minisr")
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"min.insync.replicas": kadm.StringPtr("3")}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("acks=all to a topic of one replica with min.insync.replicas=3: %v", err)
	}
}
