package broker

// A request that records a change through the metadata backend (group
// configs, client metrics subscriptions, delegation tokens, feature
// levels) answers once the change is in force on this broker too, so the
// client's next request here sees it: it waits for the backend's
// delivery.

import (
	"context"
	"sync"
	"time"
)

// deliveryWait is how long a request waits for its own change to be
// delivered back before answering anyway (the change is recorded).
const deliveryWait = 5 * time.Second

// delivered wakes those waiting for the next delivery of a kind of
// metadata.
type delivered struct {
	mu sync.Mutex
	ch chan struct{} // closed at the next delivery; nil while nobody waits
}

// notify is called after each delivery.
func (d *delivered) notify() {
	d.mu.Lock()
	ch := d.ch
	d.ch = nil
	d.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// await waits (deliveryWait at most) until done reports true; done reads
// what the deliveries change, under its own lock.
func (d *delivered) await(ctx context.Context, done func() bool) bool {
	timer := time.NewTimer(deliveryWait)
	defer timer.Stop()
	for {
		// The channel is taken before done looks, so a delivery in
		// between still wakes this wait.
		d.mu.Lock()
		if d.ch == nil {
			d.ch = make(chan struct{})
		}
		ch := d.ch
		d.mu.Unlock()
		if done() {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}
