package broker

// Replication quotas, as Kafka's ReplicationQuotaManager has them, so
// that a reassignment or a follower catching up cannot take the bandwidth
// clients need (kafka-reassign-partitions --throttle).
//
//   - leader.replication.throttled.rate / follower.replication.throttled.rate
//     (dynamic broker configs, bytes/s) bound the replication traffic of the
//     throttled replicas on this broker, as leader and as follower.
//   - leader.replication.throttled.replicas / follower.replication.throttled.replicas
//     (topic configs: partition:broker,... or *) say which partitions are
//     throttled on which broker: an entry naming this broker throttles that
//     partition here.
//
// A leader sends nothing from a throttled partition to a follower out of
// the ISR while its quota is used up; a follower leaves a throttled
// partition out of its fetches while it is behind its leader and its
// quota is used up. In-sync replicas are never held back (that would shrink
// the ISR), but their throttled traffic counts against the quota. The rate
// is measured as Kafka's SimpleRate: the bytes of
// replication.quota.window.num samples of
// replication.quota.window.size.seconds over the time they span, at least
// one sample. Unlike Kafka, a fetch of a throttled partition is also
// capped at what the quota has left, so a single fetch
// (replica.fetch.max.bytes) cannot overshoot the rate.

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"gregor/broker/config"
)

// throttledSet is the partitions of a topic throttled on this broker.
type throttledSet struct {
	all   bool
	parts map[int32]bool
}

func (s throttledSet) has(p int32) bool { return s.all || s.parts[p] }

// parseThrottled reads a *.replication.throttled.replicas value (validated)
// for broker self, as Kafka's parseThrottledPartitions does.
func parseThrottled(v string, self int32) throttledSet {
	v = strings.TrimSpace(v)
	if v == "*" {
		return throttledSet{all: true}
	}
	var s throttledSet
	for _, it := range strings.Split(v, ",") {
		p, b, ok := strings.Cut(strings.TrimSpace(it), ":")
		if !ok {
			continue
		}
		pn, err1 := strconv.ParseInt(p, 10, 32)
		bn, err2 := strconv.ParseInt(b, 10, 32)
		if err1 != nil || err2 != nil || int32(bn) != self {
			continue
		}
		if s.parts == nil {
			s.parts = map[int32]bool{}
		}
		s.parts[int32(pn)] = true
	}
	return s
}

// replicationQuota measures replication bytes against a bound taken from the
// configuration in force each time.
type replicationQuota struct {
	bound  func(*config.Config) config.ByteSize
	window func(*config.Config) (int, time.Duration) // sample count and span
	cfg    func() *config.Config

	mu sync.Mutex
	// guarded by mu:
	samples []quotaSample // oldest first
	total   int64         // bytes recorded ever
}

type quotaSample struct {
	start time.Time
	bytes int64
}

func newQuota(cfg func() *config.Config, bound func(*config.Config) config.ByteSize) *replicationQuota {
	return &replicationQuota{cfg: cfg, bound: bound, window: quotaWindow}
}

// quotaWindow returns the replication quotas' sample count and span.
func quotaWindow(c *config.Config) (int, time.Duration) {
	return windowOf(c.ReplicationQuotaWindowNum, c.ReplicationQuotaWindowSize)
}

// windowOf is a configured sample count and span, Kafka's defaults where
// unset.
func windowOf(n int, size time.Duration) (int, time.Duration) {
	if n < 1 {
		n = 11
	}
	if size <= 0 {
		size = time.Second
	}
	return n, size
}

// purgeLocked drops samples older than the window.
func (q *replicationQuota) purgeLocked(now time.Time, n int, size time.Duration) {
	i := 0
	for i < len(q.samples) && now.Sub(q.samples[i].start) >= time.Duration(n)*size {
		i++
	}
	q.samples = q.samples[i:]
}

// record adds replicated bytes (whether the quota was exceeded or not).
func (q *replicationQuota) record(n int, now time.Time) {
	if n <= 0 {
		return
	}
	c := q.cfg()
	num, size := q.window(c)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.purgeLocked(now, num, size)
	if k := len(q.samples); k == 0 || now.Sub(q.samples[k-1].start) >= size {
		q.samples = append(q.samples, quotaSample{start: now})
	}
	q.samples[len(q.samples)-1].bytes += int64(n)
	q.total += int64(n)
}

// allowance returns how many bytes may be replicated now without the
// measured rate exceeding the bound (0 or less: the quota is exceeded),
// or math.MaxInt64 when there is no bound.
func (q *replicationQuota) allowance(now time.Time) int64 {
	c := q.cfg()
	bound := int64(q.bound(c))
	if bound == math.MaxInt64 {
		return math.MaxInt64
	}
	num, size := q.window(c)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.purgeLocked(now, num, size)
	span := size
	var bytes int64
	if len(q.samples) > 0 {
		span = max(span, now.Sub(q.samples[0].start))
	}
	for _, s := range q.samples {
		bytes += s.bytes
	}
	return int64(float64(bound)*span.Seconds()) - bytes
}

// rate is the measured bytes per second, and the bytes recorded ever.
func (q *replicationQuota) rate(now time.Time) (float64, int64) {
	num, size := q.window(q.cfg())
	q.mu.Lock()
	defer q.mu.Unlock()
	q.purgeLocked(now, num, size)
	if len(q.samples) == 0 {
		return 0, q.total
	}
	span := max(size, now.Sub(q.samples[0].start))
	var bytes int64
	for _, s := range q.samples {
		bytes += s.bytes
	}
	return float64(bytes) / span.Seconds(), q.total
}

// quotas are a broker's two replication quotas, the quota of moves
// between its log dirs (replica.alter.log.dirs.io.max.bytes.per.second,
// measured over alter.log.dirs.replication.quota.window.*), and the log
// cleaner's (log.cleaner.io.max.bytes.per.second, over Kafka's default
// window).
type quotas struct {
	leader, follower, alterLogDirs, cleaner *replicationQuota
}

func newQuotas(b *Broker) quotas {
	alter := newQuota(b.Config, func(c *config.Config) config.ByteSize { return c.ReplicaAlterLogDirsRate })
	alter.window = func(c *config.Config) (int, time.Duration) {
		return windowOf(c.AlterLogDirsQuotaWindowNum, c.AlterLogDirsQuotaWindowSize)
	}
	cleaner := newQuota(b.Config, cleanerRate)
	cleaner.window = func(*config.Config) (int, time.Duration) { return windowOf(0, 0) }
	return quotas{
		leader:       newQuota(b.Config, func(c *config.Config) config.ByteSize { return c.LeaderReplicationThrottledRate }),
		follower:     newQuota(b.Config, func(c *config.Config) config.ByteSize { return c.FollowerReplicationThrottledRate }),
		alterLogDirs: alter,
		cleaner:      cleaner,
	}
}

// leaderThrottledFor reports whether what p sends to follower counts
// against the leader quota, and whether it may be held back (the follower
// is out of the ISR).
func (p *Partition) leaderThrottledFor(follower int32) (counted, holdable bool) {
	tc := p.topic.cfg.Load()
	if tc == nil || !tc.leaderThrottled.has(p.ID) {
		return false, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return true, p.rs != nil && !p.rs.InISR(follower)
}

// throttleFollowerRead is the leader side of a follower's fetch of p: the
// bytes it may read (maxBytes, or less), whether they count against
// leader.replication.throttled.rate, and whether to send nothing now (the
// quota is used up and the follower is out of the ISR).
func (b *Broker) throttleFollowerRead(p *Partition, follower int32, maxBytes int32) (limit int32, counted, held bool) {
	counted, holdable := p.leaderThrottledFor(follower)
	if !holdable {
		return maxBytes, counted, false
	}
	left := b.quotas.leader.allowance(b.now())
	if left <= 0 {
		return 0, true, true
	}
	return int32(min(int64(maxBytes), left)), true, false
}

// recordFollowerRead counts bytes sent to a follower from a throttled
// partition.
func (b *Broker) recordFollowerRead(counted bool, n int) {
	if counted {
		b.quotas.leader.record(n, b.now())
	}
}

// followerThrottled reports whether this broker's fetches of p count
// against follower.replication.throttled.rate.
func (p *Partition) followerThrottled() bool {
	tc := p.topic.cfg.Load()
	return tc != nil && tc.followerThrottled.has(p.ID)
}

// ReplicationQuotaStats is the measured rate and the bytes counted ever
// of the leader and follower replication quotas.
type ReplicationQuotaStats struct {
	LeaderRate, FollowerRate   float64
	LeaderBytes, FollowerBytes int64
}

// ReplicationQuotaStats returns the replication quotas' figures.
func (b *Broker) ReplicationQuotaStats() ReplicationQuotaStats {
	now := b.now()
	var s ReplicationQuotaStats
	s.LeaderRate, s.LeaderBytes = b.quotas.leader.rate(now)
	s.FollowerRate, s.FollowerBytes = b.quotas.follower.rate(now)
	return s
}
