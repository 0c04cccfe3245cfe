package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeProducers is answered by every replica with the log, followers
// included (as Kafka does), so kafka-transactions find-hanging --broker-id
// works on any broker.
func TestDescribeProducersOnEveryReplica(t *testing.T) {
	c := startCluster(t, 3, nil)
	topic := "producers-everywhere"
	c.createTopic(topic, 1, 3, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pid, _, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for id := range c.brokers {
		waitFor(t, fmt.Sprintf("broker %d to list the idempotent producer", id), 30*time.Second, func() bool {
			req := kmsg.NewPtrDescribeProducersRequest()
			rt := kmsg.NewDescribeProducersRequestTopic()
			rt.Topic, rt.Partitions = topic, []int32{0}
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl.Broker(int(id)))
			if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				return false
			}
			rp := resp.Topics[0].Partitions[0]
			if e := kerr.ErrorForCode(rp.ErrorCode); e != nil {
				t.Logf("broker %d: %v", id, e)
				return false
			}
			return len(rp.ActiveProducers) == 1 && rp.ActiveProducers[0].ProducerID == pid
		})
	}
}
