package broker

// Offline replicas across the cluster. A replica whose log dir failed is
// offline (logdir_failure.go). This broker publishes its whole set through
// the backend whenever it changes, and every broker's Metadata and
// DescribeTopicPartitions name the replicas other brokers published in
// OfflineReplicas, as Kafka's do once the controller has learnt of a
// failed dir. A single broker has no one to tell: its own Metadata
// already names its offline replicas.

import (
	"context"
	"maps"
	"slices"
	"time"

	"gregor/broker/metadata"
)

// offlineRepublish is how soon a failed publication is tried again.
const offlineRepublish = time.Second

// setOffline marks p's replica offline (or not) and has the broker's
// set published again if that changed it.
func (p *Partition) setOffline(v bool) {
	if p.offline.Swap(v) != v {
		p.b.offlineChanged()
	}
}

// offlineChanged asks the publisher to publish the set again.
func (b *Broker) offlineChanged() {
	select {
	case b.offlineKick <- struct{}{}:
	default:
	}
}

// offlineSet is every offline replica of this broker, by topic.
func (b *Broker) offlineSet() map[string][]int32 {
	out := map[string][]int32{}
	for _, t := range b.Topics() {
		for _, p := range t.Partitions() {
			if p.offline.Load() {
				out[t.Name] = append(out[t.Name], p.ID)
			}
		}
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}

// OfflineReplicas counts this broker's replicas in offline log dirs
// (Kafka's ReplicaManager OfflineReplicaCount).
func (b *Broker) OfflineReplicas() int {
	n := 0
	for _, t := range b.Topics() {
		for _, p := range t.Partitions() {
			if p.offline.Load() {
				n++
			}
		}
	}
	return n
}

// HostedPartitions counts the partitions with a replica on this broker,
// those in offline log dirs included (Kafka's PartitionCount counts every
// hosted partition, HostedPartition.Offline too).
func (b *Broker) HostedPartitions() int {
	n := 0
	for _, t := range b.Topics() {
		for _, p := range t.Partitions() {
			p.mu.Lock()
			hosted := p.log != nil
			p.mu.Unlock()
			if hosted || p.offline.Load() {
				n++
			}
		}
	}
	return n
}

// publishOffline publishes this broker's offline replicas at start (none
// clears what an earlier run left) and after every change, until the
// broker stops.
func (b *Broker) publishOffline(pub metadata.OfflineReplicaPublisher) {
	var last map[string][]int32
	first := true
	retry := time.NewTimer(0)
	defer retry.Stop()
	stopped, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	go func() {
		select {
		case <-b.stop:
			cancelAll()
		case <-stopped.Done():
		}
	}()
	for {
		select {
		case <-b.stop:
			return
		case <-b.offlineKick:
		case <-retry.C:
		}
		cur := b.offlineSet()
		if !first && maps.EqualFunc(cur, last, slices.Equal) {
			continue
		}
		ctx, cancel := context.WithTimeout(stopped, 10*time.Second)
		err := pub.PublishOfflineReplicas(ctx, cur)
		cancel()
		if err != nil {
			b.log.Warn().Err(err).Int("topics", len(cur)).Msg("publishing this broker's offline replicas; trying again")
			retry.Reset(offlineRepublish)
			continue
		}
		if len(cur) > 0 || !first {
			b.log.Info().Any("partitions", cur).Msg("published this broker's offline replicas")
		}
		last, first = cur, false
	}
}

// ApplyOfflineReplicas takes the replicas other brokers published as
// offline.
func (a applier) ApplyOfflineReplicas(byBroker map[int32]map[string][]int32) {
	a.b.remoteOffline.Store(&byBroker)
}

// offlineElsewhere reports whether broker r (not this one) published its
// replica of topic-partition as offline.
func (b *Broker) offlineElsewhere(r int32, topic string, partition int32) bool {
	m := b.remoteOffline.Load()
	if m == nil || r == b.id {
		return false
	}
	return slices.Contains((*m)[r][topic], partition)
}
