package coordinator

// Time-driven transaction work: a transaction open longer than its
// timeout is aborted with the producer's epoch bumped (so the producer,
// if it is still alive, is fenced), and a transactional id idle for
// transactional.id.expiration.ms is deleted (a tombstone).

import (
	"context"
	"time"
)

// allLoaded returns the loaded partitions this broker coordinates.
func (c *Coordinator) allLoaded() []*txnPartition {
	c.txn.mu.RLock()
	defer c.txn.mu.RUnlock()
	out := make([]*txnPartition, 0, len(c.txn.parts))
	for _, tp := range c.txn.parts {
		select {
		case <-tp.loaded:
			out = append(out, tp)
		default:
		}
	}
	return out
}

// metas lists a partition's ids.
func (tp *txnPartition) metas() []*txnMeta {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	out := make([]*txnMeta, 0, len(tp.ids))
	for _, m := range tp.ids {
		out = append(out, m)
	}
	return out
}

// abortTimedOut aborts transactions past their timeout.
func (c *Coordinator) abortTimedOut() {
	now := c.nowMs()
	for _, tp := range c.allLoaded() {
		for _, m := range tp.metas() {
			if !m.mu.TryLock() {
				continue // busy: an operation is running; look again later
			}
			if !m.removed && m.d.state == txnOngoing && m.d.startMs >= 0 && now-m.d.startMs > int64(m.d.timeoutMs) {
				c.log.Info().Str("transactional_id", m.id).Int64("producer_id", m.d.pid).Int16("producer_epoch", m.d.epoch).
					Int32("timeout_ms", m.d.timeoutMs).Msg("aborting timed-out transaction")
				ctx, cancel := context.WithTimeout(tp.ctx, 30*time.Second)
				if err := c.endTxn(ctx, tp, m, false, true); err != nil {
					c.log.Warn().Err(err).Str("transactional_id", m.id).Msg("aborting timed-out transaction")
				}
				cancel()
			}
			m.mu.Unlock()
		}
	}
}

// expireTxnIDs deletes ids with no transaction that have been idle longer
// than transactional.id.expiration.ms.
func (c *Coordinator) expireTxnIDs() {
	if c.cfg.TxnIDExpiration <= 0 {
		return
	}
	cutoff := c.nowMs() - c.cfg.TxnIDExpiration.Milliseconds()
	for _, tp := range c.allLoaded() {
		for _, m := range tp.metas() {
			if !m.mu.TryLock() {
				continue
			}
			switch m.d.state {
			case txnEmpty, txnCompleteCommit, txnCompleteAbort:
				if !m.removed && m.d.pid >= 0 && m.d.updatedMs < cutoff {
					ctx, cancel := context.WithTimeout(tp.ctx, 30*time.Second)
					if err := c.persistTxn(ctx, tp, m.id, nil); err == nil {
						m.removed = true
						tp.mu.Lock()
						if tp.ids[m.id] == m {
							delete(tp.ids, m.id)
						}
						tp.mu.Unlock()
						c.log.Info().Str("transactional_id", m.id).Msg("expired transactional id")
					}
					cancel()
				}
			}
			m.mu.Unlock()
		}
	}
}
