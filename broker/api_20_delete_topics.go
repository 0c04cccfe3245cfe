package broker

// DeleteTopics (key 20), versions 0-6 (v6 may name topics by id).
//
// Deletion needs delete.topic.enable (default true; without it the whole
// request fails, as in Kafka). Internal topics cannot be deleted: Kafka's
// broker would delete them (only kafka-topics.sh refuses), and lose every
// group's offsets or every transaction's state with them. A topic named
// twice gets one INVALID_REQUEST answer. The partition directories are
// renamed aside and removed; a cluster removes them on every broker as the
// deletion reaches it. The request waits up to its timeout for the topic
// to be gone here, and then (5 s at most for the whole request) for every
// other live broker to stop describing it (awaitPeers).
// Deletion needs DELETE on the topic or on the cluster (Kafka's
// controller), else TOPIC_AUTHORIZATION_FAILED.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/metadata"
	"gregor/protocol"
)

func (b *Broker) handleDeleteTopics(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DeleteTopicsRequest)
	resp := req.Response().(*kmsg.DeleteTopicsResponse)
	topics := r.Topics
	if req.Version < 6 {
		for _, n := range r.TopicNames {
			name := n
			topics = append(topics, kmsg.DeleteTopicsRequestTopic{Topic: &name})
		}
	}
	answer := func(st kmsg.DeleteTopicsResponseTopic, err error) {
		if err != nil {
			st.ErrorCode = ErrorCode(b.log, err)
			if req.Version >= 5 {
				st.ErrorMessage = errMessage(err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	if !b.cfg.DeleteTopicEnable {
		// As Kafka: the request fails as a whole, before any topic is
		// looked at.
		err := errorf(kerr.TopicDeletionDisabled, "Topic deletion is disabled.")
		if req.Version < 3 {
			err = errorf(kerr.InvalidRequest, "Topic deletion is disabled.")
		}
		for _, rt := range topics {
			st := kmsg.NewDeleteTopicsResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			answer(st, err)
		}
		return resp, nil
	}
	// A topic named twice (or its id given twice) is not deleted and gets
	// one answer, INVALID_REQUEST, as in Kafka (librdkafka fails a
	// response naming a topic twice).
	names := make(map[string]int, len(topics))
	ids := make(map[[16]byte]int)
	for _, rt := range topics {
		switch name, id, ok := deleteTarget(rt); {
		case !ok:
		case name != nil:
			names[*name]++
		default:
			ids[id]++
		}
	}
	timeout := time.Duration(r.TimeoutMillis) * time.Millisecond
	peersBy := peersDeadline(timeout)
	clusterDelete := b.allowed(req, acl.Delete, acl.Cluster, acl.ClusterName)
	for _, rt := range topics {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name, id, ok := deleteTarget(rt)
		var err error
		switch {
		case !ok && name != nil:
			err = errorf(kerr.InvalidRequest, "You may not specify both topic name and topic id.")
		case !ok:
			err = errorf(kerr.InvalidRequest, "Neither topic name nor id were specified.")
		case name != nil && names[*name] < 0, name == nil && ids[id] < 0:
			continue // a duplicate, answered at its first entry
		case name != nil && names[*name] > 1:
			names[*name] = -1
			st.TopicID = [16]byte{}
			err = errorf(kerr.InvalidRequest, "Duplicate topic name.")
		case name == nil && ids[id] > 1:
			ids[id] = -1
			st.Topic = nil
			err = errorf(kerr.InvalidRequest, "Duplicate topic id.")
		default:
			if err = b.authorizeDeleteTopic(req, rt, clusterDelete, &st); err == nil {
				err = b.deleteOne(ctx, rt, timeout, peersBy, &st)
			}
		}
		answer(st, err)
	}
	return resp, nil
}

// deleteTarget is how a DeleteTopics entry names its topic: by name (v6
// may name it by id instead, the name null or, as some clients send it,
// empty); ok is false when it gives both or neither.
func deleteTarget(rt kmsg.DeleteTopicsRequestTopic) (name *string, id [16]byte, ok bool) {
	var zero [16]byte
	switch {
	case rt.Topic != nil && *rt.Topic != "" && rt.TopicID != zero:
		return rt.Topic, zero, false
	case rt.Topic != nil && (*rt.Topic != "" || rt.TopicID == zero):
		return rt.Topic, zero, true
	case rt.TopicID != zero:
		return nil, rt.TopicID, true
	}
	return nil, zero, false
}

// authorizeDeleteTopic needs DELETE on the topic (or the cluster). A
// named topic is checked as Kafka's ControllerApis.deleteTopics: without
// DESCRIBE, TOPIC_AUTHORIZATION_FAILED; with it, a topic that does not
// exist is UNKNOWN_TOPIC_OR_PARTITION before DELETE is asked for. A topic
// named by id is looked up first (UNKNOWN_TOPIC_ID), and without DESCRIBE
// its name stays hidden.
func (b *Broker) authorizeDeleteTopic(req *protocol.Request, rt kmsg.DeleteTopicsRequestTopic, cluster bool, st *kmsg.DeleteTopicsResponseTopic) error {
	if b.authz == nil || cluster {
		return nil
	}
	if name, _, _ := deleteTarget(rt); name != nil {
		if !b.authorize(req, acl.Delete, acl.Topic, *name) {
			if b.Topic(*name) == nil && b.authorize(req, acl.Describe, acl.Topic, *name) {
				return kerr.UnknownTopicOrPartition
			}
			return kerr.TopicAuthorizationFailed
		}
		return nil
	}
	t := b.TopicByID(metadata.Uuid(rt.TopicID))
	switch {
	case t == nil:
		return kerr.UnknownTopicID
	case !b.authorize(req, acl.Describe, acl.Topic, t.Name):
		st.Topic = nil
		return kerr.TopicAuthorizationFailed
	case !b.authorize(req, acl.Delete, acl.Topic, t.Name):
		name := t.Name
		st.Topic = &name
		return kerr.TopicAuthorizationFailed
	}
	return nil
}

func (b *Broker) deleteOne(ctx context.Context, rt kmsg.DeleteTopicsRequestTopic, timeout time.Duration, peersBy time.Time, st *kmsg.DeleteTopicsResponseTopic) error {
	var t *Topic
	if name, _, _ := deleteTarget(rt); name != nil {
		if t = b.Topic(*name); t == nil {
			return kerr.UnknownTopicOrPartition
		}
	} else if t = b.TopicByID(metadata.Uuid(rt.TopicID)); t == nil {
		return kerr.UnknownTopicID
	}
	name := t.Name
	st.Topic, st.TopicID = &name, t.ID
	if t.Internal {
		return errorf(kerr.InvalidRequest, "Topic %s is an internal topic and cannot be deleted.", name)
	}
	if err := b.backend.DeleteTopic(ctx, name); err != nil {
		return err
	}
	if timeout > 0 {
		if !b.awaitGone(ctx, name, timeout) {
			return kerr.RequestTimedOut
		}
		b.awaitPeers(ctx, name, peersBy, describesNoTopic)
	}
	return nil
}

// awaitGone waits until a deleted topic is gone from this broker.
func (b *Broker) awaitGone(ctx context.Context, name string, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for b.Topic(name) != nil {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
	return true
}
