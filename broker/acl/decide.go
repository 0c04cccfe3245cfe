package acl

import (
	"net/netip"
	"strings"
)

// Rules are the authorizer's configuration: super.users and
// allow.everyone.if.no.acl.found.
type Rules struct {
	// SuperUsers may do everything, whatever the ACLs say.
	SuperUsers map[string]bool
	// AllowIfNoACL allows an action on a resource no ACL matches at all.
	AllowIfNoACL bool
}

// Session is who asks: the principal (Type:Name) and the client's IP
// address.
type Session struct {
	Principal string
	Host      string
}

// Action is what is asked: an operation on a resource named literally.
type Action struct {
	Operation Operation
	Type      ResourceType
	Name      string
}

func (a Action) String() string {
	return a.Operation.String() + " on " + a.Type.String() + ":LITERAL:" + a.Name
}

// Rule says why a decision was made.
type Rule int8

// Rules of a decision.
const (
	// RuleSuperUser: the principal is in super.users.
	RuleSuperUser Rule = iota
	// RuleDeny: a DENY ACL matches (deny wins over any allow).
	RuleDeny
	// RuleAllow: an ALLOW ACL matches and no DENY ACL does.
	RuleAllow
	// RuleNoACL: no ACL exists on the resource at all; the result is
	// allow.everyone.if.no.acl.found.
	RuleNoACL
	// RuleNoMatch: ACLs exist on the resource but none matches.
	RuleNoMatch
)

func (r Rule) String() string {
	return [...]string{"SuperUser", "MatchingDeny", "MatchingAllow", "NoAclOnResource", "NoMatchingAcl"}[r]
}

// Decision is an authorization's outcome.
type Decision struct {
	Allowed bool
	Rule    Rule
	// ACL is the matching ACL for RuleAllow and RuleDeny.
	ACL Binding
}

// Decide authorizes an action, as Kafka's AclAuthorizer and
// StandardAuthorizer do:
//
//   - a super user is allowed everything;
//   - the ACLs that apply are those on the literal name, on the literal
//     wildcard "*", and on every prefixed pattern the name starts with;
//     with none, the action is allowed only if allow.everyone.if.no.acl.found;
//   - an ACL matches when its principal is the session's or User:*, its
//     host the session's address or *, and its operation the action's or
//     All; an ALLOW of Read, Write, Delete or Alter also matches Describe,
//     and an ALLOW of AlterConfigs also matches DescribeConfigs (a DENY
//     implies nothing);
//   - any matching DENY denies; else any matching ALLOW allows; else the
//     action is denied.
func Decide(s *Snapshot, r *Rules, who Session, a Action) Decision {
	if r.SuperUsers[who.Principal] {
		return Decision{Allowed: true, Rule: RuleSuperUser}
	}
	d := decider{s: s, who: who, a: a}
	if d.check(Pattern{Type: a.Type, Name: a.Name, PatternType: Literal}) ||
		a.Name != WildcardResource && d.check(Pattern{Type: a.Type, Name: WildcardResource, PatternType: Literal}) {
		return d.deny
	}
	if a.Type >= 0 && a.Type < numResourceTypes {
		for _, n := range s.prefixLens[a.Type] {
			if n > len(a.Name) {
				break
			}
			if d.check(Pattern{Type: a.Type, Name: a.Name[:n], PatternType: Prefixed}) {
				return d.deny
			}
		}
	}
	switch {
	case d.allowed:
		return d.allow
	case !d.found:
		return Decision{Allowed: r.AllowIfNoACL, Rule: RuleNoACL}
	}
	return Decision{Rule: RuleNoMatch}
}

// decider collects the ACLs that apply to one action.
type decider struct {
	s     *Snapshot
	who   Session
	a     Action
	found bool // some ACL is on the resource

	allowed     bool
	allow, deny Decision
}

// check looks at one pattern's ACLs and reports whether one denies.
func (d *decider) check(p Pattern) bool {
	for _, e := range d.s.byPattern[p] {
		d.found = true
		switch entryResult(e, d.who, d.a.Operation) {
		case Deny:
			d.deny = Decision{Rule: RuleDeny, ACL: Binding{Pattern: p, Entry: e}}
			return true
		case Allow:
			if !d.allowed {
				d.allowed = true
				d.allow = Decision{Allowed: true, Rule: RuleAllow, ACL: Binding{Pattern: p, Entry: e}}
			}
		}
	}
	return false
}

// entryResult is StandardAuthorizerData.findResult: Allow or Deny when the
// entry matches the session and operation, UnknownPermission when not.
func entryResult(e Entry, who Session, op Operation) Permission {
	if e.Principal != who.Principal && e.Principal != WildcardPrincipal {
		return UnknownPermission
	}
	if e.Host != WildcardHost && !sameHost(e.Host, who.Host) {
		return UnknownPermission
	}
	if e.Operation != All && e.Operation != op && !(e.Permission == Allow && implies(e.Operation, op)) {
		return UnknownPermission
	}
	if e.Permission != Allow && e.Permission != Deny {
		return UnknownPermission
	}
	return e.Permission
}

// implies reports whether allowing op allows implied too (AclOperation's
// javadoc: READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS
// implies DESCRIBE_CONFIGS).
func implies(op, implied Operation) bool {
	switch implied {
	case Describe:
		return op == Read || op == Write || op == Delete || op == Alter
	case DescribeConfigs:
		return op == AlterConfigs
	}
	return false
}

// sameHost compares an ACL's host with a client's address. Kafka compares
// the strings (Java's InetAddress.getHostAddress); an IPv6 address is
// also compared as an address, since Java writes it uncompressed
// (0:0:0:0:0:0:0:1) and Go compressed (::1).
func sameHost(aclHost, client string) bool {
	if aclHost == client {
		return true
	}
	if !strings.Contains(aclHost, ":") || !strings.Contains(client, ":") {
		return false
	}
	a, err1 := netip.ParseAddr(aclHost)
	c, err2 := netip.ParseAddr(client)
	return err1 == nil && err2 == nil && a == c
}

// DecideByResourceType reports whether the session may do op on at least
// one resource of a type: Kafka's Authorizer.authorizeByResourceType
// (what lets an idempotent producer without IdempotentWrite on the cluster
// through when it may Write some topic). A super user, or an action
// allowed on a hard-coded name (allow.everyone.if.no.acl.found, a
// wildcard ALLOW), is allowed; otherwise some literal or prefixed ALLOW
// must match that no DENY dominates: a literal DENY of the same name, a
// prefixed DENY of a prefix of its name, or a DENY on the wildcard.
func DecideByResourceType(s *Snapshot, r *Rules, who Session, op Operation, t ResourceType) bool {
	if Decide(s, r, who, Action{Operation: op, Type: t, Name: "hardcode"}).Allowed {
		return true
	}
	denyLiteral, denyPrefix := map[string]bool{}, map[string]bool{}
	var allowLiteral, allowPrefix []string
	wildcardAllow := false
	for p, es := range s.byPattern {
		if p.Type != t {
			continue
		}
		for _, e := range es {
			if e.Principal != who.Principal && e.Principal != WildcardPrincipal ||
				e.Host != WildcardHost && !sameHost(e.Host, who.Host) ||
				e.Operation != op && e.Operation != All {
				continue
			}
			switch {
			case e.Permission == Deny && p.PatternType == Literal && p.Name == WildcardResource:
				return false
			case e.Permission == Deny && p.PatternType == Literal:
				denyLiteral[p.Name] = true
			case e.Permission == Deny:
				denyPrefix[p.Name] = true
			case e.Permission == Allow && p.PatternType == Literal && p.Name == WildcardResource:
				wildcardAllow = true
			case e.Permission == Allow && p.PatternType == Literal:
				allowLiteral = append(allowLiteral, p.Name)
			case e.Permission == Allow:
				allowPrefix = append(allowPrefix, p.Name)
			}
		}
	}
	if wildcardAllow {
		return true
	}
	dominated := func(name string) bool {
		for i := 1; i <= len(name); i++ {
			if denyPrefix[name[:i]] {
				return true
			}
		}
		return false
	}
	for _, n := range allowLiteral {
		if !denyLiteral[n] && !dominated(n) {
			return true
		}
	}
	for _, n := range allowPrefix {
		if !dominated(n) {
			return true
		}
	}
	return false
}

// AuthorizedOperations is the set of a resource type's supported
// operations the session may do on a resource, as a bit field
// (AuthHelper.authorizedOperations).
func AuthorizedOperations(s *Snapshot, r *Rules, who Session, t ResourceType, name string) int32 {
	var ops []Operation
	for _, op := range SupportedOperations(t) {
		if Decide(s, r, who, Action{Operation: op, Type: t, Name: name}).Allowed {
			ops = append(ops, op)
		}
	}
	return OperationBits(ops)
}
