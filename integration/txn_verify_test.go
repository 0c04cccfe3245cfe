package integration

// Transaction verification across brokers (KIP-890 part 1): a partition
// leader that does not coordinate the producer's transactional id asks
// the broker that does (AddPartitionsToTxn v4+ VerifyOnly) before writing
// the producer's first transactional batch, and refuses batches of
// transactions the coordinator does not know. Also measures what the
// verification costs a transactional produce.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn is a connection to one broker for hand-built requests.
type rawConn struct {
	t    *testing.T
	c    net.Conn
	corr int32
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c}
}

// do sends req at its version and decodes the response.
func (r *rawConn) do(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	r.corr++
	var h []byte
	h = binary.BigEndian.AppendUint16(h, uint16(req.Key()))
	h = binary.BigEndian.AppendUint16(h, uint16(req.GetVersion()))
	h = binary.BigEndian.AppendUint32(h, uint32(r.corr))
	h = binary.BigEndian.AppendUint16(h, 3)
	h = append(h, "raw"...)
	if req.IsFlexible() {
		h = append(h, 0)
	}
	body := req.AppendTo(nil)
	frame := append(binary.BigEndian.AppendUint32(nil, uint32(len(h)+len(body))), h...)
	r.c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := r.c.Write(append(frame, body...)); err != nil {
		r.t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	var size [4]byte
	if _, err := io.ReadFull(r.c, size[:]); err != nil {
		r.t.Fatalf("%s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r.c, b); err != nil {
		r.t.Fatalf("%s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	if got := int32(binary.BigEndian.Uint32(b)); got != r.corr {
		r.t.Fatalf("correlation %d, want %d", got, r.corr)
	}
	b = b[4:]
	if req.IsFlexible() {
		b = b[1:]
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(b); err != nil {
		r.t.Fatalf("decoding %s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// txnBatch is a one-record magic-2 batch of a producer, transactional.
func txnBatch(pid int64, epoch int16, seq int32, value string) []byte {
	var rec []byte
	rec = append(rec, 0)              // attributes
	rec = binary.AppendVarint(rec, 0) // timestamp delta
	rec = binary.AppendVarint(rec, 0) // offset delta
	rec = binary.AppendVarint(rec, -1)
	rec = binary.AppendVarint(rec, int64(len(value)))
	rec = append(rec, value...)
	rec = binary.AppendVarint(rec, 0)
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: 0x10, FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: pid, ProducerEpoch: epoch, FirstSequence: seq, NumRecords: 1,
		Records: binary.AppendVarint(nil, int64(len(rec))),
	}
	b.Records = append(b.Records, rec...)
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// produceTxn sends one transactional batch with Produce v9 and returns
// the partition's error.
func (r *rawConn) produceTxn(id, topic string, p int32, pid int64, epoch int16, seq int32) *kerr.Error {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis, req.TransactionID = 9, -1, 10000, &id
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = p, txnBatch(pid, epoch, seq, fmt.Sprintf("%s-%d", id, seq))
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	code := r.do(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	if code == 0 {
		return nil
	}
	return kerr.ErrorForCode(code).(*kerr.Error)
}

// coordinatorOf asks for the coordinator of a transactional id until one
// is ready.
func (c *cluster) coordinatorOf(id string) int32 {
	c.t.Helper()
	adm, done := c.admin()
	defer done()
	var coord int32 = -1
	waitFor(c.t, "the coordinator of "+id, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		cs := adm.FindTxnCoordinators(ctx, id)
		if cs.Error() != nil {
			return false
		}
		coord = cs[id].NodeID
		return coord > 0
	})
	return coord
}

// initRaw runs InitProducerId on the coordinator, retrying while it loads.
func initRaw(t *testing.T, coord *rawConn, id string) (int64, int16) {
	t.Helper()
	var resp *kmsg.InitProducerIDResponse
	waitFor(t, "InitProducerId of "+id, 30*time.Second, func() bool {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version, req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch = 4, &id, 60000, -1, -1
		resp = coord.do(req).(*kmsg.InitProducerIDResponse)
		return resp.ErrorCode == 0
	})
	return resp.ProducerID, resp.ProducerEpoch
}

func addRaw(t *testing.T, coord *rawConn, id string, pid int64, epoch int16, topic string, p int32) {
	t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch = 3, id, pid, epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{p}
	req.Topics = append(req.Topics, rt)
	if code := coord.do(req).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("AddPartitionsToTxn: %v", kerr.ErrorForCode(code))
	}
}

func endRaw(t *testing.T, coord *rawConn, id string, pid int64, epoch int16) {
	t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = 3, id, pid, epoch, true
	if code := coord.do(req).(*kmsg.EndTxnResponse).ErrorCode; code != 0 {
		t.Fatalf("EndTxn: %v", kerr.ErrorForCode(code))
	}
}

func TestTxnVerificationAcrossBrokers(t *testing.T) {
	c := startCluster(t, 3, nil)
	topic := "verify"
	c.createTopic(topic, 3, 1, nil)
	id := "verify-raw"
	coordID := c.coordinatorOf(id)
	// A partition led by another broker than the coordinator.
	p, leader := int32(-1), int32(-1)
	for i := int32(0); i < 3; i++ {
		if l := c.leaderOf(topic, i); l != coordID {
			p, leader = i, l
			break
		}
	}
	if p < 0 {
		t.Fatalf("every partition of %s is led by the coordinator %d", topic, coordID)
	}
	t.Logf("transactional id %s: coordinator %d; %s-%d led by %d", id, coordID, topic, p, leader)
	coord, lead := dialRaw(t, c.brokers[coordID].Addr), dialRaw(t, c.brokers[leader].Addr)
	pid, epoch := initRaw(t, coord, id)

	for _, pr := range []struct {
		what  string
		id    string
		pid   int64
		epoch int16
		want  *kerr.Error
	}{
		{"a transactional id the coordinator never saw", "verify-ghost", 4242, 0, kerr.InvalidProducerIDMapping},
		{"another producer id", id, pid + 1, epoch, kerr.InvalidProducerIDMapping},
		{"another epoch", id, pid, epoch + 1, kerr.InvalidProducerEpoch},
		{"the partition not added to the transaction", id, pid, epoch, kerr.InvalidTxnState},
	} {
		if err := lead.produceTxn(pr.id, topic, p, pr.pid, pr.epoch, 0); !errors.Is(err, pr.want) && err != pr.want {
			t.Fatalf("%s, on broker %d coordinated by %d: %v, want %v", pr.what, leader, coordID, err, pr.want)
		}
	}
	addRaw(t, coord, id, pid, epoch, topic, p)
	if err := lead.produceTxn(id, topic, p, pid, epoch, 0); err != nil {
		t.Fatalf("added partition: %v", err)
	}
	if err := lead.produceTxn(id, topic, p, pid, epoch, 1); err != nil {
		t.Fatalf("second batch: %v", err)
	}
	endRaw(t, coord, id, pid, epoch)
	// Committed and readable by read_committed consumers.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for len(got) < 2 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read_committed read %v, want the two committed records", got)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if got[0] != id+"-0" || got[1] != id+"-1" {
		t.Fatalf("read_committed read %v", got)
	}
	// The next transaction must add the partition again.
	if err := lead.produceTxn(id, topic, p, pid, epoch, 2); !errors.Is(err, kerr.InvalidTxnState) && err != kerr.InvalidTxnState {
		t.Fatalf("after the commit, partition not added again: %v, want INVALID_TXN_STATE", err)
	}
}

// TestTxnProduceLatency measures what a transactional client's produce
// costs (AddPartitionsToTxn, then the produce, whose first batch on a
// partition is verified with the coordinator), on one broker (verified in
// process) and three (mostly verified over the network). It asserts only
// that everything succeeds; run it against another binary (GREGOR_BIN) to
// compare.
func TestTxnProduceLatency(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(strconv.Itoa(n)+"-brokers", func(t *testing.T) {
			c := startCluster(t, n, nil)
			topic := "latency"
			c.createTopic(topic, 3, int16(min(n, 3)), nil)
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic),
				kgo.TransactionalID("latency-txn"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			const txns = 200
			var first, second, whole []time.Duration
			for i := 0; i < txns; i++ {
				start := time.Now()
				if err := cl.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				p := int32(i % 3)
				t0 := time.Now()
				if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("a")}).FirstErr(); err != nil {
					t.Fatalf("transaction %d, first produce: %v", i, err)
				}
				t1 := time.Now()
				if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("b")}).FirstErr(); err != nil {
					t.Fatalf("transaction %d, second produce: %v", i, err)
				}
				t2 := time.Now()
				if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
					t.Fatalf("transaction %d, commit: %v", i, err)
				}
				if i >= 20 { // warm-up
					first, second, whole = append(first, t1.Sub(t0)), append(second, t2.Sub(t1)), append(whole, time.Since(start))
				}
			}
			q := func(ds []time.Duration, f float64) time.Duration {
				s := slices.Clone(ds)
				slices.Sort(s)
				return s[int(f*float64(len(s)-1))].Round(time.Microsecond)
			}
			t.Logf("%d brokers, %d transactions: first produce (AddPartitionsToTxn + verified produce) p50 %v p90 %v; second produce p50 %v p90 %v; whole transaction p50 %v p90 %v",
				n, len(first), q(first, .5), q(first, .9), q(second, .5), q(second, .9), q(whole, .5), q(whole, .9))
		})
	}
}

// A transaction's markers are written once per partition: when one
// partition's leader cannot take its marker (paused here), the
// coordinator's retries write only that partition's, as Kafka's
// TransactionMarkerChannelManager takes each partition out of the
// transaction once its marker is written. Gregor wrote every partition's
// marker again at each retry, so a partition whose leader was fine got
// one more control record per attempt (its log end moved on for nothing).
func TestTxnMarkersRetriedOnlyWhereMissing(t *testing.T) {
	c := startCluster(t, 3, nil)
	topic := "markers-once"
	c.createTopic(topic, 3, 1, nil)
	id := "markers-once"
	coordID := c.coordinatorOf(id)
	// A: led by a broker that stays up; B: led by another, neither the
	// coordinator nor A's leader, which is paused.
	leaders := make(map[int32]int32)
	for p := int32(0); p < 3; p++ {
		leaders[p] = c.leaderOf(topic, p)
	}
	a, b := int32(-1), int32(-1)
	for p, l := range leaders {
		if l == coordID {
			a = p
		}
	}
	for p, l := range leaders {
		if a >= 0 && l != coordID && l != leaders[a] {
			b = p
		}
	}
	if a < 0 || b < 0 {
		t.Skipf("partition leaders %v with coordinator %d: no partition led by the coordinator and another by a third broker", leaders, coordID)
	}
	victim := leaders[b]
	t.Logf("transactional id %s: coordinator %d; %s-%d led by %d, %s-%d by %d (paused)", id, coordID, topic, a, leaders[a], topic, b, victim)
	coord, leadB := dialRaw(t, c.brokers[coordID].Addr), dialRaw(t, c.brokers[victim].Addr)
	pid, epoch := initRaw(t, coord, id)
	addRaw(t, coord, id, pid, epoch, topic, a)
	addRaw(t, coord, id, pid, epoch, topic, b)
	for _, pr := range []struct {
		conn *rawConn
		p    int32
	}{{coord, a}, {leadB, b}} {
		if err := pr.conn.produceTxn(id, topic, pr.p, pid, epoch, 0); err != nil {
			t.Fatalf("producing to %s-%d: %v", topic, pr.p, err)
		}
	}
	c.brokers[victim].Pause()
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			c.brokers[victim].Resume()
		}
	}
	t.Cleanup(resume)
	// The commit is answered once the first attempt gives up on B's
	// marker; retries go on in the background.
	endRaw(t, coord, id, pid, epoch)
	resume()
	adm, done := c.admin()
	defer done()
	waitFor(t, "the transaction to complete once "+fmt.Sprint(victim)+" is back (CompleteCommit)", 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		ds, err := adm.DescribeTransactions(ctx, id)
		return err == nil && ds[id].State == "CompleteCommit"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup(topic, a); o.Err != nil || o.Offset != 2 {
		t.Errorf("%s-%d (its leader up) ends at %d (%v), want 2: its record and one commit marker", topic, a, o.Offset, o.Err)
	}
	// B has its marker; a marker request that timed out on the paused
	// broker may still be served when it resumes, besides the retry's.
	if o, _ := ends.Lookup(topic, b); o.Err != nil || o.Offset < 2 {
		t.Errorf("%s-%d (its leader paused) ends at %d (%v), want its record and a commit marker", topic, b, o.Offset, o.Err)
	}
}
