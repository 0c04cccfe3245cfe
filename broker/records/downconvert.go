package records

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Down-conversion: what a client that fetches with Fetch v0-3 reads. The
// log holds v2 batches; a v0 or v1 fetch gets legacy messages (magic 0 for
// Fetch v0-1, magic 1 for v2-3), converted as Kafka 3.x converts them
// (RecordsUtil.downConvert):
//
//   - control batches (transaction markers) are dropped: the old formats
//     have no place for them. Aborted records are not filtered: an old
//     fetch is read_uncommitted, as in Kafka.
//   - an uncompressed batch becomes one message per record, from the
//     fetch offset on (records before it are dropped);
//   - a compressed batch becomes one wrapper message, compressed with the
//     batch's codec, holding every record as an inner message (magic 1:
//     offsets relative to the first, magic 0: absolute), the wrapper
//     carrying the offset of the last;
//   - headers, producer ids and sequences are lost: the old formats have
//     none;
//   - magic 1 keeps the timestamp (the batch's log-append time for every
//     record when it has one, with the timestamp-type attribute set);
//   - zstd cannot be converted (the old formats have no zstd):
//     ErrZstdDownConversion if the first batch is zstd, otherwise the
//     conversion stops before it, so the client reads what precedes it
//     and gets the error on its next fetch, as Kafka does.

// ErrZstdDownConversion: a zstd batch cannot be given to a client that
// reads magic 0 or 1 (Kafka's UNSUPPORTED_COMPRESSION_TYPE).
var ErrZstdDownConversion = errors.New("zstd-compressed batches cannot be down-converted to magic 0 or 1")

// Legacy message layout sizes.
const (
	legacyLogOverhead = 12 // offset int64, size int32
	// legacyHeader is crc, magic, attributes, key length and value length.
	legacyHeader = 4 + 1 + 1 + 4 + 4
	// attrLegacyLogAppendTime marks a magic 1 message's timestamp as the
	// broker's.
	attrLegacyLogAppendTime = 0x08
)

// LegacySize is the size of one legacy message (with its offset and size
// fields) of magic with a key and value of these lengths.
func LegacySize(magic int8, keyLen, valueLen int) int {
	n := legacyLogOverhead + legacyHeader + keyLen + valueLen
	if magic == 1 {
		n += 8
	}
	return n
}

// AppendLegacy appends one legacy message: offset, size, then the message
// with its CRC-32 (IEEE, over magic to the end). A nil key or value is
// written as null; ts is ignored for magic 0.
func AppendLegacy(dst []byte, magic int8, offset int64, attrs int8, ts int64, key, value []byte) []byte {
	be := binary.BigEndian
	size := LegacySize(magic, len(key), len(value)) - legacyLogOverhead
	dst = be.AppendUint64(dst, uint64(offset))
	dst = be.AppendUint32(dst, uint32(size))
	crcAt := len(dst)
	dst = append(dst, 0, 0, 0, 0, byte(magic), byte(attrs))
	if magic == 1 {
		dst = be.AppendUint64(dst, uint64(ts))
	}
	dst = appendLegacyBytes(dst, key)
	dst = appendLegacyBytes(dst, value)
	be.PutUint32(dst[crcAt:], crc32.ChecksumIEEE(dst[crcAt+4:]))
	return dst
}

func appendLegacyBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.BigEndian.AppendUint32(dst, 0xffffffff)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// ConvertStats describes one down-conversion.
type ConvertStats struct {
	Batches  int // v2 batches converted
	Messages int // legacy messages written (inner ones included)
}

// DownConvert converts the v2 batches in data (whole batches, as read
// from a log, the first holding fetchOffset) to a legacy message set of
// magic toMagic (0 or 1). The first batch that yields messages is always
// converted whole; after it, conversion stops before a message (or a
// compressed batch's wrapper) that would take the output past limit
// bytes, so the client fetches the rest next time. It returns the message
// set and how far it read: next is the offset after the last record
// converted or skipped (the fetch offset when nothing was).
func DownConvert(data []byte, toMagic int8, fetchOffset int64, limit int) (out []byte, next int64, st ConvertStats, err error) {
	if toMagic != 0 && toMagic != 1 {
		return nil, fetchOffset, st, fmt.Errorf("%w: cannot down-convert to magic %d", ErrMagic, toMagic)
	}
	next = fetchOffset
	c := converter{magic: toMagic, from: fetchOffset, limit: limit}
	c.out = make([]byte, 0, convertedSize(data, toMagic, limit))
	_, err = Split(data, func(b []byte) error {
		h, err := ParseHeader(b)
		if err != nil {
			return err
		}
		if h.IsControl() {
			next = max(next, h.NextOffset())
			return nil
		}
		if h.Codec() == CodecZstd {
			if len(c.out) == 0 {
				return ErrZstdDownConversion
			}
			return errStop
		}
		done, err := c.batch(b, &h)
		if err != nil {
			return err
		}
		if done < h.NextOffset() {
			next = max(next, done)
			return errStop
		}
		next = max(next, h.NextOffset())
		st.Batches++
		return nil
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	st.Messages = c.messages
	return c.out, next, st, err
}

// convertedSize bounds what converting data takes: each record as a
// legacy message of its v2 size plus the legacy overhead, within the
// limit and the first batch.
func convertedSize(data []byte, magic int8, limit int) int {
	n, first := 0, 0
	Split(data, func(b []byte) error {
		h, err := ParseHeader(b)
		if err != nil {
			return err
		}
		grow := len(b) + int(h.NumRecords)*LegacySize(magic, 0, 0)
		if first == 0 {
			first = grow
		}
		n += grow
		return nil
	})
	return min(n, max(limit, first))
}

// errStop ends a Split early without error.
var errStop = errors.New("stop")

// converter accumulates a down-converted message set.
type converter struct {
	magic    int8
	from     int64 // the fetch offset
	limit    int
	out      []byte
	messages int
	recs     []legacyRecord // a compressed batch's records, reused
	inner    []byte         // a compressed batch's inner message set, reused
}

// legacyRecord is one record of a v2 batch as a legacy message needs it.
type legacyRecord struct {
	offset, ts int64
	key, value []byte
}

// fits reports whether n more bytes may be written: always for the first
// output, then within the limit.
func (c *converter) fits(n int) bool { return len(c.out) == 0 || len(c.out)+n <= c.limit }

// batch converts one v2 batch and returns the offset after the last
// record it handled: the batch's next offset when it was converted whole.
func (c *converter) batch(b []byte, h *Header) (int64, error) {
	attrs := int8(0)
	if c.magic == 1 && h.Attributes&AttrLogAppendTime != 0 {
		attrs = attrLegacyLogAppendTime
	}
	c.recs = c.recs[:0]
	err := Each(b, func(r *Record) error {
		off := h.BaseOffset + int64(r.OffsetDelta)
		if h.Codec() == CodecNone && off < c.from {
			return nil
		}
		ts := h.FirstTimestamp + r.TimestampDelta
		if attrs != 0 {
			ts = h.MaxTimestamp
		}
		// Each reuses nothing for an uncompressed batch (keys and values
		// alias b) and hands out fresh decompressed bytes otherwise.
		c.recs = append(c.recs, legacyRecord{offset: off, ts: ts, key: r.Key, value: r.Value})
		return nil
	})
	if err != nil {
		return h.BaseOffset, err
	}
	if len(c.recs) == 0 {
		return h.NextOffset(), nil
	}
	if h.Codec() == CodecNone {
		return c.plain(h, attrs), nil
	}
	return c.wrapped(h, attrs)
}

// plain writes one message per record while they fit.
func (c *converter) plain(h *Header, attrs int8) int64 {
	first := len(c.out) == 0
	for i, r := range c.recs {
		if !first && !c.fits(LegacySize(c.magic, len(r.key), len(r.value))) {
			return c.recs[i].offset
		}
		c.out = AppendLegacy(c.out, c.magic, r.offset, attrs, r.ts, r.key, r.value)
		c.messages++
	}
	return h.NextOffset()
}

// wrapped writes a compressed batch's records as one wrapper message.
func (c *converter) wrapped(h *Header, attrs int8) (int64, error) {
	base := c.recs[0].offset
	maxTS := int64(-1)
	c.inner = c.inner[:0]
	for _, r := range c.recs {
		off := r.offset
		if c.magic == 1 {
			off -= base
		}
		c.inner = AppendLegacy(c.inner, c.magic, off, attrs, r.ts, r.key, r.value)
		maxTS = max(maxTS, r.ts)
	}
	if attrs != 0 {
		maxTS = h.MaxTimestamp
	}
	value, err := Compress(h.Codec(), c.inner)
	if err != nil {
		return h.BaseOffset, err
	}
	if !c.fits(LegacySize(c.magic, 0, len(value))) {
		return h.BaseOffset, nil
	}
	last := c.recs[len(c.recs)-1].offset
	c.out = AppendLegacy(c.out, c.magic, last, attrs|h.Codec(), maxTS, nil, value)
	c.messages += len(c.recs)
	return h.NextOffset(), nil
}
