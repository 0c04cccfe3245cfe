package compat

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

// wantSynonyms checks a described config's synonyms, in order.
func wantSynonyms(t *testing.T, cs map[string]kmsg.DescribeConfigsResponseResourceConfig, name string, want ...kmsg.DescribeConfigsResponseResourceConfigConfigSynonym) {
	t.Helper()
	got := cs[name].ConfigSynonyms
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = got[i].Name == want[i].Name && deref(got[i].Value) == deref(want[i].Value) && got[i].Source == want[i].Source
	}
	if !ok {
		show := func(ss []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym) []string {
			var out []string
			for _, s := range ss {
				out = append(out, s.Name+"="+deref(s.Value)+" ("+s.Source.String()+")")
			}
			return out
		}
		t.Fatalf("%s synonyms %v, want %v", name, show(got), show(want))
	}
}

func synonym(name, value string, src kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	return kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{Name: name, Value: kmsg.StringPtr(value), Source: src}
}

// A topic config's broker default set through a sibling key is described as
// Kafka's ConfigHelper does: synonyms are every key setting the broker key,
// layer by layer, from the broker key itself on. With only
// log.retention.hours set, retention.ms shows the effective value, source
// DEFAULT_CONFIG and no synonyms (log.retention.ms has no default); with
// log.roll.ms and log.roll.hours both set, segment.ms lists both as
// STATIC_BROKER_CONFIG and then log.roll.hours' default.
func TestAdminTopicConfigBrokerSynonyms(t *testing.T) {
	if !usingGregor() {
		t.Skip("starts its own broker with static configs")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{
		"log.retention.hours": "1",
		"log.roll.ms":         "7200000",
		"log.roll.hours":      "5",
		"log.segment.bytes":   "2000000",
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	e := &adminEnv{t: t, ctx: ctx, cl: cl, adm: kadm.NewClient(cl)}
	plain := e.topic("synplain", 1, nil)
	over := e.topic("synover", 1, map[string]*string{"retention.ms": kmsg.StringPtr("999")})

	cs, code := e.describeConfigs(kmsg.ConfigResourceTypeTopic, plain)
	wantCode(t, "describe", code, nil)
	wantConfig(t, cs, "retention.ms", "3600000", kmsg.ConfigSourceDefaultConfig)
	wantSynonyms(t, cs, "retention.ms")
	wantConfig(t, cs, "segment.ms", "7200000", kmsg.ConfigSourceStaticBrokerConfig)
	wantSynonyms(t, cs, "segment.ms",
		synonym("log.roll.ms", "7200000", kmsg.ConfigSourceStaticBrokerConfig),
		synonym("log.roll.hours", "5", kmsg.ConfigSourceStaticBrokerConfig),
		synonym("log.roll.hours", "168", kmsg.ConfigSourceDefaultConfig))
	wantConfig(t, cs, "segment.bytes", "2000000", kmsg.ConfigSourceStaticBrokerConfig)
	wantSynonyms(t, cs, "segment.bytes",
		synonym("log.segment.bytes", "2000000", kmsg.ConfigSourceStaticBrokerConfig),
		synonym("log.segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig))
	wantConfig(t, cs, "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)
	wantSynonyms(t, cs, "cleanup.policy", synonym("log.cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig))

	cs, code = e.describeConfigs(kmsg.ConfigResourceTypeTopic, over)
	wantCode(t, "describe", code, nil)
	wantConfig(t, cs, "retention.ms", "999", kmsg.ConfigSourceDynamicTopicConfig)
	wantSynonyms(t, cs, "retention.ms", synonym("retention.ms", "999", kmsg.ConfigSourceDynamicTopicConfig))
}

// DeleteRecords past the first offset of an open transaction: the last
// stable offset is never below the log start offset (Kafka's
// maybeIncrementFirstUnstableOffset), so a read_committed ListOffsets for
// the latest offset answers the log start, not an offset already deleted.
func TestAdminDeleteRecordsLiftsLastStableOffset(t *testing.T) {
	addr := bootstrap(t)
	topic := randomName("deltxn")
	createTopic(t, addr, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := txnProducer(t, addr, topic, randomName("txid"))
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"t0", "t1", "t2"} {
		if err := p.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			t.Fatalf("producing %s in the transaction: %v", v, err)
		}
	}
	plain, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for _, v := range []string{"p3", "p4"} {
		if err := plain.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			t.Fatalf("producing %s: %v", v, err)
		}
	}
	adm := kadm.NewClient(plain)
	lso := func() int64 {
		t.Helper()
		offs, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		o, ok := offs.Lookup(topic, 0)
		if !ok || o.Err != nil {
			t.Fatalf("read_committed end offset of %s: %v", topic, o.Err)
		}
		return o.Offset
	}
	if got := lso(); got != 0 {
		t.Fatalf("last stable offset %d with a transaction open from 0, want 0", got)
	}

	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 2})
	dr, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := dr.Lookup(topic, 0)
	if !ok || r.Err != nil || r.LowWatermark != 2 {
		t.Fatalf("DeleteRecords below 2: %+v (found %v)", r, ok)
	}
	if got := lso(); got != 2 {
		t.Fatalf("last stable offset %d after deleting below 2 inside the open transaction, want the log start 2", got)
	}

	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// The marker is at 5; once it is replicated the last stable offset is
	// the high watermark, 6.
	deadline := time.Now().Add(15 * time.Second)
	for got := lso(); got != 6; got = lso() {
		if time.Now().After(deadline) {
			t.Fatalf("last stable offset %d after the commit, want 6", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := readAll(t, addr, topic, true, 3); !sameSet(got, []string{"t2", "p3", "p4"}) {
		t.Fatalf("read_committed after the commit: %v, want t2 p3 p4", got)
	}
}
