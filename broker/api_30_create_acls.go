package broker

// CreateAcls (key 30), versions 0-3 (apis_acls.go has the rules the ACL
// APIs share). Each creation is answered on its own, as Kafka's AclApis
// and controller do:
//   - a resource type ANY, a pattern type ANY or MATCH, an operation or
//     permission ANY cannot even become an ACL binding in Kafka: the whole
//     request is answered UNKNOWN_SERVER_ERROR (logged here);
//   - more than metadata.MaxAclChanges creations: POLICY_VIOLATION for
//     every one (Kafka's controller refuses such a batch);
//   - a cluster resource not named kafka-cluster, an empty name, a name
//     with '/' (it names a znode), a principal without ':', an unknown
//     code: INVALID_REQUEST with Kafka's message;
//   - the rest are stored (an existing ACL is kept once) and reach every
//     broker, this one included, through the metadata backend.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/metadata"
	"gregor/protocol"
)

func (b *Broker) handleCreateAcls(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.CreateACLsRequest)
	resp := req.Response().(*kmsg.CreateACLsResponse)
	bindings := make([]acl.Binding, len(r.Creations))
	unbindable := false
	for i, c := range r.Creations {
		codes := aclCodes{int8(c.ResourceType), int8(c.ResourcePatternType), int8(c.Operation), int8(c.PermissionType)}
		if err := codes.check(); err != nil {
			return nil, err
		}
		if req.Version == 0 && c.ResourcePatternType != kmsg.ACLResourcePatternTypeLiteral {
			return nil, errors.New("Version 0 only supports literal resource pattern types")
		}
		f := codes.filter(nil, nil, nil)
		bindings[i] = acl.Binding{
			Pattern: acl.Pattern{Type: f.Type, Name: c.ResourceName, PatternType: f.PatternType},
			Entry:   acl.Entry{Principal: c.Principal, Host: c.Host, Operation: f.Operation, Permission: f.Permission},
		}
		unbindable = unbindable || f.Type == acl.AnyResource || f.PatternType == acl.AnyPattern || f.PatternType == acl.Match ||
			f.Operation == acl.AnyOp || f.Permission == acl.AnyPermission
	}
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(r.Creations))
	all := func(code int16, msg *string) (kmsg.Response, error) {
		for i := range resp.Results {
			resp.Results[i] = kmsg.NewCreateACLsResponseResult()
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
		return resp, nil
	}
	switch {
	case !b.authorizeCluster(req, acl.Alter):
		return all(kerr.ClusterAuthorizationFailed.Code, nil)
	case b.authz == nil:
		return all(kerr.SecurityDisabled.Code, kmsg.StringPtr("No Authorizer is configured."))
	case unbindable:
		b.badInput.Warn().Str("remote", remoteAddr(req)).Msg("CreateAcls with ANY or MATCH where an ACL needs a value; answered UNKNOWN_SERVER_ERROR as Kafka does")
		return all(kerr.UnknownServerError.Code, nil)
	case len(bindings) > metadata.MaxAclChanges:
		return all(kerr.PolicyViolation.Code, kmsg.StringPtr(msgTooMany))
	}
	var valid []acl.Binding
	var at []int
	for i, bd := range bindings {
		resp.Results[i] = kmsg.NewCreateACLsResponseResult()
		if err := acl.Validate(bd); err != nil {
			resp.Results[i].ErrorCode = kerr.InvalidRequest.Code
			resp.Results[i].ErrorMessage = kmsg.StringPtr(err.Error())
			continue
		}
		valid, at = append(valid, bd), append(at, i)
	}
	if len(valid) == 0 {
		return resp, nil
	}
	for j, err := range b.backend.CreateAcls(ctx, valid) {
		if err != nil {
			res := &resp.Results[at[j]]
			res.ErrorCode, res.ErrorMessage = ErrorCode(b.log, err), errMessage(err)
		}
	}
	b.log.Info().Str("principal", session(req).Principal).Int("acls", len(valid)).Msg("ACLs created")
	return resp, nil
}
