package integration

// Exactly-once through broker failures, as Apache Kafka's system test
// tests/kafkatest/tests/core/transactions_test.py checks it: copiers in one
// consumer group read an input topic and write each record to the same
// partition of an output topic in read-process-write transactions (the
// consumed offsets committed in the transaction), while the broker that
// coordinates a copier's transactional id, then a leader of the output
// topic, then the third broker are killed with -9 and restarted, or
// stopped and restarted cleanly (and, in TestEOSJavaCopiersKilled, the
// copiers themselves are killed). Afterwards:
//   - a read_committed read of the output holds every input record exactly
//     once, and nothing else;
//   - a read_uncommitted read holds the committed records at the same
//     offsets, and whatever else it holds (aborted records, where the
//     duplicates are) is hidden from read_committed;
//   - every output partition's last stable offset is its high watermark:
//     no transaction was left hanging;
//   - ListTransactions and DescribeTransactions show no transaction still
//     Ongoing, PrepareCommit or PrepareAbort;
//   - the group's committed offsets are the input's end offsets.
//
// The copiers are Kafka's own TransactionalMessageCopier (when
// KAFKA_TOOLS_DIR is set) and franz-go's GroupTransactSession. The input
// grows while the brokers are bounced, so the copiers have work through
// every bounce; a Java copier that has copied what it was assigned exits,
// as the tool does, and is started again until the input stops. A kgo
// copier whose End fails starts a new session with the same
// transactional id, as an application would (kgo's End errors are not
// retryable).
//
// Measured on 2 shared cores (Dec 2026; zookeeper.session.timeout.ms
// 4000, 3 copiers, transactions of up to 100 records, every broker
// bounced in turn, the coordinator of one copier's id first):
//   - exactly once held in every run after two fixes in the broker's
//     transaction verification (a marker between two retried adds voided
//     the add, and a batch at the epoch after an open transaction's was
//     taken into it), each of which broke about one clean-bounce run of
//     kgo copiers in four or five, by losing or duplicating a
//     transaction's 100 records;
//   - Java copiers went at most 5 s without a commit through a kill -9
//     (the dead broker's ZooKeeper session, 4 s, then the elections) and
//     under 1 s through a clean bounce; they logged only connection
//     warnings, NOT_LEADER_OR_FOLLOWER and NOT_COORDINATOR retries;
//   - kgo copiers went up to 8-13 s without a commit through a kill -9
//     (an End waits 4-8 s for the coordinator's successor, a poll 5-9 s
//     for the group and the input's leaders), and had an End fail with a
//     refused connection about once a run (the new session fences the
//     old one; its transaction is aborted).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// eosLog counts what clients reported, by message with numbers masked,
// and the longest time a copier went without committing.
type eosLog struct {
	mu      sync.Mutex
	counts  map[string]int
	stalled time.Duration
	stallAt string
}

var eosDigits = regexp.MustCompile(`[0-9]+`)

func newEOSLog() *eosLog { return &eosLog{counts: map[string]int{}} }

func (l *eosLog) add(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	msg = eosDigits.ReplaceAllString(msg, "N")
	if len(msg) > 400 {
		msg = msg[:400]
	}
	l.counts[msg]++
}

// stall notes that who went d without committing.
func (l *eosLog) stall(who string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d > l.stalled {
		l.stalled, l.stallAt = d, who
	}
}

func (l *eosLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lines []string
	for m, n := range l.counts {
		lines = append(lines, fmt.Sprintf("  %4d× %s", n, m))
	}
	sort.Strings(lines)
	return fmt.Sprintf("longest stall without a commit: %v (%s)\n%s", l.stalled.Round(time.Millisecond), l.stallAt, strings.Join(lines, "\n"))
}

// eosRun is one run: its topics, group, the input that was acknowledged,
// and a producer that grows the input while the brokers are bounced.
type eosRun struct {
	t          *testing.T
	c          *cluster
	in, out    string
	group      string
	partitions int32
	log        *eosLog

	mu     sync.Mutex
	inputs map[string]bool // acknowledged input values
	next   int

	feedStop context.CancelFunc
	feedWG   sync.WaitGroup
}

func newEOSRun(t *testing.T, c *cluster, name string) *eosRun {
	r := &eosRun{t: t, c: c, in: name + "-in", out: name + "-out", group: name + "-group", partitions: 3, log: newEOSLog(), inputs: map[string]bool{}}
	mir := map[string]*string{"min.insync.replicas": strp("2")}
	c.createTopic(r.in, r.partitions, 3, mir)
	c.createTopic(r.out, r.partitions, 3, mir)
	return r
}

// produceInput writes n more input records with an idempotent producer,
// acks=all, and remembers the acknowledged ones.
func (r *eosRun) produceInput(ctx context.Context, cl *kgo.Client, n int) error {
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range n {
		r.mu.Lock()
		v := fmt.Sprintf("%08d", r.next)
		r.next++
		r.mu.Unlock()
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: r.in, Value: []byte(v)}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				failed.Add(1)
				r.log.add("input producer: " + err.Error())
				return
			}
			r.mu.Lock()
			r.inputs[v] = true
			r.mu.Unlock()
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d input records failed", n)
	}
	return nil
}

func (r *eosRun) inputClient() *kgo.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.c.seeds()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		r.t.Fatal(err)
	}
	return cl
}

// seed writes n input records before the copiers start.
func (r *eosRun) seed(n int) {
	r.t.Helper()
	cl := r.inputClient()
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.produceInput(ctx, cl, n); err != nil {
		r.t.Fatalf("seeding %s: %v", r.in, err)
	}
}

// feed grows the input by about perSecond records a second until
// stopFeed.
func (r *eosRun) feed(perSecond int) {
	ctx, cancel := context.WithCancel(context.Background())
	r.feedStop = cancel
	cl := r.inputClient()
	r.feedWG.Add(1)
	go func() {
		defer r.feedWG.Done()
		defer cl.Close()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			// Sends that fail while a broker is down are retried by the
			// client; one that fails for good is not in the input.
			r.produceInput(context.Background(), cl, perSecond/10)
		}
	}()
}

func (r *eosRun) stopFeed() {
	if r.feedStop != nil {
		r.feedStop()
		r.feedWG.Wait()
		r.feedStop = nil
	}
}

func (r *eosRun) inputCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.inputs)
}

// committed is the sum of the group's committed offsets on the input,
// or -1 if they cannot be read now.
func (r *eosRun) committed(adm *kadm.Client) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsetsForTopics(ctx, r.group, r.in)
	if err != nil || offs.Error() != nil {
		return -1
	}
	var sum int64
	for _, ps := range offs {
		for _, o := range ps {
			if o.At > 0 {
				sum += o.At
			}
		}
	}
	return sum
}

// awaitProgress waits until the group has committed n more input
// offsets than when called.
func (r *eosRun) awaitProgress(adm *kadm.Client, n int64, bound time.Duration, what string) {
	r.t.Helper()
	var from int64 = -1
	waitFor(r.t, "the copiers to read a committed offset", 30*time.Second, func() bool { from = r.committed(adm); return from >= 0 })
	waitFor(r.t, fmt.Sprintf("the copiers to commit %d more input records %s (from %d)", n, what, from), bound, func() bool {
		return r.committed(adm) >= from+n
	})
}

// ends returns a topic's high watermarks, or with committed its last
// stable offsets.
func (r *eosRun) ends(adm *kadm.Client, topic string, committed bool) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var l kadm.ListedOffsets
	var err error
	if committed {
		l, err = adm.ListCommittedOffsets(ctx, topic)
	} else {
		l, err = adm.ListEndOffsets(ctx, topic)
	}
	if err != nil {
		return nil, err
	}
	if err := l.Error(); err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// caughtUp reports whether the group's committed offsets are the input's
// end offsets.
func (r *eosRun) caughtUp(adm *kadm.Client) bool {
	ends, err := r.ends(adm, r.in, false)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsetsForTopics(ctx, r.group, r.in)
	if err != nil || offs.Error() != nil {
		return false
	}
	for p, end := range ends {
		o, ok := offs.Lookup(r.in, p)
		if !ok || o.At != end {
			return false
		}
	}
	return true
}

// bounce kills (hard) or stops the broker coordinating txnID, waits for
// the copiers to go on without it, restarts it, and then does the same
// with a broker leading an output partition and with the third broker.
func (r *eosRun) bounce(hard bool, txnID string) {
	r.t.Helper()
	adm, done := r.c.admin()
	defer done()
	how := "stopped"
	if hard {
		how = "killed -9"
	}
	down := func(id int32, role string) {
		if hard {
			r.c.brokers[id].Kill()
		} else {
			r.c.brokers[id].Stop()
		}
		at := time.Now()
		r.t.Logf("broker %d (%s) %s", id, role, how)
		r.awaitProgress(adm, 200, 60*time.Second, fmt.Sprintf("with broker %d (%s) %s", id, role, how))
		r.t.Logf("copiers committed 200 more records %v after broker %d went down", time.Since(at).Round(time.Millisecond), id)
		r.c.brokers[id].Restart()
		for _, topic := range []string{r.in, r.out, "__transaction_state", "__consumer_offsets"} {
			r.c.awaitISR(topic, 3, 60*time.Second)
		}
		r.awaitProgress(adm, 200, 60*time.Second, fmt.Sprintf("after broker %d restarted", id))
	}
	coord := r.c.coordinatorOf(txnID)
	down(coord, "coordinator of "+txnID)
	leader := int32(-1)
	ps, err := r.c.describe(r.out)
	if err != nil {
		r.t.Fatal(err)
	}
	for p := int32(0); p < r.partitions; p++ {
		if l := ps[p].leader; l >= 0 && l != coord {
			leader = l
			break
		}
	}
	if leader < 0 {
		leader = coord%3 + 1
	}
	down(leader, "leader of an output partition")
	// The system test bounces every broker in turn: the third too.
	for id := int32(1); id <= 3; id++ {
		if id != coord && id != leader {
			down(id, "the last one")
		}
	}
}

// awaitCaughtUp waits until the group has committed the whole input.
func (r *eosRun) awaitCaughtUp(bound time.Duration) {
	r.t.Helper()
	adm, done := r.c.admin()
	defer done()
	if waitUntilFor(bound, func() bool { return r.caughtUp(adm) }) {
		return
	}
	ends, _ := r.ends(adm, r.in, false)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsetsForTopics(ctx, r.group, r.in)
	var at []string
	offs.Each(func(o kadm.OffsetResponse) { at = append(at, fmt.Sprintf("%d:%d", o.Partition, o.At)) })
	sort.Strings(at)
	r.t.Logf("what the copiers saw: %s", r.log)
	r.t.Fatalf("timed out after %v waiting for the group's committed offsets on %s (%v, %v) to reach its end offsets %v", bound, r.in, at, err, ends)
}

// readAll reads every partition of topic up to ends at the isolation
// level given.
func (r *eosRun) readAll(topic string, ends map[int32]int64, committed bool) map[int32][]*kgo.Record {
	r.t.Helper()
	parts := map[string]map[int32]kgo.Offset{topic: {}}
	want := 0
	for p, end := range ends {
		if end > 0 {
			parts[topic][p] = kgo.NewOffset().AtStart()
			want++
		}
	}
	out := map[int32][]*kgo.Record{}
	if want == 0 {
		return out
	}
	opts := []kgo.Opt{kgo.SeedBrokers(r.c.seeds()...), kgo.ConsumePartitions(parts), kgo.KeepControlRecords()}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		r.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	reached := map[int32]bool{}
	for len(reached) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			r.t.Fatalf("reading %s (read_committed %v): %d of %d partitions read to their ends %v", topic, committed, len(reached), want, ends)
		}
		fs.EachError(func(_ string, p int32, err error) { r.t.Logf("reading %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Offset >= ends[rec.Partition] {
				return
			}
			out[rec.Partition] = append(out[rec.Partition], rec)
			if rec.Offset+1 >= ends[rec.Partition] {
				reached[rec.Partition] = true
			}
		})
	}
	return out
}

// check proves exactly once; see the top of the file.
func (r *eosRun) check() {
	r.t.Helper()
	adm, done := r.c.admin()
	defer done()
	var hw, lso map[int32]int64
	waitFor(r.t, fmt.Sprintf("the last stable offset of every partition of %s to reach its high watermark", r.out), 30*time.Second, func() bool {
		var err1, err2 error
		hw, err1 = r.ends(adm, r.out, false)
		lso, err2 = r.ends(adm, r.out, true)
		if err1 != nil || err2 != nil {
			return false
		}
		for p, h := range hw {
			if lso[p] != h {
				return false
			}
		}
		return len(hw) == int(r.partitions)
	})
	r.t.Logf("%s: high watermarks %v, last stable offsets %v", r.out, hw, lso)
	r.checkTransactions(adm)

	committed := r.readAll(r.out, hw, true)
	uncommitted := r.readAll(r.out, hw, false)
	r.mu.Lock()
	inputs := make(map[string]bool, len(r.inputs))
	for v := range r.inputs {
		inputs[v] = true
	}
	r.mu.Unlock()

	seen := map[string]int{}
	where := map[string][]string{}
	at := map[int32]map[int64]string{}
	for p, recs := range committed {
		at[p] = map[int64]string{}
		for _, rec := range recs {
			if rec.Attrs.IsControl() {
				continue
			}
			seen[string(rec.Value)]++
			where[string(rec.Value)] = append(where[string(rec.Value)], fmt.Sprintf("%d@%d (producer %d/%d)", p, rec.Offset, rec.ProducerID, rec.ProducerEpoch))
			at[p][rec.Offset] = string(rec.Value)
		}
	}
	var dups, foreign, missing []string
	for v, n := range seen {
		if n > 1 {
			dups = append(dups, fmt.Sprintf("%s at %v", v, where[v]))
		}
		if !inputs[v] {
			foreign = append(foreign, v)
		}
	}
	for v := range inputs {
		if seen[v] == 0 {
			missing = append(missing, v)
		}
	}
	// An input record whose send failed for good may still have been
	// stored and copied: the copies are compared with the input topic.
	inputStored := r.readAll(r.in, mustEnds(r.t, r, adm, r.in), false)
	stored := map[string]bool{}
	for _, recs := range inputStored {
		for _, rec := range recs {
			stored[string(rec.Value)] = true
		}
	}
	for v := range stored {
		if !inputs[v] && seen[v] == 0 {
			missing = append(missing, v+" (stored, its send reported failed)")
		}
	}
	foreign = slices.DeleteFunc(foreign, func(v string) bool { return stored[v] })
	report := func(what string, vs []string) {
		if len(vs) > 0 {
			sort.Strings(vs)
			r.t.Errorf("%s: %d %s, first: %v", r.out, len(vs), what, vs[:min(len(vs), 10)])
		}
	}
	defer r.saveLogs()
	report("values read twice with read_committed", dups)
	report("values read with read_committed that are not in the input", foreign)
	report("input values missing from the output (read_committed)", missing)

	aborted, controls := 0, 0
	for p, recs := range uncommitted {
		for _, rec := range recs {
			if rec.Attrs.IsControl() {
				controls++
				continue
			}
			if v, ok := at[p][rec.Offset]; ok {
				if v != string(rec.Value) {
					r.t.Errorf("%s-%d offset %d: read_committed read %q, read_uncommitted %q", r.out, p, rec.Offset, v, rec.Value)
				}
				delete(at[p], rec.Offset)
				continue
			}
			aborted++
			if !stored[string(rec.Value)] {
				r.t.Errorf("%s-%d offset %d: read_uncommitted read %q, which is not in the input", r.out, p, rec.Offset, rec.Value)
			}
		}
		for off, v := range at[p] {
			r.t.Errorf("%s-%d offset %d: read_committed read %q, read_uncommitted did not", r.out, p, off, v)
		}
	}
	r.t.Logf("%s: %d input records, %d read with read_committed; read_uncommitted also read %d aborted records and %d markers", r.out, len(stored), len(seen), aborted, controls)

	ends := mustEnds(r.t, r, adm, r.in)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsetsForTopics(ctx, r.group, r.in)
	if err != nil || offs.Error() != nil {
		r.t.Fatalf("fetching %s's offsets: %v %v", r.group, err, offs.Error())
	}
	var copied int64
	for p, end := range ends {
		o, _ := offs.Lookup(r.in, p)
		if o.At != end {
			r.t.Errorf("%s: committed offset of %s-%d is %d, its end offset %d", r.group, r.in, p, o.At, end)
		}
		copied += o.At
	}
	if copied != int64(len(seen)) {
		r.t.Errorf("%s: committed offsets add up to %d input records, read_committed read %d copies", r.group, copied, len(seen))
	}
}

// saveLogs writes every broker's whole log to a file when the test
// failed (or GREGOR_EOS_LOGS is set), for a look at what the brokers did.
func (r *eosRun) saveLogs() {
	if !r.t.Failed() && os.Getenv("GREGOR_EOS_LOGS") == "" {
		return
	}
	dir, err := os.MkdirTemp("", "eos-logs-")
	if err != nil {
		return
	}
	for id, b := range r.c.brokers {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("broker-%d.log", id)), []byte(b.Logs(1<<30)), 0o644)
	}
	r.t.Logf("the brokers' logs are in %s", dir)
}

func mustEnds(t *testing.T, r *eosRun, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	var ends map[int32]int64
	waitFor(t, "the end offsets of "+topic, 30*time.Second, func() bool {
		var err error
		ends, err = r.ends(adm, topic, false)
		return err == nil
	})
	return ends
}

// checkTransactions proves no transaction is left open: ListTransactions
// finds none Ongoing, PrepareCommit or PrepareAbort, and DescribeTransactions
// of every transactional id it lists agrees.
func (r *eosRun) checkTransactions(adm *kadm.Client) {
	r.t.Helper()
	open := []string{"Ongoing", "PrepareCommit", "PrepareAbort"}
	var last string
	ok := waitUntilFor(30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		lt, err := adm.ListTransactions(ctx, nil, nil)
		if err != nil {
			last = err.Error()
			return false
		}
		var ids, stuck []string
		for _, tx := range lt.Sorted() {
			ids = append(ids, tx.TxnID)
			if slices.Contains(open, tx.State) {
				stuck = append(stuck, tx.TxnID+" "+tx.State)
			}
		}
		dt, err := adm.DescribeTransactions(ctx, ids...)
		if err != nil {
			last = err.Error()
			return false
		}
		for _, d := range dt.Sorted() {
			if d.Err != nil {
				stuck = append(stuck, d.TxnID+": "+d.Err.Error())
			} else if slices.Contains(open, d.State) {
				stuck = append(stuck, fmt.Sprintf("%s %s (producer %d epoch %d, %d partitions)", d.TxnID, d.State, d.ProducerID, d.ProducerEpoch, len(d.Topics)))
			}
		}
		last = fmt.Sprintf("open: %v", stuck)
		return len(stuck) == 0
	})
	if !ok {
		r.t.Errorf("transactions still open 30 s after the copiers stopped: %s", last)
	}
}

func waitUntilFor(bound time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// javaCopier is one kafka-run-class.sh TransactionalMessageCopier, run
// again each time it exits until stopped.
type javaCopier struct {
	r     *eosRun
	tools string
	id    string

	mu       sync.Mutex
	cmd      *exec.Cmd
	runs     int
	failures []string // exits with a status other than 0
	keep     bool     // start again when it exits
	killing  int      // kills by the test not yet seen to end a run
	exited   chan struct{}
	lastMove time.Time
	total    int64 // totalProcessed of the current run
}

func (r *eosRun) startJavaCopier(tools, id string) *javaCopier {
	j := &javaCopier{r: r, tools: tools, id: id, keep: true}
	j.start()
	r.t.Cleanup(func() {
		j.mu.Lock()
		j.keep = false
		cmd, exited := j.cmd, j.exited
		j.mu.Unlock()
		if cmd != nil && cmd.Process != nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	return j
}

func (j *javaCopier) start() {
	r := j.r
	cmd := exec.Command(filepath.Join(j.tools, "kafka-run-class.sh"), "org.apache.kafka.tools.TransactionalMessageCopier",
		"--broker-list", strings.Join(r.c.seeds(), ","), "--input-topic", r.in, "--input-partition", "0",
		"--output-topic", r.out, "--consumer-group", r.group, "--transactional-id", j.id,
		"--transaction-size", "100", "--transaction-timeout", "20000", "--group-mode", "--use-group-metadata")
	cmd.Env = append(os.Environ(), "KAFKA_HEAP_OPTS=-Xmx128m")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	exited := make(chan struct{})
	j.mu.Lock()
	j.cmd, j.exited, j.runs, j.lastMove, j.total = cmd, exited, j.runs+1, time.Now(), 0
	j.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			j.status(sc.Bytes())
		}
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "WARN") || strings.Contains(line, "ERROR") || strings.Contains(line, "Exception") {
				r.log.add("java " + j.id + ": " + trimLog4j(line))
			}
		}
	}()
	go func() {
		wg.Wait()
		err := cmd.Wait()
		j.mu.Lock()
		keep := j.keep
		switch {
		case err != nil && j.killing > 0:
			j.killing--
		case err != nil && keep:
			j.failures = append(j.failures, err.Error())
		}
		j.mu.Unlock()
		close(exited)
		if keep {
			j.start()
		}
	}()
}

// trimLog4j drops the timestamp and thread of a log4j line.
func trimLog4j(line string) string {
	if m := log4jLevel.FindStringIndex(line); m != nil {
		line = line[m[0]+1:]
	}
	return line
}

var log4jLevel = regexp.MustCompile(` (WARN|ERROR|INFO|DEBUG) `)

// status folds one line of the copier's JSON output in.
func (j *javaCopier) status(line []byte) {
	var s struct {
		Stage          string `json:"stage"`
		TotalProcessed int64  `json:"totalProcessed"`
	}
	if json.Unmarshal(line, &s) != nil {
		if len(line) > 0 {
			j.r.log.add("java " + j.id + " stdout: " + string(line))
		}
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	now := time.Now()
	if s.TotalProcessed != j.total {
		j.r.log.stall("java "+j.id, now.Sub(j.lastMove))
		j.total, j.lastMove = s.TotalProcessed, now
	}
	if s.Stage == "ShutdownComplete" || s.Stage == "RebalanceComplete" {
		j.lastMove = now
	}
}

// kill ends the copier's current run with SIGKILL, mid-transaction as
// likely as not; it is started again with the same transactional id.
func (j *javaCopier) kill() {
	j.mu.Lock()
	cmd := j.cmd
	j.killing++
	j.mu.Unlock()
	cmd.Process.Kill()
}

// finish lets the copier exit once it has copied what it was assigned
// (it is not started again), and waits for that.
func (j *javaCopier) finish(bound time.Duration) error {
	j.mu.Lock()
	j.keep = false
	exited := j.exited
	j.mu.Unlock()
	select {
	case <-exited:
		return nil
	case <-time.After(bound):
		return fmt.Errorf("copier %s did not exit within %v", j.id, bound)
	}
}

func TestEOSJavaCopiersThroughBrokerBounces(t *testing.T) {
	tools := os.Getenv("KAFKA_TOOLS_DIR")
	if tools == "" {
		t.Skip("KAFKA_TOOLS_DIR is not set (the bin directory of a Kafka distribution)")
	}
	if _, err := os.Stat(filepath.Join(tools, "kafka-run-class.sh")); err != nil {
		t.Skipf("KAFKA_TOOLS_DIR=%s has no kafka-run-class.sh", tools)
	}
	for _, hard := range []bool{true, false} {
		name := "clean"
		if hard {
			name = "hard"
		}
		t.Run(name, func(t *testing.T) {
			c := startCluster(t, 3, nil)
			r := newEOSRun(t, c, "eos-java-"+name)
			r.seed(3000)
			var copiers []*javaCopier
			for i := range 3 {
				copiers = append(copiers, r.startJavaCopier(tools, fmt.Sprintf("eos-java-%s-%d", name, i)))
			}
			adm, done := c.admin()
			defer done()
			r.awaitProgress(adm, 300, 60*time.Second, "before any bounce")
			r.feed(300)
			r.bounce(hard, copiers[0].id)
			r.stopFeed()
			r.awaitCaughtUp(60 * time.Second)
			for _, j := range copiers {
				if err := j.finish(60 * time.Second); err != nil {
					t.Error(err)
				}
			}
			t.Logf("what the copiers saw: %s", r.log)
			for _, j := range copiers {
				j.mu.Lock()
				t.Logf("copier %s ran %d times", j.id, j.runs)
				if len(j.failures) > 0 {
					t.Errorf("copier %s exited with an error %d times: %v", j.id, len(j.failures), j.failures)
				}
				j.mu.Unlock()
			}
			r.check()
		})
	}
}

// kgoCopier is a franz-go GroupTransactSession copying until stopped.
type kgoCopier struct {
	id     string
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *eosRun) startKgoCopier(id string) *kgoCopier {
	ctx, cancel := context.WithCancel(context.Background())
	k := &kgoCopier{id: id, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(k.done)
		last := time.Now()
		for ctx.Err() == nil {
			// An error from End is not retryable (kgo's doc): as an
			// application would, the copier starts a new session with
			// the same transactional id, which fences the old one.
			if err := r.kgoSession(ctx, id, &last); err != nil && ctx.Err() == nil {
				r.log.add(fmt.Sprintf("kgo %s: new session after: %v", id, err))
			}
		}
	}()
	return k
}

// kgoSession copies with one GroupTransactSession until ctx ends or End
// fails; last is when the copier last committed.
func (r *eosRun) kgoSession(ctx context.Context, id string, last *time.Time) error {
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(r.c.seeds()...), kgo.TransactionalID(id), kgo.TransactionTimeout(20*time.Second),
		kgo.ConsumerGroup(r.group), kgo.ConsumeTopics(r.in), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(), kgo.SessionTimeout(10*time.Second),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.WithLogger(kgo.BasicLogger(logWriter{r.log, "kgo " + id}, kgo.LogLevelWarn, nil)),
	)
	if err != nil {
		return err
	}
	defer sess.Close()
	for ctx.Err() == nil {
		polled := time.Now()
		fs := sess.PollRecords(ctx, 100)
		if took := time.Since(polled); took > 5*time.Second && fs.NumRecords() > 0 {
			r.t.Logf("kgo %s: a poll waited %v for records", id, took.Round(time.Millisecond))
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				r.log.add(fmt.Sprintf("kgo %s fetch: %v", id, err))
			}
		})
		if fs.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			sess.Produce(ctx, &kgo.Record{Topic: r.out, Partition: rec.Partition, Value: rec.Value}, func(_ *kgo.Record, err error) {
				if err != nil && !errors.Is(err, context.Canceled) {
					r.log.add(fmt.Sprintf("kgo %s produce: %v", id, err))
				}
			})
		})
		endCtx, endCancel := context.WithTimeout(context.Background(), 60*time.Second)
		began := time.Now()
		committed, err := sess.End(endCtx, kgo.TryCommit)
		endCancel()
		if took := time.Since(began); took > 2*time.Second {
			r.t.Logf("kgo %s: End took %v (committed %v, error %v)", id, took.Round(time.Millisecond), committed, err)
		}
		if err != nil {
			return fmt.Errorf("end: %w", err)
		}
		if committed {
			r.log.stall("kgo "+id, time.Since(*last))
			*last = time.Now()
		} else {
			r.log.add(fmt.Sprintf("kgo %s: transaction aborted", id))
		}
	}
	return nil
}

func (k *kgoCopier) stop(t *testing.T) {
	k.cancel()
	select {
	case <-k.done:
	case <-time.After(60 * time.Second):
		t.Errorf("kgo copier %s did not stop within 60 s", k.id)
	}
}

// logWriter adds each line kgo logs to an eosLog.
type logWriter struct {
	l   *eosLog
	who string
}

func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		if i := strings.Index(line, "] "); i >= 0 && i < 10 {
			line = line[i+2:]
		}
		w.l.add(w.who + ": " + line)
	}
	return len(p), nil
}

func TestEOSGroupTransactSessionThroughBrokerBounces(t *testing.T) {
	for _, hard := range []bool{true, false} {
		name := "clean"
		if hard {
			name = "hard"
		}
		t.Run(name, func(t *testing.T) {
			c := startCluster(t, 3, nil)
			r := newEOSRun(t, c, "eos-kgo-"+name)
			r.seed(2000)
			var copiers []*kgoCopier
			for i := range 3 {
				copiers = append(copiers, r.startKgoCopier(fmt.Sprintf("eos-kgo-%s-%d", name, i)))
			}
			adm, done := c.admin()
			defer done()
			r.awaitProgress(adm, 300, 60*time.Second, "before any bounce")
			r.feed(300)
			r.bounce(hard, copiers[0].id)
			r.stopFeed()
			r.awaitCaughtUp(60 * time.Second)
			for _, k := range copiers {
				k.stop(t)
			}
			t.Logf("what the copiers saw: %s", r.log)
			r.check()
		})
	}
}

// Kafka's copiers killed with -9, one after another, as the system test's
// hard client bounce: each is started again with the same transactional
// id, whose InitProducerId fences the dead instance and aborts the
// transaction it left open, so nothing hangs until the transaction
// timeout and nothing is copied twice. Measured: the group commits again
// 10-20 s after the kills, as a classic group does: a dead member is in
// the group until its 10 s session (the copier's session.timeout.ms)
// expires, and one killed with its JoinGroup pending is in the next
// generation, whose assignment then waits for its session too.
func TestEOSJavaCopiersKilled(t *testing.T) {
	tools := os.Getenv("KAFKA_TOOLS_DIR")
	if tools == "" {
		t.Skip("KAFKA_TOOLS_DIR is not set (the bin directory of a Kafka distribution)")
	}
	if _, err := os.Stat(filepath.Join(tools, "kafka-run-class.sh")); err != nil {
		t.Skipf("KAFKA_TOOLS_DIR=%s has no kafka-run-class.sh", tools)
	}
	c := startCluster(t, 3, nil)
	r := newEOSRun(t, c, "eos-java-killed")
	r.seed(3000)
	var copiers []*javaCopier
	for i := range 3 {
		copiers = append(copiers, r.startJavaCopier(tools, fmt.Sprintf("eos-java-killed-%d", i)))
	}
	adm, done := c.admin()
	defer done()
	r.awaitProgress(adm, 300, 60*time.Second, "before any kill")
	r.feed(300)
	for _, j := range copiers {
		j.kill()
		at := time.Now()
		r.awaitProgress(adm, 300, 60*time.Second, fmt.Sprintf("after copier %s was killed", j.id))
		t.Logf("copier %s killed -9; the copiers committed 300 more records in %v", j.id, time.Since(at).Round(time.Millisecond))
	}
	r.stopFeed()
	r.awaitCaughtUp(60 * time.Second)
	for _, j := range copiers {
		if err := j.finish(60 * time.Second); err != nil {
			t.Error(err)
		}
	}
	t.Logf("what the copiers saw: %s", r.log)
	for _, j := range copiers {
		j.mu.Lock()
		if len(j.failures) > 0 {
			t.Errorf("copier %s exited with an error %d times: %v", j.id, len(j.failures), j.failures)
		}
		j.mu.Unlock()
	}
	r.check()
}
