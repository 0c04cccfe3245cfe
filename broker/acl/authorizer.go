package acl

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Class names authorizer.class.name accepts: Kafka's ZooKeeper-mode and
// KRaft authorizers, which decide alike.
const (
	AclAuthorizerClass      = "kafka.security.authorizer.AclAuthorizer"
	StandardAuthorizerClass = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
)

// Config is the authorizer's part of the broker configuration.
type Config struct {
	SuperUsers   []string // super.users, parsed
	AllowIfNoACL bool     // allow.everyone.if.no.acl.found
}

// Authorizer is a broker's authorizer: the rules, the ACLs in force (a
// snapshot replaced whole when the metadata backend delivers a change),
// and what denials are logged and counted. A nil *Authorizer is "no
// authorizer": every action is allowed and authorized operations are all
// of a resource type's, as Kafka does without authorizer.class.name.
//
// Its methods are safe for concurrent use: the snapshot is an atomic
// pointer, the counters atomics.
type Authorizer struct {
	rules   Rules
	snap    atomic.Pointer[Snapshot]
	denyLog zerolog.Logger // rate limited
	denied  [numOperations][numResourceTypes]atomic.Uint64
}

// New returns an authorizer with no ACLs yet.
func New(cfg Config, log zerolog.Logger) *Authorizer {
	a := &Authorizer{
		rules:   Rules{SuperUsers: map[string]bool{}, AllowIfNoACL: cfg.AllowIfNoACL},
		denyLog: log.Sample(&zerolog.BurstSampler{Burst: 10, Period: time.Second}),
	}
	for _, p := range cfg.SuperUsers {
		a.rules.SuperUsers[p] = true
	}
	a.snap.Store(Empty)
	return a
}

// SetACLs replaces the ACLs in force.
func (a *Authorizer) SetACLs(bindings []Binding) { a.snap.Store(NewSnapshot(bindings)) }

// Snapshot is the ACLs in force; nil without an authorizer.
func (a *Authorizer) Snapshot() *Snapshot {
	if a == nil {
		return nil
	}
	return a.snap.Load()
}

// Request is who asks and through which API, for decisions and for the
// log of denials.
type Request struct {
	Session
	API string // the request's API name, for logs
}

// Authorize decides an action; a denial is counted and logged (rate
// limited) with the principal, the client's address, the operation and
// the resource.
func (a *Authorizer) Authorize(req Request, act Action) bool {
	if a == nil {
		return true
	}
	d := Decide(a.snap.Load(), &a.rules, req.Session, act)
	if !d.Allowed {
		a.denied[clampOp(act.Operation)][clampType(act.Type)].Add(1)
		a.denyLog.Info().Str("principal", req.Principal).Str("client", req.Host).Str("operation", act.Operation.String()).
			Str("resource", act.Type.String()+":LITERAL:"+act.Name).Str("api", req.API).Str("rule", d.Rule.String()).
			Msg("authorization denied")
	}
	return d.Allowed
}

// Allowed decides an action without logging or counting a denial: for
// filtering what a response lists (Metadata of every topic, ListGroups),
// as Kafka logs those only at trace level.
func (a *Authorizer) Allowed(s Session, act Action) bool {
	return a == nil || Decide(a.snap.Load(), &a.rules, s, act).Allowed
}

// AllowedOnSomeResource is DecideByResourceType.
func (a *Authorizer) AllowedOnSomeResource(s Session, op Operation, t ResourceType) bool {
	return a == nil || DecideByResourceType(a.snap.Load(), &a.rules, s, op, t)
}

// AuthorizedOperations is a resource's authorized operations bit field;
// without an authorizer every supported operation.
func (a *Authorizer) AuthorizedOperations(s Session, t ResourceType, name string) int32 {
	if a == nil {
		return OperationBits(SupportedOperations(t))
	}
	return AuthorizedOperations(a.snap.Load(), &a.rules, s, t, name)
}

// DenialCount is one counter of denials.
type DenialCount struct {
	Operation Operation
	Type      ResourceType
	N         uint64
}

// Denials are the non-zero denial counters.
func (a *Authorizer) Denials() []DenialCount {
	if a == nil {
		return nil
	}
	var out []DenialCount
	for op := range a.denied {
		for t := range a.denied[op] {
			if n := a.denied[op][t].Load(); n > 0 {
				out = append(out, DenialCount{Operation: Operation(op), Type: ResourceType(t), N: n})
			}
		}
	}
	return out
}

func clampOp(o Operation) Operation {
	if o < 0 || o >= numOperations {
		return UnknownOp
	}
	return o
}

func clampType(t ResourceType) ResourceType {
	if t < 0 || t >= numResourceTypes {
		return UnknownResource
	}
	return t
}

// CheckClass validates authorizer.class.name.
func CheckClass(name string) error {
	switch name {
	case "", AclAuthorizerClass, StandardAuthorizerClass:
		return nil
	}
	return fmt.Errorf("%s is not supported: use %s or %s (Gregor's ACL authorizer), or leave it empty", name, AclAuthorizerClass, StandardAuthorizerClass)
}
