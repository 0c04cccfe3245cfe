package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/twmb/franz-go/pkg/kerr"
)

func testRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{
			OffsetDelta:    int32(i),
			TimestampDelta: int64(3 * i),
			Key:            []byte(fmt.Sprintf("key-%d", i)),
			Value:          bytes.Repeat([]byte{byte('a' + i%26)}, 50+i),
			Headers:        []RecordHeader{{Key: "h", Value: []byte{byte(i)}}},
		}
	}
	recs[n-1].Key = nil // a null key
	return recs
}

func testBatch(t testing.TB, codec int8, n int) []byte {
	t.Helper()
	b, err := Build(&Batch{
		Codec: codec, FirstTimestamp: 1000, MaxTimestamp: 1000 + int64(3*(n-1)),
		ProducerID: 7, ProducerEpoch: 2, BaseSequence: 40, LeaderEpoch: 3, BaseOffset: 100,
		Records: testRecords(n),
	})
	if err != nil {
		t.Fatalf("Build with codec %d: %v", codec, err)
	}
	return b
}

func collect(t testing.TB, batch []byte) []Record {
	t.Helper()
	var out []Record
	err := Each(batch, func(r *Record) error {
		c := *r
		c.Key, c.Value = cloneBytes(r.Key), cloneBytes(r.Value)
		c.Headers = append([]RecordHeader(nil), r.Headers...)
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatalf("Each: %v", err)
	}
	return out
}

func sameRecords(t testing.TB, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.OffsetDelta != w.OffsetDelta || g.TimestampDelta != w.TimestampDelta || !bytes.Equal(g.Key, w.Key) ||
			(g.Key == nil) != (w.Key == nil) || !bytes.Equal(g.Value, w.Value) || len(g.Headers) != len(w.Headers) {
			t.Fatalf("record %d = %+v, want %+v", i, g, w)
		}
		for j := range w.Headers {
			if g.Headers[j].Key != w.Headers[j].Key || !bytes.Equal(g.Headers[j].Value, w.Headers[j].Value) {
				t.Fatalf("record %d header %d = %+v, want %+v", i, j, g.Headers[j], w.Headers[j])
			}
		}
	}
}

func TestBuildParseHeader(t *testing.T) {
	b := testBatch(t, CodecNone, 4)
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{BaseOffset: 100, Length: int32(len(b) - 12), LeaderEpoch: 3, Magic: 2, CRC: h.CRC, Attributes: 0,
		LastOffsetDelta: 3, FirstTimestamp: 1000, MaxTimestamp: 1009, ProducerID: 7, ProducerEpoch: 2, BaseSequence: 40, NumRecords: 4}
	if h != want {
		t.Fatalf("header %+v\nwant   %+v", h, want)
	}
	if h.Size() != len(b) || h.LastOffset() != 103 || h.NextOffset() != 104 || h.LastSequence() != 43 || !h.HasProducerID() {
		t.Fatalf("derived fields: size %d last %d next %d lastSeq %d", h.Size(), h.LastOffset(), h.NextOffset(), h.LastSequence())
	}
	// CRC-32C over attributes to the end, as Kafka's DefaultRecordBatch.
	if crc := crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)); crc != binary.BigEndian.Uint32(b[17:]) {
		t.Fatalf("stored CRC %x, CRC-32C of bytes 21.. is %x", binary.BigEndian.Uint32(b[17:]), crc)
	}
	if _, err := Validate(b, ValidateOptions{}); err != nil {
		t.Fatalf("Validate of a built batch: %v", err)
	}
	sameRecords(t, collect(t, b), testRecords(4))
}

func TestLastSequenceWraps(t *testing.T) {
	h := Header{BaseSequence: 1<<31 - 2, LastOffsetDelta: 3}
	if got := h.LastSequence(); got != 1 {
		t.Fatalf("LastSequence wrapping past Int32.MaxValue = %d, want 1", got)
	}
	if h := (Header{BaseSequence: -1, LastOffsetDelta: 3}); h.LastSequence() != -1 {
		t.Fatalf("LastSequence without a sequence = %d, want -1", h.LastSequence())
	}
}

func TestCompressionRoundTrip(t *testing.T) {
	plain := testBatch(t, CodecNone, 20)
	for _, codec := range []int8{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		t.Run(fmt.Sprint(codec), func(t *testing.T) {
			c, err := Recompress(plain, codec, 0)
			if err != nil {
				t.Fatal(err)
			}
			h, err := Validate(c, ValidateOptions{})
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if h.Codec() != codec || h.NumRecords != 20 || h.ProducerID != 7 || h.BaseOffset != 100 {
				t.Fatalf("recompressed header %+v", h)
			}
			if len(c) >= len(plain) {
				t.Fatalf("codec %d did not shrink repetitive records: %d >= %d bytes", codec, len(c), len(plain))
			}
			sameRecords(t, collect(t, c), testRecords(20))
			back, err := Recompress(c, CodecNone, 0)
			if err != nil || !bytes.Equal(back, plain) {
				t.Fatalf("decompressing back: %v, equal %v", err, bytes.Equal(back, plain))
			}
		})
	}
}

func TestSnappyXerialFraming(t *testing.T) {
	// The Java client frames snappy as xerial: magic, two versions, then
	// blocks of int32 length + raw snappy.
	plain := testBatch(t, CodecNone, 5)
	body := plain[HeaderSize:]
	var framed []byte
	framed = append(framed, xerialMagic...)
	framed = binary.BigEndian.AppendUint32(framed, 1)
	framed = binary.BigEndian.AppendUint32(framed, 1)
	for _, part := range [][]byte{body[:len(body)/2], body[len(body)/2:]} {
		blk := snappy.Encode(nil, part)
		framed = binary.BigEndian.AppendUint32(framed, uint32(len(blk)))
		framed = append(framed, blk...)
	}
	out, err := Decompress(CodecSnappy, framed)
	if err != nil || !bytes.Equal(out, body) {
		t.Fatalf("xerial decode: %v, equal %v", err, bytes.Equal(out, body))
	}
	if _, err := Decompress(CodecSnappy, framed[:len(framed)-3]); err == nil {
		t.Fatal("truncated xerial block decoded without error")
	}
}

func TestValidateRejects(t *testing.T) {
	good := testBatch(t, CodecNone, 3)
	edit := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		binary.BigEndian.PutUint32(b[17:], Checksum(b))
		return b
	}
	cases := []struct {
		name  string
		batch []byte
		opt   ValidateOptions
		want  error
	}{
		{"short header", good[:40], ValidateOptions{}, ErrShort},
		{"truncated body", good[:len(good)-1], ValidateOptions{}, ErrShort},
		{"trailing bytes", append(append([]byte(nil), good...), 0), ValidateOptions{}, ErrShort},
		{"magic 1", edit(func(b []byte) { b[16] = 1 }), ValidateOptions{}, ErrMagic},
		{"bad CRC", func() []byte { b := append([]byte(nil), good...); b[len(b)-1] ^= 1; return b }(), ValidateOptions{}, ErrCRC},
		{"record count vs last offset delta", edit(func(b []byte) { binary.BigEndian.PutUint32(b[57:], 5) }), ValidateOptions{}, ErrInvalid},
		{"zero records", edit(func(b []byte) { binary.BigEndian.PutUint32(b[57:], 0); binary.BigEndian.PutUint32(b[23:], 0xffffffff) }), ValidateOptions{}, ErrInvalid},
		{"control batch from a client", edit(func(b []byte) { b[22] |= AttrControl }), ValidateOptions{}, ErrInvalid},
		{"producer id without sequence", edit(func(b []byte) { binary.BigEndian.PutUint32(b[53:], 0xffffffff) }), ValidateOptions{}, ErrInvalid},
		{"transactional without producer id", edit(func(b []byte) {
			b[22] |= AttrTransactional
			binary.BigEndian.PutUint64(b[43:], ^uint64(0))
		}), ValidateOptions{}, ErrInvalid},
		{"codec 5", edit(func(b []byte) { b[22] |= 5 }), ValidateOptions{}, ErrCompression},
		{"null key on a compacted topic", good, ValidateOptions{RequireKeys: true}, ErrInvalid},
		{"offset deltas not 0,1,2", func() []byte {
			recs := testRecords(3)
			recs[1].OffsetDelta = 5
			recs[2].OffsetDelta = 2
			b, _ := Build(&Batch{ProducerID: -1, BaseSequence: -1, Records: recs})
			return b
		}(), ValidateOptions{}, ErrInvalid},
		// Kafka: "Incorrect declared batch size, premature EOF reached",
		// INVALID_RECORD.
		{"header claims more records than the body holds", edit(func(b []byte) {
			binary.BigEndian.PutUint32(b[57:], 4)
			binary.BigEndian.PutUint32(b[23:], 3)
		}), ValidateOptions{}, ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Validate(c.batch, c.opt); !errors.Is(err, c.want) {
				t.Fatalf("Validate = %v, want %v", err, c.want)
			}
		})
	}
	// A control batch is fine where the broker allows it.
	ctl := edit(func(b []byte) { b[22] |= AttrControl })
	if _, err := Validate(ctl, ValidateOptions{AllowControl: true}); err != nil {
		t.Fatalf("control batch with AllowControl: %v", err)
	}
}

func TestFieldsOutsideCRC(t *testing.T) {
	b := testBatch(t, CodecNone, 2)
	SetBaseOffset(b, 12345)
	SetLeaderEpoch(b, 99)
	if !CRCValid(b) {
		t.Fatal("stamping base offset and leader epoch broke the CRC")
	}
	h, _ := ParseHeader(b)
	if h.BaseOffset != 12345 || h.LeaderEpoch != 99 {
		t.Fatalf("stamped header %+v", h)
	}
	SetLogAppendTime(b, 5555)
	h, _ = ParseHeader(b)
	if !CRCValid(b) || h.MaxTimestamp != 5555 || h.Attributes&AttrLogAppendTime == 0 {
		t.Fatalf("SetLogAppendTime: CRC valid %v, header %+v", CRCValid(b), h)
	}
}

func TestSplit(t *testing.T) {
	a, b := testBatch(t, CodecNone, 2), testBatch(t, CodecGzip, 3)
	buf := append(append(append([]byte(nil), a...), b...), a[:30]...)
	var got [][]byte
	n, err := Split(buf, func(x []byte) error { got = append(got, x); return nil })
	if err != nil || n != len(a)+len(b) || len(got) != 2 || !bytes.Equal(got[0], a) || !bytes.Equal(got[1], b) {
		t.Fatalf("Split consumed %d of %d, %d batches, %v", n, len(buf), len(got), err)
	}
	bad := append([]byte(nil), a...)
	binary.BigEndian.PutUint32(bad[8:], 3)
	if _, err := Split(bad, func([]byte) error { return nil }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Split of a tiny length: %v, want ErrInvalid", err)
	}
}

// legacyMessage encodes one magic 0 or 1 message with offset and size.
func legacyMsg(magic, attrs int8, ts int64, key, value []byte) []byte {
	var m []byte
	m = append(m, 0, 0, 0, 0, byte(magic), byte(attrs))
	if magic == 1 {
		m = binary.BigEndian.AppendUint64(m, uint64(ts))
	}
	for _, f := range [][]byte{key, value} {
		if f == nil {
			m = binary.BigEndian.AppendUint32(m, 0xffffffff)
		} else {
			m = binary.BigEndian.AppendUint32(m, uint32(len(f)))
			m = append(m, f...)
		}
	}
	binary.BigEndian.PutUint32(m, crc32.ChecksumIEEE(m[4:]))
	out := binary.BigEndian.AppendUint64(nil, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(len(m)))
	return append(out, m...)
}

func TestUpConvert(t *testing.T) {
	set := append(legacyMsg(1, 0, 2000, []byte("a"), []byte("one")), legacyMsg(1, 0, 2500, nil, []byte("two"))...)
	b, err := UpConvert(set, 0)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Validate(b, ValidateOptions{})
	if err != nil {
		t.Fatalf("up-converted batch does not validate: %v", err)
	}
	if h.FirstTimestamp != 2000 || h.MaxTimestamp != 2500 || h.NumRecords != 2 || h.ProducerID != -1 {
		t.Fatalf("up-converted header %+v", h)
	}
	sameRecords(t, collect(t, b), []Record{
		{OffsetDelta: 0, TimestampDelta: 0, Key: []byte("a"), Value: []byte("one")},
		{OffsetDelta: 1, TimestampDelta: 500, Value: []byte("two")},
	})
	// A gzip wrapper holding magic 0 messages.
	inner := append(legacyMsg(0, 0, 0, nil, []byte("x")), legacyMsg(0, 0, 0, []byte("k"), []byte("y"))...)
	z, err := Compress(CodecGzip, inner)
	if err != nil {
		t.Fatal(err)
	}
	b, err = UpConvert(legacyMsg(0, int8(CodecGzip), 0, nil, z), 0)
	if err != nil {
		t.Fatal(err)
	}
	if recs := collect(t, b); len(recs) != 2 || string(recs[1].Value) != "y" || string(recs[1].Key) != "k" {
		t.Fatalf("up-converted compressed set: %+v", recs)
	}
	// Bad CRC and truncation are refused.
	bad := legacyMsg(1, 0, 1, nil, []byte("v"))
	bad[len(bad)-1] ^= 1
	if _, err := UpConvert(bad, 0); !errors.Is(err, ErrCRC) {
		t.Fatalf("legacy message with a bad CRC: %v, want ErrCRC", err)
	}
	if _, err := UpConvert(set[:len(set)-2], 0); !errors.Is(err, ErrShort) {
		t.Fatalf("truncated legacy set: %v, want ErrShort", err)
	}
}

// Every keyless record of a batch for a compacted topic is named, not
// only the first (KIP-467), and the error is INVALID_RECORD.
func TestValidateNamesEveryKeylessRecord(t *testing.T) {
	b := &Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	for i := range 5 {
		r := Record{OffsetDelta: int32(i), Value: []byte("v")}
		if i != 1 && i != 3 {
			r.Key = []byte("k")
		}
		b.Records = append(b.Records, r)
	}
	for _, codec := range []int8{CodecNone, CodecGzip} {
		b.Codec = codec
		data, err := Build(b)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Validate(data, ValidateOptions{RequireKeys: true, Partition: "t-0"})
		var re *RecordErrors
		if !errors.As(err, &re) {
			t.Fatalf("codec %d: %v, want *RecordErrors", codec, err)
		}
		if len(re.Errors) != 2 || re.Errors[0].Index != 1 || re.Errors[1].Index != 3 {
			t.Fatalf("codec %d: %+v, want records 1 and 3", codec, re.Errors)
		}
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, kerr.InvalidRecord) || errors.Is(err, kerr.InvalidTimestamp) {
			t.Fatalf("codec %d: %v matches the wrong errors", codec, err)
		}
		want := "One or more records have been rejected due to 2 record errors in total, and only showing the first three errors at most: " +
			"[RecordError(batchIndex=1, message='Compacted topic cannot accept message without key in topic partition t-0.'), " +
			"RecordError(batchIndex=3, message='Compacted topic cannot accept message without key in topic partition t-0.')]"
		if err.Error() != want {
			t.Fatalf("message %q\nwant    %q", err.Error(), want)
		}
		if _, err := Validate(data, ValidateOptions{}); err != nil {
			t.Fatalf("codec %d: without RequireKeys: %v", codec, err)
		}
	}
}

// A record with a bad timestamp makes the whole error INVALID_TIMESTAMP;
// a record keeps its first error.
func TestRecordErrorsMerge(t *testing.T) {
	keys := &RecordErrors{}
	keys.Add(2, false, "no key")
	ts := &RecordErrors{}
	ts.Add(2, true, "late")
	ts.Add(0, true, "early")
	all := keys.Merge(ts)
	if len(all.Errors) != 2 || all.Errors[0].Index != 0 || all.Errors[1].Message != "no key" {
		t.Fatalf("merged %+v", all.Errors)
	}
	if !errors.Is(all, kerr.InvalidTimestamp) || all.Error() != "One or more records have been rejected due to invalid timestamp" {
		t.Fatalf("merged error %v", all)
	}
	var none *RecordErrors
	if none.Merge(nil) != nil {
		t.Fatal("nil merged with nil is not nil")
	}
}

// TestEachReadsCompactedBatches: Each reads a batch whose offset deltas
// rise with gaps, as compaction leaves them (Rebuild keeps the last offset
// delta), and still refuses deltas that repeat, fall or pass the last one.
func TestEachReadsCompactedBatches(t *testing.T) {
	for _, codec := range []int8{CodecNone, CodecGzip} {
		build := func(deltas ...int32) []byte {
			var recs []Record
			for _, d := range deltas {
				recs = append(recs, Record{OffsetDelta: d, Key: []byte{byte('a' + d)}, Value: []byte("v")})
			}
			h := Header{BaseOffset: 100, FirstTimestamp: 1, MaxTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, LastOffsetDelta: 3, Attributes: int16(codec)}
			b, err := Rebuild(&h, recs)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		var got []int32
		if err := Each(build(1, 3), func(r *Record) error { got = append(got, r.OffsetDelta); return nil }); err != nil || fmt.Sprint(got) != "[1 3]" {
			t.Fatalf("codec %d: read deltas %v, %v; want [1 3]", codec, got, err)
		}
		for _, bad := range [][]int32{{1, 1}, {2, 1}, {0, 4}, {-1, 0}} {
			if err := Each(build(bad...), func(*Record) error { return nil }); !errors.Is(err, ErrInvalid) {
				t.Fatalf("codec %d: deltas %v read with %v, want ErrInvalid", codec, bad, err)
			}
		}
	}
}

// TestValidateFindsTimestampDeltas: Validate reports the range of the
// records' timestamp deltas, read by the fast and the careful record check
// alike, so that the produce path checks timestamps without reading the
// records again.
func TestValidateFindsTimestampDeltas(t *testing.T) {
	for _, codec := range []int8{CodecNone, CodecLZ4} {
		b, err := Build(&Batch{Codec: codec, FirstTimestamp: 1000, MaxTimestamp: 1000 + 100000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
			Records: []Record{{OffsetDelta: 0, Value: []byte("a")}, {OffsetDelta: 1, TimestampDelta: -5, Value: []byte("b")},
				{OffsetDelta: 2, TimestampDelta: 100000, Value: []byte("c")}, {OffsetDelta: 3, TimestampDelta: 7, Value: make([]byte, 9000)}}})
		if err != nil {
			t.Fatal(err)
		}
		var d TimestampDeltas
		if _, err := Validate(b, ValidateOptions{TimestampDeltas: &d}); err != nil {
			t.Fatal(err)
		}
		if !d.Seen || d.Min != -5 || d.Max != 100000 {
			t.Fatalf("codec %d: timestamp deltas %+v, want -5 to 100000", codec, d)
		}
	}
}
