package config

// The checks Kafka's reconfigurable components make of a dynamic broker
// config change before it is accepted (DynamicBrokerConfig's
// processReconfiguration with validateOnly: DynamicThreadPool,
// DataPlaneAcceptor, LogCleaner and DynamicListenerConfig's
// validateReconfiguration). Kafka wraps any of their refusals in a
// ConfigException "Invalid dynamic configuration", which
// ConfigAdminManager answers INVALID_REQUEST with that message alone (the
// reason goes to the broker's log); ReconfigError does the same.

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// ReconfigError is a dynamic change a reconfigurable component refuses:
// its message is Kafka's, the reason is in Cause.
type ReconfigError struct{ Cause error }

func (e *ReconfigError) Error() string { return "Invalid dynamic configuration" }
func (e *ReconfigError) Unwrap() error { return e.Cause }

// threadPoolKeys are Kafka's DynamicThreadPool.ReconfigurableConfigs.
var threadPoolKeys = []string{"num.io.threads", "num.replica.fetchers", "num.recovery.threads.per.data.dir", "background.threads"}

// cleanerKeys are Kafka's LogCleaner.ReconfigurableConfigs: a change of
// any of them has the cleaner check its thread count.
var cleanerKeys = []string{"log.cleaner.threads", "log.cleaner.dedupe.buffer.size", "log.cleaner.io.buffer.load.factor",
	"log.cleaner.io.buffer.size", "message.max.bytes", "log.cleaner.io.max.bytes.per.second", "log.cleaner.backoff.ms"}

// listenerReconfigurable are the listener-prefixed keys that may change
// for a listener that exists (the keystore and truststore keys,
// connection bounds, network threads); any other key of an existing
// listener is fixed until a restart.
func listenerReconfigurable(rest string) bool {
	return listenerOnlyKeys[rest] || rest == "max.connections" || rest == "max.connection.creation.rate" || rest == "num.network.threads"
}

// layered is every layer's values over the static ones, keys without
// effect in Gregor included: what Kafka's KafkaConfig holds (synonyms set
// below a layer's key are dropped, as in overlay).
func layered(static map[string]string, d Dynamic) map[string]string {
	out := maps.Clone(static)
	if out == nil {
		out = map[string]string{}
	}
	for _, layer := range []map[string]string{d.Defaults, d.PerBroker} {
		for name, v := range layer {
			for _, syn := range keys.synonyms(name) {
				delete(out, syn)
			}
			out[name] = v
		}
	}
	return out
}

// checkReconfiguration runs Kafka's reconfiguration checks of the change
// from the configuration in force (cur) to the one with the new dynamic
// configs (next), as raw layered values. The listeners in force are the
// static ones (bound is what Gregor bound at start-up).
func checkReconfiguration(static, cur, next map[string]string) error {
	for _, name := range threadPoolKeys {
		if err := threadCount(name, intValue(cur, name), intValue(next, name)); err != nil {
			return err
		}
	}
	if keys.broker["log.cleaner.threads"] != nil && changed(cur, next, cleanerKeys) {
		old, n := intValue(cur, "log.cleaner.threads"), intValue(next, "log.cleaner.threads")
		switch {
		case n < 1:
			return fmt.Errorf("Log cleaner threads should be at least 1")
		case n < old/2:
			return fmt.Errorf("Log cleaner threads cannot be reduced to less than half the current value %d", old)
		case n > old*2:
			return fmt.Errorf("Log cleaner threads cannot be increased to more than double the current value %d", old)
		}
	}
	c, err := resolve(cur)
	if err != nil {
		return nil // the configuration in force is checked elsewhere
	}
	n, err := resolve(next)
	if err != nil {
		return err // CheckDynamic validated it
	}
	for _, l := range c.Listeners {
		if _, ok := n.Listener(l.Name); !ok {
			continue
		}
		prefix := listenerPrefix + strings.ToLower(l.Name) + "."
		if err := threadCount("num.network.threads", listenerInt(cur, prefix+"num.network.threads"), listenerInt(next, prefix+"num.network.threads")); err != nil {
			return err
		}
		if err := listenerConnectionQuota(cur, next, prefix); err != nil {
			return err
		}
	}
	if err := checkLocalRetention(cur, next, n); err != nil {
		return err
	}
	bound, err := resolve(static)
	if err != nil {
		return nil
	}
	return checkListeners(c, n, bound, static, cur, next)
}

// checkListeners is DynamicListenerConfig.validateReconfiguration as
// Kafka 4 runs it: advertised listeners among the listeners, listeners
// among the protocol map, an existing listener's own configs and
// protocol unchanged, the inter-broker listener advertised, and the
// advertised listeners unchanged (Kafka 4 cannot re-register a broker's
// endpoints at run time). Gregor does not open or close listeners at run
// time either, so the listeners themselves may not change. A change back
// to those in force, bound's, is accepted: a value an older Gregor stored
// without applying it may be deleted, and kept while other keys change.
func checkListeners(c, n, bound *Config, static, cur, next map[string]string) error {
	for _, a := range n.AdvertisedListeners {
		if _, ok := n.Listener(a.Name); !ok {
			return fmt.Errorf("Advertised listeners '%s' must be a subset of listeners '%s'", listenerNames(n.AdvertisedListeners), listenerNames(n.Listeners))
		}
	}
	for _, l := range n.Listeners {
		if _, ok := n.ListenerProtocols[l.Name]; !ok {
			return fmt.Errorf("Listeners '%s' must be subset of listener map '%s'", listenerNames(n.Listeners), n.ListenerSecurityProtocolMap)
		}
	}
	for _, l := range n.Listeners {
		if _, ok := c.Listener(l.Name); !ok {
			continue
		}
		if nf := fixedListenerConfigs(next, l.Name); !maps.Equal(fixedListenerConfigs(cur, l.Name), nf) && !maps.Equal(fixedListenerConfigs(static, l.Name), nf) {
			return fmt.Errorf("Configs cannot be updated dynamically for existing listener %s, restart broker or create a new listener for update", l.Name)
		}
		if c.ListenerProtocols[l.Name] != n.ListenerProtocols[l.Name] {
			return fmt.Errorf("Security protocol cannot be updated for existing listener %s", l.Name)
		}
	}
	if _, ok := n.Advertised(n.InterBrokerListener); !ok {
		return fmt.Errorf("Advertised listener must be specified for inter-broker listener %s", n.InterBrokerListener)
	}
	if moved(c.AdvertisedListeners, n.AdvertisedListeners, bound.AdvertisedListeners) {
		return fmt.Errorf("Advertised listeners cannot be altered at run time (as in Kafka 4)")
	}
	if moved(c.Listeners, n.Listeners, bound.Listeners) {
		return fmt.Errorf("Listeners cannot be added, removed or moved at run time in Gregor; restart the broker with the new listeners")
	}
	return nil
}

// moved reports whether listeners change (cur to next) to other than
// those bound.
func moved(cur, next, bound []Listener) bool {
	same := func(a, b []Listener) bool { return slices.Equal(sortedListeners(a), sortedListeners(b)) }
	return !same(cur, next) && !same(next, bound)
}

// fixedListenerConfigs are a listener's prefixed configs that may not
// change while it exists, by the key without the prefix.
func fixedListenerConfigs(m map[string]string, listener string) map[string]string {
	prefix := listenerPrefix + strings.ToLower(listener) + "."
	out := map[string]string{}
	for k, v := range m {
		if rest, ok := strings.CutPrefix(k, prefix); ok && !listenerReconfigurable(rest) {
			out[rest] = v
		}
	}
	return out
}

func threadCount(name string, old, n int64) error {
	if n == old {
		return nil
	}
	msg := fmt.Sprintf("Dynamic thread count update validation failed for %s=%d", name, n)
	switch {
	case n <= 0:
		return fmt.Errorf("%s, value should be at least 1", msg)
	case n < old/2:
		return fmt.Errorf("%s, value should be at least half the current value %d", msg, old)
	case n > old*2:
		return fmt.Errorf("%s, value should not be greater than double the current value %d", msg, old)
	}
	return nil
}

// intValue is an INT key's value in raw layered values, else its default.
func intValue(m map[string]string, name string) int64 { return int64Value(m, name) }

// listenerInt is a listener-prefixed INT key's value, else the base key's.
func listenerInt(m map[string]string, key string) int64 {
	if v, ok := m[key]; ok {
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n
	}
	_, rest, _ := splitListenerKey(key)
	return intValue(m, rest)
}

func changed(a, b map[string]string, names []string) bool {
	for _, k := range names {
		va, oka := a[k]
		vb, okb := b[k]
		if oka != okb || va != vb {
			return true
		}
	}
	return false
}

func listenerNames(ls []Listener) string {
	var s []string
	for _, l := range ls {
		s = append(s, l.Name+"://"+l.Addr())
	}
	return strings.Join(s, ",")
}

func sortedListeners(ls []Listener) []Listener {
	out := slices.Clone(ls)
	slices.SortFunc(out, func(a, b Listener) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// listenerConnectionQuota is Kafka's ListenerConnectionQuota
// .validateReconfiguration, run when a listener's connection bound or
// rate (its own, else the broker-wide one) changes: each must be above 0.
func listenerConnectionQuota(cur, next map[string]string, prefix string) error {
	conns, rate := prefix+"max.connections", prefix+"max.connection.creation.rate"
	oc, nc := listenerInt(cur, conns), listenerInt(next, conns)
	or, nr := listenerInt(cur, rate), listenerInt(next, rate)
	if oc == nc && or == nr {
		return nil
	}
	if nc <= 0 {
		return fmt.Errorf("Invalid max.connections %d", nc)
	}
	if nr <= 0 {
		return fmt.Errorf("Invalid max.connection.creation.rate %d", nr)
	}
	return nil
}

// checkLocalRetention is Kafka's DynamicLogConfig.validateReconfiguration,
// run when a topic default changes: log.local.retention.ms and .bytes
// (unless -2, "as retention") neither -1 (unlimited) nor above the
// retention when that is limited.
func checkLocalRetention(cur, next map[string]string, n *Config) error {
	var logKeys []string
	for _, k := range keys.brokers {
		if k.Topic != "" && k.Scope != ReadOnly {
			logKeys = append(logKeys, k.Name)
		}
	}
	if !changed(cur, next, logKeys) {
		return nil
	}
	td := n.TopicDefaults
	if ms, local := td.Retention.Milliseconds(), td.LocalRetention.Milliseconds(); td.Retention >= 0 && local != -2 {
		switch {
		case local == -1:
			return fmt.Errorf("Invalid value -1 for configuration log.local.retention.ms: Value must not be -1 as log.retention.ms value is set as %d.", ms)
		case local > ms:
			return fmt.Errorf("Invalid value %d for configuration log.local.retention.ms: Value must not be more than log.retention.ms property value: %d", local, ms)
		}
	}
	if b, local := int64(td.RetentionBytes), int64(td.LocalRetentionBytes); b > -1 && local != -2 {
		switch {
		case local == -1:
			return fmt.Errorf("Invalid value -1 for configuration log.local.retention.bytes: Value must not be -1 as log.retention.bytes value is set as %d.", b)
		case local > b:
			return fmt.Errorf("Invalid value %d for configuration log.local.retention.bytes: Value must not be more than log.retention.bytes property value: %d", local, b)
		}
	}
	return nil
}
