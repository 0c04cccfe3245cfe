package coordinator

// Time-driven transaction work: a transaction open longer than its
// timeout is aborted with the producer's epoch bumped (so the producer,
// if it is still alive, is fenced), and a transactional id idle for
// transactional.id.expiration.ms is deleted (a tombstone). An id another
// operation holds is looked at again on the next round.

import (
	"context"
	"time"
)

// abortTimedOut aborts transactions past their timeout.
func (c *txnCoordinator) abortTimedOut() {
	now := c.nowMs()
	for _, s := range c.rt.Loaded() {
		ts := s.Machine
		for _, m := range ts.metas() {
			if !m.tryClaim() {
				continue
			}
			if m.d.state == txnOngoing && m.d.startMs >= 0 && now-m.d.startMs > int64(m.d.timeoutMs) {
				c.log.Info().Str("transactional_id", m.id).Int64("producer_id", m.d.pid).Int16("producer_epoch", m.d.epoch).
					Int32("timeout_ms", m.d.timeoutMs).Msg("aborting timed-out transaction")
				ctx, cancel := context.WithTimeout(ts.shard.Context(), 30*time.Second)
				if err := c.endTxn(ctx, ts, m, false, true); err != nil {
					c.log.Warn().Err(err).Str("transactional_id", m.id).Msg("aborting timed-out transaction")
				}
				cancel()
			}
			m.release()
		}
	}
}

// expireTxnIDs deletes ids with no transaction that have been idle longer
// than transactional.id.expiration.ms.
func (c *txnCoordinator) expireTxnIDs() {
	if c.cfg.TxnIDExpiration <= 0 {
		return
	}
	cutoff := c.nowMs() - c.cfg.TxnIDExpiration.Milliseconds()
	for _, s := range c.rt.Loaded() {
		ts := s.Machine
		for _, m := range ts.metas() {
			if !m.tryClaim() {
				continue
			}
			switch m.d.state {
			case txnEmpty, txnCompleteCommit, txnCompleteAbort:
				if m.d.pid >= 0 && m.d.updatedMs < cutoff {
					ctx, cancel := context.WithTimeout(ts.shard.Context(), 30*time.Second)
					if err := c.persistTxn(ctx, ts, m.id, nil); err == nil {
						ts.forget(m)
						c.log.Info().Str("transactional_id", m.id).Msg("expired transactional id")
					}
					cancel()
				}
			}
			m.release()
		}
	}
}
