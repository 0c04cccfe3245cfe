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
	"maps"

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

// groupConfigCache is the loop's copy of the group configs (guarded by
// backend.mu).
type groupConfigCache struct {
	groups  map[string]map[string]string // by sanitized name; nil: not read yet
	read    bool                         // the children were listed once
	changed bool
}

func (b *backend) processGroups() error {
	c, err := b.optionalChildren(keyGroups, b.p(configGroupsPath))
	if err != nil {
		return err
	}
	gc := &b.gcfg
	if gc.groups == nil {
		gc.groups = map[string]map[string]string{}
	}
	reconcile(gc.groups, c, func(name string) {
		gc.groups[name] = nil
		b.mark(preGroup + name)
	}, func(name string) {
		delete(gc.groups, name)
		gc.changed = true
	})
	if !gc.read {
		gc.read, gc.changed = true, true
	}
	return nil
}

func (b *backend) processGroup(name string) error {
	gc := &b.gcfg
	if _, ok := gc.groups[name]; !ok {
		return nil
	}
	data, _, _, err := b.get(preGroup+name, b.p(groupConfigPath(name)))
	if err != nil {
		return err
	}
	cfg, err := decodeConfig(data)
	if err != nil {
		b.log.Warn().Err(err).Str("group", name).Msg("ignoring malformed group config znode")
		cfg = nil
	}
	if cfg == nil {
		cfg = map[string]string{}
	}
	if !maps.Equal(cfg, gc.groups[name]) || gc.groups[name] == nil {
		gc.groups[name], gc.changed = cfg, true
	}
	return nil
}

// groupKeys are the loop keys of the groups known, for a full re-read.
func (b *backend) groupKeys() []string {
	keys := []string{keyGroups}
	for name := range b.gcfg.groups {
		keys = append(keys, preGroup+name)
	}
	return keys
}

// takeGroupConfigs returns the group configs to deliver if they changed.
// Called holding mu.
func (b *backend) takeGroupConfigs() (map[string]map[string]string, bool) {
	gc := &b.gcfg
	if !gc.changed || !gc.read {
		return nil, false
	}
	gc.changed = false
	out := make(map[string]map[string]string, len(gc.groups))
	for name, cfg := range gc.groups {
		if len(cfg) == 0 {
			continue
		}
		group, err := metadata.DesanitizeEntity(name)
		if err != nil {
			continue
		}
		out[group] = maps.Clone(cfg)
	}
	return out, true
}

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
