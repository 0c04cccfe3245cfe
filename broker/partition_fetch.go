package broker

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// LastStableOffset is the offset below which every transaction is decided
// (equal to the high watermark when none is open).
func (p *Partition) LastStableOffset() int64 {
	hw := p.hw.Load()
	if lso := p.firstUnstable.Load(); lso >= 0 && lso < hw {
		return lso
	}
	return hw
}

// refreshUnstableLocked recomputes the first offset of an open transaction.
func (p *Partition) refreshUnstableLocked() {
	if p.producer == nil {
		p.firstUnstable.Store(-1)
		return
	}
	p.firstUnstable.Store(p.producer.firstUnstable())
}

// abortedTxns lists aborted transactions overlapping [from, to) for a
// read_committed fetch, sorted by first offset.
func (p *Partition) abortedTxns(from, to int64) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	if p.producer == nil {
		return out
	}
	for _, a := range p.producer.overlappingAborted(from, to) {
		t := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		t.ProducerID, t.FirstOffset = a.ProducerID, a.FirstOffset
		out = append(out, t)
	}
	return out
}

// followerFetchLocked records a follower's fetch position; a follower that
// caught up is added to the ISR asynchronously.
func (p *Partition) followerFetchLocked(id int32, offset int64) {
	if p.rs == nil {
		return
	}
	res := p.rs.FollowerFetch(id, offset, p.b.now())
	if res.HWMoved {
		p.hw.Store(p.rs.HW)
		p.notify()
	}
	if res.ExpandISR && !p.expanding {
		p.expanding = true
		st := p.state
		st.ISR = append(slices.Clone(p.rs.ISR), id)
		slices.Sort(st.ISR)
		p.b.spawn(func() {
			p.b.log.Info().Str("topic", p.tp.Topic).Int32("partition", p.ID).Int32("replica", id).Ints32("isr", st.ISR).Msg("expanding ISR")
			p.updateISR(st)
			p.mu.Lock()
			p.expanding = false
			p.mu.Unlock()
		})
	}
}
