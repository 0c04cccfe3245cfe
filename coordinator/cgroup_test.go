package coordinator

// State-machine tests of KIP-848 consumer groups, driven through the
// coordinator's methods (no sockets) in synctest bubbles, against Kafka's
// GroupMetadataManager behaviour.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// newCGEnv is a group coordinator with consumer groups on, Kafka's
// default timeouts, and topics a (4 partitions) and b (2).
func newCGEnv(t *testing.T, tweak func(*Config)) *groupEnv {
	e := newGroupEnv(t, func(c *Config) {
		c.ConsumerProtocol = true
		c.ConsumerSessionTimeout = 45 * time.Second
		c.ConsumerHeartbeatInterval = 5 * time.Second
		c.ConsumerAssignors = []string{"uniform", "range"}
		c.MigrationPolicy = "bidirectional"
		c.MaxGroupSize = 1000
		if tweak != nil {
			tweak(c)
		}
	})
	e.h.setTopic("a", 4)
	e.h.setTopic("b", 2)
	return e
}

// hb runs one heartbeat.
func (e *groupEnv) hb(r cgHeartbeat) cgResult {
	e.t.Helper()
	if r.rebalanceTimeoutMs == 0 {
		r.rebalanceTimeoutMs = -1
	}
	if r.version == 0 {
		r.version = 1
	}
	if r.clientID == "" {
		r.clientID = "client-" + r.memberID
	}
	return e.c.consumerHeartbeat(context.Background(), &r)
}

// join makes member id join group with a subscription.
func (e *groupEnv) join(group, id string, topics ...string) cgResult {
	e.t.Helper()
	res := e.hb(cgHeartbeat{group: group, memberID: id, epoch: 0, rebalanceTimeoutMs: 60000, topics: topics, owned: tpSet{}})
	if res.err != nil {
		e.t.Fatalf("join of %s: %v %s", id, res.err, res.msg)
	}
	return res
}

// beat is a heartbeat reporting what the member owns.
func (e *groupEnv) beat(group, id string, epoch int32, owned tpSet) cgResult {
	e.t.Helper()
	return e.hb(cgHeartbeat{group: group, memberID: id, epoch: epoch, owned: owned})
}

// tps builds a set from "topic:partition" names.
func (e *groupEnv) tps(names ...string) tpSet {
	out := tpSet{}
	for _, n := range names {
		var topic string
		var p int32
		i := strings.LastIndexByte(n, ':')
		topic = n[:i]
		fmt.Sscan(n[i+1:], &p)
		id, _, ok := e.h.TopicIDOf(topic)
		if !ok {
			e.t.Fatalf("no topic %s", topic)
		}
		out[tidp{id, p}] = struct{}{}
	}
	return out
}

// names renders a set as sorted "topic:partition" names.
func (e *groupEnv) names(s tpSet) []string {
	var out []string
	for p := range s {
		name, _, _ := e.h.TopicNameOf(p.id)
		out = append(out, fmt.Sprintf("%s:%d", name, p.p))
	}
	sort.Strings(out)
	return out
}

// cgInspect runs fn on a locked consumer group.
func (e *groupEnv) cgInspect(id string, fn func(cg *consumerGroup)) {
	e.t.Helper()
	if !e.inspect(id, func(g *group) {
		if g.consumer == nil {
			e.t.Fatalf("group %s is not a consumer group", id)
		}
		fn(g.consumer)
	}) {
		e.t.Fatalf("group %s unknown", id)
	}
}

func (e *groupEnv) cgState(id string) string {
	s := ""
	e.cgInspect(id, func(cg *consumerGroup) { s = cg.state() })
	return s
}

func TestConsumerGroupJoinRevokeThenAssign(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		r1 := e.join("g", "m1", "a")
		if r1.epoch != 1 || len(r1.assignment) != 4 || r1.intervalMs != 5000 || r1.memberID != "m1" {
			t.Fatalf("first join: %+v", r1)
		}
		if s := e.cgState("g"); s != cgStable {
			t.Fatalf("state %s", s)
		}
		all := r1.assignment
		// A second member: the group epoch and target move to 2, but m2
		// gets nothing m1 still holds.
		r2 := e.join("g", "m2", "a")
		if r2.epoch != 2 || len(r2.assignment) != 0 {
			t.Fatalf("second join: epoch %d assignment %v", r2.epoch, e.names(r2.assignment))
		}
		if s := e.cgState("g"); s != cgReconciling {
			t.Fatalf("state %s, want Reconciling", s)
		}
		// m1 is told to give up two partitions, at its epoch.
		h := e.beat("g", "m1", 1, all)
		if h.err != nil || h.epoch != 1 || len(h.assignment) != 2 {
			t.Fatalf("m1 revoking: %+v %v", h, e.names(h.assignment))
		}
		keep := h.assignment
		// m2 still waits: m1 has not reported the revocation.
		if h2 := e.beat("g", "m2", 2, tpSet{}); h2.err != nil || h2.assignment != nil && len(h2.assignment) != 0 {
			t.Fatalf("m2 before the revocation: %+v", h2)
		}
		// m1 no longer owns them: it moves to epoch 2.
		h = e.beat("g", "m1", 1, keep)
		if h.err != nil || h.epoch != 2 {
			t.Fatalf("m1 after revoking: %+v", h)
		}
		h2 := e.beat("g", "m2", 2, tpSet{})
		if h2.err != nil || len(h2.assignment) != 2 {
			t.Fatalf("m2 after the revocation: %+v", h2)
		}
		for p := range h2.assignment {
			if _, dup := keep[p]; dup {
				t.Fatalf("partition %v given to both", e.names(tpSet{p: {}}))
			}
		}
		if s := e.cgState("g"); s != cgStable {
			t.Fatalf("state %s", s)
		}
		e.cgInspect("g", func(cg *consumerGroup) {
			if cg.epoch != 2 || cg.assignEpoch != 2 || len(cg.owners) != 4 {
				t.Fatalf("group epoch %d assignment epoch %d owners %d", cg.epoch, cg.assignEpoch, len(cg.owners))
			}
		})
	})
}
