package coordinator

// The consumer group protocol's heartbeat (Kafka's
// GroupMetadataManager.consumerGroupHeartbeat): one request joins,
// reports what the member owns, leaves, and answers with the member's
// epoch and its assignment. Each heartbeat of a member
//
//  1. creates or updates the member; a new subscription, a regex that
//     resolves to other topics, or subscribed topics that changed
//     (created, deleted, repartitioned) bump the group epoch;
//  2. computes a new target assignment when the group epoch is past the
//     assignment epoch;
//  3. reconciles the member towards its target (cgroup_reconcile.go).
//
// Everything is computed from the current state into records; the
// records are appended and then applied (cgroup_records.go), and the
// answer waits until they are committed.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/records"
	"gregor/coordinator/runtime"
)

// cgHeartbeat is a ConsumerGroupHeartbeat as the state machine sees it.
// Nil fields did not change since the member's last heartbeat.
type cgHeartbeat struct {
	group              string
	memberID           string
	epoch              int32
	instanceID         *string
	rackID             *string
	rebalanceTimeoutMs int32 // -1: unchanged
	topics             []string
	regex              *string
	assignor           *string
	owned              tpSet // nil: not reported
	clientID           string
	clientHost         string
	version            int16
	// describable reports whether the member's principal may describe a
	// topic (nil: every topic).
	describable func(topic string) bool
}

// cgResult is a ConsumerGroupHeartbeat's answer.
type cgResult struct {
	err        *kerr.Error
	msg        string
	memberID   string
	epoch      int32
	intervalMs int32
	assignment tpSet // nil: not sent
}

func cgFail(err *kerr.Error, msg string) cgResult { return cgResult{err: err, msg: msg} }

// validateHeartbeat checks a request as Kafka's
// throwIfConsumerGroupHeartbeatRequestIsInvalid does (Kafka 4.1+: a member
// may join with an empty subscription, which keeps it in the group with
// no topics).
func (c *groupCoordinator) validateHeartbeat(r *cgHeartbeat) *cgResult {
	invalid := func(msg string) *cgResult { res := cgFail(kerr.InvalidRequest, msg); return &res }
	blank := func(s *string) bool { return s != nil && strings.TrimSpace(*s) == "" }
	switch {
	case (r.version >= 1 || r.epoch > 0 || r.epoch == leaveEpoch) && strings.TrimSpace(r.memberID) == "":
		return invalid("MemberId can't be empty.")
	case strings.TrimSpace(r.group) == "":
		return invalid("GroupId can't be empty.")
	case blank(r.instanceID):
		return invalid("InstanceId can't be empty.")
	case blank(r.rackID):
		return invalid("RackId can't be empty.")
	}
	switch {
	case r.epoch == 0:
		if r.rebalanceTimeoutMs == -1 {
			return invalid("RebalanceTimeoutMs must be provided in first request.")
		}
		if r.owned == nil || len(r.owned) > 0 {
			return invalid("TopicPartitions must be empty when (re-)joining.")
		}
		if r.topics == nil && r.regex == nil {
			return invalid("Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.")
		}
	case r.epoch == staticLeaveEpoch:
		if r.instanceID == nil {
			return invalid("InstanceId can't be null.")
		}
	case r.epoch < staticLeaveEpoch:
		return invalid("MemberEpoch is invalid.")
	}
	if r.assignor != nil && !slices.Contains(c.cfg.ConsumerAssignors, *r.assignor) {
		// Listed in the order of Kafka's set of assignor names (a Java
		// HashSet), whatever the configured order.
		names := slices.Clone(c.cfg.ConsumerAssignors)
		slices.SortFunc(names, func(a, b string) int {
			if javaHashBefore(a, b) {
				return -1
			}
			return 1
		})
		res := cgFail(kerr.UnsupportedAssignor, "ServerAssignor "+*r.assignor+" is not supported. Supported assignors: "+
			strings.Join(names, ", ")+".")
		return &res
	}
	return nil
}

// checkNewRegex refuses a regex a member subscribes to anew that does not
// compile. As in Kafka (maybeUpdateRegularExpressions) it is checked once
// the group and member are known, and only when it changes: a group never
// holds a regex that does not compile.
func checkNewRegex(m *cgMember, r *cgHeartbeat) *cgResult {
	if r.regex == nil || *r.regex == "" || m != nil && *r.regex == m.sub.regex {
		return nil
	}
	if _, err := compileTopicRegex(*r.regex); err != nil {
		res := cgFail(kerr.InvalidRegularExpression, "SubscribedTopicRegex `"+*r.regex+"` is not a valid regular expression: "+regexErrorDescription(err)+".")
		return &res
	}
	return nil
}

// regexErrorDescription is what is wrong with a regex, without the
// pattern, as RE2/J's PatternSyntaxException.getDescription gives it to
// Kafka's throwIfRegularExpressionIsInvalid: Go's syntax error codes are
// the same texts ("missing closing )").
func regexErrorDescription(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return string(se.Code)
	}
	return err.Error()
}

// compileTopicRegex compiles a subscription regex, which must match a
// whole topic name (RE2, as Kafka's RE2/J Pattern.matches).
func compileTopicRegex(re string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(re); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + re + `)$`)
}

// newMemberUUID is a member id as Kafka makes them: a random UUID in
// URL-safe base64.
func newMemberUUID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// consumerHeartbeat runs a ConsumerGroupHeartbeat and waits for its
// records to be committed.
func (c *groupCoordinator) consumerHeartbeat(ctx context.Context, r *cgHeartbeat) cgResult {
	if bad := c.validateHeartbeat(r); bad != nil {
		return *bad
	}
	g, err := c.lockGroup(r.group, r.epoch == 0)
	if err != nil {
		return cgFail(c.kerrOf(err), "")
	}
	if g == nil {
		if r.epoch == leaveEpoch || r.epoch == staticLeaveEpoch {
			// consumerGroupLeave looks the group up as GroupMetadataManager.group does.
			return cgFail(kerr.GroupIDNotFound, "Group "+r.group+" not found.")
		}
		return cgFail(kerr.GroupIDNotFound, "Consumer group "+r.group+" not found.")
	}
	var res cgResult
	var w pendingWrite
	if r.epoch == leaveEpoch || r.epoch == staticLeaveEpoch {
		res, w = c.consumerLeave(g, r)
	} else {
		res, w = c.consumerJoinOrBeat(g, r)
	}
	g.mu.Unlock()
	if res.err != nil {
		return res
	}
	if err := w.await(ctx); err != nil {
		return cgFail(cgWriteError(c.kerrOf(err)), "")
	}
	return res
}

// cgWriteError is what a consumer group request answers when its records
// could not be written, as Kafka's coordinator service maps them.
func cgWriteError(e *kerr.Error) *kerr.Error {
	switch e {
	case kerr.RequestTimedOut, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend, kerr.UnknownTopicOrPartition:
		return kerr.CoordinatorNotAvailable
	case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
		return kerr.UnknownServerError
	}
	return e
}

// cgTxn accumulates the records of one operation on a consumer group and
// the state they lead to, without changing the group.
type cgTxn struct {
	g    *group
	cg   *consumerGroup // the group before the operation (nil: new)
	pre  []records.Record
	recs []cgRec
	// classicDropped: the group was a classic group, replaced.
	classicDropped bool
	// upgraded: the classic group's members became consumer group
	// members.
	upgraded bool
	// regexCheckMs, when set, is when the regexes were resolved (soft
	// state set once the records are applied).
	regexCheckMs int64
	// describable, set for a member's heartbeat, reports whether its
	// principal may describe a topic: a regex resolves to those only, as
	// Kafka's refreshRegularExpressions filters them. Without it (an
	// operation of no member's request) the regexes are not refreshed.
	describable func(topic string) bool
}

func (t *cgTxn) add(r ...cgRec) { t.recs = append(t.recs, r...) }

// consumerGroupFor returns the consumer group of a locked group for an
// operation, creating it (create) from nothing or from an empty classic
// group, or converting a classic group with members (cgroup_classic.go).
// A refusal comes with its message.
func (c *groupCoordinator) consumerGroupFor(g *group, t *cgTxn, create bool) (*kerr.Error, string) {
	notConsumer := "Group " + g.id + " is not a consumer group."
	if g.consumer != nil {
		t.cg = g.consumer
		return nil, ""
	}
	if g.share != nil {
		return kerr.GroupIDNotFound, notConsumer
	}
	if g.state == groupDead {
		return kerr.CoordinatorNotAvailable, ""
	}
	if !create {
		return kerr.GroupIDNotFound, notConsumer
	}
	if g.classicActive() {
		return c.upgradeToConsumer(g, t)
	}
	// An empty classic group (or a new one) is replaced; its offsets
	// stay.
	if g.stored {
		t.pre = append(t.pre, records.Record{Key: encodeGroupKey(g.id)})
	}
	t.classicDropped = true
	t.cg = newConsumerGroup()
	return nil, ""
}

// classicActive reports whether a classic group has members or a
// rebalance under way.
func (g *group) classicActive() bool {
	return len(g.members) > 0 || len(g.pending) > 0 || g.state == groupPreparingRebalance || g.state == groupCompletingRebalance
}

// consumerJoinOrBeat is a heartbeat with member epoch 0 or above, for a
// locked group.
func (c *groupCoordinator) consumerJoinOrBeat(g *group, r *cgHeartbeat) (cgResult, pendingWrite) {
	t := &cgTxn{g: g, describable: r.describable}
	if t.describable == nil {
		t.describable = func(string) bool { return true }
	}
	join := r.epoch == 0
	if err, msg := c.consumerGroupFor(g, t, join); err != nil {
		return cgFail(err, msg), pendingWrite{}
	}
	cg := t.cg
	memberID := r.memberID
	if memberID == "" {
		memberID = newMemberUUID()
	}
	if max := c.cfg.ConsumerMaxGroupSize; max > 0 && int32(len(cg.members)) >= max && cg.members[memberID] == nil &&
		(r.instanceID == nil || cg.staticMember(r.instanceID) == nil) {
		return cgFail(kerr.GroupMaxSizeReached, fmt.Sprintf("The consumer group has reached its maximum capacity of %d members.", max)), pendingWrite{}
	}
	m, replaced, bad := c.lookupMember(cg, t, r, memberID, join)
	if bad != nil {
		return *bad, pendingWrite{}
	}
	if bad := checkNewRegex(m, r); bad != nil {
		return *bad, pendingWrite{}
	}
	sub := updatedSub(m, r)
	plan := c.planMember(t, m, sub, r.owned, replaced)
	if plan.err != nil {
		// Only a member in a state this version does not know.
		return cgFail(plan.err, "The consumer group member is in a unknown state. The member must abandon all its partitions and rejoin."), pendingWrite{}
	}
	w, err := c.commitCG(t)
	if err != nil {
		return cgFail(cgWriteError(c.kerrOf(err)), ""), pendingWrite{}
	}
	if t.upgraded {
		for _, om := range g.consumer.members {
			c.armSession(g, om)
		}
	}
	if nm := g.consumer.members[sub.id]; nm != nil {
		c.afterMemberChange(g, nm, plan.prev)
	}
	res := cgResult{memberID: sub.id, epoch: plan.next.epoch, intervalMs: int32(c.consumerHeartbeatInterval(g.id) / time.Millisecond)}
	// A full request (the member's first, or one after an error) sets
	// every field a member must send: its rebalance timeout, its
	// subscription (names or a regex) and what it owns.
	full := join || (r.rebalanceTimeoutMs != -1 && (r.topics != nil || r.regex != nil) && r.owned != nil)
	if full || (plan.reconciled && !plan.next.assigned.equal(plan.prev.assigned)) {
		res.assignment = plan.next.assigned.clone()
	}
	return res, w
}

// lookupMember finds or makes the member a heartbeat is for, checking its
// epoch, and adds the records replacing a static member that comes back
// under a new member id (replaced is the old id). A refusal carries
// Kafka's message.
func (c *groupCoordinator) lookupMember(cg *consumerGroup, t *cgTxn, r *cgHeartbeat, memberID string, join bool) (m *cgMember, replaced string, bad *cgResult) {
	fail := func(e *kerr.Error, msg string) (*cgMember, string, *cgResult) {
		res := cgFail(e, msg)
		return nil, "", &res
	}
	if r.instanceID == nil {
		m = cg.members[memberID]
		if m == nil {
			if !join {
				return fail(kerr.UnknownMemberID, unknownMemberMsg(memberID, t.g.id))
			}
			return newCGMember(memberID), "", nil
		}
		if e, msg := checkMemberEpoch(m, r.epoch, r.owned); e != nil {
			return fail(e, msg)
		}
		return m, "", nil
	}
	existing := cg.staticMember(r.instanceID)
	if !join {
		switch {
		case existing == nil:
			return fail(kerr.UnknownMemberID, unknownInstanceMsg(*r.instanceID))
		case existing.sub.id != memberID:
			return fail(kerr.FencedInstanceID, fencedInstanceMsg(memberID, *r.instanceID, existing.sub.id))
		}
		if e, msg := checkMemberEpoch(existing, r.epoch, r.owned); e != nil {
			return fail(e, msg)
		}
		return existing, "", nil
	}
	switch {
	case existing == nil:
		if m = cg.members[memberID]; m != nil {
			return m, "", nil
		}
		return newCGMember(memberID), "", nil
	case existing.sub.id == memberID:
		return existing, "", nil // the same instance rejoining
	case !existing.usesClassic() && existing.cur.epoch != staticLeaveEpoch:
		return fail(kerr.UnreleasedInstanceID, fmt.Sprintf("Static member %s with instance id %s cannot join the group because the instance id is owned by %s member.",
			memberID, *r.instanceID, existing.sub.id))
	}
	// The static member comes back with a new id: it takes the old
	// member's place, assignment included.
	m, replaced, e := c.replaceStaticCG(cg, t, existing, memberID, *r.instanceID)
	if e != nil {
		return fail(e, "")
	}
	return m, replaced, nil
}

// Kafka's messages for the members a request names wrongly.
func unknownMemberMsg(member, group string) string {
	return fmt.Sprintf("Member %s is not a member of group %s.", member, group)
}

func unknownInstanceMsg(instance string) string { return "Instance id " + instance + " is unknown." }

func fencedInstanceMsg(member, instance, owner string) string {
	return fmt.Sprintf("Static member %s with instance id %s was fenced by member %s.", member, instance, owner)
}

func cloneOrEmpty(s tpSet) tpSet {
	if s == nil {
		return tpSet{}
	}
	return s.clone()
}

func newCGMember(id string) *cgMember {
	return &cgMember{sub: memberSub{id: id, rebalanceTimeoutMs: -1}, cur: memberAssign{state: memberStable, assigned: tpSet{}, revoking: tpSet{}}}
}

// removeMemberRecs are the tombstones of a member, in Kafka's order.
func removeMemberRecs(id string) []cgRec {
	return []cgRec{recCurrent{member: id}, recTarget{member: id}, recMember{id: id}}
}

// checkMemberEpoch is Kafka's throwIfConsumerGroupMemberEpochIsInvalid: a
// member may come back with its previous epoch (its last answer was lost)
// if it owns nothing it should not; epoch 0 rejoins (KAFKA-19233). A
// fenced epoch comes with Kafka's message.
func checkMemberEpoch(m *cgMember, epoch int32, owned tpSet) (*kerr.Error, string) {
	fenced := func(than string) (*kerr.Error, string) {
		return kerr.FencedMemberEpoch, fmt.Sprintf("The consumer group member has a %s member epoch (%d) than the one known by the group coordinator (%d). "+
			"The member must abandon all its partitions and rejoin.", than, epoch, m.cur.epoch)
	}
	switch {
	case epoch == 0:
		return nil, ""
	case epoch > m.cur.epoch:
		return fenced("greater")
	case epoch < m.cur.epoch:
		if epoch != m.cur.prevEpoch || !isSubset(owned, m.cur.assigned) {
			return fenced("smaller")
		}
	}
	return nil, ""
}

func isSubset(owned, of tpSet) bool {
	if owned == nil {
		return false
	}
	for p := range owned {
		if _, ok := of[p]; !ok {
			return false
		}
	}
	return true
}

// updatedSub is the member's subscription with the request's changes.
func updatedSub(m *cgMember, r *cgHeartbeat) memberSub {
	s := m.sub
	if r.instanceID != nil {
		s.instanceID = r.instanceID
	}
	if r.rackID != nil {
		s.rackID = r.rackID
	}
	if r.rebalanceTimeoutMs != -1 {
		s.rebalanceTimeoutMs = r.rebalanceTimeoutMs
	}
	if r.assignor != nil {
		s.assignor = *r.assignor
	}
	if r.topics != nil {
		s.topics = slices.Clone(r.topics)
		slices.Sort(s.topics)
		s.topics = slices.Compact(s.topics)
	}
	if r.regex != nil {
		s.regex = *r.regex
	}
	s.clientID, s.clientHost, s.classic = r.clientID, r.clientHost, nil
	return s
}

// memberPlan is the outcome of planning a member's change.
type memberPlan struct {
	err        *kerr.Error
	prev, next memberAssign
	// reconciled: next was worked out afresh; else it is prev itself.
	reconciled bool
}

// planMember adds the records of one member's change: its subscription,
// the group epoch, the target assignment and its reconciliation. The
// member m (as it is, or a new one, or the copy that replaces the static
// member replaced) becomes sub.
func (c *groupCoordinator) planMember(t *cgTxn, m *cgMember, sub memberSub, owned tpSet, replaced string) memberPlan {
	cg := t.cg
	_, known := cg.members[sub.id]
	fresh := !known && replaced == ""
	bump := false
	if fresh || !m.sub.equal(&sub) {
		sc := sub
		t.add(recMember{id: sub.id, sub: &sc})
		// A new group leaves epoch 0; otherwise only a changed
		// subscription bumps the epoch: a member joining with an empty
		// one (a new member subscribes to nothing) does not, as in
		// Kafka's consumerGroupHeartbeat.
		if cg.epoch == 0 || !slices.Equal(m.sub.topics, sub.topics) || m.sub.regex != sub.regex {
			bump = true
		}
	}
	regexes := c.planRegexes(t, &sub, replaced)
	var meta map[string]topicMeta
	if !fresh && replaced == "" && !bump && len(t.recs) == 0 {
		// Nothing about the subscriptions changed: only the topics may have.
		meta = c.metaOf(cg.cachedNames())
	} else {
		meta = c.subscriptionMeta(cg, regexes, sub.id, &sub, replaced)
	}
	if !sameMeta(meta, cg.subMeta) {
		t.add(recPartMeta{topics: sortedMeta(meta)})
		bump = true
	}
	if regexChanged(regexes, cg.regexes) {
		bump = true
	}
	epoch := cg.epoch
	if bump {
		epoch++
		t.add(recGroupEpoch{epoch: epoch})
		c.log.Info().Str("group", t.g.id).Int32("group_epoch", epoch).Str("member", sub.id).Msg("bumped consumer group epoch")
	}
	targetEpoch, target := cg.assignEpoch, cg.target[sub.id]
	if replaced != "" && target == nil {
		target = cg.target[replaced]
	}
	if epoch > cg.assignEpoch {
		all := c.planTarget(t, epoch, meta, regexes, &sub, replaced)
		targetEpoch, target = epoch, all[sub.id]
	}
	if target == nil {
		target = tpSet{}
	}
	plan := memberPlan{prev: m.cur, next: m.cur}
	changed := known && (!slices.Equal(m.sub.topics, sub.topics) || m.sub.regex != sub.regex)
	if plan.reconciled = !m.cur.reconciledTo(targetEpoch) || changed; plan.reconciled {
		// The subscribed ids are built only here: a steady member's
		// heartbeat needs none of them.
		subs := subscription{topics: subscribedIDs(&sub, regexes, meta), changed: changed}
		next, err := reconcile(m.cur, targetEpoch, target, cg.ownerEpoch, owned, subs)
		if err != nil {
			return memberPlan{err: kerr.FencedMemberEpoch}
		}
		plan.next = next
	}
	// Without a reconcile plan.next is m.cur itself: no need to compare.
	if fresh || (plan.reconciled && !plan.next.equal(&m.cur)) {
		nc := plan.next
		t.add(recCurrent{member: sub.id, cur: &nc})
	}
	return plan
}

// subscribedIDs is the ids of the existing topics sub names or its regex
// matched (meta holds every topic the group subscribes to).
func subscribedIDs(sub *memberSub, regexes map[string]*resolvedRegex, meta map[string]topicMeta) map[topicID]bool {
	out := make(map[topicID]bool)
	add := func(names []string) {
		for _, n := range names {
			if tm, ok := meta[n]; ok {
				out[tm.id] = true
			}
		}
	}
	add(sub.topics)
	if rr := regexes[sub.regex]; sub.regex != "" && rr != nil {
		add(rr.topics)
	}
	return out
}

// planRegexes returns the group's resolved regexes after a member's
// change (sub; nil: removed id), adding records for the ones resolved or
// dropped: a regex new to the group is resolved at once, one nobody
// subscribes to any more is deleted, and every regex is resolved again
// against the current topics once per RegexRefreshInterval.
func (c *groupCoordinator) planRegexes(t *cgTxn, sub *memberSub, replaced string) map[string]*resolvedRegex {
	cg := t.cg
	out := make(map[string]*resolvedRegex, len(cg.regexes))
	for re, rr := range cg.regexes {
		out[re] = rr
	}
	counts := make(map[string]int)
	for mid, mm := range cg.members {
		if mid != sub.idOr() && mid != replaced && mm.sub.regex != "" {
			counts[mm.sub.regex]++
		}
	}
	if sub != nil && sub.regex != "" {
		counts[sub.regex]++
	}
	now := time.Now()
	refresh := t.describable != nil && now.Sub(time.UnixMilli(cg.regexCheckMs)) >= c.regexRefreshInterval()
	var names []string
	for re, n := range counts {
		if n > 0 && (out[re] == nil || refresh) {
			if names == nil {
				names = c.host.TopicNames()
				if t.describable != nil {
					names = slices.DeleteFunc(names, func(n string) bool { return !t.describable(n) })
				}
			}
			rr := resolveRegex(re, names, now)
			if old := out[re]; old == nil || !slices.Equal(old.topics, rr.topics) {
				out[re] = rr
				t.add(recRegex{regex: re, r: rr})
			}
		}
	}
	if refresh && len(counts) > 0 {
		t.regexCheckMs = now.UnixMilli()
	}
	for re := range out {
		if counts[re] <= 0 {
			delete(out, re)
			if cg.regexes[re] != nil {
				t.add(recRegex{regex: re})
			}
		}
	}
	return out
}

func (c *groupCoordinator) regexRefreshInterval() time.Duration {
	if c.cfg.RegexRefreshInterval > 0 {
		return c.cfg.RegexRefreshInterval
	}
	return 10 * time.Second
}

// resolveRegex matches a regex against the topics, internal ones
// included, as Kafka's refreshRegularExpressions matches every topic of
// the metadata (only the DESCRIBE authorization filters them).
func resolveRegex(re string, names []string, now time.Time) *resolvedRegex {
	rr := &resolvedRegex{version: now.UnixMilli(), atMs: now.UnixMilli(), topics: []string{}}
	rx, err := compileTopicRegex(re)
	if err != nil {
		return rr
	}
	for _, n := range names {
		if rx.MatchString(n) {
			rr.topics = append(rr.topics, n)
		}
	}
	sort.Strings(rr.topics)
	return rr
}

func regexChanged(a, b map[string]*resolvedRegex) bool {
	for re, ra := range a {
		if rb := b[re]; rb == nil || !slices.Equal(ra.topics, rb.topics) {
			return true
		}
	}
	return false
}

// subscriptionMeta is the metadata of the topics the group subscribes to
// (members by name and through their regexes), one member replaced by
// sub (nil: removed) and a replaced static member left out.
func (c *groupCoordinator) subscriptionMeta(cg *consumerGroup, regexes map[string]*resolvedRegex, id string, sub *memberSub, replaced string) map[string]topicMeta {
	return c.metaOf(cg.namesWith(regexes, id, sub, replaced))
}

// metaOf looks subscribed topics up in the metadata; those that do not
// exist are left out.
func (c *groupCoordinator) metaOf(names map[string]bool) map[string]topicMeta {
	out := make(map[string]topicMeta, len(names))
	for n := range names {
		if tid, parts, ok := c.host.TopicIDOf(n); ok && parts > 0 {
			out[n] = topicMeta{name: n, id: tid, partitions: parts}
		}
	}
	return out
}

// namesWith is the union of the topics the members subscribe to, by name
// and through regexes, with one member replaced by sub (nil: removed) and
// a replaced static member left out.
func (cg *consumerGroup) namesWith(regexes map[string]*resolvedRegex, id string, sub *memberSub, replaced string) map[string]bool {
	names := make(map[string]bool)
	add := func(s *memberSub) {
		for _, n := range s.topics {
			names[n] = true
		}
		if rr := regexes[s.regex]; s.regex != "" && rr != nil {
			for _, n := range rr.topics {
				names[n] = true
			}
		}
	}
	for mid, m := range cg.members {
		if mid != id && mid != replaced {
			add(&m.sub)
		}
	}
	if sub != nil {
		add(sub)
	}
	return names
}

// cachedNames is namesWith for the group as it is, computed once per
// change of its members or regexes: a heartbeat that changes nothing
// only looks its topics up again.
func (cg *consumerGroup) cachedNames() map[string]bool {
	if cg.names == nil {
		cg.names = cg.namesWith(cg.regexes, "", nil, "")
	}
	return cg.names
}

func sameMeta(a, b map[string]topicMeta) bool {
	if len(a) != len(b) {
		return false
	}
	for n, t := range a {
		if b[n] != t {
			return false
		}
	}
	return true
}

func sortedMeta(m map[string]topicMeta) []topicMeta {
	out := make([]topicMeta, 0, len(m))
	for _, t := range m {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// planTarget computes the target assignment for epoch with one member
// updated (sub; nil removes id) and a replaced static member left out,
// and adds the records of the members whose targets changed and of the
// assignment epoch. It returns the new target of every member.
func (c *groupCoordinator) planTarget(t *cgTxn, epoch int32, meta map[string]topicMeta, regexes map[string]*resolvedRegex, sub *memberSub, replaced string) map[string]tpSet {
	cg := t.cg
	byName := make(map[string]topicID, len(meta))
	partitions := make(map[topicID]int32, len(meta))
	for n, tm := range meta {
		byName[n] = tm.id
		partitions[tm.id] = tm.partitions
	}
	spec := func(s *memberSub, current tpSet) assignMember {
		am := assignMember{id: s.id, instanceID: s.instanceID, topics: make(map[topicID]bool), current: current}
		for _, n := range s.topics {
			if id, ok := byName[n]; ok {
				am.topics[id] = true
			}
		}
		if rr := regexes[s.regex]; s.regex != "" && rr != nil {
			for _, n := range rr.topics {
				if id, ok := byName[n]; ok {
					am.topics[id] = true
				}
			}
		}
		return am
	}
	var members []assignMember
	for id, m := range cg.members {
		if id == replaced || sub != nil && id == sub.id {
			continue
		}
		members = append(members, spec(&m.sub, cg.target[id]))
	}
	if sub != nil {
		current := cg.target[sub.id]
		if current == nil && replaced != "" {
			current = cg.target[replaced]
		}
		members = append(members, spec(sub, current))
	}
	name := cg.preferredAssignor(sub, sub.idOr(), replaced)
	if name == "" {
		name = c.cfg.ConsumerAssignors[0]
	}
	out := assignors[name](members, partitions)
	for _, am := range members {
		nt := out[am.id]
		if old, ok := cg.target[am.id]; !ok || !old.equal(nt) {
			t.add(recTarget{member: am.id, parts: nt.clone()})
		}
	}
	t.add(recTargetEpoch{epoch: epoch})
	c.log.Debug().Str("group", t.g.id).Int32("assignment_epoch", epoch).Str("assignor", name).Int("members", len(members)).
		Msg("computed a new target assignment")
	return out
}

func (s *memberSub) idOr() string {
	if s == nil {
		return ""
	}
	return s.id
}

// writeRef is an appended write of a group's records.
type writeRef struct {
	w       runtime.Write
	timeout time.Duration // offsets.commit.timeout.ms
}

// pendingWrite is what an answer waits for.
type pendingWrite struct{ w *writeRef }

// await waits for the write to be committed.
func (p pendingWrite) await(ctx context.Context) error {
	if p.w == nil {
		return nil
	}
	return awaitWrite(ctx, p.w.w, p.w.timeout)
}

// commitCG appends an operation's records and, once the leader has them,
// applies them to the group. It returns what to wait for: these records,
// or, when there were none, the group's last write, so an answer never
// reveals state that might still be lost with the leadership.
func (c *groupCoordinator) commitCG(t *cgTxn) (pendingWrite, error) {
	g := t.g
	if len(t.recs) == 0 && len(t.pre) == 0 {
		if g.consumer != nil && t.regexCheckMs > 0 {
			g.consumer.regexCheckMs = t.regexCheckMs
		}
		return pendingWrite{w: g.lastWrite}, nil
	}
	recs := slices.Clone(t.pre)
	for _, r := range t.recs {
		recs = append(recs, r.encode(g.id))
	}
	w, err := c.appendRecords(g, recs, -1, -1)
	if err != nil {
		return pendingWrite{}, err
	}
	if t.classicDropped {
		c.dropClassicState(g)
	}
	cg := g.consumer
	for _, r := range t.recs {
		r.apply(&cg)
	}
	g.consumer = cg
	if cg != nil && t.regexCheckMs > 0 {
		cg.regexCheckMs = t.regexCheckMs
	}
	ref := &writeRef{w: w, timeout: c.commitTimeout()}
	g.lastWrite = ref
	return pendingWrite{w: ref}, nil
}
