package coordinator

// A deleted topic leaves nothing behind in the groups, as Kafka's
// GroupCoordinator.onPartitionsDeleted: every group this broker
// coordinates loses its committed offsets of the topic (tombstones in
// __consumer_offsets), so a topic created again under the same name starts
// with none, and a share group loses the topic's share state (deleted at
// the share coordinators) and its record of the topic's initialized
// partitions. Every broker is told of the deletion (as Kafka's KRaft
// brokers are); each cleans the groups whose coordinator it is.

import (
	"context"
	"time"
)

// topicDeletedTimeout bounds the clean-up of one deleted topic.
const topicDeletedTimeout = time.Minute

// TopicDeleted is told of a topic deleted from the cluster. It returns at
// once; the clean-up runs in the background.
func (c *Coordinator) TopicDeleted(name string, id [16]byte) {
	g := c.groups
	at := g.nowMs()
	g.bg.spawn(func(stop <-chan struct{}) {
		ctx, cancel := context.WithTimeout(context.Background(), topicDeletedTimeout)
		defer cancel()
		go func() {
			select {
			case <-stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		g.topicDeleted(ctx, name, id, at)
	})
}

func (c *groupCoordinator) topicDeleted(ctx context.Context, name string, id topicID, at int64) {
	for _, s := range c.rt.Loaded() {
		for _, g := range s.Machine.list() {
			c.dropTopicOffsets(g, name, at)
			if ctx.Err() == nil {
				c.dropTopicShareState(ctx, g, id)
			}
		}
	}
}

// dropTopicOffsets deletes a group's offsets of a deleted topic committed
// before it was deleted (at); one committed since is the topic's new
// namesake's.
func (c *groupCoordinator) dropTopicOffsets(g *group, topic string, at int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == groupDead {
		return
	}
	var del []topicPartition
	for _, tp := range sortedTPs(g.offsets) {
		if tp.topic == topic && g.offsets[tp].commitMs <= at {
			del = append(del, tp)
		}
	}
	if len(del) == 0 {
		return
	}
	if _, err := c.deleteOffsets(g, del, false); err != nil {
		c.log.Warn().Err(err).Str("group", g.id).Str("topic", topic).Msg("deleting the offsets of a deleted topic")
		return
	}
	c.log.Info().Str("group", g.id).Str("topic", topic).Int("offsets", len(del)).Msg("deleted the offsets of a deleted topic")
}

// dropTopicShareState deletes a share group's state of a deleted topic.
func (c *groupCoordinator) dropTopicShareState(ctx context.Context, g *group, id topicID) {
	g.mu.Lock()
	var it *initTopic
	if sg := g.share; sg != nil {
		for _, m := range []map[topicID]*initTopic{sg.initialized, sg.initializing} {
			if cur := m[id]; cur != nil {
				if it == nil {
					it = &initTopic{name: cur.name, parts: map[int32]bool{}}
				}
				for p := range cur.parts {
					it.parts[p] = true
				}
			}
		}
	}
	g.mu.Unlock()
	if it == nil {
		return
	}
	if e := c.deleteTopicState(ctx, g.id, id, it); e != nil {
		return // logged; the group's record of it stays, to be deleted again
	}
	if e := c.updateStateMeta(ctx, g.id, func(initializing, initialized map[topicID]*initTopic) {
		delete(initializing, id)
		delete(initialized, id)
	}); e != nil {
		c.log.Warn().Str("group", g.id).Str("topic", it.name).Str("error", e.Message).Msg("forgetting the share state of a deleted topic")
		return
	}
	c.log.Info().Str("group", g.id).Str("topic", it.name).Msg("deleted the share state of a deleted topic")
}
