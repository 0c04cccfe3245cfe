package broker

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"gregor/broker/records"
	"gregor/internal/wait"
)

// With a segment that rolls at every append, snapshots do not pile up one
// background write per roll: while one is written, further rolls make a
// single snapshot after it, of the state then. The last one written is the
// state at the log's end, every producer in it.
func TestProducerSnapshotsCoalesceOnEveryRoll(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("tiny", 1, map[string]string{"segment.bytes": "100"})
	const producers = 300
	now := time.Now().UnixMilli()
	for pid := int64(1); pid <= producers; pid++ {
		b := &records.Batch{FirstTimestamp: now, MaxTimestamp: now, ProducerID: pid, ProducerEpoch: 0, BaseSequence: 0,
			Records: []records.Record{{Value: []byte(fmt.Sprint(pid))}}}
		data, err := records.Build(b)
		if err != nil {
			t.Fatal(err)
		}
		tb.produce("tiny", 0, data)
	}
	p := tb.Partition("tiny", 0)
	wait.For(t, "the producer snapshots to be written", 10*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return !p.snapBusy
	})
	p.mu.Lock()
	lg := p.log
	p.mu.Unlock()
	off, data, ok := lg.LatestSnapshot()
	if !ok || off != producers {
		t.Fatalf("newest snapshot at %d (found %v), want at the log's end %d", off, ok, producers)
	}
	var s snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Producers) != producers {
		t.Fatalf("newest snapshot holds %d producers, want %d", len(s.Producers), producers)
	}
}
