package coordinator

// Transaction verification (KIP-890 part 1): before a partition leader
// writes the first transactional batch of a producer, it asks the
// coordinator of the producer's transactional id whether the partition is
// in the producer's ongoing transaction. Kafka's leaders send
// AddPartitionsToTxn v4+ with VerifyOnly; a Gregor leader does the same
// to another broker, and calls VerifyTxn in process when it coordinates
// the id itself. Nothing is claimed or written: the answer reads the
// id's committed state, as Kafka's handleVerifyPartitionsInTransaction
// does, and the leader's append re-checks that no marker ended the
// transaction meanwhile.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnPartitionFor is the __transaction_state partition whose leader
// coordinates a transactional id.
func (c *Coordinator) TxnPartitionFor(id string) int32 {
	n := c.txnPartitions()
	if n <= 0 {
		return -1
	}
	return partitionFor(id, n)
}

// VerifyTxn answers a batched (v4+) AddPartitionsToTxn request whose
// transactions are all VerifyOnly, for the ids this broker coordinates;
// the others get NOT_COORDINATOR. It never blocks on I/O.
func (c *Coordinator) VerifyTxn(r *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	resp := kmsg.NewPtrAddPartitionsToTxnResponse()
	resp.SetVersion(r.GetVersion())
	for i := range r.Transactions {
		t := &r.Transactions[i]
		if !t.VerifyOnly {
			resp.Transactions = append(resp.Transactions, answerTxn(t, nil, kerr.InvalidRequest.Code))
			continue
		}
		resp.Transactions = append(resp.Transactions, c.txns.answerVerify(t, r.GetVersion() >= 5))
	}
	return resp
}

// answerVerify answers one verify-only transaction of a v4+ request.
func (c *txnCoordinator) answerVerify(t *kmsg.AddPartitionsToTxnRequestTransaction, abortable bool) kmsg.AddPartitionsToTxnResponseTransaction {
	parts, codes, unknown := c.knownPartitions(t)
	if unknown {
		return answerTxn(t, codes, kerr.OperationNotAttempted.Code)
	}
	errs, err := c.verifyTxn(t.TransactionalID, t.ProducerID, t.ProducerEpoch, parts, abortable)
	if err != nil {
		return answerTxn(t, nil, c.errCode(err))
	}
	for tp, e := range errs {
		codes[tp] = c.errCode(e)
	}
	return answerTxn(t, codes, 0)
}

// verifyTxn reports, per partition, whether it is in the ongoing
// transaction of producer pid at epoch for transactional id id: nil if
// it is, else TRANSACTION_ABORTABLE (abortable: a v5+ asker) or
// INVALID_TXN_STATE. An error applies to every partition: INVALID_REQUEST
// for an empty id, NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS,
// INVALID_PRODUCER_ID_MAPPING for an unknown id or another producer id,
// PRODUCER_FENCED for another epoch, CONCURRENT_TRANSACTIONS while the
// transaction is being committed or aborted.
func (c *txnCoordinator) verifyTxn(id string, pid int64, epoch int16, parts []topicPartition, abortable bool) (map[topicPartition]error, error) {
	if id == "" {
		return nil, kerr.InvalidRequest
	}
	notIn := kerr.InvalidTxnState
	if abortable {
		notIn = kerr.TransactionAbortable
	}
	for {
		ts, err := c.shardOf(id)
		if err != nil {
			return nil, err
		}
		m := ts.lookup(id)
		if m == nil {
			return nil, kerr.InvalidProducerIDMapping
		}
		if out, ok, err := m.verify(pid, epoch, parts, notIn); ok {
			return out, err
		}
		// Removed meanwhile (expired or unloaded): look it up again.
	}
}

// verify checks the id's committed state; ok is false if the id was
// removed.
func (m *txnMeta) verify(pid int64, epoch int16, parts []topicPartition, notIn error) (out map[topicPartition]error, ok bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.removed:
		return nil, false, nil
	case m.d.pid < 0 || m.d.pid != pid:
		return nil, true, kerr.InvalidProducerIDMapping
	case m.d.epoch != epoch:
		return nil, true, kerr.ProducerFenced
	case m.d.state == txnPrepareCommit || m.d.state == txnPrepareAbort:
		return nil, true, kerr.ConcurrentTransactions
	}
	out = make(map[topicPartition]error, len(parts))
	for _, tp := range parts {
		if _, in := m.d.parts[tp]; !in || m.d.state != txnOngoing {
			out[tp] = notIn
		} else {
			out[tp] = nil
		}
	}
	return out, true, nil
}

// knownPartitions lists a transaction's partitions that exist, and
// UNKNOWN_TOPIC_OR_PARTITION codes for those that do not.
func (c *txnCoordinator) knownPartitions(t *kmsg.AddPartitionsToTxnRequestTransaction) ([]topicPartition, map[topicPartition]int16, bool) {
	codes := make(map[topicPartition]int16)
	var parts []topicPartition
	unknown := false
	for _, rt := range t.Topics {
		for _, p := range rt.Partitions {
			tp := topicPartition{rt.Topic, p}
			if rt.Topic == "" || !c.host.PartitionExists(rt.Topic, p) {
				codes[tp] = kerr.UnknownTopicOrPartition.Code
				unknown = true
				continue
			}
			parts = append(parts, tp)
		}
	}
	return parts, codes, unknown
}

// answerTxn is one transaction's result in a v4+ response: every
// partition gets its code from codes, or all.
func answerTxn(t *kmsg.AddPartitionsToTxnRequestTransaction, codes map[topicPartition]int16, all int16) kmsg.AddPartitionsToTxnResponseTransaction {
	rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
	rt.TransactionalID = t.TransactionalID
	for _, tt := range t.Topics {
		st := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
		st.Topic = tt.Topic
		for _, p := range tt.Partitions {
			sp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
			sp.Partition, sp.ErrorCode = p, all
			if code, ok := codes[topicPartition{tt.Topic, p}]; ok {
				sp.ErrorCode = code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		rt.Topics = append(rt.Topics, st)
	}
	return rt
}

// answerBatched answers a v4+ request: verify-only transactions at once,
// others by adding their partitions as v3 does (which may wait for the
// state to be written).
func (c *txnCoordinator) answerBatched(ctx context.Context, r *kmsg.AddPartitionsToTxnRequest, version int16) *kmsg.AddPartitionsToTxnResponse {
	resp := kmsg.NewPtrAddPartitionsToTxnResponse()
	resp.SetVersion(version)
	for i := range r.Transactions {
		t := &r.Transactions[i]
		if t.VerifyOnly {
			resp.Transactions = append(resp.Transactions, c.answerVerify(t, version >= 5))
			continue
		}
		parts, codes, unknown := c.knownPartitions(t)
		switch {
		case t.TransactionalID == "":
			resp.Transactions = append(resp.Transactions, answerTxn(t, nil, kerr.InvalidRequest.Code))
		case unknown:
			resp.Transactions = append(resp.Transactions, answerTxn(t, codes, kerr.OperationNotAttempted.Code))
		default:
			// Not VerifyOnly: a leader adding a partition for a produce
			// of transaction version 2 (KIP-890 part 2).
			err := c.addToTxnAs(ctx, t.TransactionalID, t.ProducerID, t.ProducerEpoch, true, parts, true)
			resp.Transactions = append(resp.Transactions, answerTxn(t, nil, c.errCode(err)))
		}
	}
	return resp
}

// AddTxnPartitions answers a batched (v4+) AddPartitionsToTxn request of
// a partition leader adding partitions for a produce of transaction
// version 2, in process: it waits for the additions to be written.
func (c *Coordinator) AddTxnPartitions(ctx context.Context, r *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	return c.txns.answerBatched(ctx, r, r.GetVersion())
}
