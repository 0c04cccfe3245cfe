package broker

import (
	"math"
	"testing"

	"gregor/broker/config"
)

// A fetch's MaxBytes is capped by fetch.max.bytes (a follower's also by
// replica.fetch.response.max.bytes), and zero or less is no budget beyond
// KIP-74's first batch, not "unlimited" (as it was).
func TestFetchLimits(t *testing.T) {
	cfg := config.Defaults()
	cfg.FetchMax, cfg.ReplicaFetchResponseMax = 55<<20, 10<<20
	for _, c := range []struct {
		name               string
		maxBytes, minBytes int32
		follower           bool
		wantMax, wantMin   int32
	}{
		{"under the cap", 1 << 20, 1, false, 1 << 20, 1},
		{"huge MaxBytes", math.MaxInt32, 1, false, 55 << 20, 1},
		{"zero MaxBytes", 0, 1, false, 0, 0},
		{"negative MaxBytes", -1, 1, false, 0, 0},
		// Not a budget that underflows to 2^31-1 - first batch.
		{"MaxBytes -2^31", math.MinInt32, 1, false, 0, 0},
		{"MinBytes above the cap", math.MaxInt32, math.MaxInt32, false, 55 << 20, 55 << 20},
		{"follower", math.MaxInt32, 1, true, 10 << 20, 1},
	} {
		gotMax, gotMin := fetchLimits(cfg, c.maxBytes, c.minBytes, c.follower)
		if gotMax != c.wantMax || gotMin != c.wantMin {
			t.Errorf("%s: max %d min %d, want %d %d", c.name, gotMax, gotMin, c.wantMax, c.wantMin)
		}
	}
}
