package compat

// Other clients on the ACL broker (acl_test.go), configured as their users
// configure SASL: kcat (librdkafka) and kafka-python see only the topics
// their user may describe and are refused writes with Kafka's error until
// an ACL allows them; the Apache Kafka tools (KAFKA_TOOLS_DIR) the same
// through --command-config.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// kcatAs runs kcat as user on the SASL listener; it returns stdout,
// stderr and whether it exited 0.
func (a *aclBroker) kcatAs(t *testing.T, user, stdin string, args ...string) (string, string, bool) {
	t.Helper()
	x := []string{"-b", a.sasl, "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN",
		"-X", "sasl.username=" + user, "-X", "sasl.password=" + aclPass(user)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", append(x, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	return out.String(), errb.String(), err == nil
}

// TestACLKcat: librdkafka's metadata hides undescribable topics; a write
// without WRITE fails with "Topic authorization failed", then succeeds
// once allowed, and reads back with READ.
func TestACLKcat(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat is not installed")
	}
	a := startACL(t)
	visible, hidden := a.topic(t, 1), a.topic(t, 1)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(visible).Operations(kadm.OpDescribe))

	out, errs, ok := a.kcatAs(t, aclAlice, "", "-L", "-J")
	if !ok {
		t.Fatalf("kcat -L: %s", errs)
	}
	var md struct {
		Topics []struct {
			Topic string `json:"topic"`
		} `json:"topics"`
	}
	if err := json.Unmarshal([]byte(out), &md); err != nil {
		t.Fatalf("kcat -L -J: %v\n%s", err, out)
	}
	seen := map[string]bool{}
	for _, tp := range md.Topics {
		seen[tp.Topic] = true
	}
	if !seen[visible] || seen[hidden] {
		t.Errorf("kcat -L as alice: sees %s %v, %s %v", visible, seen[visible], hidden, seen[hidden])
	}

	_, errs, ok = a.kcatAs(t, aclAlice, "denied\n", "-P", "-t", visible)
	if ok || !strings.Contains(errs, "Topic authorization failed") {
		t.Errorf("kcat -P without WRITE: exit 0 %v, stderr:\n%s", ok, errs)
	}
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(visible).Operations(kadm.OpWrite, kadm.OpRead))
	want := lines(5, "kcat-acl")
	if _, errs, ok := a.kcatAs(t, aclAlice, strings.Join(want, "\n")+"\n", "-P", "-t", visible); !ok {
		t.Fatalf("kcat -P with WRITE: %s", errs)
	}
	got, errs, ok := a.kcatAs(t, aclAlice, "", "-C", "-t", visible, "-o", "beginning", "-e", "-c", "5", "-f", "%s\n")
	if !ok {
		t.Fatalf("kcat -C with READ: %s", errs)
	}
	sameLines(t, "kcat", got, want)
}

const kafkaPythonACLScript = `
import sys, json
from kafka import KafkaProducer, KafkaConsumer
from kafka.errors import KafkaError
spec = json.load(sys.stdin)
c = KafkaConsumer(**spec["conf"])
print(" ".join(sorted(t for t in c.topics() if t in spec["topics"])))
c.close()
p = KafkaProducer(max_block_ms=10000, retries=0, **spec["conf"])
try:
    p.send(spec["topics"][0], b"v", partition=0).get(timeout=20)
    print("OK")
except KafkaError as e:
    print(type(e).__name__)
p.close()
`

// TestACLKafkaPython: kafka-python lists only the topics its user may
// describe, and a write without WRITE fails with
// TopicAuthorizationFailedError until an ACL allows it. (kafka-python
// 2.0's producer retries Metadata of a topic it may not describe until it
// times out, against Kafka too, so its topic is describable.)
func TestACLKafkaPython(t *testing.T) {
	requirePython(t, "kafka")
	a := startACL(t)
	topic, hidden := a.topic(t, 1), a.topic(t, 1)
	a.grant(t, kadm.NewACLs().Allow(principal(aclBob)).Topics(topic).Operations(kadm.OpDescribe))
	conf := map[string]any{"bootstrap_servers": a.sasl, "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
		"sasl_plain_username": aclBob, "sasl_plain_password": aclPass(aclBob)}
	run := func() []string {
		return strings.Split(strings.TrimSpace(runCmd(t, jsonString(t, map[string]any{"conf": conf, "topics": []string{topic, hidden}}), systemPython, "-c", kafkaPythonACLScript)), "\n")
	}
	got := run()
	if len(got) != 2 || got[0] != topic || got[1] != "TopicAuthorizationFailedError" {
		t.Errorf("kafka-python without WRITE: %q, want [%s TopicAuthorizationFailedError]", got, topic)
	}
	a.grant(t, kadm.NewACLs().Allow(principal(aclBob)).Topics(topic).Operations(kadm.OpWrite))
	if got := run(); len(got) != 2 || got[1] != "OK" {
		t.Errorf("kafka-python with WRITE: %q", got)
	}
}

// TestACLKafkaTools: kafka-topics.sh through --command-config lists only
// what its user may describe and is refused creation without CREATE.
func TestACLKafkaTools(t *testing.T) {
	dir := os.Getenv("KAFKA_TOOLS_DIR")
	if dir == "" {
		t.Skip("KAFKA_TOOLS_DIR not set: point it at the bin directory of an Apache Kafka distribution to run Kafka's own tools")
	}
	a := startACL(t)
	k := &kafkaTools{dir: dir, addr: a.sasl}
	props := filepath.Join(t.TempDir(), "alice.properties")
	content := "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n" +
		`sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="` + aclAlice + `" password="` + aclPass(aclAlice) + `";` + "\n"
	if err := os.WriteFile(props, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	visible, hidden := a.topic(t, 1), a.topic(t, 1)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(visible).Operations(kadm.OpDescribe))
	listed := toolLines(k.run(t, "", "kafka-topics.sh", "--bootstrap-server", k.addr, "--command-config", props, "--list"))
	if !containsLine(listed, visible) || containsLine(listed, hidden) {
		t.Errorf("kafka-topics --list as alice: %q", listed)
	}
	name := randomName("acl-tools")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "kafka-topics.sh"), "--bootstrap-server", k.addr, "--command-config", props,
		"--create", "--topic", name, "--partitions", "1", "--replication-factor", "1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err == nil || !strings.Contains(out.String(), "TopicAuthorizationException") {
		t.Errorf("kafka-topics --create without CREATE: %v\n%s", err, ccTail(out.String()))
	}
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(name).Operations(kadm.OpCreate))
	k.run(t, "", "kafka-topics.sh", "--bootstrap-server", k.addr, "--command-config", props, "--create", "--topic", name, "--partitions", "1", "--replication-factor", "1")
}
