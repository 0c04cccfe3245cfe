package records

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// A legacy message set (Produce v0-v2) may hold any number of compressed
// wrapper messages. Each used to be allowed the whole decompression limit,
// and every record of every wrapper was kept and then copied again into
// the converted batch: 60 gzip wrappers of 74 KB, each inflating to 15 MB,
// took a broker from 1.1 GB to 4.5 GB, and 150 of them killed it. The
// limit holds for the whole set.

// legacyInner is a message set of n magic messages whose values are size
// bytes of zeros (timestamps 1000, 1001, ...).
func legacyInner(magic int8, n, size int) []byte {
	var set []byte
	value := make([]byte, size)
	for i := range n {
		set = AppendLegacy(set, magic, int64(i), 0, 1000+int64(i), nil, value)
	}
	return set
}

// legacyWrapper is one magic wrapper message of codec (codecSnappyXerial
// for snappy in xerial framing) holding inner.
func legacyWrapper(t testing.TB, magic, codec int8, inner []byte) []byte {
	t.Helper()
	z, c := compressAs(t, codec, inner)
	return AppendLegacy(nil, magic, 0, c, 1000, nil, z)
}

// legacyCodecs are the codecs a legacy wrapper is read with. Kafka refuses
// a zstd wrapper; Gregor reads it, so it must be bounded as the others.
var legacyCodecs = hostileCodecs

// TestUpConvertManyWrappersShareTheLimit: a set of wrappers that each
// inflate to a quarter of the limit is refused with ErrTooLarge
// (MESSAGE_TOO_LARGE) at the fifth, whatever follows: a wrapper of garbage
// placed after it is never decompressed (it would be ErrCorrupt), and the
// conversion allocates about the limit, not what the set inflates to.
func TestUpConvertManyWrappersShareTheLimit(t *testing.T) {
	const limit = 1 << 20
	for _, c := range legacyCodecs {
		for _, magic := range []int8{0, 1} {
			for _, size := range []int{1024, 0} { // 1 KiB values; empty ones (many records per byte)
				t.Run(fmt.Sprintf("%s/magic%d/value%d", c.name, magic, size), func(t *testing.T) {
					inner := legacyInner(magic, (limit/4)/LegacySize(magic, 0, size), size)
					w := legacyWrapper(t, magic, c.codec, inner)
					var set []byte
					for range 5 { // 5 x 1/4 of the limit
						set = append(set, w...)
					}
					poison := AppendLegacy(nil, magic, 0, codecOf(c.codec), 1000, nil, garbageFor(c.codec))
					set = append(set, poison...)
					for range 59 { // 64 wrappers: 16 times the limit
						set = append(set, w...)
					}
					_, err := UpConvert(set, limit)
					if !errors.Is(err, ErrTooLarge) {
						t.Fatalf("64 wrappers inflating to %d bytes each, under a limit of %d: %v, want ErrTooLarge", len(inner), limit, err)
					}
					if raceEnabled {
						return
					}
					// Without the poison, to measure a set that would all
					// decompress.
					clean := bytes.Repeat(w, 64)
					_, warm := allocsOf(func() { UpConvert(clean, limit) })
					t.Logf("a set of 64 wrappers of %d compressed bytes, inflating to %d each: %d bytes allocated", len(w), len(inner), warm)
					// One wrapper's messages (a buffer grown by doubling,
					// reused by the next) and the batch (at most the
					// limit, grown by doubling): not 64 times a quarter
					// of the limit, twice (decompressed, then copied).
					if bound := uint64(4 * limit); warm > bound {
						t.Errorf("up-converting allocated %d bytes, over %d (the set inflates to %d)", warm, bound, 64*len(inner))
					}
				})
			}
		}
	}
}

// TestUpConvertLimitIsExact: a set whose wrappers inflate to exactly the
// limit between them converts; one byte less refuses it.
func TestUpConvertLimitIsExact(t *testing.T) {
	for _, c := range legacyCodecs {
		for _, magic := range []int8{0, 1} {
			inner := legacyInner(magic, 100, 1000)
			w := legacyWrapper(t, magic, c.codec, inner)
			plain := AppendLegacy(nil, magic, 0, 0, 5000, []byte("k"), []byte("plain"))
			set := append(append(append([]byte(nil), w...), plain...), w...)
			total := int64(2 * len(inner))
			b, err := UpConvert(set, total)
			if err != nil {
				t.Fatalf("%s magic %d: wrappers inflating to %d bytes under a limit of as many: %v", c.name, magic, total, err)
			}
			if recs := collect(t, b); len(recs) != 201 || string(recs[100].Value) != "plain" {
				t.Fatalf("%s magic %d: up-converted %d records", c.name, magic, len(recs))
			}
			if _, err := UpConvert(set, total-1); !errors.Is(err, ErrTooLarge) {
				t.Errorf("%s magic %d: wrappers inflating to %d bytes under a limit of %d: %v, want ErrTooLarge", c.name, magic, total, total-1, err)
			}
		}
	}
}

// TestUpConvertIsBuild: the batch written as the set is read is the one
// Build makes of the same records.
func TestUpConvertIsBuild(t *testing.T) {
	set := AppendLegacy(nil, 1, 0, 0, 2000, []byte("a"), []byte("one"))
	set = AppendLegacy(set, 1, 1, 0, -1, nil, nil) // no timestamp: -1 kept
	set = AppendLegacy(set, 1, 2, 0, 1500, []byte{}, bytes.Repeat([]byte("v"), 300))
	inner := AppendLegacy(nil, 1, 0, 0, 2600, nil, []byte("inner"))
	inner = AppendLegacy(inner, 1, 1, 0, 2500, []byte("k"), nil)
	set = append(set, legacyWrapper(t, 1, CodecGzip, inner)...)
	got, err := UpConvert(set, 0)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Build(&Batch{FirstTimestamp: 2000, MaxTimestamp: 2600, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: []Record{
		{OffsetDelta: 0, TimestampDelta: 0, Key: []byte("a"), Value: []byte("one")},
		{OffsetDelta: 1, TimestampDelta: -2001},
		{OffsetDelta: 2, TimestampDelta: -500, Key: []byte{}, Value: bytes.Repeat([]byte("v"), 300)},
		{OffsetDelta: 3, TimestampDelta: 600, Value: []byte("inner")},
		{OffsetDelta: 4, TimestampDelta: 500, Key: []byte("k")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("UpConvert made\n%x\nBuild makes\n%x", got, want)
	}
	if _, err := Validate(got, ValidateOptions{}); err != nil {
		t.Fatalf("the up-converted batch does not validate: %v", err)
	}
}
