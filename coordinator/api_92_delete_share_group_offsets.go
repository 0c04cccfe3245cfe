package coordinator

// DeleteShareGroupOffsets (key 92), version 0: deletes an Empty share
// group's state of whole topics (NON_EMPTY_GROUP otherwise,
// GROUP_ID_NOT_FOUND for no share group): every partition's state at the
// share coordinators, then the topic leaves the group's initialized
// partitions, so the next member starts it afresh by
// share.auto.offset.reset. A topic the group has no state of is
// UNKNOWN_TOPIC_OR_PARTITION. DELETE on the group and READ on each topic
// are needed.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *groupCoordinator) handleDeleteShareGroupOffsets(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DeleteShareGroupOffsetsRequest)
	resp := req.Response().(*kmsg.DeleteShareGroupOffsetsResponse)
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		c.deleteShareOffsets(ctx, req, r, resp)
		return resp, nil
	})
	return nil, nil
}

func (c *groupCoordinator) deleteShareOffsets(ctx context.Context, req *protocol.Request, r *kmsg.DeleteShareGroupOffsetsRequest, resp *kmsg.DeleteShareGroupOffsetsResponse) {
	if !c.authorize(req, acl.Delete, acl.Group, r.GroupID) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return
	}
	v, kerrv := c.viewEmptyShareGroup(r.GroupID)
	if kerrv != nil {
		resp.ErrorCode = kerrv.Code
		return
	}
	deleted := map[topicID]bool{}
	for _, rt := range r.Topics {
		ot := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
		ot.Topic = rt.Topic
		tid, _, known := c.host.TopicIDOf(rt.Topic)
		ot.TopicID = tid
		it := v.parts[tid]
		switch {
		case !c.authorize(req, acl.Read, acl.Topic, rt.Topic):
			ot.ErrorCode = kerr.TopicAuthorizationFailed.Code
		case !known || it == nil:
			ot.ErrorCode = kerr.UnknownTopicOrPartition.Code
		default:
			if e := c.deleteTopicState(ctx, r.GroupID, tid, it); e != nil {
				ot.ErrorCode = e.Code
				break
			}
			deleted[tid] = true
		}
		resp.Topics = append(resp.Topics, ot)
	}
	if len(deleted) == 0 {
		return
	}
	if e := c.updateStateMeta(ctx, r.GroupID, func(_, initialized map[topicID]*initTopic) {
		for tid := range deleted {
			delete(initialized, tid)
		}
	}); e != nil {
		resp.ErrorCode = e.Code
	}
}

// deleteTopicState deletes the share state of a topic's partitions.
func (c *groupCoordinator) deleteTopicState(ctx context.Context, group string, tid topicID, it *initTopic) *kerr.Error {
	for p := range it.parts {
		if err := c.co.deleteShareState(ctx, group, tid, p); err != nil {
			c.log.Warn().Err(err).Str("group", group).Str("topic", it.name).Int32("partition", p).Msg("deleting share partition state")
			return kerrOfShareErr(err)
		}
	}
	return nil
}
