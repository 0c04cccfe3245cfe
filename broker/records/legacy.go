package records

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
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
// to a log in the current format. A compressed wrapper may inflate to at
// most limit bytes (0: DefaultMaxUncompressed). A wrapper whose value does
// not decompress fails with ErrCorrupt, as Kafka answers CORRUPT_MESSAGE.
func UpConvert(set []byte, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxUncompressed
	}
	var recs []Record
	first, max := int64(-1), int64(-1)
	err := eachLegacy(set, 0, limit, func(m *legacyMessage) error {
		ts := int64(-1)
		if m.magic == 1 {
			ts = m.timestamp
		}
		if len(recs) == 0 {
			first = ts
		}
		if ts > max {
			max = ts
		}
		recs = append(recs, Record{Key: m.key, Value: m.value, OffsetDelta: int32(len(recs)), TimestampDelta: ts})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: empty message set", ErrInvalid)
	}
	for i := range recs {
		if recs[i].TimestampDelta >= 0 && first >= 0 {
			recs[i].TimestampDelta -= first
		} else {
			recs[i].TimestampDelta = 0
		}
	}
	return Build(&Batch{FirstTimestamp: first, MaxTimestamp: max, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: recs})
}

func eachLegacy(set []byte, depth int, limit int64, fn func(*legacyMessage) error) error {
	for len(set) > 0 {
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
		codec := m.attrs & AttrCodecMask
		if codec == 0 {
			if err := fn(&m); err != nil {
				return err
			}
			continue
		}
		if depth >= maxLegacyDepth {
			return fmt.Errorf("%w: nested compressed messages", ErrInvalid)
		}
		value := m.value
		if m.magic == 0 && codec == CodecLZ4 {
			value = fixLZ4HeaderChecksum(value)
		}
		inner, err := decompress(codec, value, limit)
		if err != nil {
			return err
		}
		if err := eachLegacy(inner, depth+1, limit, fn); err != nil {
			return err
		}
	}
	return nil
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
