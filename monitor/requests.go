package monitor

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

// requestBuckets span 100 µs to about 30 s: a local produce takes well
// under a millisecond, a long-poll fetch up to its max wait (500 ms by
// default), an admin request waiting on ZooKeeper seconds.
var requestBuckets = prometheus.ExponentialBuckets(0.0001, 2.5, 14)

// requestMetrics observes every request (protocol.Observer) into
// histograms by API: total time and Kafka's split of it.
type requestMetrics struct {
	total, queue, local, remote, respQueue, send *prometheus.HistogramVec
	size, respSize                               *prometheus.HistogramVec

	// byKey caches each API's observers, made on first use (keys past
	// the array share its last slot, named Unknown): no lock on the
	// request path.
	byKey [maxObservedKey + 1]atomic.Pointer[apiObservers]
}

// maxObservedKey bounds the API keys observed one by one.
const maxObservedKey = 127

type apiObservers struct {
	total, queue, local, remote, respQueue, send, size, respSize prometheus.Observer
}

func newRequestMetrics(reg prometheus.Registerer) *requestMetrics {
	h := func(name, help string) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "gregor", Name: name, Help: help, Buckets: requestBuckets}, []string{"api"})
		reg.MustRegister(v)
		return v
	}
	sizes := func(name, help string) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "gregor", Name: name, Help: help, Buckets: prometheus.ExponentialBuckets(64, 4, 10)}, []string{"api"})
		reg.MustRegister(v)
		return v
	}
	return &requestMetrics{
		total:     h("request_duration_seconds", "Time from a request's arrival to its response written, by API (Kafka's TotalTimeMs)."),
		queue:     h("request_queue_seconds", "Time a request waited before its handler ran (Kafka's RequestQueueTimeMs)."),
		local:     h("request_local_seconds", "Time in the request's handler (Kafka's LocalTimeMs)."),
		remote:    h("request_remote_seconds", "Time the request waited for others: a long poll, acks=all, a coordinator write (Kafka's RemoteTimeMs, purgatory)."),
		respQueue: h("response_queue_seconds", "Time an encoded response waited for earlier responses on its connection (Kafka's ResponseQueueTimeMs)."),
		send:      h("response_send_seconds", "Time writing the response to the socket (Kafka's ResponseSendTimeMs)."),
		size:      sizes("request_size_bytes", "Request sizes, by API."),
		respSize:  sizes("response_size_bytes", "Response sizes, by API (requests answered with nothing not counted)."),
	}
}

func apiName(key int16) string {
	if n := kmsg.NameForKey(key); n != "" {
		return n
	}
	return "Unknown"
}

func (m *requestMetrics) observers(key int16) *apiObservers {
	if key < 0 || key > maxObservedKey {
		key = maxObservedKey
	}
	if o := m.byKey[key].Load(); o != nil {
		return o
	}
	n := apiName(key)
	o := &apiObservers{
		total: m.total.WithLabelValues(n), queue: m.queue.WithLabelValues(n), local: m.local.WithLabelValues(n),
		remote: m.remote.WithLabelValues(n), respQueue: m.respQueue.WithLabelValues(n), send: m.send.WithLabelValues(n),
		size: m.size.WithLabelValues(n), respSize: m.respSize.WithLabelValues(n),
	}
	m.byKey[key].CompareAndSwap(nil, o)
	return m.byKey[key].Load()
}

// RequestDone implements protocol.Observer.
func (m *requestMetrics) RequestDone(rt protocol.RequestTiming) {
	o := m.observers(rt.Key)
	o.total.Observe(rt.Total.Seconds())
	o.queue.Observe(rt.Queue.Seconds())
	o.local.Observe(rt.Local.Seconds())
	o.remote.Observe(rt.Remote.Seconds())
	o.size.Observe(float64(rt.RequestBytes))
	if rt.ResponseBytes > 0 {
		o.respQueue.Observe(rt.ResponseQueue.Seconds())
		o.send.Observe(rt.Send.Seconds())
		o.respSize.Observe(float64(rt.ResponseBytes))
	}
}
