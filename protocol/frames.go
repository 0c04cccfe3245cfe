package protocol

// Request frames of the APIs that decode without copying (Produce, Fetch)
// are recycled: reading a frame into a fresh buffer costs a zeroing of
// every byte, a tenth of the broker's CPU on small records. Such a frame
// is referenced by its request until the response has been written (the
// batches are appended to the log, and copied there, by then), and is
// returned to a pool afterwards. Frames of other APIs are never recycled:
// their decoded byte fields alias the frame and may be kept (group member
// metadata, for one).

import (
	"math/bits"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	minPooledFrame = 1 << 10 // smaller frames are cheap to allocate
	maxPooledFrame = 8 << 20 // larger ones are rare; do not pin them
)

// framePools holds buffers by power-of-two capacity class.
var framePools [25]sync.Pool // classes up to 2^24, beyond maxPooledFrame

// pooledFrame is a recyclable frame buffer.
type pooledFrame struct{ b []byte }

// getFrame returns a buffer of n bytes, pooled when n is in the pooled
// range (then with the pooledFrame to release it), contents undefined.
func getFrame(n int) ([]byte, *pooledFrame) {
	if n < minPooledFrame || n > maxPooledFrame {
		return make([]byte, n), nil
	}
	if b, f, ok := pooledFrameOf(n); ok {
		return b, f
	}
	f := &pooledFrame{b: make([]byte, 1<<bits.Len(uint(n-1)))}
	return f.b[:n], f
}

// pooledFrameOf returns a pooled buffer of n bytes if the pool holds one,
// allocating nothing otherwise.
func pooledFrameOf(n int) ([]byte, *pooledFrame, bool) {
	if n < minPooledFrame || n > maxPooledFrame {
		return nil, nil, false
	}
	f, ok := framePools[bits.Len(uint(n-1))].Get().(*pooledFrame)
	if !ok {
		return nil, nil, false
	}
	return f.b[:n], f, true
}

// release returns a frame to its pool; nothing may reference it after.
func (f *pooledFrame) release() {
	if f == nil {
		return
	}
	framePools[bits.Len(uint(cap(f.b)-1))].Put(f)
}

// frameBuf is a request frame being read or held until its response is
// encoded.
type frameBuf struct {
	b      []byte
	pool   *pooledFrame // set when b came from the pool
	pooled bool         // the frame's API decodes without copying: use the pool
	// reserved is what the frame holds of queued.max.request.bytes: its
	// first buffer, then each larger one as it grows (conn.readFrame).
	reserved int64
	// counted: the budget counts the frame among its holders
	// (byteBudget.hold).
	counted bool
}

// outFrame is an encoded response frame waiting to be written. Large ones
// (fetches) come from the same pool as request frames. A spliced response
// (splice.go) is pieces: parts of b around file ranges.
type outFrame struct {
	b      []byte
	pool   *pooledFrame
	pieces []piece // nil: the frame is b
	size   int     // the frame's length when pieces is set
}

// len is the frame's length on the wire.
func (o *outFrame) len() int {
	if o.pieces != nil {
		return o.size
	}
	return len(o.b)
}

// release frees the buffer and lets go of the file ranges.
func (o *outFrame) release() {
	for _, p := range o.pieces {
		if p.r != nil {
			p.r.Release()
		}
	}
	o.pool.release()
	o.b, o.pool, o.pieces = nil, nil, nil
}

// encodeResponse encodes a size-prefixed response frame into a buffer
// sized by responseSizeHint.
func encodeResponse(correlation int32, resp kmsg.Response) *outFrame {
	b, pf := getFrame(responseSizeHint(resp))
	out := appendResponseFrame(b[:0], correlation, resp)
	if len(out) > cap(b) { // outgrew the hint: append moved it
		pf.release()
		pf = nil
	}
	return &outFrame{b: out, pool: pf}
}

// responseSizeHint estimates a response's encoded size from above for
// fetches, whose record bytes dominate, so that encoding them moves no
// bytes twice; other responses start small and grow.
func responseSizeHint(resp kmsg.Response) int {
	r, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return 512
	}
	n := 64
	for i := range r.Topics {
		t := &r.Topics[i]
		n += 48 + len(t.Topic)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			n += 128 + len(p.RecordBatches) + 24*len(p.AbortedTransactions)
		}
	}
	return n
}
