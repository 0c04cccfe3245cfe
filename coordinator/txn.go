package coordinator

// The transaction coordinator. Each transactional id maps to a partition
// of __transaction_state (Kafka's hash); the broker leading that partition
// coordinates the id. Its state is a record per id in that partition,
// written before every transition is acknowledged, and read back when the
// broker becomes leader.
//
// Operations on one id are serialised by claiming it (txn_coordinator.go);
// different ids proceed in parallel. A commit or abort writes
// PrepareCommit/PrepareAbort first (the decision point), then the markers,
// then CompleteCommit/CompleteAbort; a coordinator that loads an id in a
// prepare state finishes the job.

import (
	"context"
	"maps"
	"math"
	"sort"
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
	// tv2: the producer uses transaction version 2 (KIP-890 part 2):
	// every commit or abort bumps its epoch. nextPid is the producer id
	// it moves to when that bump exhausts the epochs, -1 if none.
	tv2     bool
	nextPid int64
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

// addPartitions adds partitions to an id's transaction, moving it to
// Ongoing, and persists the change. m is claimed.
func (c *txnCoordinator) addPartitions(ctx context.Context, ts *txnShard, m *txnMeta, add []topicPartition, tv2 bool) error {
	switch m.d.state {
	case txnPrepareCommit, txnPrepareAbort:
		return kerr.ConcurrentTransactions
	case txnDead:
		return kerr.InvalidTxnState
	}
	if m.d.state == txnOngoing && (m.d.tv2 || !tv2) {
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
		// A new transaction is of the version its first request is of,
		// as Kafka records the client's transaction version with each
		// transition.
		d.tv2 = tv2
	} else if tv2 {
		d.tv2 = true
	}
	d.state = txnOngoing
	for _, p := range add {
		d.parts[p] = struct{}{}
	}
	d.updatedMs = now
	if err := c.persistTxn(ctx, ts, m.id, &d); err != nil {
		return err
	}
	m.set(d)
	return nil
}

// endTxn commits or aborts m's ongoing transaction: the decision, the
// markers, the completion. bump fences the producer first (a timed-out
// transaction, or a new instance taking over the id). m is claimed.
func (c *txnCoordinator) endTxn(ctx context.Context, ts *txnShard, m *txnMeta, commit, bump bool) error {
	return c.endTxnAs(ctx, ts, m, commit, bump, false)
}

// endTxnAs is endTxn for a client of transaction version 2 too (tv2):
// its epoch is bumped by every commit or abort, the markers carry the new
// epoch and the producer goes on with it (a new producer id with epoch 0
// once the epochs run out), as Kafka 4's prepareAbortOrCommit.
func (c *txnCoordinator) endTxnAs(ctx context.Context, ts *txnShard, m *txnMeta, commit, bump, tv2 bool) error {
	d := m.d.clone()
	if d.state != txnOngoing {
		// A transaction version 2 abort with no transaction ongoing: no
		// partitions, and it starts now (Kafka's prepareAbortOrCommit with
		// noPartitionAdded).
		clear(d.parts)
		d.startMs = c.nowMs()
	}
	if commit {
		d.state = txnPrepareCommit
	} else {
		d.state = txnPrepareAbort
	}
	if tv2 && !bump {
		d.tv2 = true
		if d.epoch >= math.MaxInt16-1 {
			pid, err := c.pids.allocate(ctx)
			if err != nil {
				return kerr.CoordinatorNotAvailable
			}
			d.nextPid = pid
		}
		d.lastEpoch = d.epoch // a retried InitProducerId may name it, as in Kafka
		d.epoch++
	}
	if bump {
		d.lastEpoch = -1 // the fenced producer's epoch is no retry's
		// Markers need an epoch above the producer's, even from the last
		// one a producer may use (32766): the abort takes 32767, as
		// Kafka's prepareFenceProducerEpoch (which only leaves 32767
		// itself as it is), and the next InitProducerId moves to a new
		// producer id. A version 2 producer, which goes on from its
		// EndTxn without one, is moved to a new producer id by the
		// abort, as Kafka does since KAFKA-20090.
		if d.epoch < math.MaxInt16 {
			d.epoch++
		}
		if d.tv2 && d.epoch == math.MaxInt16 && d.nextPid < 0 {
			pid, err := c.pids.allocate(ctx)
			if err != nil {
				return kerr.CoordinatorNotAvailable
			}
			d.nextPid = pid
		}
	}
	d.updatedMs = c.nowMs()
	if err := c.persistTxn(ctx, ts, m.id, &d); err != nil {
		return err
	}
	m.set(d)
	return c.finishTxn(ctx, ts, m)
}

// finishTxn writes the markers of m's prepared transaction and completes
// it. When the markers cannot all be written in time, a background retry
// takes over and the transaction stays prepared until it succeeds (the
// decision is already durable). m is claimed.
func (c *txnCoordinator) finishTxn(ctx context.Context, ts *txnShard, m *txnMeta) error {
	commit := m.d.state == txnPrepareCommit
	wctx, cancel := context.WithTimeout(ctx, markerAttemptTime)
	done, err := c.writeMarkers(wctx, ts, m.d.pid, m.d.epoch, commit, m.d.sortedParts())
	cancel()
	m.markersWritten(done)
	if err != nil {
		c.log.Warn().Err(err).Str("transactional_id", m.id).Msg("transaction markers not yet written; retrying in the background")
		c.retryMarkers(ts, m)
		return nil
	}
	if err := c.completeTxn(ctx, ts, m); err != nil {
		// The decision and the markers are written: the completion is
		// retried in the background, as Kafka's marker channel retries
		// its log append, rather than left prepared (and every EndTxn or
		// InitProducerId of the id CONCURRENT_TRANSACTIONS) until the
		// partition changes leader.
		c.log.Warn().Err(err).Str("transactional_id", m.id).Msg("transaction completion not written; retrying in the background")
		c.retryMarkers(ts, m)
	}
	return nil
}

// markersWritten takes the partitions whose markers are written (or that
// are gone) out of the prepared transaction of m (claimed), in memory, as
// Kafka's TransactionMetadata.removePartition: a retry writes only the
// others, rather than another marker to each partition at every attempt,
// and DescribeTransactions lists the partitions still waiting. The
// prepare record keeps them all, so a coordinator that loads it writes
// every marker again.
func (m *txnMeta) markersWritten(done []topicPartition) {
	if len(done) == 0 {
		return
	}
	d := m.d.clone()
	for _, tp := range done {
		delete(d.parts, tp)
	}
	m.set(d)
}

// completeTxn records that a prepared transaction's markers are written.
func (c *txnCoordinator) completeTxn(ctx context.Context, ts *txnShard, m *txnMeta) error {
	d := m.d.clone()
	if d.state == txnPrepareCommit {
		d.state = txnCompleteCommit
	} else {
		d.state = txnCompleteAbort
	}
	if d.tv2 && d.nextPid >= 0 {
		// The bump used the last epoch: the producer goes on as nextPid.
		// The last epoch stays the one the client last saw (the one
		// before the markers'), as Kafka's prepareComplete keeps it: an
		// InitProducerId naming it is a retry.
		d.lastPid = d.pid
		d.pid, d.epoch, d.nextPid = d.nextPid, 0, -1
	}
	clear(d.parts)
	// The start stays until the next transaction or InitProducerId, as
	// Kafka keeps it in CompleteCommit and CompleteAbort
	// (DescribeTransactions shows it, ListTransactions filters on it).
	d.updatedMs = c.nowMs()
	if err := c.persistTxn(ctx, ts, m.id, &d); err != nil {
		return err
	}
	m.set(d)
	return nil
}

// markerAttemptTime bounds how long a request waits for markers before
// the background retry takes over.
const markerAttemptTime = 10 * time.Second

// retryMarkers keeps writing a prepared transaction's markers in the
// background until they are written or the coordinator loses the id. Each
// attempt claims the id; one that finds it busy waits for the next. The
// first attempt waits a backoff, as it follows one that failed.
func (c *txnCoordinator) retryMarkers(ts *txnShard, m *txnMeta) {
	c.writeMarkersInBackground(ts, m, 100*time.Millisecond)
}

// writeMarkersInBackground is retryMarkers with the wait before the first
// attempt: none for a transaction found prepared when its partition is
// loaded, as Kafka's TransactionStateManager hands such transactions to
// the marker channel as soon as they are loaded. The producer's next
// transaction waits for them (CONCURRENT_TRANSACTIONS) meanwhile.
func (c *txnCoordinator) writeMarkersInBackground(ts *txnShard, m *txnMeta, first time.Duration) {
	m.mu.Lock()
	if m.markersPending {
		m.mu.Unlock()
		return
	}
	m.markersPending = true
	m.mu.Unlock()
	c.bg.wg.Add(1)
	go func() {
		defer c.bg.wg.Done()
		defer func() {
			m.mu.Lock()
			m.markersPending = false
			m.mu.Unlock()
		}()
		wait, backoff := first, 100*time.Millisecond
		for {
			select {
			case <-ts.shard.Done():
				return
			case <-c.bg.stop:
				return
			case <-time.After(wait):
			}
			wait, backoff = backoff, min(2*backoff, 2*time.Second)
			if done := c.retryMarkersOnce(ts, m); done {
				return
			}
		}
	}()
}

// retryMarkersOnce makes one attempt; it reports whether nothing is left
// to do.
func (c *txnCoordinator) retryMarkersOnce(ts *txnShard, m *txnMeta) bool {
	if !m.tryClaim() {
		_, removed := m.data()
		return removed
	}
	defer m.release()
	if m.d.state != txnPrepareCommit && m.d.state != txnPrepareAbort {
		return true
	}
	ctx, cancel := context.WithTimeout(ts.shard.Context(), markerAttemptTime)
	defer cancel()
	done, err := c.writeMarkers(ctx, ts, m.d.pid, m.d.epoch, m.d.state == txnPrepareCommit, m.d.sortedParts())
	m.markersWritten(done)
	if err == nil {
		err = c.completeTxn(ctx, ts, m)
	}
	if err != nil {
		c.log.Debug().Err(err).Str("transactional_id", m.id).Msg("retrying transaction markers")
		return false
	}
	return true
}

// initProducer gives id a producer id and a new epoch, aborting any
// transaction of an older instance. m is claimed. As Kafka's
// prepareInitProducerIdTransit: a producer naming its id and epoch
// (KIP-360, KIP-588) gets the next epoch only while it still holds the id;
// one retrying the InitProducerId whose answer it lost (its epoch is the
// last one) gets the current epoch again. Any other instance's
// InitProducerId, or a fence, forgets the last epoch, so an instance
// fenced by another one cannot pass for such a retry.
func (c *txnCoordinator) initProducer(ctx context.Context, ts *txnShard, m *txnMeta, timeoutMs int32, reqPid int64, reqEpoch int16, fencedCode bool) error {
	switch m.d.state {
	case txnPrepareCommit, txnPrepareAbort:
		return kerr.ConcurrentTransactions
	}
	expected := reqPid >= 0
	// The id must be the current one, or the one before a move to a new
	// id (a retry of the InitProducerId that exhausted its epochs). An id
	// with no state (new, or expired with transactional.id.expiration.ms)
	// gets a new producer id, as in Kafka: that is how a producer recovers
	// once its id expired.
	fresh := m.d.pid < 0 || m.d.epoch < 0
	if expected && !fresh && reqPid != m.d.pid && (reqPid != m.d.lastPid || !epochExhausted(reqEpoch)) {
		return fencedError(fencedCode)
	}
	if m.d.state == txnOngoing {
		// The producer is fenced and its transaction aborted; Kafka
		// answers CONCURRENT_TRANSACTIONS and the retry goes on below.
		if err := c.endTxn(ctx, ts, m, false, true); err != nil {
			return err
		}
		if m.d.state != txnCompleteAbort {
			return kerr.ConcurrentTransactions
		}
	}
	d := m.d.clone()
	switch {
	case !fresh && epochExhausted(d.epoch) && (!expected || reqEpoch == d.epoch):
		// A new producer id; its retry comes with the old id's last epoch.
		pid, err := c.pids.allocate(ctx)
		if err != nil {
			return kerr.CoordinatorNotAvailable
		}
		d.lastPid, d.lastEpoch = d.pid, -1
		if expected {
			d.lastEpoch = d.epoch
		}
		d.pid, d.epoch = pid, 0
	case fresh:
		pid, err := c.pids.allocate(ctx)
		if err != nil {
			return kerr.CoordinatorNotAvailable
		}
		d.lastPid, d.lastEpoch = d.pid, -1
		d.pid, d.epoch = pid, 0
	case !expected:
		d.lastPid, d.lastEpoch = d.pid, -1
		d.epoch++
	case reqEpoch == d.epoch && !epochExhausted(d.epoch):
		d.lastPid, d.lastEpoch = d.pid, d.epoch
		d.epoch++
	case reqEpoch == d.lastEpoch:
		return nil // a retry: the current id and epoch stand
	default:
		return fencedError(fencedCode)
	}
	d.timeoutMs = timeoutMs
	d.state = txnEmpty
	clear(d.parts)
	d.startMs = -1
	d.updatedMs = c.nowMs()
	if err := c.persistTxn(ctx, ts, m.id, &d); err != nil {
		return err
	}
	m.set(d)
	return nil
}

// epochExhausted reports whether a producer epoch is the last one a
// producer id can use (Kafka's TransactionMetadata.isEpochExhausted).
func epochExhausted(epoch int16) bool { return epoch >= math.MaxInt16-1 }
