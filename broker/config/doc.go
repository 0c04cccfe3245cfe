// Package config is the broker's configuration: one schema of Kafka's
// keys, modelled on Kafka's ConfigDef, and everything derived from it.
//
// # The schema
//
// Every key is one row of the table in keys.go (a Key):
//
//   - Name: the broker key, as in server.properties (empty for a topic key
//     with no broker default, such as remote.storage.enable).
//   - Type: Kafka's ConfigDef type (BOOLEAN, STRING, INT, SHORT, LONG,
//     DOUBLE, LIST, CLASS, PASSWORD), which DescribeConfigs reports.
//   - Unit: makes an INT or LONG a duration (ms, s, min, h), held as
//     time.Duration, or a byte size, held as ByteSize.
//   - Default, or NoDefault for Kafka's null.
//   - Synonyms: the keys setting the same value with lower precedence, in
//     Kafka's order: log.retention.ms > log.retention.minutes >
//     log.retention.hours; log.roll.ms > log.roll.hours; log.roll.jitter.ms
//     > log.roll.jitter.hours; log.flush.interval.ms >
//     log.flush.scheduler.interval.ms. Each synonym has a row of its own
//     (type, unit, default, validator) but no field.
//   - Scope: ReadOnly, PerBroker or ClusterWide, as Kafka's
//     DynamicBrokerConfig lets AlterConfigs change it.
//   - Topic: the topic key the broker key is the default of
//     (log.retention.ms for retention.ms, log.segment.bytes for
//     segment.bytes, message.max.bytes for max.message.bytes, ...).
//   - Doc, reported by DescribeConfigs v3+.
//   - Valid: Kafka's validator (atLeast, between, oneOf) or a custom one.
//     Stored, where set, is the looser validator a topic's stored
//     overrides are held to (segment.bytes: values written before Kafka
//     4.1's floor stay in force).
//   - Field: where the resolved value is held, in Config or, for topic
//     keys, in Config.TopicDefaults (a Topic).
//   - Internal: a key of Kafka's defineInternal (internal.segment.bytes),
//     described only where it is set.
//
// The keys Kafka 4.0 removed (removed.go) have no row: they are unknown
// keys, as in Kafka 4.0, and the broker names what replaces each when it
// logs one. A topic's stored overrides that are not topic keys are
// ignored, and an alteration of the topic drops them (KAFKA-19851).
//
// A row is sensitive when its type is PASSWORD: DescribeConfigs reports
// its value and its synonyms' values as null, as Kafka does.
//
// # What derives from it
//
//   - Loading (Load, LoadFile, Validate): server.properties values with --set
//     overrides on top. Every key given is parsed by its type and checked
//     by its validator, shadowed synonyms included; each field takes the
//     first of its key's synonyms that is set, else the first default
//     among them; then the cross-key rules (listeners, log.dir). Every bad
//     key is reported at once, as "Invalid value V for configuration K:
//     why" (Kafka's ConfigException). Unknown keys are listed in
//     Config.Unknown (the caller logs them once) and otherwise ignored.
//   - Dynamic broker configs (WithDynamic, CheckDynamic): the configuration
//     in force is the static values, then the cluster-wide defaults, then
//     this broker's own, each layer removing the synonyms of the keys it
//     sets below it (Kafka's overrideProps). CheckDynamic refuses unknown
//     keys, ReadOnly keys ("Cannot update these configs dynamically"),
//     PerBroker keys at the cluster level, bad values, and a result that
//     does not load; the broker answers INVALID_CONFIG.
//   - Topic configuration (ResolveTopic, ValidateTopicConfigs,
//     CheckTopicConfigs, which reports the one problem Kafka's
//     LogConfig.validate would): a topic's
//     Topic is the configuration in force's TopicDefaults with the topic's
//     overrides set through the same rows; so a value comes from the topic
//     override, else the dynamic broker config (per broker, then cluster
//     default), else the static broker config, else the default.
//   - DescribeConfigs (BrokerEntries, TopicEntries), as Kafka's
//     ConfigHelper: synonyms layer by layer (DYNAMIC_BROKER_CONFIG,
//     DYNAMIC_DEFAULT_BROKER_CONFIG, STATIC_BROKER_CONFIG, DEFAULT_CONFIG,
//     after DYNAMIC_TOPIC_CONFIG for a topic) from the key itself on; the
//     source is the first synonym's. A topic config's value is its
//     effective value in its own unit, so with only log.retention.hours=1
//     set, retention.ms is 3600000 from DEFAULT_CONFIG with no synonyms.
//   - IncrementalAlterConfigs' APPEND and SUBTRACT: LIST keys only,
//     starting from the key's default.
//
// # Adding a key
//
// Add one row to the table, and a field to Config or Topic if Gregor uses
// the value. Everything above then knows the key. A limit of Gregor's own
// that is stricter than Kafka's goes in the hard limits at the top of
// keys.go, with its reason.
//
// # Limits
//
// Durations are time.Duration: one longer than about 292 years
// (Long.MAX_VALUE ms among them) is held as Forever and reported as
// Long.MAX_VALUE. A negative log.retention.minutes or .hours means no
// limit and is held as -1 ms, as in Kafka.
package config
