package broker

// DescribeAcls (key 29), versions 0-3 (apis_acls.go has the rules the
// ACL APIs share). The filter selects from the ACLs this broker has in
// force; they are answered grouped by resource pattern, sorted.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (b *Broker) handleDescribeAcls(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeACLsRequest)
	resp := req.Response().(*kmsg.DescribeACLsResponse)
	codes := aclCodes{int8(r.ResourceType), int8(r.ResourcePatternType), int8(r.Operation), int8(r.PermissionType)}
	if err := codes.check(); err != nil {
		return nil, err
	}
	f := codes.filter(r.ResourceName, r.Principal, r.Host)
	if err := v0Filter(req.Version, &f); err != nil {
		return nil, err
	}
	if !b.authorizeCluster(req, acl.Describe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	if b.authz == nil {
		resp.ErrorCode = kerr.SecurityDisabled.Code
		resp.ErrorMessage = kmsg.StringPtr(msgNoAuthorizer)
		return resp, nil
	}
	resp.Resources = []kmsg.DescribeACLsResponseResource{}
	for _, bd := range b.authz.Snapshot().Select(f) {
		n := len(resp.Resources)
		if n == 0 || !samePattern(resp.Resources[n-1], bd.Pattern) {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType = kmsg.ACLResourceType(bd.Pattern.Type)
			res.ResourceName = bd.Pattern.Name
			res.ResourcePatternType = kmsg.ACLResourcePatternType(bd.Pattern.PatternType)
			resp.Resources = append(resp.Resources, res)
			n++
		}
		d := kmsg.NewDescribeACLsResponseResourceACL()
		d.Principal, d.Host = bd.Entry.Principal, bd.Entry.Host
		d.Operation, d.PermissionType = kmsg.ACLOperation(bd.Entry.Operation), kmsg.ACLPermissionType(bd.Entry.Permission)
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, d)
	}
	return resp, nil
}

func samePattern(r kmsg.DescribeACLsResponseResource, p acl.Pattern) bool {
	return acl.ResourceType(r.ResourceType) == p.Type && r.ResourceName == p.Name && acl.PatternType(r.ResourcePatternType) == p.PatternType
}
