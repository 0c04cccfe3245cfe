package broker

// Applying metadata without ever making the backend wait. The ZooKeeper
// loop delivers a topic's state and returns at once: each partition has a
// mailbox holding the newest state delivered (a newer one replaces one not
// yet applied, as Kafka may skip straight to the newest LeaderAndIsr), a
// pending config change and a pending deletion. While a partition has
// mail, one goroutine applies it under the partition's lock, in order,
// then tells the coordinators about leadership of internal partitions. A
// partition busy with disk I/O (an append, a truncation, opening its log)
// delays only itself; the loop and every other partition go on.
//
// The delay from ZooKeeper reporting a change (its watch firing) to the
// partition having applied it is measured (applyStats, exported as a
// histogram by the metrics endpoint) and logged when it exceeds
// slowApply.

import (
	"context"
	"sync"
	"time"

	"gregor/broker/metadata"
)

// slowApply is the apply delay above which a change is logged. The
// histogram has every delay; a warning is for one an operator should see
// (leadership or a deletion held up a second), not the tens of
// milliseconds a busy machine takes to create 50 partitions or to take
// over a restarted broker's leaders, which Kafka does not log either.
const slowApply = time.Second

// maxConcurrentApplies bounds the partitions applying mail at once. Mail
// is mostly disk work (opening, creating, fsyncing, truncating logs), and
// a goroutine in a file syscall holds an OS thread: 10,000 partitions
// applied at start-up at once would take as many threads (Go's limit is
// 10,000) for no gain over a few hundred. A partition waiting for a slot
// holds none.
const maxConcurrentApplies = 256

// mailbox is what a partition has yet to apply; Partition.mailMu guards
// it.
type mailbox struct {
	state  *metadata.PartitionState
	config bool          // the topic's configuration changed
	remove chan struct{} // non-nil: delete the partition, then close it
	// reported is when the earliest pending change was reported, posted
	// when it was posted.
	reported, posted time.Time
	busy             bool // a goroutine is applying mail
}

func (m *mailbox) empty() bool { return m.state == nil && !m.config && m.remove == nil }

// postState hands the partition a new metadata state. It never waits.
func (p *Partition) postState(st metadata.PartitionState, reported time.Time) {
	p.post(func(m *mailbox) {
		if m.state != nil {
			st = newestState(*m.state, st)
		}
		m.state = &st
	}, reported)
}

// postConfig tells the partition its topic's configuration changed.
func (p *Partition) postConfig() { p.post(func(m *mailbox) { m.config = true }, time.Time{}) }

// postRemove deletes the partition (its topic is gone); done is closed
// once its log is closed and retired.
func (p *Partition) postRemove(done chan struct{}) {
	p.post(func(m *mailbox) { m.remove = done }, time.Time{})
}

func (p *Partition) post(set func(*mailbox), reported time.Time) {
	p.mailMu.Lock()
	set(&p.mail)
	if !reported.IsZero() && (p.mail.reported.IsZero() || reported.Before(p.mail.reported)) {
		p.mail.reported = reported
	}
	if p.mail.posted.IsZero() {
		p.mail.posted = time.Now()
	}
	if p.mail.busy {
		p.mailMu.Unlock()
		return
	}
	p.mail.busy = true
	p.mailMu.Unlock()
	p.b.applies.add()
	if !p.b.spawn(p.drainMail) {
		// The broker is closing: nothing more is applied.
		p.mailMu.Lock()
		m := p.mail
		p.mail = mailbox{}
		p.mailMu.Unlock()
		if m.remove != nil {
			close(m.remove)
		}
		p.b.applies.done()
	}
}

// drainMail applies mail until the mailbox is empty.
func (p *Partition) drainMail() {
	defer p.b.applies.done()
	if p.after != nil {
		// A topic of the same name is being deleted: its partition's
		// directory must be gone before this one's is made.
		<-p.after
		p.after = nil
	}
	for {
		p.mailMu.Lock()
		m := p.mail
		if m.empty() {
			p.mail.busy = false
			p.mailMu.Unlock()
			return
		}
		p.mail = mailbox{busy: true}
		p.mailMu.Unlock()
		p.b.applySlots <- struct{}{}
		removed := p.applyMail(m)
		<-p.b.applySlots
		if removed {
			return // what came after is moot
		}
	}
}

// applyMail applies one batch of mail; it reports whether the partition
// was removed.
func (p *Partition) applyMail(m mailbox) (removed bool) {
	b := p.b
	wasLeader := p.IsLeader()
	if m.remove != nil {
		if err := p.remove(); err != nil {
			b.log.Error().Err(err).Str("topic", p.tp.Topic).Int32("partition", p.ID).Msg("deleting partition")
		}
		b.forgetPlacement(p.tp)
		if p.topic.Internal && wasLeader {
			b.tellLeadership(p.tp.Topic, p.ID, false, p.LeaderEpoch())
		}
		close(m.remove)
		return true
	}
	if m.state != nil {
		if err := p.apply(*m.state); err != nil {
			b.log.Error().Err(err).Str("topic", p.tp.Topic).Int32("partition", p.ID).Msg("applying partition state")
		}
	}
	if m.config {
		p.setLogConfig(b.logConfig(p.topic.Config()))
	}
	if m.state != nil && p.topic.Internal && (wasLeader != p.IsLeader() || p.IsLeader()) {
		b.tellLeadership(p.tp.Topic, p.ID, p.IsLeader(), p.LeaderEpoch())
	}
	if !m.reported.IsZero() {
		b.applies.observe(b, p, m)
	}
	return false
}

// applyTracker counts the partitions with mail, so that start-up and
// controlled shutdown can wait until what was delivered is in force, and
// keeps the apply delays.
type applyTracker struct {
	mu sync.Mutex
	// guarded by mu:
	busy  int
	idle  chan struct{} // closed when busy drops to 0; nil while none waits
	stats ApplyStats
}

func (a *applyTracker) add() {
	a.mu.Lock()
	a.busy++
	a.mu.Unlock()
}

func (a *applyTracker) done() {
	a.mu.Lock()
	a.busy--
	if a.busy == 0 && a.idle != nil {
		close(a.idle)
		a.idle = nil
	}
	a.mu.Unlock()
}

// wait waits until no partition has mail, or ctx ends.
func (a *applyTracker) wait(ctx context.Context) error {
	a.mu.Lock()
	if a.busy == 0 {
		a.mu.Unlock()
		return nil
	}
	if a.idle == nil {
		a.idle = make(chan struct{})
	}
	idle := a.idle
	a.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ApplyDelayBuckets are the upper bounds of the apply delay histogram.
var ApplyDelayBuckets = []time.Duration{
	time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 5 * time.Second,
}

// ApplyStats is the distribution of the delays from the metadata store
// reporting a partition's change to the partition having applied it.
type ApplyStats struct {
	Count   int64
	Sum     time.Duration
	Max     time.Duration
	Buckets []int64 // cumulative counts per ApplyDelayBuckets bound
}

func (a *applyTracker) observe(b *Broker, p *Partition, m mailbox) {
	d := time.Since(m.reported)
	a.mu.Lock()
	s := &a.stats
	if s.Buckets == nil {
		s.Buckets = make([]int64, len(ApplyDelayBuckets))
	}
	s.Count++
	s.Sum += d
	s.Max = max(s.Max, d)
	for i, ub := range ApplyDelayBuckets {
		if d <= ub {
			s.Buckets[i]++
		}
	}
	a.mu.Unlock()
	if d > slowApply {
		b.slowLog.Warn().Str("topic", p.tp.Topic).Int32("partition", p.ID).Dur("delay", d).
			Dur("reading", m.posted.Sub(m.reported)).Dur("applying", time.Since(m.posted)).
			Msg("metadata change applied late")
	}
}

// MetadataApplyStats returns the apply delays so far.
func (b *Broker) MetadataApplyStats() ApplyStats {
	b.applies.mu.Lock()
	defer b.applies.mu.Unlock()
	s := b.applies.stats
	s.Buckets = append([]int64(nil), s.Buckets...)
	if s.Buckets == nil {
		s.Buckets = make([]int64, len(ApplyDelayBuckets))
	}
	return s
}

// awaitApplied waits until every metadata change delivered so far is in
// force on this broker's partitions, or ctx ends.
func (b *Broker) awaitApplied(ctx context.Context) error { return b.applies.wait(ctx) }
