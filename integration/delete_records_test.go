package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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

// deleteRecordsRaw sends DeleteRecords for partition 0 of topic with a
// timeout and returns its error code and low watermark.
func deleteRecordsRaw(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, offset int64, timeout time.Duration) (int16, int64) {
	t.Helper()
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = int32(timeout.Milliseconds())
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.LowWatermark
}

// DeleteRecords waits for the low watermark to reach the offset
// requested, not the leader's log start: asked again for an offset the
// leader's log already starts past, it answers as soon as every live
// follower's log start is at or past that offset, as Kafka's
// ReplicaManager.deleteRecords (delayedDeleteRecordsRequired: lowWatermark
// < requestedOffset) and DelayedDeleteRecords. Gregor waited for the
// followers to reach the leader's log start, so with a follower behind
// (paused here, still registered) the request timed out where Kafka
// answered at once.
func TestDeleteRecordsWaitsForRequestedOffset(t *testing.T) {
	c := startCluster(t, 2, map[string]string{"zookeeper.session.timeout.ms": "30000"})
	topic := "delete-records-requested"
	c.createTopic(topic, 1, 2, nil)
	c.awaitISR(topic, 2, 30*time.Second)
	leader := c.leaderOf(topic, 0)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[leader].Addr), kgo.DefaultProduceTopic(topic))
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
	if code, low := deleteRecordsRaw(ctx, t, cl, topic, 40, 10*time.Second); code != 0 || low != 40 {
		t.Fatalf("DeleteRecords to 40 with both replicas up: %v, low watermark %d; want 40", kerr.ErrorForCode(code), low)
	}
	follower := 3 - leader
	c.brokers[follower].Pause()
	defer c.brokers[follower].Resume()
	if code, _ := deleteRecordsRaw(ctx, t, cl, topic, 60, time.Second); code != kerr.RequestTimedOut.Code {
		t.Fatalf("DeleteRecords to 60 with the follower paused at 40: %v, want REQUEST_TIMED_OUT", kerr.ErrorForCode(code))
	}
	// The leader's log starts at 60, the follower's at 40: 30 is reached.
	if code, low := deleteRecordsRaw(ctx, t, cl, topic, 30, 5*time.Second); code != 0 || low != 40 {
		t.Fatalf("DeleteRecords to 30, below the paused follower's log start 40: %v, low watermark %d; want success at once, 40", kerr.ErrorForCode(code), low)
	}
}
