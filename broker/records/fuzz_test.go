package records

import (
	"bytes"
	"testing"
)

// FuzzValidate feeds arbitrary bytes to every parser a client's produce
// data reaches: none may panic, and what Validate accepts must also be
// readable record by record.
func FuzzValidate(f *testing.F) {
	for _, codec := range []int8{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		f.Add(testBatch(f, codec, 3), false)
	}
	f.Add(testBatch(f, CodecNone, 1), true)
	f.Add(testBatch(f, CodecNone, 2)[:70], false)
	f.Add(legacyMsg(1, 0, 5, []byte("k"), []byte("v")), false)
	f.Add(legacyMsg(0, int8(CodecGzip), 0, nil, mustCompress(f, CodecGzip, legacyMsg(0, 0, 0, nil, []byte("x")))), false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, b []byte, requireKeys bool) {
		orig := append([]byte(nil), b...)
		h, err := Validate(b, ValidateOptions{RequireKeys: requireKeys, AllowControl: true})
		if err == nil {
			if h.Size() != len(b) || !CRCValid(b) {
				t.Fatalf("Validate accepted a batch of size %d for %d bytes, CRC valid %v", h.Size(), len(b), CRCValid(b))
			}
			n := int32(0)
			if err := Each(b, func(*Record) error { n++; return nil }); err != nil && h.Codec() == CodecNone {
				t.Fatalf("Validate accepted an uncompressed batch Each cannot read: %v", err)
			} else if err == nil && n != h.NumRecords {
				t.Fatalf("Each saw %d records, header says %d", n, h.NumRecords)
			}
		}
		ParseHeader(b)
		Magic(b)
		Body(b)
		Each(b, func(r *Record) error { _ = len(r.Key) + len(r.Value) + len(r.Headers); return nil })
		Split(b, func(x []byte) error { ParseHeader(x); return nil })
		UpConvert(b, 1<<20)
		if len(b) > 0 {
			Decompress(int8(b[0]%5), b[1:])
		}
		if !bytes.Equal(b, orig) {
			t.Fatal("a read-only parser modified its input")
		}
	})
}

func mustCompress(t testing.TB, codec int8, b []byte) []byte {
	t.Helper()
	out, err := Compress(codec, b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzCheckRecordsAgreesWithEach: the produce path's record check accepts
// exactly the record sections that a full parse accepts.
func FuzzCheckRecordsAgreesWithEach(f *testing.F) {
	for _, n := range []int{1, 3} {
		var recs []Record
		for i := 0; i < n; i++ {
			recs = append(recs, Record{OffsetDelta: int32(i), Key: []byte("k"), Value: []byte("v"), Headers: []RecordHeader{{Key: "h", Value: []byte("x")}}})
		}
		b, err := Build(&Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: recs})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[HeaderSize:], int32(n))
	}
	f.Fuzz(func(t *testing.T, body []byte, count int32) {
		if count < 0 || count > 1000 {
			return
		}
		fast := checkRecords(body, count)
		var full error
		rest := body
		var r Record
		for i := int32(0); i < count && full == nil; i++ {
			n, err := parseRecord(rest, &r)
			switch {
			case err != nil:
				full = err
			case r.OffsetDelta != i:
				full = ErrInvalid
			default:
				rest = rest[n:]
			}
		}
		if full == nil && len(rest) != 0 {
			full = ErrInvalid
		}
		if (fast == nil) != (full == nil) {
			t.Fatalf("checkRecords says %v, a full parse says %v (count %d, %x)", fast, full, count, body)
		}
	})
}
