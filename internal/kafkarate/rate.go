// Package kafkarate is Kafka's Rate over a SampledStat with a quota: how
// Kafka measures a client quota's rate (ClientQuotaManager) and a
// connection creation rate (ConnectionQuotas), and how long it throttles
// what goes over one (QuotaUtils.throttleTime). Shared by the client
// quotas (broker/quota) and the connection rates (protocol).
package kafkarate

import "time"

// Rate is a windowed sum: windows of window ms each, n of them measured,
// kept in n+1 slots as Kafka 3.8+'s SampledStat keeps them (an extra slot
// for a window that began before the measured span but had an event
// within it); the oldest slot is reused once all are in use. The zero
// Rate is empty.
type Rate struct {
	samples []sample
	current int
}

type sample struct {
	start int64 // ms: when the window began
	last  int64 // ms: its latest event (or its start)
	sum   float64
}

// Record adds v at now (ms), with n windows of window ms.
func (r *Rate) Record(v float64, now int64, n int, window int64) {
	if len(r.samples) == 0 {
		r.samples = append(make([]sample, 0, n+1), sample{start: now, last: now})
	}
	s := &r.samples[r.current]
	if now-s.start >= window {
		r.current = (r.current + 1) % (n + 1)
		if r.current >= len(r.samples) {
			r.samples = append(r.samples, sample{})
		}
		s = &r.samples[r.current]
		*s = sample{start: now, last: now}
	}
	s.sum += v
	s.last = now
}

// purge resets windows whose latest event is too old to count at now
// (SampledStat.purgeObsoleteSamples): a window that began before the
// measured span but had an event within it is kept whole.
func (r *Rate) purge(now int64, n int, window int64) {
	for i := range r.samples {
		if now-r.samples[i].last >= int64(n)*window {
			r.samples[i] = sample{start: now, last: now}
		}
	}
}

// span is the time the windows cover at now (ms), Rate.windowSize: from
// the oldest window's start, but never less than n-1 whole windows, as if
// the windows before the first were empty, and at least 1 ms.
func (r *Rate) span(now int64, n int, window int64) int64 {
	r.purge(now, n, window)
	oldest := now
	for _, s := range r.samples {
		oldest = min(oldest, s.start)
	}
	elapsed := now - oldest
	if full := elapsed / window; full < int64(n-1) {
		elapsed += (int64(n-1) - full) * window
	}
	return max(elapsed, 1)
}

// Measure is the rate per second at now, and the span (ms) it is over.
func (r *Rate) Measure(now int64, n int, window int64) (perSecond float64, span int64) {
	span = r.span(now, n, window)
	var total float64
	for _, s := range r.samples {
		total += s.sum
	}
	if span <= 0 {
		return 0, span
	}
	return total / (float64(span) / 1000), span
}

// Idle reports whether nothing recorded counts any more at now: the Rate
// is as good as a new one.
func (r *Rate) Idle(now int64, n int, window int64) bool {
	for _, s := range r.samples {
		if now-s.last < int64(n)*window && s.sum != 0 {
			return false
		}
	}
	return true
}

// Throttle is QuotaUtils.throttleTime: how long until a rate of observed
// over span comes back to bound, if nothing more is recorded.
func Throttle(observed, bound float64, span int64) time.Duration {
	if observed <= bound || bound <= 0 {
		return 0
	}
	ms := (observed - bound) / bound * float64(span)
	return time.Duration(ms+0.5) * time.Millisecond
}
