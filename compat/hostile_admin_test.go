package compat

// Hostile requests against the broker's own process: admin requests with
// absurd partition counts and replica lists, fetches with MaxBytes <= 0
// or huge, transactional batches from producers that never began a
// transaction, idempotent batches with absurd producer ids. Each probe is
// a raw request built with kmsg with its exact expected outcome (an error
// code as Kafka answers it, a memory bound read from /proc/<pid>/status);
// after each, the canary topic written before the probes reads back intact
// and a new record goes in and comes back out (hostile.check). These need
// gregor's pid and config keys, so they skip under COMPAT_BOOTSTRAP.

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

const (
	// haLimit is the probed broker's gregor.max.broker.partitions (4,000
	// by default; lower here so the boundary can be reached for real).
	haLimit = 120
	// haFetchMax is its fetch.max.bytes.
	haFetchMax = 2 << 20
	// haCountGrowth bounds the RSS growth a request with an absurd
	// partition count or replica list may cause: nothing in proportion
	// to the count (2^31 replica lists were allocated before).
	haCountGrowth = 64 << 20
	// haBulkParts partitions of haBulkPerPart bytes each make the topic
	// the fetch probes read.
	haBulkParts   = 4
	haBulkPerPart = 6 << 20
	// haFetchConns connections each fetch every partition of the bulk
	// topic with MaxBytes 2^31-1, haFetchRounds times, reading each
	// answer; haFetchGrowth bounds the RSS growth. A fetch returns at
	// most fetch.max.bytes (2 MiB), so 8 in flight hold about 32 MiB
	// (read and encoded); before the cap each returned the whole
	// 24 MiB topic.
	haFetchConns  = 8
	haFetchRounds = 6
	haFetchGrowth = 128 << 20
)

// haEnv is the probed broker, its canary and one raw connection.
type haEnv struct {
	*hostile
	c    net.Conn
	corr int32
}

func startHostileAdmin(t *testing.T) *haEnv {
	t.Helper()
	h := startHostile(t, brokertest.Options{Set: map[string]string{
		"gregor.max.broker.partitions":         fmt.Sprint(haLimit),
		"fetch.max.bytes":                      fmt.Sprint(haFetchMax),
		"transaction.state.log.num.partitions": "3",
		"offsets.topic.num.partitions":         "3",
	}})
	return &haEnv{hostile: h, c: hcDial(t, h.b.Addr)}
}

// do round-trips req (its version set) on the raw connection.
func (e *haEnv) do(t *testing.T, req kmsg.Request) kmsg.Response {
	t.Helper()
	e.corr++
	resp := req.ResponseKind()
	if err := badRoundTrip(e.c, e.corr, req, resp); err != nil {
		t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// rssWithin fails if the broker's RSS grew more than by over base.
func (e *haEnv) rssWithin(t *testing.T, base, by int64, what string) {
	t.Helper()
	if n := e.rss(t); n > base+by {
		t.Errorf("%s: broker RSS %d MiB, up from %d MiB (bound +%d MiB)", what, n>>20, base>>20, by>>20)
	}
}

// createTopics sends one CreateTopics v7 topic and returns its result.
func (e *haEnv) createTopics(t *testing.T, validateOnly bool, fill func(*kmsg.CreateTopicsRequestTopic)) kmsg.CreateTopicsResponseTopic {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version, req.TimeoutMillis, req.ValidateOnly = 7, 10000, validateOnly
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = randomName("hostile-admin"), -1, -1
	fill(&rt)
	req.Topics = append(req.Topics, rt)
	resp := e.do(t, req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 {
		t.Fatalf("CreateTopics answered %d topics", len(resp.Topics))
	}
	return resp.Topics[0]
}

// topicPartitions is a topic's partition count from Metadata, or -1 if
// it does not exist.
func (e *haEnv) topicPartitions(t *testing.T, topic string) int {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	req.Topics = append(req.Topics, mt)
	resp := e.do(t, req).(*kmsg.MetadataResponse)
	if resp.Topics[0].ErrorCode == kerr.UnknownTopicOrPartition.Code {
		return -1
	}
	return len(resp.Topics[0].Partitions)
}

// brokerPartitions counts every partition in the cluster (one broker).
func (e *haEnv) brokerPartitions(t *testing.T) int {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	resp := e.do(t, req).(*kmsg.MetadataResponse)
	n := 0
	for _, mt := range resp.Topics {
		n += len(mt.Partitions)
	}
	return n
}

func TestHostileAdmin(t *testing.T) {
	e := startHostileAdmin(t)

	t.Run("AbsurdPartitionCounts", func(t *testing.T) {
		for _, c := range []struct {
			what         string
			partitions   int32
			validateOnly bool
		}{
			{"CreateTopics 2^31-1 partitions, validateOnly", math.MaxInt32, true},
			{"CreateTopics 2^31-1 partitions", math.MaxInt32, false},
			{"CreateTopics 100,000 partitions, validateOnly", 100000, true},
			{"CreateTopics 100,000 partitions", 100000, false},
		} {
			base := e.rss(t)
			name := ""
			st := e.createTopics(t, c.validateOnly, func(rt *kmsg.CreateTopicsRequestTopic) {
				rt.NumPartitions, rt.ReplicationFactor = c.partitions, 1
				name = rt.Topic
			})
			wantCode(t, c.what, st.ErrorCode, kerr.PolicyViolation)
			if msg := deref(st.ErrorMessage); !strings.Contains(msg, "gregor.max.broker.partitions") {
				t.Errorf("%s: message %q does not name gregor.max.broker.partitions", c.what, msg)
			}
			if n := e.topicPartitions(t, name); n != -1 {
				t.Errorf("%s: the topic exists with %d partitions", c.what, n)
			}
			e.rssWithin(t, base, haCountGrowth, c.what)
			e.check(t, c.what)
		}
		// CreatePartitions to 2^31-1 on the canary.
		for _, validateOnly := range []bool{true, false} {
			what := fmt.Sprintf("CreatePartitions count 2^31-1 (validateOnly %v)", validateOnly)
			base := e.rss(t)
			code, msg := e.createPartitions(t, e.canary, math.MaxInt32, nil, validateOnly)
			wantCode(t, what, code, kerr.PolicyViolation)
			if !strings.Contains(msg, "gregor.max.broker.partitions") {
				t.Errorf("%s: message %q", what, msg)
			}
			if n := e.topicPartitions(t, e.canary); n != 1 {
				t.Errorf("%s: the canary has %d partitions, want 1", what, n)
			}
			e.rssWithin(t, base, haCountGrowth, what)
			e.check(t, what)
		}
	})

	t.Run("AbsurdReplicaLists", func(t *testing.T) {
		million := make([]int32, 1_000_000)
		for i := range million {
			million[i] = int32(i)
		}
		base := e.rss(t)
		st := e.createTopics(t, false, func(rt *kmsg.CreateTopicsRequestTopic) {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = 0, million
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		})
		wantCode(t, "CreateTopics one partition of 1,000,000 replicas", st.ErrorCode, kerr.InvalidReplicaAssignment)
		// 200,000 partitions, each on the one broker: more than a topic
		// may have (65,536), refused before the assignment is copied;
		// 1,000: past the broker's limit.
		explicit := func(n int32) func(*kmsg.CreateTopicsRequestTopic) {
			return func(rt *kmsg.CreateTopicsRequestTopic) {
				for p := int32(0); p < n; p++ {
					a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
					a.Partition, a.Replicas = p, []int32{0}
					rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
				}
			}
		}
		st = e.createTopics(t, false, explicit(200_000))
		wantCode(t, "CreateTopics 200,000 explicit partitions", st.ErrorCode, kerr.InvalidPartitions)
		st = e.createTopics(t, false, explicit(1000))
		wantCode(t, "CreateTopics 1,000 explicit partitions", st.ErrorCode, kerr.PolicyViolation)
		st = e.createTopics(t, false, func(rt *kmsg.CreateTopicsRequestTopic) {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = 0, []int32{0, 70000}
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		})
		wantCode(t, "CreateTopics replicas on an unknown broker", st.ErrorCode, kerr.InvalidReplicaAssignment)
		// CreatePartitions: a million assignments for one new partition,
		// then a million new partitions assigned explicitly.
		code, _ := e.createPartitions(t, e.canary, 2, [][]int32{million}, false)
		wantCode(t, "CreatePartitions one new partition of 1,000,000 replicas", code, kerr.InvalidReplicaAssignment)
		many := make([][]int32, 1_000_000)
		for i := range many {
			many[i] = []int32{0}
		}
		code, _ = e.createPartitions(t, e.canary, 1+int32(len(many)), many, false)
		wantCode(t, "CreatePartitions 1,000,000 explicit new partitions", code, kerr.PolicyViolation)
		// AlterPartitionReassignments of the canary to a million brokers.
		code = e.reassign(t, e.canary, million)
		wantCode(t, "AlterPartitionReassignments to 1,000,000 replicas", code, kerr.InvalidReplicaAssignment)
		code = e.reassign(t, e.canary, million[:30000])
		wantCode(t, "AlterPartitionReassignments to 30,000 brokers not alive", code, kerr.InvalidReplicaAssignment)
		e.rssWithin(t, base, haCountGrowth+64<<20, "absurd replica lists") // the requests themselves are ~12 MiB
		if n := e.topicPartitions(t, e.canary); n != 1 {
			t.Errorf("after absurd replica lists the canary has %d partitions, want 1", n)
		}
		e.check(t, "absurd replica lists")
	})

	t.Run("FetchMaxBytes", func(t *testing.T) {
		bulk := randomName("hostile-bulk")
		ccCreateTopic(t, e.b.Addr, bulk, haBulkParts)
		batch := haFillBulk(t, e.b.Addr, bulk)
		fetch := func(maxBytes int32) (total, batches int) {
			req := haFetchAll(bulk, maxBytes)
			resp := e.do(t, req).(*kmsg.FetchResponse)
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if rp.ErrorCode != 0 {
						t.Fatalf("fetch MaxBytes %d: partition %d error %d", maxBytes, rp.Partition, rp.ErrorCode)
					}
					total += len(rp.RecordBatches)
					batches += haCountBatches(rp.RecordBatches)
				}
			}
			return total, batches
		}
		for _, mb := range []int32{0, -1, math.MinInt32} {
			total, batches := fetch(mb)
			t.Logf("fetch MaxBytes %d: %d bytes in %d batches", mb, total, batches)
			if batches != 1 || total > batch {
				t.Errorf("fetch MaxBytes %d: %d bytes in %d batches, want exactly one batch (KIP-74), not the whole %d MiB topic", mb, total, batches, haBulkParts*haBulkPerPart>>20)
			}
		}
		total, batches := fetch(math.MaxInt32)
		t.Logf("fetch MaxBytes 2^31-1: %d bytes in %d batches", total, batches)
		if total > haFetchMax || batches < 1 {
			t.Errorf("fetch MaxBytes 2^31-1: %d bytes, want at most fetch.max.bytes (%d) and at least one batch", total, haFetchMax)
		}
		e.check(t, "fetches with MaxBytes <= 0 and 2^31-1")

		base := e.rss(t)
		var wg sync.WaitGroup
		errs := make(chan error, haFetchConns)
		for i := 0; i < haFetchConns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.DialTimeout("tcp", e.b.Addr, 5*time.Second)
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				for r := 0; r < haFetchRounds; r++ {
					if err := badRoundTrip(c, int32(r), haFetchAll(bulk, math.MaxInt32), kmsg.NewPtrFetchResponse()); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		var peak int64
	sample:
		for {
			select {
			case <-done:
				break sample
			case <-time.After(20 * time.Millisecond):
				peak = max(peak, e.rss(t))
			}
		}
		close(errs)
		for err := range errs {
			t.Errorf("concurrent fetch: %v", err)
		}
		t.Logf("%d connections x %d fetches of MaxBytes 2^31-1 over %d MiB: broker RSS %d MiB before, peak %d MiB (bound +%d MiB)",
			haFetchConns, haFetchRounds, haBulkParts*haBulkPerPart>>20, base>>20, peak>>20, haFetchGrowth>>20)
		if peak > base+haFetchGrowth {
			t.Errorf("concurrent huge fetches: peak RSS %d MiB, over %d + %d MiB", peak>>20, base>>20, haFetchGrowth>>20)
		}
		e.check(t, "concurrent fetches of 2^31-1 bytes")
	})

	t.Run("TransactionalBatchesFromNowhere", func(t *testing.T) {
		topic := randomName("hostile-txn")
		ccCreateTopic(t, e.b.Addr, topic, 1)
		ghost := "hostile-ghost"
		probes := func(unknownID *kerr.Error) {
			for _, c := range []struct {
				what    string
				version int16
				txnID   *string
				spec    haBatchSpec
				want    *kerr.Error
			}{
				{"pid 4242 that never called InitProducerId", 9, &ghost, haBatchSpec{pid: 4242, txn: true}, unknownID},
				{"pid 4242, produce v11", 11, &ghost, haBatchSpec{pid: 4242, txn: true}, unknownID},
				{"pid 2^63-1", 9, &ghost, haBatchSpec{pid: math.MaxInt64, txn: true}, unknownID},
				{"pid 4242 without a transactional id", 9, nil, haBatchSpec{pid: 4242, txn: true}, kerr.TransactionalIDAuthorizationFailed},
				{"pid 4242, produce v2 (no transactional id field)", 2, nil, haBatchSpec{pid: 4242, txn: true}, kerr.TransactionalIDAuthorizationFailed},
			} {
				what := fmt.Sprintf("%s (%s)", c.what, unknownID.Message)
				codes := e.produce(t, c.version, c.txnID, topic, []haBatchSpec{c.spec})
				wantCode(t, what, codes[0], c.want)
				e.notStalled(t, topic, what)
				e.check(t, what)
			}
		}
		// No transaction was ever begun: __transaction_state does not
		// exist, so no coordinator can answer; Kafka's leader answers
		// NOT_ENOUGH_REPLICAS (retriable) then.
		probes(kerr.NotEnoughReplicas)

		// A real transactional producer (its InitProducerId creates
		// __transaction_state); from now on the coordinator answers for
		// the unknown transactional id.
		id := randomName("hostile-real")
		pid, epoch := e.initProducer(t, id)
		probes(kerr.InvalidProducerIDMapping)
		// Its partition was not added to its transaction.
		for _, c := range []struct {
			version int16
			want    *kerr.Error
		}{{9, kerr.InvalidTxnState}, {11, kerr.TransactionAbortable}} {
			what := fmt.Sprintf("partition not added to the transaction, produce v%d", c.version)
			codes := e.produce(t, c.version, &id, topic, []haBatchSpec{{pid: pid, epoch: epoch, txn: true}})
			wantCode(t, what, codes[0], c.want)
			e.notStalled(t, topic, what)
		}
		e.addPartition(t, id, pid, epoch, topic)
		codes := e.produce(t, 9, &id, topic, []haBatchSpec{{pid: pid, epoch: epoch + 1, txn: true}})
		wantCode(t, "added partition, another epoch", codes[0], kerr.InvalidProducerEpoch)
		codes = e.produce(t, 9, &id, topic, []haBatchSpec{{pid: pid + 1, epoch: epoch, txn: true}})
		wantCode(t, "added partition, another producer id", codes[0], kerr.InvalidProducerIDMapping)
		// Two producers in one request: every partition refused.
		two := randomName("hostile-two")
		ccCreateTopic(t, e.b.Addr, two, 2)
		codes = e.produceParts(t, 9, &id, two, []haBatchSpec{{pid: pid, epoch: epoch, txn: true}, {pid: 4242, txn: true}})
		wantCode(t, "two transactional producers, partition 0", codes[0], kerr.InvalidProducerIDMapping)
		wantCode(t, "two transactional producers, partition 1", codes[1], kerr.InvalidProducerIDMapping)
		e.notStalled(t, topic, "refused transactional batches")

		// The real transaction still works: written, then committed.
		codes = e.produce(t, 9, &id, topic, []haBatchSpec{{pid: pid, epoch: epoch, txn: true, value: "committed"}})
		wantCode(t, "added partition, right producer", codes[0], nil)
		codes = e.produce(t, 9, &id, topic, []haBatchSpec{{pid: pid, epoch: epoch, seq: 1, txn: true, value: "committed-2"}})
		wantCode(t, "second batch of the transaction", codes[0], nil)
		e.endTxn(t, id, pid, epoch, true)
		e.notStalled(t, topic, "committed transaction")
		// Its next transaction must add the partition again.
		codes = e.produce(t, 9, &id, topic, []haBatchSpec{{pid: pid, epoch: epoch, seq: 2, txn: true}})
		wantCode(t, "after the commit, partition not added again", codes[0], kerr.InvalidTxnState)
		e.notStalled(t, topic, "transactional batch after the commit")
		e.check(t, "transactional batches from nowhere")
	})

	t.Run("IdempotentAbsurdProducerIDs", func(t *testing.T) {
		topic := randomName("hostile-idem")
		ccCreateTopic(t, e.b.Addr, topic, 1)
		// Kafka accepts an idempotent batch of any producer id >= 0 it
		// has not seen (it keeps no list of allocated ids) and
		// deduplicates its retry.
		first := e.produceOffset(t, topic, haBatchSpec{pid: math.MaxInt64, value: "max"})
		again := e.produceOffset(t, topic, haBatchSpec{pid: math.MaxInt64, value: "max"})
		if first < 0 || again != first {
			t.Errorf("pid 2^63-1: offsets %d then %d, want accepted and the retry deduplicated to the same offset", first, again)
		}
		// A producer id below -1 is no producer (RecordBatch.hasProducerId):
		// written as a plain batch each time, transactional bit or not,
		// and it opens no transaction.
		a := e.produceOffset(t, topic, haBatchSpec{pid: -5, value: "neg"})
		b := e.produceOffset(t, topic, haBatchSpec{pid: -5, value: "neg"})
		if a < 0 || b != a+1 {
			t.Errorf("pid -5: offsets %d then %d, want two plain appends", a, b)
		}
		// With the transactional bit, Kafka writes it too (nothing to
		// verify, no transaction opened); Gregor's batch validation
		// refuses a transactional batch without a producer id.
		ghost := "hostile-ghost"
		codes := e.produce(t, 9, &ghost, topic, []haBatchSpec{{pid: -5, txn: true, value: "neg-txn"}})
		wantCode(t, "transactional bit with pid -5", codes[0], kerr.InvalidRecord)
		e.notStalled(t, topic, "absurd idempotent producer ids")
		e.check(t, "absurd idempotent producer ids")
	})

	// Last: fill the broker to its limit for real.
	t.Run("BrokerPartitionLimit", func(t *testing.T) {
		have := e.brokerPartitions(t)
		free := int32(haLimit - have)
		if free < 2 {
			t.Fatalf("the broker already hosts %d partitions of its %d", have, haLimit)
		}
		st := e.createTopics(t, true, func(rt *kmsg.CreateTopicsRequestTopic) { rt.NumPartitions, rt.ReplicationFactor = free+1, 1 })
		wantCode(t, fmt.Sprintf("%d partitions with %d of %d free, validateOnly", free+1, free, haLimit), st.ErrorCode, kerr.PolicyViolation)
		name := ""
		st = e.createTopics(t, false, func(rt *kmsg.CreateTopicsRequestTopic) {
			rt.NumPartitions, rt.ReplicationFactor = free-1, 1
			name = rt.Topic
		})
		wantCode(t, fmt.Sprintf("%d partitions with %d free", free-1, free), st.ErrorCode, nil)
		code, _ := e.createPartitions(t, name, free+1, nil, false)
		wantCode(t, "growing it by 2 with 1 free", code, kerr.PolicyViolation)
		code, _ = e.createPartitions(t, name, free, nil, false)
		wantCode(t, "growing it by 1 with 1 free", code, nil)
		st = e.createTopics(t, false, func(rt *kmsg.CreateTopicsRequestTopic) { rt.NumPartitions, rt.ReplicationFactor = 1, 1 })
		wantCode(t, "one more partition at the limit", st.ErrorCode, kerr.PolicyViolation)
		// Auto-creation by Metadata is refused the same way.
		req := kmsg.NewPtrMetadataRequest()
		req.Version, req.AllowAutoTopicCreation = 9, true
		auto := randomName("hostile-auto")
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = &auto
		req.Topics = append(req.Topics, mt)
		resp := e.do(t, req).(*kmsg.MetadataResponse)
		wantCode(t, "auto-creating a topic at the limit", resp.Topics[0].ErrorCode, kerr.PolicyViolation)
		if n := e.brokerPartitions(t); n != haLimit {
			t.Errorf("the broker hosts %d partitions, want exactly its limit %d", n, haLimit)
		}
		e.check(t, "partition limit reached")
	})
}

// createPartitions sends CreatePartitions v3 for one topic.
func (e *haEnv) createPartitions(t *testing.T, topic string, count int32, assignment [][]int32, validateOnly bool) (int16, string) {
	t.Helper()
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.Version, req.TimeoutMillis, req.ValidateOnly = 3, 10000, validateOnly
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = topic, count
	for _, r := range assignment {
		a := kmsg.NewCreatePartitionsRequestTopicAssignment()
		a.Replicas = r
		rt.Assignment = append(rt.Assignment, a)
	}
	req.Topics = append(req.Topics, rt)
	resp := e.do(t, req).(*kmsg.CreatePartitionsResponse)
	return resp.Topics[0].ErrorCode, deref(resp.Topics[0].ErrorMessage)
}

// reassign asks for partition 0 of topic to move to replicas.
func (e *haEnv) reassign(t *testing.T, topic string, replicas []int32) int16 {
	t.Helper()
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.Version, req.TimeoutMillis = 0, 10000
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Partition, rp.Replicas = 0, replicas
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := e.do(t, req).(*kmsg.AlterPartitionAssignmentsResponse)
	if resp.ErrorCode != 0 {
		return resp.ErrorCode
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// haFillBulk writes haBulkPerPart bytes of incompressible 128 KiB records
// to each partition and returns the largest batch size it may have been
// written in (the producer's batch limit plus overhead).
func haFillBulk(t *testing.T, addr, topic string) int {
	t.Helper()
	const batchMax = 1 << 20
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(batchMax))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const recSize = 128 << 10
	var recs []*kgo.Record
	for p := int32(0); p < haBulkParts; p++ {
		for i := 0; i < haBulkPerPart/recSize; i++ {
			v := make([]byte, recSize)
			rand.Read(v)
			recs = append(recs, &kgo.Record{Partition: p, Value: v})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("filling %s: %v", topic, err)
	}
	return batchMax + 4096
}

// haFetchAll is a Fetch v12 of every bulk partition from 0 with
// PartitionMaxBytes 2^31-1 each and the given MaxBytes.
func haFetchAll(topic string, maxBytes int32) *kmsg.FetchRequest {
	r := kmsg.NewPtrFetchRequest()
	r.Version, r.ReplicaID, r.MaxWaitMillis, r.MinBytes, r.MaxBytes, r.SessionEpoch = 12, -1, 0, 1, maxBytes, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	for p := int32(0); p < haBulkParts; p++ {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, 0, math.MaxInt32
		rt.Partitions = append(rt.Partitions, rp)
	}
	r.Topics = append(r.Topics, rt)
	return r
}

// haCountBatches counts the record batches in a fetch response's records.
func haCountBatches(b []byte) int {
	n := 0
	for len(b) >= 12 {
		size := 12 + int(int32(uint32(b[8])<<24|uint32(b[9])<<16|uint32(b[10])<<8|uint32(b[11])))
		if size > len(b) {
			break
		}
		b = b[size:]
		n++
	}
	return n
}

// haBatchSpec describes a one-record batch.
type haBatchSpec struct {
	pid   int64
	epoch int16
	seq   int32
	txn   bool
	value string
}

// batch builds it: a valid magic-2 batch with the producer fields set.
func (s haBatchSpec) batch() []byte {
	value := s.value
	if value == "" {
		value = "hostile"
	}
	raw := badBatch(1, value)
	// Attributes (int16 at 21), producer id (int64 at 43), epoch (int16
	// at 51), base sequence (int32 at 53).
	if s.txn {
		raw[22] |= 0x10
	}
	put := func(off int, v uint64, n int) {
		for i := 0; i < n; i++ {
			raw[off+i] = byte(v >> (8 * (n - 1 - i)))
		}
	}
	put(43, uint64(s.pid), 8)
	put(51, uint64(uint16(s.epoch)), 2)
	seq := s.seq
	if s.pid < 0 {
		seq = -1
	}
	put(53, uint64(uint32(seq)), 4)
	badFix(raw)
	return raw
}

// produce sends one batch per spec to partition 0 of topic (in one
// request, one partition: only the first spec) and returns the codes.
func (e *haEnv) produce(t *testing.T, version int16, txnID *string, topic string, specs []haBatchSpec) []int16 {
	t.Helper()
	return e.produceRequest(t, version, txnID, topic, specs[:1])
}

// produceParts sends spec i to partition i of topic, in one request.
func (e *haEnv) produceParts(t *testing.T, version int16, txnID *string, topic string, specs []haBatchSpec) []int16 {
	t.Helper()
	return e.produceRequest(t, version, txnID, topic, specs)
}

func (e *haEnv) produceRequest(t *testing.T, version int16, txnID *string, topic string, specs []haBatchSpec) []int16 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis, req.TransactionID = version, -1, 5000, txnID
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for i, s := range specs {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = int32(i), s.batch()
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp := e.do(t, req).(*kmsg.ProduceResponse)
	var codes []int16
	for _, rp := range resp.Topics[0].Partitions {
		codes = append(codes, rp.ErrorCode)
	}
	return codes
}

// produceOffset produces one idempotent (or plain) batch with Produce v9
// and returns its base offset, failing on an error.
func (e *haEnv) produceOffset(t *testing.T, topic string, s haBatchSpec) int64 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = s.batch()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := e.do(t, req).(*kmsg.ProduceResponse)
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("produce pid %d: error %d", s.pid, p.ErrorCode)
	}
	return p.BaseOffset
}

// initProducer runs InitProducerId for a transactional id on the
// coordinator FindCoordinator names (this broker), retrying while it
// loads.
func (e *haEnv) initProducer(t *testing.T, id string) (int64, int16) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.Version, fc.CoordinatorType, fc.CoordinatorKey = 3, 1, id
		fr := e.do(t, fc).(*kmsg.FindCoordinatorResponse)
		if fr.ErrorCode == 0 {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.Version, req.TransactionalID, req.TransactionTimeoutMillis = 4, &id, 60000
			req.ProducerID, req.ProducerEpoch = -1, -1
			resp := e.do(t, req).(*kmsg.InitProducerIDResponse)
			if resp.ErrorCode == 0 {
				return resp.ProducerID, resp.ProducerEpoch
			}
			if !kerr.IsRetriable(kerr.ErrorForCode(resp.ErrorCode)) {
				t.Fatalf("InitProducerId %s: error %d", id, resp.ErrorCode)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("InitProducerId %s: coordinator not ready after 20s (FindCoordinator error %d)", id, fr.ErrorCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// addPartition adds partition 0 of topic to the producer's transaction
// (AddPartitionsToTxn v3, as clients send it).
func (e *haEnv) addPartition(t *testing.T, id string, pid int64, epoch int16, topic string) {
	t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch = 3, id, pid, epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	req.Topics = append(req.Topics, rt)
	resp := e.do(t, req).(*kmsg.AddPartitionsToTxnResponse)
	wantCode(t, "AddPartitionsToTxn", resp.Topics[0].Partitions[0].ErrorCode, nil)
}

// endTxn commits or aborts the producer's transaction (EndTxn v3).
func (e *haEnv) endTxn(t *testing.T, id string, pid int64, epoch int16, commit bool) {
	t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = 3, id, pid, epoch, commit
	resp := e.do(t, req).(*kmsg.EndTxnResponse)
	wantCode(t, "EndTxn", resp.ErrorCode, nil)
}

// notStalled asserts partition 0 of topic has no open transaction holding
// read_committed consumers back: after a plain record is produced, the
// last stable offset reaches the high watermark (polled up to 10 s, as a
// marker's effect is immediate), and a read_committed consumer reads that
// record.
func (e *haEnv) notStalled(t *testing.T, topic, after string) {
	t.Helper()
	value := "after-" + strings.ReplaceAll(after, " ", "-")
	off := e.produceOffset(t, topic, haBatchSpec{pid: -1, value: value})
	deadline := time.Now().Add(10 * time.Second)
	var lso, hwm int64
	for {
		lso, hwm = e.listOffset(t, topic, 1), e.listOffset(t, topic, 0)
		if lso == hwm && hwm > off {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: last stable offset %d, high watermark %d after 10s: read_committed consumers are stalled", after, lso, hwm)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(off)}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("after %s: a read_committed consumer did not get the record at %d within 10s", after, off)
		}
		for _, r := range fs.Records() {
			if r.Offset == off {
				if string(r.Value) != value+"-value" {
					t.Fatalf("after %s: read_committed read %q at %d", after, r.Value, off)
				}
				return
			}
		}
	}
}

// listOffset is ListOffsets v5 latest of partition 0 for an isolation
// level (0: the high watermark, 1: the last stable offset).
func (e *haEnv) listOffset(t *testing.T, topic string, isolation int8) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version, req.ReplicaID, req.IsolationLevel = 5, -1, isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = 0, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := e.do(t, req).(*kmsg.ListOffsetsResponse)
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("ListOffsets %s isolation %d: error %d", topic, isolation, p.ErrorCode)
	}
	return p.Offset
}
