package broker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/acl"
	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/broker/quota"
	"gregor/broker/storage"
	"gregor/internal/loglevel"
	"gregor/protocol"
)

// Options configure a Broker.
type Options struct {
	Config *config.Config
	Log    zerolog.Logger
	// LogLevels names the process's loggers, for BROKER_LOGGER; nil
	// makes a set of Log's own.
	LogLevels *loglevel.Levels
	// FS is the filesystem for logs; nil is the real one.
	FS storage.FS
	// Clock is the time source; nil is time.Now.
	Clock func() time.Time
	// Backend is the metadata store; nil picks the local one.
	Backend metadata.Backend
}

// LeadershipListener hears about leadership of internal topic partitions
// (the coordinators load and unload their state with it).
type LeadershipListener func(topic string, partition int32, leader bool, epoch int32)

// TopicDeletedListener is told of a topic deleted from the cluster (or
// replaced by a namesake with another id).
type TopicDeletedListener func(name string, id [16]byte)

// Broker is one Gregor broker.
type Broker struct {
	cfg *config.Config
	log zerolog.Logger
	// badInput is a rate-limited logger for what hostile clients cause.
	badInput zerolog.Logger
	id       int32
	fs       storage.FS
	clock    func() time.Time
	dirs     []*storage.Dir
	// dirLocks are the locks of the log dirs (.lock), taken in New before
	// anything in the dirs is read, released by Close.
	dirLocks []*storage.DirLock
	backend  metadata.Backend
	follow   *fetchers      // replication of partitions led elsewhere
	sessions *fetchSessions // incremental fetch sessions (KIP-227)
	// dyn is the dynamic broker configs in force (from the backend).
	dyn atomic.Pointer[dynamicConfigs]
	// scram is the SCRAM credentials in force (from the backend; scram.go).
	scram scramCredentials
	// tokens are the delegation tokens (from the backend; tokens.go).
	tokens tokenStore
	// configOps serialises this broker's IncrementalAlterConfigs
	// (api_44_incremental_alter_configs.go).
	configOps sync.Mutex
	// tokenOps serialises the token changes this broker makes (a renewal
	// read-then-written, an expiry, the sweep), as Kafka's token manager
	// does with its lock.
	tokenOps sync.Mutex
	// verifier asks transaction coordinators (txn_verify.go).
	verifier txnVerifier
	// internalTopics is how Metadata auto-creates an internal topic
	// (host.go, api_03_metadata.go); nil until set.
	internalTopics atomic.Pointer[InternalTopics]
	// authz decides what requests may do (authz.go); nil without
	// authorizer.class.name.
	authz *acl.Authorizer
	// produceWaits counts acks=all waits in progress and lastProduce is
	// when a produce was last answered (unix ns): a stopping broker closes
	// its connections only once producers have stopped coming.
	produceWaits atomic.Int32
	lastProduce  atomic.Int64
	// handover holds NOT_LEADER answers during a controlled shutdown
	// until the new leaders know they lead (handover.go).
	handover handovers
	// quotas are the replication quotas (replication_quota.go).
	quotas quotas
	// clientQuotas are the client quotas in force and every client's usage
	// (client_quotas.go; made on first use).
	clientQuotas     *quota.Manager
	clientQuotasOnce sync.Once
	// ipRates are the per-IP connection creation rates
	// (ip_connection_rates.go).
	ipRates ipRatesState
	// ops are the counters operators read (ops.go).
	ops opsStats
	// peerPool keeps connections to other brokers (peer.go).
	peerPool peerPool
	// groupConfigs are the group configs (group_configs.go).
	groupConfigs namedConfigs
	// clientMetrics are the client metrics subscriptions
	// (client_metrics.go).
	clientMetrics namedConfigs
	// features are the finalized feature levels
	// (api_57_update_features.go).
	features featureState
	// shares are the share partitions led here (share_parts.go).
	shares shareParts
	// tls is the TLS of the listeners, reconfigured by dynamic configs
	// (listener_tls.go).
	tls listenerTLS

	stop    chan struct{}
	bg      sync.WaitGroup
	spawnMu sync.Mutex // orders spawn against Close
	// moveSlots bounds the log dir moves copying at once (logdir_move.go).
	moveSlots chan struct{}
	// fails is the log dirs' health (logdir_failure.go); offMu guards its
	// mutable part, offCount counts the failed dirs.
	fails    dirFailures
	offMu    sync.Mutex
	offCount atomic.Int32
	// checkpointKick asks for the checkpoints at once; checkpointMu
	// orders their writers (background.go).
	checkpointKick chan struct{}
	checkpointMu   sync.Mutex
	// offlineKick wakes the publisher of this broker's offline replicas;
	// remoteOffline holds the other brokers' (offline_replicas.go).
	offlineKick   chan struct{}
	remoteOffline atomic.Pointer[map[int32]map[string][]int32]
	// started is set once the first metadata load is in force; opened
	// once New has opened the log dirs.
	started, opened atomic.Bool
	// ident is whose the log dirs said they are; futures the log dir
	// moves' copies found by New, taken up by Start (identity.go).
	ident   identity
	futures []foundFuture

	mu sync.RWMutex
	// guarded by mu:
	topics     map[string]*Topic
	byID       map[metadata.Uuid]*Topic
	brokers    []metadata.BrokerInfo
	controller int32
	listeners  []LeadershipListener
	deletions  []TopicDeletedListener
	configured []func(*config.Config)
	// removing are the partitions of deleted topics still being removed,
	// each closed once removed: a partition of a topic created again
	// under that name waits for its namesake before it makes its
	// directory.
	removing map[storage.TP]chan struct{}

	// placeMu guards where partition logs live; creating a partition's
	// directory happens under it, so the metadata loop never takes it.
	placeMu sync.Mutex
	// guarded by placeMu:
	placement map[storage.TP]*storage.Dir // existing partition dirs at start
	paths     map[storage.TP]string
	// foundIDs are the topic ids of partition dirs found at start, until
	// placePartition has checked them against the topic's.
	foundIDs map[storage.TP]string
	// preferred are log dirs AlterReplicaLogDirs named for partitions
	// this broker held no replica of (Kafka's preferred log dirs): the
	// replica is created there. resume are the target dirs of moves
	// between log dirs under way when the broker last stopped.
	preferred map[storage.TP]*storage.Dir
	resume    map[storage.TP]resumeMove

	// applies tracks the partitions applying metadata (partition_apply.go)
	// and slowLog, rate-limited, logs those applied late.
	applies applyTracker
	// applySlots bounds the partitions applying mail at once (each may
	// hold an OS thread in a file syscall).
	applySlots chan struct{}
	slowLog    zerolog.Logger
	// logLevels are the loggers whose levels BROKER_LOGGER reads and sets.
	logLevels *loglevel.Levels
	// syncApply makes deliveries wait until they are applied: the local
	// backend delivers from admin requests, which expect their change in
	// force when they return; ZooKeeper's loop must never wait.
	syncApply bool
}

// New opens the log dirs and returns a broker that is not yet serving.
func New(opt Options) (_ *Broker, err error) {
	b := &Broker{
		cfg:       opt.Config,
		log:       opt.Log,
		badInput:  opt.Log.Sample(&zerolog.BurstSampler{Burst: 20, Period: time.Second}),
		slowLog:   opt.Log.Sample(&zerolog.BurstSampler{Burst: 10, Period: time.Second}),
		id:        opt.Config.BrokerID,
		fs:        opt.FS,
		clock:     opt.Clock,
		backend:   opt.Backend,
		stop:      make(chan struct{}),
		topics:    make(map[string]*Topic),
		removing:  make(map[storage.TP]chan struct{}),
		byID:      make(map[metadata.Uuid]*Topic),
		placement: make(map[storage.TP]*storage.Dir),
		paths:     make(map[storage.TP]string),
		preferred: make(map[storage.TP]*storage.Dir),
		resume:    make(map[storage.TP]resumeMove),
		foundIDs:  make(map[storage.TP]string),
	}
	b.ident.found = make(map[*storage.Dir]storage.Meta)
	b.follow = &fetchers{b: b, byLeader: make(map[int32]*fetcher)}
	b.offlineKick = make(chan struct{}, 1)
	b.checkpointKick = make(chan struct{}, 1)
	b.moveSlots = make(chan struct{}, max(len(opt.Config.LogDirs), 1))
	b.applySlots = make(chan struct{}, maxConcurrentApplies)
	b.sessions = newFetchSessions(func() int { return b.Config().FetchSessionSlots }, b.now)
	b.logLevels = opt.LogLevels
	authzLog := opt.Log.With().Str("component", "authorizer").Logger()
	if b.logLevels == nil {
		root, err := zerolog.ParseLevel(opt.Config.LogLevel)
		if err != nil {
			root = zerolog.InfoLevel
		}
		b.logLevels = loglevel.New(opt.Log, root)
	} else {
		authzLog = b.logLevels.Logger("authorizer")
	}
	if ac, ok := opt.Config.Authorizer(); ok {
		b.authz = acl.New(ac, authzLog)
	}
	b.ops.started = time.Now()
	b.dyn.Store(&dynamicConfigs{cfg: opt.Config, changed: make(chan struct{})})
	b.quotas = newQuotas(b)
	if b.fs == nil {
		b.fs = storage.OSFS{}
	}
	b.fails = dirFailures{offline: make(map[string]error), failed: make(chan struct{})}
	for _, d := range b.cfg.LogDirs {
		if abs, err := filepath.Abs(d); err == nil {
			d = abs // as Kafka names log dirs (DescribeLogDirs, AlterReplicaLogDirs)
		}
		b.fails.paths = append(b.fails.paths, filepath.Clean(d))
	}
	if opt.Backend == nil {
		b.fails.metaDir = b.fails.paths[0]
	}
	b.fs = storage.WatchFS(b.fs, b.diskFailed)
	if b.clock == nil {
		b.clock = time.Now
	}
	defer func() {
		if err != nil {
			b.releaseDirLocks()
		}
	}()
	if err := b.lockDirs(); err != nil {
		return nil, err
	}
	// Whose the log dirs are is read before anything in them changes:
	// another broker's data is refused, not served (identity.go).
	metas, failed, err := b.readIdentity()
	if err != nil {
		return nil, err
	}
	for _, d := range b.fails.paths {
		if failed[d] {
			b.dirs = append(b.dirs, storage.FailedDir(b.fs, d))
			continue
		}
		dir, err := storage.OpenDir(b.fs, d)
		var parts []storage.PartitionDir
		if err == nil {
			parts, err = dir.Partitions()
		}
		if err != nil && storage.IsDiskFailure(err) && b.FailCause() == nil {
			// Offline from the start (diskFailed was told); the
			// other dirs serve.
			b.dirs = append(b.dirs, storage.FailedDir(b.fs, d))
			continue
		}
		if err != nil {
			if c := b.FailCause(); c != nil {
				return nil, c
			}
			return nil, err
		}
		b.dirs = append(b.dirs, dir)
		if m, ok := metas[d]; ok {
			b.ident.found[dir] = m
		}
		for _, p := range parts {
			if p.Future {
				b.futures = append(b.futures, foundFuture{p, dir})
				continue
			}
			b.placement[p.TP] = dir
			b.paths[p.TP] = p.Path
			b.foundIDs[p.TP] = p.TopicID
		}
	}
	b.opened.Store(true)
	if b.backend == nil {
		b.backend = metadata.NewLocal(b.cfg.LogDirs[0], b.selfInfo())
		b.syncApply = true
		if pe := b.cfg.PasswordEncoder; pe.Secret != "" || pe.OldSecret != "" {
			b.log.Warn().Msg("password.encoder.secret has no effect with local metadata: dynamic passwords are kept as given, as Kafka keeps them in KRaft mode")
		}
	}
	return b, nil
}

// ID is the broker id.
func (b *Broker) ID() int32 { return b.id }

// Logger is the broker's logger.
func (b *Broker) Logger() zerolog.Logger { return b.log }

// Backend is the metadata backend.
func (b *Broker) Backend() metadata.Backend { return b.backend }

// ClusterID is the cluster id.
func (b *Broker) ClusterID() string { return b.backend.ClusterID() }

// selfInfo is this broker as it advertises itself.
func (b *Broker) selfInfo() metadata.BrokerInfo { return SelfInfo(b.cfg) }

// SelfInfo is the broker a configuration describes, as it advertises
// itself to the cluster.
func SelfInfo(cfg *config.Config) metadata.BrokerInfo {
	bi := metadata.BrokerInfo{ID: cfg.BrokerID, Rack: cfg.Rack, Endpoints: make(map[string]metadata.Endpoint), Protocols: cfg.ListenerProtocols}
	for _, l := range cfg.AdvertisedListeners {
		bi.Endpoints[l.Name] = metadata.Endpoint{Host: l.Host, Port: int32(l.Port)}
		bi.Listeners = append(bi.Listeners, l.Name)
	}
	return bi
}

// OnLeadership registers a listener for internal topic leadership changes.
func (b *Broker) OnLeadership(fn LeadershipListener) {
	b.mu.Lock()
	b.listeners = append(b.listeners, fn)
	b.mu.Unlock()
}

// OnConfig registers a listener for the configuration in force: called
// with each one built from newly delivered dynamic broker configs,
// deliveries one at a time. It must not block.
func (b *Broker) OnConfig(fn func(*config.Config)) {
	b.mu.Lock()
	b.configured = append(b.configured, fn)
	b.mu.Unlock()
}

// OnTopicDeleted registers a listener for topic deletions; it must not
// block.
func (b *Broker) OnTopicDeleted(fn TopicDeletedListener) {
	b.mu.Lock()
	b.deletions = append(b.deletions, fn)
	b.mu.Unlock()
}

// Start loads metadata, opens every local partition and starts background
// work (retention, checkpoints, flushes).
func (b *Broker) Start(ctx context.Context) error {
	// The cluster is named before anything in the log dirs changes or
	// this broker registers. (With a backend that cannot name it first,
	// in tests, no meta.properties is written and nothing is stray.)
	if j, ok := b.backend.(metadata.Joiner); ok {
		id, err := j.Join(ctx)
		if err != nil {
			return fmt.Errorf("loading cluster metadata: %w", err)
		}
		if err := b.joinCluster(id, j.Joined); err != nil {
			return err
		}
	}
	began := time.Now()
	logs, unclean := b.logsFound()
	if err := b.loadFound(); err != nil {
		return err
	}
	if err := b.backend.Start(ctx, applier{b}); err != nil {
		return fmt.Errorf("loading cluster metadata: %w", err)
	}
	// Serve only once the first load is in force: every local log open.
	if err := b.awaitApplied(ctx); err != nil {
		return fmt.Errorf("applying cluster metadata: %w", err)
	}
	// As Kafka's LogManager.loadLogs reports it.
	took := time.Since(began)
	b.log.Info().Int("logs", logs).Strs("unclean_dirs", unclean).Dur("took_ms", took).
		Msgf("loaded %d logs in %d ms", logs, took.Milliseconds())
	b.started.Store(true)
	b.dropUnresumed()
	b.moveStrayAside()
	if pub, ok := b.backend.(metadata.OfflineReplicaPublisher); ok {
		b.spawn(func() { b.publishOffline(pub) })
	}
	b.goBackground("retention", b.cfg.LogRetentionCheck, b.applyRetention)
	b.goBackground("checkpoint", b.cfg.HighWatermarkCheckpointInterval, b.writeCheckpoints)
	b.spawn(b.writeKickedCheckpoints)
	b.goBackground("flush", time.Second, b.flushDue)
	b.goBackground("file-delete", time.Second, b.purgeRetired)
	b.goBackground("isr", b.cfg.ReplicaLagTimeMax/2, b.checkISR)
	b.goBackground("producer-expiry", b.cfg.ProducerIDExpirationCheck, b.expireProducers)
	b.goBackgroundDynamic(func(c *config.Config) time.Duration { return c.LogCleanerBackoff }, b.compactLogs)
	b.goBackground("share-sweep", 10*time.Second, b.sweepShareParts)
	b.goBackground("peer-idle", 30*time.Second, func() { b.peerPool.sweep(time.Now(), b.Config().ConnectionsMaxIdle) })
	if b.cfg.DelegationTokens.Enabled() {
		b.goBackground("token-expiry", b.cfg.DelegationTokens.ExpiryCheckInterval, b.expireTokens)
	}
	return nil
}

// goBackground runs fn every interval until Close.
func (b *Broker) goBackground(name string, every time.Duration, fn func()) {
	if every <= 0 {
		every = time.Second
	}
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		t := time.NewTicker(every)
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

// goBackgroundDynamic runs fn every interval of the configuration in
// force (a dynamic broker config, as log.cleaner.backoff.ms is in Kafka),
// until Close; an interval changed while waiting applies at once.
func (b *Broker) goBackgroundDynamic(interval func(*config.Config) time.Duration, fn func()) {
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		last := time.Now()
		for {
			d := b.dynamic()
			every := interval(d.cfg)
			if every <= 0 {
				every = time.Second
			}
			t := time.NewTimer(max(time.Until(last.Add(every)), 0))
			select {
			case <-b.stop:
				t.Stop()
				return
			case <-d.changed:
				t.Stop()
			case <-t.C:
				fn()
				last = time.Now()
			}
		}
	}()
}

// spawn runs fn in a goroutine that Close waits for; after Close it does
// nothing and returns false.
func (b *Broker) spawn(fn func()) bool {
	b.spawnMu.Lock()
	defer b.spawnMu.Unlock()
	select {
	case <-b.stop:
		return false
	default:
	}
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		fn()
	}()
	return true
}

// Topic returns a topic by name.
func (b *Broker) Topic(name string) *Topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.topics[name]
}

// TopicByID returns a topic by id.
func (b *Broker) TopicByID(id metadata.Uuid) *Topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.byID[id]
}

// Topics returns every topic, sorted by name.
func (b *Broker) Topics() []*Topic {
	b.mu.RLock()
	out := make([]*Topic, 0, len(b.topics))
	for _, t := range b.topics {
		out = append(out, t)
	}
	b.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Brokers returns the live brokers and the controller id.
func (b *Broker) Brokers() ([]metadata.BrokerInfo, int32) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.brokers, b.controller
}

// BrokerByID returns a live broker.
func (b *Broker) BrokerByID(id int32) (metadata.BrokerInfo, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, bi := range b.brokers {
		if bi.ID == id {
			return bi, true
		}
	}
	return metadata.BrokerInfo{}, false
}

// Partition returns a partition by topic and index.
func (b *Broker) Partition(topic string, p int32) *Partition {
	t := b.Topic(topic)
	if t == nil {
		return nil
	}
	return t.Partition(p)
}

// placePartition returns the log dir and path for a partition's log,
// creating it in the least loaded dir if it does not exist. A directory
// left by an earlier topic of the same name (another topic id) is moved
// aside as stray.
func (b *Broker) placePartition(tp storage.TP, id metadata.Uuid) (*storage.Dir, string, error) {
	b.placeMu.Lock()
	if dir, ok := b.placement[tp]; ok {
		path := b.paths[tp]
		found, checked := b.foundIDs[tp]
		delete(b.foundIDs, tp)
		if !checked || found == "" || found == id.String() || b.dirOffline(dir) {
			b.placeMu.Unlock()
			if checked && found == "" && !b.dirOffline(dir) {
				// Lost (or from before Gregor kept it): written again.
				if err := dir.WritePartitionMeta(path, id.String()); err != nil {
					b.log.Warn().Err(err).Str("path", path).Msg("writing partition.metadata")
				}
			}
			return dir, path, nil
		}
		// The replica of a topic deleted while this broker was away,
		// and created again since under the same name: its records are
		// not the new topic's. Moved aside (kept, as Kafka keeps stray
		// logs), and the replica starts empty.
		delete(b.placement, tp)
		delete(b.paths, tp)
		b.placeMu.Unlock()
		stray, err := dir.MoveAside(path)
		if err != nil {
			return nil, "", fmt.Errorf("moving aside %s, of an earlier topic of the same name: %w", path, err)
		}
		b.log.Warn().Str("topic", tp.Topic).Int32("partition", tp.Partition).Str("moved_to", stray).Str("found_topic_id", found).Str("topic_id", id.String()).
			Msg("a replica directory of an earlier topic of the same name was moved aside; the replica starts empty")
		b.checkpointSoon()
		b.placeMu.Lock()
	}
	var best *storage.Dir
	if d, ok := b.preferred[tp]; ok && !b.dirOffline(d) {
		best = d
		delete(b.preferred, tp)
	} else {
		counts := make(map[*storage.Dir]int)
		for _, d := range b.placement {
			counts[d]++
		}
		for _, d := range b.dirs {
			if !b.dirOffline(d) && (best == nil || counts[d] < counts[best]) {
				best = d
			}
		}
	}
	if best == nil {
		b.placeMu.Unlock()
		return nil, "", fmt.Errorf("placing %s: %w (every log dir is offline)", tp, kerr.KafkaStorageError)
	}
	// Placed before the directory is made, so partitions created side by
	// side count each other (each partition's own lock keeps one
	// placement of it at a time).
	path := filepath.Join(best.Path, tp.String())
	b.placement[tp], b.paths[tp] = best, path
	b.placeMu.Unlock()
	// Made without the placement lock: partitions are created in
	// parallel.
	if _, err := best.CreatePartition(tp, id.String()); err != nil {
		b.forgetPlacement(tp)
		return nil, "", err
	}
	return best, path, nil
}

// placed reports whether a partition has a directory in a log dir.
func (b *Broker) placed(tp storage.TP) bool {
	b.placeMu.Lock()
	defer b.placeMu.Unlock()
	_, ok := b.placement[tp]
	return ok
}

// forgetPlacement drops a partition's directory from the placement once
// its log is deleted, so a later replica is created afresh.
func (b *Broker) forgetPlacement(tp storage.TP) {
	b.placeMu.Lock()
	delete(b.placement, tp)
	delete(b.paths, tp)
	delete(b.foundIDs, tp)
	b.placeMu.Unlock()
}

// logConfig maps a topic's configuration to its log's.
func (b *Broker) logConfig(t config.Topic) storage.Config {
	c := storage.Config{
		SegmentBytes:       int64(t.SegmentSize()),
		SegmentRoll:        t.SegmentRoll,
		SegmentJitter:      t.SegmentJitter,
		IndexBytes:         int64(t.SegmentIndexBytes),
		IndexIntervalBytes: int64(t.IndexInterval),
		RetentionBytes:     int64(t.RetentionBytes),
		RetentionMs:        t.Retention.Milliseconds(),
		FlushMessages:      t.FlushMessages,
		FileDeleteDelay:    t.FileDeleteDelay,
	}
	if !t.Cleanup.Delete() {
		c.RetentionBytes, c.RetentionMs = -1, -1
	}
	if t.Cleanup.Compact() && t.MaxCompactionLag > 0 && (c.SegmentRoll <= 0 || t.MaxCompactionLag < c.SegmentRoll) {
		// As Kafka's LogConfig.maxSegmentMs: a compacted topic's segment
		// rolls by max.compaction.lag.ms at the latest, or its records
		// could outstay the lag in the active segment, which is never
		// cleaned.
		c.SegmentRoll = t.MaxCompactionLag
	}
	if t.FlushMessages == 1<<63-1 {
		c.FlushMessages = -1
	}
	if t.FlushInterval > 0 && t.FlushInterval < config.Forever {
		c.FlushInterval = t.FlushInterval
	}
	return c
}

// Close stops background work, closes every partition and marks the log
// dirs clean. It does not hand leaderships over; Shutdown does.
func (b *Broker) Close() error {
	select {
	case <-b.stop:
		return nil
	default:
	}
	b.spawnMu.Lock()
	close(b.stop)
	b.spawnMu.Unlock()
	defer b.releaseDirLocks() // after the clean-shutdown marks
	b.bg.Wait()
	b.follow.close()
	b.verifier.close()
	b.peerPool.close()
	b.shares.closeAll()
	var errs []error
	topics := b.Topics()
	for _, t := range topics {
		for _, p := range t.Partitions() {
			p.snapshotProducers()
			if err := p.close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// Log dirs refused as another broker's or cluster's are left as they
	// were. A start that did not finish (a metadata store out of reach)
	// marks clean only the dirs the last run had left clean: the logs it
	// did not open are still to be recovered.
	started := b.started.Load()
	if b.ident.checked {
		b.writeCheckpointsOf(topics, true)
	}
	errs = append(errs, b.backend.Close())
	if err := errors.Join(errs...); err != nil {
		return err // not clean: the next start recovers
	}
	for _, d := range b.dirs {
		if b.dirOffline(d) || (!started && !d.Clean()) {
			continue // not clean: the next start checks what it holds
		}
		if err := d.MarkClean(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Registry registers the broker's APIs. The share-group APIs a leader
// serves answer UNSUPPORTED_VERSION while share.version is at level 0.
func (b *Broker) Register(r *protocol.Registry) {
	if b.Config().ShareGroupEnable {
		r.RegisterFeature(protocol.ShareVersion)
	}
	for _, a := range b.apis() {
		if a.Key == 78 || a.Key == 79 {
			a.Handler = r.FeatureGate(protocol.ShareVersion.Name, a.Handler)
		}
		r.Register(a)
	}
	b.registerFeatures(r)
}

// logsFound counts the replica logs found in the log dirs at start and
// names the online dirs the last run did not stop cleanly in, logging
// each such dir as Kafka's LogManager does before it recovers it.
func (b *Broker) logsFound() (logs int, unclean []string) {
	b.placeMu.Lock()
	per := map[*storage.Dir]int{}
	for _, d := range b.placement {
		per[d]++
	}
	b.placeMu.Unlock()
	for _, d := range b.dirs {
		logs += per[d]
		if b.dirOffline(d) || d.Clean() || per[d] == 0 {
			continue // a new dir has no clean shutdown file either
		}
		unclean = append(unclean, d.Path)
		b.log.Info().Str("dir", d.Path).Int("logs", per[d]).
			Msgf("recovering %d logs from %s, as no clean shutdown file was found", per[d], d.Path)
	}
	return logs, unclean
}
