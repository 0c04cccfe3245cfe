package zkmeta

import (
	"net"
	"time"

	"github.com/go-zookeeper/zk"
)

// Connect opens a ZooKeeper session as zk.Connect does, through Dialer,
// logging to log.
func Connect(servers []string, sessionTimeout time.Duration, log zk.Logger) (*zk.Conn, <-chan zk.Event, error) {
	return zk.Connect(servers, sessionTimeout, zk.WithLogger(log), zk.WithDialer(Dialer(sessionTimeout)))
}

// Dialer is the dialer of every ZooKeeper session. go-zookeeper waits ten
// receive timeouts (20/3 of the session timeout: two minutes at Kafka's
// 18 s) for the answer to a session request. A ZooKeeper server that is
// still starting can accept a connection and then neither answer nor
// close it (3.8 and 3.9 fail with a NullPointerException closing it), so
// a broker reconnecting after a ZooKeeper restart could sit on that
// connection for minutes. Dialer's connections cap every read and write
// deadline at one receive timeout (two thirds of the session timeout),
// the deadline go-zookeeper uses for everything after the handshake, so
// such a connection is dropped and the next attempt made in time.
func Dialer(sessionTimeout time.Duration) zk.Dialer {
	limit := sessionTimeout * 2 / 3
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		c, err := net.DialTimeout(network, address, timeout)
		if err != nil {
			return nil, err
		}
		return cappedConn{Conn: c, limit: limit}, nil
	}
}

// cappedConn caps the deadlines set on it (zero, no deadline, stays).
type cappedConn struct {
	net.Conn
	limit time.Duration
}

func (c cappedConn) cap(t time.Time) time.Time {
	if max := time.Now().Add(c.limit); !t.IsZero() && t.After(max) {
		return max
	}
	return t
}

func (c cappedConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.cap(t)) }
func (c cappedConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.cap(t)) }
func (c cappedConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.cap(t)) }
