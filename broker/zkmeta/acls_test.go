package zkmeta_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/acl"
	"gregor/broker/metadata"
	"gregor/internal/zktest"
)

// aclApplier is a fakeApplier that also takes ACLs.
type aclApplier struct {
	*fakeApplier
	amu  sync.Mutex
	acls []acl.Binding
	n    int
}

func (a *aclApplier) ApplyAcls(bs []acl.Binding) {
	a.amu.Lock()
	defer a.amu.Unlock()
	a.acls, a.n = bs, a.n+1
}

func (a *aclApplier) current() ([]acl.Binding, int) {
	a.amu.Lock()
	defer a.amu.Unlock()
	return a.acls, a.n
}

func startAcl(t *testing.T, connect string, id int32) (metadata.Backend, *aclApplier) {
	t.Helper()
	a := &aclApplier{fakeApplier: newFakeApplier()}
	return startBackend(t, connect, id, a), a
}

func zkBinding(rt acl.ResourceType, name string, pt acl.PatternType, principal string, op acl.Operation, perm acl.Permission) acl.Binding {
	return acl.Binding{Pattern: acl.Pattern{Type: rt, Name: name, PatternType: pt}, Entry: acl.Entry{Principal: principal, Host: "*", Operation: op, Permission: perm}}
}

func sorted(bs ...acl.Binding) []acl.Binding {
	out := slices.Clone(bs)
	slices.SortFunc(out, acl.CompareBindings)
	return out
}

// awaitAcls polls until a broker's delivered ACLs are want, and returns
// how long that took.
func awaitAcls(t *testing.T, who string, a *aclApplier, want []acl.Binding) time.Duration {
	t.Helper()
	t0 := time.Now()
	await(t, "ACLs "+who, func() bool { got, _ := a.current(); return slices.Equal(got, want) })
	return time.Since(t0)
}

// TestAcls: ACLs written through one broker are in Kafka's znodes with
// Kafka's change notifications, reach every broker within a second, are
// loaded whole by a broker that starts later, and ACLs a Kafka tool
// writes straight into ZooKeeper (with its notification) are applied
// too.
func TestAcls(t *testing.T) {
	z := zktest.Start(t)
	connect := z.Addr + "/kafka/acls"
	be1, a1 := startAcl(t, connect, 1)
	_, a2 := startAcl(t, connect, 2)
	c := rawConn(t, z.Addr)
	ctx := context.Background()

	if got, n := a1.current(); n == 0 || len(got) != 0 {
		t.Fatalf("at start: %d deliveries, %v", n, got)
	}
	for _, p := range []string{"/kafka-acl/Topic", "/kafka-acl/TransactionalId", "/kafka-acl-extended/prefixed/Group", "/kafka-acl-changes", "/kafka-acl-extended-changes"} {
		if ok, _, err := c.Exists("/kafka/acls" + p); err != nil || !ok {
			t.Fatalf("%s missing: %v", p, err)
		}
	}

	read := zkBinding(acl.Topic, "orders", acl.Literal, "User:alice", acl.Read, acl.Allow)
	write := zkBinding(acl.Topic, "orders", acl.Literal, "User:bob", acl.Write, acl.Allow)
	group := zkBinding(acl.Group, "app-", acl.Prefixed, "User:*", acl.Read, acl.Allow)
	txn := zkBinding(acl.TransactionalID, "tx", acl.Literal, "User:alice", acl.Write, acl.Deny)
	for i, err := range be1.CreateAcls(ctx, []acl.Binding{read, write, group, txn}) {
		if err != nil {
			t.Fatalf("creation %d: %v", i, err)
		}
	}
	want := sorted(read, write, group, txn)
	d1 := awaitAcls(t, "created through broker 1 on broker 1", a1, want)
	d2 := awaitAcls(t, "created through broker 1 on broker 2", a2, want)
	t.Logf("ACLs applied %v (broker 1) and %v (broker 2) after CreateAcls returned", d1, d2)
	if d2 > time.Second {
		t.Errorf("broker 2 applied the ACLs after %v, more than a second", d2)
	}

	// Kafka's layout and JSON.
	var doc struct {
		Version int `json:"version"`
		Acls    []map[string]string
	}
	getJSON(t, c, "/kafka/acls/kafka-acl/Topic/orders", &doc)
	sort.Slice(doc.Acls, func(i, j int) bool { return doc.Acls[i]["principal"] < doc.Acls[j]["principal"] })
	if doc.Version != 1 || len(doc.Acls) != 2 || doc.Acls[0]["principal"] != "User:alice" || doc.Acls[0]["operation"] != "Read" ||
		doc.Acls[0]["permissionType"] != "Allow" || doc.Acls[0]["host"] != "*" || doc.Acls[1]["operation"] != "Write" {
		t.Errorf("/kafka-acl/Topic/orders = %+v", doc)
	}
	getJSON(t, c, "/kafka/acls/kafka-acl-extended/prefixed/Group/app-", &doc)
	if len(doc.Acls) != 1 || doc.Acls[0]["principal"] != "User:*" {
		t.Errorf("/kafka-acl-extended/prefixed/Group/app- = %+v", doc)
	}
	getJSON(t, c, "/kafka/acls/kafka-acl/TransactionalId/tx", &doc)
	if len(doc.Acls) != 1 || doc.Acls[0]["permissionType"] != "Deny" {
		t.Errorf("/kafka-acl/TransactionalId/tx = %+v", doc)
	}
	notes := func(path string) []string {
		names, _, err := c.Children("/kafka/acls" + path)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range names {
			data, _, err := c.Get("/kafka/acls" + path + "/" + n)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(data))
		}
		sort.Strings(out)
		return out
	}
	if got := notes("/kafka-acl-changes"); !slices.Equal(got, []string{"TOPIC:orders", "TRANSACTIONAL_ID:tx"}) {
		t.Errorf("literal notifications %q", got)
	}
	var ev map[string]any
	if got := notes("/kafka-acl-extended-changes"); len(got) != 1 || json.Unmarshal([]byte(got[0]), &ev) != nil ||
		ev["version"] != 1.0 || ev["resourceType"] != "GROUP" || ev["name"] != "app-" || ev["patternType"] != "PREFIXED" {
		t.Errorf("extended notifications %q", got)
	}

	// A broker started now reads them whole.
	be3, a3 := startAcl(t, connect, 3)
	if got, _ := a3.current(); !slices.Equal(got, want) {
		t.Fatalf("broker 3 at start: %v", got)
	}

	// As Kafka's tools write them: a znode, then a notification.
	kafkaACL := `{"version":1,"acls":[{"host":"10.0.0.1","permissionType":"Deny","operation":"Describe","principal":"User:eve"}]}`
	if _, err := c.Create("/kafka/acls/kafka-acl/Cluster/kafka-cluster", []byte(kafkaACL), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("/kafka/acls/kafka-acl-changes/acl_changes_", []byte("Cluster:kafka-cluster"), zk.FlagSequence, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	cluster := acl.Binding{Pattern: acl.Pattern{Type: acl.Cluster, Name: "kafka-cluster", PatternType: acl.Literal},
		Entry: acl.Entry{Principal: "User:eve", Host: "10.0.0.1", Operation: acl.Describe, Permission: acl.Deny}}
	want = sorted(read, write, group, txn, cluster)
	for i, a := range []*aclApplier{a1, a2, a3} {
		if d := awaitAcls(t, "written by a Kafka tool on broker "+string(rune('1'+i)), a, want); d > time.Second {
			t.Errorf("broker %d applied a Kafka tool's ACL after %v", i+1, d)
		}
	}

	// Deleted through broker 3: by a MATCH filter and an exact one.
	orders := "orders"
	matched, errs := be3.DeleteAcls(ctx, []acl.Filter{
		{Type: acl.AnyResource, Name: &orders, PatternType: acl.Match, Principal: ptr("User:bob"), Operation: acl.AnyOp, Permission: acl.AnyPermission},
		{Type: acl.Group, PatternType: acl.AnyPattern, Operation: acl.AnyOp, Permission: acl.AnyPermission},
		{Type: acl.Topic, Name: ptr("nothing"), PatternType: acl.Literal, Operation: acl.AnyOp, Permission: acl.AnyPermission},
	})
	if errs[0] != nil || errs[1] != nil || errs[2] != nil || !slices.Equal(matched[0], []acl.Binding{write}) ||
		!slices.Equal(matched[1], []acl.Binding{group}) || len(matched[2]) != 0 {
		t.Fatalf("deleted %v, %v", matched, errs)
	}
	want = sorted(read, txn, cluster)
	for i, a := range []*aclApplier{a1, a2, a3} {
		awaitAcls(t, "after deletion on broker "+string(rune('1'+i)), a, want)
	}
	if ok, _, _ := c.Exists("/kafka/acls/kafka-acl-extended/prefixed/Group/app-"); ok {
		t.Error("the znode of a pattern without ACLs is left")
	}
	if got, err := be1.Acls(ctx); err != nil || !slices.Equal(got, want) {
		t.Errorf("Acls() = %v, %v", got, err)
	}
}

func ptr(s string) *string { return &s }

// ACLs of a resource whose name ZooKeeper cannot hold as a path element
// (Kafka's layout keeps names raw) are refused with INVALID_REQUEST; a
// name with '/' was retried as a conflicting write and failed with
// "changed concurrently", "." and ".." with "zk: invalid path".
func TestAclsOfNamesZooKeeperCannotHoldAreRefused(t *testing.T) {
	z := zktest.Start(t)
	be, a := startAcl(t, z.Addr+"/kafka/acls", 1)
	ctx := context.Background()
	ok := zkBinding(acl.Group, "a.b", acl.Literal, "User:alice", acl.Read, acl.Allow)
	var bad []acl.Binding
	for _, name := range []string{"a/b", ".", "..", "x\x01y"} {
		bad = append(bad, zkBinding(acl.Group, name, acl.Literal, "User:alice", acl.Read, acl.Allow))
	}
	errs := be.CreateAcls(ctx, append([]acl.Binding{ok}, bad...))
	if errs[0] != nil {
		t.Fatalf("an ACL of group a.b: %v", errs[0])
	}
	for i, err := range errs[1:] {
		if !errors.Is(err, kerr.InvalidRequest) {
			t.Errorf("an ACL of group %q: %v, want INVALID_REQUEST", bad[i].Pattern.Name, err)
		}
	}
	awaitAcls(t, "of group a.b alone", a, sorted(ok))
}
