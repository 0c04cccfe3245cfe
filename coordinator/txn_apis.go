package coordinator

import (
	"time"

	"gregor/protocol"
)

// txnAPIs are the producer id and transaction APIs.
//
// Versions stop where transaction version 2 (KIP-890 part 2) begins:
// AddPartitionsToTxn v4+ is the brokers' batched verification path,
// EndTxn v5 and TxnOffsetCommit v5 bump the epoch per transaction. Gregor
// does not finalize the transaction.version feature, so clients use the
// classic protocol with the versions below.
func (c *Coordinator) txnAPIs() []protocol.API {
	return []protocol.API{
		{Key: 22, Min: 0, Max: 5, Handler: c.handleInitProducerID},
		{Key: 24, Min: 0, Max: 3, Handler: c.handleAddPartitionsToTxn},
		{Key: 25, Min: 0, Max: 4, Handler: c.handleAddOffsetsToTxn},
		{Key: 26, Min: 0, Max: 4, Handler: c.handleEndTxn},
		{Key: 27, Min: 0, Max: 1, Handler: c.handleWriteTxnMarkers},
		{Key: 65, Min: 0, Max: 0, Handler: c.handleDescribeTransactions},
		{Key: 66, Min: 0, Max: 2, Handler: c.handleListTransactions},
	}
}

// startTxns starts the background work of the transaction coordinator:
// aborting timed-out transactions and expiring idle transactional ids.
func (c *Coordinator) startTxns() {
	every := c.cfg.TxnAbortCheckPeriod
	if every <= 0 {
		every = 10 * time.Second
	}
	c.txn.wg.Add(1)
	go func() {
		defer c.txn.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-c.txn.stop:
				return
			case <-t.C:
				c.abortTimedOut()
				c.expireTxnIDs()
			}
		}
	}()
}

// closeTxns stops transaction timers and background work.
func (c *Coordinator) closeTxns() {
	c.txn.once.Do(func() { close(c.txn.stop) })
	c.txn.mu.Lock()
	for _, tp := range c.txn.parts {
		tp.cancel()
	}
	c.txn.mu.Unlock()
	c.txn.wg.Wait()
}
