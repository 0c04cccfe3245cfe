package protocol

// Writing responses with file ranges (splice.go). On a plaintext TCP
// connection byte pieces go out with writev and each large range with
// sendfile, at the range's own position (never the file's offset, which
// concurrent fetches of the same segment would race on); a short range
// is read into a pooled buffer and written with the bytes around it, one
// syscall instead of two. Elsewhere (TLS, which encrypts in user space,
// or a connection without a descriptor) ranges are read, once, straight
// into the buffer handed to Write.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// defaultSendfileMin is the smallest range sent with sendfile on a
// plaintext connection; shorter ones are read and written with the bytes
// around them. Tests force either path with Server.sendfileMin.
const defaultSendfileMin = 32 << 10

// errShortRange: a file range ended before its advertised length.
var errShortRange = errors.New("file range shorter than its response advertised")

// pieceWriter is a connection writer's state for pieces.
type pieceWriter struct {
	probed bool
	raw    syscall.RawConn // nil: no sendfile on this connection
	bufs   [][]byte
	// scratch holds short ranges read for the current writev.
	scratch []*pooledFrame
}

// joinedBufs recycles the buffers that gather responses for one Write on
// connections without writev (TLS), so an idle connection holds none.
var joinedBufs sync.Pool

func getJoined() []byte {
	if b, ok := joinedBufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 64<<10)
}

func putJoined(b []byte) {
	if cap(b) <= maxWriteBatch*2 {
		joinedBufs.Put(&b)
	}
}

// encodeSpliced encodes a spliced response into pieces; if its markers are
// not found as expected it logs that and encodes it plainly.
func (c *conn) encodeSpliced(h header, sp *Spliced) (*outFrame, error) {
	out := encodeResponse(h.correlation, sp.Response)
	if sp.Ranges() == 0 {
		return out, nil
	}
	pieces, size, ok := splitSpliced(out.b, sp, sp.IsFlexible())
	if ok {
		sp.slots = nil // the pieces own the ranges now
		out.pieces, out.size = pieces, size
		return out, nil
	}
	out.release()
	c.log.Error().Str(LogAPI, kmsg.NameForKey(h.key)).Int16(LogVersion, h.version).
		Msg("a spliced response's marker was not found; sending it copied")
	resp, err := sp.Materialize()
	if err != nil {
		return nil, fmt.Errorf("reading a response's file ranges: %w", err)
	}
	return encodeResponse(h.correlation, resp), nil
}

// writePieces writes the gathered responses, some with file ranges.
func (w *responseWriter) writePieces() error {
	pw := &w.pw
	if !pw.probed {
		pw.probed = true
		if sc, ok := w.c.nc.(syscall.Conn); ok && sendfileSupported {
			pw.raw, _ = sc.SyscallConn()
		}
	}
	if pw.raw == nil {
		return w.writeJoined()
	}
	defer pw.dropScratch()
	for _, p := range w.batch {
		if p.out == nil {
			continue
		}
		if p.out.pieces == nil {
			pw.bufs = append(pw.bufs, p.out.b)
			continue
		}
		for _, pc := range p.out.pieces {
			if err := w.writePiece(pc); err != nil {
				return err
			}
		}
	}
	return pw.writev(w.c.nc)
}

// writePiece queues a byte piece or a short range for the next writev, or
// sends a long range with sendfile after what is queued.
func (w *responseWriter) writePiece(pc piece) error {
	pw := &w.pw
	if pc.r == nil {
		pw.bufs = append(pw.bufs, pc.b)
		return nil
	}
	n := pc.r.Len()
	if n == 0 {
		return nil
	}
	least := w.c.s.sendfileMin
	if least <= 0 {
		least = defaultSendfileMin
	}
	if f, pos, ok := pc.r.File(); ok && n >= least {
		if err := pw.writev(w.c.nc); err != nil {
			return err
		}
		err := sendFile(pw.raw, f, pos, n)
		if rep, ok := pc.r.(interface{ FileFailed(error) }); ok && errors.Is(err, syscall.EIO) {
			// The file could not be read (a socket never says EIO):
			// its disk may have failed.
			rep.FileFailed(err)
		}
		return err
	}
	b, pf := getFrame(n)
	pw.scratch = append(pw.scratch, pf)
	if err := readRange(pc.r, b, 0); err != nil {
		return err
	}
	pw.bufs = append(pw.bufs, b)
	return nil
}

// writev writes and clears the queued byte pieces.
func (pw *pieceWriter) writev(nc net.Conn) error {
	if len(pw.bufs) == 0 {
		return nil
	}
	bufs := net.Buffers(pw.bufs)
	_, err := bufs.WriteTo(nc)
	clear(pw.bufs)
	pw.bufs = pw.bufs[:0]
	pw.dropScratch()
	return err
}

func (pw *pieceWriter) dropScratch() {
	for _, pf := range pw.scratch {
		pf.release()
	}
	clear(pw.scratch)
	pw.scratch = pw.scratch[:0]
}

// free drops the writer's buffers (the connection ended).
func (pw *pieceWriter) free() {
	pw.dropScratch()
	pw.bufs = nil
}

// writeJoined writes the gathered responses through Write in chunks of
// about maxWriteBatch, reading each range straight into the chunk.
func (w *responseWriter) writeJoined() error {
	nc := w.c.nc
	joined := getJoined()
	defer func() { putJoined(joined) }()
	emit := func() error {
		if len(joined) == 0 {
			return nil
		}
		_, err := nc.Write(joined)
		joined = joined[:0]
		return err
	}
	for _, p := range w.batch {
		if p.out == nil {
			continue
		}
		pieces := p.out.pieces
		if pieces == nil {
			pieces = []piece{{b: p.out.b}}
		}
		for _, pc := range pieces {
			if pc.r == nil {
				joined = append(joined, pc.b...)
				if len(joined) >= maxWriteBatch {
					if err := emit(); err != nil {
						return err
					}
				}
				continue
			}
			for off, n := 0, pc.r.Len(); off < n; {
				room := max(maxWriteBatch-len(joined), 16<<10)
				chunk := min(n-off, room)
				start := len(joined)
				joined = growLen(joined, chunk)
				if err := readRange(pc.r, joined[start:], int64(off)); err != nil {
					return err
				}
				off += chunk
				if len(joined) >= maxWriteBatch {
					if err := emit(); err != nil {
						return err
					}
				}
			}
		}
	}
	return emit()
}

// growLen extends b by n bytes (contents undefined).
func growLen(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), max(2*cap(b), len(b)+n))
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// readRange fills p from r at off; a range that ends early is an error
// (the response advertised its length).
func readRange(r FileRange, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = errShortRange
	}
	return err
}
