package broker

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"gregor/broker/metadata"
)

// applier delivers backend metadata to the broker.
type applier struct{ b *Broker }

func (a applier) ApplyTopic(st metadata.TopicState) { a.b.applyTopic(st) }
func (a applier) RemoveTopic(name string)           { a.b.removeTopic(name) }
func (a applier) ApplyBrokers(bs []metadata.BrokerInfo, controller int32) {
	a.b.mu.Lock()
	a.b.brokers = slices.Clone(bs)
	slices.SortFunc(a.b.brokers, func(x, y metadata.BrokerInfo) int { return int(x.ID - y.ID) })
	a.b.controller = controller
	a.b.mu.Unlock()
}

// applyTopic creates or updates a topic from metadata, then brings each
// partition to its state. Partitions are applied without Broker.mu held
// (lock order: Partition.mu before Broker.mu).
func (b *Broker) applyTopic(st metadata.TopicState) {
	b.mu.Lock()
	t := b.topics[st.Name]
	if t != nil && t.ID != st.ID {
		b.mu.Unlock()
		b.removeTopic(st.Name) // recreated under a new id
		b.mu.Lock()
		t = nil
	}
	cfgChanged := false
	if t == nil {
		t = &Topic{Name: st.Name, ID: st.ID, Internal: IsInternal(st.Name)}
		b.topics[st.Name], b.byID[st.ID] = t, t
		cfgChanged = true
	} else {
		cfgChanged = !maps.Equal(t.Overrides(), st.Configs)
	}
	if cfgChanged {
		t.cfg.Store(&topicConfig{overrides: maps.Clone(st.Configs), resolved: b.resolveTopic(st.Name, st.Configs)})
	}
	parts := slices.Clone(t.Partitions())
	for i := len(parts); i < len(st.Partitions); i++ {
		parts = append(parts, newPartition(b, t, int32(i)))
	}
	t.partitions.Store(&parts)
	dirs := b.dirs
	b.mu.Unlock()

	n := min(len(parts), len(st.Partitions))
	wasLeader := make([]bool, n)
	// Partitions are independent: opening or creating their logs (files
	// and fsyncs) runs in parallel, so a topic of thousands of
	// partitions starts in a fraction of the time.
	parallel(n, applyWorkers, func(i int) {
		p := parts[i]
		wasLeader[i] = p.IsLeader()
		if err := p.apply(st.Partitions[i], dirs); err != nil {
			b.log.Error().Err(err).Str("topic", st.Name).Int32("partition", int32(i)).Msg("applying partition state")
		}
		if cfgChanged {
			p.setLogConfig(b.logConfig(t.Config()))
		}
	})
	for i, p := range parts[:n] {
		if t.Internal && (wasLeader[i] != p.IsLeader() || p.IsLeader()) {
			b.tellLeadership(st.Name, int32(i), p.IsLeader(), p.LeaderEpoch())
		}
	}
}

// applyWorkers bounds the partitions applied at once (mostly waiting on
// the disk).
const applyWorkers = 16

// parallel calls fn(i) for i in [0, n) on up to workers goroutines and
// returns when all are done.
func parallel(n, workers int, fn func(i int)) {
	if n <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// removeTopic deletes a topic and its local logs.
func (b *Broker) removeTopic(name string) {
	b.mu.Lock()
	t := b.topics[name]
	if t == nil {
		b.mu.Unlock()
		return
	}
	delete(b.topics, name)
	delete(b.byID, t.ID)
	for _, p := range t.Partitions() {
		delete(b.placement, p.tp)
		delete(b.paths, p.tp)
	}
	b.mu.Unlock()
	for _, p := range t.Partitions() {
		wasLeader := p.IsLeader()
		if err := p.remove(); err != nil {
			b.log.Error().Err(err).Str("topic", name).Int32("partition", p.ID).Msg("deleting partition")
		}
		if t.Internal && wasLeader {
			b.tellLeadership(name, p.ID, false, p.LeaderEpoch())
		}
	}
	b.log.Info().Str("topic", name).Msg("topic deleted")
}

func (b *Broker) tellLeadership(topic string, p int32, leader bool, epoch int32) {
	b.mu.RLock()
	ls := slices.Clone(b.listeners)
	b.mu.RUnlock()
	for _, fn := range ls {
		fn(topic, p, leader, epoch)
	}
}
