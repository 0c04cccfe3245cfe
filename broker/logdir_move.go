package broker

// Moving a replica between this broker's log dirs (AlterReplicaLogDirs),
// as Kafka's ReplicaAlterLogDirsThread does it:
//
//   - The copy ("future" replica) is a log of its own in the target dir,
//     "<topic>-<partition>.<random>-future". One goroutine per move copies
//     batches from the replica's log into it, at most
//     replica.alter.log.dirs.io.max.bytes.per.second over all moves, while
//     the replica goes on serving produce, fetch and replication.
//   - Truncations of the replica (a follower cutting a divergent tail) are
//     noted under the partition's lock and applied to the copy before it
//     copies on; retention and DeleteRecords move the copy's start up.
//   - When the copy has reached the replica's end, under the partition's
//     lock: the copy takes the replica's log start and leader epochs and
//     is synced and closed; the replica's directory is renamed to a
//     "-delete" name, the copy's to "<topic>-<partition>", and the
//     partition serves from it. The old files are removed afterwards.
//     Fetches holding the old files finish from them.
//   - At start-up, a future directory beside its replica is a move under
//     way. After a clean stop it goes on from the copy's end, as Kafka's
//     future logs do, once the copy is cut back to the replica's end and
//     its last batch is found to be the replica's; after a crash, or on a
//     mismatch, the move starts again. One without its replica was
//     complete (the broker stopped between the two renames) and becomes
//     the replica, unless a log dir failed to open (its replica may be
//     there): then it is left as it is.
//   - Compaction of a partition waits while it moves (Kafka pauses its
//     cleaner for it).

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"gregor/broker/storage"
)

// moveChunk is the most one copy step reads.
const moveChunk = 1 << 20

// logMove is a replica's move to another log dir. The mover goroutine
// alone writes, closes and deletes the copy; the fields below log are
// guarded by the partition's mu.
type logMove struct {
	to   *storage.Dir
	path string       // the future directory
	log  *storage.Log // the copy

	// truncatedTo is the lowest offset the replica's log was cut to since
	// the mover last looked, or -1.
	truncatedTo int64
	// gone is the future directory's name once a cancellation retired it
	// (the mover removes it); cancel is closed then.
	gone   string
	cancel chan struct{}
}

// startMoveLocked begins moving p's replica to dir.
func (p *Partition) startMoveLocked(to *storage.Dir) error {
	path, err := to.CreateFuture(p.tp, p.topic.ID.String())
	if err != nil {
		return err
	}
	lg, err := p.openAt(path, storage.OpenOptions{Clean: true})
	if err != nil {
		to.RemoveRetired(path)
		return err
	}
	m := &logMove{to: to, path: path, log: lg, truncatedTo: -1, cancel: make(chan struct{})}
	p.move = m
	if !p.b.spawn(func() { p.b.runMove(p, m) }) {
		p.move = nil
		lg.Close()
		return errors.New("broker stopping")
	}
	p.b.log.Info().Str("topic", p.tp.Topic).Int32("partition", p.ID).Str("from", p.dir.Path).Str("to", to.Path).
		Msg("moving replica to another log dir")
	return nil
}

// cancelMoveLocked stops p's move, if any: the copy's directory is renamed
// out of the way at once (so a crash never takes it for the replica) and
// removed by the mover.
func (p *Partition) cancelMoveLocked(why string) {
	m := p.move
	if m == nil {
		return
	}
	p.move = nil
	gone, err := m.to.Retire(m.path)
	if err != nil {
		// Never left behind as a future directory: start-up would take
		// a lone one for a complete copy.
		p.b.log.Warn().Err(err).Str("topic", p.tp.Topic).Int32("partition", p.ID).Str("dir", m.path).Msg("retiring the copy of a cancelled log dir move; removing it in place")
		gone = m.path
	}
	m.gone = gone
	close(m.cancel)
	p.b.log.Info().Str("topic", p.tp.Topic).Int32("partition", p.ID).Str("to", m.to.Path).Str("reason", why).Msg("log dir move cancelled")
}

// noteTruncatedLocked tells a move that p's log was cut to off.
func (p *Partition) noteTruncatedLocked(off int64) {
	if m := p.move; m != nil && (m.truncatedTo < 0 || off < m.truncatedTo) {
		m.truncatedTo = off
	}
}

// runMove copies p's log into m's copy until the move finishes, is
// cancelled or the broker stops.
func (b *Broker) runMove(p *Partition, m *logMove) {
	var gone string
	defer func() {
		if b.dirOffline(m.to) {
			m.log.CloseHandles() // no fsync on a failed disk
		} else if gone != "" && gone == m.gone {
			m.log.CloseHandles() // a cancelled copy, deleted next: nothing to sync
		} else {
			m.log.Close()
		}
		if gone != "" {
			if err := m.to.RemoveRetired(gone); err != nil {
				b.log.Warn().Err(err).Str("dir", gone).Msg("removing a moved replica's old directory")
			}
		}
	}()
	ch := make(chan struct{}, 1)
	p.wait(ch)
	defer p.unwait(ch)
	pause := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-b.stop:
			return false
		case <-m.cancel:
			return true
		case <-ch:
		case <-t.C:
		}
		return true
	}
	fail := func(err error) {
		b.log.Error().Err(err).Str("topic", p.tp.Topic).Int32("partition", p.ID).Str("to", m.to.Path).Msg("log dir move failed")
		p.mu.Lock()
		if p.move == m {
			p.cancelMoveLocked("failed")
		}
		p.mu.Unlock()
		gone = m.gone
	}
	synced := false
	for {
		select {
		case <-b.stop:
			return // the copy stays: the next start begins the move again
		case <-m.cancel:
			gone = m.gone
			return
		default:
		}
		limit := int64(moveChunk)
		if left := b.quotas.alterLogDirs.allowance(b.now()); left < limit {
			if left <= 0 {
				if !pause(100 * time.Millisecond) {
					return
				}
				continue
			}
			limit = left
		}
		st := p.moveStep(m, synced)
		switch {
		case st.err != nil:
			fail(st.err)
			return
		case st.cancelled:
			gone = m.gone
			return
		case st.done:
			gone = st.gone
			// The old log is deleted next, and every byte of it is in
			// the synced copy: closed without an fsync (see
			// Partition.remove).
			if err := st.old.CloseHandles(); err != nil {
				b.log.Warn().Err(err).Str("topic", p.tp.Topic).Int32("partition", p.ID).Msg("closing a moved replica's old log")
			}
			// The new dir's checkpoints name the replica from now on,
			// not in up to a checkpoint interval.
			b.writeCheckpoints()
			b.log.Info().Str("topic", p.tp.Topic).Int32("partition", p.ID).Str("to", m.to.Path).Msg("replica moved to another log dir")
			return
		case st.caughtUp:
			// Synced outside the partition's lock, so finishing the
			// move syncs only what arrives meanwhile.
			if err := m.log.Flush(); err != nil {
				fail(err)
				return
			}
			synced = true
			continue
		}
		synced = false
		// At most one copy step per log dir at a time (Kafka's
		// num.replica.alter.log.dirs.threads default): moving a whole
		// disk's partitions holds that many chunks, not one each.
		select {
		case b.moveSlots <- struct{}{}:
		case <-b.stop:
			return
		case <-m.cancel:
			gone = m.gone
			return
		}
		data, err := st.src.Read(st.from, st.end, int32(limit), true)
		n, aerr := 0, error(nil)
		if len(data) > 0 {
			n, aerr = appendCopied(m.log, data, nil)
		}
		<-b.moveSlots
		if err != nil && !errors.Is(err, storage.ErrOffsetOutOfRange) && !errors.Is(err, storage.ErrClosed) {
			b.log.Warn().Err(err).Str("topic", p.tp.Topic).Int32("partition", p.ID).Msg("reading a replica to move it")
			if !pause(time.Second) {
				return
			}
			continue
		}
		if len(data) == 0 {
			// The log changed under the read (its start moved, or it
			// was replaced): the next step sees how.
			if !pause(10 * time.Millisecond) {
				return
			}
			continue
		}
		b.quotas.alterLogDirs.record(n, b.now())
		if aerr != nil {
			fail(aerr)
			return
		}
	}
}

// moveStatus is what a move's next step is.
type moveStatus struct {
	src       *storage.Log
	from, end int64        // read src from offset from, below end
	caughtUp  bool         // the copy is at the replica's end but not yet synced
	done      bool         // the copy is the replica now
	old       *storage.Log // the replaced log, to close
	gone      string
	cancelled bool
	err       error
}

// moveStep brings m's copy in line with p's log (truncations, a higher log
// start) under the partition's lock and says what to copy next. Once the
// copy has reached the log's end and was synced (synced), it copies what
// arrived since and finishes the move.
func (p *Partition) moveStep(m *logMove, synced bool) moveStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.move != m || p.log == nil {
		return moveStatus{cancelled: true}
	}
	fut, src := m.log, p.log
	if m.truncatedTo >= 0 {
		if err := fut.TruncateTo(m.truncatedTo); err != nil {
			return moveStatus{err: err}
		}
		m.truncatedTo = -1
	}
	start, end := src.StartOffset(), src.NextOffset()
	if fut.NextOffset() < start {
		if err := fut.TruncateFullyAndStartAt(start); err != nil {
			return moveStatus{err: err}
		}
	}
	if synced {
		old, gone, err := p.finishMoveLocked(m)
		if err != nil {
			return moveStatus{err: err}
		}
		return moveStatus{done: true, old: old, gone: gone}
	}
	if next := fut.NextOffset(); next < end {
		return moveStatus{src: src, from: next, end: end}
	}
	return moveStatus{caughtUp: true}
}

// finishMoveLocked makes m's complete copy p's replica. It returns the
// old replica's log (still open: the caller closes it off the lock) and
// its retired directory (the caller removes it).
func (p *Partition) finishMoveLocked(m *logMove) (*storage.Log, string, error) {
	fut, src := m.log, p.log
	// Retention runs off the partition's lock: the start may have passed
	// the copy's end since the last step.
	if s := src.StartOffset(); fut.NextOffset() < s {
		if err := fut.TruncateFullyAndStartAt(s); err != nil {
			return nil, "", err
		}
	}
	// Appends wait for the partition's lock: what arrived since the copy
	// was synced is all that is left.
	for next := fut.NextOffset(); next < src.NextOffset(); next = fut.NextOffset() {
		data, err := src.Read(next, src.NextOffset(), moveChunk, true)
		if err != nil {
			return nil, "", err
		}
		if len(data) == 0 {
			return nil, "", fmt.Errorf("no batch between offsets %d and %d", next, src.NextOffset())
		}
		if _, err := appendCopied(fut, data, nil); err != nil {
			return nil, "", err
		}
	}
	if s := src.StartOffset(); s > fut.StartOffset() {
		if err := fut.DeleteRecordsBefore(s); err != nil {
			return nil, "", err
		}
	}
	if err := fut.SetEpochs(src.Epochs()); err != nil {
		return nil, "", err
	}
	leo, start, cleaned := fut.NextOffset(), fut.StartOffset(), src.CleanedTo()
	if err := fut.Close(); err != nil {
		return nil, "", err
	}
	// The copy's directory entries are durable before it replaces the
	// replica.
	if err := p.b.fs.SyncDir(m.path); err != nil {
		return nil, "", err
	}
	// The old replica goes first: a crash between the renames leaves the
	// complete copy alone, which start-up takes as the replica (with the
	// old dir's checkpoint of it). The old log stays open meanwhile: its
	// open files do not mind the rename, and appends wait for the lock
	// held here.
	oldDir, oldPath := p.dir, src.Dir()
	gone, err := oldDir.Retire(oldPath)
	if err != nil {
		return nil, "", err
	}
	final, err := m.to.Promote(m.path, p.tp)
	if err != nil {
		if rerr := p.b.fs.Rename(gone, oldPath); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return nil, "", err
	}
	p.b.setPlacement(p.tp, m.to, final)
	p.move = nil
	lg, err := p.openAt(final, storage.OpenOptions{Clean: true, RecoveryPoint: leo, StartOffset: start, CleanedTo: cleaned})
	if err != nil {
		// The copy is the replica now but does not open: the partition
		// is offline here until it opens again (a metadata change or a
		// restart opens it from its new dir).
		p.log = nil
		p.stopLeadingLocked()
		p.b.log.Error().Err(err).Str("topic", p.tp.Topic).Int32("partition", p.ID).Str("dir", final).Msg("opening a moved replica; the partition is offline here")
		return src, gone, nil
	}
	p.log, p.dir = lg, m.to
	p.syncOffsetsLocked()
	p.notify()
	return src, gone, nil
}

// openAt opens a log of p's at path with the topic's log config.
func (p *Partition) openAt(path string, opts storage.OpenOptions) (*storage.Log, error) {
	opts.Clock = p.b.clock
	return storage.Open(p.b.fs, path, p.b.logConfig(p.topic.Config()), opts,
		p.b.log.With().Str("topic", p.tp.Topic).Int32("partition", p.tp.Partition).Logger())
}

// moveInfo describes p's move for DescribeLogDirs: the target dir, the
// copy's size, and how far its end is behind the replica's.
func (p *Partition) moveInfo() (to *storage.Dir, size, lag int64, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.move
	if m == nil || p.log == nil || p.closed {
		return nil, 0, 0, false
	}
	return m.to, m.log.Size(), max(p.log.NextOffset()-m.log.NextOffset(), 0), true
}

// setPlacement records where a partition's replica lives now.
func (b *Broker) setPlacement(tp storage.TP, dir *storage.Dir, path string) {
	b.placeMu.Lock()
	b.placement[tp], b.paths[tp] = dir, path
	b.placeMu.Unlock()
}

// resumeMove is a move under way at the last stop: its target dir, its
// copy's directory there and the topic id the copy was made for.
type resumeMove struct {
	to      *storage.Dir
	path    string
	topicID string
}

// recoverFuture settles a future directory found at start-up: beside its
// replica it is a move under way, resumed once the replica opens; alone
// it is a complete copy whose replica was already retired.
func (b *Broker) recoverFuture(f storage.PartitionDir, dir *storage.Dir) error {
	if _, ok := b.placement[f.TP]; ok {
		if old, ok := b.resume[f.TP]; ok {
			// Two copies of one replica: keep the first found.
			b.log.Warn().Str("topic", f.Topic).Int32("partition", f.Partition).Str("kept", old.path).Str("removed", f.Path).Msg("two copies of a replica being moved; removing one")
			return dir.RetirePartition(f.Path)
		}
		b.resume[f.TP] = resumeMove{to: dir, path: f.Path, topicID: f.TopicID}
		return nil
	}
	if b.OfflineLogDirs() > 0 {
		// Its replica may be in a dir that failed to open: an incomplete
		// copy is not taken for the replica, nor removed.
		b.log.Warn().Str("topic", f.Topic).Int32("partition", f.Partition).Str("dir", f.Path).
			Msg("a log dir move's copy without its replica, while a log dir is offline: left as it is")
		return nil
	}
	path, err := dir.Promote(f.Path, f.TP)
	if err != nil {
		return err
	}
	b.adoptCheckpoint(f.TP, dir)
	b.log.Info().Str("topic", f.Topic).Int32("partition", f.Partition).Str("dir", dir.Path).Msg("completing a log dir move interrupted by the last stop")
	b.placement[f.TP], b.paths[f.TP] = dir, path
	b.foundIDs[f.TP] = f.TopicID
	return nil
}

// adoptCheckpoint gives a replica found in dir the checkpoint (log start,
// recovery point, high watermark) another log dir still holds of it: the
// broker stopped after moving it and before the next checkpoint named it
// in dir.
func (b *Broker) adoptCheckpoint(tp storage.TP, dir *storage.Dir) {
	if _, ok := dir.Checkpoint(tp); ok {
		return
	}
	for _, d := range b.dirs {
		if c, ok := d.Checkpoint(tp); ok && d != dir {
			dir.AdoptCheckpoint(c)
			return
		}
	}
}

// takeResume returns, once, p's move under way at the last stop.
func (b *Broker) takeResume(tp storage.TP) (resumeMove, bool) {
	b.placeMu.Lock()
	defer b.placeMu.Unlock()
	r, ok := b.resume[tp]
	delete(b.resume, tp)
	return r, ok
}

// resumeMoveLocked goes on with p's move under way at the last stop, from
// its copy's end. A copy it cannot trust is dropped (retired first, so a
// crash in the removal never leaves a partial copy to resume) and the
// move starts again: after an unclean stop (any segment of the copy may
// have lost what was not synced), or when its last batch does not match.
func (p *Partition) resumeMoveLocked(r resumeMove) {
	warn := func(err error, msg string) {
		p.b.log.Warn().Err(err).Str("topic", p.tp.Topic).Int32("partition", p.ID).Str("to", r.to.Path).Msg(msg)
	}
	drop := func() bool {
		if err := r.to.RetirePartition(r.path); err != nil {
			warn(err, "removing the copy of a log dir move")
			return false
		}
		return true
	}
	if r.to == p.dir || p.b.dirOffline(r.to) || (r.topicID != "" && r.topicID != p.topic.ID.String()) {
		drop() // moot, or made for a topic deleted since
		return
	}
	opts := r.to.OpenOptions(p.tp)
	var err error
	if !opts.Clean {
		err = errors.New("the broker did not stop cleanly")
	} else {
		// The target dir's checkpoints name the copy's partition only if
		// it lived there before: the copy starts where its segments do.
		opts.RecoveryPoint, opts.StartOffset = 0, 0
		var lg *storage.Log
		if lg, err = p.openAt(r.path, opts); err == nil {
			if err = matchCopy(lg, p.log); err == nil {
				p.runResumed(r, lg)
				return
			}
			lg.Close()
		}
		if storage.IsDiskFailure(err) {
			warn(err, "opening the copy of a log dir move")
			return // its dir goes offline
		}
	}
	warn(err, "not resuming a log dir move under way at the last stop; copying again")
	if drop() {
		if err := p.startMoveLocked(r.to); err != nil {
			warn(err, "restarting a log dir move")
		}
	}
}

// runResumed starts the mover of a resumed move.
func (p *Partition) runResumed(r resumeMove, lg *storage.Log) {
	m := &logMove{to: r.to, path: r.path, log: lg, truncatedTo: -1, cancel: make(chan struct{})}
	p.move = m
	if !p.b.spawn(func() { p.b.runMove(p, m) }) {
		p.move = nil
		lg.Close()
		return
	}
	p.b.log.Info().Str("topic", p.tp.Topic).Int32("partition", p.ID).Str("from", p.dir.Path).Str("to", r.to.Path).
		Int64("copied_to", lg.NextOffset()).Int64("log_end", p.log.NextOffset()).Msg("resuming a log dir move from its copy's end")
}

// dropUnresumed removes, after the first metadata load, the copies of
// moves no partition resumed: their topic was deleted or their replica
// moved off this broker meanwhile. A copy of an offline replica stays for
// a later start.
func (b *Broker) dropUnresumed() {
	b.placeMu.Lock()
	left := b.resume
	b.resume = make(map[storage.TP]resumeMove)
	b.placeMu.Unlock()
	for tp, r := range left {
		if p := b.Partition(tp.Topic, tp.Partition); p != nil && p.offline.Load() {
			continue
		}
		b.log.Info().Str("topic", tp.Topic).Int32("partition", tp.Partition).Str("dir", r.path).Msg("removing the copy of a log dir move whose replica is no longer here")
		if err := r.to.RetirePartition(r.path); err != nil {
			b.log.Warn().Err(err).Str("dir", r.path).Msg("removing the copy of a log dir move")
		}
	}
}

// matchCopy cuts a move's copy back to its replica's end and checks that
// its last batch is the replica's, byte for byte. The copy was only ever
// appended from the replica, so that makes it a prefix of it: had the
// replica been cut below the copy's end and written again (a truncation
// the stop kept the copy from applying), its batches from there on carry
// a later leader epoch, and the last batches would differ.
func matchCopy(fut, src *storage.Log) error {
	if end := src.NextOffset(); fut.NextOffset() > end {
		if err := fut.TruncateTo(end); err != nil {
			return err
		}
	}
	if fut.NextOffset() <= src.StartOffset() {
		// Nothing copied, or all of it below the replica's start.
		return fut.TruncateFullyAndStartAt(src.StartOffset())
	}
	last := fut.NextOffset() - 1
	if last < fut.StartOffset() {
		return nil
	}
	a, err := fut.Read(last, last+1, 1, true)
	if err != nil {
		return err
	}
	b, err := src.Read(last, last+1, 1, true)
	if err != nil {
		return err
	}
	if len(a) == 0 || !bytes.Equal(a, b) {
		return fmt.Errorf("the copy's batch holding offset %d differs from the replica's", last)
	}
	return nil
}
