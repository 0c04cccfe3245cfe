package config

// removedKeys are the broker keys Kafka 4.0 removed, with what replaces
// each. They are unknown keys, as in Kafka 4.0 (logged once and ignored in
// server.properties, kept as custom keys when altered at run time); the
// broker names the replacement when it logs one.
var removedKeys = map[string]string{
	// KIP-724: records are always written in format v2.
	"log.message.format.version": "none: records are written in message format v2 (KIP-724)",
	// KIP-937.
	"log.message.timestamp.difference.max.ms": "log.message.timestamp.before.max.ms and log.message.timestamp.after.max.ms (KIP-937)",
	// Delegation tokens are off unless the new name is set.
	"delegation.token.master.key": "delegation.token.secret.key",
	// KIP-1041: offset commits wait for every in-sync replica.
	"offsets.commit.required.acks": "none: offset commits are written with acks=all (KIP-1041)",
	"auto.include.jmx.reporter":    "metric.reporters (which has JmxReporter by default)",
	// A ZooKeeper-mode key; Kafka 4.0 sets the cluster's version with
	// the metadata.version feature.
	"inter.broker.protocol.version": "none: Gregor's brokers speak one protocol (kafka-features.sh sets a cluster's feature levels)",
}

// removedTopicKeys are the topic keys Kafka 4.0 removed: CreateTopics and
// the alterations refuse them as any unknown topic key, INVALID_CONFIG
// "Unknown topic config name: message.format.version".
var removedTopicKeys = []string{"message.format.version", "message.timestamp.difference.max.ms"}

// RemovedKey reports whether Kafka 4.0 removed a broker key, and what
// replaces it.
func RemovedKey(name string) (replacement string, ok bool) {
	replacement, ok = removedKeys[name]
	return replacement, ok
}
