package coordinator

// EndTxn (key 26), versions 0-4 (v5 belongs to transaction version 2).
//
// Commits or aborts the producer's ongoing transaction: the decision is
// written to __transaction_state, then a marker to every partition of the
// transaction, then the completion. The answer waits for the markers, so
// a read_committed consumer sees a committed transaction as soon as the
// producer learns it committed; if markers cannot be written in time the
// answer is still success (the decision is durable) and the markers are
// retried in the background. A retried EndTxn of a completed transaction
// with the same decision succeeds; the other decision, or no transaction,
// is INVALID_TXN_STATE; a prepared one is CONCURRENT_TRANSACTIONS. WRITE
// on the transactional id is needed, else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *txnCoordinator) handleEndTxn(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.EndTxnRequest)
	resp := req.Response().(*kmsg.EndTxnResponse)
	if !c.authorize(req, acl.Write, acl.TransactionalID, r.TransactionalID) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	if _, err := c.shardOf(r.TransactionalID); err != nil {
		resp.ErrorCode = c.errCode(err)
		return resp, nil
	}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		resp.ErrorCode = c.errCode(c.endTxnRequest(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit, req.Version >= 2))
		return resp, nil
	})
	return nil, nil
}

func (c *txnCoordinator) endTxnRequest(ctx context.Context, id string, pid int64, epoch int16, commit, fencedCode bool) error {
	ts, m, err := c.claimTxn(id, false)
	if err != nil {
		return err
	}
	if m == nil {
		return kerr.InvalidProducerIDMapping
	}
	defer m.release()
	if err := checkProducer(m, pid, epoch, fencedCode); err != nil {
		return err
	}
	switch m.d.state {
	case txnOngoing:
		return c.endTxn(ctx, ts, m, commit, false)
	case txnCompleteCommit:
		if commit {
			return nil
		}
	case txnCompleteAbort:
		if !commit {
			return nil
		}
	case txnPrepareCommit:
		if commit {
			return kerr.ConcurrentTransactions
		}
	case txnPrepareAbort:
		if !commit {
			return kerr.ConcurrentTransactions
		}
	}
	return kerr.InvalidTxnState
}
