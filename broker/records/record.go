package records

import (
	"encoding/binary"
	"fmt"
)

// Record is one record of a v2 batch. Key and Value alias the batch, or,
// for a compressed batch, decompressed bytes that are never reused; nil
// means null.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte
	Value          []byte
	Headers        []RecordHeader
}

// RecordHeader is a record header.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Body returns the batch's records section, decompressed (to at most
// DefaultMaxUncompressed bytes).
func Body(batch []byte) ([]byte, Header, error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return nil, h, err
	}
	if h.Size() != len(batch) {
		return nil, h, fmt.Errorf("%w: length %d for %d bytes", ErrInvalid, h.Size(), len(batch))
	}
	body, err := decompress(h.Codec(), batch[HeaderSize:], DefaultMaxUncompressed)
	return body, h, err
}

// Each calls fn for every record of a v2 batch, decompressing as needed
// (as a stream, to at most DefaultMaxUncompressed bytes). It fails if the
// records do not parse, if their count differs from the header's, or if
// offset deltas are not 0, 1, 2, ...
func Each(batch []byte, fn func(*Record) error) error {
	return EachLimited(batch, DefaultMaxUncompressed, fn)
}

// EachLimited is Each for a batch that may decompress to at most limit
// bytes: past that it fails with ErrTooLarge, having decoded no more than
// that, and holding no more than the largest record in memory.
func EachLimited(batch []byte, limit int64, fn func(*Record) error) error {
	h, err := ParseHeader(batch)
	if err != nil {
		return err
	}
	if h.Size() != len(batch) {
		return fmt.Errorf("%w: length %d for %d bytes", ErrInvalid, h.Size(), len(batch))
	}
	return walkRecords(batch, &h, limit, nil, nil, fn, true)
}

type reader struct {
	b   []byte
	p   int
	err error
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.p:])
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad varint in a record", ErrInvalid)
		return 0
	}
	r.p += n
	return v
}

func (r *reader) bytes() []byte {
	n := r.varint()
	if r.err != nil || n < 0 {
		return nil
	}
	if n > int64(len(r.b)-r.p) {
		r.err = fmt.Errorf("%w: a record field of %d bytes passes the record's end", ErrInvalid, n)
		return nil
	}
	out := r.b[r.p : r.p+int(n) : r.p+int(n)]
	r.p += int(n)
	return out
}

// parseRecord decodes one record and returns its encoded size.
func parseRecord(b []byte, rec *Record) (int, error) {
	r := reader{b: b}
	length := r.varint()
	if r.err != nil {
		return 0, r.err
	}
	if length <= 0 || length > int64(len(b)-r.p) {
		return 0, fmt.Errorf("%w: record length %d", ErrInvalid, length)
	}
	end := r.p + int(length)
	r.b = b[:end]
	rec.Attributes = int8(r.b[r.p])
	r.p++
	rec.TimestampDelta = r.varint()
	delta := r.varint()
	if delta != int64(int32(delta)) { // a varint in Kafka, 32 bits
		return 0, fmt.Errorf("%w: offset delta %d", ErrInvalid, delta)
	}
	rec.OffsetDelta = int32(delta)
	rec.Key = r.bytes()
	rec.Value = r.bytes()
	nh := r.varint()
	if r.err == nil && (nh < 0 || nh > int64(end-r.p)) {
		return 0, fmt.Errorf("%w: %d headers", ErrInvalid, nh)
	}
	rec.Headers = rec.Headers[:0]
	for i := int64(0); i < nh && r.err == nil; i++ {
		if kl, n := binary.Varint(r.b[r.p:]); n > 0 && kl < 0 {
			return 0, fmt.Errorf("%w: negative header key length", ErrInvalid)
		}
		k := r.bytes()
		v := r.bytes()
		rec.Headers = append(rec.Headers, RecordHeader{Key: string(k), Value: v})
	}
	if r.err != nil {
		return 0, r.err
	}
	if r.p != end {
		return 0, fmt.Errorf("%w: record has %d unread bytes", ErrInvalid, end-r.p)
	}
	return end, nil
}

// AppendRecord appends the wire form of a record.
func AppendRecord(dst []byte, r *Record) []byte {
	var body []byte
	body = append(body, byte(r.Attributes))
	body = binary.AppendVarint(body, r.TimestampDelta)
	body = binary.AppendVarint(body, int64(r.OffsetDelta))
	body = appendVarBytes(body, r.Key)
	body = appendVarBytes(body, r.Value)
	body = binary.AppendVarint(body, int64(len(r.Headers)))
	for _, h := range r.Headers {
		body = appendVarBytes(body, []byte(h.Key))
		body = appendVarBytes(body, h.Value)
	}
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// Batch describes a batch to build.
type Batch struct {
	Attributes     int16 // codec bits are taken from Codec
	Codec          int8
	Level          int32 // the codec's level, as CompressLevel takes it (0: the default)
	FirstTimestamp int64
	MaxTimestamp   int64
	ProducerID     int64
	ProducerEpoch  int16
	BaseSequence   int32
	LeaderEpoch    int32
	BaseOffset     int64
	Records        []Record
}

// Build encodes a v2 batch with a valid CRC.
func Build(b *Batch) ([]byte, error) {
	var body []byte
	for i := range b.Records {
		body = AppendRecord(body, &b.Records[i])
	}
	body, err := CompressLevel(b.Codec, b.Level, body)
	if err != nil {
		return nil, err
	}
	out := make([]byte, HeaderSize, HeaderSize+len(body))
	be := binary.BigEndian
	be.PutUint64(out[offBaseOffset:], uint64(b.BaseOffset))
	be.PutUint32(out[offLength:], uint32(HeaderSize-12+len(body)))
	be.PutUint32(out[offLeaderEpoch:], uint32(b.LeaderEpoch))
	out[offMagic] = 2
	be.PutUint16(out[offAttributes:], uint16(b.Attributes&^AttrCodecMask|int16(b.Codec)))
	last := int32(0)
	if n := len(b.Records); n > 0 {
		last = b.Records[n-1].OffsetDelta
	}
	be.PutUint32(out[offLastOffsetDelta:], uint32(last))
	be.PutUint64(out[offFirstTimestamp:], uint64(b.FirstTimestamp))
	be.PutUint64(out[offMaxTimestamp:], uint64(b.MaxTimestamp))
	be.PutUint64(out[offProducerID:], uint64(b.ProducerID))
	be.PutUint16(out[offProducerEpoch:], uint16(b.ProducerEpoch))
	be.PutUint32(out[offBaseSequence:], uint32(b.BaseSequence))
	be.PutUint32(out[offRecordCount:], uint32(len(b.Records)))
	out = append(out, body...)
	be.PutUint32(out[offCRC:], Checksum(out))
	return out, nil
}

// Recompress rebuilds a batch with another codec at a level (as
// CompressLevel), keeping every header field and record.
func Recompress(batch []byte, codec int8, level int32) ([]byte, error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return nil, err
	}
	var recs []Record
	err = Each(batch, func(r *Record) error {
		c := *r
		c.Key, c.Value = cloneBytes(r.Key), cloneBytes(r.Value)
		c.Headers = append([]RecordHeader(nil), r.Headers...)
		recs = append(recs, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return Build(&Batch{
		Attributes: h.Attributes, Codec: codec, Level: level,
		FirstTimestamp: h.FirstTimestamp, MaxTimestamp: h.MaxTimestamp,
		ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
		LeaderEpoch: h.LeaderEpoch, BaseOffset: h.BaseOffset, Records: recs,
	})
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// Rebuild encodes a batch with h's header fields (offsets, epoch,
// producer, timestamps, attributes, codec) holding only recs, which keep
// their offset deltas. The last offset delta stays h's, so the batch
// covers the same offsets (what compaction needs); recs may be empty.
//
// To give the batch a delete horizon, call SetDeleteHorizon first.
func Rebuild(h *Header, recs []Record) ([]byte, error) {
	b, err := Build(&Batch{
		Attributes: h.Attributes, Codec: h.Codec(),
		FirstTimestamp: h.FirstTimestamp, MaxTimestamp: h.MaxTimestamp,
		ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
		LeaderEpoch: h.LeaderEpoch, BaseOffset: h.BaseOffset, Records: recs,
	})
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	return b, nil
}

// DeleteHorizon returns the batch's delete horizon (the time from which
// the log cleaner may remove its tombstones, or the transaction marker it
// is) if the cleaner has set one.
func (h *Header) DeleteHorizon() (int64, bool) {
	if h.Attributes&AttrDeleteHorizon == 0 {
		return -1, false
	}
	return h.FirstTimestamp, true
}

// SetDeleteHorizon makes horizon the delete horizon of a batch about to
// be rebuilt from h and recs, as Kafka's MemoryRecords.filterTo does: the
// first timestamp becomes the horizon, flagged in the attributes, and each
// record's timestamp delta is rewritten so that its timestamp stays.
func SetDeleteHorizon(h *Header, recs []Record, horizon int64) {
	for i := range recs {
		recs[i].TimestampDelta = h.FirstTimestamp + recs[i].TimestampDelta - horizon
	}
	h.FirstTimestamp = horizon
	h.Attributes |= AttrDeleteHorizon
}
