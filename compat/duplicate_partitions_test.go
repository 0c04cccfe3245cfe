package compat

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// dpClient is a client on a new 3-partition topic, with Produce, Fetch
// and ListOffsets at versions that name topics (Produce v12, Fetch v12),
// sending to the partitions' leader, broker-wise.
func dpClient(t *testing.T) (*kgo.Client, string, context.Context) {
	t.Helper()
	v := kversion.Stable()
	v.SetMaxKeyVersion(0, 12) // Produce
	v.SetMaxKeyVersion(1, 12) // Fetch
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)), kgo.MaxVersions(v))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	topic := randomName("dup-parts")
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	awaitLeadersEverywhere(ctx, t, cl, topic, 3) // on a cluster, a moment apart
	return cl, topic, ctx
}

// leaderOf0 is the broker leading partition 0 of topic.
func leaderOf0(t *testing.T, ctx context.Context, cl *kgo.Client, topic string) *kgo.Broker {
	t.Helper()
	// The client sends only to brokers its own metadata knows (in a
	// cluster, the leader may not be the seed it has met so far), and a
	// broker named leader may not have taken the partition over yet: it
	// is the leader once it answers ListOffsets for the partition.
	var leader *kgo.Broker
	waitFor(t, "partition 0's leader to be known to the client and to answer for the partition", 10*time.Second, func() bool {
		md, err := kadm.NewClient(cl).Metadata(ctx, topic)
		if err != nil {
			return false
		}
		p, ok := md.Topics[topic].Partitions[0]
		if !ok || p.Leader < 0 {
			return false
		}
		leader = cl.Broker(int(p.Leader))
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = 0, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, leader)
		if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			cl.ForceMetadataRefresh()
			return false
		}
		return true
	})
	return leader
}

// A Metadata request naming one topic many times is answered with the
// topic once, as Kafka takes the requested topics as a set: repeated, a
// 60 KB request asked for a 250 MB answer, and a few such requests ran
// the broker out of memory.
func TestMetadataRepeatedTopicAnsweredOnce(t *testing.T) {
	cl, topic, ctx := dpClient(t)
	req := kmsg.NewPtrMetadataRequest()
	for range 5000 {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != topic || len(resp.Topics[0].Partitions) != 3 {
		t.Fatalf("Metadata naming %s 5,000 times answered %d topics, want it once with its 3 partitions", topic, len(resp.Topics))
	}
}

// A Produce naming a partition more than once appends once, the last
// entry's records, and answers the partition once, as Kafka's produce
// (which reads the request into a map by partition) does; Gregor appended
// every copy.
func TestProduceRepeatedPartitionAppendsLast(t *testing.T) {
	cl, topic, ctx := dpClient(t)
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	for _, v := range []string{"first", "second", "last"} {
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = tcBatch(-1, -1, -1, v)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	kresp, err := leaderOf0(t, ctx, cl, topic).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("a produce naming partition 0 three times answered %+v; want one topic with one partition, no error", resp.Topics)
	}
	recs := readAllPartition0(t, ctx, cl, topic)
	if len(recs) != 1 || recs[0] != "last" {
		t.Fatalf("partition 0 holds %q, want only the last entry's record", recs)
	}
}

// readAllPartition0 consumes partition 0 of topic from the start to its
// end.
func readAllPartition0(t *testing.T, ctx context.Context, cl *kgo.Client, topic string) []string {
	t.Helper()
	offs, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := offs.Lookup(topic, 0)
	c, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []string
	for int64(len(out)) < end.Offset {
		fs := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %s: %v after %d of %d records", topic, err, len(out), end.Offset)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	return out
}

// A Fetch naming a partition more than once reads it once, as Kafka's
// (a map by partition); Gregor returned the same records once per copy,
// up to fetch.max.bytes.
func TestFetchRepeatedPartitionReadOnce(t *testing.T) {
	cl, topic, ctx := dpClient(t)
	if code := produceRawTo0(t, cl, topic, tcBatch(-1, -1, -1, "v")); code != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(code))
	}
	leader := leaderOf0(t, ctx, cl, topic)
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes = -1, 1<<20
	for range 100 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	kresp, err := leader.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.FetchResponse)
	n := 0
	for _, rt := range resp.Topics {
		n += len(rt.Partitions)
	}
	if resp.ErrorCode != 0 || n != 1 {
		t.Fatalf("a fetch naming partition 0 100 times answered %d partitions (%v), want one", n, kerr.ErrorForCode(resp.ErrorCode))
	}
}

// ListOffsets naming a partition more than once answers each of its
// entries INVALID_REQUEST, as Kafka does; the other partitions are
// answered.
func TestListOffsetsRepeatedPartitionInvalid(t *testing.T) {
	cl, topic, ctx := dpClient(t)
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	for _, p := range []int32{0, 1, 0} {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	// Every partition of a one-broker topic has the same leader; in a
	// cluster, the request goes to each partition's leader and partition
	// 1 may not be there, so only the repeated partition is checked.
	kresp, err := leaderOf0(t, ctx, cl, topic).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.ListOffsetsResponse)
	var codes []int16
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.Partition == 0 {
				codes = append(codes, rp.ErrorCode)
			}
		}
	}
	if len(codes) != 2 || codes[0] != kerr.InvalidRequest.Code || codes[1] != kerr.InvalidRequest.Code {
		t.Fatalf("ListOffsets naming partition 0 twice answered its entries %v, want INVALID_REQUEST for both", codes)
	}
}

// A DeleteRecords naming a partition more than once acts on the last
// entry alone and answers the partition once, as Kafka's (a map by
// partition): an invalid last entry deletes nothing though an earlier one
// was valid; Gregor acted on, and answered, every entry.
func TestDeleteRecordsRepeatedPartitionLastWins(t *testing.T) {
	cl, topic, ctx := dpClient(t)
	prod, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for _, v := range []string{"a", "b", "c", "d", "e"} {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	leader := leaderOf0(t, ctx, cl, topic)
	deleteTwice := func(offsets ...int64) []kmsg.DeleteRecordsResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.TimeoutMillis = 10000
		for _, o := range offsets {
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition, rp.Offset = 0, o
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, leader)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 {
			t.Fatalf("DeleteRecords of offsets %v of partition 0 answered %d topics, want 1", offsets, len(resp.Topics))
		}
		return resp.Topics[0].Partitions
	}
	// The valid entry first, the out-of-range one last: nothing deleted.
	ps := deleteTwice(3, 99)
	if len(ps) != 1 || ps[0].ErrorCode != kerr.OffsetOutOfRange.Code || ps[0].LowWatermark != -1 {
		t.Fatalf("DeleteRecords of offsets 3 then 99 answered %+v, want one OFFSET_OUT_OF_RANGE", ps)
	}
	if recs := readAllPartition0(t, ctx, cl, topic); len(recs) != 5 {
		t.Fatalf("after DeleteRecords of offsets 3 then 99, partition 0 holds %q, want all 5 records", recs)
	}
	// The out-of-range entry first, the valid one last: deleted below 3.
	ps = deleteTwice(99, 3)
	if len(ps) != 1 || ps[0].ErrorCode != 0 || ps[0].LowWatermark != 3 {
		t.Fatalf("DeleteRecords of offsets 99 then 3 answered %+v, want one answer, low watermark 3", ps)
	}
	offs, err := kadm.NewClient(cl).ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if start, _ := offs.Lookup(topic, 0); start.Offset != 3 {
		t.Fatalf("partition 0 starts at %d after DeleteRecords of offsets 99 then 3, want 3", start.Offset)
	}
}
