package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA issues certificates for the tests; keys are made in memory and
// written to the test's temporary directory only.
type testCA struct {
	t    *testing.T
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	n    int64
}

func newTestCA(t *testing.T, dir string) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{t: t, dir: dir, cert: cert, key: key, n: 1}
}

// pemFile writes the CA certificate as a PEM truststore.
func (ca *testCA) pemFile(name string) string {
	p := filepath.Join(ca.dir, name)
	if err := os.WriteFile(p, pemCerts([][]byte{ca.cert.Raw}), 0o600); err != nil {
		ca.t.Fatal(err)
	}
	return p
}

// issue writes a PEM keystore (chain and key) for cn with the SANs given.
func (ca *testCA) issue(name, cn string, dns ...string) string {
	ca.n++
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.n), Subject: pkix.Name{CommonName: cn, Organization: []string{"gregor"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: dns,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	p := filepath.Join(ca.dir, name)
	data := append(pemCerts([][]byte{der, ca.cert.Raw}), pemKey(key)...)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		ca.t.Fatal(err)
	}
	return p
}

func pemConfig(keystore, truststore string) Config {
	c := Config{KeystoreType: "PEM", KeystoreLocation: keystore}
	if truststore != "" {
		c.TruststoreType, c.TruststoreLocation = "PEM", truststore
	}
	return c
}

// TestReconfigureChecksAsKafka: a dynamic keystore update is refused when
// it cannot be loaded, changes the certificate's subject or drops one of
// its alternative names (unless allowed), removes the keystore or adds a
// truststore; on the inter-broker listener old and new must trust each
// other. A refused update leaves the certificate in use.
func TestReconfigureChecksAsKafka(t *testing.T) {
	dir := t.TempDir()
	ca, other := newTestCA(t, dir), newTestCA(t, dir)
	trust := ca.pemFile("ca.pem")
	first := ca.issue("first.pem", "broker", "localhost")
	s, err := NewServer(pemConfig(first, trust))
	if err != nil {
		t.Fatal(err)
	}
	serial := func() int64 { return s.Config().Certificates[0].Leaf.SerialNumber.Int64() }
	inUse := serial()
	refused := map[string]struct {
		c     Config
		r     UpdateRules
		wants string
	}{
		"missing file":     {pemConfig(filepath.Join(dir, "nope.pem"), trust), UpdateRules{}, "no such file"},
		"other subject":    {pemConfig(ca.issue("cn.pem", "someone-else", "localhost"), trust), UpdateRules{}, "DistinguishedName does not match"},
		"fewer SANs":       {pemConfig(ca.issue("san.pem", "broker"), trust), UpdateRules{}, "SubjectAltNames do not match"},
		"no keystore":      {Config{TruststoreType: "PEM", TruststoreLocation: trust}, UpdateRules{}, "Cannot remove the SSL keystore"},
		"untrusted by old": {pemConfig(other.issue("o.pem", "broker", "localhost"), other.pemFile("o-ca.pem")), UpdateRules{MutualTrust: true}, "not trusted"},
	}
	for name, c := range refused {
		err := s.Reconfigure(c.c, c.r)
		if err == nil || !strings.Contains(err.Error(), c.wants) {
			t.Errorf("%s: error %v, want one with %q", name, err, c.wants)
		}
		if serial() != inUse {
			t.Fatalf("%s: the certificate in use changed after a refused update", name)
		}
	}
	accepted := map[string]struct {
		c Config
		r UpdateRules
	}{
		"same names, new key": {pemConfig(ca.issue("second.pem", "broker", "localhost"), trust), UpdateRules{MutualTrust: true}},
		"more SANs":           {pemConfig(ca.issue("more.pem", "broker", "localhost", "broker.example"), trust), UpdateRules{}},
		"DN change allowed":   {pemConfig(ca.issue("dn.pem", "renamed", "localhost", "broker.example"), trust), UpdateRules{AllowDNChanges: true}},
		"SAN change allowed":  {pemConfig(ca.issue("san2.pem", "renamed"), trust), UpdateRules{AllowSANChanges: true}},
	}
	for _, name := range []string{"same names, new key", "more SANs", "DN change allowed", "SAN change allowed"} {
		c := accepted[name]
		if err := s.Reconfigure(c.c, c.r); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if serial() == inUse {
			t.Fatalf("%s: the certificate did not change", name)
		}
		inUse = serial()
	}
	noTrust, err := NewServer(pemConfig(first, ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := noTrust.CheckUpdate(pemConfig(first, trust), UpdateRules{}); err == nil || !strings.Contains(err.Error(), "Cannot add SSL truststore") {
		t.Fatalf("adding a truststore: %v", err)
	}
}

func TestConfigEqual(t *testing.T) {
	a := Config{KeystoreLocation: "a", EnabledProtocols: []string{"TLSv1.3"}}
	b := a
	b.EnabledProtocols = []string{"TLSv1.3"}
	if !a.Equal(b) {
		t.Fatal("equal configs differ")
	}
	b.KeystorePassword = "x"
	if a.Equal(b) {
		t.Fatal("a password change is not a change")
	}
}

// TestChangedStoreFileChecksAsKafka: a keystore file replaced in place is
// re-read at a handshake, and only served if it passes the checks Kafka's
// SslFactory applies to any new keystore of a listener: a certificate of
// another subject, or with fewer subject alternative names, is refused
// (the reload reports why) and the one in use stays; a compatible one is
// then taken up.
func TestChangedStoreFileChecksAsKafka(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	trust := ca.pemFile("ca.pem")
	store := filepath.Join(dir, "store.pem")
	replace := func(from string) {
		t.Helper()
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(store, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	replace(ca.issue("first.pem", "broker", "localhost"))
	s, err := NewServer(pemConfig(store, trust))
	if err != nil {
		t.Fatal(err)
	}
	reloads := make(chan error, 16)
	s.OnReload = func(err error) { reloads <- err }
	serial := func() int64 { return s.Config().Certificates[0].Leaf.SerialNumber.Int64() }
	// reload replaces the store's file and handshakes (Config) until the
	// server has looked at it (at most every PollInterval).
	reload := func(what, from string) error {
		t.Helper()
		replace(from)
		deadline := time.Now().Add(10 * PollInterval)
		for time.Now().Before(deadline) {
			serial()
			select {
			case err := <-reloads:
				return err
			case <-time.After(20 * time.Millisecond):
			}
		}
		t.Fatalf("%s: the server did not re-read its replaced keystore file within %v", what, 10*PollInterval)
		return nil
	}
	inUse := serial()
	for _, c := range []struct{ what, cn, wants string }{
		{"other subject", "someone-else", "DistinguishedName does not match"},
		{"fewer SANs", "broker", "SubjectAltNames do not match"},
	} {
		var err error
		if c.what == "fewer SANs" {
			err = reload(c.what, ca.issue("fewer.pem", c.cn))
		} else {
			err = reload(c.what, ca.issue("other.pem", c.cn, "localhost"))
		}
		if err == nil || !strings.Contains(err.Error(), c.wants) {
			t.Fatalf("%s: reload error %v, want one with %q", c.what, err, c.wants)
		}
		if serial() != inUse {
			t.Fatalf("%s: a replaced keystore file Kafka would refuse is served", c.what)
		}
	}
	if err := reload("same names", ca.issue("second.pem", "broker", "localhost")); err != nil {
		t.Fatalf("same names, new key: %v", err)
	}
	if serial() == inUse {
		t.Fatal("a compatible replaced keystore file is not served")
	}
	inUse = serial()
	s.SetUpdateRules(UpdateRules{AllowDNChanges: true})
	if err := reload("DN change allowed", ca.issue("renamed.pem", "renamed", "localhost")); err != nil {
		t.Fatalf("DN change allowed: %v", err)
	}
	if serial() == inUse {
		t.Fatal("with ssl.allow.dn.changes a replaced keystore file of another subject is not served")
	}
}
