package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Topic is a topic's effective configuration (Kafka's LogConfig): the
// broker's defaults with the topic's overrides applied. Each field is set
// by the table row whose Topic names it.
type Topic struct {
	Cleanup              CleanupPolicy // cleanup.policy
	CompressionType      string
	CompressionGzipLevel int32
	CompressionLz4Level  int32
	CompressionZstdLevel int32
	DeleteRetention      time.Duration // delete.retention.ms
	FileDeleteDelay      time.Duration
	FlushMessages        int64
	FlushInterval        time.Duration // flush.ms; Forever: never
	IndexInterval        ByteSize
	LocalRetention       time.Duration
	LocalRetentionBytes  ByteSize
	MaxCompactionLag     time.Duration
	MaxMessageBytes      ByteSize
	MessageTimestampType string
	TimestampBefore      time.Duration // message.timestamp.before.max.ms
	TimestampAfter       time.Duration // message.timestamp.after.max.ms
	MinCleanableRatio    float64
	MinCompactionLag     time.Duration
	MinInsyncReplicas    int32
	Preallocate          bool
	RemoteStorage        bool
	RetentionBytes       ByteSize      // -1: no limit
	Retention            time.Duration // retention.ms; negative: no limit
	SegmentBytes         ByteSize
	// InternalSegmentBytes is internal.segment.bytes (0: not set).
	InternalSegmentBytes ByteSize
	SegmentIndexBytes    ByteSize
	SegmentJitter        time.Duration
	SegmentRoll          time.Duration // segment.ms

	UncleanLeaderElection bool

	LeaderThrottledReplicas   string // comma-separated, as given
	FollowerThrottledReplicas string

	// MessageDownConversionEnable: Fetch v0-3 clients get records
	// down-converted (else UNSUPPORTED_VERSION).
	MessageDownConversionEnable bool
	// Accepted, described, without effect (keys_kafka.go).
	RemoteLogCopyDisable     bool
	RemoteLogDeleteOnDisable bool
}

// SegmentSize is the size at which segments roll: internal.segment.bytes
// where set, else segment.bytes (Kafka's LogConfig.segmentSize).
func (t *Topic) SegmentSize() ByteSize {
	if t.InternalSegmentBytes > 0 {
		return t.InternalSegmentBytes
	}
	return t.SegmentBytes
}

// LogAppendTime reports whether records are stamped with the broker's time.
func (t *Topic) LogAppendTime() bool { return t.MessageTimestampType == "LogAppendTime" }

// CleanupPolicy is cleanup.policy as given: delete, compact, or both,
// comma-separated.
type CleanupPolicy string

// Delete reports whether segments past retention are deleted.
func (p CleanupPolicy) Delete() bool { return strings.Contains(string(p), "delete") }

// Compact reports whether the log is compacted.
func (p CleanupPolicy) Compact() bool { return strings.Contains(string(p), "compact") }

// ResolveTopic returns the effective configuration of a topic with
// overrides: each override in place of this configuration's default for
// it. Overrides must have been validated; an invalid one is ignored, but
// for a value its key's Stored validator admits (written when Kafka or
// Gregor allowed it).
func (c *Config) ResolveTopic(overrides map[string]string) Topic {
	tmp := Config{TopicDefaults: c.TopicDefaults}
	for name, raw := range overrides {
		if k := keys.topic[name]; k != nil {
			v, err := k.parse(raw)
			if err != nil && k.Stored != nil {
				v, err = k.parseStored(raw)
			}
			if err == nil {
				set(k.Field(&tmp), v, k)
			}
		}
	}
	return tmp.TopicDefaults
}

// KnownTopicConfigs returns a topic's stored overrides without the keys
// that are not topic configs: those Kafka 4.0 removed
// (message.format.version, ...), written by an older broker. Kafka's
// controller skips them when it replays its log (KAFKA-19851), so an
// alteration of the topic neither trips on them nor keeps them.
func KnownTopicConfigs(overrides map[string]string) map[string]string {
	out := make(map[string]string, len(overrides))
	for name, v := range overrides {
		if keys.topic[name] != nil {
			out[name] = v
		}
	}
	return out
}

// ValidateTopicConfigs checks topic-level overrides: every key must be a
// topic config and every value valid for it. It reports every problem.
func ValidateTopicConfigs(m map[string]string) error {
	p := topicConfigProblems(m)
	errs := p.unknown
	for _, name := range slices.Sorted(maps.Keys(p.invalid)) {
		errs = append(errs, p.invalid[name])
	}
	if len(errs) == 0 && p.remote {
		return errRemoteStorage
	}
	return errors.Join(errs...)
}

// topicProblems are what is wrong with a topic's overrides: unknown keys
// (sorted), invalid values by key, and whether they turn tiered storage
// on.
type topicProblems struct {
	unknown []error
	invalid map[string]error
	remote  bool
}

func topicConfigProblems(m map[string]string) topicProblems {
	p := topicProblems{invalid: map[string]error{}}
	var tmp Config
	for _, name := range sortedKeys(m) {
		k := keys.topic[name]
		if k == nil {
			p.unknown = append(p.unknown, fmt.Errorf("Unknown topic config name: %s", name))
			continue
		}
		v, err := k.parse(m[name])
		if err == nil {
			err = set(k.Field(&tmp), v, k)
		}
		if err != nil {
			p.invalid[name] = invalid(k, name, m[name], err)
		}
	}
	p.remote = tmp.TopicDefaults.RemoteStorage
	return p
}

// errRemoteStorage refuses remote.storage.enable=true: Gregor has no
// tiered storage, so it answers as a Kafka broker with
// remote.log.storage.system.enable=false
// (LogConfig.validateRemoteStorageOnlyIfSystemEnabled).
var errRemoteStorage = errors.New("Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage.")

// kafkaTopicOrder is the order in which Kafka's LogConfig defines the
// topic keys, which is the order its ConfigDef.parse checks their values
// in: the first invalid one is the one reported.
var kafkaTopicOrder = []string{
	"segment.bytes", "segment.ms", "segment.jitter.ms", "segment.index.bytes", "flush.messages", "flush.ms",
	"retention.bytes", "retention.ms", "max.message.bytes", "index.interval.bytes", "delete.retention.ms",
	"min.compaction.lag.ms", "max.compaction.lag.ms", "file.delete.delay.ms", "min.cleanable.dirty.ratio",
	"cleanup.policy", "unclean.leader.election.enable", "min.insync.replicas", "compression.type",
	"compression.gzip.level", "compression.lz4.level", "compression.zstd.level", "preallocate",
	"message.timestamp.type", "message.timestamp.before.max.ms", "message.timestamp.after.max.ms",
	"message.downconversion.enable", "leader.replication.throttled.replicas", "follower.replication.throttled.replicas",
	"remote.storage.enable", "local.retention.ms", "local.retention.bytes", "remote.log.copy.disable",
	"remote.log.delete.on.disable", "internal.segment.bytes",
}

// firstInvalid returns the invalid value Kafka would report: the first in
// kafkaTopicOrder (then by name, for a key not in it).
func firstInvalid(invalid map[string]error) error {
	for _, name := range kafkaTopicOrder {
		if err, ok := invalid[name]; ok {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(invalid)) {
		return invalid[name]
	}
	return nil
}

// CheckTopicConfigs validates a topic's overrides, and its effective
// configuration (the overrides over this configuration's defaults), as
// Kafka's LogConfig.validate does, and reports the one problem Kafka
// would: an unknown key (LogConfig.validateNames), else the first invalid
// value in the order LogConfig defines its keys (ConfigDef.parse), else
// min.compaction.lag.ms more than max.compaction.lag.ms, be either the
// topic's own or the broker's default (validateValues), else tiered
// storage turned on (validateRemoteStorageOnlyIfSystemEnabled).
func (c *Config) CheckTopicConfigs(overrides map[string]string) error {
	if err := TopicConfigError(overrides); err != nil {
		return err
	}
	t := c.ResolveTopic(overrides)
	if t.MinCompactionLag > t.MaxCompactionLag {
		return fmt.Errorf("conflict topic config setting min.compaction.lag.ms (%d) > max.compaction.lag.ms (%d)",
			millis(t.MinCompactionLag), millis(t.MaxCompactionLag))
	}
	if topicConfigProblems(overrides).remote {
		return errRemoteStorage
	}
	return nil
}

// TopicConfigError is the first problem Kafka's LogConfig.validate finds
// in a topic's overrides by themselves: an unknown key, else the first
// invalid value in the order LogConfig defines its keys; nil if none.
func TopicConfigError(overrides map[string]string) error {
	p := topicConfigProblems(overrides)
	if len(p.unknown) > 0 {
		return p.unknown[0]
	}
	return firstInvalid(p.invalid)
}

// millis is a duration in milliseconds as the key reports it (Forever as
// Long.MAX_VALUE).
func millis(d time.Duration) int64 {
	if d == Forever {
		return int64(Forever)
	}
	return d.Milliseconds()
}
