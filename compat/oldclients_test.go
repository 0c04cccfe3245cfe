package compat

// Every client generation: clients pinned to old protocol versions, as
// deployments that never upgraded their client (or pinned it to an old
// broker) run them. kafka-python with api_version from 0.8.2 to 2.x,
// sarama with Config.Version from V0_8_2_0, franz-go capped with
// kversion.V0_8_0() and up. Pinned clients do not negotiate: each sends
// its generation's request versions, so Produce v0-2 write magic 0/1
// messages (up-converted by the broker) and Fetch v0-3 read magic 0/1
// (down-converted). For each generation:
//
//   - it produces with every codec its generation has (keys, and headers
//     where the format has them); every acknowledged offset is where the
//     record lands, and franz-go reads exactly those records back;
//   - it reads them back: in a consumer group where the generation has
//     groups (0.9+), committing, and the committed offsets are read back
//     (by the client where it can, and by kadm); 0.8.x commits to the
//     group with manually assigned partitions;
//   - it reads a topic written by new clients (magic 2 batches of every
//     codec an old format has, headers, a committed and an aborted
//     transaction): every data record at its offset, the aborted ones
//     included since these fetches are read_uncommitted, no transaction
//     markers, and headers only from 0.11 on.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"
)

// oldClient is one client generation under test.
type oldClient struct {
	name    string
	headers bool // its format has headers (0.11+)
	commits bool // it can commit offsets (0.8.2+)
	codecs  []string
	produce func(t *testing.T, ctx context.Context, addr, topic, codec string, recs []ccRecord) []ccRecord
	// consume reads counts[p] records of each partition from the start,
	// in group (empty: assigned partitions, no commits) and returns them
	// with the offsets it committed as the client reads them back (nil if
	// it cannot).
	consume func(t *testing.T, ctx context.Context, addr, topic, group string, counts map[int32]int64) ([]ccRecord, map[int32]int64)
}

const oldPerCodec = 40

// testOldClient runs the three checks of the file's comment.
func testOldClient(t *testing.T, addr string, c oldClient) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topic := randomName("old-" + strings.ReplaceAll(c.name, ".", "_"))
	ccCreateTopic(t, addr, topic, ccPartitions)
	var want []ccRecord
	for _, codec := range c.codecs {
		recs := ccGen(c.name, codec, oldPerCodec, false)
		if !c.headers {
			for i := range recs {
				recs[i].H = nil
			}
		}
		acked := c.produce(t, ctx, addr, topic, codec, recs)
		next := ccNextOffsets(want)
		want = append(want, recs...)
		ccCheckAcks(t, c.name+" "+codec, recs, next, acked)
	}
	ccNumber(want)
	ccCheckSame(t, "franz-go reading what "+c.name+" produced", want, ccKgoRead(t, ctx, addr, topic, ccPartitions))

	group := ""
	if c.commits {
		group = randomName("old-group")
	}
	got, committed := c.consume(t, ctx, addr, topic, group, ccCounts(want))
	ccCheckSame(t, c.name+" reading what it produced", want, got)
	if group != "" {
		ends := ccCounts(want)
		if committed != nil && fmt.Sprint(committed) != fmt.Sprint(ends) {
			t.Errorf("%s reads back committed offsets %v, want %v", c.name, committed, ends)
		}
		oldCheckCommitted(t, ctx, addr, group, topic, ends)
	}

	nt, newRecs := newClientsTopic(t, addr)
	if !c.headers {
		newRecs = withoutHeaders(newRecs)
	}
	got, _ = c.consume(t, ctx, addr, nt, "", ccCounts(newRecs))
	ccCheckSame(t, c.name+" reading what new clients wrote", newRecs, got)
}

// oldCheckCommitted checks with kadm (a current client) that a group
// committed ends for topic.
func oldCheckCommitted(t *testing.T, ctx context.Context, addr, group, topic string, ends map[int32]int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		t.Fatalf("fetching the offsets of %s: %v", group, err)
	}
	for p, end := range ends {
		o, ok := offs.Lookup(topic, p)
		if !ok || o.At != end {
			t.Errorf("group %s committed %+v for %s/%d, want %d", group, o, topic, p, end)
		}
	}
}

func withoutHeaders(recs []ccRecord) []ccRecord {
	out := append([]ccRecord(nil), recs...)
	for i := range out {
		out[i].H = nil
	}
	return out
}

// ---- a topic new clients wrote ----

var newTopic struct {
	once  sync.Once
	name  string
	recs  []ccRecord
	fails string
}

// newClientsTopic writes, once per run, a topic with franz-go: batches of
// each codec the old formats have, with headers; a committed and an
// aborted transaction; then plain records, so each partition ends with
// data. It returns the topic and its records as franz-go reads them
// (read_uncommitted: aborted records included, markers not).
func newClientsTopic(t *testing.T, addr string) (string, []ccRecord) {
	t.Helper()
	newTopic.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		topic := randomName("written-by-new")
		ccCreateTopic(t, addr, topic, ccPartitions)
		for _, codec := range []string{"none", "gzip", "snappy", "lz4"} {
			ccKgoProduce(t, ctx, addr, topic, codec, ccGen("franz-go", codec, 30, false))
		}
		for _, commit := range []bool{true, false} {
			what := map[bool]string{true: "committed", false: "aborted"}[commit]
			if err := kgoTransaction(ctx, addr, topic, ccGen("txn-"+what, "gzip", 12, false), commit); err != nil {
				newTopic.fails = fmt.Sprintf("%s transaction: %v", what, err)
				return
			}
		}
		ccKgoProduce(t, ctx, addr, topic, "none", ccGen("tail", "none", 6, false))
		newTopic.name, newTopic.recs = topic, ccKgoRead(t, ctx, addr, topic, ccPartitions)
	})
	if newTopic.name == "" {
		t.Fatalf("writing the topic of new clients failed earlier: %s", newTopic.fails)
	}
	return newTopic.name, newTopic.recs
}

// kgoTransaction produces recs in one transaction and commits or aborts it.
func kgoTransaction(ctx context.Context, addr, topic string, recs []ccRecord, commit bool) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.TransactionalID(randomName("old-txn")),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.GzipCompression()))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	for _, r := range recs {
		kr := &kgo.Record{Partition: r.P, Key: r.K, Value: r.V}
		for _, h := range r.H {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.K, Value: h.V})
		}
		if err := cl.ProduceSync(ctx, kr).FirstErr(); err != nil {
			return err
		}
	}
	return cl.EndTransaction(ctx, kgo.TransactionEndTry(commit))
}

// ---- kafka-python, pinned ----

// kafka-python's generations: what api_version selects. kafka-python
// compares tuples, so (0, 11) is below (0, 11, 0), and Fetch v1 is chosen
// for exactly (0, 9): the spellings matter.
var kafkaPythonVersions = []struct {
	v                     string
	headers, groups, zstd bool
}{
	{v: "0.8.2"},                                          // Produce v0 / Fetch v0, magic 0; commits without membership (OffsetCommit v1)
	{v: "0.9", groups: true},                              // Produce v1 / Fetch v1, magic 0; JoinGroup v0
	{v: "0.10.0", groups: true},                           // Produce v2 / Fetch v2, magic 1
	{v: "0.10.1", groups: true},                           // Fetch v3, JoinGroup v1, ListOffsets v1
	{v: "0.11.0", headers: true, groups: true},            // Produce v3 / Fetch v4: record batches, headers
	{v: "1.0.0", headers: true, groups: true},             //
	{v: "1.1.0", headers: true, groups: true},             //
	{v: "2.0.0", headers: true, groups: true},             //
	{v: "2.1.0", headers: true, groups: true, zstd: true}, // Produce v7: zstd
}

func TestOldClientsKafkaPython(t *testing.T) {
	addr := bootstrap(t)
	have := pyReady("kafka_python_pinned.py", "kafka")(t)
	for _, g := range kafkaPythonVersions {
		v := g.v
		t.Run(v, func(t *testing.T) {
			var codecs []string
			for _, c := range have {
				if c != "zstd" || g.zstd {
					codecs = append(codecs, c)
				}
			}
			testOldClient(t, addr, oldClient{
				name: "kafka-python-" + v, headers: g.headers, commits: true, codecs: codecs,
				produce: func(t *testing.T, ctx context.Context, addr, topic, codec string, recs []ccRecord) []ccRecord {
					out, _ := runPinned(t, ctx, "produce", pinnedSpec{ccSpec: ccSpec{Bootstrap: addr, Topic: topic, Compression: codec, Records: recs}, APIVersion: v})
					return out
				},
				consume: func(t *testing.T, ctx context.Context, addr, topic, group string, counts map[int32]int64) ([]ccRecord, map[int32]int64) {
					c := map[string]int64{}
					for p, n := range counts {
						c[strconv.Itoa(int(p))] = n
					}
					return runPinned(t, ctx, "consume", pinnedSpec{ccSpec: ccSpec{Bootstrap: addr, Topic: topic, Counts: c}, APIVersion: v, Group: group})
				},
			})
		})
	}
}

// pinnedSpec is kafka_python_pinned.py's input.
type pinnedSpec struct {
	ccSpec
	APIVersion string `json:"api_version"`
	Group      string `json:"group,omitempty"`
}

// runPinned runs kafka_python_pinned.py and decodes its records and its
// committed offsets (if it printed them).
func runPinned(t *testing.T, ctx context.Context, mode string, spec pinnedSpec) ([]ccRecord, map[int32]int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	spec.TimeoutS = 60
	in, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := pyCmd("kafka_python_pinned.py")(t, ctx, mode)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafka-python %s %s: %v (context: %v)\nstderr:\n%s", spec.APIVersion, mode, err, ctx.Err(), ccTail(stderr.String()))
	}
	var out []ccRecord
	var committed map[int32]int64
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var c struct {
			Committed map[string]*int64 `json:"committed"`
		}
		if bytes.HasPrefix(line, []byte(`{"committed"`)) {
			if err := json.Unmarshal(line, &c); err != nil {
				t.Fatalf("kafka-python %s: bad line %q: %v", spec.APIVersion, line, err)
			}
			committed = map[int32]int64{}
			for p, o := range c.Committed {
				n, _ := strconv.Atoi(p)
				committed[int32(n)] = -1
				if o != nil {
					committed[int32(n)] = *o
				}
			}
			continue
		}
		var r ccRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("kafka-python %s %s: bad output line %q: %v", spec.APIVersion, mode, line, err)
		}
		out = append(out, r)
	}
	return out, committed
}

// ---- sarama, pinned ----

var saramaVersions = []sarama.KafkaVersion{
	sarama.V0_8_2_0, sarama.V0_9_0_0, sarama.V0_10_0_0, sarama.V0_10_2_0, sarama.V0_11_0_0, sarama.V1_0_0_0, sarama.V2_0_0_0, sarama.V2_1_0_0,
}

func TestOldClientsSarama(t *testing.T) {
	addr := bootstrap(t)
	for _, v := range saramaVersions {
		t.Run(v.String(), func(t *testing.T) {
			codecs := []string{"none", "gzip", "snappy"}
			if v.IsAtLeast(sarama.V0_10_0_0) {
				codecs = append(codecs, "lz4")
			}
			if v.IsAtLeast(sarama.V2_1_0_0) {
				codecs = append(codecs, "zstd")
			}
			testOldClient(t, addr, oldClient{
				name: "sarama-" + v.String(), headers: v.IsAtLeast(sarama.V0_11_0_0), commits: true, codecs: codecs,
				produce: func(t *testing.T, ctx context.Context, addr, topic, codec string, recs []ccRecord) []ccRecord {
					return saramaPinnedProduce(t, addr, topic, codec, v, recs)
				},
				consume: func(t *testing.T, ctx context.Context, addr, topic, group string, counts map[int32]int64) ([]ccRecord, map[int32]int64) {
					return saramaPinnedConsume(t, ctx, addr, topic, group, v, counts)
				},
			})
		})
	}
}

func saramaPinned(v sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = v
	cfg.ClientID = "gregor-compat-sarama-" + strings.ReplaceAll(v.String(), ".", "_")
	cfg.Metadata.AllowAutoTopicCreation = false
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	return cfg
}

func saramaPinnedProduce(t *testing.T, addr, topic, codec string, v sarama.KafkaVersion, recs []ccRecord) []ccRecord {
	t.Helper()
	cfg := saramaPinned(v)
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Compression = saramaCodecs[codec]
	cfg.Producer.Return.Successes = true
	cfg.Net.MaxOpenRequests = 1
	p, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama %s producer: %v", v, err)
	}
	defer p.Close()
	var msgs []*sarama.ProducerMessage
	for _, r := range recs {
		m := &sarama.ProducerMessage{Topic: topic, Partition: r.P, Key: sarama.ByteEncoder(r.K), Value: sarama.ByteEncoder(r.V)}
		for _, h := range r.H {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.K), Value: h.V})
		}
		msgs = append(msgs, m)
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatalf("sarama %s producing with %s: %v", v, codec, err)
	}
	var acked []ccRecord
	for _, m := range msgs {
		acked = append(acked, ccRecord{P: m.Partition, O: m.Offset})
	}
	return acked
}

// saramaPinnedConsume reads with a ConsumerGroup where the version has
// one (V0_10_2_0+), else with partition consumers, committing through an
// OffsetManager (V0_8_2_0+); committed offsets are read back with a new
// OffsetManager.
func saramaPinnedConsume(t *testing.T, ctx context.Context, addr, topic, group string, v sarama.KafkaVersion, counts map[int32]int64) ([]ccRecord, map[int32]int64) {
	t.Helper()
	cfg := saramaPinned(v)
	var out []ccRecord
	if group != "" && v.IsAtLeast(sarama.V0_10_2_0) {
		out = saramaGroupRead(t, ctx, addr, topic, group, cfg, counts)
	} else {
		out = saramaPartitionsRead(t, ctx, addr, topic, group, cfg, counts)
	}
	if group == "" {
		return out, nil
	}
	client, err := sarama.NewClient([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama %s client: %v", v, err)
	}
	defer client.Close()
	om, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		t.Fatalf("sarama %s offset manager: %v", v, err)
	}
	defer om.Close()
	committed := map[int32]int64{}
	for p := range counts {
		pom, err := om.ManagePartition(topic, p)
		if err != nil {
			t.Fatalf("sarama %s reading the committed offset of %d: %v", v, p, err)
		}
		committed[p], _ = pom.NextOffset()
		pom.AsyncClose()
	}
	return out, committed
}

func saramaPartitionsRead(t *testing.T, ctx context.Context, addr, topic, group string, cfg *sarama.Config, counts map[int32]int64) []ccRecord {
	t.Helper()
	client, err := sarama.NewClient([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama %s client: %v", cfg.Version, err)
	}
	defer client.Close()
	c, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatalf("sarama %s consumer: %v", cfg.Version, err)
	}
	defer c.Close()
	var om sarama.OffsetManager
	if group != "" {
		if om, err = sarama.NewOffsetManagerFromClient(group, client); err != nil {
			t.Fatalf("sarama %s offset manager: %v", cfg.Version, err)
		}
	}
	var out []ccRecord
	for p, n := range counts {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("sarama %s consuming %s/%d: %v", cfg.Version, topic, p, err)
		}
		var last int64 = -1
		for got := int64(0); got < n; got++ {
			select {
			case m := <-pc.Messages():
				out = append(out, saramaRecord(m))
				last = m.Offset
			case err := <-pc.Errors():
				t.Fatalf("sarama %s consuming %s/%d: %v", cfg.Version, topic, p, err)
			case <-ctx.Done():
				t.Fatalf("sarama %s consuming %s/%d: %d of %d records before %v", cfg.Version, topic, p, got, n, ctx.Err())
			}
		}
		pc.Close()
		if om != nil && last >= 0 {
			pom, err := om.ManagePartition(topic, p)
			if err != nil {
				t.Fatalf("sarama %s managing %s/%d: %v", cfg.Version, topic, p, err)
			}
			pom.MarkOffset(last+1, "")
			pom.AsyncClose()
		}
	}
	if om != nil {
		om.Commit()
		if err := om.Close(); err != nil {
			t.Fatalf("sarama %s committing: %v", cfg.Version, err)
		}
	}
	return out
}

func saramaRecord(m *sarama.ConsumerMessage) ccRecord {
	r := ccRecord{P: m.Partition, O: m.Offset, K: m.Key, V: m.Value}
	for _, h := range m.Headers {
		r.H = append(r.H, ccHeader{K: string(h.Key), V: h.Value})
	}
	return r
}

// saramaCountingHandler consumes claims until every partition has its
// count, marking each message.
type saramaCountingHandler struct {
	mu     sync.Mutex
	counts map[int32]int64
	got    map[int32]int64
	out    []ccRecord
	done   chan struct{}
	once   sync.Once
}

func (h *saramaCountingHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaCountingHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaCountingHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		if h.got[m.Partition] < h.counts[m.Partition] {
			h.out = append(h.out, saramaRecord(m))
			h.got[m.Partition]++
		}
		all := true
		for p, n := range h.counts {
			all = all && h.got[p] >= n
		}
		h.mu.Unlock()
		s.MarkMessage(m, "")
		if all {
			s.Commit()
			h.once.Do(func() { close(h.done) })
		}
	}
	return nil
}

func saramaGroupRead(t *testing.T, ctx context.Context, addr, topic, group string, cfg *sarama.Config, counts map[int32]int64) []ccRecord {
	t.Helper()
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatalf("sarama %s consumer group: %v", cfg.Version, err)
	}
	h := &saramaCountingHandler{counts: counts, got: map[int32]int64{}, done: make(chan struct{})}
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		var err error
		for cctx.Err() == nil && err == nil {
			err = cg.Consume(cctx, []string{topic}, h)
		}
		errc <- err
	}()
	select {
	case <-h.done:
	case err := <-errc:
		t.Fatalf("sarama %s group consume: %v", cfg.Version, err)
	case <-ctx.Done():
		t.Fatalf("sarama %s group consume: %v of %v records before %v", cfg.Version, h.got, counts, ctx.Err())
	}
	cancel()
	<-errc
	if err := cg.Close(); err != nil {
		t.Fatalf("sarama %s closing the group: %v", cfg.Version, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.out
}

// ---- franz-go, capped ----

var kgoCaps = []struct {
	name string
	v    *kversion.Versions
}{
	{"0.8.0", kversion.V0_8_0()}, {"0.8.1", kversion.V0_8_1()}, {"0.8.2", kversion.V0_8_2()},
	{"0.9.0", kversion.V0_9_0()}, {"0.10.0", kversion.V0_10_0()}, {"0.10.1", kversion.V0_10_1()},
	{"0.10.2", kversion.V0_10_2()}, {"0.11.0", kversion.V0_11_0()}, {"1.0.0", kversion.V1_0_0()},
	{"2.0.0", kversion.V2_0_0()}, {"2.1.0", kversion.V2_1_0()},
}

func TestOldClientsFranzGoCapped(t *testing.T) {
	addr := bootstrap(t)
	for _, c := range kgoCaps {
		t.Run(c.name, func(t *testing.T) {
			fetch, _ := c.v.LookupMaxKeyVersion(1)
			produce, _ := c.v.LookupMaxKeyVersion(0)
			// kversion's 0.8.2 has JoinGroup v0 (0.8.2 defined it) but no
			// SyncGroup, without which franz-go cannot be in a group.
			_, groups := c.v.LookupMaxKeyVersion(14)
			_, commits := c.v.LookupMaxKeyVersion(8)
			_, coordinator := c.v.LookupMaxKeyVersion(10)
			codecs := []string{"none", "gzip", "snappy"}
			if produce >= 2 { // franz-go writes lz4 only with Produce v2+
				codecs = append(codecs, "lz4")
			}
			if produce >= 7 {
				codecs = append(codecs, "zstd")
			}
			testOldClient(t, addr, oldClient{
				name: "franz-go-" + c.name, headers: fetch >= 4, commits: commits && coordinator, codecs: codecs,
				produce: func(t *testing.T, ctx context.Context, addr, topic, codec string, recs []ccRecord) []ccRecord {
					return kgoCappedProduce(t, ctx, addr, topic, codec, c.v, recs)
				},
				consume: func(t *testing.T, ctx context.Context, addr, topic, group string, counts map[int32]int64) ([]ccRecord, map[int32]int64) {
					return kgoCappedConsume(t, ctx, addr, topic, group, c.v, groups, counts), nil
				},
			})
		})
	}
}

func kgoCappedProduce(t *testing.T, ctx context.Context, addr, topic, codec string, v *kversion.Versions, recs []ccRecord) []ccRecord {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(v), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgoCodecs[codec]),
		kgo.ProducerLinger(5*time.Millisecond), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Partition: r.P, Key: r.K, Value: r.V}
		for _, h := range r.H {
			krs[i].Headers = append(krs[i].Headers, kgo.RecordHeader{Key: h.K, Value: h.V})
		}
	}
	res := cl.ProduceSync(ctx, krs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("franz-go (capped) producing with %s: %v", codec, err)
	}
	var acked []ccRecord
	for _, r := range res {
		acked = append(acked, ccRecord{P: r.Record.Partition, O: r.Record.Offset})
	}
	return acked
}

// kgoCappedConsume reads in a group (joining it if the versions have
// groups, else assigning partitions and committing with kadm-free
// CommitOffsetsSync), or with assigned partitions when group is empty.
func kgoCappedConsume(t *testing.T, ctx context.Context, addr, topic, group string, v *kversion.Versions, groups bool, counts map[int32]int64) []ccRecord {
	t.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.MaxVersions(v), kgo.FetchMaxWait(200 * time.Millisecond)}
	if group != "" && groups {
		opts = append(opts, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	} else {
		offsets := map[int32]kgo.Offset{}
		for p := range counts {
			offsets[p] = kgo.NewOffset().At(0)
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []ccRecord
	got := map[int32]int64{}
	var recs []*kgo.Record
	done := func() bool {
		for p, n := range counts {
			if got[p] < n {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go (capped) reading %s: %v of %v before %v", topic, got, counts, ctx.Err())
		}
		if err := fs.Err(); err != nil {
			t.Fatalf("franz-go (capped) reading %s: %v", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if got[r.Partition] < counts[r.Partition] {
				out = append(out, ccFromKgo(r))
				recs = append(recs, r)
				got[r.Partition]++
			}
		})
	}
	if group == "" {
		return out
	}
	if groups {
		if err := cl.CommitRecords(ctx, recs...); err != nil {
			t.Fatalf("franz-go (capped) committing: %v", err)
		}
		return out
	}
	adm := kadm.NewClient(cl)
	offs := kadm.Offsets{}
	for p, n := range counts {
		offs.Add(kadm.Offset{Topic: topic, Partition: p, At: n, LeaderEpoch: -1})
	}
	resp, err := adm.CommitOffsets(ctx, group, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("franz-go (capped) committing for %s without membership: %v", group, err)
	}
	return out
}

// ---- librdkafka without ApiVersions ----

// librdkafka with api.version.request=false speaks the versions of
// broker.version.fallback, as it must with brokers older than 0.10: kcat
// produces with them (magic 0 for 0.9, magic 1 for 0.10) and reads back
// (Fetch v1 and v2, down-converted).
func TestOldClientsLibrdkafkaFallback(t *testing.T) {
	addr := bootstrap(t)
	kcatReady(t)
	for _, fallback := range []string{"0.8.2", "0.9.0", "0.10.0"} {
		t.Run(fallback, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			topic := randomName("kcat-fallback")
			ccCreateTopic(t, addr, topic, 1)
			pinned := []string{"-X", "api.version.request=false", "-X", "broker.version.fallback=" + fallback}
			var in bytes.Buffer
			var want []ccRecord
			for i := range 20 {
				fmt.Fprintf(&in, "k%d:v%d\n", i, i)
				want = append(want, ccRecord{P: 0, O: int64(i), K: []byte(fmt.Sprint("k", i)), V: []byte(fmt.Sprint("v", i))})
			}
			args := append([]string{"-P", "-b", addr, "-t", topic, "-p", "0", "-K", ":", "-z", "gzip", "-X", "linger.ms=5", "-q"}, pinned...)
			cmd := exec.CommandContext(ctx, "kcat", args...)
			cmd.Stdin = &in
			if out, err := cmd.CombinedOutput(); err != nil || bytes.Contains(out, []byte("ERROR")) {
				t.Fatalf("kcat %v: %v\n%s", args, err, out)
			}
			ccCheckSame(t, "franz-go reading what kcat (fallback "+fallback+") produced", want, ccKgoRead(t, ctx, addr, topic, 1))
			args = append([]string{"-C", "-b", addr, "-t", topic, "-o", "beginning", "-e", "-J", "-q", "-X", "fetch.wait.max.ms=200"}, pinned...)
			out, err := exec.CommandContext(ctx, "kcat", args...).Output()
			if err != nil {
				t.Fatalf("kcat %v: %v", args, err)
			}
			var got []ccRecord
			for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
				var m struct {
					Partition int32   `json:"partition"`
					Offset    int64   `json:"offset"`
					Key       *string `json:"key"`
					Payload   *string `json:"payload"`
				}
				if err := json.Unmarshal(line, &m); err != nil {
					t.Fatalf("kcat -J line %q: %v", line, err)
				}
				got = append(got, ccRecord{P: m.Partition, O: m.Offset, K: []byte(*m.Key), V: []byte(*m.Payload)})
			}
			ccCheckSame(t, "kcat (fallback "+fallback+") reading back", want, got)
		})
	}
}

// A compressed legacy message set (sarama at 0.10.2, gzip) whose records
// together pass max.message.bytes uncompressed but not compressed is
// taken, as Kafka 3.x takes it: the v2 batch it becomes is checked in the
// codec it is stored in (UnifiedLog.append's messageSizeMaybeChanged).
// Gregor checked the uncompressed batch and answered MESSAGE_TOO_LARGE.
// Uncompressed, the same records are still refused.
func TestLegacyCompressedSetSizedCompressed(t *testing.T) {
	addr := bootstrap(t)
	_, _, topic, _ := topicClient(t, "legacy-size", map[string]*string{"max.message.bytes": kadm.StringPtr("10000")})
	value := strings.Repeat("a", 200)
	send := func(codec sarama.CompressionCodec) error {
		cfg := saramaPinned(sarama.V0_10_2_0)
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cfg.Producer.Compression = codec
		cfg.Producer.Return.Successes = true
		cfg.Producer.Retry.Max = 0
		cfg.Net.MaxOpenRequests = 1
		p, err := sarama.NewSyncProducer([]string{addr}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		var msgs []*sarama.ProducerMessage
		for range 100 { // 20 KB uncompressed, about 1 KB in gzip
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(value)})
		}
		return p.SendMessages(msgs)
	}
	if err := send(sarama.CompressionGZIP); err != nil {
		t.Fatalf("100 records of 200 B in one gzip message set on a topic of max.message.bytes 10000: %v", err)
	}
	err := send(sarama.CompressionNone)
	var pes sarama.ProducerErrors
	if !errors.As(err, &pes) || len(pes) == 0 || !errors.Is(pes[0].Err, sarama.ErrMessageSizeTooLarge) {
		t.Fatalf("the same records uncompressed: %v, want MESSAGE_TOO_LARGE", err)
	}
}
