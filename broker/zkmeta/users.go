package zkmeta

// SCRAM credentials, kept as Kafka keeps them in ZooKeeper mode: the user
// entity's config at /config/users/<sanitized user>
// ({"version":1,"config":{"SCRAM-SHA-256":"salt=...,stored_key=...,
// server_key=...,iterations=4096"}}, other keys such as quotas kept), each
// change announced by /config/changes/config_change_NNN
// {"version":2,"entity_path":"users/<sanitized user>"}. Every broker
// watches /config/users and each user's znode, so a change reaches it as
// soon as ZooKeeper's watch fires.

import (
	"context"
	"errors"

	"github.com/go-zookeeper/zk"

	"gregor/broker/metadata"
)

const (
	configUsersPath = "/config/users"
	// keyUsers: /config/users children; preUser + sanitized name: one user.
	keyUsers = "Ausers"
	preUser  = "Bu/"
)

func userPath(sanitized string) string { return configUsersPath + "/" + sanitized }

func (b *backend) processUsers() error {
	return b.scram.list(b, keyUsers, b.p(configUsersPath), preUser)
}

func (b *backend) processUser(name string) error {
	return b.scram.load(b, name, preUser, userPath(name), entityDecoding[metadata.ScramCredential]{
		kind:   "user",
		decode: metadata.ScramFromConfig,
		equal:  func(x, y metadata.ScramCredential) bool { return x.String() == y.String() },
	})
}

// userKeys are the loop keys of the users known, for a full re-read.
func (b *backend) userKeys() []string { return b.scram.keys(keyUsers, preUser) }

// takeScram returns the credentials to deliver if they changed. Called
// holding mu.
func (b *backend) takeScram() (metadata.UserScram, bool) {
	out, ok := b.scram.take()
	return metadata.UserScram(out), ok
}

// UserScramCredentials reads every user's credentials from ZooKeeper.
func (b *backend) UserScramCredentials(ctx context.Context) (metadata.UserScram, error) {
	return withCtx(ctx, func() (metadata.UserScram, error) {
		names, _, err := b.conn.Children(b.p(configUsersPath))
		if errors.Is(err, zk.ErrNoNode) {
			return metadata.UserScram{}, nil
		}
		if err != nil {
			return nil, err
		}
		out := metadata.UserScram{}
		for _, name := range names {
			data, _, err := b.conn.Get(b.p(userPath(name)))
			if errors.Is(err, zk.ErrNoNode) {
				continue
			}
			if err != nil {
				return nil, err
			}
			cfg, err := decodeConfig(data)
			if err != nil {
				continue
			}
			user, err := metadata.DesanitizeEntity(name)
			if err != nil {
				continue
			}
			if creds := metadata.ScramFromConfig(cfg); len(creds) > 0 {
				out[user] = creds
			}
		}
		return out, nil
	})
}

// AlterUserScramCredentials rewrites one user's entity config (a
// compare-and-set on its version, retried on a race) and announces the
// change, as Kafka's AdminZkClient.changeConfigs does.
func (b *backend) AlterUserScramCredentials(ctx context.Context, a metadata.ScramAlteration) error {
	name := metadata.SanitizeEntity(a.User)
	_, err := withCtx(ctx, func() (struct{}, error) {
		for range 10 {
			zpath := b.p(userPath(name))
			data, stat, err := b.conn.Get(zpath)
			exists := err == nil
			if err != nil && !errors.Is(err, zk.ErrNoNode) {
				return struct{}{}, err
			}
			cfg, err := decodeConfig(data)
			if err != nil {
				return struct{}{}, err
			}
			next, err := metadata.AlterScramConfig(cfg, a)
			if err != nil {
				return struct{}{}, err
			}
			if !exists {
				stat = nil
				if len(next) == 0 {
					return struct{}{}, nil
				}
			}
			_, err = b.writeEntityConfig(zpath, next, stat)
			if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNodeExists) || errors.Is(err, zk.ErrNoNode) {
				continue
			}
			if err != nil {
				return struct{}{}, err
			}
			b.announceConfigChange("users/" + name)
			return struct{}{}, nil
		}
		return struct{}{}, errors.New("user config changed concurrently too often")
	})
	return err
}
