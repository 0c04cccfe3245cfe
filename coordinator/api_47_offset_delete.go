package coordinator

// OffsetDelete (key 47), version 0. An Empty group's offsets can all be
// deleted; an active consumer group's (classic with the consumer
// protocol, or KIP-848) only for topics no member subscribes to
// (GROUP_SUBSCRIBED_TO_TOPIC otherwise; a classic group's subscriptions
// are those of its generation's start, and while they are unknown every
// topic counts, as in Kafka); another active group's not at all
// (NON_EMPTY_GROUP). An unknown partition is UNKNOWN_TOPIC_OR_PARTITION
// before anything else. A partition with offsets pending in an open
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
	var subscribed func(topic string) bool
	switch {
	case g.share != nil:
		return nil, runtime.Write{}, kerr.GroupIDNotFound
	case g.consumer != nil:
		names := g.consumer.subscribedNames("", nil)
		subscribed = func(topic string) bool { return names[topic] }
	case g.state == groupDead:
		return nil, runtime.Write{}, kerr.GroupIDNotFound
	case g.state == groupEmpty, g.protocolType == consumerProtocolType:
		subscribed = g.isSubscribedToTopic
	default:
		return nil, runtime.Write{}, kerr.NonEmptyGroup
	}
	codes := make(map[topicPartition]int16)
	var del []topicPartition
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			tp := topicPartition{t.Topic, p.Partition}
			// KafkaApis answers unknown partitions before the
			// coordinator looks at the group's subscriptions.
			switch {
			case !c.host.PartitionExists(t.Topic, p.Partition):
				codes[tp] = kerr.UnknownTopicOrPartition.Code
			case subscribed(t.Topic):
				codes[tp] = kerr.GroupSubscribedToTopic.Code
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

// computeSubscribed is the union of a classic group's subscriptions, as
// Kafka's ClassicGroup.computeSubscribedTopics at each new generation and
// at load: known only for the consumer protocol type; empty without
// members; unknown (nil) without a protocol or when some member's
// metadata for it does not parse.
func (g *group) computeSubscribed() map[string]bool {
	if g.protocolType != consumerProtocolType {
		return nil
	}
	out := make(map[string]bool)
	if len(g.members) == 0 {
		return out
	}
	if g.protocol == "" {
		return nil
	}
	for _, m := range g.members {
		md := kmsg.NewConsumerMemberMetadata()
		if err := md.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil
		}
		for _, t := range md.Topics {
			out[t] = true
		}
	}
	return out
}

// isSubscribedToTopic is Kafka's ClassicGroup.isSubscribedToTopic: while
// the subscriptions are unknown (before the first generation, or a
// member's metadata did not parse), a group of the consumer protocol
// type counts as subscribed to every topic, so OffsetDelete does not
// delete offsets its members may be using.
func (g *group) isSubscribedToTopic(topic string) bool {
	if g.subscribed == nil {
		return g.protocolType == consumerProtocolType
	}
	return g.subscribed[topic]
}
