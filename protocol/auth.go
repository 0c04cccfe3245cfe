package protocol

// Authentication of connections, as Kafka's SocketServer, KafkaChannel
// and SaslServerAuthenticator do it.
//
//   - PLAINTEXT: every connection is User:ANONYMOUS.
//   - SSL: the TLS handshake runs first (a failed one is a failed
//     authentication); the principal comes from the client certificate's
//     subject through ssl.principal.mapping.rules, User:ANONYMOUS without
//     one.
//   - SASL_PLAINTEXT, SASL_SSL (after the TLS handshake): until the SASL
//     exchange completes only ApiVersions and SaslHandshake are served;
//     any other request closes the connection. SaslHandshake v0 is
//     followed by raw, size-prefixed SASL tokens (no request header); v1
//     by SaslAuthenticate requests, and then nothing else until the
//     exchange ends (a SaslHandshake or ApiVersions then is answered
//     ILLEGAL_SASL_STATE before the close, as Kafka answers any request
//     in kind; others close at once). An unsupported mechanism is answered with
//     UNSUPPORTED_SASL_MECHANISM and a failed exchange with
//     SASL_AUTHENTICATION_FAILED, and the connection is closed once the
//     answer is written.
//   - A completed exchange may set a session lifetime (the token's expiry,
//     connections.max.reauth.ms): SaslAuthenticate v1+ reports it, a
//     request after it closes the connection, and a SaslHandshake on the
//     authenticated connection re-authenticates it (KIP-368), at most once
//     a second, with the same mechanism and principal.
//
// After authentication SaslHandshake and SaslAuthenticate go to their
// registry handlers, which answer ILLEGAL_SASL_STATE as KafkaApis does.
//
// The reader goroutine owns a connection's authentication state; the
// principal is published atomically for handlers (ConnInfo.Principal).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol/sasl"
	"gregor/protocol/tlsconf"
)

// Security protocols.
const (
	Plaintext     = "PLAINTEXT"
	SSL           = "SSL"
	SASLPlaintext = "SASL_PLAINTEXT"
	SASLSSL       = "SASL_SSL"
)

// Principal is who a connection authenticated as (Kafka's KafkaPrincipal).
type Principal struct {
	Type string // "User"
	Name string
	// TokenAuthenticated is set when a delegation token authenticated the
	// connection (Kafka's KafkaPrincipal.tokenAuthenticated): such a
	// client may not create, renew or expire tokens.
	TokenAuthenticated bool
}

func (p Principal) String() string { return p.Type + ":" + p.Name }

// Anonymous is the principal of unauthenticated connections.
var Anonymous = Principal{Type: "User", Name: "ANONYMOUS"}

// Security is how a listener authenticates its connections. Nil means
// PLAINTEXT.
type Security struct {
	// Protocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
	Protocol string
	// TLS serves SSL and SASL_SSL.
	TLS *tlsconf.Server
	// Mapper maps SSL client certificate names (ssl.principal.mapping.rules).
	Mapper *tlsconf.Mapper
	// Mechanisms are the enabled SASL mechanisms, in the order
	// SaslHandshake lists them.
	Mechanisms []sasl.Mechanism
	// MaxReauth is connections.max.reauth.ms by mechanism (0: no limit).
	MaxReauth map[string]time.Duration
}

func (s *Security) sasl() bool {
	return s != nil && (s.Protocol == SASLPlaintext || s.Protocol == SASLSSL)
}

func (s *Security) mechanism(name string) sasl.Mechanism {
	for _, m := range s.Mechanisms {
		if m.Name() == name {
			return m
		}
	}
	return nil
}

func (s *Security) mechanismNames() []string {
	out := make([]string, len(s.Mechanisms))
	for i, m := range s.Mechanisms {
		out[i] = m.Name()
	}
	return out
}

// Hard limits of authentication, with the reason for each.
const (
	// tlsHandshakeTimeout bounds a TLS handshake: a client that opens a
	// connection and sends nothing must not hold it for the idle time.
	tlsHandshakeTimeout = 10 * time.Second
	// minReauthInterval is Kafka's: a connection re-authenticates at most
	// once a second.
	minReauthInterval = time.Second
)

// AuthStats count authentications by listener and mechanism ("SSL" for
// TLS handshakes).
type AuthStats struct {
	mu sync.Mutex
	// guarded by mu:
	counts map[authKey]uint64
}

type authKey struct {
	Listener, Mechanism string
	OK                  bool
}

// AuthCount is one counter of AuthStats.
type AuthCount struct {
	Listener, Mechanism string
	OK                  bool
	N                   uint64
}

func (a *AuthStats) add(listener, mechanism string, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.counts == nil {
		a.counts = map[authKey]uint64{}
	}
	a.counts[authKey{listener, mechanism, ok}]++
}

// Counts returns the counters, sorted.
func (a *AuthStats) Counts() []AuthCount {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]AuthCount, 0, len(a.counts))
	for k, n := range a.counts {
		out = append(out, AuthCount{k.Listener, k.Mechanism, k.OK, n})
	}
	sort.Slice(out, func(i, j int) bool {
		x, y := out[i], out[j]
		if x.Listener != y.Listener {
			return x.Listener < y.Listener
		}
		if x.Mechanism != y.Mechanism {
			return x.Mechanism < y.Mechanism
		}
		return !x.OK && y.OK
	})
	return out
}

type authState int8

const (
	authInitial      authState = iota // ApiVersions or SaslHandshake expected
	authRawToken                      // SaslHandshake v0 done: raw tokens
	authAuthenticate                  // SaslHandshake v1 done: SaslAuthenticate
	authDone
)

// authConn is one SASL connection's authentication state (reader-owned).
type authConn struct {
	sec    *Security
	state  authState
	mech   string
	server sasl.Server
	// reauth is set while a re-authentication runs; prev is the
	// principal it must keep, badMech the error for a changed mechanism.
	reauth    bool
	prev      Principal
	prevMech  string
	badMech   string
	expiry    time.Time // session expiry; zero: none
	lastStart time.Time // of the last re-authentication
}

// errStopReading ends reading; what was queued is still written, then
// the connection closes (a response that closes the connection).
var errStopReading = errors.New("closing after the response")

// startTLS runs the TLS handshake of an SSL or SASL_SSL connection and
// sets the principal of an SSL one.
func (c *conn) startTLS() error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(c.ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		err = fmt.Errorf("TLS handshake: %w", err)
		if !peerGone(err) {
			c.authFailed("SSL", "", err)
		}
		return err
	}
	if c.sec.Protocol != SSL {
		return nil
	}
	st := tc.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		c.s.Auth.add(c.info.Listener, "SSL", true)
		return nil // User:ANONYMOUS
	}
	dn := tlsconf.SubjectName(st.PeerCertificates[0])
	name := dn
	if c.sec.Mapper != nil {
		var err error
		if name, err = c.sec.Mapper.Name(dn); err != nil {
			c.authFailed("SSL", dn, err)
			return err
		}
	}
	c.s.Auth.add(c.info.Listener, "SSL", true)
	p := Principal{Type: "User", Name: name}
	c.info.setPrincipal(p)
	if c.log.Debug().Enabled() {
		c.log.Debug().Str("principal", p.String()).Str("mechanism", "SSL").Msg("authenticated")
	}
	return nil
}

// peerGone reports a TLS handshake that ended because the client went
// away or never finished (it closed or reset the connection, or stayed
// silent past the handshake timeout): not a failed authentication, as
// Kafka's SslTransportLayer raises an IOException for it (EOF during
// handshake), not an SslAuthenticationException. A TCP health check of an
// SSL listener is therefore not counted or logged as one.
func peerGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled)
}

// authFailed counts and logs (rate limited) a failed authentication.
func (c *conn) authFailed(mechanism, user string, err error) {
	c.s.Auth.add(c.info.Listener, mechanism, false)
	ev := c.s.authLog.Warn().Str(LogListener, c.info.Listener).Str(LogRemote, c.nc.RemoteAddr().String()).Str("mechanism", mechanism)
	if user != "" {
		ev = ev.Str("user", user)
	}
	ev.Err(err).Msg("failed authentication")
}

// frameLimits are the request sizes read now: before authentication a
// SASL connection reads no more than a SASL token (Kafka's
// sasl.server.max.receive.size), and a raw token may be short.
func (c *conn) frameLimits() (lo, hi int32) {
	hi = c.s.MaxRequestSize
	if c.auth == nil || c.auth.state == authDone {
		return minRequestSize, hi
	}
	limit := int32(sasl.MaxTokenSize)
	if c.s.SASLMaxReceiveSize > 0 {
		limit = c.s.SASLMaxReceiveSize
	}
	hi = min(hi, limit)
	if c.auth.state == authRawToken {
		return 0, hi
	}
	return minRequestSize, hi
}

// rawToken handles a v0 SASL token.
func (c *conn) rawToken(token []byte) (*pending, error) {
	a := c.auth
	challenge, done, err := a.server.Step(token)
	if err != nil {
		c.authFailed(a.mech, a.server.Attempted(), err)
		return nil, fmt.Errorf("%w: SASL %s: %w", errAuthFailed, a.mech, err)
	}
	p := &pending{hdr: header{key: 36}, raw: challenge}
	if done {
		if err := c.authCompleted(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// authCompleted records a completed exchange: the principal, the session
// lifetime, the state.
func (c *conn) authCompleted() error {
	a := c.auth
	out := a.server.Outcome()
	p := Principal{Type: "User", Name: out.User, TokenAuthenticated: out.TokenAuthenticated}
	if a.reauth && (p.Type != a.prev.Type || p.Name != a.prev.Name) {
		err := fmt.Errorf("Cannot change principals during re-authentication from %s.%s: %s.%s", a.prev.Type, a.prev.Name, p.Type, p.Name)
		c.authFailed(a.mech, out.User, err)
		return &sasl.AuthError{Msg: err.Error()}
	}
	now := time.Now()
	a.expiry = time.Time{}
	lifetime := time.Duration(0)
	maxReauth := a.sec.MaxReauth[a.mech]
	switch {
	case !out.Expiry.IsZero() && maxReauth > 0:
		lifetime = max(0, min(out.Expiry.Sub(now), maxReauth))
	case !out.Expiry.IsZero():
		lifetime = max(0, out.Expiry.Sub(now))
	case maxReauth > 0:
		lifetime = maxReauth
	}
	if !out.Expiry.IsZero() || maxReauth > 0 {
		a.expiry = now.Add(lifetime)
	}
	reauth := a.reauth
	a.state, a.reauth, a.server, a.badMech = authDone, false, nil, ""
	c.info.setPrincipal(p)
	c.s.Auth.add(c.info.Listener, a.mech, true)
	if c.log.Debug().Enabled() {
		c.log.Debug().Str("principal", p.String()).Str("mechanism", a.mech).Dur("session", lifetime).Bool("reauthentication", reauth).Msg("authenticated")
	}
	c.sessionLifetime = lifetime
	return nil
}

// allowed reports whether a request key may be read in the current
// state; a request that may not closes the connection.
func (a *authConn) allowed(key int16) error {
	switch a.state {
	case authInitial:
		if key == 18 || key == 17 {
			return nil
		}
		return fmt.Errorf("Unexpected Kafka request of type %s during SASL handshake.", kmsg.NameForKey(key))
	case authAuthenticate:
		if key == 36 || key == 17 || key == 18 {
			return nil // 17 and 18 are answered ILLEGAL_SASL_STATE (intercept)
		}
		return fmt.Errorf("Unexpected Kafka request of type %s during SASL authentication.", kmsg.NameForKey(key))
	}
	return nil
}

// illegalDuringAuthenticate answers a SaslHandshake or ApiVersions sent
// while SaslAuthenticate is due, as Kafka's SaslServerAuthenticator does:
// the request's error response with ILLEGAL_SASL_STATE (no mechanisms, no
// API versions), then the connection closes as after a failed
// authentication. Other requests then cannot be answered in kind and
// close the connection at once (allowed).
func (c *conn) illegalDuringAuthenticate(h header, req *Request) *pending {
	err := fmt.Errorf("Unexpected Kafka request of type %s during SASL authentication.", kmsg.NameForKey(req.Key))
	c.authFailed(c.auth.mechOrNone(), "", err)
	var resp kmsg.Response
	switch body := req.Body.(type) {
	case *kmsg.SASLHandshakeRequest:
		r := body.ResponseKind().(*kmsg.SASLHandshakeResponse)
		r.ErrorCode, r.SupportedMechanisms = kerr.IllegalSaslState.Code, []string{}
		resp = r
	case *kmsg.ApiVersionsRequest:
		r := body.ResponseKind().(*kmsg.ApiVersionsResponse)
		r.ErrorCode = kerr.IllegalSaslState.Code
		resp = r
	}
	return &pending{hdr: h, resp: resp, closeAfter: true, authFailure: true}
}

// intercept handles the SASL requests the authenticator owns; handled is
// false for requests that go to their registry handlers.
func (c *conn) intercept(h header, req *Request) (p *pending, handled bool, err error) {
	a := c.auth
	switch {
	case a.state == authInitial && req.Key == 17:
		return c.handshake(h, req.Body.(*kmsg.SASLHandshakeRequest), req.Version), true, nil
	case a.state == authAuthenticate && req.Key == 36:
		return c.authenticate(h, req.Body.(*kmsg.SASLAuthenticateRequest), req.Version)
	case a.state == authAuthenticate:
		return c.illegalDuringAuthenticate(h, req), true, nil
	case a.state == authDone && req.Key == 17 && c.canReauth():
		a.reauth, a.prev, a.prevMech, a.lastStart = true, c.info.Principal(), a.mech, time.Now()
		return c.handshake(h, req.Body.(*kmsg.SASLHandshakeRequest), req.Version), true, nil
	case a.state == authDone && !a.expiry.IsZero() && time.Now().After(a.expiry):
		return nil, true, sessionExpiredError{fmt.Sprintf("%s v%d (correlation %d) after the SASL session expired at %s (connections.max.reauth.ms or the token's lifetime) without re-authentication",
			kmsg.NameForKey(h.key), h.version, h.correlation, a.expiry.Format(time.RFC3339Nano))}
	}
	return nil, false, nil
}

// sessionExpiredError closes a connection whose SASL session ended
// without re-authentication, at its next request, as Kafka's Processor
// disconnects an expired channel (logged at debug: a client that does not
// re-authenticate, older librdkafka for one, meets it once per session).
type sessionExpiredError struct{ msg string }

func (e sessionExpiredError) Error() string { return e.msg }

func (c *conn) canReauth() bool {
	a := c.auth
	return !a.expiry.IsZero() && time.Since(a.lastStart) >= minReauthInterval
}

func (c *conn) handshake(h header, req *kmsg.SASLHandshakeRequest, version int16) *pending {
	a := c.auth
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = a.sec.mechanismNames()
	m := a.sec.mechanism(req.Mechanism)
	if m == nil {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.authFailed(req.Mechanism, "", fmt.Errorf("Unsupported SASL mechanism %s (enabled: %s)", req.Mechanism, strings.Join(resp.SupportedMechanisms, ",")))
		return &pending{hdr: h, resp: resp, closeAfter: true, authFailure: true}
	}
	if a.reauth && req.Mechanism != a.prevMech {
		a.badMech = fmt.Sprintf("SASL mechanism '%s' requested by client is not supported for re-authentication of mechanism '%s'", req.Mechanism, a.prevMech)
	}
	a.mech, a.server = req.Mechanism, m.NewServer()
	if version == 0 {
		a.state = authRawToken
	} else {
		a.state = authAuthenticate
	}
	return &pending{hdr: h, resp: resp}
}

func (c *conn) authenticate(h header, req *kmsg.SASLAuthenticateRequest, version int16) (*pending, bool, error) {
	a := c.auth
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	fail := func(err error) (*pending, bool, error) {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := sasl.ClientMessage(err, a.mech, a.reauth)
		resp.ErrorMessage = &msg
		return &pending{hdr: h, resp: resp, closeAfter: true, authFailure: true}, true, nil
	}
	if a.badMech != "" {
		err := &sasl.AuthError{Msg: a.badMech}
		c.authFailed(a.mech, "", err)
		return fail(err)
	}
	challenge, done, err := a.server.Step(req.SASLAuthBytes)
	if err != nil {
		c.authFailed(a.mech, a.server.Attempted(), err)
		return fail(err)
	}
	if challenge == nil {
		challenge = []byte{}
	}
	resp.SASLAuthBytes = challenge
	if done {
		if err := c.authCompleted(); err != nil {
			return fail(err)
		}
		resp.SessionLifetimeMillis = c.sessionLifetime.Milliseconds()
	}
	return &pending{hdr: h, resp: resp}, true, nil
}

// Principal is the connection's principal: User:ANONYMOUS until it
// authenticates.
func (ci *ConnInfo) Principal() Principal {
	if p := ci.principal.Load(); p != nil {
		return *p
	}
	return Anonymous
}

func (ci *ConnInfo) setPrincipal(p Principal) { ci.principal.Store(&p) }

// Unauthenticated reports a connection of a SASL listener that has not
// authenticated yet: what it sends now (ApiVersions, the SASL requests)
// is served by the authenticator, as Kafka's SaslServerAuthenticator
// serves it, not by the APIs proper.
func (ci *ConnInfo) Unauthenticated() bool {
	return (ci.SecurityProtocol == SASLPlaintext || ci.SecurityProtocol == SASLSSL) && ci.principal.Load() == nil
}

// SetPrincipal sets the principal of a connection made in-process (tests
// that run requests through Registry.Serve); connections authenticate
// themselves.
func (ci *ConnInfo) SetPrincipal(p Principal) { ci.setPrincipal(p) }

// ClientHost is the client's IP address as authorizers match ACL hosts
// against it; empty when unknown.
func (ci *ConnInfo) ClientHost() string {
	if ci == nil || ci.Remote == nil {
		return ""
	}
	if ta, ok := ci.Remote.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(ci.Remote.String())
	if err != nil {
		return ci.Remote.String()
	}
	return host
}

// Authenticated reports whether the connection may send requests other
// than ApiVersions and the SASL ones.
func (c *conn) authenticated() bool { return c.auth == nil || c.auth.state == authDone }

// mechOrNone names the mechanism in use, for failure logs and counts.
func (a *authConn) mechOrNone() string {
	if a.mech == "" {
		return "none"
	}
	return a.mech
}
