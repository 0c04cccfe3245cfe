package integration

// Several brokers on one host, as Kafka's quickstart runs them: a copy of
// server.properties per broker that changes broker.id, listeners and
// log.dirs, and names the ZooKeeper, started as `gregor file.properties`.
// Only Kafka's keys are set: nothing of Gregor's own, so the defaults
// of Gregor's keys must leave room for a second and third broker on the
// host (the metrics endpoint's default port is taken by the first).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/internal/brokertest"
	"gregor/internal/zktest"
)

// propsBroker is a broker process started from a properties file.
type propsBroker struct {
	id   int
	addr string
	cmd  *exec.Cmd
	done chan struct{}
	logs *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startFromProperties writes a Kafka-style server.properties for broker
// id (Kafka's keys only) and runs `gregor <file>` until the test ends.
func startFromProperties(t *testing.T, id int, zkConnect string) *propsBroker {
	t.Helper()
	dir := t.TempDir()
	port := brokertest.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	props := fmt.Sprintf(`# A copy of Kafka's config/server.properties for broker %d
broker.id=%d
listeners=PLAINTEXT://%s
log.dirs=%s
zookeeper.connect=%s
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
`, id, id, addr, filepath.Join(dir, "kafka-logs"), zkConnect)
	file := filepath.Join(dir, "server-"+strconv.Itoa(id)+".properties")
	if err := os.WriteFile(file, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &propsBroker{id: id, addr: addr, done: make(chan struct{}), logs: &lockedBuffer{}}
	b.cmd = exec.Command(brokertest.Binary(t), file)
	b.cmd.Dir = dir
	b.cmd.Stdout, b.cmd.Stderr = b.logs, b.logs
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("starting broker %d: %v", id, err)
	}
	go func() {
		b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		b.cmd.Process.Kill()
		<-b.done
		if t.Failed() {
			t.Logf("broker %d log:\n%s", id, tailString(b.logs.String(), 8<<10))
		}
	})
	if err := brokertest.WaitReady(addr, 30*time.Second, b.done); err != nil {
		t.Fatalf("broker %d (%s) from %s did not serve: %v\nlog:\n%s", id, addr, file, err, tailString(b.logs.String(), 8<<10))
	}
	return b
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// metricsAddr is the address the broker logged its metrics endpoint on.
func (b *propsBroker) metricsAddr() string {
	for _, line := range strings.Split(b.logs.String(), "\n") {
		var l struct {
			Message string `json:"message"`
			Addr    string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Message == "metrics endpoint listening" {
			return l.Addr
		}
	}
	return ""
}

func TestSeveralBrokersOnOneHostFromKafkaProperties(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ZooKeeper and brokers")
	}
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d brokers", n), func(t *testing.T) {
			zk := zktest.Start(t)
			connect := zk.Addr + "/quickstart-" + strconv.Itoa(n)
			var brokers []*propsBroker
			var seeds []string
			for id := range n {
				b := startFromProperties(t, id, connect)
				brokers = append(brokers, b)
				seeds = append(seeds, b.addr)
			}
			// Each serves its own metrics, on distinct addresses.
			seen := map[string]int{}
			for _, b := range brokers {
				var addr string
				waitFor(t, fmt.Sprintf("broker %d to log its metrics address", b.id), 10*time.Second, func() bool {
					addr = b.metricsAddr()
					return addr != ""
				})
				if other, dup := seen[addr]; dup {
					t.Fatalf("brokers %d and %d both report metrics on %s", other, b.id, addr)
				}
				seen[addr] = b.id
				resp, err := http.Get("http://" + addr + "/metrics")
				if err != nil {
					t.Fatalf("broker %d metrics on %s: %v", b.id, addr, err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("broker %d metrics on %s: %s", b.id, addr, resp.Status)
				}
			}
			checkClusterServes(t, seeds, n)
		})
	}
}

// checkClusterServes: metadata lists every broker, and a topic replicated
// on all of them takes and gives records.
func checkClusterServes(t *testing.T, seeds []string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	waitFor(t, fmt.Sprintf("%d brokers in metadata", n), 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m, err := adm.Metadata(ctx)
		return err == nil && len(m.Brokers) == n
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topic := fmt.Sprintf("quickstart-events-%d", n)
	if _, err := adm.CreateTopic(ctx, int32(n), int16(n), nil, topic); err != nil {
		t.Fatalf("creating %s with %d replicas: %v", topic, n, err)
	}
	p, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var recs []*kgo.Record
	for i := range 30 {
		recs = append(recs, &kgo.Record{Value: []byte(strconv.Itoa(i))})
	}
	if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing to %s: %v", topic, err)
	}
	c, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := 0
	for got < len(recs) {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming %s: %d of %d records before %v", topic, got, len(recs), ctx.Err())
		}
		got += fs.NumRecords()
	}
}
