package storage

// Log compaction (cleanup.policy=compact), as Kafka's log cleaner does it:
// the sealed segments below the first uncleanable offset keep, for each
// key, only the latest record. Batches keep their base and last offsets
// (so offsets, leader epochs and producer sequences stay as they were);
// a producer's last batch (idempotent or transactional) that loses every
// record stays as an empty batch, so the producer's sequence survives;
// its earlier emptied batches go, as in Kafka.
// Records of aborted transactions are dropped, and so are records without
// a key (written before the topic was made compacted). Tombstones (null values)
// are dropped delete.retention.ms after the first pass that kept them,
// as is a transaction marker once no batch of its transaction is left
// (unless it holds the epoch of a producer with no batch left), as in
// Kafka: that pass stores the time in the batch as its delete horizon. A batch whose records cannot
// be read (undecodable, or inflating past MaxUncompressed) is kept, whole
// and with a warning: the cleaner cannot tell what it holds, and must not
// stop over it, or retry it forever.
//
// A cleaned segment is written beside the original as "<base>.log.cleaned",
// renamed to "<base>.log.swap" when complete, and swapped in under the
// log's lock: the original is retired like a deleted segment and the swap
// file renamed to "<base>.log" (its indexes are rebuilt). Consecutive
// segments that together fit in one are cleaned into one, at the first's
// base, as Kafka's cleaner merges them. Recovery completes a swap it
// finds (deleting the segments it replaced that are still there), and
// drops a ".cleaned" file. A segment left without a batch is retired too,
// unless it is the first; reads go on past its offsets, as past any gap
// compaction leaves.

import (
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"time"

	"gregor/broker/records"
)

// CompactOptions is one compaction pass's input.
type CompactOptions struct {
	Now time.Time
	// Uncleanable is the first offset not to compact: the smaller of the
	// high watermark and the last stable offset.
	Uncleanable      int64
	MinCompactionLag time.Duration
	// MaxCompactionLag is max.compaction.lag.ms: a dirty segment whose
	// first batch is older is compacted whatever MinDirtyRatio says
	// (0: no limit).
	MaxCompactionLag time.Duration
	DeleteRetention  time.Duration
	// MinDirtyRatio is min.cleanable.dirty.ratio: compact only when more
	// than this share of the cleanable bytes was never compacted (as
	// Kafka's LogCleanerManager.grabFilthiestCompactedLog, cleanableRatio >
	// minCleanableRatio: at 1, only max.compaction.lag.ms compacts).
	MinDirtyRatio float64
	// Aborted reports whether a transactional batch at offset of producer
	// pid belongs to an aborted transaction.
	Aborted func(pid, offset int64) bool
	// LastBatch, if set, is the last offset of producer pid's last data
	// batch in the partition's producer state (-1 if it has none). Only
	// that batch of a producer is kept once compaction empties it, as
	// Kafka's cleaner keeps it (it holds the producer's last sequence);
	// the producer's other emptied batches go. Unset, every emptied
	// batch of a producer is kept.
	LastBatch func(pid int64) int64
	// KeepMarker, if set, reports whether producer pid's transaction
	// marker at epoch stays whatever else: as Kafka's cleaner keeps it,
	// when the producer is active with no data batch in its state and the
	// marker carries its epoch (the epoch that fences its zombies).
	// Unset, no marker stays for that reason.
	KeepMarker func(pid int64, epoch int16) bool
	// MaxUncompressed is how many bytes a batch may decompress to
	// (0: records.DefaultMaxUncompressed); a batch inflating past it is
	// kept as it is.
	MaxUncompressed int64
	// MaxKeys bounds the keys of dirty records one pass maps (0: no
	// bound), as Kafka's cleaner bounds its offset map by
	// log.cleaner.dedupe.buffer.size: once it holds MaxKeys, the pass
	// compacts only as far as it mapped, and the next pass goes on from
	// there.
	MaxKeys int
	// Throttle, if set, is told of the bytes the pass reads and writes as
	// it goes, and may pause it (log.cleaner.io.max.bytes.per.second); an
	// error from it ends the pass, changing nothing.
	Throttle func(bytes int) error
}

// throttle tells opt.Throttle of n bytes.
func (opt *CompactOptions) throttle(n int) error {
	if opt.Throttle != nil {
		return opt.Throttle(n)
	}
	return nil
}

// CompactResult says what a pass did.
type CompactResult struct {
	Segments     int   // segments rewritten
	BytesBefore  int64 // of the rewritten segments
	BytesAfter   int64
	RecordsGone  int64
	CleanedUpTo  int64
	SkippedDirty bool  // not dirty enough
	Undecodable  int   // batches kept whole because their records could not be read
	MarkersGone  int   // transaction markers removed
	Keyless      int64 // records without a key removed
	// AbortsGone are the offsets of the abort markers removed: their
	// transactions have nothing left in the log.
	AbortsGone []int64
}

var errCompactRaced = errors.New("log changed during compaction")

// Compact runs one compaction pass.
func (l *Log) Compact(opt CompactOptions) (CompactResult, error) {
	var res CompactResult
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return res, ErrClosed
	}
	var segs []*segment
	var total, dirty int64
	overdue := false
	dirtyFrom := l.cleanedTo
	for _, s := range l.segments[:len(l.segments)-1] {
		if s.next > opt.Uncleanable {
			break
		}
		// As Kafka's LogCleanerManager.cleanableOffsets: the first dirty
		// segment whose largest timestamp (its file's modification time
		// if it has none) is within min.compaction.lag.ms is not cleaned,
		// nor what follows it.
		if opt.MinCompactionLag > 0 && s.next > l.cleanedTo && opt.Now.UnixMilli()-l.largestTimestamp(s) < opt.MinCompactionLag.Milliseconds() {
			break
		}
		segs = append(segs, s)
		total += s.size
		if s.next > l.cleanedTo {
			dirty += s.size
		}
	}
	// As Kafka's LogCleanerManager.maxCompactionDelay: any dirty sealed
	// segment, cleanable yet or not (past the last stable offset or the
	// minimum lag), whose first batch is older than max.compaction.lag.ms
	// has the log compacted as far as it may be, whatever its dirty
	// ratio.
	if nowMs := opt.Now.UnixMilli(); opt.MaxCompactionLag > 0 && opt.MaxCompactionLag.Milliseconds() < nowMs {
		for _, s := range l.segments[:len(l.segments)-1] {
			if s.next <= l.cleanedTo {
				continue
			}
			if ts := s.firstBatchTimestamp(); ts > 0 && nowMs-ts > opt.MaxCompactionLag.Milliseconds() {
				overdue = true
				break
			}
		}
	}
	l.mu.RUnlock()
	if len(segs) == 0 || dirty == 0 {
		return res, nil
	}
	if !overdue && float64(dirty)/float64(total) <= opt.MinDirtyRatio {
		res.SkippedDirty = true
		return res, nil
	}

	limit := opt.MaxUncompressed
	if limit <= 0 {
		limit = records.DefaultMaxUncompressed
	}
	latest, mapped, err := mapDirtyKeys(segs, dirtyFrom, limit, &opt)
	if err != nil {
		return res, err
	}
	// A pass whose map filled compacts the segments it reached; the
	// records past what it mapped stay as they are, for the next pass
	// (Kafka's Cleaner.doClean cleans up to the map's latest offset).
	for len(segs) > 1 && segs[len(segs)-1].base > mapped {
		segs = segs[:len(segs)-1]
	}

	type rewritten struct {
		olds []*segment // merged into one, at the first's base
		path string     // the .cleaned file
	}
	var done []rewritten
	cleanup := func() {
		for _, r := range done {
			l.fs.Remove(r.path)
		}
	}
	// As Kafka's cleaner (KIP-534), a batch keeping a tombstone, or a
	// marker whose transaction left nothing, gets a delete horizon the
	// first time a pass finds it so: delete.retention.ms from now. The
	// tombstones (or the marker) go in the first pass past it, so a
	// consumer has delete.retention.ms from then to read them, however
	// old their timestamps.
	nowMs := opt.Now.UnixMilli()
	newHorizon := nowMs + min(opt.DeleteRetention.Milliseconds(), math.MaxInt64-nowMs)
	var txns openTxns
	for _, group := range l.groupForCleaning(segs) {
		var out []byte
		changed := len(group) > 1
		for _, s := range group {
			err := eachBatch(s, func(h *records.Header, batch []byte) error {
				if err := opt.throttle(len(batch)); err != nil {
					return err
				}
				if h.IsControl() {
					abort, empty := txns.marker(h, batch)
					hz, hasHz := h.DeleteHorizon()
					switch {
					case !empty || opt.KeepMarker != nil && opt.KeepMarker(h.ProducerID, h.ProducerEpoch):
					case !hasHz:
						// Its transaction left nothing: the marker
						// goes delete.retention.ms from now.
						nb, err := withDeleteHorizon(h, batch, newHorizon)
						if err != nil {
							return err
						}
						changed = true
						out = append(out, nb...)
						return nil
					case nowMs >= hz:
						changed = true
						res.MarkersGone++
						if abort {
							res.AbortsGone = append(res.AbortsGone, h.LastOffset())
						}
						return nil
					}
					out = append(out, batch...)
					return nil
				}
				aborted := h.IsTransactional() && opt.Aborted != nil && opt.Aborted(h.ProducerID, h.BaseOffset)
				txns.batch(h)
				hz, hasHz := h.DeleteHorizon()
				var keep []records.Record
				n, tombstones := 0, false
				err := records.EachLimited(batch, limit, func(r *records.Record) error {
					n++
					off := h.BaseOffset + int64(r.OffsetDelta)
					switch {
					case aborted:
					case off > mapped:
						// Past the map: kept, as Kafka's
						// shouldRetainRecord (pastLatestOffset).
						keep = append(keep, cloneRecord(r))
						tombstones = tombstones || r.Value == nil
					case r.Key == nil:
						// Not compactable: Kafka's cleaner counts it
						// invalid and drops it (a topic made compacted
						// after keyless records were written).
						res.Keyless++
					case !latest.latestAt(r.Key, off):
					case r.Value == nil && hasHz && nowMs >= hz:
					default:
						keep = append(keep, cloneRecord(r))
						tombstones = tombstones || r.Value == nil
					}
					return nil
				})
				if err != nil {
					res.Undecodable++
					l.log.Warn().Err(err).Int64("segment", s.base).Int64("batch_offset", h.BaseOffset).
						Int64("batch_last_offset", h.LastOffset()).Msg("compaction keeps a batch whose records cannot be read")
					out = append(out, batch...)
					return nil
				}
				setHz := tombstones && !hasHz
				if len(keep) == n && !setHz {
					out = append(out, batch...)
					return nil
				}
				changed = true
				res.RecordsGone += int64(n - len(keep))
				if len(keep) == 0 && (!h.HasProducerID() || opt.LastBatch != nil && opt.LastBatch(h.ProducerID) != h.LastOffset()) {
					return nil
				}
				if len(keep) > 0 && h.Attributes&records.AttrLogAppendTime == 0 {
					// As Kafka's MemoryRecordsBuilder: the batch's max
					// timestamp is that of the records it keeps, which
					// the time index, retention and ListOffsets -3 go by.
					h.MaxTimestamp = maxCreateTime(h, keep)
				}
				if setHz {
					records.SetDeleteHorizon(h, keep, newHorizon)
				}
				nb, err := records.Rebuild(h, keep)
				if err != nil {
					return err
				}
				out = append(out, nb...)
				return nil
			})
			if err != nil {
				cleanup()
				return res, fmt.Errorf("compacting segment %d: %w", s.base, err)
			}
		}
		if !changed {
			continue
		}
		first, last := group[0], group[len(group)-1]
		path := segmentPath(first.dir, first.base, ".log.cleaned")
		if err := opt.throttle(len(out)); err != nil {
			cleanup()
			return res, err
		}
		if err := writeFileSynced(l.fs, path, out); err != nil {
			cleanup()
			return res, err
		}
		done = append(done, rewritten{olds: group, path: path})
		// The cleaned segment keeps the modification time of the last
		// one it replaces, as Kafka's cleaner does: retention ages a
		// segment without timestamps by it.
		st, err := l.fs.Stat(segmentPath(last.dir, last.base, ".log"))
		if err == nil {
			err = l.fs.Chtimes(path, st.ModTime())
		}
		if err != nil {
			cleanup()
			return res, err
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		cleanup()
		return res, ErrClosed
	}
	// The segments must still be there, sealed, in a row and unchanged.
	for _, r := range done {
		i := l.segmentIndexLocked(r.olds[0])
		if i < 0 || i+len(r.olds) >= len(l.segments) {
			cleanup()
			return res, errCompactRaced
		}
		for j, s := range r.olds {
			if l.segments[i+j] != s || s.size != sizeOf(l.fs, segmentPath(s.dir, s.base, ".log"), s.size) {
				cleanup()
				return res, errCompactRaced
			}
		}
	}
	for _, r := range done {
		first := r.olds[0]
		swap := segmentPath(first.dir, first.base, ".log.swap")
		if err := l.fs.Rename(r.path, swap); err != nil {
			cleanup()
			return res, err
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return res, err
		}
		i := l.segmentIndexLocked(first)
		for _, s := range r.olds {
			s.created = l.now().Add(l.cfg.FileDeleteDelay)
			res.BytesBefore += s.size
		}
		if err := l.retireLocked(r.olds); err != nil {
			return res, err
		}
		if err := l.fs.Rename(swap, segmentPath(first.dir, first.base, ".log")); err != nil {
			return res, err
		}
		ns, err := openSegment(l.fs, l.dir, first.base, false, l.now())
		if err != nil {
			return res, err
		}
		if _, err := l.recoverSegment(ns, false, math.MaxInt64); err != nil {
			ns.close()
			return res, err
		}
		ns.seal()
		l.segments = slices.Replace(l.segments, i, i+len(r.olds), ns)
		res.Segments += len(r.olds)
		res.BytesAfter += ns.size
	}
	if err := l.dropEmptiedLocked(opt.Uncleanable); err != nil {
		return res, err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return res, err
	}
	l.cleanedTo = max(l.cleanedTo, min(segs[len(segs)-1].next, mapped+1))
	res.CleanedUpTo = l.cleanedTo
	return res, nil
}

// dropEmptiedLocked retires the sealed segments below uncleanable that
// compaction left without a batch, but the first, whose base is where the
// log starts: a read at their offsets goes on to the next segment, as it
// does past any gap. Kafka's cleaner merges such segments into their
// neighbours; kept, a long-lived compacted topic would gather an empty
// segment, with its files, at every roll.
func (l *Log) dropEmptiedLocked(uncleanable int64) error {
	var empty []*segment
	keep := l.segments[:0:0]
	for i, s := range l.segments {
		if i > 0 && i < len(l.segments)-1 && s.size == 0 && s.next <= uncleanable {
			s.created = l.now().Add(l.cfg.FileDeleteDelay)
			empty = append(empty, s)
			continue
		}
		keep = append(keep, s)
	}
	if len(empty) == 0 {
		return nil
	}
	l.segments = keep
	return l.retireLocked(empty)
}

// maxCreateTime is the largest timestamp of recs, records of a batch with
// header h, or -1 if none has one.
func maxCreateTime(h *records.Header, recs []records.Record) int64 {
	m := int64(-1)
	for i := range recs {
		m = max(m, h.FirstTimestamp+recs[i].TimestampDelta)
	}
	return m
}

// withDeleteHorizon rewrites a batch with every record kept and horizon
// as its delete horizon.
func withDeleteHorizon(h *records.Header, batch []byte, horizon int64) ([]byte, error) {
	var recs []records.Record
	err := records.Each(batch, func(r *records.Record) error {
		recs = append(recs, cloneRecord(r))
		return nil
	})
	if err != nil {
		return nil, err
	}
	records.SetDeleteHorizon(h, recs, horizon)
	return records.Rebuild(h, recs)
}

// openTxns follows, through one compaction pass, the transactions whose
// batches the pass has read and whose marker it has not, as Kafka's
// cleaner does (CleanedTransactionMetadata): a marker goes only once no
// batch of its transaction is left, older than delete.retention.ms.
type openTxns struct {
	seen map[int64]bool // producer id: a batch of its open transaction was read
}

// batch notes a data batch read by the pass.
func (t *openTxns) batch(h *records.Header) {
	if !h.IsTransactional() {
		return
	}
	if t.seen == nil {
		t.seen = make(map[int64]bool)
	}
	t.seen[h.ProducerID] = true
}

// marker notes a control batch read by the pass. It reports whether it
// is an abort marker, and whether its transaction has nothing left in the
// log (empty: the marker may go once past the delete horizon). A marker
// that cannot be read stays.
func (t *openTxns) marker(h *records.Header, batch []byte) (abort, empty bool) {
	seen := t.seen[h.ProducerID]
	delete(t.seen, h.ProducerID)
	typ := int16(-1)
	err := records.Each(batch, func(r *records.Record) error {
		if len(r.Key) >= 4 {
			typ = int16(binary.BigEndian.Uint16(r.Key[2:]))
		}
		return nil
	})
	if err != nil || (typ != records.ControlAbort && typ != records.ControlCommit) {
		return false, false
	}
	return typ == records.ControlAbort, !seen
}

// groupForCleaning splits segs, sealed segments in a row, into the runs
// that compaction writes as one segment each, as Kafka's cleaner groups
// them: together no larger than segment.bytes, their indexes within
// segment.index.bytes, and their offsets within 2^31 of the first's base.
// Without it, a long-lived compacted topic would keep every small segment
// it ever rolled.
func (l *Log) groupForCleaning(segs []*segment) [][]*segment {
	var groups [][]*segment
	for len(segs) > 0 {
		n, size, offsets, times := 1, segs[0].size, int64(segs[0].index.n), int64(segs[0].times.n)
		for ; n < len(segs); n++ {
			s := segs[n]
			if size+s.size > l.cfg.SegmentBytes || size+s.size > math.MaxInt32 || s.next-1-segs[0].base > math.MaxInt32 {
				break
			}
			if l.cfg.IndexBytes > 0 && ((offsets+int64(s.index.n))*offsetEntrySize > l.cfg.IndexBytes ||
				(times+int64(s.times.n))*timeEntrySize > l.cfg.IndexBytes) {
				break
			}
			size, offsets, times = size+s.size, offsets+int64(s.index.n), times+int64(s.times.n)
		}
		groups = append(groups, segs[:n])
		segs = segs[n:]
	}
	return groups
}

func (l *Log) segmentIndexLocked(s *segment) int {
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].base >= s.base })
	if i < len(l.segments) && l.segments[i] == s {
		return i
	}
	return -1
}

func sizeOf(fs FS, path string, otherwise int64) int64 {
	st, err := fs.Stat(path)
	if err != nil {
		return -1
	}
	_ = otherwise
	return st.Size()
}

// eachBatch calls fn for every batch of a sealed segment.
func eachBatch(s *segment, fn func(h *records.Header, batch []byte) error) error {
	sc := scanner{s: s, end: s.size}
	for pos := int64(0); pos < s.size; {
		b, err := sc.at(pos)
		if err != nil {
			return err
		}
		buf := make([]byte, b.size)
		if _, err := s.log.ReadAt(buf, pos); err != nil {
			return err
		}
		h, err := records.ParseHeader(buf)
		if err != nil {
			return err
		}
		if err := fn(&h, buf); err != nil {
			return err
		}
		pos += int64(b.size)
	}
	return nil
}

// keyAt is a record's key (its MD5) and offset.
type keyAt struct {
	key [md5.Size]byte
	off int64
}

// offsetMap is the cleaner's key index, as Kafka's SkimpyOffsetMap: the
// latest offset of each key of the dirty records, by the key's MD5 (so a
// key costs the same whatever its length), holding at most max keys (0:
// no bound).
type offsetMap struct {
	m   map[[md5.Size]byte]int64
	max int
}

// full reports whether the map holds as many keys as it may.
func (o *offsetMap) full() bool { return o.max > 0 && len(o.m) >= o.max }

// latestAt reports whether off is the latest offset of key the map knows
// of, or the map does not know key (a key of the clean records only).
func (o *offsetMap) latestAt(key []byte, off int64) bool {
	v, ok := o.m[md5.Sum(key)]
	return !ok || off >= v
}

// errMapFull ends the mapping scan once the offset map is full.
var errMapFull = errors.New("offset map full")

// mapDirtyKeys maps the keys of the dirty records of segs (those at or
// past dirtyFrom) to their latest offsets, as Kafka's
// Cleaner.buildOffsetMap: control batches and aborted transactions map
// nothing, and the keys of an unreadable batch are not known, so none of
// its records make an older one obsolete. It returns the map and the last
// offset of the last batch it mapped wholly: once the map is full (after
// at least one batch, so that every pass makes progress), it stops there.
func mapDirtyKeys(segs []*segment, dirtyFrom, limit int64, opt *CompactOptions) (*offsetMap, int64, error) {
	idx := &offsetMap{m: make(map[[md5.Size]byte]int64), max: opt.MaxKeys}
	mapped := int64(-1)
	for _, s := range segs {
		if s.next <= dirtyFrom {
			continue // clean: its keys are each other's latest already
		}
		err := eachBatch(s, func(h *records.Header, batch []byte) error {
			if h.LastOffset() < dirtyFrom {
				return nil
			}
			if err := opt.throttle(len(batch)); err != nil {
				return err
			}
			if h.IsControl() || (h.IsTransactional() && opt.Aborted != nil && opt.Aborted(h.ProducerID, h.BaseOffset)) {
				mapped = h.LastOffset()
				return nil
			}
			var keys []keyAt
			err := records.EachLimited(batch, limit, func(r *records.Record) error {
				if off := h.BaseOffset + int64(r.OffsetDelta); r.Key != nil && off >= dirtyFrom {
					keys = append(keys, keyAt{md5.Sum(r.Key), off})
				}
				return nil
			})
			if err == nil {
				for _, k := range keys {
					if idx.full() && mapped >= dirtyFrom {
						return errMapFull
					}
					idx.m[k.key] = k.off
				}
			} // else kept whole by the rewrite, which says so
			mapped = h.LastOffset()
			return nil
		})
		if errors.Is(err, errMapFull) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("compaction scan of segment %d: %w", s.base, err)
		}
	}
	return idx, mapped, nil
}

func cloneRecord(r *records.Record) records.Record {
	c := *r
	if r.Key != nil {
		c.Key = append([]byte{}, r.Key...)
	}
	if r.Value != nil {
		c.Value = append([]byte{}, r.Value...)
	}
	c.Headers = append([]records.RecordHeader(nil), r.Headers...)
	return c
}

// writeFileSynced writes data to a new file and fsyncs it.
func writeFileSynced(fs FS, path string, data []byte) error {
	f, err := fs.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
