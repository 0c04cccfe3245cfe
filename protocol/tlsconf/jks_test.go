package tlsconf

import (
	"crypto/tls"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func keytool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("keytool", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("keytool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestJKSStores: a JKS keystore and truststore made by keytool (Kafka's
// default store type) serve a TLS listener and verify its clients as
// Java reads them: the key under its own password (ssl.key.password), the
// truststore with or without its password; a wrong store or key password
// is refused with the key named, and so is a JCEKS store.
func TestJKSStores(t *testing.T) {
	if _, err := exec.LookPath("keytool"); err != nil {
		t.Skip("keytool is not installed")
	}
	dir := t.TempDir()
	ks, ts := filepath.Join(dir, "broker.jks"), filepath.Join(dir, "trust.jks")
	keytool(t, dir, "-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048", "-validity", "2",
		"-dname", "CN=broker,O=gregor", "-ext", "SAN=IP:127.0.0.1,DNS:localhost",
		"-storetype", "JKS", "-keystore", ks, "-storepass", "store-secret", "-keypass", "key-secret")
	keytool(t, dir, "-exportcert", "-rfc", "-alias", "broker", "-keystore", ks, "-storepass", "store-secret", "-file", "broker.pem")
	keytool(t, dir, "-importcert", "-noprompt", "-alias", "broker", "-file", "broker.pem",
		"-storetype", "JKS", "-keystore", ts, "-storepass", "trust-secret")

	srvConf := Config{KeystoreType: "JKS", KeystoreLocation: ks, KeystorePassword: "store-secret", KeyPassword: "key-secret"}
	srv, err := NewServer(srvConf)
	if err != nil {
		t.Fatalf("a keytool-made JKS keystore: %v", err)
	}
	if got := SubjectName(srv.Config().Certificates[0].Leaf); got != "CN=broker,O=gregor" {
		t.Fatalf("keystore certificate subject %q", got)
	}
	for _, trustPass := range []string{"trust-secret", ""} {
		cc, err := Client(Config{TruststoreType: "JKS", TruststoreLocation: ts, TruststorePassword: trustPass, EndpointIdentification: "https"}, "localhost")
		if err != nil {
			t.Fatalf("a keytool-made JKS truststore (password %q): %v", trustPass, err)
		}
		handshake(t, srv, cc)
	}
	for name, c := range map[string]struct {
		conf  Config
		wants string
	}{
		"wrong store password": {Config{KeystoreType: "JKS", KeystoreLocation: ks, KeystorePassword: "nope", KeyPassword: "key-secret"}, "password was incorrect"},
		"wrong key password":   {Config{KeystoreType: "JKS", KeystoreLocation: ks, KeystorePassword: "store-secret"}, "Cannot recover key"},
	} {
		if _, err := c.conf.LoadKeystore(); err == nil || !strings.Contains(err.Error(), c.wants) || !strings.Contains(err.Error(), "ssl.keystore") {
			t.Errorf("%s: %v, want an error naming ssl.keystore with %q", name, err, c.wants)
		}
	}
	if _, err := (&Config{TruststoreType: "JKS", TruststoreLocation: ts, TruststorePassword: "nope"}).LoadTruststore(); err == nil || !strings.Contains(err.Error(), "ssl.truststore") {
		t.Errorf("a truststore with a wrong password: %v", err)
	}
	jceks := filepath.Join(dir, "store.jceks")
	keytool(t, dir, "-importkeystore", "-srckeystore", ks, "-srcstorepass", "store-secret", "-srckeypass", "key-secret",
		"-destkeystore", jceks, "-deststoretype", "JCEKS", "-deststorepass", "store-secret", "-destkeypass", "key-secret", "-alias", "broker")
	if _, err := (&Config{KeystoreType: "JCEKS", KeystoreLocation: jceks, KeystorePassword: "store-secret"}).LoadKeystore(); err == nil || !strings.Contains(err.Error(), "JCEKS") {
		t.Errorf("a JCEKS keystore: %v, want it refused by name", err)
	}
}

// handshake completes a TLS handshake between srv and a client config.
func handshake(t *testing.T, srv *Server, cc *tls.Config) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
			c.Close()
		}
		done <- err
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), cc)
	if err != nil {
		t.Fatalf("TLS handshake with the JKS stores: %v", err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatalf("server side of the handshake: %v", err)
	}
}
