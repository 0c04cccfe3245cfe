package compat

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// In an incremental fetch session, a partition answered without records
// because the response's bytes went to the partition before it (only its
// high watermark moved) keeps its place: only partitions that returned
// records move to the end of the session's order, as Kafka's
// IncrementalFetchContext moves them (KAFKA-12330). Gregor moved it too,
// behind the one that took the bytes, so of two partitions that both keep
// growing the second never got records.
func TestFetchSessionPartitionLeftWithoutBytesIsNotStarved(t *testing.T) {
	v := kversion.Stable()
	v.SetMaxKeyVersion(1, 12) // Fetch by topic name
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)), kgo.MaxVersions(v),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := randomName("fetch-session-starve")
	// Both partitions on one broker, so one session fetches both.
	mdReq := kmsg.NewPtrMetadataRequest()
	mdResp, err := mdReq.RequestWith(ctx, cl)
	if err != nil || len(mdResp.Brokers) == 0 {
		t.Fatalf("metadata: %v (%d brokers)", err, len(mdResp.Brokers))
	}
	node := mdResp.Brokers[0].NodeID
	create := kmsg.NewPtrCreateTopicsRequest()
	create.TimeoutMillis = 30000
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, -1, -1
	for p := int32(0); p < 2; p++ {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = p, []int32{node}
		ct.ReplicaAssignment = append(ct.ReplicaAssignment, a)
	}
	create.Topics = append(create.Topics, ct)
	cresp, err := create.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(cresp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	produce := func() {
		t.Helper()
		for p := int32(0); p < 2; p++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte("value")}).FirstErr(); err != nil {
				t.Fatalf("produce to %s-%d: %v", topic, p, err)
			}
		}
	}
	produce()
	leader := leaderOf0(t, ctx, cl, topic)
	fetch := func(id, epoch int32, parts ...int32) *kmsg.FetchResponse {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 0, 1
		req.SessionID, req.SessionEpoch = id, epoch
		if len(parts) > 0 {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = topic
			for _, p := range parts {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, 0, 1<<20
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		kresp, err := leader.Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		resp := kresp.(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("fetch in session %d at epoch %d: %v", id, epoch, kerr.ErrorForCode(resp.ErrorCode))
		}
		return resp
	}
	// withRecords lists the partitions answered, each with whether it
	// has records.
	withRecords := func(resp *kmsg.FetchResponse) map[int32]bool {
		out := map[int32]bool{}
		for _, rt := range resp.Topics {
			for _, p := range rt.Partitions {
				if p.ErrorCode != 0 {
					t.Fatalf("%s-%d: %v", topic, p.Partition, kerr.ErrorForCode(p.ErrorCode))
				}
				out[p.Partition] = len(p.RecordBatches) > 0
			}
		}
		return out
	}
	// A 1-byte fetch: partition 0's first batch (KIP-74), nothing for 1.
	full := fetch(0, 0, 0, 1)
	if full.SessionID == 0 {
		t.Fatal("the full fetch got no session")
	}
	if got := withRecords(full); !got[0] || got[1] {
		t.Fatalf("full fetch of 1 byte answers %v, want records for partition 0 only", got)
	}
	// Both grow: 0 takes the byte budget again (its offset did not
	// move), 1 is answered for its high watermark only.
	produce()
	if got := withRecords(fetch(full.SessionID, 1)); len(got) != 2 || !got[0] || got[1] {
		t.Fatalf("first incremental fetch answers %v, want 0 with records and 1 without", got)
	}
	// 0 went to the end of the session's order, 1 did not: 1 is read
	// first now.
	if got := withRecords(fetch(full.SessionID, 2)); !got[1] {
		t.Fatalf("second incremental fetch answers %v, want records for partition 1, left without bytes before", got)
	}
}
