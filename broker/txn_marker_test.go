package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A transaction marker is not written while the partition's ISR is below
// min.insync.replicas: NOT_ENOUGH_REPLICAS, as Kafka writes markers with
// acks=all and Partition.appendRecordsToLeader refuses them before the
// append. The coordinator retries until the ISR is back. Gregor wrote the
// marker, waited for a high watermark that could not pass it, and wrote
// it again at every retry of the coordinator.
func TestTxnMarkerRefusedUnderMinISR(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("markers", 1, nil)
	p := tb.Partition("markers", 0)
	// As if a second replica had left the ISR of a topic with
	// min.insync.replicas=2.
	p.mu.Lock()
	p.rs.Replicas = append(p.rs.Replicas, 2)
	p.rs.MinISR = 2
	p.mu.Unlock()
	leo := p.LogEndOffset()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := tb.WriteTxnMarker(ctx, "markers", 0, 42, 0, true, 0)
	if !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("marker with the ISR below min.insync.replicas: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	if got := p.LogEndOffset(); got != leo {
		t.Fatalf("log end %d after the refused marker, want %d (nothing written)", got, leo)
	}
}
