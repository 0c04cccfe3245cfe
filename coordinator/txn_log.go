package coordinator

// __transaction_state records, in Kafka's schemas (TransactionLogKey
// version 0, TransactionLogValue version 0): one record per transactional
// id, the latest one wins, a null value deletes the id. The topic is
// compacted, so the log is the state.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
)

// encodeTxnKey is the record key for a transactional id.
func encodeTxnKey(id string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.Version = 0
	k.TransactionalID = id
	return k.AppendTo(nil)
}

// encodeTxnValue is the record value for a transactional id's state.
func encodeTxnValue(d *txnData) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = 0
	v.ProducerID = d.pid
	v.ProducerEpoch = d.epoch
	v.TimeoutMillis = d.timeoutMs
	v.State = d.state
	v.LastUpdateTimestamp = d.updatedMs
	v.StartTimestamp = d.startMs
	v.Topics = []kmsg.TxnMetadataValueTopic{}
	for _, tp := range d.sortedParts() {
		if n := len(v.Topics); n == 0 || v.Topics[n-1].Topic != tp.topic {
			t := kmsg.NewTxnMetadataValueTopic()
			t.Topic = tp.topic
			v.Topics = append(v.Topics, t)
		}
		t := &v.Topics[len(v.Topics)-1]
		t.Partitions = append(t.Partitions, tp.partition)
	}
	return v.AppendTo(nil)
}

// decodeTxnValue parses a record value into state.
func decodeTxnValue(b []byte) (txnData, error) {
	v := kmsg.NewTxnMetadataValue()
	if err := v.ReadFrom(b); err != nil {
		return txnData{}, err
	}
	d := txnData{
		pid: v.ProducerID, epoch: v.ProducerEpoch,
		lastPid: v.PreviousProducerID, lastEpoch: -1,
		timeoutMs: v.TimeoutMillis, state: v.State,
		parts:   make(map[topicPartition]struct{}),
		startMs: v.StartTimestamp, updatedMs: v.LastUpdateTimestamp,
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			d.parts[topicPartition{t.Topic, p}] = struct{}{}
		}
	}
	return d, nil
}

// persistTxn writes id's new state (nil deletes it) and waits until it is
// committed. Losing leadership of the partition is NOT_COORDINATOR.
func (c *Coordinator) persistTxn(ctx context.Context, tp *txnPartition, id string, d *txnData) error {
	if tp.ctx.Err() != nil {
		return kerr.NotCoordinator
	}
	rec := records.Record{Key: encodeTxnKey(id)}
	if d != nil {
		rec.Value = encodeTxnValue(d)
	}
	now := c.nowMs()
	batch, err := records.Build(&records.Batch{
		FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		Records: []records.Record{rec},
	})
	if err != nil {
		return err
	}
	if _, err := c.host.AppendInternal(ctx, TransactionTopic, tp.id, batch); err != nil {
		c.log.Warn().Err(err).Str("transactional_id", id).Int32("partition", tp.id).Msg("writing transaction state")
		var ke *kerr.Error
		if errors.As(err, &ke) {
			switch ke {
			case kerr.NotLeaderForPartition, kerr.UnknownTopicOrPartition, kerr.FencedLeaderEpoch:
				return kerr.NotCoordinator
			case kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend, kerr.RequestTimedOut:
				return kerr.CoordinatorNotAvailable
			}
		}
		return kerr.CoordinatorNotAvailable
	}
	return nil
}

// txnLeadership loads or unloads the transactional ids of a
// __transaction_state partition.
func (c *Coordinator) txnLeadership(partition int32, leader bool, epoch int32) {
	c.txn.mu.Lock()
	old := c.txn.parts[partition]
	if old != nil {
		old.cancel()
		delete(c.txn.parts, partition)
	}
	var tp *txnPartition
	if leader {
		ctx, cancel := context.WithCancel(context.Background())
		tp = &txnPartition{id: partition, epoch: epoch, loaded: make(chan struct{}), ctx: ctx, cancel: cancel, ids: make(map[string]*txnMeta)}
		c.txn.parts[partition] = tp
	}
	c.txn.mu.Unlock()
	if old != nil {
		old.unload()
	}
	if tp == nil {
		return
	}
	c.txn.wg.Add(1)
	go func() {
		defer c.txn.wg.Done()
		c.loadTxnPartition(tp)
	}()
}

// unload forgets the partition's ids; operations holding one fail on
// their next write.
func (tp *txnPartition) unload() {
	tp.mu.Lock()
	ids := tp.ids
	tp.ids = make(map[string]*txnMeta)
	tp.mu.Unlock()
	for _, m := range ids {
		m.mu.Lock()
		m.removed = true
		m.mu.Unlock()
	}
}

// loadTxnPartition reads a partition's records into memory, then finishes
// the transactions it finds prepared.
func (c *Coordinator) loadTxnPartition(tp *txnPartition) {
	start := time.Now()
	states := make(map[string]txnData)
	c.replayPartition(tp.ctx, TransactionTopic, tp.id, func(data []byte) (int64, error) { return applyTxnRecords(data, states) })
	if tp.ctx.Err() != nil {
		return
	}
	tp.mu.Lock()
	var prepared []*txnMeta
	for id, d := range states {
		m := &txnMeta{id: id, d: d}
		tp.ids[id] = m
		if d.state == txnPrepareCommit || d.state == txnPrepareAbort {
			prepared = append(prepared, m)
		}
	}
	tp.mu.Unlock()
	close(tp.loaded)
	c.log.Info().Int32("partition", tp.id).Int32("coordinator_epoch", tp.epoch).Int("transactional_ids", len(states)).
		Dur("took", time.Since(start)).Msg("loaded transaction state")
	sort.Slice(prepared, func(i, j int) bool { return prepared[i].id < prepared[j].id })
	for _, m := range prepared {
		m.mu.Lock()
		if err := c.finishTxn(tp.ctx, tp, m); err != nil {
			c.log.Warn().Err(err).Str("transactional_id", m.id).Msg("completing a prepared transaction after load")
		}
		m.mu.Unlock()
	}
}

// applyTxnRecords folds the records of data (whole batches) into states
// and returns the offset after the last batch.
func applyTxnRecords(data []byte, states map[string]txnData) (int64, error) {
	next := int64(-1)
	var firstErr error
	_, err := records.Split(data, func(batch []byte) error {
		h, err := records.ParseHeader(batch)
		if err != nil {
			return err
		}
		next = h.NextOffset()
		if h.IsControl() {
			return nil
		}
		err = records.Each(batch, func(r *records.Record) error {
			k := kmsg.NewTxnMetadataKey()
			if err := k.ReadFrom(r.Key); err != nil {
				return fmt.Errorf("transaction log key: %w", err)
			}
			if r.Value == nil {
				delete(states, k.TransactionalID)
				return nil
			}
			d, err := decodeTxnValue(r.Value)
			if err != nil {
				return fmt.Errorf("transaction log value for %q: %w", k.TransactionalID, err)
			}
			states[k.TransactionalID] = d
			return nil
		})
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return nil
	})
	if err == nil {
		err = firstErr
	}
	return next, err
}
