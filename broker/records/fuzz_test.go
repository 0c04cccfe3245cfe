package records

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// FuzzValidate feeds arbitrary bytes to every parser a client's produce
// data reaches, compressed payloads included: none may panic, and Validate
// must agree with a full parse (Each) on whether the records are good and
// on why not (ErrInvalid, ErrCorrupt or ErrTooLarge).
func FuzzValidate(f *testing.F) {
	for _, codec := range []int8{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		f.Add(testBatch(f, codec, 3), false)
		good := testBatch(f, codec, 5)
		f.Add(good[:len(good)-len(good)/3], false)
	}
	xerial := testBatch(f, CodecNone, 4)
	f.Add(withBody(xerial, CodecSnappy, xerialFrame(xerial[HeaderSize:], 64)), true)
	for _, c := range hostileCodecs {
		f.Add(hostileBatch(f, c.codec, 5, recordsBody(seq(2), someKey)), false)
		f.Add(hostileBatch(f, c.codec, 3, recordsBody([]int32{0, 2, 1}, someKey)), false)
		f.Add(hostileRaw(codecOf(c.codec), 4, garbageFor(c.codec)), false)
		f.Add(bomb(f, c.codec, 2<<20, false), false)
	}
	f.Add(testBatch(f, CodecNone, 1), true)
	f.Add(testBatch(f, CodecNone, 2)[:70], false)
	f.Add(legacyMsg(1, 0, 5, []byte("k"), []byte("v")), false)
	f.Add(legacyMsg(0, int8(CodecGzip), 0, nil, mustCompress(f, CodecGzip, legacyMsg(0, 0, 0, nil, []byte("x")))), false)
	f.Add([]byte{}, false)
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, b []byte, requireKeys bool) {
		orig := append([]byte(nil), b...)
		opt := ValidateOptions{RequireKeys: requireKeys, AllowControl: true, MaxUncompressed: limit}
		h, err := Validate(b, opt)
		if err == nil && (h.Size() != len(b) || !CRCValid(b)) {
			t.Fatalf("Validate accepted a batch of size %d for %d bytes, CRC valid %v", h.Size(), len(b), CRCValid(b))
		}
		if _, herr := validateHeader(b, opt); herr == nil {
			n := int32(0)
			eerr := EachLimited(b, limit, func(r *Record) error {
				if requireKeys && r.Key == nil {
					return fmt.Errorf("%w: no key", ErrInvalid)
				}
				n++
				return nil
			})
			if (err == nil) != (eerr == nil) || errClass(err) != errClass(eerr) {
				t.Fatalf("codec %d: Validate says %v, Each says %v", h.Codec(), err, eerr)
			}
			if err == nil && n != h.NumRecords {
				t.Fatalf("Each saw %d records, header says %d", n, h.NumRecords)
			}
		}
		ParseHeader(b)
		Magic(b)
		Body(b)
		Each(b, func(r *Record) error { _ = len(r.Key) + len(r.Value) + len(r.Headers); return nil })
		Split(b, func(x []byte) error { ParseHeader(x); return nil })
		UpConvert(b, limit)
		if len(b) > 0 {
			decompress(int8(b[0]%5), b[1:], limit)
		}
		if !bytes.Equal(b, orig) {
			t.Fatal("a read-only parser modified its input")
		}
	})
}

// errClass names the sentinel an error from a record walk wraps.
func errClass(err error) string {
	for _, e := range []error{ErrCorrupt, ErrTooLarge, ErrInvalid, ErrShort, ErrCompression} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if err == nil {
		return ""
	}
	return "other: " + err.Error()
}

// chunkReader returns at most n bytes per Read, to cut records at every
// place a stream can.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[k:]
	return k, nil
}

// FuzzStreamedWalkAgrees: the record walk over a stream, cut into chunks
// of any size through a window of any size, decides as it does with the
// records in memory, for Validate's check and for Each.
func FuzzStreamedWalkAgrees(f *testing.F) {
	for _, n := range []int{1, 3, 40} {
		b := testBatch(f, CodecNone, n)
		f.Add(b[HeaderSize:], int32(n), uint8(7), uint8(16), false)
		f.Add(b[HeaderSize:len(b)-5], int32(n), uint8(1), uint8(1), true)
		f.Add(b[HeaderSize:], int32(n+1), uint8(200), uint8(3), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, count int32, chunk, window uint8, requireKeys bool) {
		if count < 0 || count > 1000 || chunk == 0 {
			return
		}
		limit := int64(len(body) + 10)
		var memKeyless, streamKeyless, eachKeyless *[]int32
		if requireKeys {
			memKeyless, streamKeyless, eachKeyless = new([]int32), new([]int32), new([]int32)
		}
		mem := walker{b: body, max: int64(len(body))}
		want := mem.checkRecords(count, memKeyless, nil)
		streamed := walker{src: &chunkReader{body, int(chunk)}, max: limit, b: make([]byte, 0, int(window))}
		got := streamed.checkRecords(count, streamKeyless, nil)
		if errClass(got) != errClass(want) {
			t.Fatalf("in memory: %v; streamed in chunks of %d through a window of %d: %v", want, chunk, window, got)
		}
		if want == nil && requireKeys && fmt.Sprint(*memKeyless) != fmt.Sprint(*streamKeyless) {
			t.Fatalf("keyless records %v in memory, %v streamed", *memKeyless, *streamKeyless)
		}
		var memRecs, streamRecs [][]byte
		collect := func(dst *[][]byte, keyless *[]int32) func(*Record) error {
			return func(r *Record) error {
				if keyless != nil && r.Key == nil {
					*keyless = append(*keyless, r.OffsetDelta)
				}
				*dst = append(*dst, r.Key, r.Value)
				return nil
			}
		}
		mem = walker{b: body, max: int64(len(body))}
		mwant := mem.eachRecord(count, count-1, collect(&memRecs, eachKeyless))
		streamed = walker{src: &chunkReader{body, int(chunk)}, max: limit, keep: true, b: make([]byte, 0, int(window))}
		mgot := streamed.eachRecord(count, count-1, collect(&streamRecs, nil))
		if errClass(mgot) != errClass(mwant) || errClass(mwant) != errClass(want) {
			t.Fatalf("Each in memory: %v; streamed: %v; check: %v", mwant, mgot, want)
		}
		if want == nil && requireKeys && fmt.Sprint(*memKeyless) != fmt.Sprint(*eachKeyless) {
			t.Fatalf("keyless records %v by the check, %v by Each", *memKeyless, *eachKeyless)
		}
		for i := range memRecs {
			if !bytes.Equal(memRecs[i], streamRecs[i]) {
				t.Fatalf("field %d: %q in memory, %q streamed (records must stay valid)", i, memRecs[i], streamRecs[i])
			}
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

// FuzzFastRecordAgrees: the fast check of a common record accepts only
// records the careful check accepts, with the same end and key length.
func FuzzFastRecordAgrees(f *testing.F) {
	for _, r := range []Record{
		{OffsetDelta: 0, Value: make([]byte, 100)},
		{OffsetDelta: 5, TimestampDelta: -3, Key: []byte("k"), Value: []byte("v"), Headers: []RecordHeader{{Key: "h", Value: nil}, {Key: "", Value: []byte("x")}}},
		{OffsetDelta: 70, TimestampDelta: 9000, Key: []byte{}, Value: nil},
		{OffsetDelta: 9000, Value: make([]byte, 9000)},
	} {
		b := AppendRecord(nil, &r)
		f.Add(append(b, make([]byte, 8)...), r.OffsetDelta)
	}
	f.Fuzz(func(t *testing.T, b []byte, i int32) {
		if i < 0 {
			return
		}
		end, keyLen, ts, ok := fastRecord(b, 0, i)
		if !ok {
			return
		}
		cend, ckey, cts, need, err := checkRecordAt(b, 0, i)
		if err != nil || need != 0 || cend != end || ckey != keyLen || cts != ts {
			t.Fatalf("fast check accepts record %d ending at %d with key length %d, timestamp delta %d; careful check: end %d, key %d, timestamp delta %d, need %d, %v (%x)",
				i, end, keyLen, ts, cend, ckey, cts, need, err, b)
		}
	})
}
