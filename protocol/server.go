package protocol

import (
	"context"
	"errors"
	"fmt"
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
	// queued is the request bytes held for all connections.
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

	mu sync.Mutex
	// guarded by mu
	listeners []net.Listener
	conns     map[net.Conn]string // to the remote IP
	infos     map[*ConnInfo]struct{}
	perIP     map[string]int
	overrides map[string]int // MaxConnectionsPerIPOverrides by resolved IP
	started   bool
	closed    bool
}

// NewServer returns a server dispatching through reg with DefaultOptions.
func NewServer(reg *Registry, log zerolog.Logger) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		Registry:  reg,
		Log:       log,
		Options:   DefaultOptions(),
		ctx:       ctx,
		cancel:    cancel,
		acceptLog: log.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second}),
		rejectLog: log.Sample(&zerolog.BurstSampler{Burst: 10, Period: 10 * time.Second}),
		authLog:   log.Sample(&zerolog.BurstSampler{Burst: 10, Period: 10 * time.Second}),
		conns:     make(map[net.Conn]string),
		perIP:     make(map[string]int),
		infos:     make(map[*ConnInfo]struct{}),
		workers:   newWorkerPool(ctx.Done()),
	}
}

// Listen binds a listener and starts serving it. It returns the bound
// address (useful with port 0).
func (s *Server) Listen(l Listener) (net.Addr, error) {
	ln, err := ListenTCP(l.Addr, s.Options.ReceiveBuffer)
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
		if err := s.track(nc); err != nil {
			if errors.Is(err, errServerClosed) {
				nc.Close()
				return
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

// SetConnectionLimits replaces max.connections, max.connections.per.ip and
// its overrides (dynamic broker configs). They apply to the connections
// accepted from then on, as in Kafka; open ones stay. Hosts named in the
// overrides are resolved now: if one does not resolve, every limit stays
// as it was.
func (s *Server) SetConnectionLimits(maxConns, perIP int, overrides map[string]int) error {
	check := Options{MaxRequestSize: minRequestSize, MaxConnections: maxConns, MaxConnectionsPerIP: perIP, MaxConnectionsPerIPOverrides: overrides}
	if err := check.Validate(); err != nil {
		return err
	}
	resolved, err := resolveOverrides(overrides)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.MaxConnections, s.MaxConnectionsPerIP = maxConns, perIP
	s.MaxConnectionsPerIPOverrides, s.overrides = overrides, resolved
	return nil
}

// track registers a new connection unless the server is closed or a
// connection limit is reached.
func (s *Server) track(nc net.Conn) error {
	ip := remoteIP(nc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errServerClosed
	}
	if len(s.conns) >= s.MaxConnections {
		return fmt.Errorf("max.connections reached (%d open)", len(s.conns))
	}
	limit, ok := s.overrides[ip]
	if !ok {
		limit = s.MaxConnectionsPerIP
	}
	if s.perIP[ip] >= limit {
		return fmt.Errorf("max.connections.per.ip reached: %s already has %d connections (limit %d)", ip, s.perIP[ip], limit)
	}
	s.conns[nc] = ip
	s.perIP[ip]++
	return nil
}

func (s *Server) untrack(nc net.Conn, ci *ConnInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.infos, ci)
	ip, ok := s.conns[nc]
	if !ok {
		return
	}
	delete(s.conns, nc)
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
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
	for _, ln := range s.listeners {
		ln.Close()
	}
	s.listeners = nil
	for nc := range s.conns {
		nc.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}
