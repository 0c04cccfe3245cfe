package records

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// walker reads the records section of a batch front to back: from memory
// (an uncompressed batch) or streamed from a decompressor through a window,
// so a compressed batch is checked without being inflated whole. Validate
// checks records where they lie in the window, skipping keys and values
// (checkRecords, checkInHand); Each makes each record contiguous and hands
// it out (eachRecord).
//
// Every record's length is checked against max before its bytes are read,
// so a walk never decodes much more than max bytes of a stream, and holds
// no more than the larger of the window and the largest record: a
// decompression bomb costs at most max bytes of decoding and of memory.
type walker struct {
	b    []byte    // bytes in hand; all of them when src is nil
	p    int       // next unread byte of b
	base int64     // stream position of b[0]
	src  io.Reader // the rest of the stream; nil when b holds it all
	err  error     // why src stopped: io.EOF, or a decoding error
	max  int64     // stream bytes the records may take
	// keep: never overwrite bytes already read, since records handed out
	// alias them (Each); the window is reused otherwise (Validate).
	keep bool
}

// walkWindow is the size of a streaming walker's window.
const walkWindow = 32 << 10

func (w *walker) pos() int64 { return w.base + int64(w.p) }

// fill tries to have n unread bytes in hand, reading from src, and
// reports whether it has.
func (w *walker) fill(n int) bool {
	if len(w.b)-w.p >= n {
		return true
	}
	if w.src == nil || w.err != nil {
		return false
	}
	if cap(w.b)-w.p < n {
		unread := len(w.b) - w.p
		if !w.keep && cap(w.b) >= n {
			copy(w.b[:unread], w.b[w.p:])
			w.b = w.b[:unread]
		} else {
			nb := make([]byte, unread, max(n, walkWindow))
			copy(nb, w.b[w.p:])
			w.b = nb
		}
		w.base += int64(w.p)
		w.p = 0
	}
	for stalls := 0; len(w.b)-w.p < n && w.err == nil; {
		m, err := w.src.Read(w.b[len(w.b):cap(w.b)])
		w.b = w.b[:len(w.b)+m]
		switch {
		case err != nil:
			w.err = err
		case m == 0:
			if stalls++; stalls > 100 {
				w.err = io.ErrNoProgress
			}
		}
	}
	return len(w.b)-w.p >= n
}

// skip passes n >= 0 bytes.
func (w *walker) skip(n int64) bool {
	if n <= int64(len(w.b)-w.p) {
		w.p += int(n)
		return true
	}
	return w.skipSlow(n)
}

func (w *walker) skipSlow(n int64) bool {
	for {
		if avail := int64(len(w.b) - w.p); n <= avail {
			w.p += int(n)
			return true
		} else {
			n -= avail
		}
		w.p = len(w.b)
		if !w.fill(1) {
			return false
		}
	}
}

// bad reports record i as unreadable: corrupt if the decompressor failed,
// invalid (the records break the format) otherwise.
func (w *walker) bad(i int32, what string) error {
	if w.err != nil && w.err != io.EOF {
		return corrupt("decompressing", w.err)
	}
	return fmt.Errorf("%w: record %d: %s", ErrInvalid, i, what)
}

// start begins record i of count: it fails if the records ended early.
func (w *walker) start(i, count int32) error {
	if w.p < len(w.b) {
		return nil
	}
	return w.startSlow(i, count)
}

func (w *walker) startSlow(i, count int32) error {
	if w.fill(1) {
		return nil
	}
	if w.err != nil && w.err != io.EOF {
		return corrupt("decompressing", w.err)
	}
	return fmt.Errorf("%w: the header counts %d records, the batch holds %d", ErrInvalid, count, i)
}

// finish checks that nothing follows the last record.
func (w *walker) finish() error {
	if w.p < len(w.b) || w.fill(1) {
		return fmt.Errorf("%w: bytes after the last record", ErrInvalid)
	}
	if w.err != nil && w.err != io.EOF {
		return corrupt("decompressing", w.err)
	}
	return nil
}

// overLimit explains a record of length bytes that passes the limit:
// too large if the stream really holds that much, else cut short.
func (w *walker) overLimit(i int32, length int64) error {
	if w.src != nil && w.skip(w.max-w.pos()) && w.fill(1) {
		return fmt.Errorf("%w: record %d of %d bytes passes the limit of %d decompressed bytes", ErrTooLarge, i, length, w.max)
	}
	return w.bad(i, fmt.Sprintf("length %d past the end of the records", length))
}

// checkRecords walks count records, checking every length, the offset
// deltas 0, 1, 2, ..., the count, and (keyless not nil) which records have
// a key, without building the records: the produce path's check. Records
// are checked where they lie in the window (checkInHand); a record cut by
// the window's end is made whole by reading on, growing the window to the
// record's size if need be.
func (w *walker) checkRecords(count int32, keyless *[]int32, ts *TimestampDeltas) error {
	for i := int32(0); i < count; {
		if err := w.start(i, count); err != nil {
			return err
		}
		next, used, need, err := checkInHand(w.b[w.p:], i, count, keyless, ts)
		w.p += used
		i = next
		if err != nil {
			return err
		}
		if i == count {
			break
		}
		if int64(need) > w.max-w.pos() {
			return w.overLimit(i, int64(need))
		}
		held := len(w.b) - w.p
		if !w.fill(need) && len(w.b)-w.p == held {
			return w.bad(i, "cut short")
		}
	}
	return w.finish()
}

// checkInHand checks records i, i+1, ... (of count) that lie wholly in b,
// as parseRecord reads them, and returns the index of the next record, the
// bytes of b checked, and, if it stopped at a record b does not wholly
// hold, the bytes that record needs (its size, or a varint's if its length
// is cut). It is the produce path's per-record cost: the common record is
// checked by fastRecord, any other by checkRecordAt. The records'
// timestamp deltas widen ts.
func checkInHand(b []byte, i, count int32, keyless *[]int32, ts *TimestampDeltas) (next int32, used, need int, err error) {
	p := 0
	for ; i < count; i++ {
		end, keyLen, delta, ok := fastRecord(b, p, i)
		if !ok {
			if end, keyLen, delta, need, err = checkRecordAt(b, p, i); need > 0 || err != nil {
				return i, p, need, err
			}
		}
		if keyLen < 0 && keyless != nil {
			*keyless = append(*keyless, i)
		}
		ts.add(delta)
		p = end
	}
	return i, p, 0, nil
}

// checkRecordAt checks record i at b[p:], returning its end, key length
// and timestamp delta, or the bytes it needs if b does not wholly hold it.
func checkRecordAt(b []byte, p int, i int32) (end int, keyLen, tsDelta int64, need int, err error) {
	length, n := binary.Varint(b[p:])
	switch {
	case n == 0:
		return 0, 0, 0, len(b) - p + binary.MaxVarintLen64, nil
	case n < 0 || length <= 0:
		return 0, 0, 0, 0, fmt.Errorf("%w: record %d length", ErrInvalid, i)
	case length > int64(len(b)-p-n):
		return 0, 0, 0, n + int(min(length, 1<<40)), nil
	}
	p += n
	end = p + int(length) // no field may pass the record's end
	p++                   // attributes
	var ok bool
	if tsDelta, p, ok = zigzagAt(b, p, end); !ok {
		return 0, 0, 0, 0, fmt.Errorf("%w: record %d timestamp", ErrInvalid, i)
	}
	var delta int64
	if delta, p, ok = zigzagAt(b, p, end); !ok || delta != int64(i) {
		return 0, 0, 0, 0, fmt.Errorf("%w: record %d has offset delta %d", ErrInvalid, i, delta)
	}
	if keyLen, p, ok = skipBytesAt(b, p, end, true); !ok {
		return 0, 0, 0, 0, fmt.Errorf("%w: record %d key", ErrInvalid, i)
	}
	if _, p, ok = skipBytesAt(b, p, end, true); !ok {
		return 0, 0, 0, 0, fmt.Errorf("%w: record %d value", ErrInvalid, i)
	}
	var nh int64
	if nh, p, ok = zigzagAt(b, p, end); !ok || nh < 0 || nh > int64(end-p) {
		return 0, 0, 0, 0, fmt.Errorf("%w: record %d has %d headers", ErrInvalid, i, nh)
	}
	for j := int64(0); j < nh; j++ {
		if _, p, ok = skipBytesAt(b, p, end, false); ok {
			_, p, ok = skipBytesAt(b, p, end, true)
		}
		if !ok {
			return 0, 0, 0, 0, fmt.Errorf("%w: record %d header %d", ErrInvalid, i, j)
		}
	}
	if p != end {
		return 0, 0, 0, 0, fmt.Errorf("%w: record %d has %d unread bytes", ErrInvalid, i, end-p)
	}
	return end, keyLen, tsDelta, 0, nil
}

// fastRecord checks record i at b[p:] as checkInHand does, for the common
// record: its length, lengths and deltas are varints of at most two bytes
// (records, keys, values and headers under 8 KiB, timestamp deltas within
// 8 s), its offset delta is encoded as clients encode it, and b holds 8
// bytes past its end, so that no load needs its own check. It returns the
// record's end, key length and timestamp delta; ok false says to check
// the record the careful way, which also explains what is wrong with it.
func fastRecord(b []byte, p int, i int32) (next int, keyLen, tsDelta int64, ok bool) {
	if p < 0 || p+2 > len(b) {
		return 0, 0, 0, false
	}
	length, n := zigzag2(le16(b, p))
	if n == 0 || length <= 0 {
		return 0, 0, 0, false
	}
	q := p + n
	end := q + int(length)
	if end+8 > len(b) {
		return 0, 0, 0, false
	}
	// Every load below is at most 7 bytes past a q <= end: inside b.
	q++                                           // attributes
	if tsDelta, n = zigzag2(le16(b, q)); n == 0 { // timestamp delta
		return 0, 0, 0, false
	}
	q += n
	if n = offsetDeltaAt(b, q, i); n == 0 {
		return 0, 0, 0, false
	}
	q += n
	if keyLen, n = zigzag2(le16(b, q)); n == 0 {
		return 0, 0, 0, false
	}
	if q += n + int(max(keyLen, 0)); q > end {
		return 0, 0, 0, false
	}
	value, n := zigzag2(le16(b, q))
	if n == 0 {
		return 0, 0, 0, false
	}
	if q += n + int(max(value, 0)); q >= end {
		return 0, 0, 0, false
	}
	headers, n := zigzag2(le16(b, q))
	if n == 0 || headers < 0 {
		return 0, 0, 0, false
	}
	q += n
	for j := int64(0); j < headers; j++ {
		if q > end {
			return 0, 0, 0, false
		}
		k, n := zigzag2(le16(b, q))
		if n == 0 || k < 0 { // a header key is not nullable
			return 0, 0, 0, false
		}
		if q += n + int(k); q > end {
			return 0, 0, 0, false
		}
		v, n := zigzag2(le16(b, q))
		if n == 0 {
			return 0, 0, 0, false
		}
		q += n + int(max(v, 0))
	}
	return end, keyLen, tsDelta, q == end
}

// zigzag2 decodes a zigzag varint of one or two bytes from x, the two
// bytes at its start (little endian); n is 0 if it is longer.
func zigzag2(x uint16) (v int64, n int) {
	if x&0x80 == 0 {
		u := int64(x & 0x7f)
		return u>>1 ^ -(u & 1), 1
	}
	if x&0x8000 == 0 {
		u := int64(x&0x7f) | int64(x>>8)<<7
		return u>>1 ^ -(u & 1), 2
	}
	return 0, 0
}

// offsetDeltaAt returns the length of the varint at b[q:] if it is the
// minimal encoding of offset delta i (what every client writes), else 0.
// b holds 4 bytes at q.
func offsetDeltaAt(b []byte, q int, i int32) int {
	z := uint32(i) << 1
	var enc uint32
	var n int
	switch {
	case z < 1<<7:
		enc, n = z, 1
	case z < 1<<14:
		enc, n = z&0x7f|0x80|z>>7<<8, 2
	case z < 1<<21:
		enc, n = z&0x7f|0x80|(z>>7&0x7f|0x80)<<8|z>>14<<16, 3
	default:
		return 0
	}
	if binary.LittleEndian.Uint32(b[q:])&(1<<(8*n)-1) != enc {
		return 0
	}
	return n
}

func le16(b []byte, p int) uint16 { return binary.LittleEndian.Uint16(b[p:]) }

// zigzagAt reads the zigzag varint at b[p:end], returning it and the
// position after it; ok is false if it does not end before end.
func zigzagAt(b []byte, p, end int) (v int64, next int, ok bool) {
	if p < 0 || p >= end {
		return 0, p, false
	}
	v, n := binary.Varint(b[p:end])
	if n <= 0 {
		return 0, p, false
	}
	return v, p + n, true
}

// skipBytesAt passes the varint length at b[p:end] and that many bytes,
// returning the length; a negative length is null where nullable (keys,
// values, header values), as in Kafka, and passes nothing.
func skipBytesAt(b []byte, p, end int, nullable bool) (n int64, next int, ok bool) {
	if n, p, ok = zigzagAt(b, p, end); !ok || n > int64(end-p) || n < 0 && !nullable {
		return n, p, false
	}
	if n > 0 {
		p += int(n)
	}
	return n, p, true
}

// eachRecord parses count records, each made contiguous in the window,
// and calls fn with each. Their offset deltas rise, from 0 to at most
// lastDelta, not necessarily one by one: compaction leaves gaps where it
// removed records (a batch it rebuilt keeps its last offset delta), and
// Kafka's readers take them.
func (w *walker) eachRecord(count, lastDelta int32, fn func(*Record) error) error {
	var r Record
	prev := int32(-1)
	for i := int32(0); i < count; i++ {
		if err := w.start(i, count); err != nil {
			return err
		}
		if w.src != nil {
			w.fill(binary.MaxVarintLen64)
		}
		length, n := binary.Varint(w.b[w.p:])
		if n <= 0 || length <= 0 {
			return w.bad(i, "length")
		}
		if length > w.max-w.pos()-int64(n) {
			return w.overLimit(i, length)
		}
		size := n + int(length)
		if !w.fill(size) {
			return w.bad(i, "cut short")
		}
		if _, err := parseRecord(w.b[w.p:w.p+size], &r); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		w.p += size
		if r.OffsetDelta <= prev || r.OffsetDelta > lastDelta {
			return fmt.Errorf("%w: record %d has offset delta %d", ErrInvalid, i, r.OffsetDelta)
		}
		prev = r.OffsetDelta
		if fn != nil {
			if err := fn(&r); err != nil {
				return err
			}
		}
	}
	return w.finish()
}

// walkRecords runs check (Validate) or each (Each) over batch's records,
// decompressing as a stream to at most limit bytes.
func walkRecords(batch []byte, h *Header, limit int64, keyless *[]int32, ts *TimestampDeltas, fn func(*Record) error, each bool) error {
	body := batch[HeaderSize:]
	if h.Codec() == CodecNone {
		w := walker{b: body, max: int64(len(body))}
		if each {
			return w.eachRecord(h.NumRecords, h.LastOffsetDelta, fn)
		}
		return w.checkRecords(h.NumRecords, keyless, ts)
	}
	if limit <= 0 {
		limit = DefaultMaxUncompressed
	}
	f := inflaters.Get().(*inflater)
	defer f.release()
	src, err := f.open(h.Codec(), body, limit)
	if err != nil {
		return err
	}
	w := walker{src: src, max: limit, keep: each}
	if each {
		err = w.eachRecord(h.NumRecords, h.LastOffsetDelta, fn)
	} else {
		if cap(f.buf) < walkWindow {
			f.buf = make([]byte, 0, walkWindow)
		}
		w.b = f.buf[:0]
		err = w.checkRecords(h.NumRecords, keyless, ts)
		f.buf = w.b[:0]
	}
	if errors.Is(err, ErrInvalid) {
		err = w.damaged(err)
	}
	return err
}

// damaged explains records found invalid in a compressed stream: if the
// rest of the stream (up to the limit) does not decode either, the data
// was damaged (corrupt, as a checksum at its end may show), not written
// wrong.
func (w *walker) damaged(invalid error) error {
	scratch := w.b[len(w.b):cap(w.b)] // records handed out (keep) live before len
	if !w.keep {
		scratch = w.b[:cap(w.b)]
	}
	if len(scratch) == 0 {
		scratch = make([]byte, walkWindow)
	}
	for left, stalls := w.max-w.pos()+1, 0; left > 0 && w.err == nil && stalls <= 100; {
		n, err := w.src.Read(scratch[:min(int64(len(scratch)), left)])
		left -= int64(n)
		if err != nil {
			w.err = err
		} else if n == 0 {
			stalls++
		}
	}
	if w.err != nil && w.err != io.EOF && !errors.Is(w.err, ErrTooLarge) {
		return corrupt("decompressing", w.err)
	}
	return invalid
}
