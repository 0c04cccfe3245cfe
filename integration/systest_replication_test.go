package integration

// Apache Kafka's system tests of replication and of security upgrades
// (tests/kafkatest/tests/core/security_rolling_upgrade_test.py and
// replication_test.py), on a three-broker cluster: a running PLAINTEXT
// cluster moved to SASL_SSL one broker restart at a time (open the new
// listener, switch the inter-broker listener, close PLAINTEXT), clients
// producing with acks=all and consuming in a group throughout, and
// nothing acknowledged lost or duplicated.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"gregor/broker/metadata"
	"gregor/internal/brokertest"
	"gregor/internal/sectest"
	"gregor/internal/zktest"
	"gregor/protocol/sasl"
)

// upgradeCluster is a cluster whose brokers are restarted with other
// listener settings; plainPorts and securePorts are each broker's
// PLAINTEXT and SASL_SSL ports.
type upgradeCluster struct {
	*cluster
	certs       *sectest.Certs
	tls         *tls.Config
	plainPorts  map[int32]int
	securePorts map[int32]int
	// base, if set, are each broker's settings for roll (else roll's
	// caller gives them).
	base map[int32]map[string]string
}

const upgradePass = "admin-secret"

// securitySet is a broker's settings for a SASL_SSL listener (PLAIN,
// with the broker's own user admin) beside whatever listeners are set.
func (u *upgradeCluster) securitySet() map[string]string {
	s := u.certs.BrokerStores()
	maps.Copy(s, map[string]string{
		"sasl.enabled.mechanisms":                       "PLAIN",
		"listener.name.sasl_ssl.plain.sasl.jaas.config": sectest.PlainJAAS("admin", upgradePass, map[string]string{"admin": upgradePass, "client": "client-secret"}),
	})
	return s
}

// secureOpts make a client use SASL_SSL (PLAIN as client) on the secure
// ports.
func (u *upgradeCluster) secureOpts() []kgo.Opt {
	var seeds []string
	for _, p := range u.securePorts {
		seeds = append(seeds, "127.0.0.1:"+strconv.Itoa(p))
	}
	return []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.DialTLSConfig(u.tls.Clone()),
		kgo.SASL(plain.Auth{User: "client", Pass: "client-secret"}.AsMechanism())}
}

// roll stops each broker in turn (a controlled shutdown), starts it again
// on the same data with set over the cluster's settings, and waits until
// every ISR of the topics is full again before the next, as Kafka's
// KafkaService.restart_cluster does between restarts. With secure, the
// broker's readiness is checked on its SASL_SSL port (it has no other).
func (u *upgradeCluster) roll(what string, base map[int32]map[string]string, set map[string]string, secure bool, topics ...string) {
	t := u.t
	for id := int32(1); id <= 3; id++ {
		old := u.brokers[id]
		old.Stop()
		s := map[string]string{}
		if base == nil {
			base = u.base
		}
		for k, v := range base[id] {
			s[k] = v
		}
		for k, v := range set {
			s[k] = v
		}
		for k, v := range s {
			s[k] = strings.ReplaceAll(v, "{plain}", strconv.Itoa(u.plainPorts[id]))
			s[k] = strings.ReplaceAll(s[k], "{secure}", strconv.Itoa(u.securePorts[id]))
		}
		opt := brokertest.Options{Dir: old.Dir, Port: u.plainPorts[id], Set: s}
		if secure {
			opt.Port, opt.TLS = u.securePorts[id], u.tls
		}
		u.brokers[id] = brokertest.Start(t, opt)
		for _, topic := range topics {
			u.awaitISR(topic, 3, 60*time.Second)
		}
		t.Logf("%s: broker %d restarted and back in every ISR", what, id)
	}
}

// A PLAINTEXT cluster (PLAINTEXT between brokers too) taken to SASL_SSL
// only by three rolling restarts, as security_rolling_upgrade_test.py
// does (test_rolling_upgrade_phase_one, then
// test_disable_separate_interbroker_listener's closing of the old
// listener): (1) a SASL_SSL listener opened beside PLAINTEXT, (2)
// security.inter.broker.protocol switched to SASL_SSL, (3) PLAINTEXT
// closed. A PLAINTEXT producer (idempotent, acks=all) and group consumer
// run through (1) and (2), a SASL_SSL pair through (2) and (3); every
// acknowledged record is read back once at its offset and consumed by
// the group.
func TestSecurityRollingUpgradePlaintextToSASLSSL(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster tests start ZooKeeper and several brokers")
	}
	certs := sectest.Make(t, t.TempDir())
	if certs.TrustP12 == "" {
		t.Skip("keytool is missing (the test uses a Java PKCS12 truststore)")
	}
	ca, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	c := startCluster(t, 3, nil)
	u := &upgradeCluster{cluster: c, certs: certs, tls: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"},
		plainPorts: map[int32]int{}, securePorts: map[int32]int{}}
	base := map[int32]map[string]string{}
	for id, b := range c.brokers {
		u.plainPorts[id] = b.Port
		u.securePorts[id] = brokertest.FreePort(t)
		base[id] = brokerBase(id, 3, c.zk.Addr+c.chroot)
		maps.Copy(base[id], u.securitySet())
	}
	topic := "security-upgrade"
	const partitions = 3
	c.createTopic(topic, partitions, 3, map[string]*string{"min.insync.replicas": strp("2")})
	topics := []string{topic, "__consumer_offsets"}

	plainW := startWorkload(t, c, topic, 1)
	plainG := startGroupReader(t, c, topic, "upgrade-plain")
	plainW.awaitMore(500, 30*time.Second)
	c.awaitISR("__consumer_offsets", 3, 30*time.Second)

	both := "PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{secure}"
	u.roll("SASL_SSL listener opened", base, map[string]string{"listeners": both, "security.inter.broker.protocol": "PLAINTEXT"}, false, topics...)
	plainW.awaitMore(200, 30*time.Second)

	// From here every broker has a SASL_SSL listener: the harness's own
	// clients (admin, read-back, the group's offset watcher) use it.
	c.clientOpts = u.secureOpts()
	secureW := startWorkload(t, c, topic, 1, u.secureOpts()...)
	secureG := startGroupReader(t, c, topic, "upgrade-secure", u.secureOpts()...)
	secureW.awaitMore(200, 30*time.Second)

	u.roll("inter-broker listener switched to SASL_SSL", base, map[string]string{"listeners": both,
		"security.inter.broker.protocol": "SASL_SSL", "sasl.mechanism.inter.broker.protocol": "PLAIN"}, false, topics...)
	plainW.awaitMore(200, 30*time.Second)
	secureW.awaitMore(200, 30*time.Second)
	plainW.stop(30 * time.Second)
	checkHistory(t, c, plainW, partitions)
	plainG.finish(plainW, 60*time.Second)
	if plainW.failed > 0 {
		t.Errorf("PLAINTEXT producer: %d sends failed: %v", plainW.failed, plainW.errs)
	}

	u.roll("PLAINTEXT closed", base, map[string]string{"listeners": "SASL_SSL://127.0.0.1:{secure}",
		"security.inter.broker.protocol": "SASL_SSL", "sasl.mechanism.inter.broker.protocol": "PLAIN"}, true, topics...)
	secureW.awaitMore(200, 30*time.Second)
	secureW.stop(30 * time.Second)
	checkHistory(t, c, secureW, partitions)
	secureG.finish(secureW, 60*time.Second)
	if secureW.failed > 0 {
		t.Errorf("SASL_SSL producer: %d sends failed: %v", secureW.failed, secureW.errs)
	}
}

// scramUsers writes SCRAM-SHA-256 and SCRAM-SHA-512 credentials of each
// user (name to password) under the cluster's chroot before any broker
// starts, as kafka-configs --zookeeper --alter --add-config does.
func scramUsers(t *testing.T, zkAddr, chroot string, users map[string]string) {
	t.Helper()
	conn, _, err := zk.Connect([]string{zkAddr}, 5*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dir := ""
	for _, part := range strings.Split(chroot+"/config/users", "/")[1:] {
		dir += "/" + part
		if _, err := conn.Create(dir, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatalf("creating %s: %v", dir, err)
		}
	}
	for user, pass := range users {
		cfg := map[string]string{}
		for _, mech := range []string{sasl.ScramSHA256, sasl.ScramSHA512} {
			cred, err := sasl.NewScramCredential(mech, pass, 4096)
			if err != nil {
				t.Fatal(err)
			}
			cfg[mech] = metadata.ScramCredential{Salt: cred.Salt, StoredKey: cred.StoredKey, ServerKey: cred.ServerKey, Iterations: int32(cred.Iterations)}.String()
		}
		data, _ := json.Marshal(map[string]any{"version": 1, "config": cfg})
		if _, err := conn.Create(dir+"/"+user, data, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
}

// startSASLSSLCluster starts three brokers whose only listener is
// SASL_SSL, between brokers too (SCRAM-SHA-512 as broker, SCRAM-SHA-256
// enabled for clients, TLS limited to tlsVersion), as replication_test.py's
// SASL_SSL cases configure Kafka; its harness clients use SCRAM-SHA-256
// as user client.
func startSASLSSLCluster(t *testing.T, tlsVersion string) *cluster {
	t.Helper()
	return startSASLSSLUpgradable(t, tlsVersion).cluster
}

// startSASLSSLUpgradable is startSASLSSLCluster, returned with what roll
// needs to restart its brokers with other settings.
func startSASLSSLUpgradable(t *testing.T, tlsVersion string) *upgradeCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("cluster tests start ZooKeeper and several brokers")
	}
	certs := sectest.Make(t, t.TempDir())
	if certs.TrustP12 == "" {
		t.Skip("keytool is missing (the test uses a Java PKCS12 truststore)")
	}
	ca, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	c := newCluster(t)
	scramUsers(t, c.zk.Addr, c.chroot, map[string]string{"broker": "broker-secret", "client": "client-secret"})
	u := &upgradeCluster{cluster: c, certs: certs, tls: tc, plainPorts: map[int32]int{}, securePorts: map[int32]int{}, base: map[int32]map[string]string{}}
	var seeds []string
	for id := int32(1); id <= 3; id++ {
		port := brokertest.FreePort(t)
		u.securePorts[id] = port
		s := brokerBase(id, 3, c.zk.Addr+c.chroot)
		maps.Copy(s, certs.BrokerStores())
		maps.Copy(s, map[string]string{
			"listeners":                                             "SASL_SSL://127.0.0.1:" + strconv.Itoa(port),
			"security.inter.broker.protocol":                        "SASL_SSL",
			"sasl.enabled.mechanisms":                               "SCRAM-SHA-256,SCRAM-SHA-512",
			"sasl.mechanism.inter.broker.protocol":                  "SCRAM-SHA-512",
			"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": sectest.ScramJAAS("broker", "broker-secret"),
			"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": sectest.ScramJAAS("broker", "broker-secret"),
			"ssl.enabled.protocols":                                 tlsVersion,
		})
		u.base[id] = s
		c.brokers[id] = brokertest.Start(t, brokertest.Options{Port: port, Set: s, TLS: tc})
		seeds = append(seeds, c.brokers[id].Addr)
	}
	c.clientOpts = []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.DialTLSConfig(tc.Clone()),
		kgo.SASL(scram.Auth{User: "client", Pass: "client-secret"}.AsSha256Mechanism())}
	c.awaitBrokers(3, 30*time.Second)
	return u
}

// awaitDeregistered waits until broker id's ephemeral registration is
// gone from ZooKeeper (its session expired), as replication_test.py's
// hard_bounce does before restarting a killed broker.
func (c *cluster) awaitDeregistered(id int32, bound time.Duration) {
	c.t.Helper()
	conn := c.zkConn()
	p := fmt.Sprintf("%s/brokers/ids/%d", c.chroot, id)
	waitFor(c.t, p+" to go (the killed broker's session to expire)", bound, func() bool {
		ok, _, err := conn.Exists(p)
		return err == nil && !ok
	})
}

// replicationWithFailures is replication_test.py's
// test_replication_with_broker_failure: a topic of three partitions, three
// replicas and min.insync.replicas=2; idempotent acks=all producers (one
// per compression codec) and a group consumer run while fail is driven;
// then every acknowledged record is read back once at its offset and was
// consumed.
func replicationWithFailures(t *testing.T, c *cluster, fail func()) {
	t.Helper()
	replicationWithFailuresConfigs(t, c, nil, fail)
}

// replicationWithFailuresConfigs is replicationWithFailures with more
// topic configs.
func replicationWithFailuresConfigs(t *testing.T, c *cluster, configs map[string]*string, fail func()) {
	t.Helper()
	topic := "replication"
	const partitions = 3
	cfg := map[string]*string{"min.insync.replicas": strp("2")}
	for k, v := range configs {
		cfg[k] = v
	}
	c.createTopic(topic, partitions, 3, cfg)
	var ws []*workload
	for _, codec := range []kgo.CompressionCodec{kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		ws = append(ws, startWorkload(t, c, topic, 1, append(c.clientOpts, kgo.ProducerBatchCompression(codec))...))
	}
	g := startGroupReader(t, c, topic, "replication-group")
	for _, w := range ws {
		w.awaitMore(200, 30*time.Second)
	}
	fail()
	for _, w := range ws {
		w.awaitMore(200, 30*time.Second)
	}
	for _, w := range ws {
		w.stop(30 * time.Second)
	}
	all := &workload{acked: make(map[string]ack)}
	for _, w := range ws {
		checkHistory(t, c, w, partitions)
		if w.failed > 0 {
			t.Errorf("%d sends failed: %v", w.failed, w.errs)
		}
		for v, a := range w.acked {
			all.acked[v] = a
		}
	}
	g.finish(all, 60*time.Second)
}

// The leader of partition 0 killed with -9 three times over (each time
// the new leader), each restarted once ZooKeeper dropped its
// registration, on a SASL_SSL-only cluster (TLSv1.2, SCRAM-SHA-512
// between brokers, SCRAM-SHA-256 for clients).
func TestReplicationHardBounceLeaderSASLSSL(t *testing.T) {
	c := startSASLSSLCluster(t, "TLSv1.2")
	refusesTLS(t, c, tls.VersionTLS13, tls.VersionTLS13)
	replicationWithFailures(t, c, func() {
		for i := 0; i < 3; i++ {
			leader := c.leaderOf("replication", 0)
			c.brokers[leader].Kill()
			c.awaitDeregistered(leader, 10*time.Second)
			c.brokers[leader].Restart()
			t.Logf("hard bounce %d: leader %d killed and restarted", i+1, leader)
		}
		c.awaitISR("replication", 3, 60*time.Second)
	})
}

// The controller stopped with SIGTERM and restarted three times over
// (each time the new controller), on a SASL_SSL-only cluster (TLSv1.3).
func TestReplicationCleanBounceControllerSASLSSL(t *testing.T) {
	c := startSASLSSLCluster(t, "TLSv1.3")
	refusesTLS(t, c, tls.VersionTLS12, tls.VersionTLS12)
	replicationWithFailures(t, c, func() {
		for i := 0; i < 3; i++ {
			ctrl := c.controller()
			c.brokers[ctrl].Stop()
			c.brokers[ctrl].Restart()
			c.awaitISR("replication", 3, 60*time.Second)
			t.Logf("clean bounce %d: controller %d stopped and restarted", i+1, ctrl)
		}
	})
}

// refusesTLS checks that no broker completes a handshake with a client
// limited to TLS versions [lo, hi] outside its ssl.enabled.protocols.
func refusesTLS(t *testing.T, c *cluster, lo, hi uint16) {
	t.Helper()
	for id, b := range c.brokers {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", b.Addr,
			&tls.Config{InsecureSkipVerify: true, MinVersion: lo, MaxVersion: hi})
		if err == nil {
			conn.Close()
			t.Errorf("broker %d completed a TLS handshake of version %s outside its ssl.enabled.protocols", id, tls.VersionName(conn.ConnectionState().Version))
		}
	}
}

// security_rolling_upgrade_test.py's test_enable_separate_interbroker_listener
// and test_disable_separate_interbroker_listener on one cluster: from a
// single PLAINTEXT listener, (1) a listener of its own for brokers
// (INTERNAL, SASL_SSL with PLAIN) opened on every broker, (2)
// inter.broker.listener.name switched to it, (3) switched back to
// PLAINTEXT, (4) INTERNAL closed; a PLAINTEXT producer and group consumer
// run throughout and lose nothing.
func TestSecurityRollingUpgradeSeparateInterBrokerListener(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster tests start ZooKeeper and several brokers")
	}
	certs := sectest.Make(t, t.TempDir())
	if certs.TrustP12 == "" {
		t.Skip("keytool is missing (the test uses a Java PKCS12 truststore)")
	}
	c := startCluster(t, 3, nil)
	u := &upgradeCluster{cluster: c, certs: certs, plainPorts: map[int32]int{}, securePorts: map[int32]int{}}
	base := map[int32]map[string]string{}
	for id, b := range c.brokers {
		u.plainPorts[id] = b.Port
		u.securePorts[id] = brokertest.FreePort(t)
		base[id] = brokerBase(id, 3, c.zk.Addr+c.chroot)
		maps.Copy(base[id], certs.BrokerStores())
		maps.Copy(base[id], map[string]string{
			"sasl.enabled.mechanisms":                       "PLAIN",
			"sasl.mechanism.inter.broker.protocol":          "PLAIN",
			"listener.name.internal.plain.sasl.jaas.config": sectest.PlainJAAS("admin", upgradePass, map[string]string{"admin": upgradePass}),
		})
	}
	topic := "separate-listener"
	const partitions = 3
	c.createTopic(topic, partitions, 3, map[string]*string{"min.insync.replicas": strp("2")})
	topics := []string{topic, "__consumer_offsets"}
	w := startWorkload(t, c, topic, 1)
	g := startGroupReader(t, c, topic, "separate-listener")
	w.awaitMore(500, 30*time.Second)
	c.awaitISR("__consumer_offsets", 3, 30*time.Second)

	both := map[string]string{
		"listeners":                      "PLAINTEXT://127.0.0.1:{plain},INTERNAL://127.0.0.1:{secure}",
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:SASL_SSL",
	}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range both {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	u.roll("INTERNAL listener opened", base, with(map[string]string{"inter.broker.listener.name": "PLAINTEXT"}), false, topics...)
	w.awaitMore(200, 30*time.Second)
	u.roll("inter-broker listener switched to INTERNAL", base, with(map[string]string{"inter.broker.listener.name": "INTERNAL"}), false, topics...)
	w.awaitMore(200, 30*time.Second)
	waitFor(t, "followers connected to leaders' INTERNAL listeners", 30*time.Second, func() bool {
		return u.connectionsToSecure() > 0
	})
	u.roll("inter-broker listener switched back to PLAINTEXT", base, with(map[string]string{"inter.broker.listener.name": "PLAINTEXT"}), false, topics...)
	w.awaitMore(200, 30*time.Second)
	if n := u.connectionsToSecure(); n > 0 {
		t.Errorf("%d connections on INTERNAL listeners after every broker was restarted to use PLAINTEXT between brokers", n)
	}
	u.roll("INTERNAL closed", base, map[string]string{"listeners": "PLAINTEXT://127.0.0.1:{plain}"}, false, topics...)
	w.awaitMore(200, 30*time.Second)
	w.stop(30 * time.Second)
	checkHistory(t, c, w, partitions)
	g.finish(w, 60*time.Second)
	if w.failed > 0 {
		t.Errorf("%d sends failed: %v", w.failed, w.errs)
	}
}

// connectionsToSecure counts the established TCP connections (IPv4, as
// /proc/net/tcp lists them) whose local end is one of the brokers' second
// ports: connections their listeners there accepted.
func (u *upgradeCluster) connectionsToSecure() int {
	u.t.Helper()
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		u.t.Skipf("cannot count connections: %v", err)
	}
	ports := map[string]bool{}
	for _, p := range u.securePorts {
		ports[fmt.Sprintf("%04X", p)] = true
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "01" {
			continue
		}
		if _, port, ok := strings.Cut(f[1], ":"); ok && ports[port] {
			n++
		}
	}
	return n
}

// A broker's ZooKeeper registration as Kafka's BrokerIdZNode.encode writes
// it, for tools that read /brokers/ids: the endpoints in
// advertised.listeners' order, and the top-level host and port (for
// clients that know only PLAINTEXT) those of the first endpoint whose
// security protocol is PLAINTEXT, whatever its listener is named.
func TestBrokerRegistrationEndpointsAsAdvertised(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ZooKeeper and a broker")
	}
	z := zktest.Start(t)
	client, internal := brokertest.FreePort(t), brokertest.FreePort(t)
	brokertest.Start(t, brokertest.Options{Port: client, Set: map[string]string{
		"broker.id":                      "7",
		"zookeeper.connect":              z.Addr + "/reg",
		"listeners":                      fmt.Sprintf("INTERNAL://127.0.0.1:%d,CLIENT://127.0.0.1:%d", internal, client),
		"listener.security.protocol.map": "INTERNAL:PLAINTEXT,CLIENT:PLAINTEXT",
		"inter.broker.listener.name":     "INTERNAL",
	}})
	conn, _, err := zk.Connect([]string{z.Addr}, 5*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var reg struct {
		Host      *string           `json:"host"`
		Port      int               `json:"port"`
		Endpoints []string          `json:"endpoints"`
		Protocols map[string]string `json:"listener_security_protocol_map"`
	}
	waitFor(t, "/reg/brokers/ids/7", 10*time.Second, func() bool {
		data, _, err := conn.Get("/reg/brokers/ids/7")
		return err == nil && json.Unmarshal(data, &reg) == nil
	})
	want := []string{fmt.Sprintf("INTERNAL://127.0.0.1:%d", internal), fmt.Sprintf("CLIENT://127.0.0.1:%d", client)}
	if !slices.Equal(reg.Endpoints, want) {
		t.Errorf("endpoints %q, want %q (advertised.listeners' order)", reg.Endpoints, want)
	}
	if reg.Host == nil || *reg.Host != "127.0.0.1" || reg.Port != internal {
		t.Errorf("host %v port %d, want 127.0.0.1 and %d (the first PLAINTEXT endpoint, INTERNAL)", reg.Host, reg.Port, internal)
	}
	if reg.Protocols["INTERNAL"] != "PLAINTEXT" || reg.Protocols["CLIENT"] != "PLAINTEXT" {
		t.Errorf("listener_security_protocol_map %v", reg.Protocols)
	}
}

// security_rolling_upgrade_test.py's
// test_rolling_upgrade_sasl_mechanism_phase_one: a SASL_SSL cluster
// (SCRAM-SHA-512 between brokers, SCRAM-SHA-256 for clients) given PLAIN
// as well by a rolling restart, then PLAIN between brokers by another,
// while a SCRAM-SHA-256 producer and group consumer run; then a PLAIN
// client produces and consumes; nothing acknowledged is lost.
func TestSecurityRollingUpgradeAddSASLMechanism(t *testing.T) {
	u := startSASLSSLUpgradable(t, "TLSv1.2,TLSv1.3")
	c := u.cluster
	topic := "sasl-mechanism-upgrade"
	const partitions = 3
	c.createTopic(topic, partitions, 3, map[string]*string{"min.insync.replicas": strp("2")})
	topics := []string{topic, "__consumer_offsets"}
	w := startWorkload(t, c, topic, 1, c.clientOpts...)
	g := startGroupReader(t, c, topic, "sasl-mechanism-upgrade")
	w.awaitMore(500, 30*time.Second)
	c.awaitISR("__consumer_offsets", 3, 30*time.Second)
	users := sectest.PlainJAAS("broker", "broker-secret", map[string]string{"broker": "broker-secret", "plain-client": "plain-secret"})
	u.roll("PLAIN enabled", nil, map[string]string{"sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN",
		"listener.name.sasl_ssl.plain.sasl.jaas.config": users}, true, topics...)
	w.awaitMore(200, 30*time.Second)
	u.roll("PLAIN between brokers", nil, map[string]string{"sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN",
		"listener.name.sasl_ssl.plain.sasl.jaas.config": users, "sasl.mechanism.inter.broker.protocol": "PLAIN"}, true, topics...)
	w.awaitMore(200, 30*time.Second)
	w.stop(30 * time.Second)
	checkHistory(t, c, w, partitions)
	g.finish(w, 60*time.Second)
	if w.failed > 0 {
		t.Errorf("%d sends failed: %v", w.failed, w.errs)
	}
	plainOpts := append(append([]kgo.Opt{}, c.clientOpts...), kgo.SASL(plain.Auth{User: "plain-client", Pass: "plain-secret"}.AsMechanism()))
	pw := startWorkload(t, c, topic, 1, plainOpts...)
	pw.awaitMore(200, 30*time.Second)
	pw.stop(30 * time.Second)
	checkHistory(t, c, pw, partitions)
	if pw.failed > 0 {
		t.Errorf("PLAIN producer: %d sends failed: %v", pw.failed, pw.errs)
	}
}

// replication_test.py with SSL as client and inter-broker protocol, and
// ssl.client.auth=required as kafkatest's SecurityConfig sets it: every
// broker presents its keystore's certificate when it connects to another
// as a follower; the leader of partition 0 is killed with -9 twice over
// and restarted once ZooKeeper dropped it, under the compressed
// idempotent producers, and nothing acknowledged is lost.
func TestReplicationHardBounceLeaderSSLClientAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster tests start ZooKeeper and several brokers")
	}
	certs := sectest.Make(t, t.TempDir())
	if certs.TrustP12 == "" {
		t.Skip("keytool is missing (the test uses a Java PKCS12 truststore)")
	}
	ca, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}}
	c := newCluster(t)
	var seeds []string
	for id := int32(1); id <= 3; id++ {
		port := brokertest.FreePort(t)
		s := brokerBase(id, 3, c.zk.Addr+c.chroot)
		maps.Copy(s, certs.BrokerStores())
		maps.Copy(s, map[string]string{
			"listeners":                      "SSL://127.0.0.1:" + strconv.Itoa(port),
			"security.inter.broker.protocol": "SSL",
			"ssl.client.auth":                "required",
		})
		c.brokers[id] = brokertest.Start(t, brokertest.Options{Port: port, Set: s, TLS: tc})
		seeds = append(seeds, c.brokers[id].Addr)
	}
	c.clientOpts = []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.DialTLSConfig(tc.Clone())}
	c.awaitBrokers(3, 30*time.Second)
	// A client without a certificate is refused.
	anon, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", seeds[0], &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err == nil {
		anon.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = anon.Read(make([]byte, 1)) // TLS 1.3: the refusal comes after the client's Finished
		anon.Close()
	}
	if err == nil {
		t.Errorf("a client without a certificate was accepted with ssl.client.auth=required")
	}
	replicationWithFailures(t, c, func() {
		for i := 0; i < 2; i++ {
			leader := c.leaderOf("replication", 0)
			c.brokers[leader].Kill()
			c.awaitDeregistered(leader, 10*time.Second)
			c.brokers[leader].Restart()
			t.Logf("hard bounce %d: leader %d killed and restarted", i+1, leader)
		}
		c.awaitISR("replication", 3, 60*time.Second)
	})
}

// A topic with compression.type=zstd, so the leader recompresses what the
// gzip, snappy, lz4 and zstd producers send and followers copy its
// batches; the leader of partition 0 is stopped and killed by turns and
// nothing acknowledged is lost, duplicated or unreadable on the new
// leaders.
func TestReplicationBounceLeaderTopicCompression(t *testing.T) {
	c := startCluster(t, 3, nil)
	replicationWithFailuresConfigs(t, c, map[string]*string{"compression.type": strp("zstd")}, func() {
		for i := 0; i < 2; i++ {
			leader := c.leaderOf("replication", 0)
			if i%2 == 0 {
				c.brokers[leader].Stop()
			} else {
				c.brokers[leader].Kill()
				c.awaitDeregistered(leader, 10*time.Second)
			}
			c.brokers[leader].Restart()
			c.awaitISR("replication", 3, 60*time.Second)
			t.Logf("bounce %d: leader %d stopped and restarted", i+1, leader)
		}
	})
}

// A broker told to advertise 0.0.0.0 refuses to start with Kafka's
// KafkaConfig message, and registers nothing: others would dial the
// wildcard address.
func TestAdvertisedWildcardAddressRefused(t *testing.T) {
	c := startCluster(t, 1, nil)
	b := c.brokers[1]
	b.Stop()
	code, logs := b.Refused(map[string]string{"advertised.listeners": fmt.Sprintf("PLAINTEXT://0.0.0.0:%d", b.Port)}, 30*time.Second)
	if code == 0 || !strings.Contains(logs, "advertised.listeners cannot use the nonroutable meta-address 0.0.0.0. Use a routable IP address.") {
		t.Fatalf("advertising 0.0.0.0: exit code %d, log:\n%s", code, logs)
	}
	ok, _, err := c.zkConn().Exists(c.chroot + "/brokers/ids/1")
	if err != nil || ok {
		t.Fatalf("/brokers/ids/1 after the refused start: exists %v, %v", ok, err)
	}
}

// advertised.listeners with a blank host registers the machine's name, as
// Kafka's KafkaServer.createBrokerInfo does, not an empty host that other
// brokers and clients would dial as their own loopback.
func TestAdvertisedBlankHostRegistersHostname(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ZooKeeper and a broker")
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skip("no hostname")
	}
	z := zktest.Start(t)
	port := brokertest.FreePort(t)
	brokertest.Start(t, brokertest.Options{Port: port, Set: map[string]string{
		"broker.id":            "3",
		"zookeeper.connect":    z.Addr + "/blank",
		"advertised.listeners": fmt.Sprintf("PLAINTEXT://:%d", port),
	}})
	conn, _, err := zk.Connect([]string{z.Addr}, 5*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var reg struct {
		Host      *string  `json:"host"`
		Endpoints []string `json:"endpoints"`
	}
	waitFor(t, "/blank/brokers/ids/3", 10*time.Second, func() bool {
		data, _, err := conn.Get("/blank/brokers/ids/3")
		return err == nil && json.Unmarshal(data, &reg) == nil
	})
	want := fmt.Sprintf("PLAINTEXT://%s:%d", host, port)
	if len(reg.Endpoints) != 1 || reg.Endpoints[0] != want || reg.Host == nil || *reg.Host != host {
		t.Fatalf("registered endpoints %q host %v, want %s", reg.Endpoints, reg.Host, want)
	}
}
