package coordinator

import (
	"testing"
	"time"

	"gregor/internal/wait"
)

// A deleted topic's committed offsets are tombstoned in every group, and
// its share state is deleted at the share coordinator and forgotten by the
// share group; offsets of other topics stay.
func TestTopicDeletedLeavesNoOffsetsOrShareState(t *testing.T) {
	e := newSGEnv(t) // topic a, 2 partitions
	e.h.setTopic("b", 1)
	for p := int32(0); p < 2; p++ {
		if code := commitCode(t, e, "c", "", -1, "a", p, 10+int64(p)); code != 0 {
			t.Fatalf("commit a-%d: %d", p, code)
		}
	}
	if code := commitCode(t, e, "c", "", -1, "b", 0, 7); code != 0 {
		t.Fatalf("commit b-0: %d", code)
	}
	if res := e.sgBeat("g", "m1", 0, "a"); res.err != nil || len(res.assignment) != 2 {
		t.Fatalf("share join: %v, %d partitions", res.err, len(res.assignment))
	}
	id, _, _ := e.h.TopicIDOf("a")
	key := shareKey{"g", id, 0}
	if op := e.co.shares.read(key, -1); op.err != nil {
		t.Fatalf("share state of a-0 before the deletion: %v", op.err)
	}

	e.h.setTopic("a", 0)
	e.co.TopicDeleted("a", id)

	wait.For(t, "group c's offsets of a deleted", 10*time.Second, func() bool {
		gone := false
		e.inspect("c", func(g *group) {
			_, a0 := g.offsets[topicPartition{"a", 0}]
			_, a1 := g.offsets[topicPartition{"a", 1}]
			gone = !a0 && !a1
		})
		return gone
	})
	e.inspect("c", func(g *group) {
		if g.offsets[topicPartition{"b", 0}].offset != 7 {
			t.Errorf("b-0's offset: %+v, want 7 kept", g.offsets[topicPartition{"b", 0}])
		}
	})
	wait.For(t, "share group g to forget a", 10*time.Second, func() bool {
		forgot := false
		e.inspect("g", func(g *group) {
			forgot = g.share.initialized[id] == nil && g.share.initializing[id] == nil
		})
		return forgot
	})
	if op := e.co.shares.read(key, -1); op.err == nil {
		t.Error("a-0's share state still readable at the share coordinator after the deletion")
	}
}
