package protocol

import (
	"sync"
	"time"
)

// Connections are held back while the process is near its file descriptor
// limit, so that the logs keep the descriptors they need: a segment roll
// opens three files, a checkpoint one, a new partition several. Without
// this, idle connections that took every descriptor left the broker unable
// to roll a segment or write a checkpoint, and every producer's appends
// failed until some of them closed (Kafka, which has no such bound, takes
// the log dir offline on that error). A connection over the bound waits in
// the accept loop as one over max.connections does; the inter-broker
// listener (among others) may use half the reserve.
//
// The open descriptors are counted (Linux: /proc/self/fd) at most every
// fdSampleNear while near the limit, every fdSampleFar otherwise, and
// connections accepted since the last count are added to it.
const (
	fdSampleNear = 100 * time.Millisecond
	fdSampleFar  = time.Second
	// fdReserveMin and fdReserveShare size the reserve kept for the logs:
	// the larger of the two.
	fdReserveMin   = 64
	fdReserveShare = 20 // 1/20 of the limit
)

// fdRoom decides whether a new connection leaves the reserve alone.
type fdRoom struct {
	// count returns the open descriptors and the limit (RLIMIT_NOFILE);
	// ok is false where they cannot be known, which turns the bound off.
	count func() (open, limit int, ok bool)

	mu        sync.Mutex
	sampledAt time.Time
	open      int // at sampledAt
	limit     int
	connsAt   int // tracked connections at sampledAt
	ok        bool
}

// reserve is what the logs keep of limit.
func fdReserve(limit int) int { return max(fdReserveMin, limit/fdReserveShare) }

// admit reports whether a connection may be served with conns tracked now,
// and the estimate of open descriptors and the limit it judged by.
func (f *fdRoom) admit(conns int, protected bool, now time.Time) (ok bool, open, limit int) {
	if f == nil || f.count == nil {
		return true, 0, 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	every := fdSampleFar
	if f.ok && 2*(f.open+conns-f.connsAt) >= f.limit {
		every = fdSampleNear
	}
	if f.sampledAt.IsZero() || now.Sub(f.sampledAt) >= every {
		f.open, f.limit, f.ok = f.count()
		f.sampledAt, f.connsAt = now, conns
	}
	if !f.ok || f.limit <= 0 {
		return true, 0, 0
	}
	est := f.open + max(conns-f.connsAt, 0)
	room := f.limit - fdReserve(f.limit)
	if protected {
		room = f.limit - fdReserve(f.limit)/2
	}
	return est < room, est, f.limit
}

// FileDescriptors returns the process's open file descriptors and its
// limit (RLIMIT_NOFILE); ok is false where they cannot be known.
func FileDescriptors() (open, limit int, ok bool) { return countFDs() }
