package config

import (
	"errors"
	"fmt"
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
// topic config and every value valid for it.
func ValidateTopicConfigs(m map[string]string) error {
	var errs []error
	var tmp Config
	for _, name := range sortedKeys(m) {
		k := keys.topic[name]
		if k == nil {
			errs = append(errs, fmt.Errorf("Unknown topic config name: %s", name))
			continue
		}
		v, err := k.parse(m[name])
		if err == nil {
			err = set(k.Field(&tmp), v, k)
		}
		if err != nil {
			errs = append(errs, invalid(k, name, m[name], err))
		}
	}
	if len(errs) == 0 && tmp.TopicDefaults.RemoteStorage {
		// Gregor has no tiered storage: as a Kafka broker with
		// remote.log.storage.system.enable=false answers
		// (LogConfig.validateRemoteStorageOnlyIfSystemEnabled).
		return errors.New("Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage.")
	}
	return errors.Join(errs...)
}

// CheckTopicConfigs validates a topic's overrides as ValidateTopicConfigs
// does, then checks its effective configuration (the overrides over this
// configuration's defaults) as Kafka's LogConfig.validateValues does:
// min.compaction.lag.ms may not be more than max.compaction.lag.ms, be
// either the topic's own or the broker's default.
func (c *Config) CheckTopicConfigs(overrides map[string]string) error {
	if err := ValidateTopicConfigs(overrides); err != nil {
		return err
	}
	t := c.ResolveTopic(overrides)
	if t.MinCompactionLag > t.MaxCompactionLag {
		return fmt.Errorf("conflict topic config setting min.compaction.lag.ms (%d) > max.compaction.lag.ms (%d)",
			millis(t.MinCompactionLag), millis(t.MaxCompactionLag))
	}
	return nil
}

// millis is a duration in milliseconds as the key reports it (Forever as
// Long.MAX_VALUE).
func millis(d time.Duration) int64 {
	if d == Forever {
		return int64(Forever)
	}
	return d.Milliseconds()
}
