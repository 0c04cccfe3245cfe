package metadata

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/acl"
)

// ErrStaleState means a partition state update lost a race.
var ErrStaleState = errors.New("partition state changed concurrently")

// ErrTokenGone means a delegation token to update no longer exists (it was
// removed meanwhile): an update never brings one back.
var ErrTokenGone = errors.New("delegation token no longer exists")

// Errorf is a Kafka error code with a message for the client; errors.Is
// and errors.As find the code. Its text is the message alone, as Kafka's
// ApiError carries it: responses with an error message send err.Error().
func Errorf(code *kerr.Error, format string, args ...any) error {
	return &CodedError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// CodedError is a Kafka error code with the message a client gets.
type CodedError struct {
	Code *kerr.Error
	Msg  string
}

func (e *CodedError) Error() string { return e.Msg }
func (e *CodedError) Unwrap() error { return e.Code }

// InvalidConfigError is a config the backend refuses to store (Kafka's
// ConfigException from DynamicBrokerConfig.toPersistentProps): the
// client gets INVALID_CONFIG with Msg in Kafka's wording.
type InvalidConfigError struct{ Msg string }

func (e *InvalidConfigError) Error() string { return e.Msg }
func (e *InvalidConfigError) Unwrap() error { return kerr.InvalidConfig }

// Applier receives metadata as the backend learns it. Calls are serialised.
type Applier interface {
	ApplyTopic(TopicState)
	RemoveTopic(name string)
	ApplyBrokers(brokers []BrokerInfo, controller int32)
}

// BrokerConfigApplier is implemented by Appliers that take dynamic broker
// configs (the broker's always does); backends deliver them, when the
// Applier implements it, at Start (even when there are none) and on every
// change, serialised with the other deliveries. defaults are the
// cluster-wide dynamic defaults (Kafka's /config/brokers/<default>),
// perBroker this broker's own (/config/brokers/<id>); both are complete
// sets the Applier may keep.
type BrokerConfigApplier interface {
	ApplyBrokerConfigs(defaults, perBroker map[string]string)
}

// GroupConfigApplier is implemented by Appliers that take group configs
// (config resource type GROUP: share.auto.offset.reset, ...); backends
// deliver every group's overrides, by group, at Start and on every
// change, as a complete set the Applier may keep.
type GroupConfigApplier interface {
	ApplyGroupConfigs(groups map[string]map[string]string)
}

// ClientMetricsApplier is implemented by Appliers that take client
// metrics subscriptions (config resource type CLIENT_METRICS, KIP-714);
// backends deliver every subscription's configs, by name, at Start and on
// every change, as a complete set the Applier may keep.
type ClientMetricsApplier interface {
	ApplyClientMetrics(subscriptions map[string]map[string]string)
}

// FeatureApplier is implemented by Appliers that take the cluster's
// finalized feature levels (UpdateFeatures, KIP-584); backends deliver
// them at Start and on every change. levels is nil while none was ever
// set (the brokers' defaults hold); a feature at level 0 is absent. epoch
// grows with every change.
type FeatureApplier interface {
	ApplyFeatures(levels map[string]int16, epoch int64)
}

// PartitionApplier is implemented by Appliers that also take single
// partition states out of band: what the backend itself just wrote (a
// controlled shutdown's handovers), before its watches read it back. Such
// calls may run concurrently with the other deliveries: the Applier keeps,
// per partition, the leadership of the highest Version it was given.
type PartitionApplier interface {
	ApplyPartition(topic string, id Uuid, partition int32, st PartitionState)
}

// OfflineReplicaApplier is implemented by Appliers that take the replicas
// other brokers cannot serve (their log dirs failed), by broker, then
// topic: all of them at Start and on every change. A broker that has none
// is absent.
type OfflineReplicaApplier interface {
	ApplyOfflineReplicas(byBroker map[int32]map[string][]int32)
}

// OfflineReplicaPublisher is implemented by the backends of a cluster: a
// broker records there the replicas it cannot serve (its whole set, by
// topic; none clears it), for every broker's OfflineReplicas.
type OfflineReplicaPublisher interface {
	PublishOfflineReplicas(ctx context.Context, parts map[string][]int32) error
}

// NamedConfigs is a kind of configs kept by entity name.
type NamedConfigs int8

const (
	GroupConfigs NamedConfigs = iota
	ClientMetricsConfigs
)

// Joiner is implemented by backends that can name the cluster before
// Start: Join reaches the store and reads the cluster id (creating it for
// a new cluster) without registering this broker or delivering anything,
// so the broker can check that its log dirs belong to that cluster first
// (Kafka's meta.properties). Start then goes on from there.
type Joiner interface {
	Join(ctx context.Context) (clusterID string, err error)
	// Joined records the cluster id where the backend keeps it itself
	// and it is new (a new broker's local metadata file). The broker
	// calls it once it accepted the id, before it names the id in its
	// log dirs, so no log dir names a cluster nothing records.
	Joined() error
}

// TopicConfigReader is implemented by the backends of a cluster: it reads
// a topic's config overrides as the store holds them now (none when it
// has none), not as last delivered here. A describe answered from it
// shows a change made through another broker at once, as ZooKeeper-mode
// Kafka's DescribeConfigs (read from ZooKeeper) does.
type TopicConfigReader interface {
	StoredTopicConfigs(ctx context.Context, name string) (map[string]string, error)
}

// TopicLister is implemented by backends that can tell whether the store
// lists a topic at all, delivered or not: a ZooKeeper topic znode that
// cannot be read is listed but never delivered. The broker takes no
// replica of such a topic for stray.
type TopicLister interface {
	TopicListed(name string) bool
}

// Backend is the source of truth for cluster metadata: a local file for a
// single broker, ZooKeeper for a cluster. Mutations are asynchronous in a
// cluster: they return once recorded, and reach every broker (this one
// included) through Applier.
type Backend interface {
	// Start loads the metadata, delivers it to apply and keeps delivering
	// changes until ctx ends.
	Start(ctx context.Context, apply Applier) error
	ClusterID() string
	CreateTopic(ctx context.Context, spec TopicSpec) (TopicState, error)
	DeleteTopic(ctx context.Context, name string) error
	CreatePartitions(ctx context.Context, name string, total int32, assignment [][]int32) error
	AlterTopicConfigs(ctx context.Context, name string, configs map[string]string) error
	// EditTopicConfigs replaces a topic's overrides with what edit makes
	// of them as the store holds them now (not as last delivered), and
	// does it again if they changed meanwhile: an incremental change made
	// through any broker builds on every change recorded before it. An
	// error from edit is returned as it is.
	EditTopicConfigs(ctx context.Context, name string, edit func(cur map[string]string) (map[string]string, error)) error
	// AlterBrokerConfigs replaces the dynamic broker configs of a broker
	// (named by its id) or, for "", the cluster-wide defaults: configs is
	// the complete new set (empty removes them all). The caller validates
	// them. It returns once recorded; the change reaches the brokers
	// through BrokerConfigApplier.
	AlterBrokerConfigs(ctx context.Context, broker string, configs map[string]string) error
	// EditBrokerConfigs is AlterBrokerConfigs with the new set made by
	// edit from the set as the store holds it now (passwords in the
	// clear), again if it changed meanwhile: an incremental change of
	// the cluster default made through any broker builds on every change
	// recorded before it, delivered here yet or not. It returns once the
	// result (or a later change) is delivered here, for this broker's own
	// entity and the default. An error from edit is returned as it is.
	EditBrokerConfigs(ctx context.Context, broker string, edit func(cur map[string]string) (map[string]string, error)) error
	// AlterGroupConfigs replaces a group's config overrides (none
	// deletes them); the change reaches every broker through
	// GroupConfigApplier.
	AlterGroupConfigs(ctx context.Context, group string, configs map[string]string) error
	// AlterClientMetrics replaces a client metrics subscription's configs
	// (none deletes it); the change reaches every broker through
	// ClientMetricsApplier.
	AlterClientMetrics(ctx context.Context, name string, configs map[string]string) error
	// EditNamedConfigs is EditTopicConfigs for a group's configs or a
	// client metrics subscription's (none left deletes them).
	EditNamedConfigs(ctx context.Context, kind NamedConfigs, name string, edit func(cur map[string]string) (map[string]string, error)) error
	// UpdateFeatures replaces the finalized feature levels with levels (a
	// feature at 0 is dropped); the change reaches every broker through
	// FeatureApplier.
	UpdateFeatures(ctx context.Context, levels map[string]int16) error
	// UpdatePartition records a leader's ISR change; it fails with
	// ErrStaleState if the state changed since version.
	UpdatePartition(ctx context.Context, topic string, partition int32, st PartitionState) (PartitionState, error)
	// AllocateProducerIDs reserves a block of producer ids.
	AllocateProducerIDs(ctx context.Context, n int64) (start int64, err error)
	// ElectLeaders runs leader elections of the given type (ElectPreferred
	// or ElectUnclean) for the given partitions of each topic, or for every
	// partition when parts is nil. Each partition's result is nil when its
	// leader was changed, or a *kerr.Error (possibly wrapped):
	// ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
	// ELIGIBLE_LEADERS_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION. The
	// change reaches the brokers through the Applier like any other.
	ElectLeaders(ctx context.Context, typ int8, parts map[string][]int32) (map[string]map[int32]error, error)
	// AlterPartitionReassignments starts reassignments of partitions to
	// new replica lists, or cancels the ongoing reassignment of a
	// partition whose target is nil (KIP-455). allowRFChange false refuses
	// targets that change a partition's replication factor. Each
	// partition's result is nil when the reassignment was recorded (or
	// cancelled), or a *kerr.Error (possibly wrapped):
	// UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT,
	// INVALID_REPLICATION_FACTOR, NO_REASSIGNMENT_IN_PROGRESS. The
	// reassignment then completes asynchronously.
	AlterPartitionReassignments(ctx context.Context, targets map[string]map[int32][]int32, allowRFChange bool) (map[string]map[int32]error, error)
	// ListPartitionReassignments returns the ongoing reassignments among
	// the given partitions of each topic (every partition of a topic
	// given with a nil list), or all of them when parts is nil.
	ListPartitionReassignments(ctx context.Context, parts map[string][]int32) (map[string]map[int32]Reassignment, error)
	// UserScramCredentials reads every user's SCRAM credentials from the
	// store itself (not what was last delivered).
	UserScramCredentials(ctx context.Context) (UserScram, error)
	// AlterUserScramCredentials applies one user's alteration (see
	// AlterScramConfig); it returns once recorded, and the change reaches
	// every broker through ScramCredentialApplier.
	AlterUserScramCredentials(ctx context.Context, a ScramAlteration) error
	// Acls reads every ACL from the store itself (not what was last
	// delivered).
	Acls(ctx context.Context) ([]acl.Binding, error)
	// CreateAcls adds ACLs the caller validated (acl.Validate); an ACL
	// that exists already is kept once. The result has an error (or nil)
	// per binding. It returns once recorded; the change reaches every
	// broker through AclApplier.
	CreateAcls(ctx context.Context, bindings []acl.Binding) []error
	// DeleteAcls removes every ACL a filter matches and returns, per
	// filter, the ACLs it removed and an error (or nil). Filters with an
	// unknown field match nothing (the caller answers them).
	DeleteAcls(ctx context.Context, filters []acl.Filter) ([][]acl.Binding, []error)
	// SetDelegationToken creates (create) or replaces a delegation
	// token; replacing one that no longer exists fails with ErrTokenGone.
	// It returns once recorded, and the change reaches every broker
	// through DelegationTokenApplier.
	SetDelegationToken(ctx context.Context, t TokenInfo, create bool) error
	// DeleteDelegationToken removes a token (a missing one is no error);
	// the change reaches every broker through DelegationTokenApplier.
	DeleteDelegationToken(ctx context.Context, tokenID string) error
	// Shutdown hands leaderships over (controlled shutdown) where it can.
	Shutdown(ctx context.Context) error
	// HandOver does for the given partitions of each topic what Shutdown
	// does for all: their leaderships go to other in-sync replicas and
	// this broker leaves their ISRs (its replicas of them cannot serve:
	// a failed log dir, a full disk). It returns once the states it
	// wrote are delivered here.
	HandOver(ctx context.Context, parts map[string][]int32) error
	Close() error
}
