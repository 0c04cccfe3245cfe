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
	"time"

	"gregor/broker/config"
	"gregor/broker/storage"
)

// errCleanerStopped ends a compaction pass when the broker stops.
var errCleanerStopped = errors.New("broker stopping")

// cleanerRate is log.cleaner.io.max.bytes.per.second as a quota bound
// (Kafka's default, Double.MaxValue, is no bound).
func cleanerRate(c *config.Config) config.ByteSize {
	if c.LogCleanerIORate <= 0 || c.LogCleanerIORate >= math.MaxInt64 {
		return math.MaxInt64
	}
	return config.ByteSize(c.LogCleanerIORate)
}

// throttleCleaner records n bytes the cleaner read or wrote and, while
// its quota (log.cleaner.io.max.bytes.per.second, measured as the
// replication quotas are) is used up, pauses it; a rate altered meanwhile
// applies within a pause. It returns errCleanerStopped once the broker
// stops.
func (b *Broker) throttleCleaner(n int) error {
	q := b.quotas.cleaner
	q.record(n, b.now())
	for q.allowance(b.now()) <= 0 {
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-t.C:
		case <-b.stop:
			t.Stop()
			return errCleanerStopped
		}
	}
	select {
	case <-b.stop:
		return errCleanerStopped
	default:
		return nil
	}
}

// cleanerMaxKeys is how many keys one compaction pass maps, as Kafka's
// SkimpyOffsetMap holds them: log.cleaner.dedupe.buffer.size (at most
// 2 GiB) over 24 bytes a key (its MD5 and offset), times
// log.cleaner.io.buffer.load.factor. Gregor has one cleaner, which has
// the whole buffer (log.cleaner.threads has no effect). Unset (a
// configuration built in a test), there is no bound.
func cleanerMaxKeys(c *config.Config) int {
	if c.LogCleanerDedupeBuffer <= 0 || c.LogCleanerLoadFactor <= 0 {
		return 0
	}
	slots := min(c.LogCleanerDedupeBuffer, math.MaxInt32) / 24
	return max(int(float64(slots)*c.LogCleanerLoadFactor), 1)
}

func (b *Broker) compactLogs() {
	if !b.cfg.LogCleanerEnable {
		return
	}
	now := b.now()
	maxKeys := cleanerMaxKeys(b.Config())
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
			lastBatch := make(map[int64]int64)
			markerEpoch := make(map[int64]int16) // producers with no data batch
			if ps != nil {
				aborted = append(aborted, ps.aborted...)
				for pid, e := range ps.producers {
					if n := len(e.Batches); n > 0 {
						lastBatch[pid] = e.Batches[n-1].LastOffset
					} else {
						markerEpoch[pid] = e.Epoch
					}
				}
			}
			p.mu.Unlock()
			if lg == nil {
				continue
			}
			res, err := lg.Compact(storage.CompactOptions{
				Now:              now,
				Uncleanable:      min(p.HighWatermark(), p.LastStableOffset()),
				MinCompactionLag: cfg.MinCompactionLag,
				MaxCompactionLag: cfg.MaxCompactionLag,
				DeleteRetention:  cfg.DeleteRetention,
				MinDirtyRatio:    cfg.MinCleanableRatio,
				MaxUncompressed:  decompressedLimit(cfg.MaxMessageBytes, b.cfg.DecompressionMaxRatio),
				Throttle:         b.throttleCleaner,
				MaxKeys:          maxKeys,
				LastBatch: func(pid int64) int64 {
					if last, ok := lastBatch[pid]; ok {
						return last
					}
					return -1
				},
				KeepMarker: func(pid int64, epoch int16) bool {
					e, ok := markerEpoch[pid]
					return ok && e == epoch
				},
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
			if len(res.AbortsGone) > 0 {
				// Their transactions left nothing in the log: a
				// read_committed fetch has nothing of them to skip.
				p.mu.Lock()
				if p.producer != nil {
					p.producer.forgetAborted(res.AbortsGone)
				}
				p.mu.Unlock()
			}
			if res.Undecodable > 0 {
				b.log.Warn().Str("topic", t.Name).Int32("partition", p.ID).Int("batches", res.Undecodable).
					Msg("compaction kept batches whose records cannot be read (undecodable or too large)")
			}
			if res.Keyless > 0 {
				b.log.Warn().Str("topic", t.Name).Int32("partition", p.ID).Int64("records", res.Keyless).
					Msg("compaction removed records without a key")
			}
			if res.Segments > 0 {
				b.log.Info().Str("topic", t.Name).Int32("partition", p.ID).Int("segments", res.Segments).
					Int64("bytes_before", res.BytesBefore).Int64("bytes_after", res.BytesAfter).
					Int64("records_removed", res.RecordsGone).Int("markers_removed", res.MarkersGone).Msg("compacted log")
			}
		}
	}
}
