package broker

// Unit tests of the API handlers on an in-process broker (harness_test.go).

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
)

func fetchReq(topic string, partition int32, offset int64, maxBytes int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 0, maxBytes
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = partition, offset, maxBytes, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// batchBases lists the base offsets of the batches in data.
func batchBases(t *testing.T, data []byte) []int64 {
	t.Helper()
	var out []int64
	if _, err := records.Split(data, func(b []byte) error {
		h, err := records.ParseHeader(b)
		out = append(out, h.BaseOffset)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestProduceAndFetch(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("t", 2, nil)
	// Recent timestamps: a segment rolls when its first batch is older
	// than segment.ms, as in Kafka.
	now := time.Now().UnixMilli()
	if base := tb.produce("t", 0, batch(t, now, "a", "b", "c")); base != 0 {
		t.Fatalf("first batch at %d", base)
	}
	if base := tb.produce("t", 0, batch(t, now, "d")); base != 3 {
		t.Fatalf("second batch at %d", base)
	}

	cases := []struct {
		name   string
		topic  string
		offset int64
		code   int16
		bases  []int64
	}{
		{"from the start", "t", 0, 0, []int64{0, 3}},
		// A fetch inside a batch gets the whole batch; the client skips
		// what it did not ask for (PITFALLS 7a).
		{"inside the first batch", "t", 1, 0, []int64{0, 3}},
		{"at the high watermark", "t", 4, 0, nil},
		{"past the log end", "t", 5, kerr.OffsetOutOfRange.Code, nil},
		{"unknown topic", "nope", 0, kerr.UnknownTopicOrPartition.Code, nil},
	}
	for _, tc := range cases {
		resp := tb.call(fetchReq(tc.topic, 0, tc.offset, 1<<20)).(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("%s: a full fetch response must carry every requested partition: %+v", tc.name, resp.Topics)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != tc.code {
			t.Errorf("%s: error %v, want %v", tc.name, kerr.ErrorForCode(p.ErrorCode), kerr.ErrorForCode(tc.code))
			continue
		}
		if tc.code == 0 && (p.HighWatermark != 4 || p.LastStableOffset != 4 || p.LogStartOffset != 0) {
			t.Errorf("%s: hw %d lso %d log start %d, want 4 4 0", tc.name, p.HighWatermark, p.LastStableOffset, p.LogStartOffset)
		}
		if got := batchBases(t, p.RecordBatches); len(got) != len(tc.bases) || (len(got) > 0 && got[0] != tc.bases[0]) {
			t.Errorf("%s: batches at %v, want %v", tc.name, got, tc.bases)
		}
	}
	// KIP-74: a first batch larger than max bytes is returned anyway.
	resp := tb.call(fetchReq("t", 0, 0, 1)).(*kmsg.FetchResponse)
	if got := batchBases(t, resp.Topics[0].Partitions[0].RecordBatches); len(got) != 1 {
		t.Errorf("fetch with max bytes 1: batches %v, want the first one", got)
	}
}

func TestListOffsets(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("t", 1, nil)
	tb.produce("t", 0, batch(t, 1000, "a", "b"))
	tb.produce("t", 0, batch(t, 5000, "c"))
	tb.produce("t", 0, batch(t, 3000, "d"))
	cases := []struct {
		name   string
		ts     int64
		offset int64
	}{
		{"latest", -1, 4},
		{"earliest", -2, 0},
		{"max timestamp", -3, 2},
		{"first at or after 2000", 2000, 2},
		{"first at or after 1000", 1000, 0},
		{"after every record", 9000, -1},
	}
	for _, tc := range cases {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = 0, tc.ts, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		p := tb.call(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.Offset != tc.offset {
			t.Errorf("%s: offset %d (%v), want %d", tc.name, p.Offset, kerr.ErrorForCode(p.ErrorCode), tc.offset)
		}
	}
}

// A new leader whose high watermark lags the log end it took over (its
// followers have not fetched yet) answers LATEST, and a lookup finding an
// offset at or past the high watermark, with OFFSET_NOT_AVAILABLE
// (LEADER_NOT_AVAILABLE before v5), as Kafka's fetchOffsetForTimestamp:
// the client retries rather than take an end offset that goes back.
func TestListOffsetsWhileHighWatermarkLags(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("t", 1, nil)
	tb.produce("t", 0, batch(t, 1000, "a", "b"))
	tb.produce("t", 0, batch(t, 5000, "c", "d"))
	p := tb.Topic("t").Partition(0)
	// As a leader elected with offsets 2-3 not yet known committed.
	p.mu.Lock()
	p.rs.EpochStart, p.rs.HW = 4, 2
	p.hw.Store(2)
	p.mu.Unlock()
	list := func(ts int64, version int16) kmsg.ListOffsetsResponseTopicPartition {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = 0, ts, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return tb.callAt(req, version).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	}
	for _, c := range []struct {
		name    string
		ts      int64
		version int16
		err     error
		offset  int64
	}{
		{"latest", -1, 9, kerr.OffsetNotAvailable, -1},
		{"latest at v4", -1, 4, kerr.LeaderNotAvailable, -1},
		{"earliest", -2, 9, nil, 0},
		{"a timestamp below the high watermark", 1000, 9, nil, 0},
		{"a timestamp found past the high watermark", 5000, 9, kerr.OffsetNotAvailable, -1},
		{"the max timestamp, past the high watermark", -3, 9, kerr.OffsetNotAvailable, -1},
		{"a timestamp after every record", 9000, 9, nil, -1},
	} {
		got := list(c.ts, c.version)
		if err := kerr.ErrorForCode(got.ErrorCode); err != c.err || got.Offset != c.offset {
			t.Errorf("%s: offset %d (%v), want %d (%v)", c.name, got.Offset, err, c.offset, c.err)
		}
	}
	// Once the followers' fetches move the high watermark past it, the
	// end offset is served.
	p.mu.Lock()
	p.rs.HW = 4
	p.hw.Store(4)
	p.mu.Unlock()
	if got := list(-1, 9); got.ErrorCode != 0 || got.Offset != 4 {
		t.Errorf("latest once caught up: offset %d (%v), want 4", got.Offset, kerr.ErrorForCode(got.ErrorCode))
	}
}

func TestDeleteRecords(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("t", 1, nil)
	tb.createTopic("compacted", 1, map[string]string{"cleanup.policy": "compact"})
	tb.produce("t", 0, batch(t, 1000, "a", "b", "c"))
	del := func(topic string, offset int64) kmsg.DeleteRecordsResponseTopicPartition {
		req := kmsg.NewPtrDeleteRecordsRequest()
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = 0, offset
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return tb.call(req).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]
	}
	if p := del("t", 4); p.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Errorf("delete beyond the high watermark: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := del("compacted", -1); p.ErrorCode != kerr.PolicyViolation.Code {
		t.Errorf("delete on a compacted topic: %v, want POLICY_VIOLATION", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := del("t", 2); p.ErrorCode != 0 || p.LowWatermark != 2 {
		t.Fatalf("delete below 2: low watermark %d (%v)", p.LowWatermark, kerr.ErrorForCode(p.ErrorCode))
	}
	if p := tb.call(fetchReq("t", 0, 1, 1<<20)).(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != -1 {
		t.Errorf("fetch below the new log start: %v, log start %d (want -1: an error carries no offsets, as in Kafka)", kerr.ErrorForCode(p.ErrorCode), p.LogStartOffset)
	}
	if p := del("t", -1); p.ErrorCode != 0 || p.LowWatermark != 3 {
		t.Errorf("delete up to the high watermark: low watermark %d (%v)", p.LowWatermark, kerr.ErrorForCode(p.ErrorCode))
	}
}

func TestOffsetForLeaderEpochHandler(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("t", 1, nil)
	tb.produce("t", 0, batch(t, 1000, "a", "b"))
	epoch := tb.Partition("t", 0).LeaderEpoch()
	ask := func(leaderEpoch, current int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.CurrentLeaderEpoch = 0, leaderEpoch, current
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return tb.call(req).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
	}
	if p := ask(epoch, epoch); p.ErrorCode != 0 || p.LeaderEpoch != epoch || p.EndOffset != 2 {
		t.Errorf("current epoch: %d/%d (%v), want %d/2", p.LeaderEpoch, p.EndOffset, kerr.ErrorForCode(p.ErrorCode), epoch)
	}
	if p := ask(epoch, epoch+1); p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Errorf("a client ahead of the leader: %v, want UNKNOWN_LEADER_EPOCH", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := ask(epoch+5, -1); p.ErrorCode != 0 || p.LeaderEpoch != -1 || p.EndOffset != -1 {
		t.Errorf("an epoch newer than any: %d/%d, want -1/-1", p.LeaderEpoch, p.EndOffset)
	}
}

func TestDescribeProducersHandler(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("t", 1, nil)
	b := &records.Batch{FirstTimestamp: 1, MaxTimestamp: 1, ProducerID: 77, ProducerEpoch: 2, BaseSequence: 0,
		Records: []records.Record{{Value: []byte("a")}, {OffsetDelta: 1, Value: []byte("b")}}}
	data, err := records.Build(b)
	if err != nil {
		t.Fatal(err)
	}
	tb.produce("t", 0, data)
	req := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0, 7}
	req.Topics = append(req.Topics, rt)
	ps := tb.call(req).(*kmsg.DescribeProducersResponse).Topics[0].Partitions
	if len(ps) != 2 || ps[0].ErrorCode != 0 || len(ps[0].ActiveProducers) != 1 {
		t.Fatalf("producers: %+v", ps)
	}
	if ap := ps[0].ActiveProducers[0]; ap.ProducerID != 77 || ap.ProducerEpoch != 2 || ap.LastSequence != 1 || ap.CurrentTxnStartOffset != -1 {
		t.Errorf("producer 77: %+v", ap)
	}
	if ps[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("partition 7 of a one-partition topic: %v", kerr.ErrorForCode(ps[1].ErrorCode))
	}
}

// Metadata topics by version (PITFALLS 5): v0's empty list is every
// topic; from v1 a null list is every topic and an empty one none.
// Topic ids in Metadata came with v12: at v10-11 a topic named by id (or
// without a name) makes the request invalid, every topic INVALID_REQUEST,
// as Kafka's handleTopicMetadataRequest answers; v12 finds it by id.
func TestMetadataTopicIDsBeforeV12(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("a", 1, nil)
	id := tb.Topic("a").ID
	byID := kmsg.NewMetadataRequestTopic()
	byID.TopicID = id
	byName := kmsg.NewMetadataRequestTopic()
	byName.Topic = kmsg.StringPtr("a")
	for _, v := range []int16{10, 11} {
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{byName, byID}
		mt := tb.callAt(req, v).(*kmsg.MetadataResponse).Topics
		if len(mt) != 2 || mt[0].ErrorCode != kerr.InvalidRequest.Code || mt[1].ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("v%d naming a topic by id: %+v, want every topic INVALID_REQUEST", v, mt)
		}
	}
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{byID}
	mt := tb.callAt(req, 12).(*kmsg.MetadataResponse).Topics
	if len(mt) != 1 || mt[0].ErrorCode != 0 || mt[0].Topic == nil || *mt[0].Topic != "a" {
		t.Errorf("v12 by id: %+v, want topic a", mt)
	}
}

func TestMetadataTopicListByVersion(t *testing.T) {
	tb := newTestBroker(t, map[string]string{"auto.create.topics.enable": "false"})
	tb.createTopic("a", 1, nil)
	tb.createTopic("b", 1, nil)
	count := func(version int16, topics []kmsg.MetadataRequestTopic) int {
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = topics
		return len(tb.callAt(req, version).(*kmsg.MetadataResponse).Topics)
	}
	if n := count(0, []kmsg.MetadataRequestTopic{}); n != 2 {
		t.Errorf("v0 with no topics: %d topics, want all 2", n)
	}
	if n := count(1, nil); n != 2 {
		t.Errorf("v1 with a null list: %d topics, want all 2", n)
	}
	if n := count(1, []kmsg.MetadataRequestTopic{}); n != 0 {
		t.Errorf("v1 with an empty list: %d topics, want none", n)
	}
	missing := kmsg.NewMetadataRequestTopic()
	name := "missing"
	missing.Topic = &name
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(9)
	req.Topics = []kmsg.MetadataRequestTopic{missing}
	req.AllowAutoTopicCreation = true
	if mt := tb.call(req).(*kmsg.MetadataResponse).Topics; len(mt) != 1 || mt[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("a missing topic with auto-creation disabled: %+v", mt)
	}
}

// A leader that is live but has no endpoint on the listener a Metadata
// request came in on is LISTENER_NOT_FOUND at v6+ (LEADER_NOT_AVAILABLE
// before), leader -1, and replicas without the listener are offline to
// that client, as Kafka's getPartitionMetadata answers. Gregor named a
// leader the client could not find among the brokers.
func TestMetadataLeaderWithoutTheListener(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("t", 1, nil)
	p := tb.Topic("t").Partition(0)
	brokers, _ := tb.Brokers()
	for _, c := range []struct {
		listener    string
		listenerErr bool
		want        *kerr.Error
	}{{"PLAINTEXT", true, nil}, {"INTERNAL", true, kerr.ListenerNotFound}, {"INTERNAL", false, kerr.LeaderNotAvailable}} {
		mp := metadataPartition(p, metaView{brokers: brokers, listener: c.listener, listenerErr: c.listenerErr})
		var want int16
		if c.want != nil {
			want = c.want.Code
		}
		if mp.ErrorCode != want {
			t.Errorf("on %s (listener errors %v): %v, want %v", c.listener, c.listenerErr, kerr.ErrorForCode(mp.ErrorCode), c.want)
		}
		if c.want != nil && (mp.Leader != -1 || len(mp.OfflineReplicas) != 1) {
			t.Errorf("on %s: leader %d, offline %v; want -1 and the replica offline", c.listener, mp.Leader, mp.OfflineReplicas)
		}
	}
}
