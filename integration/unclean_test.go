package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceValues writes values to partition 0 of topic with acks=all.
func produceValues(t *testing.T, c *cluster, topic string, values ...string) {
	t.Helper()
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Value: []byte(v), Partition: 0})
	}
	produceRecords(t, c, topic, recs, kgo.RecordPartitioner(kgo.ManualPartitioner()))
}

// unclean.leader.election.enable, set on a topic whose in-sync replicas
// are all gone, has the controller elect the live out-of-sync replica at
// once (as Kafka's does); until then the partition stays offline. The old
// leader, back, drops the records only it had and follows: every replica
// ends with the same log, the new leader's.
func TestUncleanLeaderElectionOnTopicConfig(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"auto.leader.rebalance.enable": "false"})
	topic := "unclean"
	c.createTopic(topic, 1, 2, nil)
	// Both replicas in the ISR before one is killed (a describe answered
	// by a broker whose metadata lags can show fewer).
	c.awaitISR(topic, 2, 30*time.Second)
	ps, err := c.describe(topic)
	if err != nil {
		t.Fatal(err)
	}
	leader := ps[0].leader
	var follower int32 = -1
	for _, r := range ps[0].isr {
		if r != leader {
			follower = r
		}
	}
	if follower < 0 {
		t.Fatalf("%s-0's ISR %v has no follower beside leader %d", topic, ps[0].isr, leader)
	}
	produceValues(t, c, topic, "both-0", "both-1")

	c.brokers[follower].Kill()
	waitFor(t, fmt.Sprintf("%s-0's ISR to shrink to its leader %d after follower %d was killed", topic, leader, follower), 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && slices.Equal(ps[0].isr, []int32{leader})
	})
	produceValues(t, c, topic, "lost-0", "lost-1", "lost-2")
	c.brokers[leader].Kill()
	waitFor(t, fmt.Sprintf("%s-0 offline after its only in-sync replica %d was killed", topic, leader), 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader == -1
	})
	c.brokers[follower].Restart()
	c.awaitBrokers(2, 30*time.Second)
	// The controller has seen the follower return (it is in metadata):
	// with unclean elections off, it does not lead.
	if ps, err := c.describe(topic); err != nil || ps[0].leader != -1 {
		t.Fatalf("%s-0 after out-of-sync replica %d returned, unclean elections off: %+v (%v), want no leader", topic, follower, ps[0], err)
	}

	adm, done := c.admin()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "unclean.leader.election.enable", Value: kadm.StringPtr("true")}}, topic)
	if err == nil {
		err = res[0].Err
	}
	if err != nil {
		t.Fatalf("enabling unclean elections on %s: %v", topic, err)
	}
	waitFor(t, fmt.Sprintf("out-of-sync replica %d to lead %s-0 alone once unclean elections are enabled", follower, topic), 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader == follower && slices.Equal(ps[0].isr, []int32{follower})
	})
	produceValues(t, c, topic, "after-0", "after-1")
	want := []string{"both-0", "both-1", "after-0", "after-1"}
	check := func(who string) {
		t.Helper()
		got, err := readPartition(c.seeds(), topic, 20*time.Second)
		if err != nil {
			t.Fatalf("reading %s-0 from %s: %v", topic, who, err)
		}
		var vals []string
		for i, r := range got {
			if r.offset != int64(i) {
				t.Fatalf("%s-0 from %s: record %d at offset %d: %v", topic, who, i, r.offset, got)
			}
			vals = append(vals, r.value)
		}
		if !slices.Equal(vals, want) {
			t.Fatalf("%s-0 from %s: %v, want %v (the records only the old leader had are lost)", topic, who, vals, want)
		}
	}
	check(fmt.Sprintf("new leader %d", follower))

	// The old leader returns, truncates what only it had, and catches up;
	// led by it, the partition reads the same.
	c.brokers[leader].Restart()
	waitFor(t, fmt.Sprintf("old leader %d back in the ISR of %s-0", leader, topic), 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && slices.Contains(ps[0].isr, leader)
	})
	c.brokers[follower].Kill()
	waitFor(t, fmt.Sprintf("old leader %d to lead %s-0 again", leader, topic), 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader == leader
	})
	check(fmt.Sprintf("old leader %d", leader))
}

// unclean.leader.election.enable set as the cluster-wide dynamic default
// (kafka-configs --entity-type brokers --entity-default) elects the live
// out-of-sync replica of a partition left without in-sync ones at once, as
// Kafka's controller does when its log config's default turns it on.
func TestUncleanLeaderElectionOnClusterDefault(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"auto.leader.rebalance.enable": "false"})
	topic := "unclean-default"
	c.createTopic(topic, 1, 2, nil)
	ps, err := c.describe(topic)
	if err != nil {
		t.Fatal(err)
	}
	leader := ps[0].leader
	var follower int32 = -1
	for _, r := range ps[0].isr {
		if r != leader {
			follower = r
		}
	}
	produceValues(t, c, topic, "both-0")
	c.brokers[follower].Kill()
	waitFor(t, fmt.Sprintf("%s-0's ISR to shrink to its leader %d after follower %d was killed", topic, leader, follower), 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && slices.Equal(ps[0].isr, []int32{leader})
	})
	c.brokers[leader].Kill()
	waitFor(t, fmt.Sprintf("%s-0 offline after its only in-sync replica %d was killed", topic, leader), 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader == -1
	})
	c.brokers[follower].Restart()
	c.awaitBrokers(2, 30*time.Second)
	if ps, err := c.describe(topic); err != nil || ps[0].leader != -1 {
		t.Fatalf("%s-0 after out-of-sync replica %d returned, unclean elections off: %+v (%v), want no leader", topic, follower, ps[0], err)
	}
	adm, done := c.admin()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "unclean.leader.election.enable", Value: kadm.StringPtr("true")}})
	if err == nil {
		err = res[0].Err
	}
	if err != nil {
		t.Fatalf("enabling unclean elections cluster-wide: %v", err)
	}
	waitFor(t, fmt.Sprintf("out-of-sync replica %d to lead %s-0 once unclean elections are the cluster default", follower, topic), 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader == follower && slices.Equal(ps[0].isr, []int32{follower})
	})
}
