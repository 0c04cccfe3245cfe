package zkmeta

// Dynamic passwords in /config/brokers, as Kafka's ZooKeeper mode keeps
// them (DynamicBrokerConfig): a password config (config.IsPasswordConfig)
// is stored encrypted with password.encoder.secret in Kafka's format
// (pwenc) and delivered decrypted. Without a secret, storing one is
// refused with INVALID_CONFIG "Password encoder secret not configured",
// and one stored cannot be read: it is left out and logged, as Kafka
// does. With password.encoder.old.secret, start-up re-encrypts this
// broker's own passwords that the old secret decrypts with the new one
// (maybeReEncodePasswords). Values are never logged, only key names.

import (
	"context"
	"fmt"
	"maps"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/broker/pwenc"
)

// passwords are the backend's encoders: cur is nil without
// password.encoder.secret, old without password.encoder.old.secret.
type passwords struct {
	cur, old *pwenc.Encoder
}

// newPasswords builds the encoders of cfg.
func newPasswords(cfg *config.Config) (passwords, error) {
	var pw passwords
	if cfg == nil {
		return pw, nil
	}
	p := cfg.PasswordEncoder
	var err error
	if p.Secret != "" {
		if pw.cur, err = pwenc.New(string(p.Secret), p.Params()); err != nil {
			return pw, fmt.Errorf("zkmeta: %w", err)
		}
	}
	if p.OldSecret != "" {
		if pw.old, err = pwenc.New(string(p.OldSecret), p.Params()); err != nil {
			return pw, fmt.Errorf("zkmeta: %w", err)
		}
	}
	return pw, nil
}

// toPersistent returns configs with every password encrypted (Kafka's
// toPersistentProps): refused at the cluster default, where Kafka allows
// no password, and without a secret.
func (pw passwords) toPersistent(configs map[string]string, perBroker bool) (map[string]string, error) {
	out := maps.Clone(configs)
	for name, v := range configs {
		if !config.IsPasswordConfig(name) {
			continue
		}
		if !perBroker {
			return nil, &metadata.InvalidConfigError{Msg: "Password config can be defined only at broker level"}
		}
		if pw.cur == nil {
			return nil, &metadata.InvalidConfigError{Msg: "Password encoder secret not configured"}
		}
		enc, err := pw.cur.Encode(v)
		if err != nil {
			return nil, fmt.Errorf("encrypting %s: %w", name, err)
		}
		out[name] = enc
	}
	return out, nil
}

// fromPersistent returns stored configs with every password decrypted
// (Kafka's fromPersistentProps); one that cannot be is left out and
// logged. Until start-up re-encrypts them, values of the old secret are
// decrypted with it.
func (b *backend) fromPersistent(entity string, stored map[string]string) map[string]string {
	out := maps.Clone(stored)
	for name, v := range stored {
		if !config.IsPasswordConfig(name) {
			continue
		}
		plain, err := b.pw.decode(v)
		if err != nil {
			b.log.Error().Str("entity", entity).Str("key", name).Err(err).Msg("dynamic password config could not be decoded, ignoring")
			delete(out, name)
			continue
		}
		out[name] = plain
	}
	return out
}

// decode decrypts with the secret, else the old one.
func (pw passwords) decode(v string) (string, error) {
	if pw.cur == nil && pw.old == nil {
		return "", fmt.Errorf("%w: password encoder secret not configured", pwenc.ErrDecode)
	}
	var err error
	for _, e := range []*pwenc.Encoder{pw.cur, pw.old} {
		if e == nil {
			continue
		}
		var plain string
		if plain, err = e.Decode(v); err == nil {
			return plain, nil
		}
	}
	return "", err
}

// reencodePasswords re-encrypts with the secret this broker's passwords
// that the old secret decrypts, before the first load; the others are
// kept as they are (already of the new secret, as Kafka assumes).
// Unlike Kafka, which rewrites the znode whenever an old secret is set,
// it writes only when a value changed.
func (b *backend) reencodePasswords(ctx context.Context) error {
	if b.pw.old == nil || b.pw.cur == nil {
		return nil
	}
	entity := b.selfEntity()
	data, _, err := b.conn.Get(b.p(brokerConfigPath(entity)))
	if err != nil {
		return nil // no dynamic configs (or read by the first load anyway)
	}
	stored, err := decodeConfig(data)
	if err != nil {
		return nil // malformed: the first load logs it
	}
	next, changed := maps.Clone(stored), 0
	for name, v := range stored {
		if !config.IsPasswordConfig(name) {
			continue
		}
		plain, err := b.pw.old.Decode(v)
		if err != nil {
			continue
		}
		if next[name], err = b.pw.cur.Encode(plain); err != nil {
			return fmt.Errorf("re-encrypting %s with password.encoder.secret: %w", name, err)
		}
		changed++
	}
	if changed == 0 {
		return nil
	}
	if err := b.writeBrokerConfig(ctx, entity, next); err != nil {
		return fmt.Errorf("re-encrypting dynamic passwords of %s: %w", brokerConfigPath(entity), err)
	}
	b.log.Info().Int("passwords", changed).Msg("dynamic passwords encrypted with password.encoder.old.secret re-encrypted with password.encoder.secret")
	return nil
}
