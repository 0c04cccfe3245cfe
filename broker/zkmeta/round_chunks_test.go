package zkmeta

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"gregor/broker/metadata"
	"gregor/internal/wait"
	"gregor/internal/zktest"
)

// epochApplier records, for each delivery of topic t, how many of its
// partitions are at leader epoch 7.
type epochApplier struct {
	nopApplier
	mu  sync.Mutex
	at7 []int
}

func (a *epochApplier) ApplyTopic(ts metadata.TopicState) {
	if ts.Name != "t" {
		return
	}
	n := 0
	for _, p := range ts.Partitions {
		if p.LeaderEpoch == 7 {
			n++
		}
	}
	a.mu.Lock()
	a.at7 = append(a.at7, n)
	a.mu.Unlock()
}

// A round reads at most maxRoundKeys keys and delivers what it read
// before the next reads more: a controlled shutdown writes thousands of
// partition states at once, and a round reading them all held every
// leadership change back until the last was read. A sync waits for all
// of its keys, however many rounds they take.
func TestRoundsDeliverWhatTheyReadInChunks(t *testing.T) {
	const n = 3*maxRoundKeys + 50
	z := zktest.Start(t)
	const root = "/chunks"
	raw := rawZK(t, z.Addr)
	acl := zk.WorldACL(zk.PermAll)
	if _, err := raw.Create(root, nil, 0, acl); err != nil {
		t.Fatal(err)
	}
	app := &epochApplier{}
	b := startWith(t, z.Addr+root, 1, app)
	assign := make([][]int32, n)
	for p := range assign {
		assign[p] = []int32{1}
	}
	ctx := context.Background()
	if _, err := b.CreateTopic(ctx, metadata.TopicSpec{Name: "t", Assignment: assign}); err != nil {
		t.Fatal(err)
	}
	versions := func() []int32 {
		b.mu.Lock()
		defer b.mu.Unlock()
		tc := b.topics["t"]
		if tc == nil || len(tc.states) != n {
			return nil
		}
		vs := make([]int32, n)
		for p, st := range tc.states {
			if st == nil || st.own {
				return nil
			}
			vs[p] = st.version
		}
		return vs
	}
	var vs []int32
	wait.For(t, "broker 1 to have read back every state of t", 30*time.Second, func() bool {
		vs = versions()
		return vs != nil
	})

	// Another writer moves every partition to leader epoch 7 at once.
	var ops []any
	for p := range int32(n) {
		ops = append(ops, &zk.SetDataRequest{Path: root + statePath("t", p), Data: encodeState(1, 1, 7, []int32{1}), Version: vs[p]})
	}
	if _, err := raw.Multi(ops...); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, n)
	for p := range keys {
		keys[p] = stateKey("t", int32(p))
	}
	if err := b.sync(ctx, keys); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	for p, st := range b.topics["t"].states {
		if st.leaderEpoch != 7 {
			b.mu.Unlock()
			t.Fatalf("sync returned with partition %d at leader epoch %d: it waits until every key it names is read", p, st.leaderEpoch)
		}
	}
	b.mu.Unlock()
	wait.For(t, "every partition of t delivered at leader epoch 7", 30*time.Second, func() bool {
		app.mu.Lock()
		defer app.mu.Unlock()
		return len(app.at7) > 0 && app.at7[len(app.at7)-1] == n
	})
	app.mu.Lock()
	defer app.mu.Unlock()
	prev := 0
	for _, k := range app.at7 {
		if k-prev > maxRoundKeys {
			t.Fatalf("a delivery brought %d partitions to epoch 7 at once (deliveries: %v); want at most %d, a round's reads", k-prev, app.at7, maxRoundKeys)
		}
		prev = max(prev, k)
	}
	t.Logf("deliveries: %v", app.at7[slices.IndexFunc(app.at7, func(k int) bool { return k > 0 }):])
}
