package coordinator

// __transaction_state records, in Kafka's schemas (TransactionLogKey
// version 0, TransactionLogValue version 0, or 1 with the tagged fields of
// transaction version 2: the client's transaction version and the next
// producer id): one record per transactional id, the latest one wins, a
// null value deletes the id. The topic is
// compacted, so the log is the state.

import (
	"context"
	"fmt"
	"time"

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
	if d.tv2 || d.nextPid >= 0 {
		// Version 1 carries transaction version 2's fields as tags.
		v.Version = 1
		v.PreviousProducerID, v.NextProducerID = d.lastPid, d.nextPid
		if d.tv2 {
			v.ClientTransactionVersion = 2
		}
	}
	v.ProducerID = d.pid
	v.ProducerEpoch = d.epoch
	v.TimeoutMillis = d.timeoutMs
	v.State = d.state
	v.LastUpdateTimestamp = d.updatedMs
	v.StartTimestamp = d.startMs
	if d.state == txnEmpty {
		// No partition list at all (null), as Kafka's
		// TransactionLog.valueToBytes writes an Empty state; the other
		// states have one, empty once completed.
		return v.AppendTo(nil)
	}
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
		tv2: v.ClientTransactionVersion >= 2, nextPid: v.NextProducerID,
	}
	if v.Version < 1 {
		d.nextPid = -1
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			d.parts[topicPartition{t.Topic, p}] = struct{}{}
		}
	}
	return d, nil
}

// persistTxn writes id's new state (nil deletes it) and waits, holding no
// lock, until it is committed. Losing leadership of the partition is
// NOT_COORDINATOR.
func (c *txnCoordinator) persistTxn(ctx context.Context, ts *txnShard, id string, d *txnData) error {
	rec := records.Record{Key: encodeTxnKey(id)}
	if d != nil {
		rec.Value = encodeTxnValue(d)
	}
	w, err := ts.shard.Append([]records.Record{rec}, -1, -1, c.nowMs())
	if err == nil {
		err = awaitWrite(ctx, w, txnWriteTimeout)
	}
	if err != nil {
		c.log.Warn().Err(err).Str("transactional_id", id).Int32("partition", ts.shard.Partition).Msg("writing transaction state")
		return err
	}
	return nil
}

// txnWriteTimeout bounds the wait for a __transaction_state write to be
// replicated (Kafka uses request.timeout.ms).
const txnWriteTimeout = 30 * time.Second

// applyTxnBatch folds the records of one batch into states.
func applyTxnBatch(batch []byte, states map[string]txnData) error {
	h, err := records.ParseHeader(batch)
	if err != nil {
		return err
	}
	if h.IsControl() {
		return nil
	}
	return records.Each(batch, func(r *records.Record) error {
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
}
