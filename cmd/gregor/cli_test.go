package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, _ := runCLI(args...)
		if code != 0 || !strings.HasPrefix(out, "gregor ") || !strings.Contains(out, runtime.Version()) || !strings.Contains(out, "commit ") {
			t.Errorf("gregor %v: exit %d, %q", args, code, out)
		}
	}
}

func TestHelp(t *testing.T) {
	code, out, _ := runCLI("--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"--config server.properties", "--set key=value", "gregor server.properties", "check-config", "dump-log", "README.md", "-version"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q:\n%s", want, out)
		}
	}
	if code, _, errOut := runCLI("--no-such-flag"); code != 2 || !strings.Contains(errOut, "no-such-flag") {
		t.Errorf("a bad flag: exit %d, %q", code, errOut)
	}
}

func logTo(b *bytes.Buffer, level, format string) *zerolog.Event {
	l := newLogger(b, level, format)
	return l.Info()
}

func TestLogFormat(t *testing.T) {
	var b bytes.Buffer
	logTo(&b, "info", "json").Str("k", "v").Msg("hello")
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil || m["message"] != "hello" || m["k"] != "v" {
		t.Errorf("json format wrote %q (%v)", b.String(), err)
	}
	b.Reset()
	logTo(&b, "info", "auto").Msg("hello")
	if json.Unmarshal(b.Bytes(), &m) != nil {
		t.Errorf("auto on a writer that is not a terminal wrote %q, not JSON", b.String())
	}
	b.Reset()
	logTo(&b, "info", "text").Str("k", "v").Msg("hello")
	if s := b.String(); json.Valid(b.Bytes()) || !strings.Contains(s, "INF") || !strings.Contains(s, "hello") || !strings.Contains(s, "k=v") {
		t.Errorf("text format wrote %q", s)
	}
	b.Reset()
	logTo(&b, "warn", "json").Msg("hidden")
	if b.Len() != 0 {
		t.Errorf("level warn wrote an info line: %q", b.String())
	}
}

// TestCheckConfigReportsEverything: one run names every problem: unknown
// keys (warnings), invalid values, and settings only start-up would
// refuse (a SASL listener with GSSAPI, Kafka's default mechanism).
func TestCheckConfigReportsEverything(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "server.properties")
	props := `# a broken config
broker.id=1
listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9093
log.dirs=` + dir + `
num.partitions=0
log.retention.hours=forever
no.such.key=1
another.unknown=2
`
	if err := os.WriteFile(path, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI("check-config", path)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{"no.such.key", "another.unknown", "num.partitions", "log.retention.hours", "2 warnings"} {
		if !strings.Contains(out, want) {
			t.Errorf("check-config does not mention %q:\n%s", want, out)
		}
	}
	// Fixing the values leaves what only start-up finds.
	fixed := strings.NewReplacer("num.partitions=0", "num.partitions=3", "log.retention.hours=forever", "log.retention.hours=24").Replace(props)
	os.WriteFile(path, []byte(fixed), 0o644)
	code, out, _ = runCLI("check-config", path)
	if code != 1 || !strings.Contains(out, "GSSAPI") {
		t.Errorf("a SASL listener with GSSAPI: exit %d:\n%s", code, out)
	}
	good := strings.Replace(fixed, ",SASL_PLAINTEXT://127.0.0.1:9093", "", 1)
	os.WriteFile(path, []byte(good), 0o644)
	code, out, _ = runCLI("check-config", path, "--set", "gregor.log.level=debug")
	if code != 0 || !strings.Contains(out, "OK (2 warnings)") {
		t.Errorf("a good config: exit %d:\n%s", code, out)
	}
	// A key Kafka 4.0 removed is named with what replaces it.
	code, out, _ = runCLI("check-config", path, "--set", "delegation.token.master.key=s3cret")
	if code != 0 || !strings.Contains(out, "delegation.token.master.key: removed in Kafka 4.0, ignored (use delegation.token.secret.key)") {
		t.Errorf("a key Kafka 4.0 removed: exit %d:\n%s", code, out)
	}
	if code, out, _ := runCLI("check-config", filepath.Join(dir, "missing.properties")); code != 1 || !strings.Contains(out, "missing.properties") {
		t.Errorf("a missing file: exit %d: %s", code, out)
	}
}

// TestDumpLogOfARealSegment: dump-log prints what a real broker wrote:
// every batch with its offsets and every record's key, value and headers,
// in kafka-dump-log.sh's format.
func TestDumpLogOfARealSegment(t *testing.T) {
	b := brokertest.Start(t, brokertest.Options{})
	const topic = "dumped"
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var produced []*kgo.Record
	for i := 0; i < 5; i++ {
		r := &kgo.Record{Key: []byte("key-" + strconv.Itoa(i)), Value: []byte("value-" + strconv.Itoa(i)), Headers: []kgo.RecordHeader{{Key: "h" + strconv.Itoa(i), Value: []byte("x")}}}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		produced = append(produced, r)
	}
	cl.Close()
	b.Stop()
	segment := filepath.Join(b.Dir, "data", topic+"-0", "00000000000000000000.log")
	code, out, errOut := runCLI("dump-log", "--print-data-log", "--files", segment)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.HasPrefix(out, "Dumping "+segment+"\nLog starting offset: 0\n") {
		t.Errorf("dump starts %q", out[:min(len(out), 200)])
	}
	batch := regexp.MustCompile(`(?m)^baseOffset: (\d+) lastOffset: (\d+) count: (\d+) .* producerId: (-?\d+) .* isvalid: true$`)
	if n := len(batch.FindAllString(out, -1)); n != 5 {
		t.Errorf("%d valid batches dumped, want 5:\n%s", n, out)
	}
	rec := regexp.MustCompile(`(?m)^\| offset: (\d+) CreateTime: (\d+) keySize: (\d+) valueSize: (\d+) sequence: (-?\d+) headerKeys: \[(.*)\] key: (\S+) payload: (\S+)$`)
	got := rec.FindAllStringSubmatch(out, -1)
	if len(got) != len(produced) {
		t.Fatalf("%d records dumped, want %d:\n%s", len(got), len(produced), out)
	}
	for i, m := range got {
		p := produced[i]
		if m[1] != strconv.FormatInt(p.Offset, 10) || m[2] != strconv.FormatInt(p.Timestamp.UnixMilli(), 10) || m[7] != string(p.Key) || m[8] != string(p.Value) || m[6] != p.Headers[0].Key || m[3] != strconv.Itoa(len(p.Key)) {
			t.Errorf("record %d dumped as %q; produced offset %d at %d, key %s, value %s, header %s", i, m[0], p.Offset, p.Timestamp.UnixMilli(), p.Key, p.Value, p.Headers[0].Key)
		}
	}
	// The segment may come first, as a plain argument.
	if _, out2, _ := runCLI("dump-log", segment, "--print-data-log"); out2 != out {
		t.Errorf("dump-log SEGMENT --print-data-log differs from --print-data-log --files SEGMENT:\n%s", out2)
	}
	// Without --print-data-log only the batches; the indexes dump too.
	_, out, _ = runCLI("dump-log", "--files", segment)
	if strings.Contains(out, "| offset:") || len(batch.FindAllString(out, -1)) != 5 {
		t.Errorf("without --print-data-log:\n%s", out)
	}
	code, out, _ = runCLI("dump-log", "--files", strings.TrimSuffix(segment, ".log")+".timeindex")
	if code != 0 || !strings.HasPrefix(out, "Dumping ") {
		t.Errorf("time index: exit %d\n%s", code, out)
	}
}

// TestDumpLogTornTail: bytes after the last whole batch are reported, not
// decoded.
func TestDumpLogTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "00000000000000000042.log")
	os.WriteFile(path, []byte{0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 1, 0, 9, 9}, 0o644)
	code, out, _ := runCLI("dump-log", "--files", path)
	if code != 0 || !strings.Contains(out, "Log starting offset: 42") || !strings.Contains(out, "Found 14 invalid bytes at the end of") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// A Kafka 4 KRaft file names the broker by node.id alone: Gregor takes it
// as broker.id, Kafka's synonym (it started as broker 0 and wrote that id
// into meta.properties for good). A combined broker and controller whose
// quorum is itself (Kafka 4's quickstart) runs as a single broker.
func TestKRaftQuickstartFileRunsAsOneBroker(t *testing.T) {
	port, ctrl := brokertest.FreePort(t), brokertest.FreePort(t)
	b := brokertest.Start(t, brokertest.Options{Port: port, Set: map[string]string{
		"process.roles":                       "broker,controller",
		"node.id":                             "3",
		"controller.listener.names":           "CONTROLLER",
		"controller.quorum.bootstrap.servers": "localhost:" + strconv.Itoa(ctrl),
		"listeners":                           "PLAINTEXT://127.0.0.1:" + strconv.Itoa(port) + ",CONTROLLER://127.0.0.1:" + strconv.Itoa(ctrl),
		"listener.security.protocol.map":      "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"advertised.listeners":                "PLAINTEXT://127.0.0.1:" + strconv.Itoa(port),
	}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 3 || resp.ControllerID != 3 {
		t.Fatalf("Metadata names brokers %+v and controller %d; want broker 3 alone, its own controller", resp.Brokers, resp.ControllerID)
	}
}

// Kafka's KRaft files that need other KRaft nodes are refused, saying
// what to do instead, rather than started as unrelated single-broker
// clusters; check-config says so, and lists the keys that have no effect
// as start-up warns of them.
func TestCheckConfigKRaftFiles(t *testing.T) {
	dir := t.TempDir()
	base := "log.dirs=" + dir + "\nlistener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\ncontroller.listener.names=CONTROLLER\nnum.io.threads=8\n"
	for _, c := range []struct {
		name, props string
		code        int
		want        string
	}{
		{"quickstart", "process.roles=broker,controller\nnode.id=1\nlisteners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\ncontroller.quorum.bootstrap.servers=localhost:9093\n",
			0, "num.io.threads: accepted but has no effect in Gregor"},
		{"voters of itself", "process.roles=broker,controller\nnode.id=1\nlisteners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\ncontroller.quorum.voters=1@localhost:9093\n",
			0, "OK"},
		{"broker", "process.roles=broker\nnode.id=2\nlisteners=PLAINTEXT://127.0.0.1:9092\ncontroller.quorum.bootstrap.servers=localhost:9093\n",
			1, "process.roles=broker: a KRaft broker needs KRaft controllers"},
		{"controller", "process.roles=controller\nnode.id=1\nlisteners=CONTROLLER://127.0.0.1:9093\ncontroller.quorum.bootstrap.servers=localhost:9093\n",
			1, "process.roles=controller: Gregor has no KRaft controllers"},
		{"three voters", "process.roles=broker,controller\nnode.id=1\nlisteners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\ncontroller.quorum.voters=1@h1:9093,2@h2:9093,3@h3:9093\n",
			1, "name other KRaft nodes (2@h2:9093, 3@h3:9093)"},
		{"node.id against broker.id", "node.id=1\nbroker.id=2\nlisteners=PLAINTEXT://127.0.0.1:9092\n",
			1, "You must set `node.id` to the same value as `broker.id`."},
	} {
		path := filepath.Join(dir, "server.properties")
		if err := os.WriteFile(path, []byte(base+c.props), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, _ := runCLI("check-config", path)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, want %d and %q:\n%s", c.name, code, c.code, c.want, out)
		}
	}
	// --override, as kafka-server-start.sh takes it, is --set.
	path := filepath.Join(dir, "server.properties")
	os.WriteFile(path, []byte("log.dirs="+dir+"\n"), 0o644)
	if code, out, _ := runCLI("check-config", path, "--override", "num.partitions=0"); code != 1 || !strings.Contains(out, "num.partitions") {
		t.Errorf("--override num.partitions=0: exit %d:\n%s", code, out)
	}
}

// After kill -9 the broker says, as Kafka's LogManager does, that it
// recovers the logs of a dir without a clean shutdown file, and how many
// logs it loaded in how long; after a clean stop it recovers nothing.
func TestStartUpReportsRecovery(t *testing.T) {
	b := brokertest.Start(t, brokertest.Options{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "recovered", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	data := filepath.Join(b.Dir, "data")
	b.Restart() // kill -9, then start
	logs := b.Logs(1 << 20)
	after := logs[strings.LastIndex(logs, `"starting gregor"`):]
	if !strings.Contains(after, "recovering 1 logs from "+data+", as no clean shutdown file was found") {
		t.Errorf("the start after kill -9 does not say it recovers the dir's log:\n%s", after)
	}
	if !regexp.MustCompile(`loaded 1 logs in \d+ ms`).MatchString(after) || !strings.Contains(after, `"unclean_dirs":["`+data+`"]`) {
		t.Errorf("the start after kill -9 does not report the logs loaded and the unclean dir:\n%s", after)
	}
	b.Stop()
	b.Restart() // already stopped: only starts
	logs = b.Logs(1 << 20)
	after = logs[strings.LastIndex(logs, `"starting gregor"`):]
	if strings.Contains(after, "recovering") || !strings.Contains(after, "loaded 1 logs in") {
		t.Errorf("the start after a clean stop:\n%s", after)
	}
}

// With no ZooKeeper at zookeeper.connect, start-up gives up after
// zookeeper.connection.timeout.ms (ignored before: always 30 s or more,
// in silence), saying what it waited for.
func TestNoZooKeeperGivesUpAfterConnectionTimeout(t *testing.T) {
	b := brokertest.Start(t, brokertest.Options{})
	b.Stop()
	closed := brokertest.FreePort(t)
	began := time.Now()
	code, logs := b.Refused(map[string]string{
		"zookeeper.connect":               "127.0.0.1:" + strconv.Itoa(closed),
		"zookeeper.connection.timeout.ms": "1500",
		"log.dirs":                        filepath.Join(t.TempDir(), "data"),
	}, 20*time.Second)
	took := time.Since(began)
	if code == 0 || took > 10*time.Second {
		t.Fatalf("exit %d after %v, want a failure within about 1.5 s", code, took)
	}
	if !strings.Contains(logs, "no ZooKeeper session with 127.0.0.1:"+strconv.Itoa(closed)+" within 1.5s (zookeeper.connection.timeout.ms)") {
		t.Errorf("the failure does not say what it waited for:\n%s", logs)
	}
}
