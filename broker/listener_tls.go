package broker

// Listener TLS reconfigured through dynamic broker configs, as Kafka's
// DynamicListenerConfig reconfigures its SslFactory: a per-broker
// listener.name.<l>.ssl.keystore.* or truststore key altered with
// AlterConfigs or IncrementalAlterConfigs is checked before it is
// recorded (the stores load, the certificate keeps its subject and
// alternative names unless ssl.allow.dn.changes/ssl.allow.san.changes,
// see tlsconf.Server.CheckUpdate), answered INVALID_REQUEST otherwise (api_33_alter_configs.go), and
// applied as soon as this broker's configuration in force changes: new
// connections of the listener get the new certificate, those open keep
// theirs. The servers are registered by whoever opens the listeners.

import (
	"fmt"
	"sync"

	"gregor/broker/config"
	"gregor/protocol/tlsconf"
)

// listenerTLS is the TLS of this broker's listeners.
type listenerTLS struct {
	mu sync.Mutex
	// guarded by mu:
	servers map[string]*tlsconf.Server // by listener name
	applied map[string]tlsconf.Config  // the settings each was last given
}

// AddListenerTLS registers the TLS server of a listener, built from
// settings built; the configuration in force is applied to it at once if
// it differs (a dynamic config delivered before the listener opened).
func (b *Broker) AddListenerTLS(listener string, srv *tlsconf.Server, built tlsconf.Config) {
	b.tls.mu.Lock()
	if b.tls.servers == nil {
		b.tls.servers, b.tls.applied = map[string]*tlsconf.Server{}, map[string]tlsconf.Config{}
	}
	b.tls.servers[listener], b.tls.applied[listener] = srv, built
	srv.SetUpdateRules(updateRules(b.Config(), listener))
	b.tls.mu.Unlock()
	b.applyListenerTLS(b.Config())
}

// updateRules are what a dynamic update of a listener's stores may change.
func updateRules(cfg *config.Config, listener string) tlsconf.UpdateRules {
	return tlsconf.UpdateRules{
		AllowDNChanges:  cfg.ListenerValue(listener, "ssl.allow.dn.changes") == "true",
		AllowSANChanges: cfg.ListenerValue(listener, "ssl.allow.san.changes") == "true",
		MutualTrust:     listener == cfg.InterBrokerListener,
	}
}

// checkListenerTLS checks the TLS settings of every listener that next
// changes against the stores in use, changing nothing.
func (b *Broker) checkListenerTLS(next *config.Config) error {
	b.tls.mu.Lock()
	defer b.tls.mu.Unlock()
	for name, srv := range b.tls.servers {
		c := next.ListenerTLS(name)
		if c.Equal(b.tls.applied[name]) {
			continue
		}
		if err := srv.CheckUpdate(c, updateRules(next, name)); err != nil {
			return fmt.Errorf("Validation of dynamic config update of SSLFactory of listener %s failed: %w", name, err)
		}
	}
	return nil
}

// applyListenerTLS gives each listener's server its settings in cfg, if
// they changed. A failure is logged and the stores in use stay (the
// update was checked before it was recorded, so only a file changed or
// removed since then fails here).
func (b *Broker) applyListenerTLS(cfg *config.Config) {
	b.tls.mu.Lock()
	defer b.tls.mu.Unlock()
	for name, srv := range b.tls.servers {
		// Stores re-read from changed files follow the rules in force.
		srv.SetUpdateRules(updateRules(cfg, name))
		c := cfg.ListenerTLS(name)
		if c.Equal(b.tls.applied[name]) {
			continue
		}
		b.tls.applied[name] = c
		if err := srv.Reconfigure(c, updateRules(cfg, name)); err != nil {
			b.log.Error().Err(err).Str("listener", name).Msg("dynamic TLS config of the listener not applied; its previous keystore and truststore stay in use")
			continue
		}
		b.log.Info().Str("listener", name).Str("keystore", storeName(c.KeystoreLocation)).Str("truststore", storeName(c.TruststoreLocation)).
			Msg("listener TLS reconfigured: new connections get the new keystore and truststore")
	}
}

// storeName names a store in logs: its file, or "inline" for PEM in the
// config (never its content).
func storeName(location string) string {
	if location == "" {
		return "inline"
	}
	return location
}
