// Package integration runs Gregor clusters on a real ZooKeeper: N broker
// processes on loopback that the tests kill (-9), restart and pause, and a
// history checker that proves nothing acknowledged with acks=all was lost.
package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
	"gregor/internal/wait"
	"gregor/internal/zktest"
)

// cluster is a ZooKeeper and its brokers (ids 1..n).
type cluster struct {
	t       *testing.T
	zk      *zktest.ZK
	brokers map[int32]*brokertest.Broker
	chroot  string
	// clientOpts, if set, go after the seeds in every client the harness
	// makes (admin, read-back): other seeds and a security protocol for a
	// cluster without a PLAINTEXT listener.
	clientOpts []kgo.Opt
}

// startCluster starts ZooKeeper and n brokers with extra settings.
func startCluster(t *testing.T, n int, set map[string]string) *cluster {
	t.Helper()
	return startClusterEach(t, n, set, nil)
}

// startClusterEach is startCluster with settings of each broker's own as
// well: each, if not nil, returns extra keys for broker id, whose data
// directory is dir (several log.dirs under it, say).
func startClusterEach(t *testing.T, n int, set map[string]string, each func(id int32, dir string) map[string]string) *cluster {
	t.Helper()
	return startClusterOpt(t, n, set, each, false)
}

// startClusterOpt is startClusterEach; with faults, the brokers run the
// binary with fault injection (brokertest.FaultBinary).
func startClusterOpt(t *testing.T, n int, set map[string]string, each func(id int32, dir string) map[string]string, faults bool) *cluster {
	t.Helper()
	return startClusterVia(t, n, set, each, faults, nil)
}

// startClusterVia is startClusterOpt; with via, each broker reaches
// ZooKeeper at the address via returns for its id and ZooKeeper's own
// address (a proxy in front of it, say).
func startClusterVia(t *testing.T, n int, set map[string]string, each func(id int32, dir string) map[string]string, faults bool, via func(id int32, zkAddr string) string) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("cluster tests start ZooKeeper and several brokers")
	}
	c := newCluster(t)
	for id := int32(1); id <= int32(n); id++ {
		zkAddr := c.zk.Addr
		if via != nil {
			zkAddr = via(id, zkAddr)
		}
		s := brokerBase(id, n, zkAddr+c.chroot)
		for k, v := range set {
			s[k] = v
		}
		dir := t.TempDir()
		if each != nil {
			for k, v := range each(id, dir) {
				s[k] = v
			}
		}
		c.brokers[id] = brokertest.Start(t, brokertest.Options{Dir: dir, Set: s, Faults: faults})
	}
	c.awaitBrokers(n, 30*time.Second)
	return c
}

// newCluster starts ZooKeeper for a cluster whose brokers the caller
// starts, under a chroot of its own.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	var r [4]byte
	rand.Read(r[:])
	return &cluster{t: t, zk: zktest.Start(t), brokers: make(map[int32]*brokertest.Broker), chroot: "/gregor-" + hex.EncodeToString(r[:])}
}

// brokerBase is broker id's settings in a cluster of n on zkConnect:
// replication factors of up to 3, small internal topics, a quick ZooKeeper
// session and ISR shrink, no initial rebalance delay.
func brokerBase(id int32, n int, zkConnect string) map[string]string {
	rf := strconv.Itoa(min(n, 3))
	return map[string]string{
		"broker.id":                                strconv.Itoa(int(id)),
		"zookeeper.connect":                        zkConnect,
		"zookeeper.session.timeout.ms":             "4000",
		"default.replication.factor":               rf,
		"offsets.topic.replication.factor":         rf,
		"transaction.state.log.replication.factor": rf,
		"offsets.topic.num.partitions":             "3",
		"transaction.state.log.num.partitions":     "3",
		"replica.lag.time.max.ms":                  "3000",
		"group.initial.rebalance.delay.ms":         "0",
	}
}

// zkConn is a session of the test's own on the cluster's ZooKeeper (paths
// without the chroot), closed when the test ends.
func (c *cluster) zkConn() *zk.Conn {
	c.t.Helper()
	conn, _, err := zk.Connect([]string{c.zk.Addr}, 5*time.Second, zk.WithLogInfo(false))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(conn.Close)
	return conn
}

// seeds lists the addresses of every broker but the paused ones: a client
// whose first request reached a paused broker would wait out its timeout
// (a stopped process's kernel still accepts connections).
func (c *cluster) seeds() []string {
	var out []string
	for _, b := range c.brokers {
		if !b.Paused() {
			out = append(out, b.Addr)
		}
	}
	return out
}

// admin returns an admin client on the cluster.
func (c *cluster) admin() (*kadm.Client, func()) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.seeds()...)}, c.clientOpts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	return kadm.NewClient(cl), cl.Close
}

// waitFor is wait.For: poll with a bound, say what was awaited.
var waitFor = wait.For

// awaitBrokers waits until metadata lists n live brokers.
func (c *cluster) awaitBrokers(n int, bound time.Duration) {
	c.t.Helper()
	adm, done := c.admin()
	defer done()
	waitFor(c.t, fmt.Sprintf("%d brokers in metadata", n), bound, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m, err := adm.Metadata(ctx)
		return err == nil && len(m.Brokers) == n
	})
}

// createTopic creates a topic and waits until every partition has a
// leader and a full ISR.
func (c *cluster) createTopic(topic string, partitions int32, rf int16, configs map[string]*string) {
	c.t.Helper()
	adm, done := c.admin()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, partitions, rf, configs, topic); err != nil {
		c.t.Fatalf("creating %s: %v", topic, err)
	}
	c.awaitISR(topic, int(rf), 30*time.Second)
	c.awaitDescribedEverywhere(topic, partitions, 30*time.Second)
}

// awaitDescribedEverywhere waits until every running broker (paused ones
// aside) describes topic with its partitions, each with a leader: the
// brokers learn a new topic a moment apart, as in Kafka, and describe it
// only once they know all its partitions.
func (c *cluster) awaitDescribedEverywhere(topic string, partitions int32, bound time.Duration) {
	c.t.Helper()
	last := "no broker asked"
	if !wait.Until(bound, func() bool {
		for id, b := range c.brokers {
			if b.Pid() == 0 || b.Paused() {
				continue
			}
			n, err := partitionsLedOn(b.Addr, topic, c.clientOpts...)
			if err != nil || n != partitions {
				last = fmt.Sprintf("broker %d: %d partitions with leaders, %v", id, n, err)
				return false
			}
		}
		return true
	}) {
		c.t.Fatalf("timed out after %v waiting for every broker to describe %s with %d partitions; last: %s", bound, topic, partitions, last)
	}
}

// topicMetadataOn is broker b's Metadata answer for topic.
func topicMetadataOn(ctx context.Context, b *kgo.Broker, topic string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false // kmsg's default is true
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := b.Request(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// partitionsLedOn asks the broker at addr (with the cluster's client
// options opts) how many partitions of topic it describes with a leader.
// Its seed handle reaches that address whatever the broker's id.
func partitionsLedOn(addr, topic string, opts ...kgo.Opt) (int32, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := topicMetadataOn(ctx, cl.SeedBrokers()[0], topic)
	if err != nil {
		return 0, err
	}
	var n int32
	for _, st := range resp.Topics {
		if st.ErrorCode != 0 {
			return 0, kerr.ErrorForCode(st.ErrorCode)
		}
		for _, sp := range st.Partitions {
			if sp.Leader >= 0 {
				n++
			}
		}
	}
	return n, nil
}

// partitionState is a partition as metadata shows it.
type partitionState struct {
	leader int32
	epoch  int32
	isr    []int32
}

// describe returns the partitions of a topic from metadata.
func (c *cluster) describe(topic string) (map[int32]partitionState, error) {
	adm, done := c.admin()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	m, err := adm.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	td, ok := m.Topics[topic]
	if !ok || td.Err != nil {
		return nil, fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	out := make(map[int32]partitionState)
	for p, pd := range td.Partitions {
		out[p] = partitionState{leader: pd.Leader, epoch: pd.LeaderEpoch, isr: pd.ISR}
	}
	return out, nil
}

// awaitISR waits until every partition of topic has a leader and an ISR
// of size isr.
func (c *cluster) awaitISR(topic string, isr int, bound time.Duration) {
	c.t.Helper()
	waitFor(c.t, fmt.Sprintf("every partition of %s to have a leader and %d in-sync replicas", topic, isr), bound, func() bool {
		ps, err := c.describe(topic)
		if err != nil || len(ps) == 0 {
			return false
		}
		for _, p := range ps {
			if p.leader < 0 || len(p.isr) != isr {
				return false
			}
		}
		return true
	})
}

// leaderOf returns the leader of a partition.
func (c *cluster) leaderOf(topic string, partition int32) int32 {
	c.t.Helper()
	var leader int32 = -1
	waitFor(c.t, fmt.Sprintf("a leader for %s-%d", topic, partition), 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		if err != nil {
			return false
		}
		leader = ps[partition].leader
		return leader >= 0
	})
	return leader
}

// controller returns the controller's id.
func (c *cluster) controller() int32 {
	c.t.Helper()
	adm, done := c.admin()
	defer done()
	var id int32 = -1
	waitFor(c.t, "a controller", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m, err := adm.Metadata(ctx)
		if err != nil {
			return false
		}
		id = m.Controller
		return id >= 0 && c.brokers[id] != nil
	})
	return id
}
