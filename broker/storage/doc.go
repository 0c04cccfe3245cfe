// Package storage is Gregor's on-disk log: one Log per partition replica,
// made of segments, with the same layout Apache Kafka uses.
//
// # Directory layout
//
// Each log dir (log.dirs) holds one directory per partition replica, named
// "<topic>-<partition>". New partition directories are created under a
// temporary name ("<topic>-<partition>.tmp-<16 hex digits>", the topic part
// cut to keep the name within 255 bytes) and renamed into place
// once their metadata file is written, so a crash never leaves a half-made
// partition. A deleted partition is renamed to
// "<topic>-<partition>.<random>-delete" first and removed afterwards.
//
// A log dir also holds:
//
//	meta.properties                 the broker and cluster the dir belongs
//	                                to (Kafka's version 0 form)
//	.lock                           empty; the broker using the dir holds an
//	                                exclusive fcntl lock of it, as Kafka's
//	                                LogManager does, so a second broker on
//	                                the dir stops at start-up (LockDir)
//	.kafka_cleanshutdown            present only after a clean shutdown,
//	                                as Kafka's: {"version":0,"brokerEpoch":-1};
//	                                removed on start-up (so is the
//	                                .gregor-clean-shutdown of earlier
//	                                versions, which also counts as clean)
//	recovery-point-offset-checkpoint offsets below which each log was fsynced
//	log-start-offset-checkpoint      each log's start offset (DeleteRecords)
//	replication-offset-checkpoint    each partition's high watermark
//	cleaner-offset-checkpoint        each compacted log's first dirty
//	                                 offset (where compaction has covered
//	                                 it to), so a restart does not count
//	                                 the whole log dirty again
//
// The checkpoint files use Kafka's text format:
//
//	0                      format version
//	<n>                    number of entries
//	<topic> <partition> <offset>    n lines
//
// They are written to "<name>.tmp", fsynced, and renamed over the old file.
//
// # Partition directory
//
//	00000000000000000000.log        segment: record batches back to back
//	00000000000000000000.index      sparse offset index for the segment
//	00000000000000000000.timeindex  sparse timestamp index for the segment
//	leader-epoch-checkpoint         leader epoch -> start offset, Kafka format
//	partition.metadata              "version: 0" and "topic_id: <id>"
//
// A segment's name is its base offset: the offset of its first record, in
// 20 decimal digits. Segments are contiguous: the next segment's base offset
// is the offset after the previous segment's last record (or higher, after
// truncation to a leader's start).
//
// # Segment file (.log)
//
// Record batches exactly as received on the wire (magic 2), with the base
// offset and partition leader epoch stamped by the leader. Older message
// formats are up-converted to magic 2 before they are appended. Nothing else
// is in the file: no header, no footer, no padding.
//
// Compaction rewrites batches as Kafka's cleaner does: a rebuilt batch keeps
// its base and last offsets, its records keep their offset deltas (leaving
// gaps), and its max timestamp is that of the records kept. A batch that
// keeps a tombstone, or a transaction marker whose transaction left nothing,
// carries a delete horizon (KIP-534): attribute bit 0x40 set, the first
// timestamp holding the horizon, the records' timestamp deltas counting
// from it.
//
// # Offset index (.index)
//
// Entries of 8 bytes, big-endian: the offset relative to the segment's base
// offset (uint32), then the byte position in the .log (uint32). An entry is
// added for an append once at least index.interval.bytes (4096) were appended
// since the previous entry; it maps the appended batch's last offset to the
// position of the append's first byte. Looking up an offset finds the last
// entry at or below it and scans batch headers forward from its position.
// Offsets and positions are strictly increasing.
//
// An index is a hint, never trusted over the log. A lookup checks the entry
// it uses: in order with its neighbours, its position inside the segment,
// holding a batch that starts at or below the entry's offset, and the scan
// from there meeting a batch that ends exactly at the entry's offset before
// passing it. An entry that fails is not used (the segment is scanned from
// its start) and both indexes of the segment are rebuilt from the log, with
// a warning.
//
// # Time index (.timeindex)
//
// Entries of 12 bytes, big-endian: a timestamp (int64, the largest batch max
// timestamp seen so far in the segment), then the relative offset (uint32) of
// the batch that carried it. Entries are added alongside offset index entries
// when the largest timestamp grew. Timestamps and offsets are non-decreasing.
// A lookup checks the entry it uses as for the offset index: in order with
// its neighbours, and naming a batch that ends at its offset with its
// timestamp as the batch's max timestamp.
//
// # Leader epoch checkpoint
//
//	0
//	<n>
//	<epoch> <start offset>     n lines, increasing in both
//
// The start offset of an epoch is the base offset of the first batch written
// in it. The cache is updated as batches are appended and truncated with
// the log.
//
// # Recovery
//
// Without the clean-shutdown marker, every segment at or after the recovery
// point is scanned: each batch's header and CRC are checked and its offsets
// must follow on from the previous batch and stay inside the segment: below
// the next segment's base and within 2^31 of its own (the base offset is
// outside the CRC). At the first bad batch the segment
// is truncated there and every later segment is deleted. Indexes of scanned
// segments are rebuilt from the batches, and so is the leader epoch cache
// above the recovery point. The indexes of segments not scanned (all of
// them after a clean shutdown, those below the recovery point otherwise)
// are sanity-checked, as Kafka's OffsetIndex.sanityCheck does: a torn last
// entry (a size not a multiple of the entry size) is dropped; the first and
// last entries of each must be in order and inside the segment, and the
// last entry of each must name a batch of the log as a lookup checks it
// (the active segment's end is then found by scanning from it). A segment
// failing a check, or whose bytes past its last index entry are no batch,
// is recovered as above, with a warning, but a bad batch found there cuts
// that segment alone: the later segments were fsynced and stay (Kafka's
// LogLoader.loadSegmentFiles).
// Entries in between are checked when used (above). Stray "*.deleted" and
// "*.tmp" files are removed, and so are index files whose segment has no
// .log.
//
// The log start offset is the checkpointed one, or the first segment's
// base if higher; the leader epoch cache is truncated to start there and
// to end at the log end. A log that ends below its checkpointed start (segment
// files lost) is emptied and starts again at that start, without leader
// epochs or producer snapshots. The recovery point is then the log end
// after a clean shutdown, and the checkpointed one but never past the log
// end otherwise (Kafka's LogLoader.recoverLog).
//
// An append whose write fails takes back the index entries it added.
//
// Nothing is fsynced per append unless log.flush.interval.messages/ms ask
// for it: as in Kafka, durability across machine failure comes from
// replication, and a killed process loses nothing the kernel already has.
// A rolled segment is fsynced by a background flusher, as Kafka's
// flush-log task does it, not on the append that rolled it (a whole
// segment's fsync would stall that producer for seconds); the recovery
// point passes the segment once it is synced, so a machine crash before
// then recovers it. An explicit flush and a close sync what is queued,
// and clean shutdown syncs everything.
//
// Readers of the files. Fetches send record bytes from the .log files
// without reading them (ReadSection, section.go): a Section holds its
// segment's file open, with the bytes it had when taken, until released.
// The file is reference-counted; deleting, compacting or closing a segment
// unlinks or renames its files at once but closes the descriptor only
// when the last Section lets go. Truncating a segment a Section holds
// writes the kept prefix to "<base>.log.tmp" and renames it over the
// .log, so the held (now unlinked) file keeps its bytes. Index files are
// opened only when first needed, so an idle partition holds one
// descriptor.
package storage
