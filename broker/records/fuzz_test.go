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
		UpConvert(b)
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
