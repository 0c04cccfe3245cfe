package integration

// Controlled shutdown and failover, request by request: a produce waiting
// for replication on a broker that is told to stop is answered at once,
// NOT_LEADER_OR_FOLLOWER naming a new leader that already leads; a
// follower fetching from a leader that gains a partition starts fetching
// it at once rather than after its long poll; writes resume within the
// ZooKeeper session timeout (plus a second) of a leader's kill -9.

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// plainBatch is an uncompressed v2 batch of values from no producer id.
func plainBatch(values ...string) []byte {
	now := time.Now().UnixMilli()
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(values) - 1),
		FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1,
		FirstSequence: -1, NumRecords: int32(len(values)), Records: recs,
	}
	b.Length = int32(len(b.AppendTo(nil)) - 12)
	raw := b.AppendTo(nil)
	b.CRC = int32(crc32.Checksum(raw[21:], castagnoli))
	return b.AppendTo(nil)
}

// topicID returns a topic's id from metadata.
func topicID(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, mt)
	meta, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].ErrorCode != 0 {
		t.Fatalf("metadata of %s: %+v", topic, meta.Topics)
	}
	return meta.Topics[0].TopicID
}

// rawProduce sends one batch to one partition on one broker (not to the
// leader the client knows) and returns the response.
func rawProduce(ctx context.Context, cl *kgo.Client, broker int32, topic string, topicID [16]byte, partition int32, acks int16, batch []byte) (*kmsg.ProduceResponse, error) {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, 20000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := cl.Broker(int(broker)).Request(ctx, req)
	if err != nil {
		return nil, err
	}
	pr := resp.(*kmsg.ProduceResponse)
	if len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 1 {
		return nil, errors.New("malformed produce response")
	}
	return pr, nil
}

// A produce waiting for a paused follower on a leader told to stop: the
// leader hands the partition over, and the waiting produce is answered
// NOT_LEADER_OR_FOLLOWER at once (not after its 20 s timeout), naming the
// new leader and its endpoint (KIP-951); that leader accepts a produce
// straight away. The controlled shutdown finishes before the paused
// follower's ZooKeeper session could expire.
func TestControlledShutdownAnswersWaitingProduceAtOnce(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"replica.lag.time.max.ms": "30000", "auto.leader.rebalance.enable": "false"})
	topic := "handover"
	defer c.dumpLogs()
	c.createAssigned(topic, [][]int32{{1, 2, 3}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := topicID(ctx, t, cl, topic)

	c.brokers[3].Pause()
	defer c.brokers[3].Resume()
	type result struct {
		resp *kmsg.ProduceResponse
		err  error
		at   time.Time
	}
	waiting := make(chan result, 1)
	go func() {
		resp, err := rawProduce(ctx, cl, 1, topic, id, 0, -1, plainBatch("waits for the paused follower"))
		waiting <- result{resp, err, time.Now()}
	}()
	select {
	case r := <-waiting:
		t.Fatalf("acks=all produce answered while a follower in the ISR is paused: %+v %v", r.resp, r.err)
	case <-time.After(500 * time.Millisecond): // it waits, as it should
	}

	t0 := time.Now()
	stopped := make(chan time.Duration, 1)
	go func() {
		c.brokers[1].Stop()
		stopped <- time.Since(t0)
	}()
	var r result
	select {
	case r = <-waiting:
	case <-time.After(3 * time.Second):
		t.Fatal("the waiting produce was not answered within 3 s of SIGTERM")
	}
	if r.err != nil {
		t.Fatalf("the waiting produce failed at the connection level (%v) instead of being answered", r.err)
	}
	sp := r.resp.Topics[0].Partitions[0]
	t.Logf("answered %v after SIGTERM: %v, current leader %d at epoch %d, endpoints %+v", r.at.Sub(t0).Round(time.Millisecond),
		kerr.ErrorForCode(sp.ErrorCode), sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch, r.resp.Brokers)
	if !errors.Is(kerr.ErrorForCode(sp.ErrorCode), kerr.NotLeaderForPartition) {
		t.Fatalf("the waiting produce got %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(sp.ErrorCode))
	}
	if sp.CurrentLeader.LeaderID != 2 || sp.CurrentLeader.LeaderEpoch != 1 {
		t.Fatalf("hinted leader %d at epoch %d, want broker 2 (first live ISR member in replica order) at epoch 1", sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch)
	}
	if !slices.ContainsFunc(r.resp.Brokers, func(b kmsg.ProduceResponseBroker) bool { return b.NodeID == 2 && b.Port > 0 }) {
		t.Fatalf("no endpoint of broker 2 among %+v", r.resp.Brokers)
	}
	// The hinted leader already leads: a client following the hint is
	// not refused (and made to back off).
	next, err := rawProduce(ctx, cl, 2, topic, id, 0, 1, plainBatch("to the new leader"))
	if err != nil {
		t.Fatal(err)
	}
	if code := next.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("the hinted leader refused a produce right after the hint: %v", kerr.ErrorForCode(code))
	}
	c.brokers[3].Resume()
	select {
	case d := <-stopped:
		t.Logf("broker 1 stopped %v after SIGTERM", d.Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatal("broker 1 did not stop")
	}
}

// A follower already fetching from a broker that becomes the leader of
// another partition starts fetching that partition at once: its fetch in
// flight (a long poll of replica.fetch.wait.max.ms, here 5 s, on an idle
// partition) is abandoned. Until it fetches, the new leader holds its high
// watermark, so acks=all produce would wait out the long poll.
func TestNewLeaderIsFetchedFromAtOnce(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"replica.fetch.wait.max.ms": "5000", "replica.lag.time.max.ms": "5000", "auto.leader.rebalance.enable": "false"})
	topic := "refetch"
	// Partition 1, led by broker 2 and never written to, keeps broker 3's
	// fetcher for broker 2 in long polls.
	c.createAssigned(topic, [][]int32{{1, 2, 3}, {2, 3, 1}})
	w := startPacedWorkload(t, c, topic, 200, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	w.awaitMore(200, 30*time.Second)
	t0 := time.Now()
	c.brokers[1].Stop()
	t.Logf("broker 1 (leader of partition 0) stopped in %v", time.Since(t0).Round(time.Millisecond))
	w.awaitMore(300, 30*time.Second)
	end := time.Now()
	w.stop(10 * time.Second)
	s := w.stats(t0, end, 0)
	t.Logf("partition 0 through the leadership move: %s", s)
	if w.failed > 0 {
		t.Errorf("%d sends failed: %v", w.failed, w.errs)
	}
	if n := w.unanswered(); n > 0 {
		t.Errorf("%d records were never answered", n)
	}
	if s.max > time.Second {
		t.Errorf("an acknowledgement waited %v (want at most 1 s: the follower should fetch from the new leader at once)", s.max)
	}
}

// A leader killed with -9 cannot hand over: its ZooKeeper session must
// expire first (4 s here). Writes to its partition resume within that
// plus a second. The client refreshes its metadata at most every 100 ms
// (a dead broker sends no hints).
func TestLeaderKilledWritesResumeWithinSessionTimeout(t *testing.T) {
	const session = 4 * time.Second
	c := startCluster(t, 3, map[string]string{"auto.leader.rebalance.enable": "false"})
	topic := "killed"
	c.createAssigned(topic, [][]int32{{1, 2, 3}})
	w := startPacedWorkload(t, c, topic, 200, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(100*time.Millisecond))
	w.awaitMore(200, 30*time.Second)
	t0 := time.Now()
	c.brokers[1].Kill()
	s := failedOver(t, c, w, topic, 1, t0, 30*time.Second, "the kill")
	if s.max > session+time.Second {
		t.Errorf("writes stalled %v after the leader was killed (want at most the session timeout %v plus 1 s)", s.max, session)
	}
}

// failedOver waits, up to bound, for partition 0 of topic to be led by a
// broker other than old (its leader at t0), then for 300 more acks; it
// stops the workload, checks its history (nothing acknowledged lost,
// nothing failed or unanswered) and returns its acks' waits since t0.
func failedOver(t *testing.T, c *cluster, w *pacedWorkload, topic string, old int32, t0 time.Time, bound time.Duration, what string) waitStats {
	t.Helper()
	waitFor(t, fmt.Sprintf("a leader other than broker %d for partition 0", old), bound, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader >= 0 && ps[0].leader != old
	})
	t.Logf("new leader after %v", time.Since(t0).Round(time.Millisecond))
	w.awaitMore(300, 30*time.Second)
	end := time.Now()
	w.stop(10 * time.Second)
	s := w.stats(t0, end, 0)
	t.Logf("partition 0 through %s: %s", what, s)
	checkHistory(t, c, w.workload, 1)
	if w.failed > 0 {
		t.Errorf("%d sends failed: %v", w.failed, w.errs)
	}
	if n := w.unanswered(); n > 0 {
		t.Errorf("%d records were never answered", n)
	}
	return s
}

// A broker killed and started again at once removes the registration its
// previous run left in ZooKeeper (owned by the session it recorded in its
// log dir, which no process can be using any more) instead of waiting for
// ZooKeeper to expire that session: the partitions it led fail over, and
// it rejoins, within a few seconds, as a KRaft broker's new incarnation
// replaces its old one. Before, writes to them stalled for the rest of
// zookeeper.session.timeout.ms (15 s here) after the restart. Done to the
// controller, then to a broker that is not: the controller that sees the
// restarted one come back may be a new one, even the restarted broker
// itself, which never saw it go; it takes the states older than a
// broker's registration as its previous run's.
func TestKilledBrokerRestartedRemovesItsOldRegistration(t *testing.T) {
	const session = 15 * time.Second
	c := startCluster(t, 3, map[string]string{"zookeeper.session.timeout.ms": "15000", "auto.leader.rebalance.enable": "false"})
	for round, controller := range []bool{true, false} {
		victim := c.controller()
		if !controller {
			victim = victim%3 + 1
		}
		replicas := []int32{victim, victim%3 + 1, (victim+1)%3 + 1}
		topic := fmt.Sprintf("restarted-%d", round)
		c.createAssigned(topic, [][]int32{replicas})
		w := startPacedWorkload(t, c, topic, 200, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(100*time.Millisecond))
		w.awaitMore(200, 30*time.Second)
		t0 := time.Now()
		c.brokers[victim].Restart() // kill -9, then start again on the same dir
		t.Logf("broker %d (the controller: %v) restarted in %v", victim, controller, time.Since(t0).Round(time.Millisecond))
		s := failedOver(t, c, w, topic, victim, t0, session, fmt.Sprintf("broker %d's kill and restart", victim))
		if s.max > session/3 {
			t.Errorf("writes stalled %v after the leader was killed and restarted at once; want well under zookeeper.session.timeout.ms (%v): the restarted broker should remove its old registration", s.max, session)
		}
		if logs := c.brokers[victim].Logs(64 << 10); !strings.Contains(logs, "removed the registration of this broker's previous run") {
			t.Errorf("the restarted broker did not log removing its previous run's registration:\n%s", logs)
		}
		c.awaitISR(topic, 3, 30*time.Second)
	}
}

// A leader killed, whose log then loses its tail (as a machine crash loses
// what was not flushed), and started again at once, before its ZooKeeper
// session expires, loses no acknowledged record: the records acks=all
// acknowledged are on its followers, and one of them leads at a new leader
// epoch while the restarted broker truncates to it. It must not lead at
// its previous run's epoch, the followers truncating to its shorter log.
// Done to the controller, which is the one most likely to win the next
// election itself, never having seen its own restart.
func TestRestartedLeaderWithLostTailLosesNothing(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"zookeeper.session.timeout.ms": "15000", "auto.leader.rebalance.enable": "false"})
	victim := c.controller()
	topic := "lost-tail"
	c.createAssigned(topic, [][]int32{{victim, victim%3 + 1, (victim+1)%3 + 1}})
	w := startPacedWorkload(t, c, topic, 500, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(100*time.Millisecond))
	w.awaitMore(1000, 30*time.Second)
	c.brokers[victim].Kill()
	t0 := time.Now()
	segs, err := filepath.Glob(filepath.Join(c.brokers[victim].Dir, "data", topic+"-0", "*.log"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segment of %s-0 in broker %d's log dir (%v)", topic, victim, err)
	}
	slices.Sort(segs)
	active := segs[len(segs)-1]
	fi, err := os.Stat(active)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(active, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	t.Logf("broker %d's %s cut from %d to %d bytes", victim, filepath.Base(active), fi.Size(), fi.Size()/2)
	c.brokers[victim].Start()
	failedOver(t, c, w, topic, victim, t0, 15*time.Second, fmt.Sprintf("broker %d's crash and restart", victim))
	c.awaitISR(topic, 3, 30*time.Second)
}

// An acks=all produce waiting while both followers stop: the leader
// shrinks the ISR to itself after replica.lag.time.max.ms, below
// min.insync.replicas, so the high watermark holds (KIP-966). As Kafka's
// Partition.checkEnoughReplicasReachOffset, the produce goes on waiting
// rather than failing: once the followers return and rejoin the ISR the
// high watermark passes the records and it succeeds (Gregor answered it
// NOT_ENOUGH_REPLICAS_AFTER_APPEND as soon as the ISR shrank, and a
// producer without idempotence wrote the record twice).
func TestAcksAllWaitsOutISRBelowMinimum(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"replica.lag.time.max.ms": "2000", "auto.leader.rebalance.enable": "false"})
	topic := "shrinks-below-min"
	defer c.dumpLogs()
	c.createAssigned(topic, [][]int32{{1, 2, 3}})
	admin, done := c.admin()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := admin.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "min.insync.replicas", Value: kmsg.StringPtr("2")}}, topic); err != nil {
		t.Fatal(err)
	}
	c.awaitISR(topic, 3, 30*time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	id := md[topic].ID
	// One acknowledged record first: the partition works with all three.
	resp, err := rawProduce(ctx, cl, 1, topic, id, 0, -1, plainBatch("with all three"))
	if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("produce with the whole ISR: %v %+v", err, resp)
	}
	c.brokers[2].Pause()
	c.brokers[3].Pause()
	resumed := false
	defer func() {
		if !resumed {
			c.brokers[2].Resume()
			c.brokers[3].Resume()
		}
	}()
	type answer struct {
		code int16
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := rawProduce(ctx, cl, 1, topic, id, 0, -1, plainBatch("waits for the followers"))
		if err != nil {
			answered <- answer{err: err}
			return
		}
		answered <- answer{code: resp.Topics[0].Partitions[0].ErrorCode}
	}()
	// Asked of the leader alone: a metadata request that a client sends
	// to a paused follower hangs until its deadline.
	waitFor(t, "the ISR to shrink to the leader 1 (in broker 1's metadata)", 15*time.Second, func() bool {
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		defer rcancel()
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(rctx, cl.Broker(1))
		return err == nil && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 &&
			slices.Equal(resp.Topics[0].Partitions[0].ISR, []int32{1})
	})
	select {
	case a := <-answered:
		t.Fatalf("acks=all produce answered (%v, %v) once the ISR shrank below min.insync.replicas, want it to wait", kerr.ErrorForCode(a.code), a.err)
	case <-time.After(500 * time.Millisecond):
	}
	c.brokers[2].Resume()
	c.brokers[3].Resume()
	resumed = true
	a := <-answered
	if a.err != nil || a.code != 0 {
		t.Fatalf("acks=all produce waiting while the ISR was below min.insync.replicas answered (%v, %v) after the followers returned, want success", kerr.ErrorForCode(a.code), a.err)
	}
}
