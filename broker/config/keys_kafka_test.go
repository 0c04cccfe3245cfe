package config

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
)

// Every key of Kafka 3.9's broker and topic ConfigDefs is in the schema,
// at the dynamic scope Kafka gives it (testdata lists them), but those
// Kafka 4.0 removed, which are not.
func TestSchemaCoversKafkaConfigDef(t *testing.T) {
	for name := range removedKeys {
		if keys.broker[name] != nil {
			t.Errorf("broker key %s, removed in Kafka 4.0, is in the schema", name)
		}
	}
	for _, name := range removedTopicKeys {
		if keys.topic[name] != nil {
			t.Errorf("topic key %s, removed in Kafka 4.0, is in the schema", name)
		}
	}
	f, err := os.Open("testdata/kafka-3.9-keys.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	scopes := map[string]Scope{"read-only": ReadOnly, "per-broker": PerBroker, "cluster-wide": ClusterWide}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		n++
		if _, ok := removedKeys[fields[1]]; ok || slices.Contains(removedTopicKeys, fields[1]) {
			continue
		}
		if fields[0] == "topic" {
			if keys.topic[fields[1]] == nil {
				t.Errorf("topic key %s unknown", fields[1])
			}
			continue
		}
		k := keys.broker[fields[1]]
		if k == nil {
			t.Errorf("broker key %s unknown", fields[1])
			continue
		}
		want := scopes[fields[2]]
		if s, ok := kafka4Scopes[k.Name]; ok {
			want = s
		}
		if k.Scope != want {
			t.Errorf("broker key %s: scope %d, Kafka's is %s", k.Name, k.Scope, fields[2])
		}
	}
	if n < 340 {
		t.Fatalf("read %d keys from testdata", n)
	}
}

// kafka4Scopes are the dynamic scopes Kafka 4.0 changed from 3.9's:
// KIP-1105 made the remote log manager's copier, expiration and reader
// pools cluster-wide dynamic.
var kafka4Scopes = map[string]Scope{
	"remote.log.manager.copier.thread.pool.size":     ClusterWide,
	"remote.log.manager.expiration.thread.pool.size": ClusterWide,
	"remote.log.reader.threads":                      ClusterWide,
}

// A Kafka server.properties with keys Gregor has no use for loads: none is
// unknown, and each is listed with why it has no effect.
func TestKafkaKeysLoadAndSayNoEffect(t *testing.T) {
	c, err := Load(map[string]string{
		"num.network.threads": "3", "num.io.threads": "8", "queued.max.requests": "500",
		"zookeeper.connection.timeout.ms": "18000",
		"sasl.kerberos.service.name":      "kafka", "log.retention.hours": "168",
		"listener.name.sasl_plaintext.sasl.kerberos.service.name": "kafka",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Unknown) != 0 {
		t.Fatalf("unknown keys %v", c.Unknown)
	}
	got := map[string]string{}
	for _, in := range NoEffectKeys(c.Values, false) {
		got[in.Key] = in.Why
	}
	for _, k := range []string{"num.network.threads", "num.io.threads", "queued.max.requests",
		"sasl.kerberos.service.name", "listener.name.sasl_plaintext.sasl.kerberos.service.name"} {
		if got[k] == "" {
			t.Errorf("%s not listed as without effect (%v)", k, got)
		}
	}
	if _, ok := got["log.retention.hours"]; ok || len(got) != 5 {
		t.Errorf("listed %v", got)
	}
	// Values Gregor cannot honour safely stop start-up.
	for k, v := range map[string]string{"zookeeper.ssl.client.enable": "true", "zookeeper.set.acl": "true",
		"create.topic.policy.class.name": "com.example.Policy"} {
		if _, err := Load(map[string]string{k: v}, nil); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v, want an error naming it", k, v, err)
		}
	}
}

// AlterConfigs on a broker takes the keys Kafka makes dynamic, at Kafka's
// level: per broker (Kerberos, listener-prefixed keys), cluster-wide
// (thread pools); SSL stores only with a listener prefix; read-only keys
// and bad values are refused.
func TestCheckDynamicKafkaKeys(t *testing.T) {
	c := Defaults()
	for _, tc := range []struct {
		perBroker bool
		set       map[string]string
		err       string
	}{
		{true, map[string]string{"sasl.kerberos.min.time.before.relogin": "60000"}, ""},
		{false, map[string]string{"sasl.kerberos.min.time.before.relogin": "60000"}, "broker id must be specified"},
		{false, map[string]string{"num.io.threads": "16", "num.network.threads": "4", "background.threads": "20", "log.cleaner.threads": "2"}, ""},
		{true, map[string]string{"num.io.threads": "0"}, "Invalid value 0 for configuration num.io.threads: Value must be at least 1"},
		{true, map[string]string{"listener.name.plaintext.ssl.keystore.location": "/etc/k.p12", "listener.name.sasl_ssl.plain.sasl.jaas.config": "x required;"}, ""},
		{false, map[string]string{"listener.name.plaintext.ssl.keystore.location": "/etc/k.p12"}, "broker id must be specified"},
		{false, map[string]string{"listener.name.plaintext.max.connections": "100"}, ""},
		{true, map[string]string{"listener.name.plaintext.max.connections": "many"}, "Invalid value many"},
		{true, map[string]string{"ssl.keystore.location": "/etc/k.p12"}, "only per-listener using the listener prefix"},
		{true, map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9999"}, "Invalid dynamic configuration"},
		{true, map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092", "advertised.listeners": "PLAINTEXT://127.0.0.1:9092"}, ""},
		{true, map[string]string{"zookeeper.connection.timeout.ms": "1000"}, "Cannot update these configs dynamically"},
	} {
		err := c.CheckDynamic(tc.perBroker, tc.set)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("per broker %v %v: %v, want %q", tc.perBroker, tc.set, err, tc.err)
		}
	}
}

// Dynamic keys Gregor does not apply are kept and described, but leave
// the configuration in force alone: listeners altered at run time do not
// move what brokers advertise; a prefixed password and a custom key are
// described as secrets; each is listed as without effect.
func TestDynamicKeysWithoutEffectAreKeptNotApplied(t *testing.T) {
	c := Defaults()
	d := Dynamic{PerBroker: map[string]string{
		"listeners": "PLAINTEXT://127.0.0.1:9999", "num.io.threads": "16",
		"listener.name.plaintext.ssl.keystore.password": "s3cret", "custom.plugin.setting": "x",
		"listener.name.plaintext.max.connections": "5",
	}}
	eff, errs := c.WithDynamic(d)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if eff.Listeners[0].Port != 9092 || len(eff.Dynamic.PerBroker) != 5 || eff.MaxConnections != 2147483647 {
		t.Fatalf("listeners %v, dynamic kept %v", eff.Listeners, eff.Dynamic.PerBroker)
	}
	es := eff.BrokerEntries(true)
	if e, ok := entry(es, "listeners"); !ok || *e.Value != "PLAINTEXT://127.0.0.1:9999" || e.Source != SourceDynamicBroker {
		t.Errorf("listeners described as %+v", e)
	}
	if e, ok := entry(es, "listener.name.plaintext.ssl.keystore.password"); !ok || !e.Sensitive || e.Value != nil || e.Type != Password || e.Source != SourceDynamicBroker {
		t.Errorf("prefixed password described as %+v", e)
	}
	// Its synonyms go on to the key it overrides (here its default).
	if e, _ := entry(es, "listener.name.plaintext.ssl.keystore.password"); len(e.Synonyms) != 1 {
		t.Errorf("prefixed password synonyms %+v", e.Synonyms)
	}
	if e, _ := entry(es, "custom.plugin.setting"); e.Type != 0 || len(e.Synonyms) != 1 {
		t.Errorf("custom key described as %+v", e)
	}
	// A custom key's value may be a secret (it has no type): Kafka
	// describes it as sensitive, without its value, and read-only.
	if e, ok := entry(es, "custom.plugin.setting"); !ok || e.Value != nil || !e.Sensitive || !e.ReadOnly || e.Synonyms[0].Value != nil {
		t.Errorf("custom key described as %+v", e)
	}
	if r := Redacted(d.PerBroker); r["listener.name.plaintext.ssl.keystore.password"] != "[hidden]" {
		t.Errorf("redacted %v", r)
	}
	if e, _ := entry(es, "listener.name.plaintext.max.connections"); len(e.Synonyms) != 2 || e.Synonyms[1].Name != "max.connections" || e.Synonyms[1].Source != SourceDefault {
		t.Errorf("prefixed max.connections synonyms %+v", e.Synonyms)
	}
	// A listener's keystore and truststore keys are applied at run time
	// (to its TLS, if it has any), and so is its max.connections; the
	// other three are not.
	if n := len(NoEffectKeys(d.PerBroker, true)); n != 3 {
		t.Errorf("%d keys without effect, want 3: %v", n, NoEffectKeys(d.PerBroker, true))
	}
}

// The topic keys Kafka 4.0 removed are unknown, as any other: refused
// with Kafka's "Unknown topic config name", not described, and ignored
// when a topic's stored overrides still hold them. The broker keys Kafka
// 4.0 removed are unknown keys of server.properties, logged and ignored.
func TestKeysRemovedInKafka4(t *testing.T) {
	for _, name := range removedTopicKeys {
		err := ValidateTopicConfigs(map[string]string{name: "1"})
		if err == nil || err.Error() != "Unknown topic config name: "+name {
			t.Errorf("%s: %v, want Unknown topic config name", name, err)
		}
	}
	if err := ValidateTopicConfigs(map[string]string{"message.downconversion.enable": "false", "remote.log.copy.disable": "false"}); err != nil {
		t.Fatal(err)
	}
	c := Defaults()
	for _, e := range c.TopicEntries(map[string]string{"message.format.version": "2.8"}) {
		if slices.Contains(removedTopicKeys, e.Name) {
			t.Errorf("%s described", e.Name)
		}
	}
	if tc := c.ResolveTopic(map[string]string{"message.timestamp.difference.max.ms": "60000"}); tc != c.TopicDefaults {
		t.Errorf("a removed key changed the topic's configuration: %+v", tc)
	}
	l, err := Load(map[string]string{"log.message.format.version": "2.8", "log.message.timestamp.difference.max.ms": "1000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.Unknown, []string{"log.message.format.version", "log.message.timestamp.difference.max.ms"}) {
		t.Errorf("unknown keys %v", l.Unknown)
	}
	for _, k := range l.Unknown {
		if use, ok := RemovedKey(k); !ok || use == "" {
			t.Errorf("%s: no replacement named", k)
		}
	}
	// Described as Kafka describes any unknown original: no type, no
	// value (it may be a secret), read-only.
	for _, e := range l.BrokerEntries(true) {
		if _, ok := removedKeys[e.Name]; ok && (e.Type != 0 || e.Value != nil || !e.Sensitive || !e.ReadOnly) {
			t.Errorf("%s described as %+v", e.Name, e)
		}
	}
}

func TestTopicNoEffectKeys(t *testing.T) {
	got := TopicNoEffectKeys(map[string]string{"remote.log.delete.on.disable": "true", "retention.ms": "1", "remote.log.copy.disable": "true"})
	if len(got) != 2 || got[0].Key != "remote.log.copy.disable" || got[1].Key != "remote.log.delete.on.disable" || got[0].Why == "" {
		t.Fatalf("%+v", got)
	}
}
