package acl

// Kafka's authorizer tests (core AuthorizerTest / the former
// AclAuthorizerTest, metadata StandardAuthorizerTest, BaseAuthorizerTest)
// ported as behaviour, in tables: each scenario is a set of ACLs and
// rules, then actions with the decision Kafka makes.

import (
	"fmt"
	"strings"
	"testing"
)

// acl parses "Topic:LITERAL:foo User:alice 192.168.1.1 Read Allow".
func acl(t testing.TB, s string) Binding {
	t.Helper()
	f := strings.Fields(s)
	if len(f) != 5 {
		t.Fatalf("bad ACL %q", s)
	}
	pat := strings.SplitN(f[0], ":", 3)
	rt, ok1 := ParseResourceType(pat[0])
	pt, ok2 := ParsePatternType(pat[1])
	op, ok3 := ParseOperation(f[3])
	perm, ok4 := ParsePermission(f[4])
	if len(pat) != 3 || !ok1 || !ok2 || !ok3 || !ok4 {
		t.Fatalf("bad ACL %q", s)
	}
	return Binding{Pattern{rt, pat[2], pt}, Entry{f[1], f[2], op, perm}}
}

func acls(t testing.TB, ss ...string) []Binding {
	var out []Binding
	for _, s := range ss {
		out = append(out, acl(t, s))
	}
	return out
}

// check is one action: "User:alice 192.168.1.1 Read Topic:foo" and the
// expected outcome.
type check struct {
	q    string
	want bool
}

func (c check) parse(t *testing.T) (Session, Action) {
	t.Helper()
	f := strings.Fields(c.q)
	op, ok := ParseOperation(f[2])
	typ, name, _ := strings.Cut(f[3], ":")
	rt, ok2 := ParseResourceType(typ)
	if len(f) != 4 || !ok || !ok2 {
		t.Fatalf("bad check %q", c.q)
	}
	return Session{Principal: f[0], Host: f[1]}, Action{Operation: op, Type: rt, Name: name}
}

type scenario struct {
	name   string
	rules  Rules
	acls   []string
	checks []check
}

func runScenarios(t *testing.T, scenarios []scenario) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			s := NewSnapshot(acls(t, sc.acls...))
			for _, c := range sc.checks {
				who, act := c.parse(t)
				d := Decide(s, &sc.rules, who, act)
				if d.Allowed != c.want {
					t.Errorf("%s: allowed=%v (rule %s, acl %v), want %v", c.q, d.Allowed, d.Rule, d.ACL, c.want)
				}
			}
		})
	}
}

func supers(p ...string) map[string]bool {
	m := map[string]bool{}
	for _, s := range p {
		m[s] = true
	}
	return m
}

func TestDecideKafkaAuthorizerCases(t *testing.T) {
	const h1, h2 = "192.168.1.1", "192.168.1.2"
	runScenarios(t, []scenario{
		{name: "TopicAcl", acls: []string{
			"Topic:LITERAL:t User:alice 192.168.1.1 Read Allow",
			"Topic:LITERAL:t User:alice 192.168.1.2 Read Allow",
			"Topic:LITERAL:t User:alice 192.168.1.1 Read Deny",
			"Topic:LITERAL:t User:alice 192.168.1.1 Write Allow",
			"Topic:LITERAL:t User:alice * Describe Allow",
			"Topic:LITERAL:t User:rob * Read Allow",
			"Topic:LITERAL:t User:batman * Write Allow",
		}, checks: []check{
			{"User:alice " + h2 + " Read Topic:t", true},
			{"User:alice " + h1 + " Read Topic:t", false}, // the deny
			{"User:alice " + h1 + " Write Topic:t", true},
			{"User:alice " + h2 + " Write Topic:t", false}, // no allow from h2
			{"User:alice " + h1 + " Describe Topic:t", true},
			{"User:alice " + h2 + " Describe Topic:t", true},
			{"User:alice " + h1 + " Alter Topic:t", false},
			{"User:alice " + h2 + " Alter Topic:t", false},
			{"User:rob " + h1 + " Describe Topic:t", true}, // Read implies Describe
			{"User:batman " + h1 + " Describe Topic:t", true},
			{"User:rob " + h1 + " Read Topic:t", true},
			{"User:batman " + h1 + " Write Topic:t", true},
		}},
		{name: "DenyTakesPrecedence", acls: []string{
			"Topic:LITERAL:t User:* * All Allow",
			"Topic:LITERAL:t User:alice 192.168.2.1 All Deny",
		}, checks: []check{
			{"User:alice 192.168.2.1 Read Topic:t", false},
			{"User:alice 192.168.2.2 Read Topic:t", true},
		}},
		{name: "AllowAllAccess", acls: []string{"Topic:LITERAL:t User:* * All Allow"}, checks: []check{
			{"User:random 192.0.4.4 Read Topic:t", true},
		}},
		{name: "SuperUserHasAccess", rules: Rules{SuperUsers: supers("User:superuser1", "User:superuser2")},
			acls: []string{"Topic:LITERAL:t User:* * All Deny"}, checks: []check{
				{"User:superuser1 192.0.4.4 Read Topic:t", true},
				{"User:superuser2 192.0.4.4 Read Topic:t", true},
				{"User:other 192.0.4.4 Read Topic:t", false},
				{"Group:superuser1 192.0.4.4 Read Topic:t", false}, // the type counts
			}},
		{name: "WildCardAcls", acls: []string{
			"Topic:LITERAL:* User:alice 192.168.3.1 Read Allow",
			"Topic:LITERAL:t User:alice 192.168.3.1 Write Allow",
			"Topic:LITERAL:* User:alice 192.168.3.1 Write Deny",
		}, checks: []check{
			{"User:alice 192.168.3.1 Read Topic:t", true},
			{"User:alice 192.168.3.1 Write Topic:t", false}, // deny on the wildcard
			{"User:alice 192.168.3.1 Read Topic:anything", true},
		}},
		{name: "NoAclFound", checks: []check{{"User:alice 1.1.1.1 Read Topic:t", false}}},
		{name: "NoAclFoundOverride", rules: Rules{AllowIfNoACL: true}, checks: []check{
			{"User:alice 1.1.1.1 Read Topic:t", true},
		}},
		{name: "AllowEveryoneOnlyWithoutAnyAclOnTheResource", rules: Rules{AllowIfNoACL: true, SuperUsers: supers("User:alice", "User:chris")},
			acls: []string{"Topic:LITERAL:topic1 User:Alice * Read Allow"}, checks: []check{
				{"User:Bob 1.1.1.1 Read Topic:topic1", false},
				{"User:Bob 1.1.1.1 Read Topic:topic2", true},
			}},
		{name: "AllowEveryoneDisabled", rules: Rules{SuperUsers: supers("User:alice", "User:chris")},
			acls: []string{"Topic:LITERAL:topic1 User:Alice * Read Allow"}, checks: []check{
				{"User:Bob 1.1.1.1 Read Topic:topic1", false},
				{"User:Bob 1.1.1.1 Read Topic:topic2", false},
			}},
		{name: "AllowEveryoneSeesPrefixedAclsAsAcls", rules: Rules{AllowIfNoACL: true},
			acls: []string{"Topic:PREFIXED:fo User:alice * Read Allow"}, checks: []check{
				{"User:bob 1.1.1.1 Read Topic:foo", false},
				{"User:bob 1.1.1.1 Read Topic:bar", true},
			}},
		{name: "AccessAllowedIfAllowAclExistsOnWildcardResource",
			acls: []string{"Topic:LITERAL:* User:alice * Read Allow"}, checks: []check{
				{"User:alice 1.1.1.1 Read Topic:foo-123", true},
			}},
		{name: "AccessAllowedIfAllowAclExistsOnPrefixedResource",
			acls: []string{"Topic:PREFIXED:foo- User:alice * Read Allow"}, checks: []check{
				{"User:alice 1.1.1.1 Read Topic:foo-123", true},
				{"User:alice 1.1.1.1 Read Topic:foo", false},
				{"User:alice 1.1.1.1 Read Topic:fo", false},
			}},
		{name: "AuthorizeWithPrefixedResource", acls: []string{
			"Topic:LITERAL:a_other User:alice * Read Deny",
			"Topic:PREFIXED:a_other User:alice * Read Deny",
			"Topic:PREFIXED:foo-5b2c User:alice * Read Deny",
			"Topic:PREFIXED:foo-77e0 User:alice * Read Deny",
			"Topic:PREFIXED:foo-77e0-zzz User:alice * Read Deny",
			"Topic:PREFIXED:fooo-1 User:alice * Read Deny",
			"Topic:PREFIXED:fo-1 User:alice * Read Deny",
			"Topic:PREFIXED:fop-1 User:alice * Read Deny",
			"Topic:PREFIXED:fon-1 User:alice * Read Deny",
			"Topic:PREFIXED:fon- User:alice * Read Deny",
			"Topic:PREFIXED:z_other User:alice * Read Deny",
			"Topic:LITERAL:z_other User:alice * Read Deny",
			"Topic:PREFIXED:foo- User:alice * Read Allow",
		}, checks: []check{
			{"User:alice 1.1.1.1 Read Topic:foo-1234", true},
			{"User:alice 1.1.1.1 Read Topic:foo-5b2c-x", false},
			{"User:alice 1.1.1.1 Read Topic:fon-", false},
		}},
		{name: "SingleCharacterResourceAcls", acls: []string{
			"Topic:LITERAL:f User:alice * Read Allow",
			"Topic:PREFIXED:_ User:alice * Read Allow",
		}, checks: []check{
			{"User:alice 1.1.1.1 Read Topic:f", true},
			{"User:alice 1.1.1.1 Read Topic:foo", false},
			{"User:alice 1.1.1.1 Read Topic:_foo", true},
			{"User:alice 1.1.1.1 Read Topic:_", true},
			{"User:alice 1.1.1.1 Read Topic:foo_", false},
		}},
		{name: "EmptyResourceNameOnlyThroughTheWildcard", acls: []string{"Group:LITERAL:* User:alice * Read Allow"}, checks: []check{
			{"User:alice 1.1.1.1 Read Group:", true},
			{"User:bob 1.1.1.1 Read Group:", false},
		}},
		// A group or transactional id may be named "*": a DENY on that
		// literal name applies to it (the fuzzer found it ignored).
		{name: "DenyOnAResourceNamedTheWildcard", acls: []string{
			"Group:LITERAL:* User:alice * Read Deny",
			"Group:PREFIXED:* User:alice * Read Allow",
		}, checks: []check{
			{"User:alice 1.1.1.1 Read Group:*", false},
			{"User:alice 1.1.1.1 Read Group:*x", false},
		}},
		{name: "ResourceTypesAreSeparate", acls: []string{"Group:LITERAL:foo User:alice * All Allow"}, checks: []check{
			{"User:alice 1.1.1.1 Read Group:foo", true},
			{"User:alice 1.1.1.1 Read Topic:foo", false},
			{"User:alice 1.1.1.1 Write TransactionalId:foo", false},
		}},
	})
}

func TestDecideStandardAuthorizerCases(t *testing.T) {
	// newFooAcl: Topic:PREFIXED:foo_ User:bob * op perm
	// newBarAcl: Group:LITERAL:bar User:* * op perm
	var scenarios []scenario
	for _, op := range []string{"Describe", "Read", "Write", "Delete", "Alter"} {
		scenarios = append(scenarios, scenario{name: "AllowOf" + op + "ImpliesDescribe",
			acls:   []string{"Topic:PREFIXED:foo_ User:bob * " + op + " Allow"},
			checks: []check{{"User:bob 1.1.1.1 Describe Topic:foo_bar", true}}})
	}
	scenarios = append(scenarios,
		scenario{name: "CreateDoesNotImplyDescribe", acls: []string{"Topic:PREFIXED:foo_ User:bob * Create Allow"},
			checks: []check{{"User:bob 1.1.1.1 Describe Topic:foo_bar", false}}},
		scenario{name: "ImpliedDescribeIsNotDescribeConfigs", acls: []string{"Topic:PREFIXED:foo_ User:bob * Alter Allow"},
			checks: []check{{"User:bob 1.1.1.1 DescribeConfigs Topic:foo_bar", false}}},
	)
	for _, op := range []string{"Read", "Write", "Delete", "Alter"} {
		scenarios = append(scenarios, scenario{name: "DenyOf" + op + "DoesNotDenyDescribe",
			acls:   []string{"Topic:PREFIXED:foo_ User:bob * " + op + " Deny", "Topic:PREFIXED:foo_ User:bob * Describe Allow"},
			checks: []check{{"User:bob 1.1.1.1 Describe Topic:foo_bar", true}}})
	}
	scenarios = append(scenarios,
		scenario{name: "DenyDescribeExact", acls: []string{"Topic:PREFIXED:foo_ User:bob * Describe Deny", "Topic:PREFIXED:foo_ User:bob * All Allow"},
			checks: []check{{"User:bob 1.1.1.1 Describe Topic:foo_bar", false}, {"User:bob 1.1.1.1 Read Topic:foo_bar", true}}},
		scenario{name: "AlterConfigsImpliesDescribeConfigs", acls: []string{"Topic:PREFIXED:foo_ User:bob * AlterConfigs Allow"},
			checks: []check{{"User:bob 1.1.1.1 DescribeConfigs Topic:foo_bar", true}, {"User:bob 1.1.1.1 Describe Topic:foo_bar", false}}},
		scenario{name: "DenyAlterConfigsDoesNotDenyDescribeConfigs",
			acls:   []string{"Topic:PREFIXED:foo_ User:bob * AlterConfigs Deny", "Topic:PREFIXED:foo_ User:bob * DescribeConfigs Allow"},
			checks: []check{{"User:bob 1.1.1.1 DescribeConfigs Topic:foo_bar", true}, {"User:bob 1.1.1.1 AlterConfigs Topic:foo_bar", false}}},
		scenario{name: "PrincipalMatching", acls: []string{"Topic:PREFIXED:foo_ User:bob * Read Allow", "Group:LITERAL:bar User:* * Read Deny"},
			checks: []check{
				{"User:bob 1.1.1.1 Read Topic:foo_bar", true},
				{"User:alice 1.1.1.1 Read Topic:foo_bar", false},
				{"User:alice 1.1.1.1 Read Group:bar", false},
			}},
		scenario{name: "SimpleAuthorizations", acls: []string{
			"Topic:PREFIXED:foo_ User:bob * Read Allow", "Topic:PREFIXED:foo_ User:bob * Write Allow",
			"Group:LITERAL:bar User:* * DescribeConfigs Allow", "Group:LITERAL:bar User:* * AlterConfigs Allow",
		}, checks: []check{
			{"User:bob 1.1.1.1 Read Topic:foo_", true},
			{"User:fred 1.1.1.1 AlterConfigs Group:bar", true},
		}},
		scenario{name: "DenyPrecedenceWithOperationAll", acls: []string{
			"Topic:LITERAL:foo User:alice * All Deny",
			"Topic:PREFIXED:foo User:alice * Read Allow",
			"Topic:LITERAL:foo User:* * All Deny",
			"Topic:PREFIXED:foo User:* * Describe Allow",
		}, checks: []check{
			{"User:alice 1.1.1.1 Write Topic:foo", false},
			{"User:alice 1.1.1.1 Read Topic:foo", false},
			{"User:alice 1.1.1.1 Describe Topic:foo", false},
			{"User:alice 1.1.1.1 Read Topic:foobar", true},
			{"User:bob 1.1.1.1 Describe Topic:foo", false},
			{"User:bob 1.1.1.1 Read Topic:foo", false},
			{"User:bob 1.1.1.1 Write Topic:foo", false},
			{"User:bob 1.1.1.1 Describe Topic:foobaz", true},
			{"User:bob 1.1.1.1 Read Topic:foobaz", false},
		}},
		scenario{name: "TopicAclWithOperationAll", acls: []string{
			"Topic:LITERAL:foo User:* * All Allow",
			"Topic:PREFIXED:bar User:alice * All Allow",
			"Topic:LITERAL:baz User:bob * All Allow",
		}, checks: []check{
			{"User:alice 1.1.1.1 Write Topic:foo", true},
			{"User:alice 1.1.1.1 DescribeConfigs Topic:bar", true},
			{"User:alice 1.1.1.1 Describe Topic:baz", false},
			{"User:bob 1.1.1.1 Write Topic:foo", true},
			{"User:bob 1.1.1.1 Read Topic:bar", false},
			{"User:bob 1.1.1.1 Describe Topic:baz", true},
			{"User:malory 1.1.1.1 Describe Topic:foo", true},
			{"User:malory 1.1.1.1 Write Topic:bar", false},
			{"User:malory 1.1.1.1 Read Topic:baz", false},
		}},
		scenario{name: "HostAddressAclValidation", acls: []string{
			"Topic:LITERAL:foo User:alice 192.168.1.1 Read Deny",
			"Topic:LITERAL:foo User:alice * Read Allow",
			"Topic:LITERAL:bar User:bob 192.168.1.2 Read Allow",
			"Topic:LITERAL:bar User:* 127.0.0.1 Describe Allow",
		}, checks: []check{
			{"User:alice 127.0.0.1 Read Topic:foo", true},
			{"User:alice 127.0.0.1 Read Topic:bar", false},
			{"User:alice 127.0.0.1 Describe Topic:bar", true},
			{"User:alice 192.168.1.1 Read Topic:foo", false},
			{"User:alice 192.168.1.1 Read Topic:bar", false},
			{"User:alice 192.168.1.1 Describe Topic:bar", false},
			{"User:alice 192.168.1.2 Read Topic:foo", true},
			{"User:alice 192.168.1.2 Read Topic:bar", false},
			{"User:alice 192.168.1.2 Describe Topic:bar", false},
			{"User:bob 127.0.0.1 Read Topic:foo", false},
			{"User:bob 127.0.0.1 Read Topic:bar", false},
			{"User:bob 127.0.0.1 Describe Topic:bar", true},
			{"User:bob 192.168.1.1 Describe Topic:bar", false},
			{"User:bob 192.168.1.2 Read Topic:bar", true},
			{"User:bob 192.168.1.2 Describe Topic:bar", true},
		}},
		scenario{name: "ManyAcls", acls: []string{
			"Topic:LITERAL:green2 User:* * Read Allow",
			"Topic:PREFIXED:green User:bob * Read Allow",
			"Topic:LITERAL:betamax4 User:bob * Read Allow",
			"Topic:LITERAL:betamax User:bob * Read Allow",
			"Topic:PREFIXED:beta User:* * Read Allow",
			"Topic:PREFIXED:alpha User:* * Read Allow",
			"Topic:PREFIXED:alp User:bob * Read Deny",
			"Group:LITERAL:* User:bob * Write Allow",
			"Group:LITERAL:wheel User:* * Write Deny",
		}, checks: []check{
			{"User:bob 1.1.1.1 Read Topic:green1", true},
			{"User:bob 1.1.1.1 Write Group:wheel", false},
			{"User:bob 1.1.1.1 Read Topic:alpha", false},
			{"User:bob 1.1.1.1 Write Group:arbitrary", true},
			{"User:bob 1.1.1.1 Read Topic:ala", false},
			{"User:carol 1.1.1.1 Read Topic:alpha1", true},
			{"User:carol 1.1.1.1 Read Topic:beta", true},
		}},
		scenario{name: "PrefixAcls", acls: []string{
			"Topic:PREFIXED:fooa User:alice * All Allow",
			"Topic:LITERAL:foobar User:bob * All Allow",
			"Topic:PREFIXED:f User:bob * All Allow",
		}, checks: []check{
			{"User:bob 1.1.1.1 Write Topic:foobarr", true},
			{"User:bob 1.1.1.1 Read Topic:goobar", false},
			{"User:bob 1.1.1.1 Read Topic:fooa", true},
			{"User:alice 1.1.1.1 Describe Topic:fooa", true},
			{"User:alice 1.1.1.1 Write Topic:bar", false},
			{"User:alice 1.1.1.1 Read Topic:baz", false},
		}},
		scenario{name: "IPv6HostsCompareAsAddresses", acls: []string{
			"Topic:LITERAL:t User:alice 0:0:0:0:0:0:0:1 Read Allow",
		}, checks: []check{
			{"User:alice ::1 Read Topic:t", true},
			{"User:alice 0:0:0:0:0:0:0:1 Read Topic:t", true},
			{"User:alice ::2 Read Topic:t", false},
			{"User:alice 127.0.0.1 Read Topic:t", false},
		}},
	)
	runScenarios(t, scenarios)
}

// TestDecideAclInheritance is AuthorizerTest.testAclInheritance: what an
// ALLOW or DENY of one operation on the cluster means for every other.
func TestDecideAclInheritance(t *testing.T) {
	every := []Operation{Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, CreateTokens, DescribeTokens, All}
	allows := map[Operation][]Operation{
		All:          every,
		Read:         {Describe},
		Write:        {Describe},
		Delete:       {Describe},
		Alter:        {Describe},
		AlterConfigs: {DescribeConfigs},
	}
	denies := map[Operation][]Operation{All: every, Describe: nil, DescribeConfigs: nil}
	in := func(ops []Operation, op Operation) bool {
		for _, o := range ops {
			if o == op {
				return true
			}
		}
		return false
	}
	who := Session{Principal: "User:alice", Host: "192.168.3.1"}
	for parent, implied := range allows {
		s := NewSnapshot([]Binding{{Pattern{Cluster, ClusterName, Literal}, Entry{"User:alice", "*", parent, Allow}}})
		for _, op := range every {
			want := op == parent || in(implied, op)
			if got := Decide(s, &Rules{}, who, Action{op, Cluster, ClusterName}).Allowed; got != want {
				t.Errorf("ALLOW %s: %s allowed=%v, want %v", parent, op, got, want)
			}
		}
	}
	for parent, implied := range denies {
		s := NewSnapshot([]Binding{
			{Pattern{Cluster, ClusterName, Literal}, Entry{"User:alice", "*", parent, Deny}},
			{Pattern{Cluster, ClusterName, Literal}, Entry{"User:alice", "*", All, Allow}},
		})
		for _, op := range every {
			want := !(op == parent || in(implied, op))
			if got := Decide(s, &Rules{}, who, Action{op, Cluster, ClusterName}).Allowed; got != want {
				t.Errorf("DENY %s: %s allowed=%v, want %v", parent, op, got, want)
			}
		}
	}
}

// TestDecideByResourceType ports BaseAuthorizerTest's
// authorizeByResourceType cases, each as ACLs added step by step.
func TestDecideByResourceType(t *testing.T) {
	type step struct {
		add    []string // ACLs added before the check
		remove []string // ACLs removed before the check
		q      string   // "User:user1 192.168.1.1 Read Topic"
		want   bool
	}
	cases := []struct {
		name  string
		rules Rules
		steps []step
	}{
		{"MultipleAddAndRemove", Rules{}, []step{
			{q: "User:user1 192.168.1.1 Read Topic", want: false},
			{add: []string{"Topic:LITERAL:sb1 User:user1 192.168.1.1 Read Allow"}, q: "User:user1 192.168.1.1 Read Topic", want: true},
			{add: []string{"Topic:LITERAL:sb1 User:user1 192.168.1.1 Read Deny"}, q: "User:user1 192.168.1.1 Read Topic", want: false},
			{remove: []string{"Topic:LITERAL:sb1 User:user1 192.168.1.1 Read Deny"}, q: "User:user1 192.168.1.1 Read Topic", want: true},
			{remove: []string{"Topic:LITERAL:sb1 User:user1 192.168.1.1 Read Allow"}, q: "User:user1 192.168.1.1 Read Topic", want: false},
		}},
		{"IsolationUnrelatedDenyWontDominateAllow", Rules{}, []step{
			{add: []string{
				"Topic:LITERAL:sb1 User:user1 192.168.1.1 Read Deny",
				"Topic:LITERAL:sb1 User:user2 192.168.1.1 Read Deny",
				"Topic:LITERAL:sb1 User:user1 192.168.1.2 Write Deny",
				"Topic:LITERAL:sb1 User:user2 192.168.1.2 Read Deny",
				"Topic:LITERAL:sb1 User:user1 192.168.1.2 Read Allow",
				"Topic:LITERAL:sb2 User:user1 192.168.1.2 Read Deny",
				"Group:PREFIXED:s User:user1 192.168.1.2 Read Deny",
			}, q: "User:user1 192.168.1.1 Read Topic", want: false},
			{q: "User:user1 192.168.1.1 Read Group", want: false},
			{q: "User:user1 192.168.1.1 Read TransactionalId", want: false},
			{q: "User:user1 192.168.1.1 Read Cluster", want: false},
			{q: "User:user1 192.168.1.2 Read Topic", want: true},
		}},
		{"DenyTakesPrecedence", Rules{}, []step{
			{add: []string{"Topic:LITERAL:sb1 User:user1 192.168.1.1 Write Allow"}, q: "User:user1 192.168.1.1 Write Topic", want: true},
			{add: []string{"Topic:LITERAL:sb1 User:user1 192.168.1.1 Write Deny"}, q: "User:user1 192.168.1.1 Write Topic", want: false},
		}},
		{"PrefixedResourceDenyDominate", Rules{}, []step{
			{add: []string{"Group:PREFIXED:abcde User:user1 192.168.1.1 Read Allow"}, q: "User:user1 192.168.1.1 Read Group", want: true},
			{add: []string{"Group:PREFIXED:abcd User:user1 192.168.1.1 Read Deny"}, q: "User:user1 192.168.1.1 Read Group", want: false},
			{add: []string{"Group:PREFIXED:abc User:user1 192.168.1.1 Read Allow"}, q: "User:user1 192.168.1.1 Read Group", want: true},
			{add: []string{"Group:PREFIXED:a User:user1 192.168.1.1 Read Deny"}, q: "User:user1 192.168.1.1 Read Group", want: false},
			{add: []string{"Group:PREFIXED:ab User:user1 192.168.1.1 Read Allow"}, q: "User:user1 192.168.1.1 Read Group", want: false},
		}},
		{"WildcardResourceDenyDominate", Rules{}, []step{
			{add: []string{"Group:PREFIXED:hello User:user1 192.168.1.1 Write Allow"}, q: "User:user1 192.168.1.1 Write Group", want: true},
			{add: []string{"Group:LITERAL:* User:user1 192.168.1.1 Write Deny"}, q: "User:user1 192.168.1.1 Write Group", want: false},
			{add: []string{"Group:LITERAL:* User:user1 192.168.1.1 Write Allow"}, q: "User:user1 192.168.1.1 Write Group", want: false},
			{add: []string{"Group:LITERAL:aloha User:user1 192.168.1.1 Write Allow"}, q: "User:user1 192.168.1.1 Write Group", want: false},
		}},
		{"WithAllOperationAce", Rules{}, []step{
			{q: "User:user1 192.168.1.1 Read Topic", want: false},
			{add: []string{"Topic:LITERAL:sb1 User:user1 192.168.1.1 Write Deny", "Topic:LITERAL:sb1 User:user1 192.168.1.1 All Allow"}, q: "User:user1 192.168.1.1 Read Topic", want: true},
			{add: []string{"Topic:LITERAL:sb1 User:user1 192.168.1.1 All Deny"}, q: "User:user1 192.168.1.1 Read Topic", want: false},
		}},
		{"WithAllHostAce", Rules{}, []step{
			{add: []string{"Topic:LITERAL:sb1 User:user1 192.168.1.1 Read Allow"}, q: "User:user1 192.168.1.1 Read Topic", want: true},
			{add: []string{"Topic:LITERAL:sb1 User:user1 * Read Deny"}, q: "User:user1 192.168.1.1 Read Topic", want: false},
			{add: []string{"Topic:LITERAL:sb2 User:user1 192.168.1.1 Read Deny"}, q: "User:user1 192.168.1.1 Read Topic", want: false},
			{q: "User:user1 192.168.1.2 Read Topic", want: false},
			{add: []string{"Topic:LITERAL:sb2 User:user1 * Read Allow"}, q: "User:user1 192.168.1.2 Read Topic", want: true},
			{add: []string{"Topic:LITERAL:sb2 User:user1 * Read Deny"}, q: "User:user1 192.168.1.2 Read Topic", want: false},
		}},
		{"WithAllPrincipalAce", Rules{}, []step{
			{add: []string{"Topic:LITERAL:sb1 User:user1 192.168.1.1 Read Allow"}, q: "User:user1 192.168.1.1 Read Topic", want: true},
			{add: []string{"Topic:LITERAL:sb1 User:* 192.168.1.1 Read Deny"}, q: "User:user1 192.168.1.1 Read Topic", want: false},
			{add: []string{"Topic:LITERAL:sb2 User:user1 192.168.1.1 Read Deny"}, q: "User:user1 192.168.1.1 Read Topic", want: false},
			{q: "User:user2 192.168.1.1 Read Topic", want: false},
			{add: []string{"Topic:LITERAL:sb2 User:* 192.168.1.1 Read Allow"}, q: "User:user2 192.168.1.1 Read Topic", want: true},
			{add: []string{"Topic:LITERAL:sb2 User:* 192.168.1.1 Read Deny"}, q: "User:user2 192.168.1.1 Read Topic", want: false},
		}},
		{"SuperUserHasAccess", Rules{SuperUsers: supers("User:superuser1")}, []step{
			{add: []string{
				"Topic:LITERAL:* User:* * All Deny", "Cluster:LITERAL:* User:* * All Deny",
				"Group:LITERAL:* User:* * All Deny", "TransactionalId:LITERAL:* User:* * All Deny",
			}, q: "User:superuser1 192.0.4.4 Read Topic", want: true},
			{q: "User:superuser1 192.0.4.4 Read Cluster", want: true},
			{q: "User:superuser1 192.0.4.4 Read Group", want: true},
			{q: "User:superuser1 192.0.4.4 Read TransactionalId", want: true},
		}},
		{"NoAclFoundOverride", Rules{AllowIfNoACL: true}, []step{
			{q: "User:alice 1.1.1.1 Read Topic", want: true},
			{q: "User:alice 1.1.1.1 Write Topic", want: true},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cur []Binding
			for i, st := range tc.steps {
				s := NewSnapshot(cur).With(acls(t, st.add...))
				var fs []Filter
				for _, r := range st.remove {
					fs = append(fs, exactFilter(acl(t, r)))
				}
				s, _ = s.Without(fs)
				cur = s.Bindings()
				f := strings.Fields(st.q)
				op, _ := ParseOperation(f[2])
				rt, _ := ParseResourceType(f[3])
				if got := DecideByResourceType(s, &tc.rules, Session{f[0], f[1]}, op, rt); got != st.want {
					t.Errorf("step %d: %s = %v, want %v (ACLs %v)", i, st.q, got, st.want, cur)
				}
			}
		})
	}
}

func exactFilter(b Binding) Filter {
	name, principal, host := b.Pattern.Name, b.Entry.Principal, b.Entry.Host
	return Filter{Type: b.Pattern.Type, Name: &name, PatternType: b.Pattern.PatternType,
		Principal: &principal, Host: &host, Operation: b.Entry.Operation, Permission: b.Entry.Permission}
}

func TestAuthorizedOperations(t *testing.T) {
	s := NewSnapshot(acls(t,
		"Topic:LITERAL:t User:alice * Read Allow",
		"Topic:PREFIXED:t User:alice * AlterConfigs Allow",
		"Topic:LITERAL:t User:alice * Delete Deny",
		"Cluster:LITERAL:kafka-cluster User:alice * Describe Allow",
	))
	who := Session{Principal: "User:alice", Host: "10.0.0.1"}
	bits := func(ops ...Operation) int32 { return OperationBits(ops) }
	for _, c := range []struct {
		t    ResourceType
		name string
		want int32
	}{
		{Topic, "t", bits(Read, Describe, DescribeConfigs, AlterConfigs)},
		{Topic, "tx", bits(DescribeConfigs, AlterConfigs)},
		{Topic, "u", 0},
		{Cluster, ClusterName, bits(Describe)},
		{Group, "g", 0},
	} {
		if got := AuthorizedOperations(s, &Rules{}, who, c.t, c.name); got != c.want {
			t.Errorf("%s %s: %b, want %b", c.t, c.name, got, c.want)
		}
	}
	if got, want := AuthorizedOperations(s, &Rules{SuperUsers: supers("User:alice")}, who, Group, "g"), bits(SupportedOperations(Group)...); got != want {
		t.Errorf("super user: %b, want %b", got, want)
	}
	// Kafka's numbers: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE,
	// DESCRIBE_CONFIGS, ALTER_CONFIGS on a topic are bits 3-8, 10 and 11.
	if got := OperationBits(SupportedOperations(Topic)); got != 1<<3|1<<4|1<<5|1<<6|1<<7|1<<8|1<<10|1<<11 {
		t.Errorf("topic operations %b", got)
	}
	var nilAuth *Authorizer
	if got := nilAuth.AuthorizedOperations(who, Cluster, ClusterName); got != bits(SupportedOperations(Cluster)...) {
		t.Errorf("no authorizer: %b", got)
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct {
		in   string
		want fmt.Stringer
		ok   bool
	}{
		{"Topic", Topic, true}, {"TOPIC", Topic, true}, {"TransactionalId", TransactionalID, true},
		{"TRANSACTIONAL_ID", TransactionalID, true}, {"DelegationToken", DelegationToken, true},
		{"Any", UnknownResource, false}, {"bogus", UnknownResource, false},
	} {
		got, ok := ParseResourceType(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseResourceType(%q) = %v %v", c.in, got, ok)
		}
	}
	for in, want := range map[string]Operation{"Read": Read, "READ": Read, "DescribeConfigs": DescribeConfigs,
		"DESCRIBE_CONFIGS": DescribeConfigs, "IdempotentWrite": IdempotentWrite, "All": All, "ALL": All} {
		if got, ok := ParseOperation(in); got != want || !ok {
			t.Errorf("ParseOperation(%q) = %v %v", in, got, ok)
		}
	}
	if _, ok := ParseOperation("Any"); ok {
		t.Error("Any parsed as an operation")
	}
	if TransactionalID.String() != "TransactionalId" || TransactionalID.Enum() != "TRANSACTIONAL_ID" || DescribeConfigs.String() != "DescribeConfigs" || Prefixed.String() != "PREFIXED" {
		t.Error("names differ from Kafka's")
	}
	if ResourceTypeOf(99) != UnknownResource || OperationOf(-3) != UnknownOp || PermissionOf(9) != UnknownPermission || PatternTypeOf(5) != UnknownPattern {
		t.Error("unknown codes are not Unknown")
	}
}

// TestParsePrincipals is StandardAuthorizerTest.testGetConfiguredSuperUsers.
func TestParsePrincipals(t *testing.T) {
	for in, want := range map[string]string{"": "", " ": "", "User:bob;User:alice ": "User:bob,User:alice", ";  User:bob  ;  User:alice ": "User:bob,User:alice"} {
		got, err := ParsePrincipals(in)
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("ParsePrincipals(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParsePrincipals("bob;:alice"); err == nil || err.Error() != "expected a string in format principalType:principalName but got bob" {
		t.Errorf("bob: %v", err)
	}
}

// BenchmarkDecide: a produce's check among 10,000 ACLs (literal, prefixed
// and wildcard, many principals).
func BenchmarkDecide(b *testing.B) {
	var bs []Binding
	for i := 0; i < 10000; i++ {
		pt := Literal
		if i%3 == 0 {
			pt = Prefixed
		}
		bs = append(bs, Binding{Pattern{Topic, fmt.Sprintf("team%d-topic%d", i%50, i), pt}, Entry{fmt.Sprintf("User:u%d", i%200), "*", Write, Allow}})
	}
	bs = append(bs, Binding{Pattern{Topic, "*", Literal}, Entry{"User:ops", "*", Describe, Allow}})
	s := NewSnapshot(bs)
	r := &Rules{SuperUsers: map[string]bool{"User:admin": true}}
	who := Session{Principal: "User:u7", Host: "10.1.2.3"}
	a := Action{Write, Topic, "team7-topic7007"}
	b.ReportAllocs()
	for b.Loop() {
		if !Decide(s, r, who, a).Allowed {
			b.Fatal("denied")
		}
	}
}

// FuzzDecide: any ACLs and any action decide without panicking, a super
// user is always allowed, and a matching DENY always denies.
func FuzzDecide(f *testing.F) {
	f.Add("foo", "fo", int8(2), int8(4), int8(3), "User:a", "*", "foo")
	f.Add("*", "", int8(3), int8(3), int8(8), "User:*", "::1", "x/y")
	f.Fuzz(func(t *testing.T, name, name2 string, rt, pt, op int8, principal, host, action string) {
		bs := []Binding{
			{Pattern{ResourceTypeOf(rt), name, PatternTypeOf(pt)}, Entry{principal, host, OperationOf(op), Allow}},
			{Pattern{ResourceTypeOf(rt), name2, Prefixed}, Entry{principal, host, All, PermissionOf(op)}},
		}
		s := NewSnapshot(bs)
		r := &Rules{SuperUsers: map[string]bool{"User:root": true}}
		act := Action{OperationOf(op), ResourceTypeOf(rt), action}
		_ = Validate(bs[0])
		_ = DecideByResourceType(s, r, Session{principal, host}, OperationOf(op), ResourceTypeOf(rt))
		_ = AuthorizedOperations(s, r, Session{principal, host}, ResourceTypeOf(rt), action)
		_ = s.Select(Filter{Type: ResourceTypeOf(rt), Name: &name, PatternType: Match, Operation: AnyOp, Permission: AnyPermission})
		if !Decide(s, r, Session{"User:root", host}, act).Allowed {
			t.Fatal("a super user denied")
		}
		deny := s.With([]Binding{{Pattern{act.Type, action, Literal}, Entry{principal, host, act.Operation, Deny}}})
		if d := Decide(deny, r, Session{principal, host}, act); d.Allowed {
			t.Fatalf("allowed despite a matching DENY: %+v", d)
		}
	})
}
