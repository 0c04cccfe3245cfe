package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseProperties(t *testing.T) {
	in := strings.Join([]string{
		"# a comment",
		"! also a comment",
		"",
		"   ",
		"broker.id=1",
		"  listeners = PLAINTEXT://127.0.0.1:9092",
		"log.dirs: /var/a",
		"num.partitions 3",
		"key\\:with\\=seps=v",
		"tabs=a\\tb\\nc",
		"unicode=caf\\u00e9",
		"long.list=one,\\",
		"    two,\\",
		"    # not a comment here,\\",
		"    three",
		"even.backslashes=ends\\\\",
		"after.even=x",
		"broker.id=2",
		"trailing=value   ",
		"empty.value=",
		"last.line=cont\\",
	}, "\n")
	keys, values, err := ParseProperties(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"broker.id":        "2", // later lines override
		"listeners":        "PLAINTEXT://127.0.0.1:9092",
		"log.dirs":         "/var/a",
		"num.partitions":   "3",
		"key:with=seps":    "v",
		"tabs":             "a\tb\nc",
		"unicode":          "café",
		"long.list":        "one,two,# not a comment here,three",
		"even.backslashes": "ends\\",
		"after.even":       "x",
		"trailing":         "value",
		"empty.value":      "",
		"last.line":        "cont",
	}
	if len(values) != len(want) {
		t.Fatalf("parsed %d keys %v, want %d", len(values), values, len(want))
	}
	for k, v := range want {
		if got, ok := values[k]; !ok || got != v {
			t.Fatalf("%s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	wantOrder := []string{"broker.id", "listeners", "log.dirs", "num.partitions", "key:with=seps", "tabs", "unicode",
		"long.list", "even.backslashes", "after.even", "trailing", "empty.value", "last.line"}
	if strings.Join(keys, " ") != strings.Join(wantOrder, " ") {
		t.Fatalf("key order %v, want first appearance %v", keys, wantOrder)
	}
}

func TestKafkaDefaults(t *testing.T) {
	c := Defaults()
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"broker.id (single broker)", c.BrokerID, int32(0)},
		{"listeners", c.Listeners[0].String(), "PLAINTEXT://127.0.0.1:9092"},
		{"log.dirs", strings.Join(c.LogDirs, ","), "./data"},
		{"num.partitions", c.NumPartitions, int32(1)},
		{"default.replication.factor", c.DefaultReplicationFactor, int16(1)},
		{"min.insync.replicas", c.TopicDefaults.MinInsyncReplicas, int32(1)},
		{"delete.topic.enable", c.DeleteTopicEnable, true},
		{"auto.create.topics.enable", c.AutoCreateTopicsEnable, true},
		{"unclean.leader.election.enable", c.TopicDefaults.UncleanLeaderElection, false},
		{"log.retention.hours=168", c.TopicDefaults.Retention, 168 * time.Hour},
		{"log.retention.bytes", c.TopicDefaults.RetentionBytes, ByteSize(-1)},
		{"log.segment.bytes", c.TopicDefaults.SegmentBytes, ByteSize(1 << 30)},
		{"log.roll.hours=168", c.TopicDefaults.SegmentRoll, 168 * time.Hour},
		{"log.retention.check.interval.ms", c.LogRetentionCheck, 5 * time.Minute},
		{"log.index.interval.bytes", c.TopicDefaults.IndexInterval, ByteSize(4096)},
		{"log.flush.interval.messages", c.TopicDefaults.FlushMessages, int64(1<<63 - 1)},
		{"log.flush.interval.ms (log.flush.scheduler.interval.ms)", c.TopicDefaults.FlushInterval, Forever},
		{"log.cleanup.policy", c.TopicDefaults.Cleanup, CleanupPolicy("delete")},
		{"log.message.timestamp.type", c.TopicDefaults.MessageTimestampType, "CreateTime"},
		{"compression.type", c.TopicDefaults.CompressionType, "producer"},
		{"log.segment.delete.delay.ms", c.TopicDefaults.FileDeleteDelay, time.Minute},
		{"message.max.bytes", c.TopicDefaults.MaxMessageBytes, ByteSize(1048588)},
		{"replica.fetch.max.bytes", c.ReplicaFetchMax, ByteSize(1 << 20)},
		{"replica.lag.time.max.ms (SPEC: 10 s)", c.ReplicaLagTimeMax, 10 * time.Second},
		{"socket.request.max.bytes", c.SocketRequestMax, ByteSize(100 << 20)},
		{"offsets.topic.replication.factor", c.OffsetsTopicReplicationFactor, int16(3)},
		{"offsets.topic.num.partitions", c.OffsetsTopicNumPartitions, int32(50)},
		{"offsets.retention.minutes", c.OffsetsRetention, 10080 * time.Minute},
		{"group.initial.rebalance.delay.ms", c.GroupInitialRebalanceDelay, 3 * time.Second},
		{"group.min.session.timeout.ms", c.GroupMinSessionTimeout, 6 * time.Second},
		{"group.max.session.timeout.ms", c.GroupMaxSessionTimeout, 30 * time.Minute},
		{"transaction.state.log.num.partitions", c.TxnStateNumPartitions, int32(50)},
		{"transaction.state.log.replication.factor", c.TxnStateReplicationFactor, int16(3)},
		{"transaction.state.log.min.isr", c.TxnStateMinIsr, int32(2)},
		{"transaction.max.timeout.ms", c.TxnMaxTimeout, 15 * time.Minute},
		{"zookeeper.session.timeout.ms", c.ZookeeperSessionTimeout, 18 * time.Second},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("default %s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if c.Clustered() || len(c.Unknown) != 0 {
		t.Fatalf("defaults: clustered %v, unknown %v", c.Clustered(), c.Unknown)
	}
}

func TestOverridesWin(t *testing.T) {
	c, err := Load(map[string]string{"num.partitions": "3", "broker.id": "4"}, map[string]string{"num.partitions": "7"})
	if err != nil {
		t.Fatal(err)
	}
	if c.NumPartitions != 7 || c.BrokerID != 4 {
		t.Fatalf("num.partitions %d broker.id %d; want the --set 7 and the file's 4", c.NumPartitions, c.BrokerID)
	}
	// --set can also fix a bad value from the file.
	if _, err := Load(map[string]string{"num.partitions": "x"}, map[string]string{"num.partitions": "2"}); err != nil {
		t.Fatalf("override of a bad file value: %v", err)
	}
}

func TestBadValuesNameTheirKeys(t *testing.T) {
	bad := map[string]string{
		"num.partitions":             "many",
		"default.replication.factor": "0",
		"delete.topic.enable":        "yes",
		"listeners":                  "127.0.0.1:9092",
		"log.cleanup.policy":         "shred",
		"log.retention.ms":           "soon",
		"log.segment.bytes":          "10",
		"message.max.bytes":          "-5",
		"compression.type":           "brotli",
	}
	_, err := Load(bad, nil)
	if err == nil {
		t.Fatal("bad values were accepted")
	}
	for k := range bad {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error does not name %s: %v", k, err)
		}
	}
	for k, v := range bad {
		_, err := Load(nil, map[string]string{k: v})
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("--set %s=%s: error %v does not name the key", k, v, err)
		}
	}
}

func TestRetentionUnitsPrecedence(t *testing.T) {
	for _, tc := range []struct {
		set  map[string]string
		want time.Duration
	}{
		{map[string]string{"log.retention.hours": "1"}, time.Hour},
		{map[string]string{"log.retention.hours": "1", "log.retention.minutes": "2"}, 2 * time.Minute},
		{map[string]string{"log.retention.hours": "1", "log.retention.minutes": "2", "log.retention.ms": "5"}, 5 * time.Millisecond},
		{map[string]string{"log.retention.ms": "-1"}, -time.Millisecond},
		{map[string]string{"log.retention.hours": "-1"}, -time.Millisecond},
		{map[string]string{"log.retention.ms": "-2"}, -time.Millisecond}, // any negative: no limit, as Kafka's logRetentionTimeMillis
		{map[string]string{"log.retention.minutes": "-5", "log.retention.hours": "0"}, -time.Millisecond},
	} {
		c, err := Load(tc.set, nil)
		if err != nil {
			t.Fatalf("%v: %v", tc.set, err)
		}
		if got := c.TopicDefaults.Retention; got != tc.want {
			t.Fatalf("%v: retention %v, want %v", tc.set, got, tc.want)
		}
	}
	// 0, by any synonym, is refused as Kafka's KafkaConfig requires.
	for _, set := range []map[string]string{{"log.retention.ms": "0"}, {"log.retention.minutes": "0"}, {"log.retention.hours": "0"}} {
		if _, err := Load(set, nil); err == nil || !strings.Contains(err.Error(), "log.retention.ms must be unlimited (-1) or, greater than or equal to 1") {
			t.Errorf("%v: %v, want refused", set, err)
		}
	}
	if err := Defaults().CheckDynamic(false, map[string]string{"log.retention.ms": "0"}); err == nil {
		t.Error("dynamic log.retention.ms=0 accepted")
	}
	c, err := Load(map[string]string{"log.roll.hours": "2"}, nil)
	if err != nil || c.TopicDefaults.SegmentRoll != 2*time.Hour {
		t.Fatalf("log.roll.hours=2: %v, %v", err, c.TopicDefaults.SegmentRoll)
	}
	c, err = Load(map[string]string{"log.roll.hours": "2", "log.roll.ms": "1000"}, nil)
	if err != nil || c.TopicDefaults.SegmentRoll != time.Second {
		t.Fatalf("log.roll.ms over log.roll.hours: %v, %v", err, c.TopicDefaults.SegmentRoll)
	}
}

func TestUnknownAndIgnoredKeys(t *testing.T) {
	c, err := Load(map[string]string{
		"num.network.threads": "3", "ssl.keystore.location": "/x", "sasl.enabled.mechanisms": "PLAIN",
		"no.such.key": "1", "another.unknown": "2",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Unknown, ",") != "another.unknown,no.such.key" {
		t.Fatalf("unknown keys %v", c.Unknown)
	}
	if c.Values["no.such.key"] != "1" {
		t.Fatal("raw values not kept")
	}
}

func TestListenersAndDirs(t *testing.T) {
	c, err := Load(map[string]string{
		"listeners":            "PLAINTEXT://0.0.0.0:9093,internal://127.0.0.1:9094",
		"advertised.listeners": "PLAINTEXT://broker1:9093",
		// Kafka's default map names only the four protocols.
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
		"log.dir":                        "/ignored",
		"log.dirs":                       "/a, /b",
		"zookeeper.connect":              "zk:2181",
		"broker.id":                      "5",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Listeners) != 2 || c.Listeners[1].Name != "INTERNAL" || c.Listeners[1].Port != 9094 {
		t.Fatalf("listeners %+v", c.Listeners)
	}
	if a, ok := c.Advertised("PLAINTEXT"); !ok || a.Addr() != "broker1:9093" {
		t.Fatalf("advertised %+v", c.AdvertisedListeners)
	}
	if strings.Join(c.LogDirs, ",") != "/a,/b" || !c.Clustered() || c.BrokerID != 5 {
		t.Fatalf("log dirs %v clustered %v broker %d", c.LogDirs, c.Clustered(), c.BrokerID)
	}
	c, err = Load(map[string]string{"log.dir": "/only"}, nil)
	if err != nil || strings.Join(c.LogDirs, ",") != "/only" {
		t.Fatalf("log.dir alone: %v %v", err, c.LogDirs)
	}
	if _, err := Load(map[string]string{"advertised.listeners": "OTHER://h:1"}, nil); err == nil || !strings.Contains(err.Error(), "advertised.listeners") {
		t.Fatalf("advertised listener without a listener: %v", err)
	}
}

// A log dir listed twice stops start-up, as Kafka's LogManager refuses
// two log dirs with one canonical path: the same path, with a trailing
// slash, or through a symlink.
func TestDuplicateLogDirsRefused(t *testing.T) {
	d := t.TempDir()
	a := filepath.Join(d, "a")
	if err := os.Mkdir(a, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(a, filepath.Join(d, "link")); err != nil {
		t.Fatal(err)
	}
	for _, dirs := range []string{a + "," + a, a + "," + a + "/", a + "," + filepath.Join(d, "link"), filepath.Join(d, "new") + "," + filepath.Join(d, "x", "..", "new")} {
		_, err := Load(map[string]string{"log.dirs": dirs}, nil)
		if err == nil || !strings.Contains(err.Error(), "log.dirs: Duplicate log directory found: ") {
			t.Errorf("log.dirs=%s: %v, want the duplicate refused", dirs, err)
		}
	}
	if _, err := Load(map[string]string{"log.dirs": a + "," + filepath.Join(d, "b")}, nil); err != nil {
		t.Errorf("two dirs: %v", err)
	}
}

// In a cluster, broker.id may be left unset while ids are generated, and
// a set one must be at most reserved.broker.max.id, as in Kafka.
func TestBrokerIDInACluster(t *testing.T) {
	for _, c := range []struct {
		set  map[string]string
		want string // a part of the error, or "" for none
	}{
		{map[string]string{}, ""},
		{map[string]string{"broker.id": "1000"}, ""},
		{map[string]string{"broker.id": "1001"}, "above reserved.broker.max.id 1000"},
		{map[string]string{"broker.id": "1001", "reserved.broker.max.id": "2000"}, ""},
		{map[string]string{"broker.id": "5000", "broker.id.generation.enable": "false"}, ""},
		{map[string]string{"broker.id.generation.enable": "false"}, "broker.id must be set"},
	} {
		props := map[string]string{"zookeeper.connect": "zk:2181"}
		for k, v := range c.set {
			props[k] = v
		}
		cfg, err := Load(props, nil)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.set, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: error %v, want one saying %q", c.set, err, c.want)
		case err == nil && c.set["broker.id"] == "" && cfg.BrokerID != -1:
			t.Errorf("%v: broker.id %d, want -1 (resolved at start)", c.set, cfg.BrokerID)
		}
	}
}

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.properties")
	data := "# Kafka's sample\nbroker.id=0\nnum.partitions=4\nlog.retention.hours=24\nlog.dirs=/tmp/kafka-logs\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFile(path, map[string]string{"log.retention.hours": "48"})
	if err != nil {
		t.Fatal(err)
	}
	if c.NumPartitions != 4 || c.TopicDefaults.Retention != 48*time.Hour || c.LogDirs[0] != "/tmp/kafka-logs" {
		t.Fatalf("from file: partitions %d retention %v dirs %v", c.NumPartitions, c.TopicDefaults.Retention, c.LogDirs)
	}
	if err := os.WriteFile(path, []byte("num.partitions=zero\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path, nil); err == nil || !strings.Contains(err.Error(), "num.partitions") {
		t.Fatalf("bad value in file: %v", err)
	}
}

// The broker key for how long retired segment files are kept is Kafka's
// log.segment.delete.delay.ms; file.delete.delay.ms is the topic-level
// key and, as in Kafka, not a broker key.
func TestSegmentDeleteDelayKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(path, []byte("log.segment.delete.delay.ms=1500\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.TopicDefaults.FileDeleteDelay != 1500*time.Millisecond {
		t.Fatalf("log.segment.delete.delay.ms=1500 gave a delay of %v", c.TopicDefaults.FileDeleteDelay)
	}
	if len(c.Unknown) != 0 {
		t.Fatalf("log.segment.delete.delay.ms reported unknown: %v", c.Unknown)
	}
	if got := c.ResolveTopic(nil).FileDeleteDelay; got != 1500*time.Millisecond {
		t.Fatalf("topic default file.delete.delay.ms = %v, want the broker's 1.5s", got)
	}
	if _, err := Load(map[string]string{"log.segment.delete.delay.ms": "-1"}, nil); err == nil || !strings.Contains(err.Error(), "log.segment.delete.delay.ms") {
		t.Fatalf("negative delay: %v", err)
	}
	c, err = Load(map[string]string{"file.delete.delay.ms": "1500"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.TopicDefaults.FileDeleteDelay != time.Minute || strings.Join(c.Unknown, ",") != "file.delete.delay.ms" {
		t.Fatalf("file.delete.delay.ms as a broker key: delay %v, unknown %v; want the 1m default and the key unknown", c.TopicDefaults.FileDeleteDelay, c.Unknown)
	}
}

func TestDelegationTokenConfig(t *testing.T) {
	c, err := Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := c.DelegationTokens
	if d.Enabled() || d.MaxLifetime != 7*24*time.Hour || d.ExpiryTime != 24*time.Hour || d.ExpiryCheckInterval != time.Hour {
		t.Fatalf("defaults: %+v", d)
	}
	// Kafka 4.0 removed the old name: it is an unknown key.
	c, err = Load(map[string]string{"delegation.token.master.key": "old"}, nil)
	if err != nil || c.DelegationTokens.Enabled() || len(c.Unknown) != 1 {
		t.Fatalf("removed alias: %v %+v %v", err, c.DelegationTokens, c.Unknown)
	}
	c, err = Load(map[string]string{"delegation.token.secret.key": "new", "delegation.token.max.lifetime.ms": "1000"}, nil)
	if err != nil || c.DelegationTokens.SecretKey != "new" || c.DelegationTokens.MaxLifetime != time.Second {
		t.Fatalf("secret.key: %v %+v", err, c.DelegationTokens)
	}
	if _, err := Load(map[string]string{"delegation.token.expiry.time.ms": "0"}, nil); err == nil || !strings.Contains(err.Error(), "delegation.token.expiry.time.ms") {
		t.Fatalf("expiry 0 accepted: %v", err)
	}
}

// max.connections.per.ip of 0 lets nobody in unless overrides let some
// hosts in, and is refused otherwise, as in Kafka, statically and as a
// dynamic broker config.
func TestZeroConnectionsPerIPNeedsOverrides(t *testing.T) {
	if _, err := Load(map[string]string{"max.connections.per.ip": "0"}, nil); err == nil || !strings.Contains(err.Error(), "max.connections.per.ip.overrides") {
		t.Fatalf("max.connections.per.ip=0 alone: %v", err)
	}
	if _, err := Load(map[string]string{"max.connections.per.ip": "0", "max.connections.per.ip.overrides": "127.0.0.1:5"}, nil); err != nil {
		t.Fatalf("max.connections.per.ip=0 with overrides: %v", err)
	}
	c, err := Load(map[string]string{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckDynamic(false, map[string]string{"max.connections.per.ip": "0"}); err == nil {
		t.Fatal("a dynamic max.connections.per.ip=0 without overrides was accepted")
	}
}

// The replica fetch keys hold together as Kafka's KafkaConfig requires:
// the fetch's long poll within the socket timeout and within the lag
// time; and the three that were inert now load into the config.
func TestReplicaFetchKeys(t *testing.T) {
	for _, tc := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"replica.fetch.wait.max.ms": "2000", "replica.socket.timeout.ms": "1000"}, "replica.socket.timeout.ms"},
		{map[string]string{"replica.fetch.wait.max.ms": "5000", "replica.lag.time.max.ms": "3000"}, "replica.lag.time.max.ms"},
	} {
		if _, err := Load(tc.set, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error naming %s", tc.set, err, tc.want)
		}
	}
	c, err := Load(map[string]string{"replica.fetch.min.bytes": "4096", "replica.socket.timeout.ms": "60000", "replica.socket.receive.buffer.bytes": "131072"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ReplicaFetchMin != 4096 || c.ReplicaSocketTimeout != time.Minute || c.ReplicaSocketReceiveBuffer != 131072 {
		t.Errorf("loaded %d, %v, %d", c.ReplicaFetchMin, c.ReplicaSocketTimeout, c.ReplicaSocketReceiveBuffer)
	}
	d, _ := Load(map[string]string{}, nil)
	if d.ReplicaFetchMin != 1 || d.ReplicaSocketTimeout != 30*time.Second || d.ReplicaSocketReceiveBuffer != -1 {
		t.Errorf("defaults %d, %v, %d; want 1, 30s and -1 (the OS's)", d.ReplicaFetchMin, d.ReplicaSocketTimeout, d.ReplicaSocketReceiveBuffer)
	}
	if d.ReplicaFetchBackoff != time.Second {
		t.Errorf("replica.fetch.backoff.ms defaults to %v, want Kafka's 1s", d.ReplicaFetchBackoff)
	}
	if c, err := Load(map[string]string{"replica.fetch.backoff.ms": "250"}, nil); err != nil || c.ReplicaFetchBackoff != 250*time.Millisecond {
		t.Errorf("replica.fetch.backoff.ms=250: %v, %v", c, err)
	}
	if _, err := Load(map[string]string{"replica.fetch.backoff.ms": "-1"}, nil); err == nil {
		t.Errorf("replica.fetch.backoff.ms=-1 accepted")
	}
}

// TestQuotaWindowNumOne: quota.window.num and controller.quota.window.num
// take 1, as Kafka's QuotaConfig allows (atLeast(1)), so a
// server.properties Kafka starts with is accepted.
func TestQuotaWindowNumOne(t *testing.T) {
	c, err := Load(map[string]string{"broker.id": "1", "log.dirs": t.TempDir(), "quota.window.num": "1", "controller.quota.window.num": "1"}, nil)
	if err != nil {
		t.Fatalf("quota.window.num=1: %v", err)
	}
	if c.QuotaWindowNum != 1 || c.ControllerQuotaWindowNum != 1 {
		t.Fatalf("loaded quota.window.num %d, controller.quota.window.num %d; want 1 and 1", c.QuotaWindowNum, c.ControllerQuotaWindowNum)
	}
	if _, err := Load(map[string]string{"broker.id": "1", "log.dirs": t.TempDir(), "quota.window.num": "0"}, nil); err == nil {
		t.Fatal("quota.window.num=0 was accepted")
	}
}

// The port a port-0 listener was bound to stays advertised in every
// configuration rebuilt from dynamic broker configs.
func TestBoundPortsSurviveDynamicConfigs(t *testing.T) {
	c, err := Load(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0,OTHER://127.0.0.1:9", "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT", "log.dirs": t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetBoundPorts(map[string]int{"PLAINTEXT": 40123})
	d, errs := c.WithDynamic(Dynamic{Defaults: map[string]string{"log.retention.ms": "1000"}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, cfg := range []*Config{c, d} {
		a, _ := cfg.Advertised("PLAINTEXT")
		o, _ := cfg.Advertised("OTHER")
		if a.Port != 40123 || o.Port != 9 {
			t.Fatalf("advertised %v", cfg.AdvertisedListeners)
		}
	}
	if l, _ := d.Listener("PLAINTEXT"); l.Port != 0 {
		t.Fatalf("listeners changed: %v", d.Listeners)
	}
}
