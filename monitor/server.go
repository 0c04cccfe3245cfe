package monitor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Server is the HTTP side of the monitor.
type Server struct {
	src     Sources
	metrics *Metrics
	log     zerolog.Logger
	hs      *http.Server
	addr    net.Addr
	// stopping is set once shutdown begins: the broker is no longer ready.
	stopping atomic.Bool
	wg       sync.WaitGroup
}

// Listen serves the monitor on addr until Close.
func Listen(addr string, src Sources, m *Metrics, log zerolog.Logger) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gregor.metrics.listener %s: %w", addr, err)
	}
	s := &Server{src: src, metrics: m, log: log, addr: l.Addr()}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	mux.HandleFunc("/healthz", s.handleHealth)
	mux.HandleFunc("/readyz", s.handleReady)
	mux.HandleFunc("/", s.handleStatus)
	// Profiles, for finding where time goes under load (the listener is
	// on loopback unless configured otherwise).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.hs = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn().Err(err).Msg("metrics endpoint stopped")
		}
	}()
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.addr }

// Stopping marks the broker as shutting down (/readyz fails from now on).
func (s *Server) Stopping() { s.stopping.Store(true) }

// Close stops serving and waits for the server goroutine.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.hs.Shutdown(ctx); err != nil {
		s.hs.Close()
	}
	s.wg.Wait()
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// handleReady answers 200 once the broker is registered in the cluster
// metadata (its own id among the live brokers, which a single broker is
// from start-up), its metadata loaded and its listeners up, and while its
// ZooKeeper session lasts (through a disconnection); 503 with the reasons
// otherwise.
func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var why []string
	if s.stopping.Load() {
		why = append(why, "shutting down")
	}
	b := s.src.Broker
	st := b.Status()
	// A broker that lost ZooKeeper for a while goes on serving with the
	// metadata it last read, as Kafka's ZooKeeper-mode brokers do: it is
	// unready only once its session expired (it is no longer registered,
	// and the others have moved its leaderships away).
	if !st.Registered {
		why = append(why, "not registered in ZooKeeper (session: "+st.ZooKeeper+")")
	}
	if _, ok := b.BrokerByID(b.ID()); !ok {
		why = append(why, fmt.Sprintf("broker %d is not registered among the live brokers", b.ID()))
	}
	if len(s.src.Listeners) == 0 {
		why = append(why, "no listener is up")
	}
	if len(why) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, r := range why {
			fmt.Fprintln(w, r)
		}
		return
	}
	fmt.Fprintln(w, "ready")
}
