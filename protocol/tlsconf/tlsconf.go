// Package tlsconf turns Kafka's ssl.* settings into Go TLS configurations:
// keystores and truststores in JKS, PKCS12 or PEM (files, or PEM inline in the
// config), ssl.client.auth, ssl.enabled.protocols, ssl.cipher.suites and
// ssl.endpoint.identification.algorithm, as Kafka's DefaultSslEngineFactory
// reads them. A Server re-reads its stores when their files change, so
// certificates are rotated without a restart. JKS stores (jks.go) are read
// whatever type is named; JCEKS stores are refused.
package tlsconf

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"software.sslmate.com/src/go-pkcs12"
)

// Config is one listener's (or one client's) ssl.* settings. Passwords are
// plain strings here; callers keep them out of logs.
type Config struct {
	KeystoreType     string // PKCS12 or PEM (ssl.keystore.type)
	KeystoreLocation string
	KeystorePassword string
	KeyPassword      string // ssl.key.password
	// KeystoreCertChain and KeystoreKey are PEM inline
	// (ssl.keystore.certificate.chain, ssl.keystore.key).
	KeystoreCertChain string
	KeystoreKey       string

	TruststoreType         string // PKCS12 or PEM
	TruststoreLocation     string
	TruststorePassword     string
	TruststoreCertificates string // PEM inline (ssl.truststore.certificates)

	ClientAuth       string   // required, requested or none
	EnabledProtocols []string // TLSv1.2, TLSv1.3, ...
	CipherSuites     []string // IANA names, as Java's
	// EndpointIdentification is "https" to check a server's host name
	// (clients only), "" not to.
	EndpointIdentification string
}

// HasKeystore reports whether a key and certificate are configured.
func (c *Config) HasKeystore() bool {
	return c.KeystoreLocation != "" || c.KeystoreCertChain != "" || c.KeystoreKey != ""
}

var protocolVersions = map[string]uint16{
	"TLSv1": tls.VersionTLS10, "TLSv1.1": tls.VersionTLS11, "TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13,
}

// Validate checks the settings without reading files, naming each bad key.
func (c *Config) Validate(prefix string) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	for _, st := range []struct{ key, typ string }{{"ssl.keystore.type", c.KeystoreType}, {"ssl.truststore.type", c.TruststoreType}} {
		switch strings.ToUpper(st.typ) {
		case "PKCS12", "PEM", "":
		case "JKS":
			// A JKS file is read as Java reads it, and so is a PKCS12
			// file under type JKS (Java's keystore.type.compat).
		default:
			bad(st.key, "%q is not supported (PKCS12 or PEM)", st.typ)
		}
	}
	if c.KeystoreLocation != "" && (c.KeystoreCertChain != "" || c.KeystoreKey != "") {
		bad("ssl.keystore.location", "set either a keystore file or ssl.keystore.certificate.chain and ssl.keystore.key, not both")
	}
	if (c.KeystoreCertChain != "") != (c.KeystoreKey != "") {
		bad("ssl.keystore.key", "ssl.keystore.certificate.chain and ssl.keystore.key go together")
	}
	if c.KeystoreCertChain != "" && !strings.EqualFold(c.KeystoreType, "PEM") {
		bad("ssl.keystore.type", "must be PEM with ssl.keystore.certificate.chain")
	}
	if c.TruststoreCertificates != "" && !strings.EqualFold(c.TruststoreType, "PEM") {
		bad("ssl.truststore.type", "must be PEM with ssl.truststore.certificates")
	}
	if c.TruststoreCertificates != "" && c.TruststoreLocation != "" {
		bad("ssl.truststore.location", "set either a truststore file or ssl.truststore.certificates, not both")
	}
	switch c.ClientAuth {
	case "", "none", "requested", "required":
	default:
		bad("ssl.client.auth", "%q must be one of required, requested, none", c.ClientAuth)
	}
	if _, _, err := versionRange(c.EnabledProtocols); err != nil {
		bad("ssl.enabled.protocols", "%v", err)
	}
	if _, err := cipherSuites(c.CipherSuites); err != nil {
		bad("ssl.cipher.suites", "%v", err)
	}
	switch strings.ToLower(c.EndpointIdentification) {
	case "", "https":
	default:
		bad("ssl.endpoint.identification.algorithm", "%q must be https or empty", c.EndpointIdentification)
	}
	return errors.Join(errs...)
}

// versionRange maps ssl.enabled.protocols to a contiguous range.
func versionRange(protos []string) (lo, hi uint16, err error) {
	if len(protos) == 0 {
		return tls.VersionTLS12, tls.VersionTLS13, nil
	}
	var vs []uint16
	for _, p := range protos {
		v, ok := protocolVersions[p]
		if !ok {
			return 0, 0, fmt.Errorf("%q is not supported (TLSv1.2, TLSv1.3, TLSv1.1, TLSv1)", p)
		}
		vs = append(vs, v)
	}
	slices.Sort(vs)
	vs = slices.Compact(vs)
	if int(vs[len(vs)-1]-vs[0]) != len(vs)-1 {
		return 0, 0, errors.New("the protocols must be consecutive versions")
	}
	return vs[0], vs[len(vs)-1], nil
}

// cipherSuites maps ssl.cipher.suites (IANA names) to Go's ids; TLS 1.3
// suites are accepted (Go always enables them) and leave the list.
func cipherSuites(names []string) ([]uint16, error) {
	if len(names) == 0 {
		return nil, nil
	}
	known := map[string]uint16{}
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		known[s.Name] = s.ID
	}
	var out []uint16
	for _, n := range names {
		id, ok := known[n]
		if !ok {
			return nil, fmt.Errorf("unknown or unsupported cipher suite %q", n)
		}
		if id == tls.TLS_AES_128_GCM_SHA256 || id == tls.TLS_AES_256_GCM_SHA384 || id == tls.TLS_CHACHA20_POLY1305_SHA256 {
			continue
		}
		out = append(out, id)
	}
	return out, nil
}

// LoadKeystore reads the key and certificate chain.
func (c *Config) LoadKeystore() (tls.Certificate, error) {
	if strings.EqualFold(c.KeystoreType, "PEM") {
		chain, key := []byte(c.KeystoreCertChain), []byte(c.KeystoreKey)
		if c.KeystoreLocation != "" {
			data, err := os.ReadFile(c.KeystoreLocation)
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("ssl.keystore.location: %w", err)
			}
			chain, key = data, data
		}
		return pemKeystore(chain, key, c.KeyPassword)
	}
	data, err := os.ReadFile(c.KeystoreLocation)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ssl.keystore.location: %w", err)
	}
	if isJKS(data) || isJCEKS(data) {
		cert, err := c.jksKeystore(data)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("ssl.keystore.location %s: reading JKS (check ssl.keystore.password): %w", c.KeystoreLocation, err)
		}
		return cert, nil
	}
	key, leaf, cas, err := pkcs12.DecodeChain(data, c.KeystorePassword)
	if err != nil && c.KeyPassword != "" && c.KeyPassword != c.KeystorePassword {
		key, leaf, cas, err = pkcs12.DecodeChain(data, c.KeyPassword)
	}
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ssl.keystore.location %s: reading PKCS12 (check ssl.keystore.password): %w", c.KeystoreLocation, err)
	}
	cert := tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
	for _, ca := range cas {
		cert.Certificate = append(cert.Certificate, ca.Raw)
	}
	return cert, nil
}

// pemKeystore reads certificates from chain and the private key from key
// (PKCS#8, encrypted with password when it is an ENCRYPTED PRIVATE KEY).
func pemKeystore(chain, keyPEM []byte, password string) (tls.Certificate, error) {
	var cert tls.Certificate
	for rest := chain; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			cert.Certificate = append(cert.Certificate, blk.Bytes)
		}
	}
	if len(cert.Certificate) == 0 {
		return cert, errors.New("ssl.keystore: no PEM certificate found")
	}
	var key crypto.PrivateKey
	for rest := keyPEM; key == nil; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return cert, errors.New("ssl.keystore.key: no PEM private key found")
		}
		var err error
		switch blk.Type {
		case "ENCRYPTED PRIVATE KEY":
			if password == "" {
				return cert, errors.New("ssl.key.password: the private key is encrypted and no password is set")
			}
			key, err = decryptPKCS8(blk.Bytes, []byte(password))
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return cert, fmt.Errorf("ssl.keystore.key: %w", err)
		}
	}
	cert.PrivateKey = key
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return cert, fmt.Errorf("ssl.keystore: %w", err)
	}
	cert.Leaf = leaf
	// The key must belong to the first certificate.
	if _, err := tls.X509KeyPair(pemCerts(cert.Certificate[:1]), pemKey(key)); err != nil {
		return cert, fmt.Errorf("ssl.keystore: %w", err)
	}
	return cert, nil
}

func pemCerts(ders [][]byte) []byte {
	var out []byte
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return out
}

func pemKey(k crypto.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// LoadTruststore reads the trusted certificates; nil (the system's) when
// no truststore is set, as Java falls back to its default one.
func (c *Config) LoadTruststore() (*x509.CertPool, error) {
	if c.TruststoreLocation == "" && c.TruststoreCertificates == "" {
		return nil, nil
	}
	var certs []*x509.Certificate
	if strings.EqualFold(c.TruststoreType, "PEM") {
		data := []byte(c.TruststoreCertificates)
		if c.TruststoreLocation != "" {
			var err error
			if data, err = os.ReadFile(c.TruststoreLocation); err != nil {
				return nil, fmt.Errorf("ssl.truststore.location: %w", err)
			}
		}
		for rest := data; ; {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				continue
			}
			cert, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("ssl.truststore: %w", err)
			}
			certs = append(certs, cert)
		}
	} else {
		data, err := os.ReadFile(c.TruststoreLocation)
		if err != nil {
			return nil, fmt.Errorf("ssl.truststore.location: %w", err)
		}
		if isJKS(data) || isJCEKS(data) {
			if certs, err = jksTrusted(data, c.TruststorePassword); err != nil {
				return nil, fmt.Errorf("ssl.truststore.location %s: reading JKS (check ssl.truststore.password): %w", c.TruststoreLocation, err)
			}
			return certPool(certs)
		}
		certs, err = pkcs12.DecodeTrustStore(data, c.TruststorePassword)
		if err != nil {
			// A keystore used as a truststore: trust its chain.
			_, leaf, cas, err2 := pkcs12.DecodeChain(data, c.TruststorePassword)
			if err2 != nil {
				return nil, fmt.Errorf("ssl.truststore.location %s: reading PKCS12 (check ssl.truststore.password): %w", c.TruststoreLocation, err)
			}
			certs = append(cas, leaf)
		}
	}
	return certPool(certs)
}

func certPool(certs []*x509.Certificate) (*x509.CertPool, error) {
	if len(certs) == 0 {
		return nil, errors.New("ssl.truststore: no certificate found")
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// jksKeystore reads the first private key entry of a JKS store and its
// chain; the key is protected by ssl.key.password, else by the store's
// password, as Java's KeyManagerFactory is given it.
func (c *Config) jksKeystore(data []byte) (tls.Certificate, error) {
	st, err := decodeJKS(data, c.KeystorePassword)
	if err != nil {
		return tls.Certificate{}, err
	}
	if len(st.keys) == 0 || len(st.keys[0].chain) == 0 {
		return tls.Certificate{}, errors.New("the JKS store holds no private key with its certificate")
	}
	pw := c.KeyPassword
	if pw == "" {
		pw = c.KeystorePassword
	}
	k := st.keys[0]
	key, err := k.privateKey(pw)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(k.chain[0])
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("key %q: %w", k.alias, err)
	}
	// The key must belong to the first certificate.
	if _, err := tls.X509KeyPair(pemCerts(k.chain[:1]), pemKey(key)); err != nil {
		return tls.Certificate{}, fmt.Errorf("key %q: %w", k.alias, err)
	}
	return tls.Certificate{Certificate: k.chain, PrivateKey: key, Leaf: leaf}, nil
}

// jksTrusted are a JKS truststore's trusted certificates (those of its
// key entries' chains if it has none, as for a PKCS12 keystore used as a
// truststore).
func jksTrusted(data []byte, password string) ([]*x509.Certificate, error) {
	st, err := decodeJKS(data, password)
	if err != nil {
		return nil, err
	}
	if len(st.trusted) > 0 {
		return st.trusted, nil
	}
	var out []*x509.Certificate
	for _, k := range st.keys {
		for _, der := range k.chain {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", k.alias, err)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// base returns the parts of a tls.Config common to servers and clients.
func (c *Config) base() (*tls.Config, error) {
	lo, hi, err := versionRange(c.EnabledProtocols)
	if err != nil {
		return nil, err
	}
	suites, err := cipherSuites(c.CipherSuites)
	if err != nil {
		return nil, err
	}
	if lo, hi, err = activeVersions(lo, hi, c.CipherSuites, suites); err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: lo, MaxVersion: hi, CipherSuites: suites}, nil
}

// activeVersions narrows the enabled protocol versions to those an
// enabled cipher suite serves, as Java's handshake keeps only the
// protocols with an active suite: ssl.cipher.suites without a TLS 1.3
// suite turns TLS 1.3 off, and one of TLS 1.3 suites only turns the older
// versions off (Go always enables its TLS 1.3 suites, and all its others
// when the list it is given is empty).
func activeVersions(lo, hi uint16, names []string, older []uint16) (uint16, uint16, error) {
	if len(names) == 0 {
		return lo, hi, nil
	}
	if len(older) == len(names) && hi >= tls.VersionTLS13 {
		hi = tls.VersionTLS12
	}
	if len(older) == 0 && lo < tls.VersionTLS13 {
		lo = tls.VersionTLS13
	}
	if lo > hi {
		return 0, 0, errors.New("ssl.cipher.suites: no suite serves a protocol of ssl.enabled.protocols")
	}
	return lo, hi, nil
}
