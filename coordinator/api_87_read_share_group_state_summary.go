package coordinator

// ReadShareGroupStateSummary (key 87), versions 0-1: the start offset and
// epochs of share partitions (DescribeShareGroupOffsets), start offset -1
// for one never initialized; v1 adds DeliveryCompleteCount, the offsets
// from the start offset on that are acknowledged or archived. The answer
// waits for the key's last write. CLUSTER_ACTION on the cluster is needed.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

func (c *shareCoordinator) handleReadShareGroupStateSummary(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ReadShareGroupStateSummaryRequest)
	resp := req.Response().(*kmsg.ReadShareGroupStateSummaryResponse)
	ops := c.stateOps(req)
	for _, rt := range r.Topics {
		ti, st := len(resp.Topics), kmsg.NewReadShareGroupStateSummaryResponseTopic()
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			pi, sp := len(st.Partitions), kmsg.NewReadShareGroupStateSummaryResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
			key := shareKey{r.GroupID, rt.TopicID, rp.Partition}
			ops.add(func() shareOp {
				return c.summary(key)
			}, func(op *shareOp) {
				sp := &resp.Topics[ti].Partitions[pi]
				sp.ErrorCode, sp.ErrorMessage = opError(op)
				sp.StartOffset, sp.StateEpoch, sp.LeaderEpoch, sp.DeliveryCompleteCount = -1, -1, -1, -1
				if op.err == nil {
					sp.StartOffset, sp.StateEpoch, sp.LeaderEpoch, sp.DeliveryCompleteCount = op.start, op.stateEpoch, op.leaderEpoch, op.complete
				}
			})
		}
		resp.Topics = append(resp.Topics, st)
	}
	return c.respond(req, resp, ops)
}
