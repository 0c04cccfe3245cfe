package coordinator

// ReadShareGroupStateSummary (key 87), versions 0-1: the start offset and
// epochs of share partitions (DescribeShareGroupOffsets), start offset -1
// for one never initialized; v1 adds DeliveryCompleteCount, the offsets
// from the start offset on that are acknowledged or archived. The answer
// waits for the key's last write. CLUSTER_ACTION on the cluster is needed.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *shareCoordinator) handleReadShareGroupStateSummary(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ReadShareGroupStateSummaryRequest)
	resp := req.Response().(*kmsg.ReadShareGroupStateSummaryResponse)
	allowed := c.authorize(req, acl.ClusterAction, acl.Cluster, acl.ClusterName)
	var ops []*shareOp
	for _, rt := range r.Topics {
		st := kmsg.NewReadShareGroupStateSummaryResponseTopic()
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			op := opFail(kerr.ClusterAuthorizationFailed, "")
			if allowed {
				op = c.summary(shareKey{r.GroupID, rt.TopicID, rp.Partition})
			}
			ops = append(ops, &op)
			sp := kmsg.NewReadShareGroupStateSummaryResponseTopicPartition()
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
				sp.StartOffset, sp.StateEpoch, sp.LeaderEpoch, sp.DeliveryCompleteCount = -1, -1, -1, -1
				if op.err == nil {
					sp.StartOffset, sp.StateEpoch, sp.LeaderEpoch, sp.DeliveryCompleteCount = op.start, op.stateEpoch, op.leaderEpoch, op.complete
				}
			}
		}
		return resp, nil
	})
	return nil, nil
}
