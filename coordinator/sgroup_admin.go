package coordinator

// Administering share groups (KIP-932): their offsets are the share
// partitions' start offsets, kept by the share coordinators. Describing
// reads each partition's state summary; altering (start offsets) and
// deleting them, and deleting the group, need the group Empty
// (NON_EMPTY_GROUP) and go through the persister before the group's
// ShareGroupStatePartitionMetadata records what changed. The share
// partition leaders load the changed state when a member next opens a
// share session there (broker/share_sessions.go).

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
)

// sgView is what the admin operations read of a share group.
type sgView struct {
	epoch   int32
	members int
	// parts are the partitions with share state (initialized or being
	// initialized).
	parts map[topicID]*initTopic
}

// viewShareGroup reads a share group: GROUP_ID_NOT_FOUND when there is
// none (or the group is of another type).
func (c *groupCoordinator) viewShareGroup(id string) (sgView, *kerr.Error) {
	if id == "" {
		return sgView{}, kerr.InvalidGroupID
	}
	g, err := c.lockGroup(id, false)
	if err != nil {
		return sgView{}, c.kerrOf(err)
	}
	if g == nil {
		return sgView{}, kerr.GroupIDNotFound
	}
	defer g.mu.Unlock()
	sg := g.share
	if sg == nil {
		return sgView{}, kerr.GroupIDNotFound
	}
	v := sgView{epoch: sg.epoch, members: len(sg.members), parts: cloneInit(sg.initialized)}
	for tid, it := range sg.initializing {
		cur := v.parts[tid]
		if cur == nil {
			v.parts[tid] = it.clone()
			continue
		}
		for p := range it.parts {
			cur.parts[p] = true
		}
	}
	return v, nil
}

// sortedInitParts lists a topic's partitions in order.
func sortedInitParts(it *initTopic) []int32 {
	out := make([]int32, 0, len(it.parts))
	for p := range it.parts {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// updateStateMeta rewrites a share group's state partition metadata with
// edit applied, if the group is still a share group.
func (c *groupCoordinator) updateStateMeta(ctx context.Context, id string, edit func(initializing, initialized map[topicID]*initTopic)) *kerr.Error {
	return c.editStateMeta(ctx, id, false, edit)
}

// editStateMeta is updateStateMeta that, with create, makes an Empty
// share group of a group id not in use (its state partition metadata
// record creates it when replayed).
func (c *groupCoordinator) editStateMeta(ctx context.Context, id string, create bool, edit func(initializing, initialized map[topicID]*initTopic)) *kerr.Error {
	g, err := c.lockGroup(id, create)
	if err != nil {
		return c.kerrOf(err)
	}
	if g == nil {
		return kerr.GroupIDNotFound
	}
	if create && g.share == nil {
		if kerrv, _ := c.shareGroupFor(g, true); kerrv != nil {
			g.mu.Unlock()
			return kerrv
		}
	}
	sg := g.share
	if sg == nil {
		g.mu.Unlock()
		return kerr.GroupIDNotFound
	}
	initializing, initialized := cloneInit(sg.initializing), cloneInit(sg.initialized)
	edit(initializing, initialized)
	t := &sgTxn{g: g, sg: sg}
	t.add(sgRecStateMeta{initializing: initializing, initialized: initialized, deleting: sg.deleting})
	w, err := c.commitSG(t)
	g.mu.Unlock()
	if err == nil {
		err = w.await(ctx)
	}
	if err != nil {
		return c.kerrOf(err)
	}
	return nil
}

// groupInUse reports whether a group of any type has the id.
func (c *groupCoordinator) groupInUse(id string) (bool, *kerr.Error) {
	g, err := c.lockGroup(id, false)
	if err != nil {
		return false, c.kerrOf(err)
	}
	if g == nil {
		return false, nil
	}
	g.mu.Unlock()
	return true, nil
}

// viewEmptyShareGroup reads a share group that must be Empty
// (NON_EMPTY_GROUP otherwise), as its admin operations require.
func (c *groupCoordinator) viewEmptyShareGroup(id string) (sgView, *kerr.Error) {
	v, kerrv := c.viewShareGroup(id)
	if kerrv == nil && v.members > 0 {
		kerrv = kerr.NonEmptyGroup
	}
	return v, kerrv
}

// deleteShareGroup deletes an Empty share group: its share partitions'
// state, then its records.
func (c *groupCoordinator) deleteShareGroup(ctx context.Context, id string) *kerr.Error {
	v, kerrv := c.viewEmptyShareGroup(id)
	if kerrv != nil {
		return kerrv
	}
	for tid, it := range v.parts {
		for p := range it.parts {
			if err := c.co.deleteShareState(ctx, id, tid, p); err != nil {
				c.log.Warn().Err(err).Str("group", id).Str("topic", it.name).Int32("partition", p).Msg("deleting share partition state")
				return kerrOfShareErr(err)
			}
		}
	}
	g, err := c.lockGroup(id, false)
	if err != nil {
		return c.kerrOf(err)
	}
	if g == nil || g.share == nil {
		if g != nil {
			g.mu.Unlock()
		}
		return kerr.GroupIDNotFound
	}
	if len(g.share.members) > 0 {
		g.mu.Unlock()
		return kerr.NonEmptyGroup
	}
	t := &sgTxn{g: g, sg: g.share}
	t.add(sgRecStateMeta{del: true}, sgRecTargetEpoch{del: true}, sgRecEpoch{del: true})
	w, err := c.commitSG(t)
	if err == nil {
		c.removeGroup(g)
	}
	g.mu.Unlock()
	if err == nil {
		err = w.await(ctx)
	}
	if err != nil {
		return c.kerrOf(err)
	}
	c.log.Info().Str("group", id).Msg("deleted share group")
	return nil
}

// kerrOfShareErr is the Kafka error of a persister failure.
func kerrOfShareErr(err error) *kerr.Error {
	if ke, ok := err.(*ShareStateError); ok {
		return ke.Err
	}
	if ke, ok := err.(*kerr.Error); ok {
		return ke
	}
	return kerr.UnknownServerError
}
