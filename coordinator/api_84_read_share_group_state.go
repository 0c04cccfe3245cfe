package coordinator

// ReadShareGroupState (key 84), version 0: a share partition leader reads
// the state it starts serving from (start offset, state epoch, state
// batches), recording its leader epoch so that earlier leaders are fenced
// (FENCED_LEADER_EPOCH). A share partition never initialized is
// INVALID_REQUEST, as in Kafka. CLUSTER_ACTION on the cluster is needed;
// partitions this broker does not coordinate are NOT_COORDINATOR.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

func (c *shareCoordinator) handleReadShareGroupState(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ReadShareGroupStateRequest)
	resp := req.Response().(*kmsg.ReadShareGroupStateResponse)
	ops := c.stateOps(req)
	for _, rt := range r.Topics {
		ti, st := len(resp.Topics), kmsg.NewReadShareGroupStateResponseTopic()
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			pi, sp := len(st.Partitions), kmsg.NewReadShareGroupStateResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
			key := shareKey{r.GroupID, rt.TopicID, rp.Partition}
			ops.add(func() shareOp {
				return c.read(key, rp.LeaderEpoch)
			}, func(op *shareOp) {
				sp := &resp.Topics[ti].Partitions[pi]
				sp.ErrorCode, sp.ErrorMessage = opError(op)
				sp.StartOffset, sp.StateEpoch = -1, -1
				if op.err != nil {
					return
				}
				sp.StartOffset, sp.StateEpoch = op.start, op.stateEpoch
				sp.StateBatches = make([]kmsg.ReadShareGroupStateResponseTopicPartitionStateBatch, 0, len(op.batches))
				for _, b := range op.batches {
					sb := kmsg.NewReadShareGroupStateResponseTopicPartitionStateBatch()
					sb.FirstOffset, sb.LastOffset, sb.DeliveryState, sb.DeliveryCount = b.First, b.Last, int8(b.State), b.Count
					sp.StateBatches = append(sp.StateBatches, sb)
				}
			})
		}
		resp.Topics = append(resp.Topics, st)
	}
	return c.respond(req, resp, ops)
}
