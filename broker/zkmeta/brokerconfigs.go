package zkmeta

// Dynamic broker configs, kept as Kafka keeps them in ZooKeeper mode:
// /config/brokers/<id> for one broker and /config/brokers/<default> for
// the cluster-wide defaults ({"version":1,"config":{...}}), each change
// announced by /config/changes/config_change_NNN
// {"version":2,"entity_path":"brokers/<entity>"}. Every broker watches its
// own entity and the default and delivers both to its Applier, passwords
// decrypted (passwords.go).

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/metadata"
)

const configBrokersPath = "/config/brokers"

func brokerConfigPath(entity string) string { return configBrokersPath + "/" + entity }

// brokerConfigs is the loop's copy of this broker's dynamic configs
// (guarded by backend.mu).
type brokerConfigs struct {
	defaults, self map[string]string
	read           map[string]bool // entities read at least once
	changed        bool
}

// selfEntity is this broker's entity under /config/brokers.
func (b *backend) selfEntity() string { return strconv.Itoa(int(b.self())) }

// brokerConfigKeys are the loop keys of the two watched entities.
func (b *backend) brokerConfigKeys() []string {
	return []string{preBrokerCfg + metadata.DefaultBrokerEntity, preBrokerCfg + b.selfEntity()}
}

// processBrokerConfig reads one entity's dynamic configs and watches it.
func (b *backend) processBrokerConfig(entity string) error {
	if entity != metadata.DefaultBrokerEntity && entity != b.selfEntity() {
		return nil
	}
	data, _, _, err := b.get(preBrokerCfg+entity, b.p(brokerConfigPath(entity)))
	if err != nil {
		return err
	}
	c, err := decodeConfig(data)
	if err != nil {
		b.log.Warn().Err(err).Str("entity", entity).Msg("ignoring malformed broker config znode")
		c = nil
	}
	c = b.fromPersistent(entity, c)
	bc := &b.bcfg
	cur := &bc.self
	if entity == metadata.DefaultBrokerEntity {
		cur = &bc.defaults
	}
	if !bc.read[entity] || !maps.Equal(*cur, c) {
		*cur, bc.changed = c, true
	}
	bc.read[entity] = true
	return nil
}

// takeBrokerConfigs returns the dynamic configs to deliver, if they
// changed and both entities have been read. Called holding mu.
func (b *backend) takeBrokerConfigs() (defaults, self map[string]string, ok bool) {
	bc := &b.bcfg
	if !bc.changed || !bc.read[metadata.DefaultBrokerEntity] || !bc.read[b.selfEntity()] {
		return nil, nil, false
	}
	bc.changed = false
	return maps.Clone(bc.defaults), maps.Clone(bc.self), true
}

// AlterBrokerConfigs replaces the dynamic configs of a broker (by id) or
// of the cluster default (""), passwords encrypted (passwords.go), and
// notifies the brokers through /config/changes as Kafka does.
func (b *backend) AlterBrokerConfigs(ctx context.Context, id string, configs map[string]string) error {
	entity, err := brokerEntity(id)
	if err != nil {
		return err
	}
	persist, err := b.pw.toPersistent(configs, id != "")
	if err != nil {
		return err
	}
	return b.writeBrokerConfig(ctx, entity, persist)
}

// brokerEntity is the entity under /config/brokers of a broker id, or of
// the cluster default for "".
func brokerEntity(id string) (string, error) {
	if id == "" {
		return metadata.DefaultBrokerEntity, nil
	}
	n, err := strconv.ParseInt(id, 10, 32)
	if err != nil || n < 0 {
		return "", metadata.Errorf(kerr.InvalidRequest, "Broker id must be a non-negative integer, but it is: %s", id)
	}
	return strconv.Itoa(int(n)), nil
}

// EditBrokerConfigs reads /config/brokers/<entity>, passwords decrypted,
// and writes edit's result back (encrypted) by compare-and-set of the
// znode's version, again from the start if another write came between.
// It returns once this broker's loop has read back an entity it watches.
func (b *backend) EditBrokerConfigs(ctx context.Context, id string, edit func(map[string]string) (map[string]string, error)) error {
	entity, err := brokerEntity(id)
	if err != nil {
		return err
	}
	err = b.editConfigZNode(ctx, b.p(brokerConfigPath(entity)), "brokers/"+entity, false, func(cur map[string]string) (map[string]string, error) {
		next, err := edit(b.fromPersistent(entity, cur))
		if err != nil {
			return nil, err
		}
		return b.pw.toPersistent(next, id != "")
	})
	if err != nil || entity != metadata.DefaultBrokerEntity && entity != b.selfEntity() {
		return err
	}
	// Read back and delivered here before it returns: a describe that
	// follows through this broker sees it (or a later change).
	if err := b.sync(ctx, []string{preBrokerCfg + entity}); err != nil {
		return fmt.Errorf("waiting for %s to be read back: %w", brokerConfigPath(entity), err)
	}
	return nil
}

// writeBrokerConfig writes an entity's stored configs and the change
// notification.
func (b *backend) writeBrokerConfig(ctx context.Context, entity string, configs map[string]string) error {
	_, err := withCtx(ctx, func() (struct{}, error) {
		if err := b.setOrCreate(brokerConfigPath(entity), encodeConfig(configs)); err != nil {
			return struct{}{}, err
		}
		b.announceConfigChange("brokers/" + entity)
		return struct{}{}, nil
	})
	return err
}
