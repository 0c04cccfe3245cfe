package protocol

import (
	"context"
	"sync"
	"sync/atomic"
)

// byteBudget counts bytes reserved against a limit shared by every
// connection (queued.max.request.bytes). A reservation is granted while
// what others hold is under the limit, as Kafka's SimpleMemoryPool grants
// an allocation while any memory is left (non-strict), so the bytes
// reserved stay under the limit plus the largest single reservation: one
// frame. A request is reserved in two steps (see conn.readFrame): its
// first buffer when it starts, the rest of its announced size once that
// buffer is full. While a connection waits for a first buffer that the
// budget has room for, no frame is granted the rest of its size: small
// requests go ahead of large ones.
//
// Waiters are woken on every change while any wait (a release, a grant,
// a first-buffer waiter leaving) and each judges its own room again, so no
// wake-up is lost. No deadlock: a frame yields only to first buffers that
// have room; and were every holder waiting, the holders would be frames
// waiting for their rest, each holding a first buffer of
// initialFrameBuffer, the last of them granted with less than the limit
// reserved: so less than the limit plus one first buffer is reserved, and
// each of them has room.
type byteBudget struct {
	limit int64 // <= 0: unbounded; set before use
	used  atomic.Int64
	// waiting counts the connections waiting for a reservation (add wakes
	// them; conn.checkStall reads it as pressure), firstWaiting those of
	// them waiting for a first buffer.
	waiting      atomic.Int32
	firstWaiting atomic.Int32

	mu sync.Mutex
	// guarded by mu
	wake chan struct{} // closed (and cleared) on a change while anyone waits
}

// add charges n bytes (negative: releases them), waking waiters.
func (b *byteBudget) add(n int64) {
	b.used.Add(n)
	b.changed()
}

// changed wakes the waiters, if any, to judge their room again.
func (b *byteBudget) changed() {
	if b.waiting.Load() == 0 {
		return
	}
	b.mu.Lock()
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
	b.mu.Unlock()
}

// tryReserve charges n more bytes to a frame that holds mine already if
// what the others hold is under the limit; rest marks the rest of a large
// frame, which yields to first buffers being waited for.
func (b *byteBudget) tryReserve(n, mine int64, rest bool) bool {
	if b.limit <= 0 {
		b.used.Add(n)
		return true
	}
	for {
		u := b.used.Load()
		if u-mine >= b.limit || rest && u < b.limit && b.firstWaiting.Load() > 0 {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			b.changed()
			return true
		}
	}
}

// reserve is tryReserve, waiting until it succeeds or ctx ends; waited
// reports whether it had to wait.
func (b *byteBudget) reserve(ctx context.Context, n, mine int64, rest bool) (waited bool, err error) {
	if b.tryReserve(n, mine, rest) {
		return false, nil
	}
	b.waiting.Add(1)
	defer b.waiting.Add(-1)
	if !rest {
		b.firstWaiting.Add(1)
		defer func() {
			b.firstWaiting.Add(-1)
			b.changed() // a rest may have been yielding to this one
		}()
	}
	for {
		b.mu.Lock()
		if b.wake == nil {
			b.wake = make(chan struct{})
		}
		ch := b.wake
		b.mu.Unlock()
		// Tried after registering: a release in between closed ch or
		// left room we see here.
		if b.tryReserve(n, mine, rest) {
			return true, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
}
