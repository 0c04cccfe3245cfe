package coordinator

// DeleteShareGroupState (key 86), version 0: the group coordinator deletes
// the state of share partitions (their group or offsets are deleted): a
// tombstone, answered once committed; an unknown key is done at once.
// CLUSTER_ACTION on the cluster is needed.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

func (c *shareCoordinator) handleDeleteShareGroupState(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DeleteShareGroupStateRequest)
	resp := req.Response().(*kmsg.DeleteShareGroupStateResponse)
	ops := c.stateOps(req)
	for _, rt := range r.Topics {
		ti, st := len(resp.Topics), kmsg.NewDeleteShareGroupStateResponseTopic()
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			pi, sp := len(st.Partitions), kmsg.NewDeleteShareGroupStateResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
			key := shareKey{r.GroupID, rt.TopicID, rp.Partition}
			ops.add(func() shareOp {
				return c.remove(key)
			}, func(op *shareOp) {
				sp := &resp.Topics[ti].Partitions[pi]
				sp.ErrorCode, sp.ErrorMessage = opError(op)
			})
		}
		resp.Topics = append(resp.Topics, st)
	}
	return c.respond(req, resp, ops)
}
