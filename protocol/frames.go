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
	class := bits.Len(uint(n - 1))
	if f, ok := framePools[class].Get().(*pooledFrame); ok {
		return f.b[:n], f
	}
	f := &pooledFrame{b: make([]byte, 1<<class)}
	return f.b[:n], f
}

// release returns a frame to its pool; nothing may reference it after.
func (f *pooledFrame) release() {
	if f == nil {
		return
	}
	framePools[bits.Len(uint(cap(f.b)-1))].Put(f)
}
