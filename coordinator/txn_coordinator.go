package coordinator

// The transaction coordinator's shards: one per __transaction_state
// partition this broker leads, holding the transactional ids that hash to
// it.
//
// An operation on an id (InitProducerId, AddPartitionsToTxn, EndTxn, a
// timeout abort, a marker retry, an expiry) first claims the id, as
// Kafka's pending state does: while it is claimed, other operations on
// that id are CONCURRENT_TRANSACTIONS and the clients retry. The claim is
// not a lock: nothing waits for it, so an unload, a listing or a timer
// never blocks on an operation that waits for replication or markers.
// txnMeta.mu guards the id's fields for short reads and writes only.

import (
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/coordinator/runtime"
	"gregor/protocol"
)

// txnCoordinator runs transactional ids on the runtime.
type txnCoordinator struct {
	base
	rt   *runtime.Runtime[*txnShard]
	pids *producerIDs
	// groups settles transactional offsets when markers reach
	// __consumer_offsets.
	groups *groupCoordinator

	bg background // timers and marker retries
}

func newTxnCoordinator(b base, groups *groupCoordinator) *txnCoordinator {
	c := &txnCoordinator{base: b, pids: &producerIDs{host: b.host}, groups: groups, bg: newBackground()}
	c.rt = runtime.New(TransactionTopic, b.host, c.newShard, b.log)
	// Kafka's two tasks, each on its own interval
	// (transaction.abort.timed.out.transaction.cleanup.interval.ms and
	// transaction.remove.expired.transaction.cleanup.interval.ms).
	c.bg.every(c.cfg.TxnAbortCheckPeriod, 10*time.Second, c.abortTimedOut)
	c.bg.every(c.cfg.TxnIDExpireCheckPeriod, time.Hour, c.expireTxnIDs)
	return c
}

// apis are the producer id and transaction APIs.
//
// Transaction version 2 (KIP-890 part 2) is finalized (the
// transaction.version feature, registered with these APIs): EndTxn v5
// bumps the producer's epoch on every commit and abort, TxnOffsetCommit v5
// adds the group's offsets partition to the transaction itself, and
// produce v12+ adds its partitions (AddPartitionsToTxn v4-5 from the
// partition leaders, not VerifyOnly). Clients of version 1 keep the
// versions below those.
func (c *txnCoordinator) apis() []protocol.API {
	return []protocol.API{
		{Key: 22, Min: 0, Max: 5, Handler: c.handleInitProducerID},
		{Key: 24, Min: 0, Max: 5, Handler: c.handleAddPartitionsToTxn},
		{Key: 25, Min: 0, Max: 4, Handler: c.handleAddOffsetsToTxn},
		{Key: 26, Min: 0, Max: 5, Handler: c.handleEndTxn},
		{Key: 27, Min: 0, Max: 1, Handler: c.handleWriteTxnMarkers},
		{Key: 65, Min: 0, Max: 0, Handler: c.handleDescribeTransactions},
		{Key: 66, Min: 0, Max: 2, Handler: c.handleListTransactions},
	}
}

// close unloads every shard (ending marker retries, which wait on their
// shard) and stops the background work.
func (c *txnCoordinator) close() {
	c.rt.Close()
	c.bg.close()
}

// txnMeta is a transactional id with its state.
type txnMeta struct {
	id string
	mu sync.Mutex
	// guarded by mu:
	d       txnData
	removed bool // expired or unloaded: look the id up again
	busy    bool // claimed by an operation
	// markersPending is set while a background retry owns the markers of
	// a prepared transaction.
	markersPending bool
}

// data copies the id's state.
func (m *txnMeta) data() (txnData, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.d.clone(), m.removed
}

// set installs the id's new state; only its claimant calls it.
func (m *txnMeta) set(d txnData) {
	m.mu.Lock()
	m.d = d
	m.mu.Unlock()
}

// release ends a claim.
func (m *txnMeta) release() {
	m.mu.Lock()
	m.busy = false
	m.mu.Unlock()
}

// txnShard is the state machine of one __transaction_state partition.
type txnShard struct {
	c     *txnCoordinator
	shard *runtime.Shard[*txnShard]
	// states collects the log while loading; nil afterwards.
	states map[string]txnData

	mu sync.Mutex
	// guarded by mu:
	ids map[string]*txnMeta
}

func (c *txnCoordinator) newShard(s *runtime.Shard[*txnShard]) *txnShard {
	return &txnShard{c: c, shard: s, states: make(map[string]txnData), ids: make(map[string]*txnMeta)}
}

// Replay folds a committed batch into the states being loaded.
func (ts *txnShard) Replay(batch []byte) error { return applyTxnBatch(batch, ts.states) }

// Loaded makes the replayed ids current and finishes, in the background,
// the transactions it finds prepared.
func (ts *txnShard) Loaded() {
	ts.mu.Lock()
	var prepared []*txnMeta
	for id, d := range ts.states {
		m := &txnMeta{id: id, d: d}
		ts.ids[id] = m
		if d.state == txnPrepareCommit || d.state == txnPrepareAbort {
			prepared = append(prepared, m)
		}
	}
	n := len(ts.states)
	ts.states = nil
	ts.mu.Unlock()
	ts.c.log.Info().Int32("partition", ts.shard.Partition).Int("transactional_ids", n).Msg("loaded transaction state")
	sort.Slice(prepared, func(i, j int) bool { return prepared[i].id < prepared[j].id })
	for _, m := range prepared {
		ts.c.writeMarkersInBackground(ts, m, 0)
	}
}

// Unloaded forgets the shard's ids; operations holding one fail on their
// next write.
func (ts *txnShard) Unloaded() {
	ts.mu.Lock()
	ids := ts.ids
	ts.ids = make(map[string]*txnMeta)
	ts.mu.Unlock()
	for _, m := range ids {
		m.mu.Lock()
		m.removed = true
		m.mu.Unlock()
	}
}

// metas lists the shard's ids.
func (ts *txnShard) metas() []*txnMeta {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := make([]*txnMeta, 0, len(ts.ids))
	for _, m := range ts.ids {
		out = append(out, m)
	}
	return out
}

// lookup returns id's state holder, or nil.
func (ts *txnShard) lookup(id string) *txnMeta {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.ids[id]
}

// forget drops an id that expired or was never persisted.
func (ts *txnShard) forget(m *txnMeta) {
	m.mu.Lock()
	m.removed = true
	m.mu.Unlock()
	ts.mu.Lock()
	if ts.ids[m.id] == m {
		delete(ts.ids, m.id)
	}
	ts.mu.Unlock()
}

// shardOf returns the loaded shard coordinating id, or the error a client
// should see.
func (c *txnCoordinator) shardOf(id string) (*txnShard, error) {
	n := c.txnPartitions()
	if n <= 0 {
		return nil, kerr.CoordinatorNotAvailable
	}
	s, err := c.rt.Shard(partitionFor(id, n))
	if err != nil {
		return nil, err
	}
	return s.Machine, nil
}

// claimTxn finds id's state and claims it for an operation. With create, a
// missing id gets a fresh, unpersisted Empty state. It returns a nil meta
// when the id is unknown and create is false, and
// CONCURRENT_TRANSACTIONS while another operation holds the id.
func (c *txnCoordinator) claimTxn(id string, create bool) (*txnShard, *txnMeta, error) {
	for {
		ts, err := c.shardOf(id)
		if err != nil {
			return nil, nil, err
		}
		ts.mu.Lock()
		m := ts.ids[id]
		if m == nil {
			if !create {
				ts.mu.Unlock()
				return ts, nil, nil
			}
			m = &txnMeta{id: id, d: txnData{pid: -1, epoch: -1, lastPid: -1, lastEpoch: -1, startMs: -1, state: txnEmpty, nextPid: -1}}
			ts.ids[id] = m
		}
		ts.mu.Unlock()
		if claimed, err := m.claim(); claimed || err != nil {
			return ts, m, err
		}
	}
}

// claim takes the id for an operation; false with no error means it was
// removed meanwhile (look it up again).
func (m *txnMeta) claim() (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.removed:
		return false, nil
	case m.busy:
		return false, kerr.ConcurrentTransactions
	}
	m.busy = true
	return true, nil
}

// tryClaim claims the id for background work if nothing else holds it.
func (m *txnMeta) tryClaim() bool {
	ok, err := m.claim()
	return ok && err == nil
}
