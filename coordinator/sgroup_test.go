package coordinator

// Share groups through the coordinator's methods (no sockets): a member
// joins, the coordinator initializes the share partitions through the
// share coordinator and assigns them.

import (
	"context"
	"testing"
	"time"
)

// newSGEnv is a group coordinator with share groups on, its share
// coordinator loaded, and topic a (2 partitions).
func newSGEnv(t *testing.T) *groupEnv {
	e := newGroupEnv(t, func(c *Config) {
		c.ShareGroupEnable = true
		c.ShareStateTopicPartitions = 1
		c.ShareSessionTimeout = 45 * time.Second
		c.ShareHeartbeatInterval = 5 * time.Second
		c.ShareWriteTimeout = 5 * time.Second
		c.ShareSnapshotUpdatesPerSnapshot = 500
	})
	e.co.LeadershipChanged(ShareStateTopic, 0, true, 1)
	awaitLoaded(t, e.co.shares.rt.Current(0))
	e.h.setTopic("a", 2)
	return e
}

func (e *groupEnv) sgBeat(group, member string, epoch int32, topics ...string) sgResult {
	e.t.Helper()
	r := &sgHeartbeat{group: group, memberID: member, epoch: epoch, topics: topics, clientID: "c", version: 1}
	return e.c.shareHeartbeat(context.Background(), r)
}

func TestShareGroupJoinAssignsInitializedPartitions(t *testing.T) {
	e := newSGEnv(t)
	res := e.sgBeat("g", "m1", 0, "a")
	if res.err != nil {
		t.Fatalf("join: %v %s", res.err, res.msg)
	}
	if len(res.assignment) != 2 {
		t.Fatalf("join got %d partitions (%v) at epoch %d, want both of a", len(res.assignment), res.assignment, res.epoch)
	}
}

func TestShareGroupSecondMemberSharesPartitions(t *testing.T) {
	e := newSGEnv(t)
	first := e.sgBeat("g", "m1", 0, "a")
	second := e.sgBeat("g", "m2", 0, "a")
	if second.err != nil || len(second.assignment) == 0 {
		t.Fatalf("second member: %v, assignment %v", second.err, second.assignment)
	}
	again := e.sgBeat("g", "m1", first.epoch)
	if again.err != nil {
		t.Fatalf("first member's heartbeat: %v", again.err)
	}
	if again.assignment != nil && len(again.assignment) == 0 {
		t.Fatalf("first member lost every partition: %v", again.assignment)
	}
}
