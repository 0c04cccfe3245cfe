package coordinator

// The share group protocol's heartbeat (Kafka's
// GroupMetadataManager.shareGroupHeartbeat): one request joins, keeps the
// member's session, leaves (member epoch -1), and answers with the
// member's epoch and assignment. Each heartbeat of a member
//
//  1. creates or updates the member; a new subscription, or subscribed
//     topics that changed (created, deleted, repartitioned), or partitions
//     newly initialized bump the group epoch;
//  2. computes a new target assignment when the group epoch is past the
//     assignment epoch, over the initialized partitions;
//  3. gives the member its target (share members revoke nothing);
//  4. asks the share coordinators to initialize subscribed partitions not
//     yet initialized (sgroup_init.go).
//
// Everything is computed into records, appended, then applied; the answer
// waits for them to be committed.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/config"
	"gregor/broker/records"
)

// sgHeartbeat is a ShareGroupHeartbeat as the state machine sees it.
type sgHeartbeat struct {
	group      string
	memberID   string
	epoch      int32
	rackID     *string
	topics     []string // nil: unchanged
	clientID   string
	clientHost string
	version    int16
}

// sgResult is a ShareGroupHeartbeat's answer.
type sgResult struct {
	err        *kerr.Error
	msg        string
	memberID   string
	epoch      int32
	intervalMs int32
	assignment tpSet // nil: not sent
	// initializing is closed when the share partitions this heartbeat
	// asked to initialize are (internal).
	initializing <-chan struct{}
}

func sgFail(err *kerr.Error, msg string) sgResult { return sgResult{err: err, msg: msg} }

// validateShareHeartbeat checks a request as Kafka's
// throwIfShareGroupHeartbeatRequestIsInvalid does.
func validateShareHeartbeat(r *sgHeartbeat) *sgResult {
	invalid := func(msg string) *sgResult { res := sgFail(kerr.InvalidRequest, msg); return &res }
	switch {
	case r.version >= 1 && strings.TrimSpace(r.memberID) == "":
		return invalid("MemberId can't be empty.")
	case r.version == 0 && r.epoch != 0 && strings.TrimSpace(r.memberID) == "":
		return invalid("MemberId can't be empty.")
	case strings.TrimSpace(r.group) == "":
		return invalid("GroupId can't be empty.")
	case r.rackID != nil && strings.TrimSpace(*r.rackID) == "":
		return invalid("RackId can't be empty.")
	case r.epoch == 0 && len(r.topics) == 0:
		return invalid("SubscribedTopicNames must be set in first request.")
	case r.epoch < leaveEpoch:
		return invalid("MemberEpoch is invalid.")
	}
	return nil
}

// shareHeartbeat runs a ShareGroupHeartbeat and waits for its records to
// be committed. A joining member whose subscription needs share partitions
// initialized waits for that too (at most the write timeout), so that its
// answer carries its assignment.
func (c *groupCoordinator) shareHeartbeat(ctx context.Context, r *sgHeartbeat) sgResult {
	if bad := validateShareHeartbeat(r); bad != nil {
		return *bad
	}
	if r.memberID == "" { // v0: the coordinator names the member
		r.memberID = newMemberUUID()
	}
	res := c.shareHeartbeatOnce(ctx, r)
	if res.err != nil || res.initializing == nil || r.epoch != 0 {
		return res
	}
	t := time.NewTimer(c.shareWriteTimeout())
	defer t.Stop()
	select {
	case <-res.initializing:
	case <-t.C:
		return res
	case <-ctx.Done():
		return res
	}
	again := *r
	again.epoch, again.topics = res.epoch, nil
	next := c.shareHeartbeatOnce(ctx, &again)
	if next.err != nil {
		return res
	}
	if next.assignment == nil {
		next.assignment = res.assignment
	}
	return next
}

// shareHeartbeatOnce is one pass of the heartbeat.
func (c *groupCoordinator) shareHeartbeatOnce(ctx context.Context, r *sgHeartbeat) sgResult {
	g, err := c.lockGroup(r.group, r.epoch == 0)
	if err != nil {
		return sgFail(c.kerrOf(err), "")
	}
	if g == nil {
		return sgFail(kerr.GroupIDNotFound, "Share group "+r.group+" not found.")
	}
	if kerrv, msg := c.shareGroupFor(g, r.epoch == 0); kerrv != nil {
		g.mu.Unlock()
		return sgFail(kerrv, msg)
	}
	var res sgResult
	var w pendingWrite
	var init *shareInit
	if r.epoch == leaveEpoch {
		res, w = c.shareLeave(g, r)
	} else {
		res, w, init = c.shareJoinOrBeat(g, r)
	}
	g.mu.Unlock()
	if res.err != nil {
		return res
	}
	if err := w.await(ctx); err != nil {
		return sgFail(cgWriteError(c.kerrOf(err)), "")
	}
	if init != nil {
		res.initializing = c.startShareInit(g, init)
	}
	return res
}

// shareGroupFor makes a locked group a share group when it is new (create)
// and checks that it is one.
func (c *groupCoordinator) shareGroupFor(g *group, create bool) (*kerr.Error, string) {
	switch {
	case g.share != nil:
		return nil, ""
	case g.state == groupDead:
		return kerr.CoordinatorNotAvailable, ""
	case g.consumer != nil || g.classicActive() || g.stored || len(g.offsets) > 0 || len(g.pendingTxn) > 0:
		return kerr.GroupIDNotFound, "Group " + g.id + " is not a share group."
	case !create:
		return kerr.GroupIDNotFound, "Share group " + g.id + " not found."
	}
	g.share = newShareGroup()
	return nil, ""
}

// sgTxn accumulates the records of one operation on a share group.
type sgTxn struct {
	g    *group
	sg   *shareGroup
	recs []sgRec
}

func (t *sgTxn) add(r ...sgRec) { t.recs = append(t.recs, r...) }

// commitSG appends an operation's records and applies them to the group
// once the leader has them; it returns what the answer waits for (these
// records, or the group's last write).
func (c *groupCoordinator) commitSG(t *sgTxn) (pendingWrite, error) {
	g := t.g
	if len(t.recs) == 0 {
		return pendingWrite{w: g.lastWrite}, nil
	}
	recs := make([]records.Record, 0, len(t.recs))
	for _, r := range t.recs {
		recs = append(recs, r.encode(g.id))
	}
	w, err := c.appendRecords(g, recs, -1, -1)
	if err != nil {
		return pendingWrite{}, err
	}
	sg := g.share
	for _, r := range t.recs {
		r.apply(&sg)
	}
	g.share = sg
	ref := &writeRef{w: w, timeout: c.commitTimeout()}
	g.lastWrite = ref
	return pendingWrite{w: ref}, nil
}

// shareLeave removes a member that leaves (epoch -1).
func (c *groupCoordinator) shareLeave(g *group, r *sgHeartbeat) (sgResult, pendingWrite) {
	m := g.share.members[r.memberID]
	if m == nil {
		return sgFail(kerr.UnknownMemberID, "Member "+r.memberID+" is not a member of share group "+g.id+"."), pendingWrite{}
	}
	c.log.Info().Str("group", g.id).Str("member", m.id).Msg("member left the share group")
	w, err := c.fenceShareMember(g, m)
	if err != nil {
		return sgFail(cgWriteError(c.kerrOf(err)), ""), pendingWrite{}
	}
	return sgResult{memberID: r.memberID, epoch: leaveEpoch}, w
}

// fenceShareMember removes a member from a locked share group and bumps
// the group epoch, so that the others get its partitions.
func (c *groupCoordinator) fenceShareMember(g *group, m *sgMember) (pendingWrite, error) {
	sg := g.share
	t := &sgTxn{g: g, sg: sg}
	t.add(sgRecCurrent{member: m.id}, sgRecTarget{member: m.id}, sgRecMember{id: m.id})
	meta := c.metaOf(sg.subscribedNames(m.id, nil, false))
	t.add(sgRecEpoch{epoch: sg.epoch + 1, hash: metadataHash(meta)})
	m.session.stop()
	return c.commitSG(t)
}

// shareJoinOrBeat is a heartbeat with member epoch 0 or above, for a
// locked share group.
func (c *groupCoordinator) shareJoinOrBeat(g *group, r *sgHeartbeat) (sgResult, pendingWrite, *shareInit) {
	sg := g.share
	m := sg.members[r.memberID]
	if max := c.cfg.ShareMaxGroupSize; max > 0 && m == nil && int32(len(sg.members)) >= max {
		return sgFail(kerr.GroupMaxSizeReached, fmt.Sprintf("The share group has reached its maximum capacity of %d members.", max)), pendingWrite{}, nil
	}
	switch {
	case m == nil && r.epoch != 0:
		return sgFail(kerr.UnknownMemberID, "Member "+r.memberID+" is not a member of share group "+g.id+"."), pendingWrite{}, nil
	case m != nil && r.epoch != 0 && r.epoch > m.epoch:
		return sgFail(kerr.FencedMemberEpoch, fmt.Sprintf("The share group member has a greater member epoch (%d) than the one known by the group coordinator (%d).", r.epoch, m.epoch)), pendingWrite{}, nil
	case m != nil && r.epoch != 0 && r.epoch < m.epoch && r.epoch != m.prevEpoch:
		return sgFail(kerr.FencedMemberEpoch, fmt.Sprintf("The share group member has a smaller member epoch (%d) than the one known by the group coordinator (%d).", r.epoch, m.epoch)), pendingWrite{}, nil
	}
	t := &sgTxn{g: g, sg: sg}
	prev := &sgMember{id: r.memberID, assigned: tpSet{}}
	if m != nil {
		prev = m
	}
	upd := &sgMember{id: r.memberID, rackID: prev.rackID, clientID: r.clientID, clientHost: r.clientHost, topics: prev.topics}
	if r.rackID != nil {
		upd.rackID = r.rackID
	}
	if r.topics != nil {
		upd.topics = slices.Compact(slices.Sorted(slices.Values(r.topics)))
	}
	bump := false
	if m == nil || !eqStrPtr(prev.rackID, upd.rackID) || prev.clientID != upd.clientID || prev.clientHost != upd.clientHost || !slices.Equal(prev.topics, upd.topics) {
		t.add(sgRecMember{id: upd.id, m: upd})
		bump = m == nil || !slices.Equal(prev.topics, upd.topics)
	}
	meta := c.metaOf(sg.subscribedNames(upd.id, upd.topics, true))
	hash := metadataHash(meta)
	if hash != sg.metaHash || c.initializedUnassigned(sg, meta) {
		bump = true
	}
	epoch := sg.epoch
	if bump {
		epoch++
		t.add(sgRecEpoch{epoch: epoch, hash: hash})
		c.log.Info().Str("group", g.id).Int32("group_epoch", epoch).Str("member", upd.id).Msg("bumped share group epoch")
	}
	targetEpoch, target := sg.assignEpoch, sg.target[upd.id]
	if epoch > sg.assignEpoch {
		all := c.planShareTarget(t, epoch, meta, upd)
		targetEpoch, target = epoch, all[upd.id]
	}
	if target == nil {
		target = tpSet{}
	}
	next := prev.epoch
	// Decided before the commit, which updates prev in place.
	changed := !prev.assigned.equal(target)
	if m == nil || prev.epoch != targetEpoch || changed {
		next = targetEpoch
		t.add(sgRecCurrent{member: upd.id, epoch: targetEpoch, prevEpoch: prev.epoch, assigned: target.clone()})
	}
	init := c.planShareInit(t, epoch, meta)
	w, err := c.commitSG(t)
	if err != nil {
		return sgFail(cgWriteError(c.kerrOf(err)), ""), pendingWrite{}, nil
	}
	if nm := g.share.members[upd.id]; nm != nil {
		c.armShareSession(g, nm)
	}
	res := sgResult{memberID: upd.id, epoch: next, intervalMs: int32(c.shareHeartbeatInterval(g.id) / time.Millisecond)}
	if r.epoch == 0 || r.topics != nil || changed {
		res.assignment = target.clone()
	}
	return res, w, init
}

// initializedUnassigned reports whether partitions of subscribed topics
// are initialized but not in the target assignment (Kafka's
// initializedAssignmentPending): a new assignment is due.
func (c *groupCoordinator) initializedUnassigned(sg *shareGroup, meta map[string]topicMeta) bool {
	assigned := tpSet{}
	for _, t := range sg.target {
		for p := range t {
			assigned[p] = struct{}{}
		}
	}
	for _, tm := range meta {
		it := sg.initialized[tm.id]
		if it == nil {
			continue
		}
		for p := range it.parts {
			if _, ok := assigned[tidp{tm.id, p}]; !ok && p < tm.partitions {
				return true
			}
		}
	}
	return false
}

// planShareTarget computes the target assignment for epoch with one member
// updated, over the initialized partitions of the subscribed topics, and
// adds the records of the targets that changed and of the assignment
// epoch.
func (c *groupCoordinator) planShareTarget(t *sgTxn, epoch int32, meta map[string]topicMeta, upd *sgMember) map[string]tpSet {
	sg := t.sg
	partitions := make(map[topicID][]int32)
	byName := make(map[string]topicID, len(meta))
	for n, tm := range meta {
		byName[n] = tm.id
		it := sg.initialized[tm.id]
		if it == nil {
			continue
		}
		for p := range it.parts {
			if p < tm.partitions {
				partitions[tm.id] = append(partitions[tm.id], p)
			}
		}
	}
	spec := func(id string, topics []string) shareAssignMember {
		am := shareAssignMember{id: id, topics: make(map[topicID]bool), current: sg.target[id]}
		for _, n := range topics {
			if tid, ok := byName[n]; ok {
				am.topics[tid] = true
			}
		}
		return am
	}
	var members []shareAssignMember
	for id, m := range sg.members {
		if id != upd.id {
			members = append(members, spec(id, m.topics))
		}
	}
	members = append(members, spec(upd.id, upd.topics))
	out := simpleAssign(members, partitions)
	for _, am := range members {
		nt := out[am.id]
		if old, ok := sg.target[am.id]; !ok || !old.equal(nt) {
			t.add(sgRecTarget{member: am.id, parts: nt.clone()})
		}
	}
	t.add(sgRecTargetEpoch{epoch: epoch})
	c.log.Debug().Str("group", t.g.id).Int32("assignment_epoch", epoch).Int("members", len(members)).Msg("computed a new share group assignment")
	return out
}

// armShareSession (re)starts a member's session: when it runs out, the
// member is fenced.
func (c *groupCoordinator) armShareSession(g *group, m *sgMember) {
	id := m.id
	m.session.arm(c.shareSessionTimeout(g.id), func(seq uint64) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if !m.session.current(seq) || g.share == nil || g.share.members[id] != m {
			return
		}
		m.session.t = nil
		c.log.Info().Str("group", g.id).Str("member", id).Msg("fencing share group member: its session expired")
		if _, err := c.fenceShareMember(g, m); err != nil {
			c.log.Warn().Err(err).Str("group", g.id).Str("member", id).Msg("fencing share group member")
		}
	})
}

// stopShareTimers stops every member timer of a share group.
func stopShareTimers(sg *shareGroup) {
	if sg == nil {
		return
	}
	for _, m := range sg.members {
		m.session.stop()
	}
}

// groupConfigMs is a group config in milliseconds, or def when the group
// does not set it (or sets it badly).
func (c *groupCoordinator) groupConfigMs(group, key string, def time.Duration) time.Duration {
	v, ok := c.host.GroupConfig(group)[key]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 {
		return def
	}
	return time.Duration(n) * time.Millisecond
}

// shareSessionTimeout is a share group's session timeout: the group's
// share.session.timeout.ms, else group.share.session.timeout.ms.
func (c *groupCoordinator) shareSessionTimeout(group string) time.Duration {
	def := c.cfg.ShareSessionTimeout
	if def <= 0 {
		def = 45 * time.Second
	}
	return c.groupConfigMs(group, config.GroupShareSessionTimeout, def)
}

// shareHeartbeatInterval is a share group's heartbeat interval: the
// group's share.heartbeat.interval.ms, else
// group.share.heartbeat.interval.ms.
func (c *groupCoordinator) shareHeartbeatInterval(group string) time.Duration {
	def := c.cfg.ShareHeartbeatInterval
	if def <= 0 {
		def = 5 * time.Second
	}
	return c.groupConfigMs(group, config.GroupShareHeartbeatInterval, def)
}

// shareWriteTimeout bounds how long a request waits for the share
// coordinators.
func (c *groupCoordinator) shareWriteTimeout() time.Duration {
	if c.cfg.ShareWriteTimeout > 0 {
		return c.cfg.ShareWriteTimeout
	}
	return 5 * time.Second
}
