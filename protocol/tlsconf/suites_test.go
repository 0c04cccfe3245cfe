package tlsconf

import (
	"crypto/tls"
	"strings"
	"testing"
)

// TestCipherSuitesLimitProtocols: ssl.cipher.suites without a TLS 1.3
// suite serves TLS 1.2 only, and with TLS 1.3 suites only refuses TLS 1.2,
// as Java's handshake keeps only the protocols an enabled suite serves
// (Go would otherwise add its own suites for the version left out).
func TestCipherSuitesLimitProtocols(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	store := ca.issue("broker.pem", "broker", "localhost")
	pool, err := (&Config{TruststoreType: "PEM", TruststoreLocation: ca.pemFile("ca.pem")}).LoadTruststore()
	if err != nil {
		t.Fatal(err)
	}
	version := func(suites []string, clientMax uint16) (uint16, error) {
		t.Helper()
		srv, err := NewServer(Config{KeystoreType: "PEM", KeystoreLocation: store, CipherSuites: suites})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			if c, err := ln.Accept(); err == nil {
				c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost", MaxVersion: clientMax})
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.ConnectionState().Version, nil
	}
	if v, err := version([]string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}, tls.VersionTLS13); err != nil || v != tls.VersionTLS12 {
		t.Errorf("only a TLS 1.2 suite enabled: version %x, %v; want TLS 1.2", v, err)
	}
	if _, err := version([]string{"TLS_AES_128_GCM_SHA256"}, tls.VersionTLS12); err == nil {
		t.Error("only a TLS 1.3 suite enabled: a TLS 1.2 client was served")
	}
	if v, err := version([]string{"TLS_AES_128_GCM_SHA256"}, tls.VersionTLS13); err != nil || v != tls.VersionTLS13 {
		t.Errorf("only a TLS 1.3 suite enabled: version %x, %v; want TLS 1.3", v, err)
	}
	if _, err := NewServer(Config{KeystoreType: "PEM", KeystoreLocation: store, EnabledProtocols: []string{"TLSv1.2"}, CipherSuites: []string{"TLS_AES_128_GCM_SHA256"}}); err == nil || !strings.Contains(err.Error(), "ssl.cipher.suites") {
		t.Errorf("TLS 1.2 only with only TLS 1.3 suites: %v, want it refused naming ssl.cipher.suites", err)
	}
}
