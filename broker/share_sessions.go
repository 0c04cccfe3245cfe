package broker

// Share sessions (KIP-932, Kafka's ShareSessionCache): per (group, member)
// the share partitions a consumer fetches from this broker, so that a
// ShareFetch names only what changed. ShareSessionEpoch 0 opens a session
// (replacing the member's previous one, whose acquired records are
// released), -1 closes it (its acquired records are released), as does
// closing the connection that opened it (Kafka 4.1); any other
// value must be the session's current epoch, which each request then
// advances (wrapping from MaxInt32 to 1). At most
// group.share.max.share.sessions sessions are kept; a new one past the
// limit is refused with SHARE_SESSION_LIMIT_REACHED (SHARE_SESSION_NOT_FOUND
// to v0 clients, as Kafka 4.0 answered). As in Kafka 4.1 (KAFKA-19159), no
// session is evicted to make room, however long idle: its member holds
// acquisition locks, which eviction would drop.

import (
	"math"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/metadata"
)

// Share session epochs with a meaning of their own.
const (
	shareEpochInitial int32 = 0
	shareEpochFinal   int32 = -1
)

// shareTP is a topic partition of a share session.
type shareTP struct {
	topic     metadata.Uuid
	partition int32
}

type shareSessionKey struct{ group, member string }

// shareSession is one member's session on this broker.
type shareSession struct {
	epoch int32
	parts []shareTP // in the order they were added
	conn  uint64    // the connection that opened it
}

// shareSessions is the cache.
type shareSessions struct {
	mu sync.Mutex
	// guarded by mu:
	byKey map[shareSessionKey]*shareSession
}

// nextShareEpoch is the epoch after e.
func nextShareEpoch(e int32) int32 {
	if e == math.MaxInt32 {
		return 1
	}
	return e + 1
}

// open starts a new session with parts, replacing the member's previous
// session, if any, whose partitions it returns.
func (s *shareSessions) open(k shareSessionKey, conn uint64, parts []shareTP, limit int, v0 bool) (old []shareTP, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev := s.byKey[k]; prev != nil {
		old = prev.parts
		delete(s.byKey, k)
	}
	if limit > 0 && len(s.byKey) >= limit {
		if v0 {
			return old, kerr.ShareSessionNotFound
		}
		return old, kerr.ShareSessionLimitReached
	}
	if s.byKey == nil {
		s.byKey = make(map[shareSessionKey]*shareSession)
	}
	ss := &shareSession{epoch: 1, conn: conn}
	ss.add(parts)
	s.byKey[k] = ss
	return old, nil
}

// add appends the parts not in the session yet.
func (ss *shareSession) add(parts []shareTP) {
	for _, tp := range parts {
		if !slices.Contains(ss.parts, tp) {
			ss.parts = append(ss.parts, tp)
		}
	}
}

// update checks the epoch of a subsequent request, adds and forgets
// partitions, advances the epoch and returns the session's partitions.
func (s *shareSessions) update(k shareSessionKey, epoch int32, add, forget []shareTP) ([]shareTP, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.byKey[k]
	switch {
	case ss == nil:
		return nil, kerr.ShareSessionNotFound
	case ss.epoch != epoch:
		return nil, kerr.InvalidShareSessionEpoch
	}
	ss.parts = slices.DeleteFunc(ss.parts, func(tp shareTP) bool { return slices.Contains(forget, tp) })
	ss.add(add)
	ss.epoch = nextShareEpoch(ss.epoch)
	return slices.Clone(ss.parts), nil
}

// touch checks a ShareAcknowledge's epoch and advances it; the final
// epoch only needs the session to exist.
func (s *shareSessions) touch(k shareSessionKey, epoch int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.byKey[k]
	switch {
	case epoch == shareEpochInitial:
		return kerr.InvalidShareSessionEpoch
	case ss == nil:
		return kerr.ShareSessionNotFound
	case epoch == shareEpochFinal:
		return nil
	case ss.epoch != epoch:
		return kerr.InvalidShareSessionEpoch
	}
	ss.epoch = nextShareEpoch(ss.epoch)
	return nil
}

// exists reports whether the member has a session.
func (s *shareSessions) exists(k shareSessionKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byKey[k] != nil
}

// close removes a session and returns its partitions.
func (s *shareSessions) close(k shareSessionKey) []shareTP {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.byKey[k]
	if ss == nil {
		return nil
	}
	delete(s.byKey, k)
	return ss.parts
}

// closeConn removes the sessions a connection opened and returns them.
func (s *shareSessions) closeConn(conn uint64) map[shareSessionKey][]shareTP {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out map[shareSessionKey][]shareTP
	for k, ss := range s.byKey {
		if ss.conn != conn {
			continue
		}
		if out == nil {
			out = make(map[shareSessionKey][]shareTP)
		}
		out[k] = ss.parts
		delete(s.byKey, k)
	}
	return out
}

// ConnClosed ends the share sessions a closed connection opened,
// releasing what their members held (Kafka 4.1 ties a share session to
// its connection).
func (b *Broker) ConnClosed(conn uint64) {
	for k, parts := range b.shares.sessions.closeConn(conn) {
		b.releaseSession(k, parts)
	}
}

// releaseSession releases what the member acquired on the partitions of
// its (ended) session.
func (b *Broker) releaseSession(k shareSessionKey, parts []shareTP) {
	for _, tp := range parts {
		if sp := b.shares.loaded(sharePartKey{group: k.group, topic: tp.topic, partition: tp.partition}); sp != nil {
			sp.releaseMember(k.member)
		}
	}
}
