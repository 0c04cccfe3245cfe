package config

import (
	"errors"
	"math"
	"net"
	"regexp"
	"strings"

	"gregor/broker/acl"
	"gregor/protocol"
)

// Hard limits, with the reason for each. Kafka's own limits are in the
// validators of the table below.
const (
	// maxPartitions bounds num.partitions and the internal topics'
	// partition counts: each partition holds open files and a goroutine's
	// worth of state.
	maxPartitions = 1 << 16
	// minSegmentBytes is the floor of the segment sizes Kafka does not
	// bound (internal.segment.bytes, the internal topics' segment sizes),
	// Kafka 3.x's floor of segment.bytes (a legacy record's overhead): a
	// segment must hold at least one record.
	minSegmentBytes = 14
	// maxMessageBytes: a batch and the frame around it must fit a signed
	// 32-bit length.
	maxMessageBytes = math.MaxInt32 - 1024
	// maxReplicationFactor: replication factors are int16 on the wire.
	maxReplicationFactor = math.MaxInt16
	// maxReplicaFetchers: one goroutine and connection per fetcher and
	// leader; more only contend for the same disks.
	maxReplicaFetchers = 64
	// minRequestBytes: socket.request.max.bytes must admit any request
	// header and a small body.
	minRequestBytes = 1024
	// maxBrokerPartitions bounds gregor.max.broker.partitions: each
	// replica holds at least three open files (log, offset and time
	// indexes), so more than this exhausts any descriptor limit.
	maxBrokerPartitions = 1 << 20
	// minFetchMaxBytes is Kafka's floor for fetch.max.bytes.
	minFetchMaxBytes = 1024
)

const maxLong = "9223372036854775807"

// table is every key Gregor knows, one row each. Adding a key is one row
// (and a field in Config or Topic if Gregor uses the value). Names,
// types, defaults, validators and dynamic scopes are Kafka's unless a
// comment says why not.
var table = []Key{
	// Identity, listeners, directories.
	{Name: "broker.id", Type: Int, Default: "-1", Valid: atLeast(-1), Field: func(c *Config) any { return &c.BrokerID },
		Doc: "The broker's id. Unset (-1): on a single broker without ZooKeeper 0; in a cluster the one its log dirs' meta.properties name, else one generated (broker.id.generation.enable)."},
	{Name: "broker.id.generation.enable", Type: Boolean, Default: "true", Field: func(c *Config) any { return &c.BrokerIDGeneration },
		Doc: "In a cluster, whether a broker without broker.id, and with none in its log dirs' meta.properties, is given one from ZooKeeper, above reserved.broker.max.id."},
	{Name: "reserved.broker.max.id", Type: Int, Default: "1000", Valid: atLeast(0), Field: func(c *Config) any { return &c.ReservedBrokerMaxID },
		Doc: "The highest broker.id that may be set when ids are generated; generated ids are above it."},
	{Name: "broker.rack", Type: String, NoDefault: true, Field: func(c *Config) any { return &c.Rack },
		Doc: "The rack of the broker, for rack-aware replica placement."},
	// Gregor's listener defaults to loopback (Kafka's to every interface).
	// Kafka lets listeners and their security keys be altered per broker;
	// Gregor sets them up at start-up (StartupOnly).
	{Name: "listeners", Type: String, Scope: PerBroker, StartupOnly: true, Default: "PLAINTEXT://127.0.0.1:9092", Valid: someListener, Field: func(c *Config) any { return &c.Listeners },
		Doc: "Comma-separated NAME://host:port addresses the broker listens on."},
	{Name: "advertised.listeners", Type: String, Scope: PerBroker, StartupOnly: true, NoDefault: true, Field: func(c *Config) any { return &c.AdvertisedListeners },
		Doc: "The addresses given to clients, by listener name; listeners when not set."},
	// Gregor's data directory defaults to ./data (SPEC: run with no arguments).
	{Name: "log.dir", Type: String, Default: "./data", Field: func(c *Config) any { return &c.LogDir },
		Doc: "The directory holding the log data, when log.dirs is not set."},
	{Name: "log.dirs", Type: String, NoDefault: true, Field: func(c *Config) any { return &c.LogDirs },
		Doc: "Comma-separated directories holding the log data."},
	{Name: "zookeeper.connect", Type: String, NoDefault: true, Field: func(c *Config) any { return &c.ZookeeperConnect },
		Doc: "ZooKeeper host:port list (and chroot); empty runs a single broker on local metadata."},
	{Name: "zookeeper.session.timeout.ms", Type: Int, Unit: Millis, Default: "18000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ZookeeperSessionTimeout },
		Doc: "The ZooKeeper session timeout."},

	// Topics.
	{Name: "num.partitions", Type: Int, Default: "1", Valid: between(1, maxPartitions), Field: func(c *Config) any { return &c.NumPartitions },
		Doc: "The number of partitions of a topic created without one."},
	{Name: "default.replication.factor", Type: Int, Default: "1", Valid: between(1, maxReplicationFactor), Field: func(c *Config) any { return &c.DefaultReplicationFactor },
		Doc: "The replication factor of a topic created without one."},
	{Name: "delete.topic.enable", Type: Boolean, Default: "true", Field: func(c *Config) any { return &c.DeleteTopicEnable },
		Doc: "Whether topics may be deleted."},
	{Name: "auto.create.topics.enable", Type: Boolean, Default: "true", Field: func(c *Config) any { return &c.AutoCreateTopicsEnable },
		Doc: "Whether a topic is created when a client asks for metadata of one that does not exist."},
	// Kafka has no such limit (KIP-578 proposed max.broker.partitions and
	// was not adopted); 4,000 is the usual guidance per Kafka broker.
	{Name: "gregor.max.broker.partitions", Type: Int, Default: "4000", Valid: between(1, maxBrokerPartitions), Scope: ClusterWide,
		Field: func(c *Config) any { return &c.MaxBrokerPartitions },
		Doc:   "The most partition replicas one broker hosts: creating topics or partitions, or reassigning them, past it fails with POLICY_VIOLATION."},

	// Topic defaults: retention, segments, indexes, flushing.
	// The broker key has no validator, as in Kafka's ServerLogConfigs:
	// any negative value (of it or its synonyms) is no limit, and 0 is
	// refused once resolved (KafkaConfig's require, in derive); the
	// topic's retention.ms is at least -1, as LogConfig has it.
	{Name: "log.retention.ms", Type: Long, Unit: Millis, NoDefault: true, Synonyms: []string{"log.retention.minutes", "log.retention.hours"},
		Valid: atLeast(-1), BrokerValid: anyValue, Scope: ClusterWide, Topic: "retention.ms", Field: func(c *Config) any { return &c.TopicDefaults.Retention },
		Doc: "How long a log segment is kept before it is deleted (-1: no limit); log.retention.minutes when not set."},
	{Name: "log.retention.minutes", Type: Int, Unit: Minutes, NoDefault: true,
		Doc: "How long a log segment is kept, in minutes, when log.retention.ms is not set; log.retention.hours when neither is."},
	{Name: "log.retention.hours", Type: Int, Unit: Hours, Default: "168",
		Doc: "How long a log segment is kept, in hours, when neither log.retention.ms nor log.retention.minutes is set."},
	// Without a validator, as in Kafka (LogConfig: "can be negative"): any
	// negative size is no limit.
	{Name: "log.retention.bytes", Type: Long, Unit: Bytes, Default: "-1", Scope: ClusterWide, Topic: "retention.bytes",
		Field: func(c *Config) any { return &c.TopicDefaults.RetentionBytes },
		Doc:   "The largest size a partition's log may grow to before old segments are deleted (negative, -1 by default: no limit)."},
	{Name: "log.retention.check.interval.ms", Type: Long, Unit: Millis, Default: "300000", Valid: atLeast(1), Field: func(c *Config) any { return &c.LogRetentionCheck },
		Doc: "How often logs are checked for segments past their retention."},
	// At least 1 MiB, as from Kafka 4.0 (KIP-1030; segment.bytes too from
	// Kafka 4.1, KAFKA-19080). A topic may have smaller segments with
	// internal.segment.bytes, which Kafka's tests use; one whose stored
	// segment.bytes is smaller (written before) keeps it.
	{Name: "log.segment.bytes", Type: Int, Unit: Bytes, Default: "1073741824", Valid: atLeast(1 << 20), Stored: atLeast(minSegmentBytes),
		Scope: ClusterWide, Topic: "segment.bytes",
		Field: func(c *Config) any { return &c.TopicDefaults.SegmentBytes },
		Doc:   "The size of a log segment file."},
	// log.roll.ms and log.roll.jitter.ms have no validator in Kafka's
	// ServerLogConfigs: KafkaConfig requires their resolved values (derive).
	{Name: "log.roll.ms", Type: Long, Unit: Millis, NoDefault: true, Synonyms: []string{"log.roll.hours"}, Valid: atLeast(1), BrokerValid: anyValue, Scope: ClusterWide, Topic: "segment.ms",
		Field: func(c *Config) any { return &c.TopicDefaults.SegmentRoll },
		Doc:   "The time after which a segment is rolled even if it is not full; log.roll.hours when not set."},
	{Name: "log.roll.hours", Type: Int, Unit: Hours, Default: "168", Valid: atLeast(1),
		Doc: "The time after which a segment is rolled, in hours, when log.roll.ms is not set."},
	{Name: "log.roll.jitter.ms", Type: Long, Unit: Millis, NoDefault: true, Synonyms: []string{"log.roll.jitter.hours"}, Valid: atLeast(0), BrokerValid: anyValue, Scope: ClusterWide,
		Topic: "segment.jitter.ms", Field: func(c *Config) any { return &c.TopicDefaults.SegmentJitter },
		Doc: "The largest random jitter subtracted from the roll time; log.roll.jitter.hours when not set."},
	{Name: "log.roll.jitter.hours", Type: Int, Unit: Hours, Default: "0", Valid: atLeast(0),
		Doc: "The largest random jitter subtracted from the roll time, in hours, when log.roll.jitter.ms is not set."},
	{Name: "log.index.interval.bytes", Type: Int, Unit: Bytes, Default: "4096", Valid: atLeast(0), Scope: ClusterWide, Topic: "index.interval.bytes",
		Field: func(c *Config) any { return &c.TopicDefaults.IndexInterval },
		Doc:   "How often an entry is added to the offset index, in bytes of log."},
	{Name: "log.index.size.max.bytes", Type: Int, Unit: Bytes, Default: "10485760", Valid: atLeast(4), Scope: ClusterWide, Topic: "segment.index.bytes",
		Field: func(c *Config) any { return &c.TopicDefaults.SegmentIndexBytes },
		Doc:   "The largest size of a segment's offset index."},
	{Name: "log.segment.delete.delay.ms", Type: Long, Unit: Millis, Default: "60000", Valid: atLeast(0), Scope: ClusterWide, Topic: "file.delete.delay.ms",
		Field: func(c *Config) any { return &c.TopicDefaults.FileDeleteDelay },
		Doc:   "How long a deleted segment's files are kept before they are removed from the filesystem."},
	{Name: "log.flush.interval.messages", Type: Long, Default: maxLong, Valid: atLeast(1), Scope: ClusterWide, Topic: "flush.messages",
		Field: func(c *Config) any { return &c.TopicDefaults.FlushMessages },
		Doc:   "The number of records after which a partition's log is forced to disk."},
	{Name: "log.flush.interval.ms", Type: Long, Unit: Millis, NoDefault: true, Synonyms: []string{"log.flush.scheduler.interval.ms"}, Valid: atLeast(0),
		Scope: ClusterWide, Topic: "flush.ms", Field: func(c *Config) any { return &c.TopicDefaults.FlushInterval },
		Doc: "The time after which a partition's log is forced to disk; log.flush.scheduler.interval.ms when not set."},
	{Name: "log.flush.scheduler.interval.ms", Type: Long, Unit: Millis, Default: maxLong, Valid: atLeast(0),
		Doc: "The flush interval when log.flush.interval.ms is not set."},
	{Name: "log.preallocate", Type: Boolean, Default: "false", Scope: ClusterWide, Topic: "preallocate",
		Field: func(c *Config) any { return &c.TopicDefaults.Preallocate },
		Doc:   "Whether segment files are preallocated."},
	{Name: "log.local.retention.ms", Type: Long, Unit: Millis, Default: "-2", Valid: atLeast(-2), Scope: ClusterWide, Topic: "local.retention.ms",
		Field: func(c *Config) any { return &c.TopicDefaults.LocalRetention },
		Doc:   "How long local segments are kept when tiered storage is on (-2: retention.ms)."},
	{Name: "log.local.retention.bytes", Type: Long, Unit: Bytes, Default: "-2", Valid: atLeast(-2), Scope: ClusterWide, Topic: "local.retention.bytes",
		Field: func(c *Config) any { return &c.TopicDefaults.LocalRetentionBytes },
		Doc:   "The bytes of local log kept when tiered storage is on (-2: retention.bytes)."},

	// Topic defaults: records.
	{Name: "message.max.bytes", Type: Int, Unit: Bytes, Default: "1048588", Valid: between(0, maxMessageBytes), Scope: ClusterWide, Topic: "max.message.bytes",
		Field: func(c *Config) any { return &c.TopicDefaults.MaxMessageBytes },
		Doc:   "The largest record batch size allowed."},
	{Name: "log.message.timestamp.type", Type: String, Default: "CreateTime", Valid: oneOf("CreateTime", "LogAppendTime"), Scope: ClusterWide,
		Topic: "message.timestamp.type", Field: func(c *Config) any { return &c.TopicDefaults.MessageTimestampType },
		Doc: "Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime)."},
	{Name: "log.message.timestamp.before.max.ms", Type: Long, Unit: Millis, Default: maxLong, Valid: atLeast(0), Scope: ClusterWide,
		Topic: "message.timestamp.before.max.ms", Field: func(c *Config) any { return &c.TopicDefaults.TimestampBefore },
		Doc: "How far a CreateTime record timestamp may be behind the broker's clock."},
	{Name: "log.message.timestamp.after.max.ms", Type: Long, Unit: Millis, Default: "3600000", Valid: atLeast(0), Scope: ClusterWide,
		Topic: "message.timestamp.after.max.ms", Field: func(c *Config) any { return &c.TopicDefaults.TimestampAfter },
		Doc: "How far a CreateTime record timestamp may be ahead of the broker's clock (an hour by default, as from Kafka 4.0, KIP-1030)."},
	{Name: "compression.type", Type: String, Default: "producer", Valid: oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"), Scope: ClusterWide,
		Topic: "compression.type", Field: func(c *Config) any { return &c.TopicDefaults.CompressionType },
		Doc: "The compression of stored batches: producer keeps what the producer sent; uncompressed, gzip, snappy, lz4 or zstd recompress."},
	{Name: "compression.gzip.level", Type: Int, Default: "-1", Valid: gzipLevel, Scope: ClusterWide, Topic: "compression.gzip.level",
		Field: func(c *Config) any { return &c.TopicDefaults.CompressionGzipLevel },
		Doc:   "The gzip level (1-9, or -1 for the codec's default) when compression.type is gzip."},
	{Name: "compression.lz4.level", Type: Int, Default: "9", Valid: between(1, 17), Scope: ClusterWide, Topic: "compression.lz4.level",
		Field: func(c *Config) any { return &c.TopicDefaults.CompressionLz4Level },
		Doc:   "The lz4 level when compression.type is lz4."},
	{Name: "compression.zstd.level", Type: Int, Default: "3", Valid: between(-131072, 22), Scope: ClusterWide, Topic: "compression.zstd.level",
		Field: func(c *Config) any { return &c.TopicDefaults.CompressionZstdLevel },
		Doc:   "The zstd level when compression.type is zstd."},

	// Topic defaults: replication.
	{Name: "min.insync.replicas", Type: Int, Default: "1", Valid: atLeast(1), Scope: ClusterWide, Topic: "min.insync.replicas",
		Field: func(c *Config) any { return &c.TopicDefaults.MinInsyncReplicas },
		Doc:   "With acks=all, the least number of in-sync replicas that must acknowledge a write."},
	{Name: "unclean.leader.election.enable", Type: Boolean, Default: "false", Scope: ClusterWide, Topic: "unclean.leader.election.enable",
		Field: func(c *Config) any { return &c.TopicDefaults.UncleanLeaderElection },
		Doc:   "Whether replicas outside the ISR may be elected leader, at the risk of losing data."},

	// Topic defaults and the cleaner: compaction.
	// An empty policy is valid, as Kafka's ValidList.in allows: neither
	// deleted nor compacted, the log is kept whole.
	{Name: "log.cleanup.policy", Type: List, Default: "delete", Valid: oneOf("compact", "delete"), Scope: ClusterWide, Topic: "cleanup.policy",
		Field: func(c *Config) any { return &c.TopicDefaults.Cleanup },
		Doc:   "What happens to segments past retention: delete, compact (the latest record per key is kept), or both."},
	{Name: "log.cleaner.enable", Type: Boolean, Default: "true", Field: func(c *Config) any { return &c.LogCleanerEnable },
		Doc: "Whether the log cleaner compacts topics whose cleanup.policy includes compact."},
	// Gregor's cleaner reads log.cleaner.backoff.ms when it starts: an
	// altered value is kept and described but applies from the next start.
	{Name: "log.cleaner.backoff.ms", Type: Long, Unit: Millis, Default: "15000", Valid: atLeast(0), Scope: ClusterWide, Field: func(c *Config) any { return &c.LogCleanerBackoff },
		Doc: "How long the cleaner sleeps between passes."},
	{Name: "log.cleaner.delete.retention.ms", Type: Long, Unit: Millis, Default: "86400000", Valid: atLeast(0), Scope: ClusterWide, Topic: "delete.retention.ms",
		Field: func(c *Config) any { return &c.TopicDefaults.DeleteRetention },
		Doc:   "How long delete tombstones are kept in a compacted log."},
	{Name: "log.cleaner.min.compaction.lag.ms", Type: Long, Unit: Millis, Default: "0", Valid: atLeast(0), Scope: ClusterWide, Topic: "min.compaction.lag.ms",
		Field: func(c *Config) any { return &c.TopicDefaults.MinCompactionLag },
		Doc:   "The least time a record stays uncompacted."},
	{Name: "log.cleaner.max.compaction.lag.ms", Type: Long, Unit: Millis, Default: maxLong, Valid: atLeast(1), Scope: ClusterWide, Topic: "max.compaction.lag.ms",
		Field: func(c *Config) any { return &c.TopicDefaults.MaxCompactionLag },
		Doc:   "The longest a record may stay ineligible for compaction."},
	{Name: "log.cleaner.io.max.bytes.per.second", Type: Double, Default: "1.7976931348623157E308", Scope: ClusterWide, Field: func(c *Config) any { return &c.LogCleanerIORate },
		Doc: "The log cleaner's bytes read and written per second, on average; it pauses to keep under it."},
	// As Kafka's SkimpyOffsetMap: a pass maps at most load factor x
	// (dedupe buffer size / 24) keys of the dirty records (a 16-byte MD5
	// of each key and its offset), and cleans as far as it mapped.
	{Name: "log.cleaner.dedupe.buffer.size", Type: Long, Default: "134217728", Scope: ClusterWide, Field: func(c *Config) any { return &c.LogCleanerDedupeBuffer },
		Doc: "Memory of the log cleaner's key index: a pass maps at most the load factor times this over 24 bytes of keys, and compacts as far as it mapped."},
	{Name: "log.cleaner.io.buffer.load.factor", Type: Double, Default: "0.9", Scope: ClusterWide, Field: func(c *Config) any { return &c.LogCleanerLoadFactor },
		Doc: "Load factor of the log cleaner's key index."},
	{Name: "log.cleaner.min.cleanable.ratio", Type: Double, Default: "0.5", Valid: between(0, 1), Scope: ClusterWide, Topic: "min.cleanable.dirty.ratio",
		Field: func(c *Config) any { return &c.TopicDefaults.MinCleanableRatio },
		Doc:   "The share of the log that must be uncompacted before the cleaner compacts it."},

	// Topic keys without a broker default (Kafka's CONFIGS_WITH_NO_SERVER_DEFAULTS).
	// internal.segment.bytes is LogConfig's internal key: it stands for
	// segment.bytes when set, below segment.bytes' floor too, and is
	// described only where it is set.
	{Topic: "internal.segment.bytes", Type: Int, Unit: Bytes, NoDefault: true, Internal: true, Valid: atLeast(minSegmentBytes),
		Field: func(c *Config) any { return &c.TopicDefaults.InternalSegmentBytes },
		Doc:   "The maximum size of a single log file. This should be used for testing only."},
	// true is refused as by a Kafka broker with tiered storage off
	// (ValidateTopicConfigs).
	{Topic: "remote.storage.enable", Type: Boolean, Default: "false", Field: func(c *Config) any { return &c.TopicDefaults.RemoteStorage },
		Doc: "Whether tiered storage is on for the topic (not supported)."},
	{Topic: "leader.replication.throttled.replicas", Type: List, Default: "", Valid: throttledReplicas, Field: func(c *Config) any { return &c.TopicDefaults.LeaderThrottledReplicas },
		Doc: "Replicas whose log replication is throttled on the leader side, as partition:broker,... or *: a leader sends them at most leader.replication.throttled.rate while they are out of the ISR."},
	{Topic: "follower.replication.throttled.replicas", Type: List, Default: "", Valid: throttledReplicas, Field: func(c *Config) any { return &c.TopicDefaults.FollowerThrottledReplicas },
		Doc: "Replicas whose log replication is throttled on the follower side, as partition:broker,... or *: a follower fetches them at most follower.replication.throttled.rate while it is behind."},

	// Replication.
	// replica.lag.time.max.ms: SPEC section 5 asks for 10 s (Kafka: 30 s).
	{Name: "replica.lag.time.max.ms", Type: Long, Unit: Millis, Default: "10000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ReplicaLagTimeMax },
		Doc: "How long a follower may lag or not fetch before it leaves the ISR."},
	{Name: "replica.fetch.max.bytes", Type: Int, Unit: Bytes, Default: "1048576", Valid: atLeast(1), Field: func(c *Config) any { return &c.ReplicaFetchMax },
		Doc: "The bytes a follower asks for per partition in each fetch."},
	{Name: "replica.fetch.response.max.bytes", Type: Int, Unit: Bytes, Default: "10485760", Valid: atLeast(0), Field: func(c *Config) any { return &c.ReplicaFetchResponseMax },
		Doc: "The bytes a follower asks for in each fetch, over all partitions (at least one batch is always returned)."},
	{Name: "replica.high.watermark.checkpoint.interval.ms", Type: Long, Unit: Millis, Default: "5000", Valid: atLeast(1), Field: func(c *Config) any { return &c.HighWatermarkCheckpointInterval },
		Doc: "How often the high watermarks, log start offsets and recovery points are checkpointed to disk."},
	{Name: "replica.fetch.wait.max.ms", Type: Int, Unit: Millis, Default: "500", Valid: atLeast(1), Field: func(c *Config) any { return &c.ReplicaFetchWait },
		Doc: "How long a follower's fetch waits at the leader for data."},
	{Name: "replica.fetch.backoff.ms", Type: Int, Unit: Millis, Default: "1000", Valid: atLeast(0), Field: func(c *Config) any { return &c.ReplicaFetchBackoff },
		Doc: "Longest a follower waits before it fetches again after an error (it waits 100 ms after the first, 100 ms more after each further one in a row, up to this)."},
	{Name: "replica.fetch.min.bytes", Type: Int, Unit: Bytes, Default: "1", Valid: atLeast(1), Field: func(c *Config) any { return &c.ReplicaFetchMin },
		Doc: "Least bytes a follower's fetch waits for (up to replica.fetch.wait.max.ms) before the leader answers it."},
	{Name: "replica.socket.timeout.ms", Type: Int, Unit: Millis, Default: "30000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ReplicaSocketTimeout },
		Doc: "How long a follower waits for a fetch's answer before it reconnects (at least replica.fetch.wait.max.ms)."},
	// Kafka's default is 64 KB; a fixed buffer slows replication on fast
	// links as it slowed produce (socket.receive.buffer.bytes above), so
	// Gregor leaves it to the OS unless it is set.
	{Name: "replica.socket.receive.buffer.bytes", Type: Int, Unit: Bytes, Default: "-1", Valid: atLeast(-1), Field: func(c *Config) any { return &c.ReplicaSocketReceiveBuffer },
		Doc: "SO_RCVBUF of a follower's connections to leaders (-1: the OS default, autotuned; Kafka's default is 65536)."},
	// Gregor runs one fetcher per leader: num.replica.fetchers is accepted
	// (and may be altered, as in Kafka) but has no effect.
	{Name: "num.replica.fetchers", Type: Int, Default: "1", Valid: between(1, maxReplicaFetchers), Scope: ClusterWide, Field: func(c *Config) any { return &c.NumReplicaFetchers },
		Doc: "The number of fetchers replicating from each leader."},
	// Replication quotas (Kafka's ReplicationQuotaManager): the rates are
	// dynamic broker configs (kafka-reassign-partitions --throttle sets
	// them per broker); the throttled replicas are topic configs.
	{Name: "leader.replication.throttled.rate", Type: Long, Unit: Bytes, Default: maxLong, Valid: atLeast(0), Scope: ClusterWide,
		Field: func(c *Config) any { return &c.LeaderReplicationThrottledRate },
		Doc:   "The bytes per second a leader sends, over all throttled replicas, to followers out of the ISR."},
	{Name: "follower.replication.throttled.rate", Type: Long, Unit: Bytes, Default: maxLong, Valid: atLeast(0), Scope: ClusterWide,
		Field: func(c *Config) any { return &c.FollowerReplicationThrottledRate },
		Doc:   "The bytes per second a follower fetches, over all throttled replicas, while they are behind their leader."},
	{Name: "replica.alter.log.dirs.io.max.bytes.per.second", Type: Long, Unit: Bytes, Default: maxLong, Valid: atLeast(0), Scope: ClusterWide,
		Field: func(c *Config) any { return &c.ReplicaAlterLogDirsRate },
		Doc:   "The bytes per second copied by moves of replicas between this broker's log dirs (AlterReplicaLogDirs), over all of them."},
	{Name: "replication.quota.window.num", Type: Int, Default: "11", Valid: atLeast(1), Field: func(c *Config) any { return &c.ReplicationQuotaWindowNum },
		Doc: "The number of samples the replication rates are measured over."},
	{Name: "replication.quota.window.size.seconds", Type: Int, Unit: Seconds, Default: "1", Valid: atLeast(1), Field: func(c *Config) any { return &c.ReplicationQuotaWindowSize },
		Doc: "The time span of each replication rate sample."},
	{Name: "replica.selector.class", Type: String, NoDefault: true, Valid: oneOf(LeaderSelector, RackAwareReplicaSelector),
		Field: func(c *Config) any { return &c.ReplicaSelector },
		Doc:   "Picks the replica a consumer fetches from (KIP-392): " + RackAwareReplicaSelector + " sends a consumer with client.rack to an in-sync follower in its rack; unset or " + LeaderSelector + ", consumers fetch from leaders."},
	{Name: "alter.log.dirs.replication.quota.window.num", Type: Int, Default: "11", Valid: atLeast(1), Field: func(c *Config) any { return &c.AlterLogDirsQuotaWindowNum },
		Doc: "The number of samples the rate of moves between log dirs is measured over."},
	{Name: "alter.log.dirs.replication.quota.window.size.seconds", Type: Int, Unit: Seconds, Default: "1", Valid: atLeast(1), Field: func(c *Config) any { return &c.AlterLogDirsQuotaWindowSize },
		Doc: "The time span of each sample of the rate of moves between log dirs."},
	{Name: "controlled.shutdown.enable", Type: Boolean, Default: "true", Field: func(c *Config) any { return &c.ControlledShutdownEnable },
		Doc: "Whether a stopping broker hands its leaderships over first."},
	{Name: "auto.leader.rebalance.enable", Type: Boolean, Default: "true", Field: func(c *Config) any { return &c.AutoLeaderRebalance },
		Doc: "Whether the controller moves leaderships back to preferred replicas."},
	{Name: "leader.imbalance.check.interval.seconds", Type: Long, Unit: Seconds, Default: "300", Valid: atLeast(1),
		Field: func(c *Config) any { return &c.LeaderImbalanceCheckInterval },
		Doc:   "How often the controller checks for leader imbalance."},
	{Name: "leader.imbalance.per.broker.percentage", Type: Int, Default: "10", Valid: between(0, 100),
		Field: func(c *Config) any { return &c.LeaderImbalancePerBrokerPercentage },
		Doc:   "Ignored, as in Kafka 4 (KAFKA-18743): ZooKeeper mode's share of a broker's partitions led elsewhere above which leaderships moved back; every such partition moves back now."},
	{Name: "fetch.max.bytes", Type: Int, Unit: Bytes, Default: "57671680", Valid: atLeast(minFetchMaxBytes), Field: func(c *Config) any { return &c.FetchMax },
		Doc: "The most record bytes one fetch response returns (at least one batch is always returned)."},
	{Name: "max.incremental.fetch.session.cache.slots", Type: Int, Default: "1000", Valid: atLeast(0), Field: func(c *Config) any { return &c.FetchSessionSlots },
		Doc: "The most incremental fetch sessions (KIP-227) the broker keeps."},
	{Name: "socket.request.max.bytes", Type: Int, Unit: Bytes, Default: "104857600", Valid: atLeast(minRequestBytes), Field: func(c *Config) any { return &c.SocketRequestMax },
		Doc: "The largest request the broker reads."},

	// Connections. queued.max.request.bytes is bounded by default in
	// Gregor (Kafka's -1 leaves it to the JVM heap): five requests of the
	// largest default size.
	{Name: "queued.max.request.bytes", Type: Long, Unit: Bytes, Default: "536870912", Valid: atLeast(-1), Field: func(c *Config) any { return &c.QueuedMaxRequestBytes },
		Doc: "The request bytes held for all connections together before no more are read (-1: no limit)."},
	{Name: "gregor.connection.max.queued.bytes", Type: Long, Unit: Bytes, Default: "16777216", Valid: atLeast(-1), Field: func(c *Config) any { return &c.ConnectionMaxQueuedBytes },
		Doc: "The request and response bytes one connection may hold unanswered or unread before it is no longer read (-1: no limit)."},
	{Name: "max.connections", Type: Int, Default: "2147483647", Valid: atLeast(0), Scope: ClusterWide, Field: func(c *Config) any { return &c.MaxConnections },
		Doc: "The most connections open over all listeners, and by default on each listener (listener.name.<l>.max.connections); a new one over it is closed. With several listeners the inter-broker one is bound by its own only."},
	{Name: "max.connection.creation.rate", Type: Int, Default: "2147483647", Valid: atLeast(0), Scope: ClusterWide, Field: func(c *Config) any { return &c.MaxConnectionCreationRate },
		Doc: "The most connections the broker accepts per second (KIP-612), and by default each listener (listener.name.<l>.max.connection.creation.rate); faster ones wait. With several listeners the inter-broker one is bound by its own only."},
	{Name: "max.connections.per.ip", Type: Int, Default: "2147483647", Valid: atLeast(0), Scope: ClusterWide, Field: func(c *Config) any { return &c.MaxConnectionsPerIP },
		Doc: "The most connections open from one address; a new one over it is closed."},
	{Name: "max.connections.per.ip.overrides", Type: String, Default: "", Valid: connectionOverrides, Scope: ClusterWide, Field: func(c *Config) any { return &c.MaxConnectionsPerIPOverrides },
		Doc: "Per-host exceptions to max.connections.per.ip, as host:count,host:count."},
	{Name: "max.request.partition.size.limit", Type: Int, Default: "2000", Valid: atLeast(1), Field: func(c *Config) any { return &c.MaxRequestPartitionSizeLimit },
		Doc: "The most partitions one DescribeTopicPartitions response lists; a cursor names where the next one starts."},
	{Name: "sasl.server.max.receive.size", Type: Int, Default: "524288", Valid: atLeast(1), Field: func(c *Config) any { return &c.SASLMaxReceiveSize },
		Doc: "The largest request read on a SASL listener before the client has authenticated; a larger one closes the connection."},
	{Name: "connection.failed.authentication.delay.ms", Type: Int, Unit: Millis, Default: "100", Valid: atLeast(0), Field: func(c *Config) any { return &c.FailedAuthDelay },
		Doc: "How long the answer to a failed SASL authentication, and the close that follows, are held back (KIP-306); less than connections.max.idle.ms."},
	{Name: "connections.max.idle.ms", Type: Long, Unit: Millis, Default: "600000", Valid: atLeast(-1), Field: func(c *Config) any { return &c.ConnectionsMaxIdle },
		Doc: "How long a connection may stay idle before it is closed (-1: never)."},
	// A fixed send buffer, as Kafka sets one, serves fetches faster than
	// Linux's autotuning on loopback (consume 1 KB: 0.62 million records/s
	// against 0.52, medians of 15 alternating runs); a fixed receive buffer
	// made produce slower (1.65 against 1.78 million 100 B records/s), so
	// Gregor leaves that one to the OS unless it is set.
	{Name: "socket.send.buffer.bytes", Type: Int, Unit: Bytes, Default: "102400", Valid: atLeast(-1), Field: func(c *Config) any { return &c.SocketSendBuffer },
		Doc: "SO_SNDBUF of client connections (-1: the OS default, autotuned)."},
	{Name: "socket.receive.buffer.bytes", Type: Int, Unit: Bytes, Default: "-1", Valid: atLeast(-1), Field: func(c *Config) any { return &c.SocketReceiveBuffer },
		Doc: "SO_RCVBUF of client connections (-1: the OS default, autotuned; Kafka's default is 102400)."},

	{Name: "socket.listen.backlog.size", Type: Int, Default: "50", Valid: atLeast(1), Field: func(c *Config) any { return &c.SocketListenBacklog },
		Doc: "Connections each listener's socket holds, handshaken and not yet accepted (listen(2)'s backlog, capped by net.core.somaxconn)."},

	// Consumer groups and offsets.
	{Name: "offsets.topic.replication.factor", Type: Short, Default: "3", Valid: atLeast(1), Field: func(c *Config) any { return &c.OffsetsTopicReplicationFactor },
		Doc: "The replication factor of __consumer_offsets (fewer while fewer brokers are alive)."},
	{Name: "offsets.topic.num.partitions", Type: Int, Default: "50", Valid: between(1, maxPartitions), Field: func(c *Config) any { return &c.OffsetsTopicNumPartitions },
		Doc: "The number of partitions of __consumer_offsets."},
	{Name: "offsets.topic.segment.bytes", Type: Int, Unit: Bytes, Default: "104857600", Valid: atLeast(minSegmentBytes), Field: func(c *Config) any { return &c.OffsetsTopicSegmentBytes },
		Doc: "The segment size of __consumer_offsets."},
	{Name: "transaction.state.log.segment.bytes", Type: Int, Unit: Bytes, Default: "104857600", Valid: atLeast(minSegmentBytes), Field: func(c *Config) any { return &c.TxnStateSegmentBytes },
		Doc: "The segment size of __transaction_state, set when the topic is created."},
	{Name: "offset.metadata.max.bytes", Type: Int, Default: "4096", Field: func(c *Config) any { return &c.OffsetMetadataMaxBytes },
		Doc: "Largest metadata string of a committed offset; a longer one is refused with OFFSET_METADATA_TOO_LARGE."},
	{Name: "offsets.commit.timeout.ms", Type: Int, Unit: Millis, Default: "5000", Valid: atLeast(1), Field: func(c *Config) any { return &c.OffsetsCommitTimeout },
		Doc: "How long an offset commit (and any other group record write) waits for the offsets topic's in-sync replicas before it fails with COORDINATOR_NOT_AVAILABLE, as Kafka's does."},
	{Name: "offsets.retention.minutes", Type: Int, Unit: Minutes, Default: "10080", Valid: atLeast(1), Field: func(c *Config) any { return &c.OffsetsRetention },
		Doc: "How long the committed offsets of an empty group are kept."},
	{Name: "offsets.retention.check.interval.ms", Type: Long, Unit: Millis, Default: "600000", Valid: atLeast(1), Field: func(c *Config) any { return &c.OffsetsRetentionCheck },
		Doc: "How often expired offsets are looked for."},
	{Name: "group.initial.rebalance.delay.ms", Type: Int, Unit: Millis, Default: "3000", Valid: atLeast(0), Field: func(c *Config) any { return &c.GroupInitialRebalanceDelay },
		Doc: "How long the first rebalance of a new group waits for more members."},
	{Name: "group.min.session.timeout.ms", Type: Int, Unit: Millis, Default: "6000", Valid: atLeast(0), Field: func(c *Config) any { return &c.GroupMinSessionTimeout },
		Doc: "The shortest session timeout a member may ask for."},
	{Name: "group.max.session.timeout.ms", Type: Int, Unit: Millis, Default: "1800000", Valid: atLeast(0), Field: func(c *Config) any { return &c.GroupMaxSessionTimeout },
		Doc: "The longest session timeout a member may ask for."},
	{Name: "group.max.size", Type: Int, Default: "2147483647", Valid: atLeast(1), Field: func(c *Config) any { return &c.GroupMaxSize },
		Doc: "The most members a group may have."},
	// KIP-848 consumer groups (ConsumerGroupHeartbeat): the broker assigns.
	{Name: "group.coordinator.rebalance.protocols", Type: List, Default: "classic,consumer", Valid: rebalanceProtocols, Field: func(c *Config) any { return &c.GroupRebalanceProtocols },
		Doc: "The group protocols served: classic (JoinGroup/SyncGroup) is always on; consumer enables KIP-848 consumer groups (ConsumerGroupHeartbeat)."},
	{Name: "group.consumer.session.timeout.ms", Type: Int, Unit: Millis, Default: "45000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ConsumerGroupSessionTimeout },
		Doc: "How long a consumer group member may go without a heartbeat before it is removed."},
	{Name: "group.consumer.min.session.timeout.ms", Type: Int, Unit: Millis, Default: "45000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ConsumerGroupMinSessionTimeout },
		Doc: "The lower bound of group.consumer.session.timeout.ms."},
	{Name: "group.consumer.max.session.timeout.ms", Type: Int, Unit: Millis, Default: "60000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ConsumerGroupMaxSessionTimeout },
		Doc: "The upper bound of group.consumer.session.timeout.ms."},
	{Name: "group.consumer.heartbeat.interval.ms", Type: Int, Unit: Millis, Default: "5000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ConsumerGroupHeartbeatInterval },
		Doc: "How often consumer group members are told to heartbeat."},
	{Name: "group.consumer.min.heartbeat.interval.ms", Type: Int, Unit: Millis, Default: "5000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ConsumerGroupMinHeartbeatInterval },
		Doc: "The lower bound of group.consumer.heartbeat.interval.ms."},
	{Name: "group.consumer.max.heartbeat.interval.ms", Type: Int, Unit: Millis, Default: "15000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ConsumerGroupMaxHeartbeatInterval },
		Doc: "The upper bound of group.consumer.heartbeat.interval.ms."},
	{Name: "group.consumer.max.size", Type: Int, Default: "2147483647", Valid: atLeast(1), Field: func(c *Config) any { return &c.ConsumerGroupMaxSize },
		Doc: "The most members a consumer group may have."},
	{Name: "group.consumer.assignors", Type: List, Default: "org.apache.kafka.coordinator.group.assignor.UniformAssignor,org.apache.kafka.coordinator.group.assignor.RangeAssignor",
		Valid: consumerAssignors, Field: func(c *Config) any { return &c.ConsumerGroupAssignors },
		Doc: "The server-side assignors of consumer groups, by name (uniform, range) or Kafka class name; the first is the default."},
	{Name: "group.consumer.migration.policy", Type: String, Default: "bidirectional", Valid: oneOfFold("disabled", "upgrade", "downgrade", "bidirectional"),
		Field: func(c *Config) any { return &c.ConsumerGroupMigrationPolicy },
		Doc:   "Which conversions between classic and consumer groups happen online: upgrade (a consumer joins a classic group), downgrade (the last consumer leaves), bidirectional or disabled."},

	// KIP-932 share groups (ShareGroupHeartbeat, ShareFetch,
	// ShareAcknowledge) and the share coordinator's __share_group_state.
	{Name: "group.share.enable", Type: Boolean, Default: "true", Field: func(c *Config) any { return &c.ShareGroupEnable },
		Doc: "Serve share groups (KIP-932). Kafka turns them on with the share.version feature (this key is its internal switch, off by default); Gregor serves them unless this is false."},
	{Name: "group.share.session.timeout.ms", Type: Int, Unit: Millis, Default: "45000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ShareGroupSessionTimeout },
		Doc: "How long a share group member may go without a heartbeat before it is removed (the group config share.session.timeout.ms overrides it)."},
	{Name: "group.share.min.session.timeout.ms", Type: Int, Unit: Millis, Default: "45000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ShareGroupMinSessionTimeout },
		Doc: "The lower bound of group.share.session.timeout.ms and share.session.timeout.ms."},
	{Name: "group.share.max.session.timeout.ms", Type: Int, Unit: Millis, Default: "60000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ShareGroupMaxSessionTimeout },
		Doc: "The upper bound of group.share.session.timeout.ms and share.session.timeout.ms."},
	{Name: "group.share.heartbeat.interval.ms", Type: Int, Unit: Millis, Default: "5000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ShareGroupHeartbeatInterval },
		Doc: "How often share group members are told to heartbeat (the group config share.heartbeat.interval.ms overrides it)."},
	{Name: "group.share.min.heartbeat.interval.ms", Type: Int, Unit: Millis, Default: "5000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ShareGroupMinHeartbeatInterval },
		Doc: "The lower bound of group.share.heartbeat.interval.ms and share.heartbeat.interval.ms."},
	{Name: "group.share.max.heartbeat.interval.ms", Type: Int, Unit: Millis, Default: "15000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ShareGroupMaxHeartbeatInterval },
		Doc: "The upper bound of group.share.heartbeat.interval.ms and share.heartbeat.interval.ms."},
	{Name: "group.share.max.size", Type: Int, Default: "200", Valid: between(1, 1000), Field: func(c *Config) any { return &c.ShareGroupMaxSize },
		Doc: "The most members a share group may have (GROUP_MAX_SIZE_REACHED past it)."},
	{Name: "group.share.assignors", Type: List, Default: "simple", Valid: shareAssignors, Field: func(c *Config) any { return &c.ShareGroupAssignors },
		Doc: "The server-side assignor of share groups: Kafka's simple assignor (simple, or its class name), the only one."},
	{Name: "group.share.initialize.retry.interval.ms", Type: Int, Unit: Millis, Default: "30000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ShareGroupInitializeRetryInterval },
		Doc: "How long before the group coordinator asks again to initialize share partitions whose initialization did not complete."},
	{Name: "group.share.delivery.count.limit", Type: Int, Default: "5", Valid: between(2, 10), Field: func(c *Config) any { return &c.ShareGroupDeliveryCountLimit },
		Doc: "How many times a record is delivered to share consumers before it is archived (a poison record); the group config share.delivery.count.limit overrides it."},
	{Name: "group.share.min.delivery.count.limit", Type: Int, Default: "2", Valid: between(2, 5), Field: func(c *Config) any { return &c.ShareGroupMinDeliveryCountLimit },
		Doc: "The lower bound of group.share.delivery.count.limit and share.delivery.count.limit."},
	{Name: "group.share.max.delivery.count.limit", Type: Int, Default: "10", Valid: between(5, 25), Field: func(c *Config) any { return &c.ShareGroupMaxDeliveryCountLimit },
		Doc: "The upper bound of group.share.delivery.count.limit and share.delivery.count.limit."},
	{Name: "group.share.record.lock.duration.ms", Type: Int, Unit: Millis, Default: "30000", Valid: between(1000, 3600000), Field: func(c *Config) any { return &c.ShareGroupRecordLockDuration },
		Doc: "How long a share consumer holds the records it was delivered before they are released (the group config share.record.lock.duration.ms overrides it)."},
	{Name: "group.share.min.record.lock.duration.ms", Type: Int, Unit: Millis, Default: "15000", Valid: between(1000, 30000), Field: func(c *Config) any { return &c.ShareGroupMinRecordLockDuration },
		Doc: "The lower bound of group.share.record.lock.duration.ms and share.record.lock.duration.ms."},
	{Name: "group.share.max.record.lock.duration.ms", Type: Int, Unit: Millis, Default: "60000", Valid: between(30000, 3600000), Field: func(c *Config) any { return &c.ShareGroupMaxRecordLockDuration },
		Doc: "The upper bound of group.share.record.lock.duration.ms and share.record.lock.duration.ms."},
	{Name: "group.share.partition.max.record.locks", Type: Int, Default: "2000", Valid: between(100, 10000), Field: func(c *Config) any { return &c.ShareGroupPartitionMaxRecordLocks },
		Doc: "The most records of a share partition in flight (from the share-partition start offset on); no more are delivered until some are acknowledged. The group config share.partition.max.record.locks overrides it."},
	{Name: "group.share.min.partition.max.record.locks", Type: Int, Default: "100", Valid: between(100, 2000), Field: func(c *Config) any { return &c.ShareGroupMinPartitionMaxRecordLocks },
		Doc: "The lower bound of group.share.partition.max.record.locks and share.partition.max.record.locks."},
	{Name: "group.share.max.partition.max.record.locks", Type: Int, Default: "4000", Valid: between(2000, 10000), Field: func(c *Config) any { return &c.ShareGroupMaxPartitionMaxRecordLocks },
		Doc: "The upper bound of group.share.partition.max.record.locks and share.partition.max.record.locks."},
	{Name: "group.share.max.share.sessions", Type: Int, Default: "2000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ShareGroupMaxShareSessions },
		Doc: "The most share fetch sessions a broker keeps; at least group.share.max.size."},
	{Name: "group.share.persister.class.name", Type: String, Default: "org.apache.kafka.server.share.persister.DefaultStatePersister", Valid: sharePersister,
		Doc: "The share-state persister: Kafka's default (the share coordinator and __share_group_state), the only one."},
	{Name: "share.fetch.purgatory.purge.interval.requests", Type: Int, Default: "1000", NoEffect: inertTuning,
		Doc: "Purge interval of the share fetch purgatory."},
	{Name: "share.coordinator.state.topic.num.partitions", Type: Int, Default: "50", Valid: between(1, maxPartitions), Field: func(c *Config) any { return &c.ShareStateTopicNumPartitions },
		Doc: "The number of partitions of __share_group_state."},
	{Name: "share.coordinator.state.topic.replication.factor", Type: Short, Default: "3", Valid: atLeast(1), Field: func(c *Config) any { return &c.ShareStateTopicReplicationFactor },
		Doc: "The replication factor of __share_group_state (fewer while fewer brokers are alive)."},
	{Name: "share.coordinator.state.topic.min.isr", Type: Short, Default: "2", Valid: atLeast(1), Field: func(c *Config) any { return &c.ShareStateTopicMinIsr },
		Doc: "min.insync.replicas of __share_group_state."},
	{Name: "share.coordinator.state.topic.segment.bytes", Type: Int, Unit: Bytes, Default: "104857600", Valid: atLeast(minSegmentBytes), Field: func(c *Config) any { return &c.ShareStateTopicSegmentBytes },
		Doc: "The segment size of __share_group_state."},
	{Name: "share.coordinator.snapshot.update.records.per.snapshot", Type: Int, Default: "500", Valid: atLeast(0), Field: func(c *Config) any { return &c.ShareSnapshotUpdateRecordsPerSnapshot },
		Doc: "How many ShareUpdate records of a share partition follow its ShareSnapshot before the next write is a snapshot again."},
	{Name: "share.coordinator.write.timeout.ms", Type: Int, Unit: Millis, Default: "5000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ShareCoordinatorWriteTimeout },
		Doc: "How long a share-state write waits to be replicated."},
	{Name: "share.coordinator.state.topic.prune.interval.ms", Type: Int, Unit: Millis, Default: "300000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ShareStateTopicPruneInterval },
		Doc: "How often __share_group_state is pruned below the oldest record still needed."},
	{Name: "share.coordinator.cold.partition.snapshot.interval.ms", Type: Int, Unit: Millis, Default: "300000", Valid: atLeast(1), Field: func(c *Config) any { return &c.ShareColdPartitionSnapshotInterval },
		Doc: "How old the last snapshot of an idle share partition may get before it is written again (so pruning can go on)."},
	{Name: "share.coordinator.threads", Type: Int, Default: "1", Valid: atLeast(1), NoEffect: inertThreads,
		Doc: "Threads of the share coordinator."},
	{Name: "share.coordinator.load.buffer.size", Type: Int, Default: "5242880", Valid: atLeast(1), NoEffect: inertTuning,
		Doc: "Read buffer when loading __share_group_state."},
	{Name: "share.coordinator.state.topic.compression.codec", Type: Int, Default: "0", NoEffect: inertTuning,
		Doc: "Compression of __share_group_state records."},
	{Name: "share.coordinator.append.linger.ms", Type: Int, Default: "5", Valid: atLeast(0), NoEffect: inertTuning,
		Doc: "Linger of the share coordinator's appends."},

	// Transactions and producer state.
	{Name: "transaction.state.log.num.partitions", Type: Int, Default: "50", Valid: between(1, maxPartitions), Field: func(c *Config) any { return &c.TxnStateNumPartitions },
		Doc: "The number of partitions of __transaction_state."},
	{Name: "transaction.state.log.replication.factor", Type: Short, Default: "3", Valid: atLeast(1), Field: func(c *Config) any { return &c.TxnStateReplicationFactor },
		Doc: "The replication factor of __transaction_state (fewer while fewer brokers are alive)."},
	{Name: "transaction.state.log.min.isr", Type: Int, Default: "2", Valid: atLeast(1), Field: func(c *Config) any { return &c.TxnStateMinIsr },
		Doc: "min.insync.replicas of __transaction_state."},
	{Name: "transaction.max.timeout.ms", Type: Int, Unit: Millis, Default: "900000", Valid: atLeast(1), Field: func(c *Config) any { return &c.TxnMaxTimeout },
		Doc: "The longest transaction timeout a producer may ask for."},
	{Name: "transactional.id.expiration.ms", Type: Int, Unit: Millis, Default: "604800000", Valid: atLeast(1), Field: func(c *Config) any { return &c.TxnIDExpiration },
		Doc: "How long an idle transactional id is kept."},
	{Name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Type: Int, Unit: Millis, Default: "10000", Valid: atLeast(1),
		Field: func(c *Config) any { return &c.TxnAbortCheckInterval },
		Doc:   "How often timed-out transactions are looked for and aborted."},
	{Name: "transaction.remove.expired.transaction.cleanup.interval.ms", Type: Int, Unit: Millis, Default: "3600000", Valid: atLeast(1),
		Field: func(c *Config) any { return &c.TxnIDExpireCheckInterval },
		Doc:   "How often transactional ids idle past transactional.id.expiration.ms are looked for and removed."},
	{Name: "transaction.partition.verification.enable", Type: Boolean, Default: "true", Scope: ClusterWide,
		Field: func(c *Config) any { return &c.TxnPartitionVerification },
		Doc:   "Whether a leader asks the transaction coordinator that a partition is in the producer's transaction before writing its first transactional batch there."},
	{Name: "add.partitions.to.txn.retry.backoff.ms", Type: Int, Unit: Millis, Default: "20", Valid: atLeast(1), Scope: ClusterWide,
		Field: func(c *Config) any { return &c.AddPartitionsRetryBackoff },
		Doc:   "How long a leader waits before asking the transaction coordinator again to add a partition to a transaction (transaction version 2) that it answered CONCURRENT_TRANSACTIONS."},
	{Name: "add.partitions.to.txn.retry.backoff.max.ms", Type: Int, Unit: Millis, Default: "100", Valid: atLeast(0), Scope: ClusterWide,
		Field: func(c *Config) any { return &c.AddPartitionsRetryMax },
		Doc:   "How long a leader keeps asking the transaction coordinator to add a partition to a transaction (transaction version 2) while it answers CONCURRENT_TRANSACTIONS, before the produce gets that error; at most the produce's timeout."},
	{Name: "producer.id.expiration.ms", Type: Int, Unit: Millis, Default: "86400000", Valid: atLeast(1), Scope: ClusterWide,
		Field: func(c *Config) any { return &c.ProducerIDExpiration },
		Doc:   "How long the state of a producer id is kept after its last batch's timestamp (its record time, as Kafka measures it), unless it has a transaction open."},
	{Name: "producer.id.expiration.check.interval.ms", Type: Int, Unit: Millis, Default: "600000", Valid: atLeast(1),
		Field: func(c *Config) any { return &c.ProducerIDExpirationCheck },
		Doc:   "How often producer ids past producer.id.expiration.ms are looked for."},

	// Security: listeners' protocols, TLS, SASL (security.go resolves them
	// per listener). Each may be set for one listener as
	// listener.name.<listener>.<key> (and the SASL ones for one mechanism
	// as listener.name.<listener>.<mechanism>.<key>).
	{Name: "listener.security.protocol.map", Type: String, Scope: PerBroker, StartupOnly: true, Default: "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
		Valid: protocolMap, Field: func(c *Config) any { return &c.ListenerSecurityProtocolMap },
		Doc: "Listener names to security protocols (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), as NAME:PROTOCOL,..."},
	{Name: "inter.broker.listener.name", Type: String, NoDefault: true, Field: func(c *Config) any { return &c.InterBrokerListenerName },
		Doc: "The listener brokers use between themselves; security.inter.broker.protocol names it when not set."},
	{Name: "security.inter.broker.protocol", Type: String, Default: "PLAINTEXT", Valid: oneOf(securityProtocols...), Field: func(c *Config) any { return &c.SecurityInterBrokerProtocol },
		Doc: "The security protocol brokers use between themselves, which names their listener; only one of this and inter.broker.listener.name may be set."},
	{Name: "sasl.enabled.mechanisms", Type: List, Scope: PerBroker, StartupOnly: true, Default: "GSSAPI",
		Doc: "The SASL mechanisms a SASL listener enables: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (GSSAPI, Kafka's default, is not supported)."},
	{Name: "sasl.mechanism.inter.broker.protocol", Type: String, Scope: PerBroker, StartupOnly: true, Default: "GSSAPI", Field: func(c *Config) any { return &c.SASLMechanismInterBroker },
		Doc: "The SASL mechanism brokers use between themselves on a SASL inter-broker listener."},
	{Name: "sasl.jaas.config", Type: Password, Scope: PerBroker, StartupOnly: true, NoDefault: true,
		Doc: "JAAS login module configuration; a broker reads it per listener and mechanism, as listener.name.<listener>.<mechanism>.sasl.jaas.config."},
	{Name: "connections.max.reauth.ms", Type: Long, Unit: Millis, Default: "0", Valid: atLeast(0),
		Doc: "The longest a SASL session lasts before the client must re-authenticate (0: no limit); per mechanism as listener.name.<listener>.<mechanism>.connections.max.reauth.ms."},
	{Name: "sasl.server.callback.handler.class", Type: Class, NoDefault: true,
		Doc: "A SASL server callback handler; only Kafka's OAuthBearerValidatorCallbackHandler is supported, for OAUTHBEARER (per listener and mechanism)."},
	{Name: "sasl.oauthbearer.jwks.endpoint.url", Type: String, NoDefault: true,
		Doc: "A file: URL of the JWK set (or one PEM public key) signed OAUTHBEARER tokens are checked against."},
	{Name: "sasl.oauthbearer.expected.audience", Type: List, Default: "",
		Doc: "The audiences (aud) a signed OAUTHBEARER token must name one of; empty: not checked."},
	{Name: "sasl.oauthbearer.expected.issuer", Type: String, NoDefault: true,
		Doc: "The issuer (iss) a signed OAUTHBEARER token must have; unset: not checked."},
	{Name: "sasl.oauthbearer.sub.claim.name", Type: String, Default: "sub",
		Doc: "The claim of a signed OAUTHBEARER token naming its principal."},
	{Name: "sasl.oauthbearer.scope.claim.name", Type: String, Default: "scope",
		Doc: "The claim of a signed OAUTHBEARER token holding its scopes."},
	{Name: "sasl.oauthbearer.clock.skew.seconds", Type: Int, Default: "30", Valid: atLeast(0),
		Doc: "The clock skew allowed when checking a signed OAUTHBEARER token's times."},
	{Name: "ssl.keystore.type", Type: String, Scope: PerBroker, StartupOnly: true, Default: "JKS",
		Doc: "The keystore format: JKS (Kafka's default), PKCS12 or PEM; a JKS or PKCS12 file is read under either type, as in Java."},
	{Name: "ssl.keystore.location", Type: String, Scope: PerBroker, StartupOnly: true, NoDefault: true,
		Doc: "The keystore file."},
	{Name: "ssl.keystore.password", Type: Password, Scope: PerBroker, StartupOnly: true, NoDefault: true,
		Doc: "The keystore's password."},
	{Name: "ssl.key.password", Type: Password, Scope: PerBroker, StartupOnly: true, NoDefault: true,
		Doc: "The private key's password (PKCS12 with a separate key password, or an encrypted PEM key)."},
	{Name: "ssl.keystore.certificate.chain", Type: Password, Scope: PerBroker, StartupOnly: true, NoDefault: true,
		Doc: "The certificate chain in PEM, inline (with ssl.keystore.type=PEM)."},
	{Name: "ssl.keystore.key", Type: Password, Scope: PerBroker, StartupOnly: true, NoDefault: true,
		Doc: "The private key in PEM (PKCS#8), inline (with ssl.keystore.type=PEM)."},
	{Name: "ssl.truststore.type", Type: String, Scope: PerBroker, StartupOnly: true, Default: "JKS",
		Doc: "The truststore format: JKS (Kafka's default), PKCS12 or PEM; a JKS or PKCS12 file is read under either type, as in Java."},
	{Name: "ssl.truststore.location", Type: String, Scope: PerBroker, StartupOnly: true, NoDefault: true,
		Doc: "The truststore file."},
	{Name: "ssl.truststore.password", Type: Password, Scope: PerBroker, StartupOnly: true, NoDefault: true,
		Doc: "The truststore's password."},
	{Name: "ssl.truststore.certificates", Type: Password, Scope: PerBroker, StartupOnly: true, NoDefault: true,
		Doc: "Trusted certificates in PEM, inline (with ssl.truststore.type=PEM)."},
	{Name: "ssl.client.auth", Type: String, Scope: PerBroker, StartupOnly: true, Default: "none", Valid: oneOf("required", "requested", "none"),
		Doc: "Whether SSL listeners require (required), ask for (requested) or ignore (none) client certificates; a SASL_SSL listener reads only its listener.name.<listener>.ssl.client.auth."},
	{Name: "ssl.enabled.protocols", Type: List, Scope: PerBroker, StartupOnly: true, Default: "TLSv1.2,TLSv1.3",
		Doc: "The TLS versions enabled."},
	{Name: "ssl.protocol", Type: String, Scope: PerBroker, StartupOnly: true, Default: "TLSv1.3", Valid: oneOf("TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1", "TLS"),
		Doc: "The TLS protocol of the SSL context (the versions used are ssl.enabled.protocols)."},
	{Name: "ssl.cipher.suites", Type: List, Scope: PerBroker, StartupOnly: true, Default: "",
		Doc: "The cipher suites enabled for TLS 1.2 and below, by IANA name; empty: Go's defaults."},
	{Name: "ssl.endpoint.identification.algorithm", Type: String, Scope: PerBroker, StartupOnly: true, Default: "https",
		Doc: "https checks the host name of a broker this broker connects to against its certificate; empty does not."},
	{Name: "ssl.principal.mapping.rules", Type: String, Default: "DEFAULT", Valid: principalRules,
		Doc: "Rules mapping a client certificate's distinguished name to a principal name, as RULE:pattern/replacement/[LU],...,DEFAULT."},
	{Name: "principal.builder.class", Type: Class, Scope: PerBroker, StartupOnly: true, Default: defaultPrincipalBuilder,
		Doc: "The principal builder; only Kafka's DefaultKafkaPrincipalBuilder is supported."},
	{Name: "authorizer.class.name", Type: String, Default: "", Valid: authorizerClass, Field: func(c *Config) any { return &c.AuthorizerClassName },
		Doc: "The authorizer: kafka.security.authorizer.AclAuthorizer or org.apache.kafka.metadata.authorizer.StandardAuthorizer turns ACLs on (both are Gregor's ACL authorizer); empty allows everything."},
	// super.users and allow.everyone.if.no.acl.found are the authorizer's
	// own keys in Kafka, read from the broker configuration.
	{Name: "super.users", Type: String, Default: "", Valid: principals, Field: func(c *Config) any { return &c.SuperUsers },
		Doc: "Principals that may do everything whatever the ACLs say, separated by semicolons (User:admin;User:broker)."},
	{Name: "allow.everyone.if.no.acl.found", Type: Boolean, Default: "false", Field: func(c *Config) any { return &c.AllowEveryoneIfNoACLFound },
		Doc: "Whether an action on a resource no ACL applies to at all is allowed."},

	// Client quotas: how usage is sampled (the quotas themselves are set
	// with AlterClientQuotas and kept in the cluster metadata).
	{Name: "quota.window.num", Type: Int, Default: "11", Valid: atLeast(1), Field: func(c *Config) any { return &c.QuotaWindowNum },
		Doc: "The number of samples kept in memory for client quotas."},
	{Name: "quota.window.size.seconds", Type: Int, Unit: Seconds, Default: "1", Valid: atLeast(1), Field: func(c *Config) any { return &c.QuotaWindowSize },
		Doc: "The time span of each sample for client quotas."},
	{Name: "controller.quota.window.num", Type: Int, Default: "11", Valid: atLeast(1), Field: func(c *Config) any { return &c.ControllerQuotaWindowNum },
		Doc: "The number of samples kept in memory for controller mutation quotas."},
	{Name: "controller.quota.window.size.seconds", Type: Int, Unit: Seconds, Default: "1", Valid: atLeast(1), Field: func(c *Config) any { return &c.ControllerQuotaWindowSize },
		Doc: "The time span of each sample for controller mutation quotas."},

	// Gregor's own.
	{Name: "gregor.metrics.listener", Type: String, Default: "127.0.0.1:9404", Valid: hostPortOrEmpty, Field: func(c *Config) any { return &c.MetricsListener },
		Doc: "host:port serving Prometheus metrics; empty turns them off."},
	{Name: "gregor.metrics.max.groups", Type: Int, Default: "10000", Valid: atLeast(1), Field: func(c *Config) any { return &c.MetricsMaxGroups },
		Doc: "At most this many of the consumer groups a broker coordinates get series of their own (lag and committed offset per partition, members, state) and a place on the status page: those with the largest total lag, then by name. Every group still counts in gregor_consumer_groups. Each group's series cost the scrape and the page, and a client can create groups at will."},
	// gregor.decompression.max.ratio bounds what validating or compacting
	// a compressed batch may cost (a decompression bomb).
	{Name: "gregor.decompression.max.ratio", Type: Long, Default: "16", Valid: between(1, 1024), Field: func(c *Config) any { return &c.DecompressionMaxRatio },
		Doc: "A record batch may decompress to at most this many times its topic's max.message.bytes (and at least 1 MiB); past it the produce is refused with MESSAGE_TOO_LARGE."},
	{Name: "gregor.log.level", Type: String, Default: "info", Valid: oneOf("trace", "debug", "info", "warn", "error"), Field: func(c *Config) any { return &c.LogLevel },
		Doc: "The level of the broker's log: trace, debug, info, warn or error."},

	// Old clients and Kafka's other keys (compatibility).
	{Name: "log.message.downconversion.enable", Type: Boolean, Default: "true", Scope: ClusterWide, Topic: "message.downconversion.enable",
		Field: func(c *Config) any { return &c.TopicDefaults.MessageDownConversionEnable },
		Doc:   "Whether clients fetching with Fetch v0-3 (message formats 0 and 1) get records down-converted; when false they get UNSUPPORTED_VERSION."},
	{Name: "gregor.log.format", Type: String, Default: "auto", Valid: oneOf("auto", "json", "text"), Field: func(c *Config) any { return &c.LogFormat },
		Doc: "The format of the broker's log on stderr: json lines, coloured text for people, or auto (text when stderr is a terminal, else json)."},
}

// keys is the schema every function of the package works from: the table
// and Kafka's other keys (keys_kafka.go).
var keys = newSchema(append(table, kafkaKeys...))

// authorizerClass checks authorizer.class.name.
func authorizerClass(v any) error { return acl.CheckClass(v.(string)) }

// principals checks super.users.
func principals(v any) error {
	_, err := acl.ParsePrincipals(v.(string))
	return err
}

// connectionOverrides checks max.connections.per.ip.overrides.
func connectionOverrides(v any) error {
	_, err := protocol.ParseConnectionOverrides(v.(string))
	return err
}

func someListener(v any) error {
	ls, err := parseListeners(v.(string))
	if err == nil && len(ls) == 0 {
		err = errors.New("at least one listener is needed")
	}
	return err
}

func hostPortOrEmpty(v any) error {
	if s := v.(string); s != "" {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return errors.New("must be host:port or empty")
		}
	}
	return nil
}

// gzipLevel is Kafka's gzip level validator: 1 to 9, or -1.
func gzipLevel(v any) error {
	if n := v.(int64); n != -1 && (n < 1 || n > 9) {
		return errors.New("Value must be between 1 and 9, or -1")
	}
	return nil
}

// throttledReplicas is Kafka's ThrottledReplicaListValidator: "*", or a
// list of partition:broker pairs.
func throttledReplicas(v any) error {
	items := v.([]string)
	if len(items) == 1 && strings.TrimSpace(items[0]) == "*" {
		return nil
	}
	for _, it := range items {
		if !partitionBroker.MatchString(strings.TrimSpace(it)) {
			return errors.New("must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...")
		}
	}
	return nil
}

var partitionBroker = regexp.MustCompile(`^([0-9]+:[0-9]+)?$`)
