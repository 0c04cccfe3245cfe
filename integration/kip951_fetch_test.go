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

// A consumer's fetch (v16+) sent to a broker that holds no replica of the
// partition is answered NOT_LEADER_OR_FOLLOWER naming the leader, with the
// leader's endpoint in the response's NodeEndpoints (KIP-951), as Kafka
// answers it, so the client can go there without a metadata refresh.
func TestFetchFromNonReplicaNamesLeaderEndpoint(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"auto.leader.rebalance.enable": "false"})
	topic := "fetch-kip951"
	c.createAssigned(topic, [][]int32{{1, 2}})
	waitFor(t, "broker 1 to lead "+topic, 30*time.Second, func() bool { return c.leaderOf(topic, 0) == 1 })
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 0, 1<<20
	req.ReplicaState.ID = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID(ctx, t, cl, topic)
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = 0, -1, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	raw, err := cl.Broker(3).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := raw.(*kmsg.FetchResponse)
	if resp.Version < 16 {
		t.Fatalf("the fetch went out as v%d; the test needs v16+", resp.Version)
	}
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != kerr.NotLeaderForPartition.Code || sp.CurrentLeader.LeaderID != 1 {
		t.Fatalf("a fetch from broker 3 answered %v with leader %d, want NOT_LEADER_OR_FOLLOWER naming 1", kerr.ErrorForCode(sp.ErrorCode), sp.CurrentLeader.LeaderID)
	}
	want := c.brokers[1].Addr
	if len(resp.Brokers) != 1 || fmt.Sprintf("%s:%d", resp.Brokers[0].Host, resp.Brokers[0].Port) != want || resp.Brokers[0].NodeID != 1 {
		t.Fatalf("NodeEndpoints %+v, want broker 1 at %s", resp.Brokers, want)
	}
}
