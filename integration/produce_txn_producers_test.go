package integration

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Transactional batches of two producers in one produce request refuse
// every partition with INVALID_PRODUCER_ID_MAPPING "Transactional records
// contained more than one producer ID", counted over every partition the
// request names, led by the broker asked or not, as Kafka's
// ReplicaManager.handleProduceAppend counts them before it looks at
// leadership. Gregor counted only the partitions it led: the request
// below, whose second partition another broker leads, had its first
// partition's producer verified alone (INVALID_PRODUCER_ID_MAPPING with
// another message) and its second answered NOT_LEADER_OR_FOLLOWER.
func TestTransactionalProducersCountedOverPartitionsLedElsewhere(t *testing.T) {
	c := startCluster(t, 2, nil)
	topic := "txn-two-brokers"
	c.createAssigned(topic, [][]int32{{1}, {2}})
	// Broker 1 must know both partitions (and broker 2 as the second's
	// leader), or the second is UNKNOWN_TOPIC_OR_PARTITION to it, which
	// Kafka leaves out of the count too.
	awaitLeaderEpochKnown(t, c, 1, topic, 0, 0)
	awaitLeaderEpochKnown(t, c, 1, topic, 1, 0)

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[1].Addr), kgo.MaxVersions(kversion.V3_8_0())) // Produce by topic name
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis, req.TransactionID = -1, 5000, kmsg.StringPtr("txn-two")
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for p, pid := range []int64{1, 2} {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = int32(p), txnBatch(pid, 0, 0, "v")
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := cl.Broker(1).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	const want = "Transactional records contained more than one producer ID"
	for _, st := range resp.(*kmsg.ProduceResponse).Topics {
		for _, sp := range st.Partitions {
			msg := "<null>"
			if sp.ErrorMessage != nil {
				msg = *sp.ErrorMessage
			}
			if sp.ErrorCode != kerr.InvalidProducerIDMapping.Code || msg != want {
				t.Errorf("partition %d: %v %q, want INVALID_PRODUCER_ID_MAPPING %q", sp.Partition, kerr.ErrorForCode(sp.ErrorCode), msg, want)
			}
		}
	}
}
