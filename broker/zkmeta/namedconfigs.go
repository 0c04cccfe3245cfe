package zkmeta

// Named config sets: group configs (config resource type GROUP:
// share.auto.offset.reset, share.record.lock.duration.ms, ...) and client
// metrics subscriptions (CLIENT_METRICS, KIP-714: metrics, interval.ms,
// match). Each is kept as Kafka keeps an entity's configs in ZooKeeper
// mode: /config/groups/<sanitized group> or /config/client-metrics/
// <sanitized name> ({"version":1,"config":{...}}), each change announced
// by /config/changes/config_change_NNN {"version":2,"entity_path":
// "groups/<sanitized group>"} (or "client-metrics/<name>"). Kafka itself
// keeps both only in KRaft; the layout is its entity layout. Every broker
// watches both parents and each entity's znode.

import (
	"context"
	"errors"

	"github.com/go-zookeeper/zk"

	"gregor/broker/metadata"
)

const (
	configGroupsPath        = "/config/groups"
	configClientMetricsPath = "/config/client-metrics"
	// keyGroups: /config/groups children; preGroup + sanitized name: one
	// group. keyClientMetrics and preClientMetric likewise.
	keyGroups        = "Gg"
	preGroup         = "Gh/"
	keyClientMetrics = "Hm"
	preClientMetric  = "Hn/"
)

// stringConfigs decodes a named config set: its values as they are.
var stringConfigs = entityDecoding[string]{
	decode: func(cfg map[string]string) map[string]string { return cfg },
	equal:  func(x, y string) bool { return x == y },
}

func (b *backend) processGroups() error {
	return b.gcfg.list(b, keyGroups, b.p(configGroupsPath), preGroup)
}

func (b *backend) processGroup(name string) error {
	d := stringConfigs
	d.kind = "group"
	return b.gcfg.load(b, name, preGroup, configGroupsPath+"/"+name, d)
}

func (b *backend) processClientMetrics() error {
	return b.cmcfg.list(b, keyClientMetrics, b.p(configClientMetricsPath), preClientMetric)
}

func (b *backend) processClientMetric(name string) error {
	d := stringConfigs
	d.kind = "client metrics subscription"
	return b.cmcfg.load(b, name, preClientMetric, configClientMetricsPath+"/"+name, d)
}

// namedConfigKeys are the loop keys of the groups and client metrics
// subscriptions known, for a full re-read.
func (b *backend) namedConfigKeys() []string {
	return append(b.gcfg.keys(keyGroups, preGroup), b.cmcfg.keys(keyClientMetrics, preClientMetric)...)
}

// takeGroupConfigs returns the group configs to deliver if they changed.
// Called holding mu.
func (b *backend) takeGroupConfigs() (map[string]map[string]string, bool) { return b.gcfg.take() }

// takeClientMetrics returns the client metrics subscriptions to deliver
// if they changed. Called holding mu.
func (b *backend) takeClientMetrics() (map[string]map[string]string, bool) { return b.cmcfg.take() }

// AlterGroupConfigs replaces a group's configs (none deletes its znode)
// and announces the change.
func (b *backend) AlterGroupConfigs(ctx context.Context, group string, configs map[string]string) error {
	return b.alterNamedConfigs(ctx, configGroupsPath, "groups", group, configs)
}

// AlterClientMetrics replaces a client metrics subscription's configs
// (none deletes its znode) and announces the change.
func (b *backend) AlterClientMetrics(ctx context.Context, name string, configs map[string]string) error {
	return b.alterNamedConfigs(ctx, configClientMetricsPath, "client-metrics", name, configs)
}

// EditNamedConfigs edits a group's configs or a client metrics
// subscription's by compare-and-set of its znode, again from the start if
// another write came between.
func (b *backend) EditNamedConfigs(ctx context.Context, kind metadata.NamedConfigs, name string, edit func(map[string]string) (map[string]string, error)) error {
	parent, note := configGroupsPath, "groups"
	if kind == metadata.ClientMetricsConfigs {
		parent, note = configClientMetricsPath, "client-metrics"
	}
	sanitized := metadata.SanitizeEntity(name)
	zpath := b.p(parent + "/" + sanitized)
	return b.editConfigZNode(ctx, zpath, note+"/"+sanitized, true, edit)
}

// alterNamedConfigs replaces the configs of the entity name under parent
// (entity type kind in the change notification).
func (b *backend) alterNamedConfigs(ctx context.Context, parent, kind, name string, configs map[string]string) error {
	sanitized := metadata.SanitizeEntity(name)
	_, err := withCtx(ctx, func() (struct{}, error) {
		zpath := parent + "/" + sanitized
		if len(configs) == 0 {
			if err := b.conn.Delete(b.p(zpath), -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
				return struct{}{}, err
			}
		} else if err := b.setOrCreate(zpath, encodeConfig(configs)); err != nil {
			return struct{}{}, err
		}
		b.announceConfigChange(kind + "/" + sanitized)
		return struct{}{}, nil
	})
	return err
}
