package compat

// Certificates rotated through a dynamic broker config, without a
// restart, as kafka-configs --entity-type brokers --entity-name <id>
// --alter --add-config listener.name.<l>.ssl.keystore.location=... does
// against Kafka: a broker process with an SSL listener, certificates made
// by openssl in the test.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
	"gregor/internal/sectest"
)

// rotatedPassword protects the new keystore; it must never be logged.
const rotatedPassword = "rotated-keystore-secret"

// reloadBroker is a broker with a PLAINTEXT and an SSL listener.
type reloadBroker struct {
	b       *brokertest.Broker
	certs   *sectest.Certs
	ssl     string
	adm     *kadm.Client
	clients *tls.Config
}

func startReloadBroker(t *testing.T) *reloadBroker {
	t.Helper()
	if !usingGregor() {
		t.Skip("COMPAT_BOOTSTRAP is set: this test starts its own broker")
	}
	c := sectest.Make(t, t.TempDir())
	pt, st := brokertest.FreePort(t), brokertest.FreePort(t)
	r := &reloadBroker{certs: c, ssl: "127.0.0.1:" + strconv.Itoa(st)}
	r.b = brokertest.Start(t, brokertest.Options{Port: pt, Set: map[string]string{
		"listeners":               "PLAINTEXT://127.0.0.1:" + strconv.Itoa(pt) + ",SSL://" + r.ssl,
		"ssl.keystore.type":       "PKCS12",
		"ssl.keystore.location":   c.BrokerP12,
		"ssl.keystore.password":   sectest.Password,
		"ssl.truststore.type":     "PEM",
		"ssl.truststore.location": c.CA,
	}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	r.adm = kadm.NewClient(cl)
	pem, err := os.ReadFile(c.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	r.clients = &tls.Config{ServerName: "127.0.0.1", RootCAs: pool}
	return r
}

// dial opens a TLS connection to the SSL listener; the test closes it.
func (r *reloadBroker) dial(t *testing.T) *tls.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", r.ssl, r.clients)
	if err != nil {
		t.Fatalf("TLS to %s: %v", r.ssl, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// serial is the serial number of the certificate a new connection gets.
func (r *reloadBroker) serial(t *testing.T) string {
	t.Helper()
	c := r.dial(t)
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// alter sets (value non-nil) and deletes (nil) per-broker configs.
func (r *reloadBroker) alter(t *testing.T, configs map[string]*string) error {
	t.Helper()
	var ac []kadm.AlterConfig
	for k, v := range configs {
		op := kadm.SetConfig
		if v == nil {
			op = kadm.DeleteConfig
		}
		ac = append(ac, kadm.AlterConfig{Op: op, Name: k, Value: v})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := r.adm.AlterBrokerConfigs(ctx, ac, 0)
	if err != nil {
		t.Fatalf("AlterBrokerConfigs: %v", err)
	}
	if len(resp) != 1 {
		t.Fatalf("AlterBrokerConfigs: %d responses", len(resp))
	}
	if resp[0].Err != nil {
		return errors.New(resp[0].Err.Error() + ": " + resp[0].ErrMessage)
	}
	return nil
}

func ptrTo(s string) *string { return &s }

// TestSecurityReloadKeystoreThroughDynamicConfig: a new keystore set with
// IncrementalAlterConfigs on the broker serves the next TLS connection,
// while one opened before keeps working; its password is described as
// null and never logged. Keystores Kafka refuses (a missing file, a wrong
// password, another subject) get INVALID_REQUEST, as Kafka's
// ConfigAdminManager answers a broker config its dynamic config refuses
// (KAFKA-13609), and the keystore in use
// stays. A PEM keystore works the same way.
func TestSecurityReloadKeystoreThroughDynamicConfig(t *testing.T) {
	r := startReloadBroker(t)
	first := r.serial(t)
	held := r.dial(t)
	p12, _, _ := r.certs.IssueBroker(t, "rotated", sectest.BrokerSubject, rotatedPassword)
	if err := r.alter(t, map[string]*string{
		"listener.name.ssl.ssl.keystore.location": ptrTo(p12),
		"listener.name.ssl.ssl.keystore.password": ptrTo(rotatedPassword),
	}); err != nil {
		t.Fatalf("rotating the keystore: %v", err)
	}
	second := r.serial(t)
	if second == first {
		t.Fatalf("a new connection still gets certificate %s after the rotation", first)
	}
	heldStillServes(t, held, first)
	refusedKeystores(t, r, p12)
	if got := r.serial(t); got != second {
		t.Fatalf("after refused updates a new connection gets certificate %s, want %s", got, second)
	}
	describedWithoutPassword(t, r)
	pemStore(t, r, second)
	if logs := r.b.Logs(1 << 30); strings.Contains(logs, rotatedPassword) {
		t.Fatal("the keystore password appears in the broker's log")
	}
}

// heldStillServes: a connection opened before the rotation still answers
// with the certificate it was opened with.
func heldStillServes(t *testing.T, held *tls.Conn, serial string) {
	t.Helper()
	if got := held.ConnectionState().PeerCertificates[0].SerialNumber.String(); got != serial {
		t.Fatalf("held connection has certificate %s, want %s", got, serial)
	}
	held.SetDeadline(time.Now().Add(10 * time.Second))
	rc := &rawConn{t: t, c: held}
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := rc.request(req, resp); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions on the connection opened before the rotation: %v (code %d)", err, resp.ErrorCode)
	}
}

// refusedKeystores: what Kafka refuses gets INVALID_REQUEST.
func refusedKeystores(t *testing.T, r *reloadBroker, good string) {
	t.Helper()
	other, _, _ := r.certs.IssueBroker(t, "other-dn", "/CN=someone-else/O=gregor", rotatedPassword)
	cases := map[string]struct {
		configs map[string]*string
		wants   string
	}{
		"missing file": {map[string]*string{"listener.name.ssl.ssl.keystore.location": ptrTo(r.certs.Dir + "/nope.p12")}, "no such file"},
		"wrong password": {map[string]*string{"listener.name.ssl.ssl.keystore.location": ptrTo(good),
			"listener.name.ssl.ssl.keystore.password": ptrTo("not-the-password")}, "ssl.keystore.password"},
		"other subject": {map[string]*string{"listener.name.ssl.ssl.keystore.location": ptrTo(other)}, "DistinguishedName does not match"},
		"bad type":      {map[string]*string{"listener.name.ssl.ssl.keystore.type": ptrTo("BKS")}, "ssl.keystore.type"},
	}
	for name, c := range cases {
		err := r.alter(t, c.configs)
		if err == nil || !strings.Contains(err.Error(), kerr.InvalidRequest.Message) || !strings.Contains(err.Error(), c.wants) {
			t.Errorf("%s: %v, want INVALID_REQUEST with %q", name, err, c.wants)
		}
	}
}

// describedWithoutPassword: DescribeConfigs gives the dynamic location
// and a null, sensitive password.
func describedWithoutPassword(t *testing.T, r *reloadBroker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rcs, err := r.adm.DescribeBrokerConfigs(ctx, 0)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("DescribeBrokerConfigs: %v %v", err, rcs)
	}
	found := 0
	for _, c := range rcs[0].Configs {
		switch c.Key {
		case "listener.name.ssl.ssl.keystore.password":
			found++
			if c.Value != nil || !c.Sensitive {
				t.Errorf("%s described as %v, sensitive %v", c.Key, c.MaybeValue(), c.Sensitive)
			}
		case "listener.name.ssl.ssl.keystore.location":
			found++
			if c.Source != kmsg.ConfigSourceDynamicBrokerConfig {
				t.Errorf("%s has source %v", c.Key, c.Source)
			}
		}
	}
	if found != 2 {
		t.Fatalf("the dynamic keystore keys are not described: %+v", rcs[0].Configs)
	}
}

// pemStore: switching the listener to a PEM keystore (chain and key in
// one file, ssl.keystore.type=PEM) works too: another new key, the same
// names. (Inline PEM, ssl.keystore.certificate.chain and ssl.keystore.key,
// cannot replace a keystore file set without the listener prefix: Kafka
// refuses a file and inline PEM together, and so does Gregor.)
func pemStore(t *testing.T, r *reloadBroker, inUse string) {
	t.Helper()
	_, chain, key := r.certs.IssueBroker(t, "pem", sectest.BrokerSubject, rotatedPassword)
	var all []byte
	for _, p := range []string{chain, key} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	store := filepath.Join(r.certs.Dir, "pem-store.pem")
	if err := os.WriteFile(store, all, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.alter(t, map[string]*string{
		"listener.name.ssl.ssl.keystore.location": ptrTo(store),
		"listener.name.ssl.ssl.keystore.password": nil,
		"listener.name.ssl.ssl.keystore.type":     ptrTo("PEM"),
	}); err != nil {
		t.Fatalf("switching to a PEM keystore: %v", err)
	}
	if got := r.serial(t); got == inUse {
		t.Fatalf("a new connection still gets certificate %s after switching to PEM", got)
	}
}
