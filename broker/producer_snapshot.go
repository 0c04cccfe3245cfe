package broker

import (
	"errors"
	"io/fs"

	"gregor/broker/storage"
)

// Producer state snapshots. Start-up and a truncation of the log's tail
// rebuild the producer state from the newest snapshot at or below the
// log's end and replay only the batches after it. A clean shutdown
// snapshots every partition at its end; a snapshot is also taken whenever
// the log rolls a segment, as Kafka's UnifiedLog.roll does, so that after
// a crash or a follower's truncation the replay is about one segment, not
// the whole log (which held the partition's lock for as long as it took
// to read the log).

// snapshotIfRolledLocked, after an append the producer state has taken in,
// snapshots the state as of the log's end if the log rolled since the
// last snapshot. The state is copied here; it is encoded and written in
// the background, unless a truncation came in between. One write at a
// time: rolls while it runs (a tiny segment.bytes rolls at every append)
// make one more snapshot after it, of the state then.
func (p *Partition) snapshotIfRolledLocked() {
	if p.log == nil || p.producer == nil {
		return
	}
	base := p.log.ActiveBase()
	if base == p.snapBase {
		return
	}
	p.snapBase = base
	if p.snapBusy {
		p.snapAgain = true
		return
	}
	s := p.producer.snapshotAt(p.log, p.log.NextOffset())
	lg, gen := p.log, p.snapGen.Load()
	p.snapBusy = p.b.spawn(func() { p.writeSnapshots(lg, s, gen) })
}

// writeSnapshots writes s, then snapshots again while the log rolled
// meanwhile.
func (p *Partition) writeSnapshots(lg *storage.Log, s *snapshot, gen uint64) {
	for {
		p.snapMu.Lock()
		if p.snapGen.Load() == gen { // else truncated since: s may be past the log's end
			if err := s.write(lg); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, storage.ErrClosed) {
				p.b.log.Warn().Err(err).Str("topic", p.tp.Topic).Int32("partition", p.ID).Int64("offset", s.Offset).Msg("writing producer snapshot")
			}
		}
		p.snapMu.Unlock()
		p.mu.Lock()
		if !p.snapAgain || p.log != lg || p.closed || p.producer == nil {
			p.snapBusy, p.snapAgain = false, false
			p.mu.Unlock()
			return
		}
		p.snapAgain = false
		s, gen = p.producer.snapshotAt(lg, lg.NextOffset()), p.snapGen.Load()
		p.mu.Unlock()
	}
}

// rebuildProducersLocked rebuilds the producer state after the log was
// truncated (all: emptied), voiding the snapshot writes under way.
func (p *Partition) rebuildProducersLocked(all bool) error {
	p.snapGen.Add(1)
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	return p.producer.rebuildAfterTruncate(p.log, p.b.now(), p.b.Config().ProducerIDExpiration, all)
}
