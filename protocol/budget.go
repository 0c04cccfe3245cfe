package protocol

import (
	"context"
	"sync"
	"sync/atomic"
)

// byteBudget counts bytes reserved against a limit shared by every
// connection (queued.max.request.bytes). A reservation is granted while
// what others hold is under the limit, as Kafka's SimpleMemoryPool grants
// an allocation while any memory is left (non-strict). A request is
// reserved as its buffer grows (see conn.readFrame): its first buffer when
// it starts, then each larger buffer before the bytes that fill it are
// read; it returns them all when its handler has returned (the response
// encoded, or deferred: conn.unreserve), as Kafka's request handler
// releases a request's buffer. So a client that announces a large request and sends part of it
// holds a few times what it sent at most (nextFrameStep), not what it
// announced: a few stalled senders of large requests cannot take the whole
// budget from everyone else.
// While a connection waits for a first buffer that the budget has room
// for, no frame is granted the next step of a large one: small requests
// go ahead of large ones.
//
// Frames grown step by step could each wait for a step that only the
// others' completion would make room for, and so wait for ever. When every
// frame counted as holding a reservation (grown past its first buffer, or
// read in full) waits for its next step, one of them takes
// the overdraft: it may grow past the limit until its request is released,
// so it completes, and its release makes room for the others. Every other
// grant leaves less than the limit plus the granted frame's own
// reservation reserved, so the bytes reserved stay under the limit plus
// one frame, and plus two only while the overdraft is held.
//
// Waiters are woken on every change while any wait (a release, a grant,
// a first-buffer waiter leaving) and each judges its own room again, so no
// wake-up is lost.
type byteBudget struct {
	limit int64 // <= 0: unbounded; set before use
	used  atomic.Int64
	// waiting counts the connections waiting for a reservation (add wakes
	// them; conn.checkStall reads it as pressure), firstWaiting those of
	// them waiting for a first buffer.
	waiting      atomic.Int32
	firstWaiting atomic.Int32

	// holders counts the frames grown past their first buffer or read in
	// full (from then until released), restWaiting those of them waiting
	// for their next step; when they are equal no such reservation can be
	// released without the overdraft, the one frame allowed to grow past
	// the limit (or nil). Frames still reading their first buffer are not
	// counted: their client may have gone quiet (closed by the stall
	// check only while others wait, else by connections.max.idle.ms), and
	// what they release is one
	// first buffer at most.
	holders     atomic.Int32
	restWaiting atomic.Int32
	overdraft   atomic.Pointer[frameBuf]

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

// tryReserve charges n more bytes to frame f, which holds mine already,
// if what the others hold is under the limit; rest marks a later step of a
// large frame, which yields to first buffers being waited for and, with
// no room, may take the overdraft.
func (b *byteBudget) tryReserve(f *frameBuf, n, mine int64, rest bool) bool {
	if n <= 0 {
		// Nothing to reserve (an empty SASL token): f is no holder, as
		// a frame that holds nothing is never released.
		return true
	}
	if rest {
		b.hold(f)
	}
	if b.limit <= 0 {
		b.add(n)
		return true
	}
	for {
		u := b.used.Load()
		if u-mine >= b.limit {
			if !rest || !b.takeOverdraft(f) {
				return false
			}
			b.add(n)
			return true
		}
		if rest && u < b.limit && b.firstWaiting.Load() > 0 {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			b.changed()
			return true
		}
	}
}

// hold counts f among the holders, if it is not yet: from its first step
// past its first buffer, or once it is read in full, until it is released.
// f must hold a reservation (release uncounts it).
func (b *byteBudget) hold(f *frameBuf) {
	if f != nil && !f.counted {
		f.counted = true
		b.holders.Add(1)
	}
}

// grant charges n bytes to f unconditionally, counting it among the
// holders if rest (tests set up a budget's state with it).
func (b *byteBudget) grant(f *frameBuf, n int64, rest bool) {
	if rest {
		b.hold(f)
	}
	b.add(n)
}

// takeOverdraft reports whether f holds the overdraft, taking it if it is
// free and every frame holding a reservation waits for its next step.
func (b *byteBudget) takeOverdraft(f *frameBuf) bool {
	if o := b.overdraft.Load(); o != nil || f == nil {
		return o == f && f != nil
	}
	return b.restWaiting.Load() >= b.holders.Load() && b.overdraft.CompareAndSwap(nil, f)
}

// release returns the n bytes f reserved (all it holds), and the
// overdraft if f held it. The overdraft is given up last, so that while it
// is seen free, no bytes granted on it are counted; the waiters are woken
// once all is done.
func (b *byteBudget) release(f *frameBuf, n int64) {
	b.used.Add(-n)
	if f != nil && f.counted {
		f.counted = false
		b.holders.Add(-1)
	}
	b.overdraft.CompareAndSwap(f, nil)
	b.changed()
}

// reserve is tryReserve, waiting until it succeeds or ctx ends; waited
// reports whether it had to wait.
func (b *byteBudget) reserve(ctx context.Context, f *frameBuf, n, mine int64, rest bool) (waited bool, err error) {
	if b.tryReserve(f, n, mine, rest) {
		return false, nil
	}
	b.waiting.Add(1)
	defer b.waiting.Add(-1)
	if rest {
		b.restWaiting.Add(1)
		defer b.restWaiting.Add(-1)
	} else {
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
		if b.tryReserve(f, n, mine, rest) {
			return true, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
}
