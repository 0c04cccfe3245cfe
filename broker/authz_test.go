package broker

// The ACL APIs and authorization through the handlers, in-process: every
// version of CreateAcls, DescribeAcls and DeleteAcls, Kafka's refusals of
// malformed ones, and the answers without an authorizer.

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

// aclSet is a broker configuration with the ACL authorizer and admin as
// super user.
var aclSet = map[string]string{"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer", "super.users": "User:admin"}

// callAs serves req at a version as user, and returns the response or the
// error that closes the connection.
func (tb *testBroker) callAs(user string, req kmsg.Request, version int16) (kmsg.Response, error) {
	tb.t.Helper()
	req.SetVersion(version)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ci := &protocol.ConnInfo{Listener: "SASL_PLAINTEXT", Remote: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 1}}
	ci.SetPrincipal(protocol.Principal{Type: "User", Name: user})
	return tb.reg.Serve(ctx, &protocol.Request{Key: req.Key(), Version: version, ClientID: "test", Body: req, Conn: ci})
}

func (tb *testBroker) mustAs(user string, req kmsg.Request, version int16) kmsg.Response {
	tb.t.Helper()
	resp, err := tb.callAs(user, req, version)
	if err != nil {
		tb.t.Fatalf("%s v%d as %s: %v", kmsg.NameForKey(req.Key()), version, user, err)
	}
	return resp
}

func aclCreation(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal string, op kmsg.ACLOperation) kmsg.CreateACLsRequestCreation {
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = rt, name, pt
	c.Principal, c.Host, c.Operation, c.PermissionType = principal, "*", op, kmsg.ACLPermissionTypeAllow
	return c
}

func describeAll() *kmsg.DescribeACLsRequest {
	r := kmsg.NewPtrDescribeACLsRequest()
	r.ResourceType, r.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	r.Operation, r.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	return r
}

func deleteFilter(name string, pt kmsg.ACLResourcePatternType) kmsg.DeleteACLsRequestFilter {
	return kmsg.DeleteACLsRequestFilter{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: &name, ResourcePatternType: pt,
		Operation: kmsg.ACLOperationAny, PermissionType: kmsg.ACLPermissionTypeAny}
}

// TestAclAPIVersions: each version creates, describes and deletes; v0
// knows only literal patterns.
func TestAclAPIVersions(t *testing.T) {
	tb := newTestBroker(t, aclSet)
	pre := kmsg.NewPtrCreateACLsRequest() // a prefixed t0, which v0 filters cannot see
	pre.Creations = []kmsg.CreateACLsRequestCreation{aclCreation(kmsg.ACLResourceTypeTopic, "t0", kmsg.ACLResourcePatternTypePrefixed, "User:a", kmsg.ACLOperationWrite)}
	tb.mustAs("admin", pre, 3)
	for v := int16(0); v <= 3; v++ {
		name := "t" + strconv.Itoa(int(v))
		cr := kmsg.NewPtrCreateACLsRequest()
		cr.Creations = []kmsg.CreateACLsRequestCreation{aclCreation(kmsg.ACLResourceTypeTopic, name, kmsg.ACLResourcePatternTypeLiteral, "User:a", kmsg.ACLOperationRead)}
		if v > 0 {
			cr.Creations = append(cr.Creations, aclCreation(kmsg.ACLResourceTypeTopic, name, kmsg.ACLResourcePatternTypePrefixed, "User:a", kmsg.ACLOperationWrite))
		}
		for i, res := range tb.mustAs("admin", cr, v).(*kmsg.CreateACLsResponse).Results {
			if res.ErrorCode != 0 {
				t.Fatalf("v%d creation %d: %v", v, i, kerr.ErrorForCode(res.ErrorCode))
			}
		}
		d := describeAll()
		d.ResourceName = &name
		dr := tb.mustAs("admin", d, v).(*kmsg.DescribeACLsResponse)
		want := 2
		if v == 0 {
			want = 1 // ANY reads as LITERAL in v0
		}
		if dr.ErrorCode != 0 || len(dr.Resources) != want {
			t.Fatalf("v%d DescribeAcls of %s: %v, %+v", v, name, kerr.ErrorForCode(dr.ErrorCode), dr.Resources)
		}
		del := kmsg.NewPtrDeleteACLsRequest()
		del.Filters = []kmsg.DeleteACLsRequestFilter{deleteFilter(name, kmsg.ACLResourcePatternTypeAny)}
		res := tb.mustAs("admin", del, v).(*kmsg.DeleteACLsResponse).Results[0]
		if res.ErrorCode != 0 || len(res.MatchingACLs) != want {
			t.Fatalf("v%d DeleteAcls: %v, %+v", v, kerr.ErrorForCode(res.ErrorCode), res.MatchingACLs)
		}
	}
	if left := tb.Authorizer().Snapshot().Bindings(); len(left) != 1 || left[0].Pattern.Name != "t0" {
		t.Fatalf("ACLs left %v, want the prefixed t0 (a v0 filter deletes only literal ones)", left)
	}
	// v0 cannot carry a prefixed creation: Kafka cannot parse it.
	cr := kmsg.NewPtrCreateACLsRequest()
	cr.Creations = []kmsg.CreateACLsRequestCreation{aclCreation(kmsg.ACLResourceTypeTopic, "x", kmsg.ACLResourcePatternTypePrefixed, "User:a", kmsg.ACLOperationRead)}
	if _, err := tb.callAs("admin", cr, 0); err == nil {
		t.Error("a v0 prefixed creation was answered")
	}
}

// TestAclAPIsRefuseUnknownCodes: the UNKNOWN (0) code in any field closes
// the connection, as Kafka's request parsing fails on it; so do DeleteAcls
// and DescribeAcls v0 filters other than LITERAL and ANY.
func TestAclAPIsRefuseUnknownCodes(t *testing.T) {
	tb := newTestBroker(t, aclSet)
	for field := 0; field < 4; field++ {
		c := aclCreation(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeLiteral, "User:a", kmsg.ACLOperationRead)
		d := describeAll()
		f := deleteFilter("t", kmsg.ACLResourcePatternTypeLiteral)
		switch field {
		case 0:
			c.ResourceType, d.ResourceType, f.ResourceType = 0, 0, 0
		case 1:
			c.ResourcePatternType, d.ResourcePatternType, f.ResourcePatternType = 0, 0, 0
		case 2:
			c.Operation, d.Operation, f.Operation = 0, 0, 0
		case 3:
			c.PermissionType, d.PermissionType, f.PermissionType = 0, 0, 0
		}
		cr := kmsg.NewPtrCreateACLsRequest()
		cr.Creations = []kmsg.CreateACLsRequestCreation{c}
		del := kmsg.NewPtrDeleteACLsRequest()
		del.Filters = []kmsg.DeleteACLsRequestFilter{f}
		for _, req := range []kmsg.Request{cr, d, del} {
			if _, err := tb.callAs("admin", req, 3); err == nil {
				t.Errorf("%s with UNKNOWN in field %d was answered", kmsg.NameForKey(req.Key()), field)
			}
		}
	}
	d := describeAll()
	d.ResourcePatternType = kmsg.ACLResourcePatternTypePrefixed
	if _, err := tb.callAs("admin", d, 0); err == nil {
		t.Error("DescribeAcls v0 with a prefixed filter was answered")
	}
	del := kmsg.NewPtrDeleteACLsRequest()
	del.Filters = []kmsg.DeleteACLsRequestFilter{deleteFilter("t", kmsg.ACLResourcePatternTypeMatch)}
	if _, err := tb.callAs("admin", del, 0); err == nil {
		t.Error("DeleteAcls v0 with a MATCH filter was answered")
	}
}

// TestAclAPIsDeleteFilters: unknown codes (Kafka reads them as UNKNOWN)
// are INVALID_REQUEST with Kafka's messages; deleting more than Kafka's
// batch limit is POLICY_VIOLATION.
func TestAclAPIsDeleteFilters(t *testing.T) {
	tb := newTestBroker(t, aclSet)
	pat, op := deleteFilter("t", 42), deleteFilter("t", kmsg.ACLResourcePatternTypeLiteral)
	op.Operation = 42
	del := kmsg.NewPtrDeleteACLsRequest()
	del.Filters = []kmsg.DeleteACLsRequestFilter{pat, op}
	res := tb.mustAs("admin", del, 3).(*kmsg.DeleteACLsResponse).Results
	if res[0].ErrorCode != kerr.InvalidRequest.Code || *res[0].ErrorMessage != "Unknown patternFilter." ||
		res[1].ErrorCode != kerr.InvalidRequest.Code || *res[1].ErrorMessage != "Unknown entryFilter." {
		t.Fatalf("unknown codes: %+v", res)
	}

	cr := kmsg.NewPtrCreateACLsRequest()
	for i := 0; i < 10001; i++ {
		cr.Creations = append(cr.Creations, aclCreation(kmsg.ACLResourceTypeTopic, "m"+strconv.Itoa(i), kmsg.ACLResourcePatternTypeLiteral, "User:a", kmsg.ACLOperationRead))
	}
	if r := tb.mustAs("admin", cr, 3).(*kmsg.CreateACLsResponse).Results; r[10000].ErrorCode != kerr.PolicyViolation.Code {
		t.Fatalf("10001 creations: %v", kerr.ErrorForCode(r[10000].ErrorCode))
	}
	cr.Creations = cr.Creations[:10000]
	for _, r := range tb.mustAs("admin", cr, 3).(*kmsg.CreateACLsResponse).Results {
		if r.ErrorCode != 0 {
			t.Fatalf("10000 creations: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	}
	cr.Creations = []kmsg.CreateACLsRequestCreation{aclCreation(kmsg.ACLResourceTypeGroup, "g", kmsg.ACLResourcePatternTypeLiteral, "User:a", kmsg.ACLOperationRead)}
	tb.mustAs("admin", cr, 3)
	all := kmsg.DeleteACLsRequestFilter{ResourceType: kmsg.ACLResourceTypeAny, ResourcePatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, PermissionType: kmsg.ACLPermissionTypeAny}
	del.Filters = []kmsg.DeleteACLsRequestFilter{all}
	if r := tb.mustAs("admin", del, 3).(*kmsg.DeleteACLsResponse).Results[0]; r.ErrorCode != kerr.PolicyViolation.Code || len(r.MatchingACLs) != 0 {
		t.Fatalf("deleting 10001 ACLs: %v, %d", kerr.ErrorForCode(r.ErrorCode), len(r.MatchingACLs))
	}
	del.Filters = []kmsg.DeleteACLsRequestFilter{{ResourceType: kmsg.ACLResourceTypeTopic, ResourcePatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, PermissionType: kmsg.ACLPermissionTypeAny}}
	if r := tb.mustAs("admin", del, 3).(*kmsg.DeleteACLsResponse).Results[0]; r.ErrorCode != 0 || len(r.MatchingACLs) != 10000 {
		t.Fatalf("deleting 10000 ACLs: %v, %d", kerr.ErrorForCode(r.ErrorCode), len(r.MatchingACLs))
	}
	if n := tb.Authorizer().Snapshot().Len(); n != 1 {
		t.Fatalf("%d ACLs left, want 1", n)
	}
}

// TestAclAPIsWithoutAuthorizer: SECURITY_DISABLED, and every operation is
// authorized.
func TestAclAPIsWithoutAuthorizer(t *testing.T) {
	tb := newTestBroker(t, nil)
	if r := tb.mustAs("alice", describeAll(), 3).(*kmsg.DescribeACLsResponse); r.ErrorCode != kerr.SecurityDisabled.Code {
		t.Errorf("DescribeAcls: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	cr := kmsg.NewPtrCreateACLsRequest()
	cr.Creations = []kmsg.CreateACLsRequestCreation{aclCreation(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeLiteral, "User:a", kmsg.ACLOperationRead)}
	if r := tb.mustAs("alice", cr, 3).(*kmsg.CreateACLsResponse); r.Results[0].ErrorCode != kerr.SecurityDisabled.Code {
		t.Errorf("CreateAcls: %v", kerr.ErrorForCode(r.Results[0].ErrorCode))
	}
	tb.createTopic("t", 1, nil)
	md := kmsg.NewPtrMetadataRequest()
	md.IncludeClusterAuthorizedOperations, md.IncludeTopicAuthorizedOperations = true, true
	r := tb.mustAs("alice", md, 10).(*kmsg.MetadataResponse)
	if r.AuthorizedOperations != 1<<5|1<<7|1<<8|1<<9|1<<10|1<<11|1<<12 || r.Topics[0].AuthorizedOperations != 1<<3|1<<4|1<<5|1<<6|1<<7|1<<8|1<<10|1<<11 {
		t.Errorf("authorized operations without an authorizer: cluster %b, topic %b", r.AuthorizedOperations, r.Topics[0].AuthorizedOperations)
	}
	if r := tb.mustAs("alice", md, 11).(*kmsg.MetadataResponse); r.AuthorizedOperations != authorizedOpsNotRequested {
		t.Errorf("Metadata v11 cluster authorized operations: %d (v11+ dropped the field)", r.AuthorizedOperations)
	}
}
