package protocol

import (
	"context"
	"net"
	"testing"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fuzzConn is a connection whose registry serves every key kmsg knows at
// every version, with a handler that builds and encodes a response, so
// handleFrame takes the server's whole decode path for any frame.
func fuzzConn(t testing.TB) *conn {
	reg := NewRegistry()
	for key := int16(0); key < 200; key++ {
		req := kmsg.RequestForKey(key)
		if req == nil || key == 18 {
			continue
		}
		reg.Register(API{Key: key, Min: 0, Max: req.MaxVersion(), NoCopy: key%2 == 0, Handler: func(_ context.Context, r *Request) (kmsg.Response, error) {
			return r.Response(), nil
		}})
	}
	s := NewServer(reg, zerolog.Nop())
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close(); s.Close() })
	return newConn(s, a, "FUZZ", nil)
}

// FuzzRequestFrame feeds a request frame (what follows the size prefix) to
// the header parsers and kmsg body decoding exactly as a connection does:
// no input may panic, and any response due must encode.
func FuzzRequestFrame(f *testing.F) {
	seed := func(r kmsg.Request, corr int32) {
		fr := frameFor(r, corr)
		f.Add(fr[4:])
	}
	seed(heartbeat(4, 1), 1)
	seed(heartbeat(0, 1), 2)
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version, av.ClientSoftwareName, av.ClientSoftwareVersion = 3, "c", "1"
	seed(av, 3)
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("t")}}
	seed(md, 4)
	p := kmsg.NewPtrProduceRequest()
	p.Version, p.Acks = 9, -1
	p.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: []byte{1, 2, 3}}}}}
	seed(p, 5)
	fe := kmsg.NewPtrFetchRequest()
	fe.Version = 12
	fe.Topics = []kmsg.FetchRequestTopic{{Topic: "t", Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0, FetchOffset: 10}}}}
	seed(fe, 6)
	f.Add(reqFrame(12, 4, 1, strp("x"), true, []byte{2, 0, 3, 'a', 'b', 'c', 5, 0}, heartbeat(4, 1).AppendTo(nil))[4:])
	f.Add(reqFrame(18, 99, 1, strp("x"), true, nil, nil)[4:])
	f.Add([]byte{0, 12, 0, 3, 0, 0, 0, 1})

	c := fuzzConn(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		// The header parsers on their own, at both flexibilities.
		if h, err := parseHeaderPrefix(frame); err == nil {
			for _, flexible := range []bool{false, true} {
				h2 := h
				if parseHeaderRest(frame, &h2, flexible) == nil && (h2.bodyOffset < 8 || h2.bodyOffset > len(frame)) {
					t.Fatalf("body offset %d outside the %d-byte frame", h2.bodyOffset, len(frame))
				}
			}
		}
		// The connection's path: parse, look up, decode, handle.
		pend, err := c.handleFrame(frame)
		if err != nil || pend == nil {
			return
		}
		if pend.resp == nil {
			t.Fatal("a pending response without a body")
		}
		pend.resp.SetVersion(pend.hdr.version)
		out := appendResponseFrame(nil, pend.hdr.correlation, pend.resp)
		if len(out) < 8 {
			t.Fatalf("response frame of %d bytes", len(out))
		}
	})
}
