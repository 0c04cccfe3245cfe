package protocol

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConnInfo describes the connection a request arrived on.
type ConnInfo struct {
	ID       uint64
	Listener string // listener name, e.g. PLAINTEXT
	Local    net.Addr
	Remote   net.Addr
	// SecurityProtocol is the listener's: PLAINTEXT, SSL, SASL_PLAINTEXT
	// or SASL_SSL.
	SecurityProtocol string

	// principal is set once the connection authenticates (Principal).
	principal atomic.Pointer[Principal]
	// mutedUntil is when a throttled connection is read again (Unix
	// nanoseconds; MuteUntil).
	mutedUntil atomic.Int64
}

// Request is one decoded request.
type Request struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      string
	Body          kmsg.Request
	Conn          *ConnInfo
	// Size is the request frame's size in bytes (without its size prefix).
	Size int

	deferred func(ctx context.Context) (kmsg.Response, error)
}

// Defer makes the response come from fn, run off the connection's read path
// from the request's arrival (alongside other requests' deferred work if
// the API is WaitOnly, else after the previous ordered one). Responses
// still leave the connection in request order.
func (r *Request) Defer(fn func(ctx context.Context) (kmsg.Response, error)) {
	r.deferred = fn
}

// Deferred returns the work the handler deferred, nil if none (so that a
// wrapper around a handler can wrap that work too).
func (r *Request) Deferred() func(ctx context.Context) (kmsg.Response, error) {
	return r.deferred
}

// Response returns an empty response of the request's kind and version.
func (r *Request) Response() kmsg.Response {
	resp := r.Body.ResponseKind()
	resp.SetVersion(r.Version)
	return resp
}

var errMalformedHeader = errors.New("malformed request header")

// header is the part of a request header before the body.
type header struct {
	key, version int16
	correlation  int32
	clientID     string
	bodyOffset   int
}

// parseHeaderPrefix reads key, version and correlation id, which every
// request header version has in the same place.
func parseHeaderPrefix(b []byte) (header, error) {
	if len(b) < 8 {
		return header{}, errMalformedHeader
	}
	return header{
		key:         int16(binary.BigEndian.Uint16(b)),
		version:     int16(binary.BigEndian.Uint16(b[2:])),
		correlation: int32(binary.BigEndian.Uint32(b[4:])),
		bodyOffset:  8,
	}, nil
}

// parseHeaderRest reads the client id (always an INT16-length nullable
// string, even in flexible header v2) and, for flexible versions, skips the
// header's tagged fields.
func parseHeaderRest(b []byte, h *header, flexible bool) error {
	p := h.bodyOffset
	if len(b) < p+2 {
		return errMalformedHeader
	}
	n := int(int16(binary.BigEndian.Uint16(b[p:])))
	p += 2
	if n > 0 {
		if len(b) < p+n {
			return errMalformedHeader
		}
		h.clientID = string(b[p : p+n])
		p += n
	} else if n < -1 {
		return errMalformedHeader
	}
	if flexible {
		var err error
		if p, err = skipTags(b, p); err != nil {
			return err
		}
	}
	h.bodyOffset = p
	return nil
}

func skipTags(b []byte, p int) (int, error) {
	count, n := binary.Uvarint(b[p:])
	if n <= 0 || count > uint64(len(b)) {
		return 0, errMalformedHeader
	}
	p += n
	for i := uint64(0); i < count; i++ {
		if _, n = binary.Uvarint(b[p:]); n <= 0 {
			return 0, errMalformedHeader
		}
		p += n
		size, n := binary.Uvarint(b[p:])
		if n <= 0 || size > uint64(len(b)-p-n) {
			return 0, errMalformedHeader
		}
		p += n + int(size)
	}
	return p, nil
}

// appendResponseFrame appends a size-prefixed response frame. Flexible
// responses carry header v1 (an empty tag section) except ApiVersions, whose
// response header is always v0 so a client can parse it before it knows
// which versions we speak.
func appendResponseFrame(dst []byte, correlation int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlation))
	if resp.IsFlexible() && resp.Key() != 18 {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// errorf builds a connection-closing error with request context.
func errorf(h header, format string, args ...any) error {
	return fmt.Errorf("%s v%d (correlation %d): %s", kmsg.NameForKey(h.key), h.version, h.correlation, fmt.Sprintf(format, args...))
}
