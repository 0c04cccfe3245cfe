package zkmeta_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/go-zookeeper/zk"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/broker/pwenc"
	"gregor/internal/zktest"
)

const (
	pwKey   = "listener.name.ssl.ssl.keystore.password"
	jaasKey = "listener.name.sasl_plaintext.plain.sasl.jaas.config"
	jaas    = `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="jaas-pw-9f3a";`
)

// lockedBuffer collects a logger's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// pwConfig is a configuration with password.encoder.* at Kafka's defaults.
func pwConfig(secret, old string) *config.Config {
	p := pwenc.DefaultParams()
	return &config.Config{DeleteTopicEnable: true, NumPartitions: 1, DefaultReplicationFactor: 1,
		PasswordEncoder: config.PasswordEncoder{Secret: config.Secret(secret), OldSecret: config.Secret(old),
			KeyFactory: p.KeyFactory, Cipher: p.Cipher, KeyLength: p.KeyLength, Iterations: p.Iterations}}
}

// storedConfig reads an entity's znode config.
func storedConfig(t *testing.T, c *zk.Conn, path string) map[string]string {
	t.Helper()
	var zn struct {
		Config map[string]string `json:"config"`
	}
	getJSON(t, c, path, &zn)
	return zn.Config
}

func decodeWith(t *testing.T, secret, v string) string {
	t.Helper()
	e, err := pwenc.New(secret, pwenc.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	plain, err := e.Decode(v)
	if err != nil {
		t.Fatalf("decoding %q with %q: %v", v, secret, err)
	}
	return plain
}

func TestPasswordConfigsEncryptedInZooKeeper(t *testing.T) {
	z := zktest.Start(t)
	connect := z.Addr + "/kafka/pw"
	logs := &lockedBuffer{}
	be, a := startCfgWith(t, connect, 1, pwConfig("secret-1", ""), zerolog.New(logs))
	want := map[string]string{pwKey: "keystore-pw-77c1", jaasKey: jaas, "log.cleaner.threads": "2"}
	if err := be.AlterBrokerConfigs(context.Background(), "1", want); err != nil {
		t.Fatal(err)
	}
	await(t, "the decrypted passwords to be delivered", func() bool {
		_, _, s := a.configs()
		return maps.Equal(s, want)
	})
	c := rawConn(t, z.Addr)
	stored := storedConfig(t, c, "/kafka/pw/config/brokers/1")
	for _, k := range []string{pwKey, jaasKey} {
		if strings.Contains(stored[k], want[k]) || !strings.Contains(stored[k], "encryptedPassword:") {
			t.Fatalf("znode holds %s = %q, not its encrypted form", k, stored[k])
		}
		if got := decodeWith(t, "secret-1", stored[k]); got != want[k] {
			t.Fatalf("%s decodes to %q, want %q", k, got, want[k])
		}
	}
	if stored["log.cleaner.threads"] != "2" {
		t.Fatalf("a config that is not a password was changed: %q", stored["log.cleaner.threads"])
	}

	// Delivered decrypted at start-up too; with another secret the
	// passwords are left out, the rest kept.
	be.Close()
	be, a = startCfgWith(t, connect, 1, pwConfig("secret-1", ""), zerolog.New(logs))
	if _, _, s := a.configs(); !maps.Equal(s, want) {
		t.Fatalf("after restart: %v", s)
	}
	be.Close()
	_, a2 := startCfgWith(t, connect, 1, pwConfig("another-secret", ""), zerolog.New(logs))
	if _, _, s := a2.configs(); !maps.Equal(s, map[string]string{"log.cleaner.threads": "2"}) {
		t.Fatalf("with the wrong secret: %v", s)
	}
	for _, secret := range []string{"keystore-pw-77c1", "jaas-pw-9f3a", "secret-1"} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("logs show %q:\n%s", secret, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "could not be decoded") {
		t.Fatalf("no log line for the undecodable password:\n%s", logs.String())
	}
}

func TestPasswordConfigWithoutSecretRefused(t *testing.T) {
	z := zktest.Start(t)
	be, _ := startCfg(t, z.Addr+"/kafka/nopw", 1)
	ctx := context.Background()
	err := be.AlterBrokerConfigs(ctx, "1", map[string]string{pwKey: "keystore-pw", "log.cleaner.threads": "2"})
	var ice *metadata.InvalidConfigError
	if !errors.As(err, &ice) || !errors.Is(err, kerr.InvalidConfig) || ice.Msg != "Password encoder secret not configured" {
		t.Fatalf("altering a password without a secret: %v, want INVALID_CONFIG Password encoder secret not configured", err)
	}
	if ok, _, _ := rawConn(t, z.Addr).Exists("/kafka/nopw/config/brokers/1"); ok {
		t.Fatal("the refused configs were written")
	}
	err = be.AlterBrokerConfigs(ctx, "", map[string]string{"custom.ssl.key.password": "pw"})
	if !errors.As(err, &ice) || ice.Msg != "Password config can be defined only at broker level" {
		t.Fatalf("a password at the cluster default: %v", err)
	}
	if err := be.AlterBrokerConfigs(ctx, "1", map[string]string{"log.cleaner.threads": "2"}); err != nil {
		t.Fatalf("configs without passwords need no secret: %v", err)
	}
}

func TestPasswordOldSecretReencoded(t *testing.T) {
	z := zktest.Start(t)
	connect := z.Addr + "/kafka/reenc"
	startCfg(t, connect, 2) // lays out the znodes
	enc := func(secret, pw string) string {
		e, _ := pwenc.New(secret, pwenc.DefaultParams())
		v, err := e.Encode(pw)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ofNew := enc("new-secret", "already-new")
	stored := map[string]string{pwKey: enc("old-secret", "keystore-pw"), jaasKey: ofNew, "log.cleaner.threads": "2"}
	data, _ := jsonConfig(stored)
	c := rawConn(t, z.Addr)
	if _, err := c.Create("/kafka/reenc/config/brokers/1", data, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	be, a := startCfgWith(t, connect, 1, pwConfig("new-secret", "old-secret"), logger(t))
	want := map[string]string{pwKey: "keystore-pw", jaasKey: "already-new", "log.cleaner.threads": "2"}
	if _, _, s := a.configs(); !maps.Equal(s, want) {
		t.Fatalf("delivered %v, want %v", s, want)
	}
	after := storedConfig(t, c, "/kafka/reenc/config/brokers/1")
	if got := decodeWith(t, "new-secret", after[pwKey]); got != "keystore-pw" {
		t.Fatalf("re-encoded value decodes to %q", got)
	}
	if after[jaasKey] != ofNew || after["log.cleaner.threads"] != "2" {
		t.Fatalf("values not of the old secret changed: %v", after)
	}
	// Restarted without the old secret, all decode with the new one.
	be.Close()
	_, a3 := startCfgWith(t, connect, 1, pwConfig("new-secret", ""), logger(t))
	if _, _, s := a3.configs(); !maps.Equal(s, want) {
		t.Fatalf("without the old secret: delivered %v, want %v", s, want)
	}
}

func jsonConfig(m map[string]string) ([]byte, error) {
	return json.Marshal(map[string]any{"version": 1, "config": m})
}
