package protocol

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// conn serves one client connection with two goroutines: the reader decodes
// requests and runs handlers in arrival order (so side effects, such as
// appends to one partition, happen in the order the client sent them); the
// writer sends responses in the same order, waiting on deferred ones.
type conn struct {
	s    *Server
	nc   net.Conn
	info ConnInfo
	log  zerolog.Logger
	// warn is a rate-limited logger for lines a hostile client could cause.
	warn   zerolog.Logger
	queue  chan *pending
	ctx    context.Context
	cancel context.CancelFunc
}

// pending is a request whose response is to be written, in order.
type pending struct {
	hdr      header
	arrived  time.Time
	resp     kmsg.Response
	deferred func(ctx context.Context) (kmsg.Response, error)
	// frame is the request's recyclable frame, released once the
	// response is written (nil if it is not recycled).
	frame *pooledFrame
}

func newConn(s *Server, nc net.Conn, listener string) *conn {
	id := s.nextConn.Add(1)
	ctx, cancel := context.WithCancel(s.ctx)
	log := s.Log.With().Uint64(LogConn, id).Str(LogRemote, nc.RemoteAddr().String()).Logger()
	return &conn{
		s:      s,
		nc:     nc,
		info:   ConnInfo{ID: id, Listener: listener, Local: nc.LocalAddr(), Remote: nc.RemoteAddr()},
		log:    log,
		warn:   log.Sample(&zerolog.BurstSampler{Burst: 20, Period: time.Second}),
		queue:  make(chan *pending, maxInflightPerConn),
		ctx:    ctx,
		cancel: cancel,
	}
}

func (c *conn) serve() {
	c.s.Stats.ConnsOpen.Add(1)
	c.s.Stats.ConnsTotal.Add(1)
	defer c.s.Stats.ConnsOpen.Add(-1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.writeLoop()
	}()
	err := c.readLoop()
	close(c.queue)
	if err != nil {
		// The writer must not outlive a failed read: stop it now rather
		// than letting it flush responses to a client we are dropping.
		c.cancel()
		c.nc.Close()
	}
	<-done
	c.cancel()
	c.nc.Close()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.warn.Warn().Err(err).Msg("closing connection")
	} else {
		c.log.Debug().Msg("connection closed")
	}
}

func (c *conn) readLoop() error {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var sizeBuf [4]byte
	for {
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 8 || size > c.s.MaxRequestSize {
			return fmt.Errorf("request size %d outside [8, %d] (socket.request.max.bytes)", size, c.s.MaxRequestSize)
		}
		frame, pooled := c.frameFor(br, int(size))
		if _, err := io.ReadFull(br, frame); err != nil {
			return err
		}
		arrived := time.Now()
		p, err := c.handleFrame(frame)
		if err != nil {
			c.s.Stats.ConnsDropped.Add(1)
			return err
		}
		if p == nil {
			pooled.release() // no response due: the handler is done with it
			continue
		}
		p.arrived, p.frame = arrived, pooled
		select {
		case c.queue <- p:
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
}

// frameFor returns a buffer for the next frame of size bytes: a recycled
// one for APIs that decode without copying, whose requests are done with
// the frame once answered; a fresh one otherwise.
func (c *conn) frameFor(br *bufio.Reader, size int) ([]byte, *pooledFrame) {
	if key, err := br.Peek(2); err == nil {
		if api, ok := c.s.Registry.Lookup(int16(binary.BigEndian.Uint16(key))); ok && api.NoCopy {
			return getFrame(size)
		}
	}
	return make([]byte, size), nil
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
	if h.key == 18 && h.version > api.Max {
		// KIP-511: answer in v0 so the client can read it and retry lower.
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
	req := &Request{Key: h.key, Version: h.version, CorrelationID: h.correlation, ClientID: h.clientID, Body: body, Conn: &c.info}
	if c.log.Debug().Enabled() {
		c.log.Debug().Str(LogAPI, kmsg.NameForKey(h.key)).Int16(LogVersion, h.version).Int32(LogCorrelation, h.correlation).Str(LogClientID, h.clientID).Msg("request")
	}
	resp, err := c.runHandler(api.Handler, req)
	if err != nil {
		return nil, errorf(h, "%v", err)
	}
	if resp == nil && req.deferred == nil {
		return nil, nil
	}
	return &pending{hdr: h, resp: resp, deferred: req.deferred}, nil
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

func (c *conn) runDeferred(p *pending) (resp kmsg.Response, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error().Str(LogAPI, kmsg.NameForKey(p.hdr.key)).Str("panic", fmt.Sprint(r)).
				Bytes("stack", debug.Stack()).Msg("deferred handler panicked; closing connection")
			resp, err = nil, fmt.Errorf("deferred handler panic: %v", r)
		}
	}()
	return p.deferred(c.ctx)
}

func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	var buf []byte
	for p := range c.queue {
		resp := p.resp
		if p.deferred != nil {
			var err error
			if resp, err = c.runDeferred(p); err != nil {
				c.warn.Warn().Err(err).Str(LogAPI, kmsg.NameForKey(p.hdr.key)).Msg("closing connection")
				c.s.Stats.ConnsDropped.Add(1)
				c.cancel()
				c.nc.Close()
				return
			}
		}
		if resp == nil {
			p.frame.release()
			continue
		}
		resp.SetVersion(p.hdr.version)
		buf = appendResponseFrame(buf[:0], p.hdr.correlation, resp)
		// The response is encoded: nothing refers to the request's frame.
		p.frame.release()
		c.s.Stats.responded(p.hdr.key, p.arrived, len(buf))
		if _, err := bw.Write(buf); err != nil {
			c.cancel()
			c.nc.Close()
			return
		}
		if cap(buf) > 8<<20 {
			buf = nil // do not pin a huge fetch buffer for the connection's life
		}
		if len(c.queue) == 0 {
			if err := bw.Flush(); err != nil {
				c.cancel()
				c.nc.Close()
				return
			}
		}
	}
	bw.Flush()
}
