package storage

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// retireLocked takes segments out of the log: their files are renamed to
// "*.deleted" at once and closed and removed after FileDeleteDelay, so a
// fetch already reading them finishes.
func (l *Log) retireLocked(segs []*segment) error {
	var errs []error
	for _, s := range segs {
		for _, ext := range []string{".log", ".index", ".timeindex"} {
			p := segmentPath(s.dir, s.base, ext)
			if err := l.fs.Rename(p, p+".deleted"); err != nil && fileExists(l.fs, p) {
				errs = append(errs, err)
			}
		}
		s.seal()
		l.retired = append(l.retired, s)
	}
	l.hasRetired.Store(true)
	return errors.Join(errs...)
}

// PurgeRetired removes the retired segments whose FileDeleteDelay has
// passed; the broker calls it every second, so files go about when
// file.delete.delay.ms says, as Kafka schedules each deletion
// (LocalLog.deleteSegmentFiles). A log with none retired costs a load.
func (l *Log) PurgeRetired(now time.Time) {
	if !l.hasRetired.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	keep := l.retired[:0]
	for _, s := range l.retired {
		if now.Sub(s.created) < 0 { // retired time is stored in created
			keep = append(keep, s)
			continue
		}
		l.removeRetired(s)
	}
	l.retired = keep
	l.hasRetired.Store(len(keep) > 0)
}

func (l *Log) purgeRetiredLocked() {
	for _, s := range l.retired {
		l.removeRetired(s)
	}
	l.retired = nil
	l.hasRetired.Store(false)
}

func (l *Log) removeRetired(s *segment) {
	s.close()
	for _, ext := range []string{".log", ".index", ".timeindex"} {
		l.fs.Remove(segmentPath(s.dir, s.base, ext) + ".deleted")
	}
}

// deleteFirstLocked retires the first n segments, rolling first if that is
// every segment, and moves the log start offset up.
func (l *Log) deleteFirstLocked(n int) error {
	if n <= 0 {
		return nil
	}
	if n >= len(l.segments) {
		if _, err := l.rollLocked(l.nextOffsetLocked()); err != nil {
			return err
		}
		n = len(l.segments) - 1
	}
	gone := append([]*segment(nil), l.segments[:n]...)
	for _, s := range gone {
		s.created = l.now().Add(l.cfg.FileDeleteDelay) // when to purge
	}
	l.segments = append(l.segments[:0:0], l.segments[n:]...)
	l.startOffset = max(l.startOffset, l.segments[0].base)
	l.epochs.truncateFromStart(l.startOffset)
	return errors.Join(l.retireLocked(gone), l.epochs.flush())
}

// ApplyRetention deletes whole segments past retention.ms (by their largest
// timestamp), past retention.bytes (oldest first), or wholly below the log
// start offset. Only offsets below hw are eligible, so nothing a consumer
// may not yet have seen is removed. It returns how many were deleted.
func (l *Log) ApplyRetention(now time.Time, hw int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, nil
	}
	var total int64
	for _, s := range l.segments {
		total += s.size
	}
	n := 0
	for n < len(l.segments) {
		s := l.segments[n]
		last := n == len(l.segments)-1
		// A segment reaches up to the next one's base: compaction may
		// leave it shorter than its offsets (or empty).
		end := s.next
		if !last {
			end = l.segments[n+1].base
		}
		// As Kafka's deletableSegments: only if that is below the high
		// watermark, so that the log start, moving to the next base,
		// never passes it; and an empty active segment stays.
		if end > hw || last && s.size == 0 {
			break
		}
		byStart := !last && end <= l.startOffset
		byTime := l.cfg.RetentionMs >= 0 && now.UnixMilli()-l.largestTimestamp(s) > l.cfg.RetentionMs
		bySize := l.cfg.RetentionBytes >= 0 && total-s.size >= l.cfg.RetentionBytes
		if !byStart && !byTime && !bySize {
			break
		}
		total -= s.size
		n++
	}
	return n, l.deleteFirstLocked(n)
}

// largestTimestamp is what time retention measures a segment by, as
// Kafka's LogSegment.largestTimestamp: its largest record timestamp, or,
// if it holds none (empty, emptied by compaction, or of batches without
// timestamps), its file's last modification.
func (l *Log) largestTimestamp(s *segment) int64 {
	if s.maxTs >= 0 {
		return s.maxTs
	}
	fi, err := l.fs.Stat(segmentPath(s.dir, s.base, ".log"))
	if err != nil {
		return math.MaxInt64 // unknown: not expired
	}
	return fi.ModTime().UnixMilli()
}

// DeleteRecordsBefore moves the log start offset up to off (DeleteRecords)
// and drops the segments wholly below it.
func (l *Log) DeleteRecordsBefore(off int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if off > l.nextOffsetLocked() {
		return ErrOffsetOutOfRange
	}
	if off <= l.startOffset {
		return nil
	}
	l.startOffset = off
	n := 0
	// The active segment stays, wholly below the start or not, as in
	// Kafka (deleteLogStartOffsetBreachedSegments deletes a segment only
	// when the next one's base is at or below the log start): it goes
	// once it has rolled, or by time or size retention.
	for n < len(l.segments)-1 && l.segments[n+1].base <= off {
		n++
	}
	if n == 0 {
		// The start moved inside the first segment: no segment goes, but
		// the leader epoch cache still starts at the new log start, as
		// Kafka's LeaderEpochFileCache.truncateFromStart does whenever the
		// log start offset moves.
		l.epochs.truncateFromStart(l.startOffset)
		return l.epochs.flush()
	}
	return l.deleteFirstLocked(n)
}

// TruncateTo removes every batch holding an offset at or above off, so the
// log ends at or below off (at a batch boundary), as a follower does when
// its tail diverged from the leader's.
func (l *Log) TruncateTo(off int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if next := l.nextOffsetLocked(); off >= next {
		// Nothing to cut, but an epoch starting at the log's end goes
		// (Kafka's UnifiedLog.truncateTo): a leader records its epoch
		// when it takes over, and if it appended nothing before the
		// next leader, that epoch is known to no other replica. Kept,
		// it is what this replica, now following, names as its last
		// fetched epoch on every fetch, and the leader's answer (diverge
		// at this same end) would never move it.
		l.epochs.truncateFromEnd(next)
		return l.epochs.flush()
	}
	if off <= l.startOffset {
		return l.truncateFullyLocked(off)
	}
	i := l.segmentFor(off)
	var drop []*segment
	for _, s := range l.segments[i+1:] {
		drop = append(drop, s)
	}
	l.segments = l.segments[:i+1]
	for _, s := range drop {
		if err := s.remove(); err != nil {
			return err
		}
	}
	s := l.segments[i]
	if err := l.truncateSegment(s, off); err != nil {
		return err
	}
	l.recoveryPoint = min(l.recoveryPoint, s.next)
	// What is appended from here on is dirty (Kafka's LogManager.truncateTo
	// truncates the cleaner's checkpoint to the active segment's base).
	l.cleanedTo = min(l.cleanedTo, s.base)
	l.epochs.truncateFromEnd(s.next)
	return l.epochs.flush()
}

// truncateSegment cuts s at the batch holding off and rebuilds its tail
// state by rescanning it.
func (l *Log) truncateSegment(s *segment, off int64) error {
	b, err := s.find(off, s.size)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	if s.log.shared() {
		// A response is sending from this file: cut a copy instead,
		// so it sends the bytes it advertised (section.go).
		if err := s.replaceTruncated(b.pos); err != nil {
			return err
		}
	} else if err := s.log.Truncate(b.pos); err != nil {
		return err
	}
	s.size = b.pos
	if !s.index.active {
		s.index.active, s.times.active = true, true
		if err := s.index.loadMem(); err != nil {
			return err
		}
		if err := s.times.loadMem(); err != nil {
			return err
		}
	}
	if _, err := l.recoverSegment(s, false, math.MaxInt64); err != nil {
		return fmt.Errorf("rescanning truncated segment: %w", err)
	}
	return nil
}

// TruncateFullyAndStartAt empties the log and starts it again at off, as a
// follower does when the leader's log starts past its end.
func (l *Log) TruncateFullyAndStartAt(off int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.truncateFullyLocked(off)
}

func (l *Log) truncateFullyLocked(off int64) error {
	for _, s := range l.segments {
		if err := s.remove(); err != nil {
			return err
		}
	}
	s, err := openSegment(l.fs, l.dir, off, true, l.now())
	if err != nil {
		return err
	}
	l.segments = []*segment{s}
	l.startOffset, l.recoveryPoint = off, off
	l.cleanedTo = min(l.cleanedTo, off)
	l.epochs.entries, l.epochs.dirty = nil, true
	return errors.Join(l.epochs.flush(), l.fs.SyncDir(l.dir))
}
