package broker

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"gregor/broker/records"
)

// hdr is a batch header from producer pid with n records from sequence seq.
func hdr(pid int64, seq int32, n int32, txn bool) *records.Header {
	h := &records.Header{ProducerID: pid, ProducerEpoch: 0, BaseSequence: seq, LastOffsetDelta: n - 1, NumRecords: n}
	if txn {
		h.Attributes |= records.AttrTransactional
	}
	return h
}

// Moving the log start offset forgets aborted transactions that ended
// below it, lifts an open transaction's first offset to it (so the last
// stable offset is never below the log start), and keeps every producer's
// sequence state for deduplication, as Kafka 2.4+ does.
func TestProducerStateTrimBelow(t *testing.T) {
	now := time.Now()
	ps := newProducerState()
	// Producer 1: an aborted transaction over 0-1, marker at 2.
	ps.record(hdr(1, 0, 2, true), 0, now)
	ps.endTxn(1, 0, false, 0, 2, now.UnixMilli(), now)
	// Producer 2: idempotent batch at 3-4.
	ps.record(hdr(2, 0, 2, false), 3, now)
	// Producer 3: an aborted transaction over 5-6, marker at 7.
	ps.record(hdr(3, 0, 2, true), 5, now)
	ps.endTxn(3, 0, false, 0, 7, now.UnixMilli(), now)
	// Producer 4: an open transaction from 8 to 9.
	ps.record(hdr(4, 0, 2, true), 8, now)
	if got := ps.firstUnstable(); got != 8 {
		t.Fatalf("first unstable %d before trimming, want 8", got)
	}

	ps.trimBelow(6)
	if len(ps.aborted) != 1 || ps.aborted[0].ProducerID != 3 {
		t.Fatalf("aborted after trimBelow(6): %+v, want only producer 3's (ends at 7)", ps.aborted)
	}
	if got := ps.firstUnstable(); got != 8 {
		t.Fatalf("first unstable %d after trimBelow(6), want 8 (the open transaction starts above)", got)
	}

	ps.trimBelow(9)
	if len(ps.aborted) != 0 {
		t.Fatalf("aborted after trimBelow(9): %+v, want none", ps.aborted)
	}
	if got := ps.firstUnstable(); got != 9 {
		t.Fatalf("first unstable %d after trimBelow(9), want the log start 9", got)
	}
	for _, pid := range []int64{1, 2, 3, 4} {
		if _, ok := ps.producers[pid]; !ok {
			t.Fatalf("producer %d forgotten when the log start moved", pid)
		}
	}
	// Producer 2's retry of its batch is still recognised as a duplicate.
	dup, err := ps.check(hdr(2, 0, 2, false))
	if err != nil || dup == nil || dup.FirstOffset != 3 {
		t.Fatalf("retry of producer 2's batch: duplicate %+v, %v; want the batch at 3", dup, err)
	}
	// The open transaction still ends normally.
	ps.endTxn(4, 0, true, 0, 10, now.UnixMilli(), now)
	if got := ps.firstUnstable(); got != -1 {
		t.Fatalf("first unstable %d after the commit, want -1", got)
	}
}

// A transaction whose marker is written but not yet below the high
// watermark still holds the last stable offset back, as Kafka's
// unreplicatedTxns do: a read_committed consumer (of the leader, or of a
// follower) sees its records only once the outcome is replicated.
func TestLastStableOffsetWaitsForTheMarkerToReplicate(t *testing.T) {
	now := time.Now()
	p := &Partition{producer: newProducerState()}
	p.firstUnstable.Store(-1)
	// Producer 1: a transaction over 10-12, committed by a marker at 13;
	// producer 2: an aborted one over 5-6, marker at 7.
	p.producer.record(hdr(2, 0, 2, true), 5, now)
	p.producer.endTxn(2, 0, false, 0, 7, now.UnixMilli(), now)
	p.producer.record(hdr(1, 0, 3, true), 10, now)
	p.producer.endTxn(1, 0, true, 0, 13, now.UnixMilli(), now)
	p.hw.Store(6)
	p.refreshUnstableLocked() // as after the append of the marker
	for _, c := range []struct{ hw, lso int64 }{
		{6, 5},   // neither marker replicated
		{8, 8},   // the abort's marker is below the high watermark
		{12, 10}, // the commit's is not
		{13, 10},
		{14, 14}, // both are
	} {
		p.hw.Store(c.hw)
		if got := p.LastStableOffset(); got != c.lso {
			t.Errorf("high watermark %d: last stable offset %d, want %d", c.hw, got, c.lso)
		}
	}
	// A refresh at a high watermark drops what it passed, and the rest
	// still counts.
	p.hw.Store(10)
	p.refreshUnstableLocked()
	if got := len(p.producer.ended); got != 1 {
		t.Fatalf("%d ended transactions kept at high watermark 10, want 1 (the commit's)", got)
	}
	if got := p.LastStableOffset(); got != 10 {
		t.Fatalf("last stable offset %d after the refresh, want 10", got)
	}
	p.hw.Store(14)
	if got := p.LastStableOffset(); got != 14 {
		t.Fatalf("last stable offset %d once the commit replicated, want 14", got)
	}
}

// bruteFirstUnstable is the smallest first offset of an open transaction,
// looked up in every producer.
func bruteFirstUnstable(ps *producerState) int64 {
	lso := int64(-1)
	for _, e := range ps.producers {
		if e.TxnFirstOffset >= 0 && (lso < 0 || e.TxnFirstOffset < lso) {
			lso = e.TxnFirstOffset
		}
	}
	return lso
}

// The first unstable offset, kept by a queue of open transactions, is
// always the smallest first offset of an open one, through opens, commits,
// aborts, producers reopening, expiry, log start moves and a reload from a
// snapshot; and the queue stays bounded by the open transactions.
func TestFirstUnstableMatchesEveryProducer(t *testing.T) {
	now := time.Now()
	ps := newProducerState()
	rng := rand.New(rand.NewPCG(1, 2))
	off, start := int64(0), int64(0)
	seq := map[int64]int32{}
	for step := range 20000 {
		pid := rng.Int64N(300)
		switch r := rng.IntN(100); {
		case r < 55:
			ps.record(hdr(pid, seq[pid], 1, true), off, now)
			seq[pid]++
			off++
		case r < 90:
			ps.endTxn(pid, 0, r < 75, 0, off, now.UnixMilli(), now)
			off++
		case r < 95:
			start = min(off, start+rng.Int64N(40))
			ps.trimBelow(start)
		case r < 97:
			ps.expire(now) // only producers with nothing open go
			seq = map[int64]int32{}
			for id := range ps.producers {
				seq[id] = ps.producers[id].lastSeq() + 1
			}
		default:
			// Reload: the open transactions come back from the
			// snapshot's producers.
			re := newProducerState()
			for id, e := range ps.producers {
				c := *e
				re.producers[id] = &c
				if c.TxnFirstOffset >= 0 {
					re.open++
					re.openq = append(re.openq, openTxn{c.TxnFirstOffset, id})
				}
			}
			slices.SortFunc(re.openq, func(a, b openTxn) int { return cmp.Compare(a.first, b.first) })
			ps = re
		}
		if got, want := ps.firstUnstable(), bruteFirstUnstable(ps); got != want {
			t.Fatalf("step %d: first unstable %d, want %d", step, got, want)
		}
		if len(ps.openq) > 2*ps.open+64 {
			t.Fatalf("step %d: %d queued for %d open transactions", step, len(ps.openq), ps.open)
		}
	}
}

// BenchmarkTxnAppendManyProducers is a transactional append and the first
// unstable offset it updates, with 100,000 idle producers in the partition
// (they used to be scanned on every transactional append).
func BenchmarkTxnAppendManyProducers(b *testing.B) {
	now := time.Now()
	ps := newProducerState()
	for pid := range int64(100000) {
		ps.record(hdr(pid, 0, 1, false), pid, now)
	}
	off := int64(100000)
	const txnPid = 1 << 40
	var seq int32
	b.ReportAllocs()
	for b.Loop() {
		ps.record(hdr(txnPid, seq, 1, true), off, now)
		seq++
		off++
		if ps.firstUnstable() < 0 {
			b.Fatal("no open transaction")
		}
		ps.endTxn(txnPid, 0, true, 0, off, now.UnixMilli(), now)
		off++
		ps.firstUnstable()
		ps.ended = ps.ended[:0]
	}
}
