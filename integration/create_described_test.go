package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopics and CreatePartitions are answered once every live broker
// describes what they made, DeleteTopics once none describes the topic. Each broker reads the controller's decisions
// from ZooKeeper on its own, and a broker a moment behind described the
// topic without the new partitions (or not at all) to a client that asked
// it right after the answer: kafka-python's producer then refused a
// record for a new partition ("Unrecognized partition"). Here one broker
// is held (SIGSTOP) while the controller creates (and deletes); it is
// let go a second later, and it must describe the change as soon as the
// request is answered.
func TestCreateAnsweredOnceEveryBrokerDescribes(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"zookeeper.session.timeout.ms": "12000"})
	controller := c.controller()
	var victim int32 = -1
	for id := range c.brokers {
		if id != controller {
			victim = id
			break
		}
	}
	ctl := c.brokers[controller]
	// Requests go to the controller's address alone: a client that sent
	// its first request to the held broker would wait out its timeout.
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(ctl.Addr)}, c.clientOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic = "described-everywhere"

	// held runs op with the victim stopped for a second of it, and then
	// asks the victim at once how many partitions of topic it describes
	// with a leader.
	held := func(what string, op func() int16) int32 {
		t.Helper()
		c.brokers[victim].Pause()
		resume := time.AfterFunc(time.Second, c.brokers[victim].Resume)
		defer resume.Stop()
		start := time.Now()
		if code := op(); code != 0 {
			t.Fatalf("%s: %v", what, kerr.ErrorForCode(code))
		}
		took := time.Since(start)
		n, err := partitionsLedOn(c.brokers[victim].Addr, topic, c.clientOpts...)
		if err != nil {
			t.Fatalf("broker %d's Metadata for %s right after %s was answered: %v", victim, topic, what, err)
		}
		t.Logf("%s answered after %v; broker %d (held for 1 s) then described %d partitions with leaders", what, took.Round(time.Millisecond), victim, n)
		return n
	}

	create := kmsg.NewPtrCreateTopicsRequest()
	create.TimeoutMillis = 30000
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, 6, 3
	create.Topics = append(create.Topics, ct)
	if n := held("CreateTopics", func() int16 {
		resp, err := cl.SeedBrokers()[0].Request(ctx, create)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
	}); n != 6 {
		t.Fatalf("broker %d described %d partitions of %s with leaders right after CreateTopics was answered, want 6", victim, n, topic)
	}

	grow := kmsg.NewPtrCreatePartitionsRequest()
	grow.TimeoutMillis = 30000
	gt := kmsg.NewCreatePartitionsRequestTopic()
	gt.Topic, gt.Count = topic, 9
	grow.Topics = append(grow.Topics, gt)
	if n := held("CreatePartitions", func() int16 {
		resp, err := cl.SeedBrokers()[0].Request(ctx, grow)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode
	}); n != 9 {
		t.Fatalf("broker %d described %d partitions of %s with leaders right after CreatePartitions was answered, want 9", victim, n, topic)
	}

	del := kmsg.NewPtrDeleteTopicsRequest()
	del.TimeoutMillis = 30000
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr(topic)
	del.Topics = append(del.Topics, dt)
	del.TopicNames = []string{topic}
	c.brokers[victim].Pause()
	resume := time.AfterFunc(time.Second, c.brokers[victim].Resume)
	defer resume.Stop()
	resp, err := cl.SeedBrokers()[0].Request(ctx, del)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode; code != 0 {
		t.Fatalf("DeleteTopics: %v", kerr.ErrorForCode(code))
	}
	if n, err := partitionsLedOn(c.brokers[victim].Addr, topic, c.clientOpts...); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("broker %d right after DeleteTopics was answered: %d partitions with leaders, %v; want UNKNOWN_TOPIC_OR_PARTITION", victim, n, err)
	}

	// A peer that answers nothing holds a request of several topics back
	// 5 s in all, not 5 s per topic.
	many := kmsg.NewPtrCreateTopicsRequest()
	many.TimeoutMillis = 30000
	for i := range 4 {
		mt := kmsg.NewCreateTopicsRequestTopic()
		mt.Topic, mt.NumPartitions, mt.ReplicationFactor = fmt.Sprintf("%s-%d", topic, i), 1, 3
		many.Topics = append(many.Topics, mt)
	}
	c.brokers[victim].Pause()
	start := time.Now()
	resp, err = cl.SeedBrokers()[0].Request(ctx, many)
	took := time.Since(start)
	c.brokers[victim].Resume()
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.(*kmsg.CreateTopicsResponse).Topics {
		if rt.ErrorCode != 0 {
			t.Fatalf("creating %s with broker %d stopped: %v", rt.Topic, victim, kerr.ErrorForCode(rt.ErrorCode))
		}
	}
	if took > 10*time.Second {
		t.Fatalf("CreateTopics of 4 topics with broker %d stopped answered after %v, want about 5 s (the peer wait is one for the request)", victim, took)
	}
	t.Logf("CreateTopics of 4 topics with broker %d stopped answered after %v", victim, took.Round(time.Millisecond))
}
