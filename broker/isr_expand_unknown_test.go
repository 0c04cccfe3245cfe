package broker

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"gregor/broker/config"
	"gregor/broker/metadata"
)

// An ISR expansion whose write has an unknown outcome (the ZooKeeper
// connection dropped, the request timed out) may have been applied: the
// follower keeps holding the high watermark until a newer state of the
// partition says whether it is in the ISR, as Kafka's Partition keeps a
// PendingExpandIsr (its maximal ISR) on any AlterPartition error but
// OPERATION_NOT_ATTEMPTED and INELIGIBLE_REPLICA. Gregor released it at
// once: the HW passed the follower, which the cluster then had in its ISR
// below the HW, and, elected, it would have lost acknowledged records.
func TestISRExpansionOfUnknownOutcomeHoldsTheHighWatermark(t *testing.T) {
	tb, be, p := newISRBroker(t, []int32{1, 2, 3}, []int32{1, 3})
	tb.appendN(10)
	p.followerFetched(0, 3, 10, 0)
	tb.appendN(10)
	p.followerFetched(0, 3, 15, 0)
	if hw := p.HighWatermark(); hw != 15 {
		t.Fatalf("HW %d, want 15 (follower 3's LEO)", hw)
	}
	var tries atomic.Int32
	be.update = func(st metadata.PartitionState) (metadata.PartitionState, error) {
		tries.Add(1)
		return metadata.PartitionState{}, errors.New("zk: connection closed")
	}
	p.followerFetched(0, 2, 15, 0) // reaches the HW, not the log end: joins
	awaitCond(t, 5*time.Second, "the ISR expansion to be tried", func() bool { return tries.Load() > 0 })
	p.followerFetched(0, 3, 20, 0)
	if hw := p.HighWatermark(); hw != 15 {
		t.Fatalf("HW %d after the ISR expansion of follower 2 (LEO 15) failed with an unknown outcome, want 15", hw)
	}
	// A newer state, without follower 2: the expansion was not applied.
	be.deliver(t, tb.Broker, []int32{1, 2, 3}, []int32{1, 3}, 1)
	if hw := p.HighWatermark(); hw != 20 {
		t.Fatalf("HW %d once a newer state without follower 2 is in force, want 20", hw)
	}
}

// An ISR expansion of unknown outcome is tried again, as Kafka's
// AlterPartitionManager retries, so a follower that stops fetching is not
// left holding the high watermark from outside the ISR.
func TestISRExpansionOfUnknownOutcomeIsRetried(t *testing.T) {
	tb, be, p := newISRBroker(t, []int32{1, 2}, []int32{1})
	tb.appendN(10)
	var tries atomic.Int32
	be.update = func(st metadata.PartitionState) (metadata.PartitionState, error) {
		if tries.Add(1) == 1 {
			return metadata.PartitionState{}, errors.New("zk: connection closed")
		}
		st.Version++
		return st, nil
	}
	p.followerFetched(0, 2, 10, 0)
	awaitCond(t, 5*time.Second, "the ISR expansion to be written on a second try", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return tries.Load() == 2 && len(p.rs.ISR) == 2 && !p.isrPending
	})
}

// A follower outside the ISR that caught up holds the high watermark for
// replica.lag.time.max.ms (Kafka's shouldWaitForReplicaToJoinIsr). One
// that then stops fetching (killed while its broker is still registered)
// no longer holds it once that time has passed: the ISR check moves the
// HW on. Gregor moved it only at the next append or fetch, so an acks=all
// produce waited for one until its request timed out.
func TestCaughtUpFollowerThatStopsReleasesTheHighWatermarkAfterTheLagTime(t *testing.T) {
	tb, be, p := newISRBroker(t, []int32{1, 2}, []int32{1}, func(c *config.Config) { c.ReplicaLagTimeMax = 200 * time.Millisecond })
	tb.appendN(10)
	be.update = func(metadata.PartitionState) (metadata.PartitionState, error) {
		return metadata.PartitionState{}, metadata.ErrStaleState
	}
	p.followerFetched(0, 2, 10, 0) // caught up: joins, refused as stale
	awaitCond(t, 5*time.Second, "the ISR expansion to end", func() bool { return !p.isExpanding() })
	be.deliver(t, tb.Broker, []int32{1, 2}, []int32{1}, 1) // the newer state, without 2
	tb.appendN(10)
	if hw := p.HighWatermark(); hw != 10 {
		t.Fatalf("HW %d with follower 2 caught up at 10 outside the ISR, want 10", hw)
	}
	awaitCond(t, 5*time.Second, "the HW to pass follower 2, which stopped fetching 200ms ago", func() bool { return p.HighWatermark() == 20 })
}
