package protocol

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// conn serves one client connection.
//
//   - The reader (serve's goroutine) reads frames, decodes them and runs
//     their handlers in arrival order, so side effects such as appends to
//     one partition happen in the order the client sent them.
//   - Deferred work starts when its request arrives, in a goroutine of its
//     own. Work that only waits (API.WaitOnly: a long poll, an acks=all
//     wait) runs alongside every other request's; other deferred work runs
//     one request at a time in request order, as the writer used to run it
//     (pipelined OffsetCommits must apply in the order sent).
//   - A response is encoded as soon as it is ready, which also frees the
//     request's frame. The writer sends responses in request order and
//     flushes whenever the next one is not ready, so a ready response never
//     waits behind a later one's readiness.
//
// What a connection makes the server hold is bounded: a frame buffer grows
// as bytes arrive, but its bytes are reserved under the server's
// queued.max.request.bytes ahead of them: its first buffer when it starts,
// then each larger buffer before the bytes that fill it (budget.go), the
// reader waiting (the connection muted) until the budget has room, and
// returned once the handler returns (see unreserve).
// Before each new request the reader also waits for room under the
// connection's own ConnMaxQueuedBytes (requests not yet answered plus
// responses not yet written), so a client that does not read its
// responses is not read either. connections.max.idle.ms closes idle and
// trickling clients, and a client that stops sending a request whose whole
// size it holds is closed sooner while others wait for the budget
// (checkStall).
type conn struct {
	s    *Server
	nc   net.Conn
	info ConnInfo
	log  zerolog.Logger
	// warn is a rate-limited logger for lines a hostile client could cause.
	warn   zerolog.Logger
	queue  chan *pending // request order: the reader sends, the writer receives
	ctx    context.Context
	cancel context.CancelFunc
	// workers are the goroutines running deferred work.
	workers sync.WaitGroup
	// drained wakes a reader waiting for held to drop (the writer sends
	// after each write; capacity 1 so no wake-up is lost).
	drained chan struct{}

	// held is the bytes the connection pins: request frames being read or
	// not yet answered plus encoded responses not yet written.
	held atomic.Int64
	// reqHeld is what its request frames reserve under the server's queued
	// budget (the buffers they have grown to, see readFrame, until their
	// handlers return, see unreserve); whatever is left when the
	// connection ends is returned then.
	reqHeld atomic.Int64
	// outstanding counts requests handed to the writer and not yet
	// written: while any is, the client is waiting on us, not idle.
	outstanding atomic.Int32
	// lastActive is when a request last arrived in full or a response was
	// last written (Unix nanoseconds).
	lastActive atomic.Int64

	// lastOrdered is closed when the latest ordered deferred request has
	// finished (reader-owned).
	lastOrdered chan struct{}

	// sec is the listener's security; auth the SASL state (nil unless
	// SASL), and sessionLifetime the last exchange's (reader-owned).
	sec             *Security
	auth            *authConn
	sessionLifetime time.Duration

	// w is the writer's state, set when it starts; read once it ended.
	w *responseWriter
	// arrivedNow is when the request being handled arrived (reader-owned).
	arrivedNow time.Time
	// unqueued are requests the reader could not queue because the
	// connection was ending (reader-owned; released by releaseUnwritten).
	unqueued []*pending

	// got counts the bytes read from the client, and stall watches the
	// frame being read once it grows past its first buffer (reader-owned).
	got   int64
	stall stallWatch
	// deadline is the read deadline set last (reader-owned).
	deadline time.Time
}

// stallWatch is the state of checkStall for the frame being read.
type stallWatch struct {
	on   bool
	size int
	// mark is got when a check last saw bytes arrive, at seen.
	mark int64
	seen time.Time
}

// pending is a request whose response is to be written, in order.
type pending struct {
	hdr     header
	arrived time.Time
	// started and handled bracket the handler; ready is when the response
	// was encoded (deferred work done); size is the request frame's bytes.
	started, handled, ready time.Time
	size                    int
	resp                    kmsg.Response
	deferred                func(ctx context.Context) (kmsg.Response, error)
	waitOnly                bool
	// frame is the request's buffer, released once the response is
	// encoded (nothing refers to it after).
	frame *frameBuf
	// done is closed once out and err are set; nil if they were set
	// before the pending reached the writer.
	done chan struct{}
	out  *outFrame // the encoded response frame; nil if none is due
	err  error     // the handler failed: close the connection
	// raw is a v0 SASL token to send as it is (size-prefixed, no header).
	raw []byte
	// closeAfter closes the connection once this response is written.
	closeAfter bool
	// authFailure: the answer to a failed SASL authentication, written
	// after Options.FailedAuthDelay.
	authFailure bool
}

func newConn(s *Server, nc net.Conn, listener string, sec *Security) *conn {
	id := s.nextConn.Add(1)
	proto := Plaintext
	if sec != nil {
		proto = sec.Protocol
		if sec.TLS != nil {
			nc = tls.Server(nc, sec.TLS.TLSConfig())
		}
	}
	ctx, cancel := context.WithCancel(s.ctx)
	log := s.Log.With().Uint64(LogConn, id).Str(LogRemote, nc.RemoteAddr().String()).Logger()
	c := &conn{
		s:       s,
		nc:      nc,
		info:    ConnInfo{ID: id, Listener: listener, Local: nc.LocalAddr(), Remote: nc.RemoteAddr(), SecurityProtocol: proto},
		log:     log,
		warn:    log.Sample(&zerolog.BurstSampler{Burst: 20, Period: time.Second}),
		queue:   make(chan *pending, maxInflightPerConn),
		ctx:     ctx,
		cancel:  cancel,
		drained: make(chan struct{}, 1),
		sec:     sec,
	}
	if sec.sasl() {
		c.auth = &authConn{sec: sec}
	}
	c.touch(time.Now())
	return c
}

func (c *conn) serve() {
	c.s.Stats.ConnsOpen.Add(1)
	c.s.Stats.ConnsTotal.Add(1)
	lc := c.s.Stats.listener(c.info.Listener)
	lc.Created.Add(1)
	defer func() {
		c.s.Stats.ConnsOpen.Add(-1)
		lc.Closed.Add(1)
	}()
	var once sync.Once
	var first error
	// fail records the first error and stops both sides: the writer must
	// not outlive a failed read (nor flush to a client we are dropping),
	// and the reader may be waiting for room only the writer would make.
	fail := func(err error) {
		once.Do(func() {
			first = err
			c.cancel()
			c.nc.Close()
		})
	}
	if err := c.startTLS(); err != nil {
		c.nc.Close()
		c.cancel()
		c.logClose(err)
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.writeLoop(); err != nil {
			fail(err)
		}
	}()
	err := c.readLoop()
	close(c.queue)
	if err != nil && !errors.Is(err, errStopReading) {
		fail(err)
	}
	<-done
	fail(nil)
	c.workers.Wait()
	c.releaseUnwritten()
	// Every frame is released by now; this returns anything a bug kept.
	if left := c.reqHeld.Swap(0); left != 0 {
		c.log.Error().Int64(LogBytes, left).Msg("connection ended holding request bytes")
		c.s.queued.add(-left)
	}
	if c.s.OnClose != nil {
		c.s.OnClose(c.info.ID)
	}
	c.logClose(first)
}

// releaseUnwritten frees the responses a stopped writer did not write
// (their buffers, and the file ranges they hold open). Called once the
// writer and every deferred worker have ended.
func (c *conn) releaseUnwritten() {
	release := func(p *pending) {
		if p != nil && p.out != nil {
			c.held.Add(-int64(p.out.len()))
			p.out.release()
			p.out = nil
		}
	}
	if w := c.w; w != nil {
		for _, p := range w.batch {
			release(p)
		}
		release(w.cur)
		w.batch, w.cur = nil, nil
		w.pw.free()
	}
	for p := range c.queue {
		release(p)
	}
	for _, p := range c.unqueued {
		release(p)
	}
	c.unqueued = nil
}

// ExpectedCloser is a handler error that closes the connection as the
// protocol asks (a failed acks=0 produce): logged at info, not warned of.
type ExpectedCloser interface {
	error
	ExpectedClose()
}

func (c *conn) logClose(err error) {
	var idle idleError
	var stalled stallError
	var expired sessionExpiredError
	var expected ExpectedCloser
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, errStopReading):
		c.log.Debug().Msg("connection closed")
	case errors.As(err, &expired), socketFailed(err):
		c.log.Debug().Err(err).Msg("closing connection")
	case errors.As(err, &expected):
		// A close the protocol asks for (a failed acks=0 produce).
		c.log.Info().Err(err).Msg("closing connection")
	case errors.As(err, &idle):
		c.s.Stats.ConnsIdleClosed.Add(1)
		c.log.Debug().Err(err).Msg("closing idle connection")
	case errors.As(err, &stalled):
		c.s.Stats.ConnsStalledClosed.Add(1)
		c.warn.Warn().Err(err).Msg("closing connection stalled mid-request")
	default:
		c.warn.Warn().Err(err).Msg("closing connection")
	}
}

// socketFailed reports whether err is the socket failing under the client: a
// reset, a broken pipe, an aborted or timed-out connection (a killed
// client, a crashed host, a broker killed with -9). Kafka's Selector logs
// such an IOException as "Connection with ... disconnected" at debug and
// keeps WARN for unexpected errors.
func socketFailed(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ETIMEDOUT)
}

// idleError closes a connection for connections.max.idle.ms.
type idleError struct{ msg string }

func (e idleError) Error() string { return e.msg }

// stallError closes a connection that stopped sending a request part of
// whose size it holds while others wait for the budget (checkStall).
type stallError struct{ msg string }

func (e stallError) Error() string { return e.msg }

// readLoop reads and handles requests until the connection fails. The
// read deadline is moved only when it passes (see keepAlive), not per
// request: a request's arrival just records the time.
func (c *conn) readLoop() error {
	var br *bufio.Reader
	defer func() { putReader(br) }()
	var prefix [4]byte
	c.setReadDeadline(time.Now())
	for {
		if err := c.admit(); err != nil {
			return err
		}
		// An idle connection holds no read buffer: with nothing
		// buffered, the next size prefix is read from the socket and
		// a pooled buffer taken for what follows.
		var src io.Reader = br
		if br == nil || br.Buffered() == 0 {
			putReader(br)
			br, src = nil, c.nc
		}
		if err := c.readFull(src, prefix[:], "idle"); err != nil {
			return err
		}
		if br == nil {
			br = getReader(c.nc)
		}
		size := int32(binary.BigEndian.Uint32(prefix[:]))
		if lo, hi := c.frameLimits(); size < lo || size > hi {
			c.s.Stats.ConnsDropped.Add(1)
			if c.authenticated() {
				return fmt.Errorf("request size %d outside [%d, %d] (socket.request.max.bytes)", size, lo, hi)
			}
			c.authFailed(c.auth.mechOrNone(), "", fmt.Errorf("invalid receive size %d before authentication (at most %d)", size, hi))
			c.holdBack()
			return fmt.Errorf("request size %d outside [%d, %d] before authentication", size, lo, hi)
		}
		c.touch(time.Now())
		var frame *frameBuf
		var err error
		if c.auth != nil && c.auth.state == authRawToken {
			frame, err = c.readRaw(br, int(size))
		} else {
			frame, err = c.readFrame(br, int(size))
		}
		if err != nil {
			return err
		}
		arrived := time.Now()
		c.arrivedNow = arrived
		c.touch(arrived)
		var p *pending
		if c.auth != nil && c.auth.state == authRawToken {
			p, err = c.rawToken(frame.b)
		} else {
			p, err = c.handleFrame(frame.b)
		}
		if err != nil {
			c.releaseFrame(frame)
			c.s.Stats.ConnsDropped.Add(1)
			if errors.Is(err, errAuthFailed) {
				c.holdBack()
			}
			return err
		}
		if p == nil {
			c.releaseFrame(frame) // no response due: the handler is done with it
			continue
		}
		p.size = int(size)
		p.arrived, p.frame = arrived, frame
		if err := c.dispatch(p); err != nil {
			return err
		}
		if p.closeAfter {
			return errStopReading
		}
	}
}

// errAuthFailed marks a failed authentication that closes the connection
// without an answer (a v0 raw token, a request SASL does not allow yet).
var errAuthFailed = errors.New("authentication failed")

// holdBack waits Options.FailedAuthDelay before a failed authentication
// is answered or its connection closed, as Kafka does (KIP-306); false if
// the server stopped meanwhile.
func (c *conn) holdBack() bool {
	d := c.s.Options.FailedAuthDelay
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// readers recycles connections' read buffers (see readLoop).
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

func getReader(r io.Reader) *bufio.Reader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func putReader(br *bufio.Reader) {
	if br != nil {
		br.Reset(nil)
		readers.Put(br)
	}
}

// readRaw reads a raw SASL token of size bytes (it may be shorter than a
// request header; at most sasl.server.max.receive.size), reserved whole.
func (c *conn) readRaw(br *bufio.Reader, size int) (*frameBuf, error) {
	f := &frameBuf{}
	if err := c.reserve(f, size, false); err != nil {
		return nil, err
	}
	c.growFrame(f, size, 0)
	if err := c.readFull(br, f.b, "a SASL token"); err != nil {
		c.releaseFrame(f)
		return nil, err
	}
	if f.reserved > 0 {
		c.s.queued.hold(f)
	}
	return f, nil
}

// admit waits until this connection has room for another request (the
// server's budget is reserved once the request's size is known: reserve).
// Time spent waiting here is ours, not the client's: it does not count
// towards the idle time.
func (c *conn) admit() error {
	waited := false
	if limit := c.s.ConnMaxQueuedBytes; limit > 0 {
		for c.held.Load() >= limit {
			waited = true
			select {
			case <-c.drained:
			case <-c.ctx.Done():
				return c.ctx.Err()
			}
		}
	}
	if w, err := c.awaitUnmuted(); err != nil {
		return err
	} else if w {
		waited = true
	}
	if waited {
		c.touch(time.Now())
	}
	return nil
}

// readFrame reads a frame of size bytes into a buffer that starts at
// initialFrameBuffer and grows only as bytes arrive. Its bytes are
// reserved under queued.max.request.bytes ahead of them, step by step (see
// byteBudget): each buffer before the bytes that fill it are read. So the
// bytes held stay under the limit plus two frames, and a client that
// announces a size and sends part of it reserves at most twice what it
// sent, or past the pooled sizes four times (nextFrameStep), no more than
// it makes us allocate. Frames of APIs that decode without
// copying come from the frame pool (see frames.go): once the first buffer
// is full, a pooled buffer of the whole size is taken if the pool has one
// (memory the broker holds already), so a large produce is not moved at
// every doubling; it is still filled, and reserved, a step at a time.
func (c *conn) readFrame(br *bufio.Reader, size int) (*frameBuf, error) {
	var key [2]byte
	if err := c.readFull(br, key[:], "a request"); err != nil {
		return nil, err
	}
	api, ok := c.s.Registry.Lookup(int16(binary.BigEndian.Uint16(key[:])))
	f := &frameBuf{pooled: ok && api.NoCopy}
	step := min(size, initialFrameBuffer)
	if err := c.reserve(f, step, false); err != nil {
		return nil, err
	}
	c.growFrame(f, step, 0)
	copy(f.b, key[:])
	filled := len(key)
	for {
		if !c.stall.on && br.Buffered() < step-filled {
			// Bytes it reserved that are not here yet: watched from now
			// on, its first buffer too. Connections that each announced a
			// frame and sent a few bytes of it held their first buffers
			// until connections.max.idle.ms, and enough of them (8,192
			// under the default limit) kept every other client waiting
			// that long.
			c.watchStall(size)
		}
		if err := c.readFull(br, f.b[filled:step], "a request"); err != nil {
			c.stall.on = false
			c.releaseFrame(f)
			return nil, err
		}
		filled = step
		if filled == size {
			c.stall.on = false
			c.s.queued.hold(f) // its release no longer waits on the client
			return f, nil
		}
		step = nextFrameStep(filled, size)
		if err := c.reserve(f, step, true); err != nil {
			c.stall.on = false
			c.releaseFrame(f)
			return nil, err
		}
		if len(f.b) >= step || f.pooled && c.growPooled(f, size, filled) {
			continue
		}
		c.growFrame(f, step, filled)
	}
}

// nextFrameStep is the size a frame's buffer grows to once its first
// filled bytes have arrived: 1 MiB, then doubling, except that past the
// pooled sizes (maxPooledFrame) it takes the whole frame at once when that
// is at most frameJumpFactor times what has arrived. Each buffer a frame
// outgrows beyond the pool is garbage until the collector runs, and the
// doublings of the larger ones left about half a frame of it (16 MiB of a
// 30 MiB produce): with frames closed and read again, the heap grew to
// three times the bytes held. A client that announces a frame reserves no
// more than frameJumpFactor times what it sent (a 100 MiB frame still
// doubles from 8 MiB to 16 and 32 before its whole size), and the whole
// frame is reserved before it is allocated, as each step is.
func nextFrameStep(filled, size int) int {
	next := max(2*filled, frameGrowthStep)
	if next > maxPooledFrame && size <= frameJumpFactor*filled {
		next = size
	}
	return min(size, next)
}

// frameJumpFactor bounds how far ahead of the bytes received a frame past
// the pooled sizes may grow in one step (nextFrameStep).
const frameJumpFactor = 4

// growPooled moves f's first filled bytes to a pooled buffer of n bytes if
// the pool has one.
func (c *conn) growPooled(f *frameBuf, n, filled int) bool {
	b, pf, ok := pooledFrameOf(n)
	if ok {
		c.moveFrame(f, b, pf, filled)
	}
	return ok
}

// growFrame moves f's first filled bytes to a buffer of n bytes, charging
// the difference.
func (c *conn) growFrame(f *frameBuf, n, filled int) {
	if f.pooled {
		b, pf := getFrame(n)
		c.moveFrame(f, b, pf, filled)
	} else {
		c.moveFrame(f, make([]byte, n), nil, filled)
	}
}

// moveFrame moves f's first filled bytes to b (from pool pf, if any),
// charging the difference to the connection.
func (c *conn) moveFrame(f *frameBuf, b []byte, pf *pooledFrame, filled int) {
	old, oldPool := f.b, f.pool
	f.b, f.pool = b, pf
	copy(f.b, old[:filled])
	oldPool.release()
	c.held.Add(int64(len(b) - len(old)))
}

// reserve raises f's reservation under queued.max.request.bytes to total
// bytes, waiting (not reading: muted, as Kafka mutes a channel the memory
// pool cannot serve) until the budget has room. rest marks the rest of a
// large frame, which waits behind first buffers. Time waiting is ours: it
// does not count towards the idle time.
func (c *conn) reserve(f *frameBuf, total int, rest bool) error {
	n := int64(total) - f.reserved
	waited, err := c.s.queued.reserve(c.ctx, f, n, f.reserved, rest)
	if err != nil {
		return err
	}
	f.reserved = int64(total)
	c.reqHeld.Add(n)
	if waited {
		c.touch(time.Now())
	}
	return nil
}

// releaseFrame frees f's buffer and returns its reservation.
func (c *conn) releaseFrame(f *frameBuf) {
	if f == nil {
		return
	}
	if f.b != nil {
		c.held.Add(-int64(len(f.b)))
		f.pool.release()
		f.b, f.pool = nil, nil
	}
	c.unreserve(f)
}

// unreserve returns f's reservation under queued.max.request.bytes (if it
// still holds one), keeping its buffer: a request whose handler deferred
// its answer (an acks=all produce waiting for the ISR, a long-poll fetch,
// a JoinGroup waiting for the rebalance) keeps its frame until answered,
// counted in the connection's gregor.connection.max.queued.bytes, but not
// in the shared budget. Its wait may end only when other requests are
// read (the followers' fetches, the other members' joins), so a budget
// full of waiting requests would stop them all until their timeouts.
// Kafka likewise returns a request's buffer to the memory pool when
// KafkaRequestHandler's handle returns (RequestChannel.Request's
// releaseBuffer), before a delayed operation completes.
func (c *conn) unreserve(f *frameBuf) {
	if f == nil {
		return
	}
	if r := f.reserved; r != 0 {
		f.reserved = 0
		c.reqHeld.Add(-r)
		c.s.queued.release(f, r)
	}
}

// readFull fills p, treating a read deadline as the idle check: the
// connection lives on while requests are in flight or it was active within
// the idle time, and is closed otherwise.
func (c *conn) readFull(br io.Reader, p []byte, waitingFor string) error {
	for len(p) > 0 {
		n, err := br.Read(p)
		p = p[n:]
		c.got += int64(n)
		if err == nil {
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if err := c.checkStall(); err != nil {
			return err
		}
		if !c.keepAlive() {
			if waitingFor == "idle" {
				return idleError{fmt.Sprintf("idle for %v (connections.max.idle.ms)", c.s.IdleTimeout)}
			}
			return idleError{fmt.Sprintf("%s not received in full within %v (connections.max.idle.ms)", waitingFor, c.s.IdleTimeout)}
		}
	}
	return nil
}

// keepAlive is called when the read deadline passes: it moves the
// deadline on if the connection is not idle, that is if requests are in
// flight or it was active (a size prefix or a whole request read, a
// response written) within the idle time. So a request must arrive in full
// within the idle time after its size prefix. While a stall is watched the
// deadline passes at least every stall check interval.
func (c *conn) keepAlive() bool {
	now := time.Now()
	var next time.Time // zero: none
	if idle := c.s.IdleTimeout; idle > 0 {
		next = now.Add(idle)
		if c.outstanding.Load() == 0 {
			last := time.Unix(0, c.lastActive.Load())
			if now.Sub(last) >= idle {
				return false
			}
			next = last.Add(idle)
		}
	}
	if c.stall.on {
		if check := now.Add(c.s.stallCheck); next.IsZero() || check.Before(next) {
			next = check
		}
	}
	c.deadline = next
	c.nc.SetReadDeadline(next)
	return true
}

// setReadDeadline sets the read deadline to the idle timeout after from.
func (c *conn) setReadDeadline(from time.Time) {
	if c.s.IdleTimeout > 0 {
		c.deadline = from.Add(c.s.IdleTimeout)
		c.nc.SetReadDeadline(c.deadline)
	}
}

// watchStall starts checkStall's watch over the frame being read, now
// that part of what it reserved has yet to arrive: the read deadline
// passes within the stall check interval from now on, so a client that
// stops sending is noticed. One deadline change per frame at most (none
// for a frame read from what is buffered already), none if the deadline is
// near already.
func (c *conn) watchStall(size int) {
	if c.s.queued.limit <= 0 {
		return // nothing to wait for: nothing to watch
	}
	now := time.Now()
	c.stall = stallWatch{on: true, size: size, mark: c.got, seen: now}
	if check := now.Add(c.s.stallCheck); c.deadline.IsZero() || check.Before(c.deadline) {
		c.deadline = check
		c.nc.SetReadDeadline(check)
	}
}

// checkStall is called when the read deadline passes while a frame is
// watched (watchStall): a connection that has sent none of it for the
// stall timeout while another connection waits for the budget is closed. Its reservation is what keeps the others waiting, and a client
// that stops mid-request does not send the rest; without others waiting,
// only connections.max.idle.ms applies, as in Kafka.
func (c *conn) checkStall() error {
	w := &c.stall
	if !w.on {
		return nil
	}
	now := time.Now()
	if c.got != w.mark {
		w.mark, w.seen = c.got, now
		return nil
	}
	silent := now.Sub(w.seen)
	if silent < c.s.stallTimeout {
		return nil
	}
	if n := c.s.queued.waiting.Load(); n > 0 {
		return stallError{fmt.Sprintf("sent nothing of a %d-byte request for %v while %d connections waited for queued.max.request.bytes (%d bytes reserved)",
			w.size, silent.Round(time.Millisecond), n, c.s.queued.used.Load())}
	}
	return nil
}

// touch records activity at now; lastActive only moves forward, as the
// reader and the writer touch it concurrently.
func (c *conn) touch(now time.Time) {
	n := now.UnixNano()
	for {
		cur := c.lastActive.Load()
		if n <= cur || c.lastActive.CompareAndSwap(cur, n) {
			return
		}
	}
}

// dispatch encodes a ready response or starts deferred work, and hands the
// request to the writer.
func (c *conn) dispatch(p *pending) error {
	c.outstanding.Add(1)
	if p.deferred == nil {
		c.finish(p, p.resp, nil)
	} else {
		c.unreserve(p.frame) // the handler has returned (see unreserve)
		p.done = make(chan struct{})
		var prev chan struct{}
		if !p.waitOnly {
			prev, c.lastOrdered = c.lastOrdered, p.done
		}
		c.workers.Add(1)
		c.s.workers.run(func() { c.runDeferred(p, prev) })
	}
	select {
	case c.queue <- p:
		return nil
	case <-c.ctx.Done():
		// The connection is ending: the writer will not take p, whose
		// response (made now, or by its deferred work) may hold file
		// ranges; it is released with the unwritten ones.
		c.unqueued = append(c.unqueued, p)
		return c.ctx.Err()
	}
}

// runDeferred runs a request's deferred work once the ordered request
// before it (if any) has finished.
func (c *conn) runDeferred(p *pending, prev chan struct{}) {
	defer c.workers.Done()
	defer close(p.done)
	if prev != nil {
		select {
		case <-prev:
		case <-c.ctx.Done():
			c.finish(p, nil, c.ctx.Err())
			return
		}
	}
	resp, err := c.callDeferred(p)
	c.finish(p, resp, err)
}

// finish encodes the response (if any) and frees the request's frame.
func (c *conn) finish(p *pending, resp kmsg.Response, err error) {
	if err == nil && resp != nil {
		if p.out, err = c.encode(p.hdr, resp); err == nil {
			c.held.Add(int64(p.out.len()))
		}
	} else if resp != nil {
		ReleaseResponse(resp)
	} else if err == nil && p.raw != nil {
		p.out = &outFrame{b: binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(p.raw)), uint32(len(p.raw)))}
		p.out.b = append(p.out.b, p.raw...)
		c.held.Add(int64(len(p.out.b)))
		p.raw = nil
	}
	p.err = err
	p.resp = nil
	if c.s.Observer != nil {
		p.ready = time.Now()
	}
	c.releaseFrame(p.frame)
	p.frame = nil
}

// encode turns a handler's response into a frame, a panic into an error.
func (c *conn) encode(h header, resp kmsg.Response) (out *outFrame, err error) {
	defer func() {
		if r := recover(); r != nil {
			ReleaseResponse(resp)
			c.log.Error().Str(LogAPI, kmsg.NameForKey(h.key)).Str("panic", fmt.Sprint(r)).
				Bytes("stack", debug.Stack()).Msg("encoding a response panicked; closing connection")
			out, err = nil, fmt.Errorf("encoding %s response: panic: %v", kmsg.NameForKey(h.key), r)
		}
	}()
	resp.SetVersion(h.version)
	if sp, ok := resp.(*Spliced); ok {
		// Its file ranges move to the frame as it is encoded, so its
		// strings are checked first (a fetch's are few: the walk skips
		// partitions, which hold none).
		if _, err := c.fitStrings(h, sp.Response); err != nil {
			ReleaseResponse(resp)
			return nil, err
		}
		return c.encodeSpliced(h, sp)
	}
	out = encodeResponse(h.correlation, resp)
	if len(out.b) <= MaxStringLen {
		return out, nil // no string in it can be longer than MaxStringLen
	}
	switch cut, err := c.fitStrings(h, resp); {
	case err != nil:
		out.release()
		return nil, err
	case cut:
		out.release()
		out = encodeResponse(h.correlation, resp)
	}
	return out, nil
}

// fitStrings cuts resp's over-long error messages (cut: some were) and
// fails, with a log line, if another of its strings is longer than a
// Kafka string can be: no client could read the response.
func (c *conn) fitStrings(h header, resp kmsg.Response) (cut bool, err error) {
	field, cut := fitStrings(resp)
	if field == "" {
		return cut, nil
	}
	c.log.Error().Str(LogAPI, kmsg.NameForKey(h.key)).Int16(LogVersion, h.version).Str("field", field).
		Msg("a response's string is longer than a Kafka string can be; closing connection")
	return cut, fmt.Errorf("encoding %s response: string field %s is longer than %d bytes", kmsg.NameForKey(h.key), field, MaxStringLen)
}

// handleFrame decodes one request and runs its handler. A nil pending with
// a nil error means no response is due.
func (c *conn) handleFrame(frame []byte) (*pending, error) {
	h, err := parseHeaderPrefix(frame)
	if err != nil {
		return nil, err
	}
	c.s.Stats.request(h.key, len(frame))
	api, ok := c.s.Registry.Lookup(h.key)
	if !ok {
		return nil, errorf(h, "unknown or unsupported api key %d", h.key)
	}
	if c.auth != nil {
		if err := c.auth.allowed(h.key); err != nil {
			c.authFailed(c.auth.mechOrNone(), "", err)
			return nil, fmt.Errorf("%w: %w", errAuthFailed, errorf(h, "%v", err))
		}
	}
	if h.key == 18 && (h.version > api.Max || h.version < api.Min) {
		// KIP-511: answer in v0 so the client can read it and retry
		// lower (Kafka's ApiKeys.isVersionEnabled takes any ApiVersions
		// version, and RequestContext reads an unknown one as v0).
		return &pending{hdr: header{key: 18, correlation: h.correlation}, resp: c.s.Registry.unsupportedApiVersions()}, nil
	}
	if h.version < api.MinServed || h.version > api.Max {
		return nil, errorf(h, "unsupported version, serving [%d, %d]", api.MinServed, api.Max)
	}
	body := kmsg.RequestForKey(h.key)
	body.SetVersion(h.version)
	if err := parseHeaderRest(frame, &h, body.IsFlexible()); err != nil {
		return nil, errorf(h, "%v", err)
	}
	if err := decodeBody(body, frame[h.bodyOffset:], api.NoCopy); err != nil {
		return nil, errorf(h, "decoding body: %v", err)
	}
	// Only a flexible version's compact string can be longer than
	// MaxStringLen, and only in a frame longer than that.
	if body.IsFlexible() && len(frame) > MaxStringLen {
		if field := LongString(body); field != "" {
			return nil, errorf(h, "decoding body: string field %s is longer than %d bytes", field, MaxStringLen)
		}
	}
	req := &Request{Key: h.key, Version: h.version, CorrelationID: h.correlation, ClientID: h.clientID, Body: body, Conn: &c.info, Size: len(frame)}
	if c.auth != nil {
		p, handled, err := c.intercept(h, req)
		if err != nil {
			if errors.As(err, new(sessionExpiredError)) {
				return nil, err
			}
			return nil, errorf(h, "%v", err)
		}
		if handled {
			return p, nil
		}
	}
	if c.log.Debug().Enabled() {
		c.log.Debug().Str(LogAPI, kmsg.NameForKey(h.key)).Int16(LogVersion, h.version).Int32(LogCorrelation, h.correlation).Str(LogClientID, h.clientID).Msg("request")
	}
	var started time.Time
	if c.s.Observer != nil {
		started = time.Now()
	}
	resp, err := c.runHandler(api.Handler, req)
	if err != nil {
		return nil, errorf(h, "%v", err)
	}
	p := &pending{hdr: h, resp: resp, deferred: req.deferred, waitOnly: api.WaitOnly, started: started, size: len(frame)}
	if c.s.Observer != nil {
		p.handled = time.Now()
	}
	if resp == nil && req.deferred == nil {
		p.arrived = c.arrivedNow
		c.observe(p, time.Time{}, time.Time{}, 0) // no response due
		return nil, nil
	}
	return p, nil
}

func decodeBody(body kmsg.Request, b []byte, noCopy bool) error {
	if noCopy {
		if u, ok := body.(kmsg.UnsafeReadFrom); ok {
			return u.UnsafeReadFrom(b)
		}
	}
	return body.ReadFrom(b)
}

// runHandler calls a handler, turning a panic into a connection-closing
// error with the stack logged.
func (c *conn) runHandler(h Handler, req *Request) (resp kmsg.Response, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error().Str(LogAPI, kmsg.NameForKey(req.Key)).Int16(LogVersion, req.Version).
				Str("panic", fmt.Sprint(r)).Bytes("stack", debug.Stack()).Msg("handler panicked; closing connection")
			resp, err = nil, fmt.Errorf("handler panic: %v", r)
		}
	}()
	return h(c.ctx, req)
}

func (c *conn) callDeferred(p *pending) (resp kmsg.Response, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error().Str(LogAPI, kmsg.NameForKey(p.hdr.key)).Str("panic", fmt.Sprint(r)).
				Bytes("stack", debug.Stack()).Msg("deferred handler panicked; closing connection")
			resp, err = nil, fmt.Errorf("deferred handler panic: %v", r)
		}
	}()
	return p.deferred(c.ctx)
}

// writeLoop writes responses in request order. Ready responses are
// gathered into one writev; whenever the next response is not ready (or no
// request is queued) what is gathered is written first.
func (c *conn) writeLoop() error {
	w := &responseWriter{c: c}
	c.w = w
	for {
		var p *pending
		var ok bool
		select {
		case p, ok = <-c.queue:
		default:
			if err := w.flush(); err != nil {
				return err
			}
			select {
			case p, ok = <-c.queue:
			case <-c.ctx.Done():
				return c.ctx.Err()
			}
		}
		if !ok {
			return w.flush()
		}
		w.cur = p
		if p.done != nil {
			select {
			case <-p.done:
			default:
				if err := w.flush(); err != nil {
					return err
				}
				select {
				case <-p.done:
				case <-c.ctx.Done():
					return c.ctx.Err()
				}
			}
		}
		if p.err != nil {
			c.s.Stats.ConnsDropped.Add(1)
			w.flush() // what was answered before still goes out
			return fmt.Errorf("%s (correlation %d): %w", kmsg.NameForKey(p.hdr.key), p.hdr.correlation, p.err)
		}
		closeAfter := p.closeAfter
		if p.authFailure && c.s.Options.FailedAuthDelay > 0 {
			if err := w.flush(); err != nil {
				return err
			}
			if !c.holdBack() {
				return c.ctx.Err()
			}
		}
		w.cur = nil
		if err := w.add(p); err != nil {
			return err
		}
		if closeAfter {
			if err := w.flush(); err != nil {
				return err
			}
			return errStopReading
		}
	}
}

// responseWriter gathers ready responses for one write.
type responseWriter struct {
	c     *conn
	batch []*pending
	bufs  [][]byte
	size  int
	// deadline is the write deadline set last; it is moved only once half
	// the idle time has passed, so a write to a client that reads nothing
	// fails after between half the idle time and all of it.
	deadline time.Time
	// ranges is set when a gathered response has file ranges (splice.go).
	ranges bool
	// sendfile state and buffers for writing pieces (write_pieces.go).
	pw pieceWriter
	// cur is the response the writer waits on; with batch, what is left
	// unwritten when the writer stops (released by the connection).
	cur *pending
}

func (w *responseWriter) setWriteDeadline() {
	t := w.c.s.IdleTimeout
	if t <= 0 {
		return
	}
	if now := time.Now(); w.deadline.Sub(now) < t/2 {
		w.deadline = now.Add(t)
		w.c.nc.SetWriteDeadline(w.deadline)
	}
}

func (w *responseWriter) add(p *pending) error {
	w.batch = append(w.batch, p)
	if p.out != nil {
		w.size += p.out.len()
		w.ranges = w.ranges || p.out.pieces != nil
	}
	if w.size >= maxWriteBatch || len(w.batch) >= maxInflightPerConn {
		return w.flush()
	}
	return nil
}

// flush writes the gathered responses and frees them.
func (w *responseWriter) flush() error {
	if len(w.batch) == 0 {
		return nil
	}
	c := w.c
	w.bufs = w.bufs[:0]
	for _, p := range w.batch {
		if p.out != nil {
			w.bufs = append(w.bufs, p.out.b)
		}
	}
	var err error
	// The activity is the write's start: a client that has read the
	// answer may act again before this goroutine gets past the write, and
	// the least recently active connection (evictLocked) must be the one
	// that was.
	wrote := time.Now()
	if w.ranges {
		w.setWriteDeadline()
		err = w.writePieces()
	} else if len(w.bufs) > 0 {
		w.setWriteDeadline()
		if _, isTLS := c.nc.(*tls.Conn); isTLS && len(w.bufs) > 1 {
			// A TLS connection has no writev: one Write per response
			// would be one TLS record and one syscall each.
			joined := getJoined()
			for _, b := range w.bufs {
				joined = append(joined, b...)
			}
			_, err = c.nc.Write(joined)
			putJoined(joined) // an idle connection holds none
		} else {
			bufs := net.Buffers(w.bufs)
			_, err = bufs.WriteTo(c.nc)
		}
	}
	var sent time.Time
	if c.s.Observer != nil {
		sent = time.Now()
	}
	for i, p := range w.batch {
		if p.out != nil {
			c.s.Stats.responded(p.hdr.key, p.arrived, p.out.len())
			c.observe(p, wrote, sent, p.out.len())
			c.held.Add(-int64(p.out.len()))
			p.out.release()
			p.out = nil
		}
		c.outstanding.Add(-1)
		w.batch[i] = nil
	}
	clear(w.bufs)
	w.batch, w.size, w.ranges = w.batch[:0], 0, false
	c.touch(wrote)
	select {
	case c.drained <- struct{}{}:
	default:
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return idleError{fmt.Sprintf("the client read no response for %v (connections.max.idle.ms)", c.s.IdleTimeout)}
	}
	return err
}
