package share

// Acquiring records for a member: what the broker read from the log is
// described as spans of offsets, and the Available ones (or new ones, room
// permitting) become the member's until their lock expires.

import "container/heap"

// Span is a run of offsets the log holds, one record batch: Skip marks a
// batch with nothing to deliver (a transaction marker, or under
// read_committed a batch of an aborted transaction).
type Span struct {
	First, Last int64
	Skip        bool
}

// AcquireRequest is one acquisition.
type AcquireRequest struct {
	Member string
	// From is the offset the log was read from; Spans are the batches
	// read, in order. Offsets from From on that no span covers, up to
	// the last span, are not in the log (compacted away) and are
	// archived.
	From  int64
	Spans []Span
	// MaxRecords bounds the offsets acquired (at least one is). With
	// WholeBatches a batch begun is acquired to its end, past MaxRecords
	// if need be (Kafka's batch_optimized ShareAcquireMode, the default;
	// record_limit stops at MaxRecords exactly).
	MaxRecords   int
	WholeBatches bool
	// Now and LockMs set the acquisition's deadline.
	Now, LockMs int64
}

// Run is a run of acquired offsets with one delivery count, as
// ShareFetch reports it.
type Run struct {
	First, Last int64
	Count       int16
}

// Acquire acquires what it can of the spans for the member. It returns
// the acquired runs, in order.
func (p *Partition) Acquire(req AcquireRequest) []Run {
	a := acquisition{p: p, req: req, max: max(req.MaxRecords, 1)}
	prev := req.From
	for _, s := range req.Spans {
		if s.Last < s.First {
			continue
		}
		if s.First > prev && !a.gap(prev, s.First) {
			break
		}
		if !a.span(s) {
			break
		}
		prev = max(prev, s.Last+1)
	}
	a.close()
	p.advance()
	return a.out
}

// acquisition is one Acquire under way.
type acquisition struct {
	p     *Partition
	req   AcquireRequest
	max   int
	n     int
	out   []Run
	lease *lease
}

// room reports whether offset o may be looked at: inside the window, or
// the next new offset while the in-flight limit allows.
func (a *acquisition) room(o int64) bool {
	p := a.p
	if o < p.end {
		return true
	}
	return o == p.end && p.end-p.start < p.cfg.MaxInFlight
}

// gap archives the offsets [from, to) that the log does not hold.
func (a *acquisition) gap(from, to int64) bool {
	p := a.p
	for o := max(from, p.start); o < to; o++ {
		if !a.room(o) {
			return false
		}
		if o == p.end {
			p.extendTo(o + 1)
			p.rec(o).state = Archived
			p.touch(o)
			continue
		}
		if r := p.rec(o); r.state == Available {
			r.state = Archived
			p.touch(o)
		}
	}
	return true
}

// span acquires the offsets of one batch; false stops the acquisition.
func (a *acquisition) span(s Span) bool {
	p := a.p
	if a.req.WholeBatches && a.n >= a.max {
		return false
	}
	for o := max(s.First, p.start); o <= s.Last; o++ {
		if !a.req.WholeBatches && a.n >= a.max || !a.room(o) {
			return false
		}
		if o == p.end {
			p.extendTo(o + 1)
		}
		r := p.rec(o)
		if r.state != Available {
			a.breakRun()
			continue
		}
		if s.Skip || r.count >= p.cfg.MaxDeliveries {
			r.state = Archived
			p.touch(o)
			a.breakRun()
			continue
		}
		a.take(o, r)
	}
	return true
}

// take acquires offset o.
func (a *acquisition) take(o int64, r *record) {
	p := a.p
	if a.lease == nil || a.lease.last != o-1 {
		a.close()
		p.nextID++
		if p.nextID == 0 {
			p.nextID = 1
		}
		a.lease = &lease{id: p.nextID, member: a.req.Member, first: o, last: o, deadline: a.req.Now + a.req.LockMs}
	}
	a.lease.last = o
	r.state, r.lease = Acquired, a.lease.id
	r.count++
	a.n++
	if n := len(a.out); n > 0 && a.out[n-1].Last == o-1 && a.out[n-1].Count == r.count {
		a.out[n-1].Last = o
	} else {
		a.out = append(a.out, Run{First: o, Last: o, Count: r.count})
	}
}

// breakRun ends the current lease's run.
func (a *acquisition) breakRun() { a.close() }

// close registers the lease being built.
func (a *acquisition) close() {
	if a.lease == nil {
		return
	}
	a.p.addLease(a.lease)
	a.lease = nil
}

func (p *Partition) addLease(l *lease) {
	p.leases[l.id] = l
	heap.Push(&p.deadline, l)
}
