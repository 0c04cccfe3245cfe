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

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

func (c *shareCoordinator) handleInitializeShareGroupState(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.InitializeShareGroupStateRequest)
	resp := req.Response().(*kmsg.InitializeShareGroupStateResponse)
	ops := c.stateOps(req)
	for _, rt := range r.Topics {
		ti, st := len(resp.Topics), kmsg.NewInitializeShareGroupStateResponseTopic()
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			pi, sp := len(st.Partitions), kmsg.NewInitializeShareGroupStateResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
			key := shareKey{r.GroupID, rt.TopicID, rp.Partition}
			ops.add(func() shareOp {
				return c.initialize(key, rp.StateEpoch, rp.StartOffset)
			}, func(op *shareOp) {
				sp := &resp.Topics[ti].Partitions[pi]
				sp.ErrorCode, sp.ErrorMessage = opError(op)
			})
		}
		resp.Topics = append(resp.Topics, st)
	}
	return c.respond(req, resp, ops)
}
