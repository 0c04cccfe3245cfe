package records

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// Legacy messages (magic 0 and 1):
//
//	offset int64, size int32, crc uint32 (IEEE, over magic..end),
//	magic int8, attributes int8, [timestamp int64 if magic 1],
//	key int32-length bytes, value int32-length bytes
//
// A compressed message carries an inner message set in its value.

// legacyMessage is one decoded legacy message.
type legacyMessage struct {
	magic     int8
	attrs     int8
	timestamp int64
	key       []byte
	value     []byte
}

// maxLegacyDepth bounds nesting of compressed wrappers; Kafka allows one.
const maxLegacyDepth = 1

// UpConvert turns a legacy message set (magic 0 or 1, possibly compressed)
// into one uncompressed v2 batch, as Kafka does when an old producer writes
// to a log in the current format. The set's compressed wrappers may
// inflate to at most limit bytes between them (0: DefaultMaxUncompressed),
// and the batch may be at most limit bytes: past either it fails with
// ErrTooLarge, as UpConvertMax does. A wrapper whose value does not
// decompress fails with ErrCorrupt, as Kafka answers CORRUPT_MESSAGE.
func UpConvert(set []byte, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxUncompressed
	}
	return UpConvertMax(set, limit, limit)
}

// UpConvertMax is UpConvert for a batch that may be at most maxBatch bytes
// (a produce's max.message.bytes). It fails with ErrTooLarge (Kafka's
// MESSAGE_TOO_LARGE) as soon as the set's compressed wrappers, together,
// inflate past limit, or the batch it builds passes maxBatch: a set of
// many wrappers, each within the limit, costs about limit (one wrapper's
// records, decompressed) and maxBatch (the batch), however many it holds.
// The records are encoded as they are read, so nothing else is kept.
func UpConvertMax(set []byte, limit, maxBatch int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxUncompressed
	}
	// A set's uncompressed messages take fewer bytes converted: room for
	// the set, within maxBatch.
	room := HeaderSize + min(int64(len(set)), max(maxBatch-HeaderSize, 0))
	c := upConverter{out: make([]byte, HeaderSize, room), first: -1, max: -1, inflate: limit, limit: limit, maxBatch: maxBatch}
	if err := c.read(set, 0, -1); err != nil {
		return nil, err
	}
	if c.n == 0 {
		return nil, fmt.Errorf("%w: empty message set", ErrInvalid)
	}
	return c.finish(), nil
}

// upConverter builds the v2 batch of a legacy message set as it reads it.
type upConverter struct {
	out      []byte // the batch: room for its header, then the records so far
	inner    []byte // the messages of the wrapper being read
	n        int32  // records so far
	first    int64  // the first record's timestamp (-1: none)
	max      int64  // the largest timestamp
	inflate  int64  // what the set's compressed wrappers may still inflate to
	limit    int64  // what they may inflate to between them
	maxBatch int64  // what the batch may be
}

// read up-converts the messages of set, nested depth wrappers deep in a
// wrapper of magic outer (-1 at the top). Every message has the magic of
// the set's first (at the top) or of its wrapper, as Kafka's LogValidator
// checks (validateBatch, validateRecord): else ErrInvalid.
func (c *upConverter) read(set []byte, depth int, outer int8) error {
	for first := true; len(set) > 0; first = false {
		if len(set) < 12 {
			return fmt.Errorf("%w: partial legacy message", ErrShort)
		}
		size := int(int32(binary.BigEndian.Uint32(set[8:])))
		if size < 14 || size > len(set)-12 {
			return fmt.Errorf("%w: legacy message size %d", ErrShort, size)
		}
		m, err := parseLegacy(set[12 : 12+size])
		if err != nil {
			return err
		}
		set = set[12+size:]
		if outer < 0 && first {
			outer = m.magic
		} else if m.magic != outer {
			if depth == 0 {
				return fmt.Errorf("%w: Batch magic %d is not the same as the first batch's magic byte %d", ErrInvalid, m.magic, outer)
			}
			return fmt.Errorf("%w: a record's magic %d does not match outer magic %d", ErrInvalid, m.magic, outer)
		}
		codec := m.attrs & AttrCodecMask
		if codec == 0 {
			if err := c.add(&m); err != nil {
				return err
			}
			continue
		}
		if depth >= maxLegacyDepth {
			return fmt.Errorf("%w: nested compressed messages", ErrInvalid)
		}
		inner, err := c.decompress(codec, &m)
		if err != nil {
			return err
		}
		if err := c.read(inner, depth+1, m.magic); err != nil {
			return err
		}
	}
	return nil
}

// decompress inflates a wrapper's value, within what the set has left,
// into c.inner: each wrapper's messages are copied into the batch before
// the next is read (wrappers do not nest), so one buffer serves them all.
func (c *upConverter) decompress(codec int8, m *legacyMessage) ([]byte, error) {
	value := m.value
	if m.magic == 0 && codec == CodecLZ4 {
		value = fixLZ4HeaderChecksum(value)
	}
	inner, err := inflateInto(c.inner[:0], codec, value, c.inflate)
	if errors.Is(err, ErrTooLarge) {
		return nil, fmt.Errorf("%w: the compressed messages of a message set inflate past %d bytes: %v", ErrTooLarge, c.limit, err)
	}
	if err != nil {
		return nil, err
	}
	c.inner = inner
	c.inflate -= int64(len(inner))
	return inner, nil
}

// inflateInto is decompress appending to dst.
func inflateInto(dst []byte, codec int8, src []byte, limit int64) ([]byte, error) {
	f := inflaters.Get().(*inflater)
	defer f.release()
	r, err := f.open(codec, src, limit)
	if err != nil {
		return nil, err
	}
	start := len(dst)
	r = io.LimitReader(r, limit+1)
	for {
		if len(dst) == cap(dst) {
			dst = grow(dst, 1, int64(start)+limit+1)
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, corrupt(codecName(codec), err)
		}
	}
	if int64(len(dst)-start) > limit {
		return nil, fmt.Errorf("%w: decompresses past %d bytes", ErrTooLarge, limit)
	}
	return dst, nil
}

// add appends m as the next record, refusing a batch past maxBatch.
func (c *upConverter) add(m *legacyMessage) error {
	ts := int64(-1)
	if m.magic == 1 {
		ts = m.timestamp
	}
	if c.n == 0 {
		c.first = ts
	}
	c.max = max(c.max, ts)
	// Every record's timestamp is kept, -1 (none) included, as Kafka's
	// MemoryRecordsBuilder takes the first record's, whatever it is, for
	// the batch's base and each record's delta from it.
	delta := ts - c.first
	if c.n == math.MaxInt32 {
		return fmt.Errorf("%w: more than %d messages", ErrTooLarge, math.MaxInt32)
	}
	body := 1 + varintSize(delta) + varintSize(int64(c.n)) + bytesSize(m.key) + bytesSize(m.value) + 1
	if int64(len(c.out))+int64(varintSize(int64(body))+body) > c.maxBatch {
		return fmt.Errorf("%w: the up-converted batch passes %d bytes at message %d", ErrTooLarge, c.maxBatch, c.n)
	}
	c.out = grow(c.out, varintSize(int64(body))+body, c.maxBatch)
	c.out = binary.AppendVarint(c.out, int64(body))
	c.out = append(c.out, 0) // attributes
	c.out = binary.AppendVarint(c.out, delta)
	c.out = binary.AppendVarint(c.out, int64(c.n))
	c.out = appendVarBytes(c.out, m.key)
	c.out = appendVarBytes(c.out, m.value)
	c.out = append(c.out, 0) // no headers
	c.n++
	return nil
}

// finish writes the batch's header, as Build would, and returns it.
func (c *upConverter) finish() []byte {
	b, be := c.out, binary.BigEndian
	be.PutUint64(b[offBaseOffset:], 0)
	be.PutUint32(b[offLength:], uint32(len(b)-12))
	be.PutUint32(b[offLeaderEpoch:], 0)
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], 0)
	be.PutUint32(b[offLastOffsetDelta:], uint32(c.n-1))
	be.PutUint64(b[offFirstTimestamp:], uint64(c.first))
	be.PutUint64(b[offMaxTimestamp:], uint64(c.max))
	be.PutUint64(b[offProducerID:], ^uint64(0))
	be.PutUint16(b[offProducerEpoch:], 0xffff)
	be.PutUint32(b[offBaseSequence:], 0xffffffff)
	be.PutUint32(b[offRecordCount:], uint32(c.n))
	be.PutUint32(b[offCRC:], Checksum(b))
	return b
}

// grow returns b with room for n more bytes, doubling its capacity (append
// grows large slices by a quarter, which costs about five times the final
// size in copies) but to no more than most, unless n needs more.
func grow(b []byte, n int, most int64) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	size := max(min(max(2*int64(cap(b)), 4<<10), most), int64(len(b)+n))
	return append(make([]byte, 0, size), b...)
}

// varintSize is the length of v as a zigzag varint.
func varintSize(v int64) int {
	var buf [binary.MaxVarintLen64]byte
	return len(binary.AppendVarint(buf[:0], v))
}

// bytesSize is the length of b as a record field (varint length, bytes).
func bytesSize(b []byte) int {
	if b == nil {
		return varintSize(-1)
	}
	return varintSize(int64(len(b))) + len(b)
}

// LegacyCodec is the codec of a legacy message set's compressed wrappers
// (the last one's, as Kafka's UnifiedLog.analyzeAndValidateRecords takes
// the source compression), CodecNone if it has none. It reads only the
// messages' headers, and stops at the first that is cut short.
func LegacyCodec(set []byte) int8 {
	codec := CodecNone
	for p := 0; len(set)-p >= 12+6; {
		if c := int8(set[p+17]) & int8(AttrCodecMask); c != CodecNone {
			codec = c
		}
		size := int64(int32(binary.BigEndian.Uint32(set[p+8:])))
		if size < 6 {
			break
		}
		p += 12 + int(min(size, int64(len(set))))
	}
	return codec
}

// parseLegacy decodes the part of a message after offset and size.
func parseLegacy(b []byte) (legacyMessage, error) {
	var m legacyMessage
	if crc32.ChecksumIEEE(b[4:]) != binary.BigEndian.Uint32(b) {
		return m, ErrCRC
	}
	m.magic, m.attrs = int8(b[4]), int8(b[5])
	p := 6
	switch m.magic {
	case 0:
	case 1:
		if len(b) < p+8 {
			return m, ErrShort
		}
		m.timestamp = int64(binary.BigEndian.Uint64(b[p:]))
		p += 8
	default:
		return m, fmt.Errorf("%w %d", ErrMagic, m.magic)
	}
	var err error
	if m.key, p, err = legacyBytes(b, p); err != nil {
		return m, err
	}
	if m.value, p, err = legacyBytes(b, p); err != nil {
		return m, err
	}
	if p != len(b) {
		return m, fmt.Errorf("%w: %d trailing bytes in legacy message", ErrInvalid, len(b)-p)
	}
	return m, nil
}

func legacyBytes(b []byte, p int) ([]byte, int, error) {
	if len(b) < p+4 {
		return nil, p, ErrShort
	}
	n := int(int32(binary.BigEndian.Uint32(b[p:])))
	p += 4
	if n < 0 {
		return nil, p, nil
	}
	if n > len(b)-p {
		return nil, p, ErrShort
	}
	return b[p : p+n], p + n, nil
}
