package tlsconf

// A dynamic update of a listener's stores (listener.name.<l>.ssl.keystore.*
// and truststore keys altered at run time), checked as Kafka's
// SslFactory.validateReconfiguration checks it before accepting it:
//
//   - the new stores load (a keystore that cannot be read, or with the
//     wrong password, is refused);
//   - a listener with a keystore keeps one;
//   - the new certificate has the old one's subject (distinguished name),
//     unless ssl.allow.dn.changes, and at least the old one's subject
//     alternative names, unless ssl.allow.san.changes;
//   - a truststore cannot be added to a listener that had none;
//   - on the inter-broker listener, the old and new certificates are each
//     trusted by the other side's truststore (Kafka tries a handshake
//     between the old and new settings both ways), so brokers still
//     rolling to the new certificate keep talking to this one.
//
// Only new connections take the new stores; those open keep theirs.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// UpdateRules are what a dynamic update may change.
type UpdateRules struct {
	AllowDNChanges  bool // ssl.allow.dn.changes
	AllowSANChanges bool // ssl.allow.san.changes
	// MutualTrust is set on the inter-broker listener.
	MutualTrust bool
}

// Equal reports whether two configurations are the same settings.
func (c Config) Equal(o Config) bool {
	return c.KeystoreType == o.KeystoreType && c.KeystoreLocation == o.KeystoreLocation &&
		c.KeystorePassword == o.KeystorePassword && c.KeyPassword == o.KeyPassword &&
		c.KeystoreCertChain == o.KeystoreCertChain && c.KeystoreKey == o.KeystoreKey &&
		c.TruststoreType == o.TruststoreType && c.TruststoreLocation == o.TruststoreLocation &&
		c.TruststorePassword == o.TruststorePassword && c.TruststoreCertificates == o.TruststoreCertificates &&
		c.ClientAuth == o.ClientAuth && slices.Equal(c.EnabledProtocols, o.EnabledProtocols) &&
		slices.Equal(c.CipherSuites, o.CipherSuites) && c.EndpointIdentification == o.EndpointIdentification
}

// CheckUpdate loads c's stores and checks them against those in use,
// changing nothing.
func (s *Server) CheckUpdate(c Config, r UpdateRules) error {
	_, err := s.prepare(c, r)
	return err
}

// Reconfigure checks c as CheckUpdate does and, if it passes, serves new
// connections with it. On error the stores in use stay.
func (s *Server) Reconfigure(c Config, r UpdateRules) error {
	s.SetUpdateRules(r)
	tc, err := s.prepare(c, r)
	if err == nil {
		s.install(c, tc)
	}
	if s.OnReload != nil {
		s.OnReload(err)
	}
	return err
}

func (s *Server) prepare(c Config, r UpdateRules) (*tls.Config, error) {
	if !c.HasKeystore() {
		return nil, errors.New("Cannot remove the SSL keystore from an existing listener for which a keystore was configured.")
	}
	if err := c.Validate(""); err != nil {
		return nil, err
	}
	next, err := c.build()
	if err != nil {
		return nil, err
	}
	if err := compatible(s.cur.Load(), next, r); err != nil {
		return nil, err
	}
	return next, nil
}

// compatible checks a new server configuration against the one in use.
func compatible(old, next *tls.Config, r UpdateRules) error {
	ol, nl := old.Certificates[0].Leaf, next.Certificates[0].Leaf
	if ol == nil || nl == nil {
		return errors.New("the keystore's certificate cannot be parsed")
	}
	if !r.AllowDNChanges && !bytes.Equal(ol.RawSubject, nl.RawSubject) && !strings.EqualFold(ol.Subject.String(), nl.Subject.String()) {
		return fmt.Errorf("Keystore DistinguishedName does not match: existing={DN=%s}, new={DN=%s}", ol.Subject, nl.Subject)
	}
	if was, now := sans(ol), sans(nl); !r.AllowSANChanges && !containsAll(now, was) {
		return fmt.Errorf("Keystore SubjectAltNames do not match: existing={SAN=%v}, new={SAN=%v}", was, now)
	}
	if old.ClientCAs == nil && next.ClientCAs != nil {
		return errors.New("Cannot add SSL truststore to an existing listener for which no truststore was configured.")
	}
	if !r.MutualTrust {
		return nil
	}
	if err := trusted(old.ClientCAs, next.Certificates[0]); err != nil {
		return fmt.Errorf("the new certificate is not trusted by the truststore in use: %w", err)
	}
	if err := trusted(next.ClientCAs, old.Certificates[0]); err != nil {
		return fmt.Errorf("the certificate in use is not trusted by the new truststore: %w", err)
	}
	return nil
}

// sans lists a certificate's subject alternative names, typed as Java
// lists them (DNS, IP, email, URI).
func sans(c *x509.Certificate) []string {
	var out []string
	for _, d := range c.DNSNames {
		out = append(out, "DNS:"+d)
	}
	for _, ip := range c.IPAddresses {
		out = append(out, "IP:"+ip.String())
	}
	for _, e := range c.EmailAddresses {
		out = append(out, "email:"+e)
	}
	for _, u := range c.URIs {
		out = append(out, "URI:"+u.String())
	}
	return out
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// trusted verifies a certificate chain against a truststore, without a
// host name, as Kafka's validation handshake does; a listener without a
// truststore (the system's) is not checked.
func trusted(pool *x509.CertPool, cert tls.Certificate) error {
	if pool == nil {
		return nil
	}
	opts := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	for _, der := range cert.Certificate[1:] {
		if ic, err := x509.ParseCertificate(der); err == nil {
			opts.Intermediates.AddCert(ic)
		}
	}
	_, err := cert.Leaf.Verify(opts)
	return err
}
