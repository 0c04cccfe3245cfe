package zkmeta_test

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"gregor/broker/metadata"
	"gregor/internal/wait"
	"gregor/internal/zktest"
)

// offlineApplier is a fakeApplier that also takes offline replicas.
type offlineApplier struct {
	*fakeApplier
	omu     sync.Mutex
	offline map[int32]map[string][]int32
}

func (a *offlineApplier) ApplyOfflineReplicas(m map[int32]map[string][]int32) {
	a.omu.Lock()
	defer a.omu.Unlock()
	a.offline = m
}

func (a *offlineApplier) is(want map[int32]map[string][]int32) bool {
	a.omu.Lock()
	defer a.omu.Unlock()
	return a.offline != nil && maps.EqualFunc(a.offline, want, func(x, y map[string][]int32) bool {
		return maps.EqualFunc(x, y, slices.Equal)
	})
}

// A broker's published offline replicas reach every broker, those started
// later too; publishing none clears them everywhere.
func TestOfflineReplicasReachEveryBroker(t *testing.T) {
	z := zktest.Start(t)
	connect := z.Addr + "/kafka/offline"
	a1 := &offlineApplier{fakeApplier: newFakeApplier()}
	be1 := startBackend(t, connect, 1, a1)
	a2 := &offlineApplier{fakeApplier: newFakeApplier()}
	startBackend(t, connect, 2, a2)
	pub := be1.(metadata.OfflineReplicaPublisher)
	ctx := context.Background()
	set := map[string][]int32{"orders": {0, 3}, "audit": {1}}
	if err := pub.PublishOfflineReplicas(ctx, set); err != nil {
		t.Fatal(err)
	}
	want := map[int32]map[string][]int32{1: set}
	wait.For(t, "both brokers to learn broker 1's offline replicas", 10*time.Second, func() bool {
		return a1.is(want) && a2.is(want)
	})
	a3 := &offlineApplier{fakeApplier: newFakeApplier()}
	startBackend(t, connect, 3, a3)
	wait.For(t, "a broker started later to learn them", 10*time.Second, func() bool { return a3.is(want) })

	// A change of the set replaces it.
	set = map[string][]int32{"orders": {3}}
	if err := pub.PublishOfflineReplicas(ctx, set); err != nil {
		t.Fatal(err)
	}
	want = map[int32]map[string][]int32{1: set}
	wait.For(t, "every broker to learn the new set", 10*time.Second, func() bool {
		return a1.is(want) && a2.is(want) && a3.is(want)
	})
	if err := pub.PublishOfflineReplicas(ctx, nil); err != nil {
		t.Fatal(err)
	}
	empty := map[int32]map[string][]int32{}
	wait.For(t, "every broker to learn that broker 1 has none", 10*time.Second, func() bool {
		return a1.is(empty) && a2.is(empty) && a3.is(empty)
	})
	// Publishing none again is harmless.
	if err := pub.PublishOfflineReplicas(ctx, nil); err != nil {
		t.Fatal(err)
	}
}
