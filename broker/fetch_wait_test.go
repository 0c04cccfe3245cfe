package broker

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

// A read_committed fetch waiting behind an open transaction is not read
// again for every append to it: the transaction's records move the high
// watermark but not the last stable offset, and nothing the fetch may
// return has changed (Kafka's DelayedFetch checks offsets too).
func TestWaitingFetchIgnoresWhatItCannotSee(t *testing.T) {
	b := startVerifyBroker(t, &fakeCoordinator{}, false)
	if code := produceTxnBatch(t, b, 9, 0); code != 0 {
		t.Fatalf("first transactional batch: code %d", code)
	}
	var runs atomic.Int64
	fetchRunHook = func(fs *fetchState) {
		if fs.r.IsolationLevel == readCommitted {
			runs.Add(1)
		}
	}
	t.Cleanup(func() { fetchRunHook = nil })

	r := fetchReq("t", 0, 0, 1<<20)
	r.MinBytes, r.MaxWaitMillis, r.IsolationLevel = 1, 1000, readCommitted
	done := make(chan *kmsg.FetchResponse, 1)
	reg := protocol.NewRegistry()
	b.Register(reg)
	go func() {
		resp, err := reg.Serve(context.Background(), &protocol.Request{Key: 1, Version: 12, ClientID: "test", Body: r,
			Conn: &protocol.ConnInfo{Listener: "PLAINTEXT", Remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}}})
		if err != nil {
			t.Error(err)
		}
		if sp, ok := resp.(*protocol.Spliced); ok {
			resp = sp.Response
		}
		fr, ok := resp.(*kmsg.FetchResponse)
		if !ok {
			t.Errorf("response %T %+v", resp, resp)
		}
		done <- fr
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the fetch did not run within 5s")
		}
		time.Sleep(time.Millisecond)
	}
	const appends = 40
	for seq := int32(1); seq <= appends; seq++ {
		if code := produceTxnBatch(t, b, 9, seq); code != 0 {
			t.Fatalf("transactional batch %d: code %d", seq, code)
		}
	}
	fr := <-done
	if fr == nil {
		t.Fatal("no fetch response")
	}
	if n := len(fr.Topics[0].Partitions[0].RecordBatches); n != 0 {
		t.Fatalf("read_committed fetch inside an open transaction returned %d bytes", n)
	}
	// The first run, the one when the wait ends, and perhaps one for a
	// wake already pending when it began waiting.
	if n := runs.Load(); n > 3 {
		t.Fatalf("the waiting fetch ran %d times over %d appends it could not see, want at most 3", n, appends)
	}
}
