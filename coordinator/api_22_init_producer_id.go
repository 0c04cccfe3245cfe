package coordinator

// InitProducerId (key 22), versions 0-5.
//
// Without a transactional id, a new producer id with epoch 0 from a block
// reserved through the host (unique across restarts and brokers). With
// one, the transaction coordinator bumps the epoch of the id's producer,
// fencing older instances. TransactionTimeoutMillis above
// transaction.max.timeout.ms is INVALID_TRANSACTION_TIMEOUT.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

func (c *Coordinator) handleInitProducerID(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.InitProducerIDRequest)
	resp := req.Response().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if r.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	id, err := c.pids.allocate(ctx)
	if err != nil {
		c.log.Warn().Err(err).Msg("allocating producer ids")
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
