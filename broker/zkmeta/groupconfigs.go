package zkmeta

// Group configs (config resource type GROUP: share.auto.offset.reset,
// share.record.lock.duration.ms, ...), kept as Kafka keeps an entity's
// configs in ZooKeeper mode: /config/groups/<sanitized group>
// ({"version":1,"config":{...}}), each change announced by
// /config/changes/config_change_NNN {"version":2,"entity_path":
// "groups/<sanitized group>"}. (Kafka itself keeps group configs only in
// KRaft; the layout is its entity layout.) Every broker watches
// /config/groups and each group's znode.

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/go-zookeeper/zk"

	"gregor/broker/metadata"
)

const (
	configGroupsPath = "/config/groups"
	// keyGroups: /config/groups children; preGroup + sanitized name: one
	// group.
	keyGroups = "Gg"
	preGroup  = "Gh/"
)

func groupConfigPath(sanitized string) string { return configGroupsPath + "/" + sanitized }

func (b *backend) processGroups() error {
	return b.gcfg.list(b, keyGroups, b.p(configGroupsPath), preGroup)
}

func (b *backend) processGroup(name string) error {
	return b.gcfg.load(b, name, preGroup, groupConfigPath(name), entityDecoding[string]{
		kind:   "group",
		decode: func(cfg map[string]string) map[string]string { return cfg },
		equal:  func(x, y string) bool { return x == y },
	})
}

// groupKeys are the loop keys of the groups known, for a full re-read.
func (b *backend) groupKeys() []string { return b.gcfg.keys(keyGroups, preGroup) }

// takeGroupConfigs returns the group configs to deliver if they changed.
// Called holding mu.
func (b *backend) takeGroupConfigs() (map[string]map[string]string, bool) { return b.gcfg.take() }

// AlterGroupConfigs replaces a group's configs (none deletes its znode)
// and announces the change.
func (b *backend) AlterGroupConfigs(ctx context.Context, group string, configs map[string]string) error {
	name := metadata.SanitizeEntity(group)
	_, err := withCtx(ctx, func() (struct{}, error) {
		zpath := groupConfigPath(name)
		if len(configs) == 0 {
			if err := b.conn.Delete(b.p(zpath), -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
				return struct{}{}, err
			}
		} else if err := b.setOrCreate(zpath, encodeConfig(configs)); err != nil {
			return struct{}{}, err
		}
		note, _ := json.Marshal(map[string]any{"version": 2, "entity_path": "groups/" + name})
		if _, err := b.conn.Create(b.p(configChangesPath+"/"+configChangePrefix), note, zk.FlagSequence, b.acl); err != nil {
			b.log.Warn().Err(err).Str("group", group).Msg("writing config change notification")
		}
		return struct{}{}, nil
	})
	return err
}
