// Package config is the broker's configuration: Kafka's server.properties
// keys, their defaults, parsing and validation.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Listener is one entry of listeners / advertised.listeners.
type Listener struct {
	Name string // PLAINTEXT, or a name mapped by listener.security.protocol.map
	Host string
	Port int
}

// Addr is host:port.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

func (l Listener) String() string { return l.Name + "://" + l.Addr() }

// Config is everything the broker reads from server.properties.
type Config struct {
	BrokerID            int32
	Rack                string
	Listeners           []Listener
	AdvertisedListeners []Listener
	LogDirs             []string

	ZookeeperConnect        string
	ZookeeperSessionTimeout time.Duration

	NumPartitions            int32
	DefaultReplicationFactor int16
	MinInsyncReplicas        int32
	DeleteTopicEnable        bool
	AutoCreateTopicsEnable   bool
	UncleanLeaderElection    bool

	LogRetentionMs        int64
	LogRetentionBytes     int64
	LogSegmentBytes       int64
	LogRollMs             int64
	LogRetentionCheck     time.Duration
	LogIndexIntervalBytes int64
	LogFlushMessages      int64
	LogFlushIntervalMs    int64 // -1: not set
	LogCleanupPolicy      string
	LogCleanerEnable      bool
	LogCleanerDeleteRetMs int64
	LogCleanerMinDirty    float64
	LogCleanerBackoff     time.Duration
	LogMessageTimestamp   string
	CompressionType       string
	FileDeleteDelay       time.Duration

	MessageMaxBytes    int32
	ReplicaFetchMax    int32
	ReplicaLagTimeMax  time.Duration
	ReplicaFetchWait   time.Duration
	SocketRequestMax   int32
	NumReplicaFetchers int

	OffsetsTopicReplicationFactor int16
	OffsetsTopicNumPartitions     int32
	OffsetsTopicSegmentBytes      int64
	OffsetsRetentionMinutes       int64
	OffsetsRetentionCheck         time.Duration
	GroupInitialRebalanceDelay    time.Duration
	GroupMinSessionTimeout        time.Duration
	GroupMaxSessionTimeout        time.Duration
	GroupMaxSize                  int32

	TxnStateNumPartitions     int32
	TxnStateReplicationFactor int16
	TxnStateMinIsr            int32
	TxnMaxTimeout             time.Duration
	TxnIDExpiration           time.Duration
	TxnAbortCheckInterval     time.Duration
	ProducerIDExpiration      time.Duration

	ControlledShutdownEnable bool

	// Preferred leader rebalancing (controller): every
	// LeaderImbalanceCheckInterval, leaderships move back to the preferred
	// replica of each broker whose share of partitions led by another
	// exceeds LeaderImbalancePerBrokerPercentage.
	AutoLeaderRebalance                bool
	LeaderImbalanceCheckInterval       time.Duration
	LeaderImbalancePerBrokerPercentage int

	MetricsListener string // host:port for Prometheus; empty disables
	LogLevel        string
	// DecompressionMaxRatio: a record batch may decompress to at most this
	// many times its topic's max.message.bytes (MESSAGE_TOO_LARGE past it).
	DecompressionMaxRatio int64

	// Unknown lists keys we do not know; they are logged once and ignored.
	Unknown []string
	// Values are the raw key=value settings as given (for DescribeConfigs).
	Values map[string]string
}

// Defaults returns the configuration of a broker started with no arguments.
func Defaults() *Config {
	c, err := Load(nil, nil)
	if err != nil {
		panic(err) // the defaults are valid by construction
	}
	return c
}

// Load builds a configuration from a properties file's keys (in order) and
// values, then applies overrides (from --set), validating everything and
// reporting every bad key at once.
func Load(values map[string]string, overrides map[string]string) (*Config, error) {
	merged := make(map[string]string, len(values)+len(overrides))
	for k, v := range values {
		merged[k] = v
	}
	for k, v := range overrides {
		merged[k] = v
	}
	c := &Config{Values: merged}
	var errs []error
	for _, o := range options {
		v, set := merged[o.key]
		if !set {
			v = o.def
		}
		if err := o.parse(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", o.key, v, err))
		}
	}
	for k := range merged {
		if _, ok := byKey[k]; !ok && !ignored(k) {
			c.Unknown = append(c.Unknown, k)
		}
	}
	sort.Strings(c.Unknown)
	errs = append(errs, c.derive(merged)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// LoadFile reads a server.properties file and applies overrides.
func LoadFile(path string, overrides map[string]string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	_, values, err := ParseProperties(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Load(values, overrides)
}

// derive resolves keys that depend on others (time units with precedence,
// listeners, log.dir vs log.dirs) and cross-key rules.
func (c *Config) derive(v map[string]string) []error {
	var errs []error
	ms := func(msKey, minKey, hourKey string, def int64) int64 {
		for _, k := range []struct {
			key  string
			mult int64
		}{{msKey, 1}, {minKey, 60_000}, {hourKey, 3_600_000}} {
			if k.key == "" {
				continue
			}
			if s, ok := v[k.key]; ok {
				n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
				if err != nil || (n < -1 && k.mult == 1) {
					errs = append(errs, fmt.Errorf("%s=%q: not a valid number", k.key, s))
					return def
				}
				if n < 0 {
					return -1
				}
				return n * k.mult
			}
		}
		return def
	}
	c.LogRetentionMs = ms("log.retention.ms", "log.retention.minutes", "log.retention.hours", 168*3_600_000)
	c.LogRollMs = ms("log.roll.ms", "", "log.roll.hours", 168*3_600_000)
	if c.LogRollMs <= 0 {
		errs = append(errs, fmt.Errorf("log.roll.ms must be positive"))
	}
	if c.LogRollMs <= 0 {
		c.LogRollMs = 168 * 3_600_000
	}
	if len(c.LogDirs) == 0 {
		if d, ok := v["log.dir"]; ok && strings.TrimSpace(d) != "" {
			c.LogDirs = []string{strings.TrimSpace(d)}
		} else {
			c.LogDirs = []string{"./data"}
		}
	}
	if len(c.AdvertisedListeners) == 0 {
		for _, l := range c.Listeners {
			if l.Host == "" || l.Host == "0.0.0.0" || l.Host == "::" {
				h, err := os.Hostname()
				if err != nil || h == "" {
					h = "127.0.0.1"
				}
				l.Host = h
			}
			c.AdvertisedListeners = append(c.AdvertisedListeners, l)
		}
	}
	for _, a := range c.AdvertisedListeners {
		if _, ok := c.Listener(a.Name); !ok {
			errs = append(errs, fmt.Errorf("advertised.listeners: listener %s is not in listeners", a.Name))
		}
	}
	if c.ZookeeperConnect == "" && c.BrokerID < 0 {
		c.BrokerID = 0
	}
	return errs
}

// Listener returns the listener with a name.
func (c *Config) Listener(name string) (Listener, bool) {
	for _, l := range c.Listeners {
		if l.Name == name {
			return l, true
		}
	}
	return Listener{}, false
}

// Advertised returns the advertised address for a listener name.
func (c *Config) Advertised(name string) (Listener, bool) {
	for _, l := range c.AdvertisedListeners {
		if l.Name == name {
			return l, true
		}
	}
	return Listener{}, false
}

// Clustered reports whether the broker runs against ZooKeeper.
func (c *Config) Clustered() bool { return c.ZookeeperConnect != "" }

// ignored are keys Kafka knows that have no meaning here (security,
// metrics reporters, thread pools): accepted silently.
func ignored(k string) bool {
	for _, p := range []string{"num.network.threads", "num.io.threads", "socket.send.buffer.bytes", "socket.receive.buffer.bytes",
		"num.recovery.threads.per.data.dir", "group.initial.rebalance.delay.ms.", "zookeeper.connection.timeout.ms",
		"listener.security.protocol.map", "inter.broker.listener.name", "security.inter.broker.protocol", "transaction.state.log.segment.bytes",
		"queued.max.requests", "background.threads", "metric.reporters", "kafka.metrics.", "confluent.", "ssl.", "sasl.", "authorizer."} {
		if k == p || strings.HasPrefix(k, p) && strings.HasSuffix(p, ".") {
			return true
		}
	}
	return false
}
