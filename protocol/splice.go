package protocol

// Spliced responses: a handler can answer with byte fields that are sent
// from files (a fetch's records, straight from the segment files), while
// kmsg stays the only encoder.
//
// The handler puts a marker in each such field (Spliced.Splice). The
// response is encoded by kmsg with the markers in place; the encoder then
// finds each marker, in encoding order, checks the length prefix kmsg wrote
// before it, and cuts the frame into pieces:
//
//	[encoded bytes ... length prefix][file range][encoded bytes ...]...
//
// rewriting each length prefix for the range's real length and the frame's
// size prefix for the total. A marker is 16 bytes, so kmsg writes its
// prefix as an INT32 (non-flexible versions) or a one-byte compact uvarint
// 17 (flexible versions); the real prefix is the same INT32 or a uvarint of
// length+1 of up to five bytes, which fits in the prefix's and marker's 17
// bytes. Nothing else in the frame can be mistaken for a marker: markers
// begin with 12 random bytes chosen when the process starts and never
// sent. Should a marker still not be found as expected, the ranges are read
// into their fields and the response encoded plainly.
//
// The writer (conn.go) sends byte pieces with writev and file ranges with
// sendfile on plaintext TCP connections; on TLS connections, or for small
// ranges, it reads a range into a buffer (once) and writes that.

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FileRange is a byte range of an open file that a response sends in
// place of a marker. It stays readable, with the same bytes, until
// Release.
type FileRange interface {
	Len() int
	// ReadAt reads from the range at off (relative to its start).
	ReadAt(p []byte, off int64) (int, error)
	// File returns the file and the range's position in it, for
	// sendfile; ok false means only ReadAt can be used.
	File() (f *os.File, pos int64, ok bool)
	// Release lets go of the range; calling it twice is harmless.
	Release()
}

// markerLen is a marker's length: 12 random bytes and a 4-byte index.
const markerLen = 16

// markerPrefix begins every marker of this process.
var markerPrefix = func() [12]byte {
	var p [12]byte
	if _, err := rand.Read(p[:]); err != nil {
		panic(fmt.Sprintf("protocol: no randomness for splice markers: %v", err))
	}
	return p
}()

func appendMarker(dst []byte, i int) []byte {
	dst = append(dst, markerPrefix[:]...)
	return binary.BigEndian.AppendUint32(dst, uint32(i))
}

// Spliced is a response some of whose byte fields are sent from file
// ranges. A handler returns it in place of the response it wraps.
type Spliced struct {
	kmsg.Response
	slots   []spliceSlot
	markers []byte
}

type spliceSlot struct {
	field *[]byte
	r     FileRange
}

// NewSpliced wraps resp.
func NewSpliced(resp kmsg.Response) *Spliced { return &Spliced{Response: resp} }

// Splice makes *field be sent as r's bytes: it sets *field to a marker.
// The Spliced owns r from now on.
func (s *Spliced) Splice(field *[]byte, r FileRange) {
	i := len(s.slots)
	if cap(s.markers)-len(s.markers) < markerLen {
		s.markers = make([]byte, 0, markerLen*max(8, 2*len(s.slots)))
	}
	start := len(s.markers)
	s.markers = appendMarker(s.markers, i)
	*field = s.markers[start:len(s.markers):len(s.markers)]
	s.slots = append(s.slots, spliceSlot{field: field, r: r})
}

// Ranges is the number of spliced fields.
func (s *Spliced) Ranges() int { return len(s.slots) }

// Range returns the i'th spliced field (in the order of Splice calls) and
// its range.
func (s *Spliced) Range(i int) (*[]byte, FileRange) { return s.slots[i].field, s.slots[i].r }

// RangeBytes is the total length of the spliced ranges.
func (s *Spliced) RangeBytes() int {
	n := 0
	for _, sl := range s.slots {
		n += sl.r.Len()
	}
	return n
}

// Release lets go of every range (the response is discarded).
func (s *Spliced) Release() {
	for _, sl := range s.slots {
		sl.r.Release()
	}
	s.slots = nil
}

// Materialize reads every range into its field and releases it, leaving a
// plain response (in-process callers, and the encoder's fallback).
func (s *Spliced) Materialize() (kmsg.Response, error) {
	var first error
	for _, sl := range s.slots {
		buf := make([]byte, sl.r.Len())
		if _, err := sl.r.ReadAt(buf, 0); err != nil && !(errors.Is(err, io.EOF) && len(buf) == 0) && first == nil {
			first = err
		}
		*sl.field = buf
		sl.r.Release()
	}
	s.slots = nil
	return s.Response, first
}

// ReleaseResponse releases the ranges of a spliced response that will not
// be sent; other responses need nothing.
func ReleaseResponse(resp kmsg.Response) {
	if s, ok := resp.(*Spliced); ok {
		s.Release()
	}
}

// piece is part of an encoded response frame: bytes, or a file range.
type piece struct {
	b []byte
	r FileRange
}

// splitSpliced cuts an encoded frame (size prefix included) holding s's
// markers into pieces, rewriting the length prefixes in place and the
// frame size; ok is false if a marker is not where it must be.
func splitSpliced(frame []byte, s *Spliced, flexible bool) (pieces []piece, size int, ok bool) {
	pieces = make([]piece, 0, 2*len(s.slots)+1)
	var marker [markerLen]byte
	from, total := 0, len(frame)
	for i, sl := range s.slots {
		appendMarker(marker[:0], i)
		at := bytes.Index(frame[from:], marker[:])
		if at < 0 {
			return nil, 0, false
		}
		at += from
		n := sl.r.Len()
		var prefixEnd int
		if flexible {
			if at < 1 || frame[at-1] != markerLen+1 || at-1 < from {
				return nil, 0, false
			}
			p := binary.AppendUvarint(frame[:at-1], uint64(n)+1)
			prefixEnd = len(p)
			total += n - markerLen + (prefixEnd - at)
		} else {
			if at < 4 || at-4 < from || binary.BigEndian.Uint32(frame[at-4:]) != markerLen {
				return nil, 0, false
			}
			binary.BigEndian.PutUint32(frame[at-4:], uint32(n))
			prefixEnd = at
			total += n - markerLen
		}
		pieces = append(pieces, piece{b: frame[from:prefixEnd]}, piece{r: sl.r})
		from = at + markerLen
	}
	if from < len(frame) {
		pieces = append(pieces, piece{b: frame[from:]})
	}
	if total-4 > int(^uint32(0)>>1) {
		return nil, 0, false
	}
	binary.BigEndian.PutUint32(frame, uint32(total-4))
	return pieces, total, true
}

// Unwrap returns the response a Spliced wraps, or resp itself: what code
// inspecting a response before it is sent (its throttle time, its error
// codes) should look at. The wrapped response's spliced fields hold
// markers, not the records.
func Unwrap(resp kmsg.Response) kmsg.Response {
	if s, ok := resp.(*Spliced); ok {
		return s.Response
	}
	return resp
}
