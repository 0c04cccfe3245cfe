package integration

// A three-broker cluster whose only listeners are SASL_SSL (SCRAM-SHA-256
// between brokers and for clients, certificates made by openssl):
// replication, failover after a killed leader, SCRAM users kept
// consistent on every broker through broker and ZooKeeper restarts, and a
// broker with a wrong inter-broker password that fails loudly and is never
// taken into the ISR.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"gregor/broker/metadata"
	"gregor/internal/brokertest"
	"gregor/internal/sectest"
	"gregor/internal/zktest"
	"gregor/protocol/sasl"
)

const (
	secAdminPass = "admin-secret"
)

type secureCluster struct {
	t       *testing.T
	zk      *zktest.ZK
	chroot  string
	certs   *sectest.Certs
	tls     *tls.Config
	brokers map[int32]*brokertest.Broker
}

func (c *secureCluster) set(id int32, port int, adminPass string) map[string]string {
	jaas := sectest.ScramJAAS("admin", adminPass)
	s := brokerBase(id, 3, c.zk.Addr+c.chroot)
	maps.Copy(s, c.certs.BrokerStores())
	maps.Copy(s, map[string]string{
		"listeners":                                             "SASL_SSL://127.0.0.1:" + strconv.Itoa(port),
		"security.inter.broker.protocol":                        "SASL_SSL",
		"sasl.enabled.mechanisms":                               "SCRAM-SHA-256",
		"sasl.mechanism.inter.broker.protocol":                  "SCRAM-SHA-256",
		"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": jaas,
	})
	return s
}

// bootstrapAdmin writes the admin's SCRAM credential into ZooKeeper before
// any broker starts, as kafka-configs --zookeeper does for Kafka.
func (c *secureCluster) bootstrapAdmin() {
	conn, _, err := zk.Connect([]string{c.zk.Addr}, 5*time.Second, zk.WithLogInfo(false))
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close()
	cred, err := sasl.NewScramCredential(sasl.ScramSHA256, secAdminPass, 4096)
	if err != nil {
		c.t.Fatal(err)
	}
	mc := metadata.ScramCredential{Salt: cred.Salt, StoredKey: cred.StoredKey, ServerKey: cred.ServerKey, Iterations: int32(cred.Iterations)}
	p := c.chroot + "/config/users/admin"
	dir := ""
	for _, part := range strings.Split(path.Dir(p), "/")[1:] {
		dir += "/" + part
		if _, err := conn.Create(dir, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			c.t.Fatalf("creating %s: %v", dir, err)
		}
	}
	data := fmt.Sprintf(`{"version":1,"config":{"SCRAM-SHA-256":%q}}`, mc.String())
	if _, err := conn.Create(p, []byte(data), 0, zk.WorldACL(zk.PermAll)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *secureCluster) start(id int32, port int, dir, adminPass string) *brokertest.Broker {
	b := brokertest.Start(c.t, brokertest.Options{Port: port, Dir: dir, Set: c.set(id, port, adminPass), TLS: c.tls})
	c.brokers[id] = b
	return b
}

func (c *secureCluster) client(user, pass string, seeds []string, opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.DialTLSConfig(c.tls.Clone()),
		kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism())}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

func (c *secureCluster) seeds() []string {
	var out []string
	for _, b := range c.brokers {
		out = append(out, b.Addr)
	}
	return out
}

// loginOK reports whether user/pass authenticates on one broker.
func (c *secureCluster) loginOK(addr, user, pass string) error {
	cl := c.client(user, pass, []string{addr}, kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest())
	return err
}

func TestSecureClusterSASLSSL(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster tests start ZooKeeper and several brokers")
	}
	c := &secureCluster{t: t, zk: zktest.Start(t), chroot: "/gregor-sec", brokers: map[int32]*brokertest.Broker{}}
	c.certs = sectest.Make(t, t.TempDir())
	if c.certs.TrustP12 == "" {
		t.Skip("keytool is missing (the test uses a Java PKCS12 truststore)")
	}
	ca, _ := os.ReadFile(c.certs.CA)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	c.tls = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	c.bootstrapAdmin()
	ports := map[int32]int{}
	for id := int32(1); id <= 3; id++ {
		ports[id] = brokertest.FreePort(t)
		c.start(id, ports[id], "", secAdminPass)
	}
	admin := c.client("admin", secAdminPass, c.seeds())
	defer admin.Close()
	adm := kadm.NewClient(admin)
	waitFor(t, "3 brokers in metadata over SASL_SSL", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m, err := adm.Metadata(ctx)
		return err == nil && len(m.Brokers) == 3
	})

	// A user made through one broker can log in on every broker within a second.
	alterAlice := func(pass string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 8192, Password: pass}})
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatalf("AlterUserSCRAMs: %v", err)
		}
	}
	everyBroker := func(what string, pass string, ok bool) {
		start := time.Now()
		for id, b := range c.brokers {
			waitFor(t, fmt.Sprintf("%s on broker %d", what, id), 5*time.Second, func() bool {
				err := c.loginOK(b.Addr, "alice", pass)
				return (err == nil) == ok && (ok || errors.Is(err, kerr.SaslAuthenticationFailed))
			})
		}
		t.Logf("%s on every broker after %v", what, time.Since(start))
	}
	alterAlice("alice-1")
	everyBroker("alice logs in with her first password", "alice-1", true)

	// Replication and failover over SASL_SSL.
	topic := "sec-replicated"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 in-sync replicas over SASL_SSL", 30*time.Second, func() bool { return isrOf(adm, topic) == 3 })
	producer := c.client("alice", "alice-1", c.seeds(), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	defer producer.Close()
	produce := func(from, n int) {
		for i := from; i < from+n; i++ {
			if err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(0, 50)
	leader := leaderOfTopic(t, adm, topic)
	c.brokers[leader].Kill()
	t.Logf("killed leader %d", leader)
	produce(50, 50)
	c.start(leader, ports[leader], c.brokers[leader].Dir, secAdminPass)
	waitFor(t, "the restarted broker back in the ISR", 60*time.Second, func() bool { return isrOf(adm, topic) == 3 })
	consumeAll(t, c.client("alice", "alice-1", c.seeds(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), 100)

	// ZooKeeper restarts; a changed password reaches every broker.
	c.zk.Restart()
	alterAliceEventually := func(pass string) {
		waitFor(t, "AlterUserScramCredentials after the ZooKeeper restart", 30*time.Second, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 8192, Password: pass}})
			return err == nil && res.Error() == nil
		})
	}
	alterAliceEventually("alice-2")
	everyBroker("alice's new password", "alice-2", true)
	everyBroker("alice's old password refused", "alice-1", false)
	for id, b := range c.brokers {
		cl := c.client("admin", secAdminPass, []string{b.Addr})
		d, err := kadm.NewClient(cl).DescribeUserSCRAMs(ctx, "alice")
		cl.Close()
		if err != nil || d["alice"].Err != nil || len(d["alice"].CredInfos) != 1 || d["alice"].CredInfos[0].Iterations != 8192 {
			t.Fatalf("DescribeUserScramCredentials on broker %d: %v %+v", id, err, d)
		}
	}

	// A broker with a wrong inter-broker password fails loudly and stays
	// out of the ISR; with the right one it comes back.
	var follower int32
	for id := range c.brokers {
		if id != leaderOfTopic(t, adm, topic) {
			follower = id
			break
		}
	}
	dir := c.brokers[follower].Dir
	c.brokers[follower].Kill()
	waitFor(t, "the ISR without the stopped follower", 30*time.Second, func() bool { return isrOf(adm, topic) == 2 })
	wrong := brokertest.Start(t, brokertest.Options{Port: ports[follower], Dir: dir, Set: c.set(follower, ports[follower], "not-the-password"), TLS: c.tls})
	waitFor(t, "an inter-broker authentication error in the log of the broker with the wrong password", 30*time.Second, func() bool {
		return strings.Contains(wrong.Logs(1<<30), "inter-broker authentication failed")
	})
	produce(100, 10)
	if n := isrOf(adm, topic); n != 2 {
		t.Fatalf("ISR of %d with a broker that cannot authenticate", n)
	}
	wrong.Kill()
	c.start(follower, ports[follower], dir, secAdminPass)
	waitFor(t, "the follower back in the ISR with the right password", 60*time.Second, func() bool { return isrOf(adm, topic) == 3 })
}

func isrOf(adm *kadm.Client, topic string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	m, err := adm.Metadata(ctx, topic)
	if err != nil {
		return -1
	}
	p, ok := m.Topics[topic].Partitions[0]
	if !ok || p.Leader < 0 {
		return -1
	}
	return len(p.ISR)
}

func leaderOfTopic(t *testing.T, adm *kadm.Client, topic string) int32 {
	var leader int32 = -1
	waitFor(t, "a leader of "+topic, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		m, err := adm.Metadata(ctx, topic)
		if err != nil {
			return false
		}
		leader = m.Topics[topic].Partitions[0].Leader
		return leader >= 0
	})
	return leader
}

func consumeAll(t *testing.T, cl *kgo.Client, n int) {
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	seen := map[string]bool{}
	for len(seen) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", len(seen), n)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	for i := 0; i < n; i++ {
		if !seen[strconv.Itoa(i)] {
			t.Fatalf("record %d lost", i)
		}
	}
}
