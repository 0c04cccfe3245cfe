package compat

// Hostile input on raw TCP against the broker's own process: oversized and
// garbage frames, unknown API keys and versions, corrupt record batches.
// Each gets the proper Kafka error or a closed connection and a log line;
// stored data never changes and the process keeps serving.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

const badMaxRequest = 102400 // socket.request.max.bytes for these tests

// badBroker is a broker with one topic holding a few records.
type badBroker struct {
	b     *brokertest.Broker
	topic string
	hwm   int64
	recs  []ccRecord
}

func startBadBroker(t *testing.T) *badBroker {
	t.Helper()
	b := brokertest.Start(t, brokertest.Options{Dir: t.TempDir(), Set: map[string]string{
		"socket.request.max.bytes": "102400",
	}})
	bb := &badBroker{b: b, topic: randomName("badinput")}
	ccCreateTopic(t, b.Addr, bb.topic, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(bb.topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, kgo.StringRecord("good-"+string(rune('a'+i)))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	bb.recs = ccKgoRead(t, ctx, b.Addr, bb.topic, 1)
	bb.hwm = int64(len(bb.recs))
	if bb.hwm != 10 {
		t.Fatalf("setup: %d records stored, want 10", bb.hwm)
	}
	return bb
}

// check asserts the process runs, answers ApiVersions on a new connection,
// and still holds exactly the records it held (high watermark unchanged,
// every record readable).
func (bb *badBroker) check(t *testing.T, after string) {
	t.Helper()
	if code := bb.b.ExitCode(); code != -1 {
		t.Fatalf("after %s: gregor exited with code %d\n%s", after, code, bb.b.Logs(4<<10))
	}
	c := badDial(t, bb.b.Addr)
	defer c.Close()
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := badRoundTrip(c, 77, req, resp); err != nil {
		t.Fatalf("after %s: ApiVersions on a new connection: %v", after, err)
	}
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("after %s: ApiVersions error %d with %d keys", after, resp.ErrorCode, len(resp.ApiKeys))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if h := bb.highWatermark(t, ctx); h != bb.hwm {
		t.Errorf("after %s: high watermark %d, want %d", after, h, bb.hwm)
	}
	ccCheckSame(t, "records after "+after, bb.recs, ccKgoRead(t, ctx, bb.b.Addr, bb.topic, 1))
}

func (bb *badBroker) highWatermark(t *testing.T, ctx context.Context) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bb.b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, bb.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("listing end offsets: %v", err)
	}
	o, _ := ends.Lookup(bb.topic, 0)
	return o.Offset
}

// logMentions waits (bounded) for the broker's log to contain one of subs,
// case-insensitively.
func (bb *badBroker) logMentions(t *testing.T, what string, subs ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs := strings.ToLower(bb.b.Logs(1 << 20))
		for _, s := range subs {
			if strings.Contains(logs, strings.ToLower(s)) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("the broker's log does not mention %s (none of %q); last lines:\n%s", what, subs, bb.b.Logs(2<<10))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func badDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	return c
}

// badFrame frames a request by hand: size, then header v1 (key, version,
// correlation id, client id) or v2 (plus an empty tag section), then body.
func badFrame(key, version int16, corr int32, flexible bool, body []byte) []byte {
	var h []byte
	h = binary.BigEndian.AppendUint16(h, uint16(key))
	h = binary.BigEndian.AppendUint16(h, uint16(version))
	h = binary.BigEndian.AppendUint32(h, uint32(corr))
	h = binary.BigEndian.AppendUint16(h, uint16(len("badinput")))
	h = append(h, "badinput"...)
	if flexible {
		h = append(h, 0)
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(len(h)+len(body)))
	return append(append(out, h...), body...)
}

// badRoundTrip writes req (non-flexible header unless the request is
// flexible; ApiVersions responses always have header v0) and reads resp.
func badRoundTrip(c net.Conn, corr int32, req kmsg.Request, resp kmsg.Response) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	frame := badFrame(req.Key(), req.GetVersion(), corr, req.IsFlexible(), req.AppendTo(nil))
	if _, err := c.Write(frame); err != nil {
		return err
	}
	body, gotCorr, err := badReadResponse(c)
	if err != nil {
		return err
	}
	if gotCorr != corr {
		return errors.New("correlation id mismatch")
	}
	if req.IsFlexible() && req.Key() != 18 {
		if len(body) == 0 || body[0] != 0 {
			return errors.New("flexible response header without an empty tag section")
		}
		body = body[1:]
	}
	resp.SetVersion(req.GetVersion())
	return resp.ReadFrom(body)
}

func badReadResponse(c net.Conn) (body []byte, corr int32, err error) {
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, 0, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 64<<20 {
		return nil, 0, errors.New("bad response size")
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		return nil, 0, err
	}
	return b[4:], int32(binary.BigEndian.Uint32(b)), nil
}

// expectClosed waits for the broker to close c: a read ends in EOF or a
// reset, not in the read deadline.
func expectClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err == nil {
			t.Errorf("%s: the broker answered %d bytes instead of closing the connection", what, n)
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: the connection is still open after 10s", what)
		}
		return
	}
}

// badBatch returns a valid magic-2 batch of n uncompressed records.
func badBatch(n int, prefix string) []byte {
	var recs []byte
	for i := 0; i < n; i++ {
		r := kmsg.Record{OffsetDelta: int32(i), Key: []byte(prefix), Value: []byte(prefix + "-value")}
		var body []byte
		body = append(body, 0)              // attributes
		body = binary.AppendVarint(body, 0) // timestamp delta
		body = binary.AppendVarint(body, int64(r.OffsetDelta))
		body = binary.AppendVarint(body, int64(len(r.Key)))
		body = append(body, r.Key...)
		body = binary.AppendVarint(body, int64(len(r.Value)))
		body = append(body, r.Value...)
		body = binary.AppendVarint(body, 0) // headers
		recs = binary.AppendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(n - 1),
		FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(n), Records: recs,
	}
	raw := b.AppendTo(nil)
	badFix(raw)
	return raw
}

// badFix sets a batch's length and CRC-32C from its bytes.
func badFix(raw []byte) {
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
}

// badProduce sends one batch to partition 0 with Produce v8 (acks=-1) on c
// and returns the partition's error code and base offset.
func (bb *badBroker) badProduce(t *testing.T, c net.Conn, corr int32, batch []byte) (int16, int64) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(8)
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = bb.topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = 0
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrProduceResponse()
	if err := badRoundTrip(c, corr, req, resp); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response with %d topics", len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset
}

func TestBadInput(t *testing.T) {
	bb := startBadBroker(t)
	addr := bb.b.Addr

	t.Run("OversizedFrame", func(t *testing.T) {
		for _, size := range []uint32{badMaxRequest + 1, 0x7fffffff, 0xffffffff, 3} {
			c := badDial(t, addr)
			var b []byte
			b = binary.BigEndian.AppendUint32(b, size)
			b = append(b, bytes.Repeat([]byte{0}, 64)...)
			c.Write(b)
			expectClosed(t, c, "a frame claiming "+strconv.FormatInt(int64(int32(size)), 10)+" bytes")
			c.Close()
		}
		bb.logMentions(t, "the oversized request", "socket.request.max.bytes")
		bb.check(t, "oversized frames")
	})

	t.Run("GarbageBody", func(t *testing.T) {
		bodies := map[string][]byte{
			// Produce v8: null transactional id, then one byte of acks.
			"a produce body cut short": {0xff, 0xff, 0x01},
			// Produce v8: acks, timeout, then a topic array claiming
			// 2^31-1 entries that are not there.
			"a produce body with a huge array count": {0xff, 0xff, 0xff, 0xff, 0, 0, 0x13, 0x88, 0x7f, 0xff, 0xff, 0xff},
			// Produce v8: a topic name claiming 32767 bytes.
			"a produce body with a long string length": {0xff, 0xff, 0xff, 0xff, 0, 0, 0x13, 0x88, 0, 0, 0, 1, 0x7f, 0xff, 'x'},
		}
		for what, body := range bodies {
			c := badDial(t, addr)
			c.Write(badFrame(0, 8, 1, false, body))
			// Kafka closes the connection on a request it cannot parse.
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if resp, _, err := badReadResponse(c); err == nil {
				// An error response is acceptable too, if it is one.
				var pr kmsg.ProduceResponse
				pr.SetVersion(8)
				if perr := pr.ReadFrom(resp); perr != nil || !badHasError(&pr) {
					t.Errorf("%s: answered with a response that reports no error", what)
				}
			} else if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("%s: neither answered nor closed within 10s", what)
			}
			c.Close()
		}
		// A frame too short for a request header.
		c := badDial(t, addr)
		c.Write([]byte{0, 0, 0, 8, 0, 3, 0, 1, 0, 0, 0, 9})
		expectClosed(t, c, "a frame with a truncated header")
		c.Close()
		bb.logMentions(t, "the undecodable request", "decoding", "decode", "parse")
		bb.check(t, "garbage bodies")
	})

	t.Run("UnknownAPIKey", func(t *testing.T) {
		for _, key := range []int16{9999, 0x7fff, -1} {
			c := badDial(t, addr)
			c.Write(badFrame(key, 0, 5, false, []byte{0, 0, 0, 0}))
			expectClosed(t, c, "api key "+strconv.FormatInt(int64(key), 10))
			c.Close()
		}
		bb.logMentions(t, "the unknown api key", "unknown")
		bb.check(t, "unknown api keys")
	})

	t.Run("UnsupportedVersion", func(t *testing.T) {
		// KIP-511: ApiVersions at a version not served (newer, or
		// negative) is answered in v0 with UNSUPPORTED_VERSION and
		// ApiVersions' own range only, as Kafka's
		// ApiVersionsRequest.getErrorResponse builds it.
		// v5 (KIP-1242) is unstable in Kafka 4.x: not served, and the
		// answer's range stops at v4.
		for _, v := range []int16{127, 5, -1} {
			name := "ApiVersions v" + strconv.Itoa(int(v))
			c := badDial(t, addr)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write(badFrame(18, v, 42, true, []byte{0, 0, 0}))
			body, corr, err := badReadResponse(c)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if corr != 42 {
				t.Errorf("%s: correlation %d, want 42", name, corr)
			}
			var avr kmsg.ApiVersionsResponse
			avr.SetVersion(0)
			if err := avr.ReadFrom(body); err != nil {
				t.Fatalf("%s: the answer does not decode as v0: %v", name, err)
			}
			if avr.ErrorCode != kerr.UnsupportedVersion.Code {
				t.Errorf("%s: error %d, want UNSUPPORTED_VERSION (35)", name, avr.ErrorCode)
			}
			if len(avr.ApiKeys) != 1 || avr.ApiKeys[0].ApiKey != 18 || avr.ApiKeys[0].MinVersion != 0 || avr.ApiKeys[0].MaxVersion != 4 {
				t.Errorf("%s: answer's keys %+v, want ApiVersions' own range only, v0-v4", name, avr.ApiKeys)
			}
			// The connection stays usable: a v0 ApiVersions on it works.
			req := kmsg.NewPtrApiVersionsRequest()
			req.SetVersion(0)
			if err := badRoundTrip(c, 43, req, kmsg.NewPtrApiVersionsResponse()); err != nil {
				t.Errorf("ApiVersions v0 after the fallback on the same connection: %v", err)
			}
			c.Close()
		}

		// Any other key at an unserved version closes the connection.
		for _, kv := range [][2]int16{{3, 200}, {0, 99}} {
			c := badDial(t, addr)
			c.Write(badFrame(kv[0], kv[1], 6, false, []byte{0, 0, 0, 0}))
			expectClosed(t, c, kmsg.NameForKey(kv[0])+" v"+strconv.FormatInt(int64(kv[1]), 10))
			c.Close()
		}
		bb.logMentions(t, "the unsupported version", "unsupported version")
		bb.check(t, "unsupported versions")
	})

	t.Run("CorruptBatches", func(t *testing.T) {
		c := badDial(t, addr)
		defer c.Close()
		valid := badBatch(3, "corrupt")
		cases := []struct {
			name  string
			batch []byte
			codes []int16 // acceptable error codes
		}{
			{"a flipped CRC byte", badEdit(valid, func(b []byte) []byte { b[17] ^= 0xff; return b }), []int16{kerr.CorruptMessage.Code}},
			{"a flipped value byte under the CRC", badEdit(valid, func(b []byte) []byte { b[len(b)-3] ^= 0x5a; return b }), []int16{kerr.CorruptMessage.Code}},
			// Produce v3+ must carry magic 2: Kafka answers INVALID_RECORD.
			{"magic 1 in produce v8", badEdit(valid, func(b []byte) []byte { b[16] = 1; return b }), []int16{kerr.InvalidRecord.Code, kerr.CorruptMessage.Code}},
			{"unknown magic 7", badEdit(valid, func(b []byte) []byte { b[16] = 7; return b }), []int16{kerr.CorruptMessage.Code, kerr.InvalidRecord.Code}},
			{"a batch cut short of its length", badEdit(valid, func(b []byte) []byte { return b[:len(b)-10] }), []int16{kerr.CorruptMessage.Code, kerr.InvalidRecord.Code}},
			{"a batch shorter than a batch header", valid[:40], []int16{kerr.CorruptMessage.Code, kerr.InvalidRecord.Code}},
			{"fewer records than the header counts (CRC valid)", badEdit(valid, func(b []byte) []byte {
				binary.BigEndian.PutUint32(b[57:], 4) // NumRecords
				binary.BigEndian.PutUint32(b[23:], 3) // LastOffsetDelta
				badFix(b)
				return b
			}), []int16{kerr.CorruptMessage.Code, kerr.InvalidRecord.Code}},
			{"a record truncated inside the batch (CRC valid)", badEdit(valid, func(b []byte) []byte {
				b = b[:len(b)-5]
				badFix(b)
				return b
			}), []int16{kerr.CorruptMessage.Code, kerr.InvalidRecord.Code}},
		}
		corr := int32(100)
		for _, tc := range cases {
			corr++
			code, base := bb.badProduce(t, c, corr, tc.batch)
			if !badCodeIn(code, tc.codes) {
				t.Errorf("%s: error %d (%v), want one of %v", tc.name, code, kerr.ErrorForCode(code), tc.codes)
			}
			if code != 0 && base != -1 {
				t.Errorf("%s: rejected with base offset %d, want -1", tc.name, base)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if h := bb.highWatermark(t, ctx); h != bb.hwm {
				t.Errorf("%s: high watermark moved from %d to %d", tc.name, bb.hwm, h)
			}
			cancel()
		}
		bb.logMentions(t, "the corrupt record batch", "crc", "corrupt")
		bb.check(t, "corrupt batches")

		// The same connection still serves: a valid batch goes in at the
		// old high watermark.
		code, base := bb.badProduce(t, c, corr+1, valid)
		if code != 0 || base != bb.hwm {
			t.Fatalf("valid batch after the corrupt ones: error %d, base offset %d, want 0 and %d", code, base, bb.hwm)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		got := ccKgoRead(t, ctx, addr, bb.topic, 1)
		if len(got) != int(bb.hwm)+3 {
			t.Fatalf("%d records after the valid batch, want %d", len(got), bb.hwm+3)
		}
		for _, r := range got[bb.hwm:] {
			if string(r.K) != "corrupt" || string(r.V) != "corrupt-value" {
				t.Errorf("offset %d: %q=%q, want the valid batch's record", r.O, r.K, r.V)
			}
		}
		bb.recs, bb.hwm = got, int64(len(got))
		bb.check(t, "a valid batch after corrupt ones")
	})
}

func badEdit(b []byte, f func([]byte) []byte) []byte { return f(append([]byte(nil), b...)) }

func badCodeIn(c int16, codes []int16) bool {
	for _, x := range codes {
		if c == x {
			return true
		}
	}
	return false
}

func badHasError(r *kmsg.ProduceResponse) bool {
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return true
			}
		}
	}
	return false
}
