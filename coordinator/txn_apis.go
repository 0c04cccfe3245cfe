package coordinator

import "gregor/protocol"

// txnAPIs are the producer id and transaction APIs.
func (c *Coordinator) txnAPIs() []protocol.API {
	return []protocol.API{
		{Key: 22, Min: 0, Max: 5, Handler: c.handleInitProducerID},
	}
}

// txnLeadership loads or unloads the transactional ids of a
// __transaction_state partition.
func (c *Coordinator) txnLeadership(partition int32, leader bool, epoch int32) {}

// closeTxns stops transaction timers and background work.
func (c *Coordinator) closeTxns() {}
