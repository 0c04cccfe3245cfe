package zkmeta

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// ISR change notifications (/isr_change_notification/isr_change_<seq>)
// are Kafka's ZooKeeper layout: a broker that changed ISRs writes which
// partitions, and the controller reads and deletes them. Gregor's
// brokers watch the partition states themselves, so its controller only
// deletes them. As Kafka's ReplicaManager.maybePropagateIsrChanges, a
// broker writes them in batches, at most every isrPropagateEvery: one
// znode (and one deletion) per ISR change made a restarted broker's
// thousands of ISR expansions three ZooKeeper writes each, and the
// controller's one-by-one deletions held its metadata round for seconds
// (1.8 s on 3 brokers with 2,000 partitions, one restarted; 10.5 s on a
// shared ZooKeeper).

// isrKey is a partition whose ISR changed.
type isrKey struct {
	topic     string
	partition int32
}

// isrPropagateEvery is how often the changed ISRs are announced (Kafka
// checks every 2.5 s).
const isrPropagateEvery = 2500 * time.Millisecond

// isrNoteMax bounds the partitions of one notification znode, well under
// ZooKeeper's 1 MB znode limit.
const isrNoteMax = 1000

// isrDeleteBatch is how many notifications the controller deletes in one
// multi-op.
const isrDeleteBatch = 100

// noteISRChange records that this broker changed a partition's ISR.
func (b *backend) noteISRChange(topic string, partition int32) {
	b.isrMu.Lock()
	defer b.isrMu.Unlock()
	if b.isrChanged == nil {
		b.isrChanged = map[isrKey]bool{}
	}
	b.isrChanged[isrKey{topic, partition}] = true
}

// propagateISRChanges writes the recorded ISR changes every
// isrPropagateEvery until ctx ends.
func (b *backend) propagateISRChanges(ctx context.Context) {
	t := time.NewTicker(isrPropagateEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.writeISRChangeNotes()
		}
	}
}

// writeISRChangeNotes writes one notification per isrNoteMax partitions
// changed since the last; those it could not write are kept for the next.
func (b *backend) writeISRChangeNotes() {
	b.isrMu.Lock()
	changed := b.isrChanged
	b.isrChanged = nil
	b.isrMu.Unlock()
	if len(changed) == 0 {
		return
	}
	keys := make([]isrKey, 0, len(changed))
	for k := range changed {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y isrKey) int {
		return cmp.Or(strings.Compare(x.topic, y.topic), cmp.Compare(x.partition, y.partition))
	})
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), isrNoteMax)]
		parts := make([]map[string]any, len(chunk))
		for i, k := range chunk {
			parts[i] = map[string]any{"topic": k.topic, "partition": k.partition}
		}
		note, _ := json.Marshal(map[string]any{"version": 1, "partitions": parts})
		if _, err := b.conn.Create(b.p(isrChangePath+"/"+isrChangePrefix), note, zk.FlagSequence, b.acl); err != nil {
			b.log.Debug().Err(err).Int("partitions", len(keys)).Msg("writing ISR change notification; will retry")
			for _, k := range keys {
				b.noteISRChange(k.topic, k.partition)
			}
			return
		}
		keys = keys[len(chunk):]
	}
}

// deleteISRChangeNotes deletes the controller's consumed notifications,
// isrDeleteBatch in one multi-op; a batch that fails (one was deleted
// meanwhile) is deleted one by one.
func (b *backend) deleteISRChangeNotes(names []string) {
	for len(names) > 0 {
		batch := names[:min(len(names), isrDeleteBatch)]
		names = names[len(batch):]
		ops := make([]any, len(batch))
		for i, n := range batch {
			ops[i] = &zk.DeleteRequest{Path: b.p(isrChangePath + "/" + n), Version: -1}
		}
		if _, err := b.conn.Multi(ops...); err == nil {
			continue
		}
		var wg sync.WaitGroup
		for _, n := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.conn.Delete(b.p(isrChangePath+"/"+n), -1)
			}()
		}
		wg.Wait()
	}
}
