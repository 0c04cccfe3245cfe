package zkmeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/rs/zerolog"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/internal/wait"
	"gregor/internal/zktest"
)

// The controller writes partition states in multi-ops of up to
// controlWriteBatch: ZooKeeper syncs its log once per transaction it has
// queued, and a transaction per partition kept a broker's thousands of
// partitions waiting on as many syncs. A controller starting over
// partitions whose states it has not read yet does not try to create
// them first (every one failed, a round trip each). Counted in ZooKeeper
// transactions (zxids), failed ones included.
func TestControllerWritesStatesInBatches(t *testing.T) {
	const n = 1000
	z := zktest.Start(t)
	const root = "/batches"
	raw := rawZK(t, z.Addr)
	acl := zk.WorldACL(zk.PermAll)
	topic := func(string) []byte { return topicZNodeData(t, n) }
	// A topic of n partitions, each with a state a previous run of
	// broker 1 left: broker 1 restarted since.
	seedTopic(t, raw, root, "old", n, encodeState(1, 1, 4, []int32{1}))
	zxid := func() int64 { return lastZxid(t, raw, root) }
	epochs := func(name string, want int32) func() bool {
		return func() bool {
			for p := range int32(n) {
				data, _, err := raw.Get(root + statePath(name, p))
				if err != nil {
					return false
				}
				st, err := decodeState(data)
				if err != nil || st.LeaderEpoch != want || st.Leader != 1 {
					return false
				}
			}
			return true
		}
	}

	before := zxid()
	startLone(t, z.Addr+root)
	wait.For(t, fmt.Sprintf("broker 1, restarted, to lead every partition of 'old' at epoch 5"), 60*time.Second, epochs("old", 5))
	// Registration, the controller's election and epoch, a few
	// batches; not a transaction (or three) per partition.
	txns := zxid() - before
	t.Logf("restart: %d transactions", txns)
	if txns > n/10 {
		t.Fatalf("the restarted controller took %d ZooKeeper transactions to move %d partitions' states on; want a few batches", txns, n)
	}

	// A topic created: its partitions' states are created in batches too.
	before = zxid()
	if _, err := raw.Create(root+"/brokers/topics/new", topic("new"), 0, acl); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "broker 1 to create every state of 'new'", 60*time.Second, epochs("new", 0))
	txns = zxid() - before
	t.Logf("creation: %d transactions", txns)
	if txns > n/10 {
		t.Fatalf("creating %d partitions' states took %d ZooKeeper transactions; want a few batches", n, txns)
	}
}

// ISR change notifications are written in batches, as Kafka's
// ReplicaManager propagates them, and the controller deletes them in
// batches: a notification and a deletion per ISR change (after a
// restart, thousands) held the controller's metadata round for seconds.
func TestISRChangeNotificationsInBatches(t *testing.T) {
	const n = 300
	z := zktest.Start(t)
	const root = "/isrnotes"
	raw := rawZK(t, z.Addr)
	acl := zk.WorldACL(zk.PermAll)
	for _, p := range []string{"", "/isr_change_notification"} {
		if _, err := raw.Create(root+p, nil, 0, acl); err != nil {
			t.Fatal(err)
		}
	}
	// Notifications a previous controller left, one partition each.
	for range n {
		if _, err := raw.Create(root+"/isr_change_notification/isr_change_", []byte(`{"version":1,"partitions":[{"topic":"t","partition":0}]}`), zk.FlagSequence, acl); err != nil {
			t.Fatal(err)
		}
	}
	zxid := func() int64 { return lastZxid(t, raw, root) }
	notes := func() int {
		c, _, err := raw.Children(root + "/isr_change_notification")
		if err != nil {
			t.Fatal(err)
		}
		return len(c)
	}
	before := zxid()
	b := startLone(t, z.Addr+root)
	wait.For(t, "the controller to delete the notifications it found", 30*time.Second, func() bool { return notes() == 0 })
	txns := zxid() - before
	t.Logf("deleting %d notifications: %d transactions", n, txns)
	if txns > n/5 {
		t.Fatalf("the controller took %d ZooKeeper transactions to start and delete %d notifications; want batches", txns, n)
	}

	// n ISR changes (a leader's AlterPartition) are announced in one
	// notification, which the controller deletes.
	ops := []any{&zk.CreateRequest{Path: root + "/brokers/topics/t", Data: topicZNodeData(t, n), Acl: acl},
		&zk.CreateRequest{Path: root + "/brokers/topics/t/partitions", Acl: acl}}
	for p := range int32(n) {
		ops = append(ops, &zk.CreateRequest{Path: root + partitionPath("t", p), Acl: acl},
			&zk.CreateRequest{Path: root + statePath("t", p), Data: encodeState(1, 1, 0, []int32{1}), Acl: acl})
	}
	if _, err := raw.Multi(ops...); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "broker 1 to read t's states", 30*time.Second, statesRead(b, "t", n, func(*pstate) bool { return true }))
	before = zxid()
	ctx := context.Background()
	for p := range int32(n) {
		if _, err := b.UpdatePartition(ctx, "t", p, metadata.PartitionState{Replicas: []int32{1}, Leader: 1, ISR: []int32{1}, Version: 0}); err != nil {
			t.Fatal(err)
		}
	}
	b.writeISRChangeNotes() // as its ticker does
	wait.For(t, "the controller to delete the notification", 30*time.Second, func() bool { return notes() == 0 })
	txns = zxid() - before
	t.Logf("%d ISR changes: %d transactions", n, txns)
	if txns > n+n/5 {
		t.Fatalf("%d ISR changes took %d ZooKeeper transactions; want one each and a few for their notification", n, txns)
	}
}

// topicZNodeData is a topic's assignment znode: n partitions on broker 1.
func topicZNodeData(t *testing.T, n int) []byte {
	t.Helper()
	parts := map[string][]int32{}
	for p := range n {
		parts[strconv.Itoa(p)] = []int32{1}
	}
	data, err := json.Marshal(map[string]any{"version": 3, "topic_id": metadata.NewUuid().String(),
		"partitions": parts, "adding_replicas": map[string][]int32{}, "removing_replicas": map[string][]int32{}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// lastZxid is ZooKeeper's latest transaction id, that of a marker znode
// created under root.
func lastZxid(t *testing.T, raw *zk.Conn, root string) int64 {
	t.Helper()
	path, err := raw.Create(root+"/mark-", nil, zk.FlagSequence, zk.WorldACL(zk.PermAll))
	if err != nil {
		t.Fatal(err)
	}
	_, st, err := raw.Get(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Czxid
}

// A controlled shutdown writes the states it changes in multi-ops, decided
// from the states the broker has read: a read and a compare-and-set of its
// own per partition made a broker leading thousands wait on as many
// ZooKeeper syncs (2,000 partitions: 2.8 s). A batch holding a state that
// changed since (the cache was stale) is handed over a partition at a
// time, reading that state again.
func TestShutdownHandsOverInBatches(t *testing.T) {
	const n = 600
	z := zktest.Start(t)
	const root = "/handover"
	raw := rawZK(t, z.Addr)
	if _, err := raw.Create(root, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	app := &handOverApplier{}
	b1, _ := startWith(t, z.Addr+root, 1, app), startAs(t, z.Addr+root, 2)
	assign := make([][]int32, n)
	for p := range assign {
		assign[p] = []int32{1, 2}
		if p%2 == 1 {
			assign[p] = []int32{2, 1}
		}
	}
	ctx := context.Background()
	if _, err := b1.CreateTopic(ctx, metadata.TopicSpec{Name: "h", Assignment: assign}); err != nil {
		t.Fatal(err)
	}
	state := func(p int32) (stateZNode, *zk.Stat) {
		data, st, err := raw.Get(root + statePath("h", p))
		if err != nil {
			return stateZNode{}, nil
		}
		z, err := decodeState(data)
		if err != nil {
			t.Fatal(err)
		}
		return z, st
	}
	wait.For(t, "every partition of h online with both replicas in its ISR", 60*time.Second, func() bool {
		for p := range int32(n) {
			if z, st := state(p); st == nil || len(z.ISR) != 2 {
				return false
			}
		}
		return true
	})
	wait.For(t, "broker 1 to have read every state of h", 30*time.Second, statesRead(b1, "h", n, func(st *pstate) bool { return len(st.isr) == 2 }))
	// Between the hand-over's reads and its writes, another writer
	// changes partition 10's state (a leader's ISR change would).
	b1.beforeHandOverWrites = func() {
		z, st := state(10)
		if _, err := raw.Set(root+statePath("h", 10), encodeState(z.ControllerEpoch, z.Leader, z.LeaderEpoch, z.ISR), st.Version); err != nil {
			t.Error(err)
		}
	}
	// Each state written is in force at once, not once every batch is
	// written: when the failed batch's first partition is applied, its
	// last is not handed over yet.
	var applied sync.Map
	app.check = func(topic string, p int32, st metadata.PartitionState) {
		applied.Store(p, st)
		if p == 0 {
			if z, _ := state(controlWriteBatch - 1); !slices.Contains(z.ISR, 1) {
				t.Errorf("partition 0 applied after partition %d's hand-over was written (ISR %v): a state waited for other writes", controlWriteBatch-1, z.ISR)
			}
		}
	}
	// Broker 1's cache has partition 1 (led by 2) without broker 1 in its
	// ISR, as if stale: a partition the cache says needs nothing is read
	// before it is left alone.
	b1.mu.Lock()
	b1.topics["h"].states[1].isr = []int32{2}
	b1.mu.Unlock()
	before, sentBefore := lastZxid(t, raw, root), sentRequests(t, z.Addr, b1)
	if err := b1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	reqs := sentRequests(t, z.Addr, b1) - sentBefore
	txns := lastZxid(t, raw, root) - before
	t.Logf("controlled shutdown of %d partitions: %d transactions, %d requests", n, txns, reqs)
	// Broker 1's stopping mark, a multi-op per batch (one failed), the
	// failed batch's partitions one by one, the controller's resignation.
	if txns > 2*controlWriteBatch {
		t.Fatalf("the controlled shutdown took %d ZooKeeper transactions for %d partitions; want a few batches", txns, n)
	}
	// It decides from the states it has read: a read of each first added
	// n requests (2,014 in all, against 1,414). What it sends: the
	// batches, the failed one's partitions read and written one by one,
	// and the reads of the states back (and their watches' reads).
	if reqs > 2*n+n/2 {
		t.Fatalf("the controlled shutdown sent %d ZooKeeper requests for %d partitions; want no read of each state before the writes", reqs, n)
	}
	for p := range int32(n) {
		z, _ := state(p)
		epoch := int32(0)
		if p%2 == 0 {
			epoch = 1 // led by broker 1 before
		}
		if z.Leader != 2 || z.LeaderEpoch != epoch || !slices.Equal(z.ISR, []int32{2}) {
			t.Fatalf("partition %d after broker 1's controlled shutdown: leader %d at epoch %d, ISR %v; want broker 2 at %d, ISR [2]", p, z.Leader, z.LeaderEpoch, z.ISR, epoch)
		}
		if st, ok := applied.Load(p); !ok || st.(metadata.PartitionState).Leader != 2 {
			t.Fatalf("partition %d's hand-over was not put in force on broker 1 (%v)", p, st)
		}
	}
}

// startAs starts broker id's backend, its applier doing nothing.
func startAs(t *testing.T, connect string, id int32) *backend {
	t.Helper()
	return startWith(t, connect, id, nopApplier{})
}

// startWith starts broker id's backend with an applier.
func startWith(t *testing.T, connect string, id int32, app metadata.Applier) *backend {
	t.Helper()
	be, err := New(Options{
		Connect: connect, SessionTimeout: 4 * time.Second,
		Self:   metadata.BrokerInfo{ID: id, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9090 + id}}},
		Config: &config.Config{DeleteTopicEnable: true, NumPartitions: 1, DefaultReplicationFactor: 1},
		Log:    zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	b := be.(*backend)
	if err := b.Start(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// handOverApplier runs check at each state a hand-over puts in force.
type handOverApplier struct {
	nopApplier
	check func(topic string, p int32, st metadata.PartitionState)
}

func (a *handOverApplier) ApplyPartition(topic string, _ metadata.Uuid, p int32, st metadata.PartitionState) {
	if a.check != nil {
		a.check(topic, p, st)
	}
}

// Each broker reads the states of a topic being created as its
// partitions znode lists them (the controller creates each partition's
// znode with its state). Read at once, most were missing yet, and each
// took a read, two checks and a watch for its creation before the read
// that found it: creating 2,000 partitions on 3 brokers took 6 s. Counted
// in the requests the broker's ZooKeeper session sent, from the topic's
// creation until it has read every state.
func TestNewTopicStatesReadAsListed(t *testing.T) {
	const n = 500
	z := zktest.Start(t)
	const root = "/listed"
	raw := rawZK(t, z.Addr)
	acl := zk.WorldACL(zk.PermAll)
	b := startBesideController(t, z, raw, root)
	sent := func() int { return sentRequests(t, z.Addr, b) }
	before := sent()
	if _, err := raw.Create(root+"/brokers/topics/t", topicZNodeData(t, n), 0, acl); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "broker 2 to have read topic t", 30*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		tc := b.topics["t"]
		return tc != nil && len(tc.states) == n
	})
	// A round after that one: it reads what the topic's read marked.
	if err := b.sync(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	// The controller creates the partitions, in batches.
	createPartitions(t, raw, root, "t", n, encodeState(1, 1, 0, []int32{1}))
	wait.For(t, "broker 2 to read every state of t", 30*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return !slices.Contains(b.topics["t"].states, nil)
	})
	reqs := sent() - before
	t.Logf("%d partitions created: broker 2 sent %d requests", n, reqs)
	if reqs > n+n/5 {
		t.Fatalf("broker 2 sent %d ZooKeeper requests to read %d new partitions' states; want about one each", reqs, n)
	}
}

// seedTopic creates, under root (made if missing, with /brokers/topics),
// topic name of n partitions on broker 1 and, if state is not nil, each
// partition's znode with that state, as a previous run left them.
func seedTopic(t *testing.T, raw *zk.Conn, root, name string, n int32, state []byte) {
	t.Helper()
	acl := zk.WorldACL(zk.PermAll)
	for _, p := range []string{"", "/brokers", "/brokers/topics"} {
		if _, err := raw.Create(root+p, nil, 0, acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatal(err)
		}
	}
	if _, err := raw.Create(root+topicPath(name), topicZNodeData(t, int(n)), 0, acl); err != nil {
		t.Fatal(err)
	}
	if state != nil {
		createPartitions(t, raw, root, name, n, state)
	}
}

// createPartitions creates topic name's partitions znode and each of its
// n partitions' znode with state, in multi-ops, as the controller does.
func createPartitions(t *testing.T, raw *zk.Conn, root, name string, n int32, state []byte) {
	t.Helper()
	acl := zk.WorldACL(zk.PermAll)
	ops := []any{&zk.CreateRequest{Path: root + partitionsPath(name), Acl: acl}}
	for p := range n {
		ops = append(ops, &zk.CreateRequest{Path: root + partitionPath(name, p), Acl: acl},
			&zk.CreateRequest{Path: root + statePath(name, p), Data: state, Acl: acl})
		if len(ops) >= 200 || p == n-1 {
			if _, err := raw.Multi(ops...); err != nil {
				t.Fatal(err)
			}
			ops = nil
		}
	}
}

// statesRead reports whether b has read all n states of topic, each as ok
// says.
func statesRead(b *backend, topic string, n int, ok func(*pstate) bool) func() bool {
	return func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		tc := b.topics[topic]
		if tc == nil || len(tc.states) != n {
			return false
		}
		for _, st := range tc.states {
			if st == nil || !ok(st) {
				return false
			}
		}
		return true
	}
}

// sentRequests is how many requests b's ZooKeeper session has sent, as
// the server at addr counts them (cons).
func sentRequests(t *testing.T, addr string, b *backend) int {
	t.Helper()
	out, err := zktest.FourLetter(addr, "cons")
	if err != nil {
		t.Fatal(err)
	}
	sid := fmt.Sprintf("sid=0x%x,", b.conn.SessionID())
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, sid) {
			continue
		}
		_, rest, ok := strings.Cut(l, "recved=")
		if v, _, ok2 := strings.Cut(rest, ","); ok && ok2 {
			if k, err := strconv.Atoi(v); err == nil {
				return k
			}
		}
	}
	t.Fatalf("no connection of session %s in cons: %q", sid, out)
	return 0
}

// startBesideController starts broker 2 under root (made, with
// /brokers/topics, if missing) while another broker (99, which raw's
// session stands for) is controller: broker 2 creates no state.
func startBesideController(t *testing.T, z *zktest.ZK, raw *zk.Conn, root string) *backend {
	t.Helper()
	acl := zk.WorldACL(zk.PermAll)
	for _, p := range []string{"", "/brokers", "/brokers/topics"} {
		if _, err := raw.Create(root+p, nil, 0, acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatal(err)
		}
	}
	if _, err := raw.Create(root+controllerPath, []byte(`{"version":1,"brokerid":99,"timestamp":"0"}`), zk.FlagEphemeral, acl); err != nil {
		t.Fatal(err)
	}
	return startAs(t, z.Addr+root, 2)
}
