package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// followerFetch is a follower's full fetch of topic t's partitions at
// offsets.
func followerFetch(t string, offsets map[int32]int64) *kmsg.FetchRequest {
	r := sessionFetchReq(0, -1, 1<<20, t, offsets)
	r.ReplicaID = 2
	return r
}

func reqPartitions(r *kmsg.FetchRequest) map[int32]int64 {
	out := map[int32]int64{}
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			out[p.Partition] = p.FetchOffset
		}
	}
	return out
}

func TestFollowerSessionSendsOnlyChanges(t *testing.T) {
	var s followerSession
	r := s.request(followerFetch("f", map[int32]int64{0: 5, 1: 7}))
	if r.SessionID != 0 || r.SessionEpoch != 0 || len(reqPartitions(r)) != 2 {
		t.Fatalf("first fetch: session %d epoch %d, %v; want a full one asking for a session", r.SessionID, r.SessionEpoch, reqPartitions(r))
	}
	s.answered(&kmsg.FetchResponse{SessionID: 42})
	r = s.request(followerFetch("f", map[int32]int64{0: 5, 1: 7}))
	if r.SessionID != 42 || r.SessionEpoch != 1 || len(r.Topics) != 0 {
		t.Fatalf("unchanged: session %d epoch %d, %v; want epoch 1 with no partitions", r.SessionID, r.SessionEpoch, reqPartitions(r))
	}
	s.answered(&kmsg.FetchResponse{SessionID: 42})
	r = s.request(followerFetch("f", map[int32]int64{0: 9, 1: 7}))
	if got := reqPartitions(r); r.SessionEpoch != 2 || len(got) != 1 || got[0] != 9 {
		t.Fatalf("one moved: epoch %d, %v; want epoch 2 with partition 0 at 9", r.SessionEpoch, got)
	}
	s.answered(&kmsg.FetchResponse{SessionID: 42})
	r = s.request(followerFetch("f", map[int32]int64{0: 9}))
	if len(r.Topics) != 0 || len(r.ForgottenTopics) != 1 || r.ForgottenTopics[0].Partitions[0] != 1 {
		t.Fatalf("unfollowed 1: %v forgotten %v", reqPartitions(r), r.ForgottenTopics)
	}
	// A session error: the next fetch is full and closes the old session.
	if !s.answered(&kmsg.FetchResponse{ErrorCode: kerr.InvalidFetchSessionEpoch.Code}) {
		t.Fatal("INVALID_FETCH_SESSION_EPOCH not reported as a session error")
	}
	r = s.request(followerFetch("f", map[int32]int64{0: 9}))
	if r.SessionID != 42 || r.SessionEpoch != 0 || len(reqPartitions(r)) != 1 {
		t.Fatalf("after an epoch error: session %d epoch %d; want a full fetch closing 42", r.SessionID, r.SessionEpoch)
	}
	s.answered(&kmsg.FetchResponse{ErrorCode: kerr.FetchSessionIDNotFound.Code})
	if r = s.request(followerFetch("f", map[int32]int64{0: 9})); r.SessionID != 0 || r.SessionEpoch != 0 {
		t.Fatalf("after an unknown session: session %d epoch %d; want a new full one", r.SessionID, r.SessionEpoch)
	}
	// A leader without a slot answers session 0: stay sessionless-full.
	s.answered(&kmsg.FetchResponse{SessionID: 0})
	if r = s.request(followerFetch("f", map[int32]int64{0: 9})); r.SessionEpoch != 0 || len(reqPartitions(r)) != 1 {
		t.Fatalf("without a session: epoch %d, %v", r.SessionEpoch, reqPartitions(r))
	}
}

// TestFollowerSessionAgainstLeader runs the follower's session against the
// broker's session cache: after the full fetch, an idle incremental one
// asks for and gets nothing, and new data comes back without asking.
func TestFollowerSessionAgainstLeader(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("fs", 2, nil)
	var s followerSession
	full := func() *kmsg.FetchRequest {
		r := sessionFetchReq(0, -1, 1<<20, "fs", map[int32]int64{0: 0, 1: 0})
		return r // a consumer's fetch: the session logic is the same
	}
	resp := tb.fetch(s.request(full()))
	s.answered(resp)
	if resp.SessionID == 0 || len(answered(resp)) != 2 {
		t.Fatalf("full: session %d, %v", resp.SessionID, answered(resp))
	}
	req := s.request(full())
	if len(req.Topics) != 0 {
		t.Fatalf("idle incremental asks for %v", reqPartitions(req))
	}
	resp = tb.fetch(req)
	s.answered(resp)
	if resp.ErrorCode != 0 || len(answered(resp)) != 0 {
		t.Fatalf("idle incremental: error %d, %v", resp.ErrorCode, answered(resp))
	}
	tb.produce("fs", 1, batch(t, 1, "x"))
	resp = tb.fetch(s.request(full()))
	s.answered(resp)
	if got := answered(resp); len(got) != 1 || !got[1] {
		t.Fatalf("after a produce: %v, want partition 1 with records", got)
	}
}

// A follower's wait after failed fetches grows by 100 ms per failure in a
// row up to replica.fetch.backoff.ms.
func TestFetchBackoff(t *testing.T) {
	for _, c := range []struct {
		failures int
		most     time.Duration
		want     time.Duration
	}{
		{1, time.Second, 100 * time.Millisecond},
		{5, time.Second, 500 * time.Millisecond},
		{30, time.Second, time.Second},
		{30, 5 * time.Second, 3 * time.Second},
		{3, 250 * time.Millisecond, 250 * time.Millisecond},
		{1, 0, 0},
	} {
		if got := fetchBackoff(c.failures, c.most); got != c.want {
			t.Errorf("fetchBackoff(%d, %v) = %v, want %v", c.failures, c.most, got, c.want)
		}
	}
}
