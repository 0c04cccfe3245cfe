package protocol

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestGetFrameClasses(t *testing.T) {
	for _, n := range []int{minPooledFrame - 1, minPooledFrame, minPooledFrame + 1, 100 << 10, maxPooledFrame, maxPooledFrame + 1} {
		b, f := getFrame(n)
		if len(b) != n {
			t.Fatalf("getFrame(%d) has length %d", n, len(b))
		}
		pooled := n >= minPooledFrame && n <= maxPooledFrame
		if (f != nil) != pooled {
			t.Fatalf("getFrame(%d) pooled %v, want %v", n, f != nil, pooled)
		}
		if f != nil && (cap(f.b) < n || cap(f.b) >= 2*n && n > minPooledFrame) {
			t.Fatalf("getFrame(%d) capacity %d", n, cap(f.b))
		}
		f.release()
	}
}

// Recycled frames are not reused while their request is still being
// answered: pipelined Produce requests (decoded without copying) whose
// deferred responses echo strings aliasing the frame come back intact
// and in order, while later frames are read into recycled buffers.
func TestRecycledFramesOutliveTheirResponses(t *testing.T) {
	reg := NewRegistry()
	release := make(chan struct{})
	reg.Register(API{Key: 0, Min: 3, Max: 9, NoCopy: true, Handler: func(_ context.Context, req *Request) (kmsg.Response, error) {
		r := req.Body.(*kmsg.ProduceRequest)
		resp := req.Response().(*kmsg.ProduceResponse)
		req.Defer(func(ctx context.Context) (kmsg.Response, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			for _, rt := range r.Topics {
				st := kmsg.NewProduceResponseTopic()
				st.Topic = rt.Topic // aliases the request's frame
				for _, rp := range rt.Partitions {
					sp := kmsg.NewProduceResponseTopicPartition()
					sp.Partition, sp.BaseOffset = rp.Partition, int64(len(rp.Records))
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			return resp, nil
		})
		return nil, nil
	}})
	_, addr := startServer(t, reg, 0)
	c := dial(t, addr)
	const n = 40
	var frames [][]byte
	for i := 0; i < n; i++ {
		p := kmsg.NewPtrProduceRequest()
		p.Version, p.Acks, p.TimeoutMillis = 9, 1, 1000
		topic := fmt.Sprintf("topic-%02d-%s", i, strings.Repeat(string(rune('a'+i%26)), 40))
		p.Topics = []kmsg.ProduceRequestTopic{{Topic: topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: int32(i), Records: make([]byte, 2000+i)}}}}
		frames = append(frames, frameFor(p, int32(i)))
	}
	send(t, c, frames...)
	close(release)
	for i := 0; i < n; i++ {
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 9
		if corr := readResponse(t, c, resp); corr != int32(i) {
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
		want := fmt.Sprintf("topic-%02d-%s", i, strings.Repeat(string(rune('a'+i%26)), 40))
		if len(resp.Topics) != 1 || resp.Topics[0].Topic != want || resp.Topics[0].Partitions[0].BaseOffset != int64(2000+i) {
			t.Fatalf("response %d: %+v, want topic %s", i, resp.Topics, want)
		}
	}
}
