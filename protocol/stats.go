package protocol

import (
	"sync/atomic"
	"time"
)

// maxStatKey bounds the API keys counted per key; higher keys share the
// last slot.
const maxStatKey = 128

// Stats are the server's counters, read by the metrics endpoint.
type Stats struct {
	ConnsOpen    atomic.Int64
	ConnsTotal   atomic.Uint64
	ConnsDropped atomic.Uint64 // closed by the server for bad input or a failed handler
	// ConnsRejected counts connections closed on accept for
	// max.connections.per.ip (or its overrides).
	ConnsRejected atomic.Uint64
	// ConnsHeld counts connections the accept loop held for a free slot
	// (max.connections, listener.name.<l>.max.connections), and
	// AcceptHeldNanos the time it spent holding them.
	ConnsHeld       atomic.Uint64
	AcceptHeldNanos atomic.Uint64
	// ConnsEvicted counts client connections closed to make room for an
	// inter-broker one over max.connections.
	ConnsEvicted atomic.Uint64
	// ConnsThrottled counts connections closed, after their throttle
	// time, for their IP's connection_creation_rate.
	ConnsThrottled atomic.Uint64
	// ConnsIdleClosed counts connections closed by connections.max.idle.ms.
	ConnsIdleClosed atomic.Uint64
	// ConnsStalledClosed counts connections closed for stopping mid-request
	// while holding budget others waited for (conn.checkStall).
	ConnsStalledClosed atomic.Uint64
	BytesIn            atomic.Uint64
	BytesOut           atomic.Uint64
	Requests           [maxStatKey]atomic.Uint64
	// RequestNanos is the time from a request's arrival to its response
	// being handed to the socket, summed per key.
	RequestNanos [maxStatKey]atomic.Uint64
}

func statKey(k int16) int {
	if k < 0 || int(k) >= maxStatKey {
		return maxStatKey - 1
	}
	return int(k)
}

func (s *Stats) request(key int16, n int) {
	s.Requests[statKey(key)].Add(1)
	s.BytesIn.Add(uint64(n) + 4)
}

func (s *Stats) responded(key int16, since time.Time, n int) {
	s.RequestNanos[statKey(key)].Add(uint64(time.Since(since)))
	s.BytesOut.Add(uint64(n))
}
