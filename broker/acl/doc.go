// Package acl is Gregor's authorizer: Kafka's ACL model (resource types,
// literal and prefixed patterns, the wildcard resource, principals, hosts,
// operations, ALLOW and DENY) and the decision over it as a pure
// function, Decide(snapshot, rules, session, action), in the manner of
// Kafka's AclAuthorizer and StandardAuthorizer. Handlers never implement
// rules: each package asks through one helper (broker/authz.go,
// coordinator/authz.go) that builds the Session from the connection.
//
// The rules, which both Kafka authorizers share:
//
//   - super.users (semicolon-separated principals) may do everything;
//   - the ACLs that apply to an action on a resource are those of its
//     literal name, of the literal wildcard "*" and of every prefixed
//     pattern its name starts with; with none at all the action is allowed
//     only when allow.everyone.if.no.acl.found is true;
//   - an ACL matches when its principal is the session's or User:*, its
//     host the client's IP address or *, and its operation the action's
//     or All; an ALLOW of Read, Write, Delete or Alter also matches
//     Describe, an ALLOW of AlterConfigs also matches DescribeConfigs;
//   - a matching DENY denies (deny wins), else a matching ALLOW allows,
//     else the action is denied.
//
// A Snapshot is immutable; the Authorizer holds the one in force and
// replaces it whole when the metadata backend delivers the ACLs (on start
// and on every change). ACLs are stored by the backends: ZooKeeper in
// Kafka's /kafka-acl layout (broker/zkmeta/acls.go), the local metadata
// file for a single broker.
package acl
