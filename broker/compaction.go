package broker

// The log cleaner: compacts the local logs of topics with
// cleanup.policy=compact (the internal topics among them) every
// log.cleaner.backoff.ms, below each partition's last stable offset. A
// batch it cannot read (stored before produce validated compressed
// records, or inflating past the topic's limit) is kept whole and logged,
// never retried in a loop.

import (
	"math"
	"sync"
	"time"

	"gregor/broker/storage"
)

// cleanerThrottle paces the cleaner's reads and writes to
// log.cleaner.io.max.bytes.per.second (dynamic), as Kafka's Throttler
// does: once what it did since the period began is ahead of the rate, it
// sleeps until the rate catches up. An idle cleaner starts a new period,
// with at most a second's credit.
type cleanerThrottle struct {
	mu    sync.Mutex
	start time.Time
	bytes float64
}

// throttleCleaner records n bytes of the cleaner's and sleeps as long as the rate asks (less if
// the broker stops).
func (b *Broker) throttleCleaner(n int) {
	rate := b.Config().LogCleanerIORate
	if rate <= 0 || rate >= math.MaxFloat64/2 {
		return
	}
	t := &b.cleanerIO
	t.mu.Lock()
	now := time.Now()
	if t.start.IsZero() || now.Sub(t.start) > time.Duration(t.bytes/rate*float64(time.Second))+time.Second {
		t.start, t.bytes = now, 0
	}
	t.bytes += float64(n)
	ahead := time.Duration(t.bytes/rate*float64(time.Second)) - now.Sub(t.start)
	t.mu.Unlock()
	if ahead < 10*time.Millisecond {
		return
	}
	timer := time.NewTimer(ahead)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-b.stop:
	}
}

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
				Throttle:         b.throttleCleaner,
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
