package protocol

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMixedResponsesKeepOrder: over many connections at once, each sending
// bursts of one to six requests and reading their answers before the next
// burst, every answer arrives once, whole and in order, whether it was
// ready at once, came from deferred work, or is larger than the socket's
// buffers, with requests that get no answer among them. A response
// written twice, or two writes interleaved on one socket, shows as a
// wrong correlation id or a corrupt frame; make test also runs it under
// the race detector.
func TestMixedResponsesKeepOrder(t *testing.T) {
	const large = 68 << 10
	reg := NewRegistry()
	reg.Register(API{Key: 12, Min: 0, Max: 4, Handler: func(ctx context.Context, req *Request) (kmsg.Response, error) {
		switch gen := req.Body.(*kmsg.HeartbeatRequest).Generation; gen % 4 {
		case 1: // answered from deferred work, after some scheduling
			req.Defer(func(ctx context.Context) (kmsg.Response, error) {
				for range int(gen % 13) {
					runtime.Gosched()
				}
				return echoHeartbeat(ctx, req)
			})
			return nil, nil
		case 3: // no answer due (as acks=0)
			return nil, nil
		}
		return echoHeartbeat(ctx, req)
	}})
	reg.Register(API{Key: 1, Min: 4, Max: 12, NoCopy: true, Handler: func(_ context.Context, req *Request) (kmsg.Response, error) {
		resp := req.Response().(*kmsg.FetchResponse)
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.RecordBatches = bytes.Repeat([]byte{byte(req.CorrelationID)}, large)
		resp.Topics = []kmsg.FetchResponseTopic{{Topic: "t", Partitions: []kmsg.FetchResponseTopicPartition{sp}}}
		return resp, nil
	}})
	_, addr := startServer(t, reg, 0)

	const conns, requests = 40, 300
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for i := range conns {
		c := dial(t, addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- mixedExchange(c, rand.New(rand.NewPCG(uint64(i), 7)), requests)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// mixedExchange sends n requests in random bursts over c and checks every
// answer of each burst before sending the next.
func mixedExchange(c net.Conn, rng *rand.Rand, n int) error {
	type want struct {
		corr  int32
		fetch bool
	}
	corr := int32(0)
	for corr < int32(n) {
		var frames []byte
		var wants []want
		for range 1 + rng.IntN(6) {
			corr++
			if rng.IntN(5) == 0 {
				f := kmsg.NewPtrFetchRequest()
				f.Version = 12
				frames = append(frames, frameFor(f, corr)...)
				wants = append(wants, want{corr, true})
				continue
			}
			gen := int32(rng.IntN(1000))
			frames = append(frames, frameFor(heartbeat(4, gen), corr)...)
			if gen%4 != 3 {
				// echoHeartbeat answers with the generation:
				// the correlation id is checked against it below.
				wants = append(wants, want{corr<<10 | gen, false})
			}
		}
		c.SetDeadline(time.Now().Add(ioTimeout))
		if _, err := c.Write(frames); err != nil {
			return err
		}
		for _, w := range wants {
			var size [4]byte
			if _, err := io.ReadFull(c, size[:]); err != nil {
				return fmt.Errorf("awaiting answer to %d: %w", w.corr>>10, err)
			}
			buf := make([]byte, binary.BigEndian.Uint32(size[:]))
			if _, err := io.ReadFull(c, buf); err != nil {
				return fmt.Errorf("reading answer to %d: %w", w.corr>>10, err)
			}
			got := int32(binary.BigEndian.Uint32(buf))
			if w.fetch {
				if got != w.corr {
					return fmt.Errorf("got the answer to %d, want the fetch %d's", got, w.corr)
				}
				resp := kmsg.NewPtrFetchResponse()
				resp.Version = 12
				if err := resp.ReadFrom(buf[5:]); err != nil {
					return fmt.Errorf("fetch %d's answer: %w", w.corr, err)
				}
				rb := resp.Topics[0].Partitions[0].RecordBatches
				if len(rb) != 68<<10 || bytes.Count(rb, []byte{byte(w.corr)}) != len(rb) {
					return fmt.Errorf("fetch %d's answer carries the wrong bytes", w.corr)
				}
				continue
			}
			if got != w.corr>>10 {
				return fmt.Errorf("got the answer to %d, want the heartbeat %d's", got, w.corr>>10)
			}
			resp := kmsg.NewPtrHeartbeatResponse()
			resp.Version = 4
			if err := resp.ReadFrom(buf[5:]); err != nil {
				return fmt.Errorf("heartbeat %d's answer: %w", got, err)
			}
			if resp.ThrottleMillis != w.corr&1023 {
				return fmt.Errorf("heartbeat %d answered for generation %d, want %d", got, resp.ThrottleMillis, w.corr&1023)
			}
		}
	}
	return nil
}
