package protocol

import (
	"math"
	"sync"
	"time"

	"gregor/internal/kafkarate"
)

// Connection creation rates (KIP-612), measured as Kafka's ConnectionQuotas
// measures them: a rate sensor per bound over the client quotas' windows
// (quota.window.num of quota.window.size.seconds), so a bound lets the
// windows' worth less one through at once and then throttles, each
// throttle being what brings the measured rate back to the bound, at most
// one window.
//
//   - The broker-wide rate (max.connection.creation.rate) counts every
//     accept but the inter-broker listener's (among others), and each
//     listener's rate its own; both always count, so a rate set later
//     sees the connections made before. An accept over either waits, as
//     Kafka's acceptor does: the connection is held, and the next ones
//     stay in the kernel's backlog.
//   - An IP with a connection_creation_rate quota (its own or the default
//     entity's) counts its accepts. One over it is not served: it is held
//     for its throttle time and closed (Server.closeAfter), and counts
//     against none of the rates.

// connSensor is one bound's rate.
type connSensor struct {
	bound float64 // connections per second; 0: unbounded
	r     kafkarate.Rate
}

func boundOf(rate int) float64 {
	if rate <= 0 || rate >= math.MaxInt32 {
		return 0
	}
	return float64(rate)
}

// connRates are the server's sensors.
type connRates struct {
	mu          sync.Mutex
	samples     int   // quota.window.num
	window      int64 // quota.window.size.seconds, in ms
	broker      connSensor
	listener    map[string]*connSensor
	own         map[string]int // the listeners' own rates
	defaultRate int            // a listener's rate without its own
	ip          ipRates
}

// set applies the rates of o. A listener's own rate defaults to the
// broker-wide one, as Kafka's listener configs do (in a sensor of its
// own).
func (c *connRates) set(o Options) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.samples, c.window = o.ConnectionRateSamples, o.ConnectionRateWindow.Milliseconds()
	if c.samples < 1 {
		c.samples = 11
	}
	if c.window <= 0 {
		c.window = 1000
	}
	c.broker.bound = boundOf(o.MaxConnectionCreationRate)
	c.defaultRate = o.MaxConnectionCreationRate
	c.own = o.ListenerConnectionCreationRate
	for name, s := range c.listener {
		s.bound = boundOf(c.rateOf(name))
	}
}

func (c *connRates) rateOf(listener string) int {
	if r, ok := c.own[listener]; ok {
		return r
	}
	return c.defaultRate
}

// recordLocked counts a connection on s at now and returns its throttle
// time, at most one window.
func (c *connRates) recordLocked(s *connSensor, now int64) time.Duration {
	s.r.Record(1, now, c.samples, c.window)
	if s.bound == 0 {
		return 0
	}
	observed, span := s.r.Measure(now, c.samples, c.window)
	return min(kafkarate.Throttle(observed, s.bound, span), time.Duration(c.window)*time.Millisecond)
}

func (c *connRates) listenerLocked(name string) *connSensor {
	s := c.listener[name]
	if s == nil {
		if c.listener == nil {
			c.listener = make(map[string]*connSensor)
		}
		s = &connSensor{bound: boundOf(c.rateOf(name))}
		c.listener[name] = s
	}
	return s
}

// wait counts a connection accepted on listener at now (ms) and returns
// how long it waits before it is served; protected (the inter-broker
// listener among others) exempts it from the broker-wide rate.
func (c *connRates) wait(listener string, protected bool, now int64) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var d time.Duration
	if !protected {
		d = c.recordLocked(&c.broker, now)
	}
	return max(d, c.recordLocked(c.listenerLocked(listener), now))
}

// ipRates are the per-IP quotas and their sensors (guarded by
// connRates.mu).
type ipRates struct {
	def     int            // the default entity's rate; 0: none
	by      map[string]int // by IP (net.IP.String form)
	sensors map[string]*connSensor
	swept   int64 // ms
}

func (c *connRates) ipRateLocked(ip string) int {
	if r, ok := c.ip.by[ip]; ok {
		return r
	}
	return c.ip.def
}

// setIP replaces the per-IP rates; sensors keep what they counted.
func (c *connRates) setIP(def int, by map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ip.def, c.ip.by = def, by
	for ip, s := range c.ip.sensors {
		if b := boundOf(c.ipRateLocked(ip)); b > 0 {
			s.bound = b
		} else {
			delete(c.ip.sensors, ip)
		}
	}
}

// ipThrottle counts a connection from ip accepted on listener at now (ms)
// and returns 0, or, when it is over the IP's rate, uncounts it from
// every sensor (the IP's, the listener's and the broker's) and returns how
// long to hold it before closing it.
func (c *connRates) ipThrottle(ip, listener string, protected bool, now int64) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := boundOf(c.ipRateLocked(ip))
	if b == 0 {
		return 0
	}
	c.sweepLocked(now)
	s := c.ip.sensors[ip]
	if s == nil {
		if c.ip.sensors == nil {
			c.ip.sensors = make(map[string]*connSensor)
		}
		s = &connSensor{bound: b}
		c.ip.sensors[ip] = s
	}
	d := c.recordLocked(s, now)
	if d == 0 {
		return 0
	}
	s.r.Record(-1, now, c.samples, c.window)
	if !protected {
		c.broker.r.Record(-1, now, c.samples, c.window)
	}
	c.listenerLocked(listener).r.Record(-1, now, c.samples, c.window)
	return d
}

// sweepLocked drops, at most once a window, the IP sensors that count
// nothing any more: a new one would be the same. So clients connecting
// from many addresses do not grow the map without bound.
func (c *connRates) sweepLocked(now int64) {
	if len(c.ip.sensors) < 1024 || now-c.ip.swept < c.window {
		return
	}
	c.ip.swept = now
	for ip, s := range c.ip.sensors {
		if s.r.Idle(now, c.samples, c.window) {
			delete(c.ip.sensors, ip)
		}
	}
}
