package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// preferredSetup creates a topic, kills the preferred leader of partition
// 0 and restarts it (records written before and while it is down), and
// waits until it is back in the partition's ISR while another broker
// leads. It returns the topic and the preferred replica.
func preferredSetup(t *testing.T, c *cluster) (string, int32) {
	t.Helper()
	topic := "elect"
	c.createTopic(topic, 2, 3, nil)
	adm, done := c.admin()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	pd := m.Topics[topic].Partitions[0]
	pref := pd.Replicas[0]
	if pd.Leader != pref {
		t.Fatalf("partition 0 is led by %d, not its preferred replica %d (replicas %v)", pd.Leader, pref, pd.Replicas)
	}
	produce(t, c, topic, 50)
	bounceLeader(t, c, topic, 50)
	return topic, pref
}

// bounceLeader kills the leader of topic's partition 0, waits for another
// broker to lead it, produces written records there, restarts the killed
// broker and waits until it is back in the ISR. It returns the killed
// broker and the one that led in between.
func bounceLeader(t *testing.T, c *cluster, topic string, written int) (killed, interim int32) {
	t.Helper()
	killed = c.leaderOf(topic, 0)
	c.brokers[killed].Kill()
	t.Logf("killed broker %d, leader of %s-0", killed, topic)
	waitFor(t, fmt.Sprintf("another leader for %s-0 after broker %d was killed", topic, killed), 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		interim = ps[0].leader
		return err == nil && interim >= 0 && interim != killed
	})
	if written > 0 {
		produce(t, c, topic, written)
	}
	c.brokers[killed].Restart()
	waitFor(t, fmt.Sprintf("broker %d back in the ISR of %s-0", killed, topic), 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && slices.Contains(ps[0].isr, killed)
	})
	return killed, interim
}

// produce writes n records to topic with acks=all.
func produce(t *testing.T, c *cluster, topic string, n int) {
	t.Helper()
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprint(i))})
	}
	produceRecords(t, c, topic, recs)
}

// produceRecords writes recs to topic with acks=all (opts add to the
// client's, kgo.ManualPartitioner to write to the records' partitions).
func produceRecords(t *testing.T, c *cluster, topic string, recs []*kgo.Record, opts ...kgo.Opt) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing to %s: %v", topic, err)
	}
}

// TestElectLeadersPreferred: after the preferred leader returns to the
// ISR, kadm's ElectLeaders moves leadership back to it; a second election
// is not needed.
func TestElectLeadersPreferred(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"auto.leader.rebalance.enable": "false"})
	topic, pref := preferredSetup(t, c)
	before, err := c.describe(topic)
	if err != nil {
		t.Fatal(err)
	}
	if before[0].leader == pref {
		t.Fatalf("leadership of %s-0 returned to %d without an election", topic, pref)
	}

	adm, done := c.admin()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := res[topic][0]
	if !ok || r.Err != nil {
		t.Fatalf("preferred election of %s-0: %+v (present %v)", topic, r, ok)
	}
	waitFor(t, fmt.Sprintf("%s-0 led by its preferred replica %d at a newer epoch", topic, pref), 20*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader == pref && ps[0].epoch > before[0].epoch
	})
	// Now the preferred replica leads: no election needed.
	res, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}, 1: {}}, "no-such-topic": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		if r := res[topic][p]; !errors.Is(r.Err, kerr.ElectionNotNeeded) {
			t.Fatalf("second election of %s-%d: %v, want ELECTION_NOT_NEEDED", topic, p, r.Err)
		}
	}
	if r := res["no-such-topic"][0]; !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("election of an unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", r.Err)
	}
	// All partitions (a null list): those needing no election are left out.
	all, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all[topic]) != 0 {
		t.Fatalf("an all-partitions election answered for partitions needing none: %+v", all[topic])
	}
	// The new leader serves acks=all produce.
	produce(t, c, topic, 10)
}

// TestElectAutoRebalance: with a one-second imbalance check, leadership
// returns to the preferred replica by itself once it is back in the ISR.
func TestElectAutoRebalance(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"leader.imbalance.check.interval.seconds": "1"})
	topic, pref := preferredSetup(t, c)
	waitFor(t, fmt.Sprintf("%s-0 led by its preferred replica %d again without ElectLeaders", topic, pref), 20*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader == pref
	})
	produce(t, c, topic, 10)
}

// TestElectPreferredAfterIdleInterimLeader: the broker that led while the
// preferred replica was down, and took no writes (so only it knows its
// epoch), follows again once the preferred replica is elected: acks=all
// produce completes with every replica in sync. (It used to name its
// empty epoch on every fetch, be told to truncate at its own end, change
// nothing and fetch no more: acks=all waited until replica.lag.time.max.ms
// took it out of the ISR, and it never came back.)
func TestElectPreferredAfterIdleInterimLeader(t *testing.T) {
	// A lag far above the produce bound: a follower that stops fetching
	// fails the produce rather than leaving the ISR.
	c := startCluster(t, 3, map[string]string{"auto.leader.rebalance.enable": "false", "replica.lag.time.max.ms": "120000"})
	topic := "idle-interim"
	c.createTopic(topic, 1, 3, nil)
	produce(t, c, topic, 20)
	pref, interim := bounceLeader(t, c, topic, 0)
	adm, done := c.admin()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
	if err != nil || res[topic][0].Err != nil {
		t.Fatalf("preferred election of %s-0: %v %+v", topic, err, res[topic][0])
	}
	waitFor(t, fmt.Sprintf("%s-0 led by broker %d again", topic, pref), 20*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader == pref
	})
	t.Logf("broker %d led %s-0 in between without writes; broker %d leads again", interim, topic, pref)
	// acks=all: the interim leader must fetch the records.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		// Not idempotent, no retries: the broker's REQUEST_TIMED_OUT
		// after 10 s is the answer (an idempotent producer would retry
		// until the ISR shrank).
		kgo.DisableIdempotentWrite(), kgo.RecordRetries(0), kgo.ProduceRequestTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, pcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer pcancel()
	if err := cl.ProduceSync(pctx, &kgo.Record{Value: []byte("after the election")}).FirstErr(); err != nil {
		t.Fatalf("acks=all produce after the preferred election: %v (broker %d stopped following?)", err, interim)
	}
	ps, err := c.describe(topic)
	if err != nil || len(ps[0].isr) != 3 {
		t.Fatalf("ISR of %s-0 after the produce: %v (%v), want all 3 replicas", topic, ps[0].isr, err)
	}
}

// TestElectLeadersForwardedToController: only the controller elects, as
// in Kafka, and an ElectLeaders sent to another broker (a client whose
// idea of the controller is stale, or a tool that picks any broker) is
// forwarded to it, as a Kafka 4 broker forwards it: the election happens
// and its answer comes back through the broker asked.
func TestElectLeadersForwardedToController(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"auto.leader.rebalance.enable": "false"})
	topic, pref := preferredSetup(t, c)
	ctrl := c.controller()
	var other int32 = -1
	for id := range c.brokers {
		if id != ctrl && (other < 0 || id < other) {
			other = id
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	elect := func() kmsg.ElectLeadersResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrElectLeadersRequest()
		req.ElectionType = 0
		req.TimeoutMillis = 15000
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(other)))
		if err != nil {
			t.Fatalf("ElectLeaders to broker %d: %v", other, err)
		}
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("ElectLeaders to broker %d: %+v", other, resp)
		}
		return resp.Topics[0].Partitions[0]
	}
	t.Logf("controller %d; ElectLeaders sent to broker %d", ctrl, other)
	if rp := elect(); rp.ErrorCode != 0 {
		t.Fatalf("preferred election of %s-0 through broker %d: %v (%v)", topic, other, kerr.ErrorForCode(rp.ErrorCode), rp.ErrorMessage)
	}
	waitFor(t, fmt.Sprintf("%s-0 led by its preferred replica %d", topic, pref), 20*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader == pref
	})
	if rp := elect(); rp.ErrorCode != kerr.ElectionNotNeeded.Code {
		t.Fatalf("second election of %s-0 through broker %d: %v, want ELECTION_NOT_NEEDED", topic, other, kerr.ErrorForCode(rp.ErrorCode))
	}
}
