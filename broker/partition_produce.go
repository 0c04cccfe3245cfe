package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/config"
	"gregor/broker/records"
	"gregor/broker/storage"
)

// appendResult is what a produce to one partition returns.
type appendResult struct {
	Base          int64 // offset of the first record written (or duplicated)
	Last          int64 // offset of the last record
	LogAppendTime int64 // -1 unless the topic uses LogAppendTime
	LogStart      int64
}

// preparedBatches are a partition's validated batches, back to back.
type preparedBatches struct {
	data    []byte
	headers []records.Header
	offsets []int // start of each batch in data
}

// prepare validates what a client sent for one partition (a whole
// records field) and up-converts legacy message sets. It runs outside the
// partition lock. Every batch is read record by record, compressed ones
// decompressed as a stream to at most maxRatio times max.message.bytes
// (gregor.decompression.max.ratio), as Kafka's LogValidator reads every
// batch on append: a batch a consumer could not read is never stored.
//
// Records that each break a per-record rule (a key on a compacted topic,
// the timestamp range) are all found and named in a *records.RecordErrors
// (KIP-467), each with the first rule it breaks, the key first; tp names
// the partition in their messages.
func prepare(data []byte, version int16, tc *topicConfig, maxRatio int64, tp string) (*preparedBatches, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: no record batch", records.ErrInvalid)
	}
	cfg := tc.resolved
	limit := decompressedLimit(cfg.MaxMessageBytes, maxRatio)
	magic, _ := records.Magic(data)
	target := cfg.CompressionType
	// sizeAfter: the batch is recompressed before it is stored, and its
	// size is checked against max.message.bytes then, not before.
	sizeAfter := false
	if magic < 2 {
		if version >= 3 {
			return nil, fmt.Errorf("%w: produce v%d needs magic 2 batches", records.ErrInvalid, version)
		}
		if c := records.LegacyCodec(data); target == "producer" && c != records.CodecNone {
			// As Kafka's LogValidator converts a compressed legacy set
			// to the producer's codec (at its default level).
			target = codecNames[c]
		}
		// The set is rebuilt as one v2 batch. Kafka checks the batch it
		// stores (UnifiedLog.append, messageSizeMaybeChanged): in the
		// target codec, so a compressed set whose records are larger
		// than max.message.bytes uncompressed is still taken; only its
		// decompressed size is bounded meanwhile, as any batch's is.
		maxBatch := int64(cfg.MaxMessageBytes)
		if target != "producer" && target != "uncompressed" {
			maxBatch, sizeAfter = max(limit, maxBatch), true
		}
		conv, err := records.UpConvertMax(data, limit, maxBatch)
		if err != nil {
			return nil, err
		}
		data = conv
	}
	pb := &preparedBatches{data: data}
	var deltas records.TimestampDeltas
	opt := records.ValidateOptions{RequireKeys: cfg.Cleanup.Compact(), MaxUncompressed: limit, Partition: tp, TimestampDeltas: &deltas}
	pos := 0
	n, err := records.Split(data, func(b []byte) error {
		if base := int64(binary.BigEndian.Uint64(b)); magic >= 2 && base != 0 {
			// As Kafka's UnifiedLog.analyzeAndValidateRecords, before
			// the size and the CRC: a client's batch starts at 0.
			return fmt.Errorf("%w: The baseOffset of the record batch in the append to %s should be 0, but it is %d", records.ErrInvalid, tp, base)
		}
		if len(b) > int(cfg.MaxMessageBytes) && len(b) > records.HeaderSize && !sizeAfter {
			return kerr.MessageTooLarge
		}
		deltas = records.TimestampDeltas{}
		h, err := records.Validate(b, opt)
		var bad *records.RecordErrors
		if err != nil && !errors.As(err, &bad) {
			return err
		}
		if version < 7 && h.Codec() == records.CodecZstd {
			return kerr.UnsupportedCompressionType
		}
		badTs, err := checkTimestamps(b, &h, &cfg, limit, bad, &deltas)
		if err != nil {
			return err
		}
		if bad = bad.Merge(badTs); bad != nil {
			return bad
		}
		if h.Attributes&records.AttrLogAppendTime != 0 && !cfg.LogAppendTime() {
			records.SetCreateTime(b)
			h.Attributes &^= records.AttrLogAppendTime
		} else if !cfg.LogAppendTime() && deltas.Seen {
			fixMaxTimestamp(b, &h, &deltas)
		}
		pb.offsets = append(pb.offsets, pos)
		pb.headers = append(pb.headers, h)
		pos += len(b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n != len(data) {
		return nil, fmt.Errorf("%w: %d trailing bytes after the last batch", records.ErrShort, len(data)-n)
	}
	if version >= 3 && len(pb.headers) != 1 {
		return nil, fmt.Errorf("%w: produce v%d must carry exactly one batch per partition", records.ErrInvalid, version)
	}
	if changed, err := recompress(pb, &cfg, target); err != nil {
		return nil, err
	} else if changed {
		// As Kafka's UnifiedLog.append re-checks a batch whose size may
		// have changed (messageSizeMaybeChanged): recompressed, it must
		// still fit max.message.bytes.
		for _, h := range pb.headers {
			if h.Size() > int(cfg.MaxMessageBytes) {
				return nil, fmt.Errorf("%w: Message batch size is %d bytes in append to partition %s which exceeds the maximum configured size of %d.",
					kerr.MessageTooLarge, h.Size(), tp, cfg.MaxMessageBytes)
			}
		}
	}
	if int64(len(pb.data)) > int64(cfg.SegmentSize()) {
		// As Kafka's UnifiedLog.append: what a produce writes to a
		// partition must fit in one segment.
		return nil, fmt.Errorf("%w: Message batch size is %d bytes in append to partition %s, which exceeds the maximum configured segment size of %d.",
			kerr.RecordListTooLarge, len(pb.data), tp, cfg.SegmentSize())
	}
	return pb, nil
}

// fixMaxTimestamp sets a CreateTime batch's max timestamp to its records'
// largest (no less than -1), as Kafka's LogValidator does on append
// (setMaxTimestamp with the records' max): the time index, retention and
// ListOffsets by time go by it, whatever the producer put there.
func fixMaxTimestamp(b []byte, h *records.Header, deltas *records.TimestampDeltas) {
	if ts := max(h.FirstTimestamp+deltas.Max, -1); ts != h.MaxTimestamp {
		records.SetMaxTimestamp(b, ts)
		h.MaxTimestamp = ts
	}
}

// minDecompressedLimit is the least a batch may decompress to whatever
// max.message.bytes is: a small limit saves nothing worth refusing
// compressible batches for.
const minDecompressedLimit = 1 << 20

// decompressedLimit is how many bytes a batch's records may decompress to
// on a topic whose max.message.bytes is maxMessage.
func decompressedLimit(maxMessage config.ByteSize, maxRatio int64) int64 {
	return max(int64(maxMessage)*max(maxRatio, 1), minDecompressedLimit)
}

// checkTimestamps applies message.timestamp.before/after.max.ms on
// CreateTime topics (skipped at their default, unlimited), as Kafka's
// LogValidator.validateTimestamp: every record out of range is named, but
// those already named in skip (for a missing key). A producer's batch
// marked log-append-time is refused on a LogAppendTime topic, and on a
// CreateTime topic when it has no max timestamp; otherwise its records'
// timestamp is its max timestamp, checked as a create time (prepare then
// stores the batch as CreateTime, as Kafka does).
//
// deltas, if known, is the range of the records' timestamp deltas
// (records.Validate finds it): when it is wholly in range, the records
// are not read again.
func checkTimestamps(b []byte, h *records.Header, cfg *config.Topic, limit int64, skip *records.RecordErrors, deltas *records.TimestampDeltas) (*records.RecordErrors, error) {
	var bad *records.RecordErrors
	name := func(i int32, why string) {
		if skip == nil || !skip.Has(i) {
			if bad == nil {
				bad = &records.RecordErrors{}
			}
			bad.Add(i, true, why)
		}
	}
	lat := h.Attributes&records.AttrLogAppendTime != 0
	if lat && (cfg.LogAppendTime() || h.MaxTimestamp == -1) {
		for i := range h.NumRecords {
			name(i, "Invalid timestamp type in message. Producer should not set timestamp type to LogAppendTime.")
		}
		return bad, nil
	}
	if cfg.LogAppendTime() {
		return nil, nil
	}
	before, after := cfg.TimestampBefore, cfg.TimestampAfter
	if before == config.Forever && after == config.Forever {
		return nil, nil
	}
	now := time.Now().UnixMilli()
	beforeMs, afterMs := maxMillis(before), maxMillis(after)
	inRange := func(ts int64) bool { return now-ts <= beforeMs && ts-now <= afterMs }
	if !lat && deltas != nil && deltas.Seen && inRange(h.FirstTimestamp+deltas.Min) && inRange(h.FirstTimestamp+deltas.Max) {
		return nil, nil // every record is in range: none to name
	}
	// Kafka's bounds in its message, in Java's long arithmetic: with the
	// default message.timestamp.before.max.ms (Long.MAX_VALUE) the lower
	// one is far below zero.
	lo, hi := now-beforeMs, now+afterMs
	err := records.EachLimited(b, limit, func(r *records.Record) error {
		ts := h.FirstTimestamp + r.TimestampDelta
		if lat {
			ts = h.MaxTimestamp
		}
		if ts != -1 && !inRange(ts) {
			name(r.OffsetDelta, fmt.Sprintf("Timestamp %d of message with offset %d is out of range. The timestamp should be within [%d, %d]",
				ts, h.BaseOffset+int64(r.OffsetDelta), lo, hi))
		}
		return nil
	})
	return bad, err
}

// maxMillis is a timestamp bound in milliseconds: config.Forever, what a
// Long.MAX_VALUE millisecond setting holds, is Long.MAX_VALUE again.
func maxMillis(d time.Duration) int64 {
	if d == config.Forever {
		return math.MaxInt64
	}
	return d.Milliseconds()
}

// codecNames names the codecs as compression.type does; codecByName is
// the other way round (no entry for "producer").
var (
	codecNames  = map[int8]string{records.CodecNone: "uncompressed", records.CodecGzip: "gzip", records.CodecSnappy: "snappy", records.CodecLZ4: "lz4", records.CodecZstd: "zstd"}
	codecByName = func() map[string]int8 {
		m := make(map[string]int8, len(codecNames))
		for c, n := range codecNames {
			m[n] = c
		}
		return m
	}()
)

// recompress rewrites batches whose codec differs from target, the
// topic's compression.type (nothing if it is "producer"), at the topic's level for
// that codec (compression.gzip.level, compression.lz4.level,
// compression.zstd.level; KIP-390), as Kafka's LogValidator builds them
// with LogConfig's compression. A batch already in the topic's codec is
// kept as it came, whatever level the producer used. It reports whether
// it rewrote any batch.
func recompress(pb *preparedBatches, cfg *config.Topic, target string) (bool, error) {
	codec, ok := codecByName[target]
	if !ok {
		return false, nil
	}
	changed := false
	for _, h := range pb.headers {
		if h.Codec() != codec {
			changed = true
		}
	}
	if !changed {
		return false, nil
	}
	var level int32 // the producer's codec is at its default level
	if target == cfg.CompressionType {
		switch codec {
		case records.CodecGzip:
			level = cfg.CompressionGzipLevel
		case records.CodecLZ4:
			level = cfg.CompressionLz4Level
		case records.CodecZstd:
			level = cfg.CompressionZstdLevel
		}
	}
	var out []byte
	for i, h := range pb.headers {
		b := pb.data[pb.offsets[i] : pb.offsets[i]+h.Size()]
		if h.Codec() != codec {
			nb, err := records.Recompress(b, codec, level)
			if err != nil {
				return false, err
			}
			b = nb
		}
		nh, _ := records.ParseHeader(b)
		pb.headers[i] = nh
		pb.offsets[i] = len(out)
		out = append(out, b...)
	}
	pb.data = out
	return true, nil
}

// appendBatches writes prepared batches as leader: checks leadership, the
// ISR size for acks=all and producer sequences, assigns offsets, appends
// and advances the high watermark.
func (p *Partition) appendBatches(pb *preparedBatches, acks int16, leaderEpoch int32) (appendResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkLeaderLocked(leaderEpoch); err != nil {
		return appendResult{}, err
	}
	cfg := p.topic.Config()
	if acks == -1 && p.rs.UnderMinISR() {
		return appendResult{}, kerr.NotEnoughReplicas
	}
	for i := range pb.headers {
		dup, err := p.producer.check(&pb.headers[i])
		if err != nil {
			return appendResult{}, err
		}
		if dup != nil {
			// As Kafka's UnifiedLog.append answers a duplicate: the
			// original batch's offsets and its max timestamp as the log
			// append time (the broker's time on a LogAppendTime topic).
			return appendResult{Base: dup.FirstOffset, Last: dup.LastOffset, LogAppendTime: dup.Timestamp, LogStart: p.log.StartOffset()}, nil
		}
	}
	now := p.b.now()
	res := appendResult{LogAppendTime: -1}
	if cfg.LogAppendTime() {
		res.LogAppendTime = now.UnixMilli()
	}
	ai := p.stampLocked(pb, res.LogAppendTime)
	if err := p.log.Append(pb.data, ai); err != nil {
		p.appendFailedLocked(err)
		return appendResult{}, fmt.Errorf("append to %s: %w", p.tp, err)
	}
	for i := range pb.headers {
		p.producer.record(&pb.headers[i], pb.headers[i].BaseOffset, now)
		if pb.headers[i].IsTransactional() {
			p.refreshUnstableLocked()
		}
	}
	p.snapshotIfRolledLocked()
	res.Base, res.Last, res.LogStart = ai.First, ai.Last, p.log.StartOffset()
	p.advanceLocked(ai.Last + 1)
	return res, nil
}

// underMinISR reports whether p leads with fewer in-sync replicas than
// min.insync.replicas.
func (p *Partition) underMinISR() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rs != nil && p.rs.UnderMinISR()
}

// stampLocked assigns offsets and the leader epoch to every batch (and
// log-append time if asked) and summarises the append.
func (p *Partition) stampLocked(pb *preparedBatches, logAppendTime int64) storage.AppendInfo {
	next := p.log.NextOffset()
	ai := storage.AppendInfo{First: next, MaxTimestamp: -1, OffsetOfMaxTs: -1, LeaderEpoch: p.state.LeaderEpoch, FirstBatchOffset: next}
	for i := range pb.headers {
		h := &pb.headers[i]
		b := pb.data[pb.offsets[i] : pb.offsets[i]+h.Size()]
		records.SetBaseOffset(b, next)
		records.SetLeaderEpoch(b, p.state.LeaderEpoch)
		h.BaseOffset, h.LeaderEpoch = next, p.state.LeaderEpoch
		if logAppendTime >= 0 {
			records.SetLogAppendTime(b, logAppendTime)
			h.MaxTimestamp = logAppendTime
		}
		if h.MaxTimestamp > ai.MaxTimestamp {
			ai.MaxTimestamp, ai.OffsetOfMaxTs = h.MaxTimestamp, h.LastOffset()
		}
		ai.Messages += int64(h.NumRecords)
		next = h.NextOffset()
	}
	ai.Last = next - 1
	return ai
}

// advanceLocked records a new local LEO, moves the HW if the ISR allows
// and wakes waiters.
func (p *Partition) advanceLocked(leo int64) {
	p.leo.Store(leo)
	if p.rs != nil && p.rs.Append(leo) {
		p.hw.Store(p.rs.HW)
	}
	p.notify()
}

// ackState reports whether an acks=all produce up to last is complete.
// As Kafka's checkEnoughReplicasReachOffset: once the high watermark has
// passed it, it succeeds if the maximal ISR (the ISR and the followers
// whose addition is pending) still has min.insync.replicas members, else
// it is NOT_ENOUGH_REPLICAS_AFTER_APPEND (the records stay in the log). Until then it waits, even while the ISR is below the
// minimum: the high watermark holds there, and followers that catch up
// again (rejoining the ISR) complete it within the produce's timeout.
func (p *Partition) ackState(last int64) (done bool, err error) {
	passed := p.HighWatermark() > last
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.rs == nil && passed:
		return true, nil // committed before this broker stopped leading
	case p.rs == nil:
		return true, kerr.NotLeaderForPartition
	case !passed:
		return false, nil
	case p.rs.UnderMinMaximalISR():
		return true, kerr.NotEnoughReplicasAfterAppend
	}
	return true, nil
}

// appendMarker writes a transaction marker (commit or abort) for a
// producer as leader and returns its offset.
func (p *Partition) appendMarker(pid int64, epoch int16, commit bool, coordinatorEpoch int32) (int64, error) {
	now := p.b.now()
	batch, err := buildControl(pid, epoch, commit, coordinatorEpoch, now.UnixMilli())
	if err != nil {
		return -1, err
	}
	h, _ := records.ParseHeader(batch)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkLeaderLocked(-1); err != nil {
		return -1, err
	}
	if p.rs.UnderMinISR() {
		// Markers are written with acks=all, as Kafka's
		// handleWriteTxnMarkersRequest does: refused before the
		// append while the ISR is too small, the coordinator retries.
		return -1, kerr.NotEnoughReplicas
	}
	if e, ok := p.producer.producers[pid]; ok && epoch < e.Epoch {
		return -1, kerr.InvalidProducerEpoch
	} else if ok && coordinatorEpoch < e.CoordinatorEpoch {
		// A marker from a coordinator deposed since the producer's last
		// one (delayed in flight, or an abort with a stale epoch), as
		// Kafka's checkCoordinatorEpoch refuses it: it could end the
		// producer's next transaction part-way.
		return -1, kerr.TransactionCoordinatorFenced
	}
	pb := &preparedBatches{data: batch, headers: []records.Header{h}, offsets: []int{0}}
	ai := p.stampLocked(pb, -1)
	if err := p.log.Append(pb.data, ai); err != nil {
		p.appendFailedLocked(err)
		return -1, fmt.Errorf("append marker to %s: %w", p.tp, err)
	}
	p.producer.endTxn(pid, epoch, commit, coordinatorEpoch, ai.First, h.MaxTimestamp, now)
	p.snapshotIfRolledLocked()
	p.refreshUnstableLocked()
	p.advanceLocked(ai.Last + 1)
	return ai.Last, nil
}

// fullHandOverEvery bounds how often a leader on a full disk hands over.
const fullHandOverEvery = 5 * time.Second

// appendFailedLocked is told of a leader's failed append. Out of disk
// space, the leader hands the partition to another in-sync replica (as
// for a failed log dir, though its replica stays online): producers go on
// there, and this broker, a follower now, catches up and rejoins the ISR
// once space is freed. With no other in-sync replica it keeps leading and
// refusing writes (KAFKA_STORAGE_ERROR) until then.
func (p *Partition) appendFailedLocked(err error) {
	if p.rs == nil || len(p.rs.ISR) < 2 || !errors.Is(err, syscall.ENOSPC) {
		return
	}
	now := time.Now().UnixNano()
	last := p.fullHandOver.Load()
	if now-last < int64(fullHandOverEvery) || !p.fullHandOver.CompareAndSwap(last, now) {
		return
	}
	p.b.log.Warn().Str("topic", p.tp.Topic).Int32("partition", p.ID).Msg("disk full: handing the leadership to another in-sync replica")
	tp := map[string][]int32{p.tp.Topic: {p.ID}}
	p.b.spawn(func() { p.b.handOverParts(tp, "a full disk") })
}
