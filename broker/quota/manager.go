package quota

import (
	"sync"
	"sync/atomic"
	"time"

	"gregor/broker/metadata"
	"gregor/internal/kafkarate"
)

// Kind is a kind of client quota.
type Kind int

// The kinds, by their config keys.
const (
	Produce Kind = iota
	Fetch
	Request
	ControllerMutation
	numKinds
)

// Key is the kind's config key.
func (k Kind) Key() string {
	return [...]string{metadata.ProducerByteRate, metadata.ConsumerByteRate, metadata.RequestPercentage, metadata.ControllerMutationRate}[k]
}

// Name is the kind as Kafka's quota metrics name it.
func (k Kind) Name() string {
	return [...]string{"Produce", "Fetch", "Request", "ControllerMutation"}[k]
}

// Config is the sampling of the rates (Kafka's quota.window.num,
// quota.window.size.seconds and their controller.* counterparts).
type Config struct {
	Samples, ControllerSamples int
	Window, ControllerWindow   time.Duration
}

// Client is who a request comes from: the sanitized principal name and
// the sanitized client id (metadata.SanitizeEntity).
type Client struct {
	User, ClientID string
}

// Manager holds the quotas in force and every client's usage.
type Manager struct {
	cfg Config
	// now is the clock (a test's, or time.Now).
	now func() time.Time

	quotas atomic.Pointer[table]

	// sensors holds a *sensor per usage key; each has its own lock, so
	// clients never contend with each other.
	sensors   sync.Map
	lastSweep atomic.Int64
	throttled [numKinds]atomic.Uint64 // throttle decisions, by kind
}

// table is the quotas in force, replaced whole.
type table struct {
	byEntity metadata.ClientQuotas
	// levels[k] says which entity shapes have a quota of kind k: bit 1
	// client id, 2 user, 4 user and client id (Kafka's quotaTypesEnabled).
	levels [numKinds]int
}

type sensorKey struct {
	kind         Kind
	user, client string // the matched level's parts; "" where it has none
}

type sensor struct {
	mu sync.Mutex
	// guarded by mu:
	r        kafkarate.Rate
	b        bucket
	lastUsed int64
}

// sensorIdle is how long an unused client's usage is kept (Kafka's
// INACTIVE_SENSOR_EXPIRATION_TIME_SECONDS).
const sensorIdle = time.Hour

// NewManager returns a manager with no quotas.
func NewManager(cfg Config, now func() time.Time) *Manager {
	// One window is allowed, as Kafka's quota.window.num (at least 1):
	// the rate is then over the time since the window began.
	if cfg.Samples < 1 {
		cfg.Samples = 11
	}
	if cfg.ControllerSamples < 1 {
		cfg.ControllerSamples = 11
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Second
	}
	if cfg.ControllerWindow <= 0 {
		cfg.ControllerWindow = time.Second
	}
	if now == nil {
		now = time.Now
	}
	m := &Manager{cfg: cfg, now: now}
	m.quotas.Store(&table{})
	return m
}

// Set replaces the quotas in force. Usage already measured is kept.
func (m *Manager) Set(q metadata.ClientQuotas) {
	t := &table{byEntity: q}
	for e, vals := range q {
		shape := 0
		switch {
		case e.User != "" && e.ClientID != "":
			shape = 4
		case e.User != "":
			shape = 2
		case e.ClientID != "":
			shape = 1
		}
		for k := Kind(0); k < numKinds; k++ {
			if _, ok := vals[k.Key()]; ok {
				t.levels[k] |= shape
			}
		}
	}
	m.quotas.Store(t)
}

// Enabled reports whether any quota of kind k is set (when none is, the
// broker skips the bookkeeping altogether).
func (m *Manager) Enabled(k Kind) bool { return m.quotas.Load().levels[k] != 0 }

// Quotas returns the quotas in force.
func (m *Manager) Quotas() metadata.ClientQuotas { return m.quotas.Load().byEntity }

// Resolve finds the quota of kind k that applies to a client and the
// usage key it is counted under, in Kafka's two steps
// (ClientQuotaManager.DefaultQuotaCallback): quotaMetricTags picks the
// usage key from the entities that have a quota of kind k, then
// quotaLimit looks the quota up from that key. For a user and a client id
// both named this is the most specific entity in the precedence order;
// with an empty client id (a request header's null or empty one) only a
// user's or the default user's own quota can apply, and with only
// client-id quotas (or only user and client-id ones) none does, as in
// Kafka.
func (m *Manager) Resolve(k Kind, c Client) (bound float64, user, client string, ok bool) {
	t := m.quotas.Load()
	if t.levels[k] == 0 {
		return 0, "", "", false
	}
	key := k.Key()
	has := func(e metadata.QuotaEntity) bool {
		_, ok := t.byEntity[e][key]
		return ok
	}
	user, client = metricTags(t.levels[k], has, c)
	bound, ok = quotaLimit(t.byEntity, key, user, client)
	if !ok {
		return 0, "", "", false
	}
	return bound, user, client, true
}

// metricTags is Kafka's quotaMetricTags: the user and client id a client's
// usage of a kind is counted under, given which entity shapes have a
// quota of it (levels: 1 client id, 2 user, 4 both) and which entities do
// (has). An explicit part ("" names none) never matches an empty name.
func metricTags(levels int, has func(metadata.QuotaEntity) bool, c Client) (user, client string) {
	switch levels {
	case 1:
		return "", c.ClientID
	case 2:
		return c.User, ""
	case 4:
		return c.User, c.ClientID
	}
	const def = metadata.DefaultEntity
	switch {
	case c.User != "" && c.ClientID != "" && has(metadata.QuotaEntity{User: c.User, ClientID: c.ClientID}),
		c.User != "" && has(metadata.QuotaEntity{User: c.User, ClientID: def}):
		return c.User, c.ClientID
	case c.User != "" && has(metadata.QuotaEntity{User: c.User}):
		return c.User, ""
	case c.ClientID != "" && has(metadata.QuotaEntity{User: def, ClientID: c.ClientID}),
		has(metadata.QuotaEntity{User: def, ClientID: def}):
		return c.User, c.ClientID
	case has(metadata.QuotaEntity{User: def}):
		return c.User, ""
	}
	return "", c.ClientID
}

// quotaLimit is Kafka's quotaLimit: the quota of key for a usage key,
// looked up in the entities its non-empty parts select.
func quotaLimit(q metadata.ClientQuotas, key, user, client string) (float64, bool) {
	const def = metadata.DefaultEntity
	var candidates []metadata.QuotaEntity
	switch {
	case user != "" && client != "":
		candidates = []metadata.QuotaEntity{{User: user, ClientID: client}, {User: user, ClientID: def}, {User: def, ClientID: client}, {User: def, ClientID: def}}
	case user != "":
		candidates = []metadata.QuotaEntity{{User: user}, {User: def}}
	case client != "":
		candidates = []metadata.QuotaEntity{{ClientID: client}, {ClientID: def}}
	}
	for _, e := range candidates {
		if v, ok := q[e][key]; ok {
			return v, true
		}
	}
	return 0, false
}

func (m *Manager) samples(k Kind) (int, int64) {
	if k == ControllerMutation {
		return m.cfg.ControllerSamples, m.cfg.ControllerWindow.Milliseconds()
	}
	return m.cfg.Samples, m.cfg.Window.Milliseconds()
}

// sensor returns the usage of a key, made on first use, locked; it drops
// usage idle for an hour now and then.
func (m *Manager) sensor(key sensorKey, now int64) *sensor {
	if last := m.lastSweep.Load(); now-last > time.Minute.Milliseconds() && m.lastSweep.CompareAndSwap(last, now) {
		m.sensors.Range(func(k, v any) bool {
			s := v.(*sensor)
			s.mu.Lock()
			idle := now-s.lastUsed > sensorIdle.Milliseconds()
			s.mu.Unlock()
			if idle {
				m.sensors.CompareAndDelete(k, v)
			}
			return true
		})
	}
	v, ok := m.sensors.Load(key)
	if !ok {
		v, _ = m.sensors.LoadOrStore(key, &sensor{})
	}
	s := v.(*sensor)
	s.mu.Lock()
	s.lastUsed = now
	return s
}

// Record adds v to a client's usage of kind k (not ControllerMutation)
// and returns how long to throttle it: 0 while the rate stays within the
// quota (ClientQuotaManager.recordAndGetThrottleTimeMs). The request
// quota's throttle is capped at one window, as Kafka's is.
func (m *Manager) Record(k Kind, c Client, v float64) time.Duration {
	bound, u, cl, ok := m.Resolve(k, c)
	if !ok {
		return 0
	}
	now := m.now().UnixMilli()
	n, w := m.samples(k)
	s := m.sensor(sensorKey{k, u, cl}, now)
	s.r.Record(v, now, n, w)
	observed, span := s.r.Measure(now, n, w)
	s.mu.Unlock()
	d := kafkarate.Throttle(observed, bound, span)
	if k == Request {
		d = min(d, time.Duration(w)*time.Millisecond)
	}
	if d > 0 {
		m.throttled[k].Add(1)
	}
	return d
}

// Unrecord takes back usage recorded for a response that was not sent
// (a throttled fetch is answered empty).
func (m *Manager) Unrecord(k Kind, c Client, v float64) {
	_, u, cl, ok := m.Resolve(k, c)
	if !ok {
		return
	}
	now := m.now().UnixMilli()
	n, w := m.samples(k)
	s := m.sensor(sensorKey{k, u, cl}, now)
	s.r.Record(-v, now, n, w)
	s.mu.Unlock()
}

// Headroom is how much a client may still use of kind k now without its
// rate going over the quota (negative once it is over), and how long
// until the rate is back at the quota if nothing more is recorded; ok is
// false when no quota applies.
func (m *Manager) Headroom(k Kind, c Client) (left float64, wait time.Duration, ok bool) {
	bound, u, cl, ok := m.Resolve(k, c)
	if !ok {
		return 0, 0, false
	}
	now := m.now().UnixMilli()
	n, w := m.samples(k)
	s := m.sensor(sensorKey{k, u, cl}, now)
	observed, span := s.r.Measure(now, n, w)
	s.mu.Unlock()
	return (bound - observed) * float64(span) / 1000, kafkarate.Throttle(observed, bound, span), true
}

// MaxInWindow is the most a client may use of kind k at once without
// being throttled for certain: quota x (windows - 1) x window size
// (ClientQuotaManager.maxValueInQuotaWindow); a fetch asks for no more.
// ok is false when no quota applies.
func (m *Manager) MaxInWindow(k Kind, c Client) (float64, bool) {
	bound, _, _, ok := m.Resolve(k, c)
	if !ok {
		return 0, false
	}
	n, w := m.samples(k)
	return bound * float64(n-1) * float64(w) / 1000, true
}

// Mutation spends v controller mutations (partitions created or deleted).
// strict (CreateTopics v6+, CreatePartitions v3+, DeleteTopics v5+)
// refuses the mutation when the bucket is already empty: the result is
// false with the time until it refills; otherwise the mutation is made
// and the returned time is how long to throttle the client afterwards.
func (m *Manager) Mutation(c Client, v float64, strict bool) (allowed bool, wait time.Duration) {
	bound, u, cl, ok := m.Resolve(ControllerMutation, c)
	if !ok {
		return true, 0
	}
	now := m.now().UnixMilli()
	n, w := m.samples(ControllerMutation)
	burst := float64(n) * float64(w) / 1000
	s := m.sensor(sensorKey{ControllerMutation, u, cl}, now)
	defer s.mu.Unlock()
	s.b.refill(now, bound, burst)
	if strict && s.b.tokens < 0 {
		m.throttled[ControllerMutation].Add(1)
		return false, s.b.wait(bound)
	}
	s.b.tokens -= v
	if strict {
		return true, 0
	}
	d := s.b.wait(bound)
	if d > 0 {
		m.throttled[ControllerMutation].Add(1)
	}
	return true, d
}

// MutationExceeded reports whether a client's mutation bucket is empty,
// with the time until it refills (a strict request's topics are refused
// once it is).
func (m *Manager) MutationExceeded(c Client) (bool, time.Duration) {
	bound, u, cl, ok := m.Resolve(ControllerMutation, c)
	if !ok {
		return false, 0
	}
	now := m.now().UnixMilli()
	n, w := m.samples(ControllerMutation)
	s := m.sensor(sensorKey{ControllerMutation, u, cl}, now)
	defer s.mu.Unlock()
	s.b.refill(now, bound, float64(n)*float64(w)/1000)
	return s.b.tokens < 0, s.b.wait(bound)
}

// Usage is one client's measured rate against its quota.
type Usage struct {
	Kind         Kind
	User, Client string // the matched level's parts (sanitized)
	Rate, Quota  float64
}

// Usages lists every measured client's current rate (the controller
// mutation quota reports its remaining tokens as Rate), for the metrics
// endpoint and the status page.
func (m *Manager) Usages() []Usage {
	now := m.now().UnixMilli()
	var out []Usage
	m.sensors.Range(func(key, v any) bool {
		k, s := key.(sensorKey), v.(*sensor)
		bound, _, _, _ := m.Resolve(k.kind, Client{User: k.user, ClientID: k.client})
		u := Usage{Kind: k.kind, User: k.user, Client: k.client, Quota: bound}
		n, w := m.samples(k.kind)
		s.mu.Lock()
		if k.kind == ControllerMutation {
			s.b.refill(now, bound, float64(n)*float64(w)/1000)
			u.Rate = s.b.tokens
		} else {
			u.Rate, _ = s.r.Measure(now, n, w)
		}
		s.mu.Unlock()
		out = append(out, u)
		return true
	})
	return out
}

// Throttled counts the throttle decisions of each kind so far.
func (m *Manager) Throttled() map[Kind]uint64 {
	out := map[Kind]uint64{}
	for k := Kind(0); k < numKinds; k++ {
		out[k] = m.throttled[k].Load()
	}
	return out
}
