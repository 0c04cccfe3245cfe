// Package metadata is Gregor's cluster metadata without its storage: the
// values (TopicState, PartitionState, BrokerInfo, TopicSpec, ...), the
// Backend a broker keeps them in and the Applier it hears them through,
// and the decisions a controller makes on them.
//
// The decisions are pure functions, in the manner of Kafka's
// PartitionChangeBuilder: each takes a Partition (replicas, ongoing
// reassignment, leader, leader epoch, ISR) and an event, and returns the
// next Partition, or that nothing changes, or the Kafka error that refuses
// it. decide.go has them: Online (a partition's first leader), Failover
// (brokers died or returned), Elect (ElectLeaders, preferred or unclean),
// ControlledShutdown, Reassign and CompleteReassignment (KIP-455) and
// Imbalances (automatic preferred leader rebalancing); assign.go places
// the replicas of new topics and partitions as Kafka does. They do no
// I/O, so their tests are tables.
//
// Two backends use them: the local one here (local.go), a JSON file for a
// single broker without ZooKeeper, and package zkmeta, which reads and
// writes them in ZooKeeper. Both broker and zkmeta import this package;
// it imports neither.
package metadata
