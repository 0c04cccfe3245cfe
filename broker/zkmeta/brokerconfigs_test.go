package zkmeta_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/broker/zkmeta"
	"gregor/internal/zktest"
)

// cfgApplier is a fakeApplier that also takes dynamic broker configs.
type cfgApplier struct {
	*fakeApplier
	cmu            sync.Mutex
	calls          int
	defaults, self map[string]string
}

func (a *cfgApplier) ApplyBrokerConfigs(defaults, perBroker map[string]string) {
	a.cmu.Lock()
	defer a.cmu.Unlock()
	a.calls++
	a.defaults, a.self = defaults, perBroker
}

func (a *cfgApplier) configs() (calls int, defaults, self map[string]string) {
	a.cmu.Lock()
	defer a.cmu.Unlock()
	return a.calls, maps.Clone(a.defaults), maps.Clone(a.self)
}

func startCfg(t *testing.T, connect string, id int32) (metadata.Backend, *cfgApplier) {
	t.Helper()
	return startCfgWith(t, connect, id, &config.Config{DeleteTopicEnable: true, NumPartitions: 1, DefaultReplicationFactor: 1}, logger(t))
}

// startCfgWith starts a backend with a configuration and a logger.
func startCfgWith(t *testing.T, connect string, id int32, cfg *config.Config, log zerolog.Logger) (metadata.Backend, *cfgApplier) {
	t.Helper()
	be, err := zkmeta.New(zkmeta.Options{
		Connect:        connect,
		SessionTimeout: 4 * time.Second,
		Self:           metadata.BrokerInfo{ID: id, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9090 + id}}},
		Config:         cfg,
		Log:            log.With().Int32("broker", id).Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	a := &cfgApplier{fakeApplier: &fakeApplier{topics: map[string]metadata.TopicState{}, controller: -1}}
	if err := be.Start(context.Background(), a); err != nil {
		t.Fatalf("starting backend of broker %d: %v", id, err)
	}
	t.Cleanup(func() { be.Close() })
	return be, a
}

func TestBrokerConfigs(t *testing.T) {
	z := zktest.Start(t)
	connect := z.Addr + "/kafka/cfg"
	be1, a1 := startCfg(t, connect, 1)
	be2, a2 := startCfg(t, connect, 2)
	ctx := context.Background()

	// Delivered at Start, even when there are none.
	for i, a := range []*cfgApplier{a1, a2} {
		if calls, d, s := a.configs(); calls == 0 || len(d) != 0 || len(s) != 0 {
			t.Fatalf("broker %d at start: %d deliveries, defaults %v, own %v", i+1, calls, d, s)
		}
	}

	// A cluster default altered through broker 1 reaches both.
	def := map[string]string{"log.cleaner.delete.retention.ms": "4343"}
	if err := be1.AlterBrokerConfigs(ctx, "", def); err != nil {
		t.Fatal(err)
	}
	for i, a := range []*cfgApplier{a1, a2} {
		await(t, "the cluster default to reach broker "+string(rune('1'+i)), func() bool {
			_, d, _ := a.configs()
			return maps.Equal(d, def)
		})
	}
	c := rawConn(t, z.Addr)
	var zn struct {
		Version int               `json:"version"`
		Config  map[string]string `json:"config"`
	}
	getJSON(t, c, "/kafka/cfg/config/brokers/<default>", &zn)
	if zn.Version != 1 || !maps.Equal(zn.Config, def) {
		t.Fatalf("/config/brokers/<default> = %+v", zn)
	}
	children, _, err := c.Children("/kafka/cfg/config/changes")
	if err != nil {
		t.Fatal(err)
	}
	notified := false
	for _, ch := range children {
		if !strings.HasPrefix(ch, "config_change_") {
			continue
		}
		var note struct {
			Version    int    `json:"version"`
			EntityPath string `json:"entity_path"`
		}
		data, _, err := c.Get("/kafka/cfg/config/changes/" + ch)
		if err == nil && json.Unmarshal(data, &note) == nil && note.Version == 2 && note.EntityPath == "brokers/<default>" {
			notified = true
		}
	}
	if !notified {
		t.Fatalf("no config change notification for brokers/<default> among %v", children)
	}

	// A per-broker entity reaches only its broker, whichever broker
	// records it.
	own2 := map[string]string{"message.max.bytes": "2000000"}
	if err := be1.AlterBrokerConfigs(ctx, "2", own2); err != nil {
		t.Fatal(err)
	}
	await(t, "broker 2's own configs to reach broker 2", func() bool {
		_, _, s := a2.configs()
		return maps.Equal(s, own2)
	})
	own1 := map[string]string{"compression.type": "zstd"}
	if err := be2.AlterBrokerConfigs(ctx, "1", own1); err != nil {
		t.Fatal(err)
	}
	await(t, "broker 1's own configs to reach broker 1", func() bool {
		_, _, s := a1.configs()
		return maps.Equal(s, own1)
	})
	if _, d, s := a2.configs(); !maps.Equal(s, own2) || !maps.Equal(d, def) {
		t.Fatalf("broker 2 has own %v, defaults %v after broker 1's change: want %v, %v", s, d, own2, def)
	}
	if _, d, _ := a1.configs(); !maps.Equal(d, def) {
		t.Fatalf("broker 1 defaults %v: want %v", d, def)
	}
	if err := be1.AlterBrokerConfigs(ctx, "x", own1); err == nil {
		t.Fatal("a broker id that is not a number was accepted")
	}

	// They survive a restart: delivered by the time Start returns.
	be2.Close()
	be2, a2 = startCfg(t, connect, 2)
	if _, d, s := a2.configs(); !maps.Equal(d, def) || !maps.Equal(s, own2) {
		t.Fatalf("after restart broker 2 has defaults %v, own %v: want %v, %v", d, s, def, own2)
	}

	// Removing every default reaches the other broker.
	if err := be2.AlterBrokerConfigs(ctx, "", nil); err != nil {
		t.Fatal(err)
	}
	await(t, "the removal of the cluster defaults to reach broker 1", func() bool {
		_, d, _ := a1.configs()
		return len(d) == 0
	})
	if _, _, s := a1.configs(); !maps.Equal(s, own1) {
		t.Fatalf("broker 1 own configs %v after the defaults were removed: want %v", s, own1)
	}
}

// Edits of the cluster default through two brokers at once each build on
// the configs as ZooKeeper holds them, not as last delivered: none is
// lost, and an edit sees a change made through the other broker at once.
func TestEditBrokerConfigsBuildsOnTheStore(t *testing.T) {
	z := zktest.Start(t)
	connect := z.Addr + "/kafka/edit"
	be1, a1 := startCfg(t, connect, 1)
	be2, _ := startCfg(t, connect, 2)
	ctx := context.Background()
	set := func(key, value string) func(map[string]string) (map[string]string, error) {
		return func(cur map[string]string) (map[string]string, error) {
			next := maps.Clone(cur)
			if next == nil {
				next = map[string]string{}
			}
			next[key] = value
			return next, nil
		}
	}
	if err := be1.EditBrokerConfigs(ctx, "", set("log.cleaner.threads", "2")); err != nil {
		t.Fatal(err)
	}
	var seen map[string]string
	err := be2.EditBrokerConfigs(ctx, "", func(cur map[string]string) (map[string]string, error) {
		seen = maps.Clone(cur)
		return set("log.retention.ms", "1000")(cur)
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen["log.cleaner.threads"] != "2" {
		t.Fatalf("broker 2's edit started from %v, without broker 1's change just made", seen)
	}
	keys := []string{"log.retention.bytes", "log.roll.ms", "log.segment.bytes", "message.max.bytes", "log.flush.interval.ms", "log.index.interval.bytes", "log.cleaner.delete.retention.ms", "log.roll.jitter.ms"}
	var wg sync.WaitGroup
	for i, k := range keys {
		be := []metadata.Backend{be1, be2}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := be.EditBrokerConfigs(ctx, "", set(k, fmt.Sprint(100000+i))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	await(t, "every concurrent edit of the cluster default at broker 1", func() bool {
		_, d, _ := a1.configs()
		return len(d) == len(keys)+2
	})
	if err := be1.EditBrokerConfigs(ctx, "x", set("a", "b")); err == nil {
		t.Fatal("a broker id that is not a number was accepted")
	}
	want := errors.New("refused")
	if err := be1.EditBrokerConfigs(ctx, "", func(map[string]string) (map[string]string, error) { return nil, want }); !errors.Is(err, want) {
		t.Fatalf("an edit's error came back as %v", err)
	}
}

// An edit of a broker's own configs sees its passwords in the clear and
// stores them encrypted.
func TestEditBrokerConfigsPasswords(t *testing.T) {
	z := zktest.Start(t)
	connect := z.Addr + "/kafka/editpw"
	be, a := startCfgWith(t, connect, 1, pwConfig("secret-1", ""), zerolog.Nop())
	ctx := context.Background()
	if err := be.AlterBrokerConfigs(ctx, "1", map[string]string{pwKey: "pw-1"}); err != nil {
		t.Fatal(err)
	}
	err := be.EditBrokerConfigs(ctx, "1", func(cur map[string]string) (map[string]string, error) {
		if cur[pwKey] != "pw-1" {
			return nil, fmt.Errorf("the edit saw %s = %q, want it in the clear", pwKey, cur[pwKey])
		}
		next := maps.Clone(cur)
		next["log.cleaner.threads"] = "3"
		return next, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	await(t, "the edited configs to be delivered", func() bool {
		_, _, s := a.configs()
		return s[pwKey] == "pw-1" && s["log.cleaner.threads"] == "3"
	})
	stored := storedConfig(t, rawConn(t, z.Addr), "/kafka/editpw/config/brokers/1")
	if got := decodeWith(t, "secret-1", stored[pwKey]); got != "pw-1" || strings.Contains(stored[pwKey], "pw-1") {
		t.Fatalf("stored %s = %q (decodes to %q), want it encrypted", pwKey, stored[pwKey], got)
	}
}
