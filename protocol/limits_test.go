package protocol

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/wait"
)

// startServerWith starts a server on loopback with options changed by set.
func startServerWith(t *testing.T, reg *Registry, set func(*Options)) (*Server, string) {
	t.Helper()
	s := NewServer(reg, zerolog.Nop())
	if set != nil {
		set(&s.Options)
	}
	addr, err := s.Listen(Listener{Name: "PLAINTEXT", Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, addr.String()
}

// waitFor is wait.For with the protocol tests' bound, ioTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.For(t, what, ioTimeout, cond)
}

// produceFrame is a Produce v9 request for one partition carrying records.
func produceFrame(corr int32, records []byte) []byte {
	p := kmsg.NewPtrProduceRequest()
	p.Version, p.Acks, p.TimeoutMillis = 9, 1, 1000
	p.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: records}}}}
	return frameFor(p, corr)
}

// digestProduce answers Produce with the records' length as the base
// offset and the first 8 bytes of their SHA-256 as the log start offset.
func digestProduce(_ context.Context, req *Request) (kmsg.Response, error) {
	rp := req.Body.(*kmsg.ProduceRequest).Topics[0].Partitions[0]
	sum := sha256.Sum256(rp.Records)
	resp := req.Response().(*kmsg.ProduceResponse)
	sp := kmsg.NewProduceResponseTopicPartition()
	sp.BaseOffset, sp.LogStartOffset = int64(len(rp.Records)), int64(binary.BigEndian.Uint64(sum[:]))
	resp.Topics = []kmsg.ProduceResponseTopic{{Topic: "t", Partitions: []kmsg.ProduceResponseTopicPartition{sp}}}
	return resp, nil
}

func readProduce(t *testing.T, c net.Conn, corr int32) (length, digest int64) {
	t.Helper()
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = 9
	if got := readResponse(t, c, resp); got != corr {
		t.Fatalf("produce response correlation %d, want %d", got, corr)
	}
	p := resp.Topics[0].Partitions[0]
	return p.BaseOffset, p.LogStartOffset
}

// Frames are read into buffers that grow as their bytes arrive; both the
// pooled (NoCopy) and the plain path carry every byte across the moves,
// also when a repeated size finds a whole pooled buffer at its first move.
func TestLargeFramesSurviveGrowth(t *testing.T) {
	for _, noCopy := range []bool{true, false} {
		t.Run(fmt.Sprintf("NoCopy=%v", noCopy), func(t *testing.T) {
			reg := NewRegistry()
			reg.Register(API{Key: 0, Min: 3, Max: 9, NoCopy: noCopy, Handler: digestProduce})
			s, addr := startServer(t, reg, 0)
			c := dial(t, addr)
			for i, n := range []int{10, initialFrameBuffer - 100, initialFrameBuffer, frameGrowthStep + 1, 3<<20 + 7, 3<<20 + 7, 3 << 20, 9 << 20} {
				recs := make([]byte, n)
				rand.Read(recs)
				sum := sha256.Sum256(recs)
				send(t, c, produceFrame(int32(i), recs))
				length, digest := readProduce(t, c, int32(i))
				if length != int64(n) || digest != int64(binary.BigEndian.Uint64(sum[:])) {
					t.Fatalf("%d record bytes: the handler saw %d bytes with another digest", n, length)
				}
			}
			c.Close()
			waitFor(t, "queued request bytes back to 0", func() bool { return s.QueuedRequestBytes() == 0 })
		})
	}
}

// A size prefix alone buys initialFrameBuffer bytes, not the size it
// announces, of memory and of queued.max.request.bytes; once a client has
// filled that buffer its frame grows, and reserves, a step at a time as
// bytes arrive, never the whole size it announced. Connections dropped
// mid-frame give their bytes back.
func TestAnnouncedFrameSizeIsNotAllocated(t *testing.T) {
	reg := NewRegistry()
	reg.Register(API{Key: 0, Min: 3, Max: 9, NoCopy: true, Handler: digestProduce})
	reg.Register(API{Key: 12, Min: 0, Max: 4, Handler: echoHeartbeat})
	s, addr := startServer(t, reg, 0)
	const conns = 20
	var cs []net.Conn
	for i := 0; i < conns; i++ {
		c := dial(t, addr)
		key := byte(12)
		if i%2 == 0 {
			key = 0 // pooled frames too
		}
		announce := binary.BigEndian.AppendUint32(nil, DefaultMaxRequestSize)
		send(t, c, append(announce, 0, key, 0, 3, 0, 0))
		cs = append(cs, c)
	}
	want := int64(conns * initialFrameBuffer)
	waitFor(t, "every announced frame read", func() bool { return s.QueuedRequestBytes() == want && heldBytes(s) == want })
	// One of them sends 200 KiB more: its buffer grows to 1 MiB, no more,
	// and it reserves that 1 MiB, not the 100 MiB it announced.
	send(t, cs[1], make([]byte, 200<<10))
	waitFor(t, "the growth to 1 MiB, 1 MiB reserved", func() bool {
		return heldBytes(s) == want+frameGrowthStep-initialFrameBuffer &&
			s.QueuedRequestBytes() == want+frameGrowthStep-initialFrameBuffer
	})
	for _, c := range cs {
		c.Close()
	}
	waitFor(t, "queued request bytes back to 0", func() bool { return s.QueuedRequestBytes() == 0 && heldBytes(s) == 0 })
}

// blockingProduce blocks every Produce in its handler until release is
// closed, counting the requests handled: a handler still at work holds its
// request's reservation, as a Kafka request does until its handler
// returns (a request whose handler deferred its answer does not: see
// TestDeferredRequestLeavesQueuedBudget).
type blockingProduce struct {
	handled atomic.Int32
	release chan struct{}
}

func (b *blockingProduce) handle(ctx context.Context, req *Request) (kmsg.Response, error) {
	b.handled.Add(1)
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return digestProduce(ctx, req)
}

// queued.max.request.bytes: once reached, no connection starts reading a
// new request until some are answered.
func TestQueuedMaxRequestBytesStopsReading(t *testing.T) {
	bp := &blockingProduce{release: make(chan struct{})}
	reg := heartbeatRegistry()
	reg.Register(API{Key: 0, Min: 3, Max: 9, NoCopy: true, Handler: bp.handle})
	s, addr := startServerWith(t, reg, func(o *Options) { o.QueuedMaxRequestBytes = 256 << 10 })
	// 0, 100 and 200 KiB are below 256 KiB: three requests are read.
	var cs []net.Conn
	for i := 0; i < 3; i++ {
		c := dial(t, addr)
		send(t, c, produceFrame(int32(i), make([]byte, 100<<10)))
		waitFor(t, fmt.Sprintf("produce request %d handled", i), func() bool { return bp.handled.Load() == int32(i+1) })
		cs = append(cs, c)
	}
	other := dial(t, addr)
	send(t, other, frameFor(heartbeat(3, 1), 1))
	waitFor(t, "the heartbeat waiting for the budget", func() bool { return queuedWaiting(s) == 1 })
	other.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var b [1]byte
	if n, _ := other.Read(b[:]); n > 0 || bp.handled.Load() != 3 {
		t.Fatalf("with the budget spent, another connection was answered (%d bytes) or more produce requests read (%d)", n, bp.handled.Load())
	}
	if q := s.QueuedRequestBytes(); q < 256<<10 || q > 400<<10 {
		t.Fatalf("queued request bytes %d, want the three frames' worth", q)
	}
	close(bp.release)
	if corr, gen := readHeartbeat(t, other, 3); corr != 1 || gen != 1 {
		t.Fatalf("heartbeat after the budget freed: correlation %d generation %d", corr, gen)
	}
	for i, c := range cs {
		if length, _ := readProduce(t, c, int32(i)); length != 100<<10 {
			t.Fatalf("produce %d saw %d bytes", i, length)
		}
		c.Close()
	}
	other.Close()
	waitFor(t, "queued request bytes back to 0", func() bool { return s.QueuedRequestBytes() == 0 })
}

// smallBufferListener makes the server's socket buffers small, so a
// client that reads nothing is felt after a few KiB, not a few MiB.
type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetWriteBuffer(16 << 10)
		tc.SetReadBuffer(16 << 10)
	}
	return nc, err
}

// A client that pipelines requests and reads none of the responses is not
// read past gregor.connection.max.queued.bytes; once it reads, everything
// is answered in order.
func TestUnreadResponsesStopReading(t *testing.T) {
	var handled atomic.Int32
	reg := NewRegistry()
	reg.Register(API{Key: 1, Min: 4, Max: 12, Handler: func(_ context.Context, req *Request) (kmsg.Response, error) {
		handled.Add(1)
		resp := req.Response().(*kmsg.FetchResponse)
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.RecordBatches = bytes.Repeat([]byte{byte(req.CorrelationID)}, 256<<10)
		resp.Topics = []kmsg.FetchResponseTopic{{Topic: "t", Partitions: []kmsg.FetchResponseTopicPartition{sp}}}
		return resp, nil
	}})
	s := NewServer(reg, zerolog.Nop())
	s.ConnMaxQueuedBytes = 1 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(smallBufferListener{ln}, "PLAINTEXT"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c := dial(t, ln.Addr().String())
	c.(*net.TCPConn).SetReadBuffer(16 << 10)
	const n = 100
	var frames []byte
	for i := int32(0); i < n; i++ {
		f := kmsg.NewPtrFetchRequest()
		f.Version = 12
		frames = append(frames, frameFor(f, i)...)
	}
	send(t, c, frames)
	// 1 MiB of unwritten 256 KiB responses, plus what the small socket
	// buffers and the writer's current batch hold: far from 100.
	waitFor(t, "some fetches handled", func() bool { return handled.Load() >= 4 })
	time.Sleep(200 * time.Millisecond) // a negative: nothing more may happen
	if h := handled.Load(); h > 12 {
		t.Fatalf("%d of %d fetches handled while the client read nothing; want the connection's reading stopped near 1 MiB of responses", h, n)
	}
	for i := int32(0); i < n; i++ {
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = 12
		if corr := readResponse(t, c, resp); corr != i {
			t.Fatalf("response %d has correlation %d", i, corr)
		}
		if b := resp.Topics[0].Partitions[0].RecordBatches; len(b) != 256<<10 || b[0] != byte(i) {
			t.Fatalf("response %d carries the wrong records", i)
		}
	}
}

// A response that is ready goes out at once, even while the request after
// it waits: the writer flushes whenever the next response is not ready.
func TestReadyResponseNotHeldBehindDeferred(t *testing.T) {
	release := make(chan struct{})
	reg := NewRegistry()
	reg.Register(API{Key: 12, Min: 0, Max: 4, Handler: func(ctx context.Context, req *Request) (kmsg.Response, error) {
		if req.Body.(*kmsg.HeartbeatRequest).Generation == 2 {
			req.Defer(func(ctx context.Context) (kmsg.Response, error) {
				select {
				case <-release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				return echoHeartbeat(ctx, req)
			})
			return nil, nil
		}
		return echoHeartbeat(ctx, req)
	}})
	_, addr := startServer(t, reg, 0)
	c := dial(t, addr)
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 0
	send(t, c, frameFor(av, 0), frameFor(heartbeat(4, 1), 1), frameFor(heartbeat(4, 2), 2), frameFor(heartbeat(4, 3), 3))
	avr := kmsg.NewPtrApiVersionsResponse()
	if corr := readResponse(t, c, avr); corr != 0 {
		t.Fatalf("ApiVersions correlation %d", corr)
	}
	if corr, gen := readHeartbeat(t, c, 4); corr != 1 || gen != 1 {
		t.Fatalf("got response %d (generation %d) while the next one waited, want 1", corr, gen)
	}
	close(release)
	for _, want := range []int32{2, 3} {
		if corr, gen := readHeartbeat(t, c, 4); corr != want || gen != want {
			t.Fatalf("got response %d (generation %d), want %d", corr, gen, want)
		}
	}
}

// deferredProbe defers every Heartbeat, recording when each deferred
// function starts and holding it until release.
type deferredProbe struct {
	mu      sync.Mutex
	started []int32
	release map[int32]chan struct{}
}

func newDeferredProbe(gens ...int32) *deferredProbe {
	d := &deferredProbe{release: map[int32]chan struct{}{}}
	for _, g := range gens {
		d.release[g] = make(chan struct{})
	}
	return d
}

func (d *deferredProbe) handle(ctx context.Context, req *Request) (kmsg.Response, error) {
	gen := req.Body.(*kmsg.HeartbeatRequest).Generation
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		d.mu.Lock()
		d.started = append(d.started, gen)
		d.mu.Unlock()
		select {
		case <-d.release[gen]:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return echoHeartbeat(ctx, req)
	})
	return nil, nil
}

func (d *deferredProbe) startedSoFar() []int32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]int32(nil), d.started...)
}

// WaitOnly deferred work (long polls) starts as each request arrives and
// waits side by side; the responses still leave in request order.
func TestWaitOnlyDeferredWaitSideBySide(t *testing.T) {
	d := newDeferredProbe(1, 2, 3)
	reg := NewRegistry()
	reg.Register(API{Key: 12, Min: 0, Max: 4, WaitOnly: true, Handler: d.handle})
	_, addr := startServer(t, reg, 0)
	c := dial(t, addr)
	send(t, c, frameFor(heartbeat(4, 1), 1), frameFor(heartbeat(4, 2), 2), frameFor(heartbeat(4, 3), 3))
	waitFor(t, "all three deferred functions running at once", func() bool { return len(d.startedSoFar()) == 3 })
	close(d.release[3]) // the last finishes first...
	close(d.release[2])
	close(d.release[1])
	for _, want := range []int32{1, 2, 3} { // ...and is still answered last
		if corr, gen := readHeartbeat(t, c, 4); corr != want || gen != want {
			t.Fatalf("got response %d (generation %d), want %d", corr, gen, want)
		}
	}
}

// Other deferred work runs one request at a time in request order.
func TestOrderedDeferredRunInTurn(t *testing.T) {
	d := newDeferredProbe(1, 2, 3)
	reg := NewRegistry()
	reg.Register(API{Key: 12, Min: 0, Max: 4, Handler: d.handle})
	_, addr := startServer(t, reg, 0)
	c := dial(t, addr)
	send(t, c, frameFor(heartbeat(4, 1), 1), frameFor(heartbeat(4, 2), 2), frameFor(heartbeat(4, 3), 3))
	for i, g := range []int32{1, 2, 3} {
		waitFor(t, fmt.Sprintf("deferred %d started", g), func() bool { return len(d.startedSoFar()) == i+1 })
		time.Sleep(20 * time.Millisecond) // a negative: the next must not start
		if got := d.startedSoFar(); !reflect.DeepEqual(got, []int32{1, 2, 3}[:i+1]) {
			t.Fatalf("started %v while %d ran", got, g)
		}
		close(d.release[g])
		if corr, gen := readHeartbeat(t, c, 4); corr != g || gen != g {
			t.Fatalf("got response %d (generation %d), want %d", corr, gen, g)
		}
	}
}

// flakyListener fails its first accepts as a process out of file
// descriptors does.
type flakyListener struct {
	net.Listener
	failures atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A failed accept (EMFILE) is retried with a growing delay and logged at
// a bounded rate (5 lines per 10 s); the listener goes on serving.
func TestAcceptRetriesAfterEMFILE(t *testing.T) {
	var logs syncBuffer
	s := NewServer(heartbeatRegistry(), zerolog.New(&logs))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln}
	fl.failures.Store(8) // 5 ms doubling: 1.3 s of retries
	if err := s.Serve(fl, "PLAINTEXT"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c := dial(t, ln.Addr().String())
	send(t, c, frameFor(heartbeat(3, 7), 1))
	if corr, gen := readHeartbeat(t, c, 3); corr != 1 || gen != 7 {
		t.Fatalf("after 8 failed accepts: correlation %d generation %d", corr, gen)
	}
	out := logs.String()
	if lines := strings.Count(out, "accept failed; retrying"); lines == 0 || lines > 5 {
		t.Fatalf("%d log lines for 8 failed accepts, want 1 to 5 (rate limited):\n%s", lines, out)
	}
	if !strings.Contains(out, "too many open files") {
		t.Fatalf("the log does not name the error:\n%s", out)
	}
}

// served reports whether a new connection from local (empty: any) gets
// ApiVersions answered, or is closed at once.
func served(t *testing.T, addr, local string) (net.Conn, bool) {
	t.Helper()
	c := dialFrom(t, addr, local)
	c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write(apiVersionsV0()); err != nil {
		return c, false
	}
	var size [4]byte
	if _, err := c.Read(size[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("neither served nor closed")
		}
		return c, false
	}
	return c, true
}

func TestConnectionLimits(t *testing.T) {
	s, addr := startServerWith(t, heartbeatRegistry(), func(o *Options) {
		o.MaxConnections = 5
		o.MaxConnectionsPerIP = 3
		o.MaxConnectionsPerIPOverrides = map[string]int{"127.0.0.2": 1, "127.0.0.4": 0}
	})
	var open []net.Conn
	for _, tc := range []struct {
		local string
		ok    bool
	}{
		// 127.0.0.2 has an override of 1, 127.0.0.4 one of 0.
		{"127.0.0.2", true}, {"127.0.0.2", false}, {"127.0.0.4", false},
		// Others have the default of 3.
		{"127.0.0.3", true}, {"127.0.0.3", true}, {"127.0.0.3", true}, {"127.0.0.3", false},
		// Five are open after this one: max.connections.
		{"127.0.0.5", true},
	} {
		c, ok := served(t, addr, tc.local)
		if ok != tc.ok {
			t.Fatalf("connection from %s: served %v, want %v", tc.local, ok, tc.ok)
		}
		if ok {
			open = append(open, c)
		}
	}
	// The client may see its connection closed before the server counts
	// the rejection.
	waitFor(t, "ConnsRejected to reach 3", func() bool { return s.Stats.ConnsRejected.Load() == 3 })
	// Closing one from 127.0.0.2 makes room for another from there.
	open[0].Close()
	waitFor(t, "room from 127.0.0.2", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.perIP["127.0.0.2"] == 0
	})
	if _, ok := served(t, addr, "127.0.0.2"); !ok {
		t.Fatal("no connection from 127.0.0.2 after its one closed")
	}
	// A sixth is held, not closed, as Kafka's acceptor holds it: it is
	// served once another closes.
	held := sendAPIVersions(t, addr, "127.0.0.6")
	waitFor(t, "the accept loop to hold the sixth connection", func() bool { return s.Stats.ConnsHeld.Load() == 1 })
	held.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	var size [4]byte
	if n, err := held.Read(size[:]); n > 0 || err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("the held connection was answered or closed (%d bytes, %v)", n, err)
	}
	if got := s.Stats.ConnsRejected.Load(); got != 3 {
		t.Fatalf("ConnsRejected %d after a connection over max.connections, want 3 (held, not closed)", got)
	}
	open[1].Close()
	held.SetReadDeadline(time.Now().Add(ioTimeout))
	if _, err := io.ReadFull(held, size[:]); err != nil {
		t.Fatalf("the held connection was not served after another closed: %v", err)
	}
}

// sendAPIVersions dials addr from local and writes an ApiVersions request
// without waiting for its answer.
func sendAPIVersions(t *testing.T, addr, local string) net.Conn {
	t.Helper()
	c := dialFrom(t, addr, local)
	if _, err := c.Write(apiVersionsV0()); err != nil {
		t.Fatal(err)
	}
	return c
}

// dialFrom dials addr from local (empty: any), closing the connection
// when the test ends.
func dialFrom(t *testing.T, addr, local string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: ioTimeout}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// apiVersionsV0 is an ApiVersions v0 request frame, correlation id 1.
func apiVersionsV0() []byte {
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 0
	return frameFor(av, 1)
}

// An inter-broker connection over max.connections is let in, and the
// least recently active client connection is closed to make room, as
// Kafka's processors close their lowest-priority channel; a client
// connection over it is held.
func TestInterBrokerConnectionEvictsClient(t *testing.T) {
	s := NewServer(heartbeatRegistry(), zerolog.Nop())
	s.Options.MaxConnections = 2
	s.Options.InterBrokerListener = "INTERNAL"
	client, err := s.Listen(Listener{Name: "PLAINTEXT", Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	internal, err := s.Listen(Listener{Name: "INTERNAL", Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	dial := func(addr string) net.Conn {
		c, err := net.DialTimeout("tcp", addr, ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, ok := servedOn(c); !ok {
			t.Fatalf("a connection to %s was not served", addr)
		}
		return c
	}
	older, newer := dial(client.String()), dial(client.String())
	// The older one was served first, but make the order unambiguous.
	waitFor(t, "the newer connection to be more recently active", func() bool {
		if _, ok := servedOn(newer); !ok {
			t.Fatal("the newer client connection stopped answering")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var at [2]int64
		for nc, tr := range s.conns {
			if tr.c == nil {
				return false
			}
			if nc.RemoteAddr().String() == older.LocalAddr().String() {
				at[0] = tr.c.lastActive.Load()
			} else {
				at[1] = tr.c.lastActive.Load()
			}
		}
		return at[0] < at[1]
	})
	dial(internal.String()) // over max.connections, and served
	waitFor(t, "ConnsEvicted to reach 1", func() bool { return s.Stats.ConnsEvicted.Load() == 1 })
	older.SetReadDeadline(time.Now().Add(ioTimeout))
	if _, err := older.Read(make([]byte, 1)); err == nil {
		t.Fatal("the least recently active client connection was not closed")
	}
	if _, ok := servedOn(newer); !ok {
		t.Fatal("the more recently active client connection was closed")
	}
	if got := s.Stats.ConnsEvicted.Load(); got != 1 {
		t.Fatalf("ConnsEvicted %d, want 1", got)
	}
}

// servedOn sends ApiVersions on an open connection and reports whether it
// is answered.
func servedOn(c net.Conn) (int, bool) {
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 0
	c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write(frameFor(av, 2)); err != nil {
		return 0, false
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return 0, false
	}
	n := int(binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
		return 0, false
	}
	return n, true
}

func TestParseConnectionOverrides(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]int
		err  bool
	}{
		{"", map[string]int{}, false},
		{"127.0.0.1:5", map[string]int{"127.0.0.1": 5}, false},
		{" hostA : 10 , 10.0.0.1:0 ,", map[string]int{"hostA": 10, "10.0.0.1": 0}, false},
		{"::1:7,[fe80::1]:2", map[string]int{"::1": 7, "fe80::1": 2}, false},
		{"hostA", nil, true},
		{"hostA:-1", nil, true},
		{":5", nil, true},
		{"hostA:x", nil, true},
	} {
		got, err := ParseConnectionOverrides(tc.in)
		if (err != nil) != tc.err || (!tc.err && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("ParseConnectionOverrides(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	o := DefaultOptions()
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	o.MaxRequestSize, o.MaxConnections, o.MaxConnectionsPerIP = 4, -1, 0
	o.MaxConnectionsPerIPOverrides = nil
	err := o.Validate()
	for _, key := range []string{"socket.request.max.bytes", "max.connections ", "max.connections.per.ip can be 0"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate does not report %q: %v", key, err)
		}
	}
	o = DefaultOptions()
	o.MaxConnectionsPerIP, o.MaxConnectionsPerIPOverrides = 0, map[string]int{"10.0.0.1": math.MaxInt32}
	if err := o.Validate(); err != nil {
		t.Fatalf("zero per IP with an override: %v", err)
	}
}

// connections.max.idle.ms closes a connection with nothing in flight that
// sends nothing, or trickles a request; one waiting on a response stays.
func TestIdleConnectionsClosed(t *testing.T) {
	const idle = 300 * time.Millisecond
	d := newDeferredProbe(1)
	reg := NewRegistry()
	reg.Register(API{Key: 12, Min: 0, Max: 4, WaitOnly: true, Handler: d.handle})
	s, addr := startServerWith(t, reg, func(o *Options) { o.IdleTimeout = idle })

	closedAfter := func(c net.Conn, since time.Time, what string) time.Duration {
		t.Helper()
		expectClosed(t, c, what)
		return time.Since(since)
	}
	c := dial(t, addr)
	if took := closedAfter(c, time.Now(), "a silent connection"); took < idle-50*time.Millisecond {
		t.Fatalf("a silent connection was closed after %v, before the idle time", took)
	}

	c = dial(t, addr)
	start := time.Now()
	send(t, c, []byte{0, 0, 1, 0}) // a 256-byte frame, trickled
	go func(c net.Conn) {
		for i := 0; i < 100; i++ {
			time.Sleep(idle / 3)
			if _, err := c.Write([]byte{0}); err != nil {
				return
			}
		}
	}(c)
	if took := closedAfter(c, start, "a trickled request"); took > 3*idle {
		t.Fatalf("a trickled request kept its connection %v", took)
	}

	// A request in flight for three idle times keeps the connection.
	c = dial(t, addr)
	send(t, c, frameFor(heartbeat(4, 1), 1))
	waitFor(t, "the deferred heartbeat running", func() bool { return len(d.startedSoFar()) == 1 })
	time.Sleep(3 * idle)
	close(d.release[1])
	if corr, gen := readHeartbeat(t, c, 4); corr != 1 || gen != 1 {
		t.Fatalf("after a long wait: correlation %d generation %d", corr, gen)
	}
	start = time.Now()
	if took := closedAfter(c, start, "a connection idle after its response"); took < idle-50*time.Millisecond {
		t.Fatalf("closed %v after its response, before the idle time", took)
	}
	waitFor(t, "three idle closes counted", func() bool { return s.Stats.ConnsIdleClosed.Load() == 3 })
}

// Without SASL, SaslHandshake gets ILLEGAL_SASL_STATE and no mechanisms,
// SaslAuthenticate ILLEGAL_SASL_STATE, as from Kafka's KafkaApis; the
// connection serves on.
func TestSASLWithoutSASL(t *testing.T) {
	_, addr := startServer(t, heartbeatRegistry(), 0)
	c := dial(t, addr)
	corr := int32(0)
	for v := int16(0); v <= (&kmsg.SASLHandshakeRequest{}).MaxVersion(); v++ {
		req := kmsg.NewPtrSASLHandshakeRequest()
		req.Version, req.Mechanism = v, "SCRAM-SHA-256"
		corr++
		send(t, c, frameFor(req, corr))
		resp := kmsg.NewPtrSASLHandshakeResponse()
		resp.Version = v
		readResponse(t, c, resp)
		if resp.ErrorCode != kerr.IllegalSaslState.Code || len(resp.SupportedMechanisms) != 0 {
			t.Fatalf("SaslHandshake v%d: error %d mechanisms %v", v, resp.ErrorCode, resp.SupportedMechanisms)
		}
	}
	for v := int16(0); v <= (&kmsg.SASLAuthenticateRequest{}).MaxVersion(); v++ {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version, req.SASLAuthBytes = v, []byte("token")
		corr++
		send(t, c, frameFor(req, corr))
		resp := kmsg.NewPtrSASLAuthenticateResponse()
		resp.Version = v
		readResponse(t, c, resp)
		if resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("SaslAuthenticate v%d: error %d", v, resp.ErrorCode)
		}
	}
	send(t, c, frameFor(heartbeat(3, 9), 99))
	if got, gen := readHeartbeat(t, c, 3); got != 99 || gen != 9 {
		t.Fatalf("heartbeat after SASL requests: correlation %d generation %d", got, gen)
	}
}
