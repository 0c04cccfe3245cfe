package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

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
