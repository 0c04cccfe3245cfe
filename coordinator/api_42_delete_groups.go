package coordinator

// DeleteGroups (key 42), versions 0-3. Only an Empty group can be deleted
// (NON_EMPTY_GROUP otherwise); its offsets and metadata are tombstoned.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

func (c *Coordinator) handleDeleteGroups(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DeleteGroupsRequest)
	resp := req.Response().(*kmsg.DeleteGroupsResponse)
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		resp.Groups = []kmsg.DeleteGroupsResponseGroup{}
		for _, id := range r.Groups {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group = id
			if err := c.deleteGroup(ctx, id); err != nil {
				rg.ErrorCode = err.Code
			}
			resp.Groups = append(resp.Groups, rg)
		}
		return resp, nil
	})
	return nil, nil
}

func (c *Coordinator) deleteGroup(ctx context.Context, id string) *kerr.Error {
	if id == "" {
		return kerr.InvalidGroupID
	}
	g, err := c.lockGroup(id, false)
	if err != nil {
		return groupLookupError(err)
	}
	if g == nil {
		return kerr.GroupIDNotFound
	}
	defer g.mu.Unlock()
	switch g.state {
	case groupDead:
		return kerr.GroupIDNotFound
	case groupEmpty:
	default:
		return kerr.NonEmptyGroup
	}
	if err := c.deleteOffsets(ctx, g, sortedTPs(g.offsets), true); err != nil {
		return groupLookupError(err)
	}
	c.log.Info().Str("group", id).Msg("deleted group")
	c.removeGroup(g)
	return nil
}
