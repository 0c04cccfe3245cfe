package acl

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func str(s string) *string { return &s }

// TestFilters are AuthorizerTest.testAclsFilter and testGetAclsPrincipal
// (what DescribeAcls and DeleteAcls select) and ResourcePatternFilter's
// MATCH rules.
func TestFilters(t *testing.T) {
	s := NewSnapshot(acls(t,
		"Topic:LITERAL:foo-1 User:alice * Read Allow",            // 0
		"Topic:LITERAL:foo-1 User:alice 192.168.0.1 Write Allow", // 1
		"Topic:LITERAL:bar-1 User:alice * Describe Allow",        // 2
		"Topic:PREFIXED:bar- User:* * Read Allow",                // 3
		"Topic:LITERAL:* User:bob * Read Deny",                   // 4
		"Group:LITERAL:bar-1 User:alice * Read Allow",            // 5
	))
	all := s.Bindings()
	b := func(want ...string) []Binding {
		out := acls(t, want...)
		slices.SortFunc(out, CompareBindings)
		return out
	}
	for _, c := range []struct {
		name string
		f    Filter
		want []Binding
	}{
		{"any", AnyFilter, all},
		{"one literal resource", Filter{Type: Topic, Name: str("foo-1"), PatternType: Literal, Operation: AnyOp, Permission: AnyPermission},
			b("Topic:LITERAL:foo-1 User:alice * Read Allow", "Topic:LITERAL:foo-1 User:alice 192.168.0.1 Write Allow")},
		{"the prefixed pattern itself", Filter{Type: Topic, Name: str("bar-"), PatternType: Prefixed, Operation: AnyOp, Permission: AnyPermission},
			b("Topic:PREFIXED:bar- User:* * Read Allow")},
		{"match: literal, prefixes and the wildcard", Filter{Type: AnyResource, Name: str("bar-1"), PatternType: Match, Operation: AnyOp, Permission: AnyPermission},
			b("Topic:LITERAL:bar-1 User:alice * Describe Allow", "Topic:PREFIXED:bar- User:* * Read Allow", "Topic:LITERAL:* User:bob * Read Deny", "Group:LITERAL:bar-1 User:alice * Read Allow")},
		{"any pattern type is exact on the name", Filter{Type: Topic, Name: str("bar-"), PatternType: AnyPattern, Operation: AnyOp, Permission: AnyPermission},
			b("Topic:PREFIXED:bar- User:* * Read Allow")},
		{"the wildcard literally", Filter{Type: Topic, Name: str("*"), PatternType: Literal, Operation: AnyOp, Permission: AnyPermission},
			b("Topic:LITERAL:* User:bob * Read Deny")},
		{"principal exactly, not through User:*", Filter{Type: AnyResource, PatternType: AnyPattern, Principal: str("User:bob"), Operation: AnyOp, Permission: AnyPermission},
			b("Topic:LITERAL:* User:bob * Read Deny")},
		{"the wildcard principal", Filter{Type: AnyResource, PatternType: AnyPattern, Principal: str("User:*"), Operation: AnyOp, Permission: AnyPermission},
			b("Topic:PREFIXED:bar- User:* * Read Allow")},
		{"host", Filter{Type: AnyResource, PatternType: AnyPattern, Host: str("192.168.0.1"), Operation: AnyOp, Permission: AnyPermission},
			b("Topic:LITERAL:foo-1 User:alice 192.168.0.1 Write Allow")},
		{"operation and permission", Filter{Type: AnyResource, PatternType: AnyPattern, Operation: Read, Permission: Deny},
			b("Topic:LITERAL:* User:bob * Read Deny")},
		{"operation is exact (no implication)", Filter{Type: AnyResource, PatternType: AnyPattern, Operation: Describe, Permission: AnyPermission},
			b("Topic:LITERAL:bar-1 User:alice * Describe Allow")},
		{"no match", Filter{Type: Topic, Name: str("baz"), PatternType: AnyPattern, Operation: AnyOp, Permission: AnyPermission}, nil},
		{"an unknown resource type matches nothing", Filter{Type: UnknownResource, PatternType: AnyPattern, Operation: AnyOp, Permission: AnyPermission}, nil},
	} {
		if got := s.Select(c.f); !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, got, c.want)
		}
	}
}

// TestWithout is deleting with several filters: each reports every ACL
// it matched (StandardAuthorizer), duplicates and unknown filters
// included.
func TestWithout(t *testing.T) {
	s := NewSnapshot(acls(t,
		"Topic:LITERAL:foo User:alice * Read Allow",
		"Topic:LITERAL:bar User:alice * Describe Allow",
		"Topic:PREFIXED:bar User:* * Read Allow",
	))
	match := Filter{Type: AnyResource, Name: str("bar"), PatternType: Match, Operation: AnyOp, Permission: AnyPermission}
	bar := Filter{Type: Topic, Name: str("bar"), PatternType: Literal, Operation: AnyOp, Permission: AnyPermission}
	baz := Filter{Type: Topic, Name: str("baz"), PatternType: AnyPattern, Operation: AnyOp, Permission: AnyPermission}
	unknown := Filter{Type: Topic, PatternType: UnknownPattern, Operation: AnyOp, Permission: AnyPermission}
	next, matched := s.Without([]Filter{match, bar, baz, unknown})
	if got := next.Bindings(); !slices.Equal(got, acls(t, "Topic:LITERAL:foo User:alice * Read Allow")) {
		t.Errorf("left %v", got)
	}
	if len(matched[0]) != 2 || len(matched[1]) != 1 || len(matched[2]) != 0 || len(matched[3]) != 0 {
		t.Errorf("matched %v", matched)
	}
	if s.Len() != 3 || next.Len() != 1 {
		t.Errorf("snapshots changed: %d %d", s.Len(), next.Len())
	}
	if dup := NewSnapshot(acls(t, "Topic:LITERAL:foo User:alice * Read Allow", "Topic:LITERAL:foo User:alice * Read Allow")); dup.Len() != 1 {
		t.Errorf("a duplicate counted: %d", dup.Len())
	}
}

// TestValidate is what CreateAcls refuses with INVALID_REQUEST.
func TestValidate(t *testing.T) {
	ok := Binding{Pattern{Topic, "t", Literal}, Entry{"User:alice", "*", Read, Allow}}
	if err := Validate(ok); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		edit func(*Binding)
		msg  string
	}{
		{func(b *Binding) { b.Pattern.Type, b.Pattern.Name = Cluster, "other" }, "The only valid name for the CLUSTER resource is kafka-cluster"},
		{func(b *Binding) { b.Pattern.Name = "" }, "Invalid empty resource name"},
		{func(b *Binding) { b.Pattern.Type = UnknownResource }, "Invalid resourceType UNKNOWN"},
		{func(b *Binding) { b.Pattern.PatternType = UnknownPattern }, "Invalid patternType UNKNOWN"},
		{func(b *Binding) { b.Entry.Operation = UnknownOp }, "Invalid operation UNKNOWN"},
		{func(b *Binding) { b.Entry.Permission = UnknownPermission }, "Invalid permissionType UNKNOWN"},
		{func(b *Binding) { b.Pattern.Name = "a/b" }, "ACL binding contains invalid resource name: a/b"},
		{func(b *Binding) { b.Entry.Principal = "alice" }, "Could not parse principal from `alice`"},
	} {
		b := ok
		c.edit(&b)
		err := Validate(b)
		var ie *InvalidError
		if !errors.As(err, &ie) || !strings.HasPrefix(ie.Msg, c.msg) {
			t.Errorf("%v: %v, want %q", b, err, c.msg)
		}
	}
	if err := Validate(Binding{Pattern{Cluster, ClusterName, Literal}, Entry{"User:*", "*", All, Deny}}); err != nil {
		t.Error(err)
	}
	if err := Validate(Binding{Pattern{Group, "*", Prefixed}, Entry{"User:a", "10.0.0.1", Read, Allow}}); err != nil {
		t.Error(err)
	}
}

func TestAuthorizerCountsDenials(t *testing.T) {
	var logged bytes.Buffer
	a := New(Config{SuperUsers: []string{"User:admin"}}, zerolog.New(&logged))
	a.SetACLs(acls(t, "Topic:LITERAL:t User:alice * Read Allow"))
	req := Request{Session: Session{Principal: "User:alice", Host: "10.0.0.1"}, API: "Fetch"}
	if !a.Authorize(req, Action{Read, Topic, "t"}) || a.Authorize(req, Action{Write, Topic, "t"}) || a.Authorize(req, Action{Write, Topic, "t"}) {
		t.Fatal("decisions")
	}
	if a.Allowed(req.Session, Action{Alter, Topic, "t"}) {
		t.Fatal("alter allowed")
	}
	d := a.Denials()
	if len(d) != 1 || d[0] != (DenialCount{Write, Topic, 2}) {
		t.Errorf("denials %v (quiet decisions are not counted)", d)
	}
	line, _, _ := strings.Cut(logged.String(), "\n")
	for _, want := range []string{`"principal":"User:alice"`, `"client":"10.0.0.1"`, `"operation":"Write"`, `"resource":"Topic:LITERAL:t"`, `"api":"Fetch"`, `"authorization denied"`} {
		if !strings.Contains(line, want) {
			t.Errorf("denial log %s lacks %s", line, want)
		}
	}
	admin := Request{Session: Session{Principal: "User:admin", Host: "10.0.0.1"}}
	if !a.Authorize(admin, Action{ClusterAction, Cluster, ClusterName}) {
		t.Error("super user denied")
	}
	var none *Authorizer
	if !none.Authorize(req, Action{Write, Topic, "t"}) || none.Snapshot() != nil || none.Denials() != nil {
		t.Error("no authorizer must allow everything")
	}
}

func TestCheckClass(t *testing.T) {
	for _, n := range []string{"", AclAuthorizerClass, StandardAuthorizerClass} {
		if err := CheckClass(n); err != nil {
			t.Error(err)
		}
	}
	if err := CheckClass("com.example.MyAuthorizer"); err == nil {
		t.Error("a custom class accepted")
	}
}
