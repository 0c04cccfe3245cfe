package storage

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"gregor/broker/records"
)

// Errors returned by Log operations.
var (
	ErrOffsetOutOfRange = errors.New("offset out of range")
	ErrClosed           = errors.New("log closed")
)

// Config is a log's tunables (topic-level, with broker defaults filled in).
type Config struct {
	SegmentBytes int64
	SegmentRoll  time.Duration // roll a segment this old (segment.ms)
	// SegmentJitter is segment.jitter.ms: each segment rolls up to this
	// much (at random, below SegmentRoll) before SegmentRoll, so that
	// partitions made together do not all roll at once.
	SegmentJitter time.Duration
	// IndexBytes is segment.index.bytes: a segment rolls once its offset
	// or time index holds this many bytes of entries (0: no limit).
	IndexBytes         int64
	IndexIntervalBytes int64
	RetentionBytes     int64 // -1: unlimited
	RetentionMs        int64 // -1: unlimited
	FlushMessages      int64 // fsync after this many messages; <= 0 never
	FlushInterval      time.Duration
	FileDeleteDelay    time.Duration
}

// DefaultConfig is Kafka's broker defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentRoll:        7 * 24 * time.Hour,
		IndexIntervalBytes: 4096,
		RetentionBytes:     -1,
		RetentionMs:        7 * 24 * 3600 * 1000,
		FlushMessages:      -1,
		FileDeleteDelay:    time.Minute,
	}
}

// AppendInfo describes batches the caller has stamped with offsets.
type AppendInfo struct {
	First, Last      int64 // first and last offset of the appended batches
	MaxTimestamp     int64 // largest batch max timestamp
	OffsetOfMaxTs    int64 // last offset of the batch carrying it
	Messages         int64 // records, for log.flush.interval.messages
	LeaderEpoch      int32 // epoch stamped on the batches; -1 if none
	FirstBatchOffset int64 // base offset of the first batch (epoch start)
}

// OpenOptions says what a log dir knows about a log before it is opened.
type OpenOptions struct {
	Clean         bool  // the previous run shut down cleanly
	RecoveryPoint int64 // offsets below were fsynced
	StartOffset   int64 // checkpointed log start offset
	// CleanedTo is the checkpointed first dirty offset: compaction
	// covered the offsets below (0: never compacted).
	CleanedTo int64
	// Clock is the time source for rolling, flushing and deleting
	// segments; nil is time.Now.
	Clock func() time.Time
}

// Log is one partition replica's log. Its lock mu guards the fields below
// it; appends are additionally serialised by the caller (the partition),
// which assigns offsets.
type Log struct {
	fs  FS
	dir string
	log zerolog.Logger

	mu            sync.RWMutex
	cfg           Config
	segments      []*segment // by base offset; the last is active
	startOffset   int64
	recoveryPoint int64
	unflushed     int64
	lastFlush     time.Time
	now           func() time.Time
	epochs        *epochCache
	retired       []*segment // renamed to .deleted, closed later
	// hasRetired is whether retired holds any (read without mu, so the
	// broker's purge pass skips logs with nothing to remove).
	hasRetired atomic.Bool
	cleanedTo  int64 // compaction has covered offsets below
	closed     bool
	// rolled are sealed segments not yet fsynced, oldest first. A roll
	// queues the old segment for a background flusher rather than
	// syncing a whole segment on the append path (Kafka's flush-log
	// task); the recovery point passes a segment once it is synced.
	rolled []*segment
	// dirDirty says a segment file was created since the directory was
	// last synced; flushing says the flusher goroutine runs.
	dirDirty, flushing bool
	// openSnaps are the producer snapshots Open listed, answered once
	// by listSnapshots (start-up lists each directory once).
	openSnaps []int64

	// snapMu orders snapshot writes (written in the background, without
	// mu) with Delete: once snapGone is set, none lands in the directory,
	// which a topic recreated under the same name may own by then.
	snapMu   sync.Mutex
	snapGone bool
}

// Open opens or creates the log in dir, recovering it as doc.go describes.
func Open(fs FS, dir string, cfg Config, opt OpenOptions, logger zerolog.Logger) (*Log, error) {
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	now := opt.Clock
	if now == nil {
		now = time.Now
	}
	l := &Log{fs: fs, dir: dir, cfg: cfg, log: logger, now: now, lastFlush: now(), recoveryPoint: opt.RecoveryPoint}
	var err error
	if l.epochs, err = loadEpochs(fs, dir); err != nil {
		return nil, err
	}
	bases, err := l.listSegments()
	if err != nil {
		return nil, err
	}
	if err := l.load(bases, opt); err != nil {
		l.closeSegments()
		return nil, err
	}
	if err := l.settleOffsets(opt); err != nil {
		l.closeSegments()
		return nil, err
	}
	return l, nil
}

// settleOffsets sets the log start offset and the recovery point of a
// loaded log, as Kafka's LogLoader.recoverLog and load do. A log ending
// below its checkpointed start (its segments lost) is emptied and starts
// again there (deleteSegmentsIfLogStartGreaterThanLogEnd): its offsets are
// not handed out a second time. The recovery point is the log end after a
// clean shutdown, and never past it otherwise.
func (l *Log) settleOffsets(opt OpenOptions) error {
	emptied := false
	if leo := l.nextOffsetLocked(); opt.StartOffset > leo {
		l.log.Warn().Str("dir", l.dir).Int64("log_end_offset", leo).Int64("log_start_offset", opt.StartOffset).
			Msg("deleting every segment: the log ends below its log start offset (segment files lost?)")
		if err := l.truncateFullyLocked(opt.StartOffset); err != nil {
			return err
		}
		for _, off := range l.openSnaps {
			l.fs.Remove(l.snapshotPath(off)) // they describe the lost log
		}
		l.openSnaps = []int64{}
		emptied = true
	}
	l.startOffset = max(opt.StartOffset, l.segments[0].base)
	leo := l.nextOffsetLocked()
	l.recoveryPoint = min(opt.RecoveryPoint, leo)
	if opt.Clean && !emptied {
		l.recoveryPoint = leo
	}
	// Where the last compaction pass ended, so that a restart does not
	// count the whole log dirty again; past the log end (its tail lost)
	// it is not trusted (Kafka's LogCleanerManager.cleanableOffsets).
	if opt.CleanedTo <= leo && !emptied {
		l.cleanedTo = opt.CleanedTo
	}
	recovered := l.epochs.dirty // rebuilt or added to by recovery
	l.epochs.truncateFromEnd(leo)
	// The leader epoch cache starts at the log start: a crash may have
	// come before its truncation reached the disk (Kafka's
	// LogLoader.load truncates it from the start likewise).
	l.epochs.truncateFromStart(l.startOffset)
	if recovered {
		// Entries recovery added from the log: a later load may not
		// scan those batches again.
		return l.epochs.flush()
	}
	// What the load only dropped is written with the next change to the
	// log (an append, a truncation, a retention, an epoch assigned):
	// until then a load drops the same entries again, from the same
	// log. As Kafka's LogLoader (truncateFromEndAsyncFlush), an idle
	// partition's open writes no file: a restart of 3,000 empty
	// partitions spent a quarter of its time writing them.
	return nil
}

// listSegments removes leftovers of interrupted operations and returns the
// base offsets of the segments present.
func (l *Log) listSegments() ([]int64, error) {
	ents, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	// A compacted segment renamed to .swap is complete: finish the swap
	// (its indexes are rebuilt when the segment loads).
	swapped := false
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".log.swap") {
			continue
		}
		final := l.dir + "/" + strings.TrimSuffix(name, ".swap")
		base := strings.TrimSuffix(final, ".log")
		next, ok := validSwap(l.fs, l.dir+"/"+name)
		if !ok {
			l.log.Warn().Str("file", name).Msg("discarding an unreadable compaction swap file")
			l.fs.Remove(l.dir + "/" + name)
			continue
		}
		l.fs.Remove(base + ".index")
		l.fs.Remove(base + ".timeindex")
		if err := l.fs.Rename(l.dir+"/"+name, final); err != nil {
			return nil, err
		}
		// The segments merged into it that the swap had not yet retired.
		first, _ := strconv.ParseInt(strings.TrimSuffix(name, ".log.swap"), 10, 64)
		for _, e := range ents {
			b, err := strconv.ParseInt(strings.TrimSuffix(e.Name(), ".log"), 10, 64)
			if !strings.HasSuffix(e.Name(), ".log") || err != nil || b <= first || b >= next {
				continue
			}
			for _, ext := range []string{".log", ".index", ".timeindex"} {
				if err := l.fs.Remove(segmentPath(l.dir, b, ext)); err != nil && !os.IsNotExist(err) {
					return nil, err
				}
			}
		}
		swapped = true
		l.log.Info().Str("file", name).Msg("completed an interrupted compaction swap")
	}
	if swapped {
		if ents, err = l.fs.ReadDir(l.dir); err != nil {
			return nil, err
		}
	}
	var bases []int64
	l.openSnaps = snapshotOffsets(ents)
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".deleted") || strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".cleaned") || strings.HasSuffix(name, ".swap") {
			l.fs.Remove(l.dir + "/" + name)
			continue
		}
		if !strings.HasSuffix(name, ".log") {
			continue
		}
		base, err := strconv.ParseInt(strings.TrimSuffix(name, ".log"), 10, 64)
		if err != nil || base < 0 {
			l.log.Warn().Str("file", name).Msg("ignoring file that is not a segment")
			continue
		}
		bases = append(bases, base)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	l.removeOrphanIndexes(ents, bases)
	return bases, nil
}

// removeOrphanIndexes deletes index files whose segment has no .log (a
// crash between the unlinks of a segment's files), as Kafka's
// LogLoader.loadSegmentFiles does: a segment made later at that base
// would otherwise take their entries for its own.
func (l *Log) removeOrphanIndexes(ents []os.DirEntry, bases []int64) {
	for _, e := range ents {
		name := e.Name()
		stem, ok := strings.CutSuffix(name, ".index")
		if !ok {
			stem, ok = strings.CutSuffix(name, ".timeindex")
		}
		base, err := strconv.ParseInt(stem, 10, 64)
		if !ok || err != nil {
			continue
		}
		if i := sort.Search(len(bases), func(i int) bool { return bases[i] >= base }); i < len(bases) && bases[i] == base {
			continue
		}
		l.log.Warn().Str("file", name).Str("dir", l.dir).Msg("deleting an index file whose segment has no log file")
		l.fs.Remove(l.dir + "/" + name)
	}
}

// load opens every segment, recovering those that need it. After the first
// segment that had to be truncated, the rest are deleted.
func (l *Log) load(bases []int64, opt OpenOptions) error {
	if len(bases) == 0 {
		s, err := openSegment(l.fs, l.dir, opt.StartOffset, true, l.now())
		if err != nil {
			return err
		}
		l.segments = []*segment{s}
		return nil
	}
	for i, base := range bases {
		last := i == len(bases)-1
		s, err := openSegment(l.fs, l.dir, base, last, l.now())
		if err != nil {
			return err
		}
		l.segments = append(l.segments, s)
		nextBase := int64(-1)
		if !last {
			nextBase = bases[i+1]
		}
		needScan := !opt.Clean && (nextBase < 0 || nextBase > opt.RecoveryPoint)
		limit := int64(math.MaxInt64)
		if !last {
			limit = nextBase
		}
		truncated, err := l.loadSegment(s, needScan, last, limit)
		if err != nil {
			return err
		}
		if truncated && needScan {
			return l.dropSegmentsAfter(i, bases)
		}
		if truncated {
			// A segment that needed no recovery (fsynced, below the
			// recovery point, or after a clean shutdown) but whose
			// indexes had to be rebuilt, cut at a bad batch the
			// rebuild met: only it loses bytes, as Kafka's
			// LogLoader.loadSegmentFiles recovers such a segment; the
			// later segments were fsynced too and stay.
			l.log.Warn().Int64("segment", base).Str("dir", l.dir).Int64("next_offset", s.next).
				Msg("a segment below the recovery point held a bad batch; later segments kept")
		}
	}
	return nil
}

// dropSegmentsAfter deletes the segments after index i (which was found
// torn) and makes segment i the active one.
func (l *Log) dropSegmentsAfter(i int, bases []int64) error {
	for _, base := range bases[i+1:] {
		s := &segment{fs: l.fs, dir: l.dir, base: base}
		l.log.Warn().Int64("segment", base).Msg("deleting segment after a torn one")
		if err := s.remove(); err != nil {
			return err
		}
	}
	s := l.segments[i]
	if !s.index.active {
		s.index.active, s.times.active = true, true
		if err := s.index.loadMem(); err != nil {
			return err
		}
		return s.times.loadMem()
	}
	return nil
}

// loadSegment recovers s if asked to or if its indexes look wrong, and
// otherwise reads its end offset and timestamps from the index tails.
// Indexes not rebuilt are sanity-checked as Kafka does on open: entries in
// order and inside the log (validateOffsets, validateTimes), and the last
// entry of each pointing at the batch it names; a failed check rebuilds
// both from the log, with a warning.
func (l *Log) loadSegment(s *segment, scan, active bool, limit int64) (truncated bool, err error) {
	if !scan {
		if err := l.checkOffsetIndex(s); err != nil {
			l.log.Warn().Err(err).Int64("segment", s.base).Str("dir", l.dir).Msg("rebuilding index")
			scan = true
		}
	}
	if !scan && s.index.n == 0 && s.size > 0 {
		scan = true // a missing or emptied index is rebuilt
	}
	if scan {
		return l.recoverSegment(s, false, limit)
	}
	if active {
		// The active segment's end is found by scanning from its last
		// index entry, which also checks its tail.
		truncated, err = l.recoverSegment(s, true, limit)
		if err == nil && s.firstTs < 0 && s.size > 0 {
			// segment.ms counts from the first batch's timestamp.
			sc := newScanner(s, s.size)
			if b, err := sc.at(0); err == nil {
				s.firstTs = b.hdr.MaxTimestamp
			}
			sc.free()
		}
	} else if err = l.loadSealedTail(s, limit); errors.Is(err, errTorn) {
		// Bytes past the last index entry that are no batch of this
		// segment (torn, or offsets out of its range): the segment is
		// recovered as one without an index.
		l.log.Warn().Err(err).Int64("segment", s.base).Str("dir", l.dir).Msg("rebuilding index")
		return l.recoverSegment(s, false, limit)
	}
	if err != nil || truncated {
		return truncated, err
	}
	if err := l.checkTimeIndex(s); err != nil {
		l.log.Warn().Err(err).Int64("segment", s.base).Str("dir", l.dir).Msg("rebuilding index")
		return l.recoverSegment(s, false, limit)
	}
	if s.indexSuspect.Load() { // a lookup made by the checks found a bad entry
		l.log.Warn().Int64("segment", s.base).Str("dir", l.dir).Msg("rebuilding index: an entry does not match the log")
		return l.recoverSegment(s, false, limit)
	}
	return false, nil
}

// checkOffsetIndex is the offset index's check on open.
func (l *Log) checkOffsetIndex(s *segment) error {
	if err := s.index.validateOffsets(s.size); err != nil {
		return err
	}
	e, ok, err := s.index.last()
	if err != nil || !ok {
		return err
	}
	rel, pos := offsetEntry(e)
	if !s.entryHolds(s.base+int64(rel), int64(pos)) {
		return fmt.Errorf("offset index entry (%d, %d) does not name a batch of the log", rel, pos)
	}
	return nil
}

// checkTimeIndex is the time index's check on open, once the segment's
// end is known.
func (l *Log) checkTimeIndex(s *segment) error {
	if err := s.times.validateTimes(s.next - s.base); err != nil {
		return err
	}
	e, ok, err := s.times.last()
	if err != nil || !ok {
		return err
	}
	ts, rel := timeEntry(e)
	if !s.timeEntryHolds(ts, s.base+int64(rel)) {
		return fmt.Errorf("time index entry (%d, %d) does not name a batch of the log", ts, rel)
	}
	return nil
}

// loadSealedTail finds a sealed segment's end offset and max timestamp by
// scanning from its last index entry.
func (l *Log) loadSealedTail(s *segment, limit int64) error {
	pos := int64(0)
	if e, ok, err := s.index.last(); err != nil {
		return err
	} else if ok {
		_, p := offsetEntry(e)
		pos = int64(p)
	}
	if e, ok, err := s.times.last(); err != nil {
		return err
	} else if ok {
		ts, rel := timeEntry(e)
		s.maxTs, s.maxTsOff = ts, s.base+int64(rel)
	}
	sc := scanner{s: s, end: s.size}
	for {
		b, err := sc.at(pos)
		if err == io.EOF {
			return nil
		}
		if err == nil && (b.base < s.next || !s.holds(b.last, limit)) {
			err = fmt.Errorf("%w: offsets %d to %d at position %d", errTorn, b.base, b.last, pos)
		}
		if err != nil {
			return fmt.Errorf("segment %d of %s: %w", s.base, l.dir, err)
		}
		s.next = b.last + 1
		if b.hdr.MaxTimestamp > s.maxTs {
			s.maxTs, s.maxTsOff = b.hdr.MaxTimestamp, b.last
		}
		pos += b.size
	}
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// NextOffset is the log end offset (LEO).
func (l *Log) NextOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.nextOffsetLocked()
}

func (l *Log) nextOffsetLocked() int64 { return l.segments[len(l.segments)-1].next }

// StartOffset is the log start offset.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.startOffset
}

// Size is the total bytes in the log's segments.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segments {
		n += s.size
	}
	return n
}

// CleanedTo returns the offset compaction has covered the log below (its
// first dirty offset), for the cleaner's checkpoint.
func (l *Log) CleanedTo() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cleanedTo
}

// RecoveryPoint is the offset below which the log is fsynced.
func (l *Log) RecoveryPoint() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.recoveryPoint
}

// SetConfig changes the log's tunables (an AlterConfigs on its topic).
func (l *Log) SetConfig(cfg Config) {
	l.mu.Lock()
	l.cfg = cfg
	l.mu.Unlock()
}

// Append writes batches whose offsets the caller assigned starting at
// NextOffset, or past it: a copy of a compacted log (a follower's) keeps
// the gaps its batches have. It rolls the active segment first if it is
// full or old.
func (l *Log) Append(b []byte, ai AppendInfo) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if next := l.nextOffsetLocked(); ai.First < next {
		return fmt.Errorf("append at offset %d but log ends at %d", ai.First, next)
	}
	active := l.segments[len(l.segments)-1]
	if !active.fits(len(b), ai.Last, l.cfg.SegmentBytes) || active.rollDue(l.now(), ai.MaxTimestamp, l.cfg.SegmentRoll-active.jitter(l.cfg.SegmentJitter, l.cfg.SegmentRoll)) ||
		active.indexesFull(l.cfg.IndexBytes) {
		var err error
		if active, err = l.rollLocked(ai.First); err != nil {
			return err
		}
	}
	// The leader epoch checkpoint is written before the records, as
	// Kafka's UnifiedLog.append assigns the epoch first: a write of it
	// that fails leaves no record behind (the produce fails, and its
	// retry must not find a copy in the log). It holds the epoch of these
	// records (a new leader's is written with its first append) and loses
	// what the load dropped (settleOffsets) before the records make a
	// stale entry look current. An entry left without records by an
	// append that fails is harmless: it starts at the log end, and a
	// load drops it.
	if ai.LeaderEpoch >= 0 && ai.LeaderEpoch > l.epochs.latest() {
		l.epochs.assign(ai.LeaderEpoch, ai.FirstBatchOffset)
	}
	if err := l.epochs.flush(); err != nil {
		return err
	}
	if err := active.append(b, appendInfo{first: ai.First, last: ai.Last, maxTs: ai.MaxTimestamp, maxTsOff: ai.OffsetOfMaxTs}, l.cfg.IndexIntervalBytes); err != nil {
		return err
	}
	l.unflushed += ai.Messages
	return l.maybeFlushLocked()
}

func (l *Log) maybeFlushLocked() error {
	due := l.cfg.FlushMessages > 0 && l.unflushed >= l.cfg.FlushMessages
	due = due || l.cfg.FlushInterval > 0 && l.unflushed > 0 && l.now().Sub(l.lastFlush) >= l.cfg.FlushInterval
	if !due {
		return nil
	}
	return l.flushLocked()
}

// FlushStats count the logs' flushes of their active segment (by
// log.flush.interval.messages/ms or an explicit Flush) and the time they
// took, across every log: Kafka's LogFlushStats.LogFlushRateAndTimeMs.
var FlushStats struct {
	Count, Nanos atomic.Uint64
}

func (l *Log) flushLocked() error {
	start := time.Now()
	if err := l.syncRolledLocked(); err != nil {
		return err
	}
	if err := l.segments[len(l.segments)-1].sync(); err != nil {
		return err
	}
	FlushStats.Count.Add(1)
	FlushStats.Nanos.Add(uint64(time.Since(start)))
	l.unflushed, l.lastFlush = 0, l.now()
	l.recoveryPoint = l.nextOffsetLocked()
	return nil
}

// Flush fsyncs the active segment.
func (l *Log) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	return l.flushLocked()
}

// FlushIfDue fsyncs when log.flush.interval.ms has passed with unflushed
// messages; the broker calls it periodically.
func (l *Log) FlushIfDue() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	return l.maybeFlushLocked()
}

// rollLocked seals the active segment and starts one at base.
func (l *Log) rollLocked(base int64) (*segment, error) {
	old := l.segments[len(l.segments)-1]
	if old.size == 0 && old.base == base {
		return old, nil
	}
	if old.size == 0 {
		// An empty active segment at a different base: replace it.
		if err := old.remove(); err != nil {
			return nil, err
		}
		l.segments = l.segments[:len(l.segments)-1]
	} else {
		old.seal()
		l.rolled = append(l.rolled, old)
	}
	s, err := openSegment(l.fs, l.dir, base, true, l.now())
	if err != nil {
		return nil, err
	}
	if s.size != 0 {
		s.close()
		return nil, fmt.Errorf("new segment %d in %s already has data", base, l.dir)
	}
	l.segments = append(l.segments, s)
	l.dirDirty = true
	if !l.flushing {
		l.flushing = true
		go l.flushRolled()
	}
	return s, nil
}

// flushSlots bounds the background flushes syncing at once across every
// log (Kafka runs them on background.threads): an fsync holds an OS thread,
// and many partitions rolling together must not each hold one.
var flushSlots = make(chan struct{}, 8)

// flushRolled is the background flusher: it fsyncs the rolled segments
// and the directory without the log's lock (appends and reads go on), then
// moves the recovery point past each segment still in the log. A segment
// that failed to sync stays queued, with those after it, for the next roll
// or an explicit Flush.
func (l *Log) flushRolled() {
	for {
		l.mu.Lock()
		if l.closed || (len(l.rolled) == 0 && !l.dirDirty) {
			l.flushing = false
			l.mu.Unlock()
			return
		}
		batch := append([]*segment(nil), l.rolled...)
		files := make([]syncHandles, len(batch))
		for i, s := range batch {
			files[i] = s.filesToSync()
		}
		dir := l.dirDirty
		l.dirDirty = false
		l.mu.Unlock()

		failed := -1
		var err, dirErr error
		flushSlots <- struct{}{}
		for i := range files {
			if err = files[i].sync(); err != nil {
				failed = i
				break
			}
		}
		if dir {
			dirErr = l.fs.SyncDir(l.dir)
		}
		<-flushSlots
		for i := range files {
			files[i].release()
		}

		l.mu.Lock()
		if l.closed {
			l.flushing = false
			l.mu.Unlock()
			return
		}
		synced := batch
		if failed >= 0 {
			synced = batch[:failed]
		}
		for i, s := range synced {
			// Only a segment still in the log, in the file synced
			// (a truncation may have swapped it), moves the point.
			if l.segmentIndexLocked(s) >= 0 && s.log == files[i].log {
				l.recoveryPoint = max(l.recoveryPoint, s.next)
			}
		}
		// An explicit flush may have emptied the queue meanwhile.
		for len(synced) > 0 && len(l.rolled) > 0 && l.rolled[0] == synced[0] {
			l.rolled, synced = l.rolled[1:], synced[1:]
		}
		if dirErr != nil {
			l.dirDirty = true
		}
		stop := failed >= 0 || dirErr != nil
		if stop {
			l.flushing = false
		}
		l.mu.Unlock()
		if stop {
			l.log.Error().Err(errors.Join(err, dirErr)).Str("dir", l.dir).Msg("flushing rolled segments; the recovery point stays until a later flush succeeds")
			return
		}
	}
}

// syncRolledLocked fsyncs the rolled segments and the directory on the
// caller's path (an explicit flush, a close).
func (l *Log) syncRolledLocked() error {
	for len(l.rolled) > 0 {
		if s := l.rolled[0]; l.segmentIndexLocked(s) >= 0 {
			if err := s.sync(); err != nil {
				return err
			}
		}
		l.rolled = l.rolled[1:]
	}
	if l.dirDirty {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return err
		}
		l.dirDirty = false
	}
	return nil
}

// Roll starts a new segment at the log end (if the active one has data).
func (l *Log) Roll() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.rollLocked(l.nextOffsetLocked())
	return err
}

// segmentFor returns the index of the segment that would hold off.
func (l *Log) segmentFor(off int64) int {
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].base > off })
	return max(i-1, 0)
}

// Read returns whole batches starting with the one holding off, at most
// maxBytes (but the first batch whole if minOne), and none with an offset
// at or above limit. It returns ErrOffsetOutOfRange if off is below the log
// start or above the log end, and nil bytes at the end. ReadSection does
// the same without reading the bytes.
func (l *Log) Read(off, limit int64, maxBytes int32, minOne bool) ([]byte, error) {
	sec, err := l.ReadSection(off, limit, maxBytes, minOne)
	if err != nil || sec == nil {
		return nil, err
	}
	return sec.Bytes()
}

// repairIndexes rebuilds the indexes of segments a lookup found not to
// match the log (logging a warning), as Kafka rebuilds an index that fails
// its sanity check. The batches are scanned without the lock; the new
// entries replace the old under it unless the segment changed meanwhile
// (then a later lookup tries again). Callers hold no lock.
func (l *Log) repairIndexes(segs ...*segment) {
	for _, s := range segs {
		l.mu.RLock()
		size, interval, closed := s.size, l.cfg.IndexIntervalBytes, l.closed
		l.mu.RUnlock()
		if closed || !s.indexSuspect.Load() {
			continue
		}
		offsets, times, err := s.buildIndexes(size, interval)
		l.mu.Lock()
		if err == nil && !l.closed && l.segmentIndexLocked(s) >= 0 && s.size == size && s.indexSuspect.Load() {
			if err = s.index.replace(offsets); err == nil {
				err = s.times.replace(times)
			}
			if err == nil {
				s.indexSuspect.Store(false)
				l.log.Warn().Int64("segment", s.base).Str("dir", l.dir).Int("offset_entries", len(offsets)/offsetEntrySize).
					Int("time_entries", len(times)/timeEntrySize).Msg("rebuilt the indexes of a segment: an entry did not match the log")
			}
		}
		l.mu.Unlock()
		if err != nil {
			l.log.Warn().Err(err).Int64("segment", s.base).Str("dir", l.dir).Msg("rebuilding the indexes of a segment")
		}
	}
}

// Batches calls fn with each batch from the one holding off up to limit,
// in order, until fn returns false. Used to rebuild state (producer ids,
// transactions) from the log.
func (l *Log) Batches(off, limit int64, fn func(batch []byte) bool) error {
	for off < limit {
		data, err := l.Read(off, limit, 1<<20, true)
		if err != nil || len(data) == 0 {
			return err
		}
		for len(data) >= records.HeaderSize {
			h, err := records.ParseHeader(data)
			if err != nil || h.Size() > len(data) {
				return fmt.Errorf("batch at offset %d: %v", off, err)
			}
			if !fn(data[:h.Size()]) {
				return nil
			}
			off = h.NextOffset()
			data = data[h.Size():]
		}
	}
	return nil
}

// Close flushes and closes the log.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	err := errors.Join(l.syncRolledLocked(), l.segments[len(l.segments)-1].sync())
	if err == nil {
		l.recoveryPoint = l.nextOffsetLocked()
	}
	err = errors.Join(err, l.epochs.flushAtClose(l.startOffset, l.nextOffsetLocked()))
	l.purgeRetiredLocked()
	return errors.Join(err, l.closeSegmentsLocked())
}

// CloseHandles closes the log's files and writes nothing: no fsync, no
// checkpoint, no removal of retired segments. It is how the log of a
// failed dir is closed (as Kafka's closeHandlers): the disk may fail or
// stall every call, and what is written there now is not trusted anyway.
func (l *Log) CloseHandles() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	for _, s := range l.retired {
		s.close() // their files stay, for start-up to remove
	}
	l.retired = nil
	l.hasRetired.Store(false)
	return l.closeSegmentsLocked()
}

func (l *Log) closeSegments() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeSegmentsLocked()
}

func (l *Log) closeSegmentsLocked() error {
	var errs []error
	for _, s := range l.segments {
		errs = append(errs, s.close())
	}
	return errors.Join(errs...)
}

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	l.mu.Lock()
	l.closed = true
	l.purgeRetiredLocked()
	l.closeSegmentsLocked()
	l.mu.Unlock()
	l.snapMu.Lock()
	l.snapGone = true
	l.snapMu.Unlock()
	return l.fs.RemoveAll(l.dir)
}

// fileExists reports whether path exists.
func fileExists(fs FS, path string) bool {
	_, err := fs.Stat(path)
	return err == nil || !os.IsNotExist(err)
}

// validSwap reports whether a compaction swap file is a whole, readable
// sequence of batches (it is written completely before being renamed to
// .swap, so anything else is not ours), and the offset after its last
// batch.
func validSwap(fs FS, path string) (next int64, ok bool) {
	f, err := fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 || st.Size() > 1<<31 {
		return 0, false
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil {
		return 0, false
	}
	n, err := records.Split(data, func(b []byte) error {
		if m, ok := records.Magic(b); !ok || m != 2 || !records.CRCValid(b) {
			return records.ErrCRC
		}
		h, err := records.ParseHeader(b)
		if err != nil {
			return err
		}
		next = h.NextOffset()
		return nil
	})
	return next, err == nil && n == len(data)
}
