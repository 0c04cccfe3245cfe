package compat

// Hostile connections against the broker's own process: clients that
// announce huge frames and send a few bytes, pipeline fetches and never
// read the answers, exhaust the process's file descriptors, sit idle or
// trickle a request, pipeline long polls behind quick requests, or ask for
// SASL on a plaintext listener. Each probe states its exact expected
// outcome (an error code, a closed connection, a time bound, a memory
// bound read from /proc/<pid>/status); after each, a canary topic written
// before the probes reads back intact and a new record goes in and comes
// back out. These need gregor's pid and config keys, so they skip under
// COMPAT_BOOTSTRAP.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

// What the memory probes do, and the bounds they assert on the broker's
// RSS growth over its RSS just before the probe.
const (
	// hcAnnounceConns connections each announce a frame of
	// socket.request.max.bytes (100 MiB, the default) and send 6 bytes.
	hcAnnounceConns = 100
	hcMaxFrame      = 104857600
	// hcAnnounceGrowth: a frame buffer starts at 64 KiB and grows as bytes
	// arrive, so 100 such connections cost about 100 x (64 KiB + two
	// goroutines), nowhere near 100 x 100 MiB.
	hcAnnounceGrowth = 64 << 20
	// hcHalfSentConns connections each announce such a frame and send
	// 1 MiB of it.
	hcHalfSentConns = 8
	// hcFetchConns connections each pipeline hcFetchPerConn fetches of the
	// whole bulk topic (hcBulkBytes) and never read a response.
	hcFetchConns   = 4
	hcFetchPerConn = 200
	hcBulkBytes    = 8 << 20
	// hcFetchGrowth: a connection stops being read once 16 MiB of its
	// requests and unwritten responses are held
	// (gregor.connection.max.queued.bytes), so each pins at most that plus
	// the response being written: 4 x (16 + 8) MiB, with room for the
	// garbage the fetches leave to the collector.
	hcFetchGrowth = 320 << 20
)

// hostile is a broker under probe with its canary topic.
type hostile struct {
	b      *brokertest.Broker
	canary string
	recs   []ccRecord
}

func startHostile(t *testing.T, opt brokertest.Options) *hostile {
	t.Helper()
	if !usingGregor() {
		t.Skip("hostile connection probes need gregor's own process (pid, /proc, config keys)")
	}
	b := brokertest.Start(t, opt)
	h := &hostile{b: b, canary: randomName("canary")}
	ccCreateTopic(t, b.Addr, h.canary, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.produce(t, ctx, "before", 20)
	h.recs = ccKgoRead(t, ctx, b.Addr, h.canary, 1)
	if len(h.recs) != 20 {
		t.Fatalf("setup: %d canary records stored, want 20", len(h.recs))
	}
	return h
}

func (h *hostile) produce(t *testing.T, ctx context.Context, tag string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.b.Addr), kgo.DefaultProduceTopic(h.canary))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < n; i++ {
		r := kgo.StringRecord(fmt.Sprintf("canary-%s-%d", tag, i))
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("canary produce (%s): %v", tag, err)
		}
	}
}

// check asserts the process runs, the canary topic holds exactly what was
// written, and a record produced now is read back after them.
func (h *hostile) check(t *testing.T, after string) {
	t.Helper()
	if code := h.b.ExitCode(); code != -1 {
		t.Fatalf("after %s: gregor exited with code %d\n%s", after, code, h.b.Logs(4<<10))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ccCheckSame(t, "canary after "+after, h.recs, ccKgoRead(t, ctx, h.b.Addr, h.canary, 1))
	tag := strings.ReplaceAll(after, " ", "-")
	h.produce(t, ctx, tag, 1)
	got := ccKgoRead(t, ctx, h.b.Addr, h.canary, 1)
	if len(got) != len(h.recs)+1 || string(got[len(got)-1].V) != "canary-"+tag+"-0" {
		t.Fatalf("after %s: canary has %d records, want %d ending with the one just produced", after, len(got), len(h.recs)+1)
	}
	h.recs = got
}

// rss reads the broker's VmRSS.
func (h *hostile) rss(t *testing.T) int64 {
	t.Helper()
	n, err := h.b.RSS()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sampleRSS samples the broker's RSS every 50 ms for d and returns the
// peak, failing (and returning at once) when it exceeds limit.
func (h *hostile) sampleRSS(t *testing.T, d time.Duration, limit int64, what string) int64 {
	t.Helper()
	var peak int64
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		n := h.rss(t)
		peak = max(peak, n)
		if n > limit {
			t.Errorf("%s: broker RSS %d MiB, over the bound of %d MiB", what, n>>20, limit>>20)
			return peak
		}
	}
	return peak
}

// logMentions waits (bounded) for the broker's log to mention sub.
func (h *hostile) logMentions(t *testing.T, what, sub string) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if strings.Contains(strings.ToLower(h.b.Logs(1<<20)), strings.ToLower(sub)) {
			return
		}
		if time.Now().After(end) {
			t.Errorf("the broker's log does not mention %s (%q); last lines:\n%s", what, sub, h.b.Logs(2<<10))
			return
		}
	}
}

func hcDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	return hcDialFrom(t, "", addr)
}

// hcDialFrom dials from a local loopback address (any 127.x.y.z works on
// Linux), so per-IP limits can be probed without other tests' connections.
func hcDialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dialing %s from %q: %v", addr, local, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func hcFrame(req kmsg.Request, corr int32) []byte {
	return badFrame(req.Key(), req.GetVersion(), corr, req.IsFlexible(), req.AppendTo(nil))
}

func hcWrite(t *testing.T, c net.Conn, frames ...[]byte) {
	t.Helper()
	var all []byte
	for _, f := range frames {
		all = append(all, f...)
	}
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(all); err != nil {
		t.Fatalf("writing %d request bytes: %v", len(all), err)
	}
}

// hcRead reads one response within d, checks its correlation id and
// decodes it into resp (whose version is set).
func hcRead(t *testing.T, c net.Conn, d time.Duration, corr int32, resp kmsg.Response) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	body, got, err := badReadResponse(c)
	if err != nil {
		t.Fatalf("reading the %s response (correlation %d): %v", kmsg.NameForKey(resp.Key()), corr, err)
	}
	if got != corr {
		t.Fatalf("response with correlation %d, want %d: responses out of order", got, corr)
	}
	if resp.IsFlexible() && resp.Key() != 18 {
		if len(body) == 0 || body[0] != 0 {
			t.Fatal("flexible response header without an empty tag section")
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decoding %s v%d: %v", kmsg.NameForKey(resp.Key()), resp.GetVersion(), err)
	}
}

// hcApiVersions round-trips ApiVersions v3 on c.
func hcApiVersions(t *testing.T, c net.Conn, corr int32) *kmsg.ApiVersionsResponse {
	t.Helper()
	hcWrite(t, c, hcFrame(hcApiVersionsReq(), corr))
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 3
	hcRead(t, c, 10*time.Second, corr, resp)
	if resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions: error %d", resp.ErrorCode)
	}
	return resp
}

func hcApiVersionsReq() *kmsg.ApiVersionsRequest {
	r := kmsg.NewPtrApiVersionsRequest()
	r.Version, r.ClientSoftwareName, r.ClientSoftwareVersion = 3, "gregor-hostile", "1.0"
	return r
}

// hcFetch is a Fetch v12 (topic names) of partition 0 from offset.
func hcFetch(topic string, offset int64, minBytes, maxBytes, waitMs int32) *kmsg.FetchRequest {
	r := kmsg.NewPtrFetchRequest()
	r.Version, r.ReplicaID, r.MaxWaitMillis, r.MinBytes, r.MaxBytes, r.SessionEpoch = 12, -1, waitMs, minBytes, maxBytes, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = 0, offset, maxBytes
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

// hcClosedWithin asserts the broker closes c between lo and hi after
// since, without sending anything.
func hcClosedWithin(t *testing.T, c net.Conn, since time.Time, lo, hi time.Duration, what string) {
	t.Helper()
	c.SetReadDeadline(since.Add(hi))
	var b [1]byte
	n, err := c.Read(b[:])
	took := time.Since(since)
	switch {
	case n > 0:
		t.Errorf("%s: the broker sent data instead of closing", what)
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Errorf("%s: still open %v later, want closed within %v", what, took.Round(time.Millisecond), hi)
	case took < lo:
		t.Errorf("%s: closed after %v, before %v", what, took.Round(time.Millisecond), lo)
	default:
		t.Logf("%s: closed after %v", what, took.Round(time.Millisecond))
	}
}

func TestHostileConnections(t *testing.T) {
	h := startHostile(t, brokertest.Options{})
	addr := h.b.Addr

	t.Run("AnnouncedFramesDoNotAllocate", func(t *testing.T) {
		// Two rounds: the first round's buffers, once collected, leave
		// the heap dirty, so what the second round is given is memory the
		// runtime must zero (resident), as in a broker that has run a while.
		for round := 1; round <= 2; round++ {
			h.announceRound(t, round)
		}
	})

	t.Run("HalfSentFramesDoNotStallOthers", func(t *testing.T) {
		// hcHalfSentConns connections each announce a frame of
		// socket.request.max.bytes, send 1 MiB of it and stop. Were each
		// to reserve the size it announced once it has sent more than a
		// first buffer, 6 of them would hold the whole default
		// queued.max.request.bytes (512 MiB): every other client would
		// wait until they were closed as stalled, 5 s later. A frame
		// reserves what it has grown to, so together they hold about
		// 16 MiB, the canary is served at once, and none of them is
		// closed: nobody waits for the budget they hold.
		announce := binary.BigEndian.AppendUint32(nil, hcMaxFrame)
		announce = append(announce, 0, 0, 0, 9, 0, 0)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := 0; i < hcHalfSentConns; i++ {
			c := hcDial(t, addr)
			hcWrite(t, c, announce, make([]byte, 1<<20))
			conns = append(conns, c)
		}
		h.check(t, "half-sent frames held open")
		for i, c := range conns {
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			var b [1]byte
			if _, err := c.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("connection %d with 1 MiB of a legal frame sent: read %v, want it open and silent (closed as stalled: the canary waited for the budget it held)", i, err)
			}
		}
	})

	t.Run("UnreadFetchResponsesAreBounded", func(t *testing.T) {
		bulk := randomName("hostile-bulk")
		ccCreateTopic(t, addr, bulk, 1)
		hcFillBulk(t, addr, bulk)
		base := h.rss(t)
		fetch := hcFrame(hcFetch(bulk, 0, 1, 64<<20, 0), 1)
		var frames []byte
		for i := 0; i < hcFetchPerConn; i++ {
			frames = append(frames, fetch...)
			binary.BigEndian.PutUint32(frames[len(frames)-len(fetch)+8:], uint32(i)) // correlation id
		}
		var wg sync.WaitGroup
		var conns []net.Conn
		for i := 0; i < hcFetchConns; i++ {
			c := hcDial(t, addr)
			conns = append(conns, c)
			wg.Add(1)
			go func() { // may block once the broker stops reading
				defer wg.Done()
				c.SetWriteDeadline(time.Now().Add(20 * time.Second))
				c.Write(frames)
			}()
		}
		closeAll := func() {
			for _, c := range conns {
				c.Close()
			}
			wg.Wait()
		}
		defer closeAll()
		peak := h.sampleRSS(t, 3*time.Second, base+hcFetchGrowth, "pipelined fetches never read")
		t.Logf("broker RSS %d MiB before, peak %d MiB with %d connections each pipelining %d fetches of %d MiB unread (bound +%d MiB)",
			base>>20, peak>>20, hcFetchConns, hcFetchPerConn, hcBulkBytes>>20, hcFetchGrowth>>20)
		h.check(t, "unread fetches held open")
		closeAll()
		h.check(t, "unread fetches closed")
	})

	t.Run("ReadyResponsesNotHeldBehindLongPoll", func(t *testing.T) {
		quiet, sink := randomName("hostile-quiet"), randomName("hostile-sink")
		ccCreateTopic(t, addr, quiet, 1)
		ccCreateTopic(t, addr, sink, 1)
		c := hcDial(t, addr)
		produce := kmsg.NewPtrProduceRequest()
		produce.Version, produce.Acks, produce.TimeoutMillis = 9, 1, 5000
		pt := kmsg.NewProduceRequestTopic()
		pt.Topic = sink
		pp := kmsg.NewProduceRequestTopicPartition()
		pp.Records = badBatch(2, "pipelined")
		pt.Partitions = append(pt.Partitions, pp)
		produce.Topics = append(produce.Topics, pt)
		// ApiVersions and an acks=1 Produce, then a Fetch that waits 5 s
		// for data that never comes, in one write. (A request sent after
		// the long poll is answered after it: responses keep request order
		// on a connection, which every Kafka client relies on.)
		start := time.Now()
		hcWrite(t, c, hcFrame(hcApiVersionsReq(), 1), hcFrame(produce, 2), hcFrame(hcFetch(quiet, 0, 1, 1<<20, 5000), 3))
		av := kmsg.NewPtrApiVersionsResponse()
		av.Version = 3
		hcRead(t, c, 10*time.Second, 1, av)
		tAV := time.Since(start)
		pr := kmsg.NewPtrProduceResponse()
		pr.Version = 9
		hcRead(t, c, 10*time.Second, 2, pr)
		tProduce := time.Since(start)
		fr := kmsg.NewPtrFetchResponse()
		fr.Version = 12
		hcRead(t, c, 15*time.Second, 3, fr)
		tFetch := time.Since(start)
		t.Logf("pipelined ApiVersions answered after %v, acks=1 Produce after %v, 5 s long poll after %v",
			tAV.Round(time.Millisecond), tProduce.Round(time.Millisecond), tFetch.Round(time.Millisecond))
		if av.ErrorCode != 0 || pr.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Errorf("ApiVersions error %d, Produce error %d", av.ErrorCode, pr.Topics[0].Partitions[0].ErrorCode)
		}
		if tAV > time.Second || tProduce > time.Second {
			t.Errorf("responses ready at once were held back behind the long poll: ApiVersions %v, Produce %v", tAV, tProduce)
		}
		if tFetch < 4500*time.Millisecond {
			t.Errorf("the 5 s long poll on an empty partition was answered after %v", tFetch)
		}

		// Five pipelined 2 s long polls wait side by side, not in turn.
		const polls = 5
		var frames [][]byte
		for i := int32(0); i < polls; i++ {
			frames = append(frames, hcFrame(hcFetch(quiet, 0, 1, 1<<20, 2000), 10+i))
		}
		start = time.Now()
		hcWrite(t, c, frames...)
		for i := int32(0); i < polls; i++ {
			fr := kmsg.NewPtrFetchResponse()
			fr.Version = 12
			hcRead(t, c, 15*time.Second, 10+i, fr)
		}
		took := time.Since(start)
		t.Logf("%d pipelined 2 s long polls answered after %v", polls, took.Round(time.Millisecond))
		if took < 1900*time.Millisecond || took > 3500*time.Millisecond {
			t.Errorf("%d pipelined 2 s long polls took %v, want about 2 s (not %d x 2 s)", polls, took, polls)
		}
		h.check(t, "pipelined long polls")
	})

	t.Run("SaslOnPlaintextListener", func(t *testing.T) {
		c := hcDial(t, addr)
		av := hcApiVersions(t, c, 1)
		want := map[int16][2]int16{17: {0, 1}, 36: {0, 2}}
		for _, k := range av.ApiKeys {
			if w, ok := want[k.ApiKey]; ok {
				if k.MinVersion != w[0] || k.MaxVersion < w[1] {
					t.Errorf("%s advertised [%d, %d], want [%d, >=%d]", kmsg.NameForKey(k.ApiKey), k.MinVersion, k.MaxVersion, w[0], w[1])
				}
				delete(want, k.ApiKey)
			}
		}
		if len(want) > 0 {
			t.Errorf("ApiVersions does not advertise %v", want)
		}
		corr := int32(10)
		for v := int16(0); v <= (&kmsg.SASLHandshakeRequest{}).MaxVersion(); v++ {
			req := kmsg.NewPtrSASLHandshakeRequest()
			req.Version, req.Mechanism = v, "PLAIN"
			corr++
			hcWrite(t, c, hcFrame(req, corr))
			resp := kmsg.NewPtrSASLHandshakeResponse()
			resp.Version = v
			hcRead(t, c, 10*time.Second, corr, resp)
			// Kafka's KafkaApis answers a handshake on a listener without
			// SASL with ILLEGAL_SASL_STATE and no mechanisms.
			if resp.ErrorCode != kerr.IllegalSaslState.Code || len(resp.SupportedMechanisms) != 0 {
				t.Errorf("SaslHandshake v%d: error %d, mechanisms %q; want ILLEGAL_SASL_STATE (34) and none", v, resp.ErrorCode, resp.SupportedMechanisms)
			}
		}
		for v := int16(0); v <= (&kmsg.SASLAuthenticateRequest{}).MaxVersion(); v++ {
			req := kmsg.NewPtrSASLAuthenticateRequest()
			req.Version, req.SASLAuthBytes = v, []byte("\x00user\x00secret")
			corr++
			hcWrite(t, c, hcFrame(req, corr))
			resp := kmsg.NewPtrSASLAuthenticateResponse()
			resp.Version = v
			hcRead(t, c, 10*time.Second, corr, resp)
			if resp.ErrorCode != kerr.IllegalSaslState.Code {
				t.Errorf("SaslAuthenticate v%d without a handshake: error %d, want ILLEGAL_SASL_STATE (34)", v, resp.ErrorCode)
			}
		}
		// The connection still serves.
		hcApiVersions(t, c, 99)
		h.check(t, "SASL requests")
	})
}

// announceRound opens hcAnnounceConns connections that each announce a
// frame of socket.request.max.bytes and send 6 bytes of it, asserting the
// broker's RSS growth stays under hcAnnounceGrowth and the canary works
// meanwhile, then closes them.
func (h *hostile) announceRound(t *testing.T, round int) {
	t.Helper()
	base := h.rss(t)
	// Produce v9, the beginning of a header, then nothing: a frame of
	// exactly socket.request.max.bytes is legal, so each stays open.
	announce := binary.BigEndian.AppendUint32(nil, hcMaxFrame)
	announce = append(announce, 0, 0, 0, 9, 0, 0)
	conns := make([]net.Conn, 0, hcAnnounceConns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < hcAnnounceConns; i++ {
		c := hcDial(t, h.b.Addr)
		hcWrite(t, c, announce)
		conns = append(conns, c)
		if n := h.rss(t); n > base+hcAnnounceGrowth {
			t.Fatalf("round %d, after %d connections announcing %d MiB: broker RSS %d MiB, up from %d MiB (bound +%d MiB)",
				round, i+1, hcMaxFrame>>20, n>>20, base>>20, hcAnnounceGrowth>>20)
		}
	}
	what := fmt.Sprintf("round %d: %d connections announcing %d MiB frames", round, hcAnnounceConns, hcMaxFrame>>20)
	peak := h.sampleRSS(t, 2*time.Second, base+hcAnnounceGrowth, what)
	t.Logf("%s: broker RSS %d MiB before, peak %d MiB (bound +%d MiB)", what, base>>20, peak>>20, hcAnnounceGrowth>>20)
	// The half-sent frames do not stall anyone else.
	h.check(t, fmt.Sprintf("announced frames held open round %d", round))
	for _, c := range conns[:3] {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		var b [1]byte
		if _, err := c.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("a connection with a legal half-sent frame: read %v, want it open and silent", err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	h.check(t, fmt.Sprintf("announced frames closed round %d", round))
}

// hcFillBulk writes hcBulkBytes of incompressible records to partition 0.
func hcFillBulk(t *testing.T, addr, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const recSize = 128 << 10
	var recs []*kgo.Record
	for i := 0; i < hcBulkBytes/recSize; i++ {
		v := make([]byte, recSize)
		rand.Read(v)
		recs = append(recs, &kgo.Record{Value: v})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("filling %s: %v", topic, err)
	}
}

// TestHostileFileDescriptorExhaustion: with RLIMIT_NOFILE at 256, 320
// idle connections would take every descriptor. The broker holds new
// connections back once it nears the limit, keeping a reserve for its logs:
// a producer connected before goes on appending through segment rolls
// (which open files) while the flood is open, a new connection waits, and
// once the flood closes new clients are served again. Without the reserve
// accept failed with EMFILE, segment rolls and checkpoints failed too, and
// every append timed out until the flood closed. (The listen backlog is
// raised from Kafka's 50 so that the kernel completes all 320 handshakes.)
// The start-up log warns of so low a limit.
func TestHostileFileDescriptorExhaustion(t *testing.T) {
	h := startHostile(t, brokertest.Options{NoFile: 256, Set: map[string]string{"socket.listen.backlog.size": "1024", "log.segment.bytes": "1048576"}})
	// A limit this low is called out at start-up.
	h.logMentions(t, "the start-up warning about the file descriptor limit", "the file descriptor limit (ulimit -n) is 256")
	topic := randomName("hostile-rolls")
	ccCreateTopic(t, h.b.Addr, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.b.Addr), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordDeliveryTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	value := make([]byte, 10<<10)
	rand.Read(value)
	produce := func(n int, what string) {
		t.Helper()
		for i := 0; i < n; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
				t.Fatalf("%s: record %d: %v", what, i, err)
			}
		}
	}
	produce(20, "before the flood")

	const n = 320
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		conns = append(conns, hcDial(t, h.b.Addr)) // the kernel completes them; the broker holds the last ones
	}
	h.logMentions(t, "holding connections near the descriptor limit", "open file descriptors near the process's limit")
	// About 3 segment rolls, each opening files, on a connection made
	// before the flood.
	start := time.Now()
	produce(300, "during the flood, on a connection made before it")
	t.Logf("300 records of 10 KB appended in %v while %d connections were open or held", time.Since(start).Round(time.Millisecond), n)
	if strings.Contains(strings.ToLower(h.b.Logs(1<<20)), "too many open files") {
		t.Errorf("the broker ran out of file descriptors:\n%s", h.b.Logs(4<<10))
	}
	// A new connection waits while the flood holds its descriptors.
	late := hcDial(t, h.b.Addr)
	late.SetDeadline(time.Now().Add(time.Second))
	if err := badRoundTrip(late, 9, hcApiVersionsReq(), kmsg.NewPtrApiVersionsResponse()); err == nil {
		t.Error("a connection made while the flood held the descriptors was served at once, want it held")
	}
	late.Close()
	for _, c := range conns {
		c.Close()
	}
	start = time.Now()
	if err := brokertest.WaitReady(h.b.Addr, 15*time.Second, nil); err != nil {
		t.Fatalf("after %d connections neared the broker's file descriptor limit and closed: %v", n, err)
	}
	t.Logf("served again %v after the connections closed", time.Since(start).Round(time.Millisecond))
	end, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := end.Lookup(topic, 0); o.Offset != 320 {
		t.Fatalf("%s ends at %d, want 320", topic, o.Offset)
	}
	h.check(t, "file descriptor exhaustion")
}

// TestHostileIdleAndPerIPLimits: connections.max.idle.ms closes idle and
// trickling connections but not one waiting on a long poll;
// max.connections.per.ip and its overrides close connections over the
// limit at once.
func TestHostileIdleAndPerIPLimits(t *testing.T) {
	const idle = 1500 * time.Millisecond
	h := startHostile(t, brokertest.Options{Set: map[string]string{
		"connections.max.idle.ms":          "1500",
		"max.connections.per.ip":           "20",
		"max.connections.per.ip.overrides": "127.0.0.2:2",
	}})
	addr := h.b.Addr

	t.Run("Idle", func(t *testing.T) {
		c := hcDial(t, addr)
		hcClosedWithin(t, c, time.Now(), idle-300*time.Millisecond, idle+5*time.Second, "a connection that sends nothing")
		c = hcDial(t, addr)
		hcApiVersions(t, c, 1)
		hcClosedWithin(t, c, time.Now(), idle-300*time.Millisecond, idle+5*time.Second, "a connection idle after one request")
	})

	t.Run("Trickle", func(t *testing.T) {
		c := hcDial(t, addr)
		start := time.Now()
		hcWrite(t, c, []byte{0, 0, 0x03, 0xe8}) // a 1000-byte frame...
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // ...one byte every 300 ms, each well within the idle time
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(300 * time.Millisecond):
				}
				c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write([]byte{0}); err != nil {
					return
				}
			}
		}()
		hcClosedWithin(t, c, start, idle-300*time.Millisecond, idle+5*time.Second, "a request trickled a byte at a time")
		close(stop)
		<-done
	})

	t.Run("LongPollOutlastsIdle", func(t *testing.T) {
		quiet := randomName("hostile-quiet")
		ccCreateTopic(t, addr, quiet, 1)
		c := hcDial(t, addr)
		start := time.Now()
		hcWrite(t, c, hcFrame(hcFetch(quiet, 0, 1, 1<<20, 3000), 5))
		fr := kmsg.NewPtrFetchResponse()
		fr.Version = 12
		hcRead(t, c, 10*time.Second, 5, fr)
		if took := time.Since(start); took < 2900*time.Millisecond {
			t.Errorf("the 3 s long poll was answered after %v", took)
		}
		hcClosedWithin(t, c, time.Now(), idle-300*time.Millisecond, idle+5*time.Second, "a connection idle after its long poll")
	})

	t.Run("PerIPLimitAndOverride", func(t *testing.T) {
		for _, tc := range []struct {
			ip    string
			limit int
		}{{"127.0.0.2", 2}, {"127.0.0.3", 20}} {
			var conns []net.Conn
			for i := 0; i < tc.limit; i++ {
				c := hcDialFrom(t, tc.ip, addr)
				hcApiVersions(t, c, int32(i))
				conns = append(conns, c)
			}
			over := hcDialFrom(t, tc.ip, addr)
			over.Write(hcFrame(hcApiVersionsReq(), 1))
			expectClosed(t, over, fmt.Sprintf("connection %d from %s (limit %d)", tc.limit+1, tc.ip, tc.limit))
			// Closing one makes room again (once the broker has seen it go).
			conns[0].Close()
			served := false
			for end := time.Now().Add(5 * time.Second); !served && time.Now().Before(end); {
				c := hcDialFrom(t, tc.ip, addr)
				c.SetDeadline(time.Now().Add(2 * time.Second))
				served = badRoundTrip(c, 7, hcApiVersionsReq(), kmsg.NewPtrApiVersionsResponse()) == nil
				c.Close()
				if !served {
					time.Sleep(50 * time.Millisecond)
				}
			}
			if !served {
				t.Errorf("%s: no connection served after one of %d closed", tc.ip, tc.limit)
			}
			for _, c := range conns {
				c.Close()
			}
		}
		h.logMentions(t, "the rejected connection", "max.connections.per.ip")
	})
	h.check(t, "idle and per-IP probes")
}
