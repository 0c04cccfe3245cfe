package share

// Acknowledgements, releases and expiring locks: the ways acquired
// records leave their member.

import (
	"container/heap"
	"fmt"
)

// Ack acknowledges the offsets First..Last: Types holds one type for them
// all, or one per offset.
type Ack struct {
	First, Last int64
	Types       []AckType
}

// typeAt is the acknowledgement type of offset o.
func (a *Ack) typeAt(o int64) AckType {
	if len(a.Types) == 1 {
		return a.Types[0]
	}
	return a.Types[o-a.First]
}

// validAck checks an acknowledgement's shape: a known type (Renew only
// when allowed) and one type, or one per offset.
func validAck(a *Ack, renew bool) error {
	n := a.Last - a.First + 1
	switch {
	case a.First < 0 || n <= 0:
		return fmt.Errorf("%w: offsets %d-%d", ErrInvalidAck, a.First, a.Last)
	case len(a.Types) != 1 && int64(len(a.Types)) != n:
		return fmt.Errorf("%w: %d types for %d offsets", ErrInvalidAck, len(a.Types), n)
	}
	for _, t := range a.Types {
		if t < AckGap || t > AckRenew || t == AckRenew && !renew {
			return fmt.Errorf("%w: type %d", ErrInvalidAck, t)
		}
	}
	return nil
}

// ValidateAcks checks a partition's acknowledgement batches as Kafka's
// KafkaApis.validateAcknowledgementBatches does, before anything else is
// looked at: each well formed (ErrInvalidAck otherwise), and in offset
// order: one starting before the last offset of the one before
// (overlapping it, or out of order) is refused, not applied last-wins.
func ValidateAcks(acks []Ack, renew bool) error {
	for i := range acks {
		if err := validAck(&acks[i], renew); err != nil {
			return err
		}
		if i > 0 && acks[i].First < acks[i-1].Last {
			return fmt.Errorf("%w: offsets %d-%d after %d-%d", ErrInvalidAck, acks[i].First, acks[i].Last, acks[i-1].First, acks[i-1].Last)
		}
	}
	return nil
}

// Acknowledge applies a member's acknowledgements, all or none: every
// offset from the start offset on must be acquired by the member. As
// Kafka's SharePartition.fetchSubMapForAcknowledgementBatch looks each
// batch up in its cached in-flight batches, a batch wholly below the start
// offset (acknowledged, archived, or gone from the log) is
// ErrInvalidRecordState, one reaching past the last offset ever delivered
// ErrInvalidAck (INVALID_REQUEST), and the part below the start of a batch
// the start moved into is ignored. Renew (allowed only with renew)
// restarts the lock for LockMs from now.
func (p *Partition) Acknowledge(member string, acks []Ack, renew bool, now, lockMs int64) error {
	u, err := p.AcknowledgePending(member, acks, renew, now, lockMs)
	if err == nil {
		p.Commit(u)
	}
	return err
}

// Pending is an acknowledgement applied but not yet known to be written:
// Commit once its write landed, Rollback if it failed, as Kafka's
// SharePartition completes or rolls back an acknowledgement's state
// transitions when the persister answers. Records below the start are
// kept (not compacted away) while any is pending.
type Pending struct {
	recs []pendingRec
}

// pendingRec is an acknowledged offset as it was acquired (prev) and the
// state the acknowledgement left it in.
type pendingRec struct {
	o    int64
	prev record
	set  State
}

// AcknowledgePending is Acknowledge leaving the change pending; the
// caller must Commit or Rollback the result when err is nil.
func (p *Partition) AcknowledgePending(member string, acks []Ack, renew bool, now, lockMs int64) (*Pending, error) {
	if err := p.checkAcks(member, acks, renew); err != nil {
		return nil, err
	}
	u := &Pending{}
	for i := range acks {
		a := &acks[i]
		var renewed *lease
		for o := max(a.First, p.start); o <= a.Last; o++ {
			t := a.typeAt(o)
			if t == AckRenew {
				renewed = p.renew(o, member, renewed, now+lockMs)
				continue
			}
			if renewed != nil {
				p.addLease(renewed)
				renewed = nil
			}
			prev := *p.rec(o)
			p.settle(o, t)
			u.recs = append(u.recs, pendingRec{o: o, prev: prev, set: p.rec(o).state})
		}
		if renewed != nil {
			p.addLease(renewed)
		}
	}
	p.pending++
	p.advance()
	return u, nil
}

// Commit ends a pending acknowledgement whose write landed.
func (p *Partition) Commit(u *Pending) {
	p.pending--
	p.compact()
}

// Rollback undoes a pending acknowledgement whose write failed: its
// offsets are acquired by the member again (released as a lock expiry
// would if the lock ended meanwhile), unless something else changed them
// since (a released record acquired again, the log start moving past
// it). It returns how many offsets came back.
func (p *Partition) Rollback(u *Pending) int {
	p.pending--
	n, low := 0, p.start
	for _, e := range u.recs {
		if e.o < p.floor || e.o < p.base || e.o >= p.end {
			continue
		}
		r := p.rec(e.o)
		if r.state != e.set || r.count != e.prev.count || r.lease != 0 {
			continue
		}
		*r = e.prev
		if p.leases[r.lease] == nil {
			p.release(e.o, r)
		}
		p.touch(e.o)
		low = min(low, e.o)
		n++
	}
	if low < p.start {
		p.start, p.startDirty = low, true
	}
	p.advance()
	p.compact()
	return n
}

// checkAcks checks acknowledgements before any is applied.
func (p *Partition) checkAcks(member string, acks []Ack, renew bool) error {
	if err := ValidateAcks(acks, renew); err != nil {
		return err
	}
	for i := range acks {
		a := &acks[i]
		switch {
		case a.Last < p.start:
			return fmt.Errorf("%w: offsets %d-%d below the start offset %d", ErrInvalidRecordState, a.First, a.Last, p.start)
		case a.Last >= p.end:
			return fmt.Errorf("%w: offsets %d-%d past the last delivered %d", ErrInvalidAck, a.First, a.Last, p.end-1)
		}
		for o := max(a.First, p.start); o <= a.Last; o++ {
			if !p.heldBy(o, member) {
				return fmt.Errorf("%w: offset %d", ErrInvalidRecordState, o)
			}
		}
	}
	return nil
}

// heldBy reports whether offset o is acquired by member.
func (p *Partition) heldBy(o int64, member string) bool {
	if o < p.start || o >= p.end {
		return false
	}
	r := p.rec(o)
	if r.state != Acquired {
		return false
	}
	l := p.leases[r.lease]
	return l != nil && l.member == member
}

// renew moves offset o to a new lease (extending cur when contiguous).
func (p *Partition) renew(o int64, member string, cur *lease, deadline int64) *lease {
	if cur == nil || cur.last != o-1 {
		if cur != nil {
			p.addLease(cur)
		}
		p.nextID++
		if p.nextID == 0 {
			p.nextID = 1
		}
		cur = &lease{id: p.nextID, member: member, first: o, last: o, deadline: deadline}
	}
	cur.last = o
	p.rec(o).lease = cur.id
	return cur
}

// settle moves an acquired offset to the state its acknowledgement asks.
func (p *Partition) settle(o int64, t AckType) {
	r := p.rec(o)
	r.lease = 0
	switch t {
	case AckAccept:
		r.state = Acknowledged
	case AckRelease:
		p.release(o, r)
	default: // Reject, Gap
		r.state = Archived
	}
	p.touch(o)
}

// release makes an acquired offset Available again, or Archived once it
// was delivered as often as allowed.
func (p *Partition) release(o int64, r *record) {
	r.lease = 0
	if r.count >= p.cfg.MaxDeliveries {
		r.state = Archived
		return
	}
	r.state = Available
	p.markAvailable(o)
}

// ReleaseMember releases every offset the member holds (its share session
// ended) and returns how many. Records a session held when it ended were
// fetched but never delivered to the application, so their delivery is
// taken back: their count goes down by one and the limit archives none
// (Kafka 4.1, KAFKA-17541). A consumer that restarts does not use up the
// deliveries of records it never saw.
func (p *Partition) ReleaseMember(member string) int {
	n := 0
	for id, l := range p.leases {
		if l.member != member {
			continue
		}
		n += p.releaseLease(l, true)
		delete(p.leases, id)
	}
	p.advance()
	return n
}

// releaseLease releases the offsets still held under a lease; undelivered
// takes their delivery back (ReleaseMember).
func (p *Partition) releaseLease(l *lease, undelivered bool) int {
	n := 0
	for o := max(l.first, p.start); o <= l.last && o < p.end; o++ {
		r := p.rec(o)
		if r.state != Acquired || r.lease != l.id {
			continue
		}
		if undelivered {
			r.lease, r.count, r.state = 0, max(r.count-1, 0), Available
			p.markAvailable(o)
		} else {
			p.release(o, r)
		}
		p.touch(o)
		n++
	}
	return n
}

// Expire releases what acquisitions have held past their deadline and
// returns how many offsets.
func (p *Partition) Expire(now int64) int {
	n := 0
	for p.deadline.Len() > 0 && p.deadline[0].deadline <= now {
		l := heap.Pop(&p.deadline).(*lease)
		if p.leases[l.id] != l {
			continue
		}
		delete(p.leases, l.id)
		n += p.releaseLease(l, false)
	}
	if n > 0 {
		p.advance()
	}
	return n
}

// NextDeadline is when the first lock expires, if any is held.
func (p *Partition) NextDeadline() (int64, bool) {
	for p.deadline.Len() > 0 {
		l := p.deadline[0]
		if p.leases[l.id] == l {
			return l.deadline, true
		}
		heap.Pop(&p.deadline)
	}
	return 0, false
}

// Holders counts the offsets each member holds.
func (p *Partition) Holders() map[string]int {
	out := make(map[string]int)
	for _, l := range p.leases {
		for o := max(l.first, p.start); o <= l.last && o < p.end; o++ {
			if r := p.rec(o); r.state == Acquired && r.lease == l.id {
				out[l.member]++
			}
		}
	}
	return out
}

// leaseHeap orders leases by deadline.
type leaseHeap []*lease

func (h leaseHeap) Len() int           { return len(h) }
func (h leaseHeap) Less(i, j int) bool { return h[i].deadline < h[j].deadline }
func (h leaseHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *leaseHeap) Push(x any)        { *h = append(*h, x.(*lease)) }
func (h *leaseHeap) Pop() any {
	old := *h
	l := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return l
}
