package metadata

// ACLs, stored as Kafka stores them: per resource pattern, the entries in
// AclEntry's JSON, {"version":1,"acls":[{"principal":"User:alice",
// "permissionType":"Allow","operation":"Read","host":"*"}]}. In ZooKeeper
// that is the data of /kafka-acl/<ResourceType>/<name> (literal patterns)
// and /kafka-acl-extended/prefixed/<ResourceType>/<name> (package
// zkmeta); a single broker keeps the same per-pattern objects in its
// metadata file.

import (
	"encoding/json"
	"fmt"
	"slices"

	"gregor/broker/acl"
)

// AclApplier is implemented by Appliers that take ACLs; backends deliver
// the complete set at Start (before Start returns) and after every change
// (in a cluster, within a second of it), serialised with the other
// deliveries.
type AclApplier interface {
	ApplyAcls([]acl.Binding)
}

// aclEntryJSON is one entry of AclEntry's JSON.
type aclEntryJSON struct {
	Principal      string `json:"principal"`
	PermissionType string `json:"permissionType"`
	Operation      string `json:"operation"`
	Host           string `json:"host"`
}

type aclsJSON struct {
	Version int            `json:"version"`
	Acls    []aclEntryJSON `json:"acls"`
}

// EncodeAclEntries is AclEntry.toJsonCompatibleMap as JSON.
func EncodeAclEntries(entries []acl.Entry) []byte {
	doc := aclsJSON{Version: 1, Acls: make([]aclEntryJSON, 0, len(entries))}
	for _, e := range entries {
		doc.Acls = append(doc.Acls, aclEntryJSON{Principal: e.Principal, PermissionType: e.Permission.String(), Operation: e.Operation.String(), Host: e.Host})
	}
	data, _ := json.Marshal(&doc)
	return data
}

// DecodeAclEntries is AclEntry.fromBytes: empty data is no entries; a
// version other than 1, or an entry naming an unknown operation or
// permission, is an error.
func DecodeAclEntries(data []byte) ([]acl.Entry, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var doc aclsJSON
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Version != 1 {
		return nil, fmt.Errorf("unsupported ACL version %d", doc.Version)
	}
	out := make([]acl.Entry, 0, len(doc.Acls))
	for _, j := range doc.Acls {
		op, ok1 := acl.ParseOperation(j.Operation)
		perm, ok2 := acl.ParsePermission(j.PermissionType)
		if !ok1 || !ok2 || j.Principal == "" {
			return nil, fmt.Errorf("invalid ACL entry %+v", j)
		}
		out = append(out, acl.Entry{Principal: j.Principal, Host: j.Host, Operation: op, Permission: perm})
	}
	return out, nil
}

// AddAcls returns entries with adds appended, sorted, without duplicates.
func AddAcls(entries, adds []acl.Entry) []acl.Entry {
	out := append(slices.Clone(entries), adds...)
	slices.SortFunc(out, acl.CompareEntries)
	return slices.Compact(out)
}

// MaxAclChanges bounds the ACLs one request creates or deletes: Kafka's
// controller refuses a larger batch (MAX_RECORDS_PER_USER_OP) with
// POLICY_VIOLATION, and it bounds the znodes one request rewrites.
const MaxAclChanges = 10000

// localAcls are a single broker's ACLs in its metadata file: one object
// per resource pattern with Kafka's names and entries.
type localAcls struct {
	ResourceType string         `json:"resource_type"`
	PatternType  string         `json:"pattern_type"`
	Name         string         `json:"name"`
	Acls         []aclEntryJSON `json:"acls"`
}

func toLocalAcls(s *acl.Snapshot) []localAcls {
	var out []localAcls
	for _, p := range s.Patterns() {
		var doc aclsJSON
		_ = json.Unmarshal(EncodeAclEntries(s.Entries(p)), &doc)
		out = append(out, localAcls{ResourceType: p.Type.String(), PatternType: p.PatternType.String(), Name: p.Name, Acls: doc.Acls})
	}
	return out
}

func fromLocalAcls(ls []localAcls) ([]acl.Binding, error) {
	var out []acl.Binding
	for _, l := range ls {
		rt, ok1 := acl.ParseResourceType(l.ResourceType)
		pt, ok2 := acl.ParsePatternType(l.PatternType)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("ACLs of %s:%s:%s: unknown resource or pattern type", l.ResourceType, l.PatternType, l.Name)
		}
		data, _ := json.Marshal(aclsJSON{Version: 1, Acls: l.Acls})
		entries, err := DecodeAclEntries(data)
		if err != nil {
			return nil, fmt.Errorf("ACLs of %s:%s:%s: %w", l.ResourceType, l.PatternType, l.Name, err)
		}
		for _, e := range entries {
			out = append(out, acl.Binding{Pattern: acl.Pattern{Type: rt, Name: l.Name, PatternType: pt}, Entry: e})
		}
	}
	return out, nil
}
