package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
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

// The replica selectors replica.selector.class may name (Kafka's classes).
const (
	LeaderSelector           = "org.apache.kafka.common.replica.LeaderSelector"
	RackAwareReplicaSelector = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
)

// Config is the broker's configuration, resolved from the schema: the
// static keys (server.properties and --set) and, in the configuration in
// force, the dynamic ones. Each field is set by one row of the table.
type Config struct {
	BrokerID int32
	// BrokerIDGeneration and ReservedBrokerMaxID: in a cluster, a broker
	// with no broker.id takes the one stored in its log dirs, else one
	// ZooKeeper generates above ReservedBrokerMaxID (cmd/gregor).
	BrokerIDGeneration  bool
	ReservedBrokerMaxID int32
	Rack                string
	Listeners           []Listener
	AdvertisedListeners []Listener
	// BoundPorts are the ports that listeners configured with port 0 were
	// bound to, by listener name (SetBoundPorts).
	BoundPorts map[string]int
	LogDir     string
	LogDirs    []string

	ZookeeperConnect        string
	ZookeeperSessionTimeout time.Duration
	// ZookeeperConnectionTimeout is zookeeper.connection.timeout.ms (zero:
	// not set).
	ZookeeperConnectionTimeout time.Duration

	PasswordEncoder PasswordEncoder

	NumPartitions            int32
	DefaultReplicationFactor int16
	DeleteTopicEnable        bool
	AutoCreateTopicsEnable   bool
	MaxBrokerPartitions      int32

	LogRetentionCheck time.Duration
	LogCleanerEnable  bool
	LogCleanerBackoff time.Duration
	LogCleanerIORate  float64
	// LogCleanerDedupeBuffer and LogCleanerLoadFactor bound the keys one
	// compaction pass maps (log.cleaner.dedupe.buffer.size,
	// log.cleaner.io.buffer.load.factor).
	LogCleanerDedupeBuffer int64
	LogCleanerLoadFactor   float64
	// HighWatermarkCheckpointInterval is how often the checkpoint files
	// are written (replica.high.watermark.checkpoint.interval.ms).
	HighWatermarkCheckpointInterval time.Duration

	ReplicaFetchMax   ByteSize
	ReplicaLagTimeMax time.Duration
	ReplicaFetchWait  time.Duration
	// ReplicaFetchBackoff is replica.fetch.backoff.ms: the longest a
	// follower waits after a failed fetch.
	ReplicaFetchBackoff time.Duration
	// ReplicaFetchMin, ReplicaSocketTimeout and
	// ReplicaSocketReceiveBuffer are replica.fetch.min.bytes,
	// replica.socket.timeout.ms and replica.socket.receive.buffer.bytes.
	ReplicaFetchMin            ByteSize
	ReplicaSocketTimeout       time.Duration
	ReplicaSocketReceiveBuffer ByteSize
	SocketRequestMax           ByteSize
	// SO_SNDBUF and SO_RCVBUF of client connections; <= 0: the OS's.
	SocketSendBuffer, SocketReceiveBuffer ByteSize
	SocketListenBacklog                   int
	NumReplicaFetchers                    int

	// Caps on a fetch response's record bytes: a consumer's, and what a
	// follower asks for (and a leader grants a follower).
	FetchMax                ByteSize
	ReplicaFetchResponseMax ByteSize
	// FetchSessionSlots is max.incremental.fetch.session.cache.slots.
	FetchSessionSlots int
	// Replication quotas: bytes per second (Long.MAX_VALUE: none) and the
	// window they are measured over.
	LeaderReplicationThrottledRate   ByteSize
	FollowerReplicationThrottledRate ByteSize
	ReplicaAlterLogDirsRate          ByteSize
	ReplicaSelector                  string // replica.selector.class
	ReplicationQuotaWindowNum        int
	ReplicationQuotaWindowSize       time.Duration
	AlterLogDirsQuotaWindowNum       int
	AlterLogDirsQuotaWindowSize      time.Duration

	// Connection limits (protocol.Options explains each).
	QueuedMaxRequestBytes        ByteSize
	ConnectionMaxQueuedBytes     ByteSize
	MaxConnections               int
	MaxConnectionCreationRate    int
	MaxConnectionsPerIP          int
	MaxConnectionsPerIPOverrides string
	ConnectionsMaxIdle           time.Duration
	FailedAuthDelay              time.Duration
	SASLMaxReceiveSize           int32
	MaxRequestPartitionSizeLimit int32

	OffsetsTopicReplicationFactor int16
	OffsetsTopicNumPartitions     int32
	OffsetsTopicSegmentBytes      ByteSize
	TxnStateSegmentBytes          ByteSize
	OffsetsRetention              time.Duration
	OffsetsCommitTimeout          time.Duration
	OffsetMetadataMaxBytes        int32
	OffsetsRetentionCheck         time.Duration
	GroupInitialRebalanceDelay    time.Duration
	GroupMinSessionTimeout        time.Duration
	GroupMaxSessionTimeout        time.Duration
	GroupMaxSize                  int32

	// KIP-848 consumer groups.
	GroupRebalanceProtocols           []string
	ConsumerGroupSessionTimeout       time.Duration
	ConsumerGroupMinSessionTimeout    time.Duration
	ConsumerGroupMaxSessionTimeout    time.Duration
	ConsumerGroupHeartbeatInterval    time.Duration
	ConsumerGroupMinHeartbeatInterval time.Duration
	ConsumerGroupMaxHeartbeatInterval time.Duration
	ConsumerGroupMaxSize              int32
	ConsumerGroupAssignors            []string // short names (uniform, range), resolved
	ConsumerGroupMigrationPolicy      string   // lower case

	// KIP-932 share groups and the share coordinator.
	ShareGroupEnable                      bool
	ShareGroupSessionTimeout              time.Duration
	ShareGroupMinSessionTimeout           time.Duration
	ShareGroupMaxSessionTimeout           time.Duration
	ShareGroupHeartbeatInterval           time.Duration
	ShareGroupMinHeartbeatInterval        time.Duration
	ShareGroupMaxHeartbeatInterval        time.Duration
	ShareGroupMaxSize                     int32
	ShareGroupAssignors                   []string
	ShareGroupInitializeRetryInterval     time.Duration
	ShareGroupDeliveryCountLimit          int32
	ShareGroupMinDeliveryCountLimit       int32
	ShareGroupMaxDeliveryCountLimit       int32
	ShareGroupRecordLockDuration          time.Duration
	ShareGroupMinRecordLockDuration       time.Duration
	ShareGroupMaxRecordLockDuration       time.Duration
	ShareGroupPartitionMaxRecordLocks     int32
	ShareGroupMinPartitionMaxRecordLocks  int32
	ShareGroupMaxPartitionMaxRecordLocks  int32
	ShareGroupMaxShareSessions            int32
	ShareStateTopicNumPartitions          int32
	ShareStateTopicReplicationFactor      int16
	ShareStateTopicMinIsr                 int16
	ShareStateTopicSegmentBytes           ByteSize
	ShareSnapshotUpdateRecordsPerSnapshot int32
	ShareCoordinatorWriteTimeout          time.Duration
	ShareStateTopicPruneInterval          time.Duration
	ShareColdPartitionSnapshotInterval    time.Duration

	TxnStateNumPartitions     int32
	TxnStateReplicationFactor int16
	TxnStateMinIsr            int32
	TxnMaxTimeout             time.Duration
	TxnIDExpiration           time.Duration
	TxnAbortCheckInterval     time.Duration
	TxnIDExpireCheckInterval  time.Duration
	ProducerIDExpiration      time.Duration
	ProducerIDExpirationCheck time.Duration
	TxnPartitionVerification  bool
	AddPartitionsRetryBackoff time.Duration
	AddPartitionsRetryMax     time.Duration

	ControlledShutdownEnable bool

	// Preferred leader rebalancing (controller): every
	// LeaderImbalanceCheckInterval, leaderships move back to the preferred
	// replica of every partition led by another, as Kafka 4's controller.
	// LeaderImbalancePerBrokerPercentage (ZooKeeper mode's threshold,
	// removed in Kafka 4) is accepted and ignored.
	AutoLeaderRebalance                bool
	LeaderImbalanceCheckInterval       time.Duration
	LeaderImbalancePerBrokerPercentage int

	// Security (security.go): the protocol of each listener, the
	// inter-broker listener and mechanism.
	ListenerSecurityProtocolMap string
	ListenerProtocols           map[string]string // by listener name, resolved
	InterBrokerListenerName     string
	SecurityInterBrokerProtocol string
	// InterBrokerListener is the listener brokers use between themselves.
	InterBrokerListener      string
	SASLMechanismInterBroker string
	// AuthorizerClassName turns ACLs on (one of the two names package acl
	// accepts); SuperUsers and AllowEveryoneIfNoACLFound configure them.
	AuthorizerClassName       string
	SuperUsers                string
	AllowEveryoneIfNoACLFound bool
	// DelegationTokens are delegation.token.* (KIP-48).
	DelegationTokens DelegationTokens

	// Client quota sampling (quota.window.*, controller.quota.window.*).
	QuotaWindowNum            int
	QuotaWindowSize           time.Duration
	ControllerQuotaWindowNum  int
	ControllerQuotaWindowSize time.Duration

	MetricsListener string // host:port for Prometheus; empty disables
	// MetricsMaxGroups bounds the consumer groups with series of their
	// own in the metrics and rows on the status page.
	MetricsMaxGroups int32
	LogLevel         string
	LogFormat        string // auto, json or text
	// DecompressionMaxRatio: a record batch may decompress to at most this
	// many times its topic's max.message.bytes (MESSAGE_TOO_LARGE past it).
	DecompressionMaxRatio int64

	// TopicDefaults are the broker's defaults for topic configs
	// (log.retention.ms for retention.ms, ...).
	TopicDefaults Topic

	// Unknown lists keys we do not know; they are logged once and ignored.
	Unknown []string
	// Values are the static settings as given (server.properties and --set).
	Values map[string]string
	// Dynamic are the dynamic broker configs this configuration includes.
	Dynamic Dynamic
}

// Dynamic are the broker configs altered at run time: this broker's own
// and the cluster-wide defaults, by broker key.
type Dynamic struct {
	PerBroker, Defaults map[string]string
}

// Defaults returns the configuration of a broker started with no arguments.
func Defaults() *Config {
	c, err := Load(nil, nil)
	if err != nil {
		panic(err) // the defaults are valid by construction
	}
	return c
}

// Load builds a configuration from a properties file's values, then
// applies overrides (from --set), validating everything and reporting
// every bad key at once.
func Load(values map[string]string, overrides map[string]string) (*Config, error) {
	merged := make(map[string]string, len(values)+len(overrides))
	for k, v := range values {
		merged[k] = v
	}
	for k, v := range overrides {
		merged[k] = v
	}
	// node.id and broker.id are synonyms, as Kafka's
	// KafkaConfig.populateSynonyms makes them: a KRaft file names the
	// broker by node.id alone.
	nodeID, hasNode := merged["node.id"]
	brokerID, hasBroker := merged["broker.id"]
	switch {
	case hasNode && !hasBroker:
		merged["broker.id"] = nodeID
	case hasBroker && !hasNode:
		merged["node.id"] = brokerID
	case hasNode && strings.TrimSpace(nodeID) != strings.TrimSpace(brokerID):
		return nil, errors.New("You must set `node.id` to the same value as `broker.id`.")
	}
	c, err := resolve(merged)
	if err != nil {
		return nil, err
	}
	c.Values = merged
	for k := range merged {
		if keys.broker[k] == nil && !ignored(k) && !knownListenerKey(k) {
			c.Unknown = append(c.Unknown, k)
		}
	}
	slices.Sort(c.Unknown)
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

// Validate checks broker values (static, or with dynamic layers over them)
// as Load does, reporting every bad key at once.
func Validate(values map[string]string) error {
	_, err := resolve(values)
	return err
}

// resolve sets every field from the values given, by the table: a field
// takes the first of its key's synonyms that is set, else the first
// default among them. Every key given is validated, synonyms that lose
// included, as Kafka's ConfigDef does; then the cross-key rules.
func resolve(values map[string]string) (*Config, error) {
	c := &Config{}
	var errs []error
	parsed := make(map[string]any, len(values))
	for _, name := range sortedKeys(values) {
		if k := keys.broker[name]; k != nil {
			v, err := k.parseBroker(values[name])
			if err != nil {
				errs = append(errs, invalid(k, name, values[name], err))
				continue
			}
			parsed[name] = v
		}
	}
	for _, k := range keys.keys {
		if k.Field == nil {
			continue
		}
		from, v := pick(k, parsed)
		if from == nil {
			continue // no default: the zero value
		}
		if err := set(k.Field(c), v, from); err != nil {
			errs = append(errs, invalid(from, from.Name, values[from.Name], err))
		}
	}
	c.Values = values // derive reads listener-prefixed keys; Load sets it again
	errs = append(errs, c.derive()...)
	return c, errors.Join(errs...)
}

// pick returns the value a key's field takes, and the key it comes from:
// the first of its synonyms set, else the first with a default.
func pick(k *Key, parsed map[string]any) (*Key, any) {
	if k.Name == "" {
		return k, k.def // a topic key without a broker key
	}
	names := keys.synonyms(k.Name)
	for _, n := range names {
		if v, ok := parsed[n]; ok {
			return keys.broker[n], v
		}
	}
	for _, n := range names {
		if syn := keys.broker[n]; !syn.NoDefault {
			return syn, syn.def
		}
	}
	return nil, nil
}

// localHostname is the host advertised for a listener without one: the
// machine's name (127.0.0.1 if it has none).
func localHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "127.0.0.1"
	}
	return h
}

// derive resolves keys that depend on others (listeners, log.dir vs
// log.dirs, the broker id without ZooKeeper) and checks cross-key rules.
func (c *Config) derive() []error {
	var errs []error
	if len(c.LogDirs) == 0 && c.LogDir != "" {
		c.LogDirs = []string{c.LogDir}
	}
	if len(c.LogDirs) == 0 {
		errs = append(errs, errors.New("log.dirs and log.dir: no log directory given"))
	}
	if err := c.duplicateLogDirs(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.deriveKRaft()...)
	if len(c.AdvertisedListeners) == 0 {
		for _, l := range c.Listeners {
			if l.Host == "" || l.Host == "0.0.0.0" || l.Host == "::" {
				l.Host = localHostname()
			}
			c.AdvertisedListeners = append(c.AdvertisedListeners, l)
		}
	}
	for i, a := range c.AdvertisedListeners {
		// A blank advertised host is this machine's name, as Kafka's
		// KafkaServer.createBrokerInfo registers it.
		if strings.TrimSpace(a.Host) == "" {
			c.AdvertisedListeners[i].Host = localHostname()
		}
		if _, ok := c.Listener(a.Name); !ok {
			errs = append(errs, fmt.Errorf("advertised.listeners: listener %s is not in listeners", a.Name))
		}
	}
	// Kafka's KafkaConfig.validateValues: other brokers and clients would
	// dial 0.0.0.0 (only listeners without advertised.listeners have
	// their wildcard host replaced, above).
	if slices.ContainsFunc(c.AdvertisedListeners, func(a Listener) bool { return a.Host == "0.0.0.0" }) {
		errs = append(errs, errors.New("advertised.listeners: advertised.listeners cannot use the nonroutable meta-address 0.0.0.0. Use a routable IP address."))
	}
	switch {
	case c.ZookeeperConnect == "" && c.BrokerID < 0:
		c.BrokerID = 0
	case c.ZookeeperConnect == "":
	case !c.BrokerIDGeneration && c.BrokerID < 0:
		errs = append(errs, errors.New("broker.id must be set (at least 0) when broker.id.generation.enable is false"))
	case c.BrokerIDGeneration && c.BrokerID > c.ReservedBrokerMaxID:
		// As Kafka: generated ids are above it, so a set one is not.
		errs = append(errs, fmt.Errorf("broker.id %d is above reserved.broker.max.id %d: set a lower broker.id, or raise reserved.broker.max.id", c.BrokerID, c.ReservedBrokerMaxID))
	}
	if c.MaxConnectionsPerIP == 0 && strings.TrimSpace(c.MaxConnectionsPerIPOverrides) == "" {
		// As Kafka: no connection at all would be let in.
		errs = append(errs, requirement("max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides property is set."))
	}
	if c.ConnectionsMaxIdle > 0 && c.FailedAuthDelay >= c.ConnectionsMaxIdle {
		errs = append(errs, fmt.Errorf("connection.failed.authentication.delay.ms=%d should always be less than connections.max.idle.ms=%d to prevent unnecessary socket timeouts",
			c.FailedAuthDelay.Milliseconds(), c.ConnectionsMaxIdle.Milliseconds()))
	}
	// As Kafka's KafkaConfig requires: a broker's retention of 0 (which
	// would delete every topic's records without its own retention.ms)
	// is refused, whichever of its synonyms sets it.
	if c.TopicDefaults.SegmentRoll < time.Millisecond {
		errs = append(errs, requirement("log.roll.ms must be greater than or equal to 1"))
	}
	if c.TopicDefaults.SegmentJitter < 0 {
		errs = append(errs, requirement("log.roll.jitter.ms must be greater than or equal to 0"))
	}
	switch {
	case c.TopicDefaults.Retention == 0:
		errs = append(errs, requirement("log.retention.ms must be unlimited (-1) or, greater than or equal to 1"))
	case c.TopicDefaults.Retention < 0:
		c.TopicDefaults.Retention = -time.Millisecond // no limit, as Kafka's logRetentionTimeMillis returns -1
	}
	// As Kafka's KafkaConfig requires: the largest request fits the
	// budget (Gregor would read it, past the limit, but Kafka refuses to
	// start).
	if q := int64(c.QueuedMaxRequestBytes); q > 0 && q < int64(c.SocketRequestMax) {
		errs = append(errs, requirement("queued.max.request.bytes must be larger or equal to socket.request.max.bytes"))
	}
	// Gregor's cleaner has no dedupe buffer, but a value Kafka refuses is
	// refused, as its KafkaConfig requires.
	if buf, threads := int64Value(c.Values, "log.cleaner.dedupe.buffer.size"), int64Value(c.Values, "log.cleaner.threads"); threads > 0 && buf/threads <= 1024*1024 {
		errs = append(errs, requirement("log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread."))
	}
	if c.ReplicaFetchWait > c.ReplicaSocketTimeout {
		errs = append(errs, fmt.Errorf("replica.socket.timeout.ms=%d should always be at least replica.fetch.wait.max.ms=%d to prevent unnecessary socket timeouts",
			c.ReplicaSocketTimeout.Milliseconds(), c.ReplicaFetchWait.Milliseconds()))
	}
	if c.ReplicaFetchWait > c.ReplicaLagTimeMax {
		errs = append(errs, fmt.Errorf("replica.fetch.wait.max.ms=%d should always be less than or equal to replica.lag.time.max.ms=%d to prevent frequent changes in ISR",
			c.ReplicaFetchWait.Milliseconds(), c.ReplicaLagTimeMax.Milliseconds()))
	}
	errs = append(errs, c.deriveSecurity()...)
	errs = append(errs, c.derivePasswordEncoder()...)
	errs = append(errs, c.deriveConsumerGroups()...)
	errs = append(errs, c.deriveShareGroups()...)
	return errs
}

// duplicateLogDirs refuses a log dir listed twice, by its absolute path
// with symlinks resolved, as Kafka's LogManager.createAndValidateLogDirs
// compares canonical paths ("/d", "/d/" and a link to /d are one dir),
// with Kafka's message. Opened twice, one dir would hold each of its
// partitions twice.
func (c *Config) duplicateLogDirs() error {
	seen := make(map[string]bool, len(c.LogDirs))
	for _, d := range c.LogDirs {
		p, err := filepath.Abs(d)
		if err != nil {
			p = d
		}
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		p = filepath.Clean(p)
		if seen[p] {
			return fmt.Errorf("log.dirs: Duplicate log directory found: %s", strings.Join(c.LogDirs, ", "))
		}
		seen[p] = true
	}
	return nil
}

// WithDynamic returns the configuration in force with dynamic broker
// configs, as Kafka's DynamicBrokerConfig builds it: the static values,
// then the cluster-wide defaults, then this broker's own, each layer
// replacing every synonym of the keys it sets. Keys that may not be set
// dynamically or whose values are invalid are left out, each with an error
// (Kafka logs and ignores them); if the whole does not hold together, the
// static configuration is returned with the error.
func (c *Config) WithDynamic(d Dynamic) (*Config, []error) {
	var errs []error
	d.Defaults, errs = usable(d.Defaults, false, errs)
	d.PerBroker, errs = usable(d.PerBroker, true, errs)
	out, err := resolve(overlay(c.Values, d))
	if err != nil {
		out, _ = resolve(c.Values)
		d = Dynamic{}
		errs = append(errs, fmt.Errorf("dynamic broker configs not applied: %w", err))
	}
	out.Values, out.Unknown, out.Dynamic = c.Values, c.Unknown, d
	out.SetBoundPorts(c.BoundPorts)
	return out, errs
}

// SetBoundPorts records the ports that listeners configured with port 0
// were bound to, and advertises each in place of its advertised port 0, as
// Kafka's KafkaServer registers socketServer.boundPort: clients and other
// brokers are never told to dial port 0.
func (c *Config) SetBoundPorts(ports map[string]int) {
	c.BoundPorts = ports
	if len(ports) == 0 {
		return
	}
	adv := slices.Clone(c.AdvertisedListeners)
	for i, a := range adv {
		if p, ok := ports[a.Name]; ok && a.Port == 0 {
			adv[i].Port = p
		}
	}
	c.AdvertisedListeners = adv
}

// CheckWithDynamic reports what keeps the configuration with dynamic
// broker configs d from holding together (the cross-key rules a new
// Kafka KafkaConfig checks when DynamicBrokerConfig validates a change),
// or nil.
func (c *Config) CheckWithDynamic(d Dynamic) error {
	_, err := resolve(overlay(c.Values, d))
	return err
}

// UsableDynamic returns the dynamic configs of the cluster default or of
// one broker (perBroker) that may be applied, and an error for each left
// out, as Kafka's fromPersistentProps reads the stored ones.
func UsableDynamic(m map[string]string, perBroker bool) (map[string]string, []error) {
	return usable(m, perBroker, nil)
}

// usable drops the dynamic configs that may not be applied.
func usable(m map[string]string, perBroker bool, errs []error) (map[string]string, []error) {
	out := make(map[string]string, len(m))
	for _, name := range sortedKeys(m) {
		if err := checkDynamicKey(name, m[name], perBroker); err != nil {
			errs = append(errs, err)
			continue
		}
		out[name] = m[name]
	}
	return out, errs
}

// checkDynamicKey checks one dynamic broker config as Kafka's
// DynamicBrokerConfig.validateConfigs does. A key Kafka does not know is a
// custom config, which Kafka keeps (and so does Gregor, without effect). A
// listener-prefixed key is validated by the key it overrides, and is per
// broker unless that key may be cluster-wide for listeners. Of a key's
// problems, the one Kafka checks first is returned.
func checkDynamicKey(name, v string, perBroker bool) *dynamicKeyError {
	if _, rest, ok := splitListenerKey(name); ok {
		if row := listenerKeyRow(rest); row != nil {
			if _, err := row.parse(v); err != nil {
				return &dynamicKeyError{dynInvalidValue, name, invalid(row, name, v, err)}
			}
		}
		if !perBroker && !clusterListenerKeys[rest] {
			return &dynamicKeyError{kind: dynPerBrokerOnly, name: name}
		}
		return nil
	}
	k := keys.broker[name]
	switch {
	case k == nil:
		return nil
	case k.Scope == ReadOnly:
		return &dynamicKeyError{kind: dynReadOnly, name: name}
	case listenerOnlyKeys[name]:
		return &dynamicKeyError{kind: dynListenerOnly, name: name}
	}
	if _, err := k.parseBroker(v); err != nil {
		return &dynamicKeyError{dynInvalidValue, name, invalid(k, name, v, err)}
	}
	if k.Scope == PerBroker && !perBroker {
		return &dynamicKeyError{kind: dynPerBrokerOnly, name: name}
	}
	return nil
}

// The kinds of dynamic config problems, in the order Kafka's
// validateConfigs looks for them over all the keys of a change.
const (
	dynReadOnly = iota
	dynListenerOnly
	dynInvalidValue
	dynPerBrokerOnly
	dynKinds
)

// dynamicKindMessages are Kafka's messages for a set of keys of a kind.
var dynamicKindMessages = [dynKinds]string{
	dynReadOnly:      "Cannot update these configs dynamically",
	dynListenerOnly:  "These security configs can be dynamically updated only per-listener using the listener prefix",
	dynPerBrokerOnly: "Cannot update these configs at default cluster level, broker id must be specified",
}

// dynamicKeyError is what is wrong with one dynamic broker config.
type dynamicKeyError struct {
	kind int
	name string
	err  error // the bad value, for dynInvalidValue
}

func (e *dynamicKeyError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("%s: Set(%s)", dynamicKindMessages[e.kind], e.name)
}

// firstDynamicProblem is Kafka's answer to a change with these problems:
// of the first kind found, every key named in one Set (sorted), or the
// first bad value.
func firstDynamicProblem(errs []*dynamicKeyError) error {
	for kind := 0; kind < dynKinds; kind++ {
		var names []string
		for _, e := range errs {
			if e.kind != kind {
				continue
			}
			if kind == dynInvalidValue {
				return e
			}
			names = append(names, e.name)
		}
		if len(names) > 0 {
			return fmt.Errorf("%s: Set(%s)", dynamicKindMessages[kind], strings.Join(names, ", "))
		}
	}
	return nil
}

// listenerRunTimeKeys are the listener-prefixed keys, besides keystore and
// truststore ones, that apply when altered (connection bounds and rates).
var listenerRunTimeKeys = map[string]bool{"max.connections": true, "max.connection.creation.rate": true}

// appliedAtRunTime reports whether a dynamic broker config changes the
// configuration in force: not a custom key, a listener-prefixed one other
// than a keystore, truststore or connection key, one without effect, or
// one Gregor reads at start-up only; those are kept and described only.
func appliedAtRunTime(name string) bool {
	if _, rest, ok := splitListenerKey(name); ok {
		return listenerOnlyKeys[rest] || listenerRunTimeKeys[rest]
	}
	k := keys.broker[name]
	return k != nil && k.NoEffect == "" && !k.StartupOnly
}

// overlay lays the dynamic layers over the static values; a key set in a
// layer removes its synonyms set below it (Kafka's overrideProps).
func overlay(static map[string]string, d Dynamic) map[string]string {
	out := make(map[string]string, len(static))
	for k, v := range static {
		out[k] = v
	}
	for _, layer := range []map[string]string{d.Defaults, d.PerBroker} {
		for name, v := range layer {
			if !appliedAtRunTime(name) {
				continue
			}
			for _, syn := range keys.synonyms(name) {
				delete(out, syn)
			}
			out[name] = v
		}
	}
	return out
}

// CheckDynamic validates new dynamic configs of this broker (perBroker) or
// of the cluster-wide default, replacing the current ones, as
// AlterConfigs and IncrementalAlterConfigs must before recording them:
// every key known, dynamic in that scope, with a valid value, and the
// configuration they make valid as a whole.
func (c *Config) CheckDynamic(perBroker bool, next map[string]string) error {
	var errs []*dynamicKeyError
	for _, name := range sortedKeys(next) {
		if err := checkDynamicKey(name, next[name], perBroker); err != nil {
			errs = append(errs, err)
		}
	}
	if err := firstDynamicProblem(errs); err != nil {
		return err
	}
	d := c.Dynamic
	if perBroker {
		d.PerBroker = next
	} else {
		d.Defaults = next
	}
	// Keys Gregor reads at start-up only (listeners) must hold together
	// too, as Kafka's new KafkaConfig checks them all.
	for _, values := range []map[string]string{overlay(c.Values, d), layered(c.Values, d)} {
		if err := Validate(values); err != nil {
			// One of KafkaConfig's requirements is answered as the
			// IllegalArgumentException of its require.
			var req *requirementError
			if errors.As(err, &req) {
				return fmt.Errorf("requirement failed: %s", req.msg)
			}
			return fmt.Errorf("Invalid dynamic configuration: %w", err)
		}
	}
	if err := checkReconfiguration(c.Values, layered(c.Values, c.Dynamic), layered(c.Values, d)); err != nil {
		return &ReconfigError{Cause: err}
	}
	return nil
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

// ignored are prefixes of keys that are not Kafka's but are found in
// Kafka deployments' server.properties (Confluent Platform's, metrics
// reporters' own settings): accepted silently. Kafka's own keys are all
// in the schema (keys_kafka.go for those without effect here, which are
// logged). Security keys are never ignored: those Gregor does not support
// stop start-up (security.go).
func ignored(k string) bool {
	for _, p := range []string{"kafka.metrics.", "confluent."} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

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

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// int64Value is an integer key's value in values, else its default (0 if
// it has none or is not a number).
func int64Value(values map[string]string, name string) int64 {
	v, ok := values[name]
	if k := keys.broker[name]; !ok && k != nil {
		v = k.Default
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n
}

// requirementError is one of Kafka's KafkaConfig.validateValues
// requirements that the configuration fails, in Kafka's words.
type requirementError struct{ msg string }

func (e *requirementError) Error() string { return e.msg }

func requirement(msg string) error { return &requirementError{msg} }
