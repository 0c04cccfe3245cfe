package protocol

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"
)

// Limits on what a connection may make us hold.
const (
	// DefaultMaxRequestSize is Kafka's socket.request.max.bytes default.
	DefaultMaxRequestSize = 100 << 20
	// maxInflightPerConn bounds requests read but not yet answered on one
	// connection (Kafka mutes a connection after one; we let pipelined
	// requests proceed so long-polls and acks=all waits overlap, but not
	// without bound).
	maxInflightPerConn = 64
)

// Listener is a named address to serve on.
type Listener struct {
	Name string // e.g. PLAINTEXT
	Addr string // host:port
}

// Server accepts connections and dispatches requests through a Registry.
type Server struct {
	Registry       *Registry
	Log            zerolog.Logger
	MaxRequestSize int32
	Stats          Stats

	nextConn atomic.Uint64
	wg       sync.WaitGroup
	ctx      context.Context
	cancel   context.CancelFunc

	mu sync.Mutex
	// guarded by mu
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	closed    bool
}

// NewServer returns a server dispatching through reg.
func NewServer(reg *Registry, log zerolog.Logger) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		Registry:       reg,
		Log:            log,
		MaxRequestSize: DefaultMaxRequestSize,
		ctx:            ctx,
		cancel:         cancel,
		conns:          make(map[net.Conn]struct{}),
	}
}

// Listen binds a listener and starts serving it. It returns the bound
// address (useful with port 0).
func (s *Server) Listen(l Listener) (net.Addr, error) {
	ln, err := net.Listen("tcp", l.Addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil, errors.New("server closed")
	}
	s.listeners = append(s.listeners, ln)
	s.wg.Add(1)
	s.mu.Unlock()
	go s.acceptLoop(ln, l.Name)
	return ln.Addr(), nil
}

func (s *Server) acceptLoop(ln net.Listener, name string) {
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.Log.Error().Err(err).Str(LogListener, name).Msg("accept failed; listener stopped")
			return
		}
		if !s.track(nc) {
			nc.Close()
			return
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		c := newConn(s, nc, name)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(nc)
			c.serve()
		}()
	}
}

func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[nc] = struct{}{}
	return true
}

func (s *Server) untrack(nc net.Conn) {
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
}

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
