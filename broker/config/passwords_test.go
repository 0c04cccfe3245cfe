package config

import (
	"strings"
	"testing"
)

func TestPasswordEncoderKeys(t *testing.T) {
	c, err := Load(map[string]string{"password.encoder.secret": "s1", "password.encoder.old.secret": "s0", "zookeeper.connect": "zk:2181", "broker.id": "1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := c.PasswordEncoder
	if p.Secret != "s1" || p.OldSecret != "s0" || p.KeyFactory != "" || p.Cipher != "AES/CBC/PKCS5Padding" || p.KeyLength != 128 || p.Iterations != 4096 {
		t.Fatalf("password encoder config %+v", p)
	}
	for _, in := range NoEffectKeys(c.Values, false) {
		if strings.HasPrefix(in.Key, "password.encoder.") {
			t.Errorf("%s listed as without effect: %s", in.Key, in.Why)
		}
	}
}

func TestPasswordEncoderUnsupportedRefused(t *testing.T) {
	for key, v := range map[string]string{
		"password.encoder.cipher.algorithm":     "AES/GCM/NoPadding",
		"password.encoder.keyfactory.algorithm": "PBEWithMD5AndDES",
		"password.encoder.key.length":           "64",
		"password.encoder.iterations":           "100",
	} {
		_, err := Load(map[string]string{key: v}, nil)
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%s: %v, want an error naming the key", key, v, err)
		}
	}
	_, err := Load(map[string]string{"password.encoder.old.secret": "s0", "zookeeper.connect": "zk:2181", "broker.id": "1"}, nil)
	if err == nil || !strings.Contains(err.Error(), "password.encoder.old.secret") {
		t.Errorf("an old secret without a secret: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "s0") {
		t.Errorf("the error shows the secret: %v", err)
	}
}

func TestIsPasswordConfig(t *testing.T) {
	for name, want := range map[string]bool{
		"listener.name.ssl.ssl.keystore.password":             true,
		"listener.name.ssl.ssl.key.password":                  true,
		"listener.name.sasl_ssl.plain.sasl.jaas.config":       true,
		"listener.name.ssl.ssl.keystore.key":                  true,
		"sasl.jaas.config":                                    true,
		"log.retention.ms":                                    false,
		"listener.name.ssl.ssl.keystore.location":             false,
		"password.encoder.secret":                             false, // read-only: never dynamic
		"custom.delegation.token.secret.key":                  false,
		"listener.name.ssl.ssl.truststore.password.something": false,
	} {
		if got := IsPasswordConfig(name); got != want {
			t.Errorf("IsPasswordConfig(%s) = %v, want %v", name, got, want)
		}
	}
}
