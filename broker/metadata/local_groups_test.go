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
