package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"gregor/broker/config"
	"gregor/broker/storage"
	"gregor/broker/zkmeta"
)

// A cluster broker without broker.id takes the one its log dirs name;
// dirs naming two ids, or a meta.properties that cannot be read, stop it
// before ZooKeeper is asked for an id. (Generation itself is tested
// against ZooKeeper in integration.)
func TestResolveBrokerIDFromLogDirs(t *testing.T) {
	load := func(dirs ...string) *config.Config {
		cfg, err := config.Load(map[string]string{"zookeeper.connect": "127.0.0.1:1", "log.dirs": strings.Join(dirs, ",")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	resolve := func(cfg *config.Config) error {
		return resolveBrokerID(context.Background(), cfg, zkmeta.Options{Connect: cfg.ZookeeperConnect, Config: cfg}, nil, zerolog.Nop())
	}
	d1, d2 := t.TempDir(), t.TempDir()
	if err := storage.WriteMeta(storage.OSFS{}, d1, storage.Meta{BrokerID: 5, ClusterID: "c"}); err != nil {
		t.Fatal(err)
	}
	cfg := load(d1, d2)
	if err := resolve(cfg); err != nil || cfg.BrokerID != 5 || cfg.Values["broker.id"] != "5" {
		t.Fatalf("one dir naming 5: %v, broker.id %d (values %q)", err, cfg.BrokerID, cfg.Values["broker.id"])
	}
	if err := storage.WriteMeta(storage.OSFS{}, d2, storage.Meta{BrokerID: 6, ClusterID: "c"}); err != nil {
		t.Fatal(err)
	}
	if err := resolve(load(d1, d2)); err == nil || !strings.Contains(err.Error(), "different broker ids") {
		t.Fatalf("dirs naming 5 and 6: %v", err)
	}
	if err := os.WriteFile(filepath.Join(d2, "meta.properties"), []byte("version=7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := resolve(load(d1, d2)); err == nil || !strings.Contains(err.Error(), "unsupported version") {
		t.Fatalf("an unreadable meta.properties: %v", err)
	}
}
