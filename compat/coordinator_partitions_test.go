package compat

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/internal/brokertest"
)

// Groups hash over the partitions __consumer_offsets had when the broker
// started, not over offsets.topic.num.partitions, as Kafka's coordinator
// does once the topic exists: a broker restarted with another setting
// still finds every group's committed offsets. Gregor once hashed over the
// setting, and most groups lost their offsets.
func TestGroupsHashOverTheOffsetsTopicItHas(t *testing.T) {
	if !usingGregor() {
		t.Skip("restarts its own broker with another offsets.topic.num.partitions")
	}
	b := brokertest.Start(t, brokertest.Options{})
	topic := randomName("hashed")
	groups := make([]string, 12)
	for i := range groups {
		groups[i] = fmt.Sprintf("%s-group-%d", topic, i)
	}
	// admin is an admin client on addr and a context of 30 s, both
	// released when the test ends.
	admin := func(addr string) (*kadm.Client, context.Context) {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		return kadm.NewClient(cl), ctx
	}
	commit := func(addr string) {
		t.Helper()
		adm, ctx := admin(addr)
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		for i, g := range groups {
			os := make(kadm.Offsets)
			os.Add(kadm.Offset{Topic: topic, Partition: 0, At: int64(i + 1), LeaderEpoch: -1})
			if err := adm.CommitAllOffsets(ctx, g, os); err != nil {
				t.Fatalf("committing for %s: %v", g, err)
			}
		}
	}
	check := func(addr, when string) {
		t.Helper()
		adm, ctx := admin(addr)
		for i, g := range groups {
			waitFor(t, "the committed offset of "+g+" "+when, 20*time.Second, func() bool {
				os, err := adm.FetchOffsets(ctx, g)
				if err != nil {
					return false // the coordinator may still be loading
				}
				o, ok := os.Lookup(topic, 0)
				return ok && o.Err == nil && o.At == int64(i+1)
			})
		}
	}
	commit(b.Addr)
	check(b.Addr, "as committed")
	b.Stop()
	again := brokertest.Start(t, brokertest.Options{Dir: b.Dir, Port: b.Port,
		Set: map[string]string{"offsets.topic.num.partitions": "7"}})
	check(again.Addr, "after a restart with offsets.topic.num.partitions=7")

	// Partitions added to __consumer_offsets move no group until the
	// broker restarts, as in Kafka, whose coordinator keeps the count it
	// started with. They once made every group vanish at once.
	adm, ctx := admin(again.Addr)
	resp, err := adm.CreatePartitions(ctx, 10, "__consumer_offsets")
	if err == nil {
		err = resp["__consumer_offsets"].Err
	}
	if err != nil {
		t.Fatalf("adding partitions to __consumer_offsets: %v", err)
	}
	check(again.Addr, "after partitions were added to __consumer_offsets")
}
