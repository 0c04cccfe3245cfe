package config

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// option is one server.properties key: its default and how it is parsed
// into Config. A key whose default is "" and is absent is parsed as "".
type option struct {
	key   string
	def   string
	parse func(c *Config, v string) error
	// Topic is the topic-level key this broker key is the default for.
	topic string
}

// Hard limits, with the reason for each.
const (
	// maxPartitions bounds num.partitions: each partition holds open files.
	maxPartitions = 1 << 16
	// minSegmentBytes is Kafka's floor for log.segment.bytes (1 MiB: smaller
	// segments roll constantly and exhaust file handles).
	minSegmentBytes = 14
	// maxMessageBytes: a batch must fit a signed 32-bit length.
	maxMessageBytes = math.MaxInt32 - 1024
)

var options = []option{
	{key: "broker.id", def: "-1", parse: intField(func(c *Config, n int64) { c.BrokerID = int32(n) }, -1, math.MaxInt32)},
	{key: "broker.rack", def: "", parse: func(c *Config, v string) error { c.Rack = v; return nil }},
	{key: "listeners", def: "PLAINTEXT://127.0.0.1:9092", parse: func(c *Config, v string) (err error) {
		c.Listeners, err = parseListeners(v)
		if err == nil && len(c.Listeners) == 0 {
			err = fmt.Errorf("at least one listener is needed")
		}
		return err
	}},
	{key: "advertised.listeners", def: "", parse: func(c *Config, v string) (err error) {
		c.AdvertisedListeners, err = parseListeners(v)
		return err
	}},
	{key: "log.dirs", def: "", parse: func(c *Config, v string) error { c.LogDirs = splitList(v); return nil }},
	{key: "log.dir", def: "", parse: func(c *Config, v string) error { return nil }},
	{key: "zookeeper.connect", def: "", parse: func(c *Config, v string) error { c.ZookeeperConnect = strings.TrimSpace(v); return nil }},
	{key: "zookeeper.session.timeout.ms", def: "18000", parse: durField(func(c *Config, d time.Duration) { c.ZookeeperSessionTimeout = d }, 1)},
	{key: "num.partitions", def: "1", parse: intField(func(c *Config, n int64) { c.NumPartitions = int32(n) }, 1, maxPartitions)},
	{key: "default.replication.factor", def: "1", parse: intField(func(c *Config, n int64) { c.DefaultReplicationFactor = int16(n) }, 1, math.MaxInt16)},
	{key: "min.insync.replicas", def: "1", topic: "min.insync.replicas", parse: intField(func(c *Config, n int64) { c.MinInsyncReplicas = int32(n) }, 1, math.MaxInt32)},
	{key: "delete.topic.enable", def: "true", parse: boolField(func(c *Config, b bool) { c.DeleteTopicEnable = b })},
	{key: "auto.create.topics.enable", def: "true", parse: boolField(func(c *Config, b bool) { c.AutoCreateTopicsEnable = b })},
	{key: "unclean.leader.election.enable", def: "false", topic: "unclean.leader.election.enable", parse: boolField(func(c *Config, b bool) { c.UncleanLeaderElection = b })},
	{key: "log.retention.ms", def: "", topic: "retention.ms", parse: func(*Config, string) error { return nil }},
	{key: "log.retention.minutes", def: "", parse: func(*Config, string) error { return nil }},
	{key: "log.retention.hours", def: "", parse: func(*Config, string) error { return nil }},
	{key: "log.roll.ms", def: "", topic: "segment.ms", parse: func(*Config, string) error { return nil }},
	{key: "log.roll.hours", def: "", parse: func(*Config, string) error { return nil }},
	{key: "log.retention.bytes", def: "-1", topic: "retention.bytes", parse: intField(func(c *Config, n int64) { c.LogRetentionBytes = n }, -1, math.MaxInt64)},
	{key: "log.segment.bytes", def: "1073741824", topic: "segment.bytes", parse: intField(func(c *Config, n int64) { c.LogSegmentBytes = n }, minSegmentBytes, math.MaxInt32)},
	{key: "log.retention.check.interval.ms", def: "300000", parse: durField(func(c *Config, d time.Duration) { c.LogRetentionCheck = d }, 1)},
	{key: "log.index.interval.bytes", def: "4096", topic: "index.interval.bytes", parse: intField(func(c *Config, n int64) { c.LogIndexIntervalBytes = n }, 0, math.MaxInt32)},
	{key: "log.flush.interval.messages", def: "9223372036854775807", topic: "flush.messages", parse: intField(func(c *Config, n int64) { c.LogFlushMessages = n }, 1, math.MaxInt64)},
	{key: "log.flush.interval.ms", def: "-1", topic: "flush.ms", parse: intField(func(c *Config, n int64) { c.LogFlushIntervalMs = n }, -1, math.MaxInt64)},
	{key: "log.cleanup.policy", def: "delete", topic: "cleanup.policy", parse: func(c *Config, v string) error {
		p, err := ParseCleanupPolicy(v)
		c.LogCleanupPolicy = p
		return err
	}},
	{key: "log.cleaner.enable", def: "true", parse: boolField(func(c *Config, b bool) { c.LogCleanerEnable = b })},
	{key: "log.cleaner.delete.retention.ms", def: "86400000", topic: "delete.retention.ms", parse: intField(func(c *Config, n int64) { c.LogCleanerDeleteRetMs = n }, 0, math.MaxInt64)},
	{key: "log.cleaner.min.cleanable.ratio", def: "0.5", topic: "min.cleanable.dirty.ratio", parse: func(c *Config, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 1 {
			return fmt.Errorf("must be a number in [0, 1]")
		}
		c.LogCleanerMinDirty = f
		return nil
	}},
	{key: "log.cleaner.backoff.ms", def: "15000", parse: durField(func(c *Config, d time.Duration) { c.LogCleanerBackoff = d }, 0)},
	{key: "log.message.timestamp.type", def: "CreateTime", topic: "message.timestamp.type", parse: func(c *Config, v string) error {
		if v != "CreateTime" && v != "LogAppendTime" {
			return fmt.Errorf("must be CreateTime or LogAppendTime")
		}
		c.LogMessageTimestamp = v
		return nil
	}},
	{key: "compression.type", def: "producer", topic: "compression.type", parse: func(c *Config, v string) error {
		switch v {
		case "producer", "uncompressed", "gzip", "snappy", "lz4", "zstd":
			c.CompressionType = v
			return nil
		}
		return fmt.Errorf("must be one of producer, uncompressed, gzip, snappy, lz4, zstd")
	}},
	// Kafka's broker key; file.delete.delay.ms is only the topic key.
	{key: "log.segment.delete.delay.ms", def: "60000", topic: "file.delete.delay.ms", parse: durField(func(c *Config, d time.Duration) { c.FileDeleteDelay = d }, 0)},
	{key: "message.max.bytes", def: "1048588", topic: "max.message.bytes", parse: intField(func(c *Config, n int64) { c.MessageMaxBytes = int32(n) }, 0, maxMessageBytes)},
	{key: "replica.fetch.max.bytes", def: "1048576", parse: intField(func(c *Config, n int64) { c.ReplicaFetchMax = int32(n) }, 1, math.MaxInt32)},
	// replica.lag.time.max.ms: SPEC section 5 asks for 10 s.
	{key: "replica.lag.time.max.ms", def: "10000", parse: durField(func(c *Config, d time.Duration) { c.ReplicaLagTimeMax = d }, 1)},
	{key: "replica.fetch.wait.max.ms", def: "500", parse: durField(func(c *Config, d time.Duration) { c.ReplicaFetchWait = d }, 1)},
	{key: "num.replica.fetchers", def: "1", parse: intField(func(c *Config, n int64) { c.NumReplicaFetchers = int(n) }, 1, 64)},
	{key: "socket.request.max.bytes", def: "104857600", parse: intField(func(c *Config, n int64) { c.SocketRequestMax = int32(n) }, 1024, math.MaxInt32)},
	{key: "offsets.topic.replication.factor", def: "3", parse: intField(func(c *Config, n int64) { c.OffsetsTopicReplicationFactor = int16(n) }, 1, math.MaxInt16)},
	{key: "offsets.topic.num.partitions", def: "50", parse: intField(func(c *Config, n int64) { c.OffsetsTopicNumPartitions = int32(n) }, 1, maxPartitions)},
	{key: "offsets.topic.segment.bytes", def: "104857600", parse: intField(func(c *Config, n int64) { c.OffsetsTopicSegmentBytes = n }, minSegmentBytes, math.MaxInt32)},
	{key: "offsets.retention.minutes", def: "10080", parse: intField(func(c *Config, n int64) { c.OffsetsRetentionMinutes = n }, 1, math.MaxInt32)},
	{key: "offsets.retention.check.interval.ms", def: "600000", parse: durField(func(c *Config, d time.Duration) { c.OffsetsRetentionCheck = d }, 1)},
	{key: "group.initial.rebalance.delay.ms", def: "3000", parse: durField(func(c *Config, d time.Duration) { c.GroupInitialRebalanceDelay = d }, 0)},
	{key: "group.min.session.timeout.ms", def: "6000", parse: durField(func(c *Config, d time.Duration) { c.GroupMinSessionTimeout = d }, 0)},
	{key: "group.max.session.timeout.ms", def: "1800000", parse: durField(func(c *Config, d time.Duration) { c.GroupMaxSessionTimeout = d }, 0)},
	{key: "group.max.size", def: "2147483647", parse: intField(func(c *Config, n int64) { c.GroupMaxSize = int32(n) }, 1, math.MaxInt32)},
	{key: "transaction.state.log.num.partitions", def: "50", parse: intField(func(c *Config, n int64) { c.TxnStateNumPartitions = int32(n) }, 1, maxPartitions)},
	{key: "transaction.state.log.replication.factor", def: "3", parse: intField(func(c *Config, n int64) { c.TxnStateReplicationFactor = int16(n) }, 1, math.MaxInt16)},
	{key: "transaction.state.log.min.isr", def: "2", parse: intField(func(c *Config, n int64) { c.TxnStateMinIsr = int32(n) }, 1, math.MaxInt32)},
	{key: "transaction.max.timeout.ms", def: "900000", parse: durField(func(c *Config, d time.Duration) { c.TxnMaxTimeout = d }, 1)},
	{key: "transactional.id.expiration.ms", def: "604800000", parse: durField(func(c *Config, d time.Duration) { c.TxnIDExpiration = d }, 1)},
	{key: "transaction.abort.timed.out.transaction.cleanup.interval.ms", def: "10000", parse: durField(func(c *Config, d time.Duration) { c.TxnAbortCheckInterval = d }, 1)},
	{key: "producer.id.expiration.ms", def: "86400000", parse: durField(func(c *Config, d time.Duration) { c.ProducerIDExpiration = d }, 1)},
	{key: "controlled.shutdown.enable", def: "true", parse: boolField(func(c *Config, b bool) { c.ControlledShutdownEnable = b })},
	{key: "auto.leader.rebalance.enable", def: "true", parse: boolField(func(c *Config, b bool) { c.AutoLeaderRebalance = b })},
	{key: "leader.imbalance.check.interval.seconds", def: "300", parse: intField(func(c *Config, n int64) { c.LeaderImbalanceCheckInterval = time.Duration(n) * time.Second }, 1, math.MaxInt32)},
	{key: "leader.imbalance.per.broker.percentage", def: "10", parse: intField(func(c *Config, n int64) { c.LeaderImbalancePerBrokerPercentage = int(n) }, 0, 100)},
	{key: "gregor.metrics.listener", def: "127.0.0.1:9404", parse: func(c *Config, v string) error {
		v = strings.TrimSpace(v)
		if v != "" {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("must be host:port or empty")
			}
		}
		c.MetricsListener = v
		return nil
	}},
	// gregor.decompression.max.ratio bounds what validating or compacting
	// a compressed batch may cost (a decompression bomb).
	{key: "gregor.decompression.max.ratio", def: "16", parse: intField(func(c *Config, n int64) { c.DecompressionMaxRatio = n }, 1, 1024)},
	{key: "gregor.log.level", def: "info", parse: func(c *Config, v string) error {
		switch v {
		case "trace", "debug", "info", "warn", "error":
			c.LogLevel = v
			return nil
		}
		return fmt.Errorf("must be trace, debug, info, warn or error")
	}},
}

var byKey = func() map[string]*option {
	m := make(map[string]*option, len(options))
	for i := range options {
		m[options[i].key] = &options[i]
	}
	return m
}()

// Known reports whether key is a broker key we understand.
func Known(key string) bool { _, ok := byKey[key]; return ok }

func intField(set func(*Config, int64), lo, hi int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer")
		}
		if n < lo || n > hi {
			return fmt.Errorf("must be in [%d, %d]", lo, hi)
		}
		set(c, n)
		return nil
	}
}

func durField(set func(*Config, time.Duration), lo int64) func(*Config, string) error {
	return intField(func(c *Config, n int64) { set(c, time.Duration(n)*time.Millisecond) }, lo, math.MaxInt64/int64(time.Millisecond))
}

func boolField(set func(*Config, bool)) func(*Config, string) error {
	return func(c *Config, v string) error {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			set(c, true)
		case "false":
			set(c, false)
		default:
			return fmt.Errorf("must be true or false")
		}
		return nil
	}
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseListeners parses "NAME://host:port,..." (an empty host means all
// interfaces).
func parseListeners(v string) ([]Listener, error) {
	var out []Listener
	seen := map[string]bool{}
	for _, s := range splitList(v) {
		name, addr, ok := strings.Cut(s, "://")
		if !ok || name == "" {
			return nil, fmt.Errorf("%q is not NAME://host:port", s)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", s, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("%q: bad port", s)
		}
		name = strings.ToUpper(name)
		if seen[name] {
			return nil, fmt.Errorf("listener name %s appears twice", name)
		}
		seen[name] = true
		out = append(out, Listener{Name: name, Host: host, Port: p})
	}
	return out, nil
}

// ParseCleanupPolicy normalises "delete", "compact" or both.
func ParseCleanupPolicy(v string) (string, error) {
	parts := splitList(strings.ToLower(v))
	del, comp := false, false
	for _, p := range parts {
		switch p {
		case "delete":
			del = true
		case "compact":
			comp = true
		default:
			return "", fmt.Errorf("must be delete, compact or both")
		}
	}
	switch {
	case del && comp:
		return "compact,delete", nil
	case comp:
		return "compact", nil
	case del:
		return "delete", nil
	}
	return "", fmt.Errorf("must be delete, compact or both")
}
