package coordinator

// ReadShareGroupState (key 84), version 0: a share partition leader reads
// the state it starts serving from (start offset, state epoch, state
// batches), recording its leader epoch so that earlier leaders are fenced
// (FENCED_LEADER_EPOCH). A share partition never initialized is
// INVALID_REQUEST, as in Kafka. CLUSTER_ACTION on the cluster is needed;
// partitions this broker does not coordinate are NOT_COORDINATOR.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *shareCoordinator) handleReadShareGroupState(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ReadShareGroupStateRequest)
	resp := req.Response().(*kmsg.ReadShareGroupStateResponse)
	allowed := c.authorize(req, acl.ClusterAction, acl.Cluster, acl.ClusterName)
	var ops []*shareOp
	for _, rt := range r.Topics {
		st := kmsg.NewReadShareGroupStateResponseTopic()
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			op := opFail(kerr.ClusterAuthorizationFailed, "")
			if allowed {
				op = c.read(shareKey{r.GroupID, rt.TopicID, rp.Partition}, rp.LeaderEpoch)
			}
			ops = append(ops, &op)
			sp := kmsg.NewReadShareGroupStateResponseTopicPartition()
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
				sp.StartOffset, sp.StateEpoch = -1, -1
				if op.err != nil {
					continue
				}
				sp.StartOffset, sp.StateEpoch = op.start, op.stateEpoch
				sp.StateBatches = make([]kmsg.ReadShareGroupStateResponseTopicPartitionStateBatch, 0, len(op.batches))
				for _, b := range op.batches {
					sb := kmsg.NewReadShareGroupStateResponseTopicPartitionStateBatch()
					sb.FirstOffset, sb.LastOffset, sb.DeliveryState, sb.DeliveryCount = b.First, b.Last, int8(b.State), b.Count
					sp.StateBatches = append(sp.StateBatches, sb)
				}
			}
		}
		return resp, nil
	})
	return nil, nil
}
