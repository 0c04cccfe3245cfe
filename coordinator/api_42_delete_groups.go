package coordinator

// DeleteGroups (key 42), versions 0-3. Only an Empty group can be deleted
// (NON_EMPTY_GROUP otherwise); its offsets and metadata (a consumer
// group's records) are tombstoned, the offsets pending in open
// transactions too (their commit markers then bring nothing back), as
// Kafka does. A share group's share partition state is deleted from the
// share coordinators first (sgroup_admin.go). A group named twice is
// answered once. The empty group id is deleted like any other, as Kafka
// does for backward compatibility. DELETE on the group is needed, else
// GROUP_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/records"
	"gregor/coordinator/runtime"
	"gregor/protocol"
)

func (c *groupCoordinator) handleDeleteGroups(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DeleteGroupsRequest)
	resp := req.Response().(*kmsg.DeleteGroupsResponse)
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		resp.Groups = []kmsg.DeleteGroupsResponseGroup{}
		for _, id := range distinct(r.Groups) {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group = id
			if !c.authorize(req, acl.Delete, acl.Group, id) {
				rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
			} else if err := c.deleteGroup(ctx, id); err != nil {
				rg.ErrorCode = err.Code
			}
			resp.Groups = append(resp.Groups, rg)
		}
		return resp, nil
	})
	return nil, nil
}

// distinct is ids without repeats, in order: Kafka's handleDeleteGroupsRequest
// deletes groupsNames.distinct, one result per group (a repeated id was
// deleted, then answered GROUP_ID_NOT_FOUND).
func distinct(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func (c *groupCoordinator) deleteGroup(ctx context.Context, id string) *kerr.Error {
	g, err := c.lockGroup(id, false)
	if err != nil {
		return c.kerrOf(err)
	}
	if g == nil {
		return kerr.GroupIDNotFound
	}
	if g.share != nil {
		g.mu.Unlock()
		return c.deleteShareGroup(ctx, id)
	}
	w, kerrv := c.deleteLocked(g)
	g.mu.Unlock()
	if kerrv != nil {
		return kerrv
	}
	if err := awaitWrite(ctx, w, c.commitTimeout()); err != nil {
		return c.kerrOf(err)
	}
	c.log.Info().Str("group", id).Msg("deleted group")
	return nil
}

// deleteLocked deletes a locked Empty group: its offsets and metadata are
// tombstoned and it is Dead at once.
func (c *groupCoordinator) deleteLocked(g *group) (runtime.Write, *kerr.Error) {
	if g.consumer != nil {
		return c.deleteConsumerLocked(g)
	}
	switch g.state {
	case groupDead:
		return runtime.Write{}, kerr.GroupIDNotFound
	case groupEmpty:
	default:
		return runtime.Write{}, kerr.NonEmptyGroup
	}
	w, err := c.deleteOffsets(g, g.offsetPartitions(), true)
	if err != nil {
		return w, c.kerrOf(err)
	}
	c.removeGroup(g)
	return w, nil
}

// deleteConsumerLocked deletes a locked, empty consumer group: its
// offsets and its records are tombstoned.
func (c *groupCoordinator) deleteConsumerLocked(g *group) (runtime.Write, *kerr.Error) {
	if len(g.consumer.members) > 0 {
		return runtime.Write{}, kerr.NonEmptyGroup
	}
	tps := g.offsetPartitions()
	var recs []records.Record
	for _, tp := range tps {
		recs = append(recs, records.Record{Key: encodeOffsetKey(g.id, tp)})
	}
	for _, r := range c.groupTombstones(g.consumer) {
		recs = append(recs, r.encode(g.id))
	}
	w, err := c.appendRecords(g, recs, -1, -1)
	if err != nil {
		return w, c.kerrOf(err)
	}
	g.forgetOffsets(tps)
	c.removeGroup(g)
	return w, nil
}
