package protocol

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMutedConnectionIsNotRead: a handler that mutes its connection gets
// its response out at once, and the next request is not handled before
// the mute ends.
func TestMutedConnectionIsNotRead(t *testing.T) {
	const mute = 300 * time.Millisecond
	var mu sync.Mutex
	var handled []time.Time
	reg := NewRegistry()
	reg.Register(API{Key: 12, Min: 0, Max: 4, Handler: func(ctx context.Context, req *Request) (kmsg.Response, error) {
		mu.Lock()
		handled = append(handled, time.Now())
		mu.Unlock()
		if req.Body.(*kmsg.HeartbeatRequest).Generation == 1 {
			req.Conn.MuteUntil(time.Now().Add(mute))
		}
		return echoHeartbeat(ctx, req)
	}})
	_, addr := startServer(t, reg, 0)
	c := dial(t, addr)
	start := time.Now()
	send(t, c, frameFor(heartbeat(1, 1), 1), frameFor(heartbeat(1, 2), 2))
	if _, gen := readHeartbeat(t, c, 1); gen != 1 {
		t.Fatalf("first response answers generation %d", gen)
	}
	if d := time.Since(start); d >= mute {
		t.Errorf("the muting request's own response took %v, at least the mute (%v)", d, mute)
	}
	if _, gen := readHeartbeat(t, c, 1); gen != 2 {
		t.Fatalf("second response answers generation %d", gen)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(handled) != 2 {
		t.Fatalf("%d requests handled", len(handled))
	}
	if gap := handled[1].Sub(handled[0]); gap < mute-10*time.Millisecond {
		t.Errorf("the request after the mute was handled %v after the muting one, before the mute (%v) ended", gap, mute)
	}
}

type timings struct {
	mu  sync.Mutex
	got []RequestTiming
}

func (o *timings) RequestDone(rt RequestTiming) {
	o.mu.Lock()
	o.got = append(o.got, rt)
	o.mu.Unlock()
}

// TestObserverSplitsRequestTime: a deferred wait shows up as remote time
// and the parts add up to the total.
func TestObserverSplitsRequestTime(t *testing.T) {
	const wait = 50 * time.Millisecond
	reg := NewRegistry()
	reg.Register(API{Key: 12, Min: 0, Max: 4, Handler: func(ctx context.Context, req *Request) (kmsg.Response, error) {
		req.Defer(func(ctx context.Context) (kmsg.Response, error) {
			time.Sleep(wait) // the simulated purgatory wait under test
			return echoHeartbeat(ctx, req)
		})
		return nil, nil
	}})
	obs := &timings{}
	s := NewServer(reg, zerolog.Nop())
	s.Observer = obs
	a, err := s.Listen(Listener{Name: "PLAINTEXT", Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c := dial(t, a.String())
	send(t, c, frameFor(heartbeat(1, 7), 1))
	readHeartbeat(t, c, 1)
	var rt RequestTiming
	deadline := time.Now().Add(ioTimeout)
	for {
		obs.mu.Lock()
		n := len(obs.got)
		if n > 0 {
			rt = obs.got[0]
		}
		obs.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the observer heard of no request")
		}
		time.Sleep(time.Millisecond)
	}
	if rt.Key != 12 || rt.Listener != "PLAINTEXT" || rt.RequestBytes == 0 || rt.ResponseBytes == 0 {
		t.Errorf("timing %+v", rt)
	}
	if rt.Remote < wait {
		t.Errorf("remote time %v, below the deferred wait %v", rt.Remote, wait)
	}
	if sum := rt.Queue + rt.Local + rt.Remote + rt.ResponseQueue + rt.Send; sum != rt.Total {
		t.Errorf("parts add up to %v, total %v", sum, rt.Total)
	}
	if n := len(s.Conns()); n != 1 {
		t.Errorf("Conns lists %d connections, want 1", n)
	}
}
