package compat

// Hostile producers against the broker's own process: raw Produce requests
// (built with kmsg, sent on a plain TCP connection) carrying record batches
// with a valid CRC whose records are not what a consumer can read: garbage
// or truncated compressed data with every codec, headers counting records
// the body does not hold, duplicate or out-of-order offset deltas, keyless
// records on a compacted topic, legacy wrappers of garbage, decompression
// bombs. Each must be refused with Kafka's code and take no offsets; after
// each, a canary topic written before the probes reads back intact, and a
// consumer of the target partition reads everything acknowledged, a valid
// batch sent after the probe included (a stored bad batch used to stop
// consumers there for good). The bombs must not move the broker's memory
// much: they are refused having decoded at most the topic's limit
// (gregor.decompression.max.ratio x max.message.bytes = 16 MiB here).
//
// Gregor only: Apache Kafka rewrites a compressed batch's out-of-order
// offset deltas instead of refusing them, and has no decompression limit.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

// hrRSSGrowthBound is how much the broker's resident memory may grow over
// the bomb probes. Before produce decompressed batches to check them, a
// zstd bomb was stored and the cleaner inflated it on every pass at 1.5 GB.
const hrRSSGrowthBound = 96 << 20

// recordProbe is a broker under attack and what it must keep serving.
type recordProbe struct {
	b      *brokertest.Broker
	conn   net.Conn
	corr   int32
	canary string
	canRec []ccRecord
	acked  map[string][]ccRecord // target topic -> every acknowledged record
	serial int
}

func TestHostileRecords(t *testing.T) {
	if !usingGregor() {
		t.Skip("checks gregor's own process (its memory), and Kafka accepts some of these batches")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"log.cleaner.backoff.ms": "200"}})
	h := &recordProbe{b: b, canary: randomName("hostile-canary"), acked: map[string][]ccRecord{}}
	plain, compacted := randomName("hostile-plain"), randomName("hostile-compacted")
	h.setup(t, plain, compacted)
	h.conn = badDial(t, b.Addr)
	defer func() { h.conn.Close() }()

	codecs := []struct {
		name string
		id   int8
	}{{"gzip", 1}, {"snappy", 2}, {"snappy-xerial", 2}, {"lz4", 3}, {"zstd", 4}}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			good := hrCompress(t, c.name, hrRecords(seq32(4), hrKey("g")))
			cases := []struct {
				name  string
				topic string
				batch []byte
				want  *kerr.Error
			}{
				{"garbage instead of compressed data", plain, hrBatch(c.id, 4, hrGarbage(c.name)), kerr.CorruptMessage},
				{"compressed data cut short", plain, hrBatch(c.id, 4, good[:len(good)*2/3]), kerr.CorruptMessage},
				{"header counts 5 records, body holds 2", plain, hrBatch(c.id, 5, hrCompress(t, c.name, hrRecords(seq32(2), hrKey("x")))), kerr.InvalidRecord},
				{"header counts 2 records, body holds 3", plain, hrBatch(c.id, 2, hrCompress(t, c.name, hrRecords(seq32(3), hrKey("x")))), kerr.InvalidRecord},
				{"duplicate offset deltas", plain, hrBatch(c.id, 3, hrCompress(t, c.name, hrRecords([]int32{0, 0, 1}, hrKey("x")))), kerr.InvalidRecord},
				{"offset deltas out of order", plain, hrBatch(c.id, 3, hrCompress(t, c.name, hrRecords([]int32{0, 2, 1}, hrKey("x")))), kerr.InvalidRecord},
				{"a keyless record on a compacted topic", compacted, hrBatch(c.id, 3, hrCompress(t, c.name, hrRecords(seq32(3), func(i int) []byte {
					if i == 2 {
						return nil
					}
					return []byte("k" + strconv.Itoa(i))
				}))), kerr.InvalidRecord},
			}
			for _, tc := range cases {
				h.probe(t, c.name+": "+tc.name, tc.topic, 8, tc.batch, tc.want, c.id)
			}
		})
	}

	t.Run("uncompressed", func(t *testing.T) {
		h.probe(t, "header counts 5 records, body holds 2", plain, 8, hrBatch(0, 5, hrRecords(seq32(2), hrKey("x"))), kerr.InvalidRecord, 0)
		h.probe(t, "duplicate offset deltas", plain, 8, hrBatch(0, 3, hrRecords([]int32{0, 1, 1}, hrKey("x"))), kerr.InvalidRecord, 0)
	})

	t.Run("legacy", func(t *testing.T) {
		// Produce v2 carries magic 0/1 message sets; a compressed
		// wrapper whose value does not decompress is CORRUPT_MESSAGE.
		for _, magic := range []int8{0, 1} {
			for _, c := range codecs[:4] {
				name := fmt.Sprintf("magic %d %s wrapper of garbage", magic, c.name)
				h.probe(t, name, plain, 2, hrLegacy(magic, c.id, hrGarbage(c.name)), kerr.CorruptMessage, 0)
			}
		}
	})

	t.Run("bombs", func(t *testing.T) {
		before := hrRSS(t, b)
		probes := []struct {
			name  string
			topic string
			batch []byte
			want  *kerr.Error
		}{
			// One well-formed record of 1 GiB of zeros: its length passes
			// the limit, which is checked against what the stream holds.
			{"zstd, one record of 1 GiB", compacted, hrBatch(4, 1, hrBomb(t, "zstd", 1<<30, false)), kerr.MessageTooLarge},
			{"gzip, 64 Ki records of 1 KiB", plain, hrBatch(1, 64<<10, hrBomb(t, "gzip", 64<<20, true)), kerr.MessageTooLarge},
			{"lz4, one record of 64 MiB", compacted, hrBatch(3, 1, hrBomb(t, "lz4", 64<<20, false)), kerr.MessageTooLarge},
			// Zeros are no records: refused at the first one.
			{"zstd, 1 GiB of zeros", compacted, hrBatch(4, 1, hrZeros(t, 1<<30)), kerr.InvalidRecord},
		}
		peak := before
		for _, p := range probes {
			t.Logf("%s: %d bytes on the wire", p.name, len(p.batch))
			if len(p.batch) >= 1048588 {
				t.Fatalf("%s: %d bytes is not under max.message.bytes: the bomb would be refused for its size", p.name, len(p.batch))
			}
			h.probe(t, p.name, p.topic, 8, p.batch, p.want, 0)
			peak = max(peak, hrRSS(t, b))
		}
		time.Sleep(time.Second) // cleaner passes over the compacted topic
		peak = max(peak, hrRSS(t, b))
		t.Logf("broker RSS %d MiB before the bombs, at most %d MiB after them (bound: +%d MiB)", before>>20, peak>>20, hrRSSGrowthBound>>20)
		if peak > before+hrRSSGrowthBound {
			t.Errorf("the bombs grew the broker's RSS from %d MiB to %d MiB, over the %d MiB bound", before>>20, peak>>20, hrRSSGrowthBound>>20)
		}
	})

	if logs := strings.ToLower(b.Logs(1 << 20)); strings.Contains(logs, "unexpected error answered as a storage") {
		t.Errorf("a bad batch was answered as a storage error:\n%s", b.Logs(4<<10))
	}
}

// setup creates the canary and target topics and writes what must survive.
func (h *recordProbe) setup(t *testing.T, plain, compacted string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	s := func(v string) *string { return &v }
	for topic, cfg := range map[string]map[string]*string{
		h.canary: nil, plain: nil,
		compacted: {"cleanup.policy": s("compact"), "internal.segment.bytes": s("4096"), "min.cleanable.dirty.ratio": s("0.01")},
	} {
		if resp, err := adm.CreateTopic(ctx, 1, 1, cfg, topic); err != nil || resp.Err != nil {
			t.Fatalf("creating %s: %v %v", topic, err, resp.Err)
		}
	}
	var recs []*kgo.Record
	for i := 0; i < 50; i++ {
		recs = append(recs, &kgo.Record{Topic: h.canary, Key: []byte(fmt.Sprintf("canary-%d", i)), Value: bytes.Repeat([]byte{byte('a' + i%26)}, 100+i)})
	}
	pc, err := kgo.NewClient(kgo.SeedBrokers(h.b.Addr), kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	h.canRec = ccKgoRead(t, ctx, h.b.Addr, h.canary, 1)
	if len(h.canRec) != 50 {
		t.Fatalf("canary holds %d records, want 50", len(h.canRec))
	}
}

// probe sends batch to partition 0 of topic with Produce version (acks
// all) and asserts it is refused with want and stored nothing; then that
// the canary reads back intact and that a valid batch (compressed as
// codec) is acknowledged right after what was there, and the partition
// reads back everything acknowledged.
func (h *recordProbe) probe(t *testing.T, name, topic string, version int16, batch []byte, want *kerr.Error, codec int8) {
	t.Helper()
	hwm := int64(len(h.acked[topic]))
	code, base := h.produce(t, topic, version, batch)
	if code != want.Code {
		t.Errorf("%s: error %d (%v), want %d (%s)", name, code, kerr.ErrorForCode(code), want.Code, want.Message)
	}
	if code != 0 && base != -1 {
		t.Errorf("%s: refused with base offset %d, want -1", name, base)
	}
	if code == 0 {
		t.Fatalf("%s: a bad batch was acknowledged at offset %d", name, base)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ccCheckSame(t, "canary after "+name, h.canRec, ccKgoRead(t, ctx, h.b.Addr, h.canary, 1))

	h.serial++
	var recs []ccRecord
	for i := 0; i < 3; i++ {
		recs = append(recs, ccRecord{P: 0, O: hwm + int64(i), K: []byte(fmt.Sprintf("ok-%d-%d", h.serial, i)), V: hrValue})
	}
	body := hrRecords(seq32(3), func(i int) []byte { return recs[i].K })
	if codec != 0 {
		body = hrCompress(t, map[int8]string{1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}[codec], body)
	}
	code, base = h.produce(t, topic, 8, hrBatch(codec, 3, body))
	if code != 0 || base != hwm {
		t.Fatalf("%s: a valid batch after it: error %d (%v), base offset %d; want 0 at %d", name, code, kerr.ErrorForCode(code), base, hwm)
	}
	h.acked[topic] = append(h.acked[topic], recs...)
	ccCheckSame(t, topic+" after "+name, h.acked[topic], ccKgoRead(t, ctx, h.b.Addr, topic, 1))
}

// produce sends one partition's records on the probe connection (a new
// one if the broker closed it) and returns the error code and base offset.
func (h *recordProbe) produce(t *testing.T, topic string, version int16, records []byte) (int16, int64) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(version)
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrProduceResponse()
	h.corr++
	if err := badRoundTrip(h.conn, h.corr, req, resp); err != nil {
		t.Errorf("produce to %s: %v (reconnecting)", topic, err)
		h.conn.Close()
		h.conn = badDial(t, h.b.Addr)
		return -1, -1
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response with %d topics", len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset
}

// hrRSS reads the broker's resident set size from /proc.
func hrRSS(t *testing.T, b *brokertest.Broker) uint64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.Pid()))
	if err != nil {
		t.Fatalf("reading the broker's status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in the broker's status")
	return 0
}

func seq32(n int) []int32 {
	d := make([]int32, n)
	for i := range d {
		d[i] = int32(i)
	}
	return d
}

func hrKey(prefix string) func(int) []byte {
	return func(i int) []byte { return []byte(prefix + strconv.Itoa(i)) }
}

var hrValue = bytes.Repeat([]byte("value "), 40)

// hrRecords encodes records with the given offset deltas (v2 record
// format), keys from key (nil: null) and a fixed value.
func hrRecords(deltas []int32, key func(int) []byte) []byte {
	var out []byte
	for i, d := range deltas {
		var r []byte
		r = append(r, 0)                     // attributes
		r = binary.AppendVarint(r, int64(i)) // timestamp delta
		r = binary.AppendVarint(r, int64(d)) // offset delta
		if k := key(i); k == nil {
			r = binary.AppendVarint(r, -1)
		} else {
			r = binary.AppendVarint(r, int64(len(k)))
			r = append(r, k...)
		}
		r = binary.AppendVarint(r, int64(len(hrValue)))
		r = append(r, hrValue...)
		r = binary.AppendVarint(r, 0) // headers
		out = binary.AppendVarint(out, int64(len(r)))
		out = append(out, r...)
	}
	return out
}

// hrCompress compresses body as a client does: snappy raw (librdkafka,
// franz-go) or in xerial framing (the Java client).
func hrCompress(t *testing.T, codec string, body []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch codec {
	case "gzip":
		w := gzip.NewWriter(&buf)
		w.Write(body)
		w.Close()
	case "snappy":
		return snappy.Encode(nil, body)
	case "snappy-xerial":
		return hrXerial(body, 1024)
	case "lz4":
		w := lz4.NewWriter(&buf)
		w.Write(body)
		w.Close()
	case "zstd":
		w, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body)
		w.Close()
	default:
		t.Fatalf("codec %q", codec)
	}
	return buf.Bytes()
}

func hrXerial(body []byte, block int) []byte {
	out := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
	for len(body) > 0 {
		n := min(block, len(body))
		enc := snappy.Encode(nil, body[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(enc)))
		out = append(out, enc...)
		body = body[n:]
	}
	return out
}

// hrGarbage is not valid data for codec, though it starts like it (magic
// bytes, a frame header) where the codec has one.
func hrGarbage(codec string) []byte {
	junk := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0x13}, 200)
	switch codec {
	case "gzip":
		return append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, junk...)
	case "lz4":
		return append([]byte{0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7}, junk...)
	case "zstd":
		return append([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58}, junk...)
	case "snappy-xerial":
		out := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
		out = binary.BigEndian.AppendUint32(out, uint32(len(junk)))
		return append(out, junk...)
	}
	return junk
}

// hrBatch is a magic 2 batch of codec whose header counts count records,
// holding records as given, with a valid CRC.
func hrBatch(codec int8, count int32, records []byte) []byte {
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: int16(codec), LastOffsetDelta: count - 1,
		FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: count, Records: records,
	}
	raw := b.AppendTo(nil)
	badFix(raw)
	return raw
}

// hrLegacy is a message set of one magic 0 or 1 wrapper message of codec
// whose value is value.
func hrLegacy(magic, codec int8, value []byte) []byte {
	m := []byte{0, 0, 0, 0, byte(magic), byte(codec)}
	if magic == 1 {
		m = binary.BigEndian.AppendUint64(m, uint64(time.Now().UnixMilli()))
	}
	m = binary.BigEndian.AppendUint32(m, 0xffffffff) // null key
	m = binary.BigEndian.AppendUint32(m, uint32(len(value)))
	m = append(m, value...)
	binary.BigEndian.PutUint32(m, crc32.ChecksumIEEE(m[4:]))
	out := binary.BigEndian.AppendUint64(nil, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(len(m)))
	return append(out, m...)
}

// hrBomb compresses, as a stream, records inflating to size bytes: one
// record with a value of zeros, or (many) records of 1 KiB of zeros.
func hrBomb(t *testing.T, codec string, size int64, many bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w interface {
		Write([]byte) (int, error)
		Close() error
	}
	switch codec {
	case "gzip":
		w, _ = gzip.NewWriterLevel(&buf, gzip.BestCompression)
	case "lz4":
		w = lz4.NewWriter(&buf)
	case "zstd":
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedDefault))
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	}
	zeros := make([]byte, 1<<16)
	if many {
		for i := int64(0); i*1024 < size; i++ {
			var r []byte
			r = append(r, 0, 0)
			r = binary.AppendVarint(r, i)
			r = append(r, 2, 'k') // key "k"
			r = binary.AppendVarint(r, 1024)
			r = append(r, zeros[:1024]...)
			r = append(r, 0)
			w.Write(binary.AppendVarint(nil, int64(len(r))))
			w.Write(r)
		}
	} else {
		var head []byte
		vl := len(binary.AppendVarint(nil, size))
		head = binary.AppendVarint(head, 4+int64(vl)+size+1)
		head = append(head, 0, 0, 0)         // attributes, timestamp and offset deltas
		head = binary.AppendVarint(head, -1) // null key
		head = binary.AppendVarint(head, size)
		w.Write(head)
		for n := size; n > 0; n -= int64(len(zeros)) {
			w.Write(zeros[:min(n, int64(len(zeros)))])
		}
		w.Write([]byte{0})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hrZeros is zstd of size zero bytes.
func hrZeros(t *testing.T, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<16)
	for n := size; n > 0; n -= int64(len(zeros)) {
		w.Write(zeros[:min(n, int64(len(zeros)))])
	}
	w.Close()
	return buf.Bytes()
}
