package broker

// The log cleaner: compacts the local logs of topics with
// cleanup.policy=compact (the internal topics among them) every
// log.cleaner.backoff.ms, below each partition's last stable offset. A
// batch it cannot read (stored before produce validated compressed
// records, or inflating past the topic's limit) is kept whole and logged,
// never retried in a loop.

import (
	"errors"
	"math"
	"sync"
	"time"

	"gregor/broker/storage"
)

// cleanerThrottle paces the cleaner's reads and writes to
// log.cleaner.io.max.bytes.per.second (dynamic), as Kafka's Throttler
// does: once the bytes of the current period are ahead of the rate, it
// sleeps until they are not, and starts a new period. A period also ends
// after cleanerPeriod, so an idle cleaner has no more credit than that,
// and a rate altered while it sleeps ends the sleep.
type cleanerThrottle struct {
	mu    sync.Mutex
	start time.Time
	bytes float64
}

// cleanerPeriod is Kafka's Throttler's check interval for the cleaner.
const cleanerPeriod = 300 * time.Millisecond

// errCleanerStopped ends a compaction pass when the broker stops.
var errCleanerStopped = errors.New("broker stopping")

// throttleCleaner records n bytes of the cleaner's and sleeps as long as
// the rate asks; it returns errCleanerStopped once the broker stops.
func (b *Broker) throttleCleaner(n int) error {
	select {
	case <-b.stop:
		return errCleanerStopped
	default:
	}
	d := b.dynamic()
	rate := d.cfg.LogCleanerIORate
	t := &b.cleanerIO
	t.mu.Lock()
	now := time.Now()
	if rate <= 0 || rate >= math.MaxFloat64/2 {
		t.start, t.bytes = time.Time{}, 0
		t.mu.Unlock()
		return nil
	}
	if t.start.IsZero() || now.Sub(t.start) > cleanerPeriod {
		t.start, t.bytes = now, 0
	}
	t.bytes += float64(n)
	sleep := time.Duration(t.bytes/rate*float64(time.Second)) - now.Sub(t.start)
	if sleep < 10*time.Millisecond {
		t.mu.Unlock()
		return nil
	}
	t.start, t.bytes = time.Time{}, 0 // the next period starts with the next bytes
	t.mu.Unlock()
	timer := time.NewTimer(sleep)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-d.changed:
	case <-b.stop:
		return errCleanerStopped
	}
	return nil
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
			if errors.Is(err, errCleanerStopped) {
				return
			}
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
