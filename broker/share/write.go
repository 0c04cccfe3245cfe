package share

// What is persisted: the changed offsets as Kafka's state batches, with
// the start offset.

import "slices"

// Write is the state to persist with WriteShareGroupState: the start
// offset and the batches of offsets changed since the last Write taken.
type Write struct {
	Start   int64
	Batches []Batch
}

// Dirty reports whether something changed since the last TakeWrite.
func (p *Partition) Dirty() bool { return p.startDirty || len(p.dirty) > 0 }

// TakeWrite returns what changed since the last call, as it is now, and
// forgets it; ok is false when nothing did. An Acquired offset is written
// Available with its count: a new leader delivers it again.
func (p *Partition) TakeWrite() (w Write, ok bool) {
	if !p.Dirty() {
		return Write{}, false
	}
	offs := p.dirty
	p.dirty = nil
	p.startDirty = false
	slices.Sort(offs)
	offs = slices.Compact(offs)
	w.Start = p.start
	for _, o := range offs {
		if o < p.start || o >= p.end {
			continue
		}
		r := p.rec(o)
		st := r.state
		if st == Acquired {
			st = Available
		}
		if n := len(w.Batches); n > 0 {
			b := &w.Batches[n-1]
			if b.Last == o-1 && b.State == st && b.Count == r.count {
				b.Last = o
				continue
			}
		}
		w.Batches = append(w.Batches, Batch{First: o, Last: o, State: st, Count: r.count})
	}
	return w, true
}

// Unwritten marks a Write that could not be persisted as changed again,
// so the next TakeWrite carries its offsets (as they are by then).
func (p *Partition) Unwritten(w Write) {
	p.startDirty = true
	for _, b := range w.Batches {
		for o := max(b.First, p.start); o <= b.Last && o < p.end; o++ {
			p.touch(o)
		}
	}
}

// Snapshot is the whole persisted state: the start offset and every
// offset of the window (Acquired ones as Available), as ShareSnapshot
// holds it.
func (p *Partition) Snapshot() Write {
	w := Write{Start: p.start}
	for o := p.start; o < p.end; o++ {
		r := p.rec(o)
		st := r.state
		if st == Acquired {
			st = Available
		}
		if n := len(w.Batches); n > 0 {
			b := &w.Batches[n-1]
			if b.State == st && b.Count == r.count {
				b.Last = o
				continue
			}
		}
		w.Batches = append(w.Batches, Batch{First: o, Last: o, State: st, Count: r.count})
	}
	return w
}
