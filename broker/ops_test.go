package broker

import (
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
