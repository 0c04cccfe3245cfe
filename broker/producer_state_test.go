package broker

import (
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
