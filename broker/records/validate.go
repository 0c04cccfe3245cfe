package records

import "fmt"

// ValidateOptions tunes Validate.
type ValidateOptions struct {
	// RequireKeys rejects records without a key (compacted topics): each
	// is named in a *RecordErrors.
	RequireKeys bool
	// Partition names the topic partition in the messages of record
	// errors, as Kafka's do.
	Partition string
	// AllowControl admits control batches (only the broker writes them).
	AllowControl bool
	// Coordinator admits producer batches without sequence numbers, which
	// a coordinator writes for a producer (transactional offset commits),
	// as Kafka does for appends from a coordinator.
	Coordinator bool
	// MaxUncompressed is how many bytes a compressed batch's records may
	// inflate to (ErrTooLarge past it); 0 means DefaultMaxUncompressed.
	MaxUncompressed int64
	// TimestampDeltas, if set, is given the range of the records'
	// timestamp deltas: a caller checking timestamps need not read the
	// records again when the whole range is acceptable.
	TimestampDeltas *TimestampDeltas
}

// TimestampDeltas is the range of a batch's record timestamp deltas.
type TimestampDeltas struct {
	Min, Max int64
	Seen     bool // a record was read
}

func (r *TimestampDeltas) add(d int64) {
	if r == nil {
		return
	}
	if !r.Seen {
		r.Min, r.Max, r.Seen = d, d, true
		return
	}
	r.Min, r.Max = min(r.Min, d), max(r.Max, d)
}

// Validate checks a v2 batch a client sent, as Kafka's LogValidator does
// on append: size, magic, CRC, offset range against record count, producer
// fields, then every record, decompressing a compressed batch as a stream
// (never whole): each record's length and fields, offset deltas 0, 1, 2,
// ..., the record count, and keys where required. Errors wrap ErrShort,
// ErrMagic or ErrCRC (the batch's framing), ErrCorrupt (undecodable
// compressed data), ErrInvalid (records that break the format or a rule),
// ErrTooLarge (records inflating past MaxUncompressed) or ErrCompression.
// A batch whose records are well formed but lack keys (RequireKeys) fails
// with a *RecordErrors naming each.
func Validate(batch []byte, opt ValidateOptions) (Header, error) {
	h, err := validateHeader(batch, opt)
	if err != nil {
		return h, err
	}
	var keyless *[]int32
	if opt.RequireKeys {
		keyless = new([]int32)
	}
	if err := walkRecords(batch, &h, opt.MaxUncompressed, keyless, opt.TimestampDeltas, nil, false); err != nil {
		return h, err
	}
	if keyless != nil && len(*keyless) > 0 {
		re := &RecordErrors{}
		for _, i := range *keyless {
			re.Add(i, false, "Compacted topic cannot accept message without key in topic partition "+opt.Partition+".")
		}
		return h, re
	}
	return h, nil
}

// validateHeader is Validate's check of everything but the records.
func validateHeader(batch []byte, opt ValidateOptions) (Header, error) {
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
	return h, nil
}

// checkRecords checks an uncompressed records section as Validate does.
func checkRecords(body []byte, count int32) error {
	w := walker{b: body, max: int64(len(body))}
	return w.checkRecords(count, nil, nil)
}
