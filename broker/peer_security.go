package broker

// The security of connections between brokers: the inter-broker
// listener's protocol decides TLS (with the listener's keystore offered
// for mutual TLS and its truststore verifying the peer, the host name
// checked as ssl.endpoint.identification.algorithm says) and SASL (the
// mechanism sasl.mechanism.inter.broker.protocol, with the username and
// password of the listener's JAAS config for it). A failed authentication
// is logged as an error: a broker with a wrong inter-broker password is
// never silently accepted, and it says so.
//
// A SASL session the other broker bounds (connections.max.reauth.ms, an
// OAUTHBEARER token's lifetime: SaslAuthenticate's SessionLifetimeMs) is
// renewed on the same connection before it ends, as Kafka's
// SaslClientAuthenticator re-authenticates its channels (KIP-368): before
// the first request sent after a random 85-95% of the lifetime, the
// connection runs SaslHandshake and SaslAuthenticate again (a new token
// for OAUTHBEARER). The other broker closes a connection whose session
// ended at its next request, so without this every follower's fetch
// connection was cut once per lifetime (and fetched again after a backoff,
// in full).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/config"
	"gregor/protocol/sasl"
	"gregor/protocol/tlsconf"
)

// ErrPeerAuthentication marks a failed authentication to another broker.
var ErrPeerAuthentication = errors.New("inter-broker authentication failed")

// securePeer runs TLS and SASL on a new connection to another broker.
func (b *Broker) securePeer(ctx context.Context, pc *peerConn, listener, host string) error {
	proto := b.cfg.ListenerProtocols[listener]
	if config.IsTLS(proto) {
		tc, err := tlsconf.Client(b.Config().ListenerTLS(listener), host)
		if err != nil {
			return fmt.Errorf("inter-broker TLS configuration of listener %s: %w", listener, err)
		}
		conn := tls.Client(pc.conn, tc)
		if err := conn.HandshakeContext(ctx); err != nil {
			err = fmt.Errorf("%w: TLS handshake with broker %d: %v", ErrPeerAuthentication, pc.id, err)
			b.badInput.Error().Err(err).Int32("broker", pc.id).Str("listener", listener).Msg("inter-broker authentication failed")
			return err
		}
		pc.conn = conn
	}
	if !config.IsSASL(proto) {
		return nil
	}
	pc.listener = listener
	return b.authenticatePeer(ctx, pc)
}

// authenticatePeer runs the SASL exchange on pc (again, to re-authenticate)
// and schedules its re-authentication.
func (b *Broker) authenticatePeer(ctx context.Context, pc *peerConn) error {
	pc.reauthAt = time.Time{}
	lifetime, err := b.saslPeer(ctx, pc, pc.listener)
	if err != nil && ctx.Err() != nil {
		return err // given up (shutdown, an aborted fetch), not refused
	}
	if err != nil {
		b.badInput.Error().Err(err).Int32("broker", pc.id).Str("listener", pc.listener).Str("mechanism", b.cfg.SASLMechanismInterBroker).Msg("inter-broker authentication failed")
		return err
	}
	if lifetime > 0 {
		pc.reauthAt = time.Now().Add(reauthDelay(lifetime))
	}
	return nil
}

// reauthDelay is when, into a session of the given lifetime, a connection
// re-authenticates: at a random 85% to 95% of it, as Kafka's
// SaslClientAuthenticator picks, leaving room for latency and clock drift
// and spreading the connections' re-authentications apart.
func reauthDelay(lifetime time.Duration) time.Duration {
	return time.Duration(float64(lifetime) * (0.85 + 0.10*rand.Float64()))
}

// maybeReauthenticate re-authenticates the connection if its session is
// due for it (a no-op for connections without a session lifetime).
func (c *peerConn) maybeReauthenticate(ctx context.Context) error {
	if c.reauthAt.IsZero() || time.Now().Before(c.reauthAt) {
		return nil
	}
	if err := c.b.authenticatePeer(ctx, c); err != nil {
		return fmt.Errorf("re-authenticating to broker %d: %w", c.id, err)
	}
	return nil
}

// saslPeer runs one SASL exchange on pc; it returns the session lifetime
// the other broker set (0: none).
func (b *Broker) saslPeer(ctx context.Context, pc *peerConn, listener string) (time.Duration, error) {
	mech := b.cfg.SASLMechanismInterBroker
	jaas, err := b.cfg.ListenerJAAS(listener, mech)
	if err != nil {
		return 0, err
	}
	cl, err := sasl.NewClient(mech, jaas.Options)
	if err != nil {
		return 0, err
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, mech
	r, err := pc.request(ctx, hs)
	if err != nil {
		return 0, fmt.Errorf("SaslHandshake with broker %d: %w", pc.id, err)
	}
	if code := r.(*kmsg.SASLHandshakeResponse).ErrorCode; code != 0 {
		return 0, fmt.Errorf("%w: broker %d: SaslHandshake %s: %v", ErrPeerAuthentication, pc.id, mech, kerr.ErrorForCode(code))
	}
	var lifetime time.Duration
	tok, done, err := cl.Step(nil)
	for err == nil && !done {
		ar := kmsg.NewPtrSASLAuthenticateRequest()
		ar.Version, ar.SASLAuthBytes = 1, tok
		var resp kmsg.Response
		if resp, err = pc.request(ctx, ar); err != nil {
			return 0, fmt.Errorf("%w: broker %d closed the connection during SASL %s authentication: %v", ErrPeerAuthentication, pc.id, mech, err)
		}
		sr := resp.(*kmsg.SASLAuthenticateResponse)
		if sr.ErrorCode != 0 {
			msg := ""
			if sr.ErrorMessage != nil {
				msg = *sr.ErrorMessage
			}
			return 0, fmt.Errorf("%w: broker %d: %v: %s", ErrPeerAuthentication, pc.id, kerr.ErrorForCode(sr.ErrorCode), msg)
		}
		lifetime = time.Duration(sr.SessionLifetimeMillis) * time.Millisecond
		tok, done, err = cl.Step(sr.SASLAuthBytes)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: broker %d: %v", ErrPeerAuthentication, pc.id, err)
	}
	return lifetime, nil
}
