package protocol

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// Options bound what clients can make the server hold. Set them before the
// server listens; they do not change afterwards.
type Options struct {
	// MaxRequestSize caps one request frame (socket.request.max.bytes).
	MaxRequestSize int32
	// SendBuffer and ReceiveBuffer are SO_SNDBUF and SO_RCVBUF of
	// accepted connections (socket.send.buffer.bytes,
	// socket.receive.buffer.bytes); <= 0 leaves the OS's autotuning.
	// ListenTCP sets ReceiveBuffer on the listening socket too.
	SendBuffer, ReceiveBuffer int
	// ListenBacklog is each listening socket's backlog
	// (socket.listen.backlog.size); <= 0 leaves Go's, the kernel's
	// maximum.
	ListenBacklog int
	// QueuedMaxRequestBytes bounds the request bytes held for all
	// connections together: frames being read, and frames read whose
	// handler has not returned (queued.max.request.bytes); a request whose
	// handler deferred its answer (acks=all, a long poll, a join) leaves
	// it, as a Kafka request leaves the memory pool when its handler
	// returns, and counts in ConnMaxQueuedBytes until answered. A frame
	// reserves its bytes ahead of reading them, as Kafka allocates a
	// request from its memory pool before reading it, but a buffer at a
	// time: its first buffer (initialFrameBuffer at most) when it starts,
	// then each larger one as the client fills the last (see byteBudget).
	// A reservation is granted while the others' are under the limit, so
	// what is held stays under the limit plus one frame (two while one
	// frame takes the overdraft that keeps growing frames from waiting on
	// each other for ever); until then the connection is not read. Small
	// requests waiting go before the next steps of large ones. A
	// connection that stops sending a request it has reserved bytes of
	// (its first buffer too) is closed once it has sent nothing for
	// stalledRequestTimeout (5 s) while others wait; without others
	// waiting, connections.max.idle.ms applies. <= 0: unbounded (Kafka's
	// -1).
	QueuedMaxRequestBytes int64
	// ConnMaxQueuedBytes bounds what one connection can make the server
	// hold: its request bytes not yet answered plus its encoded responses
	// not yet written (gregor.connection.max.queued.bytes). Above it the
	// connection is not read until its client reads responses, so a client
	// that pipelines requests and never reads the answers pins this much,
	// not up to 64 responses. A single request or response may exceed it.
	// <= 0: unbounded.
	ConnMaxQueuedBytes int64
	// MaxConnections bounds the connections open over all listeners
	// (max.connections); a new connection over it is closed at once.
	MaxConnections int
	// MaxConnectionsPerIP bounds the connections open from one address
	// (max.connections.per.ip); a new one over it is closed at once.
	MaxConnectionsPerIP int
	// MaxConnectionsPerIPOverrides replace MaxConnectionsPerIP for some
	// hosts (max.connections.per.ip.overrides), keyed by IP address or host
	// name; names are resolved when the server first listens.
	MaxConnectionsPerIPOverrides map[string]int
	// MaxConnectionsPerListener bounds the connections open on a
	// listener, by name (listener.name.<l>.max.connections); a listener
	// not named has no bound of its own.
	MaxConnectionsPerListener map[string]int
	// MaxConnectionCreationRate bounds the connections accepted per
	// second over all listeners but the inter-broker one
	// (max.connection.creation.rate, KIP-612), and
	// ListenerConnectionCreationRate each named listener's: an accept
	// over a bound waits until the rate allows it, as Kafka's acceptor
	// does. <= 0 or math.MaxInt32: unbounded.
	MaxConnectionCreationRate      int
	ListenerConnectionCreationRate map[string]int
	// ConnectionRateSamples and ConnectionRateWindow are the windows the
	// connection creation rates are measured over, as Kafka measures
	// them (quota.window.num, quota.window.size.seconds; <= 0: 11 and a
	// second); a throttle is at most one window. The per-IP rates are
	// quotas, set with SetIPConnectionRates.
	ConnectionRateSamples int
	ConnectionRateWindow  time.Duration
	// InterBrokerListener is exempt from MaxConnections and
	// MaxConnectionCreationRate when there are other listeners, as Kafka
	// exempts it: clients that use up the broker-wide bounds cannot keep
	// the other brokers from replicating. Its own listener bounds still
	// apply.
	InterBrokerListener string
	// IdleTimeout closes a connection that has no request in flight and
	// neither completed a request nor was sent a response for this long
	// (connections.max.idle.ms). A request trickled in slower than that is
	// closed too, and a write to a client that reads nothing for this long
	// fails. <= 0: never.
	IdleTimeout time.Duration
	// SASLMaxReceiveSize bounds a frame read on a SASL listener before
	// authentication completes (sasl.server.max.receive.size); <= 0:
	// Kafka's default, 512 KiB.
	SASLMaxReceiveSize int32
	// FailedAuthDelay holds back the answer to a failed SASL
	// authentication, and the close that follows it, this long
	// (connection.failed.authentication.delay.ms, KIP-306): a client
	// trying passwords gets one answer per delay. <= 0: none.
	FailedAuthDelay time.Duration
}

// Defaults, with the reason for each that is not Kafka's.
const (
	// DefaultMaxRequestSize is Kafka's socket.request.max.bytes default.
	DefaultMaxRequestSize = 100 << 20
	// DefaultQueuedMaxRequestBytes: Kafka's default is -1 (unbounded), which
	// relies on the JVM heap (1 GiB in Kafka's start scripts) to stop a
	// broker short of the machine's memory; a Go process has no such
	// ceiling. 512 MiB lets five requests of the largest default size
	// (100 MiB) be read at once, so big producers are not serialised, and
	// is far below the memory of any host that runs a broker.
	DefaultQueuedMaxRequestBytes = 512 << 20
	// DefaultConnMaxQueuedBytes: 16 MiB holds the five pipelined 1 MiB
	// requests of a default Java producer (max.in.flight x
	// max.request.size) three times over; a larger request or fetch
	// response still goes through whole, the bound only stops further
	// reading until it is written.
	DefaultConnMaxQueuedBytes = 16 << 20
	// DefaultIdleTimeout is Kafka's connections.max.idle.ms default.
	DefaultIdleTimeout = 10 * time.Minute
)

// Hard limits of the connection layer, with the reason for each.
const (
	// minRequestSize: a frame shorter than a request header prefix (key,
	// version, correlation id) cannot be a request.
	minRequestSize = 8
	// initialFrameBuffer is what a size prefix alone buys: the first
	// allocation for a frame; it grows (16x once, then doubling) only as
	// the bytes arrive, so announcing 100 MiB costs 64 KiB.
	initialFrameBuffer = 64 << 10
	// frameGrowthStep: frames up to 1 MiB (Java producers' default
	// max.request.size) are moved at most once while growing.
	frameGrowthStep = 1 << 20
	// maxInflightPerConn bounds requests read but not yet answered on one
	// connection (Kafka reads one at a time; we let pipelined requests
	// proceed so long polls and acks=all waits overlap, but not without
	// bound).
	maxInflightPerConn = 64
	// maxWriteBatch: ready responses are gathered into one writev up to
	// this many bytes.
	maxWriteBatch = 1 << 20
	// stalledRequestTimeout: a connection that reserves part of a request
	// (queued.max.request.bytes), its first buffer or more, and sends none of it for this
	// long while other connections wait for the budget is closed; without
	// others waiting, connections.max.idle.ms applies, as in Kafka. A
	// healthy client does not pause mid-request for seconds (the broker
	// reads it throughout), and the clients kept waiting should not
	// time out: 5 s is well inside Kafka clients' request timeouts (30 s
	// in Java, 10 s plus the request's own in franz-go).
	stalledRequestTimeout = 5 * time.Second
	// stallCheckInterval: how often a reader watching for a stall wakes
	// while its client sends nothing; a stall is noticed this much late
	// at most (and a frame's last bytes may be seen this much late).
	stallCheckInterval = time.Second
	// acceptBackoffMin and acceptBackoffMax bound the retry delay after a
	// failed accept (EMFILE, ENFILE, ENOBUFS), as net/http does.
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// DefaultOptions returns Kafka's defaults, except where a reason is given
// above.
func DefaultOptions() Options {
	return Options{
		MaxRequestSize:        DefaultMaxRequestSize,
		QueuedMaxRequestBytes: DefaultQueuedMaxRequestBytes,
		ConnMaxQueuedBytes:    DefaultConnMaxQueuedBytes,
		MaxConnections:        math.MaxInt32,
		MaxConnectionsPerIP:   math.MaxInt32,
		IdleTimeout:           DefaultIdleTimeout,
	}
}

// Validate reports every bad option at once.
func (o *Options) Validate() error {
	var errs []error
	if o.MaxRequestSize < minRequestSize {
		errs = append(errs, fmt.Errorf("socket.request.max.bytes %d is below %d", o.MaxRequestSize, minRequestSize))
	}
	if o.MaxConnections < 0 {
		errs = append(errs, fmt.Errorf("max.connections %d is negative", o.MaxConnections))
	}
	if o.MaxConnectionsPerIP < 0 {
		errs = append(errs, fmt.Errorf("max.connections.per.ip %d is negative", o.MaxConnectionsPerIP))
	}
	// Kafka: zero per IP only makes sense with overrides letting some in.
	if o.MaxConnectionsPerIP == 0 && len(o.MaxConnectionsPerIPOverrides) == 0 {
		errs = append(errs, errors.New("max.connections.per.ip can be 0 only with max.connections.per.ip.overrides"))
	}
	for host, n := range o.MaxConnectionsPerIPOverrides {
		if n < 0 {
			errs = append(errs, fmt.Errorf("max.connections.per.ip.overrides: %s has a negative count %d", host, n))
		}
	}
	for l, n := range o.MaxConnectionsPerListener {
		if n < 0 {
			errs = append(errs, fmt.Errorf("listener.name.%s.max.connections %d is negative", strings.ToLower(l), n))
		}
	}
	return errors.Join(errs...)
}

// ParseConnectionOverrides parses max.connections.per.ip.overrides:
// "host:count,host:count", split at each entry's last colon so IPv6
// addresses work (as Kafka's parseCsvMap does).
func ParseConnectionOverrides(v string) (map[string]int, error) {
	out := map[string]int{}
	for _, entry := range strings.Split(v, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		i := strings.LastIndexByte(entry, ':')
		if i <= 0 {
			return nil, fmt.Errorf("%q is not host:count", entry)
		}
		host := strings.Trim(strings.TrimSpace(entry[:i]), "[]")
		n, err := strconv.Atoi(strings.TrimSpace(entry[i+1:]))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q: the count must be a non-negative integer", entry)
		}
		if ip := net.ParseIP(host); ip != nil {
			host = ip.String()
		}
		out[host] = n
	}
	return out, nil
}

// resolveOverrides maps each override host to its addresses.
func resolveOverrides(in map[string]int) (map[string]int, error) {
	out := make(map[string]int, len(in))
	for host, n := range in {
		if ip := net.ParseIP(host); ip != nil {
			out[ip.String()] = n
			continue
		}
		ips, err := net.LookupIP(host)
		if err != nil {
			return nil, fmt.Errorf("max.connections.per.ip.overrides: resolving %s: %w", host, err)
		}
		for _, ip := range ips {
			out[ip.String()] = n
		}
	}
	return out, nil
}
