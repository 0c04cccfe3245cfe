package broker

import (
	"context"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"gregor/broker/config"
	"gregor/broker/metadata"
)

// applier delivers backend metadata to the broker.
type applier struct{ b *Broker }

func (a applier) ApplyTopic(st metadata.TopicState) { a.b.applyTopic(st) }
func (a applier) RemoveTopic(name string)           { a.b.removeTopic(name) }
func (a applier) ApplyBrokers(bs []metadata.BrokerInfo, controller int32) {
	a.b.mu.Lock()
	a.b.brokers = slices.Clone(bs)
	slices.SortFunc(a.b.brokers, func(x, y metadata.BrokerInfo) int { return int(x.ID - y.ID) })
	a.b.controller = controller
	a.b.mu.Unlock()
}

// ApplyBrokerConfigs takes the dynamic broker configs (BrokerConfigApplier).
func (a applier) ApplyBrokerConfigs(defaults, perBroker map[string]string) {
	a.b.setDynamic(defaults, perBroker)
}

// dynamicConfigs are the broker configs altered at run time, as the
// backend last delivered them: this broker's own and the cluster-wide
// defaults. A value is never modified once stored; changed is closed when
// it is replaced.
type dynamicConfigs struct {
	perBroker, defaults map[string]string
	changed             chan struct{}
}

// dynamicPtr is where the broker keeps its dynamic configs.
func (b *Broker) dynamicPtr() *atomic.Pointer[dynamicConfigs] { return &b.dyn }

// dynamic returns the dynamic configs now in force.
func (b *Broker) dynamic() *dynamicConfigs { return b.dynamicPtr().Load() }

// snapshot returns copies of the dynamic configs.
func (d *dynamicConfigs) snapshot() (perBroker, defaults map[string]string) {
	return clone(d.perBroker), clone(d.defaults)
}

// setDynamic replaces the dynamic configs; deliveries are serialised by
// the backend.
func (b *Broker) setDynamic(defaults, perBroker map[string]string) {
	next := &dynamicConfigs{perBroker: clone(perBroker), defaults: clone(defaults), changed: make(chan struct{})}
	old := b.dynamicPtr().Swap(next)
	close(old.changed)
	if !maps.Equal(old.perBroker, next.perBroker) || !maps.Equal(old.defaults, next.defaults) {
		b.log.Info().Interface("per_broker", next.perBroker).Interface("defaults", next.defaults).Msg("dynamic broker configs applied")
		b.reresolveTopics()
	}
}

// awaitDynamic waits until the dynamic configs of this broker (perBroker)
// or the cluster defaults equal want, for at most 5 s or until ctx ends.
// It reports whether they do.
func (b *Broker) awaitDynamic(ctx context.Context, perBroker bool, want map[string]string) bool {
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	for {
		d := b.dynamic()
		have := d.defaults
		if perBroker {
			have = d.perBroker
		}
		if maps.Equal(have, want) {
			return true
		}
		select {
		case <-d.changed:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// applyTopic creates or updates a topic from metadata, then brings each
// partition to its state. Partitions are applied without Broker.mu held
// (lock order: Partition.mu before Broker.mu).
func (b *Broker) applyTopic(st metadata.TopicState) {
	b.mu.Lock()
	t := b.topics[st.Name]
	if t != nil && t.ID != st.ID {
		b.mu.Unlock()
		b.removeTopic(st.Name) // recreated under a new id
		b.mu.Lock()
		t = nil
	}
	cfgChanged := false
	if t == nil {
		t = &Topic{Name: st.Name, ID: st.ID, Internal: IsInternal(st.Name)}
		b.topics[st.Name], b.byID[st.ID] = t, t
		cfgChanged = true
	} else {
		cfgChanged = !maps.Equal(t.Overrides(), st.Configs)
	}
	if cfgChanged {
		t.cfg.Store(&topicConfig{overrides: maps.Clone(st.Configs), resolved: b.resolveTopic(st.Name, st.Configs)})
	}
	parts := slices.Clone(t.Partitions())
	for i := len(parts); i < len(st.Partitions); i++ {
		parts = append(parts, newPartition(b, t, int32(i)))
	}
	t.partitions.Store(&parts)
	dirs := b.dirs
	b.mu.Unlock()

	for i, p := range parts {
		if i >= len(st.Partitions) {
			break
		}
		wasLeader := p.IsLeader()
		if err := p.apply(st.Partitions[i], dirs); err != nil {
			b.log.Error().Err(err).Str("topic", st.Name).Int32("partition", int32(i)).Msg("applying partition state")
		}
		if cfgChanged {
			p.setLogConfig(b.logConfig(t.Config()))
		}
		if t.Internal && (wasLeader != p.IsLeader() || p.IsLeader()) {
			b.tellLeadership(st.Name, int32(i), p.IsLeader(), p.LeaderEpoch())
		}
	}
}

// resolveTopic returns a topic's effective config; internal topics get
// Kafka's fixed settings on top (compaction, their segment size).
func (b *Broker) resolveTopic(name string, overrides map[string]string) config.Topic {
	return b.cfg.ResolveTopicWith(overrides, b.dynamicTopicDefaults())
}

// dynamicTopicDefaults merges the dynamic broker configs that set topic
// defaults: this broker's own over the cluster-wide ones.
func (b *Broker) dynamicTopicDefaults() map[string]string {
	d := b.dynamic()
	if len(d.defaults) == 0 && len(d.perBroker) == 0 {
		return nil
	}
	out := clone(d.defaults)
	if out == nil {
		out = make(map[string]string)
	}
	maps.Copy(out, d.perBroker)
	return out
}

// reresolveTopics recomputes every topic's effective configuration after
// the dynamic broker configs changed, and hands the logs their new
// settings (retention, segments, flushing).
func (b *Broker) reresolveTopics() {
	for _, t := range b.Topics() {
		cur := t.cfg.Load()
		resolved := b.resolveTopic(t.Name, cur.overrides)
		if resolved == cur.resolved {
			continue
		}
		t.cfg.Store(&topicConfig{overrides: cur.overrides, resolved: resolved})
		for _, p := range t.Partitions() {
			p.setLogConfig(b.logConfig(resolved))
		}
	}
}

// removeTopic deletes a topic and its local logs.
func (b *Broker) removeTopic(name string) {
	b.mu.Lock()
	t := b.topics[name]
	if t == nil {
		b.mu.Unlock()
		return
	}
	delete(b.topics, name)
	delete(b.byID, t.ID)
	for _, p := range t.Partitions() {
		delete(b.placement, p.tp)
		delete(b.paths, p.tp)
	}
	b.mu.Unlock()
	for _, p := range t.Partitions() {
		wasLeader := p.IsLeader()
		if err := p.remove(); err != nil {
			b.log.Error().Err(err).Str("topic", name).Int32("partition", p.ID).Msg("deleting partition")
		}
		if t.Internal && wasLeader {
			b.tellLeadership(name, p.ID, false, p.LeaderEpoch())
		}
	}
	b.log.Info().Str("topic", name).Msg("topic deleted")
}

func (b *Broker) tellLeadership(topic string, p int32, leader bool, epoch int32) {
	b.mu.RLock()
	ls := slices.Clone(b.listeners)
	b.mu.RUnlock()
	for _, fn := range ls {
		fn(topic, p, leader, epoch)
	}
}
