package broker

import (
	"gregor/broker/config"
)

// Config sources as DescribeConfigs reports them.
const (
	sourceTopic         int8 = 1 // DYNAMIC_TOPIC_CONFIG
	sourceDynamicBroker int8 = 2 // DYNAMIC_BROKER_CONFIG
	sourceStaticBroker  int8 = 4 // STATIC_BROKER_CONFIG
	sourceDefault       int8 = 5 // DEFAULT_CONFIG
)

// configSynonym is one place a config's value can come from.
type configSynonym struct {
	Name   string
	Value  string
	Source int8
}

// configEntry is one config as DescribeConfigs and CreateTopics report it.
type configEntry struct {
	Name      string
	Value     string
	Source    int8
	ReadOnly  bool
	Sensitive bool
	Type      int8
	Synonyms  []configSynonym // most specific first
}

// topicConfigEntries lists every topic config with its effective value
// and where it comes from, in name order, as Kafka's ConfigHelper
// (createTopicConfigEntry) does: the synonyms are the topic override, then
// the broker synonyms of the topic key's broker key (log.retention.ms,
// log.retention.minutes, log.retention.hours for retention.ms) layer by
// layer (dynamic per broker, dynamic default, static, default), dropping
// those before the broker key itself; the source is the first synonym's,
// DEFAULT_CONFIG if there is none. So a broker that sets only
// log.retention.hours reports retention.ms with its effective value, source
// DEFAULT_CONFIG and no synonyms, exactly as Kafka does; a broker that sets
// log.retention.ms reports it (and the other units set) as
// STATIC_BROKER_CONFIG.
func (b *Broker) topicConfigEntries(overrides map[string]string) []configEntry {
	dynBroker, dynDefault := b.dynamic().snapshot()
	out := make([]configEntry, 0, len(config.TopicKeys))
	for i := range config.TopicKeys {
		k := &config.TopicKeys[i]
		e := configEntry{Name: k.Name, Type: k.Type, Source: sourceDefault}
		if v, ok := overrides[k.Name]; ok {
			e.Synonyms = append(e.Synonyms, configSynonym{k.Name, v, sourceTopic})
		}
		if k.Broker != "" {
			e.Synonyms = append(e.Synonyms, b.brokerSynonymsOf(k, dynBroker, dynDefault)...)
		}
		if len(e.Synonyms) > 0 {
			// The first is the override or the broker key itself, both in
			// the topic key's units.
			e.Value, e.Source = e.Synonyms[0].Value, e.Synonyms[0].Source
		} else {
			e.Value = k.Default(b.cfg)
		}
		out = append(out, e)
	}
	return out
}

// brokerSynonymsOf lists where topic key k's broker default comes from:
// every key that sets k.Broker, layer by layer, from the first that is
// k.Broker itself (Kafka's ConfigHelper.configSynonyms).
func (b *Broker) brokerSynonymsOf(k *config.TopicKey, dynBroker, dynDefault map[string]string) []configSynonym {
	names := []string{k.Broker}
	bk, known := lookupBrokerKey(k.Broker)
	if known && bk.synonyms != nil {
		names = bk.synonyms
	}
	layers := []struct {
		src int8
		get func(string) (string, bool)
	}{
		{sourceDynamicBroker, func(n string) (string, bool) { v, ok := dynBroker[n]; return v, ok }},
		{sourceDynamicDefaultBroker, func(n string) (string, bool) { v, ok := dynDefault[n]; return v, ok }},
		{sourceStaticBroker, func(n string) (string, bool) { v, ok := b.cfg.Values[n]; return v, ok }},
		{sourceDefault, func(n string) (string, bool) {
			dk, ok := lookupBrokerKey(n)
			if !ok {
				if n == k.Broker {
					// A broker key Gregor does not list: its default is
					// the topic key's.
					return k.Default(b.cfg), true
				}
				return "", false
			}
			if dk.null {
				return "", false
			}
			return dk.def, true
		}},
	}
	var syns []configSynonym
	for _, l := range layers {
		for _, n := range names {
			if v, ok := l.get(n); ok {
				syns = append(syns, configSynonym{n, v, l.src})
			}
		}
	}
	for len(syns) > 0 && syns[0].Name != k.Broker {
		syns = syns[1:]
	}
	return syns
}
