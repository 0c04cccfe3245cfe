package coordinator

import (
	"fmt"
	"testing"
)

// BenchmarkConsumerHeartbeatSteady is the heartbeat of a reconciled
// member subscribed to 100 topics of 4 partitions that changes nothing,
// as most heartbeats of a KIP-848 consumer are.
func BenchmarkConsumerHeartbeatSteady(b *testing.B) {
	e := newCGEnv(b, nil)
	topics := make([]string, 100)
	for i := range topics {
		topics[i] = fmt.Sprintf("t%03d", i)
		e.h.setTopic(topics[i], 4)
	}
	res := e.join("g", "m1", topics...)
	epoch, owned := res.epoch, res.assignment
	for range 10 {
		res = e.beat("g", "m1", epoch, owned)
		if res.err != nil {
			b.Fatalf("heartbeat: %v %s", res.err, res.msg)
		}
		if res.assignment != nil {
			owned = res.assignment
		}
		if res.epoch == epoch && res.assignment == nil {
			break
		}
		epoch = res.epoch
	}
	if len(owned) != 400 {
		b.Fatalf("member owns %d partitions, want 400", len(owned))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		res = e.hb(cgHeartbeat{group: "g", memberID: "m1", epoch: epoch})
		if res.err != nil || res.epoch != epoch {
			b.Fatalf("steady heartbeat: %v %s, epoch %d want %d", res.err, res.msg, res.epoch, epoch)
		}
	}
}
