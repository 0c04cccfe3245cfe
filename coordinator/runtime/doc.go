// Package runtime runs the coordinators' state machines on the internal
// topic partitions this broker leads, as Kafka's CoordinatorRuntime does:
// one shard per partition of __consumer_offsets or __transaction_state,
// which
//
//   - loads when the broker becomes the partition's leader: the committed
//     log is replayed into a fresh state machine before any request is
//     served (COORDINATOR_LOAD_IN_PROGRESS until then);
//   - unloads when leadership is lost: the shard's context ends, waiting
//     requests are answered NOT_COORDINATOR and the machine's timers stop;
//   - appends records at the leader epoch it was loaded with, and lets a
//     request complete once the high watermark passes them
//     (write-then-complete).
//
// Nothing here holds a lock while waiting for replication: a machine
// appends under its own short locks and waits with none held, so a slow
// follower delays only the requests whose records it has not copied yet.
// Leadership changes never block: the metadata loop that reports them
// only starts a load or ends a shard's context.
package runtime
