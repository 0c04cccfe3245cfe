package coordinator

// TxnOffsetCommit (key 28), versions 0-5.
//
// Offsets a transactional producer commits for a group are written to the
// group's __consumer_offsets partition in a transactional batch of that
// producer. They become the group's committed offsets when the
// transaction's commit marker reaches that partition, and are dropped on
// abort; meanwhile OffsetFetch with require_stable answers
// UNSTABLE_OFFSET_COMMIT for them. v3+ carry the member and generation of
// a consumer-transform-produce loop and are checked as Kafka checks them
// (KIP-447). A stale producer epoch is refused by the partition. v5 is
// transaction version 2: the client sends no AddOffsetsToTxn, the group's
// offsets partition is added to the transaction here first (txn_tv2.go).
// The empty group id is INVALID_GROUP_ID (OffsetCommit accepts it).
// Before v2, COORDINATOR_LOAD_IN_PROGRESS is answered as
// COORDINATOR_NOT_AVAILABLE, as Kafka does for the clients of then.
// WRITE on the transactional id, READ on the group and on each topic are
// needed, else every partition is TRANSACTIONAL_ID_ or
// GROUP_AUTHORIZATION_FAILED, or the topic's TOPIC_AUTHORIZATION_FAILED.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *groupCoordinator) handleTxnOffsetCommit(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.TxnOffsetCommitRequest)
	resp := req.Response().(*kmsg.TxnOffsetCommitResponse)
	answer := func(code func(topic string, partition int32) int16) (kmsg.Response, error) {
		resp.Topics = []kmsg.TxnOffsetCommitResponseTopic{}
		for _, t := range r.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = code(t.Topic, p.Partition)
				if req.Version < 2 && rp.ErrorCode == kerr.CoordinatorLoadInProgress.Code {
					// As Kafka: the producers of 0.11 to 2.0 could
					// crash on it (KAFKA-7296); they retry this one.
					rp.ErrorCode = kerr.CoordinatorNotAvailable.Code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	switch {
	case !c.authorize(req, acl.Write, acl.TransactionalID, r.TransactionalID):
		return answer(func(string, int32) int16 { return kerr.TransactionalIDAuthorizationFailed.Code })
	case !c.authorize(req, acl.Read, acl.Group, r.Group):
		return answer(func(string, int32) int16 { return kerr.GroupAuthorizationFailed.Code })
	}
	denied := deniedTopics(&c.base, req, acl.Read, r.Topics, func(t kmsg.TxnOffsetCommitRequestTopic) string { return t.Topic })
	allowed := *r
	allowed.Topics = slices.DeleteFunc(slices.Clone(r.Topics), func(t kmsg.TxnOffsetCommitRequestTopic) bool { return denied[t.Topic] })
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		codes := c.txnOffsetCommit(ctx, &allowed, req.Version)
		return answer(func(topic string, partition int32) int16 {
			if denied[topic] {
				return kerr.TopicAuthorizationFailed.Code
			}
			return codes[topicPartition{topic, partition}]
		})
	})
	return nil, nil
}

func (c *groupCoordinator) txnOffsetCommit(ctx context.Context, r *kmsg.TxnOffsetCommitRequest, version int16) map[topicPartition]int16 {
	var check func() *kerr.Error
	switch {
	case r.Group == "":
		// Unlike OffsetCommit, Kafka refuses the empty group id here,
		// before it looks at the transaction.
		check = func() *kerr.Error { return kerr.InvalidGroupID }
	case version >= 5:
		check = func() *kerr.Error {
			return c.txns.addOffsetsPartition(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Group)
		}
	case c.cfg.txnPartitionVerification():
		check = func() *kerr.Error {
			return c.txns.verifyOffsetsPartition(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Group, version)
		}
	}
	if check != nil {
		// Partitions that do not exist are answered first, and only
		// the others reach the coordinator (none: it is not asked at
		// all), as Kafka's KafkaApis sorts them out before calling it.
		codes := make(map[topicPartition]int16)
		known := false
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				if tp := (topicPartition{t.Topic, p.Partition}); !c.host.PartitionExists(tp.topic, tp.partition) {
					codes[tp] = kerr.UnknownTopicOrPartition.Code
				} else {
					known = true
				}
			}
		}
		if !known {
			return codes
		}
		if err := check(); err != nil {
			for _, t := range r.Topics {
				for _, p := range t.Partitions {
					if tp := (topicPartition{t.Topic, p.Partition}); codes[tp] == 0 {
						codes[tp] = err.Code
					}
				}
			}
			return codes
		}
	}
	// A missing group is created for a commit without a generation (from
	// a producer outside group management); one naming a generation is
	// ILLEGAL_GENERATION, as in Kafka.
	cr := commitRequest{group: r.Group, create: r.Generation < 0, missing: kerr.IllegalGeneration, pid: r.ProducerID, epoch: r.ProducerEpoch,
		check: func(g *group) error {
			if g.share != nil {
				return kerr.GroupIDNotFound
			}
			if g.consumer == nil {
				return checkTxnCommit(g, r, version)
			}
			// A consumer group checks its member; a stale member epoch is
			// ILLEGAL_GENERATION here, as Kafka answers it.
			if e := checkConsumerCommit(g.consumer, r.MemberID, r.InstanceID, r.Generation, version, true); e != nil {
				if e == kerr.StaleMemberEpoch {
					return kerr.IllegalGeneration
				}
				return e
			}
			return nil
		}}
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			it := commitItem{tp: topicPartition{t.Topic, p.Partition}, offset: p.Offset, leaderEpoch: -1, metadata: p.Metadata, expireMs: -1}
			if version >= 2 {
				it.leaderEpoch = p.LeaderEpoch
			}
			cr.items = append(cr.items, it)
		}
	}
	return c.commit(ctx, cr)
}

// checkTxnCommit validates the member of a consume-transform-produce loop
// committing to a locked group (v3+, KIP-447), as Kafka's classic groups
// validate a transactional commit.
func checkTxnCommit(g *group, r *kmsg.TxnOffsetCommitRequest, version int16) error {
	if version < 3 {
		return nil
	}
	if e := checkCommit(g, r.MemberID, r.InstanceID, r.Generation, true); e != nil {
		return e
	}
	return nil
}
