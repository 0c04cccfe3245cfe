package broker

import (
	"context"
	"maps"
	"slices"
	"time"

	"gregor/broker/metadata"
	"gregor/broker/storage"
)

// applier delivers backend metadata to the broker. Deliveries never wait
// on a partition: they post to the partitions' mailboxes
// (partition_apply.go). With the local backend (syncApply) they then wait
// until applied, as admin requests deliver there.
type applier struct{ b *Broker }

func (a applier) ApplyTopic(st metadata.TopicState) {
	a.b.applyTopic(st)
	a.b.maybeAwaitApplied()
}

func (a applier) RemoveTopic(name string) {
	a.b.removeTopic(name)
	a.b.maybeAwaitApplied()
}

// ApplyPartition takes a state the backend itself just wrote
// (metadata.PartitionApplier), possibly concurrently with the loop's
// deliveries: the partition keeps the leadership of the highest version.
func (a applier) ApplyPartition(topic string, id metadata.Uuid, partition int32, st metadata.PartitionState) {
	t := a.b.TopicByID(id)
	if t == nil || t.Name != topic {
		return
	}
	p := t.Partition(partition)
	if p == nil {
		return
	}
	if st.Leader >= 0 && st.Leader != a.b.id {
		// Whether this broker led it or not (the loop may have applied
		// the same state first), its leader is to confirm the handover.
		a.b.handover.record(topic, partition, st.Leader, st.LeaderEpoch)
	}
	if p.changedState(st) {
		p.postState(st, time.Now())
	}
}

func (a applier) ApplyBrokers(bs []metadata.BrokerInfo, controller int32) {
	a.b.mu.Lock()
	a.b.brokers = slices.Clone(bs)
	slices.SortFunc(a.b.brokers, func(x, y metadata.BrokerInfo) int { return int(x.ID - y.ID) })
	a.b.controller = controller
	a.b.mu.Unlock()
}

func (b *Broker) maybeAwaitApplied() {
	if b.syncApply {
		b.awaitApplied(context.Background())
	}
}

// applyTopic creates or updates a topic from metadata and posts each
// changed partition its state. It takes Broker.mu only to update the
// topic map (lock order: Partition.mu before Broker.mu) and never a
// partition's lock.
func (b *Broker) applyTopic(st metadata.TopicState) {
	reported := st.Reported // zero (not measured) for a backend without watches
	b.mu.Lock()
	t := b.topics[st.Name]
	var after map[int32]chan struct{}
	if t != nil && t.ID != st.ID {
		b.mu.Unlock()
		after = b.removeTopic(st.Name) // recreated under a new id
		b.mu.Lock()
		t = nil
	}
	if t == nil && after == nil {
		// Deleted a moment ago: this topic's directories wait for the
		// earlier one's to be gone.
		for i := range st.Partitions {
			tp := storage.TP{Topic: st.Name, Partition: int32(i)}
			if ch, ok := b.removing[tp]; ok {
				if after == nil {
					after = make(map[int32]chan struct{})
				}
				after[int32(i)] = ch
				delete(b.removing, tp)
			}
		}
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
		t.cfg.Store(b.newTopicConfig(st.Configs))
	}
	parts := slices.Clone(t.Partitions())
	known := len(parts)
	for i := len(parts); i < len(st.Partitions); i++ {
		p := newPartition(b, t, int32(i))
		p.after = after[int32(i)]
		p.changedState(st.Partitions[i]) // announced before the partition is visible
		parts = append(parts, p)
	}
	t.partitions.Store(&parts)
	b.mu.Unlock()

	for i, p := range parts {
		if i >= len(st.Partitions) {
			break
		}
		if i >= known || p.changedState(st.Partitions[i]) {
			p.postState(st.Partitions[i], reported)
		}
		if cfgChanged {
			p.postConfig()
		}
	}
}

// changedState reports whether st differs from the last state posted to
// the partition, remembering it.
func (p *Partition) changedState(st metadata.PartitionState) bool {
	p.mailMu.Lock()
	defer p.mailMu.Unlock()
	if p.posted != nil {
		st = newestState(*p.posted, st)
		if samePartitionState(*p.posted, st) {
			return false
		}
	}
	p.posted = &st
	return true
}

// newestState is next with the leadership (leader, epoch, ISR, version) of
// cur where cur's is newer: states reach a partition by more than one
// path (the backend's loop, this broker's own ISR updates and handovers),
// and an older one must not undo a newer one. The assignment is next's.
func newestState(cur, next metadata.PartitionState) metadata.PartitionState {
	if next.Version >= 0 && cur.Version > next.Version {
		next.Leader, next.LeaderEpoch, next.ISR, next.Version = cur.Leader, cur.LeaderEpoch, cur.ISR, cur.Version
	}
	return next
}

func samePartitionState(a, b metadata.PartitionState) bool {
	return a.Leader == b.Leader && a.LeaderEpoch == b.LeaderEpoch && a.Version == b.Version &&
		slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR)
}

// removeTopic forgets a topic and has its partitions delete their local
// logs; it returns, per partition, a channel closed once that is done.
func (b *Broker) removeTopic(name string) map[int32]chan struct{} {
	b.mu.Lock()
	t := b.topics[name]
	if t == nil {
		b.mu.Unlock()
		return nil
	}
	delete(b.topics, name)
	delete(b.byID, t.ID)
	tell := slices.Clone(b.deletions)
	b.mu.Unlock()
	b.ops.forgetTopic(name)
	b.offlineChanged() // its offline replicas, if any, are gone
	for _, fn := range tell {
		fn(name, t.ID)
	}
	done := make(map[int32]chan struct{})
	for _, p := range t.Partitions() {
		ch := make(chan struct{})
		done[p.ID] = ch
		p.postRemove(ch)
	}
	b.mu.Lock()
	for id, ch := range done {
		b.removing[storage.TP{Topic: name, Partition: id}] = ch
	}
	b.mu.Unlock()
	b.spawn(func() {
		for id, ch := range done {
			select {
			case <-ch:
			case <-b.stop:
				return
			}
			tp := storage.TP{Topic: name, Partition: id}
			b.mu.Lock()
			if b.removing[tp] == ch {
				delete(b.removing, tp)
			}
			b.mu.Unlock()
		}
	})
	b.log.Info().Str("topic", name).Msg("topic deleted")
	return done
}

func (b *Broker) tellLeadership(topic string, p int32, leader bool, epoch int32) {
	b.mu.RLock()
	ls := slices.Clone(b.listeners)
	b.mu.RUnlock()
	for _, fn := range ls {
		fn(topic, p, leader, epoch)
	}
}
