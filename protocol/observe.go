package protocol

// What the connection layer tells the broker's operators, without knowing
// how it is exported: every answered request's timing (an Observer), the
// open connections (Conns), and the one control quotas need, muting a
// connection until a time (ConnInfo.MuteUntil, KIP-219).

import (
	"net"
	"time"
)

// Observer hears about every request once it is answered (or, for a
// request that gets no response, once its handler returns). It is called
// on the connection's goroutines and must not block. Set Server.Observer
// before the first Listen.
type Observer interface {
	RequestDone(RequestTiming)
}

// RequestTiming is where one request's time went, split as Kafka's
// request metrics split it. Total is the sum of the other five.
type RequestTiming struct {
	Key, Version int16
	Listener     string
	// RequestBytes is the request frame's size; ResponseBytes the
	// response frame's, 0 when none was sent.
	RequestBytes, ResponseBytes int
	// Queue: from the request's arrival until its handler started.
	Queue time.Duration
	// Local: the handler itself.
	Local time.Duration
	// Remote: the work it deferred (a long poll, an acks=all wait, a
	// coordinator write): Kafka's purgatory time.
	Remote time.Duration
	// ResponseQueue: the encoded response waiting for the writer (for the
	// responses of earlier requests, which leave first).
	ResponseQueue time.Duration
	// Send: writing the response to the socket.
	Send  time.Duration
	Total time.Duration
}

// ConnSnapshot is an open connection as Conns lists it.
type ConnSnapshot struct {
	ID         uint64
	Listener   string
	Remote     net.Addr
	Principal  Principal
	MutedUntil time.Time // zero when not muted
}

// Conns lists the open connections.
func (s *Server) Conns() []ConnSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ConnSnapshot, 0, len(s.infos))
	for ci := range s.infos {
		cs := ConnSnapshot{ID: ci.ID, Listener: ci.Listener, Remote: ci.Remote, Principal: ci.Principal()}
		if u := ci.mutedUntil.Load(); u > time.Now().UnixNano() {
			cs.MutedUntil = time.Unix(0, u)
		}
		out = append(out, cs)
	}
	return out
}

// MuteUntil stops reading requests from the connection until t (a later
// time replaces an earlier one, never the reverse). Responses already due
// are still written. This is how a quota violation throttles a client
// (KIP-219): the response carries the throttle time and the connection is
// muted for it.
func (ci *ConnInfo) MuteUntil(t time.Time) {
	n := t.UnixNano()
	for {
		cur := ci.mutedUntil.Load()
		if cur >= n || ci.mutedUntil.CompareAndSwap(cur, n) {
			return
		}
	}
}

// MutedUntil is when the connection is read again (zero if it was never
// muted).
func (ci *ConnInfo) MutedUntil() time.Time {
	if n := ci.mutedUntil.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// awaitUnmuted waits until the connection's mute (if any) ends.
func (c *conn) awaitUnmuted() (waited bool, err error) {
	for {
		d := time.Until(time.Unix(0, c.info.mutedUntil.Load()))
		if d <= 0 {
			return waited, nil
		}
		waited = true
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return waited, c.ctx.Err()
		}
	}
}

// observe reports an answered request to the server's observer.
func (c *conn) observe(p *pending, wrote, sent time.Time, respBytes int) {
	o := c.s.Observer
	if o == nil {
		return
	}
	rt := RequestTiming{Key: p.hdr.key, Version: p.hdr.version, Listener: c.info.Listener, RequestBytes: p.size, ResponseBytes: respBytes}
	switch {
	case !p.started.IsZero():
		rt.Queue = p.started.Sub(p.arrived)
		rt.Local = p.handled.Sub(p.started)
		if !p.ready.IsZero() {
			rt.Remote = p.ready.Sub(p.handled)
		}
	case !p.ready.IsZero(): // answered by the authenticator: all remote
		rt.Remote = p.ready.Sub(p.arrived)
	}
	if !wrote.IsZero() {
		if !p.ready.IsZero() {
			rt.ResponseQueue = wrote.Sub(p.ready)
		}
		rt.Send = sent.Sub(wrote)
		rt.Total = sent.Sub(p.arrived)
	} else {
		rt.Total = rt.Queue + rt.Local
	}
	o.RequestDone(rt)
}
