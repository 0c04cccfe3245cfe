package coordinator

// KIP-848 consumer groups (group type "consumer"): the broker assigns
// partitions, members reconcile towards their share with
// ConsumerGroupHeartbeat, as Kafka's GroupMetadataManager and ConsumerGroup
// do.
//
// A consumer group is a group (group.go) whose consumer field is set: it
// shares the group's lock, shard and committed offsets with the classic
// protocol, and a group changes type in place when it is converted
// (cgroup_classic.go). Its state is what its records say
// (cgroup_records.go): every change is computed as records from the
// current state, appended, and only then applied by the same code that
// replays the log when a coordinator loads. What is not in the records
// (timers, when regexes were last resolved) is soft state.
//
// Epochs, as KIP-848 defines them:
//
//	group epoch        bumped when a member joins, leaves or changes its
//	                   subscription, or when subscribed topics change
//	assignment epoch   the group epoch the target assignment was computed
//	                   for; below the group epoch, the group is Assigning
//	member epoch       the assignment epoch a member has reconciled to;
//	                   a member reaches the target epoch only once it has
//	                   revoked every partition it must give up, and it is
//	                   given a partition only once its previous owner no
//	                   longer holds it (owners)

import (
	"slices"
	"sort"
	"strings"
	"time"
)

// topicID is a topic's stable id.
type topicID = [16]byte

// tidp is a partition named by topic id.
type tidp struct {
	id topicID
	p  int32
}

// tpSet is a set of partitions.
type tpSet map[tidp]struct{}

func (s tpSet) clone() tpSet {
	out := make(tpSet, len(s))
	for k := range s {
		out[k] = struct{}{}
	}
	return out
}

func (s tpSet) equal(o tpSet) bool {
	if len(s) != len(o) {
		return false
	}
	for k := range s {
		if _, ok := o[k]; !ok {
			return false
		}
	}
	return true
}

// topicParts is one topic's partitions, sorted.
type topicParts struct {
	id    topicID
	parts []int32
}

// byTopic lists the set by topic, topics and partitions sorted.
func (s tpSet) byTopic() []topicParts {
	m := make(map[topicID][]int32)
	for k := range s {
		m[k.id] = append(m[k.id], k.p)
	}
	out := make([]topicParts, 0, len(m))
	for id, ps := range m {
		slices.Sort(ps)
		out = append(out, topicParts{id, ps})
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].id[:]) < string(out[j].id[:]) })
	return out
}

// memberState is a member's reconciliation state, as Kafka numbers it in
// ConsumerGroupCurrentMemberAssignmentValue.
type memberState int8

const (
	memberStable     memberState = 0   // reconciled to its epoch
	memberUnrevoked  memberState = 1   // must revoke partitions first
	memberUnreleased memberState = 2   // waits for partitions others still hold
	memberUnknown    memberState = 127 // a state this version does not know
)

func (s memberState) String() string {
	switch s {
	case memberStable:
		return "STABLE"
	case memberUnrevoked:
		return "UNREVOKED_PARTITIONS"
	case memberUnreleased:
		return "UNRELEASED_PARTITIONS"
	}
	return "UNKNOWN"
}

// Special member epochs of ConsumerGroupHeartbeat.
const (
	leaveEpoch       int32 = -1 // the member leaves
	staticLeaveEpoch int32 = -2 // a static member leaves, to come back
)

// classicMeta is what a member using the classic protocol
// (JoinGroup/SyncGroup) in a consumer group keeps of it.
type classicMeta struct {
	sessionTimeoutMs int32
	protocols        []protocolMeta
}

// memberSub is a member's subscription: ConsumerGroupMemberMetadataValue.
type memberSub struct {
	id                 string
	instanceID         *string
	rackID             *string
	clientID           string
	clientHost         string
	topics             []string // sorted
	regex              string   // "" for none
	rebalanceTimeoutMs int32
	assignor           string // "" for none
	classic            *classicMeta
}

func (s *memberSub) equal(o *memberSub) bool {
	return s.id == o.id && eqStrPtr(s.instanceID, o.instanceID) && eqStrPtr(s.rackID, o.rackID) &&
		s.clientID == o.clientID && s.clientHost == o.clientHost && slices.Equal(s.topics, o.topics) &&
		s.regex == o.regex && s.rebalanceTimeoutMs == o.rebalanceTimeoutMs && s.assignor == o.assignor &&
		eqClassic(s.classic, o.classic)
}

func eqStrPtr(a, b *string) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func eqClassic(a, b *classicMeta) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.sessionTimeoutMs == b.sessionTimeoutMs && slices.EqualFunc(a.protocols, b.protocols, func(x, y protocolMeta) bool {
		return x.name == y.name && string(x.metadata) == string(y.metadata)
	})
}

// memberAssign is a member's current assignment:
// ConsumerGroupCurrentMemberAssignmentValue.
type memberAssign struct {
	epoch     int32
	prevEpoch int32
	state     memberState
	assigned  tpSet
	revoking  tpSet
}

func (a *memberAssign) equal(o *memberAssign) bool {
	return a.epoch == o.epoch && a.prevEpoch == o.prevEpoch && a.state == o.state &&
		a.assigned.equal(o.assigned) && a.revoking.equal(o.revoking)
}

// reconciledTo reports whether the member holds the target of epoch.
func (a *memberAssign) reconciledTo(epoch int32) bool {
	return a.epoch == epoch && a.state == memberStable
}

// cgMember is a member of a consumer group.
type cgMember struct {
	sub memberSub
	cur memberAssign

	// Soft state, guarded by the group's lock: the member's timers.
	session     memberTimer
	rebalance   memberTimer // while it must revoke partitions
	classicJoin memberTimer // a classic member told to rejoin
	classicSync memberTimer // a classic member that joined, until it syncs
}

// memberTimer is one of a member's timers. A timer whose callback finds
// another one armed since (or none) does nothing.
type memberTimer struct {
	t   *time.Timer
	seq uint64
}

// arm (re)starts the timer; fn gets the sequence to check with current.
func (mt *memberTimer) arm(d time.Duration, fn func(seq uint64)) {
	mt.stop()
	seq := mt.seq
	mt.t = time.AfterFunc(d, func() { fn(seq) })
}

// armIfIdle starts the timer unless it is running.
func (mt *memberTimer) armIfIdle(d time.Duration, fn func(seq uint64)) {
	if mt.t == nil {
		mt.arm(d, fn)
	}
}

func (mt *memberTimer) stop() {
	if mt.t != nil {
		mt.t.Stop()
		mt.t = nil
	}
	mt.seq++
}

// current reports whether a callback of sequence seq is the armed one.
func (mt *memberTimer) current(seq uint64) bool { return mt.t != nil && mt.seq == seq }

// usesClassic reports whether the member uses JoinGroup/SyncGroup.
func (m *cgMember) usesClassic() bool { return m.sub.classic != nil }

// topicMeta is a subscribed topic as the group last saw it.
type topicMeta struct {
	name       string
	id         topicID
	partitions int32
}

// resolvedRegex is the topics a subscribed regex matched.
type resolvedRegex struct {
	topics  []string // sorted
	version int64
	atMs    int64
}

// consumerGroup is the state of a consumer group.
type consumerGroup struct {
	epoch       int32 // the group epoch
	assignEpoch int32 // the target assignment epoch
	members     map[string]*cgMember
	instances   map[string]string // static instance id -> member id
	target      map[string]tpSet  // target assignment by member id
	// owners maps every partition a member holds (assigned or being
	// revoked) to that member's epoch: a partition is given to its new
	// owner only once it is free.
	owners map[tidp]int32
	// subMeta is the subscription metadata: the subscribed topics that
	// exist, by name, when the group epoch was last bumped.
	subMeta map[string]topicMeta
	regexes map[string]*resolvedRegex
	// regexCheckMs is when the group's regexes were last resolved (soft
	// state).
	regexCheckMs int64
	// names caches the subscribed topic names (cachedNames); nil when a
	// member or regex record changed them.
	names map[string]bool
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{
		assignEpoch: -1,
		members:     make(map[string]*cgMember), instances: make(map[string]string),
		target: make(map[string]tpSet), owners: make(map[tidp]int32),
		subMeta: make(map[string]topicMeta), regexes: make(map[string]*resolvedRegex),
	}
}

// Consumer group states, as Kafka names them.
const (
	cgEmpty       = "Empty"
	cgAssigning   = "Assigning"
	cgReconciling = "Reconciling"
	cgStable      = "Stable"
)

// state is the group's state, derived as Kafka's maybeUpdateGroupState.
func (cg *consumerGroup) state() string {
	switch {
	case len(cg.members) == 0:
		return cgEmpty
	case cg.epoch > cg.assignEpoch:
		return cgAssigning
	}
	for _, m := range cg.members {
		if !m.cur.reconciledTo(cg.assignEpoch) {
			return cgReconciling
		}
	}
	return cgStable
}

// sortedMembers lists the members by id.
func (cg *consumerGroup) sortedMembers() []*cgMember {
	out := make([]*cgMember, 0, len(cg.members))
	for _, m := range cg.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].sub.id < out[j].sub.id })
	return out
}

// staticMember returns the member holding an instance id, or nil.
func (cg *consumerGroup) staticMember(instanceID *string) *cgMember {
	if instanceID == nil {
		return nil
	}
	id, ok := cg.instances[*instanceID]
	if !ok {
		return nil
	}
	return cg.members[id]
}

// ownerEpoch is the epoch of a partition's current owner, or -1 if free.
func (cg *consumerGroup) ownerEpoch(p tidp) int32 {
	if e, ok := cg.owners[p]; ok {
		return e
	}
	return -1
}

// classicMembers counts the members using the classic protocol.
func (cg *consumerGroup) classicMembers() int {
	n := 0
	for _, m := range cg.members {
		if m.usesClassic() {
			n++
		}
	}
	return n
}

// subscribedNames is the union of the members' subscriptions by name
// and of the topics their regexes resolved to, with one member replaced
// by an updated version (nil removes it).
func (cg *consumerGroup) subscribedNames(replace string, updated *memberSub) map[string]bool {
	out := make(map[string]bool)
	add := func(s *memberSub) {
		for _, t := range s.topics {
			out[t] = true
		}
		if r := cg.regexes[s.regex]; s.regex != "" && r != nil {
			for _, t := range r.topics {
				out[t] = true
			}
		}
	}
	for id, m := range cg.members {
		if id != replace {
			add(&m.sub)
		}
	}
	if updated != nil {
		add(updated)
	}
	return out
}

// preferredAssignor is the server assignor most members ask for, with
// the members of ids left out and updated counted; "" if none asks. A
// tie goes as in Kafka's ConsumerGroup.computePreferredServerAssignor,
// whose Stream.max keeps the first of its HashMap's iteration order:
// "uniform" before "range" (javaHashBefore).
func (cg *consumerGroup) preferredAssignor(updated *memberSub, ids ...string) string {
	counts := make(map[string]int)
	for id, m := range cg.members {
		if !slices.Contains(ids, id) && m.sub.assignor != "" {
			counts[m.sub.assignor]++
		}
	}
	if updated != nil && updated.assignor != "" {
		counts[updated.assignor]++
	}
	best := ""
	for name, n := range counts {
		if best == "" || n > counts[best] || n == counts[best] && javaHashBefore(name, best) {
			best = name
		}
	}
	return best
}

// javaHashBefore reports whether a comes before b in the iteration of a
// small java.util.HashMap (16 buckets, enough for up to 12 keys): by
// bucket, the spread String.hashCode masked; names sharing a bucket are
// put in name order.
func javaHashBefore(a, b string) bool {
	bucket := func(s string) uint32 {
		var h uint32
		for _, r := range s {
			if r >= 0x10000 { // a surrogate pair in Java's UTF-16
				r -= 0x10000
				h = 31*h + uint32(0xD800+(r>>10))
				h = 31*h + uint32(0xDC00+(r&0x3FF))
				continue
			}
			h = 31*h + uint32(r)
		}
		return (h ^ h>>16) & 15
	}
	if ba, bb := bucket(a), bucket(b); ba != bb {
		return ba < bb
	}
	return a < b
}

// supportsClassic reports whether a classic member with these protocols
// may join: the consumer protocol type, and one protocol every classic
// member supports (any, in a group without classic members).
func (cg *consumerGroup) supportsClassic(protocolType string, ps []protocolMeta) bool {
	if protocolType != consumerProtocolType || len(ps) == 0 {
		return false
	}
	n := cg.classicMembers()
	if len(cg.members) == 0 || n == 0 {
		return true
	}
	for _, p := range ps {
		count := 0
		for _, m := range cg.members {
			if m.usesClassic() && slices.ContainsFunc(m.sub.classic.protocols, func(x protocolMeta) bool { return x.name == p.name }) {
				count++
			}
		}
		if count == n {
			return true
		}
	}
	return false
}

// consumerProtocolType is the protocol type of consumers in classic
// groups, the only one a consumer group takes.
const consumerProtocolType = "consumer"

// stateFor matches a ListGroups state filter case-insensitively.
func stateMatches(filter []string, state string) bool {
	if len(filter) == 0 {
		return true
	}
	for _, s := range filter {
		if strings.EqualFold(strings.TrimSpace(s), state) {
			return true
		}
	}
	return false
}
