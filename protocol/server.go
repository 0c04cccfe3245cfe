package protocol

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Listener is a named address to serve on.
type Listener struct {
	Name string // e.g. PLAINTEXT
	Addr string // host:port
	// Security authenticates the listener's connections; nil is PLAINTEXT.
	Security *Security
}

// Server accepts connections and dispatches requests through a Registry.
type Server struct {
	Registry *Registry
	Log      zerolog.Logger
	Stats    Stats
	// Auth counts authentications (auth.go).
	Auth AuthStats
	// Observer, if set, hears about every request (observe.go). Set it
	// before the first Listen or Serve.
	Observer Observer
	// OnClose, if set, is called with a connection's id once it has
	// closed and its requests are done (share sessions end with their
	// connection). Set it before the first Listen or Serve.
	OnClose func(connID uint64)
	// Options are set before the first Listen or Serve.
	Options

	nextConn atomic.Uint64
	wg       sync.WaitGroup
	ctx      context.Context
	cancel   context.CancelFunc
	// queued is the request bytes reserved for all connections (budget.go).
	queued byteBudget
	// workers run deferred work (workers.go).
	workers *workerPool
	// acceptLog and rejectLog are rate limited: a full fd table or a
	// client hammering a connection limit must not flood the log.
	acceptLog zerolog.Logger
	rejectLog zerolog.Logger
	// authLog is rate limited: a client looping on a wrong password must
	// not flood the log.
	authLog zerolog.Logger
	// sendfileMin overrides defaultSendfileMin when set (tests).
	sendfileMin int
	// stallTimeout and stallCheck are stalledRequestTimeout and
	// stallCheckInterval (shorter in tests).
	stallTimeout, stallCheck time.Duration
	// fds holds connections back near the file descriptor limit
	// (fdroom.go).
	fds *fdRoom

	mu sync.Mutex
	// guarded by mu
	listeners []net.Listener
	conns     map[net.Conn]*tracked
	// slots wakes an accept loop holding a connection for a free slot
	// (a connection closed, the bounds changed, or the server closed).
	slots     *sync.Cond
	infos     map[*ConnInfo]struct{}
	perIP     map[string]int
	perLn     map[string]int // open connections by listener
	rates     connRates      // connection creation rates (connrate.go)
	overrides map[string]int // MaxConnectionsPerIPOverrides by resolved IP
	// throttled are connections over their IP's creation rate, held
	// until their timer closes them.
	throttled map[net.Conn]*time.Timer
	started   bool
	closed    bool
}

// NewServer returns a server dispatching through reg with DefaultOptions.
func NewServer(reg *Registry, log zerolog.Logger) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		Registry:  reg,
		Log:       log,
		Options:   DefaultOptions(),
		ctx:       ctx,
		cancel:    cancel,
		acceptLog: log.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second}),
		rejectLog: log.Sample(&zerolog.BurstSampler{Burst: 10, Period: 10 * time.Second}),
		authLog:   log.Sample(&zerolog.BurstSampler{Burst: 10, Period: 10 * time.Second}),
		conns:     make(map[net.Conn]*tracked),
		perIP:     make(map[string]int),
		perLn:     make(map[string]int),
		infos:     make(map[*ConnInfo]struct{}),
		workers:   newWorkerPool(ctx.Done()),

		stallTimeout: stalledRequestTimeout,
		stallCheck:   stallCheckInterval,
		fds:          &fdRoom{count: countFDs},
	}
	s.slots = sync.NewCond(&s.mu)
	return s
}

// Listen binds a listener and starts serving it. It returns the bound
// address (useful with port 0).
func (s *Server) Listen(l Listener) (net.Addr, error) {
	ln, err := ListenTCP(l.Addr, s.Options.ReceiveBuffer, s.Options.ListenBacklog)
	if err != nil {
		return nil, err
	}
	if err := s.serve(ln, l.Name, l.Security); err != nil {
		ln.Close()
		return nil, err
	}
	return ln.Addr(), nil
}

// Serve starts serving connections accepted from ln under a listener name
// (a TLS listener, say, or a test's). The server closes ln when it closes.
func (s *Server) Serve(ln net.Listener, name string) error {
	return s.serve(ln, name, nil)
}

// ServeSecure is Serve with a listener's security (TLS, SASL).
func (s *Server) ServeSecure(ln net.Listener, name string, sec *Security) error {
	return s.serve(ln, name, sec)
}

func (s *Server) serve(ln net.Listener, name string, sec *Security) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("server closed")
	}
	if !s.started {
		if err := s.startLocked(); err != nil {
			return err
		}
	}
	s.listeners = append(s.listeners, ln)
	s.wg.Add(1)
	go s.acceptLoop(ln, name, sec)
	return nil
}

// startLocked fixes the options in place once, before the first listener.
func (s *Server) startLocked() error {
	if err := s.Options.Validate(); err != nil {
		return err
	}
	overrides, err := resolveOverrides(s.MaxConnectionsPerIPOverrides)
	if err != nil {
		return err
	}
	s.overrides = overrides
	s.rates.set(s.Options)
	s.queued.limit = s.QueuedMaxRequestBytes
	s.started = true
	return nil
}

// acceptLoop accepts until the listener closes. A failed accept (out of
// file descriptors, say) is retried after a growing delay, as net/http's
// Server.Serve does: the listener must not stop while the server runs.
func (s *Server) acceptLoop(ln net.Listener, name string, sec *Security) {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
				return
			}
			delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
			s.acceptLog.Error().Err(err).Str(LogListener, name).Dur("retry_in", delay).Msg("accept failed; retrying")
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		// Over a connection creation rate, the accept waits: the
		// connection is held, and the next ones stay in the backlog.
		if wait := s.rates.wait(name, s.protected(name), time.Now().UnixMilli()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				nc.Close()
				return
			}
		}
		tr, err := s.track(nc, name)
		if err != nil {
			if errors.Is(err, errServerClosed) {
				nc.Close()
				return
			}
			var th ipThrottledError
			if errors.As(err, &th) {
				s.Stats.ConnsThrottled.Add(1)
				s.rejectLog.Debug().Str(LogListener, name).Str(LogRemote, nc.RemoteAddr().String()).Dur("close_in", th.delay).
					Msg("connection_creation_rate of the IP exceeded; closing the connection after the throttle time")
				s.closeAfter(nc, th.delay)
				continue
			}
			// Counted before the close, so a client that sees the close
			// sees the count.
			s.Stats.ConnsRejected.Add(1)
			nc.Close()
			s.rejectLog.Warn().Err(err).Str(LogListener, name).Str(LogRemote, nc.RemoteAddr().String()).Msg("rejected connection")
			continue
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
			if n := s.Options.SendBuffer; n > 0 {
				tc.SetWriteBuffer(n)
			}
			if n := s.Options.ReceiveBuffer; n > 0 {
				tc.SetReadBuffer(n)
			}
		}
		c := newConn(s, nc, name, sec)
		s.mu.Lock()
		s.infos[&c.info] = struct{}{}
		tr.c = c
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(nc, &c.info)
			c.serve()
		}()
	}
}

var errServerClosed = errors.New("server closed")

// ipThrottledError is a connection over its IP's creation rate.
type ipThrottledError struct{ delay time.Duration }

func (e ipThrottledError) Error() string {
	return fmt.Sprintf("connection_creation_rate exceeded; closing in %v", e.delay)
}

// closeAfter holds a connection that is not served and closes it after d
// (or when the server closes), as Kafka's acceptor closes a throttled
// socket once its throttle time has passed.
func (s *Server) closeAfter(nc net.Conn, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		nc.Close()
		return
	}
	if s.throttled == nil {
		s.throttled = make(map[net.Conn]*time.Timer)
	}
	s.throttled[nc] = time.AfterFunc(d, func() {
		s.mu.Lock()
		delete(s.throttled, nc)
		s.mu.Unlock()
		nc.Close()
	})
}

// SetIPConnectionRates sets the connection_creation_rate quotas of ip
// entities: def for every IP without its own (0: none), by for the
// others, keyed by net.IP's String form. They apply to connections
// accepted from then on.
func (s *Server) SetIPConnectionRates(def int, by map[string]int) {
	s.rates.setIP(def, maps.Clone(by))
}

// protected reports whether a listener is exempt from the broker-wide
// bounds: the inter-broker listener, when there are others (with only
// one, clients and brokers share it), as Kafka's protectedListener.
func (s *Server) protected(listener string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.protectedLocked(listener)
}

func (s *Server) protectedLocked(listener string) bool {
	return listener == s.InterBrokerListener && len(s.listeners) > 1
}

// tracked is what an open connection counts against.
type tracked struct {
	ip, listener string
	c            *conn // set once the connection is served
	evicted      bool  // closed to make room (evictLocked)
}

// SetConnectionLimits replaces the connection bounds and rates of o
// (MaxConnections, MaxConnectionsPerIP and its overrides,
// MaxConnectionsPerListener, the creation rates: dynamic broker configs).
// They apply to the connections accepted from then on, as in Kafka; open
// ones stay. Hosts named in the overrides are resolved when the overrides
// change; if one does not resolve, the overrides stay as they were and
// the rest applies.
func (s *Server) SetConnectionLimits(o Options) error {
	check := Options{MaxRequestSize: minRequestSize, MaxConnections: o.MaxConnections, MaxConnectionsPerIP: o.MaxConnectionsPerIP,
		MaxConnectionsPerIPOverrides: o.MaxConnectionsPerIPOverrides, MaxConnectionsPerListener: o.MaxConnectionsPerListener}
	if err := check.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	same := maps.Equal(o.MaxConnectionsPerIPOverrides, s.MaxConnectionsPerIPOverrides)
	s.mu.Unlock()
	var resolved map[string]int
	var err error
	if !same {
		resolved, err = resolveOverrides(o.MaxConnectionsPerIPOverrides)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.MaxConnections, s.MaxConnectionsPerIP = o.MaxConnections, o.MaxConnectionsPerIP
	if !same && err == nil {
		s.MaxConnectionsPerIPOverrides, s.overrides = o.MaxConnectionsPerIPOverrides, resolved
	}
	s.MaxConnectionsPerListener = o.MaxConnectionsPerListener
	s.MaxConnectionCreationRate, s.ListenerConnectionCreationRate = o.MaxConnectionCreationRate, o.ListenerConnectionCreationRate
	s.rates.set(o)
	s.slots.Broadcast()
	return err
}

// ConnectionLimits are the connection bounds in force (for the status
// page and metrics).
type ConnectionLimits struct {
	MaxConnections, MaxConnectionsPerIP int
	MaxConnectionsPerIPOverrides        map[string]int
	MaxConnectionsPerListener           map[string]int
	MaxConnectionCreationRate           int
}

// ConnectionLimits returns the connection bounds in force.
func (s *Server) ConnectionLimits() ConnectionLimits {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ConnectionLimits{
		MaxConnections: s.MaxConnections, MaxConnectionsPerIP: s.MaxConnectionsPerIP,
		MaxConnectionsPerIPOverrides: maps.Clone(s.MaxConnectionsPerIPOverrides),
		MaxConnectionsPerListener:    maps.Clone(s.MaxConnectionsPerListener),
		MaxConnectionCreationRate:    s.MaxConnectionCreationRate,
	}
}

// track registers a new connection on a listener unless the server is
// closed or the connection's IP is at its bound. At a listener's bound or
// the broker-wide one it holds the connection until a slot frees, as
// Kafka's acceptor does: the accept loop waits, and the next connections
// wait in the kernel's backlog. A connection on the inter-broker listener
// (among others) is exempt from the broker-wide bound, and room is made
// for it by closing the least recently active client connection. Near the
// process's file descriptor limit a connection is held too (fdroom.go).
func (s *Server) track(nc net.Conn, listener string) (*tracked, error) {
	ip := remoteIP(nc)
	s.mu.Lock()
	defer s.mu.Unlock()
	var heldSince time.Time
	held := func() bool {
		if !heldSince.IsZero() {
			return false
		}
		heldSince = time.Now()
		s.Stats.ConnsHeld.Add(1)
		return true
	}
	// (listeners is nil once CloseListeners has run.)
	for !s.closed && s.listeners != nil {
		if !s.slotLocked(listener) {
			if held() {
				s.rejectLog.Warn().Str(LogListener, listener).Str(LogRemote, nc.RemoteAddr().String()).Int("open", len(s.conns)).
					Msg("max.connections reached; new connections wait until one closes")
			}
			s.slots.Wait()
			continue
		}
		ok, fds, limit := s.fds.admit(len(s.conns), s.protectedLocked(listener), time.Now())
		if ok {
			break
		}
		if held() {
			s.rejectLog.Warn().Str(LogListener, listener).Str(LogRemote, nc.RemoteAddr().String()).Int("open", len(s.conns)).
				Int("open_files", fds).Int("file_limit", limit).Int("kept_for_logs", fdReserve(limit)).
				Msg("open file descriptors near the process's limit; new connections wait until some close, so that the logs keep the descriptors they need")
		}
		// Files the logs close free room too: looked at again shortly.
		s.mu.Unlock()
		t := time.NewTimer(fdSampleNear)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
		}
		s.mu.Lock()
	}
	if s.closed || s.listeners == nil {
		return nil, errServerClosed
	}
	if !heldSince.IsZero() {
		s.Stats.AcceptHeldNanos.Add(uint64(time.Since(heldSince)))
	}
	if d := s.rates.ipThrottle(ip, listener, s.protectedLocked(listener), time.Now().UnixMilli()); d > 0 {
		return nil, ipThrottledError{delay: d}
	}
	limit, ok := s.overrides[ip]
	if !ok {
		limit = s.MaxConnectionsPerIP
	}
	if s.perIP[ip] >= limit {
		return nil, fmt.Errorf("max.connections.per.ip reached: %s already has %d connections (limit %d)", ip, s.perIP[ip], limit)
	}
	tr := &tracked{ip: ip, listener: listener}
	s.conns[nc] = tr
	s.perIP[ip]++
	s.perLn[listener]++
	if s.protectedLocked(listener) {
		s.evictLocked()
	}
	return tr, nil
}

// slotLocked reports whether a new connection on listener fits its
// listener's bound (which defaults to the broker-wide one, as Kafka's
// listener configs do) and, unless the listener is protected, the
// broker-wide bound.
func (s *Server) slotLocked(listener string) bool {
	n, ok := s.MaxConnectionsPerListener[listener]
	if !ok {
		n = s.MaxConnections
	}
	if s.perLn[listener] >= n {
		return false
	}
	return s.protectedLocked(listener) || len(s.conns) < s.MaxConnections
}

// evictLocked closes client connections, least recently active first,
// while the open ones exceed max.connections (an inter-broker connection
// was let in over it), as Kafka's processors close their lowest-priority
// channel. Connections already being closed count as room made.
func (s *Server) evictLocked() {
	excess := len(s.conns) - s.MaxConnections
	for _, tr := range s.conns {
		if tr.evicted {
			excess--
		}
	}
	for ; excess > 0; excess-- {
		var victim net.Conn
		var oldest int64
		for nc, tr := range s.conns {
			if tr.evicted || tr.c == nil || s.protectedLocked(tr.listener) {
				continue
			}
			if at := tr.c.lastActive.Load(); victim == nil || at < oldest {
				victim, oldest = nc, at
			}
		}
		if victim == nil {
			return
		}
		s.conns[victim].evicted = true
		s.Stats.ConnsEvicted.Add(1)
		s.rejectLog.Warn().Str(LogRemote, victim.RemoteAddr().String()).Int("open", len(s.conns)).
			Msg("max.connections exceeded by an inter-broker connection; closing the least recently active client connection")
		go victim.Close() // not under mu: a TLS close may write
	}
}

func (s *Server) untrack(nc net.Conn, ci *ConnInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.infos, ci)
	tr, ok := s.conns[nc]
	if !ok {
		return
	}
	delete(s.conns, nc)
	s.slots.Broadcast()
	if s.perIP[tr.ip]--; s.perIP[tr.ip] <= 0 {
		delete(s.perIP, tr.ip)
	}
	if s.perLn[tr.listener]--; s.perLn[tr.listener] <= 0 {
		delete(s.perLn, tr.listener)
	}
}

// remoteIP is the connection's peer address without the port.
func remoteIP(nc net.Conn) string {
	switch a := nc.RemoteAddr().(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case nil:
		return ""
	}
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		return nc.RemoteAddr().String()
	}
	return host
}

// QueuedRequestBytes is the request bytes held for all connections now.
func (s *Server) QueuedRequestBytes() int64 { return s.queued.used.Load() }

// CloseListeners stops accepting new connections, leaving open ones alone.
func (s *Server) CloseListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ln := range s.listeners {
		ln.Close()
	}
	s.listeners = nil
	s.slots.Broadcast() // a held connection is closed, not served
}

// Close stops listening, closes every connection and waits for every
// connection goroutine to end. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return
	}
	s.closed = true
	s.slots.Broadcast()
	for _, ln := range s.listeners {
		ln.Close()
	}
	s.listeners = nil
	for nc := range s.conns {
		nc.Close()
	}
	for nc, t := range s.throttled {
		t.Stop()
		nc.Close()
	}
	s.throttled = nil
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}
