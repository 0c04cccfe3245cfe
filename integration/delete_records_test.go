package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DeleteRecords answers once every live replica's log start offset has
// reached the offset, as Kafka's DelayedDeleteRecords waits for the low
// watermark: the leader killed right after the answer cannot hand the
// deleted records back through a new leader. Gregor answered as soon as
// the leader had deleted them.
func TestDeleteRecordsSurvivesFailover(t *testing.T) {
	c := startCluster(t, 3, nil)
	topic := "delete-records"
	c.createTopic(topic, 1, 3, nil)
	c.awaitISR(topic, 3, 30*time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var rs []*kgo.Record
	for i := range 100 {
		rs = append(rs, &kgo.Record{Value: []byte(fmt.Sprint(i))})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	off := kadm.Offsets{}
	off.Add(kadm.Offset{Topic: topic, Partition: 0, At: 60})
	res, err := adm.DeleteRecords(ctx, off)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := res.Lookup(topic, 0)
	if r.Err != nil || r.LowWatermark != 60 {
		t.Fatalf("DeleteRecords to 60: low watermark %d, %v; want 60", r.LowWatermark, r.Err)
	}
	leader := c.leaderOf(topic, 0)
	c.brokers[leader].Kill()
	waitFor(t, "a new leader", 30*time.Second, func() bool {
		l := c.leaderOf(topic, 0)
		return l >= 0 && l != leader
	})
	var start int64
	waitFor(t, "the new leader's log start offset", 30*time.Second, func() bool {
		lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer lcancel()
		lo, err := adm.ListStartOffsets(lctx, topic)
		if err != nil || lo.Error() != nil {
			return false
		}
		o, _ := lo.Lookup(topic, 0)
		start = o.Offset
		return true
	})
	if start < 60 {
		t.Fatalf("after a failover the log starts at %d: deleted records came back (want at least 60)", start)
	}
}
