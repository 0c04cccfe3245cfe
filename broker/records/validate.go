package records

import (
	"encoding/binary"
	"fmt"
)

// ValidateOptions tunes Validate.
type ValidateOptions struct {
	// RequireKeys rejects records without a key (compacted topics).
	RequireKeys bool
	// AllowControl admits control batches (only the broker writes them).
	AllowControl bool
	// Coordinator admits producer batches without sequence numbers, which
	// a coordinator writes for a producer (transactional offset commits),
	// as Kafka does for appends from a coordinator.
	Coordinator bool
}

// Validate checks a v2 batch a client sent: size, magic, CRC, offset range
// against record count, producer fields. Uncompressed batches (and any
// batch when keys are required) also have every record parsed, so a batch
// whose header lies about its records is refused. Errors wrap ErrShort,
// ErrMagic, ErrCRC, ErrInvalid or ErrCompression.
func Validate(batch []byte, opt ValidateOptions) (Header, error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return h, err
	}
	if h.Size() != len(batch) {
		return h, fmt.Errorf("%w: batch length %d for %d bytes", ErrShort, h.Size(), len(batch))
	}
	if !CRCValid(batch) {
		return h, ErrCRC
	}
	if h.LastOffsetDelta < 0 || h.NumRecords <= 0 || int64(h.NumRecords) != int64(h.LastOffsetDelta)+1 {
		return h, fmt.Errorf("%w: %d records but last offset delta %d", ErrInvalid, h.NumRecords, h.LastOffsetDelta)
	}
	if h.IsControl() && !opt.AllowControl {
		return h, fmt.Errorf("%w: clients may not write control batches", ErrInvalid)
	}
	if h.HasProducerID() && h.BaseSequence < 0 && !opt.Coordinator {
		return h, fmt.Errorf("%w: producer id %d with sequence %d", ErrInvalid, h.ProducerID, h.BaseSequence)
	}
	if h.IsTransactional() && !h.HasProducerID() {
		return h, fmt.Errorf("%w: transactional batch without producer id", ErrInvalid)
	}
	if c := h.Codec(); c > CodecZstd {
		return h, fmt.Errorf("%w %d", ErrCompression, c)
	}
	if h.Codec() != CodecNone && !opt.RequireKeys {
		return h, nil
	}
	if !opt.RequireKeys {
		return h, checkRecords(batch[HeaderSize:], h.NumRecords)
	}
	err = Each(batch, func(r *Record) error {
		if r.Key == nil {
			return fmt.Errorf("%w: compacted topics need a key on every record", ErrInvalid)
		}
		return nil
	})
	return h, err
}

// checkRecords walks the uncompressed records of a batch as Each does,
// checking every length, the offset deltas 0, 1, 2, ... and the count,
// without building the records: the produce path's per-record check.
func checkRecords(body []byte, count int32) error {
	p := 0
	field := func(end int) (int64, bool) {
		v, n := binary.Varint(body[p:end])
		if n <= 0 {
			return 0, false
		}
		p += n
		return v, true
	}
	// skip passes a varint length and that many bytes; a negative length
	// is null where nullable (keys, values, header values), as in Kafka.
	skip := func(end int, nullable bool) bool {
		n, ok := field(end)
		if !ok || n > int64(end-p) || n < 0 && !nullable {
			return false
		}
		if n > 0 {
			p += int(n)
		}
		return true
	}
	for i := int32(0); i < count; i++ {
		length, ok := field(len(body))
		if !ok || length <= 0 || length > int64(len(body)-p) {
			return fmt.Errorf("%w: record %d length", ErrShort, i)
		}
		end := p + int(length)
		p++ // attributes
		if _, ok := field(end); !ok {
			return fmt.Errorf("%w: record %d timestamp", ErrShort, i)
		}
		delta, ok := field(end)
		if !ok || delta != int64(i) {
			return fmt.Errorf("%w: record %d has offset delta %d", ErrInvalid, i, delta)
		}
		if !skip(end, true) || !skip(end, true) {
			return fmt.Errorf("%w: record %d key or value", ErrShort, i)
		}
		nh, ok := field(end)
		if !ok || nh < 0 || nh > int64(end-p) {
			return fmt.Errorf("%w: record %d has %d headers", ErrInvalid, i, nh)
		}
		for j := int64(0); j < nh; j++ {
			if !skip(end, false) || !skip(end, true) {
				return fmt.Errorf("%w: record %d header %d", ErrShort, i, j)
			}
		}
		if p != end {
			return fmt.Errorf("%w: record %d has %d unread bytes", ErrInvalid, i, end-p)
		}
	}
	if p != len(body) {
		return fmt.Errorf("%w: %d bytes after the last record", ErrInvalid, len(body)-p)
	}
	return nil
}
