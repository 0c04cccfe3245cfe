package broker

import (
	"context"
	"errors"
	"time"

	"gregor/broker/metadata"
	"gregor/broker/replica"
	"gregor/broker/storage"
)

// applyRetention deletes expired segments of every local log. With
// log.cleaner.enable=false the logs of compacted topics (cleanup.policy
// compact, or compact,delete) are left whole, as in Kafka: its retention
// thread (LogManager.cleanupLogs) takes only logs that are not compacted,
// and compacted ones get theirs from the cleaner (LogCleanerManager's
// deletableLogs), which does not run; Kafka's documentation of
// log.cleaner.enable warns that such topics then grow without bound.
func (b *Broker) applyRetention() {
	now := b.now()
	cleaner := b.Config().LogCleanerEnable
	for _, t := range b.Topics() {
		if !cleaner && t.Config().Cleanup.Compact() {
			continue
		}
		for _, p := range t.Partitions() {
			p.mu.Lock()
			lg := p.log
			p.mu.Unlock()
			if lg == nil {
				continue
			}
			n, err := lg.ApplyRetention(now, p.HighWatermark())
			if err != nil {
				b.log.Error().Err(err).Str("topic", t.Name).Int32("partition", p.ID).Msg("retention")
			} else if n > 0 {
				b.log.Info().Str("topic", t.Name).Int32("partition", p.ID).Int("segments", n).Msg("deleted segments past retention")
				p.mu.Lock()
				p.syncOffsetsLocked()
				if p.producer != nil {
					p.producer.trimBelow(p.start.Load())
					p.refreshUnstableLocked()
				}
				p.mu.Unlock()
			}
		}
	}
}

// purgeRetired removes the files of deleted and compacted-away segments
// once their topic's file.delete.delay.ms has passed (every second, not
// at the next retention check, which is five minutes apart by default).
func (b *Broker) purgeRetired() {
	now := b.now()
	for _, t := range b.Topics() {
		for _, p := range t.Partitions() {
			p.mu.Lock()
			lg := p.log
			p.mu.Unlock()
			if lg != nil {
				lg.PurgeRetired(now)
			}
		}
	}
}

// writeCheckpoints records recovery points, log starts and high
// watermarks of every local log.
func (b *Broker) writeCheckpoints() { b.writeCheckpointsOf(b.Topics(), false) }

// checkpointSoon has the checkpoints written at once (coalesced): a
// replica directory went, and its entries must not outlive it on disk,
// where a crash would hand them to a new partition of the same name (as
// Kafka checkpoints a dir after deleting a log).
func (b *Broker) checkpointSoon() {
	select {
	case b.checkpointKick <- struct{}{}:
	default:
	}
}

// writeKickedCheckpoints writes the checkpoints whenever checkpointSoon
// asks, until the broker stops.
func (b *Broker) writeKickedCheckpoints() {
	for {
		select {
		case <-b.stop:
			return
		case <-b.checkpointKick:
			b.writeCheckpoints()
		}
	}
}

func (b *Broker) writeCheckpointsOf(topics []*Topic, final bool) {
	b.checkpointMu.Lock()
	defer b.checkpointMu.Unlock()
	byDir := make(map[*storage.Dir][]storage.Checkpoint)
	for _, d := range b.dirs {
		byDir[d] = nil
	}
	for _, t := range topics {
		for _, p := range t.Partitions() {
			c, d, ok := p.checkpoint(final)
			if ok {
				byDir[d] = append(byDir[d], c)
			}
		}
	}
	// Replicas found at start that no partition opened (a start cut
	// short, a directory kept with no topic id) keep what was read of
	// them: they are still in the dir, and may be opened later.
	b.placeMu.Lock()
	for tp := range b.foundIDs {
		if d := b.placement[tp]; d != nil {
			if c, ok := d.Checkpoint(tp); ok {
				byDir[d] = append(byDir[d], c)
			}
		}
	}
	b.placeMu.Unlock()
	for d, cs := range byDir {
		if b.dirOffline(d) {
			continue
		}
		if err := d.WriteCheckpoints(cs); err != nil {
			b.log.Error().Err(err).Str("dir", d.Path).Msg("writing checkpoints")
		}
	}
}

// flushDue fsyncs logs whose flush.ms has passed.
func (b *Broker) flushDue() {
	for _, t := range b.Topics() {
		for _, p := range t.Partitions() {
			p.mu.Lock()
			lg := p.log
			p.mu.Unlock()
			if lg != nil {
				if err := lg.FlushIfDue(); err != nil {
					b.log.Error().Err(err).Str("topic", t.Name).Int32("partition", p.ID).Msg("flush")
				}
			}
		}
	}
}

// checkISR drops lagging followers from the ISR of partitions we lead.
func (b *Broker) checkISR() {
	now := b.now()
	for _, t := range b.Topics() {
		for _, p := range t.Partitions() {
			if p.offline.Load() {
				// Retries a hand-over that failed.
				p.mu.Lock()
				p.handOverOfflineLocked()
				p.mu.Unlock()
				continue
			}
			p.shrinkISR(now, b.cfg.ReplicaLagTimeMax)
		}
	}
}

// shrinkISR removes followers that fell behind, persisting the new ISR.
func (p *Partition) shrinkISR(now time.Time, maxLag time.Duration) {
	p.mu.Lock()
	if p.rs == nil {
		p.mu.Unlock()
		return
	}
	p.rs.MaxLag = maxLag
	if p.rs.Tick() {
		p.hw.Store(p.rs.HW)
		p.notify()
	}
	if p.isrPending {
		// One ISR change at a time: Kafka's getOutOfSyncReplicas finds
		// none while an AlterPartition is in flight.
		p.mu.Unlock()
		return
	}
	lag := p.rs.Laggards(now, maxLag)
	if len(lag) == 0 {
		p.mu.Unlock()
		return
	}
	st := p.state
	from := len(p.rs.ISR)
	st.ISR = replica.Without(p.rs.ISR, lag)
	seq := p.beginISRChangeLocked()
	p.mu.Unlock()
	p.b.log.Info().Str("topic", p.tp.Topic).Int32("partition", p.ID).Ints32("out_of_sync", lag).Ints32("isr", st.ISR).Msg("shrinking ISR")
	p.endISRChange(seq, p.updateISR(st, from))
}

// updateISR persists an ISR change, proposed from an ISR of from
// replicas, through the backend and installs it; it returns the backend's
// error. The change is counted as a shrink or an expansion once the
// backend has it, as Kafka's leader marks IsrShrinksPerSec/IsrExpandsPerSec
// for its committed AlterPartition (PendingShrinkIsr/PendingExpandIsr
// .notifyListener), whatever state the metadata watch installed meanwhile.
func (p *Partition) updateISR(st metadata.PartitionState, from int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := p.b.backend.UpdatePartition(ctx, p.tp.Topic, p.ID, st)
	if err != nil {
		p.b.ops.isrFailures.Add(1)
		ev := p.b.log.Warn()
		if errors.Is(err, metadata.ErrStaleState) {
			// Another change of the partition came first (the
			// controller's): the metadata loop brings it. Kafka's
			// Partition logs INVALID_UPDATE_VERSION at debug.
			ev = p.b.log.Debug()
		}
		ev.Err(err).Str("topic", p.tp.Topic).Int32("partition", p.ID).Ints32("isr", st.ISR).Int32("version", st.Version).Msg("updating ISR")
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// The metadata loop may have delivered a newer state meanwhile (the
	// controller changed the ISR right after this write): it stays, or
	// the leader would write its next change at an old version, refused
	// as stale until the partition changed again.
	if p.rs == nil || p.state.LeaderEpoch != got.LeaderEpoch {
		return nil
	}
	p.b.ops.isrChanged(from, len(st.ISR))
	if got.Version < p.state.Version {
		return nil
	}
	p.state = got
	p.settleISRLocked()
	// Wake acks=all waits even if the high watermark stays: a shrink
	// below min.insync.replicas fails them at once.
	p.rs.SetISR(got.ISR)
	p.settleJoinLocked()
	p.syncOffsetsLocked()
	p.notify()
	return nil
}

// expireProducers forgets idle producers (producer.id.expiration.ms).
func (b *Broker) expireProducers() {
	cutoff := b.now().Add(-b.Config().ProducerIDExpiration)
	for _, t := range b.Topics() {
		for _, p := range t.Partitions() {
			p.mu.Lock()
			if p.producer != nil {
				p.producer.expire(cutoff)
			}
			p.mu.Unlock()
		}
	}
}
