package broker

// The log cleaner: compacts the local logs of topics with
// cleanup.policy=compact (the internal topics among them) every
// log.cleaner.backoff.ms, below each partition's last stable offset. A
// batch it cannot read (stored before produce validated compressed
// records, or inflating past the topic's limit) is kept whole and logged,
// never retried in a loop.

import (
	"gregor/broker/storage"
)

func (b *Broker) compactLogs() {
	if !b.cfg.LogCleanerEnable {
		return
	}
	now := b.now()
	for _, t := range b.Topics() {
		cfg := t.Config()
		if !cfg.Cleanup.Compact() {
			continue
		}
		for _, p := range t.Partitions() {
			select {
			case <-b.stop:
				return
			default:
			}
			p.mu.Lock()
			lg := p.log
			if p.move != nil {
				lg = nil // waits for the move to another log dir
			}
			ps := p.producer
			var aborted []abortedTxn
			if ps != nil {
				aborted = append(aborted, ps.aborted...)
			}
			p.mu.Unlock()
			if lg == nil {
				continue
			}
			res, err := lg.Compact(storage.CompactOptions{
				Now:              now,
				Uncleanable:      min(p.HighWatermark(), p.LastStableOffset()),
				MinCompactionLag: cfg.MinCompactionLag,
				DeleteRetention:  cfg.DeleteRetention,
				MinDirtyRatio:    cfg.MinCleanableRatio,
				MaxUncompressed:  decompressedLimit(cfg.MaxMessageBytes, b.cfg.DecompressionMaxRatio),
				Aborted: func(pid, off int64) bool {
					for _, a := range aborted {
						if a.ProducerID == pid && a.FirstOffset <= off && off <= a.LastOffset {
							return true
						}
					}
					return false
				},
			})
			if err != nil {
				b.log.Warn().Err(err).Str("topic", t.Name).Int32("partition", p.ID).Msg("compaction")
				continue
			}
			if res.Undecodable > 0 {
				b.log.Warn().Str("topic", t.Name).Int32("partition", p.ID).Int("batches", res.Undecodable).
					Msg("compaction kept batches whose records cannot be read (undecodable or too large)")
			}
			if res.Segments > 0 {
				b.log.Info().Str("topic", t.Name).Int32("partition", p.ID).Int("segments", res.Segments).
					Int64("bytes_before", res.BytesBefore).Int64("bytes_after", res.BytesAfter).
					Int64("records_removed", res.RecordsGone).Msg("compacted log")
			}
		}
	}
}
