package broker

// DescribeTopicPartitions (key 75), version 0.
//
// Metadata for topics a page at a time (KIP-966). An empty topic list asks
// for every topic (unknown ones are then skipped); named topics that do not
// exist get UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION for a name
// that cannot be a topic). Topics are answered in name order
// from the cursor's topic (starting there at the cursor's partition), until
// ResponsePartitionLimit partitions (at least 1, at most
// max.request.partition.size.limit, 2000 by default) are listed; NextCursor then names
// where to continue. A cursor whose topic is not among the named topics, or
// with a negative partition, is INVALID_REQUEST for every topic. Every
// list is sent non-null (the Java admin client rejects nulls); there are no
// eligible leader replicas (no ELR), so those lists are empty.
//
// Authorization: a topic needs DESCRIBE; without it a listing of every
// topic leaves it out and a named one is TOPIC_AUTHORIZATION_FAILED,
// answered after the page whatever the partition limit. Topics that cannot
// be described are left out before the page is cut, so NextCursor never
// names one. Every other topic answered, a named one that does not exist
// too, carries the operations the principal may do on it.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/metadata"
	"gregor/protocol"
)

func (b *Broker) handleDescribeTopicPartitions(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeTopicPartitionsRequest)
	resp := req.Response().(*kmsg.DescribeTopicPartitionsResponse)
	resp.Topics = []kmsg.DescribeTopicPartitionsResponseTopic{}
	all := len(r.Topics) == 0
	cursorTopic, cursorPartition := "", int32(0)
	if r.Cursor != nil {
		cursorTopic, cursorPartition = r.Cursor.Topic, r.Cursor.Partition
	}
	names := b.describeTopicNames(r.Topics, cursorTopic)
	if r.Cursor != nil && ((!all && !slices.Contains(names, cursorTopic)) || cursorPartition < 0) {
		for _, rt := range r.Topics {
			st := emptyDescribedTopic(rt.Topic, kerr.InvalidRequest.Code)
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	}
	names, refused := b.describableTopicNames(req, names, all)
	remaining := max(min(r.ResponsePartitionLimit, b.Config().MaxRequestPartitionSizeLimit), 1)
	brokers, _ := b.Brokers()
	for _, name := range names {
		if remaining == 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: 0}
			break
		}
		t := b.Topic(name)
		parts := t.describedPartitions() // as Metadata describes them
		if len(parts) == 0 {
			if !all {
				resp.Topics = append(resp.Topics, b.missingDescribedTopic(req, name))
			}
			continue
		}
		start := int32(0)
		if name == cursorTopic {
			start = cursorPartition
		}
		st, next := describedTopic(t, parts, metaView{brokers: brokers, listener: req.Conn.Listener, listenerErr: true}, start, remaining)
		st.AuthorizedOperations = b.authorizedOps(req, acl.Topic, name)
		remaining -= int32(len(st.Partitions))
		resp.Topics = append(resp.Topics, st)
		if next >= 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: next}
			break
		}
	}
	for _, name := range refused {
		resp.Topics = append(resp.Topics, emptyDescribedTopic(name, kerr.TopicAuthorizationFailed.Code))
	}
	return resp, nil
}

// describableTopicNames splits the topics to answer into those the
// principal may describe and, of named topics, those it may not. As in
// Kafka's DescribeTopicPartitionsRequestHandler every topic from the
// cursor on is asked for before the page is cut: the page and its
// NextCursor hold only describable topics (a cursor never discloses a topic
// the principal cannot see), and every refused named topic is answered,
// after the others, however small the page.
func (b *Broker) describableTopicNames(req *protocol.Request, names []string, all bool) (ok, refused []string) {
	for _, name := range names {
		switch {
		case b.authorize(req, acl.Describe, acl.Topic, name):
			ok = append(ok, name)
		case !all:
			refused = append(refused, name)
		}
	}
	return ok, refused
}

// describeTopicNames lists the topics to answer, in name order, from the
// cursor's topic on.
func (b *Broker) describeTopicNames(req []kmsg.DescribeTopicPartitionsRequestTopic, from string) []string {
	var names []string
	if len(req) == 0 {
		for _, t := range b.Topics() {
			names = append(names, t.Name)
		}
	} else {
		for _, rt := range req {
			names = append(names, rt.Topic)
		}
		slices.Sort(names)
		names = slices.Compact(names)
	}
	i, _ := slices.BinarySearch(names, from)
	return names[i:]
}

// missingDescribedTopic is a named topic the principal may describe but
// that does not exist, as Kafka's getTopicMetadataForDescribeTopicResponse
// answers it: INVALID_TOPIC_EXCEPTION for a name that cannot be a topic,
// else UNKNOWN_TOPIC_OR_PARTITION, flagged internal by its name; and, as
// for every topic described rather than refused, the operations the
// principal may do on it (DescribeTopicPartitionsRequestHandler sets them
// on all but the unauthorized topics).
func (b *Broker) missingDescribedTopic(req *protocol.Request, name string) kmsg.DescribeTopicPartitionsResponseTopic {
	code := kerr.UnknownTopicOrPartition.Code
	if metadata.ValidateTopicName(name) != nil {
		code = kerr.InvalidTopicException.Code
	}
	st := emptyDescribedTopic(name, code)
	st.IsInternal = IsInternal(name)
	st.AuthorizedOperations = b.authorizedOps(req, acl.Topic, name)
	return st
}

func emptyDescribedTopic(name string, code int16) kmsg.DescribeTopicPartitionsResponseTopic {
	st := kmsg.NewDescribeTopicPartitionsResponseTopic()
	n := name
	st.Topic, st.ErrorCode = &n, code
	st.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
	st.AuthorizedOperations = authorizedOpsNotRequested
	return st
}

// describedTopic lists up to limit of t's partitions parts (its
// describedPartitions) from start; next is the partition to continue
// from, or -1 when the topic is complete.
func describedTopic(t *Topic, parts []*Partition, view metaView, start, limit int32) (kmsg.DescribeTopicPartitionsResponseTopic, int32) {
	st := kmsg.NewDescribeTopicPartitionsResponseTopic()
	name := t.Name
	st.Topic, st.TopicID, st.IsInternal = &name, t.ID, t.Internal
	end := min(int32(len(parts)), start+limit)
	st.Partitions = make([]kmsg.DescribeTopicPartitionsResponseTopicPartition, 0, max(end-start, 0))
	for i := start; i < end; i++ {
		mp := metadataPartition(parts[i], view)
		dp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
		dp.ErrorCode, dp.Partition, dp.LeaderID, dp.LeaderEpoch = mp.ErrorCode, mp.Partition, mp.Leader, mp.LeaderEpoch
		dp.Replicas, dp.ISR, dp.OfflineReplicas = mp.Replicas, mp.ISR, mp.OfflineReplicas
		dp.EligibleLeaderReplicas, dp.LastKnownELR = []int32{}, []int32{}
		st.Partitions = append(st.Partitions, dp)
	}
	next := int32(-1)
	if end < int32(len(parts)) {
		next = end
	}
	return st, next
}
