package compat

// Producer retries over dropped connections. A TCP proxy between the
// clients and the broker forwards requests and answers, and instead of
// forwarding every Nth answer to a Produce request it closes the
// connection: the broker has written the batch but the client never
// hears so, reconnects (the broker advertises the proxy's address) and
// sends it again. Idempotent and transactional producers must end with
// each record stored exactly once; a non-idempotent producer may
// duplicate but must lose nothing it was told was written.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"gregor/internal/brokertest"
)

const (
	rpPartitions = 3
	rpProduceKey = 0 // Produce API key
)

// rpProxy forwards Kafka connections to target and drops the connection
// instead of forwarding every Nth answer to a request with a key in drop.
// It assumes every request is answered (no acks=0 produce).
//
// The count is of answers, not of requests: a client pipelining five
// Produce requests that are all sent again on the next connection would
// otherwise meet the same phase every time (the first of the five counted
// as the fifth), have the first answer on every connection dropped and
// make no progress. Counting answers, each connection delivers at least
// N-1 answers before a drop.
type rpProxy struct {
	ln     net.Listener
	target string
	drop   map[int16]int // api key -> drop every Nth response

	mu      sync.Mutex
	seen    map[int16]int
	conns   map[net.Conn]struct{}
	closed  bool
	dropped atomic.Int64
	wg      sync.WaitGroup
}

func rpListen(t *testing.T, drop map[int16]int) *rpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &rpProxy{ln: ln, drop: drop, seen: map[int16]int{}, conns: map[net.Conn]struct{}{}}
	t.Cleanup(p.Close)
	return p
}

func (p *rpProxy) Addr() string { return p.ln.Addr().String() }

// Serve starts accepting connections and forwarding them to target.
func (p *rpProxy) Serve(target string) {
	p.target = target
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.handle(c)
			}()
		}
	}()
}

func (p *rpProxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

func (p *rpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *rpProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// decide counts an answer to a request of key and says whether it is
// dropped.
func (p *rpProxy) decide(key int16) bool {
	every, ok := p.drop[key]
	if !ok || every <= 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[key]++
	return p.seen[key]%every == 0
}

func (p *rpProxy) seenCounts() map[int16]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[int16]int{}
	for k, n := range p.seen {
		out[k] = n
	}
	return out
}

// rpReadFrame reads one size-prefixed Kafka frame, size included.
func rpReadFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 256<<20 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	buf := make([]byte, 4+n)
	copy(buf, size[:])
	_, err := io.ReadFull(r, buf[4:])
	return buf, err
}

func (p *rpProxy) handle(client net.Conn) {
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)

	// Correlation id -> the request's key. Kafka answers in order on a
	// connection, but matching by id does not rely on it.
	var mu sync.Mutex
	pending := map[int32]int16{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer server.Close()
		defer client.Close()
		for {
			frame, err := rpReadFrame(client)
			if err != nil || len(frame) < 12 {
				return
			}
			key := int16(binary.BigEndian.Uint16(frame[4:6]))
			corr := int32(binary.BigEndian.Uint32(frame[8:12]))
			mu.Lock()
			pending[corr] = key
			mu.Unlock()
			if _, err := server.Write(frame); err != nil {
				return
			}
		}
	}()
	for {
		frame, err := rpReadFrame(server)
		if err != nil || len(frame) < 8 {
			break
		}
		corr := int32(binary.BigEndian.Uint32(frame[4:8]))
		mu.Lock()
		key, ok := pending[corr]
		delete(pending, corr)
		mu.Unlock()
		if ok && p.decide(key) {
			// The broker has done the work; the client never learns it.
			p.dropped.Add(1)
			break
		}
		if _, err := client.Write(frame); err != nil {
			break
		}
	}
	client.Close()
	server.Close()
	<-done
}

// rpStart starts a proxy dropping every 5th Produce answer (and the answers
// of other keys as extra says) and a broker that advertises the proxy's
// address, and checks the broker's metadata names the proxy.
func rpStart(t *testing.T, extra map[int16]int) (*brokertest.Broker, *rpProxy) {
	t.Helper()
	drop := map[int16]int{rpProduceKey: 5}
	for k, n := range extra {
		drop[k] = n
	}
	p := rpListen(t, drop)
	b := brokertest.Start(t, brokertest.Options{Port: brokertest.FreePort(t), Set: map[string]string{
		"advertised.listeners":                     "PLAINTEXT://" + p.Addr(),
		"transaction.state.log.num.partitions":     "3",
		"transaction.state.log.replication.factor": "1",
		"transaction.state.log.min.isr":            "1",
	}})
	p.Serve(b.Addr)

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Metadata from the seed connection, straight to the broker.
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if len(resp.Brokers) != 1 {
		t.Fatalf("metadata lists %d brokers, want 1", len(resp.Brokers))
	}
	adv := net.JoinHostPort(resp.Brokers[0].Host, strconv.Itoa(int(resp.Brokers[0].Port)))
	if adv != p.Addr() {
		t.Fatalf("broker advertises %s in Metadata, want advertised.listeners %s", adv, p.Addr())
	}
	return b, p
}

// rpDirect is a client option that dials the broker itself wherever
// metadata names the proxy.
func rpDirect(b *brokertest.Broker, p *rpProxy) kgo.Opt {
	return kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
		if host == p.Addr() {
			host = b.Addr
		}
		var d net.Dialer
		return d.DialContext(ctx, network, host)
	})
}

// rpRead reads topic straight from the broker with an isolation level
// until enough(records) holds and two polls in a row bring nothing new;
// records come back in (partition, offset) order.
func rpRead(t *testing.T, b *brokertest.Broker, p *rpProxy, topic string, committed bool, enough func([]ccRecord) bool) []ccRecord {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), rpDirect(b, p), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []ccRecord
	deadline := time.Now().Add(60 * time.Second)
	quiet := 0
	for quiet < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("reading %s (committed=%v): %d records after 60s, not enough", topic, committed, len(got))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, ccFromKgo(r))
			n++
		})
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.DeadlineExceeded) {
				t.Fatalf("fetching %s: %v", topic, e.Err)
			}
		}
		if n == 0 && enough(got) {
			quiet++
		} else {
			quiet = 0
		}
	}
	sort.Slice(got, func(i, j int) bool {
		if got[i].P != got[j].P {
			return got[i].P < got[j].P
		}
		return got[i].O < got[j].O
	})
	return got
}

// rpHighWatermarks lists the topic's end offsets straight from the broker.
func rpHighWatermarks(t *testing.T, b *brokertest.Broker, p *rpProxy, topic string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), rpDirect(b, p))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	hw := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { hw[o.Partition] = o.Offset })
	return hw
}

// rpReachedHW reports whether recs hold a record at every partition's last
// offset below its high watermark (for topics without control records).
func rpReachedHW(hw map[int32]int64) func([]ccRecord) bool {
	return func(recs []ccRecord) bool {
		next := map[int32]int64{}
		for _, r := range recs {
			if r.O+1 > next[r.P] {
				next[r.P] = r.O + 1
			}
		}
		for p, h := range hw {
			if next[p] < h {
				return false
			}
		}
		return true
	}
}

// rpAck is where the broker said it put a value.
type rpAck struct {
	p int32
	o int64
}

// rpProduce produces n values "prefix-i" through cl and waits for every
// promise, failing on any error; it returns the acknowledgements.
func rpProduce(t *testing.T, cl *kgo.Client, prefix string, n int) map[string]rpAck {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	acks := map[string]rpAck{}
	var failed []error
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		v := fmt.Sprintf("%s-%05d", prefix, i)
		cl.Produce(ctx, kgo.StringRecord(v), func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, fmt.Errorf("%s: %w", r.Value, err))
				return
			}
			acks[string(r.Value)] = rpAck{r.Partition, r.Offset}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d of %d records failed through the dropping proxy, first: %v", len(failed), n, failed[0])
	}
	return acks
}

func rpProducer(t *testing.T, p *rpProxy, topic string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(p.Addr()), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(time.Millisecond),
		// Small batches: many Produce requests, so many dropped answers.
		kgo.ProducerBatchMaxBytes(512), kgo.MaxBufferedRecords(200),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestRetryProxyIdempotentProducer sends 5000 records with franz-go's
// default (idempotent) producer through the dropping proxy: every one is
// acknowledged and stored once, at its acknowledged offset, in the order
// produced within its partition.
func TestRetryProxyIdempotentProducer(t *testing.T) {
	b, p := rpStart(t, nil)
	topic := randomName("retry-idem")
	createTopic(t, b.Addr, topic, rpPartitions)
	const n = 5000
	cl := rpProducer(t, p, topic)
	acks := rpProduce(t, cl, "r", n)
	t.Logf("%d acknowledged; proxy dropped %d connections after the broker answered a Produce", len(acks), p.dropped.Load())
	if p.dropped.Load() < 5 {
		t.Fatalf("the proxy dropped %d Produce answers: too few retries to show anything", p.dropped.Load())
	}

	recs := rpRead(t, b, p, topic, false, rpReachedHW(rpHighWatermarks(t, b, p, topic)))
	count := map[string]int{}
	at := map[rpAck]string{}
	last := map[int32]string{}
	for _, r := range recs {
		v := string(r.V)
		count[v]++
		at[rpAck{r.P, r.O}] = v
		if prev, ok := last[r.P]; ok && v <= prev {
			t.Errorf("partition %d offset %d: %s follows %s, out of produce order", r.P, r.O, v, prev)
		}
		last[r.P] = v
	}
	bad := 0
	for v, a := range acks {
		if count[v] != 1 || at[a] != v {
			if bad++; bad <= 10 {
				t.Errorf("%s acknowledged at partition %d offset %d: stored %d times, that offset holds %q", v, a.p, a.o, count[v], at[a])
			}
		}
	}
	if len(recs) != n || bad > 0 {
		t.Fatalf("%d records stored for %d produced; %d acknowledged records missing, moved or duplicated", len(recs), n, bad)
	}
}

// TestRetryProxyTransactions commits several transactions through the
// dropping proxy; read_committed sees each committed record exactly once.
// In the other variants the answers to every 2nd EndTxn are dropped too,
// so the coordinator sees retries of requests it has already carried out:
// with transactions v2 (KIP-890, where Produce adds the partitions) and
// with v1, a client capped below EndTxn v5 that adds them with
// AddPartitionsToTxn, every 3rd answer to which is dropped as well.
func TestRetryProxyTransactions(t *testing.T) {
	v1 := kversion.Stable()
	v1.SetMaxKeyVersion(int16(kmsg.EndTxn), 4)
	for _, v := range []struct {
		name  string
		extra map[int16]int
		opts  []kgo.Opt
		// keys whose answers must have been dropped at least once
		dropped []int16
	}{
		{"produce", nil, nil, nil},
		{"produce-endtxn-v2", map[int16]int{int16(kmsg.EndTxn): 2}, nil, []int16{int16(kmsg.EndTxn)}},
		{"produce-endtxn-addpartitions-v1", map[int16]int{int16(kmsg.EndTxn): 2, int16(kmsg.AddPartitionsToTxn): 3},
			[]kgo.Opt{kgo.MaxVersions(v1)}, []int16{int16(kmsg.EndTxn), int16(kmsg.AddPartitionsToTxn)}},
	} {
		t.Run(v.name, func(t *testing.T) { rpTransactions(t, v.extra, v.dropped, v.opts...) })
	}
}

func rpTransactions(t *testing.T, extra map[int16]int, mustDrop []int16, opts ...kgo.Opt) {
	b, p := rpStart(t, extra)
	topic := randomName("retry-txn")
	createTopic(t, b.Addr, topic, rpPartitions)
	opts = append([]kgo.Opt{kgo.TransactionalID(randomName("txid")), kgo.TransactionTimeout(60 * time.Second)}, opts...)
	cl := rpProducer(t, p, topic, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var want []string
	for i := 0; i < 6; i++ {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		acks := rpProduce(t, cl, fmt.Sprintf("t%d", i), 300)
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("committing transaction %d through the dropping proxy: %v", i, err)
		}
		for v := range acks {
			want = append(want, v)
		}
	}
	t.Logf("%d records committed; proxy dropped %d connections after the broker answered (per key seen: %v)", len(want), p.dropped.Load(), p.seenCounts())
	if p.dropped.Load() < 5 {
		t.Fatalf("the proxy dropped %d Produce answers: too few retries to show anything", p.dropped.Load())
	}
	seen := p.seenCounts()
	for _, k := range mustDrop {
		if seen[k] < extra[k] {
			t.Fatalf("the client sent %d %s requests: none of their answers was dropped", seen[k], kmsg.NameForKey(k))
		}
	}
	recs := rpRead(t, b, p, topic, true, func(r []ccRecord) bool { return len(r) >= len(want) })
	got := make([]string, len(recs))
	for i, r := range recs {
		got[i] = string(r.V)
	}
	if !sameSet(got, want) {
		count := map[string]int{}
		for _, v := range got {
			count[v]++
		}
		bad := 0
		for _, v := range want {
			if count[v] != 1 {
				if bad++; bad <= 10 {
					t.Errorf("committed %s is seen %d times by read_committed", v, count[v])
				}
			}
		}
		t.Fatalf("read_committed saw %d records for %d committed (%d committed records not seen exactly once)", len(got), len(want), bad)
	}
}

// TestRetryProxyNonIdempotentProducer is the contrast: without idempotence
// a retried batch may be stored twice (logged, not asserted), but every
// acknowledged record must be at its acknowledged offset.
func TestRetryProxyNonIdempotentProducer(t *testing.T) {
	b, p := rpStart(t, nil)
	topic := randomName("retry-plain")
	createTopic(t, b.Addr, topic, rpPartitions)
	const n = 2000
	cl := rpProducer(t, p, topic, kgo.DisableIdempotentWrite())
	acks := rpProduce(t, cl, "r", n)
	if p.dropped.Load() < 5 {
		t.Fatalf("the proxy dropped %d Produce answers: too few retries to show anything", p.dropped.Load())
	}
	recs := rpRead(t, b, p, topic, false, rpReachedHW(rpHighWatermarks(t, b, p, topic)))
	count := map[string]int{}
	at := map[rpAck]string{}
	for _, r := range recs {
		count[string(r.V)]++
		at[rpAck{r.P, r.O}] = string(r.V)
	}
	dups, missing := 0, 0
	for v, a := range acks {
		if count[v] > 1 {
			dups += count[v] - 1
		}
		if at[a] != v {
			if missing++; missing <= 10 {
				t.Errorf("%s acknowledged at partition %d offset %d: that offset holds %q", v, a.p, a.o, at[a])
			}
		}
	}
	t.Logf("non-idempotent producer: %d acknowledged, %d records stored, %d duplicate copies; proxy dropped %d connections",
		len(acks), len(recs), dups, p.dropped.Load())
	if missing > 0 {
		t.Fatalf("%d acknowledged records are not at their acknowledged offsets", missing)
	}
}
