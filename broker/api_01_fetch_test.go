package broker

import (
	"context"
	"fmt"
	"math"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/config"
	"gregor/internal/wait"
	"gregor/protocol"
)

// A fetch's MaxBytes is capped by fetch.max.bytes (a follower's also by
// replica.fetch.response.max.bytes), and zero or less is no budget beyond
// KIP-74's first batch, not "unlimited" (as it was).
func TestFetchLimits(t *testing.T) {
	cfg := config.Defaults()
	cfg.FetchMax, cfg.ReplicaFetchResponseMax = 55<<20, 10<<20
	for _, c := range []struct {
		name               string
		maxBytes, minBytes int32
		follower           bool
		wantMax, wantMin   int32
	}{
		{"under the cap", 1 << 20, 1, false, 1 << 20, 1},
		{"huge MaxBytes", math.MaxInt32, 1, false, 55 << 20, 1},
		{"zero MaxBytes", 0, 1, false, 0, 0},
		{"negative MaxBytes", -1, 1, false, 0, 0},
		// Not a budget that underflows to 2^31-1 - first batch.
		{"MaxBytes -2^31", math.MinInt32, 1, false, 0, 0},
		{"MinBytes above the cap", math.MaxInt32, math.MaxInt32, false, 55 << 20, 55 << 20},
		{"follower", math.MaxInt32, 1, true, 10 << 20, 1},
	} {
		gotMax, gotMin := fetchLimits(cfg, c.maxBytes, c.minBytes, c.follower)
		if gotMax != c.wantMax || gotMin != c.wantMin {
			t.Errorf("%s: max %d min %d, want %d %d", c.name, gotMax, gotMin, c.wantMax, c.wantMin)
		}
	}
}

// A topic deleted while a fetch of it waits for data is answered
// UNKNOWN_TOPIC_OR_PARTITION, as Kafka's getPartitionOrError answers a
// partition neither hosted nor in the metadata; Gregor answered
// NOT_LEADER_OR_FOLLOWER (and, from v12, named this broker the leader at
// the deleted partition's epoch), as if the partition had moved.
func TestFetchTopicDeletedWhileWaiting(t *testing.T) {
	for _, v := range []int16{3, 12} { // the down-converting path, and v4+
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) { testFetchTopicDeletedWhileWaiting(t, v) })
	}
}

func testFetchTopicDeletedWhileWaiting(t *testing.T, version int16) {
	tb := newTestBroker(t, nil)
	tb.createTopic("gone", 1, nil)
	tb.produce("gone", 0, batch(t, time.Now().UnixMilli(), "a"))
	var runs atomic.Int64
	fetchRunHook = func(*fetchState) { runs.Add(1) }
	legacyFetchRunHook = func() { runs.Add(1) }
	t.Cleanup(func() { fetchRunHook, legacyFetchRunHook = nil, nil })

	r := fetchReq("gone", 0, 1, 1<<20)
	r.SetVersion(version)
	r.MinBytes, r.MaxWaitMillis = 1, 20000
	done := make(chan kmsg.Response, 1)
	go func() {
		resp, err := tb.reg.Serve(context.Background(), &protocol.Request{Key: 1, Version: version, ClientID: "test", Body: r,
			Conn: &protocol.ConnInfo{Listener: "PLAINTEXT", Remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}}})
		if err != nil {
			t.Error(err)
		}
		if sp, ok := resp.(*protocol.Spliced); ok {
			resp = sp.Response
		}
		done <- resp
	}()
	wait.For(t, "the fetch to run", 5*time.Second, func() bool { return runs.Load() > 0 })

	tb.deleteTopic("gone")
	var resp kmsg.Response
	select {
	case resp = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the waiting fetch was not answered within 15s of the topic's deletion")
	}
	fr, ok := resp.(*kmsg.FetchResponse)
	if !ok || len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
		t.Fatalf("response %T %+v", resp, resp)
	}
	sp := fr.Topics[0].Partitions[0]
	if sp.ErrorCode != kerr.UnknownTopicOrPartition.Code || sp.CurrentLeader.LeaderID != -1 {
		t.Errorf("fetch of the deleted topic: %v, current leader %d at epoch %d; want UNKNOWN_TOPIC_OR_PARTITION, no leader",
			kerr.ErrorForCode(sp.ErrorCode), sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch)
	}
}

// A partition's CurrentLeader is filled only from Fetch v16 and only with
// NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH, as Kafka's
// handleFetchRequest does; Gregor named the leader from v12 with any
// error (OFFSET_OUT_OF_RANGE, UNKNOWN_LEADER_EPOCH, ...).
func TestFetchCurrentLeaderOnlyForLeaderErrors(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("cl", 1, nil)
	for _, v := range []int16{12, 15, 16, 17} {
		for _, c := range []struct {
			what   string
			offset int64
			epoch  int32
			want   *kerr.Error
		}{
			{"past the log end", 100, -1, kerr.OffsetOutOfRange},
			{"at a leader epoch from the future", 0, 5, kerr.UnknownLeaderEpoch},
		} {
			r := fetchReq("cl", 0, c.offset, 1<<20)
			r.Topics[0].Partitions[0].CurrentLeaderEpoch = c.epoch
			if v >= 13 {
				r.Topics[0].TopicID = tb.Topic("cl").ID
			}
			resp := tb.callAt(r, v).(*kmsg.FetchResponse)
			sp := resp.Topics[0].Partitions[0]
			if sp.ErrorCode != c.want.Code || sp.CurrentLeader.LeaderID != -1 || sp.CurrentLeader.LeaderEpoch != -1 {
				t.Errorf("v%d fetch %s: %v, current leader %d at epoch %d; want %v, no current leader",
					v, c.what, kerr.ErrorForCode(sp.ErrorCode), sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch, c.want)
			}
		}
	}
}
