package compat

// TLS and SASL against a real broker process with a listener of each
// protocol (PLAINTEXT, SSL with client certificates requested, SASL_PLAINTEXT
// and SASL_SSL with PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER),
// certificates made by openssl in the test. SCRAM users are created with
// AlterUserScramCredentials through the PLAINTEXT listener. These tests
// start their own broker, so they skip when COMPAT_BOOTSTRAP is set.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	kgosasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"gregor/internal/brokertest"
	"gregor/internal/sectest"
	"gregor/protocol/sasl"
)

// The users of the secure broker.
const (
	secAdmin     = "admin" // PLAIN (JAAS) and SCRAM: the broker's own user
	secAdminPass = "admin-secret"
	secAlice     = "alice" // PLAIN (JAAS) and SCRAM
	secAlicePass = "alice-secret"
)

// secureBroker is a broker with one listener of each protocol.
type secureBroker struct {
	b     *brokertest.Broker
	certs *sectest.Certs
	addr  map[string]string // by protocol
	// metrics is the broker's metrics listener (host:port).
	metrics string
}

var (
	secOnce   sync.Once
	secShared *secureBroker
)

// secureSet is the configuration of a broker with a listener of each
// protocol on the given ports.
func secureSet(c *sectest.Certs, ports map[string]int) map[string]string {
	var ls []string
	for _, p := range []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"} {
		ls = append(ls, p+"://127.0.0.1:"+strconv.Itoa(ports[p]))
	}
	set := map[string]string{
		"listeners":               strings.Join(ls, ","),
		"ssl.keystore.type":       "PKCS12",
		"ssl.keystore.location":   c.BrokerP12,
		"ssl.keystore.password":   sectest.Password,
		"ssl.truststore.type":     "PEM",
		"ssl.truststore.location": c.CA,
		"ssl.client.auth":         "requested",
		// CN=client,OU=test,O=gregor becomes "client".
		"ssl.principal.mapping.rules":      "RULE:^CN=([^,]+),OU=test,.*$/$1/L,DEFAULT",
		"sasl.enabled.mechanisms":          "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
		"group.initial.rebalance.delay.ms": "0",
		"gregor.log.level":                 "debug",
	}
	for _, l := range []string{"sasl_plaintext", "sasl_ssl"} {
		set["listener.name."+l+".plain.sasl.jaas.config"] = sectest.PlainJAAS(secAdmin, secAdminPass, map[string]string{secAdmin: secAdminPass, secAlice: secAlicePass})
		set["listener.name."+l+".scram-sha-256.sasl.jaas.config"] = sectest.ScramJAAS(secAdmin, secAdminPass)
		set["listener.name."+l+".scram-sha-512.sasl.jaas.config"] = sectest.ScramJAAS(secAdmin, secAdminPass)
		set["listener.name."+l+".oauthbearer.sasl.jaas.config"] = sectest.OAuthJAAS(secAdmin)
	}
	return set
}

// startSecure returns the package's secure broker, starting it once.
func startSecure(t *testing.T) *secureBroker {
	t.Helper()
	if !usingGregor() {
		t.Skip("COMPAT_BOOTSTRAP is set: the security tests start their own broker")
	}
	if testing.Short() {
		t.Skip("-short: starts a gregor process")
	}
	secOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gregor-sec-")
		if err != nil {
			t.Fatal(err)
		}
		c := sectest.Make(t, dir)
		ports := map[string]int{}
		addr := map[string]string{}
		for _, p := range []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"} {
			ports[p] = brokertest.FreePort(t)
			addr[p] = "127.0.0.1:" + strconv.Itoa(ports[p])
		}
		set := secureSet(c, ports)
		metrics := "127.0.0.1:" + strconv.Itoa(brokertest.FreePort(t))
		set["gregor.metrics.listener"] = metrics
		b := brokertest.StartShared(&sharedTB{TB: t}, brokertest.Options{Port: ports["PLAINTEXT"], Set: set})
		secShared = &secureBroker{b: b, certs: c, addr: addr, metrics: metrics}
		secBrokers = append(secBrokers, b)
		createScramUsers(t, addr["PLAINTEXT"])
	})
	if secShared == nil {
		t.Fatal("the secure broker failed to start")
	}
	return secShared
}

var secBrokers []*brokertest.Broker

// createScramUsers creates admin and alice for both SCRAM mechanisms.
func createScramUsers(t *testing.T, addr string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// One request per mechanism: Kafka 4 alters a user once per request.
	for _, m := range []kadm.ScramMechanism{kadm.ScramSha256, kadm.ScramSha512} {
		var ups []kadm.UpsertSCRAM
		for user, pass := range map[string]string{secAdmin: secAdminPass, secAlice: secAlicePass} {
			ups = append(ups, kadm.UpsertSCRAM{User: user, Mechanism: m, Iterations: 4096, Password: pass})
		}
		res, err := adm.AlterUserSCRAMs(ctx, nil, ups)
		if err != nil {
			t.Fatalf("AlterUserSCRAMs: %v", err)
		}
		if err := res.Error(); err != nil {
			t.Fatalf("AlterUserSCRAMs: %v", err)
		}
	}
}

// caPool trusts the test CA.
func (s *secureBroker) caPool(t testing.TB) *x509.CertPool {
	pem, err := os.ReadFile(s.certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return pool
}

func (s *secureBroker) tlsConfig(t testing.TB, clientCert bool) *tls.Config {
	tc := &tls.Config{RootCAs: s.caPool(t), ServerName: "127.0.0.1"}
	if clientCert {
		cert, err := tls.LoadX509KeyPair(s.certs.ClientCert, s.certs.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc
}

func scramMech(m string, user, pass string) kgosasl.Mechanism {
	a := scram.Auth{User: user, Pass: pass}
	if m == sasl.ScramSHA512 {
		return a.AsSha512Mechanism()
	}
	return a.AsSha256Mechanism()
}

// roundTrip produces n records to a new topic through opts and reads them
// back through the same listener.
func roundTrip(t *testing.T, admin string, opts []kgo.Opt, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := randomName("sec")
	secCreateTopic(t, admin, topic, 1)
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(topic), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < n; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("v%d", i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records before %v", got, n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			if want := fmt.Sprintf("v%d", got); string(r.Value) != want {
				t.Fatalf("record %d: %q, want %q", got, r.Value, want)
			}
			got++
		})
	}
}

// secCreateTopic creates a topic through a plaintext address.
func secCreateTopic(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
}

// TestSecurityFranzGo: franz-go produces and consumes over TLS, mutual
// TLS, and SASL PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER over
// SASL_PLAINTEXT and SASL_SSL.
func TestSecurityFranzGo(t *testing.T) {
	s := startSecure(t)
	admin := s.addr["PLAINTEXT"]
	t.Run("TLS", func(t *testing.T) {
		roundTrip(t, admin, []kgo.Opt{kgo.SeedBrokers(s.addr["SSL"]), kgo.DialTLSConfig(s.tlsConfig(t, false))}, 20)
	})
	t.Run("mTLS", func(t *testing.T) {
		roundTrip(t, admin, []kgo.Opt{kgo.SeedBrokers(s.addr["SSL"]), kgo.DialTLSConfig(s.tlsConfig(t, true))}, 20)
		// The principal comes from the certificate through the mapping rules.
		waitLog(t, s.b, `"principal":"User:client","mechanism":"SSL"`)
	})
	for _, proto := range []string{"SASL_PLAINTEXT", "SASL_SSL"} {
		mechs := map[string]kgosasl.Mechanism{
			sasl.Plain:       plain.Auth{User: secAlice, Pass: secAlicePass}.AsMechanism(),
			sasl.ScramSHA256: scramMech(sasl.ScramSHA256, secAlice, secAlicePass),
			sasl.ScramSHA512: scramMech(sasl.ScramSHA512, secAlice, secAlicePass),
			sasl.OAuthBearer: oauth.Auth{Token: sasl.UnsecuredToken(secAlice, time.Now(), time.Hour)}.AsMechanism(),
		}
		for name, m := range mechs {
			t.Run(proto+"/"+name, func(t *testing.T) {
				opts := []kgo.Opt{kgo.SeedBrokers(s.addr[proto]), kgo.SASL(m)}
				if proto == "SASL_SSL" {
					opts = append(opts, kgo.DialTLSConfig(s.tlsConfig(t, false)))
				}
				roundTrip(t, admin, opts, 20)
			})
		}
	}
	waitLog(t, s.b, `"principal":"User:alice","mechanism":"SCRAM-SHA-512"`)
}

// waitLog waits (up to 10 s) for a broker log line containing s.
func waitLog(t *testing.T, b *brokertest.Broker, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.Logs(1<<30), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no broker log line with %s within 10s", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// saslError connects with a mechanism and returns the error of the first
// request.
func saslError(t *testing.T, addr string, m kgosasl.Mechanism, tc *tls.Config) error {
	t.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.SASL(m), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second)}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).ListTopics(ctx)
	return err
}

// TestSecurityRefusesBadCredentials: wrong passwords, unknown users and
// expired or malformed OAuth tokens get SASL_AUTHENTICATION_FAILED, with
// invalid_token in the message for OAuth, as from Kafka.
func TestSecurityRefusesBadCredentials(t *testing.T) {
	s := startSecure(t)
	addr := s.addr["SASL_PLAINTEXT"]
	cases := map[string]struct {
		m    kgosasl.Mechanism
		want string
	}{
		"PLAIN wrong password":   {plain.Auth{User: secAlice, Pass: "nope"}.AsMechanism(), "Invalid username or password"},
		"PLAIN unknown user":     {plain.Auth{User: "mallory", Pass: "x"}.AsMechanism(), "Invalid username or password"},
		"SCRAM-256 wrong":        {scramMech(sasl.ScramSHA256, secAlice, "nope"), "invalid credentials with SASL mechanism SCRAM-SHA-256"},
		"SCRAM-512 unknown user": {scramMech(sasl.ScramSHA512, "mallory", "x"), "invalid credentials with SASL mechanism SCRAM-SHA-512"},
		"OAUTH expired":          {oauth.Auth{Token: sasl.UnsecuredToken(secAlice, time.Now().Add(-2*time.Hour), time.Hour)}.AsMechanism(), "invalid_token"},
		"OAUTH malformed":        {oauth.Auth{Token: "not.a.jwt"}.AsMechanism(), "invalid_token"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := saslError(t, addr, c.m, nil)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want SASL_AUTHENTICATION_FAILED with %q", err, c.want)
			}
		})
	}
}

// TestSecurityUnsupportedMechanism: a mechanism the listener does not
// enable gets UNSUPPORTED_SASL_MECHANISM.
func TestSecurityUnsupportedMechanism(t *testing.T) {
	s := startSecure(t)
	err := saslError(t, s.addr["SASL_PLAINTEXT"], fakeMech("GSSAPI"), nil)
	if !errors.Is(err, kerr.UnsupportedSaslMechanism) {
		t.Fatalf("error %v, want UNSUPPORTED_SASL_MECHANISM", err)
	}
}

type fakeMech string

func (m fakeMech) Name() string { return string(m) }
func (m fakeMech) Authenticate(context.Context, string) (kgosasl.Session, []byte, error) {
	return nil, nil, errors.New("not reached")
}

// TestSecurityMetrics: failed authentications are counted.
func TestSecurityNoPlaintextFallback(t *testing.T) {
	s := startSecure(t)
	// A plaintext Kafka client on the TLS port gets no answer, and a TLS
	// client on the plaintext port no handshake.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr["SSL"]), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second), kgo.DialTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).ListTopics(ctx); err == nil {
		t.Fatal("a plaintext client was served on the SSL listener")
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.addr["PLAINTEXT"], s.tlsConfig(t, false))
	if err == nil {
		conn.Close()
		t.Fatal("a TLS handshake succeeded on the PLAINTEXT listener")
	}
}
