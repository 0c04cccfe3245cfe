package metadata

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"gregor/broker/acl"
)

// aclApplier records the ACLs delivered.
type aclApplier struct {
	nopApplier
	mu   sync.Mutex
	acls []acl.Binding
	n    int
}

func (a *aclApplier) ApplyAcls(bs []acl.Binding) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.acls, a.n = bs, a.n+1
}

func binding(rt acl.ResourceType, name string, pt acl.PatternType, principal string, op acl.Operation, perm acl.Permission) acl.Binding {
	return acl.Binding{Pattern: acl.Pattern{Type: rt, Name: name, PatternType: pt}, Entry: acl.Entry{Principal: principal, Host: "*", Operation: op, Permission: perm}}
}

// TestLocalAcls: ACLs are created, delivered, kept in the metadata file
// in Kafka's JSON names, survive a restart, and are deleted by filter.
func TestLocalAcls(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a := &aclApplier{}
	l := NewLocal(dir, BrokerInfo{ID: 1})
	if err := l.Start(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a.n != 1 || len(a.acls) != 0 {
		t.Fatalf("start delivered %d times: %v", a.n, a.acls)
	}
	read := binding(acl.Topic, "orders", acl.Literal, "User:alice", acl.Read, acl.Allow)
	pre := binding(acl.Group, "app-", acl.Prefixed, "User:*", acl.Read, acl.Allow)
	for _, err := range l.CreateAcls(ctx, []acl.Binding{read, pre, read}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []acl.Binding{read, pre}
	slices.SortFunc(want, acl.CompareBindings)
	if !slices.Equal(a.acls, want) {
		t.Fatalf("delivered %v", a.acls)
	}
	data, _ := os.ReadFile(filepath.Join(dir, localFile))
	for _, s := range []string{`"resource_type": "Topic"`, `"pattern_type": "PREFIXED"`, `"permissionType": "Allow"`, `"operation": "Read"`, `"principal": "User:*"`} {
		if !strings.Contains(string(data), s) {
			t.Errorf("metadata file lacks %s:\n%s", s, data)
		}
	}
	n := a.n
	l.CreateAcls(ctx, []acl.Binding{read}) // no change: no delivery
	if a.n != n {
		t.Errorf("an unchanged set delivered again")
	}
	l.Close()

	b := &aclApplier{}
	l = NewLocal(dir, BrokerInfo{ID: 1})
	if err := l.Start(ctx, b); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.acls, want) {
		t.Fatalf("after a restart %v", b.acls)
	}
	name := "orders"
	matched, errs := l.DeleteAcls(ctx, []acl.Filter{
		{Type: acl.Topic, Name: &name, PatternType: acl.Match, Operation: acl.AnyOp, Permission: acl.AnyPermission},
		{Type: acl.Topic, PatternType: acl.AnyPattern, Operation: acl.Write, Permission: acl.AnyPermission},
	})
	if errs[0] != nil || errs[1] != nil || !slices.Equal(matched[0], []acl.Binding{read}) || len(matched[1]) != 0 {
		t.Fatalf("deleted %v %v", matched, errs)
	}
	if got, _ := l.Acls(ctx); !slices.Equal(got, []acl.Binding{pre}) || !slices.Equal(b.acls, got) {
		t.Fatalf("left %v, delivered %v", got, b.acls)
	}
}

// TestAclJSON is Kafka's AclEntry JSON, both ways.
func TestAclJSON(t *testing.T) {
	kafka := `{"version":1,"acls":[{"host":"host1","permissionType":"Deny","operation":"Read","principal":"User:alice"},` +
		`{"host":"*","permissionType":"Allow","operation":"DescribeConfigs","principal":"User:*"}]}`
	es, err := DecodeAclEntries([]byte(kafka))
	if err != nil {
		t.Fatal(err)
	}
	want := []acl.Entry{{Principal: "User:alice", Host: "host1", Operation: acl.Read, Permission: acl.Deny}, {Principal: "User:*", Host: "*", Operation: acl.DescribeConfigs, Permission: acl.Allow}}
	if !slices.Equal(es, want) {
		t.Fatalf("decoded %v", es)
	}
	back, err := DecodeAclEntries(EncodeAclEntries(es))
	if err != nil || !slices.Equal(back, want) {
		t.Fatalf("round trip %v %v", back, err)
	}
	if !strings.Contains(string(EncodeAclEntries(want)), `"operation":"DescribeConfigs"`) {
		t.Errorf("encoded %s", EncodeAclEntries(want))
	}
	for _, bad := range []string{`{"version":2,"acls":[]}`, `{"version":1,"acls":[{"principal":"User:a","permissionType":"Maybe","operation":"Read","host":"*"}]}`, `nope`} {
		if _, err := DecodeAclEntries([]byte(bad)); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
	if es, err := DecodeAclEntries(nil); err != nil || es != nil {
		t.Errorf("empty: %v %v", es, err)
	}
}
