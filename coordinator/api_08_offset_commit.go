package coordinator

// OffsetCommit (key 8), versions 0-10.
//
// Members commit with their generation (the member epoch in a consumer
// group); a commit with generation -1 and no member is accepted for an
// Empty group (or creates one), as the admin client and standalone
// consumers do. In a consumer group (cgroup.go) a commit is checked as
// Kafka's ConsumerGroup.validateOffsetCommit: the member must exist
// (UNKNOWN_MEMBER_ID), commit at its epoch (STALE_MEMBER_EPOCH, or
// ILLEGAL_GENERATION for a classic member), and with v9+ if it uses the
// consumer protocol (UNSUPPORTED_VERSION). v9+ commits to a group that
// does not exist are GROUP_ID_NOT_FOUND. v10 names topics by id
// (UNKNOWN_TOPIC_ID for an id that is not a topic). v1 may carry a commit
// timestamp, which the offset keeps as its commit time; v2-v4 a retention
// time, which gives the offset an explicit expiry (as Kafka since 2.1).
// The empty group id is a group like any other (Kafka keeps it for
// backward compatibility: old clients commit without a group.id).
// Unknown topics are UNKNOWN_TOPIC_OR_PARTITION, metadata beyond
// offset.metadata.max.bytes OFFSET_METADATA_TOO_LARGE, as in Kafka.
// READ on the group is needed, else every partition is
// GROUP_AUTHORIZATION_FAILED; READ on a topic, else its partitions are
// TOPIC_AUTHORIZATION_FAILED (checked before whether it exists).

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *groupCoordinator) handleOffsetCommit(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.OffsetCommitRequest)
	resp := req.Response().(*kmsg.OffsetCommitResponse)
	unknownIDs := c.namesFromIDs(r, req.Version)
	authorized := false // the group is: unknown topic ids are told apart
	answer := func(code func(topic string, partition int32) int16) (kmsg.Response, error) {
		resp.Topics = []kmsg.OffsetCommitResponseTopic{}
		for i, t := range r.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = code(t.Topic, p.Partition)
				if unknownIDs[i] && authorized {
					rp.ErrorCode = kerr.UnknownTopicID.Code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	if !c.authorize(req, acl.Read, acl.Group, r.Group) {
		return answer(func(string, int32) int16 { return kerr.GroupAuthorizationFailed.Code })
	}
	authorized = true
	denied := deniedTopics(&c.base, req, acl.Read, r.Topics, func(t kmsg.OffsetCommitRequestTopic) string { return t.Topic })
	allowed := *r
	allowed.Topics = slices.DeleteFunc(slices.Clone(r.Topics), func(t kmsg.OffsetCommitRequestTopic) bool { return denied[t.Topic] })
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		codes := c.offsetCommit(ctx, &allowed, req.Version)
		return answer(func(topic string, partition int32) int16 {
			if denied[topic] {
				return kerr.TopicAuthorizationFailed.Code
			}
			return codes[topicPartition{topic, partition}]
		})
	})
	return nil, nil
}

// namesFromIDs fills in the topic names of a v10+ request from its topic
// ids, and reports which topics' ids are unknown: their partitions, named
// by no topic, are not committed.
func (c *groupCoordinator) namesFromIDs(r *kmsg.OffsetCommitRequest, version int16) []bool {
	unknown := make([]bool, len(r.Topics))
	if version < 10 {
		return unknown
	}
	for i := range r.Topics {
		t := &r.Topics[i]
		t.Topic = ""
		if name, _, ok := c.host.TopicNameOf(t.TopicID); ok {
			t.Topic = name
		} else {
			unknown[i] = true
		}
	}
	return unknown
}

// offsetCommit commits what it can and returns an error code per
// partition.
func (c *groupCoordinator) offsetCommit(ctx context.Context, r *kmsg.OffsetCommitRequest, version int16) map[topicPartition]int16 {
	missing := kerr.IllegalGeneration
	if version >= 9 {
		missing = kerr.GroupIDNotFound
	}
	cr := commitRequest{group: r.Group, create: r.Generation < 0, pid: -1, epoch: -1, missing: missing,
		check: func(g *group) error {
			if g.share != nil {
				return kerr.GroupIDNotFound // Kafka: "Group x is not a consumer group."
			}
			if g.consumer != nil {
				if e := checkConsumerCommit(g.consumer, r.MemberID, r.InstanceID, r.Generation, version, false); e != nil {
					return e
				}
				return nil
			}
			if e := checkCommit(g, r.MemberID, r.InstanceID, r.Generation, false); e != nil {
				return e
			}
			if m := g.members[r.MemberID]; m != nil {
				c.scheduleSession(g, m)
			}
			return nil
		}}
	now := c.nowMs()
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			it := commitItem{tp: topicPartition{t.Topic, p.Partition}, offset: p.Offset, leaderEpoch: -1, metadata: p.Metadata, expireMs: -1}
			if version >= 6 {
				it.leaderEpoch = p.LeaderEpoch
			}
			// v1 may carry the commit time, kept as the offset's; v2-v4
			// a retention, which gives the offset its own expiry (Kafka
			// 2.1+: a v1 timestamp gives none).
			switch {
			case version == 1 && p.Timestamp != -1:
				it.commitMs = p.Timestamp
			case version >= 2 && version <= 4 && r.RetentionTimeMillis != -1:
				it.expireMs = now + r.RetentionTimeMillis
			}
			cr.items = append(cr.items, it)
		}
	}
	return c.commit(ctx, cr)
}

// commitItem is one partition's offset in an OffsetCommit or
// TxnOffsetCommit.
type commitItem struct {
	tp          topicPartition
	offset      int64
	leaderEpoch int32
	metadata    *string
	commitMs    int64 // 0: now
	expireMs    int64 // explicit expiry, or -1
}

// commitRequest is what OffsetCommit and TxnOffsetCommit ask of a group:
// one flow checks, appends and applies both.
type commitRequest struct {
	group  string
	items  []commitItem
	create bool                 // a missing group is created
	check  func(g *group) error // validates the committer against a locked group
	pid    int64                // the transaction's producer, or -1
	epoch  int16
	// missing is the error when the group does not exist (and is not
	// created): ILLEGAL_GENERATION, or GROUP_ID_NOT_FOUND for
	// OffsetCommit v9+.
	missing *kerr.Error
}

// commit checks that each offset's partition exists, then the committer
// against the group, then each offset's metadata, and appends and applies
// the offsets that passed; it returns a code per partition. The order is
// Kafka's: KafkaApis answers unknown partitions before the coordinator
// sees the request, whose group error (getErrorResponse) every other
// partition gets before OffsetMetadataManager looks at their metadata.
func (c *groupCoordinator) commit(ctx context.Context, cr commitRequest) map[topicPartition]int16 {
	codes := make(map[topicPartition]int16)
	var known []commitItem
	for _, it := range cr.items {
		if !c.host.PartitionExists(it.tp.topic, it.tp.partition) {
			codes[it.tp] = kerr.UnknownTopicOrPartition.Code
			continue
		}
		known = append(known, it)
	}
	if len(known) > 0 {
		c.commitLocked(ctx, cr, known, codes)
	}
	return codes
}

// commitLocked locks the group, checks the committer and each offset's
// metadata and appends, then waits (unlocked) and applies; it sets the
// items' codes.
func (c *groupCoordinator) commitLocked(ctx context.Context, cr commitRequest, items []commitItem, codes map[topicPartition]int16) {
	g, err := c.lockGroup(cr.group, cr.create)
	switch {
	case err != nil:
	case g == nil:
		err = kerr.IllegalGeneration
		if cr.missing != nil {
			err = cr.missing
		}
	default:
		if err = cr.check(g); err != nil {
			g.mu.Unlock()
		}
	}
	if err != nil {
		for _, it := range items {
			codes[it.tp] = c.errCode(err)
		}
		return
	}
	entries := c.offsetEntries(items, codes)
	if len(entries) == 0 {
		g.mu.Unlock()
		return
	}
	pc, err := c.appendOffsets(g, entries, cr.pid, cr.epoch)
	g.mu.Unlock()
	if err == nil {
		err = c.completeCommit(ctx, pc)
	}
	for tp := range entries {
		codes[tp] = c.errCode(err)
	}
}

// offsetEntries makes the entries of offsets to commit now; one whose
// metadata is beyond offset.metadata.max.bytes is OFFSET_METADATA_TOO_LARGE
// instead, as in Kafka.
func (c *groupCoordinator) offsetEntries(items []commitItem, codes map[topicPartition]int16) map[topicPartition]offsetEntry {
	now := c.nowMs()
	entries := make(map[topicPartition]offsetEntry, len(items))
	for _, it := range items {
		if it.metadata != nil && javaLength(*it.metadata) > int(c.cfg.OffsetMetadataMaxBytes) {
			codes[it.tp] = kerr.OffsetMetadataTooLarge.Code
			continue
		}
		e := offsetEntry{offset: it.offset, leaderEpoch: it.leaderEpoch, commitMs: now, expireMs: it.expireMs}
		if it.commitMs != 0 {
			e.commitMs = it.commitMs
		}
		if it.metadata != nil {
			e.metadata = *it.metadata
		}
		entries[it.tp] = e
	}
	return entries
}

// checkCommit validates who commits offsets to a locked classic group, as
// Kafka's ClassicGroup.validateOffsetCommit: a negative generation may
// commit to an Empty group (the admin client, standalone consumers); a
// commit naming a member, instance or generation must come from that
// member, at the group's generation; a plain commit naming none is only
// for an Empty group (a transactional one, from clients before KIP-447,
// goes through); and a plain commit waits out a rebalance's sync.
func checkCommit(g *group, memberID string, instanceID *string, generation int32, txn bool) *kerr.Error {
	if g.state == groupDead {
		return kerr.CoordinatorNotAvailable
	}
	if generation < 0 && g.state == groupEmpty {
		return nil
	}
	if generation >= 0 || memberID != "" || instanceID != nil {
		if err := g.checkMember(memberID, instanceID); err != nil {
			return err
		}
		if generation != g.generation {
			return kerr.IllegalGeneration
		}
	} else if !txn && g.state != groupEmpty {
		return kerr.UnknownMemberID
	}
	if !txn && g.state == groupCompletingRebalance {
		return kerr.RebalanceInProgress
	}
	return nil
}

// checkConsumerCommit validates who commits to a consumer group, as
// Kafka's ConsumerGroup.validateOffsetCommit: anyone with a negative epoch
// while it has no members (the admin client, standalone consumers); a
// transactional commit without member, epoch or instance id; otherwise a
// member at its epoch (a transactional commit naming only an instance id
// names the member "", unknown).
func checkConsumerCommit(cg *consumerGroup, memberID string, instanceID *string, epoch int32, version int16, txn bool) *kerr.Error {
	if epoch < 0 && len(cg.members) == 0 {
		return nil
	}
	if txn && epoch == -1 && memberID == "" && instanceID == nil {
		return nil
	}
	m := cg.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID
	}
	if !txn && !m.usesClassic() && version < 9 {
		return kerr.UnsupportedVersion
	}
	if epoch != m.cur.epoch {
		if m.usesClassic() {
			return kerr.IllegalGeneration
		}
		return kerr.StaleMemberEpoch
	}
	return nil
}

// javaLength is a string's length as Java counts it (UTF-16 code units),
// which Kafka compares with offset.metadata.max.bytes: "é" is one, not
// two bytes.
func javaLength(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++ // a surrogate pair
		}
	}
	return n
}
