package monitor

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gregor/protocol"
)

// BenchmarkRequestDone is what observing one request costs the
// connection that answered it.
func BenchmarkRequestDone(b *testing.B) {
	m := newRequestMetrics(prometheus.NewRegistry())
	rt := protocol.RequestTiming{Key: 0, Version: 9, RequestBytes: 1024, ResponseBytes: 64, Queue: time.Microsecond, Local: 20 * time.Microsecond, Total: 30 * time.Microsecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.RequestDone(rt)
		}
	})
}
