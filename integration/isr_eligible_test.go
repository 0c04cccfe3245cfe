package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A follower whose ZooKeeper session expired while it was stopped goes on
// fetching when it resumes, before it has registered again. As in Kafka
// (KIP-841), the leader does not add it back to the ISR until it is
// registered: the controller takes an unregistered broker out of every
// ISR, and the leader once added it back hundreds of times a second until
// it re-registered, so the ISR the cluster showed named a broker it did
// not list.
func TestUnregisteredFollowerStaysOutOfISR(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"replica.lag.time.max.ms": "30000", "auto.leader.rebalance.enable": "false"})
	topic := "isr-eligible"
	defer c.dumpLogs()
	c.createAssigned(topic, [][]int32{{1, 2, 3}})
	c.awaitISR(topic, 3, 30*time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[1].Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// The leader's own view: its ISR and the brokers it knows are
	// registered, from one answer.
	view := func() (isr []int32, live []int32, ok bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		raw, err := cl.Broker(1).Request(ctx, req)
		if err != nil {
			return nil, nil, false
		}
		resp := raw.(*kmsg.MetadataResponse)
		for _, b := range resp.Brokers {
			live = append(live, b.NodeID)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return nil, live, false
		}
		return resp.Topics[0].Partitions[0].ISR, live, true
	}
	c.brokers[3].Pause()
	waitFor(t, "broker 3's session to expire and the controller to take it out of the ISR", 60*time.Second, func() bool {
		isr, live, ok := view()
		return ok && !slices.Contains(live, 3) && !slices.Contains(isr, 3)
	})
	c.brokers[3].Resume()
	seen := 0
	waitFor(t, "broker 3 to register and rejoin the ISR", 60*time.Second, func() bool {
		isr, live, ok := view()
		if !ok {
			return false
		}
		seen++
		if slices.Contains(isr, 3) && !slices.Contains(live, 3) {
			t.Fatalf("the leader's ISR %v names broker 3, which is not registered (brokers %v)", isr, live)
		}
		return slices.Contains(isr, 3) && slices.Contains(live, 3)
	})
	t.Logf("%d views while broker 3 came back", seen)
}
