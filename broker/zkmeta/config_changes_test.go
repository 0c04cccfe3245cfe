package zkmeta

import (
	"fmt"
	"testing"
	"time"

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
	b := startLone(t, z.Addr+"/changes")
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
