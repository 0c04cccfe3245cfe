//go:build cgo

package integration

// Real, independently written clients through SIGKILLs: sarama and
// librdkafka (confluent-kafka-go) produce with acks=all and idempotence to
// a topic of replication factor 3 and min.insync.replicas=2, a kafka-go
// and a sarama member of one group consume and commit each record, while
// the controller, the group's coordinator and the last broker are killed
// with -9 and restarted one at a time. Then franz-go reads the topic back: nothing
// acknowledged is lost, nothing is stored twice, every committed offset
// is at or below the high watermark, and a new member of the group
// resumes exactly at the committed offsets. The test logs what the
// clients saw: the longest wait for an acknowledgement, the errors each
// client logged, and how long the group took to commit again after each
// kill. Meanwhile franz-go polls the group's committed offsets: none may
// fall below a commit the coordinator had acknowledged, or move back.
// GREGOR_CLIENT_LOG=1 prints kafka-go's own log with timestamps.
//
// Measured on 2 shared cores (9 runs, Dec 2026; zookeeper.session.timeout.ms
// 4000, the members' session timeout 6 s):
//   - no send failed, nothing was lost or stored twice, and no committed
//     offset fell back;
//   - the longest wait for an acknowledgement was 3.8-4.7 s (sarama) and
//     4.4-6.1 s (librdkafka): a killed leader's partitions wait until its
//     ZooKeeper session expires, as in Kafka;
//   - the group committed again 3.5-5.6 s after the kill of a broker that
//     was not its coordinator, and 9.5-12.7 s after the kill of its
//     coordinator: the session expiry, then the new coordinator loads the
//     group with its old member (kafka-go forgets its member id when the
//     coordinator is unreachable and joins anew; sarama keeps its id and
//     goes on heartbeating), and the rebalance waits for that member's
//     6 s session to expire, as Kafka's
//     GroupMetadataManager.onLoaded reschedules every loaded member's
//     heartbeat;
//   - what clients logged: refused connections and EOFs from the killed
//     broker; kafka-go COORDINATOR_NOT_AVAILABLE and
//     COORDINATOR_LOAD_IN_PROGRESS during the move, REBALANCE_IN_PROGRESS
//     on a SyncGroup overtaken by the rebalance, NOT_LEADER_OR_FOLLOWER
//     once on a fetch, and, once, a fetch it gave up after its own 100 ms
//     read deadline; sarama "broker not connected" while the leader was
//     down, and LEADER_NOT_AVAILABLE in metadata for the ~0.2 s between
//     the killed controller's session expiry and its successor's
//     elections (brokers know then that the leader is gone, as Kafka's
//     do once the new controller's first UpdateMetadata arrives).

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	ckafka "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	segkafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clientLog counts what one client logged or reported as an error, by
// message with its numbers masked.
type clientLog struct {
	mu     sync.Mutex
	counts map[string]int
}

var digits = regexp.MustCompile(`[0-9]+`)

func (l *clientLog) add(msg string) {
	msg = digits.ReplaceAllString(strings.TrimSpace(msg), "N")
	if len(msg) > 160 {
		msg = msg[:160]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = make(map[string]int)
	}
	l.counts[msg]++
}

func (l *clientLog) Write(p []byte) (int, error) {
	l.add(string(p))
	return len(p), nil
}

func (l *clientLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	type kv struct {
		k string
		n int
	}
	var all []kv
	for k, n := range l.counts {
		all = append(all, kv{k, n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].k < all[j].k })
	var b strings.Builder
	for i, e := range all {
		if i == 30 {
			fmt.Fprintf(&b, "\n    ... %d more kinds", len(all)-i)
			break
		}
		fmt.Fprintf(&b, "\n    %5d x %s", e.n, e.k)
	}
	if b.Len() == 0 {
		return " none"
	}
	return b.String()
}

// acks records one producer's acknowledgements and waits.
type acks struct {
	name string
	log  clientLog

	mu       sync.Mutex
	acked    map[string]ack
	failed   map[string]int
	produced int
	longest  time.Duration
	longAt   time.Time
	longP    int32
}

func newAcks(name string) *acks {
	return &acks{name: name, acked: make(map[string]ack), failed: make(map[string]int)}
}

func (a *acks) sent() {
	a.mu.Lock()
	a.produced++
	a.mu.Unlock()
}

func (a *acks) done(v string, at time.Time, p int32, off int64, err error) {
	d := time.Since(at)
	a.mu.Lock()
	defer a.mu.Unlock()
	if d > a.longest {
		a.longest, a.longAt, a.longP = d, at, p
	}
	if err != nil {
		a.failed[err.Error()]++
		return
	}
	a.acked[v] = ack{p, off}
}

func (a *acks) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.acked)
}

func (a *acks) summary() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	nf := 0
	for _, n := range a.failed {
		nf += n
	}
	return fmt.Sprintf("%s: %d produced, %d acknowledged, %d failed %v, %d unanswered; longest wait %v (partition %d, produced %s)",
		a.name, a.produced, len(a.acked), nf, a.failed, a.produced-len(a.acked)-nf,
		a.longest.Round(time.Millisecond), a.longP, a.longAt.Format("15:04:05.000"))
}

type saramaMeta struct {
	v  string
	at time.Time
}

// startSaramaProducer produces rate records a second, idempotent with
// acks=all, until ctx ends; the returned function flushes and closes.
func startSaramaProducer(t *testing.T, ctx context.Context, seeds []string, topic string, rate int, a *acks) func() {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "chaos-sarama"
	cfg.Metadata.AllowAutoTopicCreation = false
	cfg.Metadata.Retry.Max = 1000
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Retry.Max = 1000
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Flush.Frequency = 2 * time.Millisecond
	cfg.Net.MaxOpenRequests = 1
	p, err := sarama.NewAsyncProducer(seeds, cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for m := range p.Successes() {
			md := m.Metadata.(saramaMeta)
			a.done(md.v, md.at, m.Partition, m.Offset, nil)
		}
	}()
	go func() {
		defer wg.Done()
		for e := range p.Errors() {
			md := e.Msg.Metadata.(saramaMeta)
			a.log.add("produce error: " + e.Err.Error())
			a.done(md.v, md.at, e.Msg.Partition, -1, e.Err)
		}
	}()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for range max(rate/100, 1) {
				v := fmt.Sprintf("sarama-%d", i)
				i++
				now := time.Now()
				a.sent()
				p.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(v), Value: sarama.StringEncoder(v),
					Timestamp: now, Metadata: saramaMeta{v, now}}
			}
		}
	}()
	return func() {
		<-stopped
		p.AsyncClose() // flushes what is buffered and retrying
		wg.Wait()
	}
}

// startRdkProducer is startSaramaProducer with librdkafka.
func startRdkProducer(t *testing.T, ctx context.Context, seeds []string, topic string, rate int, a *acks) func() {
	t.Helper()
	p, err := ckafka.NewProducer(&ckafka.ConfigMap{
		"bootstrap.servers": strings.Join(seeds, ","), "client.id": "chaos-librdkafka",
		"enable.idempotence": true, "acks": "all", "linger.ms": 2, "message.timeout.ms": 120000,
		"retry.backoff.ms": 100, "broker.address.family": "v4", "go.logs.channel.enable": true,
	})
	if err != nil {
		t.Fatalf("librdkafka producer: %v", err)
	}
	dr := make(chan ckafka.Event, 10000)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for ev := range dr {
			m, ok := ev.(*ckafka.Message)
			if !ok {
				continue
			}
			at := m.Opaque.(time.Time)
			a.done(string(m.Value), at, m.TopicPartition.Partition, int64(m.TopicPartition.Offset), m.TopicPartition.Error)
			if m.TopicPartition.Error != nil {
				a.log.add("delivery error: " + m.TopicPartition.Error.Error())
			}
		}
	}()
	go func() {
		defer wg.Done()
		for ev := range p.Events() {
			if e, ok := ev.(ckafka.Error); ok {
				a.log.add(fmt.Sprintf("error event (fatal %v): %v", e.IsFatal(), e))
			}
		}
	}()
	go func() {
		defer wg.Done()
		for l := range p.Logs() {
			if l.Level <= 4 { // warning and worse
				a.log.add(fmt.Sprintf("log %s: %s", l.Tag, l.Message))
			}
		}
	}()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for range max(rate/100, 1) {
				v := fmt.Sprintf("librdkafka-%d", i)
				i++
				now := time.Now()
				a.sent()
				err := p.Produce(&ckafka.Message{TopicPartition: ckafka.TopicPartition{Topic: &topic, Partition: ckafka.PartitionAny},
					Key: []byte(v), Value: []byte(v), Opaque: now}, dr)
				if err != nil {
					a.log.add("produce: " + err.Error())
					a.done(v, now, -1, -1, err)
				}
			}
		}
	}()
	return func() {
		<-stopped
		if left := p.Flush(30000); left > 0 {
			a.log.add(fmt.Sprintf("%d records still queued after a 30 s flush", left))
		}
		p.Close()
		close(dr)
		wg.Wait()
	}
}

// commitEvent is one successful commit of the group member: the record's
// timestamp and when the commit returned.
type commitEvent struct {
	recordTime time.Time
	done       time.Time
}

// chaosMember is a kafka-go Reader in a group, committing each record
// before it takes the next.
type chaosMember struct {
	log clientLog

	mu      sync.Mutex
	seen    map[string]bool
	commits map[int32][]commitEvent
	first   map[int32]int64 // the first offset it read per partition
	// acked is, per partition, the highest offset whose commit the
	// coordinator acknowledged.
	acked map[int32]int64
	stop  func()
}

func startKafkaGoMember(t *testing.T, seeds []string, group, topic string) *chaosMember {
	t.Helper()
	m := &chaosMember{seen: make(map[string]bool), commits: make(map[int32][]commitEvent), first: make(map[int32]int64), acked: make(map[int32]int64)}
	r := segkafka.NewReader(segkafka.ReaderConfig{
		Brokers: seeds, GroupID: group, Topic: topic,
		Dialer:            &segkafka.Dialer{ClientID: "chaos-kafka-go", Timeout: 5 * time.Second},
		MinBytes:          1,
		MaxBytes:          1 << 20,
		MaxWait:           100 * time.Millisecond,
		HeartbeatInterval: 200 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  100 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    200 * time.Millisecond,
		StartOffset:       segkafka.FirstOffset,
		ErrorLogger: segkafka.LoggerFunc(func(f string, args ...any) {
			m.log.add(fmt.Sprintf(f, args...))
			if os.Getenv("GREGOR_CLIENT_LOG") != "" {
				fmt.Fprintf(os.Stderr, "%s KGO ERR "+f+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
			}
		}),
		Logger: segkafka.LoggerFunc(func(f string, args ...any) {
			if os.Getenv("GREGOR_CLIENT_LOG") != "" {
				fmt.Fprintf(os.Stderr, "%s KGO "+f+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
			}
		}),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			msg, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					m.log.add("fetch: " + err.Error())
				}
				continue
			}
			m.mu.Lock()
			m.seen[string(msg.Value)] = true
			p := int32(msg.Partition)
			if _, ok := m.first[p]; !ok {
				m.first[p] = msg.Offset
			}
			m.mu.Unlock()
			// A failed commit is retried (the group may be moving); the
			// next record's commit covers it otherwise.
			for ctx.Err() == nil {
				cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
				err := r.CommitMessages(cctx, msg)
				ccancel()
				if err == nil {
					m.mu.Lock()
					m.commits[p] = append(m.commits[p], commitEvent{recordTime: msg.Time, done: time.Now()})
					m.acked[p] = max(m.acked[p], msg.Offset+1)
					m.mu.Unlock()
					break
				}
				if ctx.Err() == nil {
					m.log.add("commit: " + err.Error())
				}
				if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
					continue
				}
				break // the reader rejoins; the record comes again if needed
			}
		}
	}()
	var once sync.Once
	m.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Errorf("the kafka-go member did not stop within 20 s")
			}
			if err := r.Close(); err != nil {
				m.log.add("close: " + err.Error())
			}
		})
	}
	t.Cleanup(m.stop)
	return m
}

// saramaHandler commits each record of its claims before the next.
type saramaHandler struct{ m *chaosMember }

func (saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		m := h.m
		m.mu.Lock()
		m.seen[string(msg.Value)] = true
		if _, ok := m.first[msg.Partition]; !ok {
			m.first[msg.Partition] = msg.Offset
		}
		m.mu.Unlock()
		s.MarkMessage(msg, "")
		s.Commit()
		// sarama's Commit reports failures through Errors(); a commit
		// counts as acknowledged only if the offset manager has it.
		m.mu.Lock()
		m.commits[msg.Partition] = append(m.commits[msg.Partition], commitEvent{recordTime: msg.Timestamp, done: time.Now()})
		m.mu.Unlock()
	}
	return nil
}

// startSaramaMember is a sarama consumer group member in the same group,
// committing each record (synchronously, Offsets.AutoCommit off).
func startSaramaMember(t *testing.T, seeds []string, group, topic string) *chaosMember {
	t.Helper()
	m := &chaosMember{seen: make(map[string]bool), commits: make(map[int32][]commitEvent), first: make(map[int32]int64), acked: make(map[int32]int64)}
	cfg := sarama.NewConfig()
	// kafka-go, as the group's leader, refuses a member's subscription
	// with bytes after its user data ("unable to read metadata for
	// member"): sarama speaks as Kafka 2.3, whose subscription is v0.
	cfg.Version = sarama.V2_3_0_0
	cfg.ClientID = "chaos-sarama-member"
	cfg.Metadata.AllowAutoTopicCreation = false
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Offsets.Retry.Max = 10
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	cfg.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Consumer.Retry.Backoff = 100 * time.Millisecond
	cg, err := sarama.NewConsumerGroup(seeds, group, cfg)
	if err != nil {
		t.Fatalf("sarama consumer group: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, saramaHandler{m}); err != nil && ctx.Err() == nil {
				m.log.add("consume: " + err.Error())
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond): // back off before rejoining
				}
			}
		}
	}()
	go func() {
		for err := range cg.Errors() {
			m.log.add("error: " + err.Error())
		}
	}()
	var once sync.Once
	m.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Errorf("the sarama member did not stop within 20 s")
			}
			if err := cg.Close(); err != nil {
				m.log.add("close: " + err.Error())
			}
		})
	}
	t.Cleanup(m.stop)
	return m
}

// members is the group's members in the scenario.
type members []*chaosMember

// recovered returns how long after at every partition had a commit of a
// record produced after at (by any member), and whether each did.
func (ms members) recovered(at time.Time, partitions int32) (time.Duration, bool) {
	var worst time.Duration
	for p := int32(0); p < partitions; p++ {
		var first time.Time
		for _, m := range ms {
			m.mu.Lock()
			i := slices.IndexFunc(m.commits[p], func(e commitEvent) bool { return e.recordTime.After(at) })
			if i >= 0 && (first.IsZero() || m.commits[p][i].done.Before(first)) {
				first = m.commits[p][i].done
			}
			m.mu.Unlock()
		}
		if first.IsZero() {
			return 0, false
		}
		worst = max(worst, first.Sub(at))
	}
	return worst, true
}

// missing returns how many of vs no member has read.
func (ms members) missing(vs map[string]ack) int {
	n := 0
	for v := range vs {
		if !slices.ContainsFunc(ms, func(m *chaosMember) bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.seen[v]
		}) {
			n++
		}
	}
	return n
}

// acked returns, per partition, the highest commit acknowledged to any
// member.
func (ms members) acked() map[int32]int64 {
	out := map[int32]int64{}
	for _, m := range ms {
		m.mu.Lock()
		for p, o := range m.acked {
			out[p] = max(out[p], o)
		}
		m.mu.Unlock()
	}
	return out
}

// watchCommits polls the group's committed offsets until ctx ends and
// reports every one below a commit the coordinator had acknowledged
// before the poll was sent (a commit lost by a failover), or below an
// offset seen earlier (committed offsets moving back).
func watchCommits(ctx context.Context, adm *kadm.Client, group, topic string, ms members, errs *clientLog) (wait func() []string) {
	var problems []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		seen := map[int32]int64{}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			before := ms.acked()
			fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			os, err := adm.FetchOffsets(fctx, group)
			cancel()
			if err == nil {
				err = os.Error()
			}
			if err != nil {
				if ctx.Err() == nil {
					errs.add("OffsetFetch: " + err.Error())
				}
				continue
			}
			os.Each(func(o kadm.OffsetResponse) {
				if o.Topic != topic {
					return
				}
				if o.At < before[o.Partition] {
					problems = append(problems, fmt.Sprintf("partition %d: committed offset %d after the coordinator acknowledged a commit of %d", o.Partition, o.At, before[o.Partition]))
				}
				if o.At < seen[o.Partition] {
					problems = append(problems, fmt.Sprintf("partition %d: committed offset went from %d back to %d", o.Partition, seen[o.Partition], o.At))
				}
				seen[o.Partition] = max(seen[o.Partition], o.At)
			})
		}
	}()
	return func() []string {
		<-done
		return problems
	}
}

// groupCoordinator returns the node id coordinating group.
func groupCoordinator(t *testing.T, adm *kadm.Client, group string) int32 {
	t.Helper()
	var id int32 = -1
	waitFor(t, "the coordinator of "+group, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ds, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return false
		}
		id = ds[group].Coordinator.NodeID
		return id > 0
	})
	return id
}

func TestRealClientsThroughBrokerKills(t *testing.T) {
	c := startCluster(t, 3, nil)
	topic, group := "chaos", "chaos-group"
	const partitions = 3
	c.createTopic(topic, partitions, 3, map[string]*string{"min.insync.replicas": strp("2")})
	seeds := c.seeds()
	adm, closeAdm := c.admin()
	defer closeAdm()
	start := time.Now()

	saramaLog := &clientLog{}
	prevLogger := sarama.Logger
	sarama.Logger = log.New(saramaLog, "", 0)
	t.Cleanup(func() { sarama.Logger = prevLogger })

	ctx, stopProducing := context.WithCancel(context.Background())
	defer stopProducing()
	sa, rk := newAcks("sarama"), newAcks("librdkafka")
	stopSarama := startSaramaProducer(t, ctx, seeds, topic, 200, sa)
	stopRdk := startRdkProducer(t, ctx, seeds, topic, 200, rk)
	member := members{startKafkaGoMember(t, seeds, group, topic), startSaramaMember(t, seeds, group, topic)}
	watchCtx, stopWatching := context.WithCancel(context.Background())
	defer stopWatching()
	adminLog := &clientLog{}
	watched := watchCommits(watchCtx, adm, group, topic, member, adminLog)
	progress := func(what string, n int) {
		t.Helper()
		s0, r0 := sa.count(), rk.count()
		waitFor(t, fmt.Sprintf("%d more acknowledgements from each producer %s (sarama has %d, librdkafka %d)", n, what, s0, r0), 45*time.Second,
			func() bool { return sa.count() >= s0+n && rk.count() >= r0+n })
	}
	progress("at the start", 300)
	waitFor(t, "the group member to commit on every partition", 30*time.Second, func() bool {
		_, ok := member.recovered(start, partitions)
		return ok
	})
	c.awaitISR("__consumer_offsets", 3, 30*time.Second)

	// The controller, then the group's coordinator, then whichever broker
	// is left: each killed once, each restarted before the next, each
	// chosen at each step from the roles brokers hold then.
	var killedIDs []int32
	hit := map[string]bool{}
	for range 3 {
		ctrl, co := c.controller(), groupCoordinator(t, adm, group)
		victim := int32(-1)
		prefer := []int32{co, ctrl, 1, 2, 3}
		if len(killedIDs) == 0 {
			prefer[0], prefer[1] = ctrl, co
		}
		for _, id := range prefer {
			if !slices.Contains(killedIDs, id) {
				victim = id
				break
			}
		}
		killedIDs = append(killedIDs, victim)
		var roles []string
		if victim == ctrl {
			roles = append(roles, "controller")
			hit["controller"] = true
		}
		if victim == co {
			roles = append(roles, "group coordinator")
			hit["coordinator"] = true
		}
		if ps, err := c.describe(topic); err == nil {
			for p, s := range ps {
				if s.leader == victim {
					roles = append(roles, fmt.Sprintf("leader of %d", p))
				}
			}
		}
		killed := time.Now()
		c.brokers[victim].Kill()
		t.Logf("%s: killed broker %d (%s)", killed.Format("15:04:05.000"), victim, strings.Join(roles, ", "))
		for _, tp := range []string{topic, "__consumer_offsets"} {
			waitFor(t, fmt.Sprintf("leaders of %s away from killed broker %d", tp, victim), 30*time.Second, func() bool {
				ps, err := c.describe(tp)
				if err != nil {
					return false
				}
				for _, s := range ps {
					if s.leader < 0 || s.leader == victim {
						return false
					}
				}
				return true
			})
		}
		failover := time.Since(killed)
		progress(fmt.Sprintf("after broker %d was killed", victim), 100)
		var recovery time.Duration
		waitFor(t, fmt.Sprintf("the group to commit records produced after broker %d was killed on every partition", victim), 45*time.Second, func() bool {
			d, ok := member.recovered(killed, partitions)
			recovery = d
			return ok
		})
		t.Logf("broker %d: leaders elected after %v; the group committed new records on every partition after %v",
			victim, failover.Round(time.Millisecond), recovery.Round(time.Millisecond))
		c.brokers[victim].Restart()
		c.awaitISR(topic, 3, 60*time.Second)
		c.awaitISR("__consumer_offsets", 3, 60*time.Second)
		t.Logf("broker %d back in every ISR %v after its kill", victim, time.Since(killed).Round(time.Millisecond))
	}
	if !hit["controller"] || !hit["coordinator"] {
		t.Errorf("the kills hit %v: want the controller and the group coordinator among them", hit)
	}
	progress("after the last restart", 100)
	c.dumpLogs()
	stopProducing()
	stopSarama()
	stopRdk()
	t.Logf("%s", sa.summary())
	t.Logf("%s", rk.summary())
	t.Logf("sarama logged:%s\nsarama producer errors:%s", saramaLog, &sa.log)
	t.Logf("librdkafka logged:%s", &rk.log)
	t.Logf("kafka-go member logged:%s", &member[0].log)
	t.Logf("sarama member logged:%s", &member[1].log)
	for _, a := range []*acks{sa, rk} {
		if len(a.failed) > 0 {
			t.Errorf("%s: sends failed: %v", a.name, a.failed)
		}
	}

	// Read everything back with franz-go.
	all := &workload{t: t, topic: topic, acked: make(map[string]ack), errs: make(map[string]int)}
	for _, a := range []*acks{sa, rk} {
		for v, k := range a.acked {
			all.acked[v] = k
		}
	}
	checkHistory(t, c, all, partitions)

	// The member has read up to its last commit; stop it and compare the
	// group's committed offsets with the high watermarks.
	for _, m := range member {
		m.stop()
	}
	stopWatching()
	for _, p := range watched() {
		t.Errorf("%s", p)
	}
	t.Logf("franz-go's OffsetFetch polls saw:%s", adminLog)
	octx, ocancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer ocancel()
	committed, err := adm.FetchOffsets(octx, group)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		t.Fatalf("fetching the group's offsets: %v", err)
	}
	ends, err := adm.ListEndOffsets(octx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("listing end offsets: %v", err)
	}
	at := map[int32]int64{}
	for p := int32(0); p < partitions; p++ {
		o, ok := committed.Lookup(topic, p)
		hw, _ := ends.Lookup(topic, p)
		if !ok || o.At < 0 {
			t.Errorf("partition %d: no committed offset", p)
			continue
		}
		if o.At > hw.Offset {
			t.Errorf("partition %d: committed offset %d is past the high watermark %d", p, o.At, hw.Offset)
		}
		at[p] = o.At
	}
	t.Logf("committed %v, high watermarks %v", at, func() map[int32]int64 {
		m := map[int32]int64{}
		ends.Each(func(o kadm.ListedOffset) { m[o.Partition] = o.Offset })
		return m
	}())

	// A record more on each partition, then a new member of the group
	// must start each partition exactly at its committed offset and,
	// with the first member, have read every acknowledged record.
	pcl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	tail := map[string]ack{}
	for p := int32(0); p < partitions; p++ {
		v := fmt.Sprintf("tail-%d", p)
		r, err := pcl.ProduceSync(octx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)}).First()
		if err != nil {
			t.Fatalf("producing the tail record to %d: %v", p, err)
		}
		tail[v] = ack{p, r.Offset}
	}
	second := startKafkaGoMember(t, seeds, group, topic)
	waitFor(t, "the second member to read the tail records", 45*time.Second, func() bool { return members{second}.missing(tail) == 0 })
	second.stop()
	second.mu.Lock()
	for p := int32(0); p < partitions; p++ {
		if got, ok := second.first[p]; !ok || got != at[p] {
			t.Errorf("partition %d: the group resumed at offset %d (read: %v), want the committed %d", p, got, ok, at[p])
		}
	}
	second.mu.Unlock()
	if n := append(member, second).missing(all.acked); n > 0 {
		t.Errorf("the group never delivered %d acknowledged records", n)
	}
	t.Logf("kafka-go (second member) logged:%s", &second.log)
	t.Logf("the scenario took %v", time.Since(start).Round(time.Millisecond))
}
