package broker

// DeleteAcls (key 31), versions 0-3 (apis_acls.go has the rules the ACL
// APIs share). Each filter removes every stored ACL it matches and lists
// them; a filter with an unknown code is INVALID_REQUEST, and filters
// matching more than metadata.MaxAclChanges ACLs in all (counted against
// the ACLs in force) get POLICY_VIOLATION from the one that passes it
// (Kafka's controller refuses such a batch). The change reaches every
// broker through the metadata backend.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/metadata"
	"gregor/protocol"
)

func (b *Broker) handleDeleteAcls(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DeleteACLsRequest)
	resp := req.Response().(*kmsg.DeleteACLsResponse)
	filters := make([]acl.Filter, len(r.Filters))
	for i, rf := range r.Filters {
		codes := aclCodes{int8(rf.ResourceType), int8(rf.ResourcePatternType), int8(rf.Operation), int8(rf.PermissionType)}
		if err := codes.check(); err != nil {
			return nil, err
		}
		filters[i] = codes.filter(rf.ResourceName, rf.Principal, rf.Host)
		if err := v0Filter(req.Version, &filters[i]); err != nil {
			return nil, err
		}
	}
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(filters))
	for i := range resp.Results {
		resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
	}
	all := func(code int16, msg *string) (kmsg.Response, error) {
		for i := range resp.Results {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
		return resp, nil
	}
	switch {
	case !b.authorizeCluster(req, acl.Alter):
		return all(kerr.ClusterAuthorizationFailed.Code, nil)
	case b.authz == nil:
		return all(kerr.SecurityDisabled.Code, kmsg.StringPtr("No Authorizer is configured."))
	}
	var send []acl.Filter
	var at []int
	total := 0
	snap := b.authz.Snapshot()
	for i, f := range filters {
		res := &resp.Results[i]
		switch {
		case f.Type == acl.UnknownResource || f.PatternType == acl.UnknownPattern:
			res.ErrorCode, res.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr("Unknown patternFilter.")
			continue
		case f.Unknown():
			res.ErrorCode, res.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr("Unknown entryFilter.")
			continue
		}
		if total += len(snap.Select(f)); total > metadata.MaxAclChanges {
			res.ErrorCode, res.ErrorMessage = kerr.PolicyViolation.Code, kmsg.StringPtr(msgTooMany)
			continue
		}
		send, at = append(send, f), append(at, i)
	}
	if len(send) == 0 {
		return resp, nil
	}
	matched, errs := b.backend.DeleteAcls(ctx, send)
	deleted := 0
	for j, i := range at {
		res := &resp.Results[i]
		if errs[j] != nil {
			res.ErrorCode, res.ErrorMessage = ErrorCode(b.log, errs[j]), errMessage(errs[j])
		}
		res.MatchingACLs = make([]kmsg.DeleteACLsResponseResultMatchingACL, 0, len(matched[j]))
		for _, bd := range matched[j] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName = kmsg.ACLResourceType(bd.Pattern.Type), bd.Pattern.Name
			m.ResourcePatternType = kmsg.ACLResourcePatternType(bd.Pattern.PatternType)
			m.Principal, m.Host = bd.Entry.Principal, bd.Entry.Host
			m.Operation, m.PermissionType = kmsg.ACLOperation(bd.Entry.Operation), kmsg.ACLPermissionType(bd.Entry.Permission)
			res.MatchingACLs = append(res.MatchingACLs, m)
		}
		deleted += len(matched[j])
	}
	b.log.Info().Str("principal", session(req).Principal).Int("acls", deleted).Msg("ACLs deleted")
	return resp, nil
}
