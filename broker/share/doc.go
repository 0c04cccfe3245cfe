// Package share is the state machine of a share partition (KIP-932): the
// records of one topic partition as one share group consumes them, on the
// partition's leader. It does no I/O and reads no clock: the broker reads
// the log, persists the state through the share coordinator and keeps the
// time (broker/share_*.go).
//
// The in-flight window is [start, end): start is the share-partition start
// offset (SPSO), below which every record is acknowledged or archived;
// end is the first offset never delivered. Each offset in the window has a
// state, as Kafka's RecordState numbers them:
//
//	Available (0)     may be delivered (again)
//	Acquired (1)      delivered to a member, locked until its deadline
//	Acknowledged (2)  accepted by a consumer
//	Archived (4)      rejected, a gap (no record at the offset: compacted
//	                  away, a transaction marker), a record of an aborted
//	                  transaction, or delivered too often
//
// and a delivery count, incremented at each acquisition. The transitions:
//
//	Available -> Acquired      Acquire (count+1); past the delivery limit
//	                           the record is archived instead
//	Acquired -> Acknowledged   an Accept acknowledgement
//	Acquired -> Available      Release, a lock that expires, the member's
//	                           session ending; Archived instead once the
//	                           delivery count reached the limit
//	Acquired -> Archived       Reject, Gap
//	Acquired -> Acquired       Renew (KIP-1222): a new deadline
//
// The start offset moves past every leading offset that is acknowledged or
// archived, and up to the log start offset when retention deletes records.
// New offsets join the window only while end - start is below the in-flight
// limit (group.share.partition.max.record.locks); Available offsets inside
// it are delivered again whatever the limit.
//
// An acknowledgement is applied at once but stays pending until its write
// is known: Commit keeps it, Rollback (the write failed) gives the offsets
// back to the member as acquired, as Kafka rolls back state transitions
// the persister did not take.
//
// What changes is kept as dirty offsets until TakeWrite hands them to the
// caller as Kafka's state batches (first, last, state, delivery count) for
// WriteShareGroupState. Acquisitions are not persisted, as in Kafka: after
// a failover the records acquired then are delivered again, with the count
// of their last persisted state.
package share
