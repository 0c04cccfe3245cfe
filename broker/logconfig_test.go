package broker

import (
	"testing"
	"time"

	"gregor/broker/config"
)

// A compacted topic's segments roll by max.compaction.lag.ms at the
// latest (Kafka's LogConfig.maxSegmentMs), so no record outstays the lag
// in the active segment, which is never cleaned; segment.jitter.ms reaches
// the log.
func TestLogConfigRollsByMaxCompactionLag(t *testing.T) {
	b := &Broker{}
	base := config.Topic{SegmentRoll: 7 * 24 * time.Hour, MaxCompactionLag: time.Hour, SegmentJitter: time.Minute}
	for _, c := range []struct {
		policy config.CleanupPolicy
		want   time.Duration
	}{{"compact", time.Hour}, {"compact,delete", time.Hour}, {"delete", 7 * 24 * time.Hour}} {
		tc := base
		tc.Cleanup = c.policy
		lc := b.logConfig(tc)
		if lc.SegmentRoll != c.want || lc.SegmentJitter != time.Minute {
			t.Fatalf("cleanup.policy=%s: segments roll after %v with %v jitter, want %v and 1m", c.policy, lc.SegmentRoll, lc.SegmentJitter, c.want)
		}
	}
}
