package compat

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// servedFromZero are the APIs Kafka 3.x served from version 0 (Kafka 4
// dropped some, KIP-896; Gregor keeps them): tools and clients pinned to
// old versions send exactly these.
var servedFromZero = []int16{
	0, 1, 2, 3, // Produce, Fetch, ListOffsets, Metadata
	8, 9, 10, 11, 12, 13, 14, 15, 16, // offsets, coordinator, groups
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, // SASL, ApiVersions, topics, records, transactions
	32, 33, 35, 36, 37, 42, 43, 44, // configs, log dirs, partitions, groups, elections
}

// Every API Kafka 3.x served from version 0 is advertised from 0 here,
// Fetch included (v0-3 are down-converted).
func TestOldVersionsAdvertisedFromZero(t *testing.T) {
	addr := bootstrap(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	min := map[int16]int16{}
	for _, k := range resp.ApiKeys {
		min[k.ApiKey] = k.MinVersion
	}
	for _, k := range servedFromZero {
		if m, ok := min[k]; !ok || m != 0 {
			t.Errorf("%s (key %d): advertised from %d (present: %v), want 0", kmsg.NameForKey(k), k, m, ok)
		}
	}
}

// zeroVersions caps every API at version 0, but Metadata at 1: the
// controller id, which CreateTopics and DeleteTopics need sent to, came
// with Metadata v1 (Kafka 0.10.0, with CreateTopics v0).
func zeroVersions() *kversion.Versions {
	v := kversion.Stable()
	v.EachMaxKeyVersion(func(k, _ int16) { v.SetMaxKeyVersion(k, 0) })
	v.SetMaxKeyVersion(3, 1)
	return v
}

// An admin client speaking only version 0 of every API (Metadata v1, as
// tools built for Kafka 0.10-0.11 do): topics, offsets, configs, partitions, records,
// log dirs, leader epochs, groups and their offsets all work.
func TestOldVersionsAdminAtZero(t *testing.T) {
	addr := bootstrap(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(zeroVersions()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topic := randomName("v0-admin")
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s at v0: %v", what, err)
		}
	}
	cr, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": kmsg.StringPtr("3600000")}, topic)
	if err == nil {
		err = cr.Err
	}
	must("CreateTopics", err)
	awaitLeadersEverywhere(ctx, t, cl, topic, 2) // on a cluster the others learn it a moment later
	md, err := adm.Metadata(ctx, topic)
	must("Metadata", err)
	if len(md.Topics[topic].Partitions) != 2 {
		t.Fatalf("Metadata v0: %s has %d partitions, want 2", topic, len(md.Topics[topic].Partitions))
	}
	// Produce v0 (magic 0) then ListOffsets v0.
	p, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(zeroVersions()), kgo.DefaultProduceTopic(topic),
		// acks=1: the topic has one replica (CreateTopics v0 needs a
		// count), which a cluster's min.insync.replicas=2 refuses acks=all.
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.LeaderAck()))
	must("client", err)
	defer p.Close()
	for i := range 5 {
		must("Produce", p.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte{byte(i)}}).FirstErr())
	}
	// ListOffsets v0 answers in OldStyleOffsets (kadm reads only v1's
	// field, so the request is raw).
	for _, c := range []struct {
		ts   int64
		want int64
	}{{-1, 5}, {-2, 0}} {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.MaxNumOffsets = 0, c.ts, 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		// On a cluster the client's view of a new topic's leaders may
		// lag (LEADER_NOT_AVAILABLE, retriable): ask again, bounded.
		var resp *kmsg.ListOffsetsResponse
		waitFor(t, "ListOffsets v0 to reach partition 0's leader", 10*time.Second, func() bool {
			resp, err = req.RequestWith(ctx, cl)
			return err == nil || !kerr.IsRetriable(err)
		})
		must("ListOffsets", err)
		sp := resp.Topics[0].Partitions[0]
		if resp.Version != 0 || sp.ErrorCode != 0 || len(sp.OldStyleOffsets) != 1 || sp.OldStyleOffsets[0] != c.want {
			t.Errorf("ListOffsets v%d at %d: error %d, offsets %v; want [%d]", resp.Version, c.ts, sp.ErrorCode, sp.OldStyleOffsets, c.want)
		}
	}
	rc, err := adm.DescribeTopicConfigs(ctx, topic)
	must("DescribeConfigs", err)
	if v, err := rc.On(topic, nil); err != nil || !hasConfig(v.Configs, "retention.ms", "3600000") {
		t.Errorf("DescribeConfigs v0: retention.ms not 3600000 in %+v (%v)", v.Configs, err)
	}
	cp, err := adm.CreatePartitions(ctx, 1, topic)
	if err == nil {
		_, err = cp.On(topic, nil)
	}
	must("CreatePartitions", err)
	dr, err := adm.DeleteRecords(ctx, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: 2, LeaderEpoch: -1}}})
	if err == nil {
		err = dr.Error()
	}
	must("DeleteRecords", err)
	var epReq kadm.OffsetForLeaderEpochRequest
	epReq.Add(topic, 0, 0)
	ep, err := adm.OffsetForLeaderEpoch(ctx, epReq)
	must("OffsetForLeaderEpoch", err)
	if r := ep[topic][0]; r.Err != nil || r.EndOffset != 5 {
		t.Errorf("OffsetForLeaderEpoch v0: %+v, want end offset 5", r)
	}
	_, err = adm.DescribeAllLogDirs(ctx, nil)
	must("DescribeLogDirs", err)

	group := randomName("v0-group")
	co, err := adm.CommitOffsets(ctx, group, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: 4, LeaderEpoch: -1, Metadata: "m"}}})
	if err == nil {
		err = co.Error()
	}
	must("OffsetCommit", err)
	// OffsetFetch v0-1 name their partitions (null for all came with v2).
	fr := kmsg.NewPtrOffsetFetchRequest()
	fr.Group = group
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic, ft.Partitions = topic, []int32{0}
	fr.Topics = append(fr.Topics, ft)
	fresp, err := fr.RequestWith(ctx, cl)
	must("OffsetFetch", err)
	if fresp.Version != 0 || len(fresp.Topics) != 1 || len(fresp.Topics[0].Partitions) != 1 {
		t.Fatalf("OffsetFetch v%d: %+v", fresp.Version, fresp.Topics)
	}
	if fp := fresp.Topics[0].Partitions[0]; fp.ErrorCode != 0 || fp.Offset != 4 || fp.Metadata == nil || *fp.Metadata != "m" {
		t.Errorf("OffsetFetch v0: %+v, want offset 4 with metadata m", fp)
	}
	lg, err := adm.ListGroups(ctx)
	must("ListGroups", err)
	_ = lg
	dg, err := adm.DescribeGroups(ctx, group)
	must("DescribeGroups", err)
	if g, ok := dg[group]; !ok || g.Err != nil {
		t.Errorf("DescribeGroups v0 of %s: %+v", group, g)
	}
	dt, err := adm.DeleteTopics(ctx, topic)
	if err == nil {
		err = dt.Error()
	}
	must("DeleteTopics", err)
}

func hasConfig(cs []kadm.Config, name, value string) bool {
	for _, c := range cs {
		if c.Key == name && c.Value != nil && *c.Value == value {
			return true
		}
	}
	return false
}

// ListOffsets v0 answers by segments, as Kafka 3.x's
// UnifiedLog.legacyFetchOffsetsBefore: up to MaxNumOffsets offsets, newest
// first, of the segments' base offsets and the log end (a consumer's
// capped at the high watermark); a timestamp picks the last segment
// modified at or before it. Old tools (Burrow, sarama below V0_10_1_0,
// GetOffsetShell --max-offsets) ask for several. Gregor answered one
// offset, the record-accurate lookup of v1.
func TestListOffsetsV0AnswersBySegments(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("lo-v0-segments", 1, map[string]*string{"internal.segment.bytes": kadm.StringPtr("1024")})
	const n = 60
	e.produce(topic, 0, n)
	cl := e.pinned(2, 0)
	list := func(ts int64, max int32) []int64 {
		t.Helper()
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp, rp.MaxNumOffsets = ts, max
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(e.ctx, cl)
		if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("ListOffsets v0 at %d, max %d: %v %+v", ts, max, err, resp)
		}
		if v := resp.GetVersion(); v != 0 {
			t.Fatalf("answered at version %d, want 0", v)
		}
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != 0 {
			t.Fatalf("ListOffsets v0 at %d, max %d: %v", ts, max, kerr.ErrorForCode(sp.ErrorCode))
		}
		return sp.OldStyleOffsets
	}
	all := list(-1, 100)
	if len(all) < 3 || all[0] != n || all[len(all)-1] != 0 {
		t.Fatalf("latest, max 100: %v; want the end %d, then each segment's base down to 0 (several segments of 1 KiB)", all, n)
	}
	for i := 1; i < len(all); i++ {
		if all[i] >= all[i-1] {
			t.Fatalf("latest, max 100: %v, not descending", all)
		}
	}
	for _, c := range []struct {
		ts   int64
		max  int32
		want []int64
	}{
		{-1, 1, all[:1]},
		{-1, 2, all[:2]},
		{-1, 0, []int64{}},
		{-2, 100, []int64{0}},
		{1, 100, []int64{}}, // every segment modified after 1 ms past the epoch
		{time.Now().Add(time.Hour).UnixMilli(), 100, all},
	} {
		if got := list(c.ts, c.max); !slices.Equal(got, c.want) {
			t.Errorf("ListOffsets v0 at %d, max %d: %v, want %v", c.ts, c.max, got, c.want)
		}
	}
}

// legacyMessage is one message of a legacy message set (magic 0 or 1):
// offset, size, then the message with its CRC; ts is left out for magic 0.
func legacyMessage(magic, attrs int8, offset, ts int64, key, value []byte) []byte {
	be := binary.BigEndian
	m := []byte{0, 0, 0, 0, byte(magic), byte(attrs)}
	if magic == 1 {
		m = be.AppendUint64(m, uint64(ts))
	}
	for _, b := range [][]byte{key, value} {
		if b == nil {
			m = be.AppendUint32(m, 0xffffffff)
			continue
		}
		m = be.AppendUint32(m, uint32(len(b)))
		m = append(m, b...)
	}
	be.PutUint32(m, crc32.ChecksumIEEE(m[4:]))
	out := be.AppendUint64(nil, uint64(offset))
	out = be.AppendUint32(out, uint32(len(m)))
	return append(out, m...)
}

// legacyProduce sends set to partition 0 of topic with Produce v2 and
// fails the test unless it is accepted.
func legacyProduce(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, set []byte) {
	t.Helper()
	req := produceReq(topic, set, nil)
	req.SetVersion(2)
	resp, err := req.RequestWith(ctx, leaderOf0(t, ctx, cl, topic))
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("Produce v2 of a magic 1 set: %v", kerr.ErrorForCode(code))
	}
}

// A magic 1 message without a timestamp (-1) keeps none, and the messages
// after it keep theirs, when the set is up-converted: Kafka's
// MemoryRecordsBuilder takes the first record's timestamp, -1 included,
// as the batch's base and each record's delta from it. Gregor took the
// delta of a record as 0 whenever it or the first had no timestamp, so a
// set opening with one lost every later timestamp (each read back as -1)
// and a message without one read back with the first's.
func TestLegacyProduceKeepsTimestamps(t *testing.T) {
	addr := bootstrap(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := pinnedClient(t, addr, 0, 2)
	defer cl.Close()
	now := time.Now().UnixMilli()
	want := []int64{-1, now - 2000, -1, now - 1000}
	for _, codec := range []string{"none", "gzip"} {
		topic := randomName("legacy-ts-" + codec)
		createTopicWith(ctx, t, cl, topic, -1, "compression.type", "producer")
		var set []byte
		for i, ts := range want {
			set = append(set, legacyMessage(1, 0, int64(i), ts, nil, []byte(fmt.Sprint("v", i)))...)
		}
		if codec == "gzip" {
			var buf bytes.Buffer
			w := gzip.NewWriter(&buf)
			w.Write(set)
			w.Close()
			set = legacyMessage(1, 1, int64(len(want)-1), slices.Max(want), nil, buf.Bytes())
		}
		legacyProduce(t, ctx, cl, topic, set)
		cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for len(got) < len(want) && ctx.Err() == nil {
			cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, r.Timestamp.UnixMilli()) })
		}
		cons.Close()
		if !slices.Equal(got, want) {
			t.Errorf("%s: timestamps read back %v, want %v", codec, got, want)
		}
	}
}

// Every message of a legacy set has the magic of the set's first, and
// every message inside a compressed wrapper the wrapper's; else the set is
// INVALID_RECORD and nothing is stored, as Kafka's LogValidator checks
// (validateBatch: "Batch magic ... is not the same as the first batch's
// magic byte"; validateRecord: a record's magic must match the outer
// magic). Gregor stored such sets, each message converted by its own
// magic.
func TestLegacyProduceMixedMagicRefused(t *testing.T) {
	addr := bootstrap(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := pinnedClient(t, addr, 0, 2)
	defer cl.Close()
	topic := randomName("legacy-magic")
	createTopicWith(ctx, t, cl, topic, -1, "compression.type", "producer")
	now := time.Now().UnixMilli()
	gz := func(set []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(set)
		w.Close()
		return buf.Bytes()
	}
	plain := append(legacyMessage(1, 0, 0, now, nil, []byte("m1")), legacyMessage(0, 0, 1, 0, nil, []byte("m0"))...)
	for _, c := range []struct {
		what string
		set  []byte
	}{
		{"a magic 1 message, then a magic 0 one", plain},
		{"a magic 0 message, then a magic 1 one", append(legacyMessage(0, 0, 0, 0, nil, []byte("m0")), legacyMessage(1, 0, 1, now, nil, []byte("m1"))...)},
		{"a magic 1 gzip wrapper of a magic 0 and a magic 1 message", legacyMessage(1, 1, 1, now, nil, gz(plain))},
		{"a magic 0 gzip wrapper of magic 1 messages", legacyMessage(0, 1, 1, 0, nil, gz(append(legacyMessage(1, 0, 0, now, nil, []byte("a")), legacyMessage(1, 0, 1, now, nil, []byte("b"))...)))},
	} {
		req := produceReq(topic, c.set, nil)
		req.SetVersion(2)
		resp, err := req.RequestWith(ctx, leaderOf0(t, ctx, cl, topic))
		if err != nil {
			t.Fatal(err)
		}
		if sp := resp.Topics[0].Partitions[0]; sp.ErrorCode != kerr.InvalidRecord.Code || sp.BaseOffset != -1 {
			t.Errorf("%s: %v at base offset %d, want INVALID_RECORD at -1", c.what, kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
		}
	}
	// A set of one magic is stored, from offset 0: nothing refused was.
	legacyProduce(t, ctx, cl, topic, append(legacyMessage(1, 0, 0, now, nil, []byte("a")), legacyMessage(1, 0, 1, now, nil, []byte("b"))...))
	lo, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := lo.Lookup(topic, 0); o.Offset != 2 {
		t.Errorf("log end %d after the refused sets and one of 2 messages, want 2", o.Offset)
	}
}

// ListOffsets v0 answers a partition named twice in each entry, as
// Kafka's handleListOffsetRequestV0 looks for no duplicates (v1+ answer
// each INVALID_REQUEST). Gregor answered v0's INVALID_REQUEST too.
func TestListOffsetsV0AnswersDuplicates(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("lo-v0-dups", 1, nil)
	e.produce(topic, 0, 3)
	for _, v := range []int16{0, 1} {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for range 2 {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Timestamp, rp.MaxNumOffsets, rp.CurrentLeaderEpoch = -1, 1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(e.ctx, e.pinned(2, v))
		if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
			t.Fatalf("ListOffsets v%d: %v %+v", v, err, resp)
		}
		for i, sp := range resp.Topics[0].Partitions {
			switch {
			case v == 0 && (sp.ErrorCode != 0 || !slices.Equal(sp.OldStyleOffsets, []int64{3})):
				t.Errorf("v0 entry %d: %v %v, want no error and [3]", i, kerr.ErrorForCode(sp.ErrorCode), sp.OldStyleOffsets)
			case v == 1 && sp.ErrorCode != kerr.InvalidRequest.Code:
				t.Errorf("v1 entry %d: %v, want INVALID_REQUEST", i, kerr.ErrorForCode(sp.ErrorCode))
			}
		}
	}
}

// Fetch v0-3 of a zstd topic is UNSUPPORTED_COMPRESSION_TYPE whether or
// not down-conversion is enabled, as Kafka's maybeConvertFetchedData
// checks the topic's codec first; Gregor answered a topic with both
// compression.type=zstd and message.downconversion.enable=false with
// UNSUPPORTED_VERSION.
func TestFetchLegacyZstdTopicBeforeDownConversion(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("fetch-zstd-noconv", 1, map[string]*string{
		"compression.type":              kadm.StringPtr("zstd"),
		"message.downconversion.enable": kadm.StringPtr("false"),
	})
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(e.ctx, e.pinned(1, 3))
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("Fetch v3: %v %+v", err, resp)
	}
	if v := resp.GetVersion(); v != 3 {
		t.Fatalf("answered at version %d, want 3", v)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnsupportedCompressionType.Code {
		t.Errorf("Fetch v3 of a zstd topic without down-conversion: %v, want UNSUPPORTED_COMPRESSION_TYPE", kerr.ErrorForCode(code))
	}
}
