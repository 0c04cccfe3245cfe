package coordinator

// Transaction version 2 (KIP-890 part 2) where it crosses the
// coordinators: TxnOffsetCommit v5 adds the group's __consumer_offsets
// partition to the producer's transaction itself (version 1 clients send
// AddOffsetsToTxn first), asking the transaction coordinator of the id in
// process, or its broker with AddPartitionsToTxn v5 (not VerifyOnly), as
// Kafka's AddPartitionsToTxnManager does.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// offsetsRoute is the offsets partition of group and where the
// transaction coordinator of id is: this broker (local), another (leader),
// or none (an error).
func (c *txnCoordinator) offsetsRoute(id, group string) (tp topicPartition, leader int32, local bool, err *kerr.Error) {
	groups, ids := c.offsetsPartitions(), c.txnPartitions()
	if groups <= 0 || ids <= 0 {
		return tp, -1, false, kerr.CoordinatorNotAvailable
	}
	tp = topicPartition{OffsetsTopic, partitionFor(group, groups)}
	leader, _, local = c.host.PartitionLeader(TransactionTopic, partitionFor(id, ids))
	if !local && leader < 0 {
		return tp, -1, false, kerr.CoordinatorNotAvailable
	}
	return tp, leader, local, nil
}

// addOffsetsPartition adds the offsets partition of group to the
// transaction of id for producer pid at epoch, and returns the error a
// TxnOffsetCommit answers when it cannot.
func (c *txnCoordinator) addOffsetsPartition(ctx context.Context, id string, pid int64, epoch int16, group string) *kerr.Error {
	tp, leader, local, rerr := c.offsetsRoute(id, group)
	if rerr != nil {
		return rerr
	}
	var err error
	if local {
		err = c.addToTxnAs(ctx, id, pid, epoch, true, []topicPartition{tp}, true)
	} else {
		err = c.askRemote(ctx, leader, id, pid, epoch, tp, false)
	}
	if err == nil {
		return nil
	}
	return txnOffsetAddError(c.kerrOf(err))
}

// verifyOffsetsPartition checks, for a TxnOffsetCommit before v5, that
// the offsets partition of group is in the ongoing transaction of id for
// producer pid at epoch (AddOffsetsToTxn put it there), as Kafka's group
// coordinator verifies it with transaction.partition.verification.enable
// before it writes: offsets written outside any transaction would stay
// pending for good, and OffsetFetch with require_stable would answer
// UNSTABLE_OFFSET_COMMIT for them forever. A partition not in the
// transaction is TRANSACTION_ABORTABLE from v4 (KIP-890), else
// INVALID_TXN_STATE; an unknown id or another producer id
// INVALID_PRODUCER_ID_MAPPING; another epoch INVALID_PRODUCER_EPOCH; a
// coordinator that cannot answer now, or a transaction being completed,
// COORDINATOR_LOAD_IN_PROGRESS, which clients retry.
func (c *txnCoordinator) verifyOffsetsPartition(ctx context.Context, id string, pid int64, epoch int16, group string, version int16) *kerr.Error {
	tp, leader, local, rerr := c.offsetsRoute(id, group)
	if rerr != nil {
		return rerr
	}
	var err error
	if local {
		var errs map[topicPartition]error
		if errs, err = c.verifyTxn(id, pid, epoch, []topicPartition{tp}, version >= 4); err == nil {
			err = errs[tp]
		}
	} else {
		err = c.askRemote(ctx, leader, id, pid, epoch, tp, true)
	}
	if err == nil {
		return nil
	}
	e := c.kerrOf(err)
	switch {
	case errors.Is(e, kerr.TransactionAbortable) && version < 4:
		return kerr.InvalidTxnState
	case errors.Is(e, kerr.ConcurrentTransactions):
		return kerr.CoordinatorLoadInProgress
	}
	return txnOffsetAddError(e)
}

// askRemote asks broker leader, the transaction coordinator of id, to add
// tp to the transaction, or with verifyOnly whether it is in it.
func (c *txnCoordinator) askRemote(ctx context.Context, leader int32, id string, pid int64, epoch int16, tp topicPartition, verifyOnly bool) error {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.SetVersion(5)
	t := kmsg.NewAddPartitionsToTxnRequestTransaction()
	t.TransactionalID, t.ProducerID, t.ProducerEpoch, t.VerifyOnly = id, pid, epoch, verifyOnly
	rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	rt.Topic, rt.Partitions = tp.topic, []int32{tp.partition}
	t.Topics = append(t.Topics, rt)
	req.Transactions = append(req.Transactions, t)
	resp, err := c.host.SendToBroker(ctx, leader, req)
	if err != nil {
		c.log.Warn().Err(err).Str("transactional_id", id).Int32("broker", leader).Msg("asking the transaction coordinator about the offsets partition")
		return kerr.CoordinatorNotAvailable
	}
	r := resp.(*kmsg.AddPartitionsToTxnResponse)
	if r.ErrorCode != 0 {
		return kerr.ErrorForCode(r.ErrorCode)
	}
	for _, rt := range r.Transactions {
		for _, st := range rt.Topics {
			for _, sp := range st.Partitions {
				if sp.ErrorCode != 0 {
					return kerr.ErrorForCode(sp.ErrorCode)
				}
			}
		}
	}
	return nil
}

// txnOffsetAddError is what a TxnOffsetCommit answers for a failed add: a
// fenced producer is INVALID_PRODUCER_EPOCH, a coordinator that cannot
// answer now COORDINATOR_LOAD_IN_PROGRESS (retried without looking for
// the group coordinator again), the rest as they are.
func txnOffsetAddError(e *kerr.Error) *kerr.Error {
	switch {
	case errors.Is(e, kerr.ProducerFenced):
		return kerr.InvalidProducerEpoch
	case errors.Is(e, kerr.NotCoordinator), errors.Is(e, kerr.CoordinatorNotAvailable), errors.Is(e, kerr.CoordinatorLoadInProgress),
		errors.Is(e, kerr.NetworkException), errors.Is(e, kerr.RequestTimedOut):
		return kerr.CoordinatorLoadInProgress
	}
	return e
}
