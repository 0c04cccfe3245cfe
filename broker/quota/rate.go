package quota

import "time"

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
