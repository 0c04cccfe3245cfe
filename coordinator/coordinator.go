package coordinator

import (
	"sync"
	"time"

	"github.com/rs/zerolog"

	"gregor/broker/acl"
	"gregor/protocol"
)

// Config is the coordinators' part of the broker configuration.
type Config struct {
	BrokerID int32

	OffsetsTopicPartitions   int32
	OffsetsTopicReplication  int16
	OffsetsTopicSegmentBytes int64
	// TxnTopicSegmentBytes is transaction.state.log.segment.bytes (0:
	// Kafka's default, 100 MiB).
	TxnTopicSegmentBytes int64
	OffsetsRetention     time.Duration
	// OffsetsCommitTimeout is offsets.commit.timeout.ms: how long a
	// request waits for its group records to be replicated (0: Kafka's
	// default, 5 s).
	OffsetsCommitTimeout time.Duration
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes: a committed
	// offset's metadata may be no longer (0: none but empty ones;
	// negative: none at all, as in Kafka).
	OffsetMetadataMaxBytes int32
	OffsetsRetentionCheck  time.Duration
	InitialRebalanceDelay  time.Duration
	MinSessionTimeout      time.Duration
	MaxSessionTimeout      time.Duration
	MaxGroupSize           int32

	// KIP-848 consumer groups: ConsumerProtocol serves them at all;
	// Assignors are the server-side assignors by name, the first being
	// the default; MigrationPolicy is disabled, upgrade, downgrade or
	// bidirectional.
	ConsumerProtocol          bool
	ConsumerSessionTimeout    time.Duration
	ConsumerHeartbeatInterval time.Duration
	ConsumerMaxGroupSize      int32
	ConsumerAssignors         []string
	MigrationPolicy           string
	// RegexRefreshInterval is the least time between two resolutions of
	// a group's topic regexes against new topics (Kafka's 10 s).
	RegexRefreshInterval time.Duration

	// KIP-932 share groups (ShareGroupEnable serves them at all) and
	// the share coordinator's __share_group_state.
	ShareGroupEnable                bool
	ShareSessionTimeout             time.Duration
	ShareMinSessionTimeout          time.Duration
	ShareMaxSessionTimeout          time.Duration
	ShareHeartbeatInterval          time.Duration
	ShareMinHeartbeatInterval       time.Duration
	ShareMaxHeartbeatInterval       time.Duration
	ShareMaxGroupSize               int32
	ShareInitializeRetryInterval    time.Duration
	ShareRecordLockDuration         time.Duration
	ShareStateTopicPartitions       int32
	ShareStateTopicReplication      int16
	ShareStateTopicMinISR           int16
	ShareStateSegmentBytes          int64
	ShareSnapshotUpdatesPerSnapshot int32
	ShareWriteTimeout               time.Duration
	ShareStatePruneInterval         time.Duration
	ShareColdSnapshotInterval       time.Duration

	TxnTopicPartitions  int32
	TxnTopicReplication int16
	TxnTopicMinISR      int32
	TxnMaxTimeout       time.Duration
	TxnIDExpiration     time.Duration
	TxnAbortCheckPeriod time.Duration
	// TxnIDExpireCheckPeriod is
	// transaction.remove.expired.transaction.cleanup.interval.ms.
	TxnIDExpireCheckPeriod time.Duration
	// TxnPartitionVerification is transaction.partition.verification.enable:
	// a TxnOffsetCommit before v5 is checked against the transaction.
	// TxnPartitionVerificationNow, when set, is asked at each commit
	// instead: the key is a dynamic broker config, which Kafka's
	// ReplicaManager reads from the configuration in force each time.
	TxnPartitionVerification    bool
	TxnPartitionVerificationNow func() bool

	// Authorizer is the broker's (nil: everything is allowed).
	Authorizer *acl.Authorizer
}

// base is what both coordinators share: the configuration, the broker and
// the logger.
type base struct {
	cfg  Config
	host Host
	log  zerolog.Logger
	// counts holds the partition counts partitionsOf settled on, shared
	// by the coordinators (nil in tests that need none).
	counts *sync.Map
}

// partitionsOf is how many partitions the keys of an internal topic hash
// over: as many as the topic had when first seen, else the configured
// number it will be created with. Kafka starts its coordinators with the
// topic's partition count too, falling back to the config, and keeps it
// until the broker restarts: changing offsets.topic.num.partitions (or
// transaction.state.log.num.partitions) after the topic exists moves no
// group or transactional id, a topic made by hand with other counts is
// used as it is, and partitions added to it later move nothing either.
func (b *base) partitionsOf(topic string, configured int32) int32 {
	if b.counts != nil {
		if n, ok := b.counts.Load(topic); ok {
			return n.(int32)
		}
	}
	if _, n, ok := b.host.TopicIDOf(topic); ok && n > 0 {
		if b.counts != nil {
			got, _ := b.counts.LoadOrStore(topic, n)
			return got.(int32)
		}
		return n
	}
	return configured
}

// offsetsPartitions and txnPartitions are partitionsOf the two topics.
func (b *base) offsetsPartitions() int32 {
	return b.partitionsOf(OffsetsTopic, b.cfg.OffsetsTopicPartitions)
}

func (b *base) txnPartitions() int32 {
	return b.partitionsOf(TransactionTopic, b.cfg.TxnTopicPartitions)
}

// background runs a coordinator's periodic work until closed.
type background struct {
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	mu   sync.Mutex // orders spawn against close
}

func newBackground() background { return background{stop: make(chan struct{})} }

// every runs fn every d (def when d <= 0) until close.
func (b *background) every(d, def time.Duration, fn func()) {
	if d <= 0 {
		d = def
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				fn()
			}
		}
	}()
}

// spawn runs fn in a goroutine that close waits for; fn's stop channel
// closes when close is called. After close, spawn runs nothing and
// returns false.
func (b *background) spawn(fn func(stop <-chan struct{})) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.stop:
		return false
	default:
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn(b.stop)
	}()
	return true
}

// close stops the periodic work and waits for it.
func (b *background) close() {
	b.mu.Lock()
	b.once.Do(func() { close(b.stop) })
	b.mu.Unlock()
	b.wg.Wait()
}

// nowMs is the coordinators' clock in milliseconds.
func (c *base) nowMs() int64 { return time.Now().UnixMilli() }

// Coordinator is a broker's group and transaction coordinators: two state
// machines, each on its own runtime of shards (runtime package), one per
// internal topic partition this broker leads.
type Coordinator struct {
	base
	groups *groupCoordinator
	txns   *txnCoordinator
	shares *shareCoordinator
}

// New returns the coordinators for a broker.
func New(cfg Config, host Host, log zerolog.Logger) *Coordinator {
	b := base{cfg: cfg, host: host, log: log, counts: new(sync.Map)}
	groups := newGroupCoordinator(b)
	txns := newTxnCoordinator(b, groups)
	groups.txns = txns
	co := &Coordinator{base: b, groups: groups, txns: txns, shares: newShareCoordinator(b)}
	groups.co = co
	return co
}

// Register adds the coordinators' APIs to the registry.
func (c *Coordinator) Register(r *protocol.Registry) {
	r.Register(protocol.API{Key: 10, Min: 0, Max: 6, Handler: c.handleFindCoordinator})
	// The feature levels the APIs below stand for: transaction version 2
	// (EndTxn v5, TxnOffsetCommit v5, produce adding partitions), and
	// group version 1 (KIP-848 consumer groups).
	r.RegisterFeature(protocol.Feature{Name: "transaction.version", Min: 0, Max: 2, Default: 2})
	if c.cfg.ConsumerProtocol {
		r.RegisterFeature(protocol.Feature{Name: "group.version", Min: 0, Max: 1, Default: 1})
	}
	// KIP-848's and KIP-932's APIs answer UNSUPPORTED_VERSION while their
	// feature is finalized at level 0 (kafka-features.sh disable).
	gated := map[int16]string{68: "group.version", 69: "group.version",
		76: "share.version", 77: "share.version", 90: "share.version", 91: "share.version", 92: "share.version"}
	for _, a := range c.groups.apis() {
		if feature, ok := gated[a.Key]; ok {
			a.Handler = r.FeatureGate(feature, a.Handler)
		}
		r.Register(a)
	}
	for _, a := range c.txns.apis() {
		r.Register(a)
	}
	if c.cfg.ShareGroupEnable {
		r.RegisterFeature(protocol.ShareVersion)
	}
	// The share coordinator's inter-broker APIs: their deferred work
	// only waits for the records to be committed.
	for _, a := range []protocol.API{
		{Key: 83, Min: 0, Max: 0, Handler: c.shares.handleInitializeShareGroupState, WaitOnly: true},
		{Key: 84, Min: 0, Max: 0, Handler: c.shares.handleReadShareGroupState, WaitOnly: true},
		{Key: 85, Min: 0, Max: 1, Handler: c.shares.handleWriteShareGroupState, WaitOnly: true},
		{Key: 86, Min: 0, Max: 0, Handler: c.shares.handleDeleteShareGroupState, WaitOnly: true},
		{Key: 87, Min: 0, Max: 1, Handler: c.shares.handleReadShareGroupStateSummary, WaitOnly: true},
	} {
		r.Register(a)
	}
}

// LeadershipChanged is called by the broker (from its metadata loop) when
// this broker gains or loses leadership of an internal topic partition:
// the coordinator of the groups or transactional ids that hash to it
// starts loading them, or unloads them. It never blocks on coordinator
// work.
func (c *Coordinator) LeadershipChanged(topic string, partition int32, leader bool, epoch int32) {
	switch topic {
	case OffsetsTopic:
		c.groups.rt.Leadership(partition, leader, epoch)
	case TransactionTopic:
		c.txns.rt.Leadership(partition, leader, epoch)
	case ShareStateTopic:
		c.shares.rt.Leadership(partition, leader, epoch)
	}
}

// Close stops the coordinators' background work and unloads every shard.
func (c *Coordinator) Close() {
	c.txns.close()
	c.groups.close()
	c.shares.close()
}

// Internal topic names.
const (
	OffsetsTopic     = "__consumer_offsets"
	TransactionTopic = "__transaction_state"
)

// txnPartitionVerification is transaction.partition.verification.enable
// in force.
func (c Config) txnPartitionVerification() bool {
	if c.TxnPartitionVerificationNow != nil {
		return c.TxnPartitionVerificationNow()
	}
	return c.TxnPartitionVerification
}
