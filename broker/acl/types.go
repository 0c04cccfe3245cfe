package acl

import (
	"fmt"
	"strings"
)

// ResourceType is Kafka's ResourceType; the values are its wire codes.
type ResourceType int8

// Resource types.
const (
	UnknownResource ResourceType = 0
	AnyResource     ResourceType = 1 // filters only
	Topic           ResourceType = 2
	Group           ResourceType = 3
	Cluster         ResourceType = 4
	TransactionalID ResourceType = 5
	DelegationToken ResourceType = 6
	User            ResourceType = 7
)

// numResourceTypes bounds the codes (counters are indexed by them).
const numResourceTypes = 8

// PatternType is Kafka's PatternType.
type PatternType int8

// Pattern types. Match and AnyPattern appear in filters only.
const (
	UnknownPattern PatternType = 0
	AnyPattern     PatternType = 1
	Match          PatternType = 2
	Literal        PatternType = 3
	Prefixed       PatternType = 4
)

// Operation is Kafka's AclOperation.
type Operation int8

// Operations. AnyOp appears in filters only.
const (
	UnknownOp       Operation = 0
	AnyOp           Operation = 1
	All             Operation = 2
	Read            Operation = 3
	Write           Operation = 4
	Create          Operation = 5
	Delete          Operation = 6
	Alter           Operation = 7
	Describe        Operation = 8
	ClusterAction   Operation = 9
	DescribeConfigs Operation = 10
	AlterConfigs    Operation = 11
	IdempotentWrite Operation = 12
	CreateTokens    Operation = 13
	DescribeTokens  Operation = 14
)

// numOperations bounds the codes (counters are indexed by them).
const numOperations = 15

// Permission is Kafka's AclPermissionType.
type Permission int8

// Permissions. AnyPermission appears in filters only.
const (
	UnknownPermission Permission = 0
	AnyPermission     Permission = 1
	Deny              Permission = 2
	Allow             Permission = 3
)

// Names Kafka gives the values: SecurityUtils' Pascal-case names, which
// ZooKeeper's ACL JSON and the tools use, and the enum names (upper
// case, with underscores), which Kafka's change notifications use.
var (
	resourceNames   = [...]string{"Unknown", "Any", "Topic", "Group", "Cluster", "TransactionalId", "DelegationToken", "User"}
	resourceEnums   = [...]string{"UNKNOWN", "ANY", "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID", "DELEGATION_TOKEN", "USER"}
	patternNames    = [...]string{"UNKNOWN", "ANY", "MATCH", "LITERAL", "PREFIXED"}
	operationNames  = [...]string{"Unknown", "Any", "All", "Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction", "DescribeConfigs", "AlterConfigs", "IdempotentWrite", "CreateTokens", "DescribeTokens"}
	permissionNames = [...]string{"Unknown", "Any", "Deny", "Allow"}
)

// ResourceTypeOf is Kafka's ResourceType.fromCode: an unknown code is
// UnknownResource.
func ResourceTypeOf(code int8) ResourceType {
	if code < 0 || int(code) >= len(resourceNames) {
		return UnknownResource
	}
	return ResourceType(code)
}

// PatternTypeOf is PatternType.fromCode.
func PatternTypeOf(code int8) PatternType {
	if code < 0 || int(code) >= len(patternNames) {
		return UnknownPattern
	}
	return PatternType(code)
}

// OperationOf is AclOperation.fromCode.
func OperationOf(code int8) Operation {
	if code < 0 || int(code) >= len(operationNames) {
		return UnknownOp
	}
	return Operation(code)
}

// PermissionOf is AclPermissionType.fromCode.
func PermissionOf(code int8) Permission {
	if code < 0 || int(code) >= len(permissionNames) {
		return UnknownPermission
	}
	return Permission(code)
}

// String is the Pascal-case name (Topic, TransactionalId).
func (t ResourceType) String() string { return ResourceTypeOf(int8(t)).name() }

func (t ResourceType) name() string { return resourceNames[t] }

// Enum is the Java enum name (TOPIC, TRANSACTIONAL_ID).
func (t ResourceType) Enum() string { return resourceEnums[ResourceTypeOf(int8(t))] }

// String is the Java enum name (LITERAL, PREFIXED).
func (p PatternType) String() string { return patternNames[PatternTypeOf(int8(p))] }

// String is the Pascal-case name (Read, DescribeConfigs).
func (o Operation) String() string { return operationNames[OperationOf(int8(o))] }

// String is the Pascal-case name (Allow, Deny).
func (p Permission) String() string { return permissionNames[PermissionOf(int8(p))] }

// normalize is how SecurityUtils looks names up: Pascal case or upper
// case; both forms of a multi-word name are tried without underscores.
func normalize(s string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "_", ""))
}

func lookup(names []string, s string) (int8, bool) {
	n := normalize(s)
	for i, name := range names {
		if i > 1 && normalize(name) == n { // never UNKNOWN or ANY
			return int8(i), true
		}
	}
	return 0, false
}

// ParseResourceType reads a resource type name (Topic, TOPIC,
// TransactionalId, TRANSACTIONAL_ID).
func ParseResourceType(s string) (ResourceType, bool) {
	c, ok := lookup(resourceNames[:], s)
	return ResourceType(c), ok
}

// ParsePatternType reads LITERAL or PREFIXED, in any case.
func ParsePatternType(s string) (PatternType, bool) {
	switch normalize(s) {
	case "LITERAL":
		return Literal, true
	case "PREFIXED":
		return Prefixed, true
	}
	return UnknownPattern, false
}

// ParseOperation reads an operation name (Read, READ, DescribeConfigs,
// DESCRIBE_CONFIGS, All).
func ParseOperation(s string) (Operation, bool) {
	c, ok := lookup(operationNames[:], s)
	return Operation(c), ok
}

// ParsePermission reads Allow or Deny, in any case.
func ParsePermission(s string) (Permission, bool) {
	c, ok := lookup(permissionNames[:], s)
	return Permission(c), ok
}

// Wildcards and fixed names.
const (
	// WildcardResource is a literal resource name matching every name.
	WildcardResource = "*"
	// WildcardHost matches every client address.
	WildcardHost = "*"
	// WildcardPrincipal matches every principal.
	WildcardPrincipal = "User:*"
	// ClusterName is the only name of the cluster resource.
	ClusterName = "kafka-cluster"
)

// Pattern is a resource pattern: a type, a name, and whether the name is
// literal (or the wildcard) or a prefix.
type Pattern struct {
	Type        ResourceType
	Name        string
	PatternType PatternType
}

func (p Pattern) String() string {
	return p.Type.String() + ":" + p.PatternType.String() + ":" + p.Name
}

// Entry is an access control entry: who, from where, what, allowed or
// denied.
type Entry struct {
	Principal  string // Type:Name, such as User:alice or User:*
	Host       string // an IP address or *
	Operation  Operation
	Permission Permission
}

func (e Entry) String() string {
	return fmt.Sprintf("%s has %s permission for operations: %s from hosts: %s", e.Principal, e.Permission, e.Operation, e.Host)
}

// Binding is one ACL: an entry on a pattern.
type Binding struct {
	Pattern Pattern
	Entry   Entry
}

func (b Binding) String() string {
	return "(pattern=" + b.Pattern.String() + ", entry=" + b.Entry.String() + ")"
}

// Filter selects bindings, as Kafka's AclBindingFilter: nil strings and
// the Any values match everything; PatternType Match matches the literal
// pattern of Name, the wildcard, and every prefix pattern of Name.
type Filter struct {
	Type        ResourceType
	Name        *string
	PatternType PatternType
	Principal   *string
	Host        *string
	Operation   Operation
	Permission  Permission
}

// AnyFilter matches every binding.
var AnyFilter = Filter{Type: AnyResource, PatternType: AnyPattern, Operation: AnyOp, Permission: AnyPermission}

// Unknown reports whether a field is unknown (AclBindingFilter.isUnknown).
func (f Filter) Unknown() bool {
	return f.Type == UnknownResource || f.PatternType == UnknownPattern || f.Operation == UnknownOp || f.Permission == UnknownPermission
}

// MatchesPattern is ResourcePatternFilter.matches.
func (f Filter) MatchesPattern(p Pattern) bool {
	if f.Type != AnyResource && f.Type != p.Type {
		return false
	}
	if f.PatternType != AnyPattern && f.PatternType != Match && f.PatternType != p.PatternType {
		return false
	}
	if f.Name == nil {
		return true
	}
	name := *f.Name
	if f.PatternType == AnyPattern || f.PatternType == p.PatternType {
		return name == p.Name
	}
	switch p.PatternType { // f.PatternType is Match
	case Literal:
		return name == p.Name || p.Name == WildcardResource
	case Prefixed:
		return strings.HasPrefix(name, p.Name)
	}
	return false
}

// MatchesEntry is AccessControlEntryFilter.matches.
func (f Filter) MatchesEntry(e Entry) bool {
	if f.Principal != nil && *f.Principal != e.Principal {
		return false
	}
	if f.Host != nil && *f.Host != e.Host {
		return false
	}
	if f.Operation != AnyOp && f.Operation != e.Operation {
		return false
	}
	return f.Permission == AnyPermission || f.Permission == e.Permission
}

// Matches is AclBindingFilter.matches.
func (f Filter) Matches(b Binding) bool {
	return f.MatchesPattern(b.Pattern) && f.MatchesEntry(b.Entry)
}

// InvalidError is a binding that cannot be created; the text says why in
// Kafka's words (CreateAcls answers INVALID_REQUEST with it).
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

func invalid(format string, args ...any) error {
	return &InvalidError{Msg: fmt.Sprintf(format, args...)}
}

// Validate checks a binding to be created, as Kafka's AclApis and
// AclControlManager.validateNewAcl do, plus what ZooKeeper storage needs
// (AclAuthorizer: no '/' in names) and what matching needs (a principal
// is Type:Name). Unknown codes have been mapped to the Unknown values.
func Validate(b Binding) error {
	p, e := b.Pattern, b.Entry
	switch {
	case p.Type == Cluster && p.Name != ClusterName:
		return invalid("The only valid name for the CLUSTER resource is %s", ClusterName)
	case p.Name == "":
		return invalid("Invalid empty resource name")
	case p.Type == UnknownResource || p.Type == AnyResource:
		return invalid("Invalid resourceType %s", strings.ToUpper(p.Type.Enum()))
	case p.PatternType != Literal && p.PatternType != Prefixed:
		return invalid("Invalid patternType %s", p.PatternType)
	case e.Operation == UnknownOp || e.Operation == AnyOp:
		return invalid("Invalid operation %s", strings.ToUpper(e.Operation.String()))
	case e.Permission != Allow && e.Permission != Deny:
		return invalid("Invalid permissionType %s", strings.ToUpper(e.Permission.String()))
	case strings.Contains(p.Name, "/"):
		return invalid("ACL binding contains invalid resource name: %s", p.Name)
	case !strings.Contains(e.Principal, ":"):
		return invalid("Could not parse principal from `%s` (no colon is present separating the principal type from the principal name)", e.Principal)
	}
	return nil
}

// SupportedOperations are the operations that mean something on a
// resource type (AclEntry.supportedOperations), in code order: what
// authorized-operations fields are computed from.
func SupportedOperations(t ResourceType) []Operation {
	switch t {
	case Topic:
		return []Operation{Read, Write, Create, Delete, Alter, Describe, DescribeConfigs, AlterConfigs}
	case Group:
		return []Operation{Read, Delete, Describe, DescribeConfigs, AlterConfigs}
	case Cluster:
		return []Operation{Create, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite}
	case TransactionalID:
		return []Operation{Write, Describe}
	case DelegationToken:
		return []Operation{Describe}
	case User:
		return []Operation{CreateTokens, DescribeTokens}
	}
	return nil
}

// OperationBits is a set of operations as Kafka's authorized-operations
// fields carry it (Utils.to32BitField: bit n is operation code n).
func OperationBits(ops []Operation) int32 {
	var bits int32
	for _, o := range ops {
		bits |= 1 << uint(o)
	}
	return bits
}

// ParsePrincipals reads super.users: principals separated by semicolons,
// each Type:Name, blanks ignored (StandardAuthorizer's
// getConfiguredSuperUsers).
func ParsePrincipals(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if i := strings.IndexByte(p, ':'); i < 0 {
			return nil, fmt.Errorf("expected a string in format principalType:principalName but got %s", p)
		}
		out = append(out, p)
	}
	return out, nil
}
