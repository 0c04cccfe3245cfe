package compat

// Other clients on the secure broker (security_test.go), each configured
// as its users configure it: kcat and confluent-kafka (librdkafka) with
// SASL_SSL SCRAM and mutual TLS, kafka-python with SASL_PLAINTEXT and SSL,
// sarama with SCRAM, and the Apache Kafka tools with --command-config,
// --producer.config and --consumer.config (a PEM truststore) when
// KAFKA_TOOLS_DIR is set. Each produces records and reads them back
// through the secure listener.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/wait"
	"gregor/protocol/sasl"
)

// runCmd runs a command with a bounded timeout and returns its stdout.
func runCmd(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, ccTail(out.String()), ccTail(errb.String()))
	}
	return out.String()
}

func lines(n int, prefix string) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func sameLines(t *testing.T, who, got string, want []string) {
	t.Helper()
	g := strings.Fields(got)
	if strings.Join(g, ",") != strings.Join(want, ",") {
		t.Fatalf("%s read %q, want %q", who, g, want)
	}
}

// TestSecurityKcat: kcat over SASL_SSL with SCRAM-SHA-256 and over mutual
// TLS.
func TestSecurityKcat(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat is not installed")
	}
	s := startSecure(t)
	for name, x := range map[string][]string{
		"SASL_SSL SCRAM-SHA-256": {"-b", s.addr["SASL_SSL"], "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-256",
			"-X", "sasl.username=" + secAlice, "-X", "sasl.password=" + secAlicePass, "-X", "ssl.ca.location=" + s.certs.CA},
		"mutual TLS": {"-b", s.addr["SSL"], "-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + s.certs.CA,
			"-X", "ssl.certificate.location=" + s.certs.ClientCert, "-X", "ssl.key.location=" + s.certs.ClientKey},
	} {
		t.Run(name, func(t *testing.T) {
			topic := randomName("sec-kcat")
			secCreateTopic(t, s.addr["PLAINTEXT"], topic, 1)
			want := lines(10, "kcat")
			runCmd(t, strings.Join(want, "\n")+"\n", "kcat", append(x, "-P", "-t", topic)...)
			got := runCmd(t, "", "kcat", append(x, "-C", "-t", topic, "-o", "beginning", "-e", "-c", "10", "-f", "%s\n")...)
			sameLines(t, "kcat", got, want)
		})
	}
}

const confluentScript = `
import sys, json
from confluent_kafka import Producer, Consumer, TopicPartition
spec = json.load(sys.stdin)
conf = spec["conf"]
p = Producer(conf)
for v in spec["values"]:
    p.produce(spec["topic"], v.encode())
assert p.flush(30) == 0
c = Consumer(dict(conf, **{"group.id": "g-" + spec["topic"], "auto.offset.reset": "earliest", "enable.auto.commit": False}))
c.assign([TopicPartition(spec["topic"], 0, 0)])
got = []
while len(got) < len(spec["values"]):
    m = c.poll(20)
    if m is None:
        break
    if m.error():
        raise Exception(m.error())
    got.append(m.value().decode())
c.close()
print("\n".join(got))
`

// TestSecurityConfluentKafka: confluent-kafka over SASL_SSL SCRAM-SHA-512
// and mutual TLS.
func TestSecurityConfluentKafka(t *testing.T) {
	requirePython(t, "confluent_kafka")
	s := startSecure(t)
	for name, conf := range map[string]map[string]string{
		"SASL_SSL SCRAM-SHA-512": {"bootstrap.servers": s.addr["SASL_SSL"], "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
			"sasl.username": secAlice, "sasl.password": secAlicePass, "ssl.ca.location": s.certs.CA},
		"mutual TLS": {"bootstrap.servers": s.addr["SSL"], "security.protocol": "SSL", "ssl.ca.location": s.certs.CA,
			"ssl.certificate.location": s.certs.ClientCert, "ssl.key.location": s.certs.ClientKey},
	} {
		t.Run(name, func(t *testing.T) {
			topic := randomName("sec-cf")
			secCreateTopic(t, s.addr["PLAINTEXT"], topic, 1)
			want := lines(10, "cf")
			got := runCmd(t, jsonString(t, map[string]any{"conf": conf, "topic": topic, "values": want}), systemPython, "-c", confluentScript)
			sameLines(t, "confluent-kafka", got, want)
		})
	}
}

const kafkaPythonScript = `
import sys, json
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
spec = json.load(sys.stdin)
conf = spec["conf"]
p = KafkaProducer(**conf)
for v in spec["values"]:
    p.send(spec["topic"], v.encode(), partition=0)
p.flush(30)
p.close()
c = KafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest", consumer_timeout_ms=20000, **conf)
tp = TopicPartition(spec["topic"], 0)
c.assign([tp])
c.seek_to_beginning(tp)
got = []
for m in c:
    got.append(m.value.decode())
    if len(got) == len(spec["values"]):
        break
c.close()
print("\n".join(got))
`

// TestSecurityKafkaPython: kafka-python over SASL_PLAINTEXT (PLAIN) and
// SSL.
func TestSecurityKafkaPython(t *testing.T) {
	requirePython(t, "kafka")
	s := startSecure(t)
	for name, conf := range map[string]map[string]any{
		"SASL_PLAINTEXT PLAIN": {"bootstrap_servers": s.addr["SASL_PLAINTEXT"], "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
			"sasl_plain_username": secAlice, "sasl_plain_password": secAlicePass},
		"SSL": {"bootstrap_servers": s.addr["SSL"], "security_protocol": "SSL", "ssl_cafile": s.certs.CA},
	} {
		t.Run(name, func(t *testing.T) {
			topic := randomName("sec-kp")
			secCreateTopic(t, s.addr["PLAINTEXT"], topic, 1)
			want := lines(10, "kp")
			got := runCmd(t, jsonString(t, map[string]any{"conf": conf, "topic": topic, "values": want}), systemPython, "-c", kafkaPythonScript)
			sameLines(t, "kafka-python", got, want)
		})
	}
}

func requirePython(t *testing.T, module string) {
	t.Helper()
	if err := exec.Command(systemPython, "-c", "import "+module).Run(); err != nil {
		t.Skipf("%s cannot import %s", systemPython, module)
	}
}

// scramForSarama adapts the SCRAM client to sarama's interface (sarama
// ships none; its own framing, SaslHandshake and SaslAuthenticate, is
// what this exercises).
type scramForSarama struct {
	mech string
	c    *sasl.ScramClient
	done bool
}

func (s *scramForSarama) Begin(user, password, _ string) error {
	s.c = &sasl.ScramClient{Mechanism: s.mech, User: user, Password: password}
	return nil
}

func (s *scramForSarama) Step(challenge string) (string, error) {
	var ch []byte
	if challenge != "" {
		ch = []byte(challenge)
	}
	tok, done, err := s.c.Step(ch)
	s.done = done
	return string(tok), err
}

func (s *scramForSarama) Done() bool { return s.done }

// TestSecuritySarama: sarama over SASL_PLAINTEXT with SCRAM-SHA-256.
func TestSecuritySarama(t *testing.T) {
	s := startSecure(t)
	topic := randomName("sec-sarama")
	secCreateTopic(t, s.addr["PLAINTEXT"], topic, 1)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
	cfg.Net.SASL.User, cfg.Net.SASL.Password = secAlice, secAlicePass
	cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramForSarama{mech: sasl.ScramSHA256} }
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer([]string{s.addr["SASL_PLAINTEXT"]}, cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	want := lines(10, "sarama")
	for _, v := range want {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(v)}); err != nil {
			t.Fatalf("sarama produce: %v", err)
		}
	}
	p.Close()
	c, err := sarama.NewConsumer([]string{s.addr["SASL_PLAINTEXT"]}, cfg)
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var got []string
	timeout := time.After(30 * time.Second)
	for len(got) < len(want) {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
		case <-timeout:
			t.Fatalf("sarama read %d of %d records within 30s", len(got), len(want))
		}
	}
	sameLines(t, "sarama", strings.Join(got, "\n"), want)
}

// TestSecurityKafkaTools: the Java tools over SASL_SSL SCRAM-SHA-256 with
// a PEM truststore, configured by a client properties file.
func TestSecurityKafkaTools(t *testing.T) {
	dir := os.Getenv("KAFKA_TOOLS_DIR")
	if dir == "" {
		t.Skip("KAFKA_TOOLS_DIR not set: point it at the bin directory of an Apache Kafka distribution to run Kafka's own tools over SASL_SSL")
	}
	s := startSecure(t)
	k := &kafkaTools{dir: dir, addr: s.addr["SASL_SSL"]}
	props := filepath.Join(t.TempDir(), "client.properties")
	content := strings.Join([]string{
		"security.protocol=SASL_SSL",
		"sasl.mechanism=SCRAM-SHA-256",
		`sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="` + secAlice + `" password="` + secAlicePass + `";`,
		"ssl.truststore.type=PEM",
		"ssl.truststore.location=" + s.certs.CA,
	}, "\n") + "\n"
	if err := os.WriteFile(props, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	topic := randomName("sec-tools")
	k.run(t, "", "kafka-topics.sh", "--bootstrap-server", k.addr, "--command-config", props, "--create", "--topic", topic, "--partitions", "1", "--replication-factor", "1")
	if out := k.run(t, "", "kafka-topics.sh", "--bootstrap-server", k.addr, "--command-config", props, "--list"); !strings.Contains(out, topic) {
		t.Fatalf("kafka-topics --list over SASL_SSL: %q lacks %s", out, topic)
	}
	want := lines(10, "tools")
	k.run(t, strings.Join(want, "\n")+"\n", "kafka-console-producer.sh", "--bootstrap-server", k.addr, "--producer.config", props, "--topic", topic)
	got := k.run(t, "", "kafka-console-consumer.sh", "--bootstrap-server", k.addr, "--consumer.config", props, "--topic", topic,
		"--from-beginning", "--max-messages", strconv.Itoa(len(want)), "--timeout-ms", "30000")
	sameLines(t, "kafka-console-consumer", got, want)
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestScramUpsertWithoutSaltAsKafka: sarama's UpsertUserScramCredentials
// sends the salt it is given, none by default; Kafka stores such a
// credential (only the salted password is an HMAC key, and only an empty
// one fails: UNKNOWN_SERVER_ERROR, as Kafka 4's controller answers the
// exception its key derivation throws). The user then authenticates with
// SCRAM, the empty salt in the server's first message.
func TestScramUpsertWithoutSaltAsKafka(t *testing.T) {
	s := startSecure(t)
	user := randomName("nosalt")
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	adm, err := sarama.NewClusterAdmin([]string{s.addr["PLAINTEXT"]}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	res, err := adm.UpsertUserScramCredentials([]sarama.AlterUserScramCredentialsUpsert{
		{Name: user, Mechanism: sarama.SCRAM_MECHANISM_SHA_256, Iterations: 4096, Password: []byte("pw-" + user)},
	})
	if err != nil || len(res) != 1 || res[0].ErrorCode != sarama.ErrNoError {
		msg := ""
		if len(res) == 1 && res[0].ErrorMessage != nil {
			msg = *res[0].ErrorMessage
		}
		t.Fatalf("upserting %s without a salt: %v %+v %q; Kafka stores it", user, err, res, msg)
	}
	wait.For(t, "the broker to describe "+user+"'s credential", 10*time.Second, func() bool {
		d, err := adm.DescribeUserScramCredentials([]string{user})
		return err == nil && len(d) == 1 && d[0].ErrorCode == sarama.ErrNoError && len(d[0].CredentialInfos) == 1
	})
	roundTrip(t, s.addr["PLAINTEXT"], []kgo.Opt{kgo.SeedBrokers(s.addr["SASL_PLAINTEXT"]), kgo.SASL(scramMech(sasl.ScramSHA256, user, "pw-"+user))}, 3)

	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr["PLAINTEXT"]))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations, up.Salt = user+"-nokey", 1, 4096, []byte("salt")
	req.Upsertions = append(req.Upsertions, up)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Results) != 1 || resp.Results[0].ErrorCode != kerr.UnknownServerError.Code || resp.Results[0].ErrorMessage != nil {
		t.Fatalf("upsertion with an empty salted password: %+v; Kafka answers UNKNOWN_SERVER_ERROR without a message", resp.Results)
	}
}
