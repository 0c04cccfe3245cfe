package zkmeta_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/broker/zkmeta"
	"gregor/internal/zktest"
)

// fakeApplier records what a backend delivers.
type fakeApplier struct {
	mu         sync.Mutex
	topics     map[string]metadata.TopicState
	brokers    []metadata.BrokerInfo
	controller int32
	removed    []string
	applied    []metadata.TopicState // every ApplyTopic, in order
}

func (f *fakeApplier) ApplyTopic(st metadata.TopicState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.topics[st.Name] = st
	f.applied = append(f.applied, st)
}

func (f *fakeApplier) RemoveTopic(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.topics, name)
	f.removed = append(f.removed, name)
}

func (f *fakeApplier) ApplyBrokers(bs []metadata.BrokerInfo, controller int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.brokers, f.controller = bs, controller
}

func (f *fakeApplier) topic(name string) (metadata.TopicState, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.topics[name]
	return st, ok
}

func (f *fakeApplier) view() ([]int32, int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []int32
	for _, b := range f.brokers {
		ids = append(ids, b.ID)
	}
	return ids, f.controller
}

type node struct {
	id    int32
	be    metadata.Backend
	apply *fakeApplier
}

func logger(t *testing.T) zerolog.Logger {
	if os.Getenv("ZKMETA_LOG") != "" {
		return zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
	}
	return zerolog.Nop()
}

func start(t *testing.T, connect string, id int32) *node {
	t.Helper()
	n, err := tryStart(t, connect, id)
	if err != nil {
		t.Fatalf("starting backend of broker %d: %v", id, err)
	}
	return n
}

func tryStart(t *testing.T, connect string, id int32) (*node, error) {
	return tryStartWith(t, connect, id, &config.Config{DeleteTopicEnable: true, NumPartitions: 1, DefaultReplicationFactor: 1})
}

func tryStartWith(t *testing.T, connect string, id int32, cfg *config.Config) (*node, error) {
	be, err := zkmeta.New(zkmeta.Options{
		Connect:        connect,
		SessionTimeout: 4 * time.Second,
		Self: metadata.BrokerInfo{ID: id, Rack: "", Endpoints: map[string]metadata.Endpoint{
			"PLAINTEXT": {Host: "127.0.0.1", Port: 9090 + id},
		}},
		Config: cfg,
		Log:    logger(t).With().Int32("broker", id).Logger(),
	})
	if err != nil {
		return nil, err
	}
	a := &fakeApplier{topics: map[string]metadata.TopicState{}, controller: -1}
	if err := be.Start(context.Background(), a); err != nil {
		return nil, err
	}
	t.Cleanup(func() { be.Close() })
	return &node{id: id, be: be, apply: a}, nil
}

// await polls cond for up to 30 s and fails naming what was awaited.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 30s waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func rawConn(t *testing.T, addr string) *zk.Conn {
	t.Helper()
	c, _, err := zkmeta.Connect([]string{addr}, 10*time.Second, nopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

func getJSON(t *testing.T, c *zk.Conn, path string, v any) *zk.Stat {
	t.Helper()
	data, stat, err := c.Get(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v: %s", path, err, data)
	}
	return stat
}

func TestRegistrationAndClusterID(t *testing.T) {
	z := zktest.Start(t)
	n := start(t, z.Addr+"/kafka/one", 7)
	c := rawConn(t, z.Addr)

	var reg map[string]any
	stat := getJSON(t, c, "/kafka/one/brokers/ids/7", &reg)
	if stat.EphemeralOwner == 0 {
		t.Fatal("/brokers/ids/7 is not ephemeral")
	}
	eps, _ := reg["endpoints"].([]any)
	if len(eps) != 1 || eps[0] != "PLAINTEXT://127.0.0.1:9097" || reg["host"] != "127.0.0.1" || reg["port"] != 9097.0 ||
		reg["version"] != 5.0 || reg["jmx_port"] != -1.0 {
		t.Fatalf("registration = %v", reg)
	}
	if m, _ := reg["listener_security_protocol_map"].(map[string]any); m["PLAINTEXT"] != "PLAINTEXT" {
		t.Fatalf("listener_security_protocol_map = %v", reg["listener_security_protocol_map"])
	}
	if ts, _ := reg["timestamp"].(string); ts == "" {
		t.Fatalf("timestamp = %v", reg["timestamp"])
	}
	var cid struct{ Version, ID string }
	getJSON(t, c, "/kafka/one/cluster/id", &cid)
	if cid.Version != "1" || len(cid.ID) != 22 || cid.ID != n.be.ClusterID() {
		t.Fatalf("cluster id znode %+v, ClusterID() %q", cid, n.be.ClusterID())
	}
	for _, p := range []string{"/kafka/one/brokers/topics", "/kafka/one/config/topics", "/kafka/one/admin/delete_topics", "/kafka/one/config/changes"} {
		if ok, _, err := c.Exists(p); err != nil || !ok {
			t.Fatalf("%s missing: %v", p, err)
		}
	}
	// The only broker is the controller.
	var ctrl struct{ Version, Brokerid int32 }
	await(t, "broker 7 to become controller", func() bool { _, id := n.apply.view(); return id == 7 })
	getJSON(t, c, "/kafka/one/controller", &ctrl)
	if ctrl.Brokerid != 7 || ctrl.Version != 1 {
		t.Fatalf("/controller = %+v", ctrl)
	}
	if data, _, err := c.Get("/kafka/one/controller_epoch"); err != nil || string(data) != "1" {
		t.Fatalf("/controller_epoch = %q, %v", data, err)
	}

	// Another broker with the same id is refused while 7 is alive.
	t0 := time.Now()
	if _, err := tryStart(t, z.Addr+"/kafka/one", 7); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("second broker 7 started: %v", err)
	}
	t.Logf("duplicate broker id refused after %v", time.Since(t0).Round(time.Millisecond))

	// A restart with the same id works once the old session is closed,
	// and keeps the cluster id.
	id := n.be.ClusterID()
	n.be.Close()
	n2 := start(t, z.Addr+"/kafka/one", 7)
	if n2.be.ClusterID() != id {
		t.Fatalf("cluster id changed across restart: %q -> %q", id, n2.be.ClusterID())
	}
}

// stateOf returns a topic's partition state as an applier sees it.
func stateOf(n *node, topic string, p int) (metadata.PartitionState, bool) {
	st, ok := n.apply.topic(topic)
	if !ok || p >= len(st.Partitions) {
		return metadata.PartitionState{}, false
	}
	return st.Partitions[p], true
}

func sameSet(a, b []int32) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func without(ids []int32, x int32) []int32 {
	return slices.DeleteFunc(slices.Clone(ids), func(v int32) bool { return v == x })
}

func TestCluster(t *testing.T) {
	z := zktest.Start(t)
	c := rawConn(t, z.Addr)
	nodes := map[int32]*node{}
	for id := int32(1); id <= 3; id++ {
		nodes[id] = start(t, z.Addr, id)
	}
	live := func() []*node {
		var out []*node
		for id := int32(1); id <= 3; id++ {
			if nodes[id] != nil {
				out = append(out, nodes[id])
			}
		}
		return out
	}
	for _, n := range live() {
		await(t, fmt.Sprintf("broker %d to see brokers 1-3 and a controller", n.id), func() bool {
			ids, ctrl := n.apply.view()
			return slices.Equal(ids, []int32{1, 2, 3}) && ctrl > 0
		})
	}

	ctx := context.Background()
	st, err := nodes[1].be.CreateTopic(ctx, metadata.TopicSpec{Name: "t3", Partitions: 3, ReplicationFactor: 3, Configs: map[string]string{"retention.ms": "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Partitions) != 3 {
		t.Fatalf("CreateTopic returned %+v", st)
	}
	leaders := map[int32]bool{}
	for p, ps := range st.Partitions {
		if len(ps.Replicas) != 3 || !sameSet(ps.Replicas, []int32{1, 2, 3}) {
			t.Fatalf("partition %d replicas %v", p, ps.Replicas)
		}
		leaders[ps.Replicas[0]] = true
	}
	if len(leaders) != 3 {
		t.Fatalf("preferred leaders not spread over brokers: %+v", st.Partitions)
	}
	if _, err := nodes[2].be.CreateTopic(ctx, metadata.TopicSpec{Name: "t3", Partitions: 1, ReplicationFactor: 1}); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("second create: %v, want TOPIC_ALREADY_EXISTS", err)
	}
	if _, err := nodes[2].be.CreateTopic(ctx, metadata.TopicSpec{Name: "big", Partitions: 1, ReplicationFactor: 4}); !errors.Is(err, kerr.InvalidReplicationFactor) {
		t.Fatalf("rf 4 on 3 brokers: %v, want INVALID_REPLICATION_FACTOR", err)
	}
	if _, err := nodes[2].be.CreateTopic(ctx, metadata.TopicSpec{Name: "v", Partitions: 2, ReplicationFactor: 2, ValidateOnly: true}); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := c.Exists("/brokers/topics/v"); ok {
		t.Fatal("ValidateOnly wrote the topic")
	}

	// Everyone sees the same assignment, a leader (the first replica) and
	// the full ISR.
	for _, n := range live() {
		for p := range 3 {
			await(t, fmt.Sprintf("broker %d to see t3-%d online with full ISR", n.id, p), func() bool {
				ps, ok := stateOf(n, "t3", p)
				return ok && slices.Equal(ps.Replicas, st.Partitions[p].Replicas) && ps.Leader == ps.Replicas[0] &&
					sameSet(ps.ISR, ps.Replicas) && ps.LeaderEpoch == 0 && ps.Version == 0
			})
		}
		if ts, _ := n.apply.topic("t3"); ts.ID != st.ID || ts.Configs["retention.ms"] != "1000" {
			t.Fatalf("broker %d sees id %v configs %v", n.id, ts.ID, ts.Configs)
		}
	}
	// Kafka's JSON in ZooKeeper.
	var tz struct {
		Version    int
		Partitions map[string][]int32
		TopicID    string `json:"topic_id"`
	}
	getJSON(t, c, "/brokers/topics/t3", &tz)
	if tz.Version != 3 || tz.TopicID != st.ID.String() || len(tz.Partitions) != 3 || !slices.Equal(tz.Partitions["0"], st.Partitions[0].Replicas) {
		t.Fatalf("/brokers/topics/t3 = %+v", tz)
	}
	var sz struct {
		ControllerEpoch int32 `json:"controller_epoch"`
		Leader          int32
		Version         int
		LeaderEpoch     int32 `json:"leader_epoch"`
		ISR             []int32
	}
	getJSON(t, c, "/brokers/topics/t3/partitions/0/state", &sz)
	if sz.Version != 1 || sz.ControllerEpoch < 1 || sz.Leader != st.Partitions[0].Replicas[0] || len(sz.ISR) != 3 {
		t.Fatalf("state znode = %+v", sz)
	}
	var cz struct {
		Version int
		Config  map[string]string
	}
	getJSON(t, c, "/config/topics/t3", &cz)
	if cz.Version != 1 || cz.Config["retention.ms"] != "1000" {
		t.Fatalf("/config/topics/t3 = %+v", cz)
	}

	// Kill the leader of partition 0 (not the controller if possible, to
	// test the plain case first).
	_, ctrl := nodes[1].apply.view()
	var victim int32 = -1
	var vp int
	for p, ps := range st.Partitions {
		if ps.Replicas[0] != ctrl {
			victim, vp = ps.Replicas[0], p
			break
		}
	}
	before, _ := stateOf(nodes[ctrl], "t3", vp)
	nodes[victim].be.Close()
	nodes[victim] = nil
	for _, n := range live() {
		await(t, fmt.Sprintf("broker %d to see a new leader of t3-%d without broker %d", n.id, vp, victim), func() bool {
			ps, _ := stateOf(n, "t3", vp)
			return ps.Leader != victim && ps.Leader > 0 && ps.LeaderEpoch == before.LeaderEpoch+1 &&
				sameSet(ps.ISR, without(before.ISR, victim))
		})
		// The new leader is the next replica in order.
		ps, _ := stateOf(n, "t3", vp)
		if want := without(before.Replicas, victim)[0]; ps.Leader != want {
			t.Fatalf("new leader %d, want %d (first live ISR member in replica order)", ps.Leader, want)
		}
		// Partitions it followed lose it from the ISR, epoch unchanged.
		for p := range 3 {
			if p == vp {
				continue
			}
			await(t, fmt.Sprintf("broker %d to see t3-%d ISR without %d", n.id, p, victim), func() bool {
				ps, _ := stateOf(n, "t3", p)
				return !slices.Contains(ps.ISR, victim)
			})
		}
		await(t, fmt.Sprintf("broker %d to see broker %d gone", n.id, victim), func() bool {
			ids, _ := n.apply.view()
			return !slices.Contains(ids, victim)
		})
	}

	// It comes back: everyone sees it, and it sees the current states.
	nodes[victim] = start(t, z.Addr, victim)
	for _, n := range live() {
		await(t, fmt.Sprintf("broker %d to see brokers 1-3 after broker %d returned", n.id, victim), func() bool {
			ids, _ := n.apply.view()
			return slices.Equal(ids, []int32{1, 2, 3})
		})
	}
	await(t, "the returned broker to see t3's current state", func() bool {
		ps, ok := stateOf(nodes[victim], "t3", vp)
		return ok && ps.LeaderEpoch == before.LeaderEpoch+1 && ps.Leader != victim
	})

	// A leader with no live ISR member: leader -1, ISR keeps it; when it
	// returns it leads again.
	if _, err := nodes[1].be.CreateTopic(ctx, metadata.TopicSpec{Name: "solo", Assignment: [][]int32{{victim}}}); err != nil {
		t.Fatal(err)
	}
	for _, n := range live() {
		await(t, fmt.Sprintf("broker %d to see solo-0 led by %d", n.id, victim), func() bool {
			ps, ok := stateOf(n, "solo", 0)
			return ok && ps.Leader == victim
		})
	}
	nodes[victim].be.Close()
	nodes[victim] = nil
	for _, n := range live() {
		await(t, fmt.Sprintf("broker %d to see solo-0 offline with ISR [%d]", n.id, victim), func() bool {
			ps, _ := stateOf(n, "solo", 0)
			return ps.Leader == -1 && ps.LeaderEpoch == 1 && slices.Equal(ps.ISR, []int32{victim})
		})
	}
	nodes[victim] = start(t, z.Addr, victim)
	for _, n := range live() {
		await(t, fmt.Sprintf("broker %d to see solo-0 led by %d again at epoch 2", n.id, victim), func() bool {
			ps, _ := stateOf(n, "solo", 0)
			return ps.Leader == victim && ps.LeaderEpoch == 2 && slices.Equal(ps.ISR, []int32{victim})
		})
	}

	// Controller failover: close the controller; another takes over and
	// still handles a broker death.
	_, ctrl = nodes[victim].apply.view()
	nodes[ctrl].be.Close()
	nodes[ctrl] = nil
	var newCtrl int32
	for _, n := range live() {
		await(t, fmt.Sprintf("broker %d to see a new controller after %d left", n.id, ctrl), func() bool {
			_, c := n.apply.view()
			newCtrl = c
			return c > 0 && c != ctrl
		})
	}
	var epoch []byte
	await(t, "/controller_epoch to be incremented", func() bool {
		epoch, _, _ = c.Get("/controller_epoch")
		return string(epoch) >= "2"
	})
	// Every partition t3 has is led by a live broker with an ISR of live
	// brokers only.
	for _, n := range live() {
		for p := range 3 {
			await(t, fmt.Sprintf("broker %d to see t3-%d led by a live broker", n.id, p), func() bool {
				ps, _ := stateOf(n, "t3", p)
				return ps.Leader > 0 && nodes[ps.Leader] != nil && !slices.Contains(ps.ISR, ctrl)
			})
		}
	}
	// Now kill the last broker that is not the controller.
	var last int32
	for _, n := range live() {
		if n.id != newCtrl {
			last = n.id
		}
	}
	var prior []metadata.PartitionState
	for p := range 3 {
		ps, _ := stateOf(nodes[newCtrl], "t3", p)
		prior = append(prior, ps)
	}
	nodes[last].be.Close()
	nodes[last] = nil
	// The returned broker never rejoined the ISRs (no real replica caught
	// up), so a partition whose ISR lacks the controller goes offline.
	await(t, fmt.Sprintf("controller %d to re-elect every t3 partition after broker %d left", newCtrl, last), func() bool {
		for p := range 3 {
			ps, _ := stateOf(nodes[newCtrl], "t3", p)
			switch {
			case slices.Contains(prior[p].ISR, newCtrl):
				if ps.Leader != newCtrl || !slices.Equal(ps.ISR, []int32{newCtrl}) {
					return false
				}
			case prior[p].Leader == last:
				if ps.Leader != -1 || !slices.Equal(ps.ISR, []int32{last}) || ps.LeaderEpoch != prior[p].LeaderEpoch+1 {
					return false
				}
			}
		}
		return true
	})
}

func TestUpdatePartitionAndTopicChanges(t *testing.T) {
	z := zktest.Start(t)
	c := rawConn(t, z.Addr)
	a := start(t, z.Addr, 1)
	b := start(t, z.Addr, 2)
	ctx := context.Background()
	if _, err := a.be.CreateTopic(ctx, metadata.TopicSpec{Name: "u", Assignment: [][]int32{{1, 2}}}); err != nil {
		t.Fatal(err)
	}
	var cur metadata.PartitionState
	await(t, "u-0 online on broker 1", func() bool {
		var ok bool
		cur, ok = stateOf(a, "u", 0)
		return ok && cur.Leader == 1 && len(cur.ISR) == 2
	})

	// The leader shrinks the ISR: CAS at the current version.
	next := cur
	next.ISR = []int32{1}
	got, err := a.be.UpdatePartition(ctx, "u", 0, next)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != cur.Version+1 || !slices.Equal(got.ISR, []int32{1}) || got.LeaderEpoch != cur.LeaderEpoch {
		t.Fatalf("UpdatePartition returned %+v (from %+v)", got, cur)
	}
	_, stat, _ := c.Get("/brokers/topics/u/partitions/0/state")
	if stat.Version != got.Version {
		t.Fatalf("znode version %d, returned %d", stat.Version, got.Version)
	}
	// A stale version loses.
	stale := cur
	stale.ISR = []int32{1, 2}
	if _, err := a.be.UpdatePartition(ctx, "u", 0, stale); !errors.Is(err, metadata.ErrStaleState) {
		t.Fatalf("stale update: %v, want ErrStaleState", err)
	}
	for _, n := range []*node{a, b} {
		await(t, fmt.Sprintf("broker %d to see u-0 ISR [1] at version %d", n.id, got.Version), func() bool {
			ps, _ := stateOf(n, "u", 0)
			return slices.Equal(ps.ISR, []int32{1}) && ps.Version == got.Version
		})
	}
	// Expand again from what the applier delivered.
	ps, _ := stateOf(b, "u", 0)
	ps.ISR = []int32{1, 2}
	if got, err = a.be.UpdatePartition(ctx, "u", 0, ps); err != nil || got.Version != ps.Version+1 {
		t.Fatalf("expanding ISR: %+v, %v", got, err)
	}

	// Create partitions: the assignment grows, the controller brings the
	// new ones online.
	if err := b.be.CreatePartitions(ctx, "u", 4, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{a, b} {
		await(t, fmt.Sprintf("broker %d to see u with 4 online partitions", n.id), func() bool {
			ts, _ := n.apply.topic("u")
			if len(ts.Partitions) != 4 {
				return false
			}
			for _, ps := range ts.Partitions {
				if ps.Leader < 0 || len(ps.Replicas) != 2 || len(ps.ISR) != 2 {
					return false
				}
			}
			return true
		})
	}
	if err := b.be.CreatePartitions(ctx, "u", 5, [][]int32{{2, 1}}); err != nil {
		t.Fatal(err)
	}
	await(t, "u-4 led by 2 (explicit assignment)", func() bool {
		ps, ok := stateOf(a, "u", 4)
		return ok && ps.Leader == 2 && slices.Equal(ps.Replicas, []int32{2, 1})
	})
	if err := b.be.CreatePartitions(ctx, "u", 3, nil); !errors.Is(err, kerr.InvalidPartitions) {
		t.Fatalf("shrinking: %v, want INVALID_PARTITIONS", err)
	}
	if err := b.be.CreatePartitions(ctx, "u", 6, [][]int32{{1, 9}}); !errors.Is(err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("unknown broker: %v, want INVALID_REPLICA_ASSIGNMENT", err)
	}
	if err := b.be.CreatePartitions(ctx, "nope", 6, nil); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown topic: %v", err)
	}

	// Alter configs: every broker sees them, and a change notification is
	// written as Kafka does.
	if err := a.be.AlterTopicConfigs(ctx, "u", map[string]string{"cleanup.policy": "compact"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{a, b} {
		await(t, fmt.Sprintf("broker %d to see u's new config", n.id), func() bool {
			ts, _ := n.apply.topic("u")
			return ts.Configs["cleanup.policy"] == "compact"
		})
	}
	kids, _, err := c.Children("/config/changes")
	if err != nil || len(kids) == 0 || !strings.HasPrefix(kids[0], "config_change_") {
		t.Fatalf("/config/changes = %v, %v", kids, err)
	}
	var note map[string]any
	getJSON(t, c, "/config/changes/"+kids[0], &note)
	if note["entity_path"] != "topics/u" || note["version"] != 2.0 {
		t.Fatalf("config change = %v", note)
	}
	if err := a.be.AlterTopicConfigs(ctx, "u", map[string]string{"no.such.config": "1"}); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("bad config: %v, want INVALID_CONFIG", err)
	}

	// Edits through both brokers at once each build on the store's
	// configs: eight appends to one list, none lost.
	var wg sync.WaitGroup
	for i := range 8 {
		n := []*node{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := n.be.EditTopicConfigs(ctx, "u", func(cur map[string]string) (map[string]string, error) {
				next := maps.Clone(cur)
				if next == nil {
					next = map[string]string{}
				}
				item := fmt.Sprintf("%d:1", i)
				if v := next["leader.replication.throttled.replicas"]; v != "" {
					item = v + "," + item
				}
				next["leader.replication.throttled.replicas"] = item
				return next, nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	await(t, "all eight concurrent appends in u's config", func() bool {
		ts, _ := a.apply.topic("u")
		return len(strings.Split(ts.Configs["leader.replication.throttled.replicas"], ",")) == 8 && ts.Configs["cleanup.policy"] == "compact"
	})
	if err := b.be.EditTopicConfigs(ctx, "nope", func(cur map[string]string) (map[string]string, error) { return cur, nil }); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("editing an unknown topic: %v", err)
	}
	// Likewise a group's configs, and none left deletes them.
	for i := range 8 {
		n := []*node{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := n.be.EditNamedConfigs(ctx, metadata.GroupConfigs, "g/1", func(cur map[string]string) (map[string]string, error) {
				next := maps.Clone(cur)
				if next == nil {
					next = map[string]string{}
				}
				next[fmt.Sprintf("k%d", i)] = "v"
				return next, nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	stored := func() (map[string]string, bool) {
		data, _, err := c.Get("/config/groups/" + metadata.SanitizeEntity("g/1"))
		if errors.Is(err, zk.ErrNoNode) {
			return nil, false
		}
		if err != nil {
			t.Fatal(err)
		}
		var z struct{ Config map[string]string }
		if err := json.Unmarshal(data, &z); err != nil {
			t.Fatal(err)
		}
		return z.Config, true
	}
	if m, _ := stored(); len(m) != 8 {
		t.Fatalf("group configs after eight concurrent edits: %v", m)
	}
	if err := a.be.EditNamedConfigs(ctx, metadata.GroupConfigs, "g/1", func(map[string]string) (map[string]string, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if m, ok := stored(); ok {
		t.Fatalf("group configs edited to none are still stored: %v", m)
	}

	// Delete: marked, then deleted by the controller; everyone removes it.
	if err := b.be.DeleteTopic(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{a, b} {
		await(t, fmt.Sprintf("broker %d to remove u", n.id), func() bool {
			_, ok := n.apply.topic("u")
			return !ok
		})
	}
	await(t, "u's znodes and deletion mark to be gone", func() bool {
		for _, p := range []string{"/brokers/topics/u", "/config/topics/u", "/admin/delete_topics/u"} {
			if ok, _, _ := c.Exists(p); ok {
				return false
			}
		}
		return true
	})
	if err := b.be.DeleteTopic(ctx, "u"); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("deleting again: %v", err)
	}
	// The name can be used again, with a new id.
	st, err := a.be.CreateTopic(ctx, metadata.TopicSpec{Name: "u", Partitions: 1, ReplicationFactor: 2})
	if err != nil {
		t.Fatal(err)
	}
	await(t, "the new u online on broker 2", func() bool {
		ts, ok := b.apply.topic("u")
		return ok && ts.ID == st.ID && ts.Partitions[0].Leader > 0
	})
}

func TestProducerIDBlocks(t *testing.T) {
	z := zktest.Start(t)
	c := rawConn(t, z.Addr)
	a := start(t, z.Addr, 1)
	b := start(t, z.Addr, 2)
	ctx := context.Background()
	seen := map[int64]int32{}
	take := func(n *node, count int64) {
		t.Helper()
		s, err := n.be.AllocateProducerIDs(ctx, count)
		if err != nil {
			t.Fatal(err)
		}
		for id := s; id < s+count; id++ {
			if by, dup := seen[id]; dup {
				t.Fatalf("producer id %d given to broker %d and broker %d", id, by, n.id)
			}
			seen[id] = n.id
		}
	}
	for range 5 {
		take(a, 1)
		take(b, 1)
	}
	take(a, 1500) // larger than a block
	take(b, 700)
	take(b, 700)
	var blk map[string]any
	getJSON(t, c, "/latest_producer_id_block", &blk)
	if _, ok := blk["block_start"].(string); !ok || blk["version"] != 1.0 {
		t.Fatalf("/latest_producer_id_block = %v", blk)
	}
	// A restarted broker does not reuse ids.
	a.be.Close()
	a2 := start(t, z.Addr, 1)
	take(a2, 1)
	take(a2, 10)
}

func TestShutdownHandsOver(t *testing.T) {
	z := zktest.Start(t)
	a := start(t, z.Addr, 1)
	b := start(t, z.Addr, 2)
	ctx := context.Background()
	if _, err := a.be.CreateTopic(ctx, metadata.TopicSpec{Name: "s", Assignment: [][]int32{{1, 2}, {2, 1}}}); err != nil {
		t.Fatal(err)
	}
	await(t, "s online with full ISRs", func() bool {
		p0, _ := stateOf(b, "s", 0)
		p1, _ := stateOf(b, "s", 1)
		return p0.Leader == 1 && len(p0.ISR) == 2 && p1.Leader == 2 && len(p1.ISR) == 2
	})
	if err := a.be.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	await(t, "s-0 led by 2 at epoch 1 and broker 1 out of every ISR", func() bool {
		p0, _ := stateOf(b, "s", 0)
		p1, _ := stateOf(b, "s", 1)
		return p0.Leader == 2 && p0.LeaderEpoch == 1 && slices.Equal(p0.ISR, []int32{2}) &&
			p1.Leader == 2 && p1.LeaderEpoch == 0 && slices.Equal(p1.ISR, []int32{2})
	})
	await(t, "broker 2 to be controller after broker 1's shutdown", func() bool {
		_, c := b.apply.view()
		return c == 2
	})
}

func TestZooKeeperRestart(t *testing.T) {
	z := zktest.Start(t)
	a := start(t, z.Addr, 1)
	b := start(t, z.Addr, 2)
	ctx := context.Background()
	if _, err := a.be.CreateTopic(ctx, metadata.TopicSpec{Name: "r", Assignment: [][]int32{{1, 2}}}); err != nil {
		t.Fatal(err)
	}
	await(t, "r online", func() bool { ps, _ := stateOf(b, "r", 0); return ps.Leader == 1 })

	z.Restart()
	// Everything keeps working: watches fire again and writes succeed.
	// A request the backend makes while its client is still reconnecting
	// is answered REQUEST_TIMED_OUT, which clients retry, and so does
	// this (a make test run met it).
	var err error
	retried := false
	await(t, "a topic created after the ZooKeeper restart", func() bool {
		_, err = b.be.CreateTopic(ctx, metadata.TopicSpec{Name: "r2", Assignment: [][]int32{{2, 1}}})
		if errors.Is(err, kerr.RequestTimedOut) {
			retried = true
			return false
		}
		return true
	})
	if err != nil && !(retried && errors.Is(err, kerr.TopicAlreadyExists)) { // a timed-out attempt may have made it
		t.Fatal(err)
	}
	for _, n := range []*node{a, b} {
		await(t, fmt.Sprintf("broker %d to see r2 online after the ZooKeeper restart", n.id), func() bool {
			ps, _ := stateOf(n, "r2", 0)
			return ps.Leader == 2
		})
	}
	// A broker death is still handled.
	a.be.Close()
	await(t, "r led by 2 after broker 1 left", func() bool {
		ps, _ := stateOf(b, "r", 0)
		return ps.Leader == 2 && slices.Equal(ps.ISR, []int32{2})
	})

	// ZooKeeper stopped: calls give up with their context; after it is
	// back, the backend keeps working and nothing was removed.
	z.Stop()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	if _, err := b.be.AllocateProducerIDs(short, 2000); err == nil {
		t.Fatal("allocating producer ids with ZooKeeper down succeeded")
	}
	cancel()
	z.Restart()
	c := rawConn(t, z.Addr)
	await(t, "broker 2 still registered after the restart", func() bool {
		ok, _, _ := c.Exists("/brokers/ids/2")
		return ok
	})
	a2 := start(t, z.Addr, 1)
	await(t, "broker 1 to see r and r2", func() bool {
		_, ok1 := a2.apply.topic("r")
		_, ok2 := a2.apply.topic("r2")
		return ok1 && ok2
	})
	if _, ok := b.apply.topic("r"); !ok {
		t.Fatal("broker 2 lost topic r over the ZooKeeper outage")
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.RemoveAll(to); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

// TestSessionExpiry makes ZooKeeper forget broker 2's session (its data is
// rolled back to before the session existed): the backend's reconnect is
// answered "session expired", it opens a new session, registers again,
// re-reads the metadata and keeps working; nothing is removed.
func TestSessionExpiry(t *testing.T) {
	z := zktest.Start(t)
	a := start(t, z.Addr, 1)
	ctx := context.Background()
	if _, err := a.be.CreateTopic(ctx, metadata.TopicSpec{Name: "e", Assignment: [][]int32{{1}}}); err != nil {
		t.Fatal(err)
	}
	c := rawConn(t, z.Addr)
	await(t, "e-0 state written", func() bool {
		ok, _, _ := c.Exists("/brokers/topics/e/partitions/0/state")
		return ok
	})
	data := z.Dir() + "/data"
	saved := t.TempDir() + "/data"
	z.Stop()
	copyDir(t, data, saved)
	z.Restart()

	b := start(t, z.Addr, 2)
	await(t, "broker 2 to see e", func() bool { ps, _ := stateOf(b, "e", 0); return ps.Leader == 1 })
	_, stat, err := c.Get("/brokers/ids/2")
	if err != nil {
		t.Fatal(err)
	}
	oldOwner := stat.EphemeralOwner

	z.Stop()
	copyDir(t, saved, data)
	z.Restart()
	c2 := rawConn(t, z.Addr)
	// The rolled-back server refuses clients that have seen a newer zxid
	// than its own: push its zxid past broker 2's.
	retryOp(t, "creating /bump", func() error {
		_, err := c2.Create("/bump", nil, 0, zk.WorldACL(zk.PermAll))
		return err
	})
	for i := range 200 {
		if _, err := c2.Set("/bump", []byte(fmt.Sprint(i)), -1); err != nil {
			t.Fatal(err)
		}
	}
	await(t, "broker 2 registered again under a new session", func() bool {
		_, stat, err := c2.Get("/brokers/ids/2")
		return err == nil && stat.EphemeralOwner != oldOwner
	})
	if _, ok := b.apply.topic("e"); !ok {
		t.Fatal("broker 2 removed topic e after its session expired")
	}
	// It keeps working: a new topic on broker 2 comes online everywhere.
	if _, err := b.be.CreateTopic(ctx, metadata.TopicSpec{Name: "e2", Assignment: [][]int32{{2, 1}}}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{a, b} {
		await(t, fmt.Sprintf("broker %d to see e2 led by 2", n.id), func() bool {
			ps, _ := stateOf(n, "e2", 0)
			return ps.Leader == 2 && len(ps.ISR) == 2
		})
		await(t, fmt.Sprintf("broker %d to see brokers 1 and 2", n.id), func() bool {
			ids, ctrl := n.apply.view()
			return slices.Equal(ids, []int32{1, 2}) && ctrl > 0
		})
	}
}

func retryOp(t *testing.T, what string, op func() error) {
	t.Helper()
	var err error
	await(t, what, func() bool { err = op(); return err == nil })
}

// Deleted topics leave no watches behind: after a topic is deleted, no
// broker watches for the creation of its znodes (ZooKeeper keeps such a
// watch, and the broker a goroutine waiting on it, until the znode is
// created, which for most deleted topics is never). A topic created again
// under the name is still seen whole.
func TestDeletedTopicsLeaveNoWatches(t *testing.T) {
	z := zktest.Start(t)
	a := start(t, z.Addr, 1)
	b := start(t, z.Addr, 2)
	ctx := context.Background()
	for i := range 5 {
		name := fmt.Sprintf("gone-%d", i)
		if _, err := a.be.CreateTopic(ctx, metadata.TopicSpec{Name: name, Partitions: 3, ReplicationFactor: 2}); err != nil {
			t.Fatal(err)
		}
		for _, n := range []*node{a, b} {
			await(t, fmt.Sprintf("broker %d to see %s online", n.id, name), func() bool {
				ts, ok := n.apply.topic(name)
				return ok && len(ts.Partitions) == 3 && ts.Partitions[2].Leader > 0
			})
		}
		if err := b.be.DeleteTopic(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*node{a, b} {
		await(t, fmt.Sprintf("broker %d to remove every deleted topic", n.id), func() bool {
			for i := range 5 {
				if _, ok := n.apply.topic(fmt.Sprintf("gone-%d", i)); ok {
					return false
				}
			}
			return true
		})
	}
	// The watches on the deleted znodes fired when they were deleted;
	// what is left is the brokers' reads since.
	awaitNoWatches(t, z.Addr, "/gone-")
	// Created again: its partitions' states, written after the topic, are
	// seen by both brokers.
	st, err := b.be.CreateTopic(ctx, metadata.TopicSpec{Name: "gone-0", Partitions: 2, ReplicationFactor: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{a, b} {
		await(t, fmt.Sprintf("broker %d to see gone-0 created again", n.id), func() bool {
			ts, ok := n.apply.topic("gone-0")
			return ok && ts.ID == st.ID && len(ts.Partitions) == 2 && ts.Partitions[0].Leader > 0 && ts.Partitions[1].Leader > 0
		})
	}
}

// awaitNoWatches waits until ZooKeeper (at addr) holds no watch on a path
// containing any of parts, and fails naming those left after 30 s.
func awaitNoWatches(t *testing.T, addr string, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := zktest.FourLetter(addr, "wchc")
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, l := range strings.Split(out, "\n") {
			if slices.ContainsFunc(parts, func(p string) bool { return strings.Contains(l, p) }) {
				left = append(left, strings.TrimSpace(l))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("30s on, %d watches are left on paths containing %q: %v", len(left), parts, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
