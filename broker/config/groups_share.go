package config

// KIP-932 share group keys: the bounds Kafka's GroupCoordinatorConfig and
// ShareGroupConfig require between them, and the group configs
// (share.auto.offset.reset, ...) a share group may override them with.

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// shareAssignors checks group.share.assignors: exactly Kafka's simple
// assignor, by name or class name.
func shareAssignors(v any) error {
	list := v.([]string)
	if len(list) != 1 {
		return fmt.Errorf("exactly one assignor is needed (simple), found %d", len(list))
	}
	if a := list[0]; a != "simple" && a != "org.apache.kafka.coordinator.group.assignor.SimpleAssignor" {
		return fmt.Errorf("unknown share assignor %s (simple)", a)
	}
	return nil
}

// sharePersister checks group.share.persister.class.name: Gregor has one
// persister, Kafka's default.
func sharePersister(v any) error {
	if s := v.(string); s != "" && s != "org.apache.kafka.server.share.persister.DefaultStatePersister" {
		return fmt.Errorf("unsupported share-state persister %s: Gregor keeps share state in __share_group_state only", s)
	}
	return nil
}

// deriveShareGroups checks the bounds between share group keys, as Kafka's
// GroupCoordinatorConfig and ShareGroupConfig do.
func (c *Config) deriveShareGroups() []error {
	var errs []error
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.ShareGroupMaxHeartbeatInterval >= c.ShareGroupMinHeartbeatInterval,
		"group.share.max.heartbeat.interval.ms (%d) must be at least group.share.min.heartbeat.interval.ms (%d)",
		ms(c.ShareGroupMaxHeartbeatInterval), ms(c.ShareGroupMinHeartbeatInterval))
	check(c.ShareGroupHeartbeatInterval >= c.ShareGroupMinHeartbeatInterval && c.ShareGroupHeartbeatInterval <= c.ShareGroupMaxHeartbeatInterval,
		"group.share.heartbeat.interval.ms (%d) must be between group.share.min.heartbeat.interval.ms (%d) and group.share.max.heartbeat.interval.ms (%d)",
		ms(c.ShareGroupHeartbeatInterval), ms(c.ShareGroupMinHeartbeatInterval), ms(c.ShareGroupMaxHeartbeatInterval))
	check(c.ShareGroupMaxSessionTimeout >= c.ShareGroupMinSessionTimeout,
		"group.share.max.session.timeout.ms (%d) must be at least group.share.min.session.timeout.ms (%d)",
		ms(c.ShareGroupMaxSessionTimeout), ms(c.ShareGroupMinSessionTimeout))
	check(c.ShareGroupSessionTimeout >= c.ShareGroupMinSessionTimeout && c.ShareGroupSessionTimeout <= c.ShareGroupMaxSessionTimeout,
		"group.share.session.timeout.ms (%d) must be between group.share.min.session.timeout.ms (%d) and group.share.max.session.timeout.ms (%d)",
		ms(c.ShareGroupSessionTimeout), ms(c.ShareGroupMinSessionTimeout), ms(c.ShareGroupMaxSessionTimeout))
	check(c.ShareGroupHeartbeatInterval < c.ShareGroupSessionTimeout,
		"group.share.heartbeat.interval.ms (%d) must be less than group.share.session.timeout.ms (%d)",
		ms(c.ShareGroupHeartbeatInterval), ms(c.ShareGroupSessionTimeout))
	check(c.ShareGroupRecordLockDuration >= c.ShareGroupMinRecordLockDuration,
		"group.share.record.lock.duration.ms (%d) must be at least group.share.min.record.lock.duration.ms (%d)",
		ms(c.ShareGroupRecordLockDuration), ms(c.ShareGroupMinRecordLockDuration))
	check(c.ShareGroupMaxRecordLockDuration >= c.ShareGroupRecordLockDuration,
		"group.share.max.record.lock.duration.ms (%d) must be at least group.share.record.lock.duration.ms (%d)",
		ms(c.ShareGroupMaxRecordLockDuration), ms(c.ShareGroupRecordLockDuration))
	check(c.ShareGroupMaxDeliveryCountLimit >= c.ShareGroupDeliveryCountLimit,
		"group.share.max.delivery.count.limit (%d) must be at least group.share.delivery.count.limit (%d)",
		c.ShareGroupMaxDeliveryCountLimit, c.ShareGroupDeliveryCountLimit)
	check(c.ShareGroupDeliveryCountLimit >= c.ShareGroupMinDeliveryCountLimit,
		"group.share.delivery.count.limit (%d) must be at least group.share.min.delivery.count.limit (%d)",
		c.ShareGroupDeliveryCountLimit, c.ShareGroupMinDeliveryCountLimit)
	check(c.ShareGroupMaxPartitionMaxRecordLocks >= c.ShareGroupPartitionMaxRecordLocks,
		"group.share.max.partition.max.record.locks (%d) must be at least group.share.partition.max.record.locks (%d)",
		c.ShareGroupMaxPartitionMaxRecordLocks, c.ShareGroupPartitionMaxRecordLocks)
	check(c.ShareGroupPartitionMaxRecordLocks >= c.ShareGroupMinPartitionMaxRecordLocks,
		"group.share.partition.max.record.locks (%d) must be at least group.share.min.partition.max.record.locks (%d)",
		c.ShareGroupPartitionMaxRecordLocks, c.ShareGroupMinPartitionMaxRecordLocks)
	check(c.ShareGroupMaxShareSessions >= c.ShareGroupMaxSize,
		"group.share.max.share.sessions (%d) must be at least group.share.max.size (%d)", c.ShareGroupMaxShareSessions, c.ShareGroupMaxSize)
	return errs
}

// Group configs (resource type GROUP, Kafka's GroupConfig) of share
// groups: each overrides a broker default for one group.
const (
	GroupShareSessionTimeout    = "share.session.timeout.ms"
	GroupShareHeartbeatInterval = "share.heartbeat.interval.ms"
	GroupShareRecordLock        = "share.record.lock.duration.ms"
	GroupShareAutoOffsetReset   = "share.auto.offset.reset"
	GroupShareIsolationLevel    = "share.isolation.level"
	GroupShareDeliveryLimit     = "share.delivery.count.limit"
	GroupShareMaxRecordLocks    = "share.partition.max.record.locks"
	GroupShareRenewAck          = "share.renew.acknowledge.enable"
	GroupConsumerSession        = "consumer.session.timeout.ms"
	GroupConsumerHeartbeat      = "consumer.heartbeat.interval.ms"
)

// GroupKeys are the group configs Gregor knows, in Kafka's order, with
// the broker key whose value is their default ("" for a fixed default).
var GroupKeys = []struct{ Name, Broker, Default, Doc string }{
	{GroupConsumerSession, "group.consumer.session.timeout.ms", "", "The session timeout of the group's consumer-protocol members."},
	{GroupConsumerHeartbeat, "group.consumer.heartbeat.interval.ms", "", "The heartbeat interval of the group's consumer-protocol members."},
	{GroupShareSessionTimeout, "group.share.session.timeout.ms", "", "The session timeout of the share group's members."},
	{GroupShareHeartbeatInterval, "group.share.heartbeat.interval.ms", "", "The heartbeat interval of the share group's members."},
	{GroupShareRecordLock, "group.share.record.lock.duration.ms", "", "How long the share group's consumers hold records they were delivered."},
	{GroupShareDeliveryLimit, "group.share.delivery.count.limit", "", "How many times a record is delivered to the share group before it is archived."},
	{GroupShareMaxRecordLocks, "group.share.partition.max.record.locks", "", "The most records of a share partition the group has in flight."},
	{GroupShareAutoOffsetReset, "", "latest", "Where a share partition starts when the group first reads it: earliest, latest or by_duration:<ISO-8601 duration>."},
	{GroupShareIsolationLevel, "", "read_uncommitted", "Whether the share group's consumers see records of transactions not committed (read_uncommitted) or only committed ones (read_committed)."},
	{GroupShareRenewAck, "", "true", "Whether the share group's consumers may renew the locks of records they hold (the RENEW acknowledgement)."},
}

// ValidateGroupConfigs checks a group's config overrides against the
// broker's bounds, as Kafka's GroupConfig.validate does: every problem is
// reported.
func (c *Config) ValidateGroupConfigs(values map[string]string) error {
	var errs []string
	known := map[string]bool{}
	for _, k := range GroupKeys {
		known[k.Name] = true
	}
	// intIn checks an INT config as Kafka's GroupConfig: its ConfigDef
	// floor first, then the broker's bounds.
	intIn := func(name string, floor, lo, hi int64, loKey, hiKey string) {
		v, ok := values[name]
		if !ok {
			return
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		switch {
		case err != nil:
			errs = append(errs, fmt.Sprintf("Invalid value %s for configuration %s: Not a number of type INT", v, name))
		case n < floor:
			errs = append(errs, fmt.Sprintf("Invalid value %s for configuration %s: Value must be at least %d", v, name, floor))
		case n < lo:
			errs = append(errs, fmt.Sprintf("%s must be greater than or equal to %s", name, loKey))
		case n > hi:
			errs = append(errs, fmt.Sprintf("%s must be less than or equal to %s", name, hiKey))
		}
	}
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	for name := range values {
		if !known[name] {
			errs = append(errs, fmt.Sprintf("Unknown group config name: %s", name))
		}
	}
	intIn(GroupConsumerSession, 1, ms(c.ConsumerGroupMinSessionTimeout), ms(c.ConsumerGroupMaxSessionTimeout), "group.consumer.min.session.timeout.ms", "group.consumer.max.session.timeout.ms")
	intIn(GroupConsumerHeartbeat, 1, ms(c.ConsumerGroupMinHeartbeatInterval), ms(c.ConsumerGroupMaxHeartbeatInterval), "group.consumer.min.heartbeat.interval.ms", "group.consumer.max.heartbeat.interval.ms")
	intIn(GroupShareSessionTimeout, 1, ms(c.ShareGroupMinSessionTimeout), ms(c.ShareGroupMaxSessionTimeout), "group.share.min.session.timeout.ms", "group.share.max.session.timeout.ms")
	intIn(GroupShareHeartbeatInterval, 1, ms(c.ShareGroupMinHeartbeatInterval), ms(c.ShareGroupMaxHeartbeatInterval), "group.share.min.heartbeat.interval.ms", "group.share.max.heartbeat.interval.ms")
	intIn(GroupShareRecordLock, 1000, ms(c.ShareGroupMinRecordLockDuration), ms(c.ShareGroupMaxRecordLockDuration), "group.share.min.record.lock.duration.ms", "group.share.max.record.lock.duration.ms")
	intIn(GroupShareDeliveryLimit, 2, int64(c.ShareGroupMinDeliveryCountLimit), int64(c.ShareGroupMaxDeliveryCountLimit), "group.share.min.delivery.count.limit", "group.share.max.delivery.count.limit")
	intIn(GroupShareMaxRecordLocks, 100, int64(c.ShareGroupMinPartitionMaxRecordLocks), int64(c.ShareGroupMaxPartitionMaxRecordLocks), "group.share.min.partition.max.record.locks", "group.share.max.partition.max.record.locks")
	// A session must outlast the heartbeat interval, each taken from the
	// group's configs or else the broker's (GroupConfig.validate merges
	// the broker's values in before validateValues), checked once every
	// value is in its bounds.
	sessionOverHeartbeat := func(session, heartbeat string, sessionDef, heartbeatDef time.Duration) {
		_, hasS := values[session]
		_, hasH := values[heartbeat]
		if !hasS && !hasH {
			return
		}
		get := func(name string, def time.Duration) (int64, bool) {
			v, ok := values[name]
			if !ok {
				return def.Milliseconds(), true
			}
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
			return n, err == nil
		}
		s, okS := get(session, sessionDef)
		h, okH := get(heartbeat, heartbeatDef)
		if okS && okH && s <= h {
			errs = append(errs, fmt.Sprintf("%s must be greater than %s", session, heartbeat))
		}
	}
	if v, ok := values[GroupShareRenewAck]; ok {
		if l := strings.ToLower(strings.TrimSpace(v)); l != "true" && l != "false" {
			errs = append(errs, fmt.Sprintf("Invalid value %s for configuration %s: Expected value to be either true or false", v, GroupShareRenewAck))
		}
	}
	if v, ok := values[GroupShareAutoOffsetReset]; ok {
		if _, _, err := ParseShareAutoOffsetReset(v); err != nil {
			errs = append(errs, fmt.Sprintf("Invalid value %s for configuration %s: %v", v, GroupShareAutoOffsetReset, err))
		}
	}
	if v, ok := values[GroupShareIsolationLevel]; ok {
		if l := strings.ToLower(strings.TrimSpace(v)); l != "read_uncommitted" && l != "read_committed" {
			errs = append(errs, fmt.Sprintf("Invalid value %s for configuration %s: String must be one of: read_committed, read_uncommitted", v, GroupShareIsolationLevel))
		}
	}
	if len(errs) == 0 {
		sessionOverHeartbeat(GroupConsumerSession, GroupConsumerHeartbeat, c.ConsumerGroupSessionTimeout, c.ConsumerGroupHeartbeatInterval)
		sessionOverHeartbeat(GroupShareSessionTimeout, GroupShareHeartbeatInterval, c.ShareGroupSessionTimeout, c.ShareGroupHeartbeatInterval)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// ParseShareAutoOffsetReset parses share.auto.offset.reset: earliest,
// latest, or by_duration:<ISO-8601 duration> (PnDTnHnMn.nS), which starts
// at the first record no older than the duration.
func ParseShareAutoOffsetReset(v string) (strategy string, d time.Duration, err error) {
	s := strings.ToLower(strings.TrimSpace(v))
	switch {
	case s == "earliest" || s == "latest":
		return s, 0, nil
	case strings.HasPrefix(s, "by_duration:"):
		d, err := parseISODuration(strings.ToUpper(strings.TrimPrefix(s, "by_duration:")))
		if err != nil {
			return "", 0, err
		}
		return "by_duration", d, nil
	}
	return "", 0, fmt.Errorf("must be earliest, latest or by_duration:<ISO-8601 duration>")
}

// parseISODuration parses the subset of ISO-8601 durations Java's
// Duration.parse takes: PnDTnHnMn.nS, not negative.
func parseISODuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not an ISO-8601 duration such as PT1H", s)
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return 0, bad
	}
	s = s[1:]
	var total time.Duration
	inTime := false
	num := ""
	for _, r := range s {
		switch {
		case r == 'T':
			if inTime || num != "" {
				return 0, bad
			}
			inTime = true
		case r >= '0' && r <= '9' || r == '.':
			num += string(r)
		default:
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || f < 0 {
				return 0, bad
			}
			var unit time.Duration
			switch {
			case r == 'D' && !inTime:
				unit = 24 * time.Hour
			case r == 'H' && inTime:
				unit = time.Hour
			case r == 'M' && inTime:
				unit = time.Minute
			case r == 'S' && inTime:
				unit = time.Second
			default:
				return 0, bad
			}
			total += time.Duration(f * float64(unit))
			num = ""
		}
	}
	if num != "" {
		return 0, bad
	}
	return total, nil
}
