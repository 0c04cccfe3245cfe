package storage

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/rs/zerolog"

	"gregor/broker/records"
)

// withRawBody returns batch with its records replaced by body, sent as
// codec, its header counting count records, length and CRC fixed: what a
// hostile producer wrote before produce decompressed batches to check
// them, or what a replica copied.
func withRawBody(batch []byte, codec int8, count int32, body []byte) []byte {
	out := append(append([]byte(nil), batch[:records.HeaderSize]...), body...)
	be := binary.BigEndian
	be.PutUint16(out[21:], be.Uint16(out[21:])&^records.AttrCodecMask|uint16(codec))
	be.PutUint32(out[23:], uint32(count-1))
	be.PutUint32(out[57:], uint32(count))
	be.PutUint32(out[8:], uint32(len(out)-12))
	be.PutUint32(out[17:], records.Checksum(out))
	return out
}

// zstdBomb is a zstd stream of one well-formed record with a value of size
// zero bytes.
func zstdBomb(t *testing.T, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		t.Fatal(err)
	}
	var head []byte
	vl := len(binary.AppendVarint(nil, size))
	head = binary.AppendVarint(head, 4+int64(vl)+size+1) // record length
	head = append(head, 0)                               // attributes
	head = binary.AppendVarint(head, 0)                  // timestamp delta
	head = binary.AppendVarint(head, 0)                  // offset delta
	head = binary.AppendVarint(head, -1)                 // null key
	head = binary.AppendVarint(head, size)
	w.Write(head)
	zeros := make([]byte, 1<<16)
	for n := size; n > 0; n -= int64(len(zeros)) {
		w.Write(zeros[:min(n, int64(len(zeros)))])
	}
	w.Write([]byte{0}) // no headers
	w.Close()
	return buf.Bytes()
}

// TestCompactKeepsUndecodableBatches: a batch whose records cannot be read
// (garbage in a zstd body with a valid CRC, a zstd bomb inflating past the
// limit) is kept as it is, with a warning; the rest is compacted, the pass
// does not fail (it used to, and was retried forever at 1.5 GB), and it
// costs about the limit in memory, not what the bomb inflates to.
func TestCompactKeepsUndecodableBatches(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 300
	logs := &syncBuf{}
	l, err := Open(OSFS{}, dir, cfg, OpenOptions{}, zerolog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Now()
	ts := now.UnixMilli()
	appendKV(t, l, ts, -1, false, kv{key: "a", val: "a1"}, kv{key: "b", val: "b1"})
	tmpl := buildBatch(t, l.NextOffset(), 1, ts, 1)
	garbage := withRawBody(tmpl, records.CodecZstd, 2, append([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0x58}, bytes.Repeat([]byte{0xde, 0xad}, 300)...))
	mustAppend(t, l, garbage)
	tmpl = buildBatch(t, l.NextOffset(), 1, ts, 1)
	bomb := withRawBody(tmpl, records.CodecZstd, 1, zstdBomb(t, 256<<20))
	mustAppend(t, l, bomb)
	appendKV(t, l, ts, -1, false, kv{key: "a", val: "a2"}, kv{key: "b", val: "b2"})
	for range 4 {
		appendKV(t, l, ts, -1, false, kv{key: "filler", val: "f"})
	}
	end := l.NextOffset()
	opt := CompactOptions{Now: now, Uncleanable: end, DeleteRetention: time.Hour, MaxUncompressed: 1 << 20}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := l.Compact(opt)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("compaction failed on undecodable batches: %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Errorf("compacting past a 256 MiB zstd bomb allocated %d bytes", alloc)
	} else {
		t.Logf("compaction allocated %d bytes", alloc)
	}
	if res.Undecodable != 2 || res.RecordsGone < 2 {
		t.Fatalf("compaction result %+v: want 2 undecodable batches kept, a1 and b1 gone", res)
	}
	var kept [][]byte
	readAllRaw(t, l, func(b []byte) {
		if bytes.Equal(b, garbage) || bytes.Equal(b, bomb) {
			kept = append(kept, b)
		}
		if h, _ := records.ParseHeader(b); h.BaseOffset == 0 {
			t.Errorf("the batch of a1, b1 survived compaction")
		}
	})
	if len(kept) != 2 {
		t.Fatalf("%d of the 2 undecodable batches kept byte for byte", len(kept))
	}
	if !strings.Contains(logs.String(), "cannot be read") {
		t.Errorf("no warning about the kept batches; logs:\n%s", logs.String())
	}
	// The next pass has nothing to do: no error, no retry.
	res, err = l.Compact(opt)
	if err != nil || res.Segments != 0 {
		t.Fatalf("second pass: %+v, %v", res, err)
	}
}

// readAllRaw calls fn with every batch of the log.
func readAllRaw(t *testing.T, l *Log, fn func([]byte)) {
	t.Helper()
	for _, b := range readAll(t, l) {
		fn(b)
	}
}
