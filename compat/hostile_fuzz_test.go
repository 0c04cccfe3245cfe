package compat

// A structured fuzz of every API the broker serves, at every version it
// advertises: requests built by reflection over kmsg's request types with
// hostile but encodable values (empty, 32,767-byte and odd-byte strings,
// real topic names among them the canary's and the internal topics',
// integers at their edges, arrays of 0, 1 or hundreds of elements, record
// batches with mutated header fields), sent over raw TCP to the test's own
// broker. Every answer must decode completely with the response type of
// that version; a flexible request carrying a string longer than 0x7fff
// bytes must have its connection closed, as Kafka's readers refuse it;
// after every batch of requests the broker answers ApiVersions and
// Metadata on a new connection within 2 s; at the end a canary topic the
// fuzzer names (produces to, fetches, describes) still holds its records
// byte for byte and a sentinel topic it never names is unchanged, the log
// has no panic or race report and the RSS stayed bounded.
//
// The run is deterministic for a seed (GREGOR_FUZZ_SEED, logged) up to
// the time bound (GREGOR_FUZZ_DURATION, 20s by default): request #n is the
// same request for a seed whatever the machine's speed. Failures name the
// API, version, seed and request number and print the request's fields.
// The broker's state at request #n depends on the requests before it, so
// a repro replays the seed up to n.
//
// A connection closed instead of an answer is a failure unless Kafka
// closes it too: a string over 0x7fff bytes, an ACL request with an
// UNKNOWN (0) code, a failed produce with acks 0 (closes are counted and
// logged by key and version, with the first request number).
//
// Found by it: strings longer than 0x7fff bytes (protocol/strlen.go); a
// CreateDelegationToken v3 whose owner principal type holds a ':' (the
// broker joins type:name and splits at the first ':', so the answer names
// another principal, and with a 32,767-byte name it cannot be encoded and
// the connection is closed, where Kafka echoes type and name).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

const (
	// hzDefaultSeed is the seed unless GREGOR_FUZZ_SEED names another.
	hzDefaultSeed = 0x6772_6567_6f72 // "gregor"
	// hzDefaultDuration bounds the sending unless GREGOR_FUZZ_DURATION
	// says otherwise; the first pass over every key and version is sent
	// whatever the bound.
	hzDefaultDuration = 20 * time.Second
	// hzBatch requests are sent between two liveness checks.
	hzPerCheck = 64
	// hzMaxFrame bounds a request; a larger one is not sent.
	hzMaxFrame = 1 << 20
	// hzBudget bounds the bytes of long strings, byte fields and big
	// arrays one request may carry.
	hzBudget = 400 << 10
	// hzRSSBound bounds the broker's resident memory throughout.
	hzRSSBound = 1 << 30
	// hzAnswerWithin is how long any request may take to be answered,
	// hzParkWithin how long one that Kafka may hold (a fetch waiting for
	// data, a join waiting for the group) is given before it is counted
	// as parked and its connection dropped.
	hzAnswerWithin = 5 * time.Second
	hzParkWithin   = 2 * time.Second
	// hzAliveWithin is how long ApiVersions and Metadata on a new
	// connection may take after a batch.
	hzAliveWithin = 2 * time.Second
	// hzMaxErrors stops the fuzzing after this many failures.
	hzMaxErrors = 20
	// hzCanaryPartitions is the canary's and the sentinel's partition
	// count (ccCheckSame checks ccPartitions of them).
	hzCanaryPartitions = ccPartitions
)

// hzParking are the APIs whose requests Kafka may hold for a while: a
// fetch waits for data (its wait is kept short), a join or sync for the
// rest of the group, a transactional request for markers being written.
var hzParking = map[int16]bool{1: true, 11: true, 14: true, 22: true, 24: true, 26: true, 78: true}

func TestHostileFuzzEveryAPI(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker (settings, log, RSS)")
	}
	seed := uint64(hzDefaultSeed)
	if s := os.Getenv("GREGOR_FUZZ_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatalf("GREGOR_FUZZ_SEED=%q: %v", s, err)
		}
		seed = n
	}
	duration := hzDefaultDuration
	if s := os.Getenv("GREGOR_FUZZ_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("GREGOR_FUZZ_DURATION=%q: %v", s, err)
		}
		duration = d
	}
	t.Logf("seed %d (GREGOR_FUZZ_SEED=%d repeats this run), sending for %v", seed, seed, duration)

	set := brokerSettings(t)
	set["offsets.topic.num.partitions"] = "3"
	set["transaction.state.log.num.partitions"] = "3"
	// A CreateTopics or CreatePartitions of many partitions is refused
	// past this, so the fuzz never makes thousands of partition files.
	set["gregor.max.broker.partitions"] = "200"
	b := brokertest.Start(t, brokertest.Options{Set: set})
	e := &hzEnv{t: t, b: b, seed: seed, closes: map[string]int{}, firstClose: map[string]int{}, parked: map[string]int{}}
	e.setup()

	start := time.Now()
	e.fuzz(duration)
	sent := time.Since(start)
	e.final()
	t.Logf("sent %d requests in %v (%d in the first pass over %d key/versions, then %d rounds): %d answered and decoded, %d connections closed, %d parked, %d flexible requests with a string over 0x7fff bytes (all closed), %d unserved key/versions closed, %d over %d bytes not sent; peak RSS %d MiB; slowest liveness check %v",
		e.sent, sent.Round(time.Millisecond), e.firstPass, len(e.jobs), e.rounds, e.answered, e.closed, e.parkedN, e.overlong, e.unserved, e.tooBig, hzMaxFrame, e.peakRSS>>20, e.slowestAlive.Round(time.Millisecond))
	e.logCounts("connections closed as Kafka closes them (key/version (why): count, first request #)", e.closes, e.firstClose)
	e.logCounts("requests parked (no answer within "+hzParkWithin.String()+")", e.parked, nil)
}

// hzEnv is the broker under fuzz, its topics and the run's tallies.
type hzEnv struct {
	t    *testing.T
	b    *brokertest.Broker
	seed uint64
	r    *rand.Rand

	canary, sentinel, fzA, fzB string
	canaryID, fzAID, fzBID     [16]byte
	// canaryRaw and sentinelRaw are each partition's stored batches as
	// fetched before the fuzz; sentinelRecs the sentinel's records.
	canaryRaw, sentinelRaw   [][]byte
	canaryHWM, sentinelHWM   []int64
	sentinelRecs, canaryRecs []ccRecord
	baseTime                 int64

	versions map[int16][2]int16 // advertised key -> min, max
	jobs     []hzJob
	comp     map[int8]kgo.Compressor

	conn *hzConn
	idx  int // requests built so far (the request number)

	sent, answered, closed, parkedN, overlong, unserved, tooBig int
	firstPass, rounds                                           int
	closes, firstClose, parked                                  map[string]int
	errors                                                      int
	peakRSS                                                     int64
	slowestAlive                                                time.Duration
	logSeen                                                     int
	last                                                        string // the last request sent, for alive\'s messages
}

type hzJob struct{ key, ver int16 }

type hzConn struct {
	c    net.Conn
	corr int32
}

func (e *hzEnv) setup() {
	t := e.t
	addr := e.b.Addr
	e.canary, e.sentinel = randomName("hz-canary"), randomName("hz-sentinel")
	e.fzA, e.fzB = randomName("hz-a"), randomName("hz-b")
	for _, tp := range []string{e.canary, e.sentinel} {
		ccCreateTopic(t, addr, tp, hzCanaryPartitions)
	}
	ccCreateTopic(t, addr, e.fzA, 2)
	ccCreateTopic(t, addr, e.fzB, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recs := func(tag string) []ccRecord {
		var out []ccRecord
		for i := 0; i < 24; i++ {
			r := ccRecord{P: int32(i % hzCanaryPartitions), K: []byte(fmt.Sprintf("%s-key-%d", tag, i)), V: []byte(fmt.Sprintf("%s-value-%d-%s", tag, i, strings.Repeat("v", i*7)))}
			if i%3 == 0 {
				r.H = []ccHeader{{K: "h", V: []byte(tag)}, {K: "", V: nil}}
			}
			if i%5 == 4 {
				r.V = nil
			}
			out = append(out, r)
		}
		return out
	}
	ccKgoProduce(t, ctx, addr, e.canary, "none", recs("canary"))
	ccKgoProduce(t, ctx, addr, e.sentinel, "lz4", recs("sentinel"))
	e.sentinelRecs = ccKgoRead(t, ctx, addr, e.sentinel, hzCanaryPartitions)
	if len(e.sentinelRecs) != 24 {
		t.Fatalf("setup: %d sentinel records read back, want 24", len(e.sentinelRecs))
	}
	e.canaryRecs = ccKgoRead(t, ctx, addr, e.canary, hzCanaryPartitions)
	e.canaryRaw, e.canaryHWM = e.rawPartitions(e.canary, "setup")
	e.sentinelRaw, e.sentinelHWM = e.rawPartitions(e.sentinel, "setup")
	for p := range e.canaryHWM {
		if e.canaryHWM[p] != 8 || len(e.canaryRaw[p]) == 0 {
			t.Fatalf("setup: canary partition %d has high watermark %d and %d bytes, want 8 records", p, e.canaryHWM[p], len(e.canaryRaw[p]))
		}
	}
	ids := e.topicIDs(e.canary, e.fzA, e.fzB)
	e.canaryID, e.fzAID, e.fzBID = ids[0], ids[1], ids[2]
	e.baseTime = time.Now().UnixMilli()

	// What the broker serves.
	c := hcDial(t, addr)
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version, av.ClientSoftwareName, av.ClientSoftwareVersion = 3, "gregor-hostile-fuzz", "1"
	avr := kmsg.NewPtrApiVersionsResponse()
	if err := badRoundTrip(c, 1, av, avr); err != nil || avr.ErrorCode != 0 {
		t.Fatalf("setup: ApiVersions v3: %v (error code %d)", err, avr.ErrorCode)
	}
	e.versions = map[int16][2]int16{}
	for _, k := range avr.ApiKeys {
		e.versions[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	for key := int16(0); key < 1000; key++ {
		req := kmsg.RequestForKey(key)
		if req == nil {
			continue
		}
		vr, ok := e.versions[key]
		if !ok {
			continue
		}
		for v := vr[0]; v <= vr[1] && v <= req.MaxVersion(); v++ {
			if key == 7 && v == 0 {
				continue // kmsg frames ControlledShutdown v0 with a header of its own
			}
			e.jobs = append(e.jobs, hzJob{key, v})
		}
	}
	if len(e.jobs) < 100 {
		t.Fatalf("setup: only %d key/versions to fuzz from ApiVersions %v", len(e.jobs), e.versions)
	}
	e.r = rand.New(rand.NewPCG(e.seed, e.seed^0x9e3779b97f4a7c15))
	e.comp = map[int8]kgo.Compressor{}
	for codec, c := range map[int8]kgo.CompressionCodec{1: kgo.GzipCompression(), 2: kgo.SnappyCompression(), 3: kgo.Lz4Compression(), 4: kgo.ZstdCompression()} {
		comp, err := kgo.DefaultCompressor(c)
		if err != nil {
			t.Fatal(err)
		}
		e.comp[codec] = comp
	}
}

// topicIDs asks Metadata v12 for the topics' ids.
func (e *hzEnv) topicIDs(topics ...string) [][16]byte {
	c := hcDial(e.t, e.b.Addr)
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	for _, tp := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(tp)
		req.Topics = append(req.Topics, rt)
	}
	resp := kmsg.NewPtrMetadataResponse()
	if err := badRoundTrip(c, 1, req, resp); err != nil {
		e.t.Fatalf("setup: Metadata v12: %v", err)
	}
	out := make([][16]byte, len(topics))
	for i, tp := range topics {
		for _, rt := range resp.Topics {
			if rt.Topic != nil && *rt.Topic == tp {
				out[i] = rt.TopicID
			}
		}
		if out[i] == ([16]byte{}) {
			e.t.Fatalf("setup: Metadata v12 names no id for %s", tp)
		}
	}
	return out
}

// rawPartitions fetches each partition of a canary-like topic from offset
// 0 (Fetch v12, read uncommitted) and returns the stored batches as the
// broker sends them and the high watermarks.
func (e *hzEnv) rawPartitions(topic, when string) ([][]byte, []int64) {
	t := e.t
	t.Helper()
	c := hcDial(t, e.b.Addr)
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = -1, 0, 0, 64<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	for p := int32(0); p < hzCanaryPartitions; p++ {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, 0, 64<<20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrFetchResponse()
	if err := badRoundTrip(c, 1, req, resp); err != nil {
		t.Fatalf("%s: fetching %s: %v", when, topic, err)
	}
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != hzCanaryPartitions {
		t.Fatalf("%s: fetching %s: error %d, %d topics", when, topic, resp.ErrorCode, len(resp.Topics))
	}
	raw, hwm := make([][]byte, hzCanaryPartitions), make([]int64, hzCanaryPartitions)
	for _, rp := range resp.Topics[0].Partitions {
		if rp.ErrorCode != 0 || rp.Partition < 0 || rp.Partition >= hzCanaryPartitions {
			t.Fatalf("%s: fetching %s: partition %d error %d", when, topic, rp.Partition, rp.ErrorCode)
		}
		raw[rp.Partition], hwm[rp.Partition] = rp.RecordBatches, rp.HighWatermark
	}
	return raw, hwm
}

// fuzz sends a first pass of one request per key/version, the unserved
// keys and versions, then rounds over every key/version in a shuffled
// order until duration has passed.
func (e *hzEnv) fuzz(duration time.Duration) {
	deadline := time.Now().Add(duration)
	e.unservedProbes()
	for _, j := range e.jobs {
		if e.stop() {
			return
		}
		e.one(j, 0.1, false)
		e.firstPass++
	}
	for !e.stop() && time.Now().Before(deadline) {
		jobs := append([]hzJob(nil), e.jobs...)
		e.r.Shuffle(len(jobs), func(i, k int) { jobs[i], jobs[k] = jobs[k], jobs[i] })
		for i, j := range jobs {
			if e.stop() || time.Now().After(deadline) {
				return
			}
			p := []float64{0.03, 0.25, 0.6, 1}[i%4]
			e.one(j, p, i%5 == 4)
		}
		e.rounds++
	}
}

func (e *hzEnv) stop() bool { return e.errors >= hzMaxErrors || e.b.ExitCode() != -1 }

// fail reports a failure about request #idx.
func (e *hzEnv) fail(j hzJob, idx int, req kmsg.Request, format string, args ...any) {
	e.t.Helper()
	e.errors++
	what := fmt.Sprintf("%s v%d (key %d), seed %d, request #%d", kmsg.NameForKey(j.key), j.ver, j.key, e.seed, idx)
	desc := ""
	if req != nil {
		desc = "\nrequest: " + hzDescribe(req)
	}
	e.t.Errorf("%s: %s%s", what, fmt.Sprintf(format, args...), desc)
}

// unservedProbes sends keys kmsg knows and the broker does not advertise,
// and each advertised key one version past its maximum: Kafka closes the
// connection on both (ApiVersions answers an unsupported version with its
// v0 error instead).
func (e *hzEnv) unservedProbes() {
	for key := int16(0); key < 1000; key++ {
		req := kmsg.RequestForKey(key)
		if req == nil {
			continue
		}
		var vers []int16
		if vr, ok := e.versions[key]; !ok {
			vers = []int16{0, req.MaxVersion()}
			if key == 7 {
				vers = []int16{req.MaxVersion()}
			}
		} else if vr[1] < req.MaxVersion() && key != 18 {
			vers = []int16{vr[1] + 1}
		}
		for _, v := range vers {
			j := hzJob{key, v}
			f := e.filler(j, 0.1, false)
			req := f.build(j)
			e.idx++
			idx := e.idx
			frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("hz")).AppendRequest(nil, req, 1)
			c, err := net.DialTimeout("tcp", e.b.Addr, hzAliveWithin)
			if err != nil {
				e.t.Fatalf("dialing %s: %v", e.b.Addr, err)
			}
			c.SetDeadline(time.Now().Add(hzAnswerWithin))
			_, err = c.Write(frame)
			if err == nil {
				_, _, err = badReadResponse(c)
			}
			c.Close()
			e.sent++
			switch {
			case err == nil:
				e.fail(j, idx, req, "the broker answered a key/version it does not advertise; want the connection closed (as Kafka)")
			case errors.Is(err, os.ErrDeadlineExceeded):
				e.fail(j, idx, req, "no answer and no close within %v for a key/version the broker does not advertise", hzAnswerWithin)
			default:
				e.unserved++
			}
		}
	}
	e.alive("the unserved keys and versions")
}

// filler returns a request filler for j with hostility p.
func (e *hzEnv) filler(j hzJob, p float64, big bool) *hzFiller {
	return &hzFiller{
		r: e.r, p: p, big: big, budget: hzBudget, arm: -1,
		topics:  []string{e.canary, e.fzA, e.fzB},
		ids:     [][16]byte{e.canaryID, e.fzAID, e.fzBID},
		base:    e.baseTime,
		comp:    e.comp,
		canary:  e.canary,
		replace: e.fzA,
	}
}

var hzFormatters = []*kmsg.RequestFormatter{
	kmsg.NewRequestFormatter(kmsg.FormatterClientID("gregor-hostile-fuzz")),
	kmsg.NewRequestFormatter(kmsg.FormatterClientID("")),
	kmsg.NewRequestFormatter(), // a null client id
	kmsg.NewRequestFormatter(kmsg.FormatterClientID(strings.Repeat("c", kafkaMaxString))),
}

// one builds, sends and checks one request for j.
func (e *hzEnv) one(j hzJob, p float64, big bool) {
	f := e.filler(j, p, big)
	shape := kmsg.RequestForKey(j.key)
	shape.SetVersion(j.ver)
	e.idx++
	idx := e.idx
	// One flexible request in 25 carries a string over 0x7fff bytes.
	if shape.IsFlexible() && e.r.IntN(25) == 0 {
		f.arm = e.r.IntN(4)
		f.overlong = fmt.Sprintf("hz-overlong-%d-", idx) + strings.Repeat("L", kafkaMaxString+1+e.r.IntN(8000))
	}
	req := f.build(j)
	formatter := hzFormatters[0]
	if n := e.r.IntN(40); n < 3 {
		formatter = hzFormatters[1+n]
	}
	if e.conn == nil {
		c, err := net.DialTimeout("tcp", e.b.Addr, hzAliveWithin)
		if err != nil {
			e.t.Fatalf("dialing %s before request #%d: %v", e.b.Addr, idx, err)
		}
		e.conn = &hzConn{c: c}
	}
	e.conn.corr++
	corr := e.conn.corr
	frame := formatter.AppendRequest(nil, req, corr)
	if len(frame) > hzMaxFrame {
		e.tooBig++
		return
	}
	e.sent++
	overlong := f.overlong != "" && bytes.Contains(frame, []byte(f.overlong[:32]))
	name := fmt.Sprintf("%s v%d", kmsg.NameForKey(j.key), j.ver)
	e.last = fmt.Sprintf("request #%d, %s", idx, name)
	c := e.conn
	drop := func() {
		c.c.Close()
		e.conn = nil
	}
	c.c.SetDeadline(time.Now().Add(hzAnswerWithin))
	if _, err := c.c.Write(frame); err != nil {
		switch why := hzKafkaCloses(req); {
		case overlong:
			e.overlong++
		case why != "":
			e.countClose(name+" ("+why+")", idx)
		default:
			e.fail(j, idx, req, "the broker closed the connection (%v) while the request was written; Kafka parses and answers it", err)
		}
		drop()
		e.afterRequest()
		return
	}
	// A produce with acks 0 has no answer: ApiVersions v0 right behind it
	// must be the next answer.
	wantCorr := corr
	var probe kmsg.Request
	if pr, ok := req.(*kmsg.ProduceRequest); ok && pr.Acks == 0 && !overlong {
		av := kmsg.NewPtrApiVersionsRequest()
		av.Version = 0
		c.corr++
		wantCorr, probe = c.corr, av
		if _, err := c.c.Write(hzFormatters[0].AppendRequest(nil, av, c.corr)); err != nil {
			e.countClose(name+" ("+hzKafkaCloses(req)+")", idx)
			drop()
			e.afterRequest()
			return
		}
	}
	within := hzAnswerWithin
	if hzParking[j.key] {
		within = hzParkWithin
	}
	c.c.SetDeadline(time.Now().Add(within))
	body, gotCorr, err := badReadResponse(c.c)
	switch {
	case overlong && err == nil:
		e.fail(j, idx, req, "the request carries a string of %d bytes (in %s), longer than Kafka's 32,767, in a flexible version; want the connection closed, got an answer of %d bytes", len(f.overlong), f.placedIn, len(body))
		drop()
	case overlong && errors.Is(err, os.ErrDeadlineExceeded):
		e.fail(j, idx, req, "the request carries a string of %d bytes (in %s); want the connection closed, it is still open after %v", len(f.overlong), f.placedIn, within)
		drop()
	case overlong:
		e.overlong++
		drop()
	case errors.Is(err, os.ErrDeadlineExceeded) && hzParking[j.key]:
		e.parkedN++
		e.parked[name]++
		drop()
	case errors.Is(err, os.ErrDeadlineExceeded):
		e.fail(j, idx, req, "no answer within %v", within)
		drop()
	case err != nil && err.Error() == "bad response size":
		e.fail(j, idx, req, "the answer's size field is out of range")
		drop()
	case err != nil:
		if why := hzKafkaCloses(req); why != "" {
			e.countClose(name+" ("+why+")", idx)
		} else {
			e.fail(j, idx, req, "the broker closed the connection (%v) on a request Kafka parses and answers", err)
		}
		drop()
	case gotCorr != wantCorr:
		e.fail(j, idx, req, "answer with correlation id %d, want %d", gotCorr, wantCorr)
		drop()
	default:
		if probe != nil {
			req = probe
		}
		if msg := hzDecode(req, body); msg != "" {
			if probe != nil {
				msg = "the ApiVersions v0 sent behind this acks=0 produce: " + msg
			}
			e.fail(j, idx, req, "%s", msg)
			drop()
		} else {
			e.answered++
		}
	}
	e.afterRequest()
}

// hzDecode decodes a response body (after the correlation id) for req and
// says what is wrong with it: a flexible response header with tags, a
// body that does not decode, or one that decodes from fewer bytes than it
// has (re-encoding the decoded response gives other bytes).
func hzDecode(req kmsg.Request, body []byte) string {
	if req.IsFlexible() && req.Key() != 18 {
		if len(body) == 0 || body[0] != 0 {
			return fmt.Sprintf("the flexible response header has no empty tag section (%x)", body[:min(len(body), 8)])
		}
		body = body[1:]
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return fmt.Sprintf("the %d-byte answer does not decode as %s v%d: %v (%x...)", len(body), kmsg.NameForKey(req.Key()), req.GetVersion(), err, body[:min(len(body), 64)])
	}
	if again := resp.AppendTo(nil); !bytes.Equal(again, body) {
		i := 0
		for i < len(again) && i < len(body) && again[i] == body[i] {
			i++
		}
		return fmt.Sprintf("the answer of %d bytes re-encodes as %d bytes, differing from byte %d (got %x, re-encoded %x); decoded: %s",
			len(body), len(again), i, body[i:min(len(body), i+32)], again[i:min(len(again), i+32)], hzDescribe(resp))
	}
	return ""
}

// hzKafkaCloses says why Kafka, too, would close the connection on req
// rather than answer it, or "": a produce with acks 0 that fails (there is
// no answer to carry the error), an ACL request with an UNKNOWN (0) code,
// which Kafka's CreateAclsRequest, DescribeAclsRequest and
// DeleteAclsRequest refuse to parse (v0 has no pattern type to send).
func hzKafkaCloses(req kmsg.Request) string {
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		if r.Acks == 0 {
			return "acks=0"
		}
	case *kmsg.CreateACLsRequest, *kmsg.DescribeACLsRequest, *kmsg.DeleteACLsRequest:
		unknown := false
		var walk func(v reflect.Value)
		walk = func(v reflect.Value) {
			switch v.Kind() {
			case reflect.Pointer:
				if !v.IsNil() {
					walk(v.Elem())
				}
			case reflect.Slice:
				for i := 0; i < v.Len(); i++ {
					walk(v.Index(i))
				}
			case reflect.Struct:
				for i := 0; i < v.NumField(); i++ {
					switch name := v.Type().Field(i).Name; {
					case name == "ResourcePatternType" && req.GetVersion() == 0:
					case name == "ResourceType", name == "ResourcePatternType", name == "Operation", name == "PermissionType":
						unknown = unknown || v.Field(i).Int() == 0
					default:
						walk(v.Field(i))
					}
				}
			}
		}
		walk(reflect.ValueOf(req))
		if unknown {
			return "an UNKNOWN ACL code"
		}
	}
	return ""
}

func (e *hzEnv) countClose(name string, idx int) {
	e.closed++
	if e.closes[name] == 0 {
		e.firstClose[name] = idx
	}
	e.closes[name]++
}

// afterRequest runs the liveness check after every hzPerCheck requests.
func (e *hzEnv) afterRequest() {
	if e.sent%hzPerCheck == 0 {
		e.alive(e.last)
	}
}

// alive checks that the process runs, answers ApiVersions and Metadata
// (naming the sentinel) on a new connection within hzAliveWithin, that
// its RSS is within hzRSSBound and that its log reports no panic or race.
func (e *hzEnv) alive(after string) {
	t := e.t
	t.Helper()
	what := fmt.Sprintf("after %s (seed %d)", after, e.seed)
	if code := e.b.ExitCode(); code != -1 {
		t.Fatalf("%s: gregor exited with code %d\n%s", what, code, e.b.Logs(8<<10))
	}
	start := time.Now()
	c, err := net.DialTimeout("tcp", e.b.Addr, hzAliveWithin)
	if err != nil {
		t.Fatalf("%s: dialing the broker: %v", what, err)
	}
	defer c.Close()
	c.SetDeadline(start.Add(hzAliveWithin))
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version, av.ClientSoftwareName, av.ClientSoftwareVersion = 3, "hz-alive", "1"
	avr := kmsg.NewPtrApiVersionsResponse()
	if err := hzRoundTrip(c, 1, av, avr); err != nil || avr.ErrorCode != 0 || len(avr.ApiKeys) == 0 {
		t.Fatalf("%s: ApiVersions on a new connection within %v: %v (error code %d, %d keys)", what, hzAliveWithin, err, avr.ErrorCode, len(avr.ApiKeys))
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	md.AllowAutoTopicCreation = false
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(e.sentinel)
	md.Topics = append(md.Topics, rt)
	mdr := kmsg.NewPtrMetadataResponse()
	if err := hzRoundTrip(c, 2, md, mdr); err != nil {
		t.Fatalf("%s: Metadata on a new connection within %v: %v", what, hzAliveWithin, err)
	}
	if len(mdr.Topics) != 1 || mdr.Topics[0].ErrorCode != 0 || len(mdr.Topics[0].Partitions) != hzCanaryPartitions {
		t.Fatalf("%s: Metadata does not name the sentinel topic with %d partitions: %s", what, hzCanaryPartitions, hzDescribe(mdr))
	}
	if d := time.Since(start); d > e.slowestAlive {
		e.slowestAlive = d
	}
	rss, err := e.b.RSS()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	e.peakRSS = max(e.peakRSS, rss)
	if rss > hzRSSBound {
		t.Fatalf("%s: the broker's RSS is %d MiB, over %d MiB", what, rss>>20, hzRSSBound>>20)
	}
	e.scanLog(what)
}

// hzRoundTrip writes req and decodes its answer into resp, completely,
// within the deadline already set on c.
func hzRoundTrip(c net.Conn, corr int32, req kmsg.Request, resp kmsg.Response) error {
	if _, err := c.Write(hzFormatters[0].AppendRequest(nil, req, corr)); err != nil {
		return err
	}
	body, got, err := badReadResponse(c)
	if err != nil {
		return err
	}
	if got != corr {
		return fmt.Errorf("correlation id %d, want %d", got, corr)
	}
	if msg := hzDecode(req, body); msg != "" {
		return errors.New(msg)
	}
	if req.IsFlexible() && req.Key() != 18 {
		body = body[1:]
	}
	resp.SetVersion(req.GetVersion())
	return resp.ReadFrom(body)
}

var hzBadLog = []string{"panic", "fatal error", "DATA RACE"}

// scanLog fails if the broker's log, since the last scan, reports a
// panic, a fatal error or a data race.
func (e *hzEnv) scanLog(what string) {
	logs := e.b.Logs(math.MaxInt)
	fresh := logs[min(e.logSeen, len(logs)):]
	e.logSeen = len(logs)
	for _, bad := range hzBadLog {
		if i := strings.Index(fresh, bad); i >= 0 {
			from := max(0, i-2<<10)
			e.t.Fatalf("%s: the broker's log reports %q:\n%s", what, bad, fresh[from:min(len(fresh), i+6<<10)])
		}
	}
}

// final checks the canary and the sentinel.
func (e *hzEnv) final() {
	t := e.t
	if e.conn != nil {
		e.conn.c.Close()
		e.conn = nil
	}
	e.alive("the last request")
	what := fmt.Sprintf("after %d fuzzed requests (seed %d)", e.sent, e.seed)
	// The canary: what was stored before is still the start of each
	// partition, byte for byte (the fuzz may have appended).
	raw, hwm := e.rawPartitions(e.canary, what)
	for p := range raw {
		if hwm[p] < e.canaryHWM[p] {
			t.Errorf("%s: canary partition %d high watermark %d, was %d", what, p, hwm[p], e.canaryHWM[p])
		}
		if !bytes.HasPrefix(raw[p], e.canaryRaw[p]) {
			t.Errorf("%s: canary partition %d: the %d bytes stored before the fuzz are not the start of the %d fetched now%s", what, p, len(e.canaryRaw[p]), len(raw[p]), hzFirstDiff(e.canaryRaw[p], raw[p]))
		}
	}
	// The sentinel, which the fuzz never names: unchanged.
	raw, hwm = e.rawPartitions(e.sentinel, what)
	for p := range raw {
		if hwm[p] != e.sentinelHWM[p] || !bytes.Equal(raw[p], e.sentinelRaw[p]) {
			t.Errorf("%s: sentinel partition %d: high watermark %d (was %d), %d bytes stored (were %d)%s", what, p, hwm[p], e.sentinelHWM[p], len(raw[p]), len(e.sentinelRaw[p]), hzFirstDiff(e.sentinelRaw[p], raw[p]))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ccCheckSame(t, "sentinel "+what, e.sentinelRecs, ccKgoRead(t, ctx, e.b.Addr, e.sentinel, hzCanaryPartitions))
	// The canary's records as a client reads them, up to the old ends.
	ends := map[int32]int64{}
	for p, hwm := range e.canaryHWM {
		ends[int32(p)] = hwm
	}
	ccCheckSame(t, "canary "+what, e.canaryRecs, ccKgoReadTo(t, ctx, e.b.Addr, e.canary, ends))
	e.scanLog(what)
}

func hzFirstDiff(want, got []byte) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	if i == len(want) && len(want) <= len(got) {
		return ""
	}
	return fmt.Sprintf(" (first difference at byte %d: was %x, now %x)", i, want[i:min(len(want), i+16)], got[i:min(len(got), i+16)])
}

func (e *hzEnv) logCounts(title string, m, first map[string]int) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		if first != nil {
			fmt.Fprintf(&sb, " %s: %d (#%d);", k, m[k], first[k])
		} else {
			fmt.Fprintf(&sb, " %s: %d;", k, m[k])
		}
	}
	e.t.Logf("%s:%s", title, sb.String())
}

// hzFiller fills a kmsg request by reflection.
type hzFiller struct {
	r       *rand.Rand
	p       float64 // the chance a field is hostile
	big     bool    // up to two arrays of hundreds of elements
	bigUsed int
	budget  int
	topics  []string
	ids     [][16]byte
	base    int64
	comp    map[int8]kgo.Compressor
	// canary is the name the fuzz may not delete, reconfigure, add
	// partitions to or delete records of; replace stands in for it.
	canary, replace string
	// arm counts the string fields to fill before overlong goes into
	// one (-1: none); placedIn names that field.
	arm      int
	overlong string
	placedIn string
}

var hzTagsType = reflect.TypeOf(kmsg.Tags{})

func (f *hzFiller) build(j hzJob) kmsg.Request {
	req := kmsg.RequestForKey(j.key)
	if d, ok := req.(interface{ Default() }); ok {
		d.Default()
	}
	f.fill(reflect.ValueOf(req).Elem(), "", 0)
	req.SetVersion(j.ver)
	f.tame(req)
	return req
}

func (f *hzFiller) hostile() bool { return f.r.Float64() < f.p }

func (f *hzFiller) pick(s []string) string { return s[f.r.IntN(len(s))] }

// long returns n bytes of c if the budget allows, else a short string.
func (f *hzFiller) long(c string, n int) string {
	if f.budget < n {
		return c
	}
	f.budget -= n
	return strings.Repeat(c, n)
}

func (f *hzFiller) str(name string) string {
	if f.arm >= 0 {
		if f.arm == 0 {
			f.arm, f.placedIn = -1, name
			return f.overlong
		}
		f.arm--
	}
	ln := strings.ToLower(name)
	h := f.hostile()
	oddTopics := func() string {
		switch f.r.IntN(14) {
		case 0:
			return "__consumer_offsets"
		case 1:
			return "__transaction_state"
		case 2:
			return "__share_group_state"
		case 3:
			return ""
		case 4:
			return f.pick([]string{".", "..", "a/b", "\xff\xfe\x00", "no-such-topic"})
		case 5:
			return f.long("x", 249)
		case 6:
			return f.long("y", 250)
		case 7:
			return f.long("t", kafkaMaxString)
		default:
			return f.pick(f.topics)
		}
	}
	switch {
	case strings.Contains(ln, "topic"):
		if !h {
			return f.pick(f.topics)
		}
		return oddTopics()
	case strings.Contains(ln, "group"):
		if !h {
			return f.pick([]string{"hz-group", "hz-group-2"})
		}
		return f.pick([]string{"", "\xff\xfe", "__consumer_offsets", f.canary, f.long("g", kafkaMaxString), f.long("G", 1000)})
	case strings.Contains(ln, "transactionalid"):
		if !h {
			return f.pick([]string{"hz-txn", "hz-txn-2"})
		}
	case strings.Contains(ln, "memberid"):
		if !h {
			return ""
		}
	case strings.Contains(ln, "protocoltype"):
		if !h {
			return "consumer"
		}
	case strings.Contains(ln, "principal"):
		if !h {
			return f.pick([]string{"User:hz", "User:*"})
		}
	case strings.Contains(ln, "host"):
		if !h {
			return f.pick([]string{"*", "127.0.0.1"})
		}
	case strings.Contains(ln, "mechanism"):
		if !h {
			return f.pick([]string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"})
		}
	case strings.Contains(ln, "resourcename"):
		if !h {
			return f.pick([]string{f.pick(f.topics), "0", "", "hz-group"})
		}
		return oddTopics()
	case ln == "name" || strings.Contains(ln, "configname") || strings.Contains(ln, "key"):
		if !h {
			return f.pick([]string{"retention.ms", "cleanup.policy", "max.message.bytes", "compression.type", "segment.bytes", "min.insync.replicas", f.pick(f.topics)})
		}
	case strings.Contains(ln, "value"):
		if !h {
			return f.pick([]string{"0", "1", "-1", "compact", "delete", "producer", "9223372036854775807"})
		}
	}
	if !h {
		return "x"
	}
	switch f.r.IntN(20) {
	case 0:
		return f.long("A", kafkaMaxString)
	case 1:
		return f.long("B", kafkaMaxString-1)
	case 2:
		return f.long("C", 300)
	}
	return f.pick([]string{"", "x", "\xff\xfe\xfd", "\x00", "-1", "*", "User:*", f.canary, "__consumer_offsets", "9223372036854775807", "PLAINTEXT", "consumer", "range", "\u00e9\u4e16", strings.Repeat("%", 10)})
}

func (f *hzFiller) int(name string, bits int) int64 {
	ln := strings.ToLower(name)
	if !f.hostile() {
		switch {
		case strings.Contains(ln, "partition") && !strings.Contains(ln, "max") && !strings.Contains(ln, "num"):
			return int64(f.r.IntN(3))
		case strings.Contains(ln, "producerid"), strings.Contains(ln, "producerepoch"):
			return -1
		case strings.Contains(ln, "replicaid"), strings.Contains(ln, "brokerid"):
			return -1
		case strings.Contains(ln, "timeout"), strings.Contains(ln, "maxwait"):
			return 100
		case strings.Contains(ln, "maxbytes"):
			return 1 << 20
		case strings.Contains(ln, "acks"):
			return -1
		case strings.Contains(ln, "epoch"), strings.Contains(ln, "generation"):
			return -1
		case strings.Contains(ln, "numpartitions"), strings.Contains(ln, "count"), strings.Contains(ln, "replicationfactor"):
			return 1
		case strings.Contains(ln, "resourcetype"):
			return 2
		case strings.Contains(ln, "patterntype"):
			return 3
		case strings.Contains(ln, "timestamp"):
			return -1
		}
		return int64(f.r.IntN(3))
	}
	var hi, lo int64
	switch bits {
	case 8:
		hi, lo = math.MaxInt8, math.MinInt8
	case 16:
		hi, lo = math.MaxInt16, math.MinInt16
	case 32:
		hi, lo = math.MaxInt32, math.MinInt32
	default:
		hi, lo = math.MaxInt64, math.MinInt64
	}
	pool := []int64{0, -1, 1, hi, lo, hi - 1, lo + 1, 2, 3, 100, -2, 1000, int64(f.r.Int32())}
	return pool[f.r.IntN(len(pool))]
}

func (f *hzFiller) rawBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(f.r.Uint32())
	}
	return b
}

func (f *hzFiller) bytesFor(name string) []byte {
	if name == "Records" {
		switch f.r.IntN(5) {
		case 0:
			return f.batch(1+f.r.IntN(3), false)
		case 1:
			if f.r.IntN(2) == 0 {
				return nil
			}
			return f.rawBytes(f.r.IntN(200))
		default:
			return f.batch(1+f.r.IntN(5), true)
		}
	}
	if !f.hostile() {
		return []byte("v")
	}
	switch f.r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []byte{}
	case 2:
		return f.rawBytes(f.r.IntN(100))
	default:
		n := 20000 + f.r.IntN(50000)
		if f.budget < n {
			return f.rawBytes(10)
		}
		f.budget -= n
		return f.rawBytes(n)
	}
}

func (f *hzFiller) sliceLen(depth int) int {
	if !f.hostile() {
		return 1
	}
	switch f.r.IntN(10) {
	case 0, 1, 2:
		return 0
	case 3, 4:
		return 1
	case 5, 6, 7:
		return 2 + f.r.IntN(4)
	default:
		if f.big && f.bigUsed < 2 && depth <= 2 && f.budget > 100<<10 {
			f.bigUsed++
			f.budget -= 100 << 10
			return 100 + f.r.IntN(300)
		}
		return 3
	}
}

func (f *hzFiller) fill(v reflect.Value, name string, depth int) {
	if depth > 8 {
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(f.str(name))
	case reflect.Bool:
		v.SetBool(f.hostile() && f.r.IntN(2) == 0)
	case reflect.Int8:
		v.SetInt(f.int(name, 8))
	case reflect.Int16:
		v.SetInt(f.int(name, 16))
	case reflect.Int32:
		v.SetInt(f.int(name, 32))
	case reflect.Int64:
		v.SetInt(f.int(name, 64))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(f.r.Uint64() >> (64 - 8*v.Type().Size()))
	case reflect.Float64:
		if f.hostile() {
			v.SetFloat([]float64{math.NaN(), math.Inf(1), math.Inf(-1), -1, 0, 1e300}[f.r.IntN(6)])
		} else {
			v.SetFloat(1)
		}
	case reflect.Array: // a UUID
		if v.Type().Elem().Kind() == reflect.Uint8 && v.Len() == 16 {
			var u [16]byte
			switch {
			case !f.hostile():
				u = f.ids[f.r.IntN(len(f.ids))]
			case f.r.IntN(2) == 0:
			default:
				copy(u[:], f.rawBytes(16))
			}
			reflect.Copy(v, reflect.ValueOf(u[:]))
		}
	case reflect.Pointer:
		if f.hostile() && f.r.IntN(2) == 0 {
			v.Set(reflect.Zero(v.Type())) // null
			return
		}
		switch v.Type().Elem().Kind() {
		case reflect.String:
			s := f.str(name)
			v.Set(reflect.ValueOf(&s))
		case reflect.Struct:
			nv := reflect.New(v.Type().Elem())
			if d, ok := nv.Interface().(interface{ Default() }); ok {
				d.Default()
			}
			f.fill(nv.Elem(), name, depth+1)
			v.Set(nv)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes(f.bytesFor(name))
			return
		}
		n := f.sliceLen(depth)
		if f.hostile() && f.r.IntN(16) == 0 {
			v.Set(reflect.Zero(v.Type())) // a null array
			return
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		dup := n > 1 && f.hostile() && f.r.IntN(3) == 0
		for i := 0; i < n; i++ {
			el := s.Index(i)
			if dup && i > 0 {
				el.Set(s.Index(0))
				continue
			}
			if el.Kind() == reflect.Struct {
				if d, ok := el.Addr().Interface().(interface{ Default() }); ok {
					d.Default()
				}
			}
			f.fill(el, name, depth+1)
		}
		v.Set(s)
	case reflect.Struct:
		if v.Type() == hzTagsType {
			return
		}
		tp := v.Type()
		for i := 0; i < tp.NumField(); i++ {
			fd := tp.Field(i)
			if !fd.IsExported() || fd.Type == hzTagsType || depth == 0 && fd.Name == "Version" {
				continue
			}
			f.fill(v.Field(i), fd.Name, depth+1)
		}
	}
}

// tame keeps the fuzz from waiting (a fetch's wait, a join's timeouts are
// cut) and from destroying the canary (deleting it, its records, changing
// its configs or partitions): what Kafka would do to it then is no bug.
func (f *hzFiller) tame(req kmsg.Request) {
	canary := func(s *string) {
		if *s == f.canary {
			*s = f.replace
		}
	}
	switch r := req.(type) {
	case *kmsg.FetchRequest:
		r.MaxWaitMillis = min(r.MaxWaitMillis, 200)
	case *kmsg.ShareFetchRequest:
		r.MaxWaitMillis = min(r.MaxWaitMillis, 200)
	case *kmsg.JoinGroupRequest:
		r.RebalanceTimeoutMillis = min(r.RebalanceTimeoutMillis, 1000)
		if r.SessionTimeoutMillis > 10000 && r.SessionTimeoutMillis <= 1800000 {
			r.SessionTimeoutMillis = 10000
		}
	case *kmsg.DeleteTopicsRequest:
		for i := range r.TopicNames {
			canary(&r.TopicNames[i])
		}
		for i := range r.Topics {
			if r.Topics[i].Topic != nil {
				canary(r.Topics[i].Topic)
			}
			if r.Topics[i].TopicID == f.ids[0] {
				r.Topics[i].TopicID = f.ids[1]
			}
		}
	case *kmsg.DeleteRecordsRequest:
		for i := range r.Topics {
			canary(&r.Topics[i].Topic)
		}
	case *kmsg.AlterConfigsRequest:
		for i := range r.Resources {
			canary(&r.Resources[i].ResourceName)
		}
	case *kmsg.IncrementalAlterConfigsRequest:
		for i := range r.Resources {
			canary(&r.Resources[i].ResourceName)
		}
	case *kmsg.CreatePartitionsRequest:
		for i := range r.Topics {
			canary(&r.Topics[i].Topic)
		}
	}
}

// batch returns a magic-2 record batch of n records; hostile ones have a
// few header fields (or records) mutated and may be compressed.
func (f *hzFiller) batch(n int, hostile bool) []byte {
	if hostile && f.r.IntN(10) == 0 {
		n = 200
	}
	b := hzBatch{Magic: 2, ProducerID: -1, ProducerEpoch: -1, BaseSeq: -1, NumRecs: -1, LeaderEpoch: -1,
		BaseTs: f.base, MaxTs: f.base, LastOffDelta: int32(n - 1)}
	for i := 0; i < n; i++ {
		b.Recs = append(b.Recs, hzRec{Key: []byte("k"), Value: []byte("fuzz-value"), OffDelta: int32(i)})
	}
	if !hostile {
		return b.bytes(f.comp)
	}
	p32 := func() int32 { return []int32{0, -1, 1, math.MaxInt32, math.MinInt32, 5, 1000}[f.r.IntN(7)] }
	p64 := func() int64 { return []int64{0, -1, 1, math.MaxInt64, math.MinInt64, 1000, 1 << 40}[f.r.IntN(7)] }
	for m := 1 + f.r.IntN(4); m > 0; m-- {
		switch f.r.IntN(20) {
		case 0:
			b.BaseOffset = p64()
		case 1:
			b.LeaderEpoch = p32()
		case 2:
			b.Magic = int8([]int{0, 1, 3, -1, 127}[f.r.IntN(5)])
		case 3, 4, 5:
			b.Attr = int16(f.r.IntN(8)) | int16(f.r.IntN(2))<<3 | int16(f.r.IntN(2))<<4 | int16(f.r.IntN(2))<<5 | int16(f.r.IntN(2))<<6
			b.Compress = f.r.IntN(3) > 0
		case 6:
			b.LastOffDelta = p32()
		case 7:
			b.BaseTs, b.MaxTs = p64(), p64()
		case 8, 9:
			b.ProducerID, b.ProducerEpoch = p64(), int16(p32())
		case 10:
			b.BaseSeq = p32()
		case 11:
			b.NumRecs = p32()
		case 12:
			b.BadCRC = true
		case 13:
			b.LenDelta = []int32{-1, 1, -20, 1000}[f.r.IntN(4)]
		case 14:
			i := f.r.IntN(len(b.Recs))
			b.Recs[i].OffDelta, b.Recs[i].TsDelta = p32(), p64()
		case 15:
			i := f.r.IntN(len(b.Recs))
			b.Recs[i].Key, b.Recs[i].Value = nil, nil
		case 16:
			i := f.r.IntN(len(b.Recs))
			b.Recs[i].Headers = [][2][]byte{{[]byte(""), nil}, {[]byte("\xff\xfe"), []byte("x")}}
		case 17:
			b.RawRecs = f.rawBytes(f.r.IntN(64))
		case 18: // a control batch, as only a transaction coordinator writes
			b.Attr |= 0x30
			b.ProducerID, b.ProducerEpoch = int64(f.r.IntN(3)), int16(f.r.IntN(2))
			b.Recs = []hzRec{{Key: []byte{0, 0, 0, byte(f.r.IntN(3))}, Value: []byte{0, 0, 0, 0, 0, 0}}}
			b.LastOffDelta = 0
		case 19:
			b.Recs[0].Attr = -1
		}
	}
	out := b.bytes(f.comp)
	if f.r.IntN(6) == 0 { // a second batch, or the start of one
		b2 := hzBatch{Magic: 2, ProducerID: -1, ProducerEpoch: -1, BaseSeq: -1, NumRecs: -1, BaseTs: f.base, MaxTs: f.base,
			Recs: []hzRec{{Key: []byte("k2"), Value: []byte("v2")}}}
		o2 := b2.bytes(f.comp)
		if f.r.IntN(2) == 0 {
			o2 = o2[:f.r.IntN(len(o2))]
		}
		out = append(out, o2...)
	}
	return out
}

type hzRec struct {
	Key, Value []byte
	Headers    [][2][]byte
	TsDelta    int64
	OffDelta   int32
	Attr       int8
}

type hzBatch struct {
	BaseOffset    int64
	LeaderEpoch   int32
	Magic         int8
	Attr          int16
	LastOffDelta  int32
	BaseTs, MaxTs int64
	ProducerID    int64
	ProducerEpoch int16
	BaseSeq       int32
	NumRecs       int32 // -1: len(Recs)
	Recs          []hzRec
	RawRecs       []byte // the records section instead of Recs
	BadCRC        bool
	LenDelta      int32
	Compress      bool // by Attr&7
}

func hzAppendBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	return append(binary.AppendVarint(b, int64(len(v))), v...)
}

func (bt hzBatch) bytes(comp map[int8]kgo.Compressor) []byte {
	recs := bt.RawRecs
	if recs == nil {
		for _, r := range bt.Recs {
			body := []byte{byte(r.Attr)}
			body = binary.AppendVarint(body, r.TsDelta)
			body = binary.AppendVarint(body, int64(r.OffDelta))
			body = hzAppendBytes(body, r.Key)
			body = hzAppendBytes(body, r.Value)
			body = binary.AppendVarint(body, int64(len(r.Headers)))
			for _, h := range r.Headers {
				body = hzAppendBytes(body, h[0])
				body = hzAppendBytes(body, h[1])
			}
			recs = append(binary.AppendVarint(recs, int64(len(body))), body...)
		}
	}
	if c := comp[int8(bt.Attr&7)]; bt.Compress && c != nil {
		var buf bytes.Buffer
		recs, _ = c.Compress(&buf, recs)
		recs = append([]byte(nil), recs...)
	}
	n := bt.NumRecs
	if n < 0 {
		n = int32(len(bt.Recs))
	}
	var tail []byte // from the attributes on: what the CRC covers
	tail = binary.BigEndian.AppendUint16(tail, uint16(bt.Attr))
	tail = binary.BigEndian.AppendUint32(tail, uint32(bt.LastOffDelta))
	tail = binary.BigEndian.AppendUint64(tail, uint64(bt.BaseTs))
	tail = binary.BigEndian.AppendUint64(tail, uint64(bt.MaxTs))
	tail = binary.BigEndian.AppendUint64(tail, uint64(bt.ProducerID))
	tail = binary.BigEndian.AppendUint16(tail, uint16(bt.ProducerEpoch))
	tail = binary.BigEndian.AppendUint32(tail, uint32(bt.BaseSeq))
	tail = binary.BigEndian.AppendUint32(tail, uint32(n))
	tail = append(tail, recs...)
	crc := crc32.Checksum(tail, crc32.MakeTable(crc32.Castagnoli))
	if bt.BadCRC {
		crc ^= 0xdeadbeef
	}
	var out []byte
	out = binary.BigEndian.AppendUint64(out, uint64(bt.BaseOffset))
	out = binary.BigEndian.AppendUint32(out, uint32(int32(4+1+4+len(tail))+bt.LenDelta))
	out = binary.BigEndian.AppendUint32(out, uint32(bt.LeaderEpoch))
	out = append(out, byte(bt.Magic))
	out = binary.BigEndian.AppendUint32(out, crc)
	return append(out, tail...)
}

// hzDescribe prints a request's or response's fields, long strings and
// byte slices abbreviated, within about 3 KiB.
func hzDescribe(x any) string {
	var sb strings.Builder
	hzDescribeValue(&sb, reflect.ValueOf(x), 0)
	s := sb.String()
	if len(s) > 3<<10 {
		s = s[:3<<10] + "..."
	}
	return s
}

func hzDescribeValue(sb *strings.Builder, v reflect.Value, depth int) {
	if sb.Len() > 4<<10 || depth > 10 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			sb.WriteString("null")
			return
		}
		hzDescribeValue(sb, v.Elem(), depth+1)
	case reflect.String:
		s := v.String()
		if len(s) > 40 {
			fmt.Fprintf(sb, "%q...(%d bytes)", s[:16], len(s))
		} else {
			fmt.Fprintf(sb, "%q", s)
		}
	case reflect.Slice:
		if v.IsNil() {
			sb.WriteString("null")
			return
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := v.Bytes()
			if len(b) > 48 {
				fmt.Fprintf(sb, "%x...(%d bytes)", b[:24], len(b))
			} else {
				fmt.Fprintf(sb, "%x", b)
			}
			return
		}
		sb.WriteString("[")
		for i := 0; i < v.Len(); i++ {
			if i == 8 && v.Len() > 10 {
				fmt.Fprintf(sb, " ...%d more", v.Len()-8)
				break
			}
			if i > 0 {
				sb.WriteString(" ")
			}
			hzDescribeValue(sb, v.Index(i), depth+1)
		}
		sb.WriteString("]")
	case reflect.Array:
		fmt.Fprintf(sb, "%x", v.Interface())
	case reflect.Struct:
		if v.Type() == hzTagsType {
			return
		}
		sb.WriteString("{")
		first := true
		for i := 0; i < v.NumField(); i++ {
			fd := v.Type().Field(i)
			if !fd.IsExported() || fd.Type == hzTagsType {
				continue
			}
			if !first {
				sb.WriteString(" ")
			}
			first = false
			sb.WriteString(fd.Name + ":")
			hzDescribeValue(sb, v.Field(i), depth+1)
		}
		sb.WriteString("}")
	default:
		fmt.Fprintf(sb, "%v", v.Interface())
	}
}
