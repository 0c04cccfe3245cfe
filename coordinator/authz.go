package coordinator

// Authorization: the one place the coordinators' handlers ask the
// broker's authorizer (package acl), with the request's principal and
// client address. A nil authorizer (no authorizer.class.name) allows
// everything.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

// session is who sent a request, as the authorizer sees it.
func session(req *protocol.Request) acl.Session {
	if req.Conn == nil {
		return acl.Session{Principal: protocol.Anonymous.String()}
	}
	return acl.Session{Principal: req.Conn.Principal().String(), Host: req.Conn.ClientHost()}
}

// authorize asks whether req may do op on a resource; a denial is logged
// (rate limited) and counted.
func (c *base) authorize(req *protocol.Request, op acl.Operation, t acl.ResourceType, name string) bool {
	if c.cfg.Authorizer == nil {
		return true
	}
	return c.cfg.Authorizer.Authorize(acl.Request{Session: session(req), API: kmsg.NameForKey(req.Key)}, acl.Action{Operation: op, Type: t, Name: name})
}

// allowed is authorize for filtering what a response lists: a denial is
// neither logged nor counted.
func (c *base) allowed(req *protocol.Request, op acl.Operation, t acl.ResourceType, name string) bool {
	return c.cfg.Authorizer == nil || c.cfg.Authorizer.Allowed(session(req), acl.Action{Operation: op, Type: t, Name: name})
}

// allowedOnSomeTopic reports whether req may do op on at least one topic
// (Authorizer.authorizeByResourceType).
func (c *base) allowedOnSomeTopic(req *protocol.Request, op acl.Operation) bool {
	return c.cfg.Authorizer == nil || c.cfg.Authorizer.AllowedOnSomeResource(session(req), op, acl.Topic)
}

// authorizedOps is a resource's authorized operations field.
func (c *base) authorizedOps(req *protocol.Request, t acl.ResourceType, name string) int32 {
	if c.cfg.Authorizer == nil {
		return acl.OperationBits(acl.SupportedOperations(t))
	}
	return c.cfg.Authorizer.AuthorizedOperations(session(req), t, name)
}

// deniedTopics are the topics among items req may not do op on, each
// asked once.
func deniedTopics[T any](c *base, req *protocol.Request, op acl.Operation, items []T, name func(T) string) map[string]bool {
	if c.cfg.Authorizer == nil {
		return nil
	}
	asked, denied := map[string]bool{}, map[string]bool{}
	for _, it := range items {
		n := name(it)
		if !asked[n] {
			asked[n] = true
			if !c.authorize(req, op, acl.Topic, n) {
				denied[n] = true
			}
		}
	}
	return denied
}
