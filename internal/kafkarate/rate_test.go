package kafkarate

import (
	"math"
	"testing"
	"time"
)

// TestRateKeepsOverlappingWindow: the rate is Kafka 3.8+'s (SampledStat
// with n+1 slots, purged by each window's latest event, Rate.windowSize):
// a window that began before the measured span but had an event within
// it still counts, whole, and the span reaches back to its start.
func TestRateKeepsOverlappingWindow(t *testing.T) {
	type rec struct {
		at int64
		v  float64
	}
	for _, tc := range []struct {
		name     string
		recs     []rec
		now      int64
		rate     float64
		span     int64
		throttle time.Duration // against a quota of 100/s
	}{
		{"a third window does not reuse the first", []rec{{0, 100}, {999, 100}, {1000, 100}, {2000, 100}}, 2000, 200, 2000, 2000 * time.Millisecond},
		{"a window with an event in the span is kept", []rec{{0, 100}, {900, 100}, {1500, 100}}, 2100, 300 / 2.1, 2100, 900 * time.Millisecond},
		{"a window whose events are all older is dropped", []rec{{0, 100}, {1500, 100}}, 2100, 100 / 1.6, 1600, 0},
		{"nothing recorded", nil, 500, 0, 1000, 0},
	} {
		var r Rate
		for _, x := range tc.recs {
			r.Record(x.v, x.at, 2, 1000)
		}
		rate, span := r.Measure(tc.now, 2, 1000)
		if math.Abs(rate-tc.rate) > 1e-9 || span != tc.span {
			t.Errorf("%s: rate %v over %d ms, want %v over %d ms", tc.name, rate, span, tc.rate, tc.span)
		}
		if d := Throttle(rate, 100, span); d != tc.throttle {
			t.Errorf("%s: throttle %v, want %v", tc.name, d, tc.throttle)
		}
	}
}
