package compat

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

// A cluster-wide dynamic log.retention.ms (kafka-configs --entity-default)
// changes the retention of every topic without its own retention.ms, at
// once, as in Kafka; a topic with its own override keeps it.
func TestDynamicRetentionDefaultApplies(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker with a fast retention check")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"log.retention.check.interval.ms": "100"}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ac := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	plain, pinned := randomName("dynret"), randomName("dynret-own")
	small := kmsg.StringPtr("1024")
	if _, err := ac.CreateTopic(ctx, 1, -1, map[string]*string{"internal.segment.bytes": small}, plain); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.CreateTopic(ctx, 1, -1, map[string]*string{"internal.segment.bytes": small, "retention.ms": kmsg.StringPtr("-1")}, pinned); err != nil {
		t.Fatal(err)
	}
	// Records a day old fill a few segments of each topic, then a fresh
	// one keeps the active segment busy.
	old := time.Now().Add(-24 * time.Hour)
	for _, topic := range []string{plain, pinned} {
		for i := 0; i < 20; i++ {
			r := &kgo.Record{Topic: topic, Value: make([]byte, 300), Timestamp: old}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("fresh")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	earliest := func(topic string) int64 {
		t.Helper()
		so, err := ac.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := so.Lookup(topic, 0)
		return o.Offset
	}
	if e := earliest(plain); e != 0 {
		t.Fatalf("day-old records deleted under the 7-day default: earliest %d", e)
	}
	// One hour, cluster-wide.
	res, err := ac.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: kmsg.StringPtr("3600000")}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("altering the cluster default: %v %v", err, res)
	}
	waitFor(t, "day-old segments of the topic without its own retention to be deleted", 20*time.Second, func() bool {
		return earliest(plain) > 0
	})
	if e := earliest(pinned); e != 0 {
		t.Fatalf("a topic with its own retention.ms=-1 lost records: earliest %d", e)
	}
	cs, err := ac.DescribeTopicConfigs(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cs.On(plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range c.Configs {
		if e.Key == "retention.ms" && (e.MaybeValue() != "3600000" || e.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig) {
			t.Fatalf("retention.ms described as %q (%v), want 3600000 from the dynamic default", e.MaybeValue(), e.Source)
		}
	}
}
