package coordinator

// The transaction coordinator. Each transactional id maps to a partition
// of __transaction_state (Kafka's hash); the broker leading that partition
// coordinates the id. Its state is a record per id in that partition,
// written before every transition is acknowledged, and read back when the
// broker becomes leader.
//
// Operations on one id are serialised by its mutex, held across the log
// writes and marker writes of the operation; different ids proceed in
// parallel. A commit or abort writes PrepareCommit/PrepareAbort first (the
// decision point), then the markers, then CompleteCommit/CompleteAbort;
// a coordinator that loads an id in a prepare state finishes the job.

import (
	"context"
	"maps"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transaction states, as Kafka numbers them in __transaction_state.
const (
	txnEmpty          = kmsg.TransactionState(0)
	txnOngoing        = kmsg.TransactionState(1)
	txnPrepareCommit  = kmsg.TransactionState(2)
	txnPrepareAbort   = kmsg.TransactionState(3)
	txnCompleteCommit = kmsg.TransactionState(4)
	txnCompleteAbort  = kmsg.TransactionState(5)
	txnDead           = kmsg.TransactionState(6)
)

// topicPartition names a partition in a transaction.
type topicPartition struct {
	topic     string
	partition int32
}

// txnData is the persistent state of one transactional id.
type txnData struct {
	pid       int64
	epoch     int16
	lastPid   int64 // producer id and epoch before the last InitProducerId
	lastEpoch int16
	timeoutMs int32
	state     kmsg.TransactionState
	parts     map[topicPartition]struct{}
	startMs   int64 // when the ongoing transaction began, or -1
	updatedMs int64
}

func (d txnData) clone() txnData {
	d.parts = maps.Clone(d.parts)
	if d.parts == nil {
		d.parts = make(map[topicPartition]struct{})
	}
	return d
}

// sortedParts lists the transaction's partitions in a stable order.
func (d *txnData) sortedParts() []topicPartition {
	out := make([]topicPartition, 0, len(d.parts))
	for tp := range d.parts {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out
}

// txnMeta is a transactional id with its state.
type txnMeta struct {
	id string
	mu sync.Mutex
	// guarded by mu:
	d       txnData
	removed bool // expired or unloaded: look the id up again
	// markersPending is set while a background retry owns the markers of
	// a prepared transaction.
	markersPending bool
}

// txnPartition is the coordinator's view of one __transaction_state
// partition this broker leads.
type txnPartition struct {
	id     int32
	epoch  int32 // the partition's leader epoch: the coordinator epoch
	loaded chan struct{}
	ctx    context.Context // ends when leadership is lost
	cancel context.CancelFunc

	mu sync.Mutex
	// guarded by mu:
	ids map[string]*txnMeta
}

// txnCoordinator holds the partitions this broker coordinates.
type txnCoordinator struct {
	mu    sync.RWMutex
	parts map[int32]*txnPartition
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

// javaStringHash is Java's String.hashCode, which Kafka uses to map group
// and transactional ids to internal topic partitions.
func javaStringHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 { // a surrogate pair in UTF-16
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// partitionFor is Kafka's Utils.abs(hashCode) % partitions.
func partitionFor(id string, partitions int32) int32 {
	h := javaStringHash(id)
	if h == math.MinInt32 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

// txnPartitionOf returns the loaded partition coordinating id, or the
// error a client should see.
func (c *Coordinator) txnPartitionOf(id string) (*txnPartition, error) {
	n := c.cfg.TxnTopicPartitions
	if n <= 0 {
		return nil, kerr.CoordinatorNotAvailable
	}
	p := partitionFor(id, n)
	c.txn.mu.RLock()
	tp := c.txn.parts[p]
	c.txn.mu.RUnlock()
	if tp == nil {
		return nil, kerr.NotCoordinator
	}
	select {
	case <-tp.loaded:
	default:
		return nil, kerr.CoordinatorLoadInProgress
	}
	if tp.ctx.Err() != nil {
		return nil, kerr.NotCoordinator
	}
	return tp, nil
}

// lockTxn finds id's state and locks it. With create, a missing id gets a
// fresh, unpersisted Empty state. It returns nil, nil when the id is
// unknown and create is false.
func (c *Coordinator) lockTxn(id string, create bool) (*txnPartition, *txnMeta, error) {
	for {
		tp, err := c.txnPartitionOf(id)
		if err != nil {
			return nil, nil, err
		}
		tp.mu.Lock()
		m := tp.ids[id]
		if m == nil {
			if !create {
				tp.mu.Unlock()
				return tp, nil, nil
			}
			m = &txnMeta{id: id, d: txnData{pid: -1, epoch: -1, lastPid: -1, lastEpoch: -1, startMs: -1, state: txnEmpty}}
			tp.ids[id] = m
		}
		tp.mu.Unlock()
		m.mu.Lock()
		if !m.removed {
			return tp, m, nil
		}
		m.mu.Unlock()
	}
}

// fencedError is what a request with a stale epoch gets: PRODUCER_FENCED
// from the versions that know it (KIP-588), INVALID_PRODUCER_EPOCH before.
func fencedError(newEnough bool) *kerr.Error {
	if newEnough {
		return kerr.ProducerFenced
	}
	return kerr.InvalidProducerEpoch
}

// checkProducer validates a request's producer id and epoch against the
// id's state.
func checkProducer(m *txnMeta, pid int64, epoch int16, fencedCode bool) error {
	if m == nil || m.d.pid < 0 || m.d.pid != pid {
		return kerr.InvalidProducerIDMapping
	}
	if epoch != m.d.epoch {
		return fencedError(fencedCode)
	}
	return nil
}

// nowMs is the coordinator's clock in milliseconds.
func (c *Coordinator) nowMs() int64 { return time.Now().UnixMilli() }

// addPartitions adds partitions to an id's transaction, moving it to
// Ongoing, and persists the change. m is locked.
func (c *Coordinator) addPartitions(ctx context.Context, tp *txnPartition, m *txnMeta, add []topicPartition) error {
	switch m.d.state {
	case txnPrepareCommit, txnPrepareAbort:
		return kerr.ConcurrentTransactions
	case txnDead:
		return kerr.InvalidTxnState
	}
	if m.d.state == txnOngoing {
		missing := false
		for _, p := range add {
			if _, ok := m.d.parts[p]; !ok {
				missing = true
				break
			}
		}
		if !missing {
			return nil
		}
	}
	d := m.d.clone()
	now := c.nowMs()
	if d.state != txnOngoing {
		d.startMs = now
		clear(d.parts)
	}
	d.state = txnOngoing
	for _, p := range add {
		d.parts[p] = struct{}{}
	}
	d.updatedMs = now
	if err := c.persistTxn(ctx, tp, m.id, &d); err != nil {
		return err
	}
	m.d = d
	return nil
}

// endTxn commits or aborts m's ongoing transaction: the decision, the
// markers, the completion. bump fences the producer first (a timed-out
// transaction, or a new instance taking over the id). m is locked.
func (c *Coordinator) endTxn(ctx context.Context, tp *txnPartition, m *txnMeta, commit, bump bool) error {
	d := m.d.clone()
	if commit {
		d.state = txnPrepareCommit
	} else {
		d.state = txnPrepareAbort
	}
	if bump {
		if d.epoch >= math.MaxInt16-1 {
			// Markers need an epoch above the producer's; past the last
			// one, the abort is written with the last epoch and the next
			// InitProducerId moves to a new producer id.
			d.epoch = math.MaxInt16 - 1
		} else {
			d.epoch++
		}
	}
	d.updatedMs = c.nowMs()
	if err := c.persistTxn(ctx, tp, m.id, &d); err != nil {
		return err
	}
	m.d = d
	return c.finishTxn(ctx, tp, m)
}

// finishTxn writes the markers of m's prepared transaction and completes
// it. When the markers cannot all be written in time, a background retry
// takes over and the transaction stays prepared until it succeeds (the
// decision is already durable). m is locked.
func (c *Coordinator) finishTxn(ctx context.Context, tp *txnPartition, m *txnMeta) error {
	commit := m.d.state == txnPrepareCommit
	wctx, cancel := context.WithTimeout(ctx, markerAttemptTime)
	err := c.writeMarkers(wctx, tp, m.d.pid, m.d.epoch, commit, m.d.sortedParts())
	cancel()
	if err != nil {
		c.log.Warn().Err(err).Str("transactional_id", m.id).Msg("transaction markers not yet written; retrying in the background")
		c.retryMarkers(tp, m)
		return nil
	}
	return c.completeTxn(ctx, tp, m)
}

// completeTxn records that a prepared transaction's markers are written.
func (c *Coordinator) completeTxn(ctx context.Context, tp *txnPartition, m *txnMeta) error {
	d := m.d.clone()
	if d.state == txnPrepareCommit {
		d.state = txnCompleteCommit
	} else {
		d.state = txnCompleteAbort
	}
	clear(d.parts)
	d.startMs = -1
	d.updatedMs = c.nowMs()
	if err := c.persistTxn(ctx, tp, m.id, &d); err != nil {
		// The markers are written; the next leader of the partition
		// completes the transaction again from its prepared state.
		return err
	}
	m.d = d
	return nil
}

// markerAttemptTime bounds how long a request waits for markers before
// the background retry takes over.
const markerAttemptTime = 10 * time.Second

// retryMarkers keeps writing a prepared transaction's markers in the
// background until they are written or the coordinator loses the id.
func (c *Coordinator) retryMarkers(tp *txnPartition, m *txnMeta) {
	if m.markersPending {
		return
	}
	m.markersPending = true
	c.txn.wg.Add(1)
	go func() {
		defer c.txn.wg.Done()
		backoff := 100 * time.Millisecond
		for {
			select {
			case <-tp.ctx.Done():
				return
			case <-c.txn.stop:
				return
			case <-time.After(backoff):
			}
			if backoff < 2*time.Second {
				backoff *= 2
			}
			m.mu.Lock()
			if m.removed || (m.d.state != txnPrepareCommit && m.d.state != txnPrepareAbort) {
				m.markersPending = false
				m.mu.Unlock()
				return
			}
			commit := m.d.state == txnPrepareCommit
			ctx, cancel := context.WithTimeout(tp.ctx, markerAttemptTime)
			err := c.writeMarkers(ctx, tp, m.d.pid, m.d.epoch, commit, m.d.sortedParts())
			if err == nil {
				err = c.completeTxn(ctx, tp, m)
			}
			cancel()
			if err == nil {
				m.markersPending = false
				m.mu.Unlock()
				return
			}
			m.mu.Unlock()
			c.log.Debug().Err(err).Str("transactional_id", m.id).Msg("retrying transaction markers")
		}
	}()
}

// initProducer gives id a producer id and a new epoch, aborting any
// transaction of an older instance. m is locked.
func (c *Coordinator) initProducer(ctx context.Context, tp *txnPartition, m *txnMeta, timeoutMs int32, reqPid int64, reqEpoch int16, fencedCode bool) error {
	switch m.d.state {
	case txnPrepareCommit, txnPrepareAbort:
		return kerr.ConcurrentTransactions
	}
	if reqPid >= 0 {
		// KIP-360: a producer asking to keep its id must be the current
		// one, or retrying the InitProducerId that made it current.
		switch {
		case reqPid == m.d.pid && reqEpoch == m.d.epoch:
		case reqPid == m.d.lastPid && reqEpoch == m.d.lastEpoch && m.d.state != txnOngoing:
			return nil // a retry: the current id and epoch stand
		default:
			return fencedError(fencedCode)
		}
	}
	if m.d.state == txnOngoing {
		// A new instance fences the old one and aborts its transaction.
		if err := c.endTxn(ctx, tp, m, false, true); err != nil {
			return err
		}
		if m.d.state != txnCompleteAbort {
			return kerr.ConcurrentTransactions
		}
	}
	d := m.d.clone()
	d.lastPid, d.lastEpoch = d.pid, d.epoch
	if d.pid < 0 || d.epoch >= math.MaxInt16-1 {
		pid, err := c.pids.allocate(ctx)
		if err != nil {
			return kerr.CoordinatorNotAvailable
		}
		d.pid, d.epoch = pid, 0
	} else {
		d.epoch++
	}
	d.timeoutMs = timeoutMs
	d.state = txnEmpty
	clear(d.parts)
	d.startMs = -1
	d.updatedMs = c.nowMs()
	if err := c.persistTxn(ctx, tp, m.id, &d); err != nil {
		return err
	}
	m.d = d
	return nil
}
