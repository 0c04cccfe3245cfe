package coordinator

// AddPartitionsToTxn (key 24), versions 0-5. Versions 0-3 come from
// clients; 4+ from brokers (Kafka's AddPartitionsToTxnManager, and
// Gregor's own leaders): transactions batched, each answered on its own,
// and VerifyOnly ones only checked, as txn_verify.go explains (partitions
// not in the transaction: INVALID_TXN_STATE for v4, TRANSACTION_ABORTABLE
// for v5, as KIP-890 numbers them).
//
// Adds partitions to the producer's transaction, starting it. An unknown
// producer id is INVALID_PRODUCER_ID_MAPPING, a stale epoch is
// PRODUCER_FENCED (v2+) or INVALID_PRODUCER_EPOCH, a transaction being
// committed or aborted is CONCURRENT_TRANSACTIONS. When any topic is
// unknown, those partitions get UNKNOWN_TOPIC_OR_PARTITION and the others
// OPERATION_NOT_ATTEMPTED, and nothing is added. Every partition carries
// the request's error.
//
// Authorization: WRITE on the transactional id, else every partition is
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED; WRITE on each topic, else its
// partitions are TOPIC_AUTHORIZATION_FAILED (an internal topic always is,
// with or without an authorizer, as in Kafka) and the others
// OPERATION_NOT_ATTEMPTED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *txnCoordinator) handleAddPartitionsToTxn(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AddPartitionsToTxnRequest)
	if req.Version >= 4 {
		return c.handleAddPartitionsToTxnBatched(req, r)
	}
	resp := req.Response().(*kmsg.AddPartitionsToTxnResponse)
	codes := make(map[topicPartition]int16)
	var add []topicPartition
	unknown := false
	txnDenied := !c.authorize(req, acl.Write, acl.TransactionalID, r.TransactionalID)
	var denied map[string]bool
	if !txnDenied {
		denied = deniedTopics(&c.base, req, acl.Write, r.Topics, func(t kmsg.AddPartitionsToTxnRequestTopic) string { return t.Topic })
	}
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			tp := topicPartition{t.Topic, p}
			// Kafka leaves the internal topics out before it authorizes
			// (filterByAuthorized of the rest), so they are refused
			// with or without an authorizer.
			if denied[t.Topic] || t.Topic == OffsetsTopic || t.Topic == TransactionTopic || t.Topic == ShareStateTopic {
				codes[tp] = kerr.TopicAuthorizationFailed.Code
				unknown = true
				continue
			}
			if t.Topic == "" || !c.host.PartitionExists(t.Topic, p) {
				codes[tp] = kerr.UnknownTopicOrPartition.Code
				unknown = true
				continue
			}
			add = append(add, tp)
		}
	}
	answer := func(all int16) kmsg.Response {
		for _, t := range r.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition = p
				rp.ErrorCode = all
				if code, ok := codes[topicPartition{t.Topic, p}]; ok {
					rp.ErrorCode = code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	if txnDenied {
		clear(codes)
		return answer(kerr.TransactionalIDAuthorizationFailed.Code), nil
	}
	// The partitions are checked before the coordinator is asked, as
	// Kafka's KafkaApis answers them itself: a broker that is not (or
	// not yet) the coordinator still names the bad partitions.
	if unknown {
		return answer(kerr.OperationNotAttempted.Code), nil
	}
	if _, err := c.shardOf(r.TransactionalID); err != nil {
		clear(codes)
		return answer(c.errCode(err)), nil
	}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		return answer(c.errCode(c.addToTxn(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, req.Version >= 2, add))), nil
	})
	return nil, nil
}

// handleAddPartitionsToTxnBatched answers v4+: at once when every
// transaction is VerifyOnly (nothing waits), else after the adds are
// written.
// Only brokers send them: CLUSTER_ACTION on the cluster, as Kafka checks.
func (c *txnCoordinator) handleAddPartitionsToTxnBatched(req *protocol.Request, r *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
	if !c.authorize(req, acl.ClusterAction, acl.Cluster, acl.ClusterName) {
		resp := req.Response().(*kmsg.AddPartitionsToTxnResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	verifyOnly := true
	for _, t := range r.Transactions {
		verifyOnly = verifyOnly && t.VerifyOnly
	}
	if verifyOnly {
		return c.answerBatched(context.Background(), r, req.Version), nil
	}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		return c.answerBatched(ctx, r, req.Version), nil
	})
	return nil, nil
}

// addToTxn validates the producer and adds partitions to its transaction.
func (c *txnCoordinator) addToTxn(ctx context.Context, id string, pid int64, epoch int16, fencedCode bool, add []topicPartition) error {
	return c.addToTxnAs(ctx, id, pid, epoch, fencedCode, add, false)
}

// addToTxnAs is addToTxn, marking the transaction as one of a client of
// transaction version 2 (tv2) when its partitions are added implicitly.
func (c *txnCoordinator) addToTxnAs(ctx context.Context, id string, pid int64, epoch int16, fencedCode bool, add []topicPartition, tv2 bool) error {
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
	return c.addPartitions(ctx, ts, m, add, tv2)
}
