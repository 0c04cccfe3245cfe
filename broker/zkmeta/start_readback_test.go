package zkmeta

import (
	"fmt"
	"testing"
	"time"

	"gregor/internal/wait"
	"gregor/internal/zktest"
)

// A restarted controller rewrites the states of its broker's partitions
// (metadata.Rejoin), and each write fires the broker's own watch on the
// state. Start returns once it has delivered what it wrote, not once it
// has read every state back: that second read of 3,000 states held a
// broker's start-up a second. The loop reads them back afterwards, which
// arms their watches again: a later change by another writer is seen.
func TestStartDoesNotWaitToReadItsOwnWritesBack(t *testing.T) {
	const n = 500
	z := zktest.Start(t)
	const root = "/readback"
	raw := rawZK(t, z.Addr)
	// A topic whose states a previous run of broker 1 left.
	seedTopic(t, raw, root, "t", n, encodeState(1, 1, 4, []int32{1}))

	b := startLone(t, z.Addr+root)
	// What Start delivered, as the loop has not run a round yet.
	counts := func() (epoch5, own int) {
		b.mu.Lock()
		defer b.mu.Unlock()
		tc := b.topics["t"]
		if tc == nil {
			return 0, 0
		}
		for _, st := range tc.states {
			if st != nil && st.leader == 1 && st.leaderEpoch == 5 {
				epoch5++
				if st.own {
					own++
				}
			}
		}
		return epoch5, own
	}
	epoch5, own := counts()
	if epoch5 != n {
		t.Fatalf("Start delivered %d of %d partitions led at epoch 5, want all: the restarted controller's writes", epoch5, n)
	}
	if own < n/2 {
		t.Fatalf("Start returned having read back %d of the %d states its controller wrote; want it to leave them to the loop", n-own, n)
	}
	wait.For(t, "the loop to read back the states the controller wrote", 30*time.Second, func() bool {
		_, own := counts()
		return own == 0
	})

	// Their watches are armed again: another writer's change is read.
	for _, p := range []int32{0, n / 2, n - 1} {
		path := root + statePath("t", p)
		_, st, err := raw.Get(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Set(path, encodeState(1, 1, 9, []int32{1}), st.Version); err != nil {
			t.Fatal(err)
		}
		wait.For(t, fmt.Sprintf("broker 1 to read partition %d's state at epoch 9", p), 30*time.Second, func() bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			st := b.topics["t"].states[p]
			return st != nil && st.leaderEpoch == 9
		})
	}
}
