package integration

// Apache Kafka's own verifiable producer through a rolling restart: one
// with the Java producer's defaults (idempotent, retries; the tool itself
// sets retries=0) must see no send fail, one as the tool runs by default,
// without retries, tells how many sends a client that never retries sees
// fail (a request on a partition whose leadership just moved is answered
// NOT_LEADER_OR_FOLLOWER, as in Kafka); for both, every send reported
// acknowledged is stored at its offset exactly once. Runs when KAFKA_TOOLS_DIR names the bin directory of a
// Kafka distribution (make test sets it).

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// verifiable is a running kafka-verifiable-producer.sh, its sends folded
// into a workload for the history checker.
type verifiable struct {
	w    *workload
	cmd  *exec.Cmd
	done chan struct{}
	// guarded by w.mu:
	exceptions map[string]int
}

func startVerifiable(t *testing.T, c *cluster, tools, topic string, props map[string]string) *verifiable {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "producer.properties")
	var lines []string
	for k, v := range props {
		lines = append(lines, k+"="+v)
	}
	if err := os.WriteFile(cfg, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(tools, "kafka-verifiable-producer.sh"), "--bootstrap-server", strings.Join(c.seeds(), ","),
		"--topic", topic, "--throughput", "300", "--max-messages", "-1", "--acks", "-1", "--producer.config", cfg)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = nil
	v := &verifiable{w: &workload{t: t, topic: topic, acked: map[string]ack{}, errs: map[string]int{}}, cmd: cmd, done: make(chan struct{}), exceptions: map[string]int{}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-v.done
	})
	go func() {
		defer close(v.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev struct {
				Name      string `json:"name"`
				Value     string `json:"value"`
				Partition int32  `json:"partition"`
				Offset    int64  `json:"offset"`
				Exception string `json:"exception"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			v.w.mu.Lock()
			switch ev.Name {
			case "producer_send_success":
				v.w.acked[ev.Value] = ack{ev.Partition, ev.Offset}
			case "producer_send_error":
				v.w.failed++
				v.exceptions[ev.Exception]++
			}
			v.w.mu.Unlock()
		}
		cmd.Wait()
	}()
	return v
}

// stop ends the producer with SIGTERM (it then reports what it had in
// flight) and waits for it.
func (v *verifiable) stop(t *testing.T) {
	v.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-v.done:
	case <-time.After(30 * time.Second):
		t.Errorf("kafka-verifiable-producer did not stop within 30 s of SIGTERM")
		v.cmd.Process.Kill()
		<-v.done
	}
}

func TestRollingRestartVerifiableProducers(t *testing.T) {
	tools := os.Getenv("KAFKA_TOOLS_DIR")
	if tools == "" {
		t.Skip("KAFKA_TOOLS_DIR is not set (the bin directory of a Kafka distribution)")
	}
	if _, err := os.Stat(filepath.Join(tools, "kafka-verifiable-producer.sh")); err != nil {
		t.Skipf("KAFKA_TOOLS_DIR=%s has no kafka-verifiable-producer.sh", tools)
	}
	c := startCluster(t, 3, nil)
	const partitions = 6
	for _, topic := range []string{"vp-defaults", "vp-no-retries"} {
		c.createTopic(topic, partitions, 3, map[string]*string{"min.insync.replicas": strp("2")})
	}
	withRetries := startVerifiable(t, c, tools, "vp-defaults", map[string]string{"retries": "2147483647", "enable.idempotence": "true"})
	noRetries := startVerifiable(t, c, tools, "vp-no-retries", map[string]string{"retries": "0", "enable.idempotence": "false"})
	both := func(n int, what string) {
		withRetries.w.awaitMore(n, 60*time.Second)
		noRetries.w.awaitMore(n, 60*time.Second)
	}
	both(300, "the producers to start")
	for _, id := range []int32{1, 2, 3} {
		c.brokers[id].Stop()
		both(150, fmt.Sprintf("acknowledgements with broker %d down", id))
		c.brokers[id].Restart()
		for _, topic := range []string{"vp-defaults", "vp-no-retries"} {
			c.awaitISR(topic, 3, 60*time.Second)
		}
		t.Logf("broker %d restarted and back in every ISR", id)
	}
	both(150, "acknowledgements after the rolling restart")
	var wg sync.WaitGroup
	for _, v := range []*verifiable{withRetries, noRetries} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.stop(t)
		}()
	}
	wg.Wait()
	for _, v := range []*verifiable{withRetries, noRetries} {
		checkHistory(t, c, v.w, partitions)
		t.Logf("%s: %d acknowledged, %d failed %v", v.w.topic, len(v.w.acked), v.w.failed, v.exceptions)
	}
	if withRetries.w.failed > 0 {
		t.Errorf("the verifiable producer with its default retries saw %d sends fail: %v", withRetries.w.failed, withRetries.exceptions)
	}
}
