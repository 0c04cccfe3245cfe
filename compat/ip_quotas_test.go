package compat

// KIP-612's IP quotas: connection_creation_rate on an ip entity, set and
// described through the admin API as Kafka's kafka-configs --entity-type
// ips does it, bounds how fast one address may open connections, measured
// over the quota windows as Kafka measures it. A connection over the rate
// is not served: the broker holds it for the throttle time and closes it. The client address is a random one of the
// loopback network, so other tests are not affected.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

// loopbackAddr is a random address of 127.0.0.0/8 other than 127.0.0.1.
func loopbackAddr() string {
	return fmt.Sprintf("127.%d.%d.%d", 2+rand.IntN(250), rand.IntN(256), 1+rand.IntN(254))
}

// servedFrom opens a connection from local to addr and reports whether
// the broker answers an ApiVersions on it (false: closed unanswered).
func servedFrom(t *testing.T, addr, local string) bool {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dialing %s from %s: %v", addr, local, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := &rawConn{t: t, c: c}
	err = r.request(kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrApiVersionsResponse())
	if isTimeout(err) {
		t.Fatalf("a connection from %s was neither served nor closed in 10s", local)
	}
	return err == nil
}

func ipEntity(ip string) kadm.ClientQuotaEntity {
	return kadm.ClientQuotaEntity{{Type: "ip", Name: strp(ip)}}
}

func TestIPConnectionCreationRateQuota(t *testing.T) {
	addr := bootstrap(t)
	adm := quotaAdmin(t, addr)
	limited, other := loopbackAddr(), loopbackAddr()
	setQuota(t, adm, ipEntity(limited), kadm.AlterClientQuotaOp{Key: "connection_creation_rate", Value: 1})
	t.Cleanup(func() {
		setQuota(t, adm, ipEntity(limited), kadm.AlterClientQuotaOp{Key: "connection_creation_rate", Remove: true})
	})
	exact := kadm.DescribeClientQuotaComponent{Type: "ip", MatchName: strp(limited), MatchType: 0}
	if got := describeQuotas(t, adm, true, exact); len(got) != 1 || got[0] != "ip="+limited+": connection_creation_rate=1" {
		t.Fatalf("described %q", got)
	}
	// A user filter never matches an ip entity.
	for _, q := range describeQuotas(t, adm, false, kadm.DescribeClientQuotaComponent{Type: "user", MatchType: 2}) {
		if q == "ip="+limited+": connection_creation_rate=1" {
			t.Fatalf("a user filter matched the ip entity")
		}
	}

	// At one connection a second over eleven windows of a second, ten
	// pass at once and the next is closed unanswered (a cluster applies
	// the quota as its watch fires, so some more may pass there first).
	served := 0
	waitFor(t, "a connection from "+limited+" to be refused", 20*time.Second, func() bool {
		if servedFrom(t, addr, limited) {
			served++
			return false
		}
		return true
	})
	if served < 10 {
		t.Errorf("only %d connections from %s passed before one was refused, want the ten windows' worth", served, limited)
	}
	for range 3 {
		if !servedFrom(t, addr, other) {
			t.Fatalf("a connection from %s, which has no rate, was refused", other)
		}
	}

	setQuota(t, adm, ipEntity(limited), kadm.AlterClientQuotaOp{Key: "connection_creation_rate", Remove: true})
	waitFor(t, "three connections at once from "+limited+" to be served once its rate is removed", 20*time.Second, func() bool {
		return servedFrom(t, addr, limited) && servedFrom(t, addr, limited) && servedFrom(t, addr, limited)
	})
}

// Validation of ip entities, entry by entry, as Kafka does.
func TestIPQuotaValidation(t *testing.T) {
	adm := quotaAdmin(t, bootstrap(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ip := loopbackAddr()
	bad := []kadm.AlterClientQuotaEntry{
		{Entity: kadm.ClientQuotaEntity{{Type: "ip", Name: strp(ip)}, {Type: "user", Name: strp("u")}}, Ops: []kadm.AlterClientQuotaOp{{Key: "connection_creation_rate", Value: 1}}},
		{Entity: ipEntity(ip), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1000}}},
		{Entity: ipEntity(ip), Ops: []kadm.AlterClientQuotaOp{{Key: "connection_creation_rate", Value: 2.5}}},
		{Entity: ipEntity("not a host name"), Ops: []kadm.AlterClientQuotaOp{{Key: "connection_creation_rate", Value: 1}}},
		{Entity: clientEntity(randomName("qclient")), Ops: []kadm.AlterClientQuotaOp{{Key: "connection_creation_rate", Value: 1}}},
	}
	res, err := adm.AlterClientQuotas(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !errors.Is(r.Err, kerr.InvalidRequest) {
			t.Errorf("entry %d (%v): %v %s, want INVALID_REQUEST", i, bad[i].Entity, r.Err, r.ErrMessage)
		}
	}
	if got := describeQuotas(t, adm, true, kadm.DescribeClientQuotaComponent{Type: "ip", MatchName: strp(ip), MatchType: 0}); len(got) != 0 {
		t.Errorf("refused alterations stored %q", got)
	}
	// An ip filter with a user one is refused whole.
	if _, err := adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "ip", MatchType: 2}, {Type: "user", MatchType: 2}}); !errors.Is(err, kerr.InvalidRequest) {
		t.Errorf("ip and user filter components: %v, want INVALID_REQUEST", err)
	}
}

// An ip entity may name a host: the broker applies the rate to the address
// the name resolves to, as Kafka's InetAddress.getByName resolves it (the
// first IPv4 address). Here "localhost", so the test has a broker of its
// own: 127.0.0.1 is every other test's source address.
func TestIPConnectionCreationRateQuotaHostName(t *testing.T) {
	addrs, err := net.LookupIP("localhost")
	if i := slices.IndexFunc(addrs, func(ip net.IP) bool { return ip.To4() != nil }); err != nil || i < 0 || !addrs[i].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Skipf("localhost's first IPv4 address is not 127.0.0.1 here (%v, %v)", addrs, err)
	}
	b := brokertest.Start(t, brokertest.Options{})
	adm := quotaAdmin(t, b.Addr)
	setQuota(t, adm, ipEntity("localhost"), kadm.AlterClientQuotaOp{Key: "connection_creation_rate", Value: 1})
	exact := kadm.DescribeClientQuotaComponent{Type: "ip", MatchName: strp("localhost"), MatchType: 0}
	if got := describeQuotas(t, adm, true, exact); len(got) != 1 || got[0] != "ip=localhost: connection_creation_rate=1" {
		t.Fatalf("described %q", got)
	}
	served := 0
	waitFor(t, "a connection from 127.0.0.1 (localhost) to be refused", 20*time.Second, func() bool {
		if servedFrom(t, b.Addr, "127.0.0.1") {
			served++
			return false
		}
		return true
	})
	if served < 10 {
		t.Errorf("only %d connections from 127.0.0.1 passed before one was refused, want the ten windows' worth", served)
	}
	other := loopbackAddr()
	for range 3 {
		if !servedFrom(t, b.Addr, other) {
			t.Fatalf("a connection from %s, which has no rate, was refused", other)
		}
	}
}
