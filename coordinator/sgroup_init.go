package coordinator

// Initializing share partitions: before a partition of a subscribed topic
// is assigned to share group members, its share state is initialized at
// the share coordinator (InitializeShareGroupState, start offset -1: the
// leader resolves share.auto.offset.reset when it first reads it), as
// Kafka's group coordinator does. The partitions asked for are recorded as
// initializing; once initialized they are recorded so, and the next
// heartbeat assigns them. Partitions whose initialization did not complete
// within group.share.initialize.retry.interval.ms are asked for again.

import (
	"context"
	"sync"
	"time"
)

// shareInit is the partitions one heartbeat asks to initialize, with the
// group epoch as their state epoch.
type shareInit struct {
	epoch int32
	parts map[topicID]*initTopic
}

// planShareInit adds the record of the subscribed partitions that must be
// initialized, if any, and returns them.
func (c *groupCoordinator) planShareInit(t *sgTxn, epoch int32, meta map[string]topicMeta) *shareInit {
	sg := t.sg
	now := c.nowMs()
	retry := c.cfg.ShareInitializeRetryInterval
	if retry <= 0 {
		retry = 30 * time.Second
	}
	need := make(map[topicID]*initTopic)
	for _, tm := range meta {
		have := map[int32]bool{}
		if it := sg.initialized[tm.id]; it != nil {
			for p := range it.parts {
				have[p] = true
			}
		}
		if it := sg.initializing[tm.id]; it != nil && now-it.atMs < retry.Milliseconds() {
			for p := range it.parts {
				have[p] = true
			}
		}
		for p := int32(0); p < tm.partitions; p++ {
			if !have[p] {
				if need[tm.id] == nil {
					need[tm.id] = &initTopic{name: tm.name, parts: map[int32]bool{}, atMs: now}
				}
				need[tm.id].parts[p] = true
			}
		}
	}
	if len(need) == 0 {
		return nil
	}
	initializing := cloneInit(sg.initializing)
	deleting := make(map[topicID]string, len(sg.deleting))
	for id, n := range sg.deleting {
		if need[id] == nil {
			deleting[id] = n
		}
	}
	for id, it := range need {
		cur := initializing[id]
		if cur == nil {
			cur = &initTopic{name: it.name, parts: map[int32]bool{}}
			initializing[id] = cur
		}
		cur.atMs = now
		for p := range it.parts {
			cur.parts[p] = true
		}
	}
	t.add(sgRecStateMeta{initializing: initializing, initialized: cloneInit(sg.initialized), deleting: deleting})
	return &shareInit{epoch: epoch, parts: need}
}

// startShareInit asks the share coordinators to initialize the partitions
// in the background and records those that were; the returned channel
// closes when that is committed (or failed).
func (c *groupCoordinator) startShareInit(g *group, init *shareInit) <-chan struct{} {
	done := make(chan struct{})
	if !c.bg.spawn(func(stop <-chan struct{}) {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 2*c.shareWriteTimeout())
		defer cancel()
		go func() {
			select {
			case <-stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		ok := c.initializeParts(ctx, g.id, init)
		c.recordInitialized(ctx, g, ok)
	}) {
		close(done)
	}
	return done
}

// initializeParts initializes the partitions, a few at a time, and
// returns those that were.
func (c *groupCoordinator) initializeParts(ctx context.Context, group string, init *shareInit) map[topicID]map[int32]bool {
	var mu sync.Mutex
	ok := make(map[topicID]map[int32]bool)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for id, it := range init.parts {
		for p := range it.parts {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := c.co.initializeShareState(ctx, group, id, p, init.epoch, -1); err != nil {
					c.log.Warn().Err(err).Str("group", group).Str("topic", it.name).Int32("partition", p).Msg("initializing share partition state")
					return
				}
				mu.Lock()
				if ok[id] == nil {
					ok[id] = map[int32]bool{}
				}
				ok[id][p] = true
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	return ok
}

// recordInitialized moves initialized partitions from initializing to
// initialized in the group's ShareGroupStatePartitionMetadata.
func (c *groupCoordinator) recordInitialized(ctx context.Context, g *group, ok map[topicID]map[int32]bool) {
	if len(ok) == 0 {
		return
	}
	g.mu.Lock()
	sg := g.share
	if sg == nil || !g.part.shard.Active() {
		g.mu.Unlock()
		return
	}
	initializing, initialized := cloneInit(sg.initializing), cloneInit(sg.initialized)
	changed := false
	for id, parts := range ok {
		cur := initializing[id]
		if cur == nil {
			continue
		}
		for p := range parts {
			if !cur.parts[p] {
				continue
			}
			delete(cur.parts, p)
			done := initialized[id]
			if done == nil {
				done = &initTopic{name: cur.name, parts: map[int32]bool{}}
				initialized[id] = done
			}
			done.parts[p] = true
			changed = true
		}
		if len(cur.parts) == 0 {
			delete(initializing, id)
		}
	}
	if !changed {
		g.mu.Unlock()
		return
	}
	t := &sgTxn{g: g, sg: sg}
	t.add(sgRecStateMeta{initializing: initializing, initialized: initialized, deleting: sg.deleting})
	w, err := c.commitSG(t)
	g.mu.Unlock()
	if err == nil {
		err = w.await(ctx)
	}
	if err != nil {
		c.log.Warn().Err(err).Str("group", g.id).Msg("recording initialized share partitions")
	}
}
