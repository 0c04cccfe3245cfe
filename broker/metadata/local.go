package metadata

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/acl"
	"gregor/internal/invariants"
)

// localFile holds a single broker's cluster metadata.
const localFile = "gregor-metadata.json"

// local keeps a single broker's metadata in a JSON file in the first log
// dir, written atomically on every change. The broker is the only live
// one: it leads every partition it is a replica of, with every replica in
// the ISR.
type local struct {
	path string
	self BrokerInfo

	mu sync.Mutex
	// guarded by mu:
	doc  localDoc
	read bool // doc is read (Join or Start)
	// unsaved: doc is a new broker's, not yet written (by Joined or
	// Start).
	unsaved bool
	acls    *acl.Snapshot // doc.Acls, indexed
	apply   Applier
}

type localDoc struct {
	ClusterID      string        `json:"cluster_id"`
	NextProducerID int64         `json:"next_producer_id"`
	Topics         []*localTopic `json:"topics"`
	// BrokerConfigs are the dynamic broker configs by entity: this
	// broker's id, or DefaultBrokerEntity for the cluster-wide defaults.
	// Absent in files written before they were kept.
	BrokerConfigs map[string]map[string]string `json:"broker_configs,omitempty"`
	// Users are the user entities' configs (SCRAM credentials, in Kafka's
	// string form), by user name. Absent in files written before they
	// were kept.
	Users map[string]map[string]string `json:"users,omitempty"`
	// Acls are the ACLs by resource pattern. Absent in files written
	// before they were kept.
	Acls []localAcls `json:"acls,omitempty"`
	// ClientQuotas are the client quota entities' configs, by entity path
	// (QuotaEntity.Path). Absent in files written before they were kept.
	ClientQuotas map[string]map[string]string `json:"client_quotas,omitempty"`
	// GroupConfigs are the group configs by group. Absent in files
	// written before they were kept.
	GroupConfigs map[string]map[string]string `json:"group_configs,omitempty"`
	// ClientMetrics are the client metrics subscriptions' configs, by
	// name. Absent in files written before they were kept.
	ClientMetrics map[string]map[string]string `json:"client_metrics,omitempty"`
	// Features are the finalized feature levels above 0, set once
	// FeaturesEpoch is (it counts the changes, from 2). Absent in files
	// written before they were kept.
	Features      map[string]int16 `json:"features,omitempty"`
	FeaturesEpoch int64            `json:"features_epoch,omitempty"`
	// DelegationTokens are the delegation tokens by id. Absent in files
	// written before they were kept.
	DelegationTokens map[string]TokenInfo `json:"delegation_tokens,omitempty"`
}

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

// NewLocal returns the metadata backend of a broker without ZooKeeper,
// keeping its metadata in dir (the first log dir).
func NewLocal(dir string, self BrokerInfo) Backend {
	return &local{path: filepath.Join(dir, localFile), self: self}
}

// Join reads the metadata file (a new broker's is made, and written by
// Joined) and names its cluster.
func (l *local) Join(context.Context) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.readLocked(); err != nil {
		return "", err
	}
	return l.doc.ClusterID, nil
}

func (l *local) readLocked() error {
	if l.read {
		return nil
	}
	data, err := os.ReadFile(l.path)
	switch {
	case os.IsNotExist(err):
		// A new broker's: saved by Joined, once the broker accepted
		// the id, so a start refused after Join (log dirs of another
		// cluster) leaves none behind.
		l.doc = localDoc{ClusterID: NewUuid().String(), NextProducerID: 0}
		l.unsaved = true
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(data, &l.doc); err != nil {
			return fmt.Errorf("%s: %w", l.path, err)
		}
		l.rekeyDotQuotasLocked()
	}
	l.read = true
	return nil
}

// rekeyDotQuotasLocked moves the quotas of entities named "." or "..",
// kept under those names before SanitizeEntity encoded their dots, to
// the keys their lookups use now.
func (l *local) rekeyDotQuotasLocked() {
	for path, cfg := range l.doc.ClientQuotas {
		parts := strings.Split(path, "/")
		moved := false
		for i, p := range parts {
			if p == "." || p == ".." {
				parts[i], moved = SanitizeEntity(p), true
			}
		}
		if !moved {
			continue
		}
		to := strings.Join(parts, "/")
		delete(l.doc.ClientQuotas, path)
		if _, taken := l.doc.ClientQuotas[to]; !taken {
			l.doc.ClientQuotas[to] = cfg
		}
		l.unsaved = true
	}
}

// Joined writes a new broker's metadata file.
func (l *local) Joined() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.persistLocked()
}

func (l *local) persistLocked() error {
	if !l.unsaved {
		return nil
	}
	if err := l.saveLocked(); err != nil {
		return err
	}
	l.unsaved = false
	return nil
}

func (l *local) Start(_ context.Context, apply Applier) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.readLocked(); err != nil {
		return err
	}
	if err := l.persistLocked(); err != nil {
		return err
	}
	if err := l.loadAclsLocked(); err != nil {
		return fmt.Errorf("%s: %w", l.path, err)
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
	l.applyScramLocked()
	l.applyAclsLocked()
	l.applyQuotasLocked()
	l.applyGroupConfigsLocked()
	l.applyClientMetricsLocked()
	l.applyFeaturesLocked()
	l.applyTokensLocked()
	return nil
}

// applyBrokerConfigsLocked delivers the dynamic broker configs.
func (l *local) applyBrokerConfigsLocked() {
	if a, ok := l.apply.(BrokerConfigApplier); ok {
		a.ApplyBrokerConfigs(maps.Clone(l.doc.BrokerConfigs[DefaultBrokerEntity]), maps.Clone(l.doc.BrokerConfigs[strconv.Itoa(int(l.self.ID))]))
	}
}

// AlterBrokerConfigs replaces this broker's dynamic configs or the cluster
// defaults (""); a single broker knows no other broker.
//
// Dynamic passwords are stored as given, password.encoder.secret or not.
// The closest Kafka mode is KRaft, not ZooKeeper: the metadata is the
// broker's own file on its own disk, as KRaft's metadata log is, not a
// store shared with other parties; and in KRaft Kafka keeps dynamic
// passwords unencrypted (PasswordEncoder.NOOP) and ignores the
// password.encoder.* keys. The file is written readable by its owner
// only.
func (l *local) AlterBrokerConfigs(ctx context.Context, broker string, configs map[string]string) error {
	return l.EditBrokerConfigs(ctx, broker, func(map[string]string) (map[string]string, error) { return configs, nil })
}

// EditBrokerConfigs is AlterBrokerConfigs with the new set made by edit
// from the stored one.
func (l *local) EditBrokerConfigs(_ context.Context, broker string, edit func(map[string]string) (map[string]string, error)) error {
	entity := DefaultBrokerEntity
	if broker != "" {
		if broker != strconv.Itoa(int(l.self.ID)) {
			return Errorf(kerr.InvalidRequest, "Unexpected broker id, expected %d or empty string, but received %s", l.self.ID, broker)
		}
		entity = broker
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	configs, err := edit(maps.Clone(l.doc.BrokerConfigs[entity]))
	if err != nil {
		return err
	}
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

func (l *local) ClusterID() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.doc.ClusterID
}

func (l *local) saveLocked() error {
	data, err := json.MarshalIndent(&l.doc, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.path + ".tmp"
	// Owner only: the file holds dynamic passwords as given (see
	// AlterBrokerConfigs) and SCRAM credentials.
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
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

// live is the set of live brokers: this one.
func (l *local) live() Live { return NewLive(l.self.ID) }

// partition is partition i of t as the decisions see it.
func (l *local) partition(t *localTopic, i int) Partition {
	lp := t.Partitions[i]
	leader := int32(-1)
	if slices.Contains(lp.Replicas, l.self.ID) {
		leader = l.self.ID
	}
	return Partition{Topic: t.Name, Index: int32(i), Replicas: lp.Replicas, Leader: leader, LeaderEpoch: lp.LeaderEpoch, ISR: lp.Replicas}
}

// findPartitionLocked returns partition p of the named topic, or one
// without replicas when there is none.
func (l *local) findPartitionLocked(name string, p int32) Partition {
	_, t := l.findLocked(name)
	if t == nil || p < 0 || int(p) >= len(t.Partitions) {
		return Partition{Topic: name, Index: p}
	}
	return l.partition(t, int(p))
}

func (l *local) stateLocked(t *localTopic) (TopicState, error) {
	id, err := ParseUuid(t.ID)
	if err != nil {
		return TopicState{}, fmt.Errorf("topic %s: %w", t.Name, err)
	}
	st := TopicState{Name: t.Name, ID: id, Configs: t.Configs}
	for i := range t.Partitions {
		p := l.partition(t, i)
		st.Partitions = append(st.Partitions, PartitionState{Replicas: p.Replicas, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, ISR: p.ISR})
	}
	return st, nil
}

func (l *local) findLocked(name string) (int, *localTopic) {
	for i, t := range l.doc.Topics {
		if t.Name == name {
			return i, t
		}
	}
	return -1, nil
}

func (l *local) CreateTopic(_ context.Context, spec TopicSpec) (TopicState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, t := l.findLocked(spec.Name); t != nil {
		return TopicState{}, kerr.TopicAlreadyExists
	}
	assign, err := PlaceTopic(spec, []int32{l.self.ID}, nil, nil)
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

func (l *local) DeleteTopic(_ context.Context, name string) error {
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

func (l *local) CreatePartitions(_ context.Context, name string, total int32, assignment [][]int32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, t := l.findLocked(name)
	if t == nil {
		return kerr.UnknownTopicOrPartition
	}
	var assign [][]int32
	for _, p := range t.Partitions {
		assign = append(assign, p.Replicas)
	}
	add, err := PlacePartitions(assign, total, assignment, []int32{l.self.ID}, nil, nil)
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
	return l.applyTopicLocked(t)
}

// applyTopicLocked delivers a changed topic.
func (l *local) applyTopicLocked(t *localTopic) error {
	st, err := l.stateLocked(t)
	if err != nil {
		return err
	}
	l.apply.ApplyTopic(st)
	return nil
}

func (l *local) AlterTopicConfigs(_ context.Context, name string, configs map[string]string) error {
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
	return l.applyTopicLocked(t)
}

func (l *local) EditTopicConfigs(_ context.Context, name string, edit func(map[string]string) (map[string]string, error)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, t := l.findLocked(name)
	if t == nil {
		return kerr.UnknownTopicOrPartition
	}
	next, err := edit(maps.Clone(t.Configs))
	if err != nil {
		return err
	}
	old := t.Configs
	t.Configs = next
	if err := l.saveLocked(); err != nil {
		t.Configs = old
		return err
	}
	return l.applyTopicLocked(t)
}

func (l *local) UpdatePartition(_ context.Context, topic string, partition int32, st PartitionState) (PartitionState, error) {
	// A single broker's ISR is itself and never changes.
	return st, nil
}

func (l *local) AllocateProducerIDs(_ context.Context, n int64) (int64, error) {
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

// ElectLeaders decides each election as a cluster's controller would. A
// single broker already leads every partition it is a replica of, and no
// other broker can, so none ever changes a leader: the answers are
// ELECTION_NOT_NEEDED, or PREFERRED_LEADER_NOT_AVAILABLE and
// ELIGIBLE_LEADERS_NOT_AVAILABLE for a partition assigned elsewhere.
func (l *local) ElectLeaders(_ context.Context, typ int8, parts map[string][]int32) (map[string]map[int32]error, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if parts == nil {
		parts = map[string][]int32{}
		for _, t := range l.doc.Topics {
			for p := range t.Partitions {
				parts[t.Name] = append(parts[t.Name], int32(p))
			}
		}
	}
	out := map[string]map[int32]error{}
	for name, ps := range parts {
		res := map[int32]error{}
		for _, p := range ps {
			cur := l.findPartitionLocked(name, p)
			if len(cur.Replicas) == 0 {
				if _, t := l.findLocked(name); t == nil {
					res[p] = UnknownElectionTarget(name, -1)
				} else {
					res[p] = UnknownElectionTarget(name, p)
				}
				continue
			}
			_, err := Elect(typ, cur, l.live())
			invariants.Check(err != nil, "an election changed the leader of %s-%d on a single broker", name, p)
			res[p] = err
		}
		out[name] = res
	}
	return out, nil
}

// AlterPartitionReassignments decides each reassignment as a cluster's
// controller would. A single broker's partitions all live on it and no
// other broker is live, so the only valid target is [self], which is
// where they already are (a no-op success, as Kafka answers a
// reassignment to the current replicas); a cancel finds nothing in
// progress.
func (l *local) AlterPartitionReassignments(_ context.Context, targets map[string]map[int32][]int32, allowRFChange bool) (map[string]map[int32]error, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]map[int32]error{}
	for name, ps := range targets {
		res := map[int32]error{}
		for p, r := range ps {
			if _, t := l.findLocked(name); t == nil {
				res[p] = UnknownReassignmentTopic(name)
				continue
			}
			cur := l.findPartitionLocked(name, p)
			next, err := Reassign(cur, r, l.live(), nil, allowRFChange, false, false)
			if err == nil && !next.SameAssignment(cur) {
				// Only a partition stored with replicas other than this
				// broker (a file written elsewhere) can get here.
				err = Errorf(kerr.InvalidReplicaAssignment, "The partition %s-%d is not on this broker; a single broker cannot move it", name, p)
			}
			res[p] = err
		}
		out[name] = res
	}
	return out, nil
}

// ListPartitionReassignments: a single broker never has a reassignment in
// progress.
func (l *local) ListPartitionReassignments(context.Context, map[string][]int32) (map[string]map[int32]Reassignment, error) {
	return map[string]map[int32]Reassignment{}, nil
}

func (l *local) Shutdown(context.Context) error { return nil }

// HandOver has no other broker to hand to.
func (l *local) HandOver(context.Context, map[string][]int32) error { return nil }
func (l *local) Close() error                                       { return nil }
