package protocol

import (
	"sort"
	"sync"
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
	// (max.connections, listener.name.<l>.max.connections, or file
	// descriptors near the limit: fdroom.go), and
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
	// listeners holds a *ListenerCounts per listener name.
	listeners sync.Map
}

// ListenerCounts are one listener's connections served and closed (Kafka's
// SocketServer connection-creation-total and connection-close-total, by
// listener).
type ListenerCounts struct {
	Created, Closed atomic.Uint64
}

func (s *Stats) listener(name string) *ListenerCounts {
	if l, ok := s.listeners.Load(name); ok {
		return l.(*ListenerCounts)
	}
	l, _ := s.listeners.LoadOrStore(name, &ListenerCounts{})
	return l.(*ListenerCounts)
}

// ListenerCount is a snapshot of a listener's counts.
type ListenerCount struct {
	Listener        string
	Created, Closed uint64
}

// Listeners lists each listener's connection counts, by name.
func (s *Stats) Listeners() []ListenerCount {
	var out []ListenerCount
	s.listeners.Range(func(k, v any) bool {
		l := v.(*ListenerCounts)
		out = append(out, ListenerCount{Listener: k.(string), Created: l.Created.Load(), Closed: l.Closed.Load()})
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Listener < out[j].Listener })
	return out
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
