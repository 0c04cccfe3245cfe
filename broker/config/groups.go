package config

// KIP-848 consumer group keys: the assignors by name, and the bounds Kafka's
// GroupCoordinatorConfig requires between the session timeout, the
// heartbeat interval and their limits.

import (
	"fmt"
	"slices"
	"strings"
)

// consumerAssignorNames maps Kafka's assignor class names to the names
// ConsumerGroupHeartbeat uses.
var consumerAssignorNames = map[string]string{
	"uniform": "uniform",
	"range":   "range",
	"org.apache.kafka.coordinator.group.assignor.UniformAssignor": "uniform",
	"org.apache.kafka.coordinator.group.assignor.RangeAssignor":   "range",
}

// consumerAssignors checks group.consumer.assignors: at least one, each
// known, none twice.
func consumerAssignors(v any) error {
	list := v.([]string)
	if len(list) == 0 {
		return fmt.Errorf("at least one assignor is needed (uniform, range)")
	}
	seen := map[string]bool{}
	for _, a := range list {
		n, ok := consumerAssignorNames[a]
		if !ok {
			return fmt.Errorf("unknown assignor %s (uniform, range, or their Kafka class names)", a)
		}
		if seen[n] {
			return fmt.Errorf("assignor %s is listed twice", n)
		}
		seen[n] = true
	}
	return nil
}

// rebalanceProtocols checks group.coordinator.rebalance.protocols: classic
// is required, as in Kafka; consumer is optional. share is accepted, as
// Kafka 4.0's early access asked for it, and changes nothing: share groups
// are served unless group.share.enable is false.
func rebalanceProtocols(v any) error {
	list := v.([]string)
	for _, p := range list {
		if p != "classic" && p != "consumer" && p != "share" {
			return fmt.Errorf("unsupported protocol %s (classic, consumer, share)", p)
		}
	}
	if !slices.Contains(list, "classic") {
		return fmt.Errorf("the classic protocol is required")
	}
	return nil
}

// oneOfFold is oneOf ignoring case (Kafka's ValidString.in after
// toUpperCase, for group.consumer.migration.policy).
func oneOfFold(opts ...string) Validator {
	in := oneOf(opts...)
	return func(v any) error { return in(strings.ToLower(v.(string))) }
}

// ConsumerProtocolEnabled reports whether KIP-848 consumer groups are
// served.
func (c *Config) ConsumerProtocolEnabled() bool {
	return slices.Contains(c.GroupRebalanceProtocols, "consumer")
}

// deriveConsumerGroups resolves the assignor names and checks the bounds
// between keys, as Kafka's GroupCoordinatorConfig does.
func (c *Config) deriveConsumerGroups() []error {
	var errs []error
	names := make([]string, 0, len(c.ConsumerGroupAssignors))
	for _, a := range c.ConsumerGroupAssignors {
		if n, ok := consumerAssignorNames[a]; ok {
			names = append(names, n)
		}
	}
	c.ConsumerGroupAssignors = names
	c.ConsumerGroupMigrationPolicy = strings.ToLower(c.ConsumerGroupMigrationPolicy)
	ms := func(d interface{ Milliseconds() int64 }) int64 { return d.Milliseconds() }
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.ConsumerGroupMaxHeartbeatInterval >= c.ConsumerGroupMinHeartbeatInterval,
		"group.consumer.max.heartbeat.interval.ms (%d) must be at least group.consumer.min.heartbeat.interval.ms (%d)",
		ms(c.ConsumerGroupMaxHeartbeatInterval), ms(c.ConsumerGroupMinHeartbeatInterval))
	check(c.ConsumerGroupHeartbeatInterval >= c.ConsumerGroupMinHeartbeatInterval && c.ConsumerGroupHeartbeatInterval <= c.ConsumerGroupMaxHeartbeatInterval,
		"group.consumer.heartbeat.interval.ms (%d) must be between group.consumer.min.heartbeat.interval.ms (%d) and group.consumer.max.heartbeat.interval.ms (%d)",
		ms(c.ConsumerGroupHeartbeatInterval), ms(c.ConsumerGroupMinHeartbeatInterval), ms(c.ConsumerGroupMaxHeartbeatInterval))
	check(c.ConsumerGroupMaxSessionTimeout >= c.ConsumerGroupMinSessionTimeout,
		"group.consumer.max.session.timeout.ms (%d) must be at least group.consumer.min.session.timeout.ms (%d)",
		ms(c.ConsumerGroupMaxSessionTimeout), ms(c.ConsumerGroupMinSessionTimeout))
	check(c.ConsumerGroupSessionTimeout >= c.ConsumerGroupMinSessionTimeout && c.ConsumerGroupSessionTimeout <= c.ConsumerGroupMaxSessionTimeout,
		"group.consumer.session.timeout.ms (%d) must be between group.consumer.min.session.timeout.ms (%d) and group.consumer.max.session.timeout.ms (%d)",
		ms(c.ConsumerGroupSessionTimeout), ms(c.ConsumerGroupMinSessionTimeout), ms(c.ConsumerGroupMaxSessionTimeout))
	check(c.ConsumerGroupHeartbeatInterval < c.ConsumerGroupSessionTimeout,
		"group.consumer.heartbeat.interval.ms (%d) must be less than group.consumer.session.timeout.ms (%d)",
		ms(c.ConsumerGroupHeartbeatInterval), ms(c.ConsumerGroupSessionTimeout))
	return errs
}
