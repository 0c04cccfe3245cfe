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

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/share"
	"gregor/protocol"
)

func (c *shareCoordinator) handleWriteShareGroupState(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.WriteShareGroupStateRequest)
	resp := req.Response().(*kmsg.WriteShareGroupStateResponse)
	allowed := c.authorize(req, acl.ClusterAction, acl.Cluster, acl.ClusterName)
	var ops []*shareOp
	for _, rt := range r.Topics {
		st := kmsg.NewWriteShareGroupStateResponseTopic()
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			op := opFail(kerr.ClusterAuthorizationFailed, "")
			if allowed {
				w := shareWrite{stateEpoch: rp.StateEpoch, leaderEpoch: rp.LeaderEpoch, start: rp.StartOffset}
				for _, b := range rp.StateBatches {
					w.batches = append(w.batches, share.Batch{First: b.FirstOffset, Last: b.LastOffset, State: share.State(b.DeliveryState), Count: b.DeliveryCount})
				}
				op = c.write(shareKey{r.GroupID, rt.TopicID, rp.Partition}, w)
			}
			ops = append(ops, &op)
			sp := kmsg.NewWriteShareGroupStateResponseTopicPartition()
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
