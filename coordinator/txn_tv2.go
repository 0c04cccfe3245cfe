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

// addOffsetsPartition adds the offsets partition of group to the
// transaction of id for producer pid at epoch, and returns the error a
// TxnOffsetCommit answers when it cannot.
func (c *txnCoordinator) addOffsetsPartition(ctx context.Context, id string, pid int64, epoch int16, group string) *kerr.Error {
	groups, ids := c.offsetsPartitions(), c.txnPartitions()
	if groups <= 0 || ids <= 0 {
		return kerr.CoordinatorNotAvailable
	}
	tp := topicPartition{OffsetsTopic, partitionFor(group, groups)}
	leader, _, local := c.host.PartitionLeader(TransactionTopic, partitionFor(id, ids))
	var err error
	switch {
	case local:
		err = c.addToTxnAs(ctx, id, pid, epoch, true, []topicPartition{tp}, true)
	case leader < 0:
		err = kerr.CoordinatorNotAvailable
	default:
		err = c.addRemote(ctx, leader, id, pid, epoch, tp)
	}
	if err == nil {
		return nil
	}
	return txnOffsetAddError(c.kerrOf(err))
}

// addRemote asks broker leader, the transaction coordinator of id, to add
// tp to the transaction.
func (c *txnCoordinator) addRemote(ctx context.Context, leader int32, id string, pid int64, epoch int16, tp topicPartition) error {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.SetVersion(5)
	t := kmsg.NewAddPartitionsToTxnRequestTransaction()
	t.TransactionalID, t.ProducerID, t.ProducerEpoch = id, pid, epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	rt.Topic, rt.Partitions = tp.topic, []int32{tp.partition}
	t.Topics = append(t.Topics, rt)
	req.Transactions = append(req.Transactions, t)
	resp, err := c.host.SendToBroker(ctx, leader, req)
	if err != nil {
		c.log.Warn().Err(err).Str("transactional_id", id).Int32("broker", leader).Msg("adding the offsets partition to a transaction")
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
