package broker

import "time"

// Retriable replication errors (NOT_LEADER_OR_FOLLOWER while metadata
// propagates, UNKNOWN_LEADER_EPOCH, a leader's storage error) are expected
// for a moment and are retried without a word. One that lasts is not: the
// leader drops the follower from the ISR after replica.lag.time.max.ms and
// an operator sees only an under-replicated partition. troubles tracks,
// per followed partition, since when it has failed without a success in
// between, so the fetcher can warn once it has failed for longer than the
// ISR tolerates, and then at most once per repeat interval.
type troubles struct {
	after  time.Duration // warn once failing this long
	repeat time.Duration // and again at most this often
	// Only the fetcher's goroutine touches it.
	byPart map[*Partition]*trouble
}

type trouble struct {
	since, warned time.Time
	count         int
}

func newTroubles(after, repeat time.Duration) *troubles {
	return &troubles{after: after, repeat: repeat, byPart: make(map[*Partition]*trouble)}
}

// failed records a failure of p at now; warn is set when it is time to say
// so, with how long and how many times p has failed.
func (ts *troubles) failed(p *Partition, now time.Time) (warn bool, failing time.Duration, count int) {
	t := ts.byPart[p]
	if t == nil {
		t = &trouble{since: now}
		ts.byPart[p] = t
	}
	t.count++
	failing = now.Sub(t.since)
	if failing < ts.after || (!t.warned.IsZero() && now.Sub(t.warned) < ts.repeat) {
		return false, failing, t.count
	}
	t.warned = now
	return true, failing, t.count
}

// succeeded forgets p's failures; recovered is set when a warning was
// given for them, with how long they lasted.
func (ts *troubles) succeeded(p *Partition, now time.Time) (recovered bool, failing time.Duration) {
	t := ts.byPart[p]
	if t == nil {
		return false, 0
	}
	delete(ts.byPart, p)
	return !t.warned.IsZero(), now.Sub(t.since)
}

// forget drops partitions no longer followed.
func (ts *troubles) forget(followedNow map[*Partition]bool) {
	for p := range ts.byPart {
		if !followedNow[p] {
			delete(ts.byPart, p)
		}
	}
}
