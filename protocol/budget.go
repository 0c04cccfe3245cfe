package protocol

import (
	"context"
	"sync"
	"sync/atomic"
)

// byteBudget counts bytes held against a limit shared by every connection
// (queued.max.request.bytes). Nothing blocks while charging: a connection
// waits for room only before it starts reading a request (see
// Options.QueuedMaxRequestBytes for why).
type byteBudget struct {
	limit   int64 // <= 0: unbounded; set before use
	used    atomic.Int64
	waiting atomic.Int32 // waiters registered, so add knows to wake them

	mu sync.Mutex
	// guarded by mu
	wake chan struct{} // closed (and cleared) when used drops below limit
}

// add charges n bytes (negative: releases them), waking waiters once the
// budget has room.
func (b *byteBudget) add(n int64) {
	used := b.used.Add(n)
	if n < 0 && used < b.limit && b.waiting.Load() > 0 {
		b.mu.Lock()
		if b.wake != nil {
			close(b.wake)
			b.wake = nil
		}
		b.mu.Unlock()
	}
}

// wait returns once the budget has room or ctx ends.
func (b *byteBudget) wait(ctx context.Context) error {
	if b.limit <= 0 || b.used.Load() < b.limit {
		return nil
	}
	b.waiting.Add(1)
	defer b.waiting.Add(-1)
	for {
		b.mu.Lock()
		if b.wake == nil {
			b.wake = make(chan struct{})
		}
		ch := b.wake
		b.mu.Unlock()
		// Checked after registering: a release in between closed ch or
		// left room we see here.
		if b.used.Load() < b.limit {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
