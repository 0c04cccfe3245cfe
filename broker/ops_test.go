package broker

import (
	"slices"
	"testing"
	"unsafe"
)

// Produce and Fetch requests are decoded in place from frames that are
// recycled, so their topic names alias bytes that change once the request
// is answered. The per-topic traffic map must keep its own copy of a name:
// a key rewritten under it made the next lookup of the topic panic
// (sync.Map: "ran out of hash bits") and closed the client's connection.
func TestTopicTrafficKeepsItsOwnName(t *testing.T) {
	var o opsStats
	frame := []byte("orders")
	name := unsafe.String(&frame[0], len(frame)) // as kmsg's in-place decoding makes it
	first := o.topic(name)
	first.RecordsIn.Add(3)
	copy(frame, "zzzzzz") // the frame is reused by the next request
	again := o.topic("orders")
	if again != first || again.RecordsIn.Load() != 3 {
		t.Fatalf("topic orders after its request's frame was reused: a new entry (%d records), want the first (3)", again.RecordsIn.Load())
	}
}

// A produce or fetch that found its topic just before the topic was
// deleted can count its traffic after the deletion dropped the topic's
// counters; the scrape then must not keep a series for a topic that is
// gone (Kafka removes a deleted topic's BrokerTopicMetrics).
func TestTrafficOfADeletedTopicLeavesNoSeries(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("kept", 1, nil)
	tb.createTopic("gone", 1, nil)
	tb.ops.topic("kept").RecordsIn.Add(1) // as a produce counts it
	tb.ops.topic("gone").RecordsIn.Add(1)
	tb.deleteTopic("gone")
	tb.ops.topic("gone").RecordsIn.Add(1) // the late produce
	var topics []string
	for _, tr := range tb.Traffic() {
		topics = append(topics, tr.Topic)
	}
	if !slices.Equal(topics, []string{"kept"}) {
		t.Fatalf("traffic listed for topics %v after gone's deletion and a late produce to it, want [kept]", topics)
	}
	if _, ok := tb.ops.topics.Load("gone"); ok {
		t.Fatal("the deleted topic's late counters are still held")
	}
}
