package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Batches a hostile producer sends with a valid CRC, for every codec: each
// must be refused with the error Kafka's LogValidator gives, and Validate
// and Each must agree on it.

// codecSnappyXerial stands for snappy in the Java client's xerial framing.
const codecSnappyXerial int8 = -2

var hostileCodecs = []struct {
	name  string
	codec int8
}{
	{"gzip", CodecGzip}, {"snappy", CodecSnappy}, {"snappy-xerial", codecSnappyXerial}, {"lz4", CodecLZ4}, {"zstd", CodecZstd},
}

// compressAs compresses body as codec would be on the wire (xerial for
// codecSnappyXerial, in 4 KiB blocks so there are several).
func compressAs(t testing.TB, codec int8, body []byte) ([]byte, int8) {
	t.Helper()
	if codec == codecSnappyXerial {
		return xerialFrame(body, 4<<10), CodecSnappy
	}
	out, err := Compress(codec, body)
	if err != nil {
		t.Fatal(err)
	}
	return out, codec
}

// recordsBody encodes records with the given offset deltas.
func recordsBody(deltas []int32, key func(i int) []byte) []byte {
	var body []byte
	for i, d := range deltas {
		body = AppendRecord(body, &Record{OffsetDelta: d, TimestampDelta: int64(i), Key: key(i), Value: bytes.Repeat([]byte("v"), 300)})
	}
	return body
}

func someKey(i int) []byte { return []byte(fmt.Sprintf("key-%d", i)) }

// hostileBatch returns a batch whose header counts count records (last
// offset delta count-1) and whose body is body compressed with codec, with
// a valid CRC.
func hostileBatch(t testing.TB, codec int8, count int32, body []byte) []byte {
	t.Helper()
	comp, c := compressAs(t, codec, body)
	return hostileRaw(c, count, comp)
}

// hostileRaw is hostileBatch with the compressed body given as is.
func hostileRaw(codec int8, count int32, comp []byte) []byte {
	h := make([]byte, HeaderSize)
	be := binary.BigEndian
	h[offMagic] = 2
	be.PutUint32(h[offLeaderEpoch:], 0xffffffff)
	be.PutUint32(h[offLastOffsetDelta:], uint32(count-1))
	be.PutUint64(h[offFirstTimestamp:], 1000)
	be.PutUint64(h[offMaxTimestamp:], 1000)
	be.PutUint64(h[offProducerID:], ^uint64(0))
	be.PutUint16(h[offProducerEpoch:], 0xffff)
	be.PutUint32(h[offBaseSequence:], 0xffffffff)
	be.PutUint32(h[offRecordCount:], uint32(count))
	return withBody(h, codec, comp)
}

func seq(n int) []int32 {
	d := make([]int32, n)
	for i := range d {
		d[i] = int32(i)
	}
	return d
}

// checkRefused asserts Validate and Each both refuse batch with want.
func checkRefused(t *testing.T, batch []byte, opt ValidateOptions, want error) {
	t.Helper()
	if !CRCValid(batch) {
		t.Fatal("test batch has a bad CRC")
	}
	_, err := Validate(batch, opt)
	if !errors.Is(err, want) {
		t.Fatalf("Validate = %v, want %v", err, want)
	}
	limit := opt.MaxUncompressed
	if limit == 0 {
		limit = DefaultMaxUncompressed
	}
	eerr := EachLimited(batch, limit, func(r *Record) error {
		if opt.RequireKeys && r.Key == nil {
			return fmt.Errorf("%w: no key", ErrInvalid)
		}
		return nil
	})
	if !errors.Is(eerr, want) {
		t.Fatalf("Each = %v, want %v (Validate said %v)", eerr, want, err)
	}
}

func TestValidateCompressedRecords(t *testing.T) {
	for _, c := range hostileCodecs {
		t.Run(c.name, func(t *testing.T) {
			good := hostileBatch(t, c.codec, 4, recordsBody(seq(4), someKey))
			if _, err := Validate(good, ValidateOptions{RequireKeys: true}); err != nil {
				t.Fatalf("a good batch: %v", err)
			}
			comp := good[HeaderSize:]
			cases := []struct {
				name  string
				batch []byte
				opt   ValidateOptions
				want  error
			}{
				// Kafka: "Incorrect declared batch size, premature EOF
				// reached" / "records still remaining", INVALID_RECORD.
				{"header counts 5 records, body holds 2", hostileBatch(t, c.codec, 5, recordsBody(seq(2), someKey)), ValidateOptions{}, ErrInvalid},
				{"header counts 2 records, body holds 3", hostileBatch(t, c.codec, 2, recordsBody(seq(3), someKey)), ValidateOptions{}, ErrInvalid},
				{"duplicate offset deltas", hostileBatch(t, c.codec, 3, recordsBody([]int32{0, 0, 1}, someKey)), ValidateOptions{}, ErrInvalid},
				{"offset deltas out of order", hostileBatch(t, c.codec, 3, recordsBody([]int32{0, 2, 1}, someKey)), ValidateOptions{}, ErrInvalid},
				{"offset deltas not from 0", hostileBatch(t, c.codec, 3, recordsBody([]int32{1, 2, 3}, someKey)), ValidateOptions{}, ErrInvalid},
				{"a keyless record on a compacted topic", hostileBatch(t, c.codec, 3, recordsBody(seq(3), func(i int) []byte {
					if i == 1 {
						return nil
					}
					return someKey(i)
				})), ValidateOptions{RequireKeys: true}, ErrInvalid},
				{"decompresses to garbage", hostileBatch(t, c.codec, 3, bytes.Repeat([]byte{0xfe, 0x01, 0x7f}, 500)), ValidateOptions{}, ErrInvalid},
				{"decompresses to nothing", hostileBatch(t, c.codec, 1, nil), ValidateOptions{}, ErrInvalid},
				// Kafka answers CORRUPT_MESSAGE for data it cannot
				// decompress.
				{"garbage instead of compressed data", hostileRaw(codecOf(c.codec), 4, garbageFor(c.codec)), ValidateOptions{}, ErrCorrupt},
				{"compressed data cut short", hostileRaw(codecOf(c.codec), 4, comp[:len(comp)*2/3]), ValidateOptions{}, ErrCorrupt},
				{"a flipped byte inside the compressed data", hostileRaw(codecOf(c.codec), 4, flipMiddle(comp)), ValidateOptions{}, ErrCorrupt},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) { checkRefused(t, tc.batch, tc.opt, tc.want) })
			}
		})
	}
}

// codecOf maps codecSnappyXerial to the attribute's codec.
func codecOf(c int8) int8 {
	if c == codecSnappyXerial {
		return CodecSnappy
	}
	return c
}

// garbageFor returns bytes that are not valid data for codec, starting
// like it where the codec has a magic (so the decoder gets past it).
func garbageFor(c int8) []byte {
	junk := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0x13}, 200)
	switch c {
	case CodecGzip:
		return append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, junk...)
	case CodecLZ4:
		return append([]byte{0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7}, junk...)
	case CodecZstd:
		return append([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58}, junk...)
	case codecSnappyXerial:
		b := append([]byte(nil), xerialMagic...)
		b = binary.BigEndian.AppendUint32(b, 1)
		b = binary.BigEndian.AppendUint32(b, 1)
		b = binary.BigEndian.AppendUint32(b, uint32(len(junk)))
		return append(b, junk...)
	}
	return junk
}

// flipMiddle flips bits of a byte in the middle of compressed data, where
// it is either the compressed stream (an undecodable stream or a checksum
// mismatch) -- never where a codec has no integrity check and would decode
// to other records, which the record checks catch instead.
func flipMiddle(comp []byte) []byte {
	b := append([]byte(nil), comp...)
	b[len(b)/2] ^= 0xff
	b[len(b)/2+1] ^= 0xff
	return b
}

// TestValidateFlippedBytesNeverAccepted: whatever a flipped byte inside
// compressed data does to the decoder, the batch is refused, as corrupt or
// invalid, and never accepted with records other than those written.
func TestValidateFlippedBytesNeverAccepted(t *testing.T) {
	for _, c := range hostileCodecs {
		good := hostileBatch(t, c.codec, 4, recordsBody(seq(4), someKey))
		comp := good[HeaderSize:]
		for i := 0; i < len(comp); i += max(1, len(comp)/97) {
			b := append([]byte(nil), comp...)
			b[i] ^= 0x55
			batch := hostileRaw(codecOf(c.codec), 4, b)
			_, err := Validate(batch, ValidateOptions{})
			if err == nil {
				// Some flips decode to other but well-formed bytes (a
				// literal's content); the records must still parse.
				if eerr := Each(batch, nil); eerr != nil {
					t.Fatalf("%s: flip at %d: Validate accepts a batch Each refuses: %v", c.name, i, eerr)
				}
				continue
			}
			// A flip in a zstd frame header may declare a window too
			// large to accept.
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%s: flip at %d: %v, want ErrCorrupt, ErrInvalid or ErrTooLarge", c.name, i, err)
			}
		}
	}
}

// TestCorruptCompressionIsNotAStorageError: every decoder failure wraps
// ErrCorrupt (answered CORRUPT_MESSAGE), never a bare decoder error (which
// the broker answered as KAFKA_STORAGE_ERROR).
func TestCorruptCompressionIsNotAStorageError(t *testing.T) {
	for _, c := range hostileCodecs {
		if _, err := Decompress(codecOf(c.codec), garbageFor(c.codec)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Decompress(garbage) = %v, want ErrCorrupt", c.name, err)
		}
	}
	if _, err := Decompress(6, []byte{1, 2, 3}); !errors.Is(err, ErrCompression) {
		t.Errorf("codec 6: %v, want ErrCompression", err)
	}
}

// TestLegacyWrapperGarbage: a magic 0/1 wrapper message whose value does
// not decompress is CORRUPT_MESSAGE in Kafka; so is a wrapper whose value
// decompresses to bytes that are no message set.
func TestLegacyWrapperGarbage(t *testing.T) {
	for _, magic := range []int8{0, 1} {
		for _, c := range []int8{CodecGzip, CodecSnappy, codecSnappyXerial, CodecLZ4} {
			name := fmt.Sprintf("magic %d codec %d", magic, c)
			if _, err := UpConvert(legacyMsg(magic, codecOf(c), 5, nil, garbageFor(c)), 0); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s, garbage value: %v, want ErrCorrupt", name, err)
			}
			inner, _ := compressAs(t, c, bytes.Repeat([]byte{0x42}, 100))
			if _, err := UpConvert(legacyMsg(magic, codecOf(c), 5, nil, inner), 0); !errors.Is(err, ErrShort) && !errors.Is(err, ErrCRC) {
				t.Errorf("%s, value inflating to garbage: %v, want ErrShort or ErrCRC (CORRUPT_MESSAGE)", name, err)
			}
			ok, _ := compressAs(t, c, legacyMsg(magic, 0, 5, []byte("k"), []byte("v")))
			if _, err := UpConvert(legacyMsg(magic, codecOf(c), 5, nil, ok), 0); err != nil {
				t.Errorf("%s, a good wrapper: %v", name, err)
			}
		}
	}
}

// bombBody streams to w the records of a decompression bomb: one record
// whose value is size zero bytes (well-formed, so only the limit stops
// it), or, with many, size/1024 records of 1 KiB zeros.
func bombBody(w io.Writer, size int64, many bool) {
	zeros := make([]byte, 1<<16)
	if many {
		for i := int64(0); i*1024 < size; i++ {
			w.Write(AppendRecord(nil, &Record{OffsetDelta: int32(i), Key: []byte("k"), Value: zeros[:1024]}))
		}
		return
	}
	var head []byte
	head = binary.AppendVarint(head, 1+1+1+1+int64(varintLen(size))+size+1) // length
	head = append(head, 0)                                                  // attributes
	head = binary.AppendVarint(head, 0)                                     // timestamp delta
	head = binary.AppendVarint(head, 0)                                     // offset delta
	head = binary.AppendVarint(head, -1)                                    // null key
	head = binary.AppendVarint(head, size)                                  // value length
	w.Write(head)
	for n := size; n > 0; n -= int64(len(zeros)) {
		w.Write(zeros[:min(n, int64(len(zeros)))])
	}
	w.Write([]byte{0}) // no headers
}

func varintLen(v int64) int { return len(binary.AppendVarint(nil, v)) }

// bomb returns a batch of codec whose records inflate to size bytes.
func bomb(t testing.TB, codec int8, size int64, many bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	count := int32(1)
	if many {
		count = int32(size / 1024)
	}
	switch codec {
	case CodecGzip:
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		bombBody(w, size, many)
		w.Close()
	case CodecLZ4:
		w := lz4.NewWriter(&buf)
		bombBody(w, size, many)
		w.Close()
	case CodecZstd:
		w, _ := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
		bombBody(w, size, many)
		w.Close()
	case CodecSnappy, codecSnappyXerial:
		var body bytes.Buffer
		bombBody(&body, size, many)
		out, _ := compressAs(t, codec, body.Bytes())
		return hostileRaw(CodecSnappy, count, out)
	}
	return hostileRaw(codec, count, buf.Bytes())
}

// TestDecompressionBomb: a batch inflating past MaxUncompressed is refused
// with ErrTooLarge having cost about the limit, not what it inflates to.
func TestDecompressionBomb(t *testing.T) {
	const limit = 1 << 20
	for _, c := range hostileCodecs {
		for _, many := range []bool{false, true} {
			size := int64(64 << 20)
			if codecOf(c.codec) == CodecSnappy || testing.Short() {
				size = 16 << 20 // snappy needs the input in memory to build
			}
			b := bomb(t, c.codec, size, many)
			t.Run(fmt.Sprintf("%s/many=%v", c.name, many), func(t *testing.T) {
				t.Logf("%d compressed bytes inflating to %d", len(b), size)
				checkRefused(t, b, ValidateOptions{MaxUncompressed: limit}, ErrTooLarge)
				cold, warm := allocsOf(func() { Validate(b, ValidateOptions{MaxUncompressed: limit}) })
				t.Logf("Validate allocates %d bytes with no pooled decoder, %d with one", cold, warm)
				// Cold: the window (at most the larger of the limit and
				// the zstd floor), a block buffer (lz4: 4 MiB at most), a
				// decoder; warm: next to nothing.
				if max := uint64(zstdStreamWindow + 6<<20); cold > max {
					t.Errorf("Validate of a bomb allocates %d bytes with a cold pool, over %d", cold, max)
				}
				if warm > limit/2 && !raceEnabled {
					t.Errorf("Validate of a bomb allocates %d bytes with a warm pool, over %d", warm, limit/2)
				}
				// Under a larger limit the same records are accepted.
				if !many && size <= 16<<20 {
					if _, err := Validate(b, ValidateOptions{MaxUncompressed: 2 * size}); err != nil {
						t.Errorf("under a limit of %d: %v", 2*size, err)
					}
				}
			})
		}
	}
}

// allocsOf returns the bytes fn allocates with the pools emptied, then in
// a steady state (pools warm, the GC off).
func allocsOf(fn func()) (cold, warm uint64) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	measure := func() uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		fn()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	runtime.GC()
	runtime.GC() // empties sync.Pools, victims too
	cold = measure()
	// sync.Pool keeps a cache per P: the goroutine may move to a P whose
	// cache is still empty, so warm is the least of a few runs.
	warm = cold
	for range 5 {
		warm = min(warm, measure())
	}
	return cold, warm
}

// TestDecompressionBombOfGarbage: zeros that do not form records stop the
// walk at the first record, whatever they inflate to.
func TestDecompressionBombOfGarbage(t *testing.T) {
	zeros := make([]byte, 32<<20)
	for _, c := range hostileCodecs {
		b := hostileBatch(t, c.codec, 1, zeros)
		want := ErrInvalid
		if c.codec == CodecSnappy {
			want = ErrTooLarge // one raw block, decoded whole: its size is checked first
		}
		checkRefused(t, b, ValidateOptions{MaxUncompressed: 1 << 20}, want)
	}
}

func TestSnappyRawBlockBeyondLimitNotDecoded(t *testing.T) {
	// A raw snappy block states its decoded length first: a claim past
	// the limit is refused before anything is allocated.
	blk := binary.AppendUvarint(nil, 1<<31)
	blk = append(blk, 0)
	b := hostileRaw(CodecSnappy, 1, blk)
	if _, err := Validate(b, ValidateOptions{MaxUncompressed: 1 << 20}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Validate = %v, want ErrTooLarge", err)
	}
	_ = snappy.MaxEncodedLen
}

// TestZstdWindowBounded: a zstd frame declaring a window larger than the
// batch may cost is refused as too large before its window is allocated.
func TestZstdWindowBounded(t *testing.T) {
	body := recordsBody(seq(3), someKey)
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithSingleSegment(false))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(body)
	w.Close()
	frame := buf.Bytes()
	if frame[4]&0x20 != 0 {
		t.Fatalf("frame header %x has no window descriptor", frame[:6])
	}
	for _, tc := range []struct {
		windowLog int
		limit     int64
		want      error
	}{
		{23, 1 << 20, nil},         // 8 MiB, streamed, under any limit
		{27, 1 << 20, nil},         // 128 MiB (zstd-jni at level 22): decoded whole
		{28, 1 << 30, ErrTooLarge}, // 256 MiB: past Kafka's 2^27
		{40, 1 << 30, ErrTooLarge}, // 1 TiB
	} {
		f := append([]byte(nil), frame...)
		f[5] = byte(tc.windowLog-10) << 3 // Window_Descriptor: exponent, no mantissa
		b := hostileRaw(CodecZstd, 3, f)
		cold, _ := allocsOf(func() { Validate(b, ValidateOptions{MaxUncompressed: tc.limit}) })
		_, err := Validate(b, ValidateOptions{MaxUncompressed: tc.limit})
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("a frame declaring a 2^%d byte window under a %d byte limit: %v, want %v", tc.windowLog, tc.limit, err, tc.want)
		}
		if bound := uint64(max(tc.limit, zstdStreamWindow) + 2<<20); cold > bound {
			t.Errorf("a frame declaring a 2^%d byte window cost %d bytes, over %d", tc.windowLog, cold, bound)
		}
	}
}
