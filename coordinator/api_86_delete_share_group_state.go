package coordinator

// DeleteShareGroupState (key 86), version 0: the group coordinator deletes
// the state of share partitions (their group or offsets are deleted): a
// tombstone, answered once committed; an unknown key is done at once.
// CLUSTER_ACTION on the cluster is needed.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *shareCoordinator) handleDeleteShareGroupState(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DeleteShareGroupStateRequest)
	resp := req.Response().(*kmsg.DeleteShareGroupStateResponse)
	allowed := c.authorize(req, acl.ClusterAction, acl.Cluster, acl.ClusterName)
	var ops []*shareOp
	for _, rt := range r.Topics {
		st := kmsg.NewDeleteShareGroupStateResponseTopic()
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			op := opFail(kerr.ClusterAuthorizationFailed, "")
			if allowed {
				op = c.remove(shareKey{r.GroupID, rt.TopicID, rp.Partition})
			}
			ops = append(ops, &op)
			sp := kmsg.NewDeleteShareGroupStateResponseTopicPartition()
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
