package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Metadata v0 leaves the replicas of a down broker out of each partition's
// replica and ISR lists and answers such a partition REPLICA_NOT_AVAILABLE,
// as Kafka's MetadataCache does for v0 (errorUnavailableEndpoints); v1+
// list every replica with no error. Clients pinned to Metadata v0 (kcat
// with broker.version.fallback=0.9.0, kafka-python at api_version 0.9)
// read this.
func TestMetadataV0DropsDownReplicas(t *testing.T) {
	c := startCluster(t, 2, nil)
	topic := "md-v0-down"
	c.createTopic(topic, 2, 2, nil)
	c.brokers[2].Kill()

	metadataAt := func(version int16) (*kmsg.MetadataResponse, error) {
		v := kversion.Stable()
		v.SetMaxKeyVersion(3, version)
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[1].Addr), kgo.MaxVersions(v))
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		return req.RequestWith(ctx, cl)
	}
	var v0 *kmsg.MetadataResponse
	waitFor(t, fmt.Sprintf("Metadata v0 of %s without broker 2 and every partition led by broker 1", topic), 30*time.Second, func() bool {
		resp, err := metadataAt(0)
		if err != nil || len(resp.Brokers) != 1 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
			return false
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.Leader != 1 {
				return false
			}
		}
		v0 = resp
		return true
	})
	for _, p := range v0.Topics[0].Partitions {
		if p.ErrorCode != kerr.ReplicaNotAvailable.Code || !slices.Equal(p.Replicas, []int32{1}) || !slices.Equal(p.ISR, []int32{1}) {
			t.Errorf("v0 partition %d: %v, replicas %v, isr %v; want REPLICA_NOT_AVAILABLE, [1], [1]", p.Partition, kerr.ErrorForCode(p.ErrorCode), p.Replicas, p.ISR)
		}
	}
	v1, err := metadataAt(1)
	if err != nil || len(v1.Topics) != 1 {
		t.Fatalf("Metadata v1: %v %+v", err, v1)
	}
	for _, p := range v1.Topics[0].Partitions {
		if p.ErrorCode != 0 || len(p.Replicas) != 2 || !slices.Contains(p.Replicas, 2) {
			t.Errorf("v1 partition %d: %v, replicas %v; want no error and both replicas", p.Partition, kerr.ErrorForCode(p.ErrorCode), p.Replicas)
		}
	}
}

// Fetch v0-3 sent to a follower of a zstd topic, or of a topic without
// down-conversion, is answered by the topic's config
// (UNSUPPORTED_COMPRESSION_TYPE, UNSUPPORTED_VERSION) rather than
// NOT_LEADER_OR_FOLLOWER, as Kafka's maybeConvertFetchedData answers
// every partition with a local log by it; a broker with no replica, and a
// follower of any other topic, answer NOT_LEADER_OR_FOLLOWER.
func TestFetchLegacyFollowerAnswersByTopicConfig(t *testing.T) {
	c := startCluster(t, 3, nil)
	topics := map[string]map[string]*string{
		"legacy-follower-zstd":   {"compression.type": kmsg.StringPtr("zstd")},
		"legacy-follower-noconv": {"message.downconversion.enable": kmsg.StringPtr("false")},
		"legacy-follower-plain":  nil,
	}
	want := map[string]int16{
		"legacy-follower-zstd":   kerr.UnsupportedCompressionType.Code,
		"legacy-follower-noconv": kerr.UnsupportedVersion.Code,
		"legacy-follower-plain":  kerr.NotLeaderForPartition.Code,
	}
	v := kversion.Stable()
	v.SetMaxKeyVersion(1, 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.MaxVersions(v))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fetchFrom := func(id int32, topic string) int16 {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		kresp, err := cl.Broker(int(id)).Request(ctx, req)
		if err != nil {
			t.Fatalf("Fetch v3 of %s from broker %d: %v", topic, id, err)
		}
		resp := kresp.(*kmsg.FetchResponse)
		if resp.GetVersion() != 3 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("Fetch v3 of %s from broker %d: %+v", topic, id, resp)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil { // the client meets every broker
		t.Fatal(err)
	}
	for topic, cfg := range topics {
		adm := kadm.NewClient(cl)
		if _, err := adm.CreateTopic(ctx, 1, 2, cfg, topic); err != nil {
			t.Fatalf("creating %s: %v", topic, err)
		}
		c.awaitISR(topic, 2, 30*time.Second)
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		p := md.Topics[topic].Partitions[0]
		for id := int32(1); id <= 3; id++ {
			if id == p.Leader {
				continue
			}
			code := want[topic]
			if !slices.Contains(p.Replicas, id) {
				code = kerr.NotLeaderForPartition.Code // no local log
			}
			if got := fetchFrom(id, topic); got != code {
				t.Errorf("Fetch v3 of %s from broker %d (replicas %v, leader %d): %v, want %v", topic, id, p.Replicas, p.Leader, kerr.ErrorForCode(got), kerr.ErrorForCode(code))
			}
		}
	}
}
