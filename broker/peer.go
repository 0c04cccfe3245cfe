package broker

// Requests from this broker to another: transaction markers, follower
// fetches. A peerConn is one connection, used by one goroutine at a time.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

// peerConn is a connection to another broker.
type peerConn struct {
	b           *Broker
	id          int32
	conn        net.Conn
	fmt         *kmsg.RequestFormatter
	correlation int32
	buf         []byte
	// resp is the last response frame read by requestReuse; what that
	// response decoded aliases it until the next request.
	resp []byte
	// listener is the listener the connection authenticated on, and
	// reauthAt when it re-authenticates (zero: never; the server set no
	// session lifetime), as peer_security.go arranges.
	listener string
	reauthAt time.Time
	// idleSince is when it was last put back in the pool.
	idleSince time.Time
}

// interBrokerListener is the listener brokers reach each other on
// (inter.broker.listener.name or security.inter.broker.protocol).
func (b *Broker) interBrokerListener() (string, bool) {
	if b.cfg.InterBrokerListener != "" {
		return b.cfg.InterBrokerListener, true
	}
	if len(b.cfg.AdvertisedListeners) == 0 {
		return "", false
	}
	return b.cfg.AdvertisedListeners[0].Name, true
}

// dialPeer connects to broker id on the inter-broker listener.
func (b *Broker) dialPeer(ctx context.Context, id int32) (*peerConn, error) {
	return b.dialPeerBuffered(ctx, id, 0)
}

// dialPeerBuffered is dialPeer with SO_RCVBUF set before the handshake
// when receiveBuffer > 0 (a follower's replica.socket.receive.buffer.bytes),
// so the window scale offered fits it.
func (b *Broker) dialPeerBuffered(ctx context.Context, id int32, receiveBuffer int) (*peerConn, error) {
	name, ok := b.interBrokerListener()
	if !ok {
		return nil, errors.New("no listener to reach other brokers on")
	}
	host, port, ok := b.BrokerEndpoint(id, name)
	if !ok {
		return nil, kerr.BrokerNotAvailable
	}
	d := net.Dialer{Control: protocol.ReceiveBufferControl(receiveBuffer)}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(int(port))))
	if err != nil {
		return nil, err
	}
	pc := &peerConn{b: b, id: id, conn: conn, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID(fmt.Sprintf("gregor-broker-%d", b.id)))}
	if err := b.securePeer(ctx, pc, name, host); err != nil {
		conn.Close()
		return nil, err
	}
	return pc, nil
}

func (c *peerConn) close() { c.conn.Close() }

// request sends req and reads its response; any error leaves the
// connection unusable (close it).
func (c *peerConn) request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	return c.roundTrip(ctx, req, false)
}

// requestReuse is request reading the response into the connection's
// buffer and decoding it without copying: its byte fields (a fetch's
// records) are valid only until the next request on the connection.
func (c *peerConn) requestReuse(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	return c.roundTrip(ctx, req, true)
}

func (c *peerConn) roundTrip(ctx context.Context, req kmsg.Request, reuse bool) (kmsg.Response, error) {
	if err := c.maybeReauthenticate(ctx); err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(dl)
	} else {
		c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Now()) })
	defer stop()
	c.correlation++
	c.buf = c.fmt.AppendRequest(c.buf[:0], req, c.correlation)
	if _, err := c.conn.Write(c.buf); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.conn, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 256<<20 {
		return nil, fmt.Errorf("broker %d: response of %d bytes", c.id, n)
	}
	var body []byte
	if reuse {
		if cap(c.resp) < int(n) {
			c.resp = make([]byte, n)
		}
		body = c.resp[:n]
	} else {
		body = make([]byte, n)
	}
	if _, err := io.ReadFull(c.conn, body); err != nil {
		return nil, err
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != c.correlation {
		return nil, fmt.Errorf("broker %d: response correlation id %d, want %d", c.id, got, c.correlation)
	}
	body = body[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != 18 {
		// The flexible response header's (empty) tag section.
		if len(body) == 0 || body[0] != 0 {
			return nil, fmt.Errorf("broker %d: unexpected response header tags", c.id)
		}
		body = body[1:]
	}
	var err error
	if u, ok := resp.(kmsg.UnsafeReadFrom); ok && reuse {
		err = u.UnsafeReadFrom(body)
	} else {
		err = resp.ReadFrom(body)
	}
	if err != nil {
		return nil, fmt.Errorf("broker %d: decoding %T: %w", c.id, resp, err)
	}
	return resp, nil
}

// SendToBroker sends one request to another broker and returns its
// response (transaction markers for partitions led elsewhere, share
// partition state to and from share coordinators). Connections are kept
// for reuse (peerPool); a request that fails on a kept connection, which
// the peer may have closed since, is sent once more on a fresh one.
func (b *Broker) SendToBroker(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	if c := b.peerPool.take(id); c != nil {
		resp, err := c.request(ctx, req)
		if err == nil {
			b.peerPool.put(c)
			return resp, nil
		}
		c.close()
		if ctx.Err() != nil {
			return nil, err
		}
	}
	c, err := b.dialPeer(ctx, id)
	if err != nil {
		return nil, err
	}
	resp, err := c.request(ctx, req)
	if err != nil {
		c.close()
		return nil, err
	}
	b.peerPool.put(c)
	return resp, nil
}

// peerPool keeps idle connections to other brokers, a few per broker.
type peerPool struct {
	mu sync.Mutex
	// guarded by mu:
	idle   map[int32][]*peerConn
	closed bool
}

// maxIdlePeerConns bounds the idle connections kept per broker.
const maxIdlePeerConns = 4

func (pp *peerPool) take(id int32) *peerConn {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	cs := pp.idle[id]
	if len(cs) == 0 {
		return nil
	}
	c := cs[len(cs)-1]
	cs[len(cs)-1] = nil
	if len(cs) == 1 {
		delete(pp.idle, id)
	} else {
		pp.idle[id] = cs[:len(cs)-1]
	}
	return c
}

func (pp *peerPool) put(c *peerConn) { pp.putAt(c, time.Now()) }

func (pp *peerPool) putAt(c *peerConn, now time.Time) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.closed || len(pp.idle[c.id]) >= maxIdlePeerConns {
		c.close()
		return
	}
	if pp.idle == nil {
		pp.idle = make(map[int32][]*peerConn)
	}
	c.idleSince = now
	pp.idle[c.id] = append(pp.idle[c.id], c)
}

// sweep closes the connections idle for longer than maxIdle
// (connections.max.idle.ms; none when not positive), as Kafka's Selector
// closes a client's idle connections, inter-broker ones included: kept
// connections to a broker that left the cluster, or that closed them as
// idle itself, would otherwise hold their sockets for ever.
func (pp *peerPool) sweep(now time.Time, maxIdle time.Duration) {
	if maxIdle <= 0 {
		return
	}
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for id, cs := range pp.idle {
		kept := cs[:0]
		for _, c := range cs {
			if now.Sub(c.idleSince) > maxIdle {
				c.close()
			} else {
				kept = append(kept, c)
			}
		}
		clear(cs[len(kept):])
		if len(kept) == 0 {
			delete(pp.idle, id)
		} else {
			pp.idle[id] = kept
		}
	}
}

// count returns how many idle connections are kept.
func (pp *peerPool) count() int {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	n := 0
	for _, cs := range pp.idle {
		n += len(cs)
	}
	return n
}

// close closes every idle connection; later ones are closed when put.
func (pp *peerPool) close() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	pp.closed = true
	for id, cs := range pp.idle {
		for _, c := range cs {
			c.close()
		}
		delete(pp.idle, id)
	}
}
