package broker

// DescribeConfigs (key 32), versions 0-4.
//
// TOPIC resources list every topic config with its effective value and
// source (DYNAMIC_TOPIC_CONFIG, STATIC_BROKER_CONFIG, DEFAULT_CONFIG);
// BROKER resources named by this broker's id list every broker config,
// and the empty name (the cluster-wide default) lists only the dynamic
// cluster defaults, as Kafka does. BROKER_LOGGER lists the root logger.
// Synonyms (v1+) when asked for, most specific first; v0 answers with
// IsDefault instead of a source; v3+ carries the config type and, when
// asked, its documentation. Topic configs are never read-only; broker
// configs are unless they can be altered dynamically. A null or empty list
// of names asks for every config; a name that is not a config is left out,
// as Kafka does.

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/protocol"
)

// Config sources beyond those in configs.go.
const (
	sourceDynamicDefaultBroker int8 = 3 // DYNAMIC_DEFAULT_BROKER_CONFIG
	sourceBrokerLogger         int8 = 6 // DYNAMIC_BROKER_LOGGER_CONFIG
)

func (b *Broker) handleDescribeConfigs(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeConfigsRequest)
	resp := req.Response().(*kmsg.DescribeConfigsResponse)
	resp.Resources = make([]kmsg.DescribeConfigsResponseResource, 0, len(r.Resources))
	for _, rr := range r.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		entries, err := b.describeResource(int8(rr.ResourceType), rr.ResourceName)
		sr.Configs = []kmsg.DescribeConfigsResponseResourceConfig{}
		if err != nil {
			sr.ErrorCode, sr.ErrorMessage = ErrorCode(b.log, err), errMessage(err)
			if sr.ErrorCode == kerr.UnknownTopicOrPartition.Code {
				sr.ErrorMessage = nil
			}
		}
		for _, e := range entries {
			if len(rr.ConfigNames) > 0 && !slices.Contains(rr.ConfigNames, e.Name) {
				continue
			}
			sr.Configs = append(sr.Configs, describedConfig(e, r.IncludeSynonyms && req.Version >= 1, r.IncludeDocumentation && req.Version >= 3))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// describedEntry is a config entry whose value may be null (a broker
// config without a default).
type describedEntry struct {
	configEntry
	Null bool
}

func wrapEntries(es []configEntry) []describedEntry {
	out := make([]describedEntry, len(es))
	for i, e := range es {
		out[i] = describedEntry{configEntry: e}
	}
	return out
}

// describeResource lists the config entries of one resource.
func (b *Broker) describeResource(typ int8, name string) ([]describedEntry, error) {
	switch typ {
	case resourceTopic:
		if err := metadata.ValidateTopicName(name); err != nil {
			return nil, errorf(kerr.InvalidTopicException, "%v", err)
		}
		t := b.Topic(name)
		if t == nil {
			return nil, kerr.UnknownTopicOrPartition
		}
		return wrapEntries(b.topicConfigEntries(t.Overrides())), nil
	case resourceBroker:
		perBroker, err := b.brokerResource(name)
		if err != nil {
			return nil, err
		}
		return b.brokerConfigEntries(perBroker), nil
	case resourceBrokerLogger:
		if name == "" {
			return nil, errorf(kerr.InvalidRequest, "Broker id must not be empty")
		}
		if perBroker, err := b.brokerResource(name); err != nil || !perBroker {
			return nil, err
		}
		level := strings.ToUpper(b.cfg.LogLevel)
		return wrapEntries([]configEntry{{Name: "root", Value: level, Source: sourceBrokerLogger, Type: config.TypeString}}), nil
	}
	return nil, errorf(kerr.InvalidRequest, "Unsupported resource type: %d", typ)
}

// describedConfig turns an entry into its wire form.
func describedConfig(e describedEntry, synonyms, docs bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.Source, c.ReadOnly, c.IsSensitive = e.Name, kmsg.ConfigSource(e.Source), e.ReadOnly, e.Sensitive
	c.IsDefault = e.Source == sourceDefault
	if !e.Sensitive && !e.Null {
		v := e.Value
		c.Value = &v
	}
	c.ConfigType = kmsg.ConfigType(e.Type)
	c.ConfigSynonyms = []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{}
	if synonyms {
		for _, s := range e.Synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name, cs.Source = s.Name, kmsg.ConfigSource(s.Source)
			if !e.Sensitive {
				v := s.Value
				cs.Value = &v
			}
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	if docs {
		d := configDocs[e.Name]
		c.Documentation = &d
	}
	return c
}

// brokerKey is one broker config as DescribeConfigs reports it.
type brokerKey struct {
	name string
	typ  int8
	def  string
	// null: Kafka has no default (the value is reported as null).
	null bool
	// dynamic: AlterConfigs may set it (Kafka's dynamic broker configs).
	dynamic bool
	// synonyms are the keys that set the same thing, most specific first
	// (log.retention.ms, .minutes, .hours); nil is the key alone.
	synonyms []string
}

var (
	retentionSynonyms = []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}
	rollSynonyms      = []string{"log.roll.ms", "log.roll.hours"}
	jitterSynonyms    = []string{"log.roll.jitter.ms", "log.roll.jitter.hours"}
)

// brokerKeys are the broker configs Gregor knows, in name order once
// sorted; defaults are Gregor's (which are Kafka's unless SPEC says not).
var brokerKeys = func() []brokerKey {
	i, l, s, bo, d, li, sh := config.TypeInt, config.TypeLong, config.TypeString, config.TypeBoolean, config.TypeDouble, config.TypeList, config.TypeShort
	const maxLong = "9223372036854775807"
	ks := []brokerKey{
		{name: "advertised.listeners", typ: s, null: true},
		{name: "auto.create.topics.enable", typ: bo, def: "true"},
		{name: "broker.id", typ: i, def: "-1"},
		{name: "broker.rack", typ: s, null: true},
		{name: "compression.gzip.level", typ: i, def: "-1", dynamic: true},
		{name: "compression.lz4.level", typ: i, def: "9", dynamic: true},
		{name: "compression.type", typ: s, def: "producer", dynamic: true},
		{name: "compression.zstd.level", typ: i, def: "3", dynamic: true},
		{name: "controlled.shutdown.enable", typ: bo, def: "true"},
		{name: "default.replication.factor", typ: i, def: "1"},
		{name: "delete.topic.enable", typ: bo, def: "true"},
		{name: "gregor.log.level", typ: s, def: "info"},
		{name: "gregor.metrics.listener", typ: s, def: "127.0.0.1:9404"},
		{name: "group.initial.rebalance.delay.ms", typ: i, def: "3000"},
		{name: "group.max.session.timeout.ms", typ: i, def: "1800000"},
		{name: "group.max.size", typ: i, def: "2147483647"},
		{name: "group.min.session.timeout.ms", typ: i, def: "6000"},
		{name: "listeners", typ: s, def: "PLAINTEXT://127.0.0.1:9092"},
		{name: "log.cleaner.backoff.ms", typ: l, def: "15000", dynamic: true},
		{name: "log.cleaner.delete.retention.ms", typ: l, def: "86400000", dynamic: true},
		{name: "log.cleaner.enable", typ: bo, def: "true"},
		{name: "log.cleaner.max.compaction.lag.ms", typ: l, def: maxLong, dynamic: true},
		{name: "log.cleaner.min.cleanable.ratio", typ: d, def: "0.5", dynamic: true},
		{name: "log.cleaner.min.compaction.lag.ms", typ: l, def: "0", dynamic: true},
		{name: "log.cleanup.policy", typ: li, def: "delete", dynamic: true},
		{name: "log.dir", typ: s, def: "/tmp/kafka-logs"},
		{name: "log.dirs", typ: s, null: true},
		{name: "log.flush.interval.messages", typ: l, def: maxLong, dynamic: true},
		{name: "log.flush.interval.ms", typ: l, null: true, dynamic: true},
		{name: "log.index.interval.bytes", typ: i, def: "4096", dynamic: true},
		{name: "log.index.size.max.bytes", typ: i, def: "10485760", dynamic: true},
		{name: "log.local.retention.bytes", typ: l, def: "-2", dynamic: true},
		{name: "log.local.retention.ms", typ: l, def: "-2", dynamic: true},
		{name: "log.message.timestamp.after.max.ms", typ: l, def: maxLong, dynamic: true},
		{name: "log.message.timestamp.before.max.ms", typ: l, def: maxLong, dynamic: true},
		{name: "log.message.timestamp.type", typ: s, def: "CreateTime", dynamic: true},
		{name: "log.preallocate", typ: bo, def: "false", dynamic: true},
		{name: "log.retention.bytes", typ: l, def: "-1", dynamic: true},
		{name: "log.retention.check.interval.ms", typ: l, def: "300000"},
		{name: "log.retention.hours", typ: i, def: "168", synonyms: retentionSynonyms},
		{name: "log.retention.minutes", typ: i, null: true, synonyms: retentionSynonyms},
		{name: "log.retention.ms", typ: l, null: true, dynamic: true, synonyms: retentionSynonyms},
		{name: "log.roll.hours", typ: i, def: "168", synonyms: rollSynonyms},
		{name: "log.roll.jitter.hours", typ: i, def: "0", synonyms: jitterSynonyms},
		{name: "log.roll.jitter.ms", typ: l, null: true, dynamic: true, synonyms: jitterSynonyms},
		{name: "log.roll.ms", typ: l, null: true, dynamic: true, synonyms: rollSynonyms},
		{name: "log.segment.bytes", typ: i, def: "1073741824", dynamic: true},
		{name: "log.segment.delete.delay.ms", typ: l, def: "60000", dynamic: true},
		{name: "message.max.bytes", typ: i, def: "1048588", dynamic: true},
		{name: "min.insync.replicas", typ: i, def: "1", dynamic: true},
		{name: "num.partitions", typ: i, def: "1"},
		{name: "num.replica.fetchers", typ: i, def: "1", dynamic: true},
		{name: "offsets.retention.check.interval.ms", typ: l, def: "600000"},
		{name: "offsets.retention.minutes", typ: i, def: "10080"},
		{name: "offsets.topic.num.partitions", typ: i, def: "50"},
		{name: "offsets.topic.replication.factor", typ: sh, def: "3"},
		{name: "offsets.topic.segment.bytes", typ: i, def: "104857600"},
		{name: "producer.id.expiration.ms", typ: i, def: "86400000"},
		{name: "replica.fetch.max.bytes", typ: i, def: "1048576"},
		{name: "replica.fetch.wait.max.ms", typ: i, def: "500"},
		{name: "replica.lag.time.max.ms", typ: l, def: "10000"},
		{name: "socket.request.max.bytes", typ: i, def: "104857600"},
		{name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", typ: i, def: "10000"},
		{name: "transaction.max.timeout.ms", typ: i, def: "900000"},
		{name: "transaction.state.log.min.isr", typ: i, def: "2"},
		{name: "transaction.state.log.num.partitions", typ: i, def: "50"},
		{name: "transaction.state.log.replication.factor", typ: sh, def: "3"},
		{name: "transactional.id.expiration.ms", typ: i, def: "604800000"},
		{name: "unclean.leader.election.enable", typ: bo, def: "false", dynamic: true},
		{name: "zookeeper.connect", typ: s, null: true},
		{name: "zookeeper.session.timeout.ms", typ: i, def: "18000"},
	}
	slices.SortFunc(ks, func(a, b brokerKey) int { return strings.Compare(a.name, b.name) })
	return ks
}()

func lookupBrokerKey(name string) (*brokerKey, bool) {
	i, ok := slices.BinarySearchFunc(brokerKeys, name, func(k brokerKey, n string) int { return strings.Compare(k.name, n) })
	if !ok {
		return nil, false
	}
	return &brokerKeys[i], true
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// brokerConfigEntries lists the broker configs: every one for this broker
// (perBroker), or the dynamic cluster defaults only.
func (b *Broker) brokerConfigEntries(perBroker bool) []describedEntry {
	dynBroker, dynDefault := b.dynamic().snapshot()
	out := make([]describedEntry, 0, len(brokerKeys))
	for i := range brokerKeys {
		k := &brokerKeys[i]
		if !perBroker {
			if _, ok := dynDefault[k.name]; !ok {
				continue
			}
		}
		out = append(out, b.brokerEntry(k, perBroker, dynBroker, dynDefault))
	}
	return out
}

// brokerEntry builds one broker config entry as Kafka does: its synonyms
// are every layer (dynamic per broker, dynamic default, static, default)
// of every key that sets it, layer by layer, dropping those that precede
// the key itself; the value and source come from the first.
func (b *Broker) brokerEntry(k *brokerKey, perBroker bool, dynBroker, dynDefault map[string]string) describedEntry {
	names := k.synonyms
	if names == nil {
		names = []string{k.name}
	}
	var syns []configSynonym
	layers := []struct {
		src int8
		get func(string) (string, bool)
	}{
		{sourceDynamicBroker, func(n string) (string, bool) { v, ok := dynBroker[n]; return v, ok }},
		{sourceDynamicDefaultBroker, func(n string) (string, bool) { v, ok := dynDefault[n]; return v, ok }},
		{sourceStaticBroker, func(n string) (string, bool) { v, ok := b.cfg.Values[n]; return v, ok }},
		{sourceDefault, func(n string) (string, bool) {
			dk, ok := lookupBrokerKey(n)
			if !ok || dk.null {
				return "", false
			}
			return dk.def, true
		}},
	}
	for _, l := range layers {
		if !perBroker && l.src != sourceDynamicDefaultBroker {
			continue
		}
		for _, n := range names {
			if v, ok := l.get(n); ok {
				syns = append(syns, configSynonym{n, v, l.src})
			}
		}
	}
	for len(syns) > 0 && syns[0].Name != k.name {
		syns = syns[1:]
	}
	e := describedEntry{configEntry: configEntry{Name: k.name, Type: k.typ, ReadOnly: !k.dynamic, Source: sourceDefault, Synonyms: syns}}
	switch {
	case len(syns) > 0:
		e.Value, e.Source = syns[0].Value, syns[0].Source
	case k.null:
		e.Null = true
	default:
		e.Value = k.def
	}
	return e
}

// configDocs document each config for DescribeConfigs v3+ when asked.
var configDocs = map[string]string{
	"cleanup.policy":                          "The retention policy of the log segments: delete (old segments are removed by time or size), compact (the latest record per key is kept), or both.",
	"compression.gzip.level":                  "The compression level for gzip when compression.type is gzip.",
	"compression.lz4.level":                   "The compression level for lz4 when compression.type is lz4.",
	"compression.type":                        "The compression of the stored batches: producer keeps what the producer sent; uncompressed, gzip, snappy, lz4 or zstd recompress.",
	"compression.zstd.level":                  "The compression level for zstd when compression.type is zstd.",
	"delete.retention.ms":                     "How long delete tombstones are kept in a compacted log.",
	"file.delete.delay.ms":                    "How long to wait before deleting a segment file from the filesystem.",
	"flush.messages":                          "The number of messages after which the log is forced to disk.",
	"flush.ms":                                "The time after which the log is forced to disk.",
	"follower.replication.throttled.replicas": "Replicas whose log replication is throttled on the follower side.",
	"index.interval.bytes":                    "How often an entry is added to the offset index, in bytes of log.",
	"leader.replication.throttled.replicas":   "Replicas whose log replication is throttled on the leader side.",
	"local.retention.bytes":                   "The bytes of local log kept before deletion when tiered storage is on (-2: retention.bytes).",
	"local.retention.ms":                      "The time local log segments are kept when tiered storage is on (-2: retention.ms).",
	"max.compaction.lag.ms":                   "The longest a record may stay ineligible for compaction.",
	"max.message.bytes":                       "The largest record batch size allowed.",
	"message.timestamp.after.max.ms":          "How far a record timestamp may be ahead of the broker time.",
	"message.timestamp.before.max.ms":         "How far a record timestamp may be behind the broker time.",
	"message.timestamp.type":                  "Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime).",
	"min.cleanable.dirty.ratio":               "The share of the log that must be uncompacted before the cleaner compacts it.",
	"min.compaction.lag.ms":                   "The least time a record stays uncompacted.",
	"min.insync.replicas":                     "With acks=all, the least number of in-sync replicas that must acknowledge a write.",
	"preallocate":                             "Whether segment files are preallocated.",
	"remote.storage.enable":                   "Whether tiered storage is on for the topic (not supported).",
	"retention.bytes":                         "The largest size a partition's log may grow to before old segments are deleted (-1: no limit).",
	"retention.ms":                            "How long a log segment is kept before it is deleted (-1: no limit).",
	"segment.bytes":                           "The size of a log segment file.",
	"segment.index.bytes":                     "The size of the offset index of a segment.",
	"segment.jitter.ms":                       "The largest random jitter subtracted from segment.ms.",
	"segment.ms":                              "The time after which a segment is rolled even if it is not full.",
	"unclean.leader.election.enable":          "Whether replicas outside the ISR may be elected leader, at the risk of losing data.",
}

func init() {
	// Broker configs document themselves through the topic config they
	// default, or with a line of their own.
	for i := range config.TopicKeys {
		k := &config.TopicKeys[i]
		if _, ok := configDocs[k.Broker]; !ok && k.Broker != "" {
			configDocs[k.Broker] = configDocs[k.Name]
		}
	}
	for _, k := range brokerKeys {
		if _, ok := configDocs[k.name]; !ok {
			configDocs[k.name] = "The broker setting " + k.name + "; see Apache Kafka's broker configuration reference."
		}
	}
}
