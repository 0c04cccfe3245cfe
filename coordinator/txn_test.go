package coordinator

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
	"gregor/coordinator/runtime"
)

// txnTestHost is an in-memory Host: every partition is local, appends go
// to a slice per partition and markers are recorded.
type txnTestHost struct {
	mu          sync.Mutex
	logs        map[topicPartition][][]byte
	markers     []txnTestMarker
	failMarkers int // markers to fail before succeeding
	// blockMarkers makes marker writes wait for their context, as for
	// a leader that cannot replicate them.
	blockMarkers bool
	nextPid      int64
	hold         chan struct{} // while set, writes wait for it to close
	failCommit   error         // while set, waits for writes fail with it
	topics       map[string]testTopic
	nextTopic    int
	logStart     map[topicPartition]int64
	// latest are LatestOffset's answers.
	latest map[topicPartition]int64
	// groupConfigs are GroupConfig's answers.
	groupConfigs map[string]map[string]string
}

type txnTestMarker struct {
	tp     topicPartition
	pid    int64
	epoch  int16
	commit bool
}

func newTxnTestHost() *txnTestHost {
	return &txnTestHost{logs: make(map[topicPartition][][]byte), nextPid: 1000}
}

func (h *txnTestHost) EnsureInternalTopic(context.Context, string, int32, int16, map[string]string) error {
	return nil
}
func (h *txnTestHost) PartitionExists(topic string, p int32) bool { return topic != "missing" }
func (h *txnTestHost) PartitionLeader(topic string, p int32) (int32, int32, bool) {
	if topic == "missing" {
		return -1, -1, false
	}
	return 0, 0, true
}
func (h *txnTestHost) AppendInternal(topic string, p, _ int32, batch []byte) (int64, int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	tp := topicPartition{topic, p}
	off := h.logStart[tp]
	for _, b := range h.logs[tp] {
		hd, _ := records.ParseHeader(b)
		off = hd.NextOffset()
	}
	b := append([]byte(nil), batch...)
	records.SetBaseOffset(b, off)
	h.logs[tp] = append(h.logs[tp], b)
	hd, _ := records.ParseHeader(b)
	return off, hd.NextOffset() - 1, nil
}

// AwaitCommitted returns at once unless replication is held back (hold),
// as a slow follower would.
func (h *txnTestHost) AwaitCommitted(ctx context.Context, _ string, _, _ int32, _ int64) error {
	h.mu.Lock()
	gate, fail := h.hold, h.failCommit
	h.mu.Unlock()
	if fail != nil {
		return fail
	}
	if gate == nil {
		return nil
	}
	select {
	case <-gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// holdReplication makes writes wait until the returned func is called.
func (h *txnTestHost) holdReplication() (release func()) {
	gate := make(chan struct{})
	h.mu.Lock()
	h.hold = gate
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		h.hold = nil
		h.mu.Unlock()
		close(gate)
	}
}

func (h *txnTestHost) ReadCommitted(topic string, p int32, offset int64, _ int32) ([]byte, int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []byte
	hw := int64(0)
	for _, b := range h.logs[topicPartition{topic, p}] {
		hd, _ := records.ParseHeader(b)
		hw = hd.NextOffset()
		if hd.BaseOffset >= offset {
			out = append(out, b...)
		}
	}
	return out, hw, nil
}
func (h *txnTestHost) LogEndOffsetOf(topic string, p int32) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	tp := topicPartition{topic, p}
	off := h.logStart[tp]
	for _, b := range h.logs[tp] {
		hd, _ := records.ParseHeader(b)
		off = hd.NextOffset()
	}
	return off
}

func (h *txnTestHost) LogStartOffsetOf(topic string, p int32) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logStart[topicPartition{topic, p}]
}

// TrimInternal drops the batches wholly below before.
func (h *txnTestHost) TrimInternal(topic string, p int32, before int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	tp := topicPartition{topic, p}
	var kept [][]byte
	for _, b := range h.logs[tp] {
		if hd, _ := records.ParseHeader(b); hd.NextOffset() > before {
			kept = append(kept, b)
		}
	}
	h.logs[tp] = kept
	if h.logStart == nil {
		h.logStart = make(map[topicPartition]int64)
	}
	h.logStart[tp] = max(h.logStart[tp], before)
	return nil
}
func (h *txnTestHost) WriteTxnMarker(ctx context.Context, topic string, p int32, pid int64, epoch int16, commit bool, _ int32) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.blockMarkers {
		h.mu.Unlock()
		<-ctx.Done()
		h.mu.Lock()
		return ctx.Err()
	}
	if h.failMarkers > 0 {
		h.failMarkers--
		return kerr.NotEnoughReplicas
	}
	h.markers = append(h.markers, txnTestMarker{topicPartition{topic, p}, pid, epoch, commit})
	return nil
}
func (h *txnTestHost) BrokerEndpoint(int32, string) (string, int32, bool) {
	return "127.0.0.1", 9092, true
}
func (h *txnTestHost) SendToBroker(context.Context, int32, kmsg.Request) (kmsg.Response, error) {
	return nil, errors.New("single broker")
}
func (h *txnTestHost) AllocateProducerIDs(_ context.Context, n int64) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.nextPid
	h.nextPid += n
	return s, nil
}

// testTopic is a topic of the test host's metadata.
type testTopic struct {
	id         [16]byte
	partitions int32
}

// setTopic creates or changes a topic (partitions 0 deletes it), as the
// cluster metadata would; a new topic gets an id from its name.
func (h *txnTestHost) setTopic(name string, partitions int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.topics == nil {
		h.topics = make(map[string]testTopic)
	}
	if partitions <= 0 {
		delete(h.topics, name)
		return
	}
	t, ok := h.topics[name]
	if !ok {
		h.nextTopic++
		t.id[0], t.id[15] = byte(h.nextTopic), 0x5a
		copy(t.id[1:15], name)
	}
	t.partitions = partitions
	h.topics[name] = t
}

func (h *txnTestHost) TopicIDOf(name string) ([16]byte, int32, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.topics[name]
	return t.id, t.partitions, ok
}

func (h *txnTestHost) TopicNameOf(id [16]byte) (string, int32, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for n, t := range h.topics {
		if t.id == id {
			return n, t.partitions, true
		}
	}
	return "", 0, false
}

// LatestOffset is a topic partition's high watermark as latest sets it.
func (h *txnTestHost) LatestOffset(_ context.Context, topic string, p int32) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.latest == nil {
		return 0, nil
	}
	return h.latest[topicPartition{topic, p}], nil
}

// GroupConfig is a group's configs (setGroupConfig).
func (h *txnTestHost) GroupConfig(group string) map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.groupConfigs[group]
}

func (h *txnTestHost) setGroupConfig(group, key, value string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.groupConfigs == nil {
		h.groupConfigs = make(map[string]map[string]string)
	}
	if h.groupConfigs[group] == nil {
		h.groupConfigs[group] = make(map[string]string)
	}
	h.groupConfigs[group][key] = value
}

func (h *txnTestHost) TopicNames() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.topics))
	for n := range h.topics {
		out = append(out, n)
	}
	return out
}

func (h *txnTestHost) markerList() []txnTestMarker {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]txnTestMarker(nil), h.markers...)
}

func newTxnTestCoordinator(t *testing.T, h *txnTestHost) *txnCoordinator {
	t.Helper()
	co := New(Config{
		TxnTopicPartitions: 1, OffsetsTopicPartitions: 1,
		TxnMaxTimeout: 15 * time.Minute, TxnIDExpiration: time.Hour, TxnAbortCheckPeriod: time.Hour,
	}, h, zerolog.Nop())
	t.Cleanup(co.Close)
	co.LeadershipChanged(TransactionTopic, 0, true, 3)
	awaitLoaded(t, co.txns.rt.Current(0))
	return co.txns
}

// awaitLoaded waits up to 5 s for a shard to load.
func awaitLoaded[M runtime.Machine](t testing.TB, s *runtime.Shard[M]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s == nil || !s.AwaitLoaded(ctx) {
		t.Fatal("coordinator partition 0 not loaded after 5s")
	}
}

// initTxn runs the transactional InitProducerId path.
func initTxn(t *testing.T, c *txnCoordinator, id string, pid int64, epoch int16) (int64, int16, error) {
	t.Helper()
	ts, m, err := c.claimTxn(id, true)
	if err != nil {
		return -1, -1, err
	}
	defer m.release()
	if err := c.initProducer(context.Background(), ts, m, 60000, pid, epoch, true); err != nil {
		return -1, -1, err
	}
	return m.d.pid, m.d.epoch, nil
}

func state(t *testing.T, c *txnCoordinator, id string) txnData {
	t.Helper()
	d, err := c.txnSnapshot(id)
	if err != nil {
		t.Fatalf("describing %s: %v", id, err)
	}
	return d
}

func TestTxnCommitAndAbortFlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTxnTestHost()
		c := newTxnTestCoordinator(t, h)
		ctx := context.Background()
		pid, epoch, err := initTxn(t, c, "tx", -1, -1)
		if err != nil || epoch != 0 {
			t.Fatalf("init: pid %d epoch %d err %v", pid, epoch, err)
		}
		parts := []topicPartition{{"a", 0}, {"b", 1}}
		if err := c.addToTxn(ctx, "tx", pid, epoch, true, parts); err != nil {
			t.Fatalf("add partitions: %v", err)
		}
		if d := state(t, c, "tx"); d.state != txnOngoing || len(d.parts) != 2 || d.startMs < 0 {
			t.Fatalf("after add: %+v", d)
		}
		if err := c.endTxnRequest(ctx, "tx", pid, epoch, true, true); err != nil {
			t.Fatalf("commit: %v", err)
		}
		if d := state(t, c, "tx"); d.state != txnCompleteCommit || len(d.parts) != 0 {
			t.Fatalf("after commit: %+v", d)
		}
		ms := h.markerList()
		if len(ms) != 2 || !ms[0].commit || ms[0].pid != pid || ms[0].epoch != epoch {
			t.Fatalf("markers after commit: %+v", ms)
		}
		// A retried commit succeeds; an abort of the committed one does not.
		if err := c.endTxnRequest(ctx, "tx", pid, epoch, true, true); err != nil {
			t.Fatalf("retried commit: %v", err)
		}
		if err := c.endTxnRequest(ctx, "tx", pid, epoch, false, true); !errors.Is(err, kerr.InvalidTxnState) {
			t.Fatalf("abort after commit: %v, want INVALID_TXN_STATE", err)
		}
		// Next transaction, aborted.
		if err := c.addToTxn(ctx, "tx", pid, epoch, true, parts[:1]); err != nil {
			t.Fatalf("add partitions again: %v", err)
		}
		if err := c.endTxnRequest(ctx, "tx", pid, epoch, false, true); err != nil {
			t.Fatalf("abort: %v", err)
		}
		ms = h.markerList()
		if len(ms) != 3 || ms[2].commit || ms[2].tp != parts[0] {
			t.Fatalf("markers after abort: %+v", ms)
		}
	})
}

func TestTxnProducerChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTxnTestHost()
		c := newTxnTestCoordinator(t, h)
		ctx := context.Background()
		pid, epoch, _ := initTxn(t, c, "tx", -1, -1)
		cases := []struct {
			name       string
			pid        int64
			epoch      int16
			fencedCode bool
			want       error
		}{
			{"unknown pid", pid + 1, epoch, true, kerr.InvalidProducerIDMapping},
			{"old epoch, new client", pid, epoch - 1, true, kerr.ProducerFenced},
			{"old epoch, old client", pid, epoch - 1, false, kerr.InvalidProducerEpoch},
			{"current", pid, epoch, true, nil},
		}
		for _, tc := range cases {
			err := c.addToTxn(ctx, "tx", tc.pid, tc.epoch, tc.fencedCode, []topicPartition{{"a", 0}})
			if !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
				t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
			}
		}
		if err := c.addToTxn(ctx, "nope", pid, epoch, true, nil); !errors.Is(err, kerr.InvalidProducerIDMapping) {
			t.Errorf("unknown transactional id: %v", err)
		}
		// EndTxn with nothing open is INVALID_TXN_STATE.
		pid2, epoch2, _ := initTxn(t, c, "tx2", -1, -1)
		if err := c.endTxnRequest(ctx, "tx2", pid2, epoch2, true, true); !errors.Is(err, kerr.InvalidTxnState) {
			t.Errorf("commit of empty transaction: %v", err)
		}
	})
}

func TestTxnNewInstanceFencesAndAborts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTxnTestHost()
		c := newTxnTestCoordinator(t, h)
		ctx := context.Background()
		pid, epoch, _ := initTxn(t, c, "tx", -1, -1)
		if err := c.addToTxn(ctx, "tx", pid, epoch, true, []topicPartition{{"a", 0}}); err != nil {
			t.Fatal(err)
		}
		pid2, epoch2, err := initTxn(t, c, "tx", -1, -1)
		if err != nil || pid2 != pid || epoch2 <= epoch {
			t.Fatalf("second instance: pid %d epoch %d err %v (first %d/%d)", pid2, epoch2, err, pid, epoch)
		}
		ms := h.markerList()
		if len(ms) != 1 || ms[0].commit || ms[0].epoch <= epoch {
			t.Fatalf("the open transaction must be aborted with a bumped epoch: %+v", ms)
		}
		if err := c.endTxnRequest(ctx, "tx", pid, epoch, true, true); !errors.Is(err, kerr.ProducerFenced) {
			t.Fatalf("old instance commit: %v, want PRODUCER_FENCED", err)
		}
		// KIP-360: the current producer may re-init keeping its id; a retry of
		// that request gets the same answer.
		pid3, epoch3, err := initTxn(t, c, "tx", pid2, epoch2)
		if err != nil || pid3 != pid2 || epoch3 != epoch2+1 {
			t.Fatalf("KIP-360 re-init: %d/%d %v", pid3, epoch3, err)
		}
		pid4, epoch4, err := initTxn(t, c, "tx", pid2, epoch2)
		if err != nil || pid4 != pid3 || epoch4 != epoch3 {
			t.Fatalf("retried re-init: %d/%d %v", pid4, epoch4, err)
		}
		if _, _, err := initTxn(t, c, "tx", pid2, epoch2-1); !errors.Is(err, kerr.ProducerFenced) {
			t.Fatalf("re-init with a stale epoch: %v", err)
		}
	})
}

func TestTxnTimeoutAbortsAndFences(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTxnTestHost()
		c := newTxnTestCoordinator(t, h)
		ctx := context.Background()
		ts, m, _ := c.claimTxn("tx", true)
		if err := c.initProducer(ctx, ts, m, 1, -1, -1, true); err != nil {
			t.Fatal(err)
		}
		pid, epoch := m.d.pid, m.d.epoch
		m.release()
		if err := c.addToTxn(ctx, "tx", pid, epoch, true, []topicPartition{{"a", 0}}); err != nil {
			t.Fatal(err)
		}
		// Time in the bubble moves only when told: the transaction is not
		// past its 1 ms timeout until it does.
		c.abortTimedOut()
		if d := state(t, c, "tx"); d.state != txnOngoing {
			t.Fatalf("aborted before its timeout passed: %+v", d)
		}
		time.Sleep(2 * time.Millisecond)
		c.abortTimedOut()
		d := state(t, c, "tx")
		if d.state != txnCompleteAbort || d.epoch != epoch+1 {
			t.Fatalf("after timeout: %+v", d)
		}
		if err := c.endTxnRequest(ctx, "tx", pid, epoch, true, true); !errors.Is(err, kerr.ProducerFenced) {
			t.Fatalf("commit after timeout: %v, want PRODUCER_FENCED", err)
		}
	})
}

func TestTxnStateSurvivesReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTxnTestHost()
		c := newTxnTestCoordinator(t, h)
		ctx := context.Background()
		pid, epoch, _ := initTxn(t, c, "done", -1, -1)
		c.addToTxn(ctx, "done", pid, epoch, true, []topicPartition{{"a", 0}})
		c.endTxnRequest(ctx, "done", pid, epoch, true, true)
		pid2, epoch2, _ := initTxn(t, c, "open", -1, -1)
		c.addToTxn(ctx, "open", pid2, epoch2, true, []topicPartition{{"a", 1}, {"b", 0}})

		// Simulate a crash between the decision and the markers: write a
		// PrepareCommit record for "open" directly.
		ts, m, _ := c.claimTxn("open", false)
		d := m.d.clone()
		d.state = txnPrepareCommit
		if err := c.persistTxn(ctx, ts, "open", &d); err != nil {
			t.Fatal(err)
		}
		m.release()
		before := len(h.markerList())

		c2 := newTxnTestCoordinator(t, h)
		if d := state(t, c2, "done"); d.state != txnCompleteCommit || d.pid != pid || d.epoch != epoch {
			t.Fatalf("reloaded done: %+v", d)
		}
		deadline := time.Now().Add(5 * time.Second)
		for state(t, c2, "open").state != txnCompleteCommit {
			if time.Now().After(deadline) {
				t.Fatalf("prepared transaction not completed after reload: %+v", state(t, c2, "open"))
			}
			time.Sleep(10 * time.Millisecond)
		}
		if ms := h.markerList()[before:]; len(ms) != 2 || !ms[0].commit || ms[0].pid != pid2 {
			t.Fatalf("markers written on reload: %+v", ms)
		}
	})
}

func TestTxnMarkersRetriedInBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTxnTestHost()
		c := newTxnTestCoordinator(t, h)
		ctx := context.Background()
		pid, epoch, _ := initTxn(t, c, "tx", -1, -1)
		c.addToTxn(ctx, "tx", pid, epoch, true, []topicPartition{{"a", 0}})
		// The first attempt fails: the commit is still acknowledged (the
		// decision is durable) and a background retry writes the markers.
		h.mu.Lock()
		h.failMarkers = 3
		h.mu.Unlock()
		if err := c.endTxnRequest(ctx, "tx", pid, epoch, true, true); err != nil {
			t.Fatalf("commit: %v", err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for state(t, c, "tx").state != txnCompleteCommit {
			if time.Now().After(deadline) {
				t.Fatalf("markers never completed: %+v", state(t, c, "tx"))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestPartitionForMatchesKafka(t *testing.T) {
	// Hashes and partitions (of 50) computed with Java's String.hashCode.
	cases := []struct {
		id   string
		hash int32
		part int32
	}{
		{"test-group", 627841412, 12},
		{"tx-\u00e9\U0001F600", -859825853, 3},
		{"group-1", 293427299, 49},
		{"my-transactional-id-that-is-long", -1830417434, 34},
		{"", 0, 0},
	}
	for _, tc := range cases {
		if h, p := javaStringHash(tc.id), partitionFor(tc.id, 50); h != tc.hash || p != tc.part {
			t.Errorf("%q: hash %d partition %d, want %d %d", tc.id, h, p, tc.hash, tc.part)
		}
	}
}

// failingTxnHost fails the failAt-th append to __transaction_state once,
// as a write refused for too few in-sync replicas.
type failingTxnHost struct {
	*txnTestHost
	mu     sync.Mutex
	n      int
	failAt int
}

func (h *failingTxnHost) AppendInternal(topic string, p, e int32, batch []byte) (int64, int64, error) {
	if topic == TransactionTopic {
		h.mu.Lock()
		h.n++
		fail := h.n == h.failAt
		h.mu.Unlock()
		if fail {
			return 0, 0, kerr.NotEnoughReplicas
		}
	}
	return h.txnTestHost.AppendInternal(topic, p, e, batch)
}

// A completion that cannot be written (the markers are) is retried in the
// background, as Kafka's marker channel retries its log append: the
// EndTxn succeeds and the transaction completes. Gregor answered
// COORDINATOR_NOT_AVAILABLE and left it prepared, every EndTxn and
// InitProducerId of the id CONCURRENT_TRANSACTIONS, until the partition
// changed leader.
func TestTxnCompletionWriteRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &failingTxnHost{txnTestHost: newTxnTestHost(), failAt: 4} // init, add, prepare, complete
		co := New(Config{
			TxnTopicPartitions: 1, OffsetsTopicPartitions: 1,
			TxnMaxTimeout: 15 * time.Minute, TxnIDExpiration: time.Hour, TxnAbortCheckPeriod: time.Hour,
		}, h, zerolog.Nop())
		t.Cleanup(co.Close)
		co.LeadershipChanged(TransactionTopic, 0, true, 1)
		awaitLoaded(t, co.txns.rt.Current(0))
		c := co.txns
		ctx := context.Background()
		pid, epoch, _ := initTxn(t, c, "tx", -1, -1)
		if err := c.addToTxn(ctx, "tx", pid, epoch, true, []topicPartition{{"a", 0}}); err != nil {
			t.Fatal(err)
		}
		if err := c.endTxnRequest(ctx, "tx", pid, epoch, true, true); err != nil {
			t.Fatalf("EndTxn whose completion write failed: %v, want success (the decision is durable)", err)
		}
		// The background retry, within a minute of the bubble's time.
		for i := 0; state(t, c, "tx").state != txnCompleteCommit; i++ {
			if i == 600 {
				t.Fatalf("state %v a minute after the failed completion, want CompleteCommit", state(t, c, "tx").state)
			}
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
		}
		if _, _, err := initTxn(t, c, "tx", -1, -1); err != nil {
			t.Fatalf("InitProducerId after the completion: %v", err)
		}
	})
}

// A transaction found prepared when its partition is loaded has its
// markers written at once, as Kafka's TransactionStateManager hands it to
// the marker channel on load: the producer's next transaction, refused
// with CONCURRENT_TRANSACTIONS until then, does not wait out a retry
// backoff after every coordinator move.
func TestTxnPreparedCompletedAtOnceOnLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTxnTestHost()
		c := newTxnTestCoordinator(t, h)
		ctx := context.Background()
		pid, epoch, _ := initTxn(t, c, "open", -1, -1)
		c.addToTxn(ctx, "open", pid, epoch, true, []topicPartition{{"a", 1}})
		ts, m, _ := c.claimTxn("open", false)
		d := m.d.clone()
		d.state = txnPrepareCommit
		if err := c.persistTxn(ctx, ts, "open", &d); err != nil {
			t.Fatal(err)
		}
		m.release()

		start := time.Now()
		c2 := newTxnTestCoordinator(t, h)
		for state(t, c2, "open").state != txnCompleteCommit {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("prepared transaction not completed after reload: %+v", state(t, c2, "open"))
			}
			time.Sleep(time.Millisecond)
		}
		if took := time.Since(start); took >= 50*time.Millisecond {
			t.Fatalf("the loaded coordinator completed the prepared transaction after %v, want at once", took)
		}
	})
}
