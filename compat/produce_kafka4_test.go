package compat

// Produce and fetch details found by a review against Kafka 4's
// Partition, ReplicaManager and KafkaApis.

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// createTopicWith creates a topic of one partition with replication
// factor rf (-1: the broker's default) and one config.
func createTopicWith(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, rf int16, key, value string) {
	t.Helper()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, rf, map[string]*string{key: kadm.StringPtr(value)}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
}

// min.insync.replicas above a topic's replication factor is capped at it,
// as Kafka's effectiveMinIsr (3.7+): acks=all produces (the default of
// the Java producer, librdkafka and franz-go) to a topic of one replica
// succeed whatever its min.insync.replicas. Gregor refused every one
// with NOT_ENOUGH_REPLICAS.
func TestAcksAllWithMinISRAboveReplicationFactor(t *testing.T) {
	addr := bootstrap(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := randomName("minisr")
	createTopicWith(ctx, t, cl, topic, 1, "min.insync.replicas", "3")
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("acks=all to a topic of one replica with min.insync.replicas=3: %v", err)
	}
}

// A retried idempotent batch is answered with the original's offsets and
// its max timestamp as the log append time, as Kafka's UnifiedLog.append
// answers a duplicate: on a LogAppendTime topic the producer learns the
// broker's time either way. Gregor answered the retry with -1, and
// clients reported the producer's own timestamp for those records.
func TestDuplicateProduceKeepsLogAppendTime(t *testing.T) {
	addr := bootstrap(t)
	cl := pinnedClient(t, addr, 0, 12) // Produce by topic name
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := randomName("dup-lat")
	createTopicWith(ctx, t, cl, topic, -1, "message.timestamp.type", "LogAppendTime")
	ipr := kmsg.NewPtrInitProducerIDRequest()
	ipr.TransactionTimeoutMillis = -1
	ip, err := ipr.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(ip.ErrorCode)
	}
	if err != nil {
		t.Fatalf("InitProducerId: %v", err)
	}
	leader := leaderOf0(t, ctx, cl, topic)
	batch := haBatchSpec{pid: ip.ProducerID, epoch: ip.ProducerEpoch, seq: 0, value: "dup"}.batch()
	send := func() kmsg.ProduceResponseTopicPartition {
		t.Helper()
		resp, err := produceReq(topic, batch, nil).RequestWith(ctx, leader)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
			t.Fatalf("produce: %v", err)
		}
		return p
	}
	first := send()
	if first.LogAppendTime <= 0 {
		t.Fatalf("first produce to a LogAppendTime topic: log append time %d", first.LogAppendTime)
	}
	again := send()
	if again.BaseOffset != first.BaseOffset || again.LogAppendTime != first.LogAppendTime {
		t.Fatalf("retried batch: offset %d, log append time %d; want the original's %d and %d",
			again.BaseOffset, again.LogAppendTime, first.BaseOffset, first.LogAppendTime)
	}
}

// Fetch below v10 cannot carry zstd: a consumer that old is answered
// UNSUPPORTED_COMPRESSION_TYPE for a zstd topic, as Kafka's
// maybeConvertFetchedData answers, not sent batches it cannot decode.
func TestOldFetchOfZstdTopic(t *testing.T) {
	addr := bootstrap(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := randomName("zstd")
	createTopicWith(ctx, t, cl, topic, -1, "compression.type", "zstd")
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("z")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	leaderID := md.Topics[topic].Partitions[0].Leader
	for _, c := range []struct {
		version int16
		want    error
	}{{9, kerr.UnsupportedCompressionType}, {4, kerr.UnsupportedCompressionType}, {10, nil}} {
		old := pinnedClient(t, addr, 1, c.version)
		defer old.Close()
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 1<<20, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, old.Broker(int(leaderID)))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version != c.version {
			t.Fatalf("sent Fetch v%d, want v%d", resp.Version, c.version)
		}
		p := resp.Topics[0].Partitions[0]
		if got := kerr.ErrorForCode(p.ErrorCode); got != c.want {
			t.Errorf("Fetch v%d of a zstd topic: %v, want %v", c.version, got, c.want)
		}
		if c.want == nil && len(p.RecordBatches) == 0 {
			t.Errorf("Fetch v%d of a zstd topic: no records", c.version)
		}
	}
}

// A fetch naming an unknown topic or partition beside an idle one still
// long-polls for MaxWaitMillis, as Kafka answers those apart from the
// partitions it reads (KafkaApis' "erroneous"); only an error reading a
// partition ends the wait early. Gregor answered at once, and a consumer
// holding one bad partition among idle ones fetched back to back.
func TestFetchLongPollsPastUnknownPartitions(t *testing.T) {
	addr := bootstrap(t)
	cl := pinnedClient(t, addr, 1, 12) // Fetch by topic name
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := randomName("idle")
	createTopic(t, addr, topic, 1)
	leader := leaderOf0(t, ctx, cl, topic)
	const maxWait = 800 * time.Millisecond
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, int32(maxWait/time.Millisecond), 1, 1<<20
	for _, tp := range []struct {
		topic     string
		partition int32
	}{{topic, 0}, {topic, 7}, {randomName("missing"), 0}} {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = tp.topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = tp.partition, 1<<20, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	start := time.Now()
	resp, err := req.RequestWith(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	codes := map[string]int16{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			codes[fmt.Sprintf("%s-%d", rt.Topic, rp.Partition)] = rp.ErrorCode
		}
	}
	if c := codes[topic+"-0"]; c != 0 {
		t.Fatalf("the idle partition: %v", kerr.ErrorForCode(c))
	}
	if c := codes[topic+"-7"]; c != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("an unknown partition: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(c))
	}
	// A lower bound only: the broker may not answer before MaxWaitMillis
	// with nothing to send.
	if took < maxWait*9/10 {
		t.Fatalf("answered after %v with nothing to send, want a long poll of %v", took, maxWait)
	}
}

// A produce error carries an error_message only where Kafka's
// ReplicaManager sets one (hasCustomErrorMessage): records refused one by
// one (KIP-467). For the rest it is null, and the Java producer's
// exception reads the code's own description ("RecordTooLargeException:
// The request included a message larger than the max message size the
// server will accept."). Gregor sent its own text for every error, so
// kafka-console-producer printed "MESSAGE_TOO_LARGE: ..." and Gregor's
// wording where Kafka prints the description.
func TestProduceErrorMessageOnlyForRecordErrors(t *testing.T) {
	addr := bootstrap(t)
	cl := pinnedClient(t, addr, 0, 12)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	small := randomName("msg-small")
	createTopicWith(ctx, t, cl, small, -1, "max.message.bytes", "100")
	compacted := randomName("msg-compact")
	createTopicWith(ctx, t, cl, compacted, -1, "cleanup.policy", "compact")
	produce := func(topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		resp, err := produceReq(topic, batch, nil).RequestWith(ctx, leaderOf0(t, ctx, cl, topic))
		if err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
		return resp.Topics[0].Partitions[0]
	}
	corrupt := tcBatch(-1, -1, -1, "v")
	corrupt[len(corrupt)-1] ^= 1
	for _, c := range []struct {
		what, topic string
		batch       []byte
		want        *kerr.Error
	}{
		{"a batch over max.message.bytes", small, tcBatch(-1, -1, -1, strings.Repeat("x", 200)), kerr.MessageTooLarge},
		{"a batch with a bad CRC", small, corrupt, kerr.CorruptMessage},
	} {
		sp := produce(c.topic, c.batch)
		if sp.ErrorCode != c.want.Code || sp.ErrorMessage != nil {
			t.Errorf("%s: %v with message %q, want %v with none", c.what, kerr.ErrorForCode(sp.ErrorCode), deref(sp.ErrorMessage), c.want)
		}
	}
	sp := produce(compacted, tcBatch(-1, -1, -1, "no key"))
	if want := "One or more records have been rejected due to 1 record errors in total"; sp.ErrorCode != kerr.InvalidRecord.Code || !strings.HasPrefix(deref(sp.ErrorMessage), want) {
		t.Errorf("a keyless record to a compacted topic: %v with message %q, want INVALID_RECORD with %q...", kerr.ErrorForCode(sp.ErrorCode), deref(sp.ErrorMessage), want)
	}
}

// A topic whose compression.type recompresses what producers send does so
// at the topic's compression.gzip.level, compression.lz4.level or
// compression.zstd.level (KIP-390), as Kafka's LogValidator builds the
// batch with LogConfig's compression: a higher level stores the same
// records in fewer bytes. Gregor took the keys but compressed at each
// codec's default, so an operator raising a level saved no disk.
func TestRecompressionUsesTopicCompressionLevel(t *testing.T) {
	addr := bootstrap(t)
	cl := pinnedClient(t, addr, 0, 12)  // Produce by topic name
	fcl := pinnedClient(t, addr, 1, 12) // and Fetch
	defer cl.Close()
	defer fcl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Words picked at random from a small vocabulary: compressible, but
	// not so plainly that every level finds the same matches.
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := make([]string, 2000)
	for i := range vocab {
		w := make([]byte, 3+rng.IntN(8))
		for j := range w {
			w[j] = byte('a' + rng.IntN(26))
		}
		vocab[i] = string(w)
	}
	values := make([]string, 500)
	for i := range values {
		var b strings.Builder
		for range 40 {
			b.WriteString(vocab[rng.IntN(len(vocab))])
			b.WriteByte(' ')
		}
		values[i] = b.String()
	}
	batch := tcBatch(-1, -1, -1, values...)
	stored := func(codec, levelKey, level string) int {
		t.Helper()
		topic := randomName("level-" + codec)
		resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, map[string]*string{
			"compression.type": kadm.StringPtr(codec), "max.message.bytes": kadm.StringPtr("10485760"), levelKey: kadm.StringPtr(level)}, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("creating %s: %v", topic, err)
		}
		leader := leaderOf0(t, ctx, cl, topic)
		pr, err := produceReq(topic, batch, nil).RequestWith(ctx, leader)
		if err != nil {
			t.Fatal(err)
		}
		if code := pr.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("produce to %s: %v", topic, kerr.ErrorForCode(code))
		}
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 16<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 16<<20, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		md, err := kadm.NewClient(cl).Metadata(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		fr, err := req.RequestWith(ctx, fcl.Broker(int(md.Topics[topic].Partitions[0].Leader)))
		if err != nil {
			t.Fatal(err)
		}
		var b kmsg.RecordBatch
		if err := b.ReadFrom(fr.Topics[0].Partitions[0].RecordBatches); err != nil {
			t.Fatalf("reading %s's batch: %v", topic, err)
		}
		if b.NumRecords != int32(len(values)) {
			t.Fatalf("%s holds %d records, want %d", topic, b.NumRecords, len(values))
		}
		return int(b.Length) + 12
	}
	for _, c := range []struct{ codec, key, low, high string }{
		{"gzip", "compression.gzip.level", "1", "9"},
		{"lz4", "compression.lz4.level", "9", "17"},
		{"zstd", "compression.zstd.level", "1", "19"},
	} {
		low, high := stored(c.codec, c.key, c.low), stored(c.codec, c.key, c.high)
		if high >= low {
			t.Errorf("%d bytes of records recompressed with %s at %s=%s take %d bytes, at %s take %d: want fewer at the higher level",
				len(batch), c.codec, c.key, c.high, high, c.low, low)
		}
	}
}

// A batch the topic recompresses must still fit max.message.bytes once
// rewritten, as Kafka's UnifiedLog.append checks again a batch whose size
// may have changed (messageSizeMaybeChanged): a gzip batch of 110 bytes
// holding 5,000 bytes of records, to a topic that stores batches
// uncompressed with max.message.bytes=2000, is MESSAGE_TOO_LARGE. Gregor
// checked only the batch as sent, and stored a 5 KB batch on a topic
// whose consumers and followers were told no batch passes 2,000 bytes.
func TestRecompressedBatchOverMaxMessageBytes(t *testing.T) {
	addr := bootstrap(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerBatchCompression(kgo.GzipCompression()), kgo.RecordRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := randomName("recompress-size")
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, map[string]*string{
		"compression.type": kadm.StringPtr("uncompressed"), "max.message.bytes": kadm.StringPtr("2000")}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(strings.Repeat("a", 5000))}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("a gzip batch of 5,000 bytes of records to an uncompressed topic with max.message.bytes=2000: %v, want MESSAGE_TOO_LARGE", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(strings.Repeat("a", 1000))}).FirstErr(); err != nil {
		t.Errorf("a gzip batch of 1,000 bytes of records to the same topic: %v", err)
	}
}

// A CreateTime batch is stored with its records' largest timestamp as its
// max timestamp, whatever the producer put there, as Kafka's LogValidator
// sets it (setMaxTimestamp, the CRC recomputed): the time index, time
// retention and ListOffsets by timestamp go by it. Gregor kept the
// producer's value, so a batch claiming its first record's time as its
// max hid its later records from a ListOffsets by time (offset -1).
func TestProduceFixesBatchMaxTimestamp(t *testing.T) {
	addr := bootstrap(t)
	cl := pinnedClient(t, addr, 0, 12)  // Produce by topic name
	fcl := pinnedClient(t, addr, 1, 12) // and Fetch
	defer cl.Close()
	defer fcl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := randomName("maxts")
	createTopicWith(ctx, t, cl, topic, -1, "retention.ms", "-1")
	now := time.Now().UnixMilli()
	var recs []byte
	for i := range 3 {
		r := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i) * 1000, Value: []byte("v")}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: 2, FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 3, Records: recs}
	b.Length = int32(len(b.AppendTo(nil)) - 12)
	raw := b.AppendTo(nil)
	b.CRC = int32(crc32.Checksum(raw[21:], tcCastagnoli))
	leader := leaderOf0(t, ctx, cl, topic)
	pr, err := produceReq(topic, b.AppendTo(nil), nil).RequestWith(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	if code := pr.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(code))
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.ReplicaID = -1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp, lp.CurrentLeaderEpoch = now+1500, -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	lr, err := lo.RequestWith(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	if p := lr.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.Offset != 2 || p.Timestamp != now+2000 {
		t.Errorf("ListOffsets at %d: %v offset %d timestamp %d, want offset 2 at %d", now+1500, kerr.ErrorForCode(p.ErrorCode), p.Offset, p.Timestamp, now+2000)
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := req.RequestWith(ctx, fcl.Broker(int(md.Topics[topic].Partitions[0].Leader)))
	if err != nil {
		t.Fatal(err)
	}
	data := fr.Topics[0].Partitions[0].RecordBatches
	var got kmsg.RecordBatch
	if err := got.ReadFrom(data); err != nil {
		t.Fatalf("reading the stored batch: %v", err)
	}
	if got.MaxTimestamp != now+2000 || uint32(got.CRC) != crc32.Checksum(data[21:12+got.Length], tcCastagnoli) {
		t.Errorf("stored batch: max timestamp %d (CRC %x), want %d with a valid CRC", got.MaxTimestamp, uint32(got.CRC), now+2000)
	}
}

// An acks value other than 0, 1 or -1 is INVALID_REQUIRED_ACKS only for
// partitions that pass KafkaApis' own checks first: an unknown topic or
// partition keeps UNKNOWN_TOPIC_OR_PARTITION and records the request
// version does not allow keep INVALID_RECORD, as ReplicaManager checks
// acks after handleProduceRequest has set those aside. Gregor answered
// INVALID_REQUIRED_ACKS for all of them.
func TestProduceInvalidAcksAfterTopicChecks(t *testing.T) {
	addr := bootstrap(t)
	cl := pinnedClient(t, addr, 0, 12)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := randomName("acks")
	createTopicWith(ctx, t, cl, topic, -1, "retention.ms", "-1")
	leaderOf0(t, ctx, cl, topic)
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	lb := md.Brokers[slices.IndexFunc(md.Brokers, func(b kadm.BrokerDetail) bool { return b.NodeID == md.Topics[topic].Partitions[0].Leader })]
	// franz-go sends its own acks: the request goes by hand.
	c := badDial(t, net.JoinHostPort(lb.Host, strconv.Itoa(int(lb.Port))))
	defer c.Close()
	legacy := tcBatch(-1, -1, -1, "v")
	legacy[16] = 1 // magic 1 in a v9 request
	for i, tc := range []struct {
		what      string
		topic     string
		partition int32
		batch     []byte
		want      *kerr.Error
	}{
		{"an unknown topic", randomName("acks-none"), 0, tcBatch(-1, -1, -1, "v"), kerr.UnknownTopicOrPartition},
		{"an unknown partition", topic, 7, tcBatch(-1, -1, -1, "v"), kerr.UnknownTopicOrPartition},
		{"a magic 1 batch", topic, 0, legacy, kerr.InvalidRecord},
		{"a valid batch", topic, 0, tcBatch(-1, -1, -1, "v"), kerr.InvalidRequiredAcks},
	} {
		req := produceReq(tc.topic, tc.batch, nil)
		req.Acks = 2
		req.Topics[0].Partitions[0].Partition = tc.partition
		resp := kmsg.NewPtrProduceResponse()
		if err := badRoundTrip(c, int32(i), req, resp); err != nil {
			t.Fatalf("acks=2 with %s: %v", tc.what, err)
		}
		if got := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); got != tc.want {
			t.Errorf("acks=2 with %s: %v, want %v", tc.what, got, tc.want)
		}
	}
}

// A compressed legacy message set (magic 0 or 1, from a client capped at
// Produce v0-v2) is stored in the producer's codec on a topic whose
// compression.type is producer, as Kafka's LogValidator converts it to a
// magic-2 batch compressed with the source codec. Gregor stored it
// uncompressed, so an old client's gzip, snappy or lz4 saved no disk.
func TestLegacyCompressedProduceKeepsCodec(t *testing.T) {
	addr := bootstrap(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fcl := pinnedClient(t, addr, 1, 12) // Fetch by topic name, magic 2
	defer fcl.Close()
	var recs []ccRecord
	for i := range 20 {
		recs = append(recs, ccRecord{P: 0, K: []byte(fmt.Sprint("k", i)), V: []byte(strings.Repeat("legacy value ", 20))})
	}
	for _, c := range []struct {
		codec string
		want  int8
	}{{"gzip", 1}, {"snappy", 2}, {"lz4", 3}} {
		topic := randomName("legacy-" + c.codec)
		createTopicWith(ctx, t, fcl, topic, -1, "compression.type", "producer")
		kgoCappedProduce(t, ctx, addr, topic, c.codec, kversion.V0_10_1(), recs) // Produce v2: magic 1
		md, err := kadm.NewClient(fcl).Metadata(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 1<<20, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		fr, err := req.RequestWith(ctx, fcl.Broker(int(md.Topics[topic].Partitions[0].Leader)))
		if err != nil {
			t.Fatal(err)
		}
		var n int32
		for data := fr.Topics[0].Partitions[0].RecordBatches; len(data) > 0; {
			var b kmsg.RecordBatch
			if err := b.ReadFrom(data); err != nil {
				t.Fatalf("%s: reading a stored batch: %v", c.codec, err)
			}
			if got := int8(b.Attributes & 7); got != c.want {
				t.Errorf("a magic-1 %s message set is stored with codec %d, want %d", c.codec, got, c.want)
			}
			n += b.NumRecords
			data = data[12+b.Length:]
		}
		if n != int32(len(recs)) {
			t.Errorf("%s: %d records stored, want %d", c.codec, n, len(recs))
		}
	}
}

// Transactional batches of two producers in one request refuse every
// partition with INVALID_PRODUCER_ID_MAPPING and Kafka's message for it
// (ReplicaManager.handleProduceAppend throws it, and the request's error
// response carries a message that differs from the code's description).
func TestTransactionalProduceOfTwoProducers(t *testing.T) {
	addr := bootstrap(t)
	cl := pinnedClient(t, addr, 0, 12)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := randomName("txn-two")
	// Both partitions on one broker, which the request goes to (in a
	// cluster run, too).
	bm, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil || len(bm.Brokers) == 0 {
		t.Fatalf("broker metadata: %v", err)
	}
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, -1, -1
	for p := int32(0); p < 2; p++ {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = p, []int32{bm.Brokers[0].NodeID}
		ct.ReplicaAssignment = append(ct.ReplicaAssignment, a)
	}
	create.Topics = append(create.Topics, ct)
	cr, err := create.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(cr.Topics[0].ErrorCode); err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
	// The broker asked must know both partitions: one it does not know
	// is UNKNOWN_TOPIC_OR_PARTITION, and not counted (as in Kafka).
	awaitLeadersEverywhere(ctx, t, cl, topic, 2)
	leader := leaderOf0(t, ctx, cl, topic)
	txn := "txn-two"
	req := produceReq(topic, haBatchSpec{pid: 1, epoch: 0, txn: true}.batch(), &txn)
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = 1, haBatchSpec{pid: 2, epoch: 0, txn: true}.batch()
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	pr, err := req.RequestWith(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range pr.Topics[0].Partitions {
		if want := "Transactional records contained more than one producer ID"; sp.ErrorCode != kerr.InvalidProducerIDMapping.Code || deref(sp.ErrorMessage) != want {
			t.Errorf("partition %d: %v %q, want INVALID_PRODUCER_ID_MAPPING %q", sp.Partition, kerr.ErrorForCode(sp.ErrorCode), deref(sp.ErrorMessage), want)
		}
	}
}

// A transactional batch to a partition its transaction does not hold is
// INVALID_TXN_STATE "Partition was not added to the transaction" up to
// Produce v10 and TRANSACTION_ABORTABLE without a message from v11, as
// Kafka's ReplicaManager words only INVALID_TXN_STATE. Gregor gave the
// v11 answer the same message.
func TestProduceNotAddedToTransactionMessage(t *testing.T) {
	addr := bootstrap(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := pinnedClient(t, addr, 0, 11)
	defer cl.Close()
	old := pinnedClient(t, addr, 0, 10)
	defer old.Close()
	topic := randomName("txn-notadded")
	createTopicWith(ctx, t, cl, topic, -1, "retention.ms", "-1")
	id := randomName("txn-notadded")
	ip := initProducerID(ctx, t, cl, id, -1, -1)
	if ip.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(ip.ErrorCode))
	}
	for _, c := range []struct {
		cl      *kgo.Client
		version int16
		want    *kerr.Error
		msg     string
	}{
		{old, 10, kerr.InvalidTxnState, "Partition was not added to the transaction"},
		{cl, 11, kerr.TransactionAbortable, "<null>"},
	} {
		req := produceReq(topic, haBatchSpec{pid: ip.ProducerID, epoch: ip.ProducerEpoch, txn: true}.batch(), &id)
		req.Acks = -1
		resp, err := req.RequestWith(ctx, leaderOf0(t, ctx, c.cl, topic))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version != c.version {
			t.Fatalf("sent Produce v%d, want v%d", resp.Version, c.version)
		}
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != c.want.Code || deref(sp.ErrorMessage) != c.msg {
			t.Errorf("Produce v%d of a partition not in the transaction: %v %q, want %v %q", c.version, kerr.ErrorForCode(sp.ErrorCode), deref(sp.ErrorMessage), c.want, c.msg)
		}
	}
}
