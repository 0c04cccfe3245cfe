package compat

// Real, independently written clients produce to and fetch from the broker:
// kcat and confluent-kafka (librdkafka), kafka-python, kafkajs, sarama and
// kafka-go. Each produces records with keys, values and headers under every
// compression codec it has, reads them back from the beginning with its own
// consumer, and franz-go cross-checks that exactly those records are stored,
// in order per partition, at dense offsets from 0: nothing lost, nothing
// duplicated. Each client also reads what franz-go produced. No consumer
// groups: every consumer uses explicit partitions and offsets.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	segkafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"gregor/internal/wait"
)

// ccRecord is one record as the scripts exchange it (bytes as base64).
type ccRecord struct {
	P int32      `json:"p"`
	O int64      `json:"o"`
	K []byte     `json:"k"`
	V []byte     `json:"v"`
	H []ccHeader `json:"h"`
}

type ccHeader struct {
	K string `json:"k"`
	V []byte `json:"v"`
}

// ccSpec is the JSON a script reads on stdin.
type ccSpec struct {
	Bootstrap   string           `json:"bootstrap"`
	Topic       string           `json:"topic"`
	Compression string           `json:"compression"`
	TimeoutS    int              `json:"timeout_s"`
	Records     []ccRecord       `json:"records,omitempty"`
	Counts      map[string]int64 `json:"counts,omitempty"`
}

// ccClient is one client under test.
type ccClient struct {
	name string
	// ready skips the test when the client is not installed; it returns
	// the codecs the client can produce and consume.
	ready func(t *testing.T) []string
	// textOnly clients (kcat) carry line-oriented text keys and values
	// and the same headers for every record of one produce run.
	textOnly bool
	// produce sends recs (in order) with codec and returns the
	// acknowledged (partition, offset) pairs, or nil if the client does
	// not report them.
	produce func(t *testing.T, ctx context.Context, addr, topic, codec string, recs []ccRecord) []ccRecord
	// consume reads counts[p] records of each partition from offset 0.
	consume func(t *testing.T, ctx context.Context, addr, topic string, counts map[int32]int64) []ccRecord
}

const (
	ccPartitions = 3
	ccPerCodec   = 150
)

var allCodecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

func ccClients() []ccClient {
	return []ccClient{
		{name: "kcat", ready: kcatReady, textOnly: true, produce: kcatProduce, consume: kcatConsume},
		{name: "kafka-python", ready: pyReady("kafka_python_client.py", "kafka"), produce: scriptProduce(pyCmd("kafka_python_client.py")), consume: scriptConsume(pyCmd("kafka_python_client.py"))},
		{name: "confluent-kafka", ready: pyReady("confluent_client.py", "confluent_kafka"), produce: scriptProduce(pyCmd("confluent_client.py")), consume: scriptConsume(pyCmd("confluent_client.py"))},
		{name: "kafkajs", ready: kafkajsReady, produce: scriptProduce(jsCmd), consume: scriptConsume(jsCmd)},
		{name: "sarama", ready: func(*testing.T) []string { return allCodecs }, produce: saramaProduce, consume: saramaConsume},
		{name: "kafka-go", ready: func(*testing.T) []string { return allCodecs }, produce: kafkaGoProduce, consume: kafkaGoConsume},
	}
}

// TestClientsProduceConsume: each client produces under each of its codecs,
// consumes its own records, and franz-go sees exactly those records.
func TestClientsProduceConsume(t *testing.T) {
	addr := bootstrap(t)
	for _, c := range ccClients() {
		t.Run(c.name, func(t *testing.T) {
			codecs := c.ready(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			topic := randomName("clients-" + c.name)
			ccCreateTopic(t, addr, topic, ccPartitions)
			var want []ccRecord
			for _, codec := range codecs {
				recs := ccGen(c.name, codec, ccPerCodec, c.textOnly)
				acked := c.produce(t, ctx, addr, topic, codec, recs)
				next := ccNextOffsets(want)
				want = append(want, recs...)
				if acked != nil {
					ccCheckAcks(t, c.name+" "+codec, recs, next, acked)
				}
			}
			ccNumber(want)
			ccCheckSame(t, "franz-go reading what "+c.name+" produced", want, ccKgoRead(t, ctx, addr, topic, ccPartitions))
			ccCheckSame(t, c.name+" reading what it produced", want, c.consume(t, ctx, addr, topic, ccCounts(want)))
			ccCheckCodecs(t, ctx, addr, topic, codecs)
		})
	}
}

// TestClientsFetchFranzGoRecords: each client reads what franz-go produced
// under every codec the client can decode.
func TestClientsFetchFranzGoRecords(t *testing.T) {
	addr := bootstrap(t)
	for _, c := range ccClients() {
		t.Run(c.name, func(t *testing.T) {
			codecs := c.ready(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			topic := randomName("fromkgo-" + c.name)
			ccCreateTopic(t, addr, topic, ccPartitions)
			var want []ccRecord
			for _, codec := range codecs {
				recs := ccGen("franz-go", codec, ccPerCodec, c.textOnly)
				ccKgoProduce(t, ctx, addr, topic, codec, recs)
				want = append(want, recs...)
			}
			ccNumber(want)
			ccCheckSame(t, "franz-go reading what it produced", want, ccKgoRead(t, ctx, addr, topic, ccPartitions))
			ccCheckSame(t, c.name+" reading what franz-go produced", want, c.consume(t, ctx, addr, topic, ccCounts(want)))
			ccCheckCodecs(t, ctx, addr, topic, codecs)
		})
	}
}

// ccGen makes n records spread round-robin over the partitions, with
// compressible values, some binary ones unless textOnly, and headers.
func ccGen(client, codec string, n int, textOnly bool) []ccRecord {
	recs := make([]ccRecord, n)
	for i := range recs {
		p := int32(i % ccPartitions)
		v := fmt.Sprintf("%s/%s/value-%d/", client, codec, i) + strings.Repeat("gregor-", i%40)
		if !textOnly && i%7 == 3 {
			v += "\x00\x01\xfe\xff\n:\t"
		}
		recs[i] = ccRecord{P: p, K: []byte(fmt.Sprintf("%s-%s-key-%d", client, codec, i)), V: []byte(v)}
		if textOnly {
			recs[i].H = []ccHeader{{K: "client", V: []byte(client)}, {K: "codec", V: []byte(codec)}}
		} else {
			recs[i].H = []ccHeader{{K: "client", V: []byte(client)}, {K: "codec", V: []byte(codec)}, {K: "i", V: []byte(strconv.Itoa(i))}}
		}
	}
	return recs
}

// ccNumber assigns the offsets a fresh topic must give recs: dense from 0
// per partition, in order.
func ccNumber(recs []ccRecord) {
	next := map[int32]int64{}
	for i := range recs {
		recs[i].O = next[recs[i].P]
		next[recs[i].P]++
	}
}

func ccNextOffsets(recs []ccRecord) map[int32]int64 {
	next := map[int32]int64{}
	for _, r := range recs {
		next[r.P]++
	}
	return next
}

func ccCounts(recs []ccRecord) map[int32]int64 { return ccNextOffsets(recs) }

// ccCheckAcks checks that the acknowledged offsets are exactly those the
// records must have been stored at.
func ccCheckAcks(t *testing.T, what string, recs []ccRecord, next map[int32]int64, acked []ccRecord) {
	t.Helper()
	want := map[[2]int64]bool{}
	for _, r := range recs {
		want[[2]int64{int64(r.P), next[r.P]}] = true
		next[r.P]++
	}
	if len(acked) != len(recs) {
		t.Errorf("%s: %d records acknowledged, %d produced", what, len(acked), len(recs))
	}
	for _, a := range acked {
		k := [2]int64{int64(a.P), a.O}
		if !want[k] {
			t.Errorf("%s: acknowledged partition %d offset %d, not where a produced record belongs (or twice)", what, a.P, a.O)
			return
		}
		delete(want, k)
	}
}

// ccCheckSame compares records partition by partition, in order, offsets
// included.
func ccCheckSame(t *testing.T, what string, want, got []ccRecord) {
	t.Helper()
	wp, gp := ccByPartition(want), ccByPartition(got)
	for p := int32(0); p < ccPartitions; p++ {
		w, g := wp[p], gp[p]
		for i := 0; i < len(w) && i < len(g); i++ {
			if err := ccDiff(w[i], g[i]); err != nil {
				t.Errorf("%s: partition %d record %d: %v", what, p, i, err)
				return
			}
		}
		if len(w) != len(g) {
			t.Errorf("%s: partition %d has %d records, want %d", what, p, len(g), len(w))
		}
	}
	for p := range gp {
		if p < 0 || p >= ccPartitions {
			t.Errorf("%s: %d records from partition %d, which does not exist", what, len(gp[p]), p)
		}
	}
}

func ccByPartition(recs []ccRecord) map[int32][]ccRecord {
	m := map[int32][]ccRecord{}
	for _, r := range recs {
		m[r.P] = append(m[r.P], r)
	}
	return m
}

func ccDiff(w, g ccRecord) error {
	switch {
	case w.O != g.O:
		return fmt.Errorf("offset %d, want %d (key %q)", g.O, w.O, w.K)
	case !bytes.Equal(w.K, g.K):
		return fmt.Errorf("key %q, want %q", g.K, w.K)
	case !bytes.Equal(w.V, g.V):
		return fmt.Errorf("key %q: value %q, want %q", w.K, g.V, w.V)
	case len(w.H) != len(g.H):
		return fmt.Errorf("key %q: %d headers %v, want %d", w.K, len(g.H), g.H, len(w.H))
	}
	for i := range w.H {
		if w.H[i].K != g.H[i].K || !bytes.Equal(w.H[i].V, g.H[i].V) {
			return fmt.Errorf("key %q: header %d is %s=%q, want %s=%q", w.K, i, g.H[i].K, g.H[i].V, w.H[i].K, w.H[i].V)
		}
	}
	return nil
}

// ccCreateTopic creates a topic with kadm.
func ccCreateTopic(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating topic %s: %v", topic, err)
	}
	// On a cluster, CreateTopics is answered once the broker that took it
	// (the controller) knows the leaders; the others learn them a moment
	// later, as in Kafka, and some clients (kafka-go) do not retry a
	// partition without a leader. Wait until every broker names them.
	awaitLeadersEverywhere(ctx, t, cl, topic, partitions)
}

// awaitLeadersEverywhere waits until every broker's Metadata names a
// leader for each of topic's partitions. Its last request goes through
// cl itself and must find them too: kgo keeps what a Metadata request
// through the client answered for its sharded requests (DeleteRecords,
// ListOffsets) and asks again only after a second, so an answer from a
// broker that did not know the topic yet must not be the last it got.
func awaitLeadersEverywhere(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, partitions int32) {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false // kmsg's default is true
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	// complete says what m lacks of topic, "" if nothing.
	complete := func(m *kmsg.MetadataResponse) string {
		if len(m.Topics) != 1 {
			return fmt.Sprintf("%d topics", len(m.Topics))
		}
		if st := m.Topics[0]; st.ErrorCode != 0 || len(st.Partitions) != int(partitions) {
			return fmt.Sprintf("%v, %d partitions", kerr.ErrorForCode(st.ErrorCode), len(st.Partitions))
		}
		for _, p := range m.Topics[0].Partitions {
			if p.ErrorCode != 0 || p.Leader < 0 {
				return fmt.Sprintf("partition %d leader %d error %d", p.Partition, p.Leader, p.ErrorCode)
			}
		}
		return ""
	}
	var last string
	if !wait.Until(20*time.Second, func() bool {
		all, err := req.RequestWith(ctx, cl)
		if err != nil {
			last = err.Error()
			return false
		}
		for _, b := range all.Brokers {
			r, err := cl.Broker(int(b.NodeID)).Request(ctx, req)
			if err != nil {
				last = fmt.Sprintf("broker %d: %v", b.NodeID, err)
				return false
			}
			if last = complete(r.(*kmsg.MetadataResponse)); last != "" {
				last = fmt.Sprintf("broker %d: %s", b.NodeID, last)
				return false
			}
		}
		again, err := req.RequestWith(ctx, cl)
		if err != nil {
			last = err.Error()
			return false
		}
		last = complete(again)
		return last == ""
	}) {
		t.Fatalf("timed out after 20s waiting for every broker to name the leaders of %s; last: %s", topic, last)
	}
}

// ccKgoRead reads every partition from offset 0 up to its high watermark.
func ccKgoRead(t *testing.T, ctx context.Context, addr, topic string, partitions int32) []ccRecord {
	t.Helper()
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("listing end offsets of %s: %v", topic, err)
	}
	hwm := map[int32]int64{}
	for p := int32(0); p < partitions; p++ {
		o, ok := ends.Lookup(topic, p)
		if !ok {
			t.Fatalf("no end offset for %s/%d", topic, p)
		}
		hwm[p] = o.Offset
	}
	return ccKgoReadTo(t, ctx, addr, topic, hwm)
}

// ccKgoReadTo reads each partition from offset 0 up to ends[p], whatever
// is appended after.
func ccKgoReadTo(t *testing.T, ctx context.Context, addr, topic string, ends map[int32]int64) []ccRecord {
	t.Helper()
	offsets := map[int32]kgo.Offset{}
	for p := range ends {
		offsets[p] = kgo.NewOffset().At(0)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []ccRecord
	next := map[int32]int64{}
	done := func() bool {
		for p, h := range ends {
			if next[p] < h {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go reading %s: read up to %v of %v: %v", topic, next, ends, ctx.Err())
		}
		if err := fs.Err(); err != nil {
			t.Fatalf("franz-go reading %s: %v", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < ends[r.Partition] {
				out = append(out, ccFromKgo(r))
			}
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
		})
	}
	return out
}

func ccFromKgo(r *kgo.Record) ccRecord {
	c := ccRecord{P: r.Partition, O: r.Offset, K: r.Key, V: r.Value}
	for _, h := range r.Headers {
		c.H = append(c.H, ccHeader{K: h.Key, V: h.Value})
	}
	return c
}

var kgoCodecs = map[string]kgo.CompressionCodec{
	"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
	"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
}

// ccKgoProduce produces recs to their partitions with one codec.
func ccKgoProduce(t *testing.T, ctx context.Context, addr, topic, codec string, recs []ccRecord) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgoCodecs[codec]),
		kgo.ProducerLinger(5*time.Millisecond))
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
	if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		t.Fatalf("franz-go producing with %s: %v", codec, err)
	}
}

var codecNames = map[int8]string{0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}

// ccCheckCodecs fetches the raw batches of the topic and checks that each
// codec the records were produced with is among the stored batches: the
// broker kept batches as the producer compressed them.
func ccCheckCodecs(t *testing.T, ctx context.Context, addr, topic string, codecs []string) {
	t.Helper()
	// Fetch v12 names topics (v13+ wants topic IDs).
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(kversion.V2_8_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]int{}
	for p := int32(0); p < ccPartitions; p++ {
		for _, b := range ccRawBatches(t, ctx, cl, topic, p) {
			seen[codecNames[int8(b.Attributes&7)]]++
		}
	}
	for _, c := range codecs {
		if seen[c] == 0 {
			t.Errorf("no stored batch of %s is %s-compressed; batches by codec: %v", topic, c, seen)
		}
	}
}

// ccRawBatches fetches every record batch of a partition with raw Fetch
// requests (the batch headers are what matter, not the records).
func ccRawBatches(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, p int32) []kmsg.RecordBatch {
	t.Helper()
	var out []kmsg.RecordBatch
	var offset int64
	// Fetch from the partition's leader (in a cluster, other brokers
	// answer NOT_LEADER_OR_FOLLOWER).
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	leader := cl.Broker(int(md.Topics[topic].Partitions[p].Leader))
	for {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 10
		req.MaxBytes = 8 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.FetchOffset = offset
		rp.PartitionMaxBytes = 4 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		kresp, err := leader.Request(ctx, req)
		if err != nil {
			t.Fatalf("raw fetch %s/%d at %d: %v", topic, p, offset, err)
		}
		resp := kresp.(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("raw fetch %s/%d: response has %d topics", topic, p, len(resp.Topics))
		}
		rp2 := resp.Topics[0].Partitions[0]
		if rp2.ErrorCode != 0 {
			t.Fatalf("raw fetch %s/%d at %d: error code %d", topic, p, offset, rp2.ErrorCode)
		}
		if offset >= rp2.HighWatermark {
			return out
		}
		raw := rp2.RecordBatches
		progressed := false
		for len(raw) >= 12 {
			n := int(int32(uint32(raw[8])<<24|uint32(raw[9])<<16|uint32(raw[10])<<8|uint32(raw[11]))) + 12
			if n > len(raw) {
				break // a partial batch at the end of the response
			}
			var b kmsg.RecordBatch
			if err := b.ReadFrom(raw[:n]); err != nil {
				t.Fatalf("raw fetch %s/%d: decoding batch at %d: %v", topic, p, offset, err)
			}
			raw = raw[n:]
			if end := b.FirstOffset + int64(b.LastOffsetDelta) + 1; end > offset {
				out = append(out, b)
				offset = end
				progressed = true
			}
		}
		if !progressed {
			t.Fatalf("raw fetch %s/%d at %d below high watermark %d returned no whole batch", topic, p, offset, rp2.HighWatermark)
		}
	}
}

// ---- running scripts ----

func repoDir(t *testing.T, rel string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), rel)
}

// scriptCmd builds the command for a script; dir is its working directory.
type scriptCmd func(t *testing.T, ctx context.Context, mode string) *exec.Cmd

const systemPython = "/usr/bin/python3"

func pyCmd(script string) scriptCmd {
	return func(t *testing.T, ctx context.Context, mode string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, systemPython, filepath.Join(repoDir(t, "py"), script), mode)
		cmd.Dir = repoDir(t, "py")
		return cmd
	}
}

func jsCmd(t *testing.T, ctx context.Context, mode string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "node", filepath.Join(repoDir(t, "js"), "kafkajs_client.js"), mode)
	cmd.Dir = repoDir(t, "js")
	cmd.Env = append(os.Environ(), "KAFKAJS_NO_PARTITIONER_WARNING=1")
	return cmd
}

// runJSONLines runs cmd with spec on stdin under a bounded timeout and
// decodes one ccRecord per stdout line.
func runJSONLines(t *testing.T, ctx context.Context, what string, mk scriptCmd, mode string, spec ccSpec) []ccRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	spec.TimeoutS = 60
	in, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := mk(t, ctx, mode)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v (context: %v)\nstderr:\n%s", what, mode, err, ctx.Err(), ccTail(stderr.String()))
	}
	var out []ccRecord
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r ccRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s %s: bad output line %q: %v", what, mode, sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func ccTail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

func scriptProduce(mk scriptCmd) func(*testing.T, context.Context, string, string, string, []ccRecord) []ccRecord {
	return func(t *testing.T, ctx context.Context, addr, topic, codec string, recs []ccRecord) []ccRecord {
		return runJSONLines(t, ctx, "producing with "+codec, mk, "produce",
			ccSpec{Bootstrap: addr, Topic: topic, Compression: codec, Records: recs})
	}
}

func scriptConsume(mk scriptCmd) func(*testing.T, context.Context, string, string, map[int32]int64) []ccRecord {
	return func(t *testing.T, ctx context.Context, addr, topic string, counts map[int32]int64) []ccRecord {
		c := map[string]int64{}
		for p, n := range counts {
			c[strconv.Itoa(int(p))] = n
		}
		return runJSONLines(t, ctx, "consuming", mk, "consume", ccSpec{Bootstrap: addr, Topic: topic, Counts: c})
	}
}

// pyReady skips unless /usr/bin/python3 imports module; the codecs are
// those the library can use here (kafka-python needs extra modules for
// snappy, lz4 and zstd).
func pyReady(script, module string) func(t *testing.T) []string {
	return func(t *testing.T) []string {
		t.Helper()
		if _, err := os.Stat(systemPython); err != nil {
			t.Skipf("%s not found: install python3 (apt-get install python3)", systemPython)
		}
		out, err := exec.Command(systemPython, "-c", "import "+module).CombinedOutput()
		if err != nil {
			t.Skipf("%s cannot import %s (%v: %s): apt-get install python3-%s", systemPython, module, err, bytes.TrimSpace(out), strings.ReplaceAll(module, "_", "-"))
		}
		if module != "kafka" {
			return allCodecs
		}
		out, err = exec.Command(systemPython, "-c",
			"import kafka.codec as c; print(' '.join(n for n, ok in [('gzip', c.has_gzip()), ('snappy', c.has_snappy()), ('lz4', c.has_lz4()), ('zstd', c.has_zstd())] if ok))").Output()
		if err != nil {
			t.Fatalf("asking kafka-python for its codecs: %v", err)
		}
		codecs := append([]string{"none"}, strings.Fields(string(out))...)
		if len(codecs) < len(allCodecs) {
			t.Logf("kafka-python can use only %v here (python3-snappy, python3-lz4, python3-zstandard add the rest)", codecs)
		}
		return codecs
	}
}

func kafkajsReady(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not found: install nodejs, then npm ci in compat/js")
	}
	if _, err := os.Stat(filepath.Join(repoDir(t, "js"), "node_modules", "kafkajs", "package.json")); err != nil {
		t.Skip("kafkajs not installed: run npm ci in compat/js")
	}
	return []string{"none", "gzip"} // kafkajs has no other built-in codec
}

// ---- kcat ----

func kcatReady(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat not found: apt-get install kcat")
	}
	return allCodecs
}

// kcatProduce runs kcat -P once per partition; headers are per run, which
// is why kcat's records carry the same headers within a run.
func kcatProduce(t *testing.T, ctx context.Context, addr, topic, codec string, recs []ccRecord) []ccRecord {
	t.Helper()
	for p := int32(0); p < ccPartitions; p++ {
		var in bytes.Buffer
		var hdrs []ccHeader
		for _, r := range recs {
			if r.P == p {
				fmt.Fprintf(&in, "%s:%s\n", r.K, r.V)
				hdrs = r.H
			}
		}
		args := []string{"-P", "-b", addr, "-t", topic, "-p", strconv.Itoa(int(p)), "-K", ":", "-z", codec,
			"-X", "acks=all", "-X", "linger.ms=5", "-q"}
		for _, h := range hdrs {
			args = append(args, "-H", h.K+"="+string(h.V))
		}
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		cmd := exec.CommandContext(cctx, "kcat", args...)
		cmd.Stdin = &in
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil || bytes.Contains(out, []byte("ERROR")) || bytes.Contains(out, []byte("failed")) {
			t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, ccTail(string(out)))
		}
	}
	return nil // kcat -P does not print offsets
}

// kcatConsume reads the topic from the beginning to its end with -J
// (one JSON object per message).
func kcatConsume(t *testing.T, ctx context.Context, addr, topic string, counts map[int32]int64) []ccRecord {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, "kcat", "-C", "-b", addr, "-t", topic, "-o", "beginning", "-e", "-J", "-q",
		"-X", "fetch.wait.max.ms=200")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat -C: %v\n%s", err, ccTail(stderr.String()))
	}
	var out []ccRecord
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var m struct {
			Partition int32    `json:"partition"`
			Offset    int64    `json:"offset"`
			Headers   []string `json:"headers"`
			Key       *string  `json:"key"`
			Payload   *string  `json:"payload"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("kcat -C -J line %q: %v", sc.Text(), err)
		}
		r := ccRecord{P: m.Partition, O: m.Offset}
		if m.Key != nil {
			r.K = []byte(*m.Key)
		}
		if m.Payload != nil {
			r.V = []byte(*m.Payload)
		}
		for i := 0; i+1 < len(m.Headers); i += 2 {
			r.H = append(r.H, ccHeader{K: m.Headers[i], V: []byte(m.Headers[i+1])})
		}
		out = append(out, r)
	}
	return out
}

// ---- sarama ----

var saramaCodecs = map[string]sarama.CompressionCodec{
	"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
	"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
}

func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "gregor-compat-sarama"
	cfg.Metadata.AllowAutoTopicCreation = false
	return cfg
}

func saramaProduce(t *testing.T, ctx context.Context, addr, topic, codec string, recs []ccRecord) []ccRecord {
	t.Helper()
	cfg := saramaConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Compression = saramaCodecs[codec]
	cfg.Producer.Return.Successes = true
	cfg.Net.MaxOpenRequests = 1
	p, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	defer p.Close()
	var acked []ccRecord
	for i := 0; i < len(recs); i += 50 {
		var msgs []*sarama.ProducerMessage
		for _, r := range recs[i:min(i+50, len(recs))] {
			m := &sarama.ProducerMessage{Topic: topic, Partition: r.P, Key: sarama.ByteEncoder(r.K), Value: sarama.ByteEncoder(r.V)}
			for _, h := range r.H {
				m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.K), Value: h.V})
			}
			msgs = append(msgs, m)
		}
		if err := p.SendMessages(msgs); err != nil {
			t.Fatalf("sarama producing with %s: %v", codec, err)
		}
		for _, m := range msgs {
			acked = append(acked, ccRecord{P: m.Partition, O: m.Offset})
		}
	}
	return acked
}

func saramaConsume(t *testing.T, ctx context.Context, addr, topic string, counts map[int32]int64) []ccRecord {
	t.Helper()
	c, err := sarama.NewConsumer([]string{addr}, saramaConfig())
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer c.Close()
	var out []ccRecord
	for p, n := range counts {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("sarama consuming %s/%d: %v", topic, p, err)
		}
		for got := int64(0); got < n; got++ {
			select {
			case m := <-pc.Messages():
				r := ccRecord{P: m.Partition, O: m.Offset, K: m.Key, V: m.Value}
				for _, h := range m.Headers {
					r.H = append(r.H, ccHeader{K: string(h.Key), V: h.Value})
				}
				out = append(out, r)
			case err := <-pc.Errors():
				t.Fatalf("sarama consuming %s/%d: %v", topic, p, err)
			case <-ctx.Done():
				t.Fatalf("sarama consuming %s/%d: %d of %d records before %v", topic, p, got, n, ctx.Err())
			}
		}
		pc.Close()
	}
	return out
}

// ---- kafka-go ----

var kafkaGoCodecs = map[string]segkafka.Compression{
	"none": 0, "gzip": segkafka.Gzip, "snappy": segkafka.Snappy, "lz4": segkafka.Lz4, "zstd": segkafka.Zstd,
}

func kafkaGoProduce(t *testing.T, ctx context.Context, addr, topic, codec string, recs []ccRecord) []ccRecord {
	t.Helper()
	part := map[string]int{}
	for _, r := range recs {
		part[string(r.K)] = int(r.P)
	}
	w := &segkafka.Writer{
		Addr:  segkafka.TCP(addr),
		Topic: topic,
		Balancer: segkafka.BalancerFunc(func(m segkafka.Message, _ ...int) int {
			return part[string(m.Key)]
		}),
		Compression:  kafkaGoCodecs[codec],
		RequiredAcks: segkafka.RequireAll,
		BatchSize:    50,
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  5,
	}
	defer w.Close()
	msgs := make([]segkafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = segkafka.Message{Key: r.K, Value: r.V}
		for _, h := range r.H {
			msgs[i].Headers = append(msgs[i].Headers, segkafka.Header{Key: h.K, Value: h.V})
		}
	}
	// One call per 50 records so batches per partition stay in order.
	for i := 0; i < len(msgs); i += 50 {
		if err := w.WriteMessages(ctx, msgs[i:min(i+50, len(msgs))]...); err != nil {
			t.Fatalf("kafka-go producing with %s: %v", codec, err)
		}
	}
	return nil // the Writer does not report offsets
}

func kafkaGoConsume(t *testing.T, ctx context.Context, addr, topic string, counts map[int32]int64) []ccRecord {
	t.Helper()
	var out []ccRecord
	for p, n := range counts {
		r := segkafka.NewReader(segkafka.ReaderConfig{
			Brokers: []string{addr}, Topic: topic, Partition: int(p),
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 200 * time.Millisecond,
		})
		if err := r.SetOffset(segkafka.FirstOffset); err != nil {
			t.Fatal(err)
		}
		for got := int64(0); got < n; got++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				if errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("kafka-go reading %s/%d: %d of %d records before the deadline", topic, p, got, n)
				}
				t.Fatalf("kafka-go reading %s/%d: %v", topic, p, err)
			}
			rec := ccRecord{P: int32(m.Partition), O: m.Offset, K: m.Key, V: m.Value}
			for _, h := range m.Headers {
				rec.H = append(rec.H, ccHeader{K: h.Key, V: h.Value})
			}
			out = append(out, rec)
		}
		r.Close()
	}
	return out
}
