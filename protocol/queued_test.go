package protocol

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/wait"
	"gregor/protocol/sasl"
)

// heldBytes sums the bytes the server's connections pin (request frames'
// buffers and unwritten responses): memory, where QueuedRequestBytes is
// what their requests reserve.
func heldBytes(s *Server) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, tr := range s.conns {
		if tr.c != nil {
			n += tr.c.held.Load()
		}
	}
	return n
}

// peakQueued samples s.QueuedRequestBytes until stop is called, which
// returns the highest value seen.
func peakQueued(s *Server) (stop func() int64) {
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if q := s.QueuedRequestBytes(); q > peak.Load() {
				peak.Store(q)
			}
			select {
			case <-done:
				return
			default:
				time.Sleep(20 * time.Microsecond)
			}
		}
	}()
	return func() int64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

// queuedWaiting is how many connections wait for queued.max.request.bytes.
func queuedWaiting(s *Server) int32 { return s.queued.waiting.Load() }

// Connections that began large frames together each overshot
// queued.max.request.bytes by a whole frame: the limit was checked only
// before a frame started, and a frame was charged as its bytes arrived.
// Now a frame reserves each buffer before growing into it, granted only
// while the others hold less than the limit, so the bytes held never
// exceed the limit plus one frame, and the connections over it wait,
// unread, until frames are answered.
func TestQueuedBytesOvershootByOneFrameAtMost(t *testing.T) {
	const (
		limit  = 1 << 20
		conns  = 8
		recLen = 600 << 10
	)
	bp := &blockingProduce{release: make(chan struct{})}
	reg := heartbeatRegistry()
	reg.Register(API{Key: 0, Min: 3, Max: 9, NoCopy: true, Handler: bp.handle})
	s, addr := startServerWith(t, reg, func(o *Options) { o.QueuedMaxRequestBytes = limit })
	frame := produceFrame(1, make([]byte, recLen))
	bound := int64(limit + len(frame) - 4)
	stop := peakQueued(s)

	// Every connection starts its frame while the budget is nearly empty
	// (a first buffer each, 512 KiB together), then sends the rest.
	var cs []net.Conn
	for i := 0; i < conns; i++ {
		c := dial(t, addr)
		send(t, c, frame[:100])
		cs = append(cs, c)
	}
	waitFor(t, "every frame's first buffer reserved", func() bool { return s.QueuedRequestBytes() == conns*initialFrameBuffer })
	var writers sync.WaitGroup
	for _, c := range cs {
		writers.Add(1)
		go func() { // blocks while the server does not read c
			defer writers.Done()
			c.SetWriteDeadline(time.Now().Add(ioTimeout))
			c.Write(frame[100:])
		}()
	}
	// Settled: each frame is either read whole (its handler holds it) or
	// waits for the budget.
	settled := wait.Until(ioTimeout, func() bool {
		n := bp.handled.Load()
		return n == conns || n+queuedWaiting(s) == conns
	})
	q, held, handled := s.QueuedRequestBytes(), heldBytes(s), bp.handled.Load()
	if !settled {
		t.Fatalf("timed out after %v waiting for every frame read or waiting for the budget: %d read, %d waiting, %d bytes reserved, %d held (bound %d)",
			ioTimeout, handled, queuedWaiting(s), q, held, bound)
	}
	t.Logf("%d of %d frames of %d bytes read at queued.max.request.bytes=%d: %d bytes reserved, %d held", handled, conns, len(frame)-4, limit, q, held)
	if q > bound || held > bound {
		t.Fatalf("%d bytes reserved and %d held with %d frames read, above the limit plus one frame (%d)", q, held, handled, bound)
	}
	if handled == conns {
		t.Fatalf("all %d frames (%d bytes) were read under a budget of %d", conns, conns*(len(frame)-4), limit)
	}

	// Answered, the frames free the budget for the waiting ones in turn.
	close(bp.release)
	for i, c := range cs {
		if length, _ := readProduce(t, c, 1); length != recLen {
			t.Fatalf("connection %d: the handler saw %d record bytes, want %d", i, length, recLen)
		}
	}
	writers.Wait()
	waitFor(t, "queued request bytes back to 0", func() bool { return s.QueuedRequestBytes() == 0 })
	if peak := stop(); peak > bound {
		t.Fatalf("queued request bytes peaked at %d, above the limit plus one frame (%d)", peak, bound)
	}
}

// stalledRequest opens a connection that announces a produce frame of
// size bytes and sends all but the last 64 KiB of it, then nothing.
func stalledRequest(t *testing.T, addr string, size int) net.Conn {
	t.Helper()
	c := dial(t, addr)
	frame := produceFrame(1, make([]byte, size-200))
	send(t, c, frame[:len(frame)-64<<10])
	return c
}

// A connection that stopped part-way through a large request held the
// budget its frame had grown to until connections.max.idle.ms (10
// minutes), and every other connection waited that long. Now it is
// closed once it has sent nothing for the stall timeout while another
// connection waits for the budget it holds; without one waiting it is left
// alone.
func TestStalledRequestClosedWhileOthersWait(t *testing.T) {
	reg := heartbeatRegistry()
	reg.Register(API{Key: 0, Min: 3, Max: 9, NoCopy: true, Handler: digestProduce})
	const stall = 300 * time.Millisecond
	s, addr := startServerWith(t, reg, func(o *Options) { o.QueuedMaxRequestBytes = 1 << 20 })
	s.stallTimeout, s.stallCheck = stall, 20*time.Millisecond

	const size = 2 << 20
	stalled := stalledRequest(t, addr, size)
	waitFor(t, "the stalled frame's buffer reserved", func() bool { return s.QueuedRequestBytes() >= size-1024 })
	// Nobody waits: it stays open well past the stall timeout.
	stalled.SetReadDeadline(time.Now().Add(4 * stall))
	var b [1]byte
	if n, err := stalled.Read(b[:]); n > 0 || !isTimeout(err) {
		t.Fatalf("with nobody waiting for the budget, a stalled request's connection was answered or closed (%d bytes, %v)", n, err)
	}

	// A heartbeat must wait for the budget: the stalled connection goes.
	took := heartbeatBehind(t, addr, "a stalled request")
	expectClosed(t, stalled, "a stalled request while another connection waits for the budget")
	t.Logf("heartbeat answered %v after it was sent, behind a %d-byte request stalled before it", took.Round(time.Millisecond), size)
	if took > stall+time.Second {
		t.Errorf("heartbeat answered after %v, want within the stall timeout (%v) and a check", took, stall)
	}
	waitFor(t, "the stalled close counted", func() bool { return s.Stats.ConnsStalledClosed.Load() == 1 })

	// A request that keeps arriving, slowly, is not stalled: a frame that
	// trickles 64 KiB every stall/3 while another connection waits is read
	// to its end.
	slow := dial(t, addr)
	frame := produceFrame(2, make([]byte, 1<<20+100))
	send(t, slow, frame[:200<<10])
	waitFor(t, "the slow frame's 1 MiB buffer reserved", func() bool { return s.QueuedRequestBytes() >= 1<<20 })
	waiter := dial(t, addr)
	send(t, waiter, frameFor(heartbeat(3, 8), 6))
	waitFor(t, "the heartbeat waiting for the budget", func() bool { return queuedWaiting(s) == 1 })
	for rest := frame[200<<10:]; len(rest) > 0; {
		n := min(len(rest), 64<<10)
		send(t, slow, rest[:n])
		rest = rest[n:]
		time.Sleep(stall / 3) // the pace being tested, not synchronisation
	}
	if length, _ := readProduce(t, slow, 2); length != 1<<20+100 {
		t.Fatalf("slow produce saw %d bytes", length)
	}
	if corr, gen := heartbeatWithin(t, waiter, "a heartbeat behind a slow request"); corr != 6 || gen != 8 {
		t.Fatalf("heartbeat behind a slow request: correlation %d generation %d", corr, gen)
	}
	if n := s.Stats.ConnsStalledClosed.Load(); n != 1 {
		t.Fatalf("%d connections closed as stalled, want only the first", n)
	}
	waitFor(t, "queued request bytes back to 0", func() bool { return s.QueuedRequestBytes() == 0 })
}

// heartbeatBehind sends a heartbeat on a new connection that must wait
// for the budget behind what, and returns how long its answer took.
func heartbeatBehind(t *testing.T, addr, what string) time.Duration {
	t.Helper()
	c := dial(t, addr)
	start := time.Now()
	send(t, c, frameFor(heartbeat(3, 7), 5))
	if corr, gen := heartbeatWithin(t, c, "a heartbeat behind "+what); corr != 5 || gen != 7 {
		t.Fatalf("heartbeat behind %s: correlation %d generation %d", what, corr, gen)
	}
	return time.Since(start)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// heartbeatWithin reads a Heartbeat v3 response within ioTimeout, saying
// what was awaited if none comes.
func heartbeatWithin(t *testing.T, c net.Conn, what string) (corr, gen int32) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("%s: no answer within %v: %v", what, ioTimeout, err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("%s: reading the answer: %v", what, err)
	}
	resp := kmsg.NewPtrHeartbeatResponse()
	resp.Version = 3
	if err := resp.ReadFrom(buf[4:]); err != nil {
		t.Fatalf("%s: decoding the answer: %v", what, err)
	}
	return int32(binary.BigEndian.Uint32(buf)), resp.ThrottleMillis
}

// An acks=all produce whose answer waits for the followers' fetches kept
// its reservation under queued.max.request.bytes until answered, so once
// waiting requests filled the budget the fetches they waited for were not
// read: replication stopped and every produce waited for its timeout (a
// JoinGroup waiting for the other members' joins likewise). Now a request
// whose handler deferred its answer returns its reservation, as Kafka
// returns a request's buffer to the memory pool once its handler returns
// (KafkaRequestHandler, RequestChannel.Request.releaseBuffer); the frame
// still counts in its connection's gregor.connection.max.queued.bytes.
func TestDeferredRequestLeavesQueuedBudget(t *testing.T) {
	const limit = 256 << 10
	fetched := make(chan struct{})
	var once sync.Once
	reg := NewRegistry()
	// The "follower's fetch": a heartbeat that lets the produce finish.
	reg.Register(API{Key: 12, Min: 0, Max: 4, Handler: func(ctx context.Context, req *Request) (kmsg.Response, error) {
		once.Do(func() { close(fetched) })
		return echoHeartbeat(ctx, req)
	}})
	reg.Register(API{Key: 0, Min: 3, Max: 9, NoCopy: true, WaitOnly: true, Handler: func(ctx context.Context, req *Request) (kmsg.Response, error) {
		req.Defer(func(ctx context.Context) (kmsg.Response, error) {
			select {
			case <-fetched:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return digestProduce(ctx, req)
		})
		return nil, nil
	}})
	s, addr := startServerWith(t, reg, func(o *Options) { o.QueuedMaxRequestBytes = limit })

	producer := dial(t, addr)
	send(t, producer, produceFrame(1, make([]byte, limit+(44<<10))))
	waitFor(t, "the produce frame read and its answer waiting", func() bool {
		return heldBytes(s) > limit
	})
	follower := dial(t, addr)
	send(t, follower, frameFor(heartbeat(3, 9), 2))
	if corr, gen := heartbeatWithin(t, follower, "the fetch a waiting produce waits for"); corr != 2 || gen != 9 {
		t.Fatalf("fetch: correlation %d generation %d", corr, gen)
	}
	if length, _ := readProduce(t, producer, 1); length != limit+(44<<10) {
		t.Fatalf("produce saw %d bytes", length)
	}
	waitFor(t, "queued request bytes back to 0", func() bool { return s.QueuedRequestBytes() == 0 })
}

// A connection whose frame waited for the next step of the budget, the
// broker not reading it, must not be taken for stalled once it gets it:
// with another connection waiting, the time it was not read is not the
// client's silence (the watch sees the bytes read since its last check).
func TestBudgetWaitNotTakenForStall(t *testing.T) {
	reg := heartbeatRegistry()
	reg.Register(API{Key: 0, Min: 3, Max: 9, NoCopy: true, Handler: digestProduce})
	const (
		limit = 1 << 20
		stall = 200 * time.Millisecond
		size  = 3 << 20
	)
	s, addr := startServerWith(t, reg, func(o *Options) { o.QueuedMaxRequestBytes = limit })
	s.stallTimeout, s.stallCheck = stall, 20*time.Millisecond

	c := dial(t, addr)
	frame := produceFrame(1, make([]byte, size))
	send(t, c, frame[:3<<19])
	waitFor(t, "the frame grown to 2 MiB", func() bool { return s.QueuedRequestBytes() >= 2<<20 })
	// Another frame, its handler at work, holds the limit; a connection
	// waits for the budget meanwhile.
	s.queued.holders.Add(1)
	s.queued.add(limit)
	s.queued.waiting.Add(1)
	defer s.queued.waiting.Add(-1)
	go func() { // blocks while the server does not read c
		c.SetWriteDeadline(time.Now().Add(ioTimeout))
		c.Write(frame[3<<19:])
	}()
	waitFor(t, "the frame waiting for its next step", func() bool { return s.queued.restWaiting.Load() == 1 })
	time.Sleep(3 * stall) // the broker's wait being tested, not synchronisation
	s.queued.holders.Add(-1)
	s.queued.add(-limit)
	if length, _ := readProduce(t, c, 1); length != size {
		t.Fatalf("produce saw %d bytes", length)
	}
	if n := s.Stats.ConnsStalledClosed.Load(); n != 0 {
		t.Fatalf("%d connections closed as stalled", n)
	}
}

// An empty v0 SASL token (a size prefix of 0 after SaslHandshake v0)
// reserved 0 bytes, which counted its frame as holding a reservation but
// was never released: the count of holders drifted up for good, and with
// it one more holder than could ever wait, so the overdraft that breaks
// growth deadlocks was never taken again (three connections growing large
// frames together then waited for one another until closed as stalled).
func TestEmptySASLTokenLeavesNoBudgetHolder(t *testing.T) {
	s := NewServer(heartbeatRegistry(), zerolog.Nop())
	s.QueuedMaxRequestBytes = 1 << 20
	s.FailedAuthDelay = 0
	ln, err := s.Listen(Listener{Name: "SASL_PLAINTEXT", Addr: "127.0.0.1:0", Security: &Security{
		Protocol: SASLPlaintext, Mechanisms: []sasl.Mechanism{sasl.NewPlain(map[string]string{"u": "p"})},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c := dial(t, ln.String())
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 0, "PLAIN"
	send(t, c, frameFor(hs, 1))
	hr := kmsg.NewPtrSASLHandshakeResponse()
	hr.Version = 0
	if corr := readResponse(t, c, hr); corr != 1 || hr.ErrorCode != 0 {
		t.Fatalf("SaslHandshake v0: correlation %d error %d", corr, hr.ErrorCode)
	}
	send(t, c, []byte{0, 0, 0, 0}) // an empty raw token
	expectClosed(t, c, "an empty PLAIN token")
	waitFor(t, "no frame counted as holding the budget", func() bool {
		return s.queued.holders.Load() == 0 && s.QueuedRequestBytes() == 0
	})
}

// Connections that each announce a frame and send a few bytes of it hold
// their first buffers (initialFrameBuffer each) under
// queued.max.request.bytes. They were left to connections.max.idle.ms (10
// minutes), and enough of them (limit / 64 KiB: 8,192 under the default
// 512 MiB) kept every other client waiting that long. Now a quiet first
// buffer is closed as a stalled request is, once others wait.
func TestQuietFirstBuffersClosedWhileOthersWait(t *testing.T) {
	reg := heartbeatRegistry()
	reg.Register(API{Key: 0, Min: 3, Max: 9, NoCopy: true, Handler: digestProduce})
	const stall = 300 * time.Millisecond
	const quiet = 4
	s, addr := startServerWith(t, reg, func(o *Options) { o.QueuedMaxRequestBytes = quiet * initialFrameBuffer })
	s.stallTimeout, s.stallCheck = stall, 20*time.Millisecond

	var conns []net.Conn
	for range quiet {
		c := dial(t, addr)
		announce := binary.BigEndian.AppendUint32(nil, 1<<20)
		send(t, c, append(announce, 0, 0, 0, 9, 0, 0)) // Produce v9, then nothing
		conns = append(conns, c)
	}
	waitFor(t, "every quiet frame's first buffer reserved", func() bool {
		return s.QueuedRequestBytes() == quiet*initialFrameBuffer
	})
	took := heartbeatBehind(t, addr, "quiet first buffers that fill the budget")
	if took > stall+time.Second {
		t.Errorf("heartbeat answered after %v, want within the stall timeout (%v) and a check", took, stall)
	}
	// Quiet connections were closed until the heartbeat had room; the
	// rest keep no one waiting and are left to connections.max.idle.ms.
	// A closed connection is counted once it has ended, after its budget
	// was released (which may already have let the heartbeat through).
	waitFor(t, "a quiet connection counted as closed for a stall", func() bool {
		return s.Stats.ConnsStalledClosed.Load() >= 1
	})
	closed := s.Stats.ConnsStalledClosed.Load()
	if closed < 1 || closed > quiet {
		t.Fatalf("%d quiet connections closed as stalled, want 1 to %d", closed, quiet)
	}
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, "queued request bytes back to 0", func() bool { return s.QueuedRequestBytes() == 0 })
	t.Logf("heartbeat answered %v after it was sent; %d of %d quiet connections closed", took.Round(time.Millisecond), closed, quiet)
}
