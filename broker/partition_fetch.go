package broker

import (
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/metadata"
)

// LastStableOffset is the offset below which every transaction is decided
// (equal to the high watermark when none is open). A transaction whose
// marker is not yet below the high watermark still counts as open, as
// Kafka's unreplicatedTxns do: its outcome is not replicated yet.
func (p *Partition) LastStableOffset() int64 {
	hw := p.hw.Load()
	lso := p.firstUnstable.Load()
	if ended := p.unreplicated.Load(); ended != nil {
		// In marker order: only the tail at or above hw counts.
		for i := len(*ended) - 1; i >= 0 && (*ended)[i].Marker >= hw; i-- {
			if t := (*ended)[i]; lso < 0 || t.First < lso {
				lso = t.First
			}
		}
	}
	if lso >= 0 && lso < hw {
		return lso
	}
	return hw
}

// refreshUnstableLocked recomputes the first offset of an open transaction
// and the ended transactions not yet known replicated.
func (p *Partition) refreshUnstableLocked() {
	if p.producer == nil {
		p.firstUnstable.Store(-1)
		p.unreplicated.Store(nil)
		return
	}
	p.firstUnstable.Store(p.producer.firstUnstable())
	if ended := p.producer.unreplicated(p.hw.Load()); len(ended) > 0 {
		p.unreplicated.Store(&ended)
	} else {
		p.unreplicated.Store(nil)
	}
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
// caught up is added to the ISR asynchronously, if its broker is
// registered.
func (p *Partition) followerFetchLocked(id int32, offset, logStart int64) {
	if p.rs == nil {
		return
	}
	startBefore := int64(-1)
	if f := p.rs.Followers[id]; f != nil {
		startBefore = f.LogStart
	}
	res := p.rs.FollowerFetch(id, offset, logStart, p.b.now())
	if res.HWMoved {
		p.hw.Store(p.rs.HW)
	}
	// A follower's new log start may complete a DeleteRecords waiting
	// for the low watermark.
	if res.HWMoved || logStart != startBefore {
		p.notify()
	}
	if res.ExpandISR && !p.isrPending {
		seq := p.beginISRChangeLocked()
		// Until the new ISR is installed (or refused), the follower
		// holds the HW as if in it (Kafka's maximal ISR).
		p.rs.SetJoining(id, true)
		st := p.state
		// Appended, as Kafka's Partition.prepareIsrExpand adds it to the
		// ISR it has: the order kafka-topics.sh --describe shows.
		from := len(p.rs.ISR)
		st.ISR = append(slices.Clone(p.rs.ISR), id)
		p.joinBase = st.Version
		p.b.spawn(func() { p.expandISR(id, st, from, seq) })
	}
}

// beginISRChangeLocked marks an ISR change based on the state in force as
// pending, and returns its number for endISRChange.
func (p *Partition) beginISRChangeLocked() uint64 {
	p.isrChange++
	p.isrPending, p.isrBase = true, p.state.Version
	return p.isrChange
}

// endISRChange ends ISR change seq: no longer pending, unless it was
// refused as stale and no newer state is in force yet (the metadata loop
// brings it), as Kafka's Partition stays pending after
// INVALID_UPDATE_VERSION until new metadata comes.
func (p *Partition) endISRChange(seq uint64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isrEnded = max(p.isrEnded, seq)
	if p.isrChange != seq {
		return
	}
	p.isrPending = errors.Is(err, metadata.ErrStaleState) && p.state.Version <= p.isrBase
}

// settleISRLocked ends a pending ISR change once a state newer than the
// one it was based on is in force: that state says whether it was made.
func (p *Partition) settleISRLocked() {
	if p.isrPending && p.state.Version > p.isrBase {
		p.isrPending = false
	}
}

// expandISR persists st, the ISR with follower id added. The follower
// holds the HW until the outcome is known, as Kafka's Partition keeps its
// PendingExpandIsr until an answer or new metadata settles it: a written
// ISR is installed; a write not made (the follower's broker is not
// registered) releases it; a write refused as stale, or of unknown
// outcome (the ZooKeeper connection dropped, the request timed out: it
// may have been applied), leaves it joining until a state newer than st
// is in force (settleJoinLocked). One of unknown outcome is tried again
// meanwhile, as Kafka's AlterPartitionManager retries.
func (p *Partition) expandISR(id int32, st metadata.PartitionState, from int, seq uint64) {
	var err error
	defer func() { p.endISRChange(seq, err) }()
	if _, alive := p.b.BrokerByID(id); !alive {
		// As Kafka (KIP-841, Partition.isReplicaIsrEligible): a follower
		// whose broker is not registered, its ZooKeeper session expired
		// while it went on fetching, rejoins once it registers again.
		// The controller takes an unregistered broker out of every ISR,
		// and the two would undo each other.
		p.mu.Lock()
		if p.rs != nil && p.rs.SetJoining(id, false) {
			p.hw.Store(p.rs.HW)
			p.notify()
		}
		p.mu.Unlock()
		return
	}
	p.b.log.Info().Str("topic", p.tp.Topic).Int32("partition", p.ID).Int32("replica", id).Ints32("isr", st.ISR).Msg("expanding ISR")
	backoff := 100 * time.Millisecond
	for {
		err = p.updateISR(st, from)
		if err == nil || errors.Is(err, metadata.ErrStaleState) || !p.basedOn(st) {
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-p.b.stop:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// basedOn reports whether the partition still leads with st's leader
// epoch and state version: no newer state has settled a change based on
// st.
func (p *Partition) basedOn(st metadata.PartitionState) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rs != nil && !p.closed && p.state.LeaderEpoch == st.LeaderEpoch && p.state.Version == st.Version
}

// settleJoinLocked ends the joining of followers whose ISR additions were
// based on a state older than the one now in force: that state says
// whether they were made.
func (p *Partition) settleJoinLocked() {
	if p.rs != nil && p.state.Version > p.joinBase && p.rs.ClearJoining() {
		p.hw.Store(p.rs.HW)
	}
}
