package records

import "fmt"

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
	err = Each(batch, func(r *Record) error {
		if opt.RequireKeys && r.Key == nil {
			return fmt.Errorf("%w: compacted topics need a key on every record", ErrInvalid)
		}
		return nil
	})
	return h, err
}
