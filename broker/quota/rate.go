package quota

import "time"

// rate is Kafka's Rate over a SampledStat of windowed sums: samples
// windows of window each, the oldest reused once all are in use.
type rate struct {
	samples []sample
	current int
}

type sample struct {
	start int64 // ms: when the window began
	sum   float64
}

// record adds v at now (ms).
func (r *rate) record(v float64, now int64, n int, window int64) {
	if len(r.samples) == 0 {
		r.samples = append(make([]sample, 0, n), sample{start: now})
	}
	s := &r.samples[r.current]
	if now-s.start >= window {
		r.current = (r.current + 1) % n
		if r.current >= len(r.samples) {
			r.samples = append(r.samples, sample{})
		}
		s = &r.samples[r.current]
		*s = sample{start: now}
	}
	s.sum += v
}

// purge resets windows too old to count at now.
func (r *rate) purge(now int64, n int, window int64) {
	for i := range r.samples {
		if now-r.samples[i].start >= int64(n)*window {
			r.samples[i] = sample{start: now}
		}
	}
}

// span is the time the windows cover at now (ms): from the oldest
// window's start, but never less than n-1 whole windows, as if the
// windows before the first were empty.
func (r *rate) span(now int64, n int, window int64) int64 {
	r.purge(now, n, window)
	if len(r.samples) == 0 {
		return int64(n-1) * window
	}
	oldest := r.samples[0].start
	for _, s := range r.samples[1:] {
		oldest = min(oldest, s.start)
	}
	elapsed := now - oldest
	if full := elapsed / window; full < int64(n-1) {
		elapsed += (int64(n-1) - full) * window
	}
	return elapsed
}

// measure is the rate per second at now.
func (r *rate) measure(now int64, n int, window int64) (perSecond float64, span int64) {
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

// throttle is QuotaUtils.throttleTime: how long until a rate of observed
// over span comes back to bound, if nothing more is recorded.
func throttle(observed, bound float64, span int64) time.Duration {
	if observed <= bound || bound <= 0 {
		return 0
	}
	ms := (observed - bound) / bound * float64(span)
	return time.Duration(ms+0.5) * time.Millisecond
}

// bucket is Kafka's TokenBucket: tokens refill at the quota's rate up to
// quota x burst seconds; recording spends them, possibly below zero.
type bucket struct {
	tokens float64
	last   int64 // ms
	init   bool
}

func (b *bucket) refill(now int64, quota, burst float64) {
	if !b.init {
		b.tokens, b.last, b.init = quota*burst, now, true
		return
	}
	if now > b.last {
		b.tokens = min(quota*burst, b.tokens+quota*float64(now-b.last)/1000)
		b.last = now
	}
}

// wait is how long until the tokens are back at zero (0 if they are not
// below it): ControllerMutationQuotaManager.throttleTimeMs.
func (b *bucket) wait(quota float64) time.Duration {
	if b.tokens >= 0 || quota <= 0 {
		return 0
	}
	return time.Duration(-b.tokens/quota*1000+0.5) * time.Millisecond
}
