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
	mu          sync.Mutex
	broker      connRate
	listener    map[string]*connRate
	own         map[string]int // the listeners' own rates
	defaultRate int            // a listener's rate without its own
}

// set applies the rates of o. A listener's own rate defaults to the
// broker-wide one, as Kafka's listener configs do (in a bucket of its
// own).
func (c *connRates) set(o Options) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.broker.set(o.MaxConnectionCreationRate)
	c.defaultRate = o.MaxConnectionCreationRate
	c.own = o.ListenerConnectionCreationRate
	for name, r := range c.listener {
		r.set(c.rateOf(name))
	}
}

func (c *connRates) rateOf(listener string) int {
	if r, ok := c.own[listener]; ok {
		return r
	}
	return c.defaultRate
}

// wait returns how long a connection accepted now on listener waits
// before it is served; protected (the inter-broker listener among
// others) exempts it from the broker-wide bucket.
func (c *connRates) wait(listener string, protected bool) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	var d time.Duration
	if !protected {
		d = c.broker.take(now)
	}
	r := c.listener[listener]
	if r == nil {
		if c.listener == nil {
			c.listener = make(map[string]*connRate)
		}
		r = &connRate{}
		r.set(c.rateOf(listener))
		c.listener[listener] = r
	}
	return max(d, r.take(now))
}
