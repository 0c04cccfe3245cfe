// Package coordinator is Gregor's group and transaction coordination:
// consumer groups with their committed offsets in __consumer_offsets, and
// producer ids and transactions with their state in __transaction_state,
// in Kafka's record schemas.
//
// Both are state machines on package runtime, one shard per internal
// partition this broker leads: groupCoordinator (group*.go, the group
// APIs) holds the groups of each __consumer_offsets partition, classic
// groups (group.go) and KIP-848 consumer groups (cgroup*.go) alike,
// txnCoordinator (txn*.go, the transaction APIs) the transactional ids of
// each __transaction_state partition. A shard replays its partition's log
// when this broker becomes its leader and is dropped when it stops being
// one. A request appends its records under its group's lock (or its
// transactional id's claim), lets go, waits for the high watermark, and
// applies what was committed: nothing waits for replication holding a
// lock. Consumer groups (KIP-848) apply their records once the leader has
// them, as Kafka's runtime does, and answer only once they are committed:
// every answer waits for the group's last write, so none reveals state a
// lost leadership could take back (a new leader replays its log).
// Coordinator is the two together, with FindCoordinator.
//
// It reaches the broker only through Host, a narrow interface to append to
// and read from internal topic partitions this broker leads. Handlers ask
// the broker's authorizer (Config.Authorizer, package acl) through
// authz.go, as Kafka's KafkaApis checks each API.
package coordinator
