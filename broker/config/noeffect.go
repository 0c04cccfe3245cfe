package config

import (
	"slices"
	"strings"
)

// Inert is a key set without effect in Gregor, and why.
type Inert struct {
	Key, Why string
}

// NoEffectKeys lists the keys of values that Gregor stores without acting
// on, by name, with why (from the schema's NoEffect): for static values
// (server.properties, --set), keys whose row (or, listener-prefixed, the
// row of the key they override) has no effect; for dynamic ones
// (AlterConfigs) also the keys Gregor applies only at start-up,
// listener-prefixed keys and custom keys. Unknown static keys are not
// listed: the caller logs those as unknown.
func NoEffectKeys(values map[string]string, dynamic bool) []Inert {
	var out []Inert
	for _, name := range sortedKeys(values) {
		if why := noEffect(name, dynamic); why != "" {
			out = append(out, Inert{Key: name, Why: why})
		}
	}
	return out
}

// TopicNoEffectKeys lists the topic configs of overrides Gregor accepts
// without acting on (message.format.version, tiered storage's), with why.
func TopicNoEffectKeys(overrides map[string]string) []Inert {
	var out []Inert
	for _, name := range sortedKeys(overrides) {
		if k := keys.topic[name]; k != nil && k.NoEffect != "" {
			out = append(out, Inert{Key: name, Why: k.NoEffect})
		}
	}
	return out
}

func noEffect(name string, dynamic bool) string {
	if _, rest, ok := splitListenerKey(name); ok {
		row := listenerKeyRow(rest)
		switch {
		case row != nil && row.NoEffect != "":
			return row.NoEffect
		case dynamic && !appliedAtRunTime(name):
			return inertAtRunTime
		}
		return ""
	}
	k := keys.broker[name]
	switch {
	case k == nil && dynamic:
		return inertUnknown
	case k == nil:
		return ""
	case k.NoEffect != "":
		return k.NoEffect
	case dynamic && k.StartupOnly:
		return inertAtRunTime
	}
	return ""
}

// sensitiveName reports whether a broker config's value is a secret: a
// PASSWORD key, or one overriding or ending with one (Kafka's
// DynamicBrokerConfig.isPasswordConfig: listener.name.l.ssl.key.password,
// listener.name.l.plain.sasl.jaas.config).
func sensitiveName(name string) bool {
	if k := keys.broker[name]; k != nil {
		return k.Sensitive()
	}
	if _, rest, ok := splitListenerKey(name); ok {
		if row := listenerKeyRow(rest); row != nil && row.Sensitive() {
			return true
		}
	}
	for _, k := range keys.brokers {
		if k.Sensitive() && strings.HasSuffix(name, "."+k.Name) {
			return true
		}
	}
	return false
}

// extraEntries describes the broker configs set that are not rows of the
// schema (listener-prefixed and custom keys), as Kafka's DescribeConfigs
// lists every original (ConfigHelper.createBrokerConfigEntry): layer by
// layer as BrokerEntries, typed as the key they override; a custom key has
// no type, so its value may be a secret and is not shown (maybeSensitive);
// and none is among the dynamic configs by its own name: read-only.
func (c *Config) extraEntries(perBroker bool) []Entry {
	layers := c.brokerLayers()
	if !perBroker {
		layers = layers[1:2]
	}
	seen := map[string]bool{}
	var out []Entry
	for _, l := range layers {
		for name := range l.values {
			if keys.broker[name] != nil || seen[name] {
				continue
			}
			seen[name] = true
			e := Entry{Name: name, Sensitive: true, ReadOnly: true}
			// A listener override's synonyms are its own layers and those
			// of the key it overrides, layer by layer (Kafka's
			// brokerConfigSynonyms with matchListenerOverride).
			names := []string{name}
			if _, rest, ok := splitListenerKey(name); ok {
				if row := listenerKeyRow(rest); row != nil {
					// Its type is the key's, its documentation
					// none: Kafka's documentationOf looks up the
					// exact name.
					e.Type, e.Sensitive = row.Type, row.Sensitive()
					names = append(names, row.Name)
				}
			}
			all := append(layers[:len(layers):len(layers)], struct {
				src    Source
				values map[string]string
			}{SourceDefault, keys.defaults})
			if !perBroker {
				all = layers
			}
			for _, l2 := range all {
				for _, n := range names {
					if v, ok := l2.values[n]; ok {
						s := Synonym{Name: n, Source: l2.src}
						if !e.Sensitive {
							s.Value = ptr(v)
						}
						e.Synonyms = append(e.Synonyms, s)
					}
				}
			}
			for len(e.Synonyms) > 0 && e.Synonyms[0].Name != name {
				e.Synonyms = e.Synonyms[1:]
			}
			e.Value, e.Source = e.Synonyms[0].Value, e.Synonyms[0].Source
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}
