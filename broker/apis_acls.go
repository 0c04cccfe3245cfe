package broker

import (
	"fmt"

	"gregor/broker/acl"
	"gregor/protocol"
)

// aclAPIs are the ACL APIs, every version kmsg knows.
//
// As in Kafka (AclApis, CreateAclsRequest, DescribeAclsRequest,
// DeleteAclsRequest):
//   - DescribeAcls needs DESCRIBE on the cluster, CreateAcls and
//     DeleteAcls ALTER; refused, every result is
//     CLUSTER_AUTHORIZATION_FAILED;
//   - without an authorizer they answer SECURITY_DISABLED;
//   - a request naming the UNKNOWN (0) resource type, pattern type,
//     operation or permission, or a v0 creation with a pattern type other
//     than LITERAL, cannot be parsed by Kafka and closes the connection;
//   - a code Kafka does not know (say 42) reads as UNKNOWN afterwards: a
//     creation with one is INVALID_REQUEST, a deletion filter with one is
//     INVALID_REQUEST, a description filter with one matches nothing.
func (b *Broker) aclAPIs() []protocol.API {
	return []protocol.API{
		{Key: 29, Min: 0, Max: 3, Handler: b.handleDescribeAcls},
		{Key: 30, Min: 0, Max: 3, Handler: b.handleCreateAcls},
		{Key: 31, Min: 0, Max: 3, Handler: b.handleDeleteAcls},
	}
}

// aclCodes are the raw codes of one ACL, binding or filter.
type aclCodes struct{ resourceType, patternType, operation, permission int8 }

// check refuses what Kafka's request parsing refuses: an UNKNOWN (0) code.
func (c aclCodes) check() error {
	if c.resourceType == 0 || c.patternType == 0 || c.operation == 0 || c.permission == 0 {
		return fmt.Errorf("ACL request contains UNKNOWN elements (resource type %d, pattern type %d, operation %d, permission %d)",
			c.resourceType, c.patternType, c.operation, c.permission)
	}
	return nil
}

// filter is the ACL filter these codes and strings make.
func (c aclCodes) filter(name, principal, host *string) acl.Filter {
	return acl.Filter{Type: acl.ResourceTypeOf(c.resourceType), Name: name, PatternType: acl.PatternTypeOf(c.patternType),
		Principal: principal, Host: host, Operation: acl.OperationOf(c.operation), Permission: acl.PermissionOf(c.permission)}
}

// v0Filter applies a v0 request's pattern rule: ANY means LITERAL (the
// only pattern type before v1); anything else cannot be parsed.
func v0Filter(version int16, f *acl.Filter) error {
	if version > 0 {
		return nil
	}
	switch f.PatternType {
	case acl.AnyPattern:
		f.PatternType = acl.Literal
	case acl.Literal:
	default:
		return fmt.Errorf("Version 0 only supports literal resource pattern types")
	}
	return nil
}

const (
	msgNoAuthorizer = "No Authorizer is configured on the broker"
	msgTooMany      = "Unable to perform excessively large batch operation."
)
