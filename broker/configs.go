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
// and where it comes from, in name order.
func (b *Broker) topicConfigEntries(overrides map[string]string) []configEntry {
	out := make([]configEntry, 0, len(config.TopicKeys))
	for i := range config.TopicKeys {
		k := &config.TopicKeys[i]
		e := configEntry{Name: k.Name, Type: k.Type}
		if v, ok := overrides[k.Name]; ok {
			e.Synonyms = append(e.Synonyms, configSynonym{k.Name, v, sourceTopic})
		}
		if v, ok := b.cfg.Values[k.Broker]; ok && k.Broker != "" {
			e.Synonyms = append(e.Synonyms, configSynonym{k.Broker, v, sourceStaticBroker})
		}
		def := k.Default(b.cfg)
		e.Synonyms = append(e.Synonyms, configSynonym{k.Broker, def, sourceDefault})
		if _, ok := b.cfg.Values[k.Broker]; ok {
			// The static value is already the effective default.
			e.Synonyms = e.Synonyms[:len(e.Synonyms)-1]
		}
		e.Value, e.Source = e.Synonyms[0].Value, e.Synonyms[0].Source
		if k.Broker == "" {
			e.Synonyms = e.Synonyms[:1]
		}
		out = append(out, e)
	}
	return out
}
