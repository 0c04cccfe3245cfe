package coordinator

// OffsetFetch (key 9), versions 0-10.
//
// Null topics (v2+) ask for every committed offset of the group. v7+ may
// require stable offsets: the fetch first waits for the commits of its
// partitions still being replicated (Kafka runs it as a write, after the
// writes before it), then a partition with offsets pending in an open
// transaction is UNSTABLE_OFFSET_COMMIT, which the client retries. v8+
// ask for several groups. An unknown group or partition has offset -1;
// a share group is answered as an unknown one (no error), as Kafka does.
// The empty group id is a group like any other, as in Kafka (backward
// compatibility). v9+ carry the member id and epoch of a consumer group
// member, checked as Kafka's ConsumerGroup.validateOffsetFetch
// (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH) when given. v10 names topics by id (an unknown id:
// UNKNOWN_TOPIC_ID for its partitions).
// DESCRIBE on the group and on each topic is needed (fetchAuthorized).

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

// fetchedOffset is one partition of an OffsetFetch answer.
type fetchedOffset struct {
	tp          topicPartition
	id          topicID // v10
	offset      int64
	leaderEpoch int32
	metadata    string
	code        int16
}

func (c *groupCoordinator) handleOffsetFetch(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.OffsetFetchRequest)
	resp := req.Response().(*kmsg.OffsetFetchResponse)
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		if req.Version >= 8 {
			resp.Groups = []kmsg.OffsetFetchResponseGroup{}
			for _, rg := range r.Groups {
				resp.Groups = append(resp.Groups, c.fetchGroupOffsets(ctx, req, &rg, r.RequireStable, req.Version))
			}
			return resp, nil
		}
		var want []topicPartition
		if r.Topics != nil || req.Version < 2 {
			want = []topicPartition{}
			for _, t := range r.Topics {
				for _, p := range t.Partitions {
					want = append(want, topicPartition{t.Topic, p})
				}
			}
		}
		offsets, gerr := c.fetchAuthorized(ctx, req, r.Group, want, r.RequireStable && req.Version >= 7, nil, -1)
		resp.Topics = []kmsg.OffsetFetchResponseTopic{}
		if gerr != nil {
			if req.Version >= 2 {
				resp.ErrorCode = gerr.Code
				return resp, nil
			}
			// v0-v1 have no group error: each partition carries it.
			offsets = offsets[:0]
			for _, tp := range want {
				offsets = append(offsets, fetchedOffset{tp: tp, offset: -1, leaderEpoch: -1, code: gerr.Code})
			}
		}
		for _, o := range offsets {
			if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != o.tp.topic {
				t := kmsg.NewOffsetFetchResponseTopic()
				t.Topic = o.tp.topic
				resp.Topics = append(resp.Topics, t)
			}
			t := &resp.Topics[len(resp.Topics)-1]
			p := kmsg.NewOffsetFetchResponseTopicPartition()
			md := o.metadata
			p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = o.tp.partition, o.offset, o.leaderEpoch, &md, o.code
			t.Partitions = append(t.Partitions, p)
		}
		return resp, nil
	})
	return nil, nil
}

// fetchAuthorized is fetchOffsets after Kafka's checks: DESCRIBE on the
// group, else GROUP_AUTHORIZATION_FAILED; the partitions of topics the
// principal may not DESCRIBE are TOPIC_AUTHORIZATION_FAILED (offset -1)
// when named, and left out when every offset is asked for.
func (c *groupCoordinator) fetchAuthorized(ctx context.Context, req *protocol.Request, groupID string, want []topicPartition, requireStable bool, memberID *string, epoch int32) ([]fetchedOffset, *kerr.Error) {
	if !c.authorize(req, acl.Describe, acl.Group, groupID) {
		return nil, kerr.GroupAuthorizationFailed
	}
	if c.cfg.Authorizer == nil {
		return c.fetchOffsets(ctx, groupID, want, requireStable, memberID, epoch)
	}
	if want == nil {
		offsets, err := c.fetchOffsets(ctx, groupID, nil, requireStable, memberID, epoch)
		return slices.DeleteFunc(offsets, func(o fetchedOffset) bool { return !c.allowed(req, acl.Describe, acl.Topic, o.tp.topic) }), err
	}
	denied := deniedTopics(&c.base, req, acl.Describe, want, func(tp topicPartition) string { return tp.topic })
	offsets, err := c.fetchOffsets(ctx, groupID, slices.DeleteFunc(slices.Clone(want), func(tp topicPartition) bool { return denied[tp.topic] }), requireStable, memberID, epoch)
	if err != nil || len(denied) == 0 {
		return offsets, err
	}
	out := make([]fetchedOffset, 0, len(want))
	for _, tp := range want {
		if denied[tp.topic] {
			out = append(out, fetchedOffset{tp: tp, offset: -1, leaderEpoch: -1, code: kerr.TopicAuthorizationFailed.Code})
		} else if len(offsets) > 0 {
			out, offsets = append(out, offsets[0]), offsets[1:]
		}
	}
	return out, nil
}

// fetchGroupOffsets answers one group of a v8+ request.
func (c *groupCoordinator) fetchGroupOffsets(ctx context.Context, req *protocol.Request, rg *kmsg.OffsetFetchRequestGroup, requireStable bool, version int16) kmsg.OffsetFetchResponseGroup {
	var want []topicPartition
	var unknown []fetchedOffset // v10: partitions of unknown topic ids
	ids := make(map[string]topicID)
	if rg.Topics != nil {
		want = []topicPartition{}
		for _, t := range rg.Topics {
			name := t.Topic
			if version >= 10 {
				n, _, ok := c.host.TopicNameOf(t.TopicID)
				if !ok {
					for _, p := range t.Partitions {
						unknown = append(unknown, fetchedOffset{tp: topicPartition{partition: p}, id: t.TopicID, offset: -1, leaderEpoch: -1, code: kerr.UnknownTopicID.Code})
					}
					continue
				}
				name, ids[n] = n, t.TopicID
			}
			for _, p := range t.Partitions {
				want = append(want, topicPartition{name, p})
			}
		}
	}
	memberID, epoch := rg.MemberID, rg.MemberEpoch
	if version < 9 {
		memberID, epoch = nil, -1
	}
	offsets, gerr := c.fetchAuthorized(ctx, req, rg.Group, want, requireStable, memberID, epoch)
	g := kmsg.NewOffsetFetchResponseGroup()
	g.Group = rg.Group
	g.Topics = []kmsg.OffsetFetchResponseGroupTopic{}
	if gerr != nil {
		g.ErrorCode = gerr.Code
		return g
	}
	if version >= 10 {
		kept := offsets[:0]
		for _, o := range offsets {
			if id, ok := ids[o.tp.topic]; ok {
				o.id = id
			} else if id, _, ok := c.host.TopicIDOf(o.tp.topic); ok {
				o.id = id
			} else {
				continue // a deleted topic has no id to name it by
			}
			kept = append(kept, o)
		}
		offsets = append(kept, unknown...)
	}
	for _, o := range offsets {
		if n := len(g.Topics); n == 0 || g.Topics[n-1].Topic != o.tp.topic || g.Topics[n-1].TopicID != o.id {
			t := kmsg.NewOffsetFetchResponseGroupTopic()
			t.Topic, t.TopicID = o.tp.topic, o.id
			g.Topics = append(g.Topics, t)
		}
		t := &g.Topics[len(g.Topics)-1]
		p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		md := o.metadata
		p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = o.tp.partition, o.offset, o.leaderEpoch, &md, o.code
		t.Partitions = append(t.Partitions, p)
	}
	return g
}

// fetchOffsets returns the committed offsets of want (nil: all) in
// request order (all: sorted). A consumer group checks the member that
// asks, if one is named (memberID, epoch).
func (c *groupCoordinator) fetchOffsets(ctx context.Context, groupID string, want []topicPartition, requireStable bool, memberID *string, epoch int32) ([]fetchedOffset, *kerr.Error) {
	if requireStable {
		if err := c.awaitInFlightCommits(ctx, groupID, want); err != nil {
			return nil, err
		}
	}
	g, err := c.lockGroup(groupID, false)
	if err != nil {
		return nil, c.kerrOf(err)
	}
	if g == nil {
		return noOffsets(want), nil
	}
	defer g.mu.Unlock()
	if g.share != nil {
		// Kafka's ShareGroup.validateOffsetFetch throws
		// GroupIdNotFoundException, which OffsetMetadataManager answers
		// as for a group that does not exist (OffsetCommit and
		// OffsetDelete keep the error).
		return noOffsets(want), nil
	}
	if g.consumer != nil {
		if e := checkConsumerFetch(g.consumer, memberID, epoch); e != nil {
			return nil, e
		}
	}
	if want == nil {
		want = sortedTPs(g.offsets)
	}
	var out []fetchedOffset
	for _, tp := range want {
		o := fetchedOffset{tp: tp, offset: -1, leaderEpoch: -1}
		if requireStable && g.hasPendingTxnOffset(tp) {
			o.code = kerr.UnstableOffsetCommit.Code
		} else if e, ok := g.offsets[tp]; ok {
			o.offset, o.leaderEpoch, o.metadata = e.offset, e.leaderEpoch, e.metadata
		}
		out = append(out, o)
	}
	return out, nil
}

// noOffsets is the answer for a group without offsets: -1 for each
// partition asked for, nothing when all are.
func noOffsets(want []topicPartition) []fetchedOffset {
	var out []fetchedOffset
	for _, tp := range want {
		out = append(out, fetchedOffset{tp: tp, offset: -1, leaderEpoch: -1})
	}
	return out
}

// checkConsumerFetch validates who fetches a consumer group's offsets, as
// Kafka's ConsumerGroup.validateOffsetFetch: anyone naming no member with
// a negative epoch; otherwise a member at its epoch.
func checkConsumerFetch(cg *consumerGroup, memberID *string, epoch int32) *kerr.Error {
	if memberID == nil && epoch < 0 {
		return nil
	}
	id := ""
	if memberID != nil {
		id = *memberID
	}
	m := cg.members[id]
	if m == nil {
		return kerr.UnknownMemberID
	}
	if epoch != m.cur.epoch {
		if m.usesClassic() {
			return kerr.IllegalGeneration
		}
		return kerr.StaleMemberEpoch
	}
	return nil
}
