// Package zkmeta is the ZooKeeper I/O of Gregor's cluster metadata: it
// keeps the metadata in Apache Kafka's classic (ZooKeeper-mode) znode
// layout and JSON formats, so tools that read that layout keep working.
// Every broker watches the metadata and delivers it to its Applier; the
// broker holding /controller also creates partition states, elects
// leaders, completes reassignments and deletes topics.
//
// What to write is decided by package metadata's pure functions (Online,
// Failover, Elect, ControlledShutdown, Reassign, CompleteReassignment,
// Imbalances, PlaceTopic, ...): this package reads znodes, calls them and
// writes their results by compare-and-set, fenced by the controller epoch
// where the controller writes.
package zkmeta
