package zkmeta

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/internal/wait"
	"gregor/internal/zktest"
)

// TestConfigChangeNotificationsArePurged: config change notifications
// (/config/changes/config_change_N, written with every topic config,
// quota or SCRAM change) are deleted once older than the retention, as
// Kafka's ZkNodeChangeNotificationListener purges them after 15 minutes;
// Gregor, which reads none of them, left every one in ZooKeeper for ever.
func TestConfigChangeNotificationsArePurged(t *testing.T) {
	oldRetention, oldEvery := configChangeRetention, configPurgeEvery
	configChangeRetention, configPurgeEvery = 300*time.Millisecond, 0
	t.Cleanup(func() { configChangeRetention, configPurgeEvery = oldRetention, oldEvery })
	z := zktest.Start(t)
	be, err := New(Options{
		Connect: z.Addr + "/changes", SessionTimeout: 4 * time.Second,
		Self:   metadata.BrokerInfo{ID: 1, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9091}}},
		Config: &config.Config{DeleteTopicEnable: true, NumPartitions: 1, DefaultReplicationFactor: 1},
		Log:    zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	b := be.(*backend)
	if err := b.Start(context.Background(), nopApplier{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	list := func() []string {
		names, _, err := b.conn.Children(b.p(configChangesPath))
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	for i := range 20 {
		b.announceConfigChange(fmt.Sprintf("clients/first-%d", i))
	}
	first := map[string]bool{}
	for _, n := range list() {
		first[n] = true
	}
	if len(first) < 20 {
		t.Fatalf("%d notifications after 20 changes", len(first))
	}
	// Each later change purges what is past the retention.
	wait.For(t, "the first 20 notifications to be purged", 20*time.Second, func() bool {
		b.announceConfigChange("clients/later")
		for _, n := range list() {
			if first[n] {
				return false
			}
		}
		return true
	})
	if n := len(list()); n == 0 {
		t.Error("the latest notifications were purged too")
	}
}
