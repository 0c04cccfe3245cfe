package protocol

import (
	"math"
	"sync"
	"time"
)

// Connection creation rates (max.connection.creation.rate, KIP-612): a
// token bucket per bound, holding up to one second's worth. An accept
// takes a token from the broker-wide bucket (unless on the inter-broker
// listener) and from its listener's; when one is empty, the accept loop
// waits until it would hold one again, so connections come no faster
// than the rate, and the kernel's backlog holds the others.

// connRate is one bound's bucket.
type connRate struct {
	rate   float64 // connections per second; 0: unbounded
	tokens float64
	last   time.Time
}

// set changes the rate, keeping what the bucket holds (up to the new
// burst).
func (r *connRate) set(rate int) {
	if rate <= 0 || rate >= math.MaxInt32 {
		r.rate = 0
		return
	}
	if r.rate == 0 {
		r.tokens, r.last = float64(rate), time.Time{}
	}
	r.rate = float64(rate)
	r.tokens = min(r.tokens, r.rate)
}

// take takes a token at now, in debt if there is none, and returns how
// long until the debt is paid.
func (r *connRate) take(now time.Time) time.Duration {
	if r.rate == 0 {
		return 0
	}
	if !r.last.IsZero() {
		r.tokens = min(r.rate, r.tokens+now.Sub(r.last).Seconds()*r.rate)
	}
	r.last = now
	r.tokens--
	if r.tokens >= 0 {
		return 0
	}
	return time.Duration(-r.tokens / r.rate * float64(time.Second))
}

// connRates are the server's buckets.
type connRates struct {
	mu       sync.Mutex
	broker   connRate
	listener map[string]*connRate
}

// set applies the rates of o.
func (c *connRates) set(o Options) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.broker.set(o.MaxConnectionCreationRate)
	if c.listener == nil {
		c.listener = make(map[string]*connRate)
	}
	for name, r := range c.listener {
		if _, ok := o.ListenerConnectionCreationRate[name]; !ok {
			r.set(0)
		}
	}
	for name, rate := range o.ListenerConnectionCreationRate {
		r := c.listener[name]
		if r == nil {
			r = &connRate{}
			c.listener[name] = r
		}
		r.set(rate)
	}
}

// wait returns how long a connection accepted now on listener waits
// before it is served; interBroker exempts it from the broker-wide bound.
func (c *connRates) wait(listener string, interBroker bool) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	var d time.Duration
	if !interBroker {
		d = c.broker.take(now)
	}
	if r := c.listener[listener]; r != nil {
		d = max(d, r.take(now))
	}
	return d
}
