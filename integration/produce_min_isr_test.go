package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// An acks=all produce to a partition under min.insync.replicas is refused
// with NOT_ENOUGH_REPLICAS before its records are validated, as Kafka's
// Partition.appendRecordsToLeader checks the ISR before the log's
// validation: a batch over max.message.bytes is NOT_ENOUGH_REPLICAS
// there (the producer retries until the ISR recovers), not
// MESSAGE_TOO_LARGE (the producer splits or fails the batch). Gregor
// validated first.
func TestProduceUnderMinISRBeforeValidation(t *testing.T) {
	c := startCluster(t, 2, nil)
	topic := "min-isr-first"
	c.createTopic(topic, 1, 2, map[string]*string{"min.insync.replicas": strp("2"), "max.message.bytes": strp("200")})
	leader := c.leaderOf(topic, 0)
	for id, b := range c.brokers {
		if id != leader {
			b.Kill()
		}
	}
	waitFor(t, "the killed follower to leave the ISR", 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && len(ps[0].isr) == 1
	})
	v := kversion.Stable()
	v.SetMaxKeyVersion(0, 12) // Produce by topic name
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[leader].Addr), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(), kgo.MaxVersions(v))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := kmsg.Record{Value: []byte(strings.Repeat("x", 500))}
	r.Length = int32(len(r.AppendTo(nil)) - 1)
	now := time.Now().UnixMilli()
	batch := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: r.AppendTo(nil)}
	batch.Length = int32(len(batch.AppendTo(nil)) - 12)
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch.AppendTo(nil) // its CRC is wrong too: the ISR comes first
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
	if err != nil {
		t.Fatal(err)
	}
	if got := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); got != kerr.NotEnoughReplicas {
		t.Errorf("acks=all of a batch over max.message.bytes to a partition under min.insync.replicas: %v, want NOT_ENOUGH_REPLICAS", got)
	}
}
