package compat

// Consumer groups with real, independently written clients: sarama
// (ConsumerGroup), kafka-go (Reader with GroupID), kcat -G (librdkafka's
// balanced consumer), kafka-python, confluent-kafka and kafkajs. For each:
// (a) two members of one group split a 6-partition topic with no overlap
// and together consume every record exactly once; (b) when one member
// closes, the other takes over its partitions and reads what is produced
// on them afterwards; (c) after both closed with committed offsets, a new
// member resumes after the committed offsets: only later records arrive.
//
// Script clients (python, node, kcat) run as processes that print one
// JSON line per event on stdout: {"type":"assigned","partitions":[...]}
// with the member's whole current assignment after each rebalance, and
// {"type":"record","p":..,"o":..,"v":".."} per consumed record. They stop
// gracefully (closing and leaving the group) when their stdin closes
// (kcat: on SIGTERM).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	segkafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const gcPartitions = 6

// gcEvent is one line of a group script's output.
type gcEvent struct {
	Type       string  `json:"type"` // assigned | record | log | error
	Partitions []int32 `json:"partitions"`
	P          int32   `json:"p"`
	O          int64   `json:"o"`
	V          string  `json:"v"`
	Msg        string  `json:"msg"`
	// transaction scripts' rounds
	Commit  bool `json:"commit"`
	Records int  `json:"records"`
}

type gcRec struct {
	P int32
	O int64
	V string
}

// gcMember is one group member under test, whatever its client.
type gcMember struct {
	name string

	mu    sync.Mutex
	owned []int32
	recs  []gcRec
	errs  []string
	log   bytes.Buffer // stderr and log lines, for failure messages
	// debugHead and debugTail keep the first and the last of a client's
	// debug lines (kcat's librdkafka metadata and group debug), for
	// failure messages: how the member saw the topic when it joined, and
	// at the end.
	debugHead, debugTail       []string
	debugBytes, debugTailBytes int

	// assignedFn, when set, tells the assignment instead of the events
	// (kafka-go's Reader has no assignment callback).
	assignedFn func() []int32
	// stop closes the member gracefully (leaving the group); it returns
	// an error if the member did not stop within its bound.
	stop     func() error
	stopOnce sync.Once
	stopErr  error
}

func (m *gcMember) event(e gcEvent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch e.Type {
	case "assigned":
		ps := slices.Clone(e.Partitions)
		slices.Sort(ps)
		m.owned = ps
		fmt.Fprintf(&m.log, "assigned %v\n", ps)
	case "record":
		m.recs = append(m.recs, gcRec{e.P, e.O, e.V})
	case "error":
		m.errs = append(m.errs, e.Msg)
		fmt.Fprintf(&m.log, "error: %s\n", e.Msg)
	case "debug":
		if m.debugBytes < gcDebugKeep {
			m.debugHead = append(m.debugHead, e.Msg)
			m.debugBytes += len(e.Msg)
			break
		}
		m.debugTail = append(m.debugTail, e.Msg)
		m.debugTailBytes += len(e.Msg)
		for m.debugTailBytes > gcDebugKeep && len(m.debugTail) > 1 {
			m.debugTailBytes -= len(m.debugTail[0])
			m.debugTail = m.debugTail[1:]
		}
	default:
		fmt.Fprintf(&m.log, "%s: %s\n", e.Type, e.Msg)
	}
}

// gcDebugKeep is about how many bytes of debug lines a member keeps from
// its start, and again from its end.
const gcDebugKeep = 12 << 10

// debug is what the member kept of its debug lines, "" if none.
func (m *gcMember) debug() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.debugHead) == 0 {
		return ""
	}
	s := strings.Join(m.debugHead, "\n")
	if len(m.debugTail) > 0 {
		s += "\n[...]\n" + strings.Join(m.debugTail, "\n")
	}
	return s + "\n"
}

func (m *gcMember) logf(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(&m.log, format, args...)
}

func (m *gcMember) assigned() []int32 {
	if m.assignedFn != nil {
		return m.assignedFn()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.owned)
}

func (m *gcMember) records() []gcRec {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.recs)
}

func (m *gcMember) errors() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.errs)
}

func (m *gcMember) tail() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return ccTail(m.log.String())
}

func (m *gcMember) close(t *testing.T) {
	t.Helper()
	m.stopOnce.Do(func() { m.stopErr = m.stop() })
	if m.stopErr != nil {
		t.Fatalf("%s: closing: %v\n%s", m.name, m.stopErr, m.tail())
	}
}

// gcClient starts members of a group with one client library.
type gcClient struct {
	name  string
	ready func(t *testing.T)
	start func(t *testing.T, addr, group, topic, id string) *gcMember
}

func gcClients() []gcClient {
	return []gcClient{
		{name: "sarama", ready: func(*testing.T) {}, start: gcSarama},
		{name: "kafka-go", ready: func(*testing.T) {}, start: gcKafkaGo},
		{name: "kcat", ready: func(t *testing.T) { kcatReady(t) }, start: gcKcat},
		{name: "kafka-python", ready: func(t *testing.T) { pyReady("", "kafka")(t) }, start: gcPython("group_kafka_python.py")},
		{name: "confluent-kafka", ready: func(t *testing.T) { pyReady("", "confluent_kafka")(t) }, start: gcPython("group_confluent.py")},
		{name: "kafkajs", ready: func(t *testing.T) { kafkajsReady(t) }, start: gcKafkajs},
	}
}

func TestGroupClients(t *testing.T) {
	addr := bootstrap(t)
	for _, c := range gcClients() {
		t.Run(c.name, func(t *testing.T) {
			c.ready(t)
			testGroupClient(t, addr, c)
		})
	}
}

func testGroupClient(t *testing.T, addr string, c gcClient) {
	topic, group := randomName("gc-"+c.name), randomName("g-"+c.name)
	createTopic(t, addr, topic, gcPartitions)
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ac := kadm.NewClient(adm)
	failed := func(ms ...*gcMember) string {
		var b strings.Builder
		for _, m := range ms {
			fmt.Fprintf(&b, "--- %s (assigned %v, %d records, errors %v):\n%s\n", m.name, m.assigned(), len(m.records()), m.errors(), m.tail())
			if d := m.debug(); d != "" {
				fmt.Fprintf(&b, "--- %s debug:\n%s", m.name, d)
			}
		}
		if usingGregor() {
			b.WriteString("--- gregor log:\n" + sharedBroker.Logs(6<<10))
		}
		return b.String()
	}
	wait := func(what string, bound time.Duration, cond func() bool, ms ...*gcMember) {
		t.Helper()
		deadline := time.Now().Add(bound)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s (group %s, topic %s)\n%s", bound, what, group, topic, failed(ms...))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// (a) Two members split the partitions and read every record once.
	a := c.start(t, addr, group, topic, "a")
	wait("member a to own all 6 partitions", 25*time.Second, func() bool {
		return slices.Equal(a.assigned(), all(gcPartitions))
	}, a)
	b := c.start(t, addr, group, topic, "b")
	wait("members a and b to split the 6 partitions with no overlap", 25*time.Second, func() bool {
		pa, pb := a.assigned(), b.assigned()
		u := append(slices.Clone(pa), pb...)
		slices.Sort(u)
		return len(pa) > 0 && len(pb) > 0 && slices.Equal(u, all(gcPartitions))
	}, a, b)
	pa, pb := a.assigned(), b.assigned()
	t.Logf("split: a %v, b %v", pa, pb)
	gcCheckBrokerAssignment(t, ac, group, topic, 2, [][]int32{pa, pb})

	one := seq("one", 60)
	gcProduce(t, addr, topic, one)
	wait("a and b to consume the 60 records of the first batch", 20*time.Second, func() bool {
		return len(a.records())+len(b.records()) >= len(one)
	}, a, b)
	gcWaitCommitted(t, ac, group, topic, 60, failed, a, b)
	ra, rb := a.records(), b.records()
	gcCheckOwned(t, "a", ra, pa)
	gcCheckOwned(t, "b", rb, pb)
	gcCheckExactly(t, "a and b, first batch", append(ra, rb...), one)

	// (b) b leaves; a takes over b's partitions and reads what is
	// produced on them afterwards, and nothing again.
	b.close(t)
	wait("a to own all 6 partitions after b left", 25*time.Second, func() bool {
		return slices.Equal(a.assigned(), all(gcPartitions))
	}, a)
	gcCheckBrokerAssignment(t, ac, group, topic, 1, [][]int32{all(gcPartitions)})
	markA := len(a.records())
	two := seq("two", 60)
	gcProduce(t, addr, topic, two)
	wait("a to consume the 60 records of the second batch", 20*time.Second, func() bool {
		return len(a.records())-markA >= len(two)
	}, a)
	gcWaitCommitted(t, ac, group, topic, 120, failed, a)
	after := a.records()[markA:]
	gcCheckExactly(t, "a after b left", after, two)
	fromB := 0
	for _, r := range after {
		if slices.Contains(pb, r.P) {
			fromB++
		}
	}
	if fromB != len(two)/gcPartitions*len(pb) {
		t.Fatalf("a read %d records of b's former partitions %v, want %d", fromB, pb, len(two)/gcPartitions*len(pb))
	}

	// (c) a closes too; the group is empty with its offsets; a new member
	// resumes after them.
	a.close(t)
	wait("the group to be Empty after both members closed", 15*time.Second, func() bool {
		return describeGroup(t, ac, group).State == "Empty"
	})
	three := seq("three", 30)
	gcProduce(t, addr, topic, three)
	n := c.start(t, addr, group, topic, "c")
	wait("the new member to consume the 30 records of the third batch", 25*time.Second, func() bool {
		return len(n.records()) >= len(three)
	}, n)
	gcWaitCommitted(t, ac, group, topic, 150, failed, n)
	gcCheckExactly(t, "the new member (after committed offsets)", n.records(), three)
	if got := n.assigned(); !slices.Equal(got, all(gcPartitions)) {
		t.Fatalf("the new member owns %v", got)
	}
	n.close(t)
	for _, m := range []*gcMember{a, b, n} {
		if errs := m.errors(); len(errs) > 0 {
			t.Errorf("%s reported errors: %v", m.name, errs)
		}
	}
}

// gcProduce produces values with franz-go, value i to partition i%6,
// uncompressed (kafkajs and kafka-python here have no snappy).
func gcProduce(t *testing.T, addr, topic string, values []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var rs []*kgo.Record
	for i, v := range values {
		rs = append(rs, &kgo.Record{Value: []byte(v), Partition: int32(i % gcPartitions)})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// gcCheckExactly fails unless recs hold each of want's values exactly once.
func gcCheckExactly(t *testing.T, what string, recs []gcRec, want []string) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range recs {
		seen[r.V]++
	}
	var dup, extra, missing []string
	for v, n := range seen {
		if n > 1 {
			dup = append(dup, fmt.Sprintf("%s x%d", v, n))
		}
		if !slices.Contains(want, v) {
			extra = append(extra, v)
		}
	}
	for _, v := range want {
		if seen[v] == 0 {
			missing = append(missing, v)
		}
	}
	if len(dup)+len(extra)+len(missing) > 0 {
		sort.Strings(dup)
		sort.Strings(extra)
		t.Fatalf("%s: %d records; duplicated %v, unexpected %v, missing %v", what, len(recs), dup, extra, missing)
	}
}

// gcCheckOwned fails unless every record came from the member's partitions.
func gcCheckOwned(t *testing.T, who string, recs []gcRec, owned []int32) {
	t.Helper()
	for _, r := range recs {
		if !slices.Contains(owned, r.P) {
			t.Fatalf("%s read %s from partition %d, which it does not own (%v)", who, r.V, r.P, owned)
		}
	}
}

// gcCheckBrokerAssignment compares the broker's view (DescribeGroups) of
// the members' assignments with what the clients were told.
func gcCheckBrokerAssignment(t *testing.T, ac *kadm.Client, group, topic string, members int, want [][]int32) {
	t.Helper()
	var got [][]int32
	var last string
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := describeGroup(t, ac, group)
		got = nil
		for _, m := range d.Members {
			ca, ok := m.Assigned.AsConsumer()
			if !ok {
				continue
			}
			var ps []int32
			for _, tp := range ca.Topics {
				if tp.Topic == topic {
					ps = append(ps, tp.Partitions...)
				}
			}
			slices.Sort(ps)
			got = append(got, ps)
		}
		last = fmt.Sprintf("state %s, protocol %s, %d members, assignments %v", d.State, d.Protocol, len(d.Members), got)
		if d.State == "Stable" && len(d.Members) == members && gcSameAssignments(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("DescribeGroups: %s; want Stable with %d members owning %v", last, members, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func gcSameAssignments(got, want [][]int32) bool {
	key := func(ps [][]int32) []string {
		var out []string
		for _, p := range ps {
			out = append(out, fmt.Sprint(p))
		}
		sort.Strings(out)
		return out
	}
	return slices.Equal(key(got), key(want))
}

// gcWaitCommitted waits until the group's committed offsets on topic sum
// to n (every partition committed at its end).
func gcWaitCommitted(t *testing.T, ac *kadm.Client, group, topic string, n int64, failed func(...*gcMember) string, ms ...*gcMember) {
	t.Helper()
	var sum int64
	var last string
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		os, err := ac.FetchOffsets(ctx, group)
		cancel()
		sum = 0
		if err == nil {
			var parts []string
			os.Each(func(o kadm.OffsetResponse) {
				if o.Topic == topic && o.Err == nil && o.At > 0 {
					sum += o.At
					parts = append(parts, fmt.Sprintf("%d:%d", o.Partition, o.At))
				}
			})
			sort.Strings(parts)
			last = strings.Join(parts, " ")
		} else {
			last = err.Error()
		}
		if sum == n {
			return
		}
		if sum > n {
			t.Fatalf("committed offsets of %s sum to %d, more than the %d records produced: %s", group, sum, n, last)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s's committed offsets to reach %d records: %s\n%s", group, n, last, failed(ms...))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---- sarama ----

type gcSaramaHandler struct{ m *gcMember }

func (h gcSaramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	for _, ps := range s.Claims() {
		h.m.event(gcEvent{Type: "assigned", Partitions: ps})
	}
	return nil
}

func (h gcSaramaHandler) Cleanup(sarama.ConsumerGroupSession) error {
	h.m.event(gcEvent{Type: "assigned"})
	return nil
}

func (h gcSaramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		h.m.event(gcEvent{Type: "record", P: msg.Partition, O: msg.Offset, V: string(msg.Value)})
		s.MarkMessage(msg, "")
		s.Commit()
	}
	return nil
}

func gcSarama(t *testing.T, addr, group, topic, id string) *gcMember {
	m := &gcMember{name: "sarama member " + id}
	cfg := saramaConfig()
	cfg.ClientID = "gc-sarama-" + id
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatalf("sarama consumer group: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, gcSaramaHandler{m}); err != nil && ctx.Err() == nil {
				m.logf("consume: %v\n", err)
				time.Sleep(100 * time.Millisecond) // back off before rejoining
			}
		}
	}()
	go func() {
		for err := range cg.Errors() {
			m.logf("sarama error: %v\n", err)
		}
	}()
	m.stop = func() error {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			return errors.New("sarama Consume did not return within 15s")
		}
		return cg.Close()
	}
	t.Cleanup(func() { m.stopOnce.Do(func() { m.stopErr = m.stop() }) })
	return m
}

// ---- kafka-go ----

// gcKafkaGo runs a Reader with GroupID, committing each message before
// taking the next. The Reader has no assignment callback, so its
// assignment is the broker's (DescribeGroups, found by client ID).
func gcKafkaGo(t *testing.T, addr, group, topic, id string) *gcMember {
	m := &gcMember{name: "kafka-go member " + id}
	clientID := "gc-kafka-go-" + id + "-" + randomName("c")
	r := segkafka.NewReader(segkafka.ReaderConfig{
		Brokers: []string{addr}, GroupID: group, Topic: topic,
		Dialer:            &segkafka.Dialer{ClientID: clientID, Timeout: 10 * time.Second},
		MinBytes:          1,
		MaxBytes:          1 << 20,
		MaxWait:           100 * time.Millisecond,
		HeartbeatInterval: 200 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  100 * time.Millisecond,
		StartOffset:       segkafka.FirstOffset,
		ErrorLogger: segkafka.LoggerFunc(func(f string, args ...any) {
			m.logf("kafka-go: "+f+"\n", args...)
		}),
	})
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	ac := kadm.NewClient(adm)
	m.assignedFn = func() []int32 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ds, err := ac.DescribeGroups(ctx, group)
		if err != nil || ds[group].Err != nil {
			return nil
		}
		for _, mem := range ds[group].Members {
			if mem.ClientID != clientID {
				continue
			}
			ca, ok := mem.Assigned.AsConsumer()
			if !ok {
				return nil
			}
			var ps []int32
			for _, tp := range ca.Topics {
				ps = append(ps, tp.Partitions...)
			}
			slices.Sort(ps)
			return ps
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					m.event(gcEvent{Type: "error", Msg: "fetch: " + err.Error()})
				}
				return
			}
			m.event(gcEvent{Type: "record", P: int32(msg.Partition), O: msg.Offset, V: string(msg.Value)})
			if err := r.CommitMessages(ctx, msg); err != nil && ctx.Err() == nil {
				m.logf("commit %d/%d: %v\n", msg.Partition, msg.Offset, err)
			}
		}
	}()
	m.stop = func() error {
		cancel()
		<-done
		// The assignment is the broker's: once closed, this member owns
		// nothing whatever the broker still says about it.
		m.assignedFn = func() []int32 { return nil }
		defer adm.Close()
		return r.Close()
	}
	t.Cleanup(func() { m.stopOnce.Do(func() { m.stopErr = m.stop() }) })
	return m
}

// ---- script clients ----

// gcProcess runs cmd as a member: parse turns each stdout or stderr line
// into an event (ok false: just log it). stop runs stopFn (close stdin or
// signal) and waits for the process to exit by itself.
func gcProcess(t *testing.T, name string, cmd *exec.Cmd, parse func(line string, stderr bool) (gcEvent, bool), stopFn func(*exec.Cmd, io.Closer) error) *gcMember {
	t.Helper()
	m := &gcMember{name: name}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	var readers sync.WaitGroup
	read := func(r io.Reader, isErr bool) {
		defer readers.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if e, ok := parse(line, isErr); ok {
				m.event(e)
			} else if strings.TrimSpace(line) != "" {
				m.logf("%s\n", line)
			}
		}
	}
	readers.Add(2)
	go read(stdout, false)
	go read(stderr, true)
	exited := make(chan error, 1)
	go func() {
		readers.Wait()
		exited <- cmd.Wait()
	}()
	var waitErr error
	var once sync.Once
	m.stop = func() error {
		once.Do(func() {
			if err := stopFn(cmd, stdin); err != nil {
				waitErr = fmt.Errorf("stopping: %w", err)
				cmd.Process.Kill()
				<-exited
				return
			}
			select {
			case err := <-exited:
				if err != nil {
					waitErr = fmt.Errorf("exited: %w", err)
				}
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				<-exited
				waitErr = errors.New("did not exit within 15s of being told to close")
			}
		})
		return waitErr
	}
	t.Cleanup(func() {
		// A member the test did not close (it failed early): kill it.
		m.stopOnce.Do(func() { cmd.Process.Kill() })
		m.stopOnce.Do(func() { m.stopErr = m.stop() })
	})
	return m
}

func closeStdin(_ *exec.Cmd, stdin io.Closer) error { return stdin.Close() }

// gcJSONLine parses a script's stdout line.
func gcJSONLine(line string, stderr bool) (gcEvent, bool) {
	if stderr || !strings.HasPrefix(line, "{") {
		return gcEvent{}, false
	}
	var e gcEvent
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		return gcEvent{Type: "error", Msg: fmt.Sprintf("bad line %q: %v", line, err)}, true
	}
	return e, true
}

type gcSpec struct {
	Bootstrap string `json:"bootstrap"`
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	ClientID  string `json:"client_id"`
}

func gcSpecArg(t *testing.T, addr, group, topic, clientID string) string {
	b, err := json.Marshal(gcSpec{addr, group, topic, clientID})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func gcPython(script string) func(t *testing.T, addr, group, topic, id string) *gcMember {
	return func(t *testing.T, addr, group, topic, id string) *gcMember {
		cmd := exec.Command(systemPython, "-u", filepath.Join(repoDir(t, "py"), script),
			gcSpecArg(t, addr, group, topic, "gc-"+id))
		cmd.Dir = repoDir(t, "py")
		return gcProcess(t, script+" member "+id, cmd, gcJSONLine, closeStdin)
	}
}

func gcKafkajs(t *testing.T, addr, group, topic, id string) *gcMember {
	cmd := exec.Command("node", filepath.Join(repoDir(t, "js"), "group_kafkajs.js"),
		gcSpecArg(t, addr, group, topic, "gc-"+id))
	cmd.Dir = repoDir(t, "js")
	cmd.Env = append(cmd.Environ(), "KAFKAJS_NO_PARTITIONER_WARNING=1")
	return gcProcess(t, "kafkajs member "+id, cmd, gcJSONLine, closeStdin)
}

// kcat -G prints records as -J JSON on stdout and its rebalances on
// stderr: "% Group g rebalanced (memberid m): assigned: t [0], t [3]" and
// "...: revoked: ...". It closes (leaving the group) on SIGTERM.
var kcatPartRE = regexp.MustCompile(`\[(\d+)\]`)

func gcKcat(t *testing.T, addr, group, topic, id string) *gcMember {
	cmd := exec.Command("kcat", "-b", addr, "-G", group, "-J", "-u",
		"-X", "client.id=gc-kcat-"+id,
		"-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=200",
		"-X", "auto.offset.reset=earliest", "-X", "auto.commit.interval.ms=100",
		"-X", "fetch.wait.max.ms=100", "-X", "topic.metadata.refresh.interval.ms=1000",
		"-X", "debug=cgrp,metadata,topic",
		topic)
	parse := func(line string, stderr bool) (gcEvent, bool) {
		if stderr && strings.HasPrefix(line, "%7|") { // librdkafka debug
			return gcEvent{Type: "debug", Msg: line}, true
		}
		if stderr {
			i := strings.Index(line, "rebalanced")
			if i < 0 {
				return gcEvent{}, false
			}
			rest := line[i:]
			switch {
			case strings.Contains(rest, "assigned:"):
				var ps []int32
				for _, mm := range kcatPartRE.FindAllStringSubmatch(rest[strings.Index(rest, "assigned:"):], -1) {
					p, _ := strconv.Atoi(mm[1])
					ps = append(ps, int32(p))
				}
				return gcEvent{Type: "assigned", Partitions: ps}, true
			case strings.Contains(rest, "revoked:"):
				return gcEvent{Type: "assigned"}, true
			}
			return gcEvent{}, false
		}
		if !strings.HasPrefix(line, "{") {
			return gcEvent{}, false
		}
		var r struct {
			Partition int32   `json:"partition"`
			Offset    int64   `json:"offset"`
			Payload   *string `json:"payload"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Payload == nil {
			return gcEvent{Type: "error", Msg: fmt.Sprintf("bad kcat line %q: %v", line, err)}, true
		}
		return gcEvent{Type: "record", P: r.Partition, O: r.Offset, V: *r.Payload}, true
	}
	return gcProcess(t, "kcat member "+id, cmd, parse, func(cmd *exec.Cmd, _ io.Closer) error {
		return cmd.Process.Signal(syscall.SIGTERM)
	})
}
