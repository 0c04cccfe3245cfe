package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/config"
)

// ErrStaleState means a partition state update lost a race.
var ErrStaleState = errors.New("partition state changed concurrently")

// localMetadataFile holds a single broker's cluster metadata.
const localMetadataFile = "gregor-metadata.json"

// localBackend keeps a single broker's metadata in a JSON file in the first
// log dir, written atomically on every change.
type localBackend struct {
	path string
	self BrokerInfo

	mu sync.Mutex
	// guarded by mu:
	doc   localDoc
	apply Applier
}

type localDoc struct {
	ClusterID      string        `json:"cluster_id"`
	NextProducerID int64         `json:"next_producer_id"`
	Topics         []*localTopic `json:"topics"`
	// BrokerConfigs are the dynamic broker configs by entity: this
	// broker's id, or DefaultBrokerEntity for the cluster-wide defaults.
	// Absent in files written before they were kept.
	BrokerConfigs map[string]map[string]string `json:"broker_configs,omitempty"`
}

// DefaultBrokerEntity names the cluster-wide default broker configs where
// they are stored, as Kafka's /config/brokers/<default> does.
const DefaultBrokerEntity = "<default>"

type localTopic struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Configs    map[string]string `json:"configs,omitempty"`
	Partitions []localPartition  `json:"partitions"`
}

type localPartition struct {
	Replicas    []int32 `json:"replicas"`
	LeaderEpoch int32   `json:"leader_epoch"`
}

// NewLocalBackend returns the metadata backend of a broker without
// ZooKeeper.
func NewLocalBackend(cfg *config.Config, self BrokerInfo) Backend {
	return &localBackend{path: filepath.Join(cfg.LogDirs[0], localMetadataFile), self: self}
}

func (l *localBackend) Start(_ context.Context, apply Applier) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	data, err := os.ReadFile(l.path)
	switch {
	case os.IsNotExist(err):
		l.doc = localDoc{ClusterID: NewUuid().String(), NextProducerID: 0}
		if err := l.saveLocked(); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(data, &l.doc); err != nil {
			return fmt.Errorf("%s: %w", l.path, err)
		}
	}
	l.apply = apply
	apply.ApplyBrokers([]BrokerInfo{l.self}, l.self.ID)
	for _, t := range l.doc.Topics {
		st, err := l.stateLocked(t)
		if err != nil {
			return err
		}
		apply.ApplyTopic(st)
	}
	l.applyBrokerConfigsLocked()
	return nil
}

// applyBrokerConfigsLocked delivers the dynamic broker configs.
func (l *localBackend) applyBrokerConfigsLocked() {
	if a, ok := l.apply.(BrokerConfigApplier); ok {
		a.ApplyBrokerConfigs(maps.Clone(l.doc.BrokerConfigs[DefaultBrokerEntity]), maps.Clone(l.doc.BrokerConfigs[strconv.Itoa(int(l.self.ID))]))
	}
}

// AlterBrokerConfigs replaces this broker's dynamic configs or the cluster
// defaults (""); a single broker knows no other broker.
func (l *localBackend) AlterBrokerConfigs(_ context.Context, broker string, configs map[string]string) error {
	entity := DefaultBrokerEntity
	if broker != "" {
		if broker != strconv.Itoa(int(l.self.ID)) {
			return errorf(kerr.InvalidRequest, "Unexpected broker id, expected %d or empty string, but received %s", l.self.ID, broker)
		}
		entity = broker
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.doc.BrokerConfigs
	next := maps.Clone(old)
	if next == nil {
		next = map[string]map[string]string{}
	}
	if len(configs) == 0 {
		delete(next, entity)
	} else {
		next[entity] = maps.Clone(configs)
	}
	if len(next) == 0 {
		next = nil
	}
	l.doc.BrokerConfigs = next
	if err := l.saveLocked(); err != nil {
		l.doc.BrokerConfigs = old
		return err
	}
	l.applyBrokerConfigsLocked()
	return nil
}

func (l *localBackend) ClusterID() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.doc.ClusterID
}

func (l *localBackend) saveLocked() error {
	data, err := json.MarshalIndent(&l.doc, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, l.path)
}

func (l *localBackend) stateLocked(t *localTopic) (TopicState, error) {
	id, err := ParseUuid(t.ID)
	if err != nil {
		return TopicState{}, fmt.Errorf("topic %s: %w", t.Name, err)
	}
	st := TopicState{Name: t.Name, ID: id, Configs: t.Configs}
	for _, p := range t.Partitions {
		leader := int32(-1)
		if slices.Contains(p.Replicas, l.self.ID) {
			leader = l.self.ID
		}
		st.Partitions = append(st.Partitions, PartitionState{Replicas: p.Replicas, Leader: leader, LeaderEpoch: p.LeaderEpoch, ISR: p.Replicas})
	}
	return st, nil
}

func (l *localBackend) findLocked(name string) (int, *localTopic) {
	for i, t := range l.doc.Topics {
		if t.Name == name {
			return i, t
		}
	}
	return -1, nil
}

func (l *localBackend) CreateTopic(_ context.Context, spec TopicSpec) (TopicState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, t := l.findLocked(spec.Name); t != nil {
		return TopicState{}, kerr.TopicAlreadyExists
	}
	assign, err := assignReplicas([]int32{l.self.ID}, spec.Partitions, spec.ReplicationFactor, spec.Assignment, 0)
	if err != nil {
		return TopicState{}, err
	}
	t := &localTopic{Name: spec.Name, ID: NewUuid().String(), Configs: spec.Configs}
	for _, r := range assign {
		t.Partitions = append(t.Partitions, localPartition{Replicas: r})
	}
	st, err := l.stateLocked(t)
	if err != nil || spec.ValidateOnly {
		return st, err
	}
	l.doc.Topics = append(l.doc.Topics, t)
	if err := l.saveLocked(); err != nil {
		l.doc.Topics = l.doc.Topics[:len(l.doc.Topics)-1]
		return TopicState{}, err
	}
	l.apply.ApplyTopic(st)
	return st, nil
}

func (l *localBackend) DeleteTopic(_ context.Context, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, t := l.findLocked(name)
	if t == nil {
		return kerr.UnknownTopicOrPartition
	}
	l.doc.Topics = slices.Delete(l.doc.Topics, i, i+1)
	if err := l.saveLocked(); err != nil {
		l.doc.Topics = slices.Insert(l.doc.Topics, i, t)
		return err
	}
	l.apply.RemoveTopic(name)
	return nil
}

func (l *localBackend) CreatePartitions(_ context.Context, name string, total int32, assignment [][]int32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, t := l.findLocked(name)
	if t == nil {
		return kerr.UnknownTopicOrPartition
	}
	have := int32(len(t.Partitions))
	rf := int16(len(t.Partitions[0].Replicas))
	add, err := assignReplicas([]int32{l.self.ID}, total-have, rf, assignment, have)
	if err != nil {
		return err
	}
	old := t.Partitions
	for _, r := range add {
		t.Partitions = append(t.Partitions, localPartition{Replicas: r})
	}
	if err := l.saveLocked(); err != nil {
		t.Partitions = old
		return err
	}
	st, err := l.stateLocked(t)
	if err != nil {
		return err
	}
	l.apply.ApplyTopic(st)
	return nil
}

func (l *localBackend) AlterTopicConfigs(_ context.Context, name string, configs map[string]string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, t := l.findLocked(name)
	if t == nil {
		return kerr.UnknownTopicOrPartition
	}
	old := t.Configs
	t.Configs = configs
	if err := l.saveLocked(); err != nil {
		t.Configs = old
		return err
	}
	st, err := l.stateLocked(t)
	if err != nil {
		return err
	}
	l.apply.ApplyTopic(st)
	return nil
}

func (l *localBackend) UpdatePartition(_ context.Context, topic string, partition int32, st PartitionState) (PartitionState, error) {
	// A single broker's ISR is itself and never changes.
	return st, nil
}

func (l *localBackend) AllocateProducerIDs(_ context.Context, n int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := l.doc.NextProducerID
	l.doc.NextProducerID += n
	if err := l.saveLocked(); err != nil {
		l.doc.NextProducerID = start
		return 0, err
	}
	return start, nil
}

// ElectLeaders: a single broker leads every partition it has, which is
// each partition's only (preferred) replica, so no election is ever needed.
func (l *localBackend) ElectLeaders(_ context.Context, typ int8, parts map[string][]int32) (map[string]map[int32]error, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]map[int32]error{}
	if parts == nil {
		parts = map[string][]int32{}
		for _, t := range l.doc.Topics {
			for p := range t.Partitions {
				parts[t.Name] = append(parts[t.Name], int32(p))
			}
		}
	}
	for name, ps := range parts {
		_, t := l.findLocked(name)
		res := map[int32]error{}
		for _, p := range ps {
			switch {
			case t == nil || p < 0 || int(p) >= len(t.Partitions):
				res[p] = kerr.UnknownTopicOrPartition
			case !slices.Contains(t.Partitions[p].Replicas, l.self.ID):
				// Assigned to a broker that does not exist here.
				if typ == ElectPreferred {
					res[p] = kerr.PreferredLeaderNotAvailable
				} else {
					res[p] = kerr.EligibleLeadersNotAvailable
				}
			default:
				res[p] = kerr.ElectionNotNeeded
			}
		}
		out[name] = res
	}
	return out, nil
}

// AlterPartitionReassignments: a single broker's partitions all live on
// it, so the only valid target is [self], which is where they already are
// (a no-op success, as Kafka answers a reassignment to the current
// replicas). Other brokers are not alive; a cancel finds nothing in
// progress.
func (l *localBackend) AlterPartitionReassignments(_ context.Context, targets map[string]map[int32][]int32, allowRFChange bool) (map[string]map[int32]error, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]map[int32]error{}
	for name, ps := range targets {
		_, t := l.findLocked(name)
		res := map[int32]error{}
		for p, r := range ps {
			exists := t != nil && p >= 0 && int(p) < len(t.Partitions)
			seen := map[int32]bool{}
			dup := false
			for _, id := range r {
				dup = dup || seen[id]
				seen[id] = true
			}
			switch {
			case r == nil:
				res[p] = errorf(kerr.NoReassignmentInProgress, "No reassignment is in progress for %s-%d", name, p)
			case len(r) == 0:
				res[p] = errorf(kerr.InvalidReplicaAssignment, "Empty replica list specified in partition reassignment.")
			case dup:
				res[p] = errorf(kerr.InvalidReplicaAssignment, "Duplicate replica ids in partition reassignment replica list: %v", r)
			case slices.ContainsFunc(r, func(id int32) bool { return id < 0 }):
				res[p] = errorf(kerr.InvalidReplicaAssignment, "Invalid broker id in replica list: %v", r)
			case slices.ContainsFunc(r, func(id int32) bool { return id != l.self.ID }):
				res[p] = errorf(kerr.InvalidReplicaAssignment, "Replica assignment has brokers that are not alive. Replica list: %v, live broker list: [%d]", r, l.self.ID)
			case !exists:
				res[p] = errorf(kerr.UnknownTopicOrPartition, "The partition %s-%d does not exist.", name, p)
			case !allowRFChange && len(t.Partitions[p].Replicas) != len(r):
				res[p] = errorf(kerr.InvalidReplicationFactor, "The replication factor is changed from %d to %d but allowReplicationFactorChange is false", len(t.Partitions[p].Replicas), len(r))
			default:
				res[p] = nil // [self]: already its replicas
			}
		}
		out[name] = res
	}
	return out, nil
}

// ListPartitionReassignments: a single broker never has a reassignment in
// progress.
func (l *localBackend) ListPartitionReassignments(context.Context, map[string][]int32) (map[string]map[int32]Reassignment, error) {
	return map[string]map[int32]Reassignment{}, nil
}

func (l *localBackend) Shutdown(context.Context) error { return nil }
func (l *localBackend) Close() error                   { return nil }

// assignReplicas places partitions on brokers as Kafka's rack-unaware
// assignment does: partition i's first replica on broker (start+i) mod n,
// followers at a fixed shift from it. An explicit assignment is checked
// instead. firstPartition numbers the partitions being added.
func assignReplicas(brokers []int32, count int32, rf int16, explicit [][]int32, firstPartition int32) ([][]int32, error) {
	if explicit != nil {
		for _, r := range explicit {
			if len(r) == 0 {
				return nil, kerr.InvalidReplicaAssignment
			}
			seen := map[int32]bool{}
			for _, id := range r {
				if seen[id] || !slices.Contains(brokers, id) {
					return nil, kerr.InvalidReplicaAssignment
				}
				seen[id] = true
			}
		}
		return explicit, nil
	}
	if count <= 0 {
		return nil, kerr.InvalidPartitions
	}
	if rf <= 0 {
		return nil, kerr.InvalidReplicationFactor
	}
	n := int32(len(brokers))
	if int32(rf) > n {
		return nil, kerr.InvalidReplicationFactor
	}
	sorted := slices.Clone(brokers)
	slices.Sort(sorted)
	// Like Kafka, a random start spreads the leaders of many small topics.
	start := rand.Int32N(n)
	shift := rand.Int32N(n)
	out := make([][]int32, count)
	for i := int32(0); i < count; i++ {
		p := firstPartition + i
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		r := []int32{sorted[first]}
		for j := int32(0); j < int32(rf)-1; j++ {
			r = append(r, sorted[(first+1+(shift+j)%(n-1))%n])
		}
		out[i] = r
	}
	return out, nil
}
