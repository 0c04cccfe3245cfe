package integration

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func strp(s string) *string { return &s }

// A leader killed under load: a new leader from the ISR takes over, the
// producer carries on, the old leader returns and rejoins the ISR, and
// nothing acknowledged is lost or duplicated.
func TestLeaderKilledUnderLoad(t *testing.T) {
	c := startCluster(t, 3, nil)
	topic := "under-load"
	c.createTopic(topic, 3, 3, map[string]*string{"min.insync.replicas": strp("2")})
	w := startWorkload(t, c, topic, 2)
	g := startGroupReader(t, c, topic, "under-load-group")
	w.awaitMore(2000, 30*time.Second)
	victim := c.leaderOf(topic, 0)
	c.brokers[victim].Kill()
	t.Logf("killed broker %d, leader of partition 0", victim)
	waitFor(t, "a new leader for partition 0", 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader >= 0 && ps[0].leader != victim
	})
	w.awaitMore(2000, 60*time.Second)
	c.brokers[victim].Restart()
	c.awaitISR(topic, 3, 60*time.Second)
	w.awaitMore(1000, 30*time.Second)
	w.stop(30 * time.Second)
	checkHistory(t, c, w, 3)
	g.finish(w, 60*time.Second)
}

// A follower killed and restarted catches up and rejoins the ISR.
func TestFollowerRestartRejoinsISR(t *testing.T) {
	c := startCluster(t, 3, nil)
	topic := "follower"
	c.createTopic(topic, 1, 3, nil)
	w := startWorkload(t, c, topic, 1)
	w.awaitMore(1000, 30*time.Second)
	leader := c.leaderOf(topic, 0)
	var follower int32
	for id := range c.brokers {
		if id != leader {
			follower = id
			break
		}
	}
	c.brokers[follower].Kill()
	waitFor(t, "the killed follower to leave the ISR", 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && len(ps[0].isr) == 2 && !slices.Contains(ps[0].isr, follower)
	})
	w.awaitMore(2000, 30*time.Second)
	c.brokers[follower].Restart()
	waitFor(t, "the restarted follower to rejoin the ISR", 60*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && slices.Contains(ps[0].isr, follower)
	})
	w.stop(30 * time.Second)
	// The restarted follower becomes leader: its copy must be complete.
	for id, b := range c.brokers {
		if id != follower {
			b.Kill()
		}
	}
	waitFor(t, "the restarted follower to lead alone", 60*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader == follower
	})
	for id, b := range c.brokers {
		if id != follower {
			b.Restart()
		}
	}
	checkHistory(t, c, w, 1)
}

// With min.insync.replicas=2, losing two brokers of three refuses acks=all
// produce with NOT_ENOUGH_REPLICAS (or no leader) and loses nothing; the
// cluster serves again when they return.
func TestMinISRTwoOfThreeLost(t *testing.T) {
	c := startCluster(t, 3, nil)
	topic := "min-isr"
	c.createTopic(topic, 1, 3, map[string]*string{"min.insync.replicas": strp("2")})
	w := startWorkload(t, c, topic, 1)
	w.awaitMore(1000, 30*time.Second)
	w.stop(30 * time.Second)
	leader := c.leaderOf(topic, 0)
	var killed []int32
	for id, b := range c.brokers {
		if id != leader {
			b.Kill()
			killed = append(killed, id)
		}
	}
	waitFor(t, "the ISR to shrink to the leader", 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && len(ps[0].isr) == 1
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[leader].Addr), kgo.DefaultProduceTopic(topic),
		kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("refused")}).FirstErr()
	if !errors.Is(err, kerr.NotEnoughReplicas) && !errors.Is(err, kerr.NotEnoughReplicasAfterAppend) {
		t.Fatalf("acks=all with one in-sync replica of min 2: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	// acks=1 is taken, but as Kafka's maybeIncrementLeaderHW (KIP-966) the
	// high watermark holds while the ISR is under min.insync.replicas: no
	// consumer sees the record until enough replicas have it.
	adm := kadm.NewClient(cl)
	endOffset := func() int64 {
		t.Helper()
		lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer lcancel()
		lo, err := adm.ListEndOffsets(lctx, topic)
		if err == nil {
			err = lo.Error()
		}
		if err != nil {
			t.Fatalf("listing the end offset: %v", err)
		}
		o, _ := lo.Lookup(topic, 0)
		return o.Offset
	}
	before := endOffset()
	one, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[leader].Addr), kgo.DefaultProduceTopic(topic),
		kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.LeaderAck()), kgo.RecordRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	held, err := one.ProduceSync(ctx, &kgo.Record{Value: []byte("held")}).First()
	if err != nil {
		t.Fatalf("acks=1 with one in-sync replica of min 2: %v", err)
	}
	if got := endOffset(); got != before {
		t.Fatalf("high watermark %d after an acks=1 record at %d under min.insync.replicas, want it held at %d", got, held.Offset, before)
	}
	w.mu.Lock()
	w.acked["held"] = ack{0, held.Offset}
	w.mu.Unlock()
	for _, id := range killed {
		c.brokers[id].Restart()
	}
	c.awaitISR(topic, 3, 60*time.Second)
	waitFor(t, "the high watermark to pass the held record once the ISR is back", 30*time.Second, func() bool {
		return endOffset() > held.Offset
	})
	w2 := startWorkload(t, c, topic, 1)
	w2.awaitMore(500, 30*time.Second)
	w2.stop(30 * time.Second)
	for v, a := range w2.acked {
		w.acked[v] = a
	}
	checkHistory(t, c, w, 1)
}

// ZooKeeper restarted under load: brokers reconnect, keep serving and
// lose nothing.
func TestZooKeeperRestart(t *testing.T) {
	c := startCluster(t, 3, nil)
	topic := "zk-restart"
	c.createTopic(topic, 2, 3, nil)
	w := startWorkload(t, c, topic, 1)
	w.awaitMore(1000, 30*time.Second)
	c.zk.Restart()
	w.awaitMore(2000, 60*time.Second)
	// The cluster still elects: kill a leader after the restart.
	victim := c.leaderOf(topic, 0)
	c.brokers[victim].Kill()
	waitFor(t, "a new leader for partition 0 after ZooKeeper's restart", 60*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader >= 0 && ps[0].leader != victim
	})
	w.awaitMore(1000, 60*time.Second)
	c.brokers[victim].Restart()
	w.stop(30 * time.Second)
	checkHistory(t, c, w, 2)
}

// The controller killed: another broker takes the role and still moves
// leadership when a leader dies.
func TestControllerKilled(t *testing.T) {
	c := startCluster(t, 3, nil)
	topic := "controller"
	c.createTopic(topic, 3, 3, nil)
	w := startWorkload(t, c, topic, 1)
	w.awaitMore(1000, 30*time.Second)
	ctrl := c.controller()
	c.brokers[ctrl].Kill()
	waitFor(t, "a new controller", 30*time.Second, func() bool {
		adm, done := c.admin()
		defer done()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m, err := adm.Metadata(ctx)
		return err == nil && m.Controller >= 0 && m.Controller != ctrl
	})
	w.awaitMore(1000, 60*time.Second)
	// Kill another leader: the new controller must elect.
	ps, err := c.describe(topic)
	if err != nil {
		t.Fatal(err)
	}
	victim := ps[0].leader
	if victim == ctrl || victim < 0 {
		victim = ps[1].leader
	}
	if victim != ctrl && victim >= 0 {
		c.brokers[victim].Kill()
		waitFor(t, "leaders away from the second killed broker", 60*time.Second, func() bool {
			ps, err := c.describe(topic)
			if err != nil {
				return false
			}
			for _, p := range ps {
				if p.leader == victim || p.leader == ctrl {
					return false
				}
			}
			return true
		})
		c.brokers[victim].Restart()
	}
	c.brokers[ctrl].Restart()
	c.awaitISR(topic, 3, 60*time.Second)
	w.stop(30 * time.Second)
	checkHistory(t, c, w, 3)
}

// Consumer groups and transactions across brokers: the group coordinator
// moves with its __consumer_offsets partition when its broker dies, the
// group's committed offsets survive, and a transaction spanning
// partitions led by different brokers commits atomically (markers sent to
// other brokers).
func TestCoordinatorsMoveWithLeaders(t *testing.T) {
	c := startCluster(t, 3, nil)
	topic, group := "coord", "coord-group"
	c.createTopic(topic, 6, 3, nil)

	// A transaction over all six partitions (led by all three brokers).
	txn, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic),
		kgo.TransactionalID("coord-txn"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	produceTxn := func(commit bool, prefix string, n int) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var rs []*kgo.Record
		for i := 0; i < n; i++ {
			rs = append(rs, &kgo.Record{Value: []byte(prefix + strconv.Itoa(i))})
		}
		if err := txn.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		end := kgo.TryAbort
		if commit {
			end = kgo.TryCommit
		}
		if err := txn.EndTransaction(ctx, end); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	produceTxn(true, "committed-", 60)
	produceTxn(false, "aborted-", 60)
	t.Logf("transactions done after %v", time.Since(start))

	// A group member reads everything committed and commits its offsets.
	consume := func(want int) map[string]bool {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.HeartbeatInterval(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		got := make(map[string]bool)
		for len(got) < want {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d", len(got), want)
			}
			var recs []*kgo.Record
			fs.EachRecord(func(r *kgo.Record) {
				if got[string(r.Value)] {
					t.Errorf("%s delivered twice", r.Value)
				}
				got[string(r.Value)] = true
				recs = append(recs, r)
			})
			if err := cl.CommitRecords(ctx, recs...); err != nil {
				t.Fatalf("commit: %v", err)
			}
		}
		return got
	}
	got := consume(60)
	t.Logf("first consume done after %v", time.Since(start))
	for v := range got {
		if len(v) < 10 || v[:10] != "committed-" {
			t.Fatalf("read_committed delivered %q", v)
		}
	}

	// Kill the group's coordinator.
	adm, done := c.admin()
	defer done()
	var coord int32 = -1
	waitFor(t, "the group's coordinator", 30*time.Second, func() bool {
		ds, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return false
		}
		coord = ds[group].Coordinator.NodeID
		return coord > 0
	})
	c.brokers[coord].Kill()
	t.Logf("killed broker %d, the group's coordinator", coord)
	// A committed transaction after the kill, then the group resumes
	// with a new coordinator from its committed offsets: only the new
	// records arrive.
	produceTxn(true, "after-", 30)
	t.Logf("transaction after the kill done after %v", time.Since(start))
	got = consume(30)
	t.Logf("second consume done after %v", time.Since(start))
	for v := range got {
		if len(v) < 6 || v[:6] != "after-" {
			t.Fatalf("after the coordinator died the group re-read %q", v)
		}
	}
	c.brokers[coord].Restart()
}

// A leader paused (SIGSTOP) past its ZooKeeper session: the controller
// elects another leader from the ISR; when the old one resumes it finds
// it was deposed, truncates whatever it alone had, follows the new leader
// and rejoins the ISR. Nothing acknowledged with acks=all is lost.
func TestLeaderPausedAndResumed(t *testing.T) {
	c := startCluster(t, 3, nil)
	topic := "paused"
	c.createTopic(topic, 1, 3, map[string]*string{"min.insync.replicas": strp("2")})
	// A paused leader answers nothing: the producer waits out its request
	// timeout before it asks again, as Kafka's would. Short ones keep the
	// test short.
	w := startWorkload(t, c, topic, 1, kgo.ProduceRequestTimeout(3*time.Second), kgo.RequestTimeoutOverhead(2*time.Second))
	w.awaitMore(1000, 30*time.Second)
	victim := c.leaderOf(topic, 0)
	c.brokers[victim].Pause()
	t.Logf("paused broker %d, the leader", victim)
	waitFor(t, "a new leader while the old one is paused", 60*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader >= 0 && ps[0].leader != victim
	})
	w.awaitMore(1000, 60*time.Second)
	c.brokers[victim].Resume()
	waitFor(t, "the resumed broker to rejoin the ISR as a follower", 60*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader != victim && slices.Contains(ps[0].isr, victim)
	})
	w.awaitMore(500, 30*time.Second)
	w.stop(30 * time.Second)
	checkHistory(t, c, w, 1)
}

// A leader stopped gracefully (SIGTERM) hands its leaderships over before
// it exits (controlled shutdown), so producers see a new leader without
// waiting for its ZooKeeper session to expire; nothing is lost.
func TestLeaderGracefulStopHandsOver(t *testing.T) {
	c := startCluster(t, 3, nil)
	topic := "graceful"
	c.createTopic(topic, 3, 3, map[string]*string{"min.insync.replicas": strp("2")})
	w := startWorkload(t, c, topic, 1)
	w.awaitMore(1000, 30*time.Second)
	victim := c.leaderOf(topic, 0)
	stopped := make(chan time.Time, 1)
	go func() {
		c.brokers[victim].Stop()
		stopped <- time.Now()
	}()
	start := time.Now()
	// The session timeout is 4 s: a handover seen well before the broker
	// could have been declared dead came from the controlled shutdown.
	waitFor(t, "leadership of partition 0 to move off the stopping broker", 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader >= 0 && ps[0].leader != victim
	})
	moved := time.Since(start)
	t.Logf("leadership moved after %v", moved)
	if moved > 3*time.Second {
		t.Errorf("leadership moved after %v: no controlled shutdown (the ZooKeeper session is 4 s)", moved)
	}
	<-stopped
	w.awaitMore(1000, 30*time.Second)
	c.brokers[victim].Restart()
	c.awaitISR(topic, 3, 60*time.Second)
	w.stop(30 * time.Second)
	checkHistory(t, c, w, 3)
}
