package records

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// legacyOut is one message of a down-converted set as a client reads it:
// inner messages of a wrapper at their absolute offsets.
type legacyOut struct {
	Offset     int64
	Attrs      int8
	Timestamp  int64
	Key, Value []byte
}

// readLegacySet decodes a message set with kmsg's MessageV0/V1 (not our
// own reader), checking each message's CRC, and resolves inner offsets as
// a client does: magic 1 inner offsets are relative to the wrapper's
// offset minus the last inner one, magic 0 inner offsets are absolute.
func readLegacySet(t *testing.T, set []byte, magic int8) (out []legacyOut, wrappers []legacyOut) {
	t.Helper()
	for len(set) > 0 {
		if len(set) < 12 {
			t.Fatalf("partial message of %d bytes at the end of the set", len(set))
		}
		size := int(binary.BigEndian.Uint32(set[8:]))
		msg := set[:12+size]
		set = set[12+size:]
		if got, want := binary.BigEndian.Uint32(msg[12:]), crc32.ChecksumIEEE(msg[16:]); got != want {
			t.Fatalf("message CRC %x, computed %x", got, want)
		}
		var m legacyOut
		switch magic {
		case 0:
			var v kmsg.MessageV0
			if err := v.ReadFrom(msg); err != nil {
				t.Fatalf("kmsg.MessageV0: %v", err)
			}
			m = legacyOut{Offset: v.Offset, Attrs: v.Attributes, Timestamp: -1, Key: v.Key, Value: v.Value}
			if v.Magic != 0 {
				t.Fatalf("magic %d, want 0", v.Magic)
			}
		case 1:
			var v kmsg.MessageV1
			if err := v.ReadFrom(msg); err != nil {
				t.Fatalf("kmsg.MessageV1: %v", err)
			}
			m = legacyOut{Offset: v.Offset, Attrs: v.Attributes, Timestamp: v.Timestamp, Key: v.Key, Value: v.Value}
			if v.Magic != 1 {
				t.Fatalf("magic %d, want 1", v.Magic)
			}
		}
		codec := m.Attrs & AttrCodecMask
		if codec == 0 {
			out = append(out, m)
			continue
		}
		wrappers = append(wrappers, m)
		raw, err := Decompress(codec, m.Value)
		if err != nil {
			t.Fatalf("wrapper at %d: %v", m.Offset, err)
		}
		inner, nested := readLegacySet(t, raw, magic)
		if len(nested) > 0 || len(inner) == 0 {
			t.Fatalf("wrapper at %d holds %d wrappers and %d messages", m.Offset, len(nested), len(inner))
		}
		if magic == 1 {
			base := m.Offset - inner[len(inner)-1].Offset
			for i := range inner {
				inner[i].Offset += base
			}
		}
		out = append(out, inner...)
	}
	return out, wrappers
}

// v2Batch builds a batch at base offset base of n records with keys,
// values and headers, timestamps 1000 + 10*i.
func v2Batch(t *testing.T, base int64, codec int8, n int, attrs int16) []byte {
	t.Helper()
	b := &Batch{Codec: codec, Attributes: attrs, BaseOffset: base, FirstTimestamp: 1000, MaxTimestamp: 1000 + 10*int64(n-1),
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	for i := range n {
		b.Records = append(b.Records, Record{OffsetDelta: int32(i), TimestampDelta: 10 * int64(i),
			Key: []byte(fmt.Sprintf("k%d", base+int64(i))), Value: bytes.Repeat([]byte{byte('a' + i%26)}, 20),
			Headers: []RecordHeader{{Key: "h", Value: []byte("x")}}})
	}
	out, err := Build(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkMessages(t *testing.T, what string, got []legacyOut, magic int8, from, to int64) {
	t.Helper()
	if len(got) != int(to-from) {
		t.Fatalf("%s: %d messages, want offsets %d..%d", what, len(got), from, to-1)
	}
	for i, m := range got {
		off := from + int64(i)
		if m.Offset != off || string(m.Key) != fmt.Sprintf("k%d", off) || len(m.Value) != 20 {
			t.Fatalf("%s: message %d is offset %d key %q value %q, want offset %d", what, i, m.Offset, m.Key, m.Value, off)
		}
		if magic == 1 && m.Timestamp < 1000 {
			t.Fatalf("%s: message %d has timestamp %d", what, i, m.Timestamp)
		}
	}
}

// An uncompressed batch becomes one message per record from the fetch
// offset on; a compressed one becomes one wrapper with every record, whose
// offset is the last record's; both magics read back with kmsg.
func TestDownConvertMessages(t *testing.T) {
	for _, magic := range []int8{0, 1} {
		for _, c := range benchCodecs {
			if c.codec == CodecZstd || c.codec < 0 {
				continue
			}
			t.Run(fmt.Sprintf("magic%d/%s", magic, c.name), func(t *testing.T) {
				data := append(v2Batch(t, 10, c.codec, 5, 0), v2Batch(t, 15, c.codec, 3, 0)...)
				out, next, st, err := DownConvert(data, magic, 12, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				if next != 18 || st.Batches != 2 {
					t.Fatalf("next %d after %d batches, want 18 after 2", next, st.Batches)
				}
				got, wrappers := readLegacySet(t, out, magic)
				if c.codec == CodecNone {
					checkMessages(t, "uncompressed", got, magic, 12, 18) // 10 and 11 dropped
					if len(wrappers) != 0 {
						t.Fatalf("%d wrappers for uncompressed batches", len(wrappers))
					}
					return
				}
				checkMessages(t, "compressed", got, magic, 10, 18) // whole wrappers; the client skips 10, 11
				if len(wrappers) != 2 || wrappers[0].Offset != 14 || wrappers[1].Offset != 17 {
					t.Fatalf("wrappers %+v, want offsets 14 and 17", wrappers)
				}
				if magic == 1 && wrappers[0].Timestamp != 1040 {
					t.Fatalf("wrapper timestamp %d, want the batch's max 1040", wrappers[0].Timestamp)
				}
			})
		}
	}
}

// Control batches are dropped; the offsets they take are passed over.
// Transactional data is kept (an old fetch is read_uncommitted).
func TestDownConvertDropsControlBatches(t *testing.T) {
	txn := &Batch{Attributes: AttrTransactional, BaseOffset: 0, ProducerID: 7, ProducerEpoch: 0, BaseSequence: 0,
		Records: []Record{{Key: []byte("k0"), Value: bytes.Repeat([]byte{'a'}, 20)}}}
	data, err := Build(txn)
	if err != nil {
		t.Fatal(err)
	}
	marker := &Batch{Attributes: AttrTransactional | AttrControl, BaseOffset: 1, ProducerID: 7, ProducerEpoch: 0, BaseSequence: -1,
		Records: []Record{{Key: []byte{0, 0, 0, 0}, Value: []byte{0, 0, 0, 0, 0, 0}}}}
	mb, err := Build(marker)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, mb...)
	out, next, _, err := DownConvert(data, 1, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := readLegacySet(t, out, 1)
	if len(got) != 1 || got[0].Offset != 0 || next != 2 {
		t.Fatalf("got %+v next %d, want the one data record and next 2", got, next)
	}
	// Only a marker: nothing to give, but the offset moves past it.
	out, next, _, err = DownConvert(mb, 1, 1, 1<<20)
	if err != nil || len(out) != 0 || next != 2 {
		t.Fatalf("marker alone: %d bytes, next %d, %v; want nothing, next 2", len(out), next, err)
	}
}

// zstd has no legacy form: refused when first (UNSUPPORTED_COMPRESSION_TYPE
// for the client), a stop when something precedes it.
func TestDownConvertZstd(t *testing.T) {
	z := v2Batch(t, 0, CodecZstd, 2, 0)
	if _, _, _, err := DownConvert(z, 1, 0, 1<<20); !errors.Is(err, ErrZstdDownConversion) {
		t.Fatalf("zstd first: %v, want ErrZstdDownConversion", err)
	}
	data := append(v2Batch(t, 0, CodecGzip, 2, 0), v2Batch(t, 2, CodecZstd, 2, 0)...)
	out, next, _, err := DownConvert(data, 1, 0, 1<<20)
	if err != nil || next != 2 {
		t.Fatalf("gzip then zstd: next %d, %v; want 2, nil", next, err)
	}
	got, _ := readLegacySet(t, out, 1)
	checkMessages(t, "before zstd", got, 1, 0, 2)
}

// The first batch is converted whole whatever the limit; after it,
// conversion stops at the limit on a message boundary.
func TestDownConvertLimit(t *testing.T) {
	var data []byte
	for i := range 4 {
		data = append(data, v2Batch(t, int64(10*i), CodecNone, 10, 0)...)
	}
	msg := LegacySize(1, 2, 20) // keys k0..k9; k10.. are a byte longer
	out, next, _, err := DownConvert(data, 1, 0, 1)
	if err != nil || next != 10 {
		t.Fatalf("limit 1: next %d, %v; want the first batch whole, next 10", next, err)
	}
	got, _ := readLegacySet(t, out, 1)
	checkMessages(t, "limit 1", got, 1, 0, 10)
	out, next, _, err = DownConvert(data, 1, 0, 13*msg+3)
	if err != nil || next != 13 {
		t.Fatalf("limit of 13 messages: next %d, %v; want 13", next, err)
	}
	got, _ = readLegacySet(t, out, 1)
	checkMessages(t, "13 messages", got, 1, 0, 13)
	// A compressed batch that does not fit is left whole for next time.
	gz := append(v2Batch(t, 0, CodecGzip, 10, 0), v2Batch(t, 10, CodecGzip, 10, 0)...)
	first, _, _, _ := DownConvert(gz[:len(v2Batch(t, 0, CodecGzip, 10, 0))], 1, 0, 1<<20)
	out, next, _, err = DownConvert(gz, 1, 0, len(first)+10)
	if err != nil || next != 10 || !bytes.Equal(out, first) {
		t.Fatalf("second wrapper past the limit: next %d (%v), want 10 and the first wrapper only", next, err)
	}
}

// With log-append time, every magic 1 message carries the batch's append
// time and the timestamp-type attribute.
func TestDownConvertLogAppendTime(t *testing.T) {
	b := v2Batch(t, 0, CodecNone, 3, 0)
	SetLogAppendTime(b, 5555)
	out, _, _, err := DownConvert(b, 1, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := readLegacySet(t, out, 1)
	for _, m := range got {
		if m.Timestamp != 5555 || m.Attrs&attrLegacyLogAppendTime == 0 {
			t.Fatalf("message %+v: want log-append time 5555 with attribute 0x08", m)
		}
	}
}

// Kafka's pre-0.10 LZ4 header checksum (over the magic number too) is
// repaired on up-conversion of magic 0 messages, as Kafka ignores it.
func TestUpConvertMagic0LZ4BrokenChecksum(t *testing.T) {
	inner := AppendLegacy(nil, 0, 0, 0, 0, []byte("k"), []byte("value"))
	var buf bytes.Buffer
	w := lz4.NewWriter(&buf)
	w.Write(inner)
	w.Close()
	frame := buf.Bytes()
	end := 6
	if frame[4]&0x08 != 0 {
		end += 8
	}
	if fixed := fixLZ4HeaderChecksum(frame); !bytes.Equal(fixed, frame) {
		t.Fatal("a correct LZ4 header was changed")
	}
	broken := append([]byte(nil), frame...)
	broken[end] = byte(xxh32(frame[:end]) >> 8) // KAFKA-3160's checksum
	if broken[end] == frame[end] {
		t.Skip("the broken and right checksums coincide for this header")
	}
	set := AppendLegacy(nil, 0, 0, int8(CodecLZ4), 0, nil, broken)
	b, err := UpConvert(set, 0)
	if err != nil {
		t.Fatalf("magic 0 LZ4 with Kafka's old header checksum: %v", err)
	}
	if recs := collect(t, b); len(recs) != 1 || string(recs[0].Value) != "value" {
		t.Fatalf("up-converted %+v", recs)
	}
}

// xxh32 against the reference implementation's published values.
func TestXXH32(t *testing.T) {
	for in, want := range map[string]uint32{
		"": 0x02cc5d05, "a": 0x550d7456, "abc": 0x32d153ff,
		"Nobody inspects the spammish repetition": 0xe2293b2f,
	} {
		if got := xxh32([]byte(in)); got != want {
			t.Errorf("xxh32(%q) = %#x, want %#x", in, got, want)
		}
	}
}

// BenchmarkDownConvert converts 1 MiB of 256-byte records in batches of
// 100 as a Fetch v3 response of a partition does.
func BenchmarkDownConvert(b *testing.B) {
	for _, c := range []struct {
		name  string
		codec int8
	}{{"none", CodecNone}, {"lz4", CodecLZ4}, {"gzip", CodecGzip}} {
		b.Run(c.name, func(b *testing.B) {
			var data []byte
			value := make([]byte, 256)
			rand.Read(value[:128])
			n := 0
			for off := int64(0); len(data) < 1<<20; off += 100 {
				bt := &Batch{Codec: c.codec, BaseOffset: off, FirstTimestamp: 1, MaxTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
				for i := range 100 {
					bt.Records = append(bt.Records, Record{OffsetDelta: int32(i), Value: value})
				}
				out, err := Build(bt)
				if err != nil {
					b.Fatal(err)
				}
				data = append(data, out...)
				n += 100
			}
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for range b.N {
				if _, _, _, err := DownConvert(data, 1, 0, 1<<30); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		})
	}
}
