package zkmeta_test

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/broker/zkmeta"
	"gregor/internal/wait"
	"gregor/internal/zktest"
)

// groupApplier is a fakeApplier that also takes group configs and
// client metrics subscriptions.
type groupApplier struct {
	*fakeApplier
	gmu     sync.Mutex
	groups  map[string]map[string]string
	metrics map[string]map[string]string
	// levels, featuresEpoch: the finalized features last delivered.
	levels        map[string]int16
	featuresEpoch int64
	featuresSeen  bool
}

func (a *groupApplier) ApplyFeatures(levels map[string]int16, epoch int64) {
	a.gmu.Lock()
	defer a.gmu.Unlock()
	a.levels, a.featuresEpoch, a.featuresSeen = levels, epoch, true
}

// finalized returns the feature levels last delivered, their epoch, and
// whether any delivery came.
func (a *groupApplier) finalized() (map[string]int16, int64, bool) {
	a.gmu.Lock()
	defer a.gmu.Unlock()
	return maps.Clone(a.levels), a.featuresEpoch, a.featuresSeen
}

func (a *groupApplier) ApplyClientMetrics(subs map[string]map[string]string) {
	a.gmu.Lock()
	defer a.gmu.Unlock()
	a.metrics = subs
}

func (a *groupApplier) subscription(name string) map[string]string {
	a.gmu.Lock()
	defer a.gmu.Unlock()
	return maps.Clone(a.metrics[name])
}

func (a *groupApplier) ApplyGroupConfigs(groups map[string]map[string]string) {
	a.gmu.Lock()
	defer a.gmu.Unlock()
	a.groups = groups
}

func (a *groupApplier) group(g string) map[string]string {
	a.gmu.Lock()
	defer a.gmu.Unlock()
	return maps.Clone(a.groups[g])
}

// startBackend starts broker id's ZooKeeper backend delivering to a and
// closes it when the test ends.
func startBackend(t *testing.T, connect string, id int32, a metadata.Applier) metadata.Backend {
	t.Helper()
	be, err := zkmeta.New(zkmeta.Options{
		Connect:        connect,
		SessionTimeout: 4 * time.Second,
		Self:           metadata.BrokerInfo{ID: id, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9090 + id}}},
		Config:         &config.Config{DeleteTopicEnable: true, NumPartitions: 1, DefaultReplicationFactor: 1},
		Log:            logger(t).With().Int32("broker", id).Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := be.Start(context.Background(), a); err != nil {
		t.Fatalf("starting backend of broker %d: %v", id, err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

func newFakeApplier() *fakeApplier {
	return &fakeApplier{topics: map[string]metadata.TopicState{}, controller: -1}
}

func startGroupCfg(t *testing.T, connect string, id int32) (metadata.Backend, *groupApplier) {
	t.Helper()
	a := &groupApplier{fakeApplier: newFakeApplier()}
	return startBackend(t, connect, id, a), a
}

func TestGroupConfigsReachEveryBroker(t *testing.T) {
	z := zktest.Start(t)
	connect := z.Addr + "/kafka/groups"
	be1, _ := startGroupCfg(t, connect, 1)
	_, a2 := startGroupCfg(t, connect, 2)
	ctx := context.Background()
	want := map[string]string{"share.auto.offset.reset": "earliest"}
	group := "a group/with:odd chars"
	if err := be1.AlterGroupConfigs(ctx, group, want); err != nil {
		t.Fatal(err)
	}
	wait.For(t, fmt.Sprintf("broker 2 to get %v for %q", want, group), 10*time.Second, func() bool {
		return maps.Equal(a2.group(group), want)
	})
	// A broker started later reads them too.
	_, a3 := startGroupCfg(t, connect, 3)
	wait.For(t, "broker 3 to read the group configs at start", 10*time.Second, func() bool {
		return maps.Equal(a3.group(group), want)
	})
	if err := be1.AlterGroupConfigs(ctx, group, nil); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "broker 2 to see the group configs deleted", 10*time.Second, func() bool {
		return a2.group(group) == nil
	})
	// Deleted configs leave no watch for their creation (watchCreation),
	// and configs set again are seen.
	for i := range 5 {
		g := fmt.Sprintf("gone-%d", i)
		if err := be1.AlterGroupConfigs(ctx, g, want); err != nil {
			t.Fatal(err)
		}
		wait.For(t, "broker 2 to get "+g+"'s configs", 10*time.Second, func() bool { return maps.Equal(a2.group(g), want) })
		if err := be1.AlterGroupConfigs(ctx, g, nil); err != nil {
			t.Fatal(err)
		}
		wait.For(t, "broker 2 to see "+g+"'s configs deleted", 10*time.Second, func() bool { return a2.group(g) == nil })
	}
	awaitNoWatches(t, z.Addr, "/gone-")
	if err := be1.AlterGroupConfigs(ctx, "gone-0", want); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "broker 2 to get gone-0's configs set again", 10*time.Second, func() bool { return maps.Equal(a2.group("gone-0"), want) })
}

func TestClientMetricsReachEveryBroker(t *testing.T) {
	z := zktest.Start(t)
	connect := z.Addr + "/kafka/client-metrics"
	be1, _ := startGroupCfg(t, connect, 1)
	_, a2 := startGroupCfg(t, connect, 2)
	ctx := context.Background()
	want := map[string]string{"metrics": "org.apache.kafka.producer.", "interval.ms": "1000", "match": "client_id=app-.*"}
	name := "sub/one"
	if err := be1.AlterClientMetrics(ctx, name, want); err != nil {
		t.Fatal(err)
	}
	wait.For(t, fmt.Sprintf("broker 2 to get %v for %q", want, name), 10*time.Second, func() bool {
		return maps.Equal(a2.subscription(name), want)
	})
	_, a3 := startGroupCfg(t, connect, 3)
	wait.For(t, "broker 3 to read the subscription at start", 10*time.Second, func() bool {
		return maps.Equal(a3.subscription(name), want)
	})
	if a3.group(name) != nil {
		t.Fatalf("a client metrics subscription was delivered as group configs: %v", a3.group(name))
	}
	if err := be1.AlterClientMetrics(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "broker 2 to see the subscription deleted", 10*time.Second, func() bool {
		return a2.subscription(name) == nil
	})
}

func TestFeaturesReachEveryBroker(t *testing.T) {
	z := zktest.Start(t)
	connect := z.Addr + "/kafka/features"
	be1, a1 := startGroupCfg(t, connect, 1)
	wait.For(t, "broker 1 to deliver the (unset) features at start", 10*time.Second, func() bool {
		levels, _, seen := a1.finalized()
		return seen && levels == nil
	})
	_, a2 := startGroupCfg(t, connect, 2)
	ctx := context.Background()
	if err := be1.UpdateFeatures(ctx, map[string]int16{"group.version": 1, "share.version": 0}); err != nil {
		t.Fatal(err)
	}
	want := map[string]int16{"group.version": 1}
	var first int64
	wait.For(t, fmt.Sprintf("broker 2 to get %v", want), 10*time.Second, func() bool {
		levels, epoch, _ := a2.finalized()
		first = epoch
		return maps.Equal(levels, want) && epoch >= 2
	})
	if err := be1.UpdateFeatures(ctx, map[string]int16{}); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "broker 2 to see every feature at 0 with a higher epoch", 10*time.Second, func() bool {
		levels, epoch, _ := a2.finalized()
		return levels != nil && len(levels) == 0 && epoch > first
	})
	_, a3 := startGroupCfg(t, connect, 3)
	wait.For(t, "broker 3 to read the levels at start", 10*time.Second, func() bool {
		levels, epoch, _ := a3.finalized()
		return levels != nil && len(levels) == 0 && epoch > first
	})
}
