package broker

// Incremental fetch sessions (KIP-227), as Kafka's FetchSession.scala and
// the client's FetchSessionHandler define them.
//
// A fetch carries a session id and epoch (v7+):
//   - id 0, epoch -1: a sessionless full fetch; the response has id 0.
//   - epoch 0: a full fetch that asks for a session (an id other than 0 is
//     closed first). Every requested partition is answered; if the cache
//     has a slot (max.incremental.fetch.session.cache.slots, evicting as
//     below) the response carries the new session's id, else 0.
//   - an id with epoch -1: closes that session, then a sessionless fetch.
//   - an id with epoch > 0: incremental. An unknown id is
//     FETCH_SESSION_ID_NOT_FOUND, an epoch other than the session's
//     INVALID_FETCH_SESSION_EPOCH, topic ids used by a session made
//     without them (or the reverse) FETCH_SESSION_TOPIC_ID_ERROR; these
//     answer with no partitions. Otherwise the request's partitions are
//     added to the session or update its cached fetch positions, its
//     forgotten topics leave it (a session left empty closes, and the
//     fetch is sessionless), the session's epoch moves on, and the fetch
//     reads every partition of the session. Only partitions with records,
//     an error, a diverging epoch, a preferred read replica, or a high
//     watermark or log start offset other than last sent are answered;
//     those that returned records move to the end of the session's order
//     (IncrementalFetchContext), so partitions take turns at a response's
//     byte limit (one answered without records for want of bytes keeps
//     its place).
//
// Eviction, when the cache is full: the least recently used session if it
// was unused for two minutes; else the smallest evictable session if the
// new one is at least as valuable (a follower's over a consumer's, then
// more partitions). A consumer's session is evictable once it was used
// when two minutes old (its age is taken at its last use, as Kafka's
// FetchSessionCache.touch files it); a follower's only by a follower,
// under the same rule.
//
// The partitions all sessions hold are bounded too (sessionPartitionsMax;
// Kafka bounds only the sessions): a client may name any partitions,
// unknown ones included, and each costs memory for as long as its session
// lives. A full fetch that would exceed it gets no session (only stale
// sessions are evicted to make room: a large session must not push out
// the smaller ones already working); an incremental fetch that would grow
// past it closes its session and is answered in full with session id 0,
// which tells the client to start a new one (FetchSessionHandler).

import (
	"container/list"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	sessionFinalEpoch   int32 = -1
	sessionInitialEpoch int32 = 0
	// sessionEvictAfter is Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS.
	sessionEvictAfter = 2 * time.Minute
	// sessionPartitionsMax bounds the partitions of all cached sessions
	// (a few hundred bytes each, so 100 to 150 MB); far more than the
	// partitions a broker leads and follows, times the consumers of each.
	sessionPartitionsMax = 250_000
)

// nextSessionEpoch is FetchMetadata.nextEpoch.
func nextSessionEpoch(e int32) int32 {
	switch {
	case e < 0:
		return sessionFinalEpoch
	case e == math.MaxInt32:
		return 1
	}
	return e + 1
}

// sessionKey names a partition in a session: by topic name before Fetch
// v13, by topic id from v13 (a session uses one or the other).
type sessionKey struct {
	topic     string
	id        [16]byte
	partition int32
}

// cachedPartition is a session's partition: the fetch parameters last
// asked for, and what was last answered.
type cachedPartition struct {
	key      sessionKey
	req      kmsg.FetchRequestTopicPartition
	hw       int64 // high watermark last sent; -1 none (or an error)
	logStart int64 // log start offset last sent; -1 none
}

// fetchSession is one cached session.
type fetchSession struct {
	id         int32
	privileged bool // a follower's
	topicIDs   bool // made by Fetch v13+
	created    time.Time

	mu sync.Mutex
	// guarded by mu:
	epoch    int32
	lastUsed time.Time
	order    list.List // of *cachedPartition, in fetch order
	byKey    map[sessionKey]*list.Element
	// spare holds the buffers an incremental fetch builds its request
	// in, between fetches (nil while one has them); a fetch of a large
	// session then allocates nothing in proportion to it.
	spare *sessionBufs
}

// sessionBufs are the per-partition slices of an incremental fetch.
type sessionBufs struct {
	all   []kmsg.FetchRequestTopicPartition
	parts []*cachedPartition
	sent  []sentValues
}

// take returns bufs of at least n entries, the session's spare ones if
// free.
func (s *fetchSession) takeLocked(n int) *sessionBufs {
	b := s.spare
	s.spare = nil
	if b == nil || cap(b.all) < n {
		b = &sessionBufs{all: make([]kmsg.FetchRequestTopicPartition, n), parts: make([]*cachedPartition, n), sent: make([]sentValues, n)}
	}
	b.all, b.parts, b.sent = b.all[:n], b.parts[:n], b.sent[:n]
	return b
}

// fetchSessions is the broker's session cache. Lock order: mu before a
// session's mu.
type fetchSessions struct {
	slots func() int
	now   func() time.Time

	mu sync.Mutex
	// guarded by mu:
	byID map[int32]*fetchSession
	// partitions is the partitions the sessions hold, at most
	// maxPartitions but for an incremental fetch under way.
	partitions, maxPartitions int
}

func newFetchSessions(slots func() int, now func() time.Time) *fetchSessions {
	return &fetchSessions{slots: slots, now: now, byID: make(map[int32]*fetchSession), maxPartitions: sessionPartitionsMax}
}

// dropLocked removes a session from the cache.
func (c *fetchSessions) dropLocked(s *fetchSession) {
	s.mu.Lock()
	c.partitions -= s.order.Len()
	s.mu.Unlock()
	delete(c.byID, s.id)
}

// Len is the number of sessions cached.
func (c *fetchSessions) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byID)
}

// Stats is the number of sessions cached and of partitions they hold.
func (c *fetchSessions) Stats() (sessions, partitions int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.byID {
		s.mu.Lock()
		partitions += s.order.Len()
		s.mu.Unlock()
	}
	return len(c.byID), partitions
}

// FetchSessionStats is the number of incremental fetch sessions cached and
// of partitions they hold (the metrics endpoint's gauges).
func (b *Broker) FetchSessionStats() (sessions, partitions int) { return b.sessions.Stats() }

// sessionKind says how a fetch uses sessions.
type sessionKind int

const (
	sessionless sessionKind = iota
	sessionFull             // full, creating a session at the response
	sessionIncremental
)

// sessionFetch is one fetch's use of the session cache.
type sessionFetch struct {
	kind       sessionKind
	privileged bool
	topicIDs   bool
	sess       *fetchSession // incremental
	epoch      int32         // the session's epoch once this fetch is answered
	// parts are the incremental fetch's partitions, in the order of the
	// request it reads (fetchState.parts' order).
	parts []*cachedPartition
	// sent are the last-sent values of parts, as of the request.
	sent []sentValues
	// kept records, per run, the partitions a response answers.
	kept []keptPartition
	// bufs back parts, sent and the request (incremental); returned to
	// the session by finish.
	bufs *sessionBufs
}

type sentValues struct{ hw, logStart int64 }

// keptPartition is a partition a response answers: its index in the
// fetch's partitions, and where it is in the response.
type keptPartition struct {
	k, topic, partition int
}

// open decides how a fetch uses sessions (Kafka's FetchManager.newContext).
// It returns the request to read (for an incremental fetch: the session's
// partitions), or a session error code.
func (c *fetchSessions) open(r *kmsg.FetchRequest, version int16, follower bool) (*kmsg.FetchRequest, *sessionFetch, int16) {
	sf := &sessionFetch{privileged: follower, topicIDs: version >= 13}
	if version < 7 {
		return r, sf, 0
	}
	if r.SessionEpoch == sessionInitialEpoch || r.SessionEpoch == sessionFinalEpoch {
		if r.SessionID != 0 {
			c.remove(r.SessionID)
		}
		if r.SessionEpoch == sessionInitialEpoch {
			sf.kind = sessionFull
		}
		return r, sf, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.byID[r.SessionID]
	if s == nil {
		return nil, nil, kerr.FetchSessionIDNotFound.Code
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch != r.SessionEpoch {
		return nil, nil, kerr.InvalidFetchSessionEpoch.Code
	}
	if s.topicIDs != sf.topicIDs {
		return nil, nil, kerr.FetchSessionTopicIDError.Code
	}
	before := s.order.Len()
	s.updateLocked(r, sf.topicIDs)
	after := s.order.Len()
	c.partitions += after - before
	if after == 0 {
		delete(c.byID, s.id)
		return r, sf, 0
	}
	if after > before && c.partitions > c.maxPartitions {
		// Grown past the cache's bound: answered in full, without the
		// session, which closes.
		sf.sess = s
		eff := sf.requestLocked(r)
		c.partitions -= after
		delete(c.byID, s.id)
		sf.sess, sf.parts, sf.sent, sf.bufs = nil, nil, nil, nil
		return eff, sf, 0
	}
	s.lastUsed = c.now()
	s.epoch = nextSessionEpoch(s.epoch)
	sf.kind, sf.sess, sf.epoch = sessionIncremental, s, s.epoch
	return sf.requestLocked(r), sf, 0
}

// updateLocked applies an incremental request's partitions and forgotten
// topics to the session.
func (s *fetchSession) updateLocked(r *kmsg.FetchRequest, topicIDs bool) {
	for i := range r.Topics {
		rt := &r.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			key := newSessionKey(rt.Topic, rt.TopicID, rp.Partition, topicIDs)
			if e, ok := s.byKey[key]; ok {
				e.Value.(*cachedPartition).req = *rp
				continue
			}
			s.byKey[key] = s.order.PushBack(&cachedPartition{key: key, req: *rp, hw: -1, logStart: -1})
		}
	}
	for _, ft := range r.ForgottenTopics {
		for _, p := range ft.Partitions {
			key := newSessionKey(ft.Topic, ft.TopicID, p, topicIDs)
			if e, ok := s.byKey[key]; ok {
				s.order.Remove(e)
				delete(s.byKey, key)
			}
		}
	}
}

// newSessionKey keys a partition by name or id; the name is copied out of
// the request frame it may alias.
func newSessionKey(topic string, id [16]byte, partition int32, topicIDs bool) sessionKey {
	if topicIDs {
		return sessionKey{id: id, partition: partition}
	}
	return sessionKey{topic: strings.Clone(topic), partition: partition}
}

// requestLocked is the request an incremental fetch reads: r's settings
// with every partition of the session, in the session's order (a topic's
// consecutive partitions under one topic entry, as Kafka groups them).
func (sf *sessionFetch) requestLocked(r *kmsg.FetchRequest) *kmsg.FetchRequest {
	eff := *r
	eff.Topics, eff.ForgottenTopics = nil, nil
	s := sf.sess
	// One allocation each: a topic's partitions are a run of all.
	sf.bufs = s.takeLocked(s.order.Len())
	all := sf.bufs.all
	sf.parts, sf.sent = sf.bufs.parts, sf.bufs.sent
	i, start := 0, 0
	for e := s.order.Front(); e != nil; e = e.Next() {
		cp := e.Value.(*cachedPartition)
		if nt := len(eff.Topics); nt == 0 || eff.Topics[nt-1].Topic != cp.key.topic || eff.Topics[nt-1].TopicID != cp.key.id {
			if nt > 0 {
				eff.Topics[nt-1].Partitions = all[start:i:i]
			}
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = cp.key.topic, cp.key.id
			eff.Topics = append(eff.Topics, t)
			start = i
		}
		all[i], sf.parts[i], sf.sent[i] = cp.req, cp, sentValues{cp.hw, cp.logStart}
		i++
	}
	if nt := len(eff.Topics); nt > 0 {
		eff.Topics[nt-1].Partitions = all[start:i:i]
	}
	return &eff
}

// remove closes a session.
func (c *fetchSessions) remove(id int32) {
	c.mu.Lock()
	if s := c.byID[id]; s != nil {
		c.dropLocked(s)
	}
	c.mu.Unlock()
}

// startRun resets what a run of the fetch answers.
func (sf *sessionFetch) startRun() { sf.kept = sf.kept[:0] }

// keep reports whether the response answers partition k (filled into
// sp): every partition of a full fetch, and those of an incremental one
// that changed (CachedPartition.maybeUpdateResponseData).
func (sf *sessionFetch) keep(k int, sp *kmsg.FetchResponseTopicPartition) bool {
	if sf.kind != sessionIncremental {
		return true
	}
	sent := sf.sent[k]
	return len(sp.RecordBatches) > 0 || sp.ErrorCode != 0 || sp.HighWatermark != sent.hw || sp.LogStartOffset != sent.logStart ||
		sp.PreferredReadReplica >= 0 || sp.DivergingEpoch.Epoch >= 0 || sp.DivergingEpoch.EndOffset >= 0
}

// placed records where an answered partition went in the response.
func (sf *sessionFetch) placed(k, topic, partition int) {
	if sf.kind != sessionless {
		sf.kept = append(sf.kept, keptPartition{k, topic, partition})
	}
}

// finish completes the session side of the response the fetch answers
// with: a full fetch creates its session, an incremental one records what
// it sent and rotates the partitions it answered with records to the end.
// A session that moved on meanwhile (a duplicate request) makes the answer
// INVALID_FETCH_SESSION_EPOCH; ok is false then and the caller answers
// with errResp instead.
func (c *fetchSessions) finish(sf *sessionFetch, r *kmsg.FetchRequest, resp *kmsg.FetchResponse) (ok bool) {
	switch sf.kind {
	case sessionless:
		resp.SessionID = 0
	case sessionFull:
		resp.SessionID = c.create(sf, r, resp)
	case sessionIncremental:
		s := sf.sess
		s.mu.Lock()
		defer s.mu.Unlock()
		defer func() {
			// The fetch is done with its buffers (the response holds
			// no reference to the request).
			clear(sf.bufs.parts)
			s.spare, sf.bufs, sf.parts, sf.sent = sf.bufs, nil, nil, nil
		}()
		if s.epoch != sf.epoch {
			return false
		}
		for _, kp := range sf.kept {
			cp := sf.parts[kp.k]
			sp := &resp.Topics[kp.topic].Partitions[kp.partition]
			cp.hw, cp.logStart = sp.HighWatermark, sp.LogStartOffset
			if sp.ErrorCode != 0 {
				cp.hw = -1
			}
			if len(sp.RecordBatches) == 0 {
				continue
			}
			if e, ok := s.byKey[cp.key]; ok {
				s.order.MoveToBack(e)
			}
		}
		resp.SessionID = s.id
	}
	return true
}

// unsent undoes, for the partitions of resp, what finish recorded as
// sent on session id: resp was not sent (a throttled fetch is answered
// empty), so they are answered again at the next incremental fetch, as
// Kafka's IncrementalFetchContext.getThrottledResponse leaves the cached
// partitions as they were.
func (c *fetchSessions) unsent(id int32, resp *kmsg.FetchResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.byID[id]
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			if e, ok := s.byKey[newSessionKey(t.Topic, t.TopicID, t.Partitions[j].Partition, s.topicIDs)]; ok {
				cp := e.Value.(*cachedPartition)
				cp.hw, cp.logStart = -1, -1
			}
		}
	}
}

// create makes a session for a full fetch's partitions and what it
// answered (kept holds every partition, in request order), if the cache
// has or can make room; it returns the id, or 0.
func (c *fetchSessions) create(sf *sessionFetch, r *kmsg.FetchRequest, resp *kmsg.FetchResponse) int32 {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	size := len(sf.kept)
	slots := c.slots()
	if slots <= 0 || size > c.maxPartitions || len(c.byID) >= slots && !c.evictLocked(sf.privileged, size, now) {
		return 0
	}
	for c.partitions+size > c.maxPartitions {
		if !c.evictStaleLocked(now) {
			return 0
		}
	}
	s := &fetchSession{privileged: sf.privileged, topicIDs: sf.topicIDs, created: now, lastUsed: now,
		epoch: nextSessionEpoch(sessionInitialEpoch), byKey: make(map[sessionKey]*list.Element, size)}
	k := 0
	for i := range r.Topics {
		rt := &r.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			cp := &cachedPartition{key: newSessionKey(rt.Topic, rt.TopicID, rp.Partition, sf.topicIDs), req: *rp, hw: -1, logStart: -1}
			if k < len(sf.kept) && sf.kept[k].k == k {
				kp := sf.kept[k]
				sp := &resp.Topics[kp.topic].Partitions[kp.partition]
				cp.logStart = sp.LogStartOffset
				if sp.ErrorCode == 0 {
					cp.hw = sp.HighWatermark
				}
			}
			k++
			if e, dup := s.byKey[cp.key]; dup {
				s.order.Remove(e)
			}
			s.byKey[cp.key] = s.order.PushBack(cp)
		}
	}
	for {
		s.id = rand.Int32N(math.MaxInt32-1) + 1
		if c.byID[s.id] == nil {
			break
		}
	}
	c.byID[s.id] = s
	c.partitions += s.order.Len()
	return s.id
}

// evictStaleLocked evicts the least recently used session if it has not
// been used for two minutes; it reports whether it did.
func (c *fetchSessions) evictStaleLocked(now time.Time) bool {
	var lru *fetchSession
	var lruUsed time.Time
	for _, s := range c.byID {
		s.mu.Lock()
		used := s.lastUsed
		s.mu.Unlock()
		if lru == nil || used.Before(lruUsed) {
			lru, lruUsed = s, used
		}
	}
	if lru == nil || now.Sub(lruUsed) <= sessionEvictAfter {
		return false
	}
	c.dropLocked(lru)
	return true
}

// evictLocked makes room for a new session of size partitions, as
// FetchSessionCache.tryEvict does; it reports whether it did.
func (c *fetchSessions) evictLocked(privileged bool, size int, now time.Time) bool {
	if len(c.byID) == 0 {
		return false
	}
	var lru, victim *fetchSession
	var lruUsed time.Time
	var victimSize int
	for _, s := range c.byID {
		s.mu.Lock()
		used, n := s.lastUsed, s.order.Len()
		s.mu.Unlock()
		if lru == nil || used.Before(lruUsed) || used.Equal(lruUsed) && s.id < lru.id {
			lru, lruUsed = s, used
		}
		// Its age as of its last use, as Kafka's touch files it.
		old := used.Sub(s.created) > sessionEvictAfter
		if !old && !(privileged && !s.privileged) {
			continue // not evictable by this session
		}
		if victim == nil || lessEvictable(s.privileged, n, s.id, victim.privileged, victimSize, victim.id) {
			victim, victimSize = s, n
		}
	}
	if now.Sub(lruUsed) > sessionEvictAfter {
		c.dropLocked(lru) // stale
		return true
	}
	// The new session's key is (privileged, size, 0); it evicts the
	// least valuable evictable one unless that one is worth more.
	if victim == nil || lessEvictable(privileged, size, 0, victim.privileged, victimSize, victim.id) {
		return false
	}
	c.dropLocked(victim)
	return true
}

// lessEvictable orders sessions as Kafka's EvictableKey: consumers' before
// followers', then by size, then by id.
func lessEvictable(privA bool, sizeA int, idA int32, privB bool, sizeB int, idB int32) bool {
	if privA != privB {
		return !privA
	}
	if sizeA != sizeB {
		return sizeA < sizeB
	}
	return idA < idB
}

// quiet reports, from the partition's lock-free mirrors only, that a
// consumer's incremental fetch would leave partition k out: it is led
// here at the epoch the client knows, nothing changed since it was last
// answered (high watermark, log start offset), there is nothing to read
// and no error or divergence to report. Most partitions of a large
// session are quiet; skipping them early (no lock, no response entry) is
// what keeps an idle session cheap. Anything else takes the full path,
// which decides the same way (keep).
// quietFastPath is off only in the test that checks it changes nothing.
var quietFastPath = true

func (fs *fetchState) quiet(k int, p *Partition, rp *kmsg.FetchRequestTopicPartition) bool {
	sf := fs.sess
	if !quietFastPath || sf.kind != sessionIncremental || fs.replicaID >= 0 || p == nil || !p.IsLeader() || fs.rackAware {
		return false
	}
	epoch := p.LeaderEpoch()
	if checkEpoch(rp.CurrentLeaderEpoch, epoch) != nil {
		return false
	}
	if fs.version >= 12 && rp.LastFetchedEpoch >= 0 && rp.LastFetchedEpoch != epoch {
		return false // a divergence check is due
	}
	sent := sf.sent[k]
	hw, start := p.HighWatermark(), p.LogStartOffset()
	if hw != sent.hw || start != sent.logStart {
		return false
	}
	limit := hw
	if fs.r.IsolationLevel == readCommitted {
		limit = p.LastStableOffset()
	}
	return rp.FetchOffset >= limit && rp.FetchOffset >= start && rp.FetchOffset <= p.LogEndOffset()
}
