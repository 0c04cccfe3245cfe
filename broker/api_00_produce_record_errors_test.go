package broker

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
)

// produceAt sends one batch at a version and returns the partition's
// answer.
func (tb *testBroker) produceAt(topic string, data []byte, version int16) kmsg.ProduceResponseTopicPartition {
	tb.t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = data
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return tb.callAt(req, version).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

// mixedBatch is a batch of n records at timestamp ts, keyless at the
// indexes in noKey, whose record i has timestamp ts + deltas[i] if given.
func mixedBatch(t *testing.T, ts int64, n int, noKey []int, deltas map[int]int64) []byte {
	t.Helper()
	b := &records.Batch{FirstTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	for i := range n {
		r := records.Record{OffsetDelta: int32(i), Key: []byte(fmt.Sprint("k", i)), Value: []byte("v"), TimestampDelta: deltas[i]}
		for _, j := range noKey {
			if i == j {
				r.Key = nil
			}
		}
		b.Records = append(b.Records, r)
	}
	data, err := records.Build(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func errorIndexes(sp kmsg.ProduceResponseTopicPartition) []int32 {
	var out []int32
	for _, r := range sp.ErrorRecords {
		out = append(out, r.RelativeOffset)
	}
	return out
}

// Keyless records on a compacted topic: Produce v8+ names each (KIP-467)
// with Kafka's messages; older versions get the code alone; nothing of
// the batch is written.
func TestProduceRecordErrorsNameKeylessRecords(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("compacted", 1, map[string]string{"cleanup.policy": "compact"})
	now := time.Now().UnixMilli()
	data := mixedBatch(t, now, 6, []int{1, 4}, nil)
	sp := tb.produceAt("compacted", data, 9)
	if sp.ErrorCode != kerr.InvalidRecord.Code || fmt.Sprint(errorIndexes(sp)) != "[1 4]" {
		t.Fatalf("v9: error %v, record errors %v; want INVALID_RECORD naming records 1 and 4", kerr.ErrorForCode(sp.ErrorCode), errorIndexes(sp))
	}
	wantMsg := "Compacted topic cannot accept message without key in topic partition compacted-0."
	if m := sp.ErrorRecords[0].ErrorMessage; m == nil || *m != wantMsg {
		t.Fatalf("record error message %v, want %q", m, wantMsg)
	}
	if sp.ErrorMessage == nil || !strings.HasPrefix(*sp.ErrorMessage, "One or more records have been rejected due to 2 record errors in total") {
		t.Fatalf("partition error message %v", sp.ErrorMessage)
	}
	sp = tb.produceAt("compacted", data, 7)
	if sp.ErrorCode != kerr.InvalidRecord.Code || len(sp.ErrorRecords) != 0 {
		t.Fatalf("v7: error %v with %d record errors; want INVALID_RECORD alone", kerr.ErrorForCode(sp.ErrorCode), len(sp.ErrorRecords))
	}
	if leo := tb.Topic("compacted").Partition(0).LogEndOffset(); leo != 0 {
		t.Fatalf("log end %d after refused batches, want 0", leo)
	}
	// The valid records alone are written.
	if sp := tb.produceAt("compacted", mixedBatch(t, now, 4, nil, nil), 9); sp.ErrorCode != 0 {
		t.Fatalf("valid batch: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
}

// Timestamps out of message.timestamp.before/after.max.ms: each record
// named, INVALID_TIMESTAMP; a keyless record is named for its key only.
func TestProduceRecordErrorsNameBadTimestamps(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("ts", 1, map[string]string{"cleanup.policy": "compact", "message.timestamp.before.max.ms": "3600000"})
	now := time.Now().UnixMilli()
	day := int64(24 * time.Hour / time.Millisecond)
	data := mixedBatch(t, now, 5, []int{3}, map[int]int64{2: -day, 3: -day})
	sp := tb.produceAt("ts", data, 10)
	if sp.ErrorCode != kerr.InvalidTimestamp.Code || fmt.Sprint(errorIndexes(sp)) != "[2 3]" {
		t.Fatalf("error %v, record errors %v; want INVALID_TIMESTAMP naming records 2 and 3", kerr.ErrorForCode(sp.ErrorCode), errorIndexes(sp))
	}
	if m := *sp.ErrorRecords[0].ErrorMessage; !strings.HasPrefix(m, fmt.Sprintf("Timestamp %d of message with offset 2 is out of range.", now-day)) {
		t.Fatalf("record 2's message %q", m)
	}
	if m := *sp.ErrorRecords[1].ErrorMessage; !strings.HasPrefix(m, "Compacted topic cannot accept message without key") {
		t.Fatalf("record 3's message %q, want its key's", m)
	}
	if *sp.ErrorMessage != "One or more records have been rejected due to invalid timestamp" {
		t.Fatalf("partition error message %q", *sp.ErrorMessage)
	}
}

// TestProduceLogAppendTimeBatch: a producer's batch marked log-append-time
// is refused (INVALID_TIMESTAMP, each record named) on a LogAppendTime
// topic, and on a CreateTime topic only when it has no max timestamp;
// otherwise a CreateTime topic takes it, checks its max timestamp as each
// record's, and stores it as CreateTime, as Kafka's
// LogValidator.validateTimestamp and in-place assignment do. Before, it
// was refused on every CreateTime topic and stored as it came on a
// LogAppendTime one.
func TestProduceLogAppendTimeBatch(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("ct", 1, map[string]string{"message.timestamp.before.max.ms": "3600000"})
	tb.createTopic("lat", 1, map[string]string{"message.timestamp.type": "LogAppendTime"})
	now := time.Now().UnixMilli()
	latBatch := func(maxTs int64) []byte {
		b := mixedBatch(t, now, 2, nil, nil)
		binary.BigEndian.PutUint16(b[21:], binary.BigEndian.Uint16(b[21:])|records.AttrLogAppendTime)
		binary.BigEndian.PutUint64(b[35:], uint64(maxTs))
		binary.BigEndian.PutUint32(b[17:], records.Checksum(b))
		return b
	}
	for _, c := range []struct {
		topic string
		maxTs int64
		want  error
	}{
		{"lat", now, kerr.InvalidTimestamp},
		{"ct", -1, kerr.InvalidTimestamp},
		{"ct", now - 2*3600000, kerr.InvalidTimestamp}, // its max timestamp is out of range
		{"ct", now, nil},
	} {
		sp := tb.produceAt(c.topic, latBatch(c.maxTs), 9)
		if got := kerr.ErrorForCode(sp.ErrorCode); got != c.want {
			t.Fatalf("log-append-time batch with max timestamp %d to %s: %v, want %v", c.maxTs, c.topic, got, c.want)
		}
		if c.want != nil && fmt.Sprint(errorIndexes(sp)) != "[0 1]" {
			t.Fatalf("log-append-time batch with max timestamp %d to %s names records %v, want [0 1]", c.maxTs, c.topic, errorIndexes(sp))
		}
	}
	resp := tb.fetch(sessionFetchReq(-1, -1, 1<<20, "ct", map[int32]int64{0: 0}))
	data := resp.Topics[0].Partitions[0].RecordBatches
	h, err := records.ParseHeader(data)
	if err != nil || h.NumRecords != 2 || h.Attributes&records.AttrLogAppendTime != 0 || h.MaxTimestamp != now || !records.CRCValid(data[:h.Size()]) {
		t.Fatalf("stored batch %+v (%v), want 2 records marked CreateTime with max timestamp %d and a valid CRC", h, err, now)
	}
}

// TestProduceBatchBaseOffsetNotZero: a client's v2 batch must start at
// offset 0, as Kafka's UnifiedLog.analyzeAndValidateRecords checks before
// the size and the CRC: INVALID_RECORD, with no error message (Kafka's
// ReplicaManager answers its message only for record errors). Before,
// any base offset was taken (and overwritten).
func TestProduceBatchBaseOffsetNotZero(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("bo", 1, map[string]string{"max.message.bytes": "70"})
	b := mixedBatch(t, time.Now().UnixMilli(), 3, nil, nil)
	binary.BigEndian.PutUint64(b, 5)
	if len(b) <= 70 {
		t.Fatalf("test batch of %d bytes should exceed max.message.bytes", len(b))
	}
	b[20] ^= 1 // a bad CRC too: the base offset is checked first, then the size
	sp := tb.produceAt("bo", b, 9)
	if sp.ErrorCode != kerr.InvalidRecord.Code || sp.ErrorMessage != nil {
		t.Fatalf("batch at base offset 5: %v (%v), want INVALID_RECORD with no message", kerr.ErrorForCode(sp.ErrorCode), sp.ErrorMessage)
	}
}

// A malformed batch is logged with its topic's name, whether the request
// named the topic (v12) or gave only its id (v13, KIP-516).
func TestRejectedBatchLogNamesTopic(t *testing.T) {
	tb := newTestBroker(t, nil)
	var logged strings.Builder
	tb.badInput = zerolog.New(&logged)
	tb.createTopic("bad-crc", 1, nil)
	data := mixedBatch(t, time.Now().UnixMilli(), 2, nil, nil)
	data[len(data)-1] ^= 0xff // the CRC no longer matches
	id := tb.Topic("bad-crc").ID
	for _, version := range []int16{12, 13} {
		logged.Reset()
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		if version >= 13 {
			rt.TopicID = id
		} else {
			rt.Topic = "bad-crc"
		}
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = data
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		sp := tb.callAt(req, version).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if sp.ErrorCode != kerr.CorruptMessage.Code {
			t.Fatalf("v%d: error %v, want CORRUPT_MESSAGE", version, kerr.ErrorForCode(sp.ErrorCode))
		}
		if !strings.Contains(logged.String(), `"topic":"bad-crc"`) {
			t.Errorf("v%d: the rejected batch's log line does not name the topic: %s", version, logged.String())
		}
	}
}

// A record from the future on a topic with the default
// message.timestamp.before.max.ms (Long.MAX_VALUE) is named with Kafka's
// bounds, computed in Java's long arithmetic: the lower one is now less
// Long.MAX_VALUE, not now less the 292 years a time.Duration holds.
func TestBadTimestampMessageBoundsAsKafka(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("ts-bounds", 1, map[string]string{"message.timestamp.after.max.ms": "1000"})
	start := time.Now().UnixMilli()
	data := mixedBatch(t, start+3_600_000, 1, nil, nil)
	sp := tb.produceAt("ts-bounds", data, 10)
	end := time.Now().UnixMilli()
	if sp.ErrorCode != kerr.InvalidTimestamp.Code || len(sp.ErrorRecords) != 1 {
		t.Fatalf("error %v, record errors %v; want INVALID_TIMESTAMP naming record 0", kerr.ErrorForCode(sp.ErrorCode), errorIndexes(sp))
	}
	m := *sp.ErrorRecords[0].ErrorMessage
	var ts, off, lo, hi int64
	if _, err := fmt.Sscanf(m, "Timestamp %d of message with offset %d is out of range. The timestamp should be within [%d, %d]", &ts, &off, &lo, &hi); err != nil {
		t.Fatalf("message %q: %v", m, err)
	}
	if lo < start-math.MaxInt64 || lo > end-math.MaxInt64 || hi < start+1000 || hi > end+1000 {
		t.Fatalf("message %q: bounds [%d, %d], want [now - %d, now + 1000] for now in [%d, %d]", m, lo, hi, int64(math.MaxInt64), start, end)
	}
}
