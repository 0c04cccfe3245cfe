package broker

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/wait"
)

// sessionFetch builds a Fetch v12 of topic t's partitions at offsets
// (partition -> offset), with a session id and epoch.
func sessionFetchReq(id, epoch int32, maxBytes int32, t string, offsets map[int32]int64, forget ...int32) *kmsg.FetchRequest {
	r := kmsg.NewPtrFetchRequest()
	r.SetVersion(12)
	r.ReplicaID, r.MaxBytes, r.MinBytes, r.MaxWaitMillis = -1, maxBytes, 0, 0
	r.SessionID, r.SessionEpoch = id, epoch
	if len(offsets) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = t
		for p := int32(0); p < 64; p++ {
			off, ok := offsets[p]
			if !ok {
				continue
			}
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
	if len(forget) > 0 {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.Partitions = t, forget
		r.ForgottenTopics = append(r.ForgottenTopics, ft)
	}
	return r
}

// answered lists the partitions a fetch response answers, with whether
// each has records.
func answered(resp *kmsg.FetchResponse) map[int32]bool {
	out := map[int32]bool{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[p.Partition] = len(p.RecordBatches) > 0
		}
	}
	return out
}

func (tb *testBroker) fetch(r *kmsg.FetchRequest) *kmsg.FetchResponse {
	tb.t.Helper()
	return tb.call(r).(*kmsg.FetchResponse)
}

func TestFetchSessionFullThenIncremental(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("s", 3, nil)
	now := time.Now().UnixMilli()
	tb.produce("s", 0, batch(t, now, "a"))

	full := tb.fetch(sessionFetchReq(0, 0, 1<<20, "s", map[int32]int64{0: 0, 1: 0, 2: 0}))
	if full.ErrorCode != 0 || full.SessionID == 0 {
		t.Fatalf("full fetch: error %d, session %d; want a session", full.ErrorCode, full.SessionID)
	}
	if got := answered(full); len(got) != 3 || !got[0] {
		t.Fatalf("full response answers %v, want all three, 0 with records", got)
	}
	id := full.SessionID

	// Nothing changed: an incremental response lists no partition.
	inc := tb.fetch(sessionFetchReq(id, 1, 1<<20, "s", map[int32]int64{0: 1}))
	if inc.ErrorCode != 0 || inc.SessionID != id || len(answered(inc)) != 0 {
		t.Fatalf("idle incremental: error %d, session %d, answers %v; want none", inc.ErrorCode, inc.SessionID, answered(inc))
	}
	// New data on partition 1 only: only it is answered, with its
	// records, fetched from the cached offset (0) though not asked.
	tb.produce("s", 1, batch(t, now, "b"))
	inc = tb.fetch(sessionFetchReq(id, 2, 1<<20, "s", nil))
	if got := answered(inc); len(got) != 1 || !got[1] {
		t.Fatalf("incremental after a produce to 1 answers %v, want only 1 with records", got)
	}
	// The client moves 1's offset on: nothing changed.
	inc = tb.fetch(sessionFetchReq(id, 3, 1<<20, "s", map[int32]int64{1: 1}))
	if got := answered(inc); len(got) != 0 {
		t.Fatalf("incremental after moving 1's offset answers %v, want none", got)
	}
	// A replayed epoch is refused; the session stays usable.
	if bad := tb.fetch(sessionFetchReq(id, 3, 1<<20, "s", nil)); bad.ErrorCode != kerr.InvalidFetchSessionEpoch.Code || len(bad.Topics) != 0 {
		t.Fatalf("replayed epoch: error %d, want INVALID_FETCH_SESSION_EPOCH without partitions", bad.ErrorCode)
	}
	if ok := tb.fetch(sessionFetchReq(id, 4, 1<<20, "s", nil)); ok.ErrorCode != 0 {
		t.Fatalf("next epoch after a refused one: error %d", ok.ErrorCode)
	}
	// Topic ids with a session made without them.
	v13 := sessionFetchReq(id, 5, 1<<20, "s", nil)
	v13.SetVersion(13)
	if bad := tb.fetch(v13); bad.ErrorCode != kerr.FetchSessionTopicIDError.Code {
		t.Fatalf("v13 on a v12 session: error %d, want FETCH_SESSION_TOPIC_ID_ERROR", bad.ErrorCode)
	}
	// Forgetting partition 1: new data there is no longer answered.
	tb.produce("s", 1, batch(t, now, "c"))
	tb.produce("s", 2, batch(t, now, "d"))
	inc = tb.fetch(sessionFetchReq(id, 5, 1<<20, "s", nil, 1))
	if got := answered(inc); len(got) != 1 || !got[2] {
		t.Fatalf("after forgetting 1, answers %v, want only 2", got)
	}
	// Epoch -1 closes the session: the fetch is sessionless and the id
	// is gone.
	closing := tb.fetch(sessionFetchReq(id, -1, 1<<20, "s", map[int32]int64{0: 0}))
	if closing.ErrorCode != 0 || closing.SessionID != 0 || len(answered(closing)) != 1 {
		t.Fatalf("closing fetch: error %d, session %d, answers %v", closing.ErrorCode, closing.SessionID, answered(closing))
	}
	if bad := tb.fetch(sessionFetchReq(id, 6, 1<<20, "s", nil)); bad.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("closed session: error %d, want FETCH_SESSION_ID_NOT_FOUND", bad.ErrorCode)
	}
	if tb.sessions.Len() != 0 {
		t.Fatalf("%d sessions cached after closing the only one", tb.sessions.Len())
	}
}

func TestFetchSessionErrorsAndSessionless(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("s", 1, nil)
	if bad := tb.fetch(sessionFetchReq(12345, 1, 1<<20, "s", nil)); bad.ErrorCode != kerr.FetchSessionIDNotFound.Code || bad.SessionID != 0 {
		t.Fatalf("unknown session: error %d session %d", bad.ErrorCode, bad.SessionID)
	}
	// Sessionless (id 0, epoch -1): no session, full response.
	r := tb.fetch(sessionFetchReq(0, -1, 1<<20, "s", map[int32]int64{0: 0}))
	if r.SessionID != 0 || len(answered(r)) != 1 || tb.sessions.Len() != 0 {
		t.Fatalf("sessionless: session %d, answers %v, %d cached", r.SessionID, answered(r), tb.sessions.Len())
	}
	// Forgetting every partition closes the session.
	full := tb.fetch(sessionFetchReq(0, 0, 1<<20, "s", map[int32]int64{0: 0}))
	last := tb.fetch(sessionFetchReq(full.SessionID, 1, 1<<20, "s", nil, 0))
	if last.ErrorCode != 0 || last.SessionID != 0 || tb.sessions.Len() != 0 {
		t.Fatalf("emptied session: error %d, session %d, %d cached", last.ErrorCode, last.SessionID, tb.sessions.Len())
	}
}

// TestFetchSessionRotatesAnsweredPartitions: partitions answered by an
// incremental fetch go to the end of the session's order, so another
// partition gets the next response's bytes.
func TestFetchSessionRotatesAnsweredPartitions(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("r", 2, nil)
	now := time.Now().UnixMilli()
	tb.produce("r", 0, batch(t, now, "a"))
	tb.produce("r", 1, batch(t, now, "b"))
	full := tb.fetch(sessionFetchReq(0, 0, 1, "r", map[int32]int64{0: 0, 1: 0}))
	if got := answered(full); !got[0] || got[1] {
		t.Fatalf("full fetch of 1 byte: %v, want records for 0 only (KIP-74)", got)
	}
	id := full.SessionID
	// Order 0, 1: 0's batch again (its offset was not moved on).
	if got := answered(tb.fetch(sessionFetchReq(id, 1, 1, "r", nil))); !got[0] || len(got) != 1 {
		t.Fatalf("first incremental answers %v, want 0 with records", got)
	}
	// 0 was answered and went to the end: 1 comes first now.
	if got := answered(tb.fetch(sessionFetchReq(id, 2, 1, "r", nil))); !got[1] || len(got) != 1 {
		t.Fatalf("second incremental answers %v, want 1 with records (rotation)", got)
	}
}

// TestFetchSessionRotationDoesNotStarveBudgetLeftPartition: a partition
// answered only for its moved high watermark (the byte budget went to the
// partition before it) keeps its place; only partitions that returned
// records go to the end, as Kafka's IncrementalFetchContext moves them.
// Moving it too kept it behind the other for ever: it never got records.
func TestFetchSessionRotationDoesNotStarveBudgetLeftPartition(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("st", 2, nil)
	now := time.Now().UnixMilli()
	tb.produce("st", 0, batch(t, now, "a"))
	tb.produce("st", 1, batch(t, now, "b"))
	full := tb.fetch(sessionFetchReq(0, 0, 1, "st", map[int32]int64{0: 0, 1: 0}))
	if got := answered(full); !got[0] || got[1] {
		t.Fatalf("full fetch of 1 byte: %v, want records for 0 only (KIP-74)", got)
	}
	id := full.SessionID
	// Both grow: 0 gets the bytes, 1 is answered for its high watermark
	// only. Order 0, 1 becomes 1, 0.
	tb.produce("st", 0, batch(t, now, "c"))
	tb.produce("st", 1, batch(t, now, "d"))
	if got := answered(tb.fetch(sessionFetchReq(id, 1, 1, "st", nil))); !got[0] || got[1] || len(got) != 2 {
		t.Fatalf("first incremental answers %v, want 0 with records and 1 without", got)
	}
	if got := answered(tb.fetch(sessionFetchReq(id, 2, 1, "st", nil))); !got[1] {
		t.Fatalf("second incremental answers %v, want 1 with records: 1 was left without bytes and must come first", got)
	}
}

// TestFetchSessionDuplicateDuringLongPoll: a fetch waiting for data whose
// session moves on meanwhile answers INVALID_FETCH_SESSION_EPOCH, as
// Kafka's IncrementalFetchContext does.
func TestFetchSessionDuplicateDuringLongPoll(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("d", 1, nil)
	full := tb.fetch(sessionFetchReq(0, 0, 1<<20, "d", map[int32]int64{0: 0}))
	id := full.SessionID
	waiting := sessionFetchReq(id, 1, 1<<20, "d", nil)
	waiting.MinBytes, waiting.MaxWaitMillis = 1, 20000
	var wg sync.WaitGroup
	var resp *kmsg.FetchResponse
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp = tb.fetch(waiting)
	}()
	wait.For(t, "the session to move to epoch 2", 10*time.Second, func() bool {
		tb.sessions.mu.Lock()
		defer tb.sessions.mu.Unlock()
		s := tb.sessions.byID[id]
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.epoch == 2
	})
	if dup := tb.fetch(sessionFetchReq(id, 2, 1<<20, "d", nil)); dup.ErrorCode != 0 {
		t.Fatalf("the next epoch: error %d", dup.ErrorCode)
	}
	tb.produce("d", 0, batch(t, time.Now().UnixMilli(), "x"))
	wg.Wait()
	if resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code || len(resp.Topics) != 0 {
		t.Fatalf("overtaken long poll: error %d with %d topics, want INVALID_FETCH_SESSION_EPOCH", resp.ErrorCode, len(resp.Topics))
	}
}

// fullReq is a full fetch (epoch 0) of n partitions of topic "e", for the
// cache's own tests.
func fullReq(n int) *kmsg.FetchRequest {
	offsets := map[int32]int64{}
	for p := int32(0); p < int32(n); p++ {
		offsets[p] = 0
	}
	return sessionFetchReq(0, 0, 1<<20, "e", offsets)
}

// openAndCreate runs a full fetch through the cache as the handler does,
// answering every partition, and returns the session id.
func openAndCreate(t *testing.T, c *fetchSessions, n int, follower bool) int32 {
	t.Helper()
	r, sf, code := c.open(fullReq(n), 12, follower)
	if code != 0 || sf.kind != sessionFull {
		t.Fatalf("open: code %d kind %d", code, sf.kind)
	}
	resp := kmsg.NewPtrFetchResponse()
	rt := kmsg.NewFetchResponseTopic()
	rt.Partitions = make([]kmsg.FetchResponseTopicPartition, n)
	resp.Topics = append(resp.Topics, rt)
	sf.startRun()
	for k := range rt.Partitions {
		sf.keep(k, &rt.Partitions[k])
		sf.placed(k, 0, k)
	}
	c.finish(sf, r, resp)
	return resp.SessionID
}

// TestFetchSessionEviction follows FetchSessionCache.tryEvict: a full
// cache refuses a consumer's session while every session is recent, a
// follower's session evicts a consumer's, a session unused for two
// minutes is evicted by anyone, and once two minutes old a smaller
// consumer session gives way to a larger one (not to a smaller one).
func TestFetchSessionEviction(t *testing.T) {
	now := time.Unix(1000, 0)
	slots := 2
	c := newFetchSessions(func() int { return slots }, func() time.Time { return now })
	a := openAndCreate(t, c, 3, false)
	b := openAndCreate(t, c, 5, false)
	if a == 0 || b == 0 || a == b {
		t.Fatalf("sessions %d and %d", a, b)
	}
	if id := openAndCreate(t, c, 100, false); id != 0 {
		t.Fatal("a consumer session evicted a recent one")
	}
	f := openAndCreate(t, c, 1, true)
	if f == 0 || c.byID[a] != nil || c.byID[b] == nil {
		t.Fatalf("a follower session (%d) did not evict the smallest consumer session", f)
	}
	// Two minutes on, with b used just now: b and f are evictable by
	// size; a 1-partition consumer session is worth less than both.
	now = now.Add(sessionEvictAfter + time.Second)
	c.byID[b].lastUsed, c.byID[f].lastUsed = now, now
	if id := openAndCreate(t, c, 1, false); id != 0 {
		t.Fatal("a 1-partition consumer session evicted a 5-partition one")
	}
	if id := openAndCreate(t, c, 10, false); id == 0 || c.byID[b] != nil {
		t.Fatal("a 10-partition consumer session did not evict the old 5-partition one")
	}
	// Unused for two minutes: evicted by anything.
	now = now.Add(sessionEvictAfter + time.Second)
	c.byID[f].lastUsed = now
	if id := openAndCreate(t, c, 1, false); id == 0 || len(c.byID) != 2 || c.byID[f] == nil {
		t.Fatalf("a stale session was not evicted (%d sessions)", len(c.byID))
	}
	slots = 0
	if id := openAndCreate(t, c, 1, true); id != 0 {
		t.Fatal("a session made with no slots")
	}
}

// BenchmarkFetch2000Partitions serves a consumer of a 2,000-partition
// topic, one partition of which gets a record between fetches: full
// (sessionless) fetches naming every partition at its position, and
// incremental ones in a session naming only the partition whose position
// moved, as clients send them (KIP-227).
func BenchmarkFetch2000Partitions(b *testing.B) {
	const n = 2000
	tb := newTestBroker(b, map[string]string{"gregor.max.broker.partitions": "5000"})
	tb.createTopic("big", n, nil)
	data := batch(b, 1, "v")
	req := func(id, epoch int32, parts map[int32]int64) *kmsg.FetchRequest {
		r := sessionFetchReq(id, epoch, 1<<20, "big", nil)
		if len(parts) > 0 {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "big"
			for _, p := range slices.Sorted(maps.Keys(parts)) {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, parts[p], 1<<20
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
		return r
	}
	// positions starts the consumer at every partition's end; advance
	// moves it past what a response returned, noting what moved.
	positions := func() map[int32]int64 {
		pos := make(map[int32]int64, n)
		for i, p := range tb.Topic("big").Partitions() {
			pos[int32(i)] = p.HighWatermark()
		}
		return pos
	}
	advance := func(b *testing.B, resp *kmsg.FetchResponse, pos, moved map[int32]int64) {
		if resp.ErrorCode != 0 {
			b.Fatalf("fetch: error %d", resp.ErrorCode)
		}
		got := 0
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					b.Fatalf("fetch of big-%d: error %d", p.Partition, p.ErrorCode)
				}
				if len(p.RecordBatches) > 0 {
					pos[p.Partition], moved[p.Partition] = p.HighWatermark, p.HighWatermark
					got++
				}
			}
		}
		if got != 1 {
			b.Fatalf("a fetch after one record was produced returned %d partitions with records", got)
		}
	}
	b.Run("sessionless", func(b *testing.B) {
		pos := positions()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			tb.produce("big", int32(i%n), slices.Clone(data)) // the broker stamps the batch it appends
			advance(b, tb.fetch(req(0, -1, pos)), pos, map[int32]int64{})
		}
	})
	b.Run("incremental", func(b *testing.B) {
		pos := positions()
		resp := tb.fetch(req(0, 0, pos))
		id, epoch := resp.SessionID, int32(1)
		if id == 0 {
			b.Fatal("no fetch session created")
		}
		moved := map[int32]int64{}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			tb.produce("big", int32(i%n), slices.Clone(data))
			r := req(id, epoch, moved)
			clear(moved)
			advance(b, tb.fetch(r), pos, moved)
			epoch++
		}
	})
}

// TestFetchSessionQuietPathChangesNothing: skipping unchanged partitions
// early (quiet) answers exactly what the full path answers, through data,
// a moved log start, an offset out of range, a fenced epoch and a
// read_committed fetch.
func TestFetchSessionQuietPathChangesNothing(t *testing.T) {
	run := func(fast bool) []string {
		defer func(old bool) { quietFastPath = old }(quietFastPath)
		quietFastPath = fast
		tb := newTestBroker(t, nil)
		tb.createTopic("q", 4, nil)
		for p := int32(0); p < 4; p++ {
			tb.produce("q", p, batch(t, 1, "a", "b"))
		}
		var out []string
		record := func(r *kmsg.FetchResponse) {
			out = append(out, fmt.Sprintf("err=%d parts=%v", r.ErrorCode, answeredCodes(r)))
		}
		full := tb.fetch(sessionFetchReq(0, 0, 1<<20, "q", map[int32]int64{0: 2, 1: 2, 2: 2, 3: 2}))
		record(full)
		id, epoch := full.SessionID, int32(1)
		next := func(r *kmsg.FetchRequest) {
			r.SessionID, r.SessionEpoch = id, epoch
			epoch++
			record(tb.fetch(r))
		}
		next(sessionFetchReq(0, 0, 1<<20, "q", nil))                   // idle
		tb.produce("q", 1, batch(t, 1, "c"))                           // data on 1
		next(sessionFetchReq(0, 0, 1<<20, "q", nil))                   //
		next(sessionFetchReq(0, 0, 1<<20, "q", map[int32]int64{1: 3})) // caught up
		dr := kmsg.NewPtrDeleteRecordsRequest()
		dt := kmsg.NewDeleteRecordsRequestTopic()
		dt.Topic = "q"
		dp := kmsg.NewDeleteRecordsRequestTopicPartition()
		dp.Partition, dp.Offset = 2, 1
		dt.Partitions = append(dt.Partitions, dp)
		dr.Topics = append(dr.Topics, dt)
		tb.call(dr)                                                    // log start of 2 moves
		next(sessionFetchReq(0, 0, 1<<20, "q", nil))                   //
		next(sessionFetchReq(0, 0, 1<<20, "q", map[int32]int64{3: 9})) // out of range
		next(sessionFetchReq(0, 0, 1<<20, "q", map[int32]int64{3: 2})) // back
		fenced := sessionFetchReq(0, 0, 1<<20, "q", map[int32]int64{0: 2})
		fenced.Topics[0].Partitions[0].CurrentLeaderEpoch = 99
		next(fenced)
		rc := sessionFetchReq(0, 0, 1<<20, "q", nil)
		rc.IsolationLevel = 1
		next(rc)
		next(sessionFetchReq(0, 0, 1<<20, "q", nil))
		return out
	}
	fast, slow := run(true), run(false)
	t.Logf("%v", fast)
	if fmt.Sprint(fast) != fmt.Sprint(slow) {
		t.Fatalf("with the quiet path:\n%v\nwithout:\n%v", fast, slow)
	}
}

// answeredCodes lists the partitions a response answers with their error
// codes and whether they have records.
func answeredCodes(r *kmsg.FetchResponse) []string {
	var out []string
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			out = append(out, fmt.Sprintf("%d:%d:%v:%d", p.Partition, p.ErrorCode, len(p.RecordBatches) > 0, p.LogStartOffset))
		}
	}
	return out
}

// The partitions all sessions hold are bounded: a full fetch that would
// exceed the bound gets no session (the sessions already working stay;
// a stale one makes room), and an incremental fetch that adds partitions
// past it is read in full, with session id 0, and its session closes.
func TestFetchSessionPartitionBound(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newFetchSessions(func() int { return 10 }, func() time.Time { return now })
	c.maxPartitions = 10
	a := openAndCreate(t, c, 6, false)
	if a == 0 || c.partitions != 6 {
		t.Fatalf("first session %d holds %d partitions, want one with 6", a, c.partitions)
	}
	if id := openAndCreate(t, c, 11, true); id != 0 {
		t.Fatal("a session larger than the bound was made")
	}
	if id := openAndCreate(t, c, 5, true); id != 0 || c.byID[a] == nil {
		t.Fatalf("a session past the bound was made (%d), or evicted a working one", id)
	}
	b := openAndCreate(t, c, 4, false)
	if b == 0 || c.partitions != 10 {
		t.Fatalf("a session within the bound: %d, %d partitions held", b, c.partitions)
	}

	// Session a adds two partitions: 12 > 10. The fetch reads all eight
	// of a's partitions without a session, and a is gone.
	inc := sessionFetchReq(a, 1, 1<<20, "e", map[int32]int64{6: 0, 7: 0})
	eff, sf, code := c.open(inc, 12, false)
	if code != 0 || sf.kind != sessionless {
		t.Fatalf("incremental past the bound: code %d kind %d, want a sessionless fetch", code, sf.kind)
	}
	n := 0
	for _, rt := range eff.Topics {
		n += len(rt.Partitions)
	}
	if n != 8 || c.byID[a] != nil || c.partitions != 4 {
		t.Fatalf("read %d partitions, session a kept %v, %d partitions held; want 8, closed, 4", n, c.byID[a] != nil, c.partitions)
	}
	resp := kmsg.NewPtrFetchResponse()
	c.finish(sf, eff, resp)
	if resp.SessionID != 0 {
		t.Fatalf("answered with session %d, want 0 (closed)", resp.SessionID)
	}

	// Room again for a new session; once b is stale, it makes room too.
	if id := openAndCreate(t, c, 6, false); id == 0 || c.partitions != 10 {
		t.Fatalf("a session within the bound after a closed: %d, %d held", id, c.partitions)
	}
	now = now.Add(sessionEvictAfter + time.Second)
	for _, s := range c.byID {
		if s.id != b {
			s.lastUsed = now
		}
	}
	if id := openAndCreate(t, c, 3, false); id == 0 || c.byID[b] != nil || c.partitions != 9 {
		t.Fatalf("a stale session did not make room: new %d, b kept %v, %d held", id, c.byID[b] != nil, c.partitions)
	}
	// Closing a session returns its partitions.
	for id := range c.byID {
		c.remove(id)
	}
	if c.partitions != 0 {
		t.Fatalf("%d partitions held with no session", c.partitions)
	}
}

// TestFetchSessionEvictableByAgeAtLastUse: a session's age for eviction
// is taken when it was last used, as Kafka's FetchSessionCache.touch
// files it: one last used at 100s old (then idle, but not for two
// minutes) is not evictable by a larger session at 150s; once used past
// two minutes old it is.
func TestFetchSessionEvictableByAgeAtLastUse(t *testing.T) {
	start := time.Unix(1000, 0)
	now := start
	c := newFetchSessions(func() int { return 1 }, func() time.Time { return now })
	a := openAndCreate(t, c, 1, false)
	c.byID[a].lastUsed = start.Add(100 * time.Second)
	now = start.Add(150 * time.Second)
	if id := openAndCreate(t, c, 5, false); id != 0 || c.byID[a] == nil {
		t.Fatalf("a session last used at 100s old was evicted at 150s (new session %d)", id)
	}
	c.byID[a].lastUsed = start.Add(130 * time.Second)
	if id := openAndCreate(t, c, 5, false); id == 0 || c.byID[a] != nil {
		t.Fatal("a session last used at 130s old was not evicted by a larger one")
	}
}

// TestFetchSessionEpochWraps: after epoch 2^31-1 a session's next epoch
// is 1 (0 and -1 mean a full fetch), as Kafka's FetchMetadata.nextEpoch.
func TestFetchSessionEpochWraps(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("w", 1, nil)
	id := tb.fetch(sessionFetchReq(0, 0, 1<<20, "w", map[int32]int64{0: 0})).SessionID
	tb.sessions.mu.Lock()
	s := tb.sessions.byID[id]
	s.mu.Lock()
	s.epoch = math.MaxInt32
	s.mu.Unlock()
	tb.sessions.mu.Unlock()
	if r := tb.fetch(sessionFetchReq(id, math.MaxInt32, 1<<20, "w", nil)); r.ErrorCode != 0 || r.SessionID != id {
		t.Fatalf("fetch at epoch 2^31-1: error %d, session %d", r.ErrorCode, r.SessionID)
	}
	if r := tb.fetch(sessionFetchReq(id, 1, 1<<20, "w", nil)); r.ErrorCode != 0 || r.SessionID != id {
		t.Fatalf("fetch at epoch 1 after 2^31-1: error %d, session %d", r.ErrorCode, r.SessionID)
	}
}
