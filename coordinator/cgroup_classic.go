package coordinator

// Classic and consumer groups together, as Kafka 4.0 allows:
//
//   - upgrade: a member joining a classic consumer group with
//     ConsumerGroupHeartbeat turns it into a consumer group; its classic
//     members keep their last assignment as their target and rejoin;
//   - classic members in a consumer group: JoinGroup, SyncGroup, Heartbeat
//     and LeaveGroup of members using the classic protocol take part in
//     the consumer group: the broker assigns their partitions, which
//     SyncGroup hands out, and Heartbeat tells them to rejoin
//     (REBALANCE_IN_PROGRESS) while they must reconcile;
//   - downgrade: when the last member using the consumer protocol leaves a
//     group whose other members use the classic protocol, it becomes a
//     classic group again and rebalances.
//
// group.consumer.migration.policy says which conversions happen (upgrade,
// downgrade, bidirectional, disabled). An empty group changes type freely.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
)

func (c *groupCoordinator) upgradeAllowed() bool {
	return c.cfg.MigrationPolicy == "upgrade" || c.cfg.MigrationPolicy == "bidirectional"
}

func (c *groupCoordinator) downgradeAllowed() bool {
	return c.cfg.MigrationPolicy == "downgrade" || c.cfg.MigrationPolicy == "bidirectional"
}

// upgradeToConsumer converts a locked classic group with members into a
// consumer group for a joining consumer-protocol member: the classic
// group's tombstone and the consumer group's records go into t, and t.cg
// is the converted group to plan the join on. A group that cannot be
// converted is GROUP_ID_NOT_FOUND with the reason as its message, as
// Kafka's validateOnlineUpgrade and convertToConsumerGroup answer.
func (c *groupCoordinator) upgradeToConsumer(g *group, t *cgTxn) (*kerr.Error, string) {
	refuse := func(why string) (*kerr.Error, string) {
		c.log.Info().Str("group", g.id).Str("reason", why).Msg("not upgrading the classic group to a consumer group")
		return kerr.GroupIDNotFound, "Cannot upgrade classic group " + g.id + " to consumer group because " + why + "."
	}
	switch {
	case !c.upgradeAllowed():
		return refuse("online upgrade is disabled")
	case g.protocolType != consumerProtocolType:
		return refuse("the group does not use the consumer embedded protocol")
	case c.cfg.ConsumerMaxGroupSize > 0 && int32(len(g.members)) > c.cfg.ConsumerMaxGroupSize:
		return refuse("the group size exceeds the consumer group maximum size")
	}
	// Kafka's order: subscriptions, group epoch, targets, assignment
	// epoch, current assignments. Every member keeps its assignment, at
	// the generation.
	var subs, targets, currents []cgRec
	for _, m := range g.sortedMembers() {
		sub, assigned, err := c.classicToConsumerMember(g, m)
		switch {
		case errors.Is(err, errAssignmentUserData):
			c.log.Warn().Err(err).Str("group", g.id).Str("member", m.id).Msg("not upgrading the classic group")
			return kerr.GroupIDNotFound, "Cannot upgrade classic group " + g.id + " to consumer group because an unsupported custom assignor is in use. " +
				"Please refer to the documentation or switch to a default assignor before re-attempting the upgrade."
		case err != nil:
			c.log.Warn().Err(err).Str("group", g.id).Str("member", m.id).Msg("not upgrading the classic group: malformed consumer protocol")
			return kerr.GroupIDNotFound, "Cannot upgrade classic group " + g.id + " to consumer group because the embedded consumer protocol is malformed."
		}
		subs = append(subs, recMember{id: m.id, sub: sub})
		targets = append(targets, recTarget{member: m.id, parts: assigned})
		currents = append(currents, recCurrent{member: m.id,
			cur: &memberAssign{epoch: g.generation, prevEpoch: g.generation, state: memberStable, assigned: assigned.clone(), revoking: tpSet{}}})
	}
	t.add(subs...)
	t.add(recGroupEpoch{epoch: g.generation})
	t.add(targets...)
	t.add(recTargetEpoch{epoch: g.generation})
	t.add(currents...)
	var cg *consumerGroup
	for _, r := range t.recs {
		r.apply(&cg)
	}
	t.cg = cg
	if g.stored {
		t.pre = append(t.pre, records.Record{Key: encodeGroupKey(g.id)})
	}
	c.failClassicWaiters(g, kerr.RebalanceInProgress)
	t.classicDropped, t.upgraded = true, true
	c.log.Info().Str("group", g.id).Int32("generation", g.generation).Int("members", len(g.members)).
		Msg("upgrading the classic group to a consumer group")
	return nil, ""
}

// errAssignmentUserData is a classic member's assignment carrying user
// data, which only a custom assignor writes and a consumer group would
// lose: Kafka's ConsumerGroup.fromClassicGroup refuses to convert it
// (KAFKA-18134).
var errAssignmentUserData = errors.New("userData from a custom assignor would be lost")

// failClassicWaiters answers every JoinGroup and SyncGroup waiting in a
// locked classic group.
func (c *groupCoordinator) failClassicWaiters(g *group, err *kerr.Error) {
	for _, m := range g.members {
		if m.joinCh != nil {
			m.joinCh <- joinResult{err: err, memberID: m.id}
			m.joinCh = nil
		}
		if m.syncCh != nil {
			m.syncCh <- syncResult{err: err}
			m.syncCh = nil
		}
	}
}

// classicToConsumerMember is a classic member as a consumer group member:
// its subscription from its protocol metadata, its assignment.
func (c *groupCoordinator) classicToConsumerMember(g *group, m *member) (*memberSub, tpSet, error) {
	md := m.metadataFor(g.protocol)
	if md == nil && len(m.protocols) > 0 {
		md = m.protocols[0].metadata
	}
	cm := kmsg.NewConsumerMemberMetadata()
	if err := cm.ReadFrom(md); err != nil {
		return nil, nil, fmt.Errorf("subscription of %s: %w", m.id, err)
	}
	assigned := tpSet{}
	if len(m.assignment) > 0 {
		ca := kmsg.NewConsumerMemberAssignment()
		if err := ca.ReadFrom(m.assignment); err != nil {
			return nil, nil, fmt.Errorf("assignment of %s: %w", m.id, err)
		}
		if len(ca.UserData) > 0 {
			return nil, nil, fmt.Errorf("assignment of %s: %w", m.id, errAssignmentUserData)
		}
		for _, t := range ca.Topics {
			if id, _, ok := c.host.TopicIDOf(t.Topic); ok {
				for _, p := range t.Partitions {
					assigned[tidp{id, p}] = struct{}{}
				}
			}
		}
	}
	sub := &memberSub{
		id: m.id, instanceID: m.instanceID, rackID: cm.Rack, clientID: m.clientID, clientHost: m.clientHost,
		topics: sortedUnique(cm.Topics), rebalanceTimeoutMs: int32(m.rebalanceTimeout / time.Millisecond),
		classic: &classicMeta{sessionTimeoutMs: int32(m.sessionTimeout / time.Millisecond), protocols: slices.Clone(m.protocols)},
	}
	return sub, assigned, nil
}

func sortedUnique(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}

// canDowngrade reports whether a consumer group becomes a classic group
// when the members leaving leave, as Kafka's
// validateOnlineDowngradeWithFencedMembers: every other member uses the
// classic protocol, some remain, the policy allows it and they fit in a
// classic group (group.max.size).
func (c *groupCoordinator) canDowngrade(cg *consumerGroup, leaving []string) bool {
	remaining := 0
	for id, m := range cg.members {
		if slices.Contains(leaving, id) {
			continue
		}
		if !m.usesClassic() {
			return false
		}
		remaining++
	}
	if remaining == 0 {
		return false
	}
	if !c.downgradeAllowed() {
		c.log.Info().Int("members", remaining).Msg("not downgrading the consumer group: group.consumer.migration.policy forbids it")
		return false
	}
	return c.cfg.MaxGroupSize <= 0 || int32(remaining) <= c.cfg.MaxGroupSize
}

// downgradeToClassic converts a locked consumer group whose last
// consumer-protocol members leave into a classic group of its classic
// members, which then rebalances.
func (c *groupCoordinator) downgradeToClassic(g *group, leaving []string) (pendingWrite, error) {
	return c.convertToClassic(g, leaving, nil, nil, true)
}

// classicFromSub is a consumer group member using the classic protocol
// as a classic group member.
func classicFromSub(s *memberSub) *member {
	m := &member{
		id: s.id, instanceID: s.instanceID, clientID: s.clientID, clientHost: s.clientHost,
		sessionTimeout: millis(s.classic.sessionTimeoutMs), rebalanceTimeout: millis(s.rebalanceTimeoutMs),
		protocolType: consumerProtocolType, protocols: slices.Clone(s.classic.protocols),
	}
	if m.rebalanceTimeout <= 0 {
		m.rebalanceTimeout = m.sessionTimeout
	}
	return m
}

// convertToClassic converts a locked consumer group into a classic group
// of its members but those leaving, as Kafka's convertToClassicGroup: a
// classic group Stable at the group epoch, each member's target
// assignment as its assignment. joining, if set, is a static member
// using the classic protocol that takes the place of leaving[0], the
// previous member of its instance, and that member's target
// (ClassicGroup.fromConsumerGroup). rebalance starts a rebalance at once.
func (c *groupCoordinator) convertToClassic(g *group, leaving []string, joining *memberSub, joiningTarget tpSet, rebalance bool) (pendingWrite, error) {
	cg := g.consumer
	var ms []*member
	targets := make(map[string]tpSet)
	for _, cm := range cg.sortedMembers() {
		if slices.Contains(leaving, cm.sub.id) {
			continue
		}
		ms = append(ms, classicFromSub(&cm.sub))
		targets[cm.sub.id] = cg.target[cm.sub.id]
	}
	if joining != nil {
		ms = append(ms, classicFromSub(joining))
		targets[joining.id] = joiningTarget
	}
	t := &cgTxn{g: g, cg: cg}
	t.add(c.groupTombstones(cg)...)
	// The classic group, Stable at the group epoch with the targets as
	// assignments, is what the records say; it rebalances at once.
	cl := newGroup(g.id, g.part)
	cl.protocolType, cl.generation = consumerProtocolType, cg.epoch
	for _, m := range ms {
		cl.joinSeq++
		m.joinOrder = cl.joinSeq
		cl.members[m.id] = m
		if m.instanceID != nil {
			cl.instances[*m.instanceID] = m.id
		}
	}
	cl.protocol = cl.selectProtocol()
	cl.leader = ms[0].id
	for _, m := range ms {
		m.assignment = c.classicAssignment(targets[m.id], m.metadataFor(cl.protocol))
	}
	t.pre = nil
	recs := make([]records.Record, 0, len(t.recs)+1)
	for _, r := range t.recs {
		recs = append(recs, r.encode(g.id))
	}
	recs = append(recs, records.Record{Key: encodeGroupKey(g.id), Value: encodeGroupValue(cl)})
	w, err := c.appendRecords(g, recs, -1, -1)
	if err != nil {
		return pendingWrite{}, err
	}
	stopConsumerTimers(cg)
	g.consumer = nil
	g.protocolType, g.protocol, g.generation, g.leader = cl.protocolType, cl.protocol, cl.generation, cl.leader
	g.members, g.instances, g.joinSeq = cl.members, cl.instances, cl.joinSeq
	g.subscribed = g.computeSubscribed()
	g.stored = true
	g.setState(groupStable)
	for _, m := range g.members {
		c.scheduleSession(g, m)
	}
	c.log.Info().Str("group", g.id).Int32("generation", g.generation).Int("members", len(g.members)).
		Msg("downgraded the consumer group to a classic group")
	if rebalance {
		c.prepareRebalance(g, "downgraded from a consumer group")
	}
	ref := &writeRef{w: w, timeout: c.commitTimeout()}
	g.lastWrite = ref
	return pendingWrite{w: ref}, nil
}

// groupTombstones are the records deleting a consumer group, in Kafka's
// order.
func (c *groupCoordinator) groupTombstones(cg *consumerGroup) []cgRec {
	var out []cgRec
	ms := cg.sortedMembers()
	for _, m := range ms {
		out = append(out, recCurrent{member: m.sub.id})
	}
	for _, m := range ms {
		out = append(out, recTarget{member: m.sub.id})
	}
	out = append(out, recTargetEpoch{del: true})
	for _, m := range ms {
		out = append(out, recMember{id: m.sub.id})
	}
	for re := range cg.regexes {
		out = append(out, recRegex{regex: re})
	}
	return append(out, recPartMeta{del: true}, recGroupEpoch{del: true})
}

// classicAssignment serializes partitions as a ConsumerProtocol
// assignment, at the version of the member's subscription.
func (c *groupCoordinator) classicAssignment(s tpSet, metadata []byte) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	if len(metadata) >= 2 {
		a.Version = min(int16(uint16(metadata[0])<<8|uint16(metadata[1])), 3)
	}
	if a.Version < 0 {
		a.Version = 0
	}
	for _, tp := range s.byTopic() {
		name, _, ok := c.host.TopicNameOf(tp.id)
		if !ok {
			continue
		}
		t := kmsg.NewConsumerMemberAssignmentTopic()
		t.Topic, t.Partitions = name, tp.parts
		a.Topics = append(a.Topics, t)
	}
	return a.AppendTo(nil)
}

// classicJoinToConsumer is a JoinGroup to a locked consumer group with
// members.
func (c *groupCoordinator) classicJoinToConsumer(g *group, r joinRequest) (joinResult, pendingWrite) {
	cg := g.consumer
	fail := func(e *kerr.Error) (joinResult, pendingWrite) {
		return joinResult{err: e, memberID: r.memberID}, pendingWrite{}
	}
	unknown := r.memberID == ""
	memberID := r.memberID
	if unknown {
		memberID = newMemberUUID()
	}
	if max := c.cfg.ConsumerMaxGroupSize; max > 0 && int32(len(cg.members)) >= max && cg.members[memberID] == nil {
		return fail(kerr.GroupMaxSizeReached)
	}
	if !cg.supportsClassic(r.protocolType, r.protocols) {
		return fail(kerr.InconsistentGroupProtocol)
	}
	if unknown && r.instanceID == nil && r.requireKnownID {
		return joinResult{err: kerr.MemberIDRequired, memberID: memberID, generation: -1}, pendingWrite{}
	}
	cm := kmsg.NewConsumerMemberMetadata()
	if err := cm.ReadFrom(r.protocols[0].metadata); err != nil {
		return fail(kerr.InconsistentGroupProtocol)
	}
	t := &cgTxn{g: g, cg: cg}
	var m, existing *cgMember
	replaced := ""
	if r.instanceID == nil {
		if m = cg.members[memberID]; m == nil {
			m = newCGMember(memberID)
		}
	} else {
		existing = cg.staticMember(r.instanceID)
		switch {
		case !unknown && existing == nil:
			return fail(kerr.UnknownMemberID)
		case !unknown && existing.sub.id != memberID:
			return fail(kerr.FencedInstanceID)
		case !unknown || existing == nil:
			if m = cg.members[memberID]; m == nil {
				m = newCGMember(memberID)
			}
		default:
			var err *kerr.Error
			if m, replaced, err = c.replaceStaticCG(cg, t, existing, memberID, *r.instanceID); err != nil {
				return fail(err)
			}
		}
	}
	sub := m.sub
	sub.id = memberID
	sub.instanceID = r.instanceID
	if cm.Rack != nil {
		sub.rackID = cm.Rack
	}
	if r.rebalanceTimeout > 0 {
		sub.rebalanceTimeoutMs = int32(r.rebalanceTimeout / time.Millisecond)
	}
	sub.topics = sortedUnique(cm.Topics)
	sub.regex = "" // a classic member subscribes by names only
	sub.clientID, sub.clientHost = r.clientID, r.clientHost
	sub.classic = &classicMeta{sessionTimeoutMs: int32(r.sessionTimeout / time.Millisecond), protocols: slices.Clone(r.protocols)}
	if existing != nil && c.canDowngradeReplacing(cg, existing.sub.id) {
		return c.downgradeReplacing(g, existing, &sub, r)
	}
	owned := tpSet{}
	for _, op := range cm.OwnedPartitions {
		if id, _, ok := c.host.TopicIDOf(op.Topic); ok {
			for _, p := range op.Partitions {
				owned[tidp{id, p}] = struct{}{}
			}
		}
	}
	plan := c.planMember(t, m, sub, owned, replaced)
	if plan.err != nil {
		return fail(plan.err)
	}
	w, err := c.commitCG(t)
	if err != nil {
		return fail(cgWriteError(c.kerrOf(err)))
	}
	nm := g.consumer.members[memberID]
	nm.classicJoin.stop()
	c.armSession(g, nm)
	c.armClassicSync(g, nm)
	return joinResult{memberID: memberID, generation: plan.next.epoch, protocolType: consumerProtocolType, protocol: r.protocols[0].name}, w
}

// canDowngradeReplacing reports whether a static member using the
// classic protocol that joins in place of replaced (its instance's
// member, or itself rejoining) turns the consumer group into a classic
// group, as Kafka's validateOnlineDowngradeWithReplacedMember: every
// other member uses the classic protocol, the migration policy allows
// downgrades, and the group fits group.max.size.
func (c *groupCoordinator) canDowngradeReplacing(cg *consumerGroup, replaced string) bool {
	for id, m := range cg.members {
		if id != replaced && !m.usesClassic() {
			return false
		}
	}
	if !c.downgradeAllowed() {
		c.log.Info().Msg("not downgrading the consumer group: group.consumer.migration.policy forbids it")
		return false
	}
	return c.cfg.MaxGroupSize <= 0 || int32(len(cg.members)) <= c.cfg.MaxGroupSize
}

// downgradeReplacing converts a locked consumer group into a classic group
// in which the joining static member sub takes the place (and target
// assignment) of existing, as Kafka's classicGroupJoinToConsumerGroup
// does when the last member using the consumer protocol is replaced. The
// classic group is Stable, and the member is answered at its generation
// so its SyncGroup gets the assignment; a member whose subscription
// changed is answered at its own epoch and the group rebalances.
func (c *groupCoordinator) downgradeReplacing(g *group, existing *cgMember, sub *memberSub, r joinRequest) (joinResult, pendingWrite) {
	cg := g.consumer
	changed := !slices.Equal(existing.sub.topics, sub.topics) || existing.sub.regex != ""
	generation := cg.epoch
	if changed {
		generation = 0 // the new member's epoch
		if existing.sub.id == sub.id {
			generation = existing.cur.epoch
		}
	}
	c.log.Info().Str("group", g.id).Str("instance_id", *sub.instanceID).Str("member", sub.id).Str("replaced", existing.sub.id).
		Msg("the last consumer-protocol member is replaced by a classic member: downgrading the consumer group")
	w, err := c.convertToClassic(g, []string{existing.sub.id}, sub, cg.target[existing.sub.id], changed)
	if err != nil {
		return joinResult{err: cgWriteError(c.kerrOf(err)), memberID: r.memberID}, pendingWrite{}
	}
	return joinResult{memberID: sub.id, generation: generation, protocolType: consumerProtocolType, protocol: r.protocols[0].name}, w
}

// replaceStaticCG adds the records by which a static member coming back
// under a new id takes the place of the old one.
func (c *groupCoordinator) replaceStaticCG(cg *consumerGroup, t *cgTxn, existing *cgMember, memberID, instanceID string) (*cgMember, string, *kerr.Error) {
	nm := &cgMember{sub: existing.sub, cur: existing.cur}
	nm.sub.id = memberID
	nm.cur.epoch, nm.cur.prevEpoch = 0, 0
	nm.cur.assigned, nm.cur.revoking = existing.cur.assigned.clone(), existing.cur.revoking.clone()
	t.add(removeMemberRecs(existing.sub.id)...)
	sub, cur := nm.sub, nm.cur
	t.add(recMember{id: memberID, sub: &sub}, recTarget{member: memberID, parts: cloneOrEmpty(cg.target[existing.sub.id])},
		recCurrent{member: memberID, cur: &cur})
	c.log.Info().Str("group", t.g.id).Str("instance_id", instanceID).Str("member", memberID).Str("replaced", existing.sub.id).
		Msg("static member rejoined the consumer group")
	return nm, existing.sub.id, nil
}

// classicMember finds the classic member a SyncGroup, Heartbeat or
// LeaveGroup names (validateConsumerGroupMember and
// throwIfMemberDoesNotUseClassicProtocol).
func classicMember(cg *consumerGroup, memberID string, instanceID *string) (*cgMember, *kerr.Error) {
	var m *cgMember
	if instanceID == nil {
		m = cg.members[memberID]
	} else {
		m = cg.staticMember(instanceID)
		if m != nil && m.sub.id != memberID {
			return nil, kerr.FencedInstanceID
		}
	}
	if m == nil || !m.usesClassic() {
		return nil, kerr.UnknownMemberID
	}
	return m, nil
}

// rejoinNeeded reports whether a classic member must rejoin to catch up
// with its group: the group moved on, it must revoke partitions, or
// partitions it waited for were released.
func (cg *consumerGroup) rejoinNeeded(m *cgMember) bool {
	return m.cur.epoch < cg.epoch || m.cur.state == memberUnrevoked ||
		m.cur.state == memberUnreleased && !cg.waitingOnUnreleased(m)
}

// waitingOnUnreleased reports whether some partition of the member's
// target is still held by another member.
func (cg *consumerGroup) waitingOnUnreleased(m *cgMember) bool {
	for p := range cg.target[m.sub.id] {
		if _, mine := m.cur.assigned[p]; !mine && cg.ownerEpoch(p) != -1 {
			return true
		}
	}
	return false
}

// classicSyncToConsumer is a SyncGroup of a classic member of a locked
// consumer group: its assignment, once the group's records are committed.
func (c *groupCoordinator) classicSyncToConsumer(g *group, r syncRequest) (syncResult, pendingWrite) {
	cg := g.consumer
	m, err := classicMember(cg, r.memberID, r.instanceID)
	if err != nil {
		return syncResult{err: err}, pendingWrite{}
	}
	if r.generation != m.cur.epoch {
		return syncResult{err: kerr.IllegalGeneration}, pendingWrite{}
	}
	protocol := m.sub.classic.protocols[0].name
	if r.protocolType != nil && *r.protocolType != consumerProtocolType || r.protocol != nil && *r.protocol != protocol {
		return syncResult{err: kerr.InconsistentGroupProtocol}, pendingWrite{}
	}
	if cg.epoch > m.cur.epoch && m.cur.state != memberUnrevoked {
		c.armClassicJoin(g, m)
		return syncResult{err: kerr.RebalanceInProgress}, pendingWrite{}
	}
	m.classicSync.stop()
	c.armSession(g, m)
	return syncResult{protocolType: consumerProtocolType, protocol: protocol,
		assignment: c.classicAssignment(m.cur.assigned, m.sub.classic.protocols[0].metadata)}, pendingWrite{w: g.lastWrite}
}

// classicHeartbeatToConsumer is a Heartbeat of a classic member of a
// locked consumer group.
func (c *groupCoordinator) classicHeartbeatToConsumer(g *group, memberID string, instanceID *string, generation int32) *kerr.Error {
	cg := g.consumer
	m, err := classicMember(cg, memberID, instanceID)
	if err != nil {
		return err
	}
	if generation != m.cur.epoch {
		return kerr.IllegalGeneration
	}
	c.armSession(g, m)
	if cg.rejoinNeeded(m) {
		c.armClassicJoin(g, m)
		return kerr.RebalanceInProgress
	}
	return nil
}

// leaveFromConsumer removes members of a locked consumer group named by
// a LeaveGroup, as Kafka's classicGroupLeaveToConsumerGroup: members of
// either protocol (the admin client removes consumer-protocol members
// this way, KAFKA-18188), static ones by instance id, each answered on
// its own. The members found are fenced together (fenceMembers): one
// epoch bump, or the downgrade to a classic group when only classic
// members remain (KAFKA-18150). err is a failed write, which Kafka
// answers for the whole request.
func (c *groupCoordinator) leaveFromConsumer(g *group, leaving []leaveMember) (errs []*kerr.Error, w pendingWrite, err error) {
	cg := g.consumer
	errs = make([]*kerr.Error, len(leaving))
	var ids []string
	for i, l := range leaving {
		var m *cgMember
		if l.instanceID == nil {
			m = cg.members[l.memberID]
		} else {
			m = cg.staticMember(l.instanceID)
			if m != nil && l.memberID != "" && m.sub.id != l.memberID {
				errs[i] = kerr.FencedInstanceID
				continue
			}
		}
		if m == nil {
			errs[i] = kerr.UnknownMemberID
			continue
		}
		if !slices.Contains(ids, m.sub.id) {
			ids = append(ids, m.sub.id)
		}
		c.log.Info().Str("group", g.id).Str("member", m.sub.id).Str("reason", l.reason).Msg("member left the consumer group through LeaveGroup")
	}
	if len(ids) == 0 {
		return errs, pendingWrite{}, nil
	}
	w, err = c.fenceMembers(g, ids)
	return errs, w, err
}

// leaveMember is one member of a LeaveGroup.
type leaveMember struct {
	memberID   string
	instanceID *string
	reason     string
}

// armClassicJoin gives a classic member told to rejoin its rebalance
// timeout to do so, unless it already has one running.
func (c *groupCoordinator) armClassicJoin(g *group, m *cgMember) {
	id := m.sub.id
	m.classicJoin.armIfIdle(c.rebalanceTimeoutOf(g, m), func(seq uint64) {
		c.memberTimerFired(g, id, m, &m.classicJoin, seq, "the classic member did not rejoin within its rebalance timeout", nil)
	})
}

// armClassicSync gives a classic member that joined its rebalance timeout
// to send SyncGroup.
func (c *groupCoordinator) armClassicSync(g *group, m *cgMember) {
	id := m.sub.id
	m.classicSync.arm(c.rebalanceTimeoutOf(g, m), func(seq uint64) {
		c.memberTimerFired(g, id, m, &m.classicSync, seq, "the classic member did not sync within its rebalance timeout", nil)
	})
}

func (c *groupCoordinator) rebalanceTimeoutOf(g *group, m *cgMember) time.Duration {
	if m.sub.rebalanceTimeoutMs > 0 {
		return millis(m.sub.rebalanceTimeoutMs)
	}
	return c.memberSessionTimeout(g, m)
}

// emptyConsumerToClassic deletes a locked, empty consumer group so a
// classic member can join it as a classic group; its offsets stay.
func (c *groupCoordinator) emptyConsumerToClassic(g *group) {
	recs := c.groupTombstones(g.consumer)
	enc := make([]records.Record, 0, len(recs))
	for _, r := range recs {
		enc = append(enc, r.encode(g.id))
	}
	if _, err := c.appendRecords(g, enc, -1, -1); err != nil {
		c.log.Warn().Err(err).Str("group", g.id).Msg("deleting the empty consumer group")
	}
	stopConsumerTimers(g.consumer)
	g.consumer = nil
	g.subscribed = nil // a new classic group: not known until its first generation
	g.setState(groupEmpty)
	c.log.Info().Str("group", g.id).Msg("the empty consumer group becomes a classic group")
}

// awaitClassic waits for a classic request's records to be committed.
func awaitClassic(ctx context.Context, w pendingWrite) *kerr.Error {
	if err := w.await(ctx); err != nil {
		var ke *kerr.Error
		if e, ok := err.(*kerr.Error); ok {
			ke = e
		} else {
			ke = kerr.CoordinatorNotAvailable
		}
		return cgWriteError(ke)
	}
	return nil
}
