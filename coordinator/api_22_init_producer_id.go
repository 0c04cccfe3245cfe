package coordinator

// InitProducerId (key 22), versions 0-5.
//
// Without a transactional id: a new producer id with epoch 0, from a block
// reserved through the host (unique across restarts and brokers). With
// one: the transaction coordinator of the id bumps its producer's epoch,
// fencing older instances and aborting a transaction they left open; the
// id gets a new producer id when the epoch is exhausted. A producer that
// sends its current id and epoch (KIP-360, v3+) keeps the id; anything
// else is PRODUCER_FENCED (v4+) or INVALID_PRODUCER_EPOCH. A timeout above
// transaction.max.timeout.ms is INVALID_TRANSACTION_TIMEOUT.
//
// Authorization: WRITE on the transactional id, else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED; an idempotent producer needs
// IDEMPOTENT_WRITE on the cluster or WRITE on some topic (Kafka 2.8+,
// KIP-679), else CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *txnCoordinator) handleInitProducerID(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.InitProducerIDRequest)
	resp := req.Response().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if code := c.authorizeInitProducerID(req, r.TransactionalID); code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	if (r.ProducerID < 0) != (r.ProducerEpoch < 0) {
		// As Kafka: a producer id and epoch come together (KIP-360), or
		// neither.
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	if r.TransactionalID == nil {
		id, err := c.pids.allocate(ctx)
		if err != nil {
			c.log.Warn().Err(err).Msg("allocating producer ids")
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp, nil
		}
		resp.ProducerID, resp.ProducerEpoch = id, 0
		return resp, nil
	}
	id := *r.TransactionalID
	if id == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	if r.TransactionTimeoutMillis <= 0 || time.Duration(r.TransactionTimeoutMillis)*time.Millisecond > c.cfg.TxnMaxTimeout {
		resp.ErrorCode = kerr.InvalidTransactionTimeout.Code
		return resp, nil
	}
	if _, err := c.shardOf(id); err != nil {
		resp.ErrorCode = c.errCode(err)
		return resp, nil
	}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		ts, m, err := c.claimTxn(id, true)
		if err != nil {
			resp.ErrorCode = c.errCode(err)
			return resp, nil
		}
		defer m.release()
		err = c.initProducer(ctx, ts, m, r.TransactionTimeoutMillis, r.ProducerID, r.ProducerEpoch, req.Version >= 4)
		if err != nil {
			if m.d.pid < 0 {
				ts.forget(m) // never persisted: drop the placeholder
			}
			resp.ErrorCode = c.errCode(err)
			return resp, nil
		}
		resp.ProducerID, resp.ProducerEpoch = m.d.pid, m.d.epoch
		return resp, nil
	})
	return nil, nil
}

// authorizeInitProducerID returns the error code of a refused
// InitProducerId, or 0.
func (c *txnCoordinator) authorizeInitProducerID(req *protocol.Request, txnID *string) int16 {
	switch {
	case c.cfg.Authorizer == nil:
	case txnID != nil:
		if !c.authorize(req, acl.Write, acl.TransactionalID, *txnID) {
			return kerr.TransactionalIDAuthorizationFailed.Code
		}
	case !c.allowed(req, acl.IdempotentWrite, acl.Cluster, acl.ClusterName) && !c.allowedOnSomeTopic(req, acl.Write):
		c.authorize(req, acl.IdempotentWrite, acl.Cluster, acl.ClusterName) // logs and counts the denial
		return kerr.ClusterAuthorizationFailed.Code
	}
	return 0
}
