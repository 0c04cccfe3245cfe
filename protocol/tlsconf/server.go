package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a listener's TLS configuration that re-reads its keystore and
// truststore when their files change (checked at most every PollInterval,
// on a connection's handshake), or on Reconfigure (a dynamic config update).
// Stores re-read from changed files pass the checks of a dynamic update
// (UpdateRules, as Kafka's SslFactory checks any new keystore of a
// listener: same subject, no subject alternative name lost, ...): a file
// replaced by a certificate Kafka would refuse is not served, the reload
// fails and the stores in use stay.
type Server struct {
	// OnReload is told of every reload, with its error if it failed (the
	// previous certificates stay in use then).
	OnReload func(err error)

	cur atomic.Pointer[tls.Config]

	mu sync.Mutex
	// guarded by mu:
	cfg     Config
	stamps  []fileStamp
	checked time.Time
	rules   UpdateRules // what a reload may change (SetUpdateRules)
}

// PollInterval is how often a server looks at its stores' files.
const PollInterval = time.Second

type fileStamp struct {
	path string
	mod  time.Time
	size int64
	data []byte
}

// NewServer loads a listener's stores; it fails if they cannot be read.
func NewServer(c Config) (*Server, error) {
	if !c.HasKeystore() {
		return nil, errors.New("ssl.keystore.location (or ssl.keystore.certificate.chain and ssl.keystore.key): a TLS listener needs a keystore")
	}
	s := &Server{}
	if err := s.load(c); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) load(c Config) error {
	tc, err := c.build()
	if err != nil {
		return err
	}
	s.install(c, tc)
	return nil
}

// build reads c's stores into a server configuration.
func (c Config) build() (*tls.Config, error) {
	tc, err := c.base()
	if err != nil {
		return nil, err
	}
	cert, err := c.LoadKeystore()
	if err != nil {
		return nil, err
	}
	pool, err := c.LoadTruststore()
	if err != nil {
		return nil, err
	}
	tc.Certificates = []tls.Certificate{cert}
	tc.ClientCAs = pool
	switch c.ClientAuth {
	case "required":
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	case "requested":
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	default:
		tc.ClientAuth = tls.NoClientCert
	}
	return tc, nil
}

// SetUpdateRules sets what stores re-read from changed files may change
// (the zero value, until set: Kafka's defaults, keep the subject and the
// subject alternative names).
func (s *Server) SetUpdateRules(r UpdateRules) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = r
}

// install makes tc the configuration of new connections.
func (s *Server) install(c Config, tc *tls.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg = c
	s.stamps = stampFiles(c.KeystoreLocation, c.TruststoreLocation)
	s.checked = time.Now()
	s.cur.Store(tc)
}

func stampFiles(paths ...string) []fileStamp {
	var out []fileStamp
	for _, p := range paths {
		if p == "" {
			continue
		}
		st := fileStamp{path: p}
		if fi, err := os.Stat(p); err == nil {
			st.mod, st.size = fi.ModTime(), fi.Size()
			st.data, _ = os.ReadFile(p)
		}
		out = append(out, st)
	}
	return out
}

// changed reports whether a store file differs from when it was loaded:
// its time or size, or (same second, same size) its bytes.
func (s *Server) changedLocked() bool {
	for _, st := range s.stamps {
		fi, err := os.Stat(st.path)
		if err != nil {
			continue // gone for now (being replaced): keep what we have
		}
		if !fi.ModTime().Equal(st.mod) || fi.Size() != st.size {
			return true
		}
		if data, err := os.ReadFile(st.path); err == nil && !bytes.Equal(data, st.data) {
			return true
		}
	}
	return false
}

// Config returns the configuration for a new connection, reloading the
// stores first if their files changed.
func (s *Server) Config() *tls.Config {
	s.mu.Lock()
	due := time.Since(s.checked) >= PollInterval
	var reload bool
	var c Config
	var rules UpdateRules
	if due {
		s.checked = time.Now()
		reload = s.changedLocked()
		c, rules = s.cfg, s.rules
	}
	s.mu.Unlock()
	if reload {
		tc, err := s.prepare(c, rules)
		if err == nil {
			s.install(c, tc)
		} else {
			// Do not retry every handshake: wait for the next change.
			s.mu.Lock()
			s.stamps = stampFiles(c.KeystoreLocation, c.TruststoreLocation)
			s.mu.Unlock()
		}
		if s.OnReload != nil {
			s.OnReload(err)
		}
	}
	return s.cur.Load()
}

// TLSConfig is a tls.Config whose every handshake uses the current
// stores (for tls.NewListener).
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return s.Config(), nil }}
}

// Client returns a client configuration for connecting to serverName:
// the truststore verifies the server (the system roots without one), the
// keystore, if any, is offered for mutual TLS, and the host name is
// checked when EndpointIdentification is https.
func Client(c Config, serverName string) (*tls.Config, error) {
	tc, err := c.base()
	if err != nil {
		return nil, err
	}
	if c.HasKeystore() {
		cert, err := c.LoadKeystore()
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	pool, err := c.LoadTruststore()
	if err != nil {
		return nil, err
	}
	tc.RootCAs = pool
	tc.ServerName = serverName
	if c.EndpointIdentification == "" {
		// Verify the chain, not the name.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			opts := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool()}
			for _, ic := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(ic)
			}
			if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
				return fmt.Errorf("verifying the server's certificate: %w", err)
			}
			return nil
		}
	}
	return tc, nil
}
