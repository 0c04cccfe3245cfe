package coordinator

// The group coordinator for classic consumer groups (JoinGroup/SyncGroup).
//
// Each group maps to a partition of __consumer_offsets (Kafka's hash); the
// broker leading that partition coordinates it. A group is owned by its own
// mutex: every request, timer and log write for the group runs under it,
// and different groups never contend. The group's membership lives in
// memory; its generation, leader, members and assignments are written to
// the log when a generation is settled (SyncGroup from the leader, or the
// group emptying), and its committed offsets are written before a commit
// is acknowledged.
//
// States and transitions follow Kafka's GroupCoordinator:
//
//	Empty -> PreparingRebalance      a member joins
//	PreparingRebalance -> CompletingRebalance   every member rejoined, or the
//	                                 rebalance timeout passed (members that
//	                                 did not rejoin are dropped)
//	PreparingRebalance -> Empty      nobody rejoined
//	CompletingRebalance -> Stable    the leader's SyncGroup is persisted
//	Stable/CompletingRebalance -> PreparingRebalance   a member joins,
//	                                 leaves, changes its protocols, the
//	                                 leader rejoins, or a session expires
//	Empty -> Dead                    the group is deleted or its offsets
//	                                 expire

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
	"gregor/coordinator/runtime"
	"gregor/protocol"
)

type groupState int8

// newMemberJoinTimeout is how long a member that has never been part of a
// generation may wait for its first join, as in Kafka.
const newMemberJoinTimeout = 5 * time.Minute

const (
	groupEmpty groupState = iota
	groupPreparingRebalance
	groupCompletingRebalance
	groupStable
	groupDead
)

// String is the state's name as Kafka reports it.
func (s groupState) String() string {
	switch s {
	case groupEmpty:
		return "Empty"
	case groupPreparingRebalance:
		return "PreparingRebalance"
	case groupCompletingRebalance:
		return "CompletingRebalance"
	case groupStable:
		return "Stable"
	default:
		return "Dead"
	}
}

// joinResult is what a pending JoinGroup is answered with.
type joinResult struct {
	err            *kerr.Error
	memberID       string
	generation     int32
	protocolType   string
	protocol       string
	leader         string
	skipAssignment bool
	members        []kmsg.JoinGroupResponseMember
}

// syncResult is what a pending SyncGroup is answered with.
type syncResult struct {
	err          *kerr.Error
	protocolType string
	protocol     string
	assignment   []byte
}

type protocolMeta struct {
	name     string
	metadata []byte
}

// member is one member of a group.
type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []protocolMeta
	assignment       []byte
	joinOrder        uint64

	joinCh chan joinResult // set while a JoinGroup waits for the rebalance
	syncCh chan syncResult // set while a SyncGroup waits for the leader
	isNew  bool            // joined in the rebalance under way

	deadline time.Time // session expiry
	timer    *time.Timer
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.name == protocol {
			return p.metadata
		}
	}
	return nil
}

func (m *member) sameProtocols(ps []protocolMeta) bool {
	return slices.EqualFunc(m.protocols, ps, func(a, b protocolMeta) bool {
		return a.name == b.name && string(a.metadata) == string(b.metadata)
	})
}

// offsetEntry is a committed offset.
type offsetEntry struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitMs    int64
	expireMs    int64 // explicit expiry (OffsetCommit v2-v4 retention), or -1
	logOffset   int64 // where its record is in __consumer_offsets
}

// group is one consumer group.
type group struct {
	id   string
	part *groupShard

	mu sync.Mutex
	// guarded by mu:
	state        groupState
	stateMs      int64
	protocolType string
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	instances    map[string]string      // static instance id -> member id
	pending      map[string]*time.Timer // member ids handed out, awaiting their join
	// pendingSync are the members of the generation that have not sent
	// SyncGroup yet (Kafka's pendingSyncMembers): while it is not empty
	// the sync timer (joinTimer) runs, in CompletingRebalance and Stable.
	pendingSync map[string]struct{}
	joinSeq     uint64
	offsets     map[topicPartition]offsetEntry
	pendingTxn  map[int64]map[topicPartition]offsetEntry // by producer id
	// inflight are the commits (plain or transactional) appended but not
	// yet applied: a require_stable OffsetFetch waits for them.
	inflight map[*pendingCommit]struct{}
	stored   bool // a group metadata record exists
	// subscribed is the union of the members' subscriptions at the
	// generation's start (computeSubscribed); nil while unknown.
	subscribed map[string]bool

	// consumer is set while the group is a KIP-848 consumer group
	// (cgroup.go); the classic fields above are then unused.
	consumer *consumerGroup
	// share is set when the group is a share group (sgroup.go); a
	// share group never changes type.
	share *shareGroup
	// lastWrite is the last write of the group's consumer group records:
	// an answer that writes nothing waits for it.
	lastWrite *writeRef

	rebalanceSeq     uint64 // ignores timers of earlier rebalances
	joinTimer        *time.Timer
	initialDelay     bool
	initialRemaining time.Duration
	newMemberAdded   bool
}

func newGroup(id string, part *groupShard) *group {
	return &group{
		id: id, part: part, state: groupEmpty, stateMs: time.Now().UnixMilli(),
		members: make(map[string]*member), instances: make(map[string]string),
		pending: make(map[string]*time.Timer), pendingSync: make(map[string]struct{}),
		offsets:    make(map[topicPartition]offsetEntry),
		pendingTxn: make(map[int64]map[topicPartition]offsetEntry), inflight: make(map[*pendingCommit]struct{}),
	}
}

func (g *group) setState(s groupState) {
	g.state = s
	g.stateMs = time.Now().UnixMilli()
}

// sortedMembers lists members in the order they first joined.
func (g *group) sortedMembers() []*member {
	out := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].joinOrder < out[j].joinOrder })
	return out
}

// candidateProtocols are the protocols every member supports, in the
// preference order of the first member.
func (g *group) candidateProtocols() []string {
	ms := g.sortedMembers()
	if len(ms) == 0 {
		return nil
	}
	var out []string
	for _, p := range ms[0].protocols {
		all := true
		for _, m := range ms[1:] {
			if !hasProtocol(m, p.name) {
				all = false
				break
			}
		}
		if all {
			out = append(out, p.name)
		}
	}
	return out
}

func hasProtocol(m *member, name string) bool {
	for _, p := range m.protocols {
		if p.name == name {
			return true
		}
	}
	return false
}

// supportsProtocols reports whether a member with these protocols may
// join, as Kafka's ClassicGroup.supportsProtocols: an Empty group takes
// any non-empty set; otherwise the type must match and one protocol must
// be one every member supports (a rejoining member's current protocols
// count too: it cannot move the group to a protocol type or name the
// others, or its own last join, do not share).
func (g *group) supportsProtocols(protocolType string, ps []protocolMeta) bool {
	if g.state == groupEmpty {
		return protocolType != "" && len(ps) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range ps {
		all := true
		for _, m := range g.members {
			if !hasProtocol(m, p.name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol most members prefer among those all
// support: each member votes for the first candidate in its list.
func (g *group) selectProtocol() string {
	cands := g.candidateProtocols()
	if len(cands) == 0 {
		return ""
	}
	// Each member votes for its first candidate; the most votes win.
	// On a tie Kafka's ClassicGroup.selectProtocol takes the first of a
	// Java HashMap's iteration order: by bucket of the name's hash, then
	// by first vote (members in join order here).
	votes := make(map[string]int)
	var voted []string // in first-vote order
	for _, m := range g.sortedMembers() {
		for _, p := range m.protocols {
			if slices.Contains(cands, p.name) {
				if votes[p.name] == 0 {
					voted = append(voted, p.name)
				}
				votes[p.name]++
				break
			}
		}
	}
	buckets := javaHashMapBuckets(len(voted))
	slices.SortStableFunc(voted, func(a, b string) int {
		return cmp.Compare(javaHashMapIndex(a, buckets), javaHashMapIndex(b, buckets))
	})
	best := voted[0]
	for _, c := range voted[1:] {
		if votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

// javaHashMapBuckets is the table size of a java.util.HashMap, created
// with the default capacity, once n keys are in it.
func javaHashMapBuckets(n int) int {
	b := 16
	for n > b*3/4 {
		b *= 2
	}
	return b
}

// javaHashMapIndex is the bucket a String key falls in: String.hashCode
// over its UTF-16 units, spread as HashMap.hash does.
func javaHashMapIndex(s string, buckets int) int {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	spread := uint32(h) ^ uint32(h)>>16
	return int(spread & uint32(buckets-1))
}

func (g *group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		if m.rebalanceTimeout > d {
			d = m.rebalanceTimeout
		}
	}
	return d
}

func (g *group) allJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if m.joinCh == nil {
			return false
		}
	}
	return true
}

// anyJoined reports whether a member awaits the join's end.
func (g *group) anyJoined() bool {
	for _, m := range g.members {
		if m.joinCh != nil {
			return true
		}
	}
	return false
}

// newMemberID is a member id in Kafka's form: the client id or instance
// id, a dash and a random (version 4) UUID, as java.util.UUID.randomUUID.
// A prefix so long that the id would not fit a Kafka string (a client id
// or instance id of 32,767 bytes) is cut: the id goes into responses and
// into __consumer_offsets, whose strings have int16 lengths.
func newMemberID(prefix string) string {
	prefix = protocol.CutString(prefix, protocol.MaxStringLen-37) // 37: the dash and UUID
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // the IETF variant
	h := hex.EncodeToString(b[:])
	return prefix + "-" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// joinRequest is a JoinGroup as the state machine sees it.
type joinRequest struct {
	memberID         string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []protocolMeta
	requireKnownID   bool // v4+: a new dynamic member gets MEMBER_ID_REQUIRED first
	version          int16
}

// join handles a JoinGroup for a locked group. It returns either an
// immediate result or a channel that yields one when the rebalance ends.
// A static member replaced in a Stable group also returns the write of
// the group's record: the caller lets go of the group, waits for it and
// calls its done, which answers the channel.
func (c *groupCoordinator) join(g *group, r joinRequest) (joinResult, <-chan joinResult, *joinWrite) {
	if g.state == groupDead {
		return joinResult{err: kerr.CoordinatorNotAvailable, memberID: r.memberID}, nil, nil
	}
	if !c.acceptJoin(g, r.memberID) {
		// As Kafka's classicGroupJoinToClassicGroup, the member is only
		// removed: the join phase is not completed early for it (a
		// refused member awaits no join or sync). A member id handed
		// out and not yet used is forgotten too (ClassicGroup.remove).
		if m := g.members[r.memberID]; m != nil {
			c.log.Info().Str("group", g.id).Str("member", m.id).Int("awaiting", g.awaitingJoin()).
				Msg("member rejoined past group.max.size; removing it")
			c.dropMember(g, m)
		}
		if t, ok := g.pending[r.memberID]; ok {
			t.Stop()
			delete(g.pending, r.memberID)
		}
		return joinResult{err: kerr.GroupMaxSizeReached}, nil, nil
	}
	if !g.supportsProtocols(r.protocolType, r.protocols) {
		return joinResult{err: kerr.InconsistentGroupProtocol, memberID: r.memberID}, nil, nil
	}
	if r.memberID == "" && r.instanceID != nil {
		if old, ok := g.instances[*r.instanceID]; ok && g.members[old] != nil {
			return c.replaceStatic(g, g.members[old], newMemberID(*r.instanceID), r)
		}
	}
	var res joinResult
	var ch <-chan joinResult
	if r.memberID == "" {
		res, ch = c.joinUnknown(g, r)
	} else {
		res, ch = c.joinKnown(g, r)
	}
	return res, ch, nil
}

// joinWrite is a JoinGroup's record write: done, called without the
// group's lock once the write is committed or failed, answers the join.
type joinWrite struct {
	w    runtime.Write
	done func(err error)
}

// acceptJoin says whether a JoinGroup from memberID ("" for a new member)
// fits under group.max.size, as Kafka's acceptJoiningMember decides: an
// empty group takes anyone; a rebalancing one takes members that already
// await the rebalance, and others while fewer than the limit await it (so
// with a lowered limit the last to rejoin are the ones left out); a stable
// group, or one completing its rebalance, takes its members, and new ones
// while it has fewer than the limit. A member id handed out and not yet
// used (KIP-394) holds no place: it is checked when it joins with it.
func (c *groupCoordinator) acceptJoin(g *group, memberID string) bool {
	limit := c.cfg.MaxGroupSize
	if limit <= 0 {
		return true
	}
	m := g.members[memberID]
	switch g.state {
	case groupPreparingRebalance:
		return m != nil && m.joinCh != nil || int32(g.awaitingJoin()) < limit
	case groupCompletingRebalance, groupStable:
		return m != nil || int32(len(g.members)) < limit
	default:
		return true
	}
}

// awaitingJoin counts the members whose JoinGroup awaits the rebalance.
func (g *group) awaitingJoin() int {
	n := 0
	for _, m := range g.members {
		if m.joinCh != nil {
			n++
		}
	}
	return n
}

// joinUnknown is a JoinGroup without a member id.
func (c *groupCoordinator) joinUnknown(g *group, r joinRequest) (joinResult, <-chan joinResult) {
	if r.instanceID != nil {
		// A known instance id is replaceStatic's (join).
		r.memberID = newMemberID(*r.instanceID)
		return c.addMember(g, r)
	}
	id := newMemberID(r.clientID)
	if r.requireKnownID {
		// KIP-394: hand out the id and wait for the member to come back
		// with it, so a client that never does holds no place.
		session := r.sessionTimeout
		g.pending[id] = time.AfterFunc(session, func() { c.pendingExpired(g, id) })
		return joinResult{err: kerr.MemberIDRequired, memberID: id, generation: -1}, nil
	}
	r.memberID = id
	return c.addMember(g, r)
}

// pendingExpired drops a member id that was never used to join.
func (c *groupCoordinator) pendingExpired(g *group, id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.pending[id]; !ok {
		return
	}
	delete(g.pending, id)
	if g.state == groupPreparingRebalance {
		c.tryCompleteJoin(g)
	}
}

// joinKnown is a JoinGroup with a member id.
func (c *groupCoordinator) joinKnown(g *group, r joinRequest) (joinResult, <-chan joinResult) {
	if t, ok := g.pending[r.memberID]; ok {
		t.Stop()
		delete(g.pending, r.memberID)
		return c.addMember(g, r)
	}
	if err := g.checkMember(r.memberID, r.instanceID); err != nil {
		return joinResult{err: err, memberID: r.memberID}, nil
	}
	m := g.members[r.memberID]
	switch g.state {
	case groupPreparingRebalance:
		ch := c.updateMember(g, m, r)
		c.tryCompleteJoin(g)
		return joinResult{}, ch
	case groupCompletingRebalance:
		if m.sameProtocols(r.protocols) {
			// A repeated join while the leader assigns: the same answer.
			return c.currentJoinResult(g, m), nil
		}
		ch := c.updateMember(g, m, r)
		c.prepareRebalance(g, "member "+m.id+" changed its protocols")
		return joinResult{}, ch
	case groupStable:
		if m.id == g.leader || !m.sameProtocols(r.protocols) {
			ch := c.updateMember(g, m, r)
			c.prepareRebalance(g, "leader or changed member "+m.id+" rejoined")
			return joinResult{}, ch
		}
		return c.currentJoinResult(g, m), nil
	default:
		return joinResult{err: kerr.UnknownMemberID, memberID: r.memberID}, nil
	}
}

// currentJoinResult repeats the current generation's join answer.
func (c *groupCoordinator) currentJoinResult(g *group, m *member) joinResult {
	res := joinResult{memberID: m.id, generation: g.generation, protocolType: g.protocolType, protocol: g.protocol, leader: g.leader}
	if m.id == g.leader {
		res.members = g.joinMembers()
	}
	return res
}

// joinMembers is the member list the leader assigns over.
func (g *group) joinMembers() []kmsg.JoinGroupResponseMember {
	var out []kmsg.JoinGroupResponseMember
	for _, m := range g.sortedMembers() {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		jm.InstanceID = m.instanceID
		jm.ProtocolMetadata = m.metadataFor(g.protocol)
		out = append(out, jm)
	}
	return out
}

// addMember adds a new member that awaits the rebalance it triggers.
func (c *groupCoordinator) addMember(g *group, r joinRequest) (joinResult, <-chan joinResult) {
	if len(g.members) == 0 {
		g.protocolType = r.protocolType
	}
	g.joinSeq++
	m := &member{
		id: r.memberID, instanceID: r.instanceID, clientID: r.clientID, clientHost: r.clientHost,
		sessionTimeout: r.sessionTimeout, rebalanceTimeout: r.rebalanceTimeout,
		protocolType: r.protocolType, protocols: r.protocols, joinOrder: g.joinSeq, isNew: true,
		joinCh: make(chan joinResult, 1),
	}
	g.members[m.id] = m
	if m.instanceID != nil {
		g.instances[*m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
	g.newMemberAdded = true
	c.scheduleSession(g, m)
	// A new member waiting for its first join is kept up to
	// newMemberJoinTimeout, however long the others take (Kafka's rule).
	m.deadline = time.Now().Add(newMemberJoinTimeout)
	m.timer.Reset(newMemberJoinTimeout)
	ch := m.joinCh // the rebalance may complete, and clear it, right here
	if g.state == groupPreparingRebalance {
		c.tryCompleteJoin(g)
	} else {
		c.prepareRebalance(g, "new member "+m.id+" joined")
	}
	return joinResult{}, ch
}

// replaceStatic gives a returning static member a new member id, fencing
// the old one. A stable group with unchanged protocols keeps its
// assignment without a rebalance: the member is answered once the group's
// record with its new id is written (replaceStaticStored).
func (c *groupCoordinator) replaceStatic(g *group, old *member, newID string, r joinRequest) (joinResult, <-chan joinResult, *joinWrite) {
	if old.joinCh != nil {
		old.joinCh <- joinResult{err: kerr.FencedInstanceID, memberID: old.id}
		old.joinCh = nil
	}
	if old.syncCh != nil {
		old.syncCh <- syncResult{err: kerr.FencedInstanceID}
		old.syncCh = nil
	}
	prev := *old // what a failed write restores
	leaderBefore := g.leader
	g.renameMember(old, newID)
	old.clientID, old.clientHost = r.clientID, r.clientHost
	old.sessionTimeout, old.rebalanceTimeout = r.sessionTimeout, r.rebalanceTimeout
	c.scheduleSession(g, old)
	switch g.state {
	case groupStable:
		// As Kafka's updateStaticMemberThenRebalanceOrCompleteJoin: the
		// member's new protocols are taken, and the group rebalances only
		// if they change the protocol the group would select. A client's
		// subscription metadata (owned partitions, generation) changes at
		// every restart; comparing it would rebalance on every bounce,
		// which static membership exists to avoid.
		old.protocols = r.protocols
		if g.protocol != "" && g.selectProtocol() == g.protocol {
			return c.storeReplacedStatic(g, old, &prev, leaderBefore, r.version)
		}
		old.protocols = prev.protocols
		ch := c.updateMember(g, old, r)
		c.prepareRebalance(g, "static member "+*r.instanceID+" rejoined with new protocols")
		return joinResult{}, ch, nil
	case groupCompletingRebalance:
		ch := c.updateMember(g, old, r)
		c.prepareRebalance(g, "static member "+*r.instanceID+" rejoined during a rebalance")
		return joinResult{}, ch, nil
	case groupPreparingRebalance:
		ch := c.updateMember(g, old, r)
		c.tryCompleteJoin(g)
		return joinResult{}, ch, nil
	default:
		ch := c.updateMember(g, old, r)
		c.prepareRebalance(g, "static member "+*r.instanceID+" joined")
		return joinResult{}, ch, nil
	}
}

// renameMember moves a member, with its instance id and leadership, to a
// new member id.
func (g *group) renameMember(m *member, newID string) {
	delete(g.members, m.id)
	if g.leader == m.id {
		g.leader = newID
	}
	m.id = newID
	g.members[newID] = m
	g.instances[*m.instanceID] = newID
}

// storeReplacedStatic appends the group's record with a static member's
// new id; the member awaits the join until the write is done, so its
// session is kept meanwhile (Kafka's updateMember with the response
// future). prev is the member as it was before the replacement.
func (c *groupCoordinator) storeReplacedStatic(g *group, m *member, prev *member, leaderBefore string, version int16) (joinResult, <-chan joinResult, *joinWrite) {
	ch := make(chan joinResult, 1)
	m.joinCh = ch
	w, err := c.appendRecords(g, []records.Record{{Key: encodeGroupKey(g.id), Value: encodeGroupValue(g)}}, -1, -1)
	if err != nil {
		c.replaceStaticStored(g, m, ch, prev, leaderBefore, version, err)
		return joinResult{}, ch, nil
	}
	g.stored = true
	return joinResult{}, ch, &joinWrite{w: w, done: func(err error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		c.replaceStaticStored(g, m, ch, prev, leaderBefore, version, err)
	}}
}

// replaceStaticStored answers a replaced static member of a locked group
// once its record is written, as Kafka's
// updateStaticMemberThenRebalanceOrCompleteJoin: unless its join was
// answered meanwhile (a rebalance, an unload, another replacement), it
// gets the current generation; if the write failed, the member gets back
// its old id, protocols and timeouts and the join an empty member id with
// the write's error.
func (c *groupCoordinator) replaceStaticStored(g *group, m *member, ch chan joinResult, prev *member, leaderBefore string, version int16, err error) {
	if g.members[m.id] != m || m.joinCh != ch {
		return
	}
	m.joinCh = nil
	if err != nil {
		c.log.Warn().Err(err).Str("group", g.id).Str("member", m.id).Str("instance", *m.instanceID).
			Msg("storing a replaced static member failed; reverting to its old member id")
		g.renameMember(m, prev.id)
		m.protocols, m.clientID, m.clientHost = prev.protocols, prev.clientID, prev.clientHost
		m.sessionTimeout, m.rebalanceTimeout = prev.sessionTimeout, prev.rebalanceTimeout
		c.scheduleSession(g, m)
		ch <- joinResult{err: groupWriteError(err)}
		return
	}
	res := joinResult{memberID: m.id, generation: g.generation, protocolType: g.protocolType, protocol: g.protocol, leader: g.leader}
	switch {
	case version >= 9 && m.id == g.leader:
		// The leader need not assign again (KIP-814).
		res.members, res.skipAssignment = g.joinMembers(), true
	case version < 9:
		// Before KIP-814 a replaced leader is told the old leader's
		// id, so it does not assign again.
		res.leader = leaderBefore
	}
	ch <- res
}

// groupWriteError is the error a group record's failed write is answered
// with, as the runtime maps it (Kafka's
// appendGroupMetadataErrorToResponseError): NOT_COORDINATOR,
// COORDINATOR_NOT_AVAILABLE, or UNKNOWN_SERVER_ERROR for a record past
// max.message.bytes; anything else (a wait that timed out) is
// COORDINATOR_NOT_AVAILABLE.
func groupWriteError(err error) *kerr.Error {
	if e, ok := err.(*kerr.Error); ok {
		return e
	}
	return kerr.CoordinatorNotAvailable
}

// updateMember records a rejoining member's protocols and marks it as
// awaiting the join. A member that has not yet been part of a generation
// keeps the new-member join timeout addMember gave it (Kafka's
// updateMember leaves the heartbeat alone): a client that retries its
// first JoinGroup is not cut down to its session timeout.
func (c *groupCoordinator) updateMember(g *group, m *member, r joinRequest) <-chan joinResult {
	m.protocols = r.protocols
	m.rebalanceTimeout, m.sessionTimeout = r.rebalanceTimeout, r.sessionTimeout
	m.clientID, m.clientHost = r.clientID, r.clientHost
	if m.joinCh != nil {
		// A duplicate join replaces the earlier one, which is told to
		// rejoin (its connection is most likely gone).
		m.joinCh <- joinResult{err: kerr.RebalanceInProgress, memberID: m.id}
	}
	m.joinCh = make(chan joinResult, 1)
	if !m.isNew {
		c.scheduleSession(g, m)
	}
	return m.joinCh
}

// prepareRebalance moves the group to PreparingRebalance.
func (c *groupCoordinator) prepareRebalance(g *group, reason string) {
	if g.state == groupCompletingRebalance {
		c.failSyncs(g, kerr.RebalanceInProgress)
	}
	initial := g.state == groupEmpty
	clear(g.pendingSync)
	g.setState(groupPreparingRebalance)
	g.rebalanceSeq++
	seq := g.rebalanceSeq
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	c.log.Info().Str("group", g.id).Int32("generation", g.generation).Str("reason", reason).Msg("preparing to rebalance")
	rt := g.maxRebalanceTimeout()
	if initial && c.cfg.InitialRebalanceDelay > 0 {
		delay := c.cfg.InitialRebalanceDelay
		g.initialDelay, g.initialRemaining, g.newMemberAdded = true, max(rt-delay, 0), false
		g.joinTimer = time.AfterFunc(delay, func() { c.joinTimerFired(g, seq) })
		return
	}
	g.initialDelay = false
	g.joinTimer = time.AfterFunc(rt, func() { c.joinTimerFired(g, seq) })
	c.tryCompleteJoin(g)
}

// failSyncs answers every waiting SyncGroup with err and clears the
// assignments of the abandoned generation; a member answered starts its
// session again, as in Kafka's propagateAssignment.
func (c *groupCoordinator) failSyncs(g *group, err *kerr.Error) {
	for _, m := range g.members {
		m.assignment = nil
		if m.syncCh != nil {
			m.syncCh <- syncResult{err: err}
			m.syncCh = nil
			c.scheduleSession(g, m)
		}
	}
}

func (c *groupCoordinator) joinTimerFired(g *group, seq uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.rebalanceSeq != seq || g.state != groupPreparingRebalance {
		return
	}
	if g.initialDelay && g.newMemberAdded && g.initialRemaining > 0 {
		// Members are still arriving: wait a little longer, up to the
		// rebalance timeout in all.
		delay := min(c.cfg.InitialRebalanceDelay, g.initialRemaining)
		g.initialRemaining -= delay
		g.newMemberAdded = false
		g.joinTimer = time.AfterFunc(delay, func() { c.joinTimerFired(g, seq) })
		return
	}
	c.completeJoin(g)
}

// tryCompleteJoin ends the join phase early once every member rejoined.
func (c *groupCoordinator) tryCompleteJoin(g *group) {
	if g.state != groupPreparingRebalance || g.initialDelay || !g.allJoined() {
		return
	}
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	c.completeJoin(g)
}

// completeJoin starts the next generation with the members that rejoined.
func (c *groupCoordinator) completeJoin(g *group) {
	for _, m := range g.sortedMembers() {
		if m.joinCh == nil && m.instanceID == nil {
			c.log.Info().Str("group", g.id).Str("member", m.id).Msg("member did not rejoin in time; removing it")
			c.dropMember(g, m)
		}
	}
	// Member ids handed out and not yet used stay pending across the
	// generation, as in Kafka, until they join, leave or expire; until
	// then they hold back an early end of the next join (allJoined).
	g.initialDelay = false
	if len(g.members) > 0 && !g.anyJoined() {
		// Only static members are left and none rejoined: as Kafka, the
		// group waits another rebalance timeout, until they rejoin or
		// their sessions end, rather than start a generation no member
		// was told of.
		c.log.Info().Str("group", g.id).Msg("no member rejoined; the rebalance waits for the static members")
		seq := g.rebalanceSeq
		g.joinTimer = time.AfterFunc(g.maxRebalanceTimeout(), func() { c.joinTimerFired(g, seq) })
		return
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol = ""
		g.leader = ""
		g.subscribed = g.computeSubscribed()
		g.setState(groupEmpty)
		c.log.Info().Str("group", g.id).Int32("generation", g.generation).Msg("group is empty")
		c.persistGroup(g)
		return
	}
	g.protocol = g.selectProtocol()
	g.subscribed = g.computeSubscribed()
	if g.members[g.leader] == nil || g.members[g.leader].joinCh == nil {
		g.leader = ""
		for _, m := range g.sortedMembers() {
			if m.joinCh != nil {
				g.leader = m.id
				break
			}
		}
	}
	g.setState(groupCompletingRebalance)
	for id := range g.members {
		g.pendingSync[id] = struct{}{}
	}
	seq, gen := g.rebalanceSeq, g.generation
	g.joinTimer = time.AfterFunc(g.maxRebalanceTimeout(), func() { c.syncTimerFired(g, seq, gen) })
	c.log.Info().Str("group", g.id).Int32("generation", g.generation).Str("protocol", g.protocol).
		Str("leader", g.leader).Int("members", len(g.members)).Msg("rebalance joined")
	for _, m := range g.members {
		// Every member's session starts again, a static member that did
		// not rejoin included (Kafka's completeClassicGroupJoin
		// reschedules each heartbeat); one that never syncs is removed by
		// the sync timer.
		m.isNew = false
		c.scheduleSession(g, m)
		if m.joinCh == nil {
			continue
		}
		res := joinResult{memberID: m.id, generation: g.generation, protocolType: g.protocolType, protocol: g.protocol, leader: g.leader}
		if m.id == g.leader {
			res.members = g.joinMembers()
		}
		m.joinCh <- res
		m.joinCh = nil
	}
}

// syncTimerFired removes the members that have not sent SyncGroup within
// the rebalance timeout of the generation, and rebalances the rest
// (Kafka's expirePendingSync). It acts in CompletingRebalance and in
// Stable: a follower that never syncs is removed even once the leader's
// assignment made the group Stable.
func (c *groupCoordinator) syncTimerFired(g *group, seq uint64, gen int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.rebalanceSeq != seq || g.generation != gen || len(g.pendingSync) == 0 ||
		(g.state != groupCompletingRebalance && g.state != groupStable) {
		return
	}
	late := slices.Sorted(maps.Keys(g.pendingSync))
	for _, id := range late {
		if m := g.members[id]; m != nil {
			c.log.Info().Str("group", g.id).Str("member", id).Msg("member did not sync in time; removing it")
			c.dropMember(g, m)
		}
	}
	c.prepareRebalance(g, fmt.Sprintf("members %v did not sync in time", late))
}

// syncReceived notes a member's SyncGroup; once every member of the
// generation has sent one, the sync timer stops (Kafka's
// removePendingSyncMember).
func (g *group) syncReceived(id string) {
	delete(g.pendingSync, id)
	if len(g.pendingSync) == 0 && (g.state == groupCompletingRebalance || g.state == groupStable) && g.joinTimer != nil {
		g.joinTimer.Stop()
	}
}

// scheduleSession (re)starts a member's session timer.
func (c *groupCoordinator) scheduleSession(g *group, m *member) {
	m.deadline = time.Now().Add(m.sessionTimeout)
	if m.timer == nil {
		id := m
		m.timer = time.AfterFunc(m.sessionTimeout, func() { c.sessionExpired(g, id) })
		return
	}
	m.timer.Reset(m.sessionTimeout)
}

// sessionExpired removes a member whose session ran out, unless it is
// waiting on the coordinator (a pending join or sync keeps it alive).
func (c *groupCoordinator) sessionExpired(g *group, m *member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.members[m.id] != m {
		return
	}
	if time.Now().Before(m.deadline) {
		return // a heartbeat extended the session after the timer fired
	}
	if (m.joinCh != nil && !m.isNew) || m.syncCh != nil {
		c.scheduleSession(g, m)
		return
	}
	c.log.Info().Str("group", g.id).Str("member", m.id).Dur("session_timeout", m.sessionTimeout).Msg("member session expired")
	if m.joinCh != nil {
		m.joinCh <- joinResult{err: kerr.UnknownMemberID, memberID: m.id}
		m.joinCh = nil
	}
	c.removeMember(g, m, "session of "+m.id+" expired")
}

// dropMember deletes a member from the group without a rebalance.
func (c *groupCoordinator) dropMember(g *group, m *member) {
	if m.timer != nil {
		m.timer.Stop()
	}
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != nil && g.instances[*m.instanceID] == m.id {
		delete(g.instances, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		if ms := g.sortedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
}

// removeMember drops a member and rebalances the rest.
func (c *groupCoordinator) removeMember(g *group, m *member, reason string) {
	if m.joinCh != nil {
		m.joinCh <- joinResult{err: kerr.UnknownMemberID, memberID: m.id}
		m.joinCh = nil
	}
	if m.syncCh != nil {
		m.syncCh <- syncResult{err: kerr.UnknownMemberID}
		m.syncCh = nil
	}
	c.dropMember(g, m)
	switch g.state {
	case groupStable, groupCompletingRebalance:
		c.prepareRebalance(g, reason)
	case groupPreparingRebalance:
		c.tryCompleteJoin(g)
	}
}

// checkMember validates a request's member, instance id and generation.
func checkMember(g *group, memberID string, instanceID *string, generation int32) *kerr.Error {
	if err := g.checkMember(memberID, instanceID); err != nil {
		return err
	}
	if generation != g.generation {
		return kerr.IllegalGeneration
	}
	return nil
}

// checkMember validates a request's member and instance id, as Kafka's
// ClassicGroup.validateMember: an instance id the group does not know is
// an unknown member; one known under another member id is fenced.
func (g *group) checkMember(memberID string, instanceID *string) *kerr.Error {
	if instanceID != nil {
		cur, ok := g.instances[*instanceID]
		if !ok {
			return kerr.UnknownMemberID
		}
		if cur != memberID {
			return kerr.FencedInstanceID
		}
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID
	}
	return nil
}

// syncRequest is a SyncGroup as the state machine sees it.
type syncRequest struct {
	memberID     string
	instanceID   *string
	generation   int32
	protocolType *string
	protocol     *string
	assignments  map[string][]byte
}

// sync handles a SyncGroup for a locked group. The leader's assignment is
// appended with the generation and returned as a write: the caller lets
// go of the group, waits for the write and calls assignmentStored, which
// answers every member (write-then-complete; heartbeats go on meanwhile).
func (c *groupCoordinator) sync(g *group, r syncRequest) (syncResult, <-chan syncResult, *runtime.Write) {
	switch g.state {
	case groupDead:
		return syncResult{err: kerr.CoordinatorNotAvailable}, nil, nil
	case groupEmpty:
		return syncResult{err: kerr.UnknownMemberID}, nil, nil
	}
	if err := checkMember(g, r.memberID, r.instanceID, r.generation); err != nil {
		return syncResult{err: err}, nil, nil
	}
	if (r.protocolType != nil && *r.protocolType != g.protocolType) || (r.protocol != nil && *r.protocol != g.protocol) {
		return syncResult{err: kerr.InconsistentGroupProtocol}, nil, nil
	}
	m := g.members[r.memberID]
	c.scheduleSession(g, m)
	g.syncReceived(m.id)
	switch g.state {
	case groupPreparingRebalance:
		return syncResult{err: kerr.RebalanceInProgress}, nil, nil
	case groupStable:
		return syncResult{protocolType: g.protocolType, protocol: g.protocol, assignment: m.assignment}, nil, nil
	}
	// CompletingRebalance.
	if m.syncCh != nil {
		m.syncCh <- syncResult{err: kerr.RebalanceInProgress}
	}
	m.syncCh = make(chan syncResult, 1)
	ch := m.syncCh
	if m.id != g.leader {
		return syncResult{}, ch, nil
	}
	for _, gm := range g.members {
		gm.assignment = r.assignments[gm.id]
		if gm.assignment == nil {
			gm.assignment = []byte{}
		}
	}
	w, err := c.appendRecords(g, []records.Record{{Key: encodeGroupKey(g.id), Value: encodeGroupValue(g)}}, -1, -1)
	if err != nil {
		c.assignmentFailed(g, err)
		return syncResult{}, ch, nil
	}
	g.stored = true
	return syncResult{}, ch, &w
}

// assignmentStored ends the generation's rebalance once its assignment is
// committed (or failed to be): unless the group moved on meanwhile, it
// becomes Stable and every member waiting in SyncGroup gets its share.
func (c *groupCoordinator) assignmentStored(g *group, generation int32, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != groupCompletingRebalance || g.generation != generation {
		return // a rebalance or an unload superseded this generation
	}
	if err != nil {
		c.assignmentFailed(g, err)
		return
	}
	// The sync timer goes on until every member has synced: one that
	// never does is removed in Stable too.
	g.setState(groupStable)
	c.log.Info().Str("group", g.id).Int32("generation", g.generation).Msg("group is stable")
	for _, gm := range g.members {
		if gm.syncCh != nil {
			gm.syncCh <- syncResult{protocolType: g.protocolType, protocol: g.protocol, assignment: gm.assignment}
			gm.syncCh = nil
			// Its session starts again (Kafka's propagateAssignment): a
			// client may send no heartbeat while it waits for the leader.
			c.scheduleSession(g, gm)
		}
	}
}

// assignmentFailed answers the members of a locked group whose assignment
// could not be stored, and rebalances.
func (c *groupCoordinator) assignmentFailed(g *group, err error) {
	c.log.Warn().Err(err).Str("group", g.id).Msg("storing the group's assignment failed; rebalancing")
	c.failSyncs(g, groupWriteError(err))
	c.prepareRebalance(g, "storing the assignment failed")
}

// heartbeat handles a Heartbeat for a locked group.
func (c *groupCoordinator) heartbeat(g *group, memberID string, instanceID *string, generation int32) *kerr.Error {
	switch g.state {
	case groupDead:
		return kerr.CoordinatorNotAvailable
	case groupEmpty:
		return kerr.UnknownMemberID
	}
	if err := checkMember(g, memberID, instanceID, generation); err != nil {
		return err
	}
	c.scheduleSession(g, g.members[memberID])
	if g.state == groupPreparingRebalance {
		return kerr.RebalanceInProgress
	}
	return nil
}

// leave removes one member (by member id, or by instance id for static
// members) from a locked group.
func (c *groupCoordinator) leave(g *group, memberID string, instanceID *string, reason string) *kerr.Error {
	if g.state == groupDead {
		return kerr.CoordinatorNotAvailable
	}
	if instanceID != nil {
		cur, ok := g.instances[*instanceID]
		if !ok {
			return kerr.UnknownMemberID
		}
		if memberID != "" && cur != memberID {
			return kerr.FencedInstanceID
		}
		memberID = cur
	}
	if t, ok := g.pending[memberID]; ok {
		t.Stop()
		delete(g.pending, memberID)
		if g.state == groupPreparingRebalance {
			c.tryCompleteJoin(g)
		}
		return nil
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID
	}
	if reason == "" {
		reason = "not given"
	}
	c.log.Info().Str("group", g.id).Str("member", memberID).Str("reason", reason).Msg("member left the group")
	c.removeMember(g, m, "member "+memberID+" left")
	return nil
}

// shutdownGroup answers every waiting request and stops the timers, when
// the coordinator unloads the group.
func (c *groupCoordinator) shutdownGroup(g *group) {
	g.mu.Lock()
	defer g.mu.Unlock()
	stopConsumerTimers(g.consumer)
	stopShareTimers(g.share)
	for _, m := range g.members {
		if m.timer != nil {
			m.timer.Stop()
		}
		if m.joinCh != nil {
			m.joinCh <- joinResult{err: kerr.NotCoordinator, memberID: m.id}
			m.joinCh = nil
		}
		if m.syncCh != nil {
			m.syncCh <- syncResult{err: kerr.NotCoordinator}
			m.syncCh = nil
		}
	}
	for _, t := range g.pending {
		t.Stop()
	}
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	g.rebalanceSeq++
	g.state = groupDead
}
