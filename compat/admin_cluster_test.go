package compat

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

// Dynamic broker configs (per broker and the cluster-wide default) are
// cluster metadata: they survive a restart of the broker (killed, so
// nothing is written on the way down) and still set the topic configs they
// default.
func TestAdminBrokerConfigsSurviveRestart(t *testing.T) {
	if !usingGregor() {
		t.Skip("starts and restarts its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{Dir: t.TempDir()})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	env := func() *adminEnv {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return &adminEnv{t: t, ctx: ctx, cl: cl, adm: kadm.NewClient(cl)}
	}
	e := env()
	id := strconv.Itoa(int(e.brokerID()))
	topic := e.topic("dyncfg", 1, nil)

	const perKey, defKey = "log.cleaner.delete.retention.ms", "log.retention.ms"
	wantCode(t, "set per broker", e.incrementalAlter(kmsg.ConfigResourceTypeBroker, id, false, op(perKey, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("4242"))), nil)
	wantCode(t, "set cluster default", e.legacyAlter(kmsg.ConfigResourceTypeBroker, "", false, perKey, "4343", defKey, "7777000"), nil)

	check := func(when string) {
		t.Helper()
		cs, code := e.describeConfigs(kmsg.ConfigResourceTypeBroker, id)
		wantCode(t, "describe broker "+when, code, nil)
		wantConfig(t, cs, perKey, "4242", kmsg.ConfigSourceDynamicBrokerConfig)
		wantConfig(t, cs, defKey, "7777000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
		if syn := cs[perKey].ConfigSynonyms; len(syn) < 2 || syn[1].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig || deref(syn[1].Value) != "4343" {
			t.Fatalf("%s: %s synonyms %+v: want per broker, then the cluster default 4343", when, perKey, syn)
		}
		def, code := e.describeConfigs(kmsg.ConfigResourceTypeBroker, "")
		wantCode(t, "describe cluster default "+when, code, nil)
		if len(def) != 2 {
			t.Fatalf("%s: cluster default lists %d configs, want 2: %v", when, len(def), def)
		}
		wantConfig(t, def, perKey, "4343", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
		wantConfig(t, def, defKey, "7777000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
		tcs, code := e.describeConfigs(kmsg.ConfigResourceTypeTopic, topic)
		wantCode(t, "describe topic "+when, code, nil)
		wantConfig(t, tcs, "retention.ms", "7777000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	}
	check("before the restart")

	b.Restart()
	e = env()
	check("after the restart")

	// Removing them is kept too.
	wantCode(t, "clear cluster default", e.legacyAlter(kmsg.ConfigResourceTypeBroker, "", false), nil)
	wantCode(t, "clear per broker", e.incrementalAlter(kmsg.ConfigResourceTypeBroker, id, false, op(perKey, kmsg.IncrementalAlterConfigOpDelete, nil)), nil)
	b.Restart()
	e = env()
	if def, code := e.describeConfigs(kmsg.ConfigResourceTypeBroker, ""); code != 0 || len(def) != 0 {
		t.Fatalf("cluster default after clearing and a restart: %v (error %d)", def, code)
	}
	cs, _ := e.describeConfigs(kmsg.ConfigResourceTypeBroker, id)
	wantConfig(t, cs, perKey, "86400000", kmsg.ConfigSourceDefaultConfig)
}
