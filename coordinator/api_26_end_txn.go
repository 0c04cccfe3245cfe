package coordinator

// EndTxn (key 26), versions 0-5. v5 is transaction version 2 (KIP-890
// part 2): every commit or abort bumps the producer's epoch, the markers
// carry the new one, and the answer gives the producer id and epoch to go
// on with; a retried v5 EndTxn comes with the epoch before the bump.
//
// Commits or aborts the producer's ongoing transaction: the decision is
// written to __transaction_state, then a marker to every partition of the
// transaction, then the completion. The answer waits for the markers, so
// a read_committed consumer sees a committed transaction as soon as the
// producer learns it committed; if markers cannot be written in time the
// answer is still success (the decision is durable) and the markers are
// retried in the background. A retried EndTxn of a completed transaction
// with the same decision succeeds; the other decision, or no transaction,
// is INVALID_TXN_STATE (but a v5 commit at the epoch before the bump of an
// abort the coordinator made itself, on a timeout, is PRODUCER_FENCED); a
// prepared one is CONCURRENT_TRANSACTIONS. WRITE
// on the transactional id is needed, else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.

import (
	"context"
	"math"

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
		pid, epoch, err := c.endTxnV(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit, req.Version >= 2, req.Version >= 5)
		resp.ErrorCode = c.errCode(err)
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
		return resp, nil
	})
	return nil, nil
}

// endTxnRequest is an EndTxn of transaction version 1.
func (c *txnCoordinator) endTxnRequest(ctx context.Context, id string, pid int64, epoch int16, commit, fencedCode bool) error {
	_, _, err := c.endTxnV(ctx, id, pid, epoch, commit, fencedCode, false)
	return err
}

// endTxnV commits or aborts; tv2 is a client of transaction version 2
// (EndTxn v5). It returns the producer id and epoch the producer goes on
// with (-1, -1 on an error). The rules are the request's version's, as
// Kafka's endTransaction picks them from the EndTxn version, not from
// what the id's last transaction used.
func (c *txnCoordinator) endTxnV(ctx context.Context, id string, pid int64, epoch int16, commit, fencedCode, tv2 bool) (int64, int16, error) {
	ts, m, err := c.claimTxn(id, false)
	if err != nil {
		return -1, -1, err
	}
	if m == nil {
		return -1, -1, kerr.InvalidProducerIDMapping
	}
	defer m.release()
	done := func() (int64, int16, error) { return m.d.pid, m.d.epoch, nil }
	end := func() (int64, int16, error) {
		if err := c.endTxnAs(ctx, ts, m, commit, false, tv2); err != nil {
			return -1, -1, err
		}
		return done()
	}
	if !tv2 {
		// Transaction version 1 (endTransactionWithTV1): the current
		// epoch only, and a completed transaction answers a retry of
		// its own decision.
		if err := checkProducer(m, pid, epoch, fencedCode); err != nil {
			return -1, -1, err
		}
		switch m.d.state {
		case txnOngoing:
			return end()
		case txnCompleteCommit, txnCompleteAbort:
			if commit == (m.d.state == txnCompleteCommit) {
				return done()
			}
		case txnPrepareCommit, txnPrepareAbort:
			if commit == (m.d.state == txnPrepareCommit) {
				return -1, -1, kerr.ConcurrentTransactions
			}
		}
		return -1, -1, kerr.InvalidTxnState
	}
	retry, err := checkEndTxnV2Producer(m, pid, epoch)
	if err != nil {
		return -1, -1, err
	}
	// Kafka's table for transaction version 2 (TransactionCoordinator
	// above endTransaction): a retry (the epoch before the bump) of the
	// decision a transaction completed with answers it again; an abort at
	// the current epoch with no transaction ongoing (Empty, or completed:
	// the producer's sends never reached a leader) bumps the epoch through
	// an abort with no partitions; anything else is INVALID_TXN_STATE.
	switch m.d.state {
	case txnOngoing:
		return end()
	case txnCompleteCommit, txnCompleteAbort:
		same := commit == (m.d.state == txnCompleteCommit)
		switch {
		case retry && same:
			return done()
		case !retry && !commit:
			return end()
		case retry && commit:
			// A commit at the epoch before an abort's bump: the
			// coordinator aborted the transaction itself (its timeout)
			// while the commit was on its way, as a producer's own
			// retry carries its own decision. PRODUCER_FENCED, which
			// producers and Kafka Streams recover from, as Kafka
			// answers it (KAFKA-20785); INVALID_TXN_STATE is fatal.
			return -1, -1, kerr.ProducerFenced
		}
	case txnEmpty:
		if !commit {
			return end()
		}
	case txnPrepareCommit, txnPrepareAbort:
		if commit == (m.d.state == txnPrepareCommit) {
			return -1, -1, kerr.ConcurrentTransactions
		}
	}
	return -1, -1, kerr.InvalidTxnState
}

// checkEndTxnV2Producer validates the producer of a transaction version 2
// EndTxn as Kafka's endTransaction: a retried EndTxn names the epoch
// before the bump (or the last one of the previous producer id, when the
// bump moved to a new id); the current epoch ends the ongoing
// transaction, or aborts when none is. It reports whether the request is
// such a retry.
func checkEndTxnV2Producer(m *txnMeta, pid int64, epoch int16) (retry bool, err error) {
	d := &m.d
	retryOverflow := d.lastPid == pid && epoch == math.MaxInt16-1 && d.epoch == 0
	retryBump := d.epoch == epoch+1
	var valid bool
	switch d.state {
	case txnPrepareCommit, txnPrepareAbort:
		valid = retryBump
	case txnCompleteCommit, txnCompleteAbort:
		valid = retryBump || retryOverflow || epoch == d.epoch
	default:
		valid = epoch == d.epoch
	}
	switch {
	case d.pid < 0 || d.pid != pid && !retryOverflow:
		return false, kerr.InvalidProducerIDMapping
	case !valid:
		return false, kerr.ProducerFenced
	}
	return retryBump || retryOverflow, nil
}
