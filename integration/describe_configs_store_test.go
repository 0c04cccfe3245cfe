package integration

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A topic's configs are described as ZooKeeper holds them, by any broker,
// as ZooKeeper-mode Kafka's DescribeConfigs reads them there: a script
// that alters a topic's configs through one broker and describes them
// through another (kafka-configs.sh --alter, then --describe, each with
// its own bootstrap connection) sees its change. Gregor answered from
// what the broker asked had applied, which lagged the change by the
// notification's round trip (a compat run on a cluster saw the old
// value; this test's 300 rounds without the store read failed within 60).
func TestDescribeConfigsReadsTheStore(t *testing.T) {
	c := startCluster(t, 2, nil)
	topic := "describe-stored"
	c.createTopic(topic, 1, 2, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	describe := func(id int32, name string) (string, kmsg.ConfigSource) {
		t.Helper()
		req := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, []string{name}
		req.Resources = append(req.Resources, rr)
		resp, err := cl.Broker(int(id)).Request(ctx, req)
		if err != nil {
			t.Fatalf("DescribeConfigs on broker %d: %v", id, err)
		}
		res := resp.(*kmsg.DescribeConfigsResponse).Resources
		if len(res) != 1 || res[0].ErrorCode != 0 || len(res[0].Configs) != 1 {
			t.Fatalf("DescribeConfigs of %s on broker %d: %+v", topic, id, res)
		}
		v := res[0].Configs[0].Value
		if v == nil {
			return "<null>", res[0].Configs[0].Source
		}
		return *v, res[0].Configs[0].Source
	}

	// Written straight into ZooKeeper with no change notification, as by
	// another tool: every broker describes it.
	conn := c.zkConn()
	path := c.chroot + "/config/topics/" + topic
	stored := []byte(`{"version":1,"config":{"retention.ms":"1234567"}}`)
	if _, err := conn.Set(path, stored, -1); err != nil {
		if _, err := conn.Create(path, stored, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatalf("writing %s: %v", path, err)
		}
	}
	for _, id := range []int32{1, 2} {
		if v, src := describe(id, "retention.ms"); v != "1234567" || src != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("broker %d describes retention.ms = %s (%v), want 1234567 (DYNAMIC_TOPIC_CONFIG) as ZooKeeper holds it", id, v, src)
		}
	}

	// Altered through one broker, described through the other at once.
	for i := range 300 {
		via, other := int32(1+i%2), int32(2-i%2)
		want := strconv.Itoa(1000000 + i)
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Op, cfg.Value = "segment.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(want)
		rr.Configs = append(rr.Configs, cfg)
		req.Resources = append(req.Resources, rr)
		resp, err := cl.Broker(int(via)).Request(ctx, req)
		if err == nil {
			err = kerr.ErrorForCode(resp.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode)
		}
		if err != nil {
			t.Fatalf("altering segment.ms through broker %d: %v", via, err)
		}
		if v, _ := describe(other, "segment.ms"); v != want {
			t.Fatalf("round %d: segment.ms altered to %s through broker %d, described as %s by broker %d at once", i, want, via, v, other)
		}
	}
}
