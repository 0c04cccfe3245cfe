package protocol

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkConnThroughput pipelines requests over loopback, eight in
// flight: produce frames of a size answered at once (request path), and
// fetches answered with records of a size (response path). The -serial
// cases send one request at a time, as a client waiting for each answer
// (a lingerless producer, a consumer's next fetch) does.
func BenchmarkConnThroughput(b *testing.B) {
	for _, tc := range []struct {
		name      string
		req, resp int
		// spliced sends the records as a file range: with sendfile
		// from sendfileMin bytes, else read into the write.
		spliced     bool
		sendfileMin int
		// deferred answers from deferred work that goes about 12 KB
		// deep in its stack, as a fetch that waited for data does.
		deferred bool
		// serial: one request in flight rather than eight.
		serial bool
	}{
		{name: "produce-1KiB-serial", req: 1 << 10, serial: true}, {name: "fetch-1KiB-serial", resp: 1 << 10, serial: true},
		{"produce-1KiB", 1 << 10, 0, false, 0, false, false}, {"produce-256KiB", 256 << 10, 0, false, 0, false, false}, {"produce-1MiB", 1 << 20, 0, false, 0, false, false}, {"produce-3MiB", 3 << 20, 0, false, 0, false, false},
		{"fetch-1KiB", 0, 1 << 10, false, 0, false, false}, {"fetch-1MiB", 0, 1 << 20, false, 0, false, false},
		{"fetch-1KiB-spliced", 0, 1 << 10, true, 32 << 10, false, false}, {"fetch-1MiB-sendfile", 0, 1 << 20, true, 32 << 10, false, false},
		{"fetch-1MiB-spliced-read", 0, 1 << 20, true, 1 << 30, false, false},
		{"fetch-1KiB-deferred", 0, 1 << 10, false, 0, true, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var file *os.File
			var released atomic.Int32
			if tc.spliced {
				path := filepath.Join(b.TempDir(), "segment.log")
				if err := os.WriteFile(path, make([]byte, tc.resp), 0o644); err != nil {
					b.Fatal(err)
				}
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				file = f
			}
			reg := NewRegistry()
			reg.Register(API{Key: 0, Min: 3, Max: 9, NoCopy: true, Handler: func(_ context.Context, req *Request) (kmsg.Response, error) {
				resp := req.Response().(*kmsg.ProduceResponse)
				resp.Topics = []kmsg.ProduceResponseTopic{{Topic: "t", Partitions: []kmsg.ProduceResponseTopicPartition{kmsg.NewProduceResponseTopicPartition()}}}
				return resp, nil
			}})
			records := make([]byte, tc.resp)
			reg.Register(API{Key: 1, Min: 4, Max: 12, NoCopy: true, Handler: func(_ context.Context, req *Request) (kmsg.Response, error) {
				resp := req.Response().(*kmsg.FetchResponse)
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.RecordBatches = records
				resp.Topics = []kmsg.FetchResponseTopic{{Topic: "t", Partitions: []kmsg.FetchResponseTopicPartition{sp}}}
				if file != nil {
					out := NewSpliced(resp)
					out.Splice(&resp.Topics[0].Partitions[0].RecordBatches, &testRange{f: file, n: len(records), released: &released})
					return out, nil
				}
				if tc.deferred {
					req.Defer(func(context.Context) (kmsg.Response, error) {
						deepStack(48)
						return resp, nil
					})
					return nil, nil
				}
				return resp, nil
			}})
			s := NewServer(reg, zerolog.Nop())
			s.sendfileMin = tc.sendfileMin
			addr, err := s.Listen(Listener{Name: "P", Addr: "127.0.0.1:0"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			var frame []byte
			if tc.req > 0 {
				p := kmsg.NewPtrProduceRequest()
				p.Version, p.Acks = 9, 1
				p.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: make([]byte, tc.req)}}}}
				frame = benchFrame(p)
			} else {
				f := kmsg.NewPtrFetchRequest()
				f.Version = 12
				frame = benchFrame(f)
			}
			b.SetBytes(int64(len(frame) + tc.resp))
			inflight := 8
			if tc.serial {
				inflight = 1
			}
			tokens := make(chan struct{}, inflight)
			done := make(chan error, 1)
			go func() {
				var size [4]byte
				buf := make([]byte, 0, 2<<20)
				for i := 0; i < b.N; i++ {
					if _, err := io.ReadFull(c, size[:]); err != nil {
						done <- err
						return
					}
					n := int(binary.BigEndian.Uint32(size[:]))
					buf = buf[:n]
					if _, err := io.ReadFull(c, buf); err != nil {
						done <- err
						return
					}
					<-tokens
				}
				done <- nil
			}()
			b.ResetTimer()
			cpu0 := processCPU()
			for i := 0; i < b.N; i++ {
				tokens <- struct{}{}
				if _, err := c.Write(frame); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(fmt.Errorf("reading: %w", err))
			}
			// CPU time of the process (server and client) per request:
			// a serial client's wall time is mostly waiting.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

func benchFrame(r kmsg.Request) []byte {
	b := []byte{0, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(r.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(r.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = append(b, 'x')
	if r.IsFlexible() {
		b = append(b, 0)
	}
	b = r.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// deepStack uses about 256 bytes of stack per level.
//
//go:noinline
func deepStack(n int) byte {
	var pad [256]byte
	pad[n%256] = byte(n)
	if n == 0 {
		return pad[0]
	}
	return deepStack(n-1) + pad[n%256]
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
