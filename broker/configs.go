package broker

import (
	"maps"

	"gregor/broker/config"
)

// dynamicConfigs is the configuration in force: the static configuration
// with the dynamic broker configs the backend last delivered (this
// broker's own and the cluster-wide defaults). A value is never modified
// once stored; changed is closed when it is replaced.
type dynamicConfigs struct {
	cfg     *config.Config
	changed chan struct{}
}

// dynamic returns the dynamic configs now in force.
func (b *Broker) dynamic() *dynamicConfigs { return b.dyn.Load() }

// Config is the configuration in force, dynamic broker configs included.
func (b *Broker) Config() *config.Config { return b.dynamic().cfg }

// ApplyBrokerConfigs takes the dynamic broker configs (BrokerConfigApplier).
func (a applier) ApplyBrokerConfigs(defaults, perBroker map[string]string) {
	a.b.setDynamic(defaults, perBroker)
}

// setDynamic rebuilds the configuration in force from new dynamic configs
// and re-resolves every topic's configuration from it; deliveries are
// serialised by the backend. Configs that cannot be applied are logged
// and left out, as Kafka does.
func (b *Broker) setDynamic(defaults, perBroker map[string]string) {
	cfg, errs := b.cfg.WithDynamic(config.Dynamic{PerBroker: maps.Clone(perBroker), Defaults: maps.Clone(defaults)})
	for _, err := range errs {
		b.log.Error().Err(err).Msg("dynamic broker config ignored")
	}
	next := &dynamicConfigs{cfg: cfg, changed: make(chan struct{})}
	b.applyListenerTLS(cfg)
	old := b.dyn.Swap(next)
	close(old.changed)
	od, nd := old.cfg.Dynamic, next.cfg.Dynamic
	if !maps.Equal(od.PerBroker, nd.PerBroker) || !maps.Equal(od.Defaults, nd.Defaults) {
		b.log.Info().Interface("per_broker", config.Redacted(nd.PerBroker)).Interface("defaults", config.Redacted(nd.Defaults)).Msg("dynamic broker configs applied")
		logNoEffect(b, od.PerBroker, nd.PerBroker, true)
		logNoEffect(b, od.Defaults, nd.Defaults, false)
		b.reresolveTopics()
		b.mu.RLock()
		fns := b.configured
		b.mu.RUnlock()
		for _, fn := range fns {
			fn(cfg)
		}
	}
}

// logNoEffect says which newly set dynamic configs Gregor keeps without
// acting on (config.NoEffectKeys), and why.
func logNoEffect(b *Broker, old, cur map[string]string, perBroker bool) {
	changed := map[string]string{}
	for k, v := range cur {
		if ov, ok := old[k]; !ok || ov != v {
			changed[k] = v
		}
	}
	for _, in := range config.NoEffectKeys(changed, true) {
		b.log.Warn().Str("key", in.Key).Str("why", in.Why).Bool("per_broker", perBroker).Msg("dynamic broker config stored but has no effect in Gregor")
	}
}

// resolveTopic returns a topic's effective config: its overrides over the
// configuration in force.
func (b *Broker) resolveTopic(_ string, overrides map[string]string) config.Topic {
	return b.Config().ResolveTopic(overrides)
}

// newTopicConfig resolves a topic's overrides into what it keeps.
func (b *Broker) newTopicConfig(overrides map[string]string) *topicConfig {
	tc := &topicConfig{overrides: maps.Clone(overrides), resolved: b.resolveTopic("", overrides)}
	tc.leaderThrottled = parseThrottled(tc.resolved.LeaderThrottledReplicas, b.id)
	tc.followerThrottled = parseThrottled(tc.resolved.FollowerThrottledReplicas, b.id)
	return tc
}

// reresolveTopics recomputes every topic's effective configuration after
// the dynamic broker configs changed, and has the logs take their new
// settings (retention, segments, flushing) without waiting for them.
func (b *Broker) reresolveTopics() {
	for _, t := range b.Topics() {
		cur := t.cfg.Load()
		next := b.newTopicConfig(cur.overrides)
		if next.resolved == cur.resolved {
			continue
		}
		t.cfg.Store(next)
		for _, p := range t.Partitions() {
			p.postConfig()
		}
	}
}
