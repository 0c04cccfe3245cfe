package coordinator

// OffsetFetch (key 9), versions 0-9.
//
// Null topics (v2+) ask for every committed offset of the group. v7+ may
// require stable offsets: a partition with offsets pending in an open
// transaction is UNSTABLE_OFFSET_COMMIT, which the client retries. v8+
// ask for several groups. An unknown group or partition has offset -1.
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
				var want []topicPartition
				if rg.Topics != nil {
					want = []topicPartition{}
					for _, t := range rg.Topics {
						for _, p := range t.Partitions {
							want = append(want, topicPartition{t.Topic, p})
						}
					}
				}
				offsets, gerr := c.fetchAuthorized(req, rg.Group, want, r.RequireStable)
				g := kmsg.NewOffsetFetchResponseGroup()
				g.Group = rg.Group
				g.Topics = []kmsg.OffsetFetchResponseGroupTopic{}
				if gerr != nil {
					g.ErrorCode = gerr.Code
				}
				for _, o := range offsets {
					if n := len(g.Topics); n == 0 || g.Topics[n-1].Topic != o.tp.topic {
						t := kmsg.NewOffsetFetchResponseGroupTopic()
						t.Topic = o.tp.topic
						g.Topics = append(g.Topics, t)
					}
					t := &g.Topics[len(g.Topics)-1]
					p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					md := o.metadata
					p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = o.tp.partition, o.offset, o.leaderEpoch, &md, o.code
					t.Partitions = append(t.Partitions, p)
				}
				resp.Groups = append(resp.Groups, g)
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
		offsets, gerr := c.fetchAuthorized(req, r.Group, want, r.RequireStable && req.Version >= 7)
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
func (c *groupCoordinator) fetchAuthorized(req *protocol.Request, groupID string, want []topicPartition, requireStable bool) ([]fetchedOffset, *kerr.Error) {
	if !c.authorize(req, acl.Describe, acl.Group, groupID) {
		return nil, kerr.GroupAuthorizationFailed
	}
	if c.cfg.Authorizer == nil {
		return c.fetchOffsets(groupID, want, requireStable)
	}
	if want == nil {
		offsets, err := c.fetchOffsets(groupID, nil, requireStable)
		return slices.DeleteFunc(offsets, func(o fetchedOffset) bool { return !c.allowed(req, acl.Describe, acl.Topic, o.tp.topic) }), err
	}
	denied := deniedTopics(&c.base, req, acl.Describe, want, func(tp topicPartition) string { return tp.topic })
	offsets, err := c.fetchOffsets(groupID, slices.DeleteFunc(slices.Clone(want), func(tp topicPartition) bool { return denied[tp.topic] }), requireStable)
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

// fetchOffsets returns the committed offsets of want (nil: all) in
// request order (all: sorted).
func (c *groupCoordinator) fetchOffsets(groupID string, want []topicPartition, requireStable bool) ([]fetchedOffset, *kerr.Error) {
	if groupID == "" {
		return nil, kerr.InvalidGroupID
	}
	g, err := c.lockGroup(groupID, false)
	if err != nil {
		return nil, c.kerrOf(err)
	}
	var out []fetchedOffset
	if g == nil {
		for _, tp := range want {
			out = append(out, fetchedOffset{tp: tp, offset: -1, leaderEpoch: -1})
		}
		return out, nil
	}
	defer g.mu.Unlock()
	if want == nil {
		want = sortedTPs(g.offsets)
	}
	for _, tp := range want {
		o := fetchedOffset{tp: tp, offset: -1, leaderEpoch: -1}
		if requireStable && g.hasPendingOffset(tp) {
			o.code = kerr.UnstableOffsetCommit.Code
		} else if e, ok := g.offsets[tp]; ok {
			o.offset, o.leaderEpoch, o.metadata = e.offset, e.leaderEpoch, e.metadata
		}
		out = append(out, o)
	}
	return out, nil
}
