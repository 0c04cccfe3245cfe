package integration

// Apache Kafka's consumer system tests (tests/kafkatest/tests/client/
// consumer_test.py) against a three-broker cluster, with Kafka's own
// kafka-verifiable-consumer.sh, for both group protocols (classic and
// consumer, KIP-848): brokers bounced under consumers, consumers bounced
// cleanly and hard, static members bounced. What they assert, as
// verifiable_consumer.py's event handler checks it: records consumed only
// from assigned partitions, each fetch starting where the last one ended
// (no gap, at least once), commits never past the position, and in the end
// every produced record consumed, every partition assigned to exactly one
// member and its committed offset at the log end. Runs when KAFKA_TOOLS_DIR
// names the bin directory of a Kafka distribution (make test sets it).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// vcPartition is a topic-partition as the verifiable consumer prints it.
type vcPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// vconsumer is a running kafka-verifiable-consumer.sh and what its events
// told, checked as Kafka's ConsumerEventHandler checks them.
type vconsumer struct {
	name  string
	args  []string
	tools string
	t     *testing.T
	log   *consumeLog

	mu         sync.Mutex
	cmd        *exec.Cmd
	done       chan struct{}
	joined     bool
	assignment map[int32]bool
	position   map[int32]int64
	committed  map[int32]int64
	assigned   int // partitions_assigned events
	revoked    int // partitions_revoked events
	consumed   int64
	stderr     strings.Builder
}

// consumeLog is what every consumer of the group consumed and committed.
type consumeLog struct {
	group     string
	mu        sync.Mutex
	consumed  map[int32][][2]int64 // [min, max] ranges
	committed map[int32]int64      // the highest commit seen
	violation []string
}

func (l *consumeLog) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.violation) < 20 {
		l.violation = append(l.violation, fmt.Sprintf(format, args...))
	}
}

func startVConsumer(t *testing.T, c *cluster, tools, name, topic, group, protocol, instance string, sessionMs int, log *consumeLog, extra ...string) *vconsumer {
	t.Helper()
	args := []string{"--bootstrap-server", strings.Join(c.seeds(), ","), "--topic", topic, "--group-id", group,
		"--group-protocol", protocol, "--reset-policy", "earliest"}
	if protocol == "classic" {
		args = append(args, "--session-timeout", fmt.Sprint(sessionMs))
	}
	if instance != "" {
		args = append(args, "--group-instance-id", instance)
	}
	args = append(args, extra...)
	v := &vconsumer{name: name, args: args, tools: tools, t: t, log: log}
	v.start()
	t.Cleanup(func() { v.kill() })
	return v
}

func (v *vconsumer) start() {
	v.t.Helper()
	cfg := filepath.Join(v.t.TempDir(), "consumer.properties")
	// The system tests' consumers run with small timeouts so a bounce shows.
	os.WriteFile(cfg, []byte("metadata.max.age.ms=1000\nretry.backoff.ms=100\n"), 0o644)
	cmd := exec.Command(filepath.Join(v.tools, "kafka-verifiable-consumer.sh"), append(v.args, "--consumer.config", cfg)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		v.t.Fatal(err)
	}
	v.mu.Lock()
	v.stderr.Reset()
	cmd.Stderr = &lockedWriter{mu: &v.mu, b: &v.stderr}
	v.cmd = cmd
	v.done = make(chan struct{})
	v.joined = false
	v.assignment = map[int32]bool{}
	v.position = map[int32]int64{}
	v.committed = map[int32]int64{}
	done := v.done
	v.mu.Unlock()
	if err := cmd.Start(); err != nil {
		v.t.Fatal(err)
	}
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			v.event(sc.Bytes())
		}
		cmd.Wait()
	}()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() < 1<<16 {
		w.b.Write(p)
	}
	return len(p), nil
}

// event folds one JSON line of the consumer's into its state.
func (v *vconsumer) event(line []byte) {
	var ev struct {
		Name       string `json:"name"`
		Partitions []struct {
			vcPartition
			Count     int64 `json:"count"`
			MinOffset int64 `json:"minOffset"`
			MaxOffset int64 `json:"maxOffset"`
		} `json:"partitions"`
		Offsets []struct {
			vcPartition
			Offset int64  `json:"offset"`
			Error  string `json:"error"`
		} `json:"offsets"`
		Success bool   `json:"success"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(line, &ev) != nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch ev.Name {
	case "partitions_assigned":
		v.assigned++
		v.joined = true
		for _, p := range ev.Partitions {
			v.assignment[p.Partition] = true
		}
	case "partitions_revoked":
		v.revoked++
		v.position = map[int32]int64{}
		for _, p := range ev.Partitions {
			delete(v.assignment, p.Partition)
		}
	case "records_consumed":
		for _, p := range ev.Partitions {
			if !v.assignment[p.Partition] {
				v.log.fail("%s consumed partition %d which is not assigned to it (%v)", v.name, p.Partition, v.assignment)
			}
			if pos, ok := v.position[p.Partition]; ok && pos != p.MinOffset {
				v.log.fail("%s consumed partition %d from offset %d, its position was %d", v.name, p.Partition, p.MinOffset, pos)
			}
			v.position[p.Partition] = p.MaxOffset + 1
			v.consumed += p.Count
			v.log.mu.Lock()
			v.log.consumed[p.Partition] = append(v.log.consumed[p.Partition], [2]int64{p.MinOffset, p.MaxOffset})
			v.log.mu.Unlock()
		}
	case "offsets_committed":
		if !ev.Success {
			return
		}
		for _, o := range ev.Offsets {
			if o.Error != "" {
				continue
			}
			if pos, ok := v.position[o.Partition]; !ok || o.Offset > pos {
				v.log.fail("%s committed %d on partition %d past its position %d (known %v)", v.name, o.Offset, o.Partition, pos, ok)
			}
			v.committed[o.Partition] = o.Offset
			v.log.mu.Lock()
			if prev, ok := v.log.committed[o.Partition]; ok && o.Offset < prev && len(v.log.violation) < 20 {
				v.log.violation = append(v.log.violation, fmt.Sprintf("%s committed %d on partition %d, below the group's earlier commit %d", v.name, o.Offset, o.Partition, prev))
			}
			if o.Offset > v.log.committed[o.Partition] {
				v.log.committed[o.Partition] = o.Offset
			}
			v.log.mu.Unlock()
		}
	case "shutdown_complete":
		v.joined = false
	}
}

// stop ends the consumer: cleanly with SIGTERM (it leaves its group), or
// hard with SIGKILL.
func (v *vconsumer) stop(clean bool) {
	v.t.Helper()
	v.mu.Lock()
	cmd, done := v.cmd, v.done
	v.mu.Unlock()
	if clean {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
			return
		case <-time.After(30 * time.Second):
			v.t.Errorf("%s did not stop within 30 s of SIGTERM", v.name)
		}
	}
	cmd.Process.Kill()
	<-done
}

func (v *vconsumer) kill() {
	v.mu.Lock()
	cmd, done := v.cmd, v.done
	v.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		cmd.Process.Kill()
		<-done
	}
}

func (v *vconsumer) snapshot() (assignment []int32, assigned int, running bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for p := range v.assignment {
		assignment = append(assignment, p)
	}
	sort.Slice(assignment, func(i, j int) bool { return assignment[i] < assignment[j] })
	select {
	case <-v.done:
	default:
		running = true
	}
	return assignment, v.assigned, running
}

// rateProducer produces to topic with acks=all at about rate records a
// second until stopped, counting acknowledgements.
type rateProducer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	mu     sync.Mutex
	acked  int
}

func startRateProducer(t *testing.T, c *cluster, topic string, rate int) *rateProducer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond), kgo.MetadataMinAge(200*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &rateProducer{cl: cl, cancel: cancel}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for n := 0; n < rate/100; n++ {
				i++
				v := []byte(fmt.Sprintf("r%d", i))
				cl.Produce(context.Background(), &kgo.Record{Key: v, Value: v}, func(_ *kgo.Record, err error) {
					if err == nil {
						p.mu.Lock()
						p.acked++
						p.mu.Unlock()
					}
				})
			}
		}
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *rateProducer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked
}

func (p *rateProducer) awaitMore(t *testing.T, n int, bound time.Duration, what string) {
	t.Helper()
	target := p.count() + n
	waitFor(t, fmt.Sprintf("%d acknowledged records %s (have %d)", target, what, p.count()), bound, func() bool { return p.count() >= target })
}

func (p *rateProducer) stop() {
	p.once.Do(p.stopOnce)
}

func (p *rateProducer) stopOnce() {
	p.cancel()
	p.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.cl.Flush(ctx)
	p.cl.Close()
}

// awaitStableAssignment waits until the running consumers hold every
// partition exactly once between them, as consumer_test.py's
// await_all_members and valid_assignment check.
func awaitStableAssignment(t *testing.T, cs []*vconsumer, partitions int32, bound time.Duration, what string) {
	t.Helper()
	var last string
	var since time.Time
	var sinceCounts string
	ok := pollFor(bound, func() bool {
		if !assignedOnce(cs, partitions, &last) {
			since = time.Time{}
			return false
		}
		// Stable: the same rebalance counts for 3 s.
		if counts := rebalances(cs); since.IsZero() || counts != sinceCounts {
			since, sinceCounts = time.Now(), counts
		}
		return time.Since(since) >= 3*time.Second
	})
	if !ok {
		var errs []string
		for _, c := range cs {
			c.mu.Lock()
			errs = append(errs, c.name+": "+tail(c.stderr.String(), 1500))
			c.mu.Unlock()
		}
		t.Fatalf("%s: the consumers did not hold every one of %d partitions exactly once, steadily for 3 s, within %v; last %s\n%s", what, partitions, bound, last, strings.Join(errs, "\n"))
	}
}

// assignedOnce tells whether the running consumers, each with a
// partition, hold every partition exactly once between them.
func assignedOnce(cs []*vconsumer, partitions int32, last *string) bool {
	{
		owner := map[int32][]string{}
		var desc []string
		for _, c := range cs {
			a, _, running := c.snapshot()
			if !running {
				continue
			}
			desc = append(desc, fmt.Sprintf("%s=%v", c.name, a))
			for _, p := range a {
				owner[p] = append(owner[p], c.name)
			}
		}
		*last = strings.Join(desc, " ")
		if len(owner) > 0 && len(desc) > 0 {
			for _, c := range cs {
				if a, _, running := c.snapshot(); running && len(a) == 0 {
					return false // not yet joined: each member gets a partition
				}
			}
		}
		for p := int32(0); p < partitions; p++ {
			if len(owner[p]) != 1 {
				return false
			}
		}
		return len(owner) == int(partitions)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func pollFor(bound time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// finishConsume stops the producer, waits until the group consumed and
// committed every partition to its log end, and checks what the consumers
// saw: no violation, no gap in any partition.
func finishConsume(t *testing.T, c *cluster, p *rateProducer, log *consumeLog, topic string, partitions int32) {
	t.Helper()
	p.stop()
	adm, done := c.admin()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	ends, err := adm.ListEndOffsets(ctx, topic)
	cancel()
	if err != nil || ends.Error() != nil {
		t.Fatalf("list end offsets: %v %v", err, ends.Error())
	}
	end := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
	var last string
	ok := pollFor(45*time.Second, func() bool {
		// The coordinator's view (auto-commit prints no commit events).
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		offs, err := adm.FetchOffsets(ctx, log.group)
		if err != nil {
			last = err.Error()
			return false
		}
		for p := int32(0); p < partitions; p++ {
			o, _ := offs.Lookup(topic, p)
			if o.At < end[p] {
				last = fmt.Sprintf("partition %d committed %d of log end %d", p, o.At, end[p])
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("the group did not commit every partition to its log end within 45 s: %s", last)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for _, v := range log.violation {
		t.Error(v)
	}
	var total int64
	for p := int32(0); p < partitions; p++ {
		rs := append([][2]int64(nil), log.consumed[p]...)
		sort.Slice(rs, func(i, j int) bool { return rs[i][0] < rs[j][0] })
		var next int64
		for _, r := range rs {
			if r[0] > next {
				t.Errorf("partition %d: offsets %d to %d were never consumed", p, next, r[0]-1)
			}
			next = max(next, r[1]+1)
		}
		if next < end[p] {
			t.Errorf("partition %d: consumed up to %d, log end %d", p, next, end[p])
		}
		total += end[p]
	}
	if acked := p.count(); int64(acked) > total {
		t.Errorf("%d records acknowledged, the partitions hold %d", acked, total)
	}
	t.Logf("%d records produced, %d acknowledged, every one consumed and committed", total, p.count())
}

// consumerSystest is a cluster, a topic, a producer and n verifiable
// consumers of one group with the given protocol.
func consumerSystest(t *testing.T, protocol string, n int, static bool, sessionMs int, extra ...string) (*cluster, *rateProducer, *consumeLog, []*vconsumer) {
	t.Helper()
	tools := os.Getenv("KAFKA_TOOLS_DIR")
	if tools == "" {
		t.Skip("KAFKA_TOOLS_DIR is not set (the bin directory of a Kafka distribution)")
	}
	if _, err := os.Stat(filepath.Join(tools, "kafka-verifiable-consumer.sh")); err != nil {
		t.Skipf("KAFKA_TOOLS_DIR=%s has no kafka-verifiable-consumer.sh", tools)
	}
	// The consumer protocol's session is the broker's (45 s by default):
	// shorter, as the system tests' 10 to 60 s sessions of classic members.
	c := startCluster(t, 3, map[string]string{"group.consumer.min.session.timeout.ms": "6000", "group.consumer.session.timeout.ms": "15000"})
	// Every broker may be in metadata before the controller counts it live.
	adm, done := c.admin()
	var cerr error
	if !pollFor(20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, cerr = adm.CreateTopic(ctx, systestPartitions, 3, map[string]*string{"min.insync.replicas": strp("2")}, systestTopic)
		return cerr == nil
	}) {
		t.Fatalf("creating %s: %v", systestTopic, cerr)
	}
	done()
	c.awaitISR(systestTopic, 3, 30*time.Second)
	p := startRateProducer(t, c, systestTopic, 500)
	log := &consumeLog{group: "systest-" + protocol, consumed: map[int32][][2]int64{}, committed: map[int32]int64{}}
	var cs []*vconsumer
	for i := 0; i < n; i++ {
		inst := ""
		if static {
			inst = fmt.Sprintf("instance-%d", i)
		}
		cs = append(cs, startVConsumer(t, c, tools, fmt.Sprintf("consumer-%d", i), systestTopic, "systest-"+protocol, protocol, inst, sessionMs, log, extra...))
	}
	awaitStableAssignment(t, cs, systestPartitions, 60*time.Second, "start")
	return c, p, log, cs
}

const (
	systestTopic      = "systest"
	systestPartitions = 6
)

var systestProtocols = []string{"classic", "consumer"}

// consumer_test.py test_broker_rolling_bounce: each broker in turn stopped
// cleanly and restarted under the group; nothing is lost or skipped.
func TestSystestConsumerBrokerRollingBounce(t *testing.T) {
	for _, protocol := range systestProtocols {
		t.Run(protocol, func(t *testing.T) {
			systestCase(t)
			c, p, log, cs := consumerSystest(t, protocol, 2, false, 30000)
			p.awaitMore(t, 500, 30*time.Second, "before the bounce")
			before := rebalances(cs)
			for _, id := range []int32{1, 2, 3} {
				c.brokers[id].Stop()
				p.awaitMore(t, 300, 60*time.Second, fmt.Sprintf("with broker %d down", id))
				c.brokers[id].Restart()
				c.awaitISR(systestTopic, 3, 60*time.Second)
			}
			awaitStableAssignment(t, cs, systestPartitions, 60*time.Second, "after the rolling bounce")
			finishConsume(t, c, p, log, systestTopic, systestPartitions)
			if after := rebalances(cs); after != before {
				t.Errorf("the rolling bounce caused rebalances: partitions_assigned events per consumer went from %v to %v", before, after)
			}
		})
	}
}

// consumer_test.py test_consumer_bounce (clean and hard): each consumer
// in turn stopped and started again while records flow.
func TestSystestConsumerBounce(t *testing.T) {
	for _, protocol := range systestProtocols {
		for _, clean := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/clean=%v", protocol, clean), func(t *testing.T) {
				systestCase(t)
				c, p, log, cs := consumerSystest(t, protocol, 3, false, 10000)
				for _, v := range cs[:2] {
					v.stop(clean)
					p.awaitMore(t, 200, 30*time.Second, "with "+v.name+" down")
					v.start()
					awaitStableAssignment(t, cs, systestPartitions, 60*time.Second, "after "+v.name+" restarted")
				}
				finishConsume(t, c, p, log, systestTopic, systestPartitions)
			})
		}
	}
}

// rebalances lists each consumer's partitions_assigned events so far, as
// verifiable_consumer.py's num_rebalances counts them.
func rebalances(cs []*vconsumer) string {
	var out []string
	for _, c := range cs {
		_, n, _ := c.snapshot()
		out = append(out, fmt.Sprintf("%s:%d", c.name, n))
	}
	return strings.Join(out, " ")
}

// consumer_test.py test_broker_failure: the group coordinator's broker
// stopped (cleanly or killed) under the group, then restarted; no rebalance,
// nothing lost, every partition committed to its end.
func TestSystestConsumerBrokerFailure(t *testing.T) {
	for _, protocol := range systestProtocols {
		for _, clean := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/clean=%v", protocol, clean), func(t *testing.T) {
				systestCase(t)
				c, p, log, cs := consumerSystest(t, protocol, 2, false, 30000)
				p.awaitMore(t, 300, 30*time.Second, "before the failure")
				before := rebalances(cs)
				id := coordinatorOf(t, c, "systest-"+protocol)
				if clean {
					c.brokers[id].Stop()
				} else {
					c.brokers[id].Kill()
				}
				p.awaitMore(t, 500, 60*time.Second, fmt.Sprintf("with coordinator broker %d down", id))
				c.brokers[id].Restart()
				c.awaitISR(systestTopic, 3, 60*time.Second)
				finishConsume(t, c, p, log, systestTopic, systestPartitions)
				if after := rebalances(cs); after != before {
					t.Errorf("losing the coordinator caused rebalances: partitions_assigned events per consumer went from %v to %v", before, after)
				}
			})
		}
	}
}

// coordinatorOf is the broker coordinating group.
func coordinatorOf(t *testing.T, c *cluster, group string) int32 {
	t.Helper()
	adm, done := c.admin()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := adm.FindGroupCoordinators(ctx, group)[group]
	if r.Err != nil {
		t.Fatalf("find coordinator of %s: %v", group, r.Err)
	}
	return r.NodeID
}

// counts returns the consumer's partitions_revoked events and records
// consumed so far.
func (v *vconsumer) counts() (revoked int, consumed int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.revoked, v.consumed
}

// consumer_test.py test_static_consumer_bounce_with_eager_assignment: the
// static members but the first stopped and started again one by one; the
// first never has its partitions revoked, as no bounce rebalances the
// group (the classic protocol with the range assignor revokes everything
// on any rebalance, so one would show).
func TestSystestStaticConsumerBounce(t *testing.T) {
	for _, protocol := range systestProtocols {
		for _, clean := range []bool{true, false} {
			if protocol == "consumer" && !clean {
				// A static member of the consumer protocol killed holds its
				// instance id until its session ends (UNRELEASED_INSTANCE_ID).
				continue
			}
			t.Run(fmt.Sprintf("%s/clean=%v", protocol, clean), func(t *testing.T) {
				systestCase(t)
				c, p, log, cs := consumerSystest(t, protocol, 3, true, 60000)
				p.awaitMore(t, 300, 30*time.Second, "before the bounce")
				revoked, _ := cs[0].counts()
				for _, v := range cs[1:] {
					before, _ := v.counts()
					_ = before
					v.stop(clean)
					v.start()
					waitFor(t, v.name+" to get its partitions back", 60*time.Second, func() bool {
						a, _, _ := v.snapshot()
						return len(a) > 0
					})
				}
				awaitStableAssignment(t, cs, systestPartitions, 60*time.Second, "after the bounces")
				finishConsume(t, c, p, log, systestTopic, systestPartitions)
				if now, _ := cs[0].counts(); now != revoked {
					t.Errorf("bouncing static members revoked the partitions of the member kept running %d times", now-revoked)
				}
			})
		}
	}
}

// consumer_test.py test_fencing_static_consumer (stable stage): a
// consumer started with the group.instance.id of a running static member.
// Classic: the newcomer takes the id and the old member, fenced
// (FENCED_INSTANCE_ID), stops. Consumer protocol: the newcomer is refused
// (UNRELEASED_INSTANCE_ID) and never joins, the running members go on
// without a rebalance; once they stop, it joins.
func TestSystestFencingStaticConsumer(t *testing.T) {
	for _, protocol := range systestProtocols {
		t.Run(protocol, func(t *testing.T) {
			systestCase(t)
			c, p, log, cs := consumerSystest(t, protocol, 2, true, 60000)
			tools := os.Getenv("KAFKA_TOOLS_DIR")
			before := rebalances(cs)
			conflict := startVConsumer(t, c, tools, "conflict-0", systestTopic, "systest-"+protocol, protocol, "instance-0", 60000, log)
			if protocol == "classic" {
				waitFor(t, "the fenced consumer-0 to stop", 30*time.Second, func() bool {
					_, _, running := cs[0].snapshot()
					return !running
				})
				awaitStableAssignment(t, []*vconsumer{cs[1], conflict}, systestPartitions, 60*time.Second, "after the fencing")
				finishConsume(t, c, p, log, systestTopic, systestPartitions)
				return
			}
			_, consumed := cs[0].counts()
			waitFor(t, "consumer-0 to go on consuming", 30*time.Second, func() bool {
				_, n := cs[0].counts()
				return n > consumed+200
			})
			if a, _, running := conflict.snapshot(); len(a) > 0 || !running && false {
				t.Errorf("the consumer with instance-0 in use was assigned %v", a)
			}
			if after := rebalances(cs); after != before {
				t.Errorf("a consumer joining with an instance id in use caused rebalances: %v to %v", before, after)
			}
			conflict.kill()
			for _, v := range cs {
				v.stop(true)
			}
			conflict.start()
			awaitStableAssignment(t, []*vconsumer{conflict}, systestPartitions, 60*time.Second, "the newcomer after the members stopped")
			finishConsume(t, c, p, log, systestTopic, systestPartitions)
		})
	}
}

// reassign_partitions_test.py test_reassign_partitions with
// bounce_brokers: four brokers, every partition's replicas moved to the
// next partition's with kafka-reassign-partitions.sh --execute while
// records are produced with acks=all and a verifiable consumer group reads
// them, two brokers restarted at the same time while the moves run, then
// --verify until every reassignment is reported complete. Nothing
// acknowledged is lost and the group consumes and commits everything.
func TestSystestReassignPartitionsWithBounce(t *testing.T) {
	systestCase(t)
	tools := os.Getenv("KAFKA_TOOLS_DIR")
	if tools == "" {
		t.Skip("KAFKA_TOOLS_DIR is not set (the bin directory of a Kafka distribution)")
	}
	if _, err := os.Stat(filepath.Join(tools, "kafka-reassign-partitions.sh")); err != nil {
		t.Skipf("KAFKA_TOOLS_DIR=%s has no kafka-reassign-partitions.sh", tools)
	}
	const partitions = 8
	c := startCluster(t, 4, nil)
	topic := "reassign-systest"
	var assign [][]int32
	for p := int32(0); p < partitions; p++ {
		assign = append(assign, []int32{p%4 + 1, (p+1)%4 + 1, (p+2)%4 + 1})
	}
	c.createAssignedWith(topic, assign, map[string]string{"min.insync.replicas": "2"})
	p := startRateProducer(t, c, topic, 1000)
	log := &consumeLog{group: "reassign-systest", consumed: map[int32][][2]int64{}, committed: map[int32]int64{}}
	vc := startVConsumer(t, c, tools, "consumer-0", topic, "reassign-systest", "classic", "", 30000, log)
	awaitStableAssignment(t, []*vconsumer{vc}, partitions, 60*time.Second, "start")
	p.awaitMore(t, 3000, 30*time.Second, "before the reassignment")

	// Each partition takes the next one's replicas, as the system test
	// shuffles them: every partition gains a replica and loses one.
	type move struct {
		Topic     string  `json:"topic"`
		Partition int32   `json:"partition"`
		Replicas  []int32 `json:"replicas"`
	}
	var plan struct {
		Version    int    `json:"version"`
		Partitions []move `json:"partitions"`
	}
	plan.Version = 1
	for p := int32(0); p < partitions; p++ {
		plan.Partitions = append(plan.Partitions, move{topic, p, []int32{(p+3)%4 + 1, p%4 + 1, (p+1)%4 + 1}})
	}
	file := filepath.Join(t.TempDir(), "reassign.json")
	b, _ := json.Marshal(plan)
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tool := func(action ...string) (string, error) {
		cmd := exec.Command(filepath.Join(tools, "kafka-reassign-partitions.sh"), append([]string{"--bootstrap-server", strings.Join(c.seeds(), ","),
			"--reassignment-json-file", file}, action...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// Throttled, so the moves are still running when the brokers bounce.
	if out, err := tool("--execute", "--throttle", "100000"); err != nil || !strings.Contains(out, "Successfully started partition reassignment") {
		t.Fatalf("kafka-reassign-partitions --execute: %v\n%s", err, out)
	}
	if out, err := tool("--verify", "--preserve-throttles"); !strings.Contains(out, "is still in progress") {
		t.Logf("every move completed before the bounce (%v):\n%s", err, out)
	}
	for _, id := range []int32{1, 3} {
		c.brokers[id].Stop()
	}
	for _, id := range []int32{1, 3} {
		c.brokers[id].Restart()
	}
	var last string
	if !pollFor(60*time.Second, func() bool {
		out, err := tool("--verify")
		last = out
		return err == nil && strings.Count(out, "is completed") == partitions
	}) {
		t.Fatalf("kafka-reassign-partitions --verify did not report every reassignment of %s complete within 60 s; last:\n%s", topic, last)
	}
	p.awaitMore(t, 500, 30*time.Second, "after the reassignment")
	finishConsume(t, c, p, log, topic, partitions)
}

// consumer_test.py test_consumer_failure: the member holding partition 0
// stopped (cleanly or killed) with auto-commit on and off; the others take
// its partitions and, the producer stopped, consume and commit everything.
func TestSystestConsumerFailure(t *testing.T) {
	for _, protocol := range systestProtocols {
		for _, autocommit := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/autocommit=%v", protocol, autocommit), func(t *testing.T) {
				systestCase(t)
				var extra []string
				if autocommit {
					extra = append(extra, "--enable-autocommit")
				}
				c, p, log, cs := consumerSystest(t, protocol, 3, false, 10000, extra...)
				p.awaitMore(t, 300, 30*time.Second, "before the failure")
				victim := cs[0]
				for _, v := range cs {
					if a, _, _ := v.snapshot(); len(a) > 0 && a[0] == 0 {
						victim = v
					}
				}
				victim.stop(!autocommit) // hard with auto-commit, as the matrix pairs them
				var rest []*vconsumer
				for _, v := range cs {
					if v != victim {
						rest = append(rest, v)
					}
				}
				awaitStableAssignment(t, rest, systestPartitions, 45*time.Second, "after "+victim.name+" failed")
				finishConsume(t, c, p, log, systestTopic, systestPartitions)
			})
		}
	}
}

// consumer_test.py test_valid_assignment: members started one by one with
// each assignor (the classic protocol's, client-side; the consumer
// protocol's, the coordinator's), every partition held exactly once after
// each join.
func TestSystestValidAssignment(t *testing.T) {
	cases := []struct{ protocol, flag, assignor string }{
		{"classic", "--assignment-strategy", "org.apache.kafka.clients.consumer.RoundRobinAssignor"},
		{"classic", "--assignment-strategy", "org.apache.kafka.clients.consumer.StickyAssignor"},
		{"classic", "--assignment-strategy", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"},
		{"consumer", "--group-remote-assignor", "range"},
		{"consumer", "--group-remote-assignor", "uniform"},
	}
	for _, tc := range cases {
		t.Run(tc.protocol+"/"+tc.assignor[strings.LastIndex(tc.assignor, ".")+1:], func(t *testing.T) {
			systestCase(t)
			c, p, log, cs := consumerSystest(t, tc.protocol, 1, false, 10000, tc.flag, tc.assignor)
			tools := os.Getenv("KAFKA_TOOLS_DIR")
			for i := 1; i < 3; i++ {
				cs = append(cs, startVConsumer(t, c, tools, fmt.Sprintf("consumer-%d", i), systestTopic, "systest-"+tc.protocol, tc.protocol, "", 10000, log, tc.flag, tc.assignor))
				awaitStableAssignment(t, cs, systestPartitions, 60*time.Second, fmt.Sprintf("after consumer-%d joined", i))
			}
			finishConsume(t, c, p, log, systestTopic, systestPartitions)
		})
	}
}

// systestQuick are the cases make test runs, one of each of three
// matrices, the protocols alternating; GREGOR_SYSTESTS=1 (make systest)
// runs every case, about ten minutes more on two cores.
var systestQuick = map[string]bool{
	"TestSystestConsumerBrokerRollingBounce/consumer":      true,
	"TestSystestConsumerBrokerFailure/classic/clean=false": true,
	"TestSystestConsumerFailure/consumer/autocommit=false": true,
}

// systestCase skips a case outside systestQuick unless GREGOR_SYSTESTS is
// set.
func systestCase(t *testing.T) {
	t.Helper()
	if os.Getenv("GREGOR_SYSTESTS") == "" && !systestQuick[t.Name()] {
		t.Skip("make test runs one case of each of three matrices; GREGOR_SYSTESTS=1 (make systest) runs them all")
	}
}
