package broker

// What the broker tells its operators beyond PartitionStats (stats.go):
// ISR changes, per-topic traffic, produce and fetch partition errors by
// code, controller and ZooKeeper status, and the time it was started.
// Counters only move forward; readers take snapshots.

import (
	"context"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/metadata"
)

// opsStats are the broker's counters for operators.
type opsStats struct {
	started    time.Time
	isrShrinks atomic.Uint64
	isrExpands atomic.Uint64
	// isrFailures counts the leader's ISR changes whose write failed
	// (refused as stale, or not made), each try of one retried.
	isrFailures atomic.Uint64
	// replBytesIn and replBytesOut count record bytes replicated from
	// leaders (as a follower) and to followers (as a leader).
	replBytesIn, replBytesOut atomic.Uint64
	// topics holds a *TopicTraffic per topic name.
	topics sync.Map

	mu sync.Mutex
	// guarded by mu:
	errs map[partitionErrKey]uint64
}

type partitionErrKey struct {
	api  int16
	code int16
}

// TopicTraffic counts a topic's traffic through this broker: record bytes
// and records appended by producers (the leader's side) and sent to
// consumers (followers' fetches not included).
type TopicTraffic struct {
	BytesIn, RecordsIn, BytesOut, RecordsOut atomic.Uint64
	// ProduceRequests counts the topic's partitions in produce requests
	// that reached the log, and FailedProduce those of them that failed
	// unexpectedly (producedCounts).
	ProduceRequests, FailedProduce atomic.Uint64
}

// producedCounts is how Kafka's ReplicaManager.appendToLocalLog counts a
// partition of a produce request in TotalProduceRequestsPerSec and
// FailedProduceRequestsPerSec: a partition refused before the append (not
// authorized, an unknown topic, invalid acks) counts in neither; an
// expected error (not the leader, too large, corrupt, a storage error)
// counts in the total only; any other error is a failure too.
func producedCounts(code int16) (total, failed bool) {
	switch code {
	case 0:
		return true, false
	case kerr.TopicAuthorizationFailed.Code, kerr.TransactionalIDAuthorizationFailed.Code, kerr.ClusterAuthorizationFailed.Code,
		kerr.UnknownTopicOrPartition.Code, kerr.InvalidRequiredAcks.Code:
		return false, false
	case kerr.NotLeaderForPartition.Code, kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code,
		kerr.CorruptMessage.Code, kerr.KafkaStorageError.Code:
		return true, false
	}
	return true, true
}

func (o *opsStats) isrChanged(before, after int) {
	switch {
	case after < before:
		o.isrShrinks.Add(1)
	case after > before:
		o.isrExpands.Add(1)
	}
}

func (o *opsStats) topic(name string) *TopicTraffic {
	if t, ok := o.topics.Load(name); ok {
		return t.(*TopicTraffic)
	}
	// A Produce or Fetch request's topic names alias its frame, which is
	// recycled once the request is answered: the map keeps a copy (a
	// key changing under it corrupts it).
	t, _ := o.topics.LoadOrStore(strings.Clone(name), &TopicTraffic{})
	return t.(*TopicTraffic)
}

// forgetTopic drops a deleted topic's traffic counters, so its series
// leave the scrape (Kafka's ReplicaManager.maybeRemoveTopicMetrics removes
// a deleted topic's BrokerTopicMetrics).
func (o *opsStats) forgetTopic(name string) { o.topics.Delete(name) }

func (o *opsStats) partitionError(api, code int16) {
	o.mu.Lock()
	if o.errs == nil {
		o.errs = map[partitionErrKey]uint64{}
	}
	o.errs[partitionErrKey{api, code}]++
	o.mu.Unlock()
}

// ISRChanges returns how many times this broker, as leader, shrank and
// expanded an ISR.
func (b *Broker) ISRChanges() (shrinks, expands uint64) {
	return b.ops.isrShrinks.Load(), b.ops.isrExpands.Load()
}

// ISRUpdateFailures returns how many ISR changes this broker, as leader,
// failed to write: refused because another change of the partition came
// first, or not made (ZooKeeper unreachable), each try counted, as
// Kafka's FailedIsrUpdatesPerSec marks each failed AlterPartition.
func (b *Broker) ISRUpdateFailures() uint64 { return b.ops.isrFailures.Load() }

// ReplicationBytes returns the record bytes this broker fetched from
// leaders as a follower and sent to followers as a leader (Kafka's
// ReplicationBytesInPerSec and ReplicationBytesOutPerSec, kept out of
// the topics' producer and consumer traffic).
func (b *Broker) ReplicationBytes() (in, out uint64) {
	return b.ops.replBytesIn.Load(), b.ops.replBytesOut.Load()
}

// TopicTrafficSnapshot is a topic's traffic counters at one moment.
type TopicTrafficSnapshot struct {
	Topic                                    string
	BytesIn, RecordsIn, BytesOut, RecordsOut uint64
	ProduceRequests, FailedProduce           uint64
}

// Traffic lists each topic's traffic, sorted by topic. The counters of a
// topic that no longer exists are dropped here too: a produce or fetch
// that found the topic just before its deletion may count after
// forgetTopic, and its series would otherwise stay for good.
func (b *Broker) Traffic() []TopicTrafficSnapshot {
	var out []TopicTrafficSnapshot
	b.ops.topics.Range(func(k, v any) bool {
		if b.Topic(k.(string)) == nil {
			b.ops.topics.CompareAndDelete(k, v)
			return true
		}
		t := v.(*TopicTraffic)
		out = append(out, TopicTrafficSnapshot{Topic: k.(string), BytesIn: t.BytesIn.Load(), RecordsIn: t.RecordsIn.Load(), BytesOut: t.BytesOut.Load(), RecordsOut: t.RecordsOut.Load(),
			ProduceRequests: t.ProduceRequests.Load(), FailedProduce: t.FailedProduce.Load()})
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Topic < out[j].Topic })
	return out
}

// PartitionErrorCount is how many partitions of Produce (0) or Fetch (1)
// responses carried an error code, or for another API how many of its
// responses' ErrorCode fields did (response_errors.go).
type PartitionErrorCount struct {
	API   int16
	Error string // Kafka's name, e.g. NOT_LEADER_OR_FOLLOWER
	N     uint64
}

// PartitionErrors lists the error counts of responses by API and error:
// Produce's and Fetch's per partition, other APIs' per ErrorCode field.
func (b *Broker) PartitionErrors() []PartitionErrorCount {
	b.ops.mu.Lock()
	defer b.ops.mu.Unlock()
	out := make([]PartitionErrorCount, 0, len(b.ops.errs))
	for k, n := range b.ops.errs {
		name := "UNKNOWN"
		if e := kerr.ErrorForCode(k.code); e != nil {
			if ke, ok := e.(*kerr.Error); ok {
				name = ke.Message
			}
		}
		out = append(out, PartitionErrorCount{API: k.api, Error: name, N: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].API != out[j].API {
			return out[i].API < out[j].API
		}
		return out[i].Error < out[j].Error
	})
	return out
}

// Status is the metadata backend's report: controller, ZooKeeper session,
// leader elections.
func (b *Broker) Status() metadata.Status {
	if r, ok := b.backend.(metadata.StatusReporter); ok {
		return r.Status()
	}
	return metadata.Status{Connected: true}
}

// Started is when the broker was created.
func (b *Broker) Started() time.Time { return b.ops.started }

// ControllerStats are the cluster-wide counts the active controller
// reports (Kafka's GlobalTopicCount, GlobalPartitionCount,
// OfflinePartitionsCount and PreferredReplicaImbalanceCount).
type ControllerStats struct {
	Topics, Partitions, Offline int
	// Imbalanced counts partitions not led by their preferred (first)
	// replica, those without a leader included, as Kafka 4's
	// ControllerMetricsChanges counts !PartitionRegistration.hasPreferredLeader.
	Imbalanced int
}

// ControllerStats counts the cluster's topics and partitions; ok is false
// on a broker that is not the controller, which reports none, so a
// cluster reports each count once.
func (b *Broker) ControllerStats() (st ControllerStats, ok bool) {
	if !b.Status().Controller {
		return st, false
	}
	for _, t := range b.Topics() {
		st.Topics++
		for _, p := range t.Partitions() {
			p.mu.Lock()
			leader, replicas := p.state.Leader, p.state.Replicas
			p.mu.Unlock()
			st.Partitions++
			if leader < 0 {
				st.Offline++
			}
			if len(replicas) == 0 || leader != replicas[0] {
				st.Imbalanced++
			}
		}
	}
	return st, true
}

// EndOffsets returns the high watermarks of the given partitions (topic
// -> partitions): this broker's own for the partitions it leads, and for
// the others what their leaders answer to ListOffsets (latest,
// read_uncommitted), one request per leader, all at once. Partitions
// whose leader is unknown or does not answer before ctx ends are left
// out.
func (b *Broker) EndOffsets(ctx context.Context, parts map[string][]int32) map[string]map[int32]int64 {
	out := map[string]map[int32]int64{}
	set := func(t string, p int32, off int64) {
		if out[t] == nil {
			out[t] = map[int32]int64{}
		}
		out[t][p] = off
	}
	remote := map[int32]map[string][]int32{}
	for t, ps := range parts {
		for _, id := range ps {
			p := b.Partition(t, id)
			if p == nil {
				continue
			}
			if p.IsLeader() {
				set(t, id, p.HighWatermark())
				continue
			}
			leader := p.State().Leader
			if leader < 0 {
				continue
			}
			if remote[leader] == nil {
				remote[leader] = map[string][]int32{}
			}
			remote[leader][t] = append(remote[leader][t], id)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for leader, tps := range remote {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := b.listLatest(ctx, leader, tps)
			mu.Lock()
			defer mu.Unlock()
			for t, ps := range got {
				for p, off := range ps {
					set(t, p, off)
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// listLatest asks a broker for the high watermarks of partitions it leads.
func (b *Broker) listLatest(ctx context.Context, leader int32, tps map[string][]int32) map[string]map[int32]int64 {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 4 // v1+ answers one offset; v4 checks leader epochs (-1: none)
	req.ReplicaID = -1
	for t, ps := range tps {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = t
		for _, p := range ps {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := b.SendToBroker(ctx, leader, req)
	if err != nil {
		b.log.Debug().Err(err).Int32("broker", leader).Msg("asking a leader for end offsets")
		return nil
	}
	out := map[string]map[int32]int64{}
	for _, t := range resp.(*kmsg.ListOffsetsResponse).Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				continue
			}
			if out[t.Topic] == nil {
				out[t.Topic] = map[int32]int64{}
			}
			out[t.Topic][p.Partition] = p.Offset
		}
	}
	return out
}
