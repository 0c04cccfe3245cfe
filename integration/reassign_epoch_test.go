package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A reassignment that only adds a replica, its leader staying, keeps the
// leader epoch, as Kafka 4's PartitionChangeBuilder: a consumer fetching
// at the epoch it knew is never fenced, the leader takes the new replica
// into the ISR (it tracks it at that epoch), and no record acknowledged
// with acks=all while it catches up is lost.
func TestReassignAddingAReplicaKeepsTheLeaderEpoch(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"auto.leader.rebalance.enable": "false"})
	defer c.dumpLogs()
	topic := "reassign-add"
	c.createAssigned(topic, [][]int32{{1, 2}})
	before, err := c.describe(topic)
	if err != nil {
		t.Fatal(err)
	}
	epoch := before[0].epoch
	w := startWorkload(t, c, topic, 2)
	w.awaitMore(500, 20*time.Second)
	topicIDs := map[string][16]byte{}
	adm, done := c.admin()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	topicIDs[topic] = m.Topics[topic].ID
	// A consumer's fetch at the epoch it knew, at the leader.
	fetchAt := func() error {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 0, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, topicIDs[topic]
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.FetchOffset, rp.PartitionMaxBytes = 0, epoch, 0, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
		defer fcancel()
		resp, err := fetchFrom(fctx, c, 1, 13, req)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}

	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, []int32{1, 2, 3})
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if e := res[topic][0].Err; e != nil {
		t.Fatalf("reassigning %s-0 to [1 2 3]: %v (%s)", topic, e, res[topic][0].ErrMessage)
	}
	fetches := 0
	waitFor(t, fmt.Sprintf("%s-0 on [1 2 3], all in the ISR, led by 1 (a consumer at epoch %d never fenced)", topic, epoch), 40*time.Second, func() bool {
		if err := fetchAt(); err != nil {
			t.Fatalf("a consumer's fetch at leader epoch %d during the reassignment: %v", epoch, err)
		}
		fetches++
		ps, err := c.describe(topic)
		if err != nil {
			return false
		}
		p := ps[0]
		if p.epoch != epoch {
			t.Fatalf("leader epoch %d during a reassignment that only adds a replica, want %d", p.epoch, epoch)
		}
		return p.leader == 1 && len(p.isr) == 3 && slices.Contains(p.isr, 3)
	})
	if err := fetchAt(); err != nil {
		t.Fatalf("a consumer's fetch at leader epoch %d after the reassignment: %v", epoch, err)
	}
	t.Logf("%d fetches at epoch %d during the reassignment", fetches+1, epoch)
	w.awaitMore(500, 20*time.Second)
	w.stop(10 * time.Second)
	checkHistory(t, c, w, 1)
}
