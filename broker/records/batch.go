package records

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size of a v2 batch header.
const HeaderSize = 61

// Offsets of header fields.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57
)

// Attribute bits.
const (
	AttrCodecMask     = 0x07
	AttrLogAppendTime = 0x08
	AttrTransactional = 0x10
	AttrControl       = 0x20
	// AttrDeleteHorizon: the first timestamp holds the batch's delete
	// horizon, set by the log cleaner (KIP-534), and record timestamp
	// deltas count from it.
	AttrDeleteHorizon = 0x40
)

// Errors describing a malformed batch; callers map them to Kafka codes.
var (
	ErrShort       = errors.New("record batch truncated")
	ErrMagic       = errors.New("unsupported record batch magic")
	ErrCRC         = errors.New("record batch CRC mismatch")
	ErrInvalid     = errors.New("invalid record batch")
	ErrCompression = errors.New("unsupported compression codec")
	// ErrCorrupt: compressed records that do not decompress (Kafka's
	// CORRUPT_MESSAGE).
	ErrCorrupt = errors.New("corrupt compressed records")
	// ErrTooLarge: records that inflate past the limit a batch may cost
	// (MESSAGE_TOO_LARGE, on which producers split the batch).
	ErrTooLarge = errors.New("records decompress past the limit")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is a decoded v2 batch header.
type Header struct {
	BaseOffset      int64
	Length          int32
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	FirstTimestamp  int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	NumRecords      int32
}

// ParseHeader decodes the header at the start of b. It checks only that
// the header is present and the magic is 2.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrShort
	}
	if b[offMagic] != 2 {
		return Header{}, fmt.Errorf("%w %d", ErrMagic, int8(b[offMagic]))
	}
	be := binary.BigEndian
	return Header{
		BaseOffset:      int64(be.Uint64(b[offBaseOffset:])),
		Length:          int32(be.Uint32(b[offLength:])),
		LeaderEpoch:     int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:           int8(b[offMagic]),
		CRC:             be.Uint32(b[offCRC:]),
		Attributes:      int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta: int32(be.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:  int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:    int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:      int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:   int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:    int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:      int32(be.Uint32(b[offRecordCount:])),
	}, nil
}

// Size is the whole batch size in bytes.
func (h *Header) Size() int { return int(h.Length) + 12 }

// LastOffset is the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset after the batch.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Codec is the compression codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
func (h *Header) Codec() int8 { return int8(h.Attributes & AttrCodecMask) }

// IsTransactional reports whether the batch belongs to a transaction.
func (h *Header) IsTransactional() bool { return h.Attributes&AttrTransactional != 0 }

// The record types of a control batch's record key (version int16, type
// int16): a transaction marker's.
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// IsControl reports whether the batch holds a transaction marker.
func (h *Header) IsControl() bool { return h.Attributes&AttrControl != 0 }

// HasProducerID reports whether the batch was written by an idempotent or
// transactional producer.
func (h *Header) HasProducerID() bool { return h.ProducerID >= 0 }

// LastSequence is the sequence number of the batch's last record.
func (h *Header) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	s := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if s > 1<<31-1 {
		s -= 1 << 31 // sequences wrap at Int32.MaxValue
	}
	return int32(s)
}

// Checksum computes the CRC-32C a batch should carry.
func Checksum(b []byte) uint32 { return crc32.Checksum(b[offAttributes:], castagnoli) }

// CRCValid reports whether the stored CRC matches the batch bytes.
func CRCValid(b []byte) bool {
	return len(b) >= HeaderSize && binary.BigEndian.Uint32(b[offCRC:]) == Checksum(b)
}

// SetBaseOffset rewrites the base offset (outside the CRC).
func SetBaseOffset(b []byte, off int64) { binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off)) }

// SetLeaderEpoch rewrites the partition leader epoch (outside the CRC).
func SetLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch as carrying log-append time ts and
// recomputes the CRC, as the broker must for message.timestamp.type=LogAppendTime.
func SetLogAppendTime(b []byte, ts int64) {
	be := binary.BigEndian
	attrs := be.Uint16(b[offAttributes:]) | AttrLogAppendTime
	be.PutUint16(b[offAttributes:], attrs)
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint32(b[offCRC:], Checksum(b))
}

// SetMaxTimestamp rewrites a batch's max timestamp and recomputes the CRC.
func SetMaxTimestamp(b []byte, ts int64) {
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
}

// SetCreateTime marks a batch's timestamps as create times and recomputes
// the CRC, as Kafka's LogValidator stores a producer's batch marked
// log-append-time on a CreateTime topic.
func SetCreateTime(b []byte) {
	be := binary.BigEndian
	be.PutUint16(b[offAttributes:], be.Uint16(b[offAttributes:])&^AttrLogAppendTime)
	be.PutUint32(b[offCRC:], Checksum(b))
}

// Split calls fn for each complete batch in b (any magic) and returns the
// number of bytes consumed. A trailing partial batch is left unconsumed.
func Split(b []byte, fn func(batch []byte) error) (int, error) {
	p := 0
	for len(b)-p >= 12 {
		size := int(int32(binary.BigEndian.Uint32(b[p+offLength:]))) + 12
		if size < 12+14 { // smaller than any legacy message
			return p, fmt.Errorf("%w: length %d", ErrInvalid, size-12)
		}
		if len(b)-p < size {
			break
		}
		if err := fn(b[p : p+size]); err != nil {
			return p, err
		}
		p += size
	}
	return p, nil
}

// Magic returns the magic byte of the batch or message starting at b.
func Magic(b []byte) (int8, bool) {
	if len(b) <= offMagic {
		return 0, false
	}
	return int8(b[offMagic]), true
}
