package config

// Dynamic passwords: which broker configs are passwords that ZooKeeper
// keeps encrypted (Kafka's DynamicBrokerConfig.isPasswordConfig), and the
// password.encoder.* settings that encrypt them (broker/pwenc).

import (
	"errors"
	"fmt"
	"strings"

	"gregor/broker/pwenc"
)

// PasswordEncoder is password.encoder.*. With a ZooKeeper backend the
// dynamic passwords of /config/brokers/<id> are stored encrypted with
// Secret; OldSecret, when set, is the secret they were encrypted with
// before, and start-up re-encrypts them with Secret. With local metadata
// they have no effect (see zkmeta and metadata.local).
type PasswordEncoder struct {
	Secret, OldSecret  Secret
	KeyFactory, Cipher string
	KeyLength          int
	Iterations         int
}

// Params are the encoder's parameters other than the secrets.
func (p PasswordEncoder) Params() pwenc.Params {
	return pwenc.Params{KeyFactory: p.KeyFactory, Cipher: p.Cipher, KeyLength: p.KeyLength, Iterations: p.Iterations}
}

// IsPasswordConfig reports whether a dynamic broker config is a password
// ZooKeeper keeps encrypted: its name ends with the name of a PASSWORD
// key that may be altered at run time (Kafka's DynamicPasswordConfigs,
// matched with endsWith: listener.name.l.ssl.key.password,
// listener.name.l.plain.sasl.jaas.config).
func IsPasswordConfig(name string) bool {
	for _, k := range keys.brokers {
		if k.Type == Password && k.Scope != ReadOnly && strings.HasSuffix(name, k.Name) {
			return true
		}
	}
	return false
}

// derivePasswordEncoder refuses an old secret without a secret in a
// cluster: start-up could not re-encrypt what the old one decrypts (Kafka
// fails its start-up then too).
func (c *Config) derivePasswordEncoder() []error {
	p := c.PasswordEncoder
	if c.Clustered() && p.OldSecret != "" && p.Secret == "" {
		return []error{errors.New("password.encoder.old.secret is set without password.encoder.secret: passwords decrypted with the old secret could not be encrypted again")}
	}
	return nil
}

// Validators of the password.encoder.* keys: Gregor implements Kafka's
// default algorithms (pwenc), and refuses others at start-up.
func validKeyFactory(v any) error { return trimKey(pwenc.CheckKeyFactory(v.(string))) }
func validCipher(v any) error     { return trimKey(pwenc.CheckCipher(v.(string))) }
func validKeyLength(v any) error  { return trimKey(pwenc.CheckKeyLength(int(v.(int64)))) }
func validIterations(v any) error { return trimKey(pwenc.CheckIterations(int(v.(int64)))) }

// trimKey drops the key and value pwenc's message starts with: invalid()
// names them already.
func trimKey(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if i := strings.Index(msg, " is "); i >= 0 {
		msg = msg[i+1:]
	}
	return fmt.Errorf("%s", msg)
}
