package share

import (
	"errors"
	"fmt"
)

// State is a record's state, numbered as Kafka persists it.
type State int8

// Record states (Kafka's RecordState ids).
const (
	Available    State = 0
	Acquired     State = 1
	Acknowledged State = 2
	Archived     State = 4
)

func (s State) String() string {
	switch s {
	case Available:
		return "Available"
	case Acquired:
		return "Acquired"
	case Acknowledged:
		return "Acknowledged"
	case Archived:
		return "Archived"
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

// AckType is an acknowledgement type of ShareFetch and ShareAcknowledge.
type AckType int8

// Acknowledgement types (0:Gap, 1:Accept, 2:Release, 3:Reject, 4:Renew).
const (
	AckGap     AckType = 0
	AckAccept  AckType = 1
	AckRelease AckType = 2
	AckReject  AckType = 3
	AckRenew   AckType = 4
)

// Errors of an acknowledgement, mapped by the caller to INVALID_REQUEST
// and INVALID_RECORD_STATE.
var (
	ErrInvalidAck         = errors.New("invalid acknowledgement")
	ErrInvalidRecordState = errors.New("records not acquired by this member")
)

// Batch is a run of offsets with one state and delivery count: Kafka's
// persisted state batch.
type Batch struct {
	First, Last int64
	State       State
	Count       int16
}

// Config bounds a share partition.
type Config struct {
	// MaxInFlight is group.share.partition.max.record.locks: the most
	// offsets from the start offset on that may be in flight.
	MaxInFlight int64
	// MaxDeliveries is group.share.delivery.count.limit.
	MaxDeliveries int16
}

// record is one offset of the window.
type record struct {
	state State
	count int16
	lease uint32 // the acquisition holding it while Acquired
}

// lease is one acquisition of a run of offsets by a member.
type lease struct {
	id          uint32
	member      string
	first, last int64
	deadline    int64 // unix ms
}

// Partition is one share partition's state. It is not safe for
// concurrent use; its owner serialises calls.
type Partition struct {
	cfg Config
	// recs[i] is offset base+i; the window is [start, end).
	recs       []record
	base       int64
	start, end int64
	// availHint: no offset below it in the window is Available.
	availHint int64

	leases   map[uint32]*lease
	deadline leaseHeap
	nextID   uint32

	dirty      []int64
	startDirty bool

	// pending counts acknowledgements applied but not yet written
	// (AcknowledgePending); records are not compacted away meanwhile.
	pending int
	// floor is the highest log start MoveStart was given: offsets below
	// it are gone from the log.
	floor int64
}

// New returns a share partition restored from its persisted state: the
// start offset and the state batches above it. Offsets between start and
// the last batch that no batch names are Available, never delivered.
func New(cfg Config, start int64, batches []Batch) *Partition {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 2000
	}
	if cfg.MaxDeliveries <= 0 {
		cfg.MaxDeliveries = 5
	}
	p := &Partition{cfg: cfg, base: start, start: start, end: start, availHint: start, leases: make(map[uint32]*lease)}
	for _, b := range batches {
		if b.Last < start || b.Last < b.First {
			continue
		}
		first := max(b.First, start)
		p.extendTo(b.Last + 1)
		st := b.State
		if st == Acquired || (st != Acknowledged && st != Archived) {
			st = Available // acquisitions are not persisted; unknown states are redelivered
		}
		for o := first; o <= b.Last; o++ {
			r := p.rec(o)
			r.state, r.count = st, b.Count
		}
	}
	p.advance()
	p.startDirty = false
	return p
}

// extendTo adds Available, never delivered offsets up to end.
func (p *Partition) extendTo(end int64) {
	for p.end < end {
		p.recs = append(p.recs, record{state: Available})
		p.end++
	}
}

func (p *Partition) rec(o int64) *record { return &p.recs[o-p.base] }

// Start is the share-partition start offset.
func (p *Partition) Start() int64 { return p.start }

// End is the first offset never delivered.
func (p *Partition) End() int64 { return p.end }

// InFlight is the number of offsets in the window.
func (p *Partition) InFlight() int64 { return p.end - p.start }

// Config is the partition's bounds.
func (p *Partition) Config() Config { return p.cfg }

// SetConfig changes the bounds (the broker's keys changed).
func (p *Partition) SetConfig(cfg Config) {
	if cfg.MaxInFlight > 0 {
		p.cfg.MaxInFlight = cfg.MaxInFlight
	}
	if cfg.MaxDeliveries > 0 {
		p.cfg.MaxDeliveries = cfg.MaxDeliveries
	}
}

// StateOf returns an offset's state and delivery count: offsets below
// the start are Acknowledged or Archived (reported Archived), offsets
// from the end on are Available and never delivered.
func (p *Partition) StateOf(o int64) (State, int16) {
	switch {
	case o < p.start:
		return Archived, 0
	case o >= p.end:
		return Available, 0
	}
	r := p.rec(o)
	return r.state, r.count
}

// NextFetchOffset is where the next read of the log starts: the first
// Available offset of the window, else its end.
func (p *Partition) NextFetchOffset() int64 {
	o := max(p.availHint, p.start)
	for ; o < p.end; o++ {
		if p.rec(o).state == Available {
			break
		}
	}
	p.availHint = o
	return o
}

// CanAcquire reports whether an acquisition could deliver anything: an
// Available offset in the window, or room for new ones.
func (p *Partition) CanAcquire() bool {
	return p.NextFetchOffset() < p.end || p.end-p.start < p.cfg.MaxInFlight
}

func (p *Partition) markAvailable(o int64) {
	if o < p.availHint {
		p.availHint = o
	}
}

func (p *Partition) touch(o int64) { p.dirty = append(p.dirty, o) }

// advance moves the start past leading acknowledged and archived offsets.
func (p *Partition) advance() {
	moved := false
	for p.start < p.end {
		if s := p.rec(p.start).state; s != Acknowledged && s != Archived {
			break
		}
		p.start++
		moved = true
	}
	if moved {
		p.startDirty = true
		p.compact()
	}
}

// compact drops the records below the start once they are most of the
// slice.
func (p *Partition) compact() {
	drop := p.start - p.base
	if p.pending > 0 || drop < 1024 || drop*2 < int64(len(p.recs)) {
		return
	}
	p.recs = append(make([]record, 0, len(p.recs)-int(drop)+64), p.recs[drop:]...)
	p.base = p.start
}

// MoveStart moves the start up to off (the log start offset after
// retention or DeleteRecords): what lies below is gone from the log and
// is dropped, acquired or not.
func (p *Partition) MoveStart(off int64) {
	p.floor = max(p.floor, off)
	if off <= p.start {
		return
	}
	if off >= p.end {
		for _, l := range p.leases {
			delete(p.leases, l.id)
		}
		p.recs, p.base, p.start, p.end, p.availHint = p.recs[:0], off, off, off, off
		p.startDirty = true
		return
	}
	for o := p.start; o < off; o++ {
		r := p.rec(o)
		r.state, r.lease = Archived, 0
	}
	p.start = off
	p.startDirty = true
	p.advance()
	p.compact()
}
