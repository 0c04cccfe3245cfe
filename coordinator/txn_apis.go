package coordinator

import "gregor/protocol"

// txnAPIs are the producer id and transaction APIs.
func (c *Coordinator) txnAPIs() []protocol.API {
	return []protocol.API{
		{Key: 22, Min: 0, Max: 5, Handler: c.handleInitProducerID},
	}
}
