package config

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config types as DescribeConfigs reports them (KIP-569).
const (
	TypeBoolean  int8 = 1
	TypeString   int8 = 2
	TypeInt      int8 = 3
	TypeShort    int8 = 4
	TypeLong     int8 = 5
	TypeDouble   int8 = 6
	TypeList     int8 = 7
	TypeClass    int8 = 8
	TypePassword int8 = 9
)

// TopicKey is one topic-level config key.
type TopicKey struct {
	Name string
	// Broker is the broker key whose value is this key's default.
	Broker string
	Type   int8
	// def returns the default from the broker config.
	def      func(*Config) string
	validate func(string) error
}

// Default returns the key's default under broker config c.
func (k *TopicKey) Default(c *Config) string { return k.def(c) }

// Validate checks a value for the key.
func (k *TopicKey) Validate(v string) error { return k.validate(v) }

func i64(n int64) string { return strconv.FormatInt(n, 10) }

func validInt(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer")
		}
		if n < lo || n > hi {
			return fmt.Errorf("must be in [%d, %d]", lo, hi)
		}
		return nil
	}
}

func validOneOf(opts ...string) func(string) error {
	return func(v string) error {
		for _, o := range opts {
			if v == o {
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(opts, ", "))
	}
}

func validBool(v string) error {
	if v = strings.ToLower(strings.TrimSpace(v)); v != "true" && v != "false" {
		return fmt.Errorf("must be true or false")
	}
	return nil
}

func validAny(string) error { return nil }

func validRatio(v string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 || f > 1 {
		return fmt.Errorf("must be a number in [0, 1]")
	}
	return nil
}

func constDef(v string) func(*Config) string { return func(*Config) string { return v } }

// TopicKeys are the topic configs Kafka defines, in name order.
var TopicKeys = []TopicKey{
	{Name: "cleanup.policy", Broker: "log.cleanup.policy", Type: TypeList, def: func(c *Config) string { return c.LogCleanupPolicy },
		validate: func(v string) error { _, err := ParseCleanupPolicy(v); return err }},
	{Name: "compression.gzip.level", Broker: "compression.gzip.level", Type: TypeInt, def: constDef("-1"), validate: validInt(-1, 9)},
	{Name: "compression.lz4.level", Broker: "compression.lz4.level", Type: TypeInt, def: constDef("9"), validate: validInt(1, 17)},
	{Name: "compression.type", Broker: "compression.type", Type: TypeString, def: func(c *Config) string { return c.CompressionType },
		validate: validOneOf("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd")},
	{Name: "compression.zstd.level", Broker: "compression.zstd.level", Type: TypeInt, def: constDef("3"), validate: validInt(-131072, 22)},
	{Name: "delete.retention.ms", Broker: "log.cleaner.delete.retention.ms", Type: TypeLong, def: func(c *Config) string { return i64(c.LogCleanerDeleteRetMs) }, validate: validInt(0, math.MaxInt64)},
	{Name: "file.delete.delay.ms", Broker: "log.segment.delete.delay.ms", Type: TypeLong, def: func(c *Config) string { return i64(c.FileDeleteDelay.Milliseconds()) }, validate: validInt(0, math.MaxInt64)},
	{Name: "flush.messages", Broker: "log.flush.interval.messages", Type: TypeLong, def: func(c *Config) string { return i64(c.LogFlushMessages) }, validate: validInt(1, math.MaxInt64)},
	{Name: "flush.ms", Broker: "log.flush.interval.ms", Type: TypeLong, def: func(c *Config) string {
		if c.LogFlushIntervalMs < 0 {
			return i64(math.MaxInt64)
		}
		return i64(c.LogFlushIntervalMs)
	}, validate: validInt(0, math.MaxInt64)},
	{Name: "follower.replication.throttled.replicas", Broker: "follower.replication.throttled.replicas", Type: TypeList, def: constDef(""), validate: validAny},
	{Name: "index.interval.bytes", Broker: "log.index.interval.bytes", Type: TypeInt, def: func(c *Config) string { return i64(c.LogIndexIntervalBytes) }, validate: validInt(0, math.MaxInt32)},
	{Name: "leader.replication.throttled.replicas", Broker: "leader.replication.throttled.replicas", Type: TypeList, def: constDef(""), validate: validAny},
	{Name: "local.retention.bytes", Broker: "log.local.retention.bytes", Type: TypeLong, def: constDef("-2"), validate: validInt(-2, math.MaxInt64)},
	{Name: "local.retention.ms", Broker: "log.local.retention.ms", Type: TypeLong, def: constDef("-2"), validate: validInt(-2, math.MaxInt64)},
	{Name: "max.compaction.lag.ms", Broker: "log.cleaner.max.compaction.lag.ms", Type: TypeLong, def: constDef(i64(math.MaxInt64)), validate: validInt(1, math.MaxInt64)},
	{Name: "max.message.bytes", Broker: "message.max.bytes", Type: TypeInt, def: func(c *Config) string { return i64(int64(c.MessageMaxBytes)) }, validate: validInt(0, maxMessageBytes)},
	{Name: "message.timestamp.after.max.ms", Broker: "log.message.timestamp.after.max.ms", Type: TypeLong, def: constDef(i64(math.MaxInt64)), validate: validInt(0, math.MaxInt64)},
	{Name: "message.timestamp.before.max.ms", Broker: "log.message.timestamp.before.max.ms", Type: TypeLong, def: constDef(i64(math.MaxInt64)), validate: validInt(0, math.MaxInt64)},
	{Name: "message.timestamp.type", Broker: "log.message.timestamp.type", Type: TypeString, def: func(c *Config) string { return c.LogMessageTimestamp },
		validate: validOneOf("CreateTime", "LogAppendTime")},
	{Name: "min.cleanable.dirty.ratio", Broker: "log.cleaner.min.cleanable.ratio", Type: TypeDouble, def: func(c *Config) string { return strconv.FormatFloat(c.LogCleanerMinDirty, 'f', -1, 64) }, validate: validRatio},
	{Name: "min.compaction.lag.ms", Broker: "log.cleaner.min.compaction.lag.ms", Type: TypeLong, def: constDef("0"), validate: validInt(0, math.MaxInt64)},
	{Name: "min.insync.replicas", Broker: "min.insync.replicas", Type: TypeInt, def: func(c *Config) string { return i64(int64(c.MinInsyncReplicas)) }, validate: validInt(1, math.MaxInt32)},
	{Name: "preallocate", Broker: "log.preallocate", Type: TypeBoolean, def: constDef("false"), validate: validBool},
	{Name: "remote.storage.enable", Broker: "", Type: TypeBoolean, def: constDef("false"), validate: func(v string) error {
		if strings.TrimSpace(strings.ToLower(v)) == "true" {
			return fmt.Errorf("tiered storage is not supported")
		}
		return validBool(v)
	}},
	{Name: "retention.bytes", Broker: "log.retention.bytes", Type: TypeLong, def: func(c *Config) string { return i64(c.LogRetentionBytes) }, validate: validInt(-1, math.MaxInt64)},
	{Name: "retention.ms", Broker: "log.retention.ms", Type: TypeLong, def: func(c *Config) string { return i64(c.LogRetentionMs) }, validate: validInt(-1, math.MaxInt64)},
	{Name: "segment.bytes", Broker: "log.segment.bytes", Type: TypeInt, def: func(c *Config) string { return i64(c.LogSegmentBytes) }, validate: validInt(minSegmentBytes, math.MaxInt32)},
	{Name: "segment.index.bytes", Broker: "log.index.size.max.bytes", Type: TypeInt, def: constDef("10485760"), validate: validInt(4, math.MaxInt32)},
	{Name: "segment.jitter.ms", Broker: "log.roll.jitter.ms", Type: TypeLong, def: constDef("0"), validate: validInt(0, math.MaxInt64)},
	{Name: "segment.ms", Broker: "log.roll.ms", Type: TypeLong, def: func(c *Config) string { return i64(c.LogRollMs) }, validate: validInt(1, math.MaxInt64)},
	{Name: "unclean.leader.election.enable", Broker: "unclean.leader.election.enable", Type: TypeBoolean, def: func(c *Config) string { return strconv.FormatBool(c.UncleanLeaderElection) }, validate: validBool},
}

var topicKeyByName = func() map[string]*TopicKey {
	m := make(map[string]*TopicKey, len(TopicKeys))
	for i := range TopicKeys {
		m[TopicKeys[i].Name] = &TopicKeys[i]
	}
	return m
}()

// LookupTopicKey returns a topic config key by name.
func LookupTopicKey(name string) (*TopicKey, bool) {
	k, ok := topicKeyByName[name]
	return k, ok
}

// ValidateTopicConfigs checks topic-level overrides: every key must be
// known and every value valid.
func ValidateTopicConfigs(m map[string]string) error {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		tk, ok := topicKeyByName[k]
		if !ok {
			return fmt.Errorf("unknown topic config %q", k)
		}
		if err := tk.validate(m[k]); err != nil {
			return fmt.Errorf("invalid value %q for %s: %v", m[k], k, err)
		}
	}
	return nil
}

// Topic is a topic's effective configuration: broker defaults with the
// topic's overrides applied.
type Topic struct {
	CleanupDelete     bool
	CleanupCompact    bool
	CompressionType   string
	DeleteRetentionMs int64
	FileDeleteDelay   time.Duration
	FlushMessages     int64
	FlushMs           int64
	IndexInterval     int64
	MaxMessageBytes   int32
	LogAppendTime     bool
	MinInsyncReplicas int32
	MinCleanableRatio float64
	MinCompactionLag  int64
	RetentionBytes    int64
	RetentionMs       int64
	SegmentBytes      int64
	SegmentMs         int64
	Unclean           bool
	TimestampBeforeMs int64
	TimestampAfterMs  int64
}

// ResolveTopic returns the effective configuration for overrides, which
// must have been validated.
func (c *Config) ResolveTopic(overrides map[string]string) Topic {
	return c.ResolveTopicWith(overrides, nil)
}

// ResolveTopicWith is ResolveTopic with dynamic broker configs (by broker
// key, e.g. log.retention.ms) between the topic's overrides and the
// static configuration, as in Kafka.
func (c *Config) ResolveTopicWith(overrides, dynamic map[string]string) Topic {
	get := func(name string) string {
		if v, ok := overrides[name]; ok {
			return strings.TrimSpace(v)
		}
		k := topicKeyByName[name]
		if v, ok := dynamic[k.Broker]; ok && k.Broker != "" && k.validate(v) == nil {
			return strings.TrimSpace(v)
		}
		return k.def(c)
	}
	n := func(name string) int64 {
		v, _ := strconv.ParseInt(get(name), 10, 64)
		return v
	}
	policy, _ := ParseCleanupPolicy(get("cleanup.policy"))
	ratio, _ := strconv.ParseFloat(get("min.cleanable.dirty.ratio"), 64)
	return Topic{
		CleanupDelete:     strings.Contains(policy, "delete"),
		CleanupCompact:    strings.Contains(policy, "compact"),
		CompressionType:   get("compression.type"),
		DeleteRetentionMs: n("delete.retention.ms"),
		FileDeleteDelay:   time.Duration(n("file.delete.delay.ms")) * time.Millisecond,
		FlushMessages:     n("flush.messages"),
		FlushMs:           n("flush.ms"),
		IndexInterval:     n("index.interval.bytes"),
		MaxMessageBytes:   int32(n("max.message.bytes")),
		LogAppendTime:     get("message.timestamp.type") == "LogAppendTime",
		MinInsyncReplicas: int32(n("min.insync.replicas")),
		MinCleanableRatio: ratio,
		MinCompactionLag:  n("min.compaction.lag.ms"),
		RetentionBytes:    n("retention.bytes"),
		RetentionMs:       n("retention.ms"),
		SegmentBytes:      n("segment.bytes"),
		SegmentMs:         n("segment.ms"),
		Unclean:           strings.EqualFold(get("unclean.leader.election.enable"), "true"),
		TimestampBeforeMs: n("message.timestamp.before.max.ms"),
		TimestampAfterMs:  n("message.timestamp.after.max.ms"),
	}
}
