package coordinator

// ConsumerGroupDescribe and ShareGroupDescribe check each group as Kafka
// does: DESCRIBE on the group (else GROUP_AUTHORIZATION_FAILED), then the
// group's description, which fails as a whole with
// TOPIC_AUTHORIZATION_FAILED when it shows a topic the client may not
// describe; authorized operations only when asked and allowed.

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/acl"
	"gregor/protocol"
)

// groupDescriber is how one kind of group fills its response type G.
type groupDescriber[G any] struct {
	// failed is a group answered with an error alone.
	failed func(id string, code int16, msg *string) G
	// describe describes a group; ok is false if it failed.
	describe func(id string) (g G, ok bool)
	// hides reports whether g shows a topic the client may not describe.
	hides  func(g *G) bool
	setOps func(g *G, ops int32)
}

func describeGroups[G any](c *groupCoordinator, req *protocol.Request, ids []string, withOps bool, d groupDescriber[G]) []G {
	out := make([]G, 0, len(ids))
	for _, id := range ids {
		if !c.authorize(req, acl.Describe, acl.Group, id) {
			out = append(out, d.failed(id, kerr.GroupAuthorizationFailed.Code, nil))
			continue
		}
		g, ok := d.describe(id)
		if ok && d.hides(&g) {
			msg := "The group has described topic(s) that the client is not authorized to describe."
			g, ok = d.failed(id, kerr.TopicAuthorizationFailed.Code, &msg), false
		}
		if ok && withOps {
			d.setOps(&g, c.authorizedOps(req, acl.Group, id))
		}
		out = append(out, g)
	}
	return out
}

// lockDescribed locks group id of a kind for a describe (is tells whether
// a group is of that kind); else it returns the error the group is
// answered with: INVALID_GROUP_ID, GROUP_ID_NOT_FOUND, or the
// coordinator's.
func (c *groupCoordinator) lockDescribed(id, kind string, is func(*group) bool) (*group, *kerr.Error, string) {
	if id == "" {
		return nil, kerr.InvalidGroupID, ""
	}
	g, err := c.lockGroup(id, false)
	if err != nil {
		return nil, c.kerrOf(err), ""
	}
	if g == nil {
		return nil, kerr.GroupIDNotFound, "Group " + id + " not found."
	}
	if !is(g) {
		g.mu.Unlock()
		return nil, kerr.GroupIDNotFound, "Group " + id + " is not a " + kind + " group."
	}
	return g, nil, ""
}
