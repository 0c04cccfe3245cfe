package broker

import (
	"math"
	"testing"
	"time"

	"gregor/broker/config"
)

func TestParseThrottled(t *testing.T) {
	for _, tc := range []struct {
		v    string
		self int32
		in   []int32
		out  []int32
	}{
		{"", 1, nil, []int32{0, 1}},
		{"*", 1, []int32{0, 7}, nil},
		{"0:1,0:2,1:2, 3:1", 1, []int32{0, 3}, []int32{1, 2}},
		{"0:1,0:2,1:2", 2, []int32{0, 1}, []int32{2}},
		{"0:1", 3, nil, []int32{0}},
	} {
		s := parseThrottled(tc.v, tc.self)
		for _, p := range tc.in {
			if !s.has(p) {
				t.Errorf("%q on broker %d: partition %d should be throttled", tc.v, tc.self, p)
			}
		}
		for _, p := range tc.out {
			if s.has(p) {
				t.Errorf("%q on broker %d: partition %d should not be throttled", tc.v, tc.self, p)
			}
		}
	}
}

// The quota allows bound bytes per second over the samples it keeps, at
// least one sample's worth: what was recorded is paid back over time, and
// samples older than the window stop counting.
func TestQuotaAllowance(t *testing.T) {
	cfg := config.Defaults()
	cfg.ReplicationQuotaWindowNum, cfg.ReplicationQuotaWindowSize = 3, time.Second
	cfg.LeaderReplicationThrottledRate = 1000
	q := newQuota(func() *config.Config { return cfg }, func(c *config.Config) config.ByteSize { return c.LeaderReplicationThrottledRate })
	t0 := time.Unix(1000, 0)
	for _, step := range []struct {
		at     time.Duration
		record int
		want   int64
	}{
		{0, 0, 1000},                      // nothing recorded: one sample's worth
		{0, 1500, -500},                   // overshoot by one read (a whole batch)
		{500 * time.Millisecond, 0, -500}, // still within the first sample
		{1500 * time.Millisecond, 0, 0},   // 1.5 s at 1000 B/s paid it back
		{2 * time.Second, 400, 100},       // 2000 allowed, 1900 spent
		{3 * time.Second, 0, 600},         // the first sample (1500) expires; one second spans the rest
		{10 * time.Second, 0, 1000},       // everything expired
	} {
		now := t0.Add(step.at)
		q.record(step.record, now)
		if got := q.allowance(now); got != step.want {
			t.Errorf("at %v after recording %d: allowance %d, want %d", step.at, step.record, got, step.want)
		}
	}
	cfg.LeaderReplicationThrottledRate = math.MaxInt64
	if got := q.allowance(t0); got != math.MaxInt64 {
		t.Errorf("without a bound: allowance %d, want unlimited", got)
	}
}
