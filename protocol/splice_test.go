package protocol

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol/tlsconf"
)

// testRange is a FileRange over a file, counting releases.
type testRange struct {
	f        *os.File
	pos      int64
	n        int
	released *atomic.Int32
	done     atomic.Bool
}

func (r *testRange) Len() int { return r.n }
func (r *testRange) ReadAt(p []byte, off int64) (int, error) {
	if len(p) > r.n-int(off) {
		p = p[:r.n-int(off)]
	}
	return r.f.ReadAt(p, r.pos+off)
}
func (r *testRange) File() (*os.File, int64, bool) { return r.f, r.pos, true }
func (r *testRange) Release() {
	if r.done.CompareAndSwap(false, true) {
		r.released.Add(1)
	}
}

// spliceFixture is a file of random bytes and the ranges of it that the
// test responses splice in.
type spliceFixture struct {
	f        *os.File
	data     []byte
	released atomic.Int32
	made     atomic.Int32
}

// Range lengths around every width change of the flexible length prefix
// (a compact uvarint of length+1: 1 byte to 126, 2 to 16382, 3 to
// 2097150, then 4).
var spliceLengths = []int{0, 1, 125, 126, 127, 128, 4000, 16381, 16382, 16383, 16384, 70000, 2097150, 2097151, 2097152}

func newSpliceFixture(t *testing.T) *spliceFixture {
	t.Helper()
	fx := &spliceFixture{data: make([]byte, 3<<20)}
	rand.Read(fx.data)
	path := filepath.Join(t.TempDir(), "segment.log")
	if err := os.WriteFile(path, fx.data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fx.f = f
	return fx
}

// fetchResponse builds a Fetch response of version v with a partition per
// entry of lengths (their records from the fixture at staggered
// positions), with the optional fields of each version filled. Spliced,
// the records are file ranges; otherwise bytes.
func (fx *spliceFixture) fetchResponse(v int16, lengths []int, spliced bool) kmsg.Response {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = v
	resp.ThrottleMillis, resp.SessionID = 7, 0
	var sp *Spliced
	if spliced {
		sp = NewSpliced(resp)
	}
	for ti := 0; ti < 2; ti++ {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = []string{"orders", "a-topic-with-a-longer-name"}[ti]
		t.TopicID = [16]byte{byte(ti + 1), 2, 3}
		resp.Topics = append(resp.Topics, t)
	}
	for i := range lengths {
		t := &resp.Topics[i%2]
		p := kmsg.NewFetchResponseTopicPartition()
		p.Partition = int32(i)
		p.HighWatermark, p.LastStableOffset, p.LogStartOffset = int64(1000+i), int64(900+i), int64(i)
		if i%3 == 0 {
			a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
			a.ProducerID, a.FirstOffset = int64(i), int64(10*i)
			p.AbortedTransactions = append(p.AbortedTransactions, a)
		}
		if i%4 == 1 {
			p.DivergingEpoch.Epoch, p.DivergingEpoch.EndOffset = 3, 77
		}
		if i%5 == 2 {
			p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = 1, 4
		}
		t.Partitions = append(t.Partitions, p)
	}
	k := 0
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			p := &resp.Topics[ti].Partitions[pi]
			n := lengths[p.Partition]
			pos := int64(k * 4099 % (len(fx.data) - n))
			k++
			switch {
			case n == 0:
				p.RecordBatches = []byte{}
			case spliced:
				fx.made.Add(1)
				sp.Splice(&p.RecordBatches, &testRange{f: fx.f, pos: pos, n: n, released: &fx.released})
			default:
				p.RecordBatches = fx.data[pos : pos+int64(n)]
			}
		}
	}
	if spliced {
		return sp
	}
	return resp
}

// selfSignedServer is a TLS configuration for a test listener.
func selfSignedServer(t *testing.T) *tlsconf.Server {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "splice"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	k8, _ := x509.MarshalPKCS8PrivateKey(key)
	srv, err := tlsconf.NewServer(tlsconf.Config{KeystoreType: "PEM",
		KeystoreCertChain: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeystoreKey:       string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k8}))})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// spliceServer serves Fetch at every version kmsg knows with handler.
func spliceServer(t *testing.T, tlsOn bool, handler Handler) net.Conn {
	t.Helper()
	_, c := spliceServerS(t, tlsOn, 0, handler)
	return c
}

// spliceServerS is spliceServer with ranges from sendfileMin bytes sent
// with sendfile (0: the default).
func spliceServerS(t *testing.T, tlsOn bool, sendfileMin int, handler Handler) (*Server, net.Conn) {
	t.Helper()
	reg := NewRegistry()
	reg.Register(API{Key: 1, Min: 0, Max: (&kmsg.FetchRequest{}).MaxVersion(), NoCopy: true, Handler: handler})
	s := NewServer(reg, zerolog.Nop())
	s.sendfileMin = sendfileMin
	l := Listener{Name: "PLAINTEXT", Addr: "127.0.0.1:0"}
	if tlsOn {
		l = Listener{Name: "SSL", Addr: "127.0.0.1:0", Security: &Security{Protocol: SSL, TLS: selfSignedServer(t)}}
	}
	addr, err := s.Listen(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if !tlsOn {
		return s, dial(t, addr.String())
	}
	c, err := tls.Dial("tcp", addr.String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, c
}

// readFrame reads one size-prefixed frame whole.
func readFrame(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("reading response size: %v", err)
	}
	buf := make([]byte, 4+binary.BigEndian.Uint32(size[:]))
	copy(buf, size[:])
	if _, err := io.ReadFull(c, buf[4:]); err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return buf
}

func fetchRequest(v int16) []byte {
	r := kmsg.NewPtrFetchRequest()
	r.Version = v
	return frameFor(r, int32(100+v))
}

// TestSplicedFetchEncodesAsPlain: for every Fetch version kmsg knows, a
// response whose records are file ranges arrives byte for byte as kmsg
// encodes it with the records inline, and decodes to the same records,
// over plaintext (sendfile, and short ranges read) and TLS.
func TestSplicedFetchEncodesAsPlain(t *testing.T) {
	fx := newSpliceFixture(t)
	for _, tc := range []struct {
		name        string
		tls         bool
		sendfileMin int
	}{{"plaintext-sendfile", false, 1}, {"plaintext-read", false, 1 << 30}, {"plaintext-mixed", false, 32 << 10}, {"tls", true, 32 << 10}} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := spliceServerS(t, tc.tls, tc.sendfileMin, func(_ context.Context, req *Request) (kmsg.Response, error) {
				return fx.fetchResponse(req.Version, spliceLengths, true), nil
			})
			for v := int16(0); v <= (&kmsg.FetchRequest{}).MaxVersion(); v++ {
				send(t, c, fetchRequest(v))
				got := readFrame(t, c)
				want := appendResponseFrame(nil, int32(100+v), fx.fetchResponse(v, spliceLengths, false))
				if !bytes.Equal(got, want) {
					i := 0
					for i < len(got) && got[i] == want[i] {
						i++
					}
					t.Fatalf("v%d: spliced frame (%d bytes) differs from the plain encoding (%d bytes) at %d", v, len(got), len(want), i)
				}
				resp := kmsg.NewPtrFetchResponse()
				resp.Version = v
				body := got[8:]
				if resp.IsFlexible() {
					body = body[1:]
				}
				if err := resp.ReadFrom(body); err != nil {
					t.Fatalf("v%d: kmsg cannot decode the spliced response: %v", v, err)
				}
				plain := fx.fetchResponse(v, spliceLengths, false).(*kmsg.FetchResponse)
				for ti := range plain.Topics {
					for pi, p := range plain.Topics[ti].Partitions {
						if !bytes.Equal(resp.Topics[ti].Partitions[pi].RecordBatches, p.RecordBatches) {
							t.Fatalf("v%d: partition %d decodes to other records", v, p.Partition)
						}
					}
				}
			}
			waitFor(t, "every range released", func() bool { return fx.released.Load() == fx.made.Load() })
		})
	}
}

// TestSplicedMarkerMissingFallsBackToCopy: a response whose marker was
// overwritten is still sent right, copied.
func TestSplicedMarkerMissingFallsBackToCopy(t *testing.T) {
	fx := newSpliceFixture(t)
	lengths := []int{10, 20000}
	c := spliceServer(t, false, func(_ context.Context, req *Request) (kmsg.Response, error) {
		sp := fx.fetchResponse(req.Version, lengths, true).(*Spliced)
		*sp.slots[0].field = append([]byte(nil), *sp.slots[0].field...)
		(*sp.slots[0].field)[15]++ // no longer the marker
		return sp, nil
	})
	send(t, c, fetchRequest(12))
	got := readFrame(t, c)
	want := appendResponseFrame(nil, 112, fx.fetchResponse(12, lengths, false))
	if !bytes.Equal(got, want) {
		t.Fatalf("fallback frame differs from the plain encoding")
	}
	waitFor(t, "every range released", func() bool { return fx.released.Load() == fx.made.Load() })
}

// TestSplicedRangesReleasedWhenClientLeaves: ranges of responses never
// written (the client went away, a long poll answered after) are
// released when the connection ends.
func TestSplicedRangesReleasedWhenClientLeaves(t *testing.T) {
	fx := newSpliceFixture(t)
	release := make(chan struct{})
	var deferred atomic.Int32
	s, c := spliceServerS(t, false, 0, func(_ context.Context, req *Request) (kmsg.Response, error) {
		if req.CorrelationID%2 == 0 {
			return fx.fetchResponse(req.Version, spliceLengths, true), nil
		}
		deferred.Add(1)
		req.Defer(func(context.Context) (kmsg.Response, error) {
			<-release
			return fx.fetchResponse(req.Version, spliceLengths, true), nil
		})
		return nil, nil
	})
	var frames [][]byte
	for i := 0; i < 8; i++ {
		r := kmsg.NewPtrFetchRequest()
		r.Version = 12
		frames = append(frames, frameFor(r, int32(i)))
	}
	send(t, c, frames...)
	// The first response is ready, the second waits; past the
	// connection's budget (gregor.connection.max.queued.bytes) the
	// rest are not read.
	waitFor(t, "a response to be made and a long poll to wait", func() bool {
		return fx.made.Load() >= int32(len(spliceLengths)-1) && deferred.Load() > 0
	})
	c.Close()
	close(release)
	waitFor(t, "the connection to end", func() bool { return s.Stats.ConnsOpen.Load() == 0 })
	if m, r := fx.made.Load(), fx.released.Load(); m < 2*int32(len(spliceLengths)-1) || r != m {
		t.Fatalf("%d ranges made (the long poll's among them), %d released", m, r)
	}
}

// TestSplicedShortFileClosesConnection: a range whose file ends early
// (which storage prevents) closes the connection rather than send a frame
// shorter than its size or bytes past what it advertised.
func TestSplicedShortFileClosesConnection(t *testing.T) {
	for _, min := range []int{1, 1 << 30} {
		fx := newSpliceFixture(t)
		_, c := spliceServerS(t, false, min, func(_ context.Context, req *Request) (kmsg.Response, error) {
			sp := NewSpliced(fx.fetchResponse(req.Version, []int{5}, false))
			resp := sp.Response.(*kmsg.FetchResponse)
			sp.Splice(&resp.Topics[0].Partitions[0].RecordBatches, &testRange{f: fx.f, pos: int64(len(fx.data) - 100), n: 1000, released: &fx.released})
			return sp, nil
		})
		send(t, c, fetchRequest(12))
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			continue // closed before anything was sent: fine too
		}
		_, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(size[:])))
		if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("sendfileMin %d: connection left open after a short range", min)
			}
			if err == nil {
				t.Fatalf("sendfileMin %d: a whole frame arrived from a short range", min)
			}
		}
	}
}

func TestUnwrapSpliced(t *testing.T) {
	inner := kmsg.NewPtrFetchResponse()
	if Unwrap(NewSpliced(inner)) != kmsg.Response(inner) || Unwrap(inner) != kmsg.Response(inner) {
		t.Fatal("Unwrap does not return the fetch response")
	}
}
