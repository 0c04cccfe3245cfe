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
	ip          ipRates
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

// Connection creation rates per IP (KIP-612's connection_creation_rate
// quotas on ip entities): a bucket per IP, holding up to one second's
// worth, as the others. A connection over its IP's rate is not served:
// Kafka holds it for the time the rate needs (at most the quota window)
// and then closes it, without counting it against any rate; the broker
// and listener tokens its accept took are given back.

// ipRates are the per-IP quotas and their buckets (guarded by
// connRates.mu).
type ipRates struct {
	def     int            // the default entity's rate; 0: none
	by      map[string]int // by IP (net.IP.String form)
	buckets map[string]*connRate
	swept   time.Time
}

func (c *connRates) ipRateLocked(ip string) int {
	if r, ok := c.ip.by[ip]; ok {
		return r
	}
	return c.ip.def
}

// setIP replaces the per-IP rates; buckets keep what they hold (up to the
// new burst).
func (c *connRates) setIP(def int, by map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ip.def, c.ip.by = def, by
	for ip, b := range c.ip.buckets {
		if r := c.ipRateLocked(ip); r > 0 {
			b.set(r)
		} else {
			delete(c.ip.buckets, ip)
		}
	}
}

// ipThrottle takes a token from ip's bucket at now and returns 0, or,
// when there is none, takes nothing and returns how long until there
// would be one, at most maxDelay.
func (c *connRates) ipThrottle(ip string, now time.Time, maxDelay time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	rate := c.ipRateLocked(ip)
	if rate <= 0 || rate >= math.MaxInt32 {
		return 0
	}
	c.sweepLocked(now)
	b := c.ip.buckets[ip]
	if b == nil {
		if c.ip.buckets == nil {
			c.ip.buckets = make(map[string]*connRate)
		}
		b = &connRate{}
		b.set(rate)
		c.ip.buckets[ip] = b
	}
	if !b.last.IsZero() {
		b.tokens = min(b.rate, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return min(maxDelay, time.Duration((1-b.tokens)/b.rate*float64(time.Second)))
}

// sweepLocked drops, at most once a second, the buckets that have been
// idle for a second: they are full again, as a new one would be. So
// clients connecting from many addresses do not grow the map without
// bound.
func (c *connRates) sweepLocked(now time.Time) {
	if len(c.ip.buckets) < 1024 || now.Sub(c.ip.swept) < time.Second {
		return
	}
	c.ip.swept = now
	for ip, b := range c.ip.buckets {
		if now.Sub(b.last) >= time.Second {
			delete(c.ip.buckets, ip)
		}
	}
}

// refund gives back the tokens wait took for a connection that is not
// served after all.
func (c *connRates) refund(listener string, protected bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !protected && c.broker.rate > 0 {
		c.broker.tokens = min(c.broker.rate, c.broker.tokens+1)
	}
	if r := c.listener[listener]; r != nil && r.rate > 0 {
		r.tokens = min(r.rate, r.tokens+1)
	}
}
