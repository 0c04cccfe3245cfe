package coordinator

// InitializeShareGroupState (key 83), version 0: the group coordinator
// (of any broker) starts the state of share partitions afresh at a start
// offset (-1: where share.auto.offset.reset says, once a leader reads
// it), with the group epoch as state epoch. An inter-broker API: it needs
// CLUSTER_ACTION on the cluster. Each partition is answered by this
// broker only if it leads the partition of __share_group_state its key
// hashes to (else NOT_COORDINATOR), once the snapshot is committed.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *shareCoordinator) handleInitializeShareGroupState(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.InitializeShareGroupStateRequest)
	resp := req.Response().(*kmsg.InitializeShareGroupStateResponse)
	allowed := c.authorize(req, acl.ClusterAction, acl.Cluster, acl.ClusterName)
	var ops []*shareOp
	for _, rt := range r.Topics {
		st := kmsg.NewInitializeShareGroupStateResponseTopic()
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			op := opFail(kerr.ClusterAuthorizationFailed, "")
			if allowed {
				op = c.initialize(shareKey{r.GroupID, rt.TopicID, rp.Partition}, rp.StateEpoch, rp.StartOffset)
			}
			ops = append(ops, &op)
			sp := kmsg.NewInitializeShareGroupStateResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		i := 0
		for ti := range resp.Topics {
			for pi := range resp.Topics[ti].Partitions {
				op := ops[i]
				i++
				c.await(ctx, op)
				sp := &resp.Topics[ti].Partitions[pi]
				sp.ErrorCode, sp.ErrorMessage = opError(op)
			}
		}
		return resp, nil
	})
	return nil, nil
}

// opError is an operation's error code and message.
func opError(op *shareOp) (int16, *string) {
	if op.err == nil {
		return 0, nil
	}
	msg := op.msg
	if msg == "" {
		msg = op.err.Message
	}
	return op.err.Code, &msg
}
