package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConsumerGroupKeysDefaults(t *testing.T) {
	c := Defaults()
	if c.ConsumerGroupSessionTimeout != 45*time.Second || c.ConsumerGroupHeartbeatInterval != 5*time.Second ||
		c.ConsumerGroupMinSessionTimeout != 45*time.Second || c.ConsumerGroupMaxSessionTimeout != time.Minute ||
		c.ConsumerGroupMinHeartbeatInterval != 5*time.Second || c.ConsumerGroupMaxHeartbeatInterval != 15*time.Second {
		t.Fatalf("timeouts: %+v", c)
	}
	if !slices.Equal(c.ConsumerGroupAssignors, []string{"uniform", "range"}) || c.ConsumerGroupMigrationPolicy != "bidirectional" ||
		!c.ConsumerProtocolEnabled() || c.ConsumerGroupMaxSize != 2147483647 {
		t.Fatalf("assignors %v policy %q protocols %v max %d", c.ConsumerGroupAssignors, c.ConsumerGroupMigrationPolicy,
			c.GroupRebalanceProtocols, c.ConsumerGroupMaxSize)
	}
}

func TestConsumerGroupKeysParsed(t *testing.T) {
	c, err := Load(map[string]string{
		"group.consumer.assignors":                 "range",
		"group.consumer.migration.policy":          "UPGRADE",
		"group.coordinator.rebalance.protocols":    "classic",
		"group.consumer.min.session.timeout.ms":    "1000",
		"group.consumer.session.timeout.ms":        "2000",
		"group.consumer.min.heartbeat.interval.ms": "100",
		"group.consumer.heartbeat.interval.ms":     "200",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.ConsumerGroupAssignors, []string{"range"}) || c.ConsumerGroupMigrationPolicy != "upgrade" || c.ConsumerProtocolEnabled() ||
		c.ConsumerGroupSessionTimeout != 2*time.Second || c.ConsumerGroupHeartbeatInterval != 200*time.Millisecond {
		t.Fatalf("parsed: %+v", c)
	}
}

// Kafka's GroupCoordinatorConfig refuses a session timeout or heartbeat
// interval outside its bounds, and an interval not below the timeout.
func TestConsumerGroupKeysRefused(t *testing.T) {
	for _, tc := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"group.consumer.assignors": "sticky"}, "group.consumer.assignors"},
		{map[string]string{"group.consumer.assignors": "range,range"}, "group.consumer.assignors"},
		{map[string]string{"group.consumer.migration.policy": "sideways"}, "group.consumer.migration.policy"},
		{map[string]string{"group.coordinator.rebalance.protocols": "consumer"}, "group.coordinator.rebalance.protocols"},
		{map[string]string{"group.coordinator.rebalance.protocols": "classic,streams"}, "group.coordinator.rebalance.protocols"},
		{map[string]string{"group.consumer.session.timeout.ms": "30000"}, "group.consumer.session.timeout.ms (30000) must be between"},
		{map[string]string{"group.consumer.heartbeat.interval.ms": "20000"}, "group.consumer.heartbeat.interval.ms (20000) must be between"},
		{map[string]string{"group.consumer.min.session.timeout.ms": "70000"}, "group.consumer.max.session.timeout.ms (60000) must be at least"},
		{map[string]string{"group.consumer.min.session.timeout.ms": "1000", "group.consumer.session.timeout.ms": "5000"},
			"group.consumer.heartbeat.interval.ms (5000) must be less than group.consumer.session.timeout.ms (5000)"},
	} {
		_, err := Load(tc.set, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %q", tc.set, err, tc.want)
		}
	}
}
