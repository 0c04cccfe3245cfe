// Package broker is Gregor's broker: topics and partitions over the
// storage log, the Kafka APIs that produce, fetch and administer them, and
// the cluster metadata they follow.
//
// The pieces:
//
//	api_NN_*.go         one file per Kafka API (by key): translate the
//	                    request and the response, nothing else
//	apis.go             the APIs this package registers, with versions
//	authz.go            the one place handlers ask the authorizer
//	                    (package acl) what a request may do
//	partition*.go       a partition's state and what handlers ask of it
//	                    (append, serve a read, delete records, producers)
//	acks.go             waiting, without a lock, for the high watermark
//	follower.go         replicating partitions led elsewhere
//	apply.go            metadata from the backend (package metadata: a
//	                    local file or ZooKeeper) applied to topics
//	configs.go          static and dynamic configuration (package config)
//	host.go             what the coordinators need (coordinator.Host)
//	peer.go             requests to other brokers
//	background.go       retention, checkpoints, flushes, ISR shrinks
//	intercept.go        around every handler: client quotas (quotas.go,
//	                    package quota) and per-topic traffic counts
//	ops.go, stats.go    what operators read: traffic, errors, ISR changes,
//	                    controller status, end offsets for consumer lag
//
// Lock order: Partition.mu before Broker.mu and storage.Log's lock;
// Partition.waitMu is a leaf. Nothing waits for replication, disks of
// other partitions or the coordinators while holding a partition's lock,
// and the metadata loop never waits on request work.
package broker
