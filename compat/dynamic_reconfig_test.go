package compat

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

// Dynamic broker config changes that Kafka's reconfigurable components
// refuse (DynamicThreadPool, LogCleaner, DynamicListenerConfig
// validateReconfiguration) are INVALID_REQUEST "Invalid dynamic
// configuration", as Kafka 4's ConfigAdminManager answers them, and are
// not stored: a thread pool more than doubled or less than halved, the
// cleaner's threads likewise, a listener moved or added, a fixed config of
// an existing listener. Those within bounds are accepted.
func TestDynamicReconfigurationRefusals(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker with default thread pools and listeners")
	}
	b := brokertest.Start(t, brokertest.Options{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ac := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	alter := func(perBroker bool, name, value string) kadm.AlterConfigsResponse {
		t.Helper()
		var brokers []int32
		if perBroker {
			brokers = []int32{0}
		}
		res, err := ac.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: name, Value: kmsg.StringPtr(value)}}, brokers...)
		if err != nil || len(res) != 1 {
			t.Fatalf("altering %s=%s: %v %v", name, value, err, res)
		}
		return res[0]
	}
	for _, tc := range []struct {
		perBroker   bool
		name, value string
		refused     bool
	}{
		{false, "num.io.threads", "17", true}, // default 8: more than double
		{false, "num.io.threads", "16", false},
		{false, "num.io.threads", "7", true}, // now 16: less than half
		{true, "background.threads", "21", true},
		{false, "num.network.threads", "7", true}, // default 3
		{false, "num.network.threads", "6", false},
		{false, "log.cleaner.threads", "3", true}, // default 1
		{false, "log.cleaner.threads", "2", false},
		{true, "listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", brokertest.FreePort(t)), true}, // moved
		{true, "advertised.listeners", "PLAINTEXT://elsewhere:9092", true},
		{true, "listener.name.plaintext.connections.max.reauth.ms", "1000", true},
		{true, "listener.name.plaintext.max.connections", "1000", false},
	} {
		r := alter(tc.perBroker, tc.name, tc.value)
		if !tc.refused {
			if r.Err != nil {
				t.Errorf("%s=%s (per broker %v): %v %s, want accepted", tc.name, tc.value, tc.perBroker, r.Err, r.ErrMessage)
			}
			continue
		}
		if !errors.Is(r.Err, kerr.InvalidRequest) || r.ErrMessage != "Invalid dynamic configuration" {
			t.Errorf("%s=%s (per broker %v): %v %q, want INVALID_REQUEST \"Invalid dynamic configuration\"", tc.name, tc.value, tc.perBroker, r.Err, r.ErrMessage)
		}
	}
	rc, err := ac.DescribeBrokerConfigs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"num.io.threads": "16", "num.network.threads": "6", "log.cleaner.threads": "2", "background.threads": "10"}
	for _, c := range rc[0].Configs {
		if v, ok := want[c.Key]; ok && c.MaybeValue() != v {
			t.Errorf("%s described %q, want %q (a refused value was stored)", c.Key, c.MaybeValue(), v)
		}
		if c.Key == "listeners" && c.Source == kmsg.ConfigSourceDynamicBrokerConfig {
			t.Errorf("refused listeners stored: %s", c.MaybeValue())
		}
	}
}
