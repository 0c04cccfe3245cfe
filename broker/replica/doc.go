// Package replica is the replication state of one partition as its leader
// sees it: log end offsets, the high watermark and the in-sync replica set.
// It does no I/O: callers feed it appends, follower fetches and the clock,
// and act on what it returns (persist an ISR change, wake waiters).
package replica
