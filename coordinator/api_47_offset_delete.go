package coordinator

// OffsetDelete (key 47), version 0. An Empty group's offsets can all be
// deleted; an active consumer group's (classic with the consumer
// protocol, or KIP-848) only for topics no member subscribes to
// (GROUP_SUBSCRIBED_TO_TOPIC otherwise); another active group's not at
// all (NON_EMPTY_GROUP). A partition with offsets pending in an open
// transaction is tombstoned too, as Kafka's deleteOffsets does: the
// transaction's commit marker then brings nothing back. DELETE on the
// group is needed, else GROUP_AUTHORIZATION_FAILED; READ on a topic, else
// its partitions are TOPIC_AUTHORIZATION_FAILED.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/coordinator/runtime"
	"gregor/protocol"
)

func (c *groupCoordinator) handleOffsetDelete(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.OffsetDeleteRequest)
	resp := req.Response().(*kmsg.OffsetDeleteResponse)
	if !c.authorize(req, acl.Delete, acl.Group, r.Group) {
		resp.ErrorCode, resp.Topics = kerr.GroupAuthorizationFailed.Code, []kmsg.OffsetDeleteResponseTopic{}
		return resp, nil
	}
	denied := deniedTopics(&c.base, req, acl.Read, r.Topics, func(t kmsg.OffsetDeleteRequestTopic) string { return t.Topic })
	allowed := *r
	allowed.Topics = slices.DeleteFunc(slices.Clone(r.Topics), func(t kmsg.OffsetDeleteRequestTopic) bool { return denied[t.Topic] })
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		resp.Topics = []kmsg.OffsetDeleteResponseTopic{}
		codes, gerr := c.offsetDelete(ctx, &allowed)
		if gerr != nil {
			resp.ErrorCode = gerr.Code
			return resp, nil
		}
		for _, t := range r.Topics {
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = codes[topicPartition{t.Topic, p.Partition}]
				if denied[t.Topic] {
					rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	})
	return nil, nil
}

func (c *groupCoordinator) offsetDelete(ctx context.Context, r *kmsg.OffsetDeleteRequest) (map[topicPartition]int16, *kerr.Error) {
	if r.Group == "" {
		return nil, kerr.InvalidGroupID
	}
	g, err := c.lockGroup(r.Group, false)
	if err != nil {
		return nil, c.kerrOf(err)
	}
	if g == nil {
		return nil, kerr.GroupIDNotFound
	}
	codes, w, kerrv := c.offsetDeleteLocked(g, r)
	g.mu.Unlock()
	if kerrv != nil {
		return nil, kerrv
	}
	if err := awaitWrite(ctx, w, c.commitTimeout()); err != nil {
		return nil, c.kerrOf(err)
	}
	return codes, nil
}

// offsetDeleteLocked deletes the offsets a request names from a locked
// group, where Kafka allows it, and returns the tombstones' write.
func (c *groupCoordinator) offsetDeleteLocked(g *group, r *kmsg.OffsetDeleteRequest) (map[topicPartition]int16, runtime.Write, *kerr.Error) {
	var subscribed map[string]bool
	switch {
	case g.share != nil:
		return nil, runtime.Write{}, kerr.GroupIDNotFound
	case g.consumer != nil:
		subscribed = g.consumer.subscribedNames("", nil)
	case g.state == groupDead:
		return nil, runtime.Write{}, kerr.GroupIDNotFound
	case g.state == groupEmpty:
	case g.protocolType == "consumer":
		subscribed, _ = g.subscribedTopics()
	default:
		return nil, runtime.Write{}, kerr.NonEmptyGroup
	}
	codes := make(map[topicPartition]int16)
	var del []topicPartition
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			tp := topicPartition{t.Topic, p.Partition}
			switch {
			case subscribed[t.Topic]:
				codes[tp] = kerr.GroupSubscribedToTopic.Code
			case !c.host.PartitionExists(t.Topic, p.Partition):
				codes[tp] = kerr.UnknownTopicOrPartition.Code
			default:
				if g.holdsOffset(tp) {
					del = append(del, tp)
				}
			}
		}
	}
	w, err := c.deleteOffsets(g, del, false)
	if err != nil {
		return nil, w, c.kerrOf(err)
	}
	return codes, w, nil
}

// subscribedTopics is the union of a consumer group's subscriptions, read
// from its members' protocol metadata; ok is false when some member's
// metadata does not parse (then nothing is known, as in Kafka).
func (g *group) subscribedTopics() (topics map[string]bool, ok bool) {
	out := make(map[string]bool)
	ok = true
	for _, m := range g.members {
		md := kmsg.NewConsumerMemberMetadata()
		if err := md.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			ok = false
			continue
		}
		for _, t := range md.Topics {
			out[t] = true
		}
	}
	return out, ok
}
