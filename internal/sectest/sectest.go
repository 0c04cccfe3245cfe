// Package sectest makes TLS material for tests with openssl (and keytool
// for a Java truststore), in a test's temporary directory: nothing of it
// is committed. It also has helpers for SASL configs.
package sectest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gregor/protocol/sasl"
)

// Password protects every store and encrypted key made here.
const Password = "test-secret"

// Certs are the files of one test CA, a broker and a client.
type Certs struct {
	Dir string
	// CA is the CA certificate (PEM); CAKey its key.
	CA, CAKey string
	// BrokerP12 is the broker's key and chain (PKCS12, Password);
	// BrokerPEM its chain and encrypted PKCS#8 key in one PEM file
	// (ssl.key.password Password); BrokerChain and BrokerKeyPEM the chain
	// and the unencrypted key (PEM).
	BrokerP12, BrokerPEM, BrokerChain, BrokerKeyPEM string
	// Client*: a client certificate (CN=client,OU=test,O=gregor) signed by
	// the CA, as PKCS12 and as PEM certificate and unencrypted key.
	ClientP12, ClientCert, ClientKey string
	// TrustP12 is a Java PKCS12 truststore holding the CA (made by
	// keytool; empty when keytool is missing).
	TrustP12 string
}

// Need skips the test unless openssl is installed.
func Need(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
}

func run(t testing.TB, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// Make creates a CA, a broker certificate for 127.0.0.1 and localhost,
// and a client certificate, in dir.
func Make(t testing.TB, dir string) *Certs {
	t.Helper()
	Need(t)
	c := &Certs{Dir: dir}
	p := func(n string) string { return filepath.Join(dir, n) }
	c.CA, c.CAKey = p("ca.pem"), p("ca.key")
	run(t, dir, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", c.CAKey, "-out", c.CA, "-days", "2", "-subj", "/CN=gregor-test-ca")
	issue := func(name, subj, ext string) (cert, key string) { return c.issue(t, name, subj, ext) }
	bCert, bKey := issue("broker", BrokerSubject, brokerExt)
	c.BrokerKeyPEM = bKey
	c.BrokerChain = p("broker-chain.pem")
	writeCat(t, c.BrokerChain, bCert, c.CA)
	c.BrokerP12 = p("broker.p12")
	run(t, dir, "openssl", "pkcs12", "-export", "-in", bCert, "-inkey", bKey, "-certfile", c.CA, "-out", c.BrokerP12, "-passout", "pass:"+Password, "-name", "broker")
	enc := p("broker-enc.key")
	run(t, dir, "openssl", "pkcs8", "-topk8", "-v2", "aes256", "-in", bKey, "-out", enc, "-passout", "pass:"+Password)
	c.BrokerPEM = p("broker-store.pem")
	writeCat(t, c.BrokerPEM, enc, bCert, c.CA)
	c.ClientCert, c.ClientKey = issue("client", "/O=gregor/OU=test/CN=client", "extendedKeyUsage=clientAuth\n")
	c.ClientP12 = p("client.p12")
	run(t, dir, "openssl", "pkcs12", "-export", "-in", c.ClientCert, "-inkey", c.ClientKey, "-certfile", c.CA, "-out", c.ClientP12, "-passout", "pass:"+Password, "-name", "client")
	if _, err := exec.LookPath("keytool"); err == nil {
		c.TrustP12 = p("truststore.p12")
		run(t, dir, "keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", c.CA, "-keystore", c.TrustP12, "-storetype", "PKCS12", "-storepass", Password)
	}
	return c
}

// BrokerSubject is the broker certificate's subject.
const BrokerSubject = "/CN=localhost/O=gregor"

const brokerExt = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n"

// issue makes a key and a certificate for subj signed by the CA.
func (c *Certs) issue(t testing.TB, name, subj, ext string) (cert, key string) {
	t.Helper()
	p := func(n string) string { return filepath.Join(c.Dir, n) }
	key, csr, cert := p(name+".key"), p(name+".csr"), p(name+".pem")
	run(t, c.Dir, "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", subj)
	extFile := p(name + ".ext")
	if err := os.WriteFile(extFile, []byte(ext), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, c.Dir, "openssl", "x509", "-req", "-in", csr, "-CA", c.CA, "-CAkey", c.CAKey, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", extFile)
	return cert, key
}

// IssueBroker makes another broker keystore (PKCS12, protected by
// password) with a new key, for subject subj and the broker's alternative
// names (127.0.0.1, localhost), signed by the CA; chain and key are the
// same as PEM (the key unencrypted).
func (c *Certs) IssueBroker(t testing.TB, name, subj, password string) (p12, chain, key string) {
	t.Helper()
	cert, key := c.issue(t, name, subj, brokerExt)
	chain = filepath.Join(c.Dir, name+"-chain.pem")
	writeCat(t, chain, cert, c.CA)
	p12 = filepath.Join(c.Dir, name+".p12")
	run(t, c.Dir, "openssl", "pkcs12", "-export", "-in", cert, "-inkey", key, "-certfile", c.CA, "-out", p12, "-passout", "pass:"+password, "-name", name)
	return p12, chain, key
}

// BrokerStores is a broker's ssl.* settings for these certificates: its
// PEM keystore (BrokerPEM) and the PKCS12 truststore (TrustP12).
func (c *Certs) BrokerStores() map[string]string {
	return map[string]string{
		"ssl.keystore.type":       "PEM",
		"ssl.keystore.location":   c.BrokerPEM,
		"ssl.key.password":        Password,
		"ssl.truststore.type":     "PKCS12",
		"ssl.truststore.location": c.TrustP12,
		"ssl.truststore.password": Password,
	}
}

func writeCat(t testing.TB, out string, files ...string) {
	t.Helper()
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if err := os.WriteFile(out, all, 0o600); err != nil {
		t.Fatal(err)
	}
}

// PlainJAAS is a PlainLoginModule config with the broker's own user
// (username/password) and users (name to password).
func PlainJAAS(user, password string, users map[string]string) string {
	s := sasl.PlainLoginModule + " required username=" + sasl.QuoteJAAS(user) + " password=" + sasl.QuoteJAAS(password)
	for u, p := range users {
		s += " user_" + u + "=" + sasl.QuoteJAAS(p)
	}
	return s + ";"
}

// ScramJAAS is a ScramLoginModule config with the broker's own user.
func ScramJAAS(user, password string) string {
	return sasl.ScramLoginModule + " required username=" + sasl.QuoteJAAS(user) + " password=" + sasl.QuoteJAAS(password) + ";"
}

// OAuthJAAS is an OAuthBearerLoginModule config (unsecured tokens).
func OAuthJAAS(sub string) string {
	return sasl.OAuthBearerLoginModule + " required unsecuredLoginStringClaim_sub=" + sasl.QuoteJAAS(sub) + ";"
}
