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

// A follower fetch (a replica id) from a broker that is not one of the
// partition's replicas gets no records from the leader, as Kafka's
// Partition.followerReplicaOrThrow: UNKNOWN_LEADER_EPOCH when the fetch
// names the current leader epoch, NOT_LEADER_OR_FOLLOWER when it names
// none. Gregor served such a fetch its records.
func TestFollowerFetchFromNonReplicaRefused(t *testing.T) {
	v := kversion.Stable()
	v.SetMaxKeyVersion(1, 12) // Fetch by topic name, the replica id in ReplicaID
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)), kgo.MaxVersions(v))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	topic := randomName("nonreplica-fetch")
	if _, err := adm.CreateTopic(ctx, 1, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	pd := md.Topics[topic].Partitions[0]
	leader := leaderOf0(t, ctx, cl, topic)
	const stranger = 987654 // no broker has this id
	for _, tc := range []struct {
		epoch int32
		want  *kerr.Error
	}{
		{pd.LeaderEpoch, kerr.UnknownLeaderEpoch},
		{-1, kerr.NotLeaderForPartition},
	} {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = stranger
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = 0, 1, 1<<20, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = 0, tc.epoch, 1<<20
		rp.FetchOffset, rp.LastFetchedEpoch, rp.LogStartOffset = 0, -1, 0
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		kresp, err := leader.Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		resp := kresp.(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("follower fetch from replica %d: error %v, %d topics", stranger, kerr.ErrorForCode(resp.ErrorCode), len(resp.Topics))
		}
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != tc.want.Code || len(sp.RecordBatches) != 0 {
			t.Errorf("follower fetch at leader epoch %d from replica %d, not a replica of %s-0: error %v with %d bytes of records, want %v and none",
				tc.epoch, stranger, topic, kerr.ErrorForCode(sp.ErrorCode), len(sp.RecordBatches), tc.want)
		}
	}
}

// A fetch (v12+) whose last fetched epoch is newer than any the leader
// knows is OFFSET_OUT_OF_RANGE, as Kafka's Partition.readRecords answers
// when it cannot tell where that epoch ends. Gregor answered a diverging
// epoch of -1 ending at -1, which on the wire is no divergence at all: no
// error, no records, and the fetcher asked again forever.
func TestFetchLastFetchedEpochUnknownOutOfRange(t *testing.T) {
	v := kversion.Stable()
	v.SetMaxKeyVersion(1, 12)
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)), kgo.MaxVersions(v))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	topic := randomName("unknown-last-epoch")
	if _, err := adm.CreateTopic(ctx, 1, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a", "b", "c"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	pd := md.Topics[topic].Partitions[0]
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = 0, 1, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = 0, pd.LeaderEpoch, 1<<20
	rp.FetchOffset, rp.LastFetchedEpoch, rp.LogStartOffset = 1, pd.LeaderEpoch+1000, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := leaderOf0(t, ctx, cl, topic).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch: error %v, %d topics", kerr.ErrorForCode(resp.ErrorCode), len(resp.Topics))
	}
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Errorf("fetch at offset 1 with last fetched epoch %d, newer than the leader's %d: error %v, diverging epoch %d at %d, %d bytes of records; want OFFSET_OUT_OF_RANGE",
			rp.LastFetchedEpoch, pd.LeaderEpoch, kerr.ErrorForCode(sp.ErrorCode), sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset, len(sp.RecordBatches))
	}
}
