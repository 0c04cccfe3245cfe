package broker

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
)

// legacyFetchReq is a fetch of one partition from offset at version v.
func legacyFetchReq(topic string, partition int32, offset int64, maxBytes int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes = -1, 0, 1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, maxBytes
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// legacyOffsets lists the offsets of the messages of a legacy set, inner
// ones resolved, and checks every magic byte.
func legacyOffsets(t *testing.T, set []byte, magic int8) []int64 {
	t.Helper()
	var out []int64
	for len(set) >= 12 {
		size := int(binary.BigEndian.Uint32(set[8:]))
		if len(set) < 12+size {
			t.Fatalf("partial message: %d of %d bytes", len(set)-12, size)
		}
		msg := set[:12+size]
		set = set[12+size:]
		if int8(msg[16]) != magic {
			t.Fatalf("message magic %d, want %d", msg[16], magic)
		}
		off := int64(binary.BigEndian.Uint64(msg))
		if codec := int8(msg[17]) & records.AttrCodecMask; codec != 0 {
			valueAt := 18 + 4 // attributes, then the null key's length
			if magic == 1 {
				valueAt += 8
			}
			raw, err := records.Decompress(codec, msg[valueAt+4:])
			if err != nil {
				t.Fatal(err)
			}
			inner := legacyOffsets(t, raw, magic)
			if magic == 1 {
				for i := range inner {
					inner[i] += off - inner[len(inner)-1]
				}
			}
			out = append(out, inner...)
			continue
		}
		out = append(out, off)
	}
	return out
}

func wantOffsets(t *testing.T, what string, got []int64, from, to int64) {
	t.Helper()
	if len(got) != int(to-from) || len(got) > 0 && (got[0] != from || got[len(got)-1] != to-1) {
		t.Fatalf("%s: offsets %v, want %d..%d", what, got, from, to-1)
	}
}

func gzipBatch(t *testing.T, values ...string) []byte {
	t.Helper()
	now := time.Now().UnixMilli()
	b := &records.Batch{Codec: records.CodecGzip, FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	for i, v := range values {
		b.Records = append(b.Records, records.Record{OffsetDelta: int32(i), Value: []byte(v)})
	}
	data, err := records.Build(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Fetch v0-3 serve what v2 producers wrote, as magic 0 (v0-1) and magic 1
// (v2-3): uncompressed records from the fetch offset, compressed batches
// whole.
func TestFetchLegacyVersionsDownConvert(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("old", 1, nil)
	// Current timestamps: an old one would roll a segment per batch, and
	// a read returns one segment's batches.
	tb.produce("old", 0, batch(t, time.Now().UnixMilli(), "a", "b", "c"))
	tb.produce("old", 0, gzipBatch(t, "d", "e"))
	for v := int16(0); v <= 3; v++ {
		magic := legacyMagic(v)
		resp := tb.callAt(legacyFetchReq("old", 0, 1, 1<<20), v).(*kmsg.FetchResponse)
		sp := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(sp.ErrorCode); err != nil || sp.HighWatermark != 5 {
			t.Fatalf("v%d: %v, high watermark %d", v, err, sp.HighWatermark)
		}
		wantOffsets(t, fmt.Sprintf("v%d from 1", v), legacyOffsets(t, sp.RecordBatches, magic), 1, 5)
		// Inside the compressed batch: the whole wrapper.
		resp = tb.callAt(legacyFetchReq("old", 0, 4, 1<<20), v).(*kmsg.FetchResponse)
		wantOffsets(t, fmt.Sprintf("v%d from 4", v), legacyOffsets(t, resp.Topics[0].Partitions[0].RecordBatches, magic), 3, 5)
	}
}

// Transaction markers are dropped, and a read that yields only markers
// reads on, so a client whose budget covers nothing but markers still
// progresses.
func TestFetchLegacySkipsMarkers(t *testing.T) {
	tb := newTestBroker(t, map[string]string{"transaction.partition.verification.enable": "false"})
	tb.createTopic("txn", 1, nil)
	p := tb.Topic("txn").Partition(0)
	for i := range 3 {
		now := time.Now().UnixMilli()
		b := &records.Batch{Attributes: records.AttrTransactional, FirstTimestamp: now, MaxTimestamp: now, ProducerID: 9, ProducerEpoch: 0,
			BaseSequence: int32(i), Records: []records.Record{{Value: []byte("aborted")}}}
		data, err := records.Build(b)
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrProduceRequest()
		req.TransactionID, req.Acks, req.TimeoutMillis = kmsg.StringPtr("tx"), -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "txn"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = data
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		if code := tb.callAt(req, 9).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("transactional produce: %v", kerr.ErrorForCode(code))
		}
		if _, err := p.appendMarker(9, 0, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	tb.produce("txn", 0, batch(t, time.Now().UnixMilli(), "after"))
	// Offsets: 0 data, 1 marker, 2 data, 3 marker, 4 data, 5 marker, 6 data.
	resp := tb.callAt(legacyFetchReq("txn", 0, 0, 1<<20), 2).(*kmsg.FetchResponse)
	got := legacyOffsets(t, resp.Topics[0].Partitions[0].RecordBatches, 1)
	if fmt.Sprint(got) != "[0 2 4 6]" {
		t.Fatalf("offsets %v, want the aborted records (read_uncommitted) and no markers: [0 2 4 6]", got)
	}
	// From the first marker with a budget of one small batch.
	resp = tb.callAt(legacyFetchReq("txn", 0, 5, 1), 2).(*kmsg.FetchResponse)
	if got := legacyOffsets(t, resp.Topics[0].Partitions[0].RecordBatches, 1); fmt.Sprint(got) != "[6]" {
		t.Fatalf("from a marker with a one-byte budget: offsets %v, want [6]", got)
	}
}

// message.downconversion.enable=false (topic) or
// log.message.downconversion.enable=false (broker) refuses v0-3 fetches
// with UNSUPPORTED_VERSION; a zstd topic gets UNSUPPORTED_COMPRESSION_TYPE.
func TestFetchLegacyRefusals(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("noconv", 1, map[string]string{"message.downconversion.enable": "false"})
	tb.createTopic("zstd", 1, map[string]string{"compression.type": "zstd"})
	tb.createTopic("conv", 1, nil)
	for _, c := range []struct {
		topic string
		want  error
	}{{"noconv", kerr.UnsupportedVersion}, {"zstd", kerr.UnsupportedCompressionType}, {"conv", nil}} {
		resp := tb.callAt(legacyFetchReq(c.topic, 0, 0, 1<<20), 3).(*kmsg.FetchResponse)
		if got := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); got != c.want {
			t.Errorf("%s: %v, want %v", c.topic, got, c.want)
		}
		// v4+ never converts, so the switch does not apply; but below
		// v10 a consumer cannot read zstd, and Kafka's
		// maybeConvertFetchedData tells it so.
		var want4 error
		if c.topic == "zstd" {
			want4 = kerr.UnsupportedCompressionType
		}
		resp = tb.callAt(legacyFetchReq(c.topic, 0, 0, 1<<20), 4).(*kmsg.FetchResponse)
		if got := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); got != want4 {
			t.Errorf("%s at v4: %v, want %v", c.topic, got, want4)
		}
		resp = tb.callAt(legacyFetchReq(c.topic, 0, 0, 1<<20), 10).(*kmsg.FetchResponse)
		if got := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); got != nil {
			t.Errorf("%s at v10: %v", c.topic, got)
		}
	}
	off := newTestBroker(t, map[string]string{"log.message.downconversion.enable": "false"})
	off.createTopic("t", 1, nil)
	resp := off.callAt(legacyFetchReq("t", 0, 0, 1<<20), 0).(*kmsg.FetchResponse)
	if got := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); got != kerr.UnsupportedVersion {
		t.Errorf("broker-wide off: %v, want UNSUPPORTED_VERSION", got)
	}
	// A topic override turns it back on.
	off.createTopic("on", 1, map[string]string{"message.downconversion.enable": "true"})
	resp = off.callAt(legacyFetchReq("on", 0, 0, 1<<20), 0).(*kmsg.FetchResponse)
	if got := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); got != nil {
		t.Errorf("topic override on a broker with it off: %v", got)
	}
}

// A zstd batch (written by a producer on a topic that keeps the
// producer's codec) cannot be down-converted: a fetch starting at it gets
// UNSUPPORTED_COMPRESSION_TYPE; one starting before it gets what precedes
// it, as Kafka answers.
func TestFetchLegacyZstdBatch(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("mixed", 1, nil)
	now := time.Now().UnixMilli()
	tb.produce("mixed", 0, gzipBatch(t, "a", "b"))
	z := &records.Batch{Codec: records.CodecZstd, FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		Records: []records.Record{{Value: []byte("c")}}}
	data, err := records.Build(z)
	if err != nil {
		t.Fatal(err)
	}
	tb.produce("mixed", 0, data)
	resp := tb.callAt(legacyFetchReq("mixed", 0, 0, 1<<20), 3).(*kmsg.FetchResponse)
	sp := resp.Topics[0].Partitions[0]
	if got := legacyOffsets(t, sp.RecordBatches, 1); sp.ErrorCode != 0 || fmt.Sprint(got) != "[0 1]" {
		t.Fatalf("from 0: error %v, offsets %v; want [0 1]", kerr.ErrorForCode(sp.ErrorCode), got)
	}
	resp = tb.callAt(legacyFetchReq("mixed", 0, 2, 1<<20), 3).(*kmsg.FetchResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnsupportedCompressionType.Code {
		t.Fatalf("from the zstd batch: %v, want UNSUPPORTED_COMPRESSION_TYPE", kerr.ErrorForCode(code))
	}
}
