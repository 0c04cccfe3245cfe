package compat

// Transactions and idempotence with real clients: confluent-kafka's and
// kafkajs's transactional producers (committed and aborted transactions,
// checked by a read_committed franz-go consumer), sarama's idempotent
// producer (no duplicates, one producer ID, dense sequences), and
// consume-transform-produce with the group's offsets committed inside the
// transaction: confluent-kafka's send_offsets_to_transaction and
// franz-go's GroupTransactSession, each with one aborted round, give
// every input exactly once in the output and a committed offset at the
// input's end.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"
)

// txnScript runs a script to completion within bound and returns its
// JSON-line events; it fails on a non-zero exit or a missing "done".
func txnScript(t *testing.T, what string, cmd *exec.Cmd, bound time.Duration) []gcEvent {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	brokerLog := txnBrokerLog
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s%s", what, err, ccTail(stdout.String()), ccTail(stderr.String()), brokerLog())
		}
	case <-time.After(bound):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("%s: still running after %v\nstdout:\n%s\nstderr:\n%s%s", what, bound, ccTail(stdout.String()), ccTail(stderr.String()), brokerLog())
	}
	var evs []gcEvent
	done := false
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "{") {
			continue
		}
		var e gcEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: bad line %q: %v", what, sc.Text(), err)
		}
		if e.Type == "done" {
			done = true
		}
		evs = append(evs, e)
	}
	if !done {
		t.Fatalf("%s: exited without reporting done\nstdout:\n%s\nstderr:\n%s", what, ccTail(stdout.String()), ccTail(stderr.String()))
	}
	return evs
}

func txnBrokerLog() string {
	if usingGregor() && sharedBroker != nil {
		return "\n--- gregor log:\n" + sharedBroker.Logs(6<<10)
	}
	return ""
}

type txnSpec struct {
	Bootstrap string      `json:"bootstrap"`
	Topic     string      `json:"topic,omitempty"`
	TxnID     string      `json:"txn_id"`
	Txns      []txnValues `json:"txns,omitempty"`
	// consume-transform-produce
	Input      string `json:"input,omitempty"`
	Output     string `json:"output,omitempty"`
	Group      string `json:"group,omitempty"`
	Count      int    `json:"count,omitempty"`
	AbortRound int    `json:"abort_round,omitempty"`
}

type txnValues struct {
	Values []string `json:"values"`
	Commit bool     `json:"commit"`
}

func (s txnSpec) arg(t *testing.T) string {
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testTxnProducerScript runs three transactions with a client (commit,
// abort, commit) and checks what read_committed and read_uncommitted
// consumers see, and the coordinator's final state.
func testTxnProducerScript(t *testing.T, mk func(spec string) *exec.Cmd) {
	addr := bootstrap(t)
	topic, id := randomName("txc"), randomName("txid")
	createTopic(t, addr, topic, 3)
	c1, ab, c2 := seq("c1", 30), seq("ab", 30), seq("c2", 30)
	spec := txnSpec{Bootstrap: addr, Topic: topic, TxnID: id, Txns: []txnValues{
		{Values: c1, Commit: true}, {Values: ab, Commit: false}, {Values: c2, Commit: true},
	}}
	txnScript(t, "transactional producer", mk(spec.arg(t)), 60*time.Second)
	committed := append(slices.Clone(c1), c2...)
	if got := readAll(t, addr, topic, true, len(committed)); !sameSet(got, committed) {
		t.Fatalf("read_committed read %d records %v, want the %d committed ones", len(got), got, len(committed))
	}
	everything := append(slices.Clone(committed), ab...)
	if got := readAll(t, addr, topic, false, len(everything)); !sameSet(got, everything) {
		t.Fatalf("read_uncommitted read %d records %v, want all %d produced", len(got), got, len(everything))
	}
	txnWaitState(t, addr, id, "CompleteCommit")
}

// txnWaitState polls DescribeTransactions until id is in state.
func txnWaitState(t *testing.T, addr, id, state string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ac := kadm.NewClient(cl)
	var last string
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ds, err := ac.DescribeTransactions(ctx, id)
		cancel()
		if err != nil {
			last = err.Error()
		} else if d, ok := ds[id]; ok {
			if d.Err == nil && d.State == state && len(d.Topics) == 0 {
				return
			}
			last = fmt.Sprintf("%+v", d)
		}
		if time.Now().After(deadline) {
			t.Fatalf("transactional id %s: %s, want %s with no partitions", id, last, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTxnClientsConfluentProducer(t *testing.T) {
	pyReady("", "confluent_kafka")(t)
	testTxnProducerScript(t, func(spec string) *exec.Cmd {
		cmd := exec.Command(systemPython, filepath.Join(repoDir(t, "py"), "txn_confluent.py"), "produce", spec)
		cmd.Dir = repoDir(t, "py")
		return cmd
	})
}

func TestTxnClientsKafkajsProducer(t *testing.T) {
	kafkajsReady(t)
	testTxnProducerScript(t, func(spec string) *exec.Cmd {
		cmd := exec.Command("node", filepath.Join(repoDir(t, "js"), "txn_kafkajs.js"), spec)
		cmd.Dir = repoDir(t, "js")
		cmd.Env = append(cmd.Environ(), "KAFKAJS_NO_PARTITIONER_WARNING=1")
		return cmd
	})
}

// TestTxnClientsSaramaIdempotent: sarama's idempotent producer writes each
// record once, under one producer ID with dense sequences per partition.
func TestTxnClientsSaramaIdempotent(t *testing.T) {
	addr := bootstrap(t)
	topic := randomName("idem-sarama")
	createTopic(t, addr, topic, 3)
	cfg := saramaConfig()
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	// Several batches per partition and request, so sequences continue
	// across batches.
	cfg.Producer.Flush.Messages = 10
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	p, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama idempotent producer: %v", err)
	}
	const n = 300
	values := seq("idem", n)
	for i := 0; i < n; i += 50 {
		var msgs []*sarama.ProducerMessage
		for j := i; j < i+50; j++ {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(j % 3), Value: sarama.StringEncoder(values[j])})
		}
		sent := make(chan error, 1)
		go func() { sent <- p.SendMessages(msgs) }()
		select {
		case err := <-sent:
			if err != nil {
				t.Fatalf("sarama idempotent produce: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("sarama idempotent produce of records %d-%d: no answer within 20s%s", i, i+49, txnBrokerLog())
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, addr, topic, false, n); !sameSet(got, values) {
		t.Fatalf("read %d records, want each of the %d produced once", len(got), n)
	}
	// Fetch v12 names topics (v13+ wants topic IDs).
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(kversion.V2_8_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pid := int64(-2)
	for part := int32(0); part < 3; part++ {
		seqNext, records := int32(0), int32(0)
		for _, b := range ccRawBatches(t, ctx, cl, topic, part) {
			if b.ProducerID < 0 {
				t.Fatalf("partition %d: batch at %d has no producer ID (%d): sarama was not idempotent", part, b.FirstOffset, b.ProducerID)
			}
			if pid == -2 {
				pid = b.ProducerID
			} else if b.ProducerID != pid {
				t.Fatalf("partition %d: producer ID %d, earlier batches %d", part, b.ProducerID, pid)
			}
			if b.FirstSequence != seqNext {
				t.Fatalf("partition %d: batch at %d has first sequence %d, want %d", part, b.FirstOffset, b.FirstSequence, seqNext)
			}
			seqNext += b.NumRecords
			records += b.NumRecords
		}
		if records != n/3 {
			t.Fatalf("partition %d holds %d records, want %d", part, records, n/3)
		}
	}
}

// ctpCheck checks a consume-transform-produce run: output holds "out-"+v
// for each input exactly once (read_committed), the aborted round's
// records are in the log but not visible, and the group committed the
// input's end offsets.
func ctpCheck(t *testing.T, addr, output, group, input string, inputs []string, aborted int) {
	t.Helper()
	var want []string
	for _, v := range inputs {
		want = append(want, "out-"+v)
	}
	if got := readAll(t, addr, output, true, len(want)); !sameSet(got, want) {
		t.Fatalf("read_committed output: %d records %v, want each of %d inputs transformed exactly once", len(got), got, len(want))
	}
	if got := readAll(t, addr, output, false, len(want)+aborted); len(got) != len(want)+aborted {
		t.Fatalf("read_uncommitted output: %d records, want %d committed + %d aborted", len(got), len(want), aborted)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ac := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := ac.ListEndOffsets(ctx, input)
	if err != nil {
		t.Fatal(err)
	}
	var last string
	deadline := time.Now().Add(10 * time.Second)
	for {
		os, err := ac.FetchOffsets(ctx, group)
		ok := err == nil
		var parts []string
		ends.Each(func(e kadm.ListedOffset) {
			o, found := os.Lookup(input, e.Partition)
			parts = append(parts, fmt.Sprintf("p%d committed %d end %d", e.Partition, o.At, e.Offset))
			if !found || o.At != e.Offset {
				ok = false
			}
		})
		if ok {
			return
		}
		last = fmt.Sprintf("%v %v", parts, err)
		if time.Now().After(deadline) {
			t.Fatalf("group %s committed offsets are not the input's end: %s", group, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTxnClientsConfluentSendOffsets: confluent-kafka consume-transform-
// produce with send_offsets_to_transaction; the second round is aborted
// and redone.
func TestTxnClientsConfluentSendOffsets(t *testing.T) {
	pyReady("", "confluent_kafka")(t)
	addr := bootstrap(t)
	input, output, group := randomName("ctp-in"), randomName("ctp-out"), randomName("g-ctp")
	createTopic(t, addr, input, 3)
	createTopic(t, addr, output, 3)
	inputs := seq("in", 90)
	gcProduce3(t, addr, input, inputs)
	spec := txnSpec{Bootstrap: addr, TxnID: randomName("txid"), Input: input, Output: output, Group: group, Count: len(inputs), AbortRound: 2}
	cmd := exec.Command(systemPython, filepath.Join(repoDir(t, "py"), "txn_confluent.py"), "ctp", spec.arg(t))
	cmd.Dir = repoDir(t, "py")
	evs := txnScript(t, "confluent-kafka consume-transform-produce", cmd, 60*time.Second)
	aborted := ctpAborted(t, evs)
	ctpCheck(t, addr, output, group, input, inputs, aborted)
}

// ctpAborted returns the records of the script's aborted round.
func ctpAborted(t *testing.T, evs []gcEvent) int {
	t.Helper()
	aborted, n := 0, 0
	for _, e := range evs {
		if e.Type == "round" {
			n++
			if !e.Commit {
				aborted += e.Records
			}
		}
	}
	if n < 3 {
		t.Fatalf("the script ran %d rounds; the test needs a committed, an aborted and a later committed one", n)
	}
	if aborted == 0 {
		t.Fatalf("no aborted round reported: %+v", evs)
	}
	return aborted
}

// gcProduce3 produces values uncompressed, value i to partition i%3.
func gcProduce3(t *testing.T, addr, topic string, values []string) {
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
		rs = append(rs, &kgo.Record{Value: []byte(v), Partition: int32(i % 3)})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestTxnClientsFranzGroupTransactSession: franz-go's GroupTransactSession
// consume-transform-produce. A first phase commits offsets on every
// partition; in the second, the first round is aborted (the session
// rewinds to the committed offsets) and the rest committed.
func TestTxnClientsFranzGroupTransactSession(t *testing.T) {
	addr := bootstrap(t)
	input, output, group := randomName("gts-in"), randomName("gts-out"), randomName("g-gts")
	createTopic(t, addr, input, 3)
	createTopic(t, addr, output, 3)
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(addr), kgo.TransactionalID(randomName("txid")),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(input),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DefaultProduceTopic(output), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.HeartbeatInterval(200*time.Millisecond), kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	processed := map[string]int{}
	aborted := 0
	// run processes rounds until want records were committed; the round
	// numbered abortRound (from 1) is aborted instead.
	run := func(want int, abortRound int) {
		t.Helper()
		done, round, failedCommits := 0, 0, 0
		for done < want {
			fs := sess.PollRecords(ctx, 20)
			if ctx.Err() != nil {
				t.Fatalf("timed out with %d of %d records committed", done, want)
			}
			fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
			var recs []*kgo.Record
			fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
			if len(recs) == 0 {
				continue
			}
			round++
			if err := sess.Begin(); err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				out := &kgo.Record{Value: []byte("out-" + string(r.Value)), Partition: r.Partition}
				if err := sess.ProduceSync(ctx, out).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
			}
			commit := round != abortRound
			endCtx, endCancel := context.WithTimeout(ctx, 10*time.Second)
			committed, err := sess.End(endCtx, kgo.TransactionEndTry(commit))
			endCancel()
			if err != nil {
				t.Fatalf("round %d: End (commit %v): %v%s", round, commit, err, txnBrokerLog())
			}
			if commit && !committed {
				failedCommits++
				t.Logf("round %d: the session aborted instead of committing (a rebalance?); it rewinds", round)
				if failedCommits == 3 {
					t.Fatalf("three rounds in a row could not commit (TxnOffsetCommit or EndTxn failing)%s", txnBrokerLog())
				}
			} else if commit {
				failedCommits = 0
			}
			if !committed {
				aborted += len(recs)
				continue
			}
			done += len(recs)
			for _, r := range recs {
				processed[string(r.Value)]++
			}
		}
	}
	one := seq("one", 30)
	gcProduce3(t, addr, input, one)
	run(len(one), 0)
	two := seq("two", 60)
	gcProduce3(t, addr, input, two)
	run(len(two), 1)
	if aborted == 0 {
		t.Fatal("no round was aborted")
	}
	inputs := append(slices.Clone(one), two...)
	for _, v := range inputs {
		if processed[v] != 1 {
			t.Fatalf("input %s committed %d times", v, processed[v])
		}
	}
	ctpCheck(t, addr, output, group, input, inputs, aborted)
}
