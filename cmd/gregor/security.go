package main

// Each listener's security, built from the configuration: the TLS stores
// (re-read when their files change), the principal mapping rules, and the
// SASL mechanisms with their JAAS options and credential store. Anything
// that cannot be read stops start-up with the key that names it.

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"gregor/broker/config"
	"gregor/protocol"
	"gregor/protocol/sasl"
	"gregor/protocol/tlsconf"
)

// listenerSecurity builds a listener's security; nil for PLAINTEXT.
func listenerSecurity(cfg *config.Config, name string, store sasl.CredentialStore, log zerolog.Logger) (*protocol.Security, error) {
	proto := cfg.ListenerProtocols[name]
	if proto == "" || proto == protocol.Plaintext {
		return nil, nil
	}
	sec := &protocol.Security{Protocol: proto, MaxReauth: map[string]time.Duration{}}
	if config.IsTLS(proto) {
		srv, err := tlsconf.NewServer(cfg.ListenerTLS(name))
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", name, err)
		}
		srv.OnReload = func(err error) {
			if err != nil {
				log.Error().Err(err).Str("listener", name).Msg("reloading the TLS keystore or truststore failed; the previous certificates stay in use")
				return
			}
			log.Info().Str("listener", name).Msg("TLS keystore and truststore reloaded")
		}
		sec.TLS = srv
		m, err := tlsconf.ParseMapper(cfg.ListenerValue(name, "ssl.principal.mapping.rules"))
		if err != nil {
			return nil, fmt.Errorf("ssl.principal.mapping.rules: %w", err)
		}
		sec.Mapper = m
	}
	if !config.IsSASL(proto) {
		return sec, nil
	}
	for _, mech := range cfg.ListenerMechanisms(name) {
		m, err := mechanism(cfg, name, mech, store)
		if err != nil {
			return nil, err
		}
		sec.Mechanisms = append(sec.Mechanisms, m)
		reauth := cfg.ListenerValue(name, "connections.max.reauth.ms")
		if v, ok := cfg.ListenerMechanismValue(name, mech, "connections.max.reauth.ms"); ok {
			reauth = v
		}
		ms, err := strconv.ParseInt(strings.TrimSpace(reauth), 10, 64)
		if err != nil || ms < 0 {
			return nil, fmt.Errorf("connections.max.reauth.ms of listener %s, mechanism %s: %q", name, mech, reauth)
		}
		sec.MaxReauth[mech] = time.Duration(ms) * time.Millisecond
	}
	return sec, nil
}

func mechanism(cfg *config.Config, listener, mech string, store sasl.CredentialStore) (sasl.Mechanism, error) {
	jaas, err := cfg.ListenerJAAS(listener, mech)
	if err != nil {
		return nil, err
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlain(sasl.PlainUsers(jaas.Options)), nil
	case sasl.ScramSHA256, sasl.ScramSHA512:
		return sasl.NewScram(mech, store)
	case sasl.OAuthBearer:
		v, err := oauthValidator(cfg, listener, jaas)
		if err != nil {
			return nil, err
		}
		return sasl.NewOAuthBearer(v), nil
	}
	return nil, fmt.Errorf("sasl.enabled.mechanisms: %s is not supported", mech)
}

func oauthValidator(cfg *config.Config, listener string, jaas sasl.JAASEntry) (sasl.TokenValidator, error) {
	if _, set := cfg.ListenerMechanismValue(listener, sasl.OAuthBearer, "sasl.server.callback.handler.class"); !set {
		return sasl.NewUnsecured(jaas.Options)
	}
	v := func(k string) string { return cfg.ListenerValue(listener, k) }
	skew, err := strconv.Atoi(v("sasl.oauthbearer.clock.skew.seconds"))
	if err != nil {
		return nil, fmt.Errorf("sasl.oauthbearer.clock.skew.seconds: %w", err)
	}
	var aud []string
	for _, a := range strings.Split(v("sasl.oauthbearer.expected.audience"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			aud = append(aud, a)
		}
	}
	path := strings.TrimPrefix(strings.TrimPrefix(v("sasl.oauthbearer.jwks.endpoint.url"), "file:"), "//")
	jv := &sasl.JWKSValidator{Path: path, SubClaim: v("sasl.oauthbearer.sub.claim.name"), ScopeClaim: v("sasl.oauthbearer.scope.claim.name"),
		Issuer: v("sasl.oauthbearer.expected.issuer"), Audience: aud, ClockSkew: time.Duration(skew) * time.Second}
	if err := jv.Load(); err != nil {
		return nil, fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url: %w", err)
	}
	return jv, nil
}
