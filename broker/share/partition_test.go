package share

// State-machine tests of a share partition: inputs (acquisitions of what
// the log holds, acknowledgements, the clock) and the states they lead
// to, as Kafka's SharePartition behaves.

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const lock = 30000 // ms

func data(first, last int64) Span { return Span{First: first, Last: last} }

func acquire(p *Partition, member string, now int64, max int, spans ...Span) []Run {
	from := int64(0)
	if len(spans) > 0 {
		from = spans[0].First
	}
	return p.Acquire(AcquireRequest{Member: member, From: from, Spans: spans, MaxRecords: max, Now: now, LockMs: lock})
}

// describe renders the window as runs of "first-last:State/count".
func describe(p *Partition) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%d,%d)", p.Start(), p.End())
	var run struct {
		first, last int64
		st          State
		n           int16
	}
	flush := func() {
		if run.last >= run.first && run.last >= 0 && run.first >= p.Start() {
			fmt.Fprintf(&b, " %d-%d:%s/%d", run.first, run.last, run.st, run.n)
		}
	}
	run.first, run.last = 0, -1
	for o := p.Start(); o < p.End(); o++ {
		st, n := p.StateOf(o)
		if run.last == o-1 && run.st == st && run.n == n {
			run.last = o
			continue
		}
		flush()
		run.first, run.last, run.st, run.n = o, o, st, n
	}
	flush()
	return b.String()
}

func want(t *testing.T, p *Partition, exp string) {
	t.Helper()
	if got := describe(p); got != exp {
		t.Fatalf("window\n got %s\nwant %s", got, exp)
	}
}

func runs(rs []Run) string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%d-%d/%d", r.First, r.Last, r.Count))
	}
	return strings.Join(out, " ")
}

func ack(p *Partition, member string, first, last int64, t ...AckType) error {
	return p.Acknowledge(member, []Ack{{First: first, Last: last, Types: t}}, false, 0, lock)
}

// Two members acquiring from the same log get different records; what one
// holds is not delivered to the other.
func TestAcquireGivesEachMemberDifferentRecords(t *testing.T) {
	p := New(Config{MaxInFlight: 100, MaxDeliveries: 5}, 0, nil)
	got := acquire(p, "m1", 0, 4, data(0, 9))
	if runs(got) != "0-3/1" {
		t.Fatalf("m1 got %s", runs(got))
	}
	got = acquire(p, "m2", 0, 100, data(0, 9))
	if runs(got) != "4-9/1" {
		t.Fatalf("m2 got %s", runs(got))
	}
	if got = acquire(p, "m3", 0, 100, data(0, 9)); len(got) != 0 {
		t.Fatalf("m3 got %s of records others hold", runs(got))
	}
	want(t, p, "[0,10) 0-9:Acquired/1")
	if h := p.Holders(); h["m1"] != 4 || h["m2"] != 6 {
		t.Fatalf("holders %v", h)
	}
}

// Accept and Reject finish records and move the start offset past them;
// Release makes a record available again, delivered with a higher count.
func TestAcknowledgeTypes(t *testing.T) {
	p := New(Config{MaxInFlight: 100, MaxDeliveries: 5}, 0, nil)
	acquire(p, "m1", 0, 100, data(0, 5))
	if err := p.Acknowledge("m1", []Ack{
		{First: 0, Last: 1, Types: []AckType{AckAccept}},
		{First: 2, Last: 4, Types: []AckType{AckReject, AckRelease, AckGap}},
	}, false, 0, lock); err != nil {
		t.Fatal(err)
	}
	want(t, p, "[3,6) 3-3:Available/1 4-4:Archived/1 5-5:Acquired/1")
	if p.NextFetchOffset() != 3 {
		t.Fatalf("next fetch offset %d", p.NextFetchOffset())
	}
	got := acquire(p, "m2", 10, 100, data(0, 5), data(6, 7))
	if runs(got) != "3-3/2 6-7/1" {
		t.Fatalf("redelivery got %s", runs(got))
	}
	// The rejected record (2) and the gap (4) are never delivered again.
	if err := ack(p, "m2", 3, 3, AckAccept); err != nil {
		t.Fatal(err)
	}
	if err := ack(p, "m1", 5, 5, AckAccept); err != nil {
		t.Fatal(err)
	}
	want(t, p, "[6,8) 6-7:Acquired/1")
}

// An acknowledgement is all or nothing: one offset the member does not
// hold refuses the whole of it, and bad types are refused before any.
func TestAcknowledgeAllOrNothing(t *testing.T) {
	p := New(Config{MaxInFlight: 100, MaxDeliveries: 5}, 0, nil)
	acquire(p, "m1", 0, 3, data(0, 9))
	acquire(p, "m2", 0, 3, data(0, 9))
	err := p.Acknowledge("m1", []Ack{{First: 0, Last: 2, Types: []AckType{AckAccept}}, {First: 3, Last: 3, Types: []AckType{AckAccept}}}, false, 0, lock)
	if !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("acking another member's record: %v", err)
	}
	want(t, p, "[0,6) 0-5:Acquired/1")
	for _, bad := range []Ack{
		{First: 0, Last: 2, Types: []AckType{AckAccept, AckAccept}},
		{First: 0, Last: 0, Types: []AckType{9}},
		{First: 0, Last: 0, Types: []AckType{AckRenew}}, // renew needs IsRenewAck
		{First: 2, Last: 1, Types: []AckType{AckAccept}},
	} {
		if err := p.Acknowledge("m1", []Ack{bad}, false, 0, lock); !errors.Is(err, ErrInvalidAck) {
			t.Errorf("%+v: %v, want an invalid acknowledgement", bad, err)
		}
	}
	if err := ack(p, "m1", 0, 2, AckAccept); err != nil {
		t.Fatal(err)
	}
	want(t, p, "[3,6) 3-5:Acquired/1")
}

// An acknowledgement is looked up as Kafka's SharePartition finds its
// in-flight batches: offsets never delivered (past the last one) are an
// invalid request, offsets all below the start offset (acknowledged
// already, say by the member a lock expiry handed them to) are not
// acquired, and the part below the start of a batch reaching above it is
// ignored. Gregor ignored a batch wholly below the start (success) and
// called offsets never delivered not acquired.
func TestAcknowledgeOutsideTheWindow(t *testing.T) {
	p := New(Config{MaxInFlight: 100, MaxDeliveries: 5}, 0, nil)
	acquire(p, "m1", 0, 6, data(0, 9))
	for _, a := range []Ack{{First: 7, Last: 7}, {First: 6, Last: 6}, {First: 4, Last: 8}} {
		a.Types = []AckType{AckAccept}
		if err := p.Acknowledge("m1", []Ack{a}, false, 0, lock); !errors.Is(err, ErrInvalidAck) {
			t.Errorf("acking %d-%d past the last delivered offset (5): %v, want an invalid request", a.First, a.Last, err)
		}
	}
	if err := ack(p, "m1", 0, 2, AckAccept); err != nil {
		t.Fatal(err)
	}
	if err := ack(p, "m1", 0, 2, AckAccept); !errors.Is(err, ErrInvalidRecordState) {
		t.Errorf("acking again offsets below the start offset: %v, want not acquired", err)
	}
	if err := ack(p, "m1", 1, 3, AckAccept); err != nil {
		t.Errorf("acking 1-3 with the start offset at 3: %v", err)
	}
	want(t, p, "[4,6) 4-5:Acquired/1")
}

// A lock that expires makes its records available; the count goes on.
func TestLockExpiryRedelivers(t *testing.T) {
	p := New(Config{MaxInFlight: 100, MaxDeliveries: 5}, 0, nil)
	acquire(p, "m1", 1000, 100, data(0, 2))
	if d, ok := p.NextDeadline(); !ok || d != 1000+lock {
		t.Fatalf("deadline %d %v", d, ok)
	}
	if n := p.Expire(1000 + lock - 1); n != 0 {
		t.Fatalf("expired %d before the deadline", n)
	}
	if n := p.Expire(1000 + lock); n != 3 {
		t.Fatalf("expired %d at the deadline", n)
	}
	want(t, p, "[0,3) 0-2:Available/1")
	if _, ok := p.NextDeadline(); ok {
		t.Fatal("a deadline with nothing held")
	}
	if err := ack(p, "m1", 0, 0, AckAccept); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("acking after the lock expired: %v", err)
	}
	got := acquire(p, "m2", 40000, 100, data(0, 2))
	if runs(got) != "0-2/2" {
		t.Fatalf("after expiry got %s", runs(got))
	}
}

// A record delivered as often as group.share.delivery.count.limit allows is
// archived when it comes back, by release or by expiry (a poison record).
func TestDeliveryLimitArchives(t *testing.T) {
	p := New(Config{MaxInFlight: 100, MaxDeliveries: 3}, 0, nil)
	now := int64(0)
	for i := 1; i <= 3; i++ {
		got := acquire(p, "m1", now, 100, data(0, 1))
		if runs(got) != fmt.Sprintf("0-1/%d", i) {
			t.Fatalf("delivery %d got %s", i, runs(got))
		}
		if i < 3 {
			if err := ack(p, "m1", 0, 0, AckRelease); err != nil {
				t.Fatal(err)
			}
			now += lock
			p.Expire(now) // offset 1 by expiry
		}
	}
	if err := ack(p, "m1", 0, 0, AckRelease); err != nil {
		t.Fatal(err)
	}
	want(t, p, "[1,2) 1-1:Acquired/3")
	p.Expire(now + lock)
	want(t, p, "[2,2)")
	if got := acquire(p, "m2", now+lock, 100, data(0, 1)); len(got) != 0 {
		t.Fatalf("archived records delivered again: %s", runs(got))
	}
	// A restored record already at the limit is archived, not delivered.
	q := New(Config{MaxInFlight: 100, MaxDeliveries: 3}, 0, []Batch{{First: 0, Last: 0, State: Available, Count: 3}})
	if got := acquire(q, "m1", 0, 100, data(0, 1)); runs(got) != "1-1/1" {
		t.Fatalf("restored at the limit: got %s", runs(got))
	}
}

// Past group.share.partition.max.record.locks in flight no new record is
// delivered; acknowledging the oldest makes room.
func TestInFlightLimit(t *testing.T) {
	p := New(Config{MaxInFlight: 5, MaxDeliveries: 5}, 0, nil)
	if got := acquire(p, "m1", 0, 100, data(0, 9)); runs(got) != "0-4/1" {
		t.Fatalf("got %s", runs(got))
	}
	if p.CanAcquire() {
		t.Fatal("room with 5 in flight of 5")
	}
	if got := acquire(p, "m2", 0, 100, data(0, 9)); len(got) != 0 {
		t.Fatalf("past the limit got %s", runs(got))
	}
	// Acknowledging records behind the start does not make room...
	if err := ack(p, "m1", 2, 4, AckAccept); err != nil {
		t.Fatal(err)
	}
	if got := acquire(p, "m2", 0, 100, data(0, 9)); len(got) != 0 {
		t.Fatalf("room without the start moving: %s", runs(got))
	}
	// ...releasing inside the window redelivers, limit or not...
	if err := ack(p, "m1", 1, 1, AckRelease); err != nil {
		t.Fatal(err)
	}
	if got := acquire(p, "m2", 0, 100, data(0, 9)); runs(got) != "1-1/2" {
		t.Fatalf("redelivery in a full window: %s", runs(got))
	}
	// ...and moving the start does.
	if err := ack(p, "m1", 0, 0, AckAccept); err != nil {
		t.Fatal(err)
	}
	want(t, p, "[1,5) 1-1:Acquired/2 2-4:Acknowledged/1")
	if got := acquire(p, "m3", 0, 100, data(0, 9)); runs(got) != "5-5/1" {
		t.Fatalf("after the start moved: %s", runs(got))
	}
}

// Transaction markers, records of aborted transactions (read_committed)
// and offsets compaction removed are archived, never delivered, and the
// start offset moves past them.
func TestSkippedAndMissingOffsetsArchived(t *testing.T) {
	p := New(Config{MaxInFlight: 100, MaxDeliveries: 5}, 0, nil)
	got := p.Acquire(AcquireRequest{Member: "m1", From: 0, MaxRecords: 100, Now: 0, LockMs: lock, Spans: []Span{
		{First: 0, Last: 2, Skip: true}, // aborted transaction
		{First: 3, Last: 3, Skip: true}, // its abort marker
		data(4, 5),
		// 6-7 compacted away
		data(8, 9),
	}})
	if runs(got) != "4-5/1 8-9/1" {
		t.Fatalf("got %s", runs(got))
	}
	want(t, p, "[4,10) 4-5:Acquired/1 6-7:Archived/0 8-9:Acquired/1")
	if err := ack(p, "m1", 4, 5, AckAccept); err != nil {
		t.Fatal(err)
	}
	want(t, p, "[8,10) 8-9:Acquired/1")
	// An available record that is gone from the log (compacted after it
	// was released) is archived when a read passes over it.
	q := New(Config{MaxInFlight: 100, MaxDeliveries: 5}, 0, nil)
	acquire(q, "m1", 0, 100, data(0, 4))
	q.Acknowledge("m1", []Ack{{First: 0, Last: 4, Types: []AckType{AckRelease}}}, false, 0, lock)
	got = q.Acquire(AcquireRequest{Member: "m1", From: 0, Spans: []Span{data(3, 4)}, MaxRecords: 100, LockMs: lock})
	if runs(got) != "3-4/2" {
		t.Fatalf("got %s", runs(got))
	}
	want(t, q, "[3,5) 3-4:Acquired/2")
}

// MaxRecords bounds an acquisition; the rest stays available.
func TestAcquireMaxRecords(t *testing.T) {
	p := New(Config{MaxInFlight: 100, MaxDeliveries: 5}, 0, nil)
	if got := acquire(p, "m1", 0, 3, data(0, 9)); runs(got) != "0-2/1" {
		t.Fatalf("got %s", runs(got))
	}
	if got := acquire(p, "m1", 0, 0, data(0, 9)); runs(got) != "3-3/1" {
		t.Fatalf("max 0 acquires one: %s", runs(got))
	}
}

// Renew (KIP-1222) keeps records acquired past their first deadline.
func TestRenewExtendsLock(t *testing.T) {
	p := New(Config{MaxInFlight: 100, MaxDeliveries: 5}, 0, nil)
	acquire(p, "m1", 0, 100, data(0, 3))
	if err := p.Acknowledge("m1", []Ack{{First: 1, Last: 2, Types: []AckType{AckRenew}}}, true, 20000, lock); err != nil {
		t.Fatal(err)
	}
	if n := p.Expire(lock); n != 2 {
		t.Fatalf("expired %d at the first deadline, want the 2 not renewed", n)
	}
	want(t, p, "[0,4) 0-0:Available/1 1-2:Acquired/1 3-3:Available/1")
	if n := p.Expire(20000 + lock); n != 2 {
		t.Fatalf("expired %d at the renewed deadline", n)
	}
}

// A member whose session ends gives back what it holds at once.
func TestReleaseMember(t *testing.T) {
	p := New(Config{MaxInFlight: 100, MaxDeliveries: 5}, 0, nil)
	acquire(p, "m1", 0, 2, data(0, 9))
	acquire(p, "m2", 0, 2, data(0, 9))
	if n := p.ReleaseMember("m1"); n != 2 {
		t.Fatalf("released %d", n)
	}
	// Fetched, never delivered: the session's delivery is taken back.
	want(t, p, "[0,4) 0-1:Available/0 2-3:Acquired/1")
	if got := acquire(p, "m3", 0, 100, data(0, 4)); runs(got) != "0-1/1 4-4/1" {
		t.Fatalf("got %s", runs(got))
	}
	// At the delivery limit a session's end archives nothing (a lock
	// expiry would).
	q := New(Config{MaxInFlight: 100, MaxDeliveries: 1}, 0, nil)
	acquire(q, "m1", 0, 100, data(0, 0))
	q.ReleaseMember("m1")
	want(t, q, "[0,1) 0-0:Available/0")
}

// Retention or DeleteRecords moving the log start moves the start offset,
// dropping whatever lay below it.
func TestMoveStart(t *testing.T) {
	p := New(Config{MaxInFlight: 100, MaxDeliveries: 5}, 0, nil)
	acquire(p, "m1", 0, 100, data(0, 5))
	p.MoveStart(3)
	want(t, p, "[3,6) 3-5:Acquired/1")
	if err := ack(p, "m1", 0, 5, AckAccept); err != nil {
		t.Fatalf("acking across the new start: %v", err)
	}
	p.MoveStart(1_000_000)
	want(t, p, "[1000000,1000000)")
	if got := acquire(p, "m1", 0, 100, data(1_000_000, 1_000_001)); runs(got) != "1000000-1000001/1" {
		t.Fatalf("got %s", runs(got))
	}
}

// What changed is written as Kafka's state batches (acquired records as
// available with their count), and a partition restored from the written
// state has the same states: nothing acknowledged comes back, what was
// not is delivered again.
func TestWriteAndRestore(t *testing.T) {
	cfg := Config{MaxInFlight: 100, MaxDeliveries: 5}
	p := New(cfg, 0, nil)
	var persisted []Write
	take := func() {
		if w, ok := p.TakeWrite(); ok {
			persisted = append(persisted, w)
		}
	}
	acquire(p, "m1", 0, 100, data(0, 9))
	take() // nothing: acquisitions are not persisted
	if len(persisted) != 0 {
		t.Fatalf("acquisition persisted: %+v", persisted)
	}
	p.Acknowledge("m1", []Ack{{First: 0, Last: 2, Types: []AckType{AckAccept}}, {First: 5, Last: 6, Types: []AckType{AckReject, AckRelease}}}, false, 0, lock)
	take()
	if w := persisted[0]; w.Start != 3 || fmt.Sprint(w.Batches) != "[{5 5 Archived 1} {6 6 Available 1}]" {
		t.Fatalf("first write %+v", w)
	}
	p.Acknowledge("m1", []Ack{{First: 8, Last: 8, Types: []AckType{AckAccept}}}, false, 0, lock)
	p.Expire(lock) // 3, 4, 7, 9 come back with count 1
	take()
	if _, ok := p.TakeWrite(); ok {
		t.Fatal("a second write with nothing new")
	}
	// Replay the writes as the share coordinator combines them.
	start, state := int64(0), map[int64]Batch{}
	for _, w := range persisted {
		start = w.Start
		for _, b := range w.Batches {
			for o := b.First; o <= b.Last; o++ {
				state[o] = Batch{First: o, Last: o, State: b.State, Count: b.Count}
			}
		}
	}
	var batches []Batch
	for o := start; o < 10; o++ {
		if b, ok := state[o]; ok {
			batches = append(batches, b)
		}
	}
	q := New(cfg, start, batches)
	want(t, q, describe(p))
	want(t, q, "[3,10) 3-4:Available/1 5-5:Archived/1 6-7:Available/1 8-8:Acknowledged/1 9-9:Available/1")
	if got := acquire(q, "m2", 0, 100, data(0, 9), data(10, 10)); runs(got) != "3-4/2 6-7/2 9-9/2 10-10/1" {
		t.Fatalf("after restore got %s", runs(got))
	}
	// The snapshot is the whole window.
	if s := q.Snapshot(); s.Start != 3 || len(s.Batches) != 6 {
		t.Fatalf("snapshot %+v", s)
	}
}

// A write that could not be persisted is written again with the next.
func TestUnwrittenIsWrittenAgain(t *testing.T) {
	p := New(Config{MaxInFlight: 100, MaxDeliveries: 5}, 0, nil)
	acquire(p, "m1", 0, 100, data(0, 3))
	ack(p, "m1", 1, 1, AckAccept)
	w, _ := p.TakeWrite()
	p.Unwritten(w)
	ack(p, "m1", 0, 0, AckAccept)
	w2, ok := p.TakeWrite()
	if !ok || w2.Start != 2 {
		t.Fatalf("rewrite %+v", w2)
	}
}

// Restored state: offsets between the start and the last batch that no
// batch names were never delivered (Kafka's gap window).
func TestRestoreGapsAreAvailable(t *testing.T) {
	p := New(Config{MaxInFlight: 100, MaxDeliveries: 5}, 10, []Batch{
		{First: 5, Last: 11, State: Acknowledged, Count: 1}, // partly below the start
		{First: 14, Last: 14, State: Archived, Count: 2},
	})
	want(t, p, "[12,15) 12-13:Available/0 14-14:Archived/2")
	if p.NextFetchOffset() != 12 {
		t.Fatalf("next fetch %d", p.NextFetchOffset())
	}
}

// Acknowledgement batches in one request come in offset order: one that
// starts before the previous batch's last offset is refused and nothing
// is applied (Kafka's validateAcknowledgementBatches).
func TestAcknowledgeBatchesInOrder(t *testing.T) {
	p := New(Config{MaxInFlight: 100, MaxDeliveries: 5}, 0, nil)
	acquire(p, "m1", 0, 100, data(0, 5))
	for _, acks := range [][]Ack{
		{{First: 0, Last: 2, Types: []AckType{AckAccept}}, {First: 1, Last: 1, Types: []AckType{AckReject}}},
		{{First: 5, Last: 5, Types: []AckType{AckAccept}}, {First: 3, Last: 4, Types: []AckType{AckAccept}}},
	} {
		if err := p.Acknowledge("m1", acks, false, 0, 1000); !errors.Is(err, ErrInvalidAck) {
			t.Fatalf("acks %v: %v, want ErrInvalidAck", acks, err)
		}
	}
	want(t, p, "[0,6) 0-5:Acquired/1")
	ok := []Ack{{First: 0, Last: 2, Types: []AckType{AckAccept}}, {First: 3, Last: 5, Types: []AckType{AckAccept}}}
	if err := p.Acknowledge("m1", ok, false, 0, 1000); err != nil {
		t.Fatalf("batches in order: %v", err)
	}
}

// With WholeBatches (Kafka's batch_optimized acquire mode) a batch begun
// is acquired to its end past MaxRecords, and no further batch is begun;
// without it (record_limit) MaxRecords is exact.
func TestAcquireWholeBatches(t *testing.T) {
	p := New(Config{MaxInFlight: 100, MaxDeliveries: 5}, 0, nil)
	got := p.Acquire(AcquireRequest{Member: "m1", From: 0, Spans: []Span{{First: 0, Last: 9}, {First: 10, Last: 19}},
		MaxRecords: 3, WholeBatches: true, Now: 0, LockMs: lock})
	if runs(got) != "0-9/1" {
		t.Fatalf("batch_optimized acquired %s, want the first batch whole", runs(got))
	}
	if got := acquire(p, "m2", 0, 3, Span{First: 10, Last: 19}); runs(got) != "10-12/1" {
		t.Fatalf("record_limit acquired %s, want 3 records", runs(got))
	}
}

// A pending acknowledgement rolled back (its write failed) gives the
// records back to the member as acquired, the start offset with them; a
// record whose lock ended meanwhile is released as an expiry would, and
// one released and acquired by another member since stays theirs.
func TestAcknowledgeRollback(t *testing.T) {
	p := New(Config{MaxInFlight: 100, MaxDeliveries: 5}, 0, nil)
	acquire(p, "m1", 0, 2, data(0, 1))
	acquire(p, "m1", 10, 2, data(2, 3))
	u, err := p.AcknowledgePending("m1", []Ack{
		{First: 0, Last: 1, Types: []AckType{AckAccept}},
		{First: 2, Last: 3, Types: []AckType{AckRelease, AckAccept}},
	}, false, 20, lock)
	if err != nil {
		t.Fatal(err)
	}
	want(t, p, "[2,4) 2-2:Available/1 3-3:Acknowledged/1")
	acquire(p, "m2", 20, 1, data(2, 2)) // the released record, taken by m2
	p.Expire(lock + 5)                  // m1's first lock (0-1) ends
	if n := p.Rollback(u); n != 3 {
		t.Fatalf("rolled back %d offsets, want 3 (0, 1 and 3)", n)
	}
	want(t, p, "[0,4) 0-1:Available/1 2-2:Acquired/2 3-3:Acquired/1")
	if err := p.Acknowledge("m1", []Ack{{First: 3, Last: 3, Types: []AckType{AckAccept}}}, false, 30, lock); err != nil {
		t.Fatalf("acknowledging again what was rolled back: %v", err)
	}
}
