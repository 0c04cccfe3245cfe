package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// withKeys runs a test on the table with extra rows (a password, a
// per-broker key: kinds the table does not have yet).
func withKeys(t *testing.T, extra ...Key) {
	t.Helper()
	old := keys
	keys = newSchema(append(slices.Clone(table), extra...))
	t.Cleanup(func() { keys = old })
}

var testRows = []Key{
	{Name: "test.password", Type: Password, NoDefault: true, Scope: PerBroker, Doc: "A secret."},
	{Name: "test.class", Type: Class, Default: "org.example.Plugin", Doc: "A plugin."},
}

// Every type parses, validates and lands in its field typed; a bad value
// names its key and says why, in Kafka's words.
func TestLoadEveryType(t *testing.T) {
	withKeys(t, testRows...)
	for _, tc := range []struct {
		key, value string
		got        func(*Config) any
		want       any    // when valid
		err        string // when not
	}{
		{"delete.topic.enable", " FALSE ", func(c *Config) any { return c.DeleteTopicEnable }, false, ""},
		{"delete.topic.enable", "yes", nil, nil, "Expected value to be either true or false"},
		{"num.partitions", "12", func(c *Config) any { return c.NumPartitions }, int32(12), ""},
		{"num.partitions", "2147483648", nil, nil, "Not a number of type INT"},
		{"num.partitions", "0", nil, nil, "Value must be at least 1"},
		{"num.partitions", "70000", nil, nil, "Value must be no more than 65536"},
		{"default.replication.factor", "40000", nil, nil, "Value must be no more than 32767"},
		{"offsets.topic.replication.factor", "2", func(c *Config) any { return c.OffsetsTopicReplicationFactor }, int16(2), ""},
		{"offsets.topic.replication.factor", "40000", nil, nil, "Not a number of type SHORT"},
		{"log.flush.interval.messages", "10", func(c *Config) any { return c.TopicDefaults.FlushMessages }, int64(10), ""},
		{"log.flush.interval.messages", "9223372036854775808", nil, nil, "Not a number of type LONG"},
		{"log.retention.bytes", "1000", func(c *Config) any { return c.TopicDefaults.RetentionBytes }, ByteSize(1000), ""},
		{"log.retention.bytes", "-2", func(c *Config) any { return c.TopicDefaults.RetentionBytes }, ByteSize(-2), ""},
		{"log.segment.bytes", "1048575", nil, nil, "Value must be at least 1048576"},
		{"log.segment.bytes", "1048576", func(c *Config) any { return c.TopicDefaults.SegmentBytes }, ByteSize(1 << 20), ""},
		{"message.max.bytes", "2147483000", nil, nil, "Value must be no more than 2147482623"},
		{"log.cleaner.min.cleanable.ratio", "0.25", func(c *Config) any { return c.TopicDefaults.MinCleanableRatio }, 0.25, ""},
		{"log.cleaner.min.cleanable.ratio", "half", nil, nil, "Not a number of type DOUBLE"},
		{"log.cleaner.min.cleanable.ratio", "1.5", nil, nil, "Value must be no more than 1"},
		{"log.cleanup.policy", "compact, delete", func(c *Config) any { return c.TopicDefaults.Cleanup }, CleanupPolicy("compact,delete"), ""},
		{"log.cleanup.policy", "compact", func(c *Config) any { return c.TopicDefaults.Cleanup }, CleanupPolicy("compact"), ""},
		{"log.cleanup.policy", "shred", nil, nil, "String must be one of: compact, delete"},
		{"log.cleanup.policy", "", func(c *Config) any { return c.TopicDefaults.Cleanup }, CleanupPolicy(""), ""},
		{"log.message.timestamp.type", "LogAppendTime", func(c *Config) any { return c.TopicDefaults.LogAppendTime() }, true, ""},
		{"log.message.timestamp.type", "Now", nil, nil, "String must be one of: CreateTime, LogAppendTime"},
		{"compression.gzip.level", "0", nil, nil, "Value must be between 1 and 9, or -1"},
		{"broker.rack", " r1 ", func(c *Config) any { return c.Rack }, "r1", ""},
		{"listeners", "127.0.0.1:9092", nil, nil, "is not NAME://host:port"},
		{"listeners", " ", nil, nil, "at least one listener is needed"},
		{"log.dirs", "/a, /b", func(c *Config) any { return strings.Join(c.LogDirs, "|") }, "/a|/b", ""},
		{"replica.lag.time.max.ms", "1500", func(c *Config) any { return c.ReplicaLagTimeMax }, 1500 * time.Millisecond, ""},
		{"leader.imbalance.check.interval.seconds", "2", func(c *Config) any { return c.LeaderImbalanceCheckInterval }, 2 * time.Second, ""},
		{"offsets.retention.minutes", "3", func(c *Config) any { return c.OffsetsRetention }, 3 * time.Minute, ""},
		{"leader.replication.throttled.rate", "1048576", func(c *Config) any { return c.LeaderReplicationThrottledRate }, ByteSize(1 << 20), ""},
		{"follower.replication.throttled.rate", "-1", nil, nil, "Value must be at least 0"},
		{"replication.quota.window.size.seconds", "2", func(c *Config) any { return c.ReplicationQuotaWindowSize }, 2 * time.Second, ""},
		{"log.roll.hours", "2", func(c *Config) any { return c.TopicDefaults.SegmentRoll }, 2 * time.Hour, ""},
		{"log.message.timestamp.after.max.ms", "9223372036854775807", func(c *Config) any { return c.TopicDefaults.TimestampAfter }, Forever, ""},
		{"test.password", "hunter2", func(c *Config) any { return c.Unknown }, []string(nil), ""},
		{"test.class", "org.example.Other", func(c *Config) any { return c.Unknown }, []string(nil), ""},
	} {
		name := tc.key + "=" + tc.value
		c, err := Load(map[string]string{tc.key: tc.value}, nil)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), "configuration "+tc.key) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one naming the key with %q", name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := tc.got(c); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %v, want %v", name, got, tc.want)
		}
	}
}

// Every bad key is reported at once, shadowed synonyms included.
func TestEveryBadKeyReported(t *testing.T) {
	bad := map[string]string{
		"num.partitions":      "x",
		"log.retention.ms":    "5",
		"log.retention.hours": "soon", // loses to log.retention.ms, still invalid
		"log.roll.hours":      "0",
		"delete.topic.enable": "maybe",
	}
	_, err := Load(bad, nil)
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d errors, want 4 (all but log.retention.ms):\n%v", len(lines), err)
	}
	for _, k := range []string{"num.partitions", "log.retention.hours", "log.roll.hours", "delete.topic.enable"} {
		if !strings.Contains(err.Error(), "configuration "+k+":") {
			t.Errorf("%s not reported: %v", k, err)
		}
	}
}

// Synonyms in Kafka's precedence order, each in its unit.
func TestSynonymPrecedence(t *testing.T) {
	for _, tc := range []struct {
		set  map[string]string
		get  func(Topic) time.Duration
		want time.Duration
	}{
		{nil, retention, 168 * time.Hour},
		{map[string]string{"log.retention.hours": "2"}, retention, 2 * time.Hour},
		{map[string]string{"log.retention.hours": "2", "log.retention.minutes": "3"}, retention, 3 * time.Minute},
		{map[string]string{"log.retention.minutes": "3", "log.retention.ms": "4"}, retention, 4 * time.Millisecond},
		{map[string]string{"log.retention.minutes": "-1"}, retention, -time.Millisecond},
		{nil, roll, 168 * time.Hour},
		{map[string]string{"log.roll.hours": "1", "log.roll.ms": "500"}, roll, 500 * time.Millisecond},
		{nil, jitter, 0},
		{map[string]string{"log.roll.jitter.hours": "1"}, jitter, time.Hour},
		{map[string]string{"log.roll.jitter.hours": "1", "log.roll.jitter.ms": "7"}, jitter, 7 * time.Millisecond},
		{nil, flush, Forever},
		{map[string]string{"log.flush.scheduler.interval.ms": "5000"}, flush, 5 * time.Second},
		{map[string]string{"log.flush.scheduler.interval.ms": "5000", "log.flush.interval.ms": "100"}, flush, 100 * time.Millisecond},
	} {
		c, err := Load(tc.set, nil)
		if err != nil {
			t.Fatalf("%v: %v", tc.set, err)
		}
		if got := tc.get(c.TopicDefaults); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.set, got, tc.want)
		}
	}
}

func retention(t Topic) time.Duration { return t.Retention }
func roll(t Topic) time.Duration      { return t.SegmentRoll }
func jitter(t Topic) time.Duration    { return t.SegmentJitter }
func flush(t Topic) time.Duration     { return t.FlushInterval }

// A topic's value comes from its override, else the dynamic broker config
// (this broker's, then the cluster default), else the static one, else the
// default; a dynamic key replaces every synonym set below it.
func TestTopicResolutionPrecedence(t *testing.T) {
	static := map[string]string{"log.retention.hours": "2"}
	for _, tc := range []struct {
		static    map[string]string
		dyn       Dynamic
		overrides map[string]string
		want      time.Duration
	}{
		{nil, Dynamic{}, nil, 168 * time.Hour},
		{static, Dynamic{}, nil, 2 * time.Hour},
		{static, Dynamic{Defaults: map[string]string{"log.retention.ms": "3000"}}, nil, 3 * time.Second},
		{static, Dynamic{Defaults: map[string]string{"log.retention.ms": "3000"}, PerBroker: map[string]string{"log.retention.ms": "4000"}}, nil, 4 * time.Second},
		{static, Dynamic{PerBroker: map[string]string{"log.retention.ms": "4000"}}, map[string]string{"retention.ms": "5000"}, 5 * time.Second},
		{map[string]string{"log.retention.ms": "1"}, Dynamic{}, map[string]string{"retention.ms": "-1"}, -time.Millisecond},
	} {
		c, err := Load(tc.static, nil)
		if err != nil {
			t.Fatal(err)
		}
		eff, errs := c.WithDynamic(tc.dyn)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if got := eff.ResolveTopic(tc.overrides).Retention; got != tc.want {
			t.Errorf("static %v dynamic %+v overrides %v: retention %v, want %v", tc.static, tc.dyn, tc.overrides, got, tc.want)
		}
	}
}

// Dynamic configs that may not be applied are left out, each with an
// error; the rest apply.
func TestWithDynamicDropsWhatCannotApply(t *testing.T) {
	c := Defaults()
	eff, errs := c.WithDynamic(Dynamic{
		Defaults:  map[string]string{"log.retention.ms": "2000", "broker.id": "9", "log.segment.bytes": "tiny", "no.such.key": "1"},
		PerBroker: map[string]string{"min.insync.replicas": "2"},
	})
	if len(errs) != 2 {
		t.Fatalf("errors %v, want broker.id and log.segment.bytes", errs)
	}
	if eff.TopicDefaults.Retention != 2*time.Second || eff.TopicDefaults.MinInsyncReplicas != 2 || eff.BrokerID != c.BrokerID {
		t.Fatalf("retention %v min.insync.replicas %d broker.id %d", eff.TopicDefaults.Retention, eff.TopicDefaults.MinInsyncReplicas, eff.BrokerID)
	}
	// A custom key is kept, as Kafka keeps it (without effect).
	if len(eff.Dynamic.Defaults) != 2 || eff.Dynamic.Defaults["log.retention.ms"] != "2000" || eff.Dynamic.Defaults["no.such.key"] != "1" {
		t.Fatalf("dynamic defaults kept: %v", eff.Dynamic.Defaults)
	}
	if c.TopicDefaults.Retention != 168*time.Hour {
		t.Fatal("WithDynamic changed the static configuration")
	}
}

// AlterConfigs' checks: read-only keys (synonyms of dynamic ones too, as in
// Kafka), bad values, per-broker keys at the cluster level; a key Kafka
// does not know is a custom config, which Kafka accepts.
func TestCheckDynamic(t *testing.T) {
	withKeys(t, testRows...)
	c := Defaults()
	for _, tc := range []struct {
		perBroker bool
		set       map[string]string
		err       string
	}{
		{true, map[string]string{"log.retention.ms": "1000", "compression.type": "zstd"}, ""},
		{false, map[string]string{"log.cleanup.policy": "compact,delete"}, ""},
		{true, map[string]string{"broker.id": "7", "num.partitions": "3"}, "Cannot update these configs dynamically: Set(broker.id, num.partitions)"},
		// Kafka's order over the whole change: read-only keys, then bad
		// values, then per-broker keys at the cluster level.
		{false, map[string]string{"test.password": "x", "log.retention.ms": "soon", "broker.id": "7"}, "Cannot update these configs dynamically: Set(broker.id)"},
		{false, map[string]string{"test.password": "x", "log.retention.ms": "soon"}, "Invalid value soon for configuration log.retention.ms: Not a number of type LONG"},
		{true, map[string]string{"log.retention.hours": "1"}, "Cannot update these configs dynamically: Set(log.retention.hours)"},
		{true, map[string]string{"no.such.key": "1"}, ""},
		{true, map[string]string{"log.retention.ms": "soon"}, "Invalid value soon for configuration log.retention.ms: Not a number of type LONG"},
		{false, map[string]string{"test.password": "x"}, "Cannot update these configs at default cluster level, broker id must be specified: Set(test.password)"},
		{true, map[string]string{"test.password": "x"}, ""},
		{true, nil, ""},
	} {
		err := c.CheckDynamic(tc.perBroker, tc.set)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || err.Error() != tc.err) {
			t.Errorf("per broker %v %v: %v, want %q", tc.perBroker, tc.set, err, tc.err)
		}
	}
}

// syn is a synonym as a test writes it: name=value/source.
func syn(s Synonym) string {
	v := "null"
	if s.Value != nil {
		v = *s.Value
	}
	return fmt.Sprintf("%s=%s/%d", s.Name, v, s.Source)
}

func entry(es []Entry, name string) (Entry, bool) {
	for _, e := range es {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

func checkEntry(t *testing.T, what string, es []Entry, name, value string, src Source, syns ...string) {
	t.Helper()
	e, ok := entry(es, name)
	if !ok {
		t.Errorf("%s: %s not described", what, name)
		return
	}
	got := []string{}
	for _, s := range e.Synonyms {
		got = append(got, syn(s))
	}
	if v := syn(Synonym{Value: e.Value}); v != "="+value+"/0" || e.Source != src || !slices.Equal(got, append([]string{}, syns...)) {
		t.Errorf("%s: %s = %s from %d, synonyms %v; want %s from %d, synonyms %v", what, name, v[1:len(v)-2], e.Source, got, value, src, syns)
	}
}

const (
	tp = SourceTopic
	db = SourceDynamicBroker
	dd = SourceDynamicDefault
	st = SourceStatic
	df = SourceDefault
)

// DescribeConfigs of a broker: sources and synonyms layer by layer, from
// the key itself on, as Kafka's ConfigHelper.
func TestDescribeBrokerSources(t *testing.T) {
	withKeys(t, testRows...)
	for _, tc := range []struct {
		static    map[string]string
		dyn       Dynamic
		perBroker bool
		name      string
		value     string
		src       Source
		syns      []string
	}{
		{nil, Dynamic{}, true, "log.retention.hours", "168", df, []string{"log.retention.hours=168/5"}},
		{nil, Dynamic{}, true, "log.retention.ms", "null", df, nil},
		{nil, Dynamic{}, true, "log.retention.minutes", "null", df, nil},
		{map[string]string{"log.retention.hours": "5"}, Dynamic{}, true, "log.retention.hours", "5", st,
			[]string{"log.retention.hours=5/4", "log.retention.hours=168/5"}},
		{map[string]string{"log.retention.hours": "5"}, Dynamic{Defaults: map[string]string{"log.retention.ms": "1000"}}, true, "log.retention.ms", "1000", dd,
			[]string{"log.retention.ms=1000/3", "log.retention.hours=5/4", "log.retention.hours=168/5"}},
		{map[string]string{"log.retention.hours": "5", "log.retention.minutes": "6"}, Dynamic{}, true, "log.retention.minutes", "6", st,
			[]string{"log.retention.minutes=6/4", "log.retention.hours=5/4", "log.retention.hours=168/5"}},
		{map[string]string{"log.cleaner.delete.retention.ms": "3"},
			Dynamic{PerBroker: map[string]string{"log.cleaner.delete.retention.ms": "1"}, Defaults: map[string]string{"log.cleaner.delete.retention.ms": "2"}},
			true, "log.cleaner.delete.retention.ms", "1", db,
			[]string{"log.cleaner.delete.retention.ms=1/2", "log.cleaner.delete.retention.ms=2/3", "log.cleaner.delete.retention.ms=3/4", "log.cleaner.delete.retention.ms=86400000/5"}},
		{map[string]string{"log.cleaner.delete.retention.ms": "3"},
			Dynamic{PerBroker: map[string]string{"log.cleaner.delete.retention.ms": "1"}, Defaults: map[string]string{"log.cleaner.delete.retention.ms": "2"}},
			false, "log.cleaner.delete.retention.ms", "2", dd, []string{"log.cleaner.delete.retention.ms=2/3"}},
		{map[string]string{"test.password": "hunter2"}, Dynamic{PerBroker: map[string]string{"test.password": "hunter3"}}, true, "test.password", "null", db,
			[]string{"test.password=null/2", "test.password=null/4"}},
		{nil, Dynamic{}, true, "test.class", "org.example.Plugin", df, []string{"test.class=org.example.Plugin/5"}},
	} {
		c, err := Load(tc.static, nil)
		if err != nil {
			t.Fatal(err)
		}
		eff, errs := c.WithDynamic(tc.dyn)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		checkEntry(t, fmt.Sprintf("static %v dynamic %+v per broker %v", tc.static, tc.dyn, tc.perBroker), eff.BrokerEntries(tc.perBroker), tc.name, tc.value, tc.src, tc.syns...)
	}
}

// The cluster-wide default lists only what is set there; read-only flags
// are Kafka's, by name; passwords are sensitive.
func TestDescribeBrokerFlags(t *testing.T) {
	withKeys(t, testRows...)
	eff, _ := Defaults().WithDynamic(Dynamic{Defaults: map[string]string{"log.retention.ms": "1"}})
	if es := eff.BrokerEntries(false); len(es) != 1 || es[0].Name != "log.retention.ms" {
		t.Fatalf("cluster default entries %v", es)
	}
	es := eff.BrokerEntries(true)
	for name, readOnly := range map[string]bool{"broker.id": true, "listeners": false, "log.retention.hours": true, "log.retention.ms": false,
		"log.segment.bytes": false, "message.max.bytes": false, "test.password": false} {
		if e, _ := entry(es, name); e.ReadOnly != readOnly {
			t.Errorf("%s read-only %v, want %v", name, e.ReadOnly, readOnly)
		}
	}
	if e, _ := entry(es, "test.password"); !e.Sensitive || e.Type != Password {
		t.Errorf("password entry %+v", e)
	}
	if e, _ := entry(es, "log.retention.hours"); e.Type != Int || e.Doc == "" {
		t.Errorf("log.retention.hours type %v doc %q", e.Type, e.Doc)
	}
	if !slices.IsSortedFunc(es, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("broker entries not in name order")
	}
}

// DescribeConfigs of a topic: the effective value in the topic key's unit;
// the override, then the broker synonyms from the broker key itself on.
func TestDescribeTopicSources(t *testing.T) {
	for _, tc := range []struct {
		static    map[string]string
		dyn       Dynamic
		overrides map[string]string
		name      string
		value     string
		src       Source
		syns      []string
	}{
		{nil, Dynamic{}, nil, "retention.ms", "604800000", df, nil},
		{map[string]string{"log.retention.hours": "1"}, Dynamic{}, nil, "retention.ms", "3600000", df, nil},
		{map[string]string{"log.retention.ms": "5000"}, Dynamic{}, nil, "retention.ms", "5000", st,
			[]string{"log.retention.ms=5000/4", "log.retention.hours=168/5"}},
		{map[string]string{"log.retention.hours": "1"}, Dynamic{Defaults: map[string]string{"log.retention.ms": "7000"}}, nil, "retention.ms", "7000", dd,
			[]string{"log.retention.ms=7000/3", "log.retention.hours=1/4", "log.retention.hours=168/5"}},
		{nil, Dynamic{Defaults: map[string]string{"log.retention.ms": "7000"}}, map[string]string{"retention.ms": " 999"}, "retention.ms", "999", tp,
			[]string{"retention.ms=999/1", "log.retention.ms=7000/3", "log.retention.hours=168/5"}},
		{map[string]string{"log.roll.ms": "7200000", "log.roll.hours": "5"}, Dynamic{}, nil, "segment.ms", "7200000", st,
			[]string{"log.roll.ms=7200000/4", "log.roll.hours=5/4", "log.roll.hours=168/5"}},
		{nil, Dynamic{}, nil, "segment.bytes", "1073741824", df, []string{"log.segment.bytes=1073741824/5"}},
		{nil, Dynamic{}, nil, "flush.ms", "9223372036854775807", df, nil},
		{nil, Dynamic{}, nil, "max.message.bytes", "1048588", df, []string{"message.max.bytes=1048588/5"}},
		{nil, Dynamic{}, nil, "remote.storage.enable", "false", df, nil},
		{nil, Dynamic{}, nil, "local.retention.ms", "-2", df, []string{"log.local.retention.ms=-2/5"}},
		{nil, Dynamic{}, map[string]string{"cleanup.policy": "delete,compact"}, "cleanup.policy", "delete,compact", tp,
			[]string{"cleanup.policy=delete,compact/1", "log.cleanup.policy=delete/5"}},
		{nil, Dynamic{}, map[string]string{"min.cleanable.dirty.ratio": "1"}, "min.cleanable.dirty.ratio", "1.0", tp,
			[]string{"min.cleanable.dirty.ratio=1.0/1", "log.cleaner.min.cleanable.ratio=0.5/5"}},
		{nil, Dynamic{}, map[string]string{"retention.ms": "-1"}, "retention.ms", "-1", tp, []string{"retention.ms=-1/1"}},
	} {
		c, err := Load(tc.static, nil)
		if err != nil {
			t.Fatal(err)
		}
		eff, errs := c.WithDynamic(tc.dyn)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		checkEntry(t, fmt.Sprintf("static %v dynamic %+v overrides %v", tc.static, tc.dyn, tc.overrides), eff.TopicEntries(tc.overrides), tc.name, tc.value, tc.src, tc.syns...)
	}
}

// segment.bytes is at least 1 MiB, as from Kafka 4.1 (log.segment.bytes
// from 4.0, KIP-1030); internal.segment.bytes, LogConfig's internal key,
// stands for it when set, smaller too, and is described (in
// DescribeConfigs and in CreateTopics' answer) only where it is set.
func TestSegmentBytesFloorAndInternalSegmentBytes(t *testing.T) {
	err := ValidateTopicConfigs(map[string]string{"segment.bytes": "1048575"})
	if err == nil || err.Error() != "Invalid value 1048575 for configuration segment.bytes: Value must be at least 1048576" {
		t.Errorf("segment.bytes=1048575: %v", err)
	}
	if err := ValidateTopicConfigs(map[string]string{"internal.segment.bytes": "1024"}); err != nil {
		t.Fatal(err)
	}
	c := Defaults()
	tc := c.ResolveTopic(map[string]string{"internal.segment.bytes": "1024"})
	if tc.SegmentSize() != 1024 || tc.SegmentBytes != 1<<30 {
		t.Errorf("segment size %d, segment.bytes %d", tc.SegmentSize(), tc.SegmentBytes)
	}
	if d := c.TopicDefaults; d.SegmentSize() != 1<<30 {
		t.Errorf("default segment size %d", d.SegmentSize())
	}
	for _, es := range [][]Entry{c.TopicEntries(nil), c.CreatedTopicEntries(nil)} {
		if _, ok := entry(es, "internal.segment.bytes"); ok {
			t.Errorf("internal.segment.bytes described on a topic without it")
		}
	}
	for _, es := range [][]Entry{c.TopicEntries(map[string]string{"internal.segment.bytes": "1024"}), c.CreatedTopicEntries(map[string]string{"internal.segment.bytes": "1024"})} {
		if e, ok := entry(es, "internal.segment.bytes"); !ok || *e.Value != "1024" || e.Source != SourceTopic || e.Type != Int {
			t.Errorf("internal.segment.bytes described as %+v", e)
		}
		if e, _ := entry(es, "segment.bytes"); *e.Value != "1073741824" {
			t.Errorf("segment.bytes described as %s", *e.Value)
		}
	}
}

// remote.storage.enable=true is refused in the words of a Kafka broker
// whose tiered storage is off (Gregor has none); false is accepted.
func TestRemoteStorageEnableRefused(t *testing.T) {
	err := ValidateTopicConfigs(map[string]string{"remote.storage.enable": "true", "retention.ms": "1000"})
	if err == nil || err.Error() != "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage." {
		t.Errorf("remote.storage.enable=true: %v", err)
	}
	if err := ValidateTopicConfigs(map[string]string{"remote.storage.enable": "false"}); err != nil {
		t.Error(err)
	}
}

// A topic whose stored segment.bytes is below the floor Kafka 4.1 set
// (written by Kafka 3.x or an older Gregor) keeps it in force and
// described, rather than falling back to the default; new values are
// still held to the floor.
func TestStoredSegmentBytesBelowFloorKept(t *testing.T) {
	c := Defaults()
	stored := map[string]string{"segment.bytes": "4096"}
	if tc := c.ResolveTopic(stored); tc.SegmentSize() != 4096 {
		t.Errorf("segment size %d, want the stored 4096", tc.SegmentSize())
	}
	if e, _ := entry(c.TopicEntries(stored), "segment.bytes"); *e.Value != "4096" || e.Source != SourceTopic {
		t.Errorf("segment.bytes described as %s (%v)", *e.Value, e.Source)
	}
	if tc := c.ResolveTopic(map[string]string{"segment.bytes": "10"}); tc.SegmentSize() != 1<<30 {
		t.Errorf("a stored segment.bytes below any floor is in force: %d", tc.SegmentSize())
	}
	if err := ValidateTopicConfigs(stored); err == nil {
		t.Error("segment.bytes=4096 accepted as a new value")
	}
}

// CheckTopicConfigs reports the one problem Kafka's LogConfig.validate
// reports: an unknown key first, then the first invalid value in the
// order LogConfig defines its keys, then a min.compaction.lag.ms above
// max.compaction.lag.ms, then tiered storage.
func TestCheckTopicConfigsReportsKafkasFirstProblem(t *testing.T) {
	for name := range keys.topic {
		if !slices.Contains(kafkaTopicOrder, name) {
			t.Errorf("topic key %s is not in kafkaTopicOrder", name)
		}
	}
	c := Defaults()
	for _, tc := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"retention.ms": "x", "segment.bytes": "1000", "no.such": "1"}, "Unknown topic config name: no.such"},
		{map[string]string{"retention.ms": "x", "segment.bytes": "1000"}, "Invalid value 1000 for configuration segment.bytes: Value must be at least 1048576"},
		{map[string]string{"cleanup.policy": "shred", "max.message.bytes": "-1"}, "Invalid value -1 for configuration max.message.bytes: Value must be at least 0"},
		{map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5", "remote.storage.enable": "true"},
			"conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"},
		{map[string]string{"remote.storage.enable": "true"}, "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."},
	} {
		if err := c.CheckTopicConfigs(tc.set); err == nil || err.Error() != tc.want {
			t.Errorf("%v: %v, want %q", tc.set, err, tc.want)
		}
	}
}

func TestValidateTopicConfigs(t *testing.T) {
	if err := ValidateTopicConfigs(map[string]string{"retention.ms": "-1", "cleanup.policy": "compact", "segment.bytes": "1048576",
		"leader.replication.throttled.replicas": "0:1, 0:2,1:3", "follower.replication.throttled.replicas": "*"}); err != nil {
		t.Fatal(err)
	}
	err := ValidateTopicConfigs(map[string]string{
		"retention.ms": "-2", "no.such": "1", "segment.bytes": "2147483648", "remote.storage.enable": "true", "log.retention.ms": "1",
		"leader.replication.throttled.replicas": "0:1,two", "follower.replication.throttled.replicas": "*,0:1",
	})
	for _, want := range []string{
		"Invalid value -2 for configuration retention.ms: Value must be at least -1",
		"Unknown topic config name: no.such",
		"Unknown topic config name: log.retention.ms",
		"Invalid value 2147483648 for configuration segment.bytes: Not a number of type INT",
		"Invalid value 0:1,two for configuration leader.replication.throttled.replicas: must be the literal '*' or a list of replicas",
		"Invalid value *,0:1 for configuration follower.replication.throttled.replicas: must be the literal '*'",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// The table holds together: documented rows, synonyms that are read-only
// and fieldless, topic values that parse back as what they describe.
func TestSchemaTable(t *testing.T) {
	for _, k := range keys.keys {
		if k.Doc == "" {
			t.Errorf("%s%s: no documentation", k.Name, k.Topic)
		}
	}
	for name, g := range keys.group {
		if k := keys.broker[name]; name != g[0] && (k.Scope != ReadOnly || k.Topic != "") {
			t.Errorf("%s: a lower synonym of %s must be read-only and default no topic key (Kafka: only the first is dynamic)", name, g[0])
		}
	}
	for _, e := range Defaults().TopicEntries(nil) {
		k := keys.topic[e.Name]
		if _, err := k.parse(*e.Value); err != nil {
			t.Errorf("%s: described default %q does not parse: %v", e.Name, *e.Value, err)
		}
		if e.ReadOnly || e.Type != k.Type {
			t.Errorf("%s: read-only %v type %v", e.Name, e.ReadOnly, e.Type)
		}
	}
	internal := 0
	for _, k := range keys.topics {
		if k.Internal {
			internal++
		}
	}
	if n := len(Defaults().TopicEntries(nil)); n != len(keys.topics)-internal {
		t.Errorf("%d topic entries, %d topic keys of which %d internal", n, len(keys.topics), internal)
	}
}

// A password is never repeated: not in errors, not in logs.
func TestPasswordsStayHidden(t *testing.T) {
	withKeys(t, Key{Name: "test.secret", Type: Password, NoDefault: true, Scope: PerBroker, Doc: "A secret.",
		Valid: func(v any) error { return fmt.Errorf("too short") }})
	_, err := Load(map[string]string{"test.secret": "hunter2"}, nil)
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "configuration test.secret: too short") {
		t.Fatalf("error %v", err)
	}
	if err := Defaults().CheckDynamic(true, map[string]string{"test.secret": "hunter2"}); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("dynamic error %v", err)
	}
	if r := Redacted(map[string]string{"test.secret": "hunter2", "log.retention.ms": "1"}); r["test.secret"] == "hunter2" || r["log.retention.ms"] != "1" {
		t.Fatalf("redacted %v", r)
	}
}
