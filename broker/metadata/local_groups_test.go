package metadata

import (
	"context"
	"maps"
	"testing"
)

type groupCfgApplier struct {
	nopApplier
	groups map[string]map[string]string
}

func (a *groupCfgApplier) ApplyGroupConfigs(g map[string]map[string]string) { a.groups = g }

func TestLocalGroupConfigsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	l := NewLocal(dir, BrokerInfo{ID: 1})
	a := &groupCfgApplier{}
	if err := l.Start(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"share.auto.offset.reset": "earliest"}
	if err := l.AlterGroupConfigs(context.Background(), "g", want); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(a.groups["g"], want) {
		t.Fatalf("delivered %v, want %v", a.groups, want)
	}
	l.Close()
	again := &groupCfgApplier{}
	l2 := NewLocal(dir, BrokerInfo{ID: 1})
	if err := l2.Start(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if !maps.Equal(again.groups["g"], want) {
		t.Fatalf("after a restart delivered %v, want %v", again.groups, want)
	}
}

type clientMetricsApplier struct {
	nopApplier
	subs map[string]map[string]string
}

func (a *clientMetricsApplier) ApplyClientMetrics(s map[string]map[string]string) { a.subs = s }

func TestLocalClientMetricsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	l := NewLocal(dir, BrokerInfo{ID: 1})
	a := &clientMetricsApplier{}
	if err := l.Start(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"metrics": "org.apache.kafka.producer.", "interval.ms": "1000"}
	for _, name := range []string{"a", "b"} {
		if err := l.AlterClientMetrics(context.Background(), name, want); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.AlterClientMetrics(context.Background(), "b", nil); err != nil {
		t.Fatal(err)
	}
	if len(a.subs) != 1 || !maps.Equal(a.subs["a"], want) {
		t.Fatalf("delivered %v, want only a: %v", a.subs, want)
	}
	l.Close()
	again := &clientMetricsApplier{}
	l2 := NewLocal(dir, BrokerInfo{ID: 1})
	if err := l2.Start(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if len(again.subs) != 1 || !maps.Equal(again.subs["a"], want) {
		t.Fatalf("after a restart delivered %v, want only a: %v", again.subs, want)
	}
}

type featureApplier struct {
	nopApplier
	levels map[string]int16
	epoch  int64
}

func (a *featureApplier) ApplyFeatures(levels map[string]int16, epoch int64) {
	a.levels, a.epoch = levels, epoch
}

func TestLocalFeaturesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	l := NewLocal(dir, BrokerInfo{ID: 1})
	a := &featureApplier{}
	if err := l.Start(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if a.levels != nil {
		t.Fatalf("a new broker delivered finalized levels %v, want none (the defaults)", a.levels)
	}
	if err := l.UpdateFeatures(context.Background(), map[string]int16{"group.version": 0, "transaction.version": 1}); err != nil {
		t.Fatal(err)
	}
	want := map[string]int16{"transaction.version": 1}
	if !maps.Equal(a.levels, want) || a.epoch != 2 {
		t.Fatalf("delivered %v at epoch %d, want %v at 2", a.levels, a.epoch, want)
	}
	l.Close()
	again := &featureApplier{}
	l2 := NewLocal(dir, BrokerInfo{ID: 1})
	if err := l2.Start(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if !maps.Equal(again.levels, want) || again.epoch != 2 {
		t.Fatalf("after a restart delivered %v at epoch %d, want %v at 2", again.levels, again.epoch, want)
	}
	if err := l2.UpdateFeatures(context.Background(), map[string]int16{}); err != nil {
		t.Fatal(err)
	}
	if again.levels == nil || len(again.levels) != 0 || again.epoch != 3 {
		t.Fatalf("every feature at 0 delivered %v at epoch %d, want an empty set at 3", again.levels, again.epoch)
	}
}
