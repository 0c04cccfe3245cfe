package records

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"testing"

	"github.com/klauspost/compress/snappy"
)

// benchRecords returns n records with 1 KiB values of lowercase text from
// a small vocabulary, which the codecs shrink about as much as they shrink
// typical JSON.
func benchRecords(n int) []Record {
	rng := rand.New(rand.NewSource(1))
	words := []string{"alpha", "beta", "gamma", "delta", "order", "user", "id", "price", "true", "false", "null", "{", "}", ":", ","}
	recs := make([]Record, n)
	for i := range recs {
		var v []byte
		for len(v) < 1024 {
			v = append(v, words[rng.Intn(len(words))]...)
			v = append(v, ' ')
		}
		recs[i] = Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Key: []byte(fmt.Sprintf("key-%d", i)), Value: v[:1024]}
	}
	return recs
}

// benchBatch builds a batch of n 1 KiB records with codec; codec -2 is
// snappy in the xerial framing the Java client writes.
func benchBatch(b testing.TB, codec int8, n int) []byte {
	b.Helper()
	recs := benchRecords(n)
	c := codec
	if codec == -2 {
		c = CodecNone
	}
	batch, err := Build(&Batch{Codec: c, FirstTimestamp: 1, MaxTimestamp: int64(n), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: recs})
	if err != nil {
		b.Fatal(err)
	}
	if codec == -2 {
		batch = withBody(batch, CodecSnappy, xerialFrame(batch[HeaderSize:], 32<<10))
	}
	return batch
}

// xerialFrame frames body as the Java client's snappy stream does: the
// magic, two versions, then blocks of int32 length + raw snappy.
func xerialFrame(body []byte, block int) []byte {
	var out []byte
	out = append(out, xerialMagic...)
	out = binary.BigEndian.AppendUint32(out, 1)
	out = binary.BigEndian.AppendUint32(out, 1)
	for len(body) > 0 {
		n := min(block, len(body))
		enc := snappy.Encode(nil, body[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(enc)))
		out = append(out, enc...)
		body = body[n:]
	}
	return out
}

// withBody returns batch's header, with codec, followed by body, with the
// length and CRC fixed.
func withBody(batch []byte, codec int8, body []byte) []byte {
	out := append(append([]byte(nil), batch[:HeaderSize]...), body...)
	attrs := binary.BigEndian.Uint16(out[offAttributes:])&^AttrCodecMask | uint16(codec)
	binary.BigEndian.PutUint16(out[offAttributes:], attrs)
	binary.BigEndian.PutUint32(out[offLength:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[offCRC:], Checksum(out))
	return out
}

var benchCodecs = []struct {
	name  string
	codec int8
}{
	{"none", CodecNone}, {"gzip", CodecGzip}, {"snappy", CodecSnappy}, {"snappy-xerial", -2}, {"lz4", CodecLZ4}, {"zstd", CodecZstd},
}

// BenchmarkValidate measures the produce path's batch check for batches
// of N records of 1 KiB, uncompressed and with each codec.
func BenchmarkValidate(b *testing.B) {
	for _, n := range []int{16, 1000} {
		for _, c := range benchCodecs {
			batch := benchBatch(b, c.codec, n)
			b.Run(fmt.Sprintf("%s/n=%d", c.name, n), func(b *testing.B) {
				b.SetBytes(int64(n) * 1024)
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if _, err := Validate(batch, ValidateOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkEach measures a full record-by-record read of the same batches.
func BenchmarkEach(b *testing.B) {
	for _, n := range []int{16, 1000} {
		for _, c := range benchCodecs {
			batch := benchBatch(b, c.codec, n)
			b.Run(fmt.Sprintf("%s/n=%d", c.name, n), func(b *testing.B) {
				b.SetBytes(int64(n) * 1024)
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if err := Each(batch, func(*Record) error { return nil }); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCheckRecords measures the record walk of an uncompressed batch
// alone, without the CRC that dominates Validate.
func BenchmarkCheckRecords(b *testing.B) {
	for _, n := range []int{16, 1000} {
		batch := benchBatch(b, CodecNone, n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.SetBytes(int64(n) * 1024)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := checkRecords(batch[HeaderSize:], int32(n)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkValidateSmall measures the produce path's check of a 1 MB
// batch of 100 B keyless records, as a producer of small records sends
// them: the per-record walk, not the checksum, dominates.
func BenchmarkValidateSmall(b *testing.B) {
	const n = 10000
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{OffsetDelta: int32(i), TimestampDelta: int64(i / 100), Value: make([]byte, 100)}
	}
	batch, err := Build(&Batch{Codec: CodecNone, FirstTimestamp: 1, MaxTimestamp: n / 100, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: recs})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("walk", func(b *testing.B) {
		b.SetBytes(n * 100)
		for i := 0; i < b.N; i++ {
			if err := checkRecords(batch[HeaderSize:], n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("validate", func(b *testing.B) {
		b.SetBytes(n * 100)
		for i := 0; i < b.N; i++ {
			if _, err := Validate(batch, ValidateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
