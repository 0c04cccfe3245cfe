package zkmeta_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/metadata"
	"gregor/internal/zktest"
)

// A broker in controlled shutdown is elected nowhere while another can
// lead, as Kafka's controller leaves shutting-down brokers out of its
// elections: not as a new partition's leader or ISR member, not as a dead
// leader's successor, not as preferred leader. Where it alone could lead,
// it still does. Its shutdown announces it in
// /gregor/controlled_shutdown/<id>, which goes with its session.
func TestBrokerInControlledShutdownNotElected(t *testing.T) {
	z := zktest.Start(t)
	ctx := context.Background()
	n1 := start(t, z.Addr, 1)
	await(t, "broker 1 to be controller", func() bool { _, c := n1.apply.view(); return c == 1 })
	n2 := start(t, z.Addr, 2)
	n3 := start(t, z.Addr, 3)
	await(t, "broker 1 to see brokers 1, 2 and 3", func() bool {
		ids, _ := n1.apply.view()
		return slices.Equal(ids, []int32{1, 2, 3})
	})
	for name, replicas := range map[string][]int32{"f": {2, 3, 1}, "g": {2, 3}} {
		if _, err := n1.be.CreateTopic(ctx, metadata.TopicSpec{Name: name, Assignment: [][]int32{replicas}}); err != nil {
			t.Fatal(err)
		}
	}
	await(t, "f and g led by broker 2 with full ISRs", func() bool {
		f, _ := stateOf(n1, "f", 0)
		g, _ := stateOf(n1, "g", 0)
		return f.Leader == 2 && len(f.ISR) == 3 && g.Leader == 2 && len(g.ISR) == 2
	})

	// Broker 3 announces its controlled shutdown (as its Shutdown does
	// first, before it hands anything over).
	c := rawConn(t, z.Addr)
	marker := "/gregor/controlled_shutdown/3"
	if _, err := c.Create(marker, nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}

	// A new partition: broker 3 neither leads it nor is in its ISR.
	if _, err := n1.be.CreateTopic(ctx, metadata.TopicSpec{Name: "n", Assignment: [][]int32{{3, 1}}}); err != nil {
		t.Fatal(err)
	}
	await(t, "n-0 online", func() bool { st, ok := stateOf(n1, "n", 0); return ok && st.Leader >= 0 })
	if st, _ := stateOf(n1, "n", 0); st.Leader != 1 || !slices.Equal(st.ISR, []int32{1}) {
		t.Fatalf("n-0, replicas [3 1] created while broker 3 is in controlled shutdown: leader %d, ISR %v; want leader 1, ISR [1]", st.Leader, st.ISR)
	}
	// Nor is it elected preferred leader.
	res, err := n1.be.ElectLeaders(ctx, metadata.ElectPreferred, map[string][]int32{"n": {0}})
	if err != nil {
		t.Fatal(err)
	}
	if err := res["n"][0]; !errors.Is(err, kerr.PreferredLeaderNotAvailable) {
		t.Fatalf("preferred election of n-0 with its preferred broker in controlled shutdown: %v, want PREFERRED_LEADER_NOT_AVAILABLE", err)
	}

	// Broker 2 dies: f's leadership goes to 1, past 3, which is first
	// in replica order; g's can only go to 3, and does.
	n2.be.Close()
	await(t, "f-0 and g-0 led again", func() bool {
		f, _ := stateOf(n1, "f", 0)
		g, _ := stateOf(n1, "g", 0)
		return f.Leader >= 0 && f.Leader != 2 && g.Leader >= 0 && g.Leader != 2
	})
	if f, _ := stateOf(n1, "f", 0); f.Leader != 1 {
		t.Fatalf("f-0 (replicas [2 3 1]) after leader 2 died, with 3 in controlled shutdown: led by %d, want 1", f.Leader)
	}
	if g, _ := stateOf(n1, "g", 0); g.Leader != 3 {
		t.Fatalf("g-0 (replicas [2 3]) after leader 2 died: led by %d, want 3, in controlled shutdown but its only live replica", g.Leader)
	}

	// Broker 3's own Shutdown announces it under its own session.
	if err := c.Delete(marker, -1); err != nil {
		t.Fatal(err)
	}
	if err := n3.be.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	ok, stat, err := c.Exists(marker)
	if err != nil || !ok {
		t.Fatalf("%s after broker 3's Shutdown: exists %v, err %v", marker, ok, err)
	}
	if stat.EphemeralOwner == 0 || stat.EphemeralOwner == c.SessionID() {
		t.Fatalf("%s is owned by session 0x%x, want broker 3's", marker, stat.EphemeralOwner)
	}
	n3.be.Close()
	await(t, marker+" gone with broker 3's session", func() bool {
		ok, _, err := c.Exists(marker)
		return err == nil && !ok
	})
}
