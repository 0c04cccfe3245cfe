// Package records reads and edits Kafka record batches in their wire form.
//
// A v2 record batch is a 61-byte header followed by records. The header
// (big-endian):
//
//	 0 baseOffset           int64
//	 8 batchLength          int32   bytes after this field
//	12 partitionLeaderEpoch int32   outside the CRC, stamped by the leader
//	16 magic                int8    2
//	17 crc                  uint32  CRC-32C of bytes 21..end
//	21 attributes           int16   bits 0-2 codec, 3 log-append time,
//	                                4 transactional, 5 control
//	23 lastOffsetDelta      int32
//	27 firstTimestamp       int64
//	35 maxTimestamp         int64
//	43 producerId           int64
//	51 producerEpoch        int16
//	53 baseSequence         int32
//	57 recordCount          int32
//
// Legacy message sets (magic 0 and 1) put the magic byte at the same
// position, 16, which is how a reader tells the formats apart.
package records
