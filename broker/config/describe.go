package config

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Source is where a described value comes from (DescribeConfigs'
// ConfigSource).
type Source int8

// Config sources.
const (
	SourceTopic          Source = 1 // DYNAMIC_TOPIC_CONFIG
	SourceDynamicBroker  Source = 2 // DYNAMIC_BROKER_CONFIG
	SourceDynamicDefault Source = 3 // DYNAMIC_DEFAULT_BROKER_CONFIG
	SourceStatic         Source = 4 // STATIC_BROKER_CONFIG
	SourceDefault        Source = 5 // DEFAULT_CONFIG
	SourceBrokerLogger   Source = 6 // DYNAMIC_BROKER_LOGGER_CONFIG
	SourceGroup          Source = 8 // GROUP_CONFIG
)

// Synonym is one place a described config's value can come from.
type Synonym struct {
	Name   string
	Value  *string // nil when sensitive
	Source Source
}

// Entry is one config as DescribeConfigs and CreateTopics report it.
type Entry struct {
	Name      string
	Value     *string // nil: no value (no default), or sensitive
	Source    Source
	ReadOnly  bool
	Sensitive bool
	Type      Type
	Doc       string
	Synonyms  []Synonym // most precedent first
}

// BrokerEntries lists the broker configs as Kafka's ConfigHelper does:
// every one for this broker (perBroker), or, for the cluster-wide default
// (the empty resource name), those set there. A config's synonyms are
// every layer (dynamic per broker, dynamic default, static, default) of
// every key setting it, layer by layer, from the first that is the key
// itself on; its source and value are the first synonym's.
func (c *Config) BrokerEntries(perBroker bool) []Entry {
	out := make([]Entry, 0, len(keys.brokers))
	for _, k := range keys.brokers {
		if _, set := c.Dynamic.Defaults[k.Name]; !perBroker && !set {
			continue
		}
		e := Entry{Name: k.Name, Source: SourceDefault, ReadOnly: k.Scope == ReadOnly, Sensitive: k.Sensitive(), Type: k.Type, Doc: k.Doc}
		for _, s := range c.synonyms(k) {
			if perBroker || s.Source == SourceDynamicDefault {
				e.Synonyms = append(e.Synonyms, s)
			}
		}
		switch {
		case len(e.Synonyms) > 0:
			e.Value, e.Source = e.Synonyms[0].Value, e.Synonyms[0].Source
		case !k.NoDefault && !e.Sensitive:
			e.Value = ptr(k.Default)
		}
		if (k.Name == "broker.id" || k.Name == "node.id") && e.Source == SourceDefault && c.BrokerID >= 0 {
			// Unset, the id is the one the broker took (0 alone, else
			// from meta.properties or ZooKeeper), as Kafka's
			// populateSynonyms makes node.id and broker.id one.
			e.Value = ptr(strconv.Itoa(int(c.BrokerID)))
		}
		out = append(out, e)
	}
	out = append(out, c.extraEntries(perBroker)...)
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// TopicEntries lists every topic config of a topic with overrides, in name
// order, as Kafka's ConfigHelper does: the value is the effective one; the
// synonyms are the topic's override, then those of the broker key that is
// its default (log.retention.ms, .minutes, .hours for retention.ms) from
// that key itself on; the source is the first synonym's, DEFAULT_CONFIG
// without any. So a broker that sets only log.retention.hours reports
// retention.ms with its effective value, source DEFAULT_CONFIG and no
// synonyms, as Kafka does.
func (c *Config) TopicEntries(overrides map[string]string) []Entry {
	t := c.ResolveTopic(overrides)
	tmp := Config{TopicDefaults: t}
	out := make([]Entry, 0, len(keys.topics))
	for _, k := range keys.topics {
		if _, set := overrides[k.Topic]; k.Internal && !set {
			continue
		}
		v := format(k.Field(&tmp), k)
		e := Entry{Name: k.Topic, Value: &v, Source: SourceDefault, Type: k.Type, Doc: k.Doc}
		if _, ok := overrides[k.Topic]; ok {
			e.Synonyms = append(e.Synonyms, Synonym{Name: k.Topic, Value: &v, Source: SourceTopic})
		}
		if k.Name != "" {
			e.Synonyms = append(e.Synonyms, c.synonyms(k)...)
		}
		if len(e.Synonyms) > 0 {
			e.Source = e.Synonyms[0].Source
		}
		out = append(out, e)
	}
	return out
}

// configLayer is one place a broker config's value can be set.
type configLayer struct {
	src    Source
	values map[string]string
}

// brokerLayers are the places a broker config can be set, in precedence
// order: the dynamic per-broker configs, the dynamic cluster-wide
// defaults, then server.properties.
func (c *Config) brokerLayers() []configLayer {
	return []configLayer{
		{SourceDynamicBroker, c.Dynamic.PerBroker},
		{SourceDynamicDefault, c.Dynamic.Defaults},
		{SourceStatic, c.Values},
	}
}

// synonyms lists where broker key k's value can come from (Kafka's
// ConfigHelper.configSynonyms).
func (c *Config) synonyms(k *Key) []Synonym {
	layers := append(c.brokerLayers(), configLayer{SourceDefault, keys.defaults})
	var out []Synonym
	for _, l := range layers {
		for _, n := range keys.synonyms(k.Name) {
			if v, ok := l.values[n]; ok {
				s := Synonym{Name: n, Source: l.src}
				if !k.Sensitive() {
					s.Value = ptr(v)
				}
				out = append(out, s)
			}
		}
	}
	for len(out) > 0 && out[0].Name != k.Name {
		out = out[1:]
	}
	return out
}

// Lookup returns a config key by its broker name or, if topic, by its
// topic name.
func Lookup(name string, topic bool) (*Key, bool) {
	k := keys.broker[name]
	if topic {
		k = keys.topic[name]
	}
	return k, k != nil
}

// Redacted returns broker configs fit for a log: sensitive values hidden.
func Redacted(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for name, v := range m {
		if sensitiveName(name) {
			v = Secret(v).String()
		}
		out[name] = v
	}
	return out
}

func ptr(s string) *string { return &s }

// GroupEntries describes every group config of a group with overrides
// over, as Kafka's ConfigHelper.createGroupConfigEntry does since
// KAFKA-20289: the value is the override, else the broker key that is the
// config's default (group. and its name), else the fixed default; the
// synonyms are the override, then every layer of that broker key (as
// synonyms gives them), or the fixed default; the source is the first
// synonym's.
func (c *Config) GroupEntries(over map[string]string) []Entry {
	out := make([]Entry, 0, len(GroupKeys))
	for _, g := range GroupKeys {
		e := Entry{Name: g.Name, Source: SourceDefault, Type: groupType(g.Name, g.Broker), Doc: g.Doc}
		if v, ok := over[g.Name]; ok {
			e.Synonyms = append(e.Synonyms, Synonym{Name: g.Name, Value: ptr(v), Source: SourceGroup})
		}
		v := g.Default
		if k := keys.broker[g.Broker]; k != nil {
			v = format(k.Field(c), k)
			e.Synonyms = append(e.Synonyms, c.synonyms(k)...)
		} else {
			e.Synonyms = append(e.Synonyms, Synonym{Name: g.Name, Value: ptr(g.Default), Source: SourceDefault})
		}
		if ov, ok := over[g.Name]; ok {
			v = ov
		}
		e.Value = &v
		if len(e.Synonyms) > 0 {
			e.Source = e.Synonyms[0].Source
		}
		out = append(out, e)
	}
	return out
}

// groupType is a group config's type in Kafka's GroupConfig.
func groupType(name, broker string) Type {
	switch {
	case broker != "":
		return Int
	case name == GroupShareRenewAck:
		return Boolean
	}
	return String
}

// CreatedTopicEntries lists a new topic's configs as Kafka 4's controller
// answers CreateTopics (KafkaConfigSchema.resolveEffectiveTopicConfig),
// which differs from DescribeConfigs: a config the request sets is
// DYNAMIC_TOPIC_CONFIG with the value as given; else the first of the
// broker key and its synonyms (log.retention.ms, .minutes, .hours) set in
// this broker's dynamic configs, then in the cluster's, then in the static
// ones, its value converted to the topic key's unit; else the topic's
// default, DEFAULT_CONFIG. Without synonyms.
func (c *Config) CreatedTopicEntries(overrides map[string]string) []Entry {
	defaults := Config{TopicDefaults: defaultTopic}
	out := make([]Entry, 0, len(keys.topics))
	for _, k := range keys.topics {
		v, ok := overrides[k.Topic]
		if k.Internal && !ok {
			continue
		}
		e := Entry{Name: k.Topic, Source: SourceDefault, Type: k.Type, Sensitive: k.Sensitive()}
		if ok {
			e.Source = SourceTopic
		} else if v, e.Source, ok = c.brokerSynonymValue(k); !ok {
			v, e.Source = format(k.Field(&defaults), k), SourceDefault
		}
		if !e.Sensitive {
			e.Value = ptr(v)
		}
		out = append(out, e)
	}
	return out
}

// defaultTopic is the topic configuration of a broker configured with
// nothing: each topic key's default.
var defaultTopic = Defaults().TopicDefaults

// brokerSynonymValue is the value of the first of topic key k's broker key
// and its synonyms set in a layer, the dynamic per-broker configs first,
// in k's unit.
func (c *Config) brokerSynonymValue(k *Key) (string, Source, bool) {
	if k.Name == "" {
		return "", 0, false
	}
	layers := c.brokerLayers()
	for _, l := range layers {
		for _, n := range keys.synonyms(k.Name) {
			if v, ok := l.values[n]; ok {
				return convertUnit(v, keys.broker[n].Unit, k.Unit), l.src, true
			}
		}
	}
	return "", 0, false
}

// convertUnit converts a value in hours or minutes to milliseconds, as
// Kafka's ConfigSynonym converters do; other values are kept as given.
func convertUnit(v string, from, to Unit) string {
	if from == to || !from.time() || to != Millis {
		return v
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return v
	}
	return strconv.FormatInt(n*int64(unitDurations[from]/time.Millisecond), 10)
}
