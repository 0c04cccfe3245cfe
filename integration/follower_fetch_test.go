package integration

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// A follower serves a consumer's Fetch v11+ from its own log, up to its
// high watermark, as Kafka does since KIP-392 (kafka-replica-verification
// and clients sent to a preferred read replica rely on it); an older
// Fetch, and a consumer naming a stale leader epoch, still get the
// leader-only errors.
func TestFollowerServesConsumerFetch(t *testing.T) {
	c := startCluster(t, 2, nil)
	topic := "follower-fetch"
	cl := c.replicatedTopic(topic, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("r%d", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	leader := c.leaderOf(topic, 0)
	follower := int32(1)
	if leader == 1 {
		follower = 2
	}
	st, err := c.describe(topic)
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(version int16, epoch int32) (kmsg.FetchResponseTopicPartition, error) {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(version)
		req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 100, 1<<20
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 0, 0, 1<<20, epoch, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := fetchFrom(ctx, c, follower, version, req)
		if err != nil {
			return kmsg.FetchResponseTopicPartition{}, err
		}
		return resp.Topics[0].Partitions[0], nil
	}
	var got kmsg.FetchResponseTopicPartition
	waitFor(t, fmt.Sprintf("follower %d to serve all 10 records to a consumer's Fetch v11", follower), 20*time.Second, func() bool {
		sp, err := fetch(11, st[0].epoch)
		if err != nil || sp.ErrorCode != 0 {
			t.Logf("fetch from the follower: %v %v", err, kerr.ErrorForCode(sp.ErrorCode))
			return false
		}
		got = sp
		return sp.HighWatermark == 10 && len(sp.RecordBatches) > 0 && countRecords(t, sp.RecordBatches) == 10
	})
	if got.PreferredReadReplica != -1 {
		t.Errorf("a follower named preferred read replica %d", got.PreferredReadReplica)
	}
	if sp, err := fetch(10, st[0].epoch); err != nil || sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Errorf("Fetch v10 from a follower: %v, code %v; want NOT_LEADER_OR_FOLLOWER", err, kerr.ErrorForCode(sp.ErrorCode))
	}
	if sp, err := fetch(11, st[0].epoch+1); err != nil || sp.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Errorf("Fetch v11 from a follower at a future epoch: %v, code %v; want UNKNOWN_LEADER_EPOCH", err, kerr.ErrorForCode(sp.ErrorCode))
	}
}

// replicatedTopic creates a one-partition topic of rf replicas, waits for
// its full ISR and returns an acks=all producer (closed with the test).
func (c *cluster) replicatedTopic(topic string, rf int16) *kgo.Client {
	c.t.Helper()
	c.createTopic(topic, 1, rf, nil)
	c.awaitISR(topic, int(rf), 30*time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// fetchFrom sends req to one broker at a Fetch version (kgo sends its
// highest unless capped).
func fetchFrom(ctx context.Context, c *cluster, broker int32, version int16, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(req.Key(), version)
	pinned, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.MaxVersions(vs))
	if err != nil {
		return nil, err
	}
	defer pinned.Close()
	return req.RequestWith(ctx, pinned.Broker(int(broker)))
}

// countRecords counts the records of v2 batches.
func countRecords(t *testing.T, data []byte) int {
	t.Helper()
	n := 0
	for len(data) >= 61 {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(data); err != nil {
			t.Fatalf("reading a batch: %v", err)
		}
		n += int(b.NumRecords)
		data = data[12+int(b.Length):]
	}
	return n
}

// fetchesByBroker counts the Fetch responses a client read from each
// broker.
type fetchesByBroker struct {
	mu sync.Mutex
	n  map[int32]int
}

func (f *fetchesByBroker) OnBrokerRead(meta kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key != 1 || err != nil {
		return
	}
	f.mu.Lock()
	f.n[meta.NodeID]++
	f.mu.Unlock()
}

func (f *fetchesByBroker) of(id int32) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[id]
}

// With replica.selector.class=RackAwareReplicaSelector, a leader sends a
// consumer naming its rack to the in-sync follower in that rack (Fetch
// PreferredReadReplica, no records), and a kgo consumer with that rack
// reads every record from the follower; a consumer in the leader's rack,
// or in no rack, is not redirected.
func TestRackAwareFetchFromFollower(t *testing.T) {
	c := startClusterEach(t, 3, map[string]string{"replica.selector.class": "org.apache.kafka.common.replica.RackAwareReplicaSelector"},
		func(id int32, _ string) map[string]string {
			return map[string]string{"broker.rack": fmt.Sprintf("rack-%d", id)}
		})
	topic := "rack-aware"
	cl := c.replicatedTopic(topic, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 200
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("r%d", i))}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	leader := c.leaderOf(topic, 0)
	follower := leader%3 + 1
	c.awaitISR(topic, 3, 30*time.Second)

	preferred := func(rack string) int32 {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MaxBytes, req.SessionEpoch, req.Rack = -1, 100, 1<<20, -1, rack
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 0, 1<<20, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := fetchFrom(ctx, c, leader, 12, req) // v12 names topics, not ids
		if err != nil {
			t.Fatal(err)
		}
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != 0 {
			t.Fatalf("fetch with rack %q: %v", rack, kerr.ErrorForCode(sp.ErrorCode))
		}
		if sp.PreferredReadReplica >= 0 && len(sp.RecordBatches) > 0 {
			t.Errorf("a redirecting answer carried %d record bytes", len(sp.RecordBatches))
		}
		return sp.PreferredReadReplica
	}
	if got := preferred(fmt.Sprintf("rack-%d", follower)); got != follower {
		t.Errorf("the leader named preferred read replica %d for a consumer in rack-%d, want %d", got, follower, follower)
	}
	for _, rack := range []string{fmt.Sprintf("rack-%d", leader), "", "rack-elsewhere"} {
		if got := preferred(rack); got != -1 {
			t.Errorf("the leader named preferred read replica %d for a consumer in rack %q, want none", got, rack)
		}
	}

	hook := &fetchesByBroker{n: map[int32]int{}}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.Rack(fmt.Sprintf("rack-%d", follower)), kgo.WithHooks(hook))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var got []string
	for len(got) < n {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", len(got), n, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i, v := range got {
		if want := fmt.Sprintf("r%d", i); v != want {
			t.Fatalf("record %d is %q, want %q", i, v, want)
		}
	}
	if hook.of(follower) == 0 {
		t.Errorf("the consumer in rack-%d never fetched from follower %d (fetches by broker: %v)", follower, follower, hook.n)
	}
}

// replica.fetch.min.bytes: a follower's fetch waits at the leader for
// that many bytes, up to replica.fetch.wait.max.ms, as in Kafka. So with
// 1 MB and 1.5 s, small acks=all records produced one at a time each wait
// out the follower's long poll, where with the default (1 byte) they take
// milliseconds.
func TestReplicaFetchMinBytes(t *testing.T) {
	c := startCluster(t, 2, map[string]string{"replica.fetch.min.bytes": "1048576", "replica.fetch.wait.max.ms": "1500"})
	topic := "min-bytes"
	cl := c.replicatedTopic(topic, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	produce := func(i int) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("r%d", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(0) // the first may land at any point of a long poll
	start := time.Now()
	produce(1)
	produce(2)
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("two acks=all records one after another took %v with replica.fetch.min.bytes=1 MB and replica.fetch.wait.max.ms=1500, want each to wait out a long poll (at least 2 s together)", took)
	}
}

// replica.socket.timeout.ms bounds how long a follower waits for its
// leader's answer, as Kafka's replica fetcher does: with the leader stopped
// (SIGSTOP, its ZooKeeper session alive), the follower gives up on its
// fetch after the timeout (1 s here), says so and reconnects; once the
// leader runs again replication carries on. Without the bound the
// follower would wait on the stopped leader indefinitely.
func TestReplicaSocketTimeout(t *testing.T) {
	c := startCluster(t, 2, map[string]string{
		"zookeeper.session.timeout.ms": "20000",
		"replica.lag.time.max.ms":      "30000",
		"replica.fetch.wait.max.ms":    "200",
		"replica.socket.timeout.ms":    "1000",
	})
	topic := "socket-timeout"
	cl := c.replicatedTopic(topic, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	leader := c.leaderOf(topic, 0)
	follower := c.brokers[3-leader]
	const timedOut = "replica fetch failed; reconnecting"
	before := strings.Count(follower.Logs(1<<20), timedOut)
	c.brokers[leader].Pause()
	paused := time.Now()
	var took time.Duration
	waitFor(t, "the follower to time out its fetch from the stopped leader", 10*time.Second, func() bool {
		logs := follower.Logs(1 << 20)
		if strings.Count(logs, timedOut) > before && strings.Contains(logs, "i/o timeout") {
			took = time.Since(paused)
			return true
		}
		return false
	})
	c.brokers[leader].Resume()
	// The fetch in flight was sent at most replica.fetch.wait.max.ms
	// before the pause.
	if took < 700*time.Millisecond {
		t.Fatalf("the follower gave up %v after the leader stopped, before replica.socket.timeout.ms (1s)", took)
	}
	t.Logf("the follower gave up on the stopped leader after %v", took.Round(time.Millisecond))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("acks=all after the leader resumed: %v", err)
	}
	c.awaitISR(topic, 2, 30*time.Second)
}

// replica.socket.receive.buffer.bytes sets SO_RCVBUF on a follower's
// connections to its leader: ss(8) shows the follower's socket to the
// leader with the receive buffer the kernel made of it (twice the value
// set, as Linux doubles SO_RCVBUF for its own bookkeeping).
func TestReplicaSocketReceiveBuffer(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss (iproute2) is not installed: cannot read the follower's socket buffer")
	}
	const set = 24576
	c := startCluster(t, 2, map[string]string{"replica.socket.receive.buffer.bytes": strconv.Itoa(set)})
	topic := "rcvbuf"
	c.replicatedTopic(topic, 2)
	leader := c.leaderOf(topic, 0)
	follower := c.brokers[3-leader]
	pid := follower.Pid()
	// The replica fetcher's connection has the buffer set (the kernel
	// doubles it); other connections to the same broker (a forwarded
	// admin request, the controller asking it whether it describes a new
	// topic yet) keep the default, as Kafka's other inter-broker channels.
	var got []string
	waitFor(t, "ss to show the follower's connection to its leader", 20*time.Second, func() bool {
		got = followerSocketBuffers(t, pid, c.brokers[leader].Addr)
		return len(got) > 0
	})
	if !slices.Contains(got, strconv.Itoa(2*set)) {
		t.Fatalf("the follower's sockets to leader %s have receive buffers %v, none rb%d for replica.socket.receive.buffer.bytes=%d", c.brokers[leader].Addr, got, 2*set, set)
	}
	t.Logf("follower sockets to the leader: rb %v", got)
}

// followerSocketBuffers lists the receive buffers (ss's skmem rb) of the
// TCP sockets of process pid connected to addr.
func followerSocketBuffers(t *testing.T, pid int, addr string) []string {
	out, err := exec.Command("ss", "-tnmpH", "state", "established", "dst", addr).CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v\n%s", err, out)
	}
	// Each socket: a line with the addresses and users:(("gregor",pid=N,fd=M)),
	// then a line with skmem:(r0,rbN,...).
	var rbs []string
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		if !strings.Contains(l, "pid="+strconv.Itoa(pid)+",") {
			continue
		}
		mem := l
		if !strings.Contains(mem, "skmem:") && i+1 < len(lines) {
			mem = lines[i+1]
		}
		_, rest, ok := strings.Cut(mem, ",rb")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		rbs = append(rbs, n)
	}
	return rbs
}
