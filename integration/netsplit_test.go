package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"gregor/internal/wait"
)

// tcpProxy forwards connections to a target. cut closes the live ones and
// refuses new ones (accepted, then closed at once) until heal: a network
// partition between its clients and the target.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}

	wg sync.WaitGroup
}

// startProxy listens on a free loopback port and forwards to target until
// the test ends.
func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is where clients connect.
func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if cut {
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.cut { // cut while dialling
			p.mu.Unlock()
			c.Close()
			up.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

// pipe copies src to dst; when either side ends, both close.
func (p *tcpProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// Cut closes every live connection and refuses new ones until Heal.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
}

// Heal lets connections through again.
func (p *tcpProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

func (p *tcpProxy) close() {
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

// startSplitCluster starts n brokers, each reaching ZooKeeper through a
// proxy of its own, so one can lose ZooKeeper while clients and the other
// brokers still reach it.
func startSplitCluster(t *testing.T, n int, set map[string]string) (*cluster, map[int32]*tcpProxy) {
	t.Helper()
	proxies := make(map[int32]*tcpProxy)
	c := startClusterVia(t, n, set, nil, false, func(id int32, zkAddr string) string {
		proxies[id] = startProxy(t, zkAddr)
		return proxies[id].Addr()
	})
	return c, proxies
}

// zkPartitionState is a partition's state znode.
type zkPartitionState struct {
	ControllerEpoch int32   `json:"controller_epoch"`
	Leader          int32   `json:"leader"`
	LeaderEpoch     int32   `json:"leader_epoch"`
	ISR             []int32 `json:"isr"`
	version         int32
}

// zkState reads a partition's state straight from ZooKeeper (the truth,
// where a zombie's metadata answers would not be).
func (c *cluster) zkState(conn *zk.Conn, topic string, p int32) (zkPartitionState, error) {
	data, stat, err := conn.Get(fmt.Sprintf("%s/brokers/topics/%s/partitions/%d/state", c.chroot, topic, p))
	if err != nil {
		return zkPartitionState{}, err
	}
	var st zkPartitionState
	if err := json.Unmarshal(data, &st); err != nil {
		return zkPartitionState{}, err
	}
	st.version = stat.Version
	return st, nil
}

// awaitZKState waits until a partition's state znode satisfies ok.
func (c *cluster) awaitZKState(conn *zk.Conn, what, topic string, p int32, bound time.Duration, ok func(zkPartitionState) bool) zkPartitionState {
	c.t.Helper()
	var st zkPartitionState
	var err error
	if !wait.Until(bound, func() bool {
		st, err = c.zkState(conn, topic, p)
		return err == nil && ok(st)
	}) {
		c.t.Fatalf("timed out after %v waiting for %s-%d: %s (last state %+v, %v)", bound, topic, p, what, st, err)
	}
	return st
}

// replicaBytes is a replica's log, every segment's .log file in order.
func (c *cluster) replicaBytes(id int32, topic string, p int32) ([]byte, error) {
	dir := filepath.Join(c.brokers[id].Dir, "data", fmt.Sprintf("%s-%d", topic, p))
	segs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, err
	}
	sort.Strings(segs)
	var out []byte
	for _, s := range segs {
		b, err := os.ReadFile(s)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}

// awaitIdenticalReplicas waits until every broker's replica of a
// partition holds the same bytes, and returns their length.
func (c *cluster) awaitIdenticalReplicas(topic string, p int32, bound time.Duration) int {
	c.t.Helper()
	var sizes map[int32]int
	n := 0
	if !wait.Until(bound, func() bool {
		sizes = make(map[int32]int)
		var first []byte
		same := true
		for id := range c.brokers {
			b, err := c.replicaBytes(id, topic, p)
			if err != nil {
				return false
			}
			sizes[id] = len(b)
			if first == nil {
				first = b
			} else if !bytes.Equal(first, b) {
				same = false
			}
		}
		n = len(first)
		return same && n > 0
	}) {
		c.t.Fatalf("timed out after %v waiting for every replica of %s-%d to hold the same bytes (sizes %v)", bound, topic, p, sizes)
	}
	return n
}

// errLog is a kgo.Logger that counts the errors a client logged.
type errLog struct{ clientLog }

func (l *errLog) Level() kgo.LogLevel { return kgo.LogLevelDebug }

func (l *errLog) Log(lvl kgo.LogLevel, msg string, kv ...any) {
	for i := 0; i+1 < len(kv); i += 2 {
		if k, _ := kv[i].(string); k == "err" && kv[i+1] != nil {
			l.add(fmt.Sprintf("%s: %v", msg, kv[i+1]))
			return
		}
	}
	if lvl <= kgo.LogLevelInfo {
		l.add(msg)
	}
}

// progress samples a counter and keeps the longest time it stood still.
type progress struct {
	mu      sync.Mutex
	longest time.Duration
	stop    func()
}

func watchProgress(count func() int) *progress {
	pr := &progress{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		last, lastAt := count(), time.Now()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				if n := count(); n != last {
					last, lastAt = n, now
				}
				pr.mu.Lock()
				pr.longest = max(pr.longest, now.Sub(lastAt))
				pr.mu.Unlock()
			}
		}
	}()
	pr.stop = func() { cancel(); <-done }
	return pr
}

func (pr *progress) Longest() time.Duration {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.longest
}

// TestZombieLeaderLosesZooKeeper cuts the leader of a partition (rf 3,
// min.insync.replicas=2) off ZooKeeper while producers with acks=all
// (idempotent) and acks=1 write to it, clients and brokers still reaching
// it. Its session expires, the controller elects a follower; the zombie
// cannot shrink its ISR (its ZooKeeper write fails) and its followers
// leave it, so it acknowledges no acks=all record it cannot commit. After
// the heal it rejoins as a follower, truncating its divergent acks=1 tail,
// and every replica ends byte-identical and in the ISR.
func TestZombieLeaderLosesZooKeeper(t *testing.T) {
	c, proxies := startSplitCluster(t, 3, map[string]string{"zookeeper.session.timeout.ms": "3000"})
	conn := c.zkConn()
	topic := "netsplit-leader"
	c.createTopic(topic, 1, 3, map[string]*string{"min.insync.replicas": strp("2")})
	before := c.awaitZKState(conn, "a leader", topic, 0, 10*time.Second, func(s zkPartitionState) bool { return s.Leader > 0 })
	zombie := before.Leader

	allLog, oneLog := &errLog{}, &errLog{}
	// acks=all produces sent to the zombie wait out the produce timeout
	// (REQUEST_TIMED_OUT), and the metadata refresh that follows may ask
	// the zombie itself, which still names itself leader: with franz-go's
	// default 10 s each such round stalled the producer 10 s (20 s when
	// it took two). 4 s keeps the test short.
	all := startWorkload(t, c, topic, 1, kgo.WithLogger(allLog), kgo.ProduceRequestTimeout(4*time.Second))
	one := startWorkload(t, c, topic, 1, kgo.WithLogger(oneLog), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	all.awaitMore(200, 20*time.Second)
	one.awaitMore(200, 20*time.Second)
	stall := watchProgress(all.count)

	cutAt := time.Now()
	proxies[zombie].Cut()
	t.Logf("cut broker %d (leader at epoch %d, isr %v) off ZooKeeper", zombie, before.LeaderEpoch, before.ISR)
	after := c.awaitZKState(conn, "a new leader", topic, 0, 30*time.Second, func(s zkPartitionState) bool {
		return s.Leader > 0 && s.Leader != zombie
	})
	elected := time.Since(cutAt)
	t.Logf("broker %d elected at epoch %d (isr %v) %v after the cut", after.Leader, after.LeaderEpoch, after.ISR, elected)
	if slices.Contains(after.ISR, zombie) {
		t.Errorf("the new state keeps the zombie %d in the ISR: %+v", zombie, after)
	}
	// The zombie still answers as leader; an acks=all write it cannot
	// commit (its followers left it, its ISR stays as it is in
	// ZooKeeper) must not be acknowledged. Until the others have taken
	// the new state they still fetch from the zombie, and a record both
	// fetched may be acknowledged, rightly: it is in the new leader's log
	// (Kafka's followers fetch from the old leader so until their
	// LeaderAndIsr). So the write is sent once they have left it.
	for _, id := range before.ISR {
		if id != zombie {
			awaitLeaderEpochKnown(t, c, id, topic, 0, after.LeaderEpoch)
		}
	}
	if code := produceDirect(t, c, zombie, topic, -1, 2000); code == 0 {
		t.Errorf("the zombie %d acknowledged an acks=all record after broker %d was elected", zombie, after.Leader)
	} else {
		t.Logf("an acks=all produce sent to the zombie: %v", kerr.ErrorForCode(code))
	}
	// A consumer that knows the new leader epoch is told the zombie
	// does not know it yet.
	if code := fetchEpochDirect(t, c, zombie, topic, 0, after.LeaderEpoch); code != kerr.UnknownLeaderEpoch.Code {
		t.Errorf("a fetch at leader epoch %d sent to the zombie: %v, want UNKNOWN_LEADER_EPOCH", after.LeaderEpoch, kerr.ErrorForCode(code))
	}
	all.awaitMore(200, 30*time.Second)
	moved := time.Since(cutAt)

	// While cut off, the zombie never wrote the state: its ISR shrink
	// must fail on the znode version.
	if st, err := c.zkState(conn, topic, 0); err != nil || st.Leader != after.Leader || st.LeaderEpoch != after.LeaderEpoch {
		t.Errorf("state changed under the new leader while the zombie was cut off: %+v, %v", st, err)
	}

	healAt := time.Now()
	proxies[zombie].Heal()
	c.awaitZKState(conn, fmt.Sprintf("broker %d back in the ISR", zombie), topic, 0, 30*time.Second, func(s zkPartitionState) bool {
		return len(s.ISR) == 3 && slices.Contains(s.ISR, zombie)
	})
	rejoined := time.Since(healAt)
	all.awaitMore(100, 20*time.Second)
	// Leadership back to the old leader (the preferred replica), whose
	// producer state was rebuilt after its truncation: the idempotent
	// producer goes on without loss or duplicates.
	adm, done := c.adminOn(after.Leader)
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}}); err != nil {
		t.Fatalf("electing broker %d again: %v", zombie, err)
	}
	c.awaitZKState(conn, fmt.Sprintf("broker %d leading again", zombie), topic, 0, 20*time.Second, func(s zkPartitionState) bool {
		return s.Leader == zombie
	})
	all.awaitMore(100, 20*time.Second)
	stall.stop()
	all.stop(10 * time.Second)
	one.stop(10 * time.Second)

	size := c.awaitIdenticalReplicas(topic, 0, 30*time.Second)
	st, _ := c.zkState(conn, topic, 0)
	t.Logf("new leader %v after the cut, clients producing on it %v after the cut; longest acks=all stall %v; broker %d back in the ISR %v after the heal; replicas identical (%d bytes), state %+v",
		elected, moved, stall.Longest(), zombie, rejoined, size, st)
	t.Logf("acks=all client errors: %s", &allLog.clientLog)
	t.Logf("acks=1 client errors: %s", &oneLog.clientLog)
	checkSplitHistory(t, c, topic, all, one)
}

// produceDirect sends one record to broker id with acks and a timeout,
// and returns the partition's error code.
func produceDirect(t *testing.T, c *cluster, id int32, topic string, acks int16, timeoutMs int32) int16 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[id].Addr), kgo.MaxVersions(kversion.V3_8_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	raw := plainBatch("direct")
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, timeoutMs
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = raw
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeoutMs)*time.Millisecond+10*time.Second)
	defer cancel()
	resp, err := cl.Broker(int(id)).Request(ctx, req)
	if err != nil {
		t.Fatalf("produce to broker %d: %v", id, err)
	}
	pr := resp.(*kmsg.ProduceResponse)
	return pr.Topics[0].Partitions[0].ErrorCode
}

// awaitLeaderEpochKnown waits until broker id's Metadata names the
// partition's leader at epoch or later.
func awaitLeaderEpochKnown(t *testing.T, c *cluster, id int32, topic string, p, epoch int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[id].Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	last := "no answer"
	if !wait.Until(20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := topicMetadataOn(ctx, cl.Broker(int(id)), topic)
		if err != nil {
			last = err.Error()
			return false
		}
		for _, st := range resp.Topics {
			for _, sp := range st.Partitions {
				if sp.Partition == p {
					last = fmt.Sprintf("leader %d at epoch %d", sp.Leader, sp.LeaderEpoch)
					return sp.LeaderEpoch >= epoch
				}
			}
		}
		return false
	}) {
		t.Fatalf("timed out after 20s waiting for broker %d to know leader epoch %d of %s-%d; last: %s", id, epoch, topic, p, last)
	}
}

// fetchEpochDirect sends a Fetch at a current leader epoch to broker id
// and returns the partition's error code.
func fetchEpochDirect(t *testing.T, c *cluster, id int32, topic string, p, epoch int32) int16 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[id].Addr), kgo.MaxVersions(kversion.V3_0_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MaxBytes, req.SessionEpoch = -1, 0, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes, rp.LogStartOffset = p, epoch, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Broker(int(id)).Request(ctx, req)
	if err != nil {
		t.Fatalf("Fetch to broker %d: %v", id, err)
	}
	return resp.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode
}

// checkSplitHistory reads the partition back: every acks=all
// acknowledgement is at its offset, offsets are dense, no acks=all value
// is stored twice; acks=1 records the zombie acknowledged may be gone (it
// reports how many).
func checkSplitHistory(t *testing.T, c *cluster, topic string, all, one *workload) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm, done := c.admin()
	defer done()
	var end int64
	waitFor(t, "the end offset", 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		lo, err := adm.ListEndOffsets(ctx, topic)
		if err != nil || lo.Error() != nil {
			return false
		}
		o, _ := lo.Lookup(topic, 0)
		end = o.Offset
		return true
	})
	seen := make(map[string]int64)
	dups := 0
	var next int64
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for next < end {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading back: at %d of %d", next, end)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next {
				t.Errorf("offset %d follows %d", r.Offset, next-1)
			}
			next = r.Offset + 1
			if _, ok := seen[string(r.Value)]; ok {
				dups++
			}
			seen[string(r.Value)] = r.Offset
		})
	}
	lost := func(w *workload) (n int, first []string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		for v, a := range w.acked {
			if off, ok := seen[v]; !ok || off != a.offset {
				n++
				if len(first) < 5 {
					first = append(first, fmt.Sprintf("%s acknowledged at %d, stored at %d (%v)", v, a.offset, off, ok))
				}
			}
		}
		return n, first
	}
	allLost, allFirst := lost(all)
	oneLost, _ := lost(one)
	if allLost > 0 {
		t.Errorf("%d acks=all acknowledgements lost or moved, e.g. %v", allLost, allFirst)
	}
	if dups > 0 {
		t.Logf("%d values stored twice (acks=1 retries may be)", dups)
	}
	t.Logf("history: %d records; acks=all %d acknowledged, %d failed (%v), %d lost; acks=1 %d acknowledged, %d failed (%v), %d gone (the zombie's divergent tail)",
		end, len(all.acked), all.failed, all.errs, allLost, len(one.acked), one.failed, one.errs, oneLost)
}

// zkController reads /controller's broker id and /controller_epoch.
func (c *cluster) zkController(conn *zk.Conn) (id, epoch int32, err error) {
	data, _, err := conn.Get(c.chroot + "/controller")
	if err != nil {
		return -1, -1, err
	}
	var z struct {
		BrokerID int32 `json:"brokerid"`
	}
	if err := json.Unmarshal(data, &z); err != nil {
		return -1, -1, err
	}
	data, _, err = conn.Get(c.chroot + "/controller_epoch")
	if err != nil {
		return -1, -1, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 32)
	return z.BrokerID, int32(n), err
}

// zkBrokers lists the registered broker ids.
func (c *cluster) zkBrokers(conn *zk.Conn) []string {
	ids, _, _ := conn.Children(c.chroot + "/brokers/ids")
	slices.Sort(ids)
	return ids
}

// adminOn is an admin client seeded with the given brokers only.
func (c *cluster) adminOn(ids ...int32) (*kadm.Client, func()) {
	var seeds []string
	for _, id := range ids {
		seeds = append(seeds, c.brokers[id].Addr)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		c.t.Fatal(err)
	}
	return kadm.NewClient(cl), cl.Close
}

// TestZombieControllerLosesZooKeeper cuts the controller off ZooKeeper,
// clients and brokers still reaching it. Another broker becomes
// controller (a higher controller_epoch), moves the zombie's leaderships
// and creates topics; the zombie writes nothing while cut off, and after
// the heal it rejoins as a plain broker: /controller and controller_epoch
// stay with its successor, and it is back in every ISR.
func TestZombieControllerLosesZooKeeper(t *testing.T) {
	c, proxies := startSplitCluster(t, 3, map[string]string{"zookeeper.session.timeout.ms": "3000"})
	conn := c.zkConn()
	topic := "netsplit-ctrl"
	c.createTopic(topic, 3, 3, nil)
	var zombie, epoch0 int32
	waitFor(t, "a controller in ZooKeeper", 10*time.Second, func() bool {
		var err error
		zombie, epoch0, err = c.zkController(conn)
		return err == nil
	})
	var others []int32
	for id := range c.brokers {
		if id != zombie {
			others = append(others, id)
		}
	}

	cutAt := time.Now()
	proxies[zombie].Cut()
	var ctrl, epoch1 int32
	waitFor(t, fmt.Sprintf("a controller other than %d", zombie), 30*time.Second, func() bool {
		var err error
		ctrl, epoch1, err = c.zkController(conn)
		return err == nil && ctrl != zombie && epoch1 > epoch0
	})
	t.Logf("broker %d controller at epoch %d (was %d at %d) %v after the cut", ctrl, epoch1, zombie, epoch0, time.Since(cutAt))
	for p := int32(0); p < 3; p++ {
		c.awaitZKState(conn, fmt.Sprintf("a leader other than %d and an ISR without it", zombie), topic, p, 20*time.Second, func(s zkPartitionState) bool {
			return s.Leader > 0 && s.Leader != zombie && !slices.Contains(s.ISR, zombie)
		})
	}
	moved := time.Since(cutAt)

	adm, done := c.adminOn(others...)
	defer done()
	created := "netsplit-ctrl-new"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 2, 2, nil, created); err != nil {
		t.Fatalf("creating %s while broker %d is cut off: %v", created, zombie, err)
	}
	for p := int32(0); p < 2; p++ {
		c.awaitZKState(conn, "a leader and 2 in-sync replicas", created, p, 20*time.Second, func(s zkPartitionState) bool {
			return s.Leader > 0 && len(s.ISR) == 2 && s.ControllerEpoch == epoch1
		})
	}

	// A topic created through the zombie, which cannot reach ZooKeeper:
	// REQUEST_TIMED_OUT, which clients retry (as a Kafka 4 broker that
	// cannot reach its controller answers), not a disk error.
	zadm, zdone := c.adminOn(zombie)
	defer zdone()
	{
		cr := kmsg.NewPtrCreateTopicsRequest()
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "netsplit-via-zombie", 1, 1
		cr.Topics, cr.TimeoutMillis = append(cr.Topics, ct), 5000
		zcl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[zombie].Addr))
		if err != nil {
			t.Fatal(err)
		}
		at := time.Now()
		raw, err := zcl.Broker(int(zombie)).Request(ctx, cr)
		zcl.Close()
		if err != nil {
			t.Fatalf("CreateTopics to the zombie: %v", err)
		}
		resp := raw.(*kmsg.CreateTopicsResponse)
		code := resp.Topics[0].ErrorCode
		t.Logf("CreateTopics through the zombie %d: %v (%v) after %v", zombie, kerr.ErrorForCode(code), deref(resp.Topics[0].ErrorMessage), time.Since(at))
		if code != kerr.RequestTimedOut.Code {
			t.Errorf("CreateTopics through the zombie %d: %v, want REQUEST_TIMED_OUT", zombie, kerr.ErrorForCode(code))
		}
	}
	healAt := time.Now()
	proxies[zombie].Heal()
	waitFor(t, fmt.Sprintf("broker %d registered again", zombie), 20*time.Second, func() bool {
		return slices.Contains(c.zkBrokers(conn), strconv.Itoa(int(zombie)))
	})
	for p := int32(0); p < 3; p++ {
		c.awaitZKState(conn, fmt.Sprintf("broker %d back in the ISR", zombie), topic, p, 30*time.Second, func(s zkPartitionState) bool {
			return len(s.ISR) == 3
		})
	}
	rejoined := time.Since(healAt)
	// The zombie answers with its successor as the controller.
	waitFor(t, fmt.Sprintf("broker %d to name %d the controller", zombie, ctrl), 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m, err := zadm.BrokerMetadata(ctx)
		return err == nil && m.Controller == ctrl
	})
	// A topic created after the heal (through the zombie) is placed on
	// all three brokers by the controller.
	again := "netsplit-ctrl-after"
	if _, err := zadm.CreateTopic(ctx, 1, 3, nil, again); err != nil {
		t.Fatalf("creating %s through broker %d after the heal: %v", again, zombie, err)
	}
	c.awaitZKState(conn, "a leader and 3 in-sync replicas", again, 0, 20*time.Second, func(s zkPartitionState) bool {
		return s.Leader > 0 && len(s.ISR) == 3
	})

	if id, epoch, err := c.zkController(conn); err != nil || id != ctrl || epoch != epoch1 {
		t.Errorf("after the heal /controller is %d at epoch %d (%v); want %d at %d: the old controller came back acting", id, epoch, err, ctrl, epoch1)
	}
	for _, tp := range []string{topic, created, again} {
		for p := int32(0); ; p++ {
			st, err := c.zkState(conn, tp, p)
			if err != nil {
				break
			}
			if st.ControllerEpoch > epoch1 || (st.LeaderEpoch > 0 && st.ControllerEpoch != epoch1) {
				t.Errorf("%s-%d was written at controller epoch %d (the controller's is %d): %+v", tp, p, st.ControllerEpoch, epoch1, st)
			}
		}
	}
	t.Logf("leaderships moved %v after the cut; broker %d back in every ISR %v after the heal", moved, zombie, rejoined)
}

// commitWatch records, per partition, the highest offset a commit was
// acknowledged for, and the errors commits got.
type commitWatch struct {
	mu    sync.Mutex
	acked map[int32]int64
	errs  clientLog
}

func (w *commitWatch) callback(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	if err != nil {
		w.errs.add(err.Error())
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, rt := range resp.Topics {
		for j, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				w.errs.add(kerr.ErrorForCode(rp.ErrorCode).Error())
				continue
			}
			if i < len(req.Topics) && j < len(req.Topics[i].Partitions) {
				w.acked[rp.Partition] = max(w.acked[rp.Partition], req.Topics[i].Partitions[j].Offset)
			}
		}
	}
}

// commitDirect sends an OffsetCommit of a group without members (a
// simple commit) to broker id and returns the partition's error code.
func commitDirect(t *testing.T, c *cluster, id int32, group, topic string, p int32, offset int64) int16 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[id].Addr), kgo.MaxVersions(kversion.V3_8_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = p, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := cl.Broker(int(id)).Request(ctx, req)
	if err != nil {
		t.Fatalf("OffsetCommit to broker %d: %v", id, err)
	}
	return resp.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
}

// fetchDirect sends an OffsetFetch to broker id and returns the
// partition's committed offset (-1: none); an error code fails the test.
func fetchDirect(t *testing.T, c *cluster, id int32, group, topic string, p int32) int64 {
	t.Helper()
	// OffsetFetch v7 (Kafka 2.8): one group, not the v8+ groups array.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[id].Addr), kgo.MaxVersions(kversion.V2_8_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{p}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Broker(int(id)).Request(ctx, req)
	if err != nil {
		t.Fatalf("OffsetFetch to broker %d: %v", id, err)
	}
	fr := resp.(*kmsg.OffsetFetchResponse)
	if fr.ErrorCode != 0 {
		t.Logf("OffsetFetch to broker %d: %v", id, kerr.ErrorForCode(fr.ErrorCode))
		return -1
	}
	rp := fr.Topics[0].Partitions[0]
	if rp.ErrorCode != 0 {
		t.Logf("OffsetFetch to broker %d: %v", id, kerr.ErrorForCode(rp.ErrorCode))
		return -1
	}
	return rp.Offset
}

// TestZombieCoordinatorLosesZooKeeper cuts the broker coordinating a
// consumer group (the leader of its __consumer_offsets partition) off
// ZooKeeper while a franz-go member consumes and commits. The partition's
// leadership moves, the group follows it, committed offsets never go
// back, and no commit the zombie acknowledged is lost.
func TestZombieCoordinatorLosesZooKeeper(t *testing.T) {
	// A commit the zombie cannot replicate fails after
	// offsets.commit.timeout.ms; each one sends the member to look for
	// its coordinator again (which the zombie may still claim to be).
	c, proxies := startSplitCluster(t, 3, map[string]string{"zookeeper.session.timeout.ms": "3000", "offsets.commit.timeout.ms": "2000"})
	conn := c.zkConn()
	topic, group := "netsplit-group", "netsplit-g"
	c.createTopic(topic, 3, 3, nil)
	w := startWorkload(t, c, topic, 1)
	w.awaitMore(100, 20*time.Second)
	cw := &commitWatch{acked: make(map[int32]int64)}
	r := startGroupReader(t, c, topic, group, kgo.AutoCommitCallback(cw.callback))
	adm, done := c.admin()
	defer done()
	zombie := groupCoordinator(t, adm, group)
	op := javaPartitionFor(group, 3)
	// A group of its own on the same __consumer_offsets partition, for
	// commits sent straight to the zombie.
	simple := ""
	for i := 0; simple == ""; i++ {
		if g := fmt.Sprintf("netsplit-simple-%d", i); javaPartitionFor(g, 3) == op {
			simple = g
		}
	}
	waitFor(t, "the member's first commit", 20*time.Second, func() bool {
		cw.mu.Lock()
		defer cw.mu.Unlock()
		return len(cw.acked) > 0
	})

	cutAt := time.Now()
	proxies[zombie].Cut()
	after := c.awaitZKState(conn, fmt.Sprintf("a leader other than %d", zombie), "__consumer_offsets", op, 30*time.Second, func(s zkPartitionState) bool {
		return s.Leader > 0 && s.Leader != zombie
	})
	t.Logf("__consumer_offsets-%d: broker %d leads at epoch %d %v after the cut", op, after.Leader, after.LeaderEpoch, time.Since(cutAt))
	zombieAcked := int64(-1)
	sentAt := time.Now()
	if code := commitDirect(t, c, zombie, simple, topic, 0, 42); code == 0 {
		zombieAcked = 42
		t.Errorf("the zombie %d acknowledged a commit after broker %d took __consumer_offsets-%d", zombie, after.Leader, op)
	} else {
		t.Logf("a commit sent to the zombie: %v after %v", kerr.ErrorForCode(code), time.Since(sentAt))
		// Nor may it show the commit it could not replicate.
		if got := fetchDirect(t, c, zombie, simple, topic, 0); got != -1 {
			t.Errorf("the zombie %d answers OffsetFetch with %d, a commit it failed", zombie, got)
		}
	}
	others, odone := c.adminOn(after.Leader)
	defer odone()
	var moved time.Duration
	base := func() map[int32]int64 {
		cw.mu.Lock()
		defer cw.mu.Unlock()
		return maps.Clone(cw.acked)
	}()
	waitFor(t, fmt.Sprintf("commits acknowledged past %v by broker %d", base, after.Leader), 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		os, err := others.FetchOffsets(ctx, group)
		if err != nil || os.Error() != nil {
			return false
		}
		past := false
		os.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic && o.At > base[o.Partition] {
				past = true
			}
		})
		return past
	})
	moved = time.Since(cutAt)

	healAt := time.Now()
	proxies[zombie].Heal()
	c.awaitZKState(conn, fmt.Sprintf("broker %d back in the ISR", zombie), "__consumer_offsets", op, 30*time.Second, func(s zkPartitionState) bool {
		return len(s.ISR) == 3
	})
	rejoined := time.Since(healAt)
	w.awaitMore(100, 20*time.Second)
	w.stop(10 * time.Second)
	r.finish(w, 60*time.Second)

	// Every acknowledged commit is there (or a later one).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	final, err := adm.FetchOffsets(ctx, group)
	if err != nil || final.Error() != nil {
		t.Fatalf("fetching offsets: %v %v", err, final.Error())
	}
	cw.mu.Lock()
	for p, off := range cw.acked {
		if got, ok := final.Lookup(topic, p); !ok || got.At < off {
			t.Errorf("partition %d: a commit of %d was acknowledged, the group has %+v", p, off, got)
		}
	}
	t.Logf("commits acknowledged up to %v; commit errors the member got: %s", cw.acked, &cw.errs)
	cw.mu.Unlock()
	so, err := adm.FetchOffsets(ctx, simple)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := so.Lookup(topic, 0); zombieAcked >= 0 && (!ok || got.At != zombieAcked) {
		t.Errorf("the commit the zombie acknowledged (%d) is lost: %+v", zombieAcked, got)
	}
	t.Logf("the group committed through broker %d %v after the cut; broker %d back in the ISR of __consumer_offsets-%d %v after the heal",
		after.Leader, moved, zombie, op, rejoined)
}
