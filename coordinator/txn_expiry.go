package coordinator

// Time-driven transaction work: a transaction open longer than its
// timeout is aborted with the producer's epoch bumped (so the producer,
// if it is still alive, is fenced), and a transactional id idle for
// transactional.id.expiration.ms is deleted (a tombstone). An id another
// operation holds is looked at again on the next round.

import (
	"context"
	"sync"
	"time"

	"gregor/broker/records"
)

// abortTimedOut aborts transactions past their timeout, up to
// txnAbortParallel at once: an abort waits for its markers (up to
// markerAttemptTime when a partition's leader is away), and one after the
// other, many hanging transactions would hold back the last ones' aborts,
// and the expiry after them, for as long as all those waits.
func (c *txnCoordinator) abortTimedOut() {
	now := c.nowMs()
	var wg sync.WaitGroup
	sem := make(chan struct{}, txnAbortParallel)
	for _, s := range c.rt.Loaded() {
		ts := s.Machine
		for _, m := range ts.metas() {
			if !m.tryClaim() {
				continue
			}
			if m.d.state != txnOngoing || m.d.startMs < 0 || now-m.d.startMs <= int64(m.d.timeoutMs) {
				m.release()
				continue
			}
			c.log.Info().Str("transactional_id", m.id).Int64("producer_id", m.d.pid).Int16("producer_epoch", m.d.epoch).
				Int32("timeout_ms", m.d.timeoutMs).Msg("aborting timed-out transaction")
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { m.release(); <-sem; wg.Done() }()
				ctx, cancel := context.WithTimeout(ts.shard.Context(), 30*time.Second)
				defer cancel()
				if err := c.endTxn(ctx, ts, m, false, true); err != nil {
					c.log.Warn().Err(err).Str("transactional_id", m.id).Msg("aborting timed-out transaction")
				}
			}()
		}
	}
	wg.Wait()
}

// txnAbortParallel bounds the timed-out transactions aborted at once.
const txnAbortParallel = 32

// expireTxnIDs deletes ids with no transaction that have been idle longer
// than transactional.id.expiration.ms: per __transaction_state partition,
// their tombstones go in batches of up to txnExpireBatchBytes of keys, one
// write each (as Kafka's removeExpiredTransactionalIds appends a
// partition's tombstones at once), so that a million idle ids expire in
// seconds rather than a write and its replication each, which also held
// up the timed-out transactions' aborts that share the timer.
func (c *txnCoordinator) expireTxnIDs() {
	if c.cfg.TxnIDExpiration <= 0 {
		return
	}
	cutoff := c.nowMs() - c.cfg.TxnIDExpiration.Milliseconds()
	for _, s := range c.rt.Loaded() {
		ts := s.Machine
		var batch []*txnMeta
		var recs []records.Record
		size := 0
		flush := func() {
			if len(batch) > 0 {
				c.expireBatch(ts, batch, recs)
			}
			for _, m := range batch {
				m.release()
			}
			batch, recs, size = batch[:0], recs[:0], 0
		}
		for _, m := range ts.metas() {
			if !m.tryClaim() {
				continue
			}
			switch m.d.state {
			case txnEmpty, txnCompleteCommit, txnCompleteAbort:
				if m.d.pid >= 0 && m.d.updatedMs < cutoff {
					key := encodeTxnKey(m.id)
					batch, recs = append(batch, m), append(recs, records.Record{Key: key})
					if size += len(key); size >= txnExpireBatchBytes {
						flush()
					}
					continue
				}
			}
			m.release()
		}
		flush()
	}
}

// txnExpireBatchBytes bounds the keys of one batch of tombstones, well
// under __transaction_state's message.max.bytes.
const txnExpireBatchBytes = 256 << 10

// expireBatch writes the tombstones of ids (claimed; recs their records)
// and forgets them once the write is replicated.
func (c *txnCoordinator) expireBatch(ts *txnShard, ids []*txnMeta, recs []records.Record) {
	ctx, cancel := context.WithTimeout(ts.shard.Context(), txnWriteTimeout)
	defer cancel()
	w, err := ts.shard.Append(recs, -1, -1, c.nowMs())
	if err == nil {
		err = awaitWrite(ctx, w, txnWriteTimeout)
	}
	if err != nil {
		c.log.Warn().Err(err).Int("ids", len(ids)).Int32("partition", ts.shard.Partition).Msg("writing expired transactional ids' tombstones; retried next round")
		return
	}
	for _, m := range ids {
		ts.forget(m)
		c.log.Debug().Str("transactional_id", m.id).Msg("expired transactional id")
	}
	c.log.Info().Int("ids", len(ids)).Int32("partition", ts.shard.Partition).Msg("expired transactional ids")
}
