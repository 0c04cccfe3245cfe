// Package quota enforces client quotas as Kafka 2.0+ does (KIP-13, KIP-55,
// KIP-124, KIP-219, KIP-599), without I/O: the broker records what each
// request cost and gets back how long to throttle the client.
//
// Four kinds of quota, each set per entity:
//
//	producer_byte_rate        produce request bytes per second
//	consumer_byte_rate        fetch response bytes per second
//	request_percentage        handler time, as a percentage of one thread, per second
//	controller_mutation_rate  partitions created or deleted per second
//
// An entity is a user (the connection's principal), a client id, or both,
// each possibly the default. For each kind separately the most specific
// entity with a quota of that kind applies, in Kafka's order:
//
//	/config/users/<user>/clients/<client-id>
//	/config/users/<user>/clients/<default>
//	/config/users/<user>
//	/config/users/<default>/clients/<client-id>
//	/config/users/<default>/clients/<default>
//	/config/users/<default>
//	/config/clients/<client-id>
//	/config/clients/<default>
//
// A client with an empty client id is held only by a user's or the
// default user's own quota, as Kafka's lookup by the non-empty parts of
// the usage key has it (Manager.Resolve).
//
// Usage is measured per matched level, as Kafka's metric tags do: a
// quota set on a user is shared by all its client ids, one set on a
// user's default client id is counted per client id, one on the default
// user per user.
//
// Rates are Kafka's sampled rates (internal/kafkarate): quota.window.num
// windows of quota.window.size.seconds each (plus, as in Kafka 3.8+, an
// older window that still had an event within them), the rate being the
// sum over the windows divided by the time they span, never less than
// all but one window (so a client's first burst is measured over the
// whole span, not the first millisecond). A request that takes the rate over the quota is served;
// the client is then throttled for (rate - quota) / quota * span, the
// time it takes the rate to come back to the quota. The controller
// mutation quota is a token bucket (quota x windows x window size deep),
// checked before the mutation on strict request versions.
package quota
