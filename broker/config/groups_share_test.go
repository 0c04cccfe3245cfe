package config

import (
	"strings"
	"testing"
	"time"
)

// Kafka 4's share group keys load with Kafka's defaults and act (none is
// listed as without effect).
func TestShareGroupKeysDefaults(t *testing.T) {
	c, err := Load(map[string]string{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.ShareGroupEnable || c.ShareGroupSessionTimeout != 45*time.Second || c.ShareGroupHeartbeatInterval != 5*time.Second ||
		c.ShareGroupMaxSize != 200 || c.ShareGroupDeliveryCountLimit != 5 || c.ShareGroupRecordLockDuration != 30*time.Second ||
		c.ShareGroupPartitionMaxRecordLocks != 2000 || c.ShareGroupMaxShareSessions != 2000 ||
		c.ShareStateTopicNumPartitions != 50 || c.ShareStateTopicReplicationFactor != 3 || c.ShareStateTopicMinIsr != 2 ||
		c.ShareSnapshotUpdateRecordsPerSnapshot != 500 {
		t.Fatalf("defaults: %+v", c)
	}
	set := map[string]string{"group.share.record.lock.duration.ms": "20000", "group.share.delivery.count.limit": "3",
		"group.share.partition.max.record.locks": "500", "group.coordinator.rebalance.protocols": "classic,consumer,share"}
	c, err = Load(set, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := NoEffectKeys(c.Values, false); len(got) != 0 {
		t.Fatalf("share keys listed as without effect: %v", got)
	}
	if c.ShareGroupRecordLockDuration != 20*time.Second || c.ShareGroupDeliveryCountLimit != 3 || c.ShareGroupPartitionMaxRecordLocks != 500 {
		t.Fatalf("set: %+v", c)
	}
}

// Kafka's bounds between share group keys refuse start-up, naming the key.
func TestShareGroupKeysRefused(t *testing.T) {
	for _, tc := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"group.share.delivery.count.limit": "1"}, "group.share.delivery.count.limit"},
		{map[string]string{"group.share.partition.max.record.locks": "50"}, "group.share.partition.max.record.locks"},
		{map[string]string{"group.share.assignors": "range"}, "group.share.assignors"},
		{map[string]string{"group.share.record.lock.duration.ms": "10000"}, "group.share.record.lock.duration.ms (10000) must be at least"},
		{map[string]string{"group.share.record.lock.duration.ms": "70000"}, "group.share.max.record.lock.duration.ms (60000) must be at least"},
		{map[string]string{"group.share.heartbeat.interval.ms": "20000"}, "group.share.heartbeat.interval.ms (20000) must be between"},
		{map[string]string{"group.share.session.timeout.ms": "30000"}, "group.share.session.timeout.ms (30000) must be between"},
		{map[string]string{"group.share.max.share.sessions": "10"}, "group.share.max.share.sessions (10) must be at least group.share.max.size"},
		{map[string]string{"group.share.persister.class.name": "com.example.P"}, "group.share.persister.class.name"},
	} {
		_, err := Load(tc.set, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %q", tc.set, err, tc.want)
		}
	}
}

// Group configs are checked against the broker's bounds, as Kafka's
// GroupConfig.validate does.
func TestValidateGroupConfigs(t *testing.T) {
	c, err := Load(map[string]string{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range []map[string]string{
		{"share.auto.offset.reset": "earliest"}, {"share.auto.offset.reset": "LATEST"},
		{"share.auto.offset.reset": "by_duration:PT1H"}, {"share.auto.offset.reset": "by_duration:P1DT30M"},
		{"share.isolation.level": "read_committed"}, {"share.record.lock.duration.ms": "15000"},
		{"share.session.timeout.ms": "60000", "share.heartbeat.interval.ms": "5000"},
	} {
		if err := c.ValidateGroupConfigs(ok); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	for _, tc := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"share.auto.offset.reset": "none"}, "share.auto.offset.reset"},
		{map[string]string{"share.auto.offset.reset": "by_duration:1h"}, "share.auto.offset.reset"},
		{map[string]string{"share.isolation.level": "serializable"}, "share.isolation.level"},
		{map[string]string{"share.record.lock.duration.ms": "1000"}, "share.record.lock.duration.ms must be greater than or equal to group.share.min.record.lock.duration.ms"},
		{map[string]string{"share.session.timeout.ms": "90000"}, "share.session.timeout.ms must be less than or equal to group.share.max.session.timeout.ms"},
		{map[string]string{"share.heartbeat.interval.ms": "x"}, "Not a number"},
		{map[string]string{"banana": "1"}, "Unknown group config name: banana"},
	} {
		if err := c.ValidateGroupConfigs(tc.set); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.set, err, tc.want)
		}
	}
	// A session no longer than the heartbeat interval, the other taken
	// from the broker where the group does not set it, is refused as
	// GroupConfig.validateValues refuses it (Gregor took it).
	wide, err := Load(map[string]string{"group.consumer.min.session.timeout.ms": "1000", "group.share.min.session.timeout.ms": "1000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"consumer.session.timeout.ms": "6000", "consumer.heartbeat.interval.ms": "6000"}, "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms"},
		{map[string]string{"consumer.session.timeout.ms": "5000"}, "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms"},
		{map[string]string{"share.session.timeout.ms": "4000", "share.heartbeat.interval.ms": "5000"}, "share.session.timeout.ms must be greater than share.heartbeat.interval.ms"},
	} {
		if err := wide.ValidateGroupConfigs(tc.set); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.set, err, tc.want)
		}
	}
	if err := wide.ValidateGroupConfigs(map[string]string{"consumer.session.timeout.ms": "6000"}); err != nil {
		t.Errorf("a session past the broker's heartbeat interval: %v", err)
	}
	// Bounds that let a session timeout be no more than a heartbeat
	// interval: that is checked only once every value is in its bounds.
	c, err = Load(map[string]string{"group.share.min.session.timeout.ms": "6000", "group.consumer.min.session.timeout.ms": "6000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"share.session.timeout.ms": "10000", "share.heartbeat.interval.ms": "10000"}, "share.session.timeout.ms must be greater than share.heartbeat.interval.ms"},
		{map[string]string{"consumer.session.timeout.ms": "6000", "consumer.heartbeat.interval.ms": "12000"}, "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms"},
		{map[string]string{"consumer.session.timeout.ms": "6000", "consumer.heartbeat.interval.ms": "20000"}, "consumer.heartbeat.interval.ms must be less than or equal to group.consumer.max.heartbeat.interval.ms"},
		{map[string]string{"consumer.session.timeout.ms": "6000"}, ""},     // over the broker's heartbeat interval, 5 s
		{map[string]string{"consumer.heartbeat.interval.ms": "12000"}, ""}, // under the broker's session timeout, 45 s
	} {
		err := c.ValidateGroupConfigs(tc.set)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || err.Error() != tc.want) {
			t.Errorf("%v: %v, want %q", tc.set, err, tc.want)
		}
	}
	if _, d, err := ParseShareAutoOffsetReset("by_duration:P1DT2H3M4.5S"); err != nil || d != 26*time.Hour+3*time.Minute+4500*time.Millisecond {
		t.Errorf("duration %v %v", d, err)
	}
}
