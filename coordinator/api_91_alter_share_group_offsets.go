package coordinator

// AlterShareGroupOffsets (key 91), version 0: sets the start offsets of
// an Empty share group's partitions (NON_EMPTY_GROUP otherwise,
// GROUP_ID_NOT_FOUND for a group of another type); a group id not in use
// becomes an Empty share group with them, as in Kafka 4.2, so offsets can
// be set before the group is first used. Each partition's state starts
// afresh at the offset (InitializeShareGroupState at the group epoch),
// and it is recorded as initialized so members are assigned it. READ on
// the group and on each topic is needed.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *groupCoordinator) handleAlterShareGroupOffsets(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AlterShareGroupOffsetsRequest)
	resp := req.Response().(*kmsg.AlterShareGroupOffsetsResponse)
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		c.alterShareOffsets(ctx, req, r, resp)
		return resp, nil
	})
	return nil, nil
}

func (c *groupCoordinator) alterShareOffsets(ctx context.Context, req *protocol.Request, r *kmsg.AlterShareGroupOffsetsRequest, resp *kmsg.AlterShareGroupOffsetsResponse) {
	if !c.authorize(req, acl.Read, acl.Group, r.GroupID) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return
	}
	v, kerrv := c.viewEmptyShareGroup(r.GroupID)
	create := false
	if kerrv == kerr.GroupIDNotFound {
		// A group id not in use becomes an Empty share group with these
		// start offsets, as Kafka 4.2 (KAFKA-19662) sets them before the
		// group is first used.
		inUse, e := c.groupInUse(r.GroupID)
		if e == nil && !inUse {
			v, kerrv, create = sgView{parts: map[topicID]*initTopic{}}, nil, true
		} else if e != nil {
			kerrv = e
		}
	}
	if kerrv != nil {
		resp.ErrorCode = kerrv.Code
		return
	}
	done := map[topicID]*initTopic{}
	for _, rt := range r.Topics {
		ot := kmsg.NewAlterShareGroupOffsetsResponseTopic()
		ot.Topic = rt.Topic
		tid, parts, known := c.host.TopicIDOf(rt.Topic)
		ot.TopicID = tid
		denied := !c.authorize(req, acl.Read, acl.Topic, rt.Topic)
		for _, rp := range rt.Partitions {
			op := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
			op.Partition = rp.Partition
			switch {
			case denied:
				op.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case !known || rp.Partition < 0 || rp.Partition >= parts:
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.StartOffset < -1:
				op.ErrorCode = kerr.InvalidRequest.Code
			default:
				if err := c.co.initializeShareState(ctx, r.GroupID, tid, rp.Partition, v.epoch, rp.StartOffset); err != nil {
					op.ErrorCode = kerrOfShareErr(err).Code
					break
				}
				if done[tid] == nil {
					done[tid] = &initTopic{name: rt.Topic, parts: map[int32]bool{}}
				}
				done[tid].parts[rp.Partition] = true
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	if len(done) == 0 {
		return
	}
	kerrv = c.editStateMeta(ctx, r.GroupID, create, func(_, initialized map[topicID]*initTopic) {
		for tid, it := range done {
			cur := initialized[tid]
			if cur == nil {
				initialized[tid] = it
				continue
			}
			for p := range it.parts {
				cur.parts[p] = true
			}
		}
	})
	if kerrv != nil {
		resp.ErrorCode = kerrv.Code
	}
}
