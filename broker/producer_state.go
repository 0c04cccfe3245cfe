package broker

import (
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/records"
	"gregor/broker/storage"
)

// batchesToRetain is how many batch sequence ranges are kept per producer
// for duplicate detection (Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN,
// which is also the client's max in-flight requests with idempotence).
const batchesToRetain = 5

// batchMeta is a written batch's sequence range and offsets.
type batchMeta struct {
	FirstSeq    int32 `json:"first_seq"`
	LastSeq     int32 `json:"last_seq"`
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"`
	Timestamp   int64 `json:"timestamp"`
}

// producerEntry is a partition's state for one producer id.
type producerEntry struct {
	ID       int64       `json:"id"`
	Epoch    int16       `json:"epoch"`
	Batches  []batchMeta `json:"batches"` // oldest first, at most batchesToRetain
	LastSeen int64       `json:"last_seen_ms"`
	// TxnFirstOffset is the first offset of the producer's open
	// transaction in this partition, or -1.
	TxnFirstOffset   int64 `json:"txn_first_offset"`
	CoordinatorEpoch int32 `json:"coordinator_epoch"`
	// LastTimestamp is the largest timestamp of the producer's last
	// batch, data or marker (DescribeProducers); 0 in snapshots from
	// before it was kept.
	LastTimestamp int64 `json:"last_timestamp,omitempty"`
}

func (e *producerEntry) lastSeq() int32 {
	if len(e.Batches) == 0 {
		return -1
	}
	return e.Batches[len(e.Batches)-1].LastSeq
}

// producerState is a partition's idempotence and transaction state. The
// partition's lock guards it.
type producerState struct {
	producers map[int64]*producerEntry
	// open counts producers with an open transaction.
	open int
	// openq lists open transactions by first offset, the oldest first,
	// so that the first unstable offset is found without looking at
	// every producer (Kafka's ongoingTxns). An entry whose producer no
	// longer has that transaction open is stale: dropped from the front
	// as it is met, and from the rest when they outnumber the open ones.
	openq []openTxn
	// aborted lists aborted transactions in marker order, for
	// read_committed fetches.
	aborted []abortedTxn
	// verifying holds transaction verifications of producers with no
	// transaction open here (txn_verify.go).
	verifying map[int64]*txnVerification
	// ended are transactions whose marker was written, until the high
	// watermark is known to have passed it (unreplicated).
	ended []endedTxn
}

// openTxn is an open transaction's first offset and producer.
type openTxn struct{ first, pid int64 }

// stale reports whether t no longer stands for an open transaction.
func (ps *producerState) stale(t openTxn) bool {
	e := ps.producers[t.pid]
	return e == nil || e.TxnFirstOffset != t.first
}

// opened notes a transaction opened at first, after every other.
func (ps *producerState) opened(pid, first int64) {
	ps.open++
	ps.openq = append(ps.openq, openTxn{first, pid})
	if len(ps.openq) > 2*ps.open+64 {
		ps.openq = slices.DeleteFunc(ps.openq, ps.stale)
	}
}

// endedTxn is a transaction's first offset and its marker's offset.
type endedTxn struct{ First, Marker int64 }

// abortedTxn is an aborted transaction's range in the log.
type abortedTxn struct {
	ProducerID  int64 `json:"producer_id"`
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"` // the abort marker's offset
}

func newProducerState() *producerState {
	return &producerState{producers: make(map[int64]*producerEntry)}
}

// inSequence reports whether next follows last, wrapping at MaxInt32.
func inSequence(last, next int32) bool {
	return next == last+1 || (next == 0 && last == math.MaxInt32)
}

// check validates a batch from an idempotent producer against the state.
// It returns the batch this one duplicates, if any. A non-transactional
// batch from a producer with a transaction open is INVALID_TXN_STATE, as
// in Kafka's ProducerAppendInfo: read_committed consumers would otherwise
// read it from inside a transaction that may yet be aborted.
func (ps *producerState) check(h *records.Header) (*batchMeta, error) {
	dup, err := ps.checkSequence(h)
	if dup == nil && err == nil && h.HasProducerID() && !h.IsTransactional() {
		if e, ok := ps.producers[h.ProducerID]; ok && e.TxnFirstOffset >= 0 {
			return nil, kerr.InvalidTxnState
		}
	}
	return dup, err
}

// checkSequence validates a batch's epoch and sequence.
func (ps *producerState) checkSequence(h *records.Header) (*batchMeta, error) {
	if !h.HasProducerID() {
		return nil, nil
	}
	// A retry of a batch already written is answered as such first, as
	// in Kafka's UnifiedLog.analyzeAndValidateProducerState.
	if dup := ps.duplicateOf(h); dup != nil {
		return dup, nil
	}
	if err := ps.checkVerified(h); err != nil {
		return nil, err
	}
	e, ok := ps.producers[h.ProducerID]
	known := ok && e.Epoch >= 0
	if known && h.ProducerEpoch < e.Epoch {
		return nil, kerr.InvalidProducerEpoch
	}
	if h.BaseSequence < 0 {
		// Written by a coordinator for the producer (offsets in a
		// transaction): only the epoch is checked, as in Kafka.
		return nil, nil
	}
	if err := ps.checkLowestSequence(h); err != nil {
		return nil, err
	}
	if !known {
		// Unknown producer (new, or expired): accept any sequence (KIP-360).
		return nil, nil
	}
	if h.ProducerEpoch > e.Epoch {
		if h.BaseSequence != 0 {
			return nil, kerr.OutOfOrderSequenceNumber
		}
		return nil, nil
	}
	// At a known epoch with no batch yet (one a marker set, as
	// transaction version 2's bump at every commit or abort does), the
	// last sequence is -1: the epoch starts at 0, as in Kafka's
	// ProducerAppendInfo.checkSequence.
	if !inSequence(e.lastSeq(), h.BaseSequence) {
		return nil, kerr.OutOfOrderSequenceNumber
	}
	return nil, nil
}

// record notes a batch written at [first, last].
func (ps *producerState) record(h *records.Header, first int64, now time.Time) {
	if !h.HasProducerID() {
		return
	}
	e, ok := ps.producers[h.ProducerID]
	if !ok {
		e = &producerEntry{ID: h.ProducerID, Epoch: h.ProducerEpoch, TxnFirstOffset: -1, CoordinatorEpoch: -1}
		ps.producers[h.ProducerID] = e
	}
	if h.ProducerEpoch != e.Epoch {
		e.Epoch, e.Batches = h.ProducerEpoch, nil
	}
	if !h.IsControl() && h.BaseSequence >= 0 {
		e.Batches = append(e.Batches, batchMeta{FirstSeq: h.BaseSequence, LastSeq: h.LastSequence(), FirstOffset: first, LastOffset: first + int64(h.LastOffsetDelta), Timestamp: h.MaxTimestamp})
		if len(e.Batches) > batchesToRetain {
			e.Batches = append(e.Batches[:0], e.Batches[len(e.Batches)-batchesToRetain:]...)
		}
	}
	if h.IsTransactional() && !h.IsControl() && e.TxnFirstOffset < 0 {
		e.TxnFirstOffset = first
		ps.opened(h.ProducerID, first)
	}
	if h.IsTransactional() {
		delete(ps.verifying, h.ProducerID) // the open transaction stands for it now
	}
	e.LastTimestamp = h.MaxTimestamp
	e.LastSeen = now.UnixMilli()
}

// endTxn applies a transaction marker written at offset, with timestamp
// ts, for a producer.
func (ps *producerState) endTxn(pid int64, epoch int16, commit bool, coordinatorEpoch int32, offset, ts int64, now time.Time) {
	e, ok := ps.producers[pid]
	if !ok {
		e = &producerEntry{ID: pid, Epoch: epoch, TxnFirstOffset: -1, CoordinatorEpoch: -1}
		ps.producers[pid] = e
	}
	if epoch > e.Epoch {
		e.Epoch, e.Batches = epoch, nil
	}
	if e.TxnFirstOffset >= 0 {
		if !commit {
			ps.aborted = append(ps.aborted, abortedTxn{ProducerID: pid, FirstOffset: e.TxnFirstOffset, LastOffset: offset})
		}
		ps.ended = append(ps.ended, endedTxn{e.TxnFirstOffset, offset})
		e.TxnFirstOffset = -1
		ps.open--
	}
	e.CoordinatorEpoch = coordinatorEpoch
	e.LastTimestamp = ts
	e.LastSeen = now.UnixMilli()
	delete(ps.verifying, pid) // a verification from before the marker is stale
}

// overlappingAborted returns aborted transactions with records in
// [from, to), sorted by first offset.
func (ps *producerState) overlappingAborted(from, to int64) []abortedTxn {
	var out []abortedTxn
	for _, a := range ps.aborted {
		if a.LastOffset >= from && a.FirstOffset < to {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FirstOffset < out[j].FirstOffset })
	return out
}

// forgetAborted forgets the aborted transactions whose markers, at the
// given offsets, compaction removed with the last of their records.
func (ps *producerState) forgetAborted(markers []int64) {
	gone := make(map[int64]bool, len(markers))
	for _, off := range markers {
		gone[off] = true
	}
	ps.aborted = slices.DeleteFunc(ps.aborted, func(a abortedTxn) bool { return gone[a.LastOffset] })
}

// trimAborted forgets aborted transactions wholly below the log start.
func (ps *producerState) trimAborted(logStart int64) {
	i := 0
	for i < len(ps.aborted) && ps.aborted[i].LastOffset < logStart {
		i++
	}
	ps.aborted = ps.aborted[i:]
}

// trimBelow applies a move of the log start offset to logStart
// (DeleteRecords, retention), as Kafka's UnifiedLog does when it increments
// the log start offset (ProducerStateManager.onLogStartOffsetIncremented
// and maybeIncrementFirstUnstableOffset):
//   - aborted transactions that ended below logStart are forgotten;
//   - an open transaction whose first offset is now below logStart counts
//     as starting at logStart, so the last stable offset is never below the
//     log start offset (Kafka: max(first unstable offset, log start));
//   - producer entries stay, even if their last batch is now below
//     logStart: since KIP-360 Kafka keeps them in memory (only snapshots
//     below the log start are deleted) so a retrying producer is still
//     deduplicated and not told UNKNOWN_PRODUCER_ID.
func (ps *producerState) trimBelow(logStart int64) {
	ps.trimAborted(logStart)
	ps.ended = slices.DeleteFunc(ps.ended, func(t endedTxn) bool { return t.Marker < logStart })
	for i := range ps.ended {
		ps.ended[i].First = max(ps.ended[i].First, logStart)
	}
	for i := range ps.openq {
		t := &ps.openq[i]
		if t.first >= logStart {
			break // the rest start later
		}
		if !ps.stale(*t) {
			ps.producers[t.pid].TxnFirstOffset = logStart
		}
		t.first = logStart
	}
}

// firstUnstable returns the smallest first offset of an open transaction,
// or -1 if none is open.
func (ps *producerState) firstUnstable() int64 {
	i := 0
	for i < len(ps.openq) && ps.stale(ps.openq[i]) {
		i++
	}
	ps.openq = ps.openq[i:] // the array is reclaimed when append moves it
	if len(ps.openq) == 0 {
		return -1
	}
	return ps.openq[0].first
}

// unreplicated drops the ended transactions whose marker is below hw and
// returns a copy of the rest.
func (ps *producerState) unreplicated(hw int64) []endedTxn {
	ps.ended = slices.DeleteFunc(ps.ended, func(t endedTxn) bool { return t.Marker < hw })
	if len(ps.ended) == 0 {
		return nil
	}
	return slices.Clone(ps.ended)
}

// expire drops the producers with no open transaction whose last batch's
// timestamp is at or before cutoff: as Kafka's isProducerExpired, by the
// records' time (a producer writing old timestamps, such as a mirror,
// expires sooner), not by when the broker saw them.
func (ps *producerState) expire(cutoff time.Time) {
	c := cutoff.UnixMilli()
	for id, e := range ps.producers {
		if e.expiredAt(c) {
			delete(ps.producers, id)
		}
	}
	ps.expireVerifications(c)
}

// expiredAt reports whether a producer with no transaction open wrote its
// last batch at or before cutoff (ms), Kafka's isProducerExpired.
func (e *producerEntry) expiredAt(cutoff int64) bool {
	last := e.LastTimestamp
	if last == 0 {
		last = e.LastSeen // a snapshot from before the timestamp was kept
	}
	return e.TxnFirstOffset < 0 && last <= cutoff
}

// rebuildAfterTruncate forgets everything and rebuilds from the newest
// snapshot at or below the log's new end, after the log was truncated
// under the state; with all, after the log was emptied, from nothing.
// expired is producer.id.expiration.ms.
func (ps *producerState) rebuildAfterTruncate(lg *storage.Log, now time.Time, expired time.Duration, all bool) error {
	if all {
		lg.DeleteSnapshots()
	} else {
		lg.DeleteSnapshotsAfter(lg.NextOffset())
	}
	ps.producers, ps.open, ps.openq, ps.aborted, ps.ended = make(map[int64]*producerEntry), 0, nil, nil, nil
	return ps.rebuild(lg, now, expired)
}

// snapshot is the producer state as of a log offset, as stored by
// storage.Log.WriteSnapshot.
type snapshot struct {
	Offset    int64            `json:"offset"`
	Producers []*producerEntry `json:"producers"`
	Aborted   []abortedTxn     `json:"aborted"`
}

// snapshotAt copies the state, which must be the state as of offset (every
// batch below it applied, none above), to be written by write without the
// partition's lock.
func (ps *producerState) snapshotAt(lg *storage.Log, offset int64) *snapshot {
	ps.trimAborted(lg.StartOffset())
	s := &snapshot{Offset: offset, Aborted: slices.Clone(ps.aborted), Producers: make([]*producerEntry, 0, len(ps.producers))}
	for _, e := range ps.producers {
		c := *e
		c.Batches = slices.Clone(e.Batches)
		s.Producers = append(s.Producers, &c)
	}
	return s
}

// write persists a snapshot.
func (s *snapshot) write(lg *storage.Log) error {
	sort.Slice(s.Producers, func(i, j int) bool { return s.Producers[i].ID < s.Producers[j].ID })
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return lg.WriteSnapshot(s.Offset, data)
}

// rebuild loads the newest usable snapshot and replays the log after it.
// A snapshot below the log start offset is not usable, as Kafka's
// ProducerStateManager.truncateAndReload deletes it: the batches between
// it and the log start (DeleteRecords moves the start inside a segment)
// cannot be replayed, and a transaction it has open may have ended there.
// The log is replayed from its start instead. Producers the snapshot
// holds that are past producer.id.expiration.ms (expired) are left out,
// as Kafka's ProducerStateManager.loadFromSnapshot leaves them out.
func (ps *producerState) rebuild(lg *storage.Log, now time.Time, expired time.Duration) error {
	from := lg.StartOffset()
	cutoff := now.Add(-expired).UnixMilli()
	// A snapshot that cannot be read is deleted and the one before it
	// tried, as Kafka's ProducerStateManager.loadFromSnapshot does with a
	// corrupt one: left, a clean shutdown at the same log end would not
	// write another (snapshotProducers), and every start would replay
	// the whole log.
	var s snapshot
	off, data, ok := lg.LatestSnapshot()
	for ok && off >= from {
		s = snapshot{}
		if json.Unmarshal(data, &s) == nil && s.Offset == off {
			break
		}
		lg.DeleteSnapshot(off)
		off, data, ok = lg.LatestSnapshot()
	}
	if ok && off >= from {
		for _, e := range s.Producers {
			if expired > 0 && e.expiredAt(cutoff) {
				continue
			}
			ps.producers[e.ID] = e
			if e.TxnFirstOffset >= 0 {
				ps.open++
				ps.openq = append(ps.openq, openTxn{e.TxnFirstOffset, e.ID})
			}
		}
		slices.SortFunc(ps.openq, func(a, b openTxn) int { return cmp.Compare(a.first, b.first) })
		ps.aborted = s.Aborted
		from = off
	}
	err := lg.Batches(from, lg.NextOffset(), func(b []byte) bool {
		h, err := records.ParseHeader(b)
		if err != nil {
			return false
		}
		ps.replay(&h, b, now)
		return true
	})
	// As Kafka's UnifiedLog clamps the first unstable offset on loading:
	// a transaction open from below the log start counts from there.
	ps.trimBelow(lg.StartOffset())
	return err
}

// replay applies one batch read back from the log.
func (ps *producerState) replay(h *records.Header, b []byte, now time.Time) {
	if !h.HasProducerID() {
		return
	}
	if h.IsControl() {
		cm, err := parseControl(b)
		if err == nil {
			ps.endTxn(h.ProducerID, h.ProducerEpoch, cm.typ == records.ControlCommit, cm.coordinatorEpoch, h.BaseOffset, h.MaxTimestamp, now)
		}
		return
	}
	ps.record(h, h.BaseOffset, now)
}
