package coordinator

// AddPartitionsToTxn (key 24), versions 0-3 (v4+ is the brokers' batched
// verification path of transaction version 2, which Gregor does not use).
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
// as in Kafka) and the others OPERATION_NOT_ATTEMPTED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *txnCoordinator) handleAddPartitionsToTxn(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AddPartitionsToTxnRequest)
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
			if denied[t.Topic] || c.cfg.Authorizer != nil && (t.Topic == OffsetsTopic || t.Topic == TransactionTopic) {
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
	if _, err := c.shardOf(r.TransactionalID); err != nil {
		clear(codes)
		return answer(c.errCode(err)), nil
	}
	if unknown {
		return answer(kerr.OperationNotAttempted.Code), nil
	}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		return answer(c.errCode(c.addToTxn(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, req.Version >= 2, add))), nil
	})
	return nil, nil
}

// addToTxn validates the producer and adds partitions to its transaction.
func (c *txnCoordinator) addToTxn(ctx context.Context, id string, pid int64, epoch int16, fencedCode bool, add []topicPartition) error {
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
	return c.addPartitions(ctx, ts, m, add)
}
