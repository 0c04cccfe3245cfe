package coordinator

// WriteShareGroupState (key 85), versions 0-1: a share partition leader
// records what changed (the start offset, -1 for unchanged, and the state
// batches that changed), answered once the ShareUpdate (or, every
// share.coordinator.snapshot.update.records.per.snapshot updates, the
// ShareSnapshot) is committed. A write from a deposed leader is
// FENCED_LEADER_EPOCH; one with an old state epoch (the group re-initialized
// the partition) FENCED_STATE_EPOCH; one for a share partition never
// initialized INVALID_REQUEST. v1's DeliveryCompleteCount is recomputed
// from the batches, not stored. CLUSTER_ACTION on the cluster is needed.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/share"
	"gregor/protocol"
)

func (c *shareCoordinator) handleWriteShareGroupState(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.WriteShareGroupStateRequest)
	resp := req.Response().(*kmsg.WriteShareGroupStateResponse)
	ops := c.stateOps(req)
	for _, rt := range r.Topics {
		ti, st := len(resp.Topics), kmsg.NewWriteShareGroupStateResponseTopic()
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			pi, sp := len(st.Partitions), kmsg.NewWriteShareGroupStateResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
			key := shareKey{r.GroupID, rt.TopicID, rp.Partition}
			ops.add(func() shareOp {
				w := shareWrite{stateEpoch: rp.StateEpoch, leaderEpoch: rp.LeaderEpoch, start: rp.StartOffset}
				for _, b := range rp.StateBatches {
					w.batches = append(w.batches, share.Batch{First: b.FirstOffset, Last: b.LastOffset, State: share.State(b.DeliveryState), Count: b.DeliveryCount})
				}
				return c.write(key, w)
			}, func(op *shareOp) {
				sp := &resp.Topics[ti].Partitions[pi]
				sp.ErrorCode, sp.ErrorMessage = opError(op)
			})
		}
		resp.Topics = append(resp.Topics, st)
	}
	return c.respond(req, resp, ops)
}
