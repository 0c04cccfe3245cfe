package coordinator

// Members leaving consumer groups: on request (member epoch -1, or -2 for
// a static member that will come back), or fenced when their session
// expires or they do not revoke partitions within their rebalance
// timeout. Kafka's consumerGroupLeave and consumerGroupFenceMember.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/config"
)

// consumerLeave is a heartbeat with member epoch -1 or -2, for a locked
// group.
func (c *groupCoordinator) consumerLeave(g *group, r *cgHeartbeat) (cgResult, pendingWrite) {
	cg := g.consumer
	if cg == nil {
		return cgFail(kerr.GroupIDNotFound, "Group "+g.id+" is not a consumer group."), pendingWrite{}
	}
	var m *cgMember
	if r.instanceID == nil {
		if m = cg.members[r.memberID]; m == nil {
			return cgFail(kerr.UnknownMemberID, unknownMemberMsg(r.memberID, g.id)), pendingWrite{}
		}
	} else {
		m = cg.staticMember(r.instanceID)
		switch {
		case m == nil:
			return cgFail(kerr.UnknownMemberID, unknownInstanceMsg(*r.instanceID)), pendingWrite{}
		case m.sub.id != r.memberID:
			return cgFail(kerr.FencedInstanceID, fencedInstanceMsg(r.memberID, *r.instanceID, m.sub.id)), pendingWrite{}
		}
	}
	res := cgResult{memberID: m.sub.id, epoch: r.epoch}
	if r.epoch == staticLeaveEpoch {
		c.log.Info().Str("group", g.id).Str("member", m.sub.id).Str("instance_id", *r.instanceID).Msg("static member left the consumer group for now")
		cur := m.cur
		cur.epoch, cur.revoking = staticLeaveEpoch, tpSet{}
		t := &cgTxn{g: g, cg: cg}
		t.add(recCurrent{member: m.sub.id, cur: &cur})
		w, err := c.commitCG(t)
		if err != nil {
			return cgFail(cgWriteError(c.kerrOf(err)), ""), pendingWrite{}
		}
		m.rebalance.stop()
		return res, w
	}
	c.log.Info().Str("group", g.id).Str("member", m.sub.id).Msg("member left the consumer group")
	w, err := c.fenceMember(g, m)
	if err != nil {
		return cgFail(cgWriteError(c.kerrOf(err)), ""), pendingWrite{}
	}
	return res, w
}

// fenceMember removes a member from a locked consumer group.
func (c *groupCoordinator) fenceMember(g *group, m *cgMember) (pendingWrite, error) {
	return c.fenceMembers(g, []string{m.sub.id})
}

// fenceMembers removes members from a locked consumer group, as Kafka's
// consumerGroupFenceMembers: the group epoch is bumped so the others
// rebalance, or, when only classic members remain and the policy allows
// it, the group becomes a classic group again (cgroup_classic.go).
func (c *groupCoordinator) fenceMembers(g *group, ids []string) (pendingWrite, error) {
	cg := g.consumer
	if c.canDowngrade(cg, ids) {
		return c.downgradeToClassic(g, ids)
	}
	t := &cgTxn{g: g, cg: cg}
	c.planRemove(t, ids...)
	return c.commitCG(t)
}

// planRemove adds the records removing members: their tombstones, the
// regexes only they subscribed to, the subscription metadata without
// them and the bumped group epoch. When no member is left, the
// assignment epoch follows the group epoch: an empty group has nothing
// to assign (Kafka 4.3's consumerGroupFenceMembers, KAFKA-20442).
func (c *groupCoordinator) planRemove(t *cgTxn, ids ...string) {
	cg := t.cg
	gone := make(map[string]bool, len(ids))
	for _, id := range ids {
		t.add(removeMemberRecs(id)...)
		if cg.members[id] != nil {
			gone[id] = true
		}
	}
	regexes := c.planRegexesWithout(t, gone)
	names := make(map[string]bool)
	for id, m := range cg.members {
		if gone[id] {
			continue
		}
		for _, n := range m.sub.topics {
			names[n] = true
		}
		if rr := regexes[m.sub.regex]; m.sub.regex != "" && rr != nil {
			for _, n := range rr.topics {
				names[n] = true
			}
		}
	}
	if meta := c.metaOf(names); !sameMeta(meta, cg.subMeta) {
		t.add(recPartMeta{topics: sortedMeta(meta)})
	}
	epoch := cg.epoch + 1
	t.add(recGroupEpoch{epoch: epoch})
	if len(gone) == len(cg.members) {
		t.add(recTargetEpoch{epoch: epoch})
	}
}

// planRegexesWithout is the group's regexes once the members gone have
// left, adding the tombstones of those nobody else subscribes to.
func (c *groupCoordinator) planRegexesWithout(t *cgTxn, gone map[string]bool) map[string]*resolvedRegex {
	cg := t.cg
	counts := make(map[string]int)
	for mid, m := range cg.members {
		if !gone[mid] && m.sub.regex != "" {
			counts[m.sub.regex]++
		}
	}
	out := make(map[string]*resolvedRegex)
	for re, rr := range cg.regexes {
		if counts[re] > 0 {
			out[re] = rr
		} else {
			t.add(recRegex{regex: re})
		}
	}
	return out
}

// memberSessionTimeout is a member's session timeout: its own for a
// classic member, the group's otherwise (the group config
// consumer.session.timeout.ms, else the broker's
// group.consumer.session.timeout.ms, as Kafka 4 takes it).
func (c *groupCoordinator) memberSessionTimeout(g *group, m *cgMember) time.Duration {
	if m.usesClassic() && m.sub.classic.sessionTimeoutMs > 0 {
		return millis(m.sub.classic.sessionTimeoutMs)
	}
	return c.consumerSessionTimeout(g.id)
}

// consumerSessionTimeout is a consumer group's session timeout.
func (c *groupCoordinator) consumerSessionTimeout(group string) time.Duration {
	return c.groupConfigMs(group, config.GroupConsumerSession, c.cfg.ConsumerSessionTimeout)
}

// consumerHeartbeatInterval is the heartbeat interval a consumer group's
// members are told (consumer.heartbeat.interval.ms, else the broker's).
func (c *groupCoordinator) consumerHeartbeatInterval(group string) time.Duration {
	return c.groupConfigMs(group, config.GroupConsumerHeartbeat, c.cfg.ConsumerHeartbeatInterval)
}

// afterMemberChange restarts a member's session and starts or stops its
// rebalance timeout as its reconciliation state changed from prev: as
// Kafka's maybeReconcile, a member that must revoke gets a full rebalance
// timeout whenever its assignment changes (more to revoke included).
func (c *groupCoordinator) afterMemberChange(g *group, m *cgMember, prev memberAssign) {
	c.armSession(g, m)
	if m.usesClassic() {
		return
	}
	switch {
	case m.cur.state == memberUnrevoked && (!m.cur.equal(&prev) || m.rebalance.t == nil):
		c.armRebalance(g, m)
	case m.cur.state != memberUnrevoked:
		m.rebalance.stop()
	}
}

// armSession (re)starts a member's session.
func (c *groupCoordinator) armSession(g *group, m *cgMember) {
	id := m.sub.id
	m.session.arm(c.memberSessionTimeout(g, m), func(seq uint64) {
		c.memberTimerFired(g, id, m, &m.session, seq, "its session expired", nil)
	})
}

// armRebalance gives a member its rebalance timeout to revoke what it
// must: if it is still at this epoch then, it is fenced.
func (c *groupCoordinator) armRebalance(g *group, m *cgMember) {
	id, epoch := m.sub.id, m.cur.epoch
	d := millis(m.sub.rebalanceTimeoutMs)
	if d <= 0 {
		d = c.consumerSessionTimeout(g.id)
	}
	m.rebalance.arm(d, func(seq uint64) {
		c.memberTimerFired(g, id, m, &m.rebalance, seq, "it did not revoke its partitions within its rebalance timeout",
			func() bool { return m.cur.epoch == epoch })
	})
}

// memberTimerFired fences a member whose timer ran out, unless the timer
// was re-armed, the member is gone, or still reports false.
func (c *groupCoordinator) memberTimerFired(g *group, id string, m *cgMember, mt *memberTimer, seq uint64, why string, still func() bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !mt.current(seq) || g.consumer == nil || g.consumer.members[id] != m || still != nil && !still() {
		return
	}
	mt.t = nil
	c.log.Info().Str("group", g.id).Str("member", id).Str("reason", why).Msg("fencing consumer group member")
	if _, err := c.fenceMember(g, m); err != nil {
		c.log.Warn().Err(err).Str("group", g.id).Str("member", id).Msg("fencing consumer group member")
	}
}

// startMemberTimers arms the timers of a loaded consumer group's members:
// a full session each, and the rebalance timeout of those revoking.
func (c *groupCoordinator) startMemberTimers(g *group) {
	for _, m := range g.consumer.members {
		c.armSession(g, m)
		if !m.usesClassic() && m.cur.state == memberUnrevoked {
			c.armRebalance(g, m)
		}
	}
}

// stopConsumerTimers stops every member timer of a group.
func stopConsumerTimers(cg *consumerGroup) {
	if cg == nil {
		return
	}
	for _, m := range cg.members {
		stopMemberTimers(m)
	}
}

// dropClassicState forgets a locked group's classic state when it
// becomes a consumer group.
func (c *groupCoordinator) dropClassicState(g *group) {
	for _, m := range g.members {
		if m.timer != nil {
			m.timer.Stop()
		}
	}
	for _, t := range g.pending {
		t.Stop()
	}
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	g.members = make(map[string]*member)
	g.instances = make(map[string]string)
	g.pending = make(map[string]*time.Timer)
	clear(g.pendingSync)
	g.leader, g.protocol, g.protocolType = "", "", ""
	g.subscribed = nil
	g.rebalanceSeq++
	g.stored = false
	g.setState(groupEmpty)
}
