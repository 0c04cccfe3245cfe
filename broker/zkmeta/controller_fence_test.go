package zkmeta

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/internal/wait"
	"gregor/internal/zktest"
)

// startLone starts broker 1's backend alone at connect, applying nothing.
func startLone(t *testing.T, connect string) *backend {
	t.Helper()
	be, err := New(Options{
		Connect: connect, SessionTimeout: 4 * time.Second,
		Self:   metadata.BrokerInfo{ID: 1, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9091}}},
		Config: &config.Config{DeleteTopicEnable: true, NumPartitions: 1, DefaultReplicationFactor: 1},
		Log:    zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	b := be.(*backend)
	if err := b.Start(context.Background(), nopApplier{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// rawZK is a ZooKeeper session of the test's own, closed when it ends.
func rawZK(t *testing.T, addr string) *zk.Conn {
	t.Helper()
	raw, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(raw.Close)
	return raw
}

type nopApplier struct{}

func (nopApplier) ApplyTopic(metadata.TopicState)            {}
func (nopApplier) RemoveTopic(string)                        {}
func (nopApplier) ApplyBrokers([]metadata.BrokerInfo, int32) {}

// A controller that lost its place (a successor bumped /controller_epoch
// while it was cut off ZooKeeper, its requests queued until it got a new
// session) must not delete a topic: Kafka's KafkaZkClient deletes a
// topic's znodes, its config and its deletion marker each in a multi that
// checks the controller epoch's znode version (ControllerMovedException).
// Before, the deletion was unfenced: a zombie controller deleted a topic
// its successor had kept or a user had created again.
func TestStaleControllerDeletesNoTopic(t *testing.T) {
	z := zktest.Start(t)
	b := startLone(t, z.Addr+"/fence")
	ctx := context.Background()
	wait.For(t, "broker 1 to be controller", 20*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.isController
	})
	if _, err := b.CreateTopic(ctx, metadata.TopicSpec{Name: "kept", Assignment: [][]int32{{1}}}); err != nil {
		t.Fatal(err)
	}
	raw := rawZK(t, z.Addr)
	wait.For(t, "kept-0's state", 20*time.Second, func() bool {
		ok, _, _ := raw.Exists("/fence/brokers/topics/kept/partitions/0/state")
		return ok
	})
	// A successor's election: /controller_epoch moves on.
	data, stat, err := raw.Get("/fence/controller_epoch")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if _, err := raw.Set("/fence/controller_epoch", []byte(strconv.Itoa(n+1)), stat.Version); err != nil {
		t.Fatal(err)
	}

	b.mu.Lock()
	err = b.deleteTopicNow("kept")
	b.mu.Unlock()
	if !errors.Is(err, errNotController) {
		t.Errorf("the stale controller's deletion: %v, want %v", err, errNotController)
	}
	for _, p := range []string{"/fence/brokers/topics/kept", "/fence/brokers/topics/kept/partitions/0/state", "/fence/config/topics/kept"} {
		if ok, _, err := raw.Exists(p); err != nil || !ok {
			t.Errorf("%s deleted by a stale controller (%v)", p, err)
		}
	}
}

// fencedController starts broker 1's backend as the controller of a
// cluster where broker 2 is registered by hand, with topic el on [1 2]
// and its partition state; it returns the backend and a raw session.
func fencedController(t *testing.T) (*backend, *zk.Conn) {
	t.Helper()
	z := zktest.Start(t)
	b := startLone(t, z.Addr+"/fence")
	ctx := context.Background()
	wait.For(t, "broker 1 to be controller", 20*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.isController
	})
	raw := rawZK(t, z.Addr)
	// A second live broker, registered by hand.
	reg, err := encodeBroker(metadata.BrokerInfo{ID: 2, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9092}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Create("/fence/brokers/ids/2", reg, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "broker 1 to see broker 2", 20*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.brokers[2] != nil
	})
	if _, err := b.CreateTopic(ctx, metadata.TopicSpec{Name: "el", Assignment: [][]int32{{1, 2}}}); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "el-0's state", 20*time.Second, func() bool {
		ok, _, _ := raw.Exists(fencedState)
		return ok
	})
	return b, raw
}

const fencedState = "/fence/brokers/topics/el/partitions/0/state"

// successorElected moves /controller_epoch on, as a successor's election.
func successorElected(t *testing.T, raw *zk.Conn) {
	t.Helper()
	data, stat, err := raw.Get("/fence/controller_epoch")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if _, err := raw.Set("/fence/controller_epoch", []byte(strconv.Itoa(n+1)), stat.Version); err != nil {
		t.Fatal(err)
	}
}

// Only the controller elects leaders on request, and a controller that
// lost its place elects none: Kafka's controller answers NOT_CONTROLLER
// when it is not active (KafkaController.processReplicaLeaderElection)
// and writes each partition state checking the controller epoch's znode
// version. Before, any broker's ElectLeaders wrote the state znode with
// only its version checked, so a deposed controller (its requests queued
// while cut off ZooKeeper) or any other broker moved leaders behind the
// controller's back.
func TestStaleControllerElectsNoLeader(t *testing.T) {
	b, raw := fencedController(t)
	// el-0 led by broker 2, the preferred replica 1 in sync: a preferred
	// election would move it back to 1.
	_, stat, err := raw.Get(fencedState)
	if err != nil {
		t.Fatal(err)
	}
	moved := encodeState(1, 2, 1, []int32{2, 1})
	if _, err := raw.Set(fencedState, moved, stat.Version); err != nil {
		t.Fatal(err)
	}
	successorElected(t, raw)
	res, err := b.electLeaders(metadata.ElectPreferred, map[string][]int32{"el": {0}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res["el"][0]; !errors.Is(got, kerr.NotController) {
		t.Errorf("the stale controller's election of el-0: %v, want NOT_CONTROLLER", got)
	}
	if got, _, err := raw.Get(fencedState); err != nil || string(got) != string(moved) {
		t.Errorf("el-0's state after a stale controller's election: %s (%v), want %s", got, err, moved)
	}
}

// Likewise a reassignment: Kafka's controller answers NOT_CONTROLLER when
// not active (onApiPartitionReassignment) and fences its writes. Before,
// any broker, a deposed controller too, wrote the new assignment and the
// partition states it implied.
func TestStaleControllerReassignsNothing(t *testing.T) {
	b, raw := fencedController(t)
	before, _, err := raw.Get("/fence/brokers/topics/el")
	if err != nil {
		t.Fatal(err)
	}
	successorElected(t, raw)
	res, err := b.alterReassignments(map[string]map[int32][]int32{"el": {0: {2}}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := res["el"][0]; !errors.Is(got, kerr.NotController) {
		t.Errorf("the stale controller's reassignment of el-0: %v, want NOT_CONTROLLER", got)
	}
	if got, _, err := raw.Get("/fence/brokers/topics/el"); err != nil || string(got) != string(before) {
		t.Errorf("el's assignment after a stale controller's reassignment: %s (%v), want %s", got, err, before)
	}
}
