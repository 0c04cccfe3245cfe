package storage

import (
	"errors"
	"io"

	"gregor/broker/records"
)

// errFound stops a record iteration early.
var errFound = errors.New("found")

// OffsetForTimestamp returns the first offset below limit whose record has
// a timestamp at or after ts, with that record's timestamp.
func (l *Log) OffsetForTimestamp(ts, limit int64) (off, recTs int64, ok bool, err error) {
	var suspect []*segment
	defer func() { l.repairIndexes(suspect...) }()
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range l.segments {
		if s.maxTs < ts || s.base >= limit {
			continue
		}
		start, err := s.timeStart(ts)
		if err == nil {
			off, recTs, ok, err = l.scanForTimestamp(s, max(start, l.startOffset), ts, limit)
		}
		if s.indexSuspect.Load() {
			suspect = append(suspect, s)
		}
		if err != nil || ok {
			return off, recTs, ok, err
		}
	}
	return -1, -1, false, nil
}

// scanForTimestamp finds, from offset start in s, the first record with a
// timestamp at or after ts.
func (l *Log) scanForTimestamp(s *segment, start, ts, limit int64) (int64, int64, bool, error) {
	b, err := s.find(start, s.size)
	sc := scanner{s: s, end: s.size}
	for {
		if err == io.EOF {
			return 0, 0, false, nil
		}
		if err != nil {
			return 0, 0, false, err
		}
		if b.base >= limit {
			return 0, 0, false, nil
		}
		if b.hdr.MaxTimestamp >= ts {
			off, recTs, ok, err := recordAtOrAfter(s, b, ts, func(o int64) bool { return o >= start && o < limit })
			if err != nil || ok {
				return off, recTs, ok, err
			}
		}
		b, err = sc.at(b.pos + b.size)
	}
}

// recordAtOrAfter reads batch b and returns its first record (accepted by
// keep) with a timestamp at or after ts.
func recordAtOrAfter(s *segment, b batchAt, ts int64, keep func(int64) bool) (int64, int64, bool, error) {
	buf := make([]byte, b.size)
	if _, err := s.log.ReadAt(buf, b.pos); err != nil {
		return 0, 0, false, err
	}
	logAppend := b.hdr.Attributes&records.AttrLogAppendTime != 0
	var off, recTs int64
	found := false
	err := records.Each(buf, func(r *records.Record) error {
		o := b.base + int64(r.OffsetDelta)
		t := b.hdr.FirstTimestamp + r.TimestampDelta
		if logAppend {
			t = b.hdr.MaxTimestamp
		}
		if t >= ts && keep(o) {
			off, recTs, found = o, t, true
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return 0, 0, false, err
	}
	return off, recTs, found, nil
}

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp in the log (ListOffsets -3), or ok false if the log
// is empty or that record is not below limit (not yet fetchable), as
// Kafka's fetchOffsetByTimestamp takes the log's maximum and answers no
// offset when it is past the last fetchable one.
func (l *Log) MaxTimestamp(limit int64) (off, ts int64, ok bool, err error) {
	var best *segment
	defer func() {
		if best != nil && best.indexSuspect.Load() {
			l.repairIndexes(best)
		}
	}()
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range l.segments {
		if s.maxTs >= 0 && (best == nil || s.maxTs > best.maxTs) {
			best = s
		}
	}
	if best == nil {
		return -1, -1, false, nil
	}
	b, err := best.find(best.maxTsOff, best.size)
	if err != nil {
		return 0, 0, false, err
	}
	off, ts, ok, err = recordAtOrAfter(best, b, best.maxTs, func(int64) bool { return true })
	if err == nil && !ok {
		off, ts, ok = b.last, best.maxTs, true
	}
	if err == nil && off >= limit {
		return -1, -1, false, nil
	}
	return off, ts, ok, err
}

// LatestEpoch returns the newest leader epoch in the log, or -1.
func (l *Log) LatestEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.latest()
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch for this log.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.endOffsetFor(epoch, l.nextOffsetLocked())
}

// Epochs returns a copy of the leader epoch cache.
func (l *Log) Epochs() []EpochEntry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]EpochEntry(nil), l.epochs.entries...)
}

// SetEpochs replaces the leader epoch cache with entries (those of the
// log this one is a complete copy of, which may name epochs no batch
// carries yet) and writes it.
func (l *Log) SetEpochs(entries []EpochEntry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epochs.entries = append([]EpochEntry(nil), entries...)
	l.epochs.truncateFromStart(l.startOffset)
	l.epochs.dirty = true
	return l.epochs.flush()
}

// AssignEpoch records that epoch starts at offset (a new leader does this
// when it takes over, before it appends). The checkpoint file is written
// with the first record appended under the epoch (Append writes it before
// the records), or by the next other change to the log. Kafka
// writes it at once, so that the file never misses the epoch of a record
// in the log; written before the epoch's first append, it misses none
// either, and an epoch without records answers OffsetsForLeaderEpoch as
// the one before it does (the log end). A broker taking over thousands of
// partitions (a restart, a failover) created and fsynced as many files
// before it led them: a third of a 3,000-partition restart's CPU.
func (l *Log) AssignEpoch(epoch int32, offset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epochs.assign(epoch, offset)
}

// EpochForOffset returns the leader epoch under which offset was written:
// the newest epoch starting at or before it, or -1.
func (l *Log) EpochForOffset(offset int64) int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e := int32(-1)
	for _, en := range l.epochs.entries {
		if en.StartOffset > offset {
			break
		}
		e = en.Epoch
	}
	return e
}

// LegacyOffsetsBefore answers ListOffsets v0, which predates record
// timestamps, by segments as Kafka's UnifiedLog.legacyFetchOffsetsBefore:
// each segment stands for its base offset (at least the log start) at its
// file's last modification, and a non-empty active segment adds the log
// end at now. ts -1 starts from the last of these, -2 from the first,
// another value from the last modified at or before ts; up to maxOffsets
// are returned from there back to the first, in descending order.
func (l *Log) LegacyOffsetsBefore(ts int64, maxOffsets int) []int64 {
	type point struct {
		off, at int64
		path    string // the segment file whose time it takes; "" for now
	}
	l.mu.RLock()
	points := make([]point, 0, len(l.segments)+1)
	for _, s := range l.segments {
		points = append(points, point{off: max(s.base, l.startOffset), path: segmentPath(s.dir, s.base, ".log")})
	}
	if last := l.segments[len(l.segments)-1]; last.size > 0 {
		points = append(points, point{off: last.next, at: l.now().UnixMilli()})
	}
	l.mu.RUnlock()
	// The files' times are read without the lock: appends need not wait
	// for a stat of every segment.
	for i := range points {
		if points[i].path == "" {
			continue
		}
		if fi, err := l.fs.Stat(points[i].path); err == nil {
			points[i].at = fi.ModTime().UnixMilli()
		}
	}
	from := len(points) - 1
	switch ts {
	case -1:
	case -2:
		from = 0
	default:
		for from >= 0 && points[from].at > ts {
			from--
		}
	}
	out := []int64{}
	for i := from; i >= 0 && len(out) < maxOffsets; i-- {
		out = append(out, points[i].off)
	}
	return out
}
