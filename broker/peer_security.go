package broker

// The security of connections between brokers: the inter-broker
// listener's protocol decides TLS (with the listener's keystore offered
// for mutual TLS and its truststore verifying the peer, the host name
// checked as ssl.endpoint.identification.algorithm says) and SASL (the
// mechanism sasl.mechanism.inter.broker.protocol, with the username and
// password of the listener's JAAS config for it). A failed authentication
// is logged as an error: a broker with a wrong inter-broker password is
// never silently accepted, and it says so.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

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
	if err := b.saslPeer(ctx, pc, listener); err != nil {
		b.badInput.Error().Err(err).Int32("broker", pc.id).Str("listener", listener).Str("mechanism", b.cfg.SASLMechanismInterBroker).Msg("inter-broker authentication failed")
		return err
	}
	return nil
}

func (b *Broker) saslPeer(ctx context.Context, pc *peerConn, listener string) error {
	mech := b.cfg.SASLMechanismInterBroker
	jaas, err := b.cfg.ListenerJAAS(listener, mech)
	if err != nil {
		return err
	}
	cl, err := sasl.NewClient(mech, jaas.Options)
	if err != nil {
		return err
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, mech
	r, err := pc.request(ctx, hs)
	if err != nil {
		return fmt.Errorf("SaslHandshake with broker %d: %w", pc.id, err)
	}
	if code := r.(*kmsg.SASLHandshakeResponse).ErrorCode; code != 0 {
		return fmt.Errorf("%w: broker %d: SaslHandshake %s: %v", ErrPeerAuthentication, pc.id, mech, kerr.ErrorForCode(code))
	}
	tok, done, err := cl.Step(nil)
	for err == nil && !done {
		ar := kmsg.NewPtrSASLAuthenticateRequest()
		ar.Version, ar.SASLAuthBytes = 1, tok
		var resp kmsg.Response
		if resp, err = pc.request(ctx, ar); err != nil {
			return fmt.Errorf("%w: broker %d closed the connection during SASL %s authentication: %v", ErrPeerAuthentication, pc.id, mech, err)
		}
		sr := resp.(*kmsg.SASLAuthenticateResponse)
		if sr.ErrorCode != 0 {
			msg := ""
			if sr.ErrorMessage != nil {
				msg = *sr.ErrorMessage
			}
			return fmt.Errorf("%w: broker %d: %v: %s", ErrPeerAuthentication, pc.id, kerr.ErrorForCode(sr.ErrorCode), msg)
		}
		tok, done, err = cl.Step(sr.SASLAuthBytes)
	}
	if err != nil {
		return fmt.Errorf("%w: broker %d: %v", ErrPeerAuthentication, pc.id, err)
	}
	return nil
}
