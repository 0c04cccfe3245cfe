package broker

// A follower's fetch session (KIP-227), the client side as Kafka's
// FetchSessionHandler keeps it: the first fetch to a leader is full and
// asks for a session (epoch 0); while the leader keeps it, each fetch
// lists only the partitions whose fetch position changed since the last
// answered one, and those no longer followed as forgotten, with the
// session's next epoch. A session error (FETCH_SESSION_ID_NOT_FOUND,
// INVALID_FETCH_SESSION_EPOCH, FETCH_SESSION_TOPIC_ID_ERROR) or a failed
// request starts over with a full fetch that closes the old session.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// followerSession is one fetcher's session with its leader (owned by the
// fetcher's goroutine).
type followerSession struct {
	id, epoch int32
	// sent is what the leader's session holds: the parameters of every
	// partition as last sent, when a session is open.
	sent map[sessionPartKey]kmsg.FetchRequestTopicPartition
	// pending is what sent becomes once the request in flight is
	// answered.
	pending map[sessionPartKey]kmsg.FetchRequestTopicPartition
}

type sessionPartKey struct {
	topic     string
	partition int32
}

// request turns a full fetch of every followed partition into the
// session's next request.
func (s *followerSession) request(full *kmsg.FetchRequest) *kmsg.FetchRequest {
	s.pending = make(map[sessionPartKey]kmsg.FetchRequestTopicPartition)
	for _, t := range full.Topics {
		for _, p := range t.Partitions {
			s.pending[sessionPartKey{t.Topic, p.Partition}] = p
		}
	}
	if s.epoch == sessionInitialEpoch || s.sent == nil {
		full.SessionID, full.SessionEpoch = s.id, sessionInitialEpoch
		return full
	}
	inc := *full
	inc.SessionID, inc.SessionEpoch = s.id, s.epoch
	inc.Topics, inc.ForgottenTopics = nil, nil
	for _, t := range full.Topics {
		var changed []kmsg.FetchRequestTopicPartition
		for _, p := range t.Partitions {
			if old, ok := s.sent[sessionPartKey{t.Topic, p.Partition}]; !ok || !samePosition(old, p) {
				changed = append(changed, p)
			}
		}
		if len(changed) > 0 {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.Partitions = t.Topic, changed
			inc.Topics = append(inc.Topics, rt)
		}
	}
	forgotten := map[string][]int32{}
	for k := range s.sent {
		if _, ok := s.pending[k]; !ok {
			forgotten[k.topic] = append(forgotten[k.topic], k.partition)
		}
	}
	for topic, parts := range forgotten {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.Partitions = topic, parts
		inc.ForgottenTopics = append(inc.ForgottenTopics, ft)
	}
	return &inc
}

// samePosition reports whether a partition's fetch parameters are
// unchanged (the leader's cached ones still hold).
func samePosition(a, b kmsg.FetchRequestTopicPartition) bool {
	return a.FetchOffset == b.FetchOffset && a.CurrentLeaderEpoch == b.CurrentLeaderEpoch &&
		a.LastFetchedEpoch == b.LastFetchedEpoch && a.LogStartOffset == b.LogStartOffset &&
		a.PartitionMaxBytes == b.PartitionMaxBytes
}

// answered records a response; it reports a session error, after which
// the next fetch (made at once) is full.
func (s *followerSession) answered(resp *kmsg.FetchResponse) (sessionErr bool) {
	switch resp.ErrorCode {
	case kerr.FetchSessionIDNotFound.Code:
		s.id, s.epoch, s.sent = 0, sessionInitialEpoch, nil
		return true
	case kerr.InvalidFetchSessionEpoch.Code, kerr.FetchSessionTopicIDError.Code:
		s.failed()
		return true
	case 0:
	default:
		s.failed()
		return false
	}
	if resp.SessionID == 0 {
		s.id, s.epoch, s.sent = 0, sessionInitialEpoch, nil
		return false
	}
	if s.epoch == sessionInitialEpoch || s.id != resp.SessionID {
		s.id, s.epoch = resp.SessionID, 0
	}
	s.epoch = nextSessionEpoch(s.epoch)
	s.sent = s.pending
	return false
}

// failed makes the next fetch full, closing the session the leader may
// still hold (its id with epoch 0).
func (s *followerSession) failed() {
	s.epoch, s.sent = sessionInitialEpoch, nil
}
